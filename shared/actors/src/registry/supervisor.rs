//! The registry's supervisor actor: the single writer of "which actor serves which key".
//!
//! It serialises every decision about a key (spawn, passivate, restart, escalate) by
//! handling them one message at a time, while the slow part of a spawn (the user's
//! `init`, often a database read) runs in a task of its own so one slow key never holds
//! up the others. Per key it keeps a [`Slot`]:
//!
//! ```text
//!            get (no slot)                  init ok
//!   (none) ───────────────▶ Starting ─────────────────▶ Live ──┐ idle: drain
//!      ▲                     │  ▲ init failed, on demand:      │ or found dead
//!      │                     │  │ callers get the error        ▼
//!      │ exit, no waiters    │  │ backoff elapsed          Stopping
//!      └─────────────────────┼──┴─── Backoff ◀── crash ──────┤
//!                            │          ▲                    │ exit, waiters:
//!                            └──────────┘ init failed        │ spawn again
//!                             during a restart (a crash)     ▼
//! ```
//!
//! A new actor for a key is only ever started once the previous one has been seen to
//! exit (its supervision event arrived), so two actors never own one key at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ractor::{
    Actor, ActorId, ActorProcessingErr, ActorRef, MessagingErr, RpcReplyPort, SupervisionEvent,
};

use super::Shared;
use super::directory::Entry;
use crate::keyed::KeyedActor;
use crate::restart::{Decision, RestartTracker};
use crate::{ActorError, Keyed};

/// How a resolved key travels back to the caller that asked for it.
pub(crate) type Reply<K> = RpcReplyPort<Result<Arc<Entry<K>>, ActorError>>;

pub(crate) enum RegistryMsg<K: Keyed> {
    /// Find or spawn the actor for `key`.
    Get { key: K::Key, reply: Reply<K> },
    /// A spawn task finished (init ran).
    Spawned {
        key: K::Key,
        generation: u64,
        result: Result<ActorRef<K::Msg>, ActorError>,
    },
    /// A crashed key's backoff has elapsed.
    Restart { key: K::Key, generation: u64 },
    /// Periodic: passivate idle actors, forget quiet restart histories.
    Sweep,
}

/// Where one key is in its life. `generation` ties a spawn or restart timer to the slot
/// that started it, so a late message about an earlier attempt is recognised and dropped.
enum Slot<K: Keyed> {
    /// `init` is running in a spawn task. `restart` tells a supervised restart (its
    /// failure is one more crash) from a spawn on demand (its failure goes to the callers).
    Starting {
        generation: u64,
        waiters: Vec<Reply<K>>,
        restart: bool,
    },
    Live(Arc<Entry<K>>),
    /// Passivating (draining) or found dead; waiting for its exit event.
    Stopping {
        waiters: Vec<Reply<K>>,
    },
    /// Crashed; a restart is scheduled.
    Backoff {
        generation: u64,
        waiters: Vec<Reply<K>>,
    },
}

pub(crate) struct RegistrySupervisor<K: Keyed> {
    pub(crate) shared: Arc<Shared<K>>,
}

pub(crate) struct SupervisorState<K: Keyed> {
    shared: Arc<Shared<K>>,
    slots: HashMap<K::Key, Slot<K>>,
    /// Which key each live (or stopping) child serves, to map supervision events back.
    by_id: HashMap<ActorId, K::Key>,
    /// Failure history per key; only keys that crashed recently have one.
    trackers: HashMap<K::Key, RestartTracker>,
    next_generation: u64,
}

impl<K: Keyed> Actor for RegistrySupervisor<K> {
    type Msg = RegistryMsg<K>;
    type State = SupervisorState<K>;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        _args: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(SupervisorState {
            shared: Arc::clone(&self.shared),
            slots: HashMap::new(),
            by_id: HashMap::new(),
            trackers: HashMap::new(),
            next_generation: 0,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        _state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // One timer for the whole registry; it ends by itself when this actor stops.
        let _timer = myself.send_interval(self.shared.config.effective_sweep_interval(), || {
            RegistryMsg::Sweep
        });
        tracing::debug!(registry = %self.shared.name, "registry started");
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RegistryMsg::Get { key, reply } => state.on_get(&myself, key, reply),
            RegistryMsg::Spawned {
                key,
                generation,
                result,
            } => return state.on_spawned(&myself, key, generation, result),
            RegistryMsg::Restart { key, generation } => state.on_restart(&myself, key, generation),
            RegistryMsg::Sweep => state.on_sweep(),
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(child, err) => {
                state.on_child_exit(&myself, child.get_id(), Some(err.to_string()))
            }
            SupervisionEvent::ActorTerminated(child, _, _) => {
                state.on_child_exit(&myself, child.get_id(), None)
            }
            // Started events and process-group changes carry no decision.
            _ => Ok(()),
        }
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Top-down shutdown: drain the children (they answer what is queued and run
        // `on_stop`), bounded by the call timeout; ractor kills whatever is left when this
        // actor finishes stopping.
        myself
            .drain_children_and_wait(Some(self.shared.config.call_timeout))
            .await;
        state.forget_all();
        tracing::debug!(registry = %self.shared.name, "registry stopped");
        Ok(())
    }
}

impl<K: Keyed> SupervisorState<K> {
    fn on_get(&mut self, myself: &ActorRef<RegistryMsg<K>>, key: K::Key, reply: Reply<K>) {
        let Some(slot) = self.slots.get_mut(&key) else {
            self.start(myself, key, vec![reply], false);
            return;
        };
        match slot {
            Slot::Live(entry) if entry.is_alive() => {
                entry.touch(self.shared.now_ms());
                // A failed send means the caller gave up waiting; nothing to do.
                let _ = reply.send(Ok(Arc::clone(entry)));
            }
            Slot::Live(entry) => {
                // Dead, but its exit event has not arrived yet. Wait for it rather than
                // spawning now, so the next actor for this key cannot overlap this one.
                let id = entry.id();
                self.shared.directory.remove(&key, id);
                *slot = Slot::Stopping {
                    waiters: vec![reply],
                };
            }
            Slot::Starting { waiters, .. }
            | Slot::Stopping { waiters }
            | Slot::Backoff { waiters, .. } => {
                waiters.retain(|w| !w.is_closed());
                waiters.push(reply);
            }
        }
    }

    /// Spawn the actor for `key` in a task of its own: `init` may be slow, and running it
    /// here would make every other key wait for it.
    fn start(
        &mut self,
        myself: &ActorRef<RegistryMsg<K>>,
        key: K::Key,
        waiters: Vec<Reply<K>>,
        restart: bool,
    ) {
        let generation = self.bump_generation();
        self.slots.insert(
            key.clone(),
            Slot::Starting {
                generation,
                waiters,
                restart,
            },
        );
        let actor = KeyedActor {
            behaviour: Arc::clone(&self.shared.behaviour),
            key: key.clone(),
            registry: Arc::clone(&self.shared.name),
        };
        let supervisor = myself.clone();
        tokio::spawn(async move {
            let result = Actor::spawn_linked(None, actor, (), supervisor.get_cell())
                .await
                .map(|(actor, _join)| actor)
                .map_err(ActorError::from_spawn);
            let spawned = RegistryMsg::Spawned {
                key,
                generation,
                result,
            };
            if let Err(MessagingErr::SendErr(RegistryMsg::Spawned {
                result: Ok(orphan), ..
            })) = supervisor.cast(spawned)
            {
                // The registry stopped while init ran; nobody can reach this actor.
                orphan.stop(None);
            }
        });
    }

    fn on_spawned(
        &mut self,
        myself: &ActorRef<RegistryMsg<K>>,
        key: K::Key,
        generation: u64,
        result: Result<ActorRef<K::Msg>, ActorError>,
    ) -> Result<(), ActorProcessingErr> {
        let current = matches!(
            self.slots.get(&key),
            Some(Slot::Starting { generation: g, .. }) if *g == generation
        );
        let Some(Slot::Starting {
            waiters, restart, ..
        }) = current.then(|| self.slots.remove(&key)).flatten()
        else {
            // Cannot happen while only `start` creates Starting slots; stay safe anyway.
            if let Ok(orphan) = result {
                orphan.stop(None);
            }
            return Ok(());
        };
        match result {
            Ok(actor) => {
                let entry = Arc::new(Entry::new(actor, self.shared.now_ms()));
                self.by_id.insert(entry.id(), key.clone());
                self.shared
                    .directory
                    .insert(key.clone(), Arc::clone(&entry));
                self.slots.insert(key, Slot::Live(Arc::clone(&entry)));
                self.live_changed(true);
                for waiter in waiters {
                    let _ = waiter.send(Ok(Arc::clone(&entry)));
                }
                Ok(())
            }
            // A supervised restart whose init failed is one more crash of the key.
            Err(err) if restart => self.on_crash(myself, key, waiters, err.to_string()),
            Err(err) => {
                tracing::debug!(registry = %self.shared.name, key = %key, error = %err, "keyed actor init failed");
                for waiter in waiters {
                    let _ = waiter.send(Err(err.clone()));
                }
                Ok(())
            }
        }
    }

    fn on_child_exit(
        &mut self,
        myself: &ActorRef<RegistryMsg<K>>,
        id: ActorId,
        failure: Option<String>,
    ) -> Result<(), ActorProcessingErr> {
        // Unknown ids are orphans of a stopped spawn; nothing depends on them.
        let Some(key) = self.by_id.remove(&id) else {
            return Ok(());
        };
        self.live_changed(false);
        self.shared.directory.remove(&key, id);
        let waiters = match self.slots.remove(&key) {
            Some(Slot::Stopping { waiters }) => waiters,
            Some(Slot::Live(_)) | None => Vec::new(),
            Some(other) => {
                // by_id only names the actor of a Live or Stopping slot; keep the newer slot.
                self.slots.insert(key, other);
                return Ok(());
            }
        };
        match failure {
            Some(reason) => self.on_crash(myself, key, waiters, reason),
            None => {
                // Passivated (or stopped). Spawn again only if someone asked meanwhile.
                let waiters: Vec<_> = waiters.into_iter().filter(|w| !w.is_closed()).collect();
                if !waiters.is_empty() {
                    self.start(myself, key, waiters, false);
                }
                Ok(())
            }
        }
    }

    /// The restart-or-escalate decision, in one place.
    fn on_crash(
        &mut self,
        myself: &ActorRef<RegistryMsg<K>>,
        key: K::Key,
        waiters: Vec<Reply<K>>,
        reason: String,
    ) -> Result<(), ActorProcessingErr> {
        let policy = self.shared.config.restart;
        let decision = self
            .trackers
            .entry(key.clone())
            .or_insert_with(|| RestartTracker::new(policy))
            .record_failure(Instant::now());
        let name = &self.shared.name;
        match decision {
            Decision::Restart { after } => {
                metrics::counter!("actor_restarts_total", "registry" => Arc::clone(name))
                    .increment(1);
                tracing::warn!(
                    registry = %name,
                    key = %key,
                    error = %reason,
                    backoff_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
                    "keyed actor crashed; restarting"
                );
                let generation = self.bump_generation();
                self.slots.insert(
                    key.clone(),
                    Slot::Backoff {
                        generation,
                        waiters,
                    },
                );
                let _timer =
                    myself.send_after(after, move || RegistryMsg::Restart { key, generation });
                Ok(())
            }
            Decision::Escalate => {
                metrics::counter!("actor_escalations_total", "registry" => Arc::clone(name))
                    .increment(1);
                tracing::error!(
                    registry = %name,
                    key = %key,
                    error = %reason,
                    max_restarts = policy.max_restarts,
                    within_ms = u64::try_from(policy.within.as_millis()).unwrap_or(u64::MAX),
                    "keyed actor exceeded its restart intensity; escalating"
                );
                // Unpublish everything before the parent hears of it, so nobody finds an
                // actor of this registry alive after the failure is reported.
                self.forget_all();
                // Returning the error fails this supervisor: ractor kills its children and
                // reports ActorFailed to our parent, which makes the next decision.
                Err(ActorError::Failed(format!(
                    "registry {name}: key {key} crashed more than {} times within {:?}; last: {reason}",
                    policy.max_restarts, policy.within
                ))
                .into())
            }
        }
    }

    fn on_restart(&mut self, myself: &ActorRef<RegistryMsg<K>>, key: K::Key, generation: u64) {
        let due = matches!(
            self.slots.get(&key),
            Some(Slot::Backoff { generation: g, .. }) if *g == generation
        );
        if let Some(Slot::Backoff { waiters, .. }) = due.then(|| self.slots.remove(&key)).flatten()
        {
            self.start(myself, key, waiters, true);
        }
    }

    fn on_sweep(&mut self) {
        let now_ms = self.shared.now_ms();
        let idle_ms =
            u64::try_from(self.shared.config.idle_timeout.as_millis()).unwrap_or(u64::MAX);
        let mut passivated = 0u64;
        for (key, slot) in &mut self.slots {
            if let Slot::Live(entry) = slot
                && now_ms.saturating_sub(entry.last_used_ms()) >= idle_ms
            {
                self.shared.directory.remove(key, entry.id());
                // Drain, not stop: what a caller managed to enqueue is still handled, and
                // later sends bounce back to the caller, who re-resolves instead of losing
                // the message. An error means it is already stopping; its exit event comes.
                let _ = entry.actor.drain();
                *slot = Slot::Stopping {
                    waiters: Vec::new(),
                };
                passivated += 1;
            }
        }
        let now = Instant::now();
        self.trackers.retain(|_, tracker| !tracker.is_quiet(now));
        if passivated > 0 {
            metrics::counter!("actor_passivations_total", "registry" => Arc::clone(&self.shared.name))
                .increment(passivated);
            tracing::debug!(registry = %self.shared.name, passivated, "passivating idle actors");
        }
    }

    fn bump_generation(&mut self) -> u64 {
        self.next_generation = self.next_generation.wrapping_add(1);
        self.next_generation
    }

    fn live_changed(&self, up: bool) {
        let live = if up {
            self.shared.live.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            self.shared
                .live
                .fetch_sub(1, Ordering::Relaxed)
                .saturating_sub(1)
        };
        #[allow(clippy::cast_precision_loss)] // a gauge; exact below 2^52 actors anyway
        metrics::gauge!("actors_live", "registry" => Arc::clone(&self.shared.name))
            .set(live as f64);
    }

    /// Nothing is reachable once the supervisor is gone: empty the directory so handles go
    /// straight to "unavailable" instead of finding dead actors.
    fn forget_all(&self) {
        self.shared.directory.clear();
        self.shared.live.store(0, Ordering::Relaxed);
        metrics::gauge!("actors_live", "registry" => Arc::clone(&self.shared.name)).set(0.0);
    }
}

impl<K: Keyed> Drop for SupervisorState<K> {
    // Also runs when the supervisor failed (escalated), where post_stop does not.
    fn drop(&mut self) {
        self.shared.directory.clear();
        self.shared.live.store(0, Ordering::Relaxed);
    }
}
