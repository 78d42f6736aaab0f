//! The keyed registry: "one actor per key", spawned on demand, passivated when idle,
//! restarted when it crashes, cut off for a while when it crashes in a loop. One registry
//! per kind of key per service (the wallets, the order book markets, the match rooms).
//!
//! # Tree
//!
//! ```text
//! service supervisor                  (the `parent` passed to Registry::spawn)
//! └── registry "wallets"              RegistrySupervisor: the only writer of key -> actor
//!     ├── wallet 7f3a…                KeyedActor: owns that wallet's state
//!     ├── wallet 91c0…
//!     └── … (0 to 100k+, each spawned by the first `get` of its key)
//! ```
//!
//! # Policy
//!
//! - **Spawn**: `get(key)` first looks the key up in a sharded directory (a read lock, no
//!   message): the hot path. On a miss it asks the supervisor, which handles one message
//!   at a time, so concurrent `get`s of one key start exactly one actor; `init` runs in a
//!   task of its own so a slow key does not hold up the others. Callers that arrive while
//!   a key is starting wait for that same start.
//! - **Passivate**: every handle use stamps an atomic per actor; one sweeper tick per
//!   registry drains the actors idle longer than `idle_timeout`. Draining (not stopping)
//!   lets queued messages finish and makes later sends bounce back to their handle, which
//!   re-resolves the key and gets a fresh actor, state rebuilt by `init`.
//! - **Restart**: a keyed actor whose `handle` returns `Err` or panics is restarted after
//!   an exponential backoff ([`RestartPolicy`]); callers asking for the key meanwhile wait,
//!   bounded by the call timeout. A supervised restart whose `init` fails counts as one
//!   more crash. The restart is eager (it does not wait for the next caller), as for an
//!   OTP permanent child: a live match room should come back even if nobody asks.
//! - **Circuit per key**: a key that crashes more than `max_restarts` times within
//!   `within` is not restarted again; its circuit opens ([`CircuitPolicy`]). For
//!   `open_initial` every `get` or call for that key answers [`ActorError::CircuitOpen`] at
//!   once, with the time left (`retry_after`), and callers waiting for its restart get the
//!   same. After that, the next `get` tries the key again (half-open): if the probe fails
//!   (its `init`, or a crash before it has handled one message successfully) the circuit
//!   reopens for twice as long, up to `open_max`; once it handles a message, the circuit
//!   closes and the key starts from a clean history. Every other key keeps working
//!   throughout. Each opening is counted (`actor_circuit_open_total{registry}`, and the
//!   gauge `actor_circuits_open{registry}`) and logged at error level with the registry,
//!   the key, the last crash's reason and `retry_after_ms`. The probe is lazy (the next
//!   caller, not a timer): a broken key nobody asks for costs nothing.
//! - **No escalation by a key.** This used to escalate (fail the registry, and so the
//!   node: the root supervisor stops it). It was the wrong blast radius: one key's bad
//!   data or one racing write path took every healthy wallet, market and room of the node
//!   down, and the node came back to the same data and looped again. Restarting the
//!   registry or the node does not cure what a key's own crash loop is about; cutting
//!   that key off does, without touching the others, and the probe notices when the cause
//!   is gone. What still escalates is a failure of the registry supervisor itself (a panic
//!   in its own bookkeeping, a bug of this crate): then nothing it tracks can be trusted,
//!   ractor reports `ActorFailed` to the parent, and the root supervisor stops the node,
//!   as in OTP.
//! - **Intensity is per key, not per registry.** A registry may hold 100k wallets: rare,
//!   unrelated crashes across many keys would add up to any registry-wide limit and take
//!   every healthy wallet down with them, although each of those keys recovered fine. A
//!   single key in a crash loop is the signal that something is structurally wrong (bad
//!   data, a bug on that path), and that is what opens its circuit. Restart histories of
//!   closed keys that stayed quiet for a whole window are forgotten, so they cost nothing.
//! - **Deadlines ride with the message**: [`Handle::call`] wraps the service's message in
//!   an envelope with its caller's deadline (a cast has none). A message whose deadline
//!   passed while it waited in the mailbox is dropped unhandled and counted
//!   (`actor_expired_total{registry}`): its caller was already told `Timeout` and may be
//!   retrying, so doing the work now is at best wasted and at worst a surprise.
//!   [`crate::deadline`] shows the deadline to a handler that wants to give up mid-way.
//! - **Bounded mailboxes**: each actor counts the messages waiting for it (an atomic per
//!   actor: incremented by the sender, decremented as the actor takes one out). A send
//!   that would exceed `mailbox_capacity` fails at once with [`ActorError::Overloaded`]
//!   (counted as `actor_overloaded_total{registry}`), so a pile-up on one key answers fast
//!   instead of queueing requests that would only time out.
//! - **One owner**: a new actor for a key starts only after the previous one's exit event
//!   has arrived, so two actors never hold one key's state at the same time on a node.
//! - **Shutdown**: [`Registry::stop`] stops the supervisor, which first drains its
//!   children (each finishes its queue and runs `on_stop`), then stops itself.

mod directory;
mod handle;
mod supervisor;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ractor::rpc::CallResult;
use ractor::{Actor, ActorCell, ActorRef, ActorStatus, RpcReplyPort};

pub use handle::Handle;

use crate::{ActorError, CircuitPolicy, Keyed, RestartPolicy};
use directory::{Directory, Entry};
use supervisor::{RegistryMsg, RegistrySupervisor};

/// The default bound on one actor's mailbox.
///
/// A queue is only worth keeping if what waits in it can still be answered within the
/// call timeout (5 s by default). The keyed actors here spend from well under a
/// millisecond (a book update, a scorecard) to a few milliseconds (a database write) per
/// message, so 1024 queued messages drain in about 0.1 to 5 s: deeper than that, most
/// callers would time out before their turn anyway, and the queue would only hold memory
/// and work that nobody waits for. It is also far above what one key sees in normal
/// traffic (a hot market or wallet sees tens of concurrent requests), so it only bites in
/// a pile-up, where answering `overloaded` at once is what lets clients back off.
pub const DEFAULT_MAILBOX_CAPACITY: usize = 1024;

/// How a registry treats its actors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryConfig {
    /// An actor no handle has used for this long is stopped; the next `get` rebuilds it.
    pub idle_timeout: Duration,
    /// How often idle actors are looked for. `None`: a quarter of `idle_timeout` (between
    /// 10 ms and 60 s), so an actor passivates between 1x and 1.25x `idle_timeout` idle.
    pub sweep_interval: Option<Duration>,
    /// Crash tolerance per key.
    pub restart: RestartPolicy,
    /// How long a key in a crash loop is refused before it is tried again.
    pub circuit: CircuitPolicy,
    /// Messages that may wait in one actor's mailbox (not counting the one being
    /// handled); a send beyond it fails at once with [`ActorError::Overloaded`].
    pub mailbox_capacity: usize,
    /// Bound on a whole call through a handle: finding (or waiting for) the actor, and
    /// its reply. Also bounds each child's drain at shutdown.
    pub call_timeout: Duration,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(300),
            sweep_interval: None,
            restart: RestartPolicy::default(),
            circuit: CircuitPolicy::default(),
            mailbox_capacity: DEFAULT_MAILBOX_CAPACITY,
            call_timeout: Duration::from_secs(5),
        }
    }
}

impl RegistryConfig {
    /// The sweeper period actually used.
    pub fn effective_sweep_interval(&self) -> Duration {
        match self.sweep_interval {
            // tokio's interval panics on zero, and an hour is as good as never.
            Some(every) => every.clamp(Duration::from_millis(1), Duration::from_secs(3600)),
            None => {
                (self.idle_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(60))
            }
        }
    }
}

/// What the supervisor and every handle share. Read-only but for the directory (written
/// by the supervisor alone) and the live count.
pub(crate) struct Shared<K: Keyed> {
    name: Arc<str>,
    behaviour: Arc<K>,
    config: RegistryConfig,
    directory: Directory<K>,
    live: AtomicUsize,
    epoch: Instant,
}

impl<K: Keyed> Shared<K> {
    /// Milliseconds since the registry started: the unit of idle stamps.
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A cloneable handle on one keyed registry. Cheap to clone; every clone talks to the same
/// supervisor.
pub struct Registry<K: Keyed> {
    shared: Arc<Shared<K>>,
    supervisor: ActorRef<RegistryMsg<K>>,
}

impl<K: Keyed> Clone for Registry<K> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            supervisor: self.supervisor.clone(),
        }
    }
}

impl<K: Keyed> fmt::Debug for Registry<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("name", &self.shared.name)
            .field("live", &self.len())
            .finish_non_exhaustive()
    }
}

impl<K: Keyed> Registry<K> {
    /// Start a registry's supervisor, linked to `parent` (the service supervisor) so that
    /// a failure of the registry itself reaches it. `name` labels logs and metrics; it is not registered in
    /// ractor's global name registry, so two registries may share one (tests do).
    pub async fn spawn(
        name: impl Into<String>,
        behaviour: Arc<K>,
        config: RegistryConfig,
        parent: Option<ActorCell>,
    ) -> Result<Self, ActorError> {
        let name: Arc<str> = Arc::from(name.into());
        let shared = Arc::new(Shared {
            name: Arc::clone(&name),
            behaviour,
            config,
            directory: Directory::new(),
            live: AtomicUsize::new(0),
            epoch: Instant::now(),
        });
        let actor = RegistrySupervisor {
            shared: Arc::clone(&shared),
        };
        let spawned = match parent {
            Some(parent) => Actor::spawn_linked(None, actor, (), parent).await,
            None => Actor::spawn(None, actor, ()).await,
        };
        let (supervisor, _join) =
            spawned.map_err(|e| ActorError::Failed(format!("spawn registry {name}: {e}")))?;
        Ok(Self { shared, supervisor })
    }

    /// The handle on `key`'s actor, spawning it if needed. Concurrent calls for one key
    /// yield one actor. Fails with what `init` returned, `Timeout` when no actor was ready
    /// within the call timeout (e.g. a crashed key still backing off), `CircuitOpen` at
    /// once for a key in a crash loop, or `Unavailable` once the registry is stopped.
    pub async fn get(&self, key: K::Key) -> Result<Handle<K>, ActorError> {
        if let Some(entry) = self.shared.directory.get(&key)
            && entry.is_alive()
        {
            entry.touch(self.shared.now_ms());
            return Ok(Handle::new(self.clone(), key, entry));
        }
        let deadline = tokio::time::Instant::now() + self.shared.config.call_timeout;
        let entry = self.resolve(&key, deadline).await?;
        Ok(Handle::new(self.clone(), key, entry))
    }

    /// `get(key)` then [`Handle::call`], for a one-off request.
    pub async fn call<T, F>(&self, key: K::Key, build: F) -> Result<T, ActorError>
    where
        T: Send + 'static,
        F: FnOnce(RpcReplyPort<T>) -> K::Msg,
    {
        self.get(key).await?.call(build).await
    }

    /// `get(key)` then [`Handle::cast`].
    pub async fn cast(&self, key: K::Key, msg: K::Msg) -> Result<(), ActorError> {
        self.get(key).await?.cast(msg).await
    }

    /// Live keyed actors (including ones draining towards passivation).
    pub fn len(&self) -> usize {
        self.shared.live.load(Ordering::Relaxed)
    }

    /// No live keyed actor.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The configuration given at spawn.
    pub fn config(&self) -> &RegistryConfig {
        &self.shared.config
    }

    /// False once the registry is stopping, stopped or failed (a fault of its own): a
    /// readiness probe.
    pub fn is_running(&self) -> bool {
        matches!(
            self.supervisor.get_status(),
            ActorStatus::Starting | ActorStatus::Running | ActorStatus::Upgrading
        )
    }

    /// The supervisor actor, e.g. to recognise this registry in the parent's supervision
    /// events or to `wait` for it.
    pub fn cell(&self) -> ActorCell {
        self.supervisor.get_cell()
    }

    /// Stop the registry top-down: its children drain (finishing queued messages and
    /// running `on_stop`, each bounded by the call timeout), then the supervisor stops.
    /// Later calls fail with `Unavailable`. Idempotent.
    pub async fn stop(&self) {
        // Stop, then wait separately: a second caller's stop is a no-op, but it should
        // still return only once the registry is down.
        self.supervisor.stop(Some("registry stopped".to_owned()));
        // Ok(()) either way: no timeout was given.
        let _ = self.supervisor.wait(None).await;
    }

    /// Ask the supervisor for `key`, waiting until `deadline` at most.
    async fn resolve(
        &self,
        key: &K::Key,
        deadline: tokio::time::Instant,
    ) -> Result<Arc<Entry<K>>, ActorError> {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Err(ActorError::Timeout);
        }
        let asked = self
            .supervisor
            .call(
                |reply| RegistryMsg::Get {
                    key: key.clone(),
                    reply,
                },
                Some(left),
            )
            .await;
        match asked {
            Ok(CallResult::Success(found)) => found,
            Ok(CallResult::Timeout) => Err(ActorError::Timeout),
            // The supervisor dropped our request (it stopped or failed) or is gone.
            Ok(CallResult::SenderError) | Err(_) => Err(ActorError::Unavailable),
        }
    }
}
