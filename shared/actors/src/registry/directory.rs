//! The read side of a registry: which live actor serves which key, readable by every
//! handle without a message to the supervisor.
//!
//! Only the registry's supervisor writes here (insert when an actor is up, remove when it
//! is passivated or died); everybody else only reads. So the directory is a cache of the
//! supervisor's own bookkeeping, never the authority: a reader that finds nothing, or
//! finds an actor that is no longer alive, asks the supervisor.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use ractor::{ActorId, ActorRef, ActorStatus};

use crate::Keyed;
use crate::keyed::{Envelope, Mailbox};

/// Shards of the directory. Readers on different keys rarely share a lock; a power of two
/// so the shard is a mask of the hash.
const SHARDS: usize = 16;

/// One live keyed actor, shared by the directory, the supervisor and every handle on it.
pub(crate) struct Entry<K: Keyed> {
    pub(crate) actor: ActorRef<Envelope<K::Msg>>,
    /// Queue length and first success, shared with the actor itself.
    pub(crate) mailbox: Arc<Mailbox>,
    /// Milliseconds since the registry's epoch at which a handle last used the actor.
    /// One atomic per actor is what keeps passivation cheap: no timer per actor, the
    /// registry's single sweeper compares stamps.
    last_used_ms: AtomicU64,
}

impl<K: Keyed> Entry<K> {
    pub(crate) fn new(
        actor: ActorRef<Envelope<K::Msg>>,
        mailbox: Arc<Mailbox>,
        now_ms: u64,
    ) -> Self {
        Self {
            actor,
            mailbox,
            last_used_ms: AtomicU64::new(now_ms),
        }
    }

    pub(crate) fn id(&self) -> ActorId {
        self.actor.get_id()
    }

    /// Starting, running: it still accepts messages.
    pub(crate) fn is_alive(&self) -> bool {
        matches!(
            self.actor.get_status(),
            ActorStatus::Starting | ActorStatus::Running | ActorStatus::Upgrading
        )
    }

    pub(crate) fn touch(&self, now_ms: u64) {
        // Skip the store when the stamp is current: a hot key called from several cores
        // then keeps its cache line shared instead of bouncing it on every call.
        if self.last_used_ms.load(Ordering::Relaxed) < now_ms {
            self.last_used_ms.store(now_ms, Ordering::Relaxed);
        }
    }

    pub(crate) fn last_used_ms(&self) -> u64 {
        self.last_used_ms.load(Ordering::Relaxed)
    }
}

type Shard<K> = RwLock<HashMap<<K as Keyed>::Key, Arc<Entry<K>>>>;

/// Key -> live entry, sharded.
pub(crate) struct Directory<K: Keyed> {
    shards: Box<[Shard<K>]>,
    hasher: std::hash::RandomState,
}

impl<K: Keyed> Directory<K> {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            hasher: std::hash::RandomState::new(),
        }
    }

    fn shard(&self, key: &K::Key) -> &Shard<K> {
        // Truncating the hash is fine: only the low bits pick the shard.
        let index = (self.hasher.hash_one(key) as usize) & (SHARDS - 1);
        &self.shards[index]
    }

    // A panic while a shard lock is held can only come from the allocator inside
    // HashMap::insert; the map is still consistent then, so poisoning is ignored.
    fn read(shard: &Shard<K>) -> RwLockReadGuard<'_, HashMap<K::Key, Arc<Entry<K>>>> {
        shard.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(shard: &Shard<K>) -> RwLockWriteGuard<'_, HashMap<K::Key, Arc<Entry<K>>>> {
        shard.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn get(&self, key: &K::Key) -> Option<Arc<Entry<K>>> {
        Self::read(self.shard(key)).get(key).cloned()
    }

    pub(crate) fn insert(&self, key: K::Key, entry: Arc<Entry<K>>) {
        Self::write(self.shard(&key)).insert(key, entry);
    }

    /// Remove `key` if it still maps to actor `id` (never a successor).
    pub(crate) fn remove(&self, key: &K::Key, id: ActorId) {
        let mut shard = Self::write(self.shard(key));
        if shard.get(key).is_some_and(|entry| entry.id() == id) {
            shard.remove(key);
        }
    }

    pub(crate) fn clear(&self) {
        for shard in self.shards.iter() {
            Self::write(shard).clear();
        }
    }
}
