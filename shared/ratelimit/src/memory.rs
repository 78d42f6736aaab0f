//! The in-memory store: one node's counts, for the embedded default.
//!
//! Keys spread over a few mutex-guarded shards so HTTP workers rarely wait on each other.
//! Memory is bounded: a shard that is full when a new client arrives first forgets every
//! idle key (those whose allowance is full again: forgetting them changes no answer),
//! and if that is not enough, the eighth of its keys nearest to a full allowance.

use crate::clock::{Clock, MonotonicClock};
use crate::config::Quota;
use crate::gcra::{self, Decision};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, PoisonError};

/// Per-node rate limit state.
pub struct MemoryStore {
    shards: Box<[Mutex<HashMap<String, u64>>]>,
    shard_capacity: usize,
    hasher: RandomState,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("shards", &self.shards.len())
            .field("shard_capacity", &self.shard_capacity)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// A store tracking at most `max_keys` clients, on the real clock.
    pub fn new(max_keys: usize) -> Self {
        Self::with_clock(max_keys, Arc::new(MonotonicClock::default()))
    }

    /// A store on the given clock (tests move a [`crate::ManualClock`]).
    pub fn with_clock(max_keys: usize, clock: Arc<dyn Clock>) -> Self {
        let max_keys = max_keys.max(1);
        // Small stores get one shard, so the bound is exact.
        let shards = if max_keys < 1024 { 1 } else { 16 };
        Self {
            shards: (0..shards).map(|_| Mutex::new(HashMap::new())).collect(),
            shard_capacity: max_keys / shards,
            hasher: RandomState::new(),
            clock,
        }
    }

    /// Counts one request of `key` against `quota`.
    pub fn check(&self, key: &str, quota: Quota) -> Decision {
        let now = u64::try_from(self.clock.now().as_micros()).unwrap_or(u64::MAX);
        let shard = &self.shards[self.shard_of(key)];
        // The map holds plain numbers; a holder that panicked cannot have left one torn.
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let (decision, new_tat) = gcra::step(shard.get(key).copied(), now, quota);
        if let Some(new_tat) = new_tat {
            if let Some(tat) = shard.get_mut(key) {
                *tat = new_tat;
            } else {
                if shard.len() >= self.shard_capacity {
                    make_room(&mut shard, self.shard_capacity, now);
                }
                shard.insert(key.to_owned(), new_tat);
            }
        }
        decision
    }

    /// How many clients it tracks now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// Whether it tracks no client.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard_of(&self, key: &str) -> usize {
        // The modulo keeps the value below `shards.len()`, which is at most 16.
        (self.hasher.hash_one(key) % self.shards.len() as u64) as usize
    }
}

fn make_room(shard: &mut HashMap<String, u64>, capacity: usize, now: u64) {
    shard.retain(|_, tat| *tat > now);
    if shard.len() < capacity {
        return;
    }
    // Still full of active clients: forget those closest to a full allowance, in a batch
    // so a flood of new clients does not pay this scan on every request.
    let mut tats: Vec<u64> = shard.values().copied().collect();
    let batch = (capacity / 8).clamp(1, tats.len());
    let (_, cutoff, _) = tats.select_nth_unstable(batch - 1);
    let cutoff = *cutoff;
    // Exactly `batch` keys go: every one below the cutoff, then as many at it as are
    // still wanted. Clients often share a TAT (a burst within one clock tick), and
    // dropping every tie could forget the whole shard.
    let mut ties = batch - tats.iter().filter(|tat| **tat < cutoff).count();
    shard.retain(|_, tat| match (*tat).cmp(&cutoff) {
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal if ties > 0 => {
            ties -= 1;
            false
        }
        _ => true,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::time::Duration;

    fn store(max_keys: usize) -> (Arc<ManualClock>, MemoryStore) {
        let clock = Arc::new(ManualClock::new());
        (clock.clone(), MemoryStore::with_clock(max_keys, clock))
    }

    #[test]
    fn a_key_gets_its_burst_then_waits_for_the_refill() {
        let (clock, store) = store(100);
        let quota = Quota::new(3, 30);
        let remaining: Vec<u32> = (0..3).map(|_| store.check("a", quota).remaining).collect();
        assert_eq!(remaining, vec![2, 1, 0]);
        let refused = store.check("a", quota);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, Some(Duration::from_secs(10)));
        // Refusals do not dig the hole deeper.
        assert_eq!(store.check("a", quota), refused);

        clock.advance(Duration::from_secs(9));
        assert!(!store.check("a", quota).allowed);
        clock.advance(Duration::from_secs(1));
        assert!(store.check("a", quota).allowed);
        assert!(!store.check("a", quota).allowed);

        // Thirty idle seconds refill it completely.
        clock.advance(Duration::from_secs(30));
        assert_eq!(store.check("a", quota).remaining, 2);
    }

    #[test]
    fn keys_are_counted_apart() {
        let (_, store) = store(100);
        let quota = Quota::new(1, 60);
        assert!(store.check("a", quota).allowed);
        assert!(!store.check("a", quota).allowed);
        assert!(store.check("b", quota).allowed);
    }

    #[test]
    fn idle_keys_are_forgotten_when_room_is_needed() {
        let (clock, store) = store(10);
        let quota = Quota::new(5, 10);
        for i in 0..10 {
            store.check(&format!("idle-{i}"), quota);
        }
        assert_eq!(store.len(), 10);
        clock.advance(Duration::from_secs(10));
        store.check("new", quota);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_active_clients() {
        let (_, store) = store(64);
        let quota = Quota::new(5, 3600);
        // A heavy client, then a flood of one-request clients.
        for _ in 0..5 {
            store.check("heavy", quota);
        }
        for i in 0..1_000 {
            store.check(&format!("flood-{i}"), quota);
            assert!(store.len() <= 64);
        }
        // The client furthest from a full allowance was the last to be forgotten.
        assert!(!store.check("heavy", quota).allowed);
    }

    /// Clients whose allowances stand at the same point (the clock did not move) are
    /// forgotten a batch at a time, not all at once.
    #[test]
    fn ties_are_forgotten_a_batch_at_a_time() {
        let (_, store) = store(64);
        let quota = Quota::new(1, 60);
        for i in 0..64 {
            store.check(&format!("client-{i}"), quota);
        }
        assert_eq!(store.len(), 64);
        store.check("one-more", quota);
        assert_eq!(store.len(), 64 - 64 / 8 + 1);
    }

    #[test]
    fn large_stores_shard_and_stay_bounded() {
        let (_, store) = store(2048);
        let quota = Quota::new(1, 60);
        for i in 0..10_000 {
            store.check(&format!("client-{i}"), quota);
        }
        assert!(store.len() <= 2048, "{}", store.len());
        assert!(store.len() > 1024, "{}", store.len());
    }
}
