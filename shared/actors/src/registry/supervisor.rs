//! The registry's supervisor actor: the single writer of "which actor serves which key".
//!
//! It serialises every decision about a key (spawn, passivate, restart, open its circuit)
//! by handling them one message at a time, while the slow part of a spawn (the user's
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
//!                            │ during a restart (a crash)    ▼
//!                            │
//!                            │  crash past the intensity, or a failed probe
//!                            └──────────────────────────────────▶ Open { until }
//!                                 get after `until`: probe          │ get before `until`:
//!                  Starting ◀───────────────────────────────────────┘ CircuitOpen at once
//! ```
//!
//! Whether a crash restarts the key or opens its circuit is decided by the key's
//! [`Circuit`] (pure, in [`crate::circuit`]); this actor only carries it out.
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
use crate::circuit::{Circuit, Verdict};
use crate::keyed::{Envelope, KeyedActor, Mailbox};
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
        result: Result<ActorRef<Envelope<K::Msg>>, ActorError>,
        mailbox: Arc<Mailbox>,
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
    /// Crashed in a loop: refused until `until`, then the next `get` probes it.
    Open {
        until: Instant,
    },
}

pub(crate) struct RegistrySupervisor<K: Keyed> {
    pub(crate) shared: Arc<Shared<K>>,
}

pub(crate) struct SupervisorState<K: Keyed> {
    shared: Arc<Shared<K>>,
    slots: HashMap<K::Key, Slot<K>>,
    /// Which key each live (or stopping) child serves, to map supervision events back,
    /// and its mailbox, to know whether it ever handled a message successfully.
    by_id: HashMap<ActorId, (K::Key, Arc<Mailbox>)>,
    /// Failure history and circuit per key; only keys that crashed recently have one.
    circuits: HashMap<K::Key, Circuit>,
    /// Slots in `Open`, for the gauge.
    open: usize,
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
            circuits: HashMap::new(),
            open: 0,
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
                mailbox,
            } => state.on_spawned(&myself, key, generation, result, mailbox),
            RegistryMsg::Restart { key, generation } => state.on_restart(&myself, key, generation),
            RegistryMsg::Sweep => state.on_sweep(),
        }
        // Nothing a key does fails this actor: a crash loop opens that key's circuit. What
        // still fails it (and so reaches the parent) is a fault of the registry itself, a
        // panic in this actor, which ractor reports as ActorFailed.
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
                state.on_child_exit(&myself, child.get_id(), Some(err.to_string()));
            }
            SupervisionEvent::ActorTerminated(child, _, _) => {
                state.on_child_exit(&myself, child.get_id(), None);
            }
            // Started events and process-group changes carry no decision.
            _ => {}
        }
        Ok(())
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
            Slot::Open { until } => {
                let now = Instant::now();
                if now < *until {
                    let _ = reply.send(Err(ActorError::CircuitOpen {
                        retry_after: *until - now,
                    }));
                    return;
                }
                // Half-open: this caller's request is the probe. `start` sees the tripped
                // circuit, so a failed init reopens it rather than reaching the caller
                // as an init error.
                self.slots.remove(&key);
                self.open_changed(false);
                tracing::info!(registry = %self.shared.name, key = %key, "circuit half-open; trying the key again");
                self.start(myself, key, vec![reply], true);
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
        // A key whose circuit tripped is on probation until it handles a message: its
        // init failing is one more crash, even when a caller asked for it.
        let restart = restart || self.circuits.get(&key).is_some_and(Circuit::is_tripped);
        let generation = self.bump_generation();
        self.slots.insert(
            key.clone(),
            Slot::Starting {
                generation,
                waiters,
                restart,
            },
        );
        let mailbox = Arc::new(Mailbox::default());
        let actor = KeyedActor {
            behaviour: Arc::clone(&self.shared.behaviour),
            key: key.clone(),
            registry: Arc::clone(&self.shared.name),
            mailbox: Arc::clone(&mailbox),
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
                mailbox,
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
        result: Result<ActorRef<Envelope<K::Msg>>, ActorError>,
        mailbox: Arc<Mailbox>,
    ) {
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
            return;
        };
        match result {
            Ok(actor) => {
                let entry = Arc::new(Entry::new(
                    actor,
                    Arc::clone(&mailbox),
                    self.shared.now_ms(),
                ));
                self.by_id.insert(entry.id(), (key.clone(), mailbox));
                self.shared
                    .directory
                    .insert(key.clone(), Arc::clone(&entry));
                self.slots.insert(key, Slot::Live(Arc::clone(&entry)));
                self.live_changed(true);
                for waiter in waiters {
                    let _ = waiter.send(Ok(Arc::clone(&entry)));
                }
            }
            // A supervised restart (or probe) whose init failed is one more crash of the
            // key.
            Err(err) if restart => self.on_crash(myself, key, waiters, err.to_string()),
            Err(err) => {
                tracing::debug!(registry = %self.shared.name, key = %key, error = %err, "keyed actor init failed");
                for waiter in waiters {
                    let _ = waiter.send(Err(err.clone()));
                }
            }
        }
    }

    fn on_child_exit(
        &mut self,
        myself: &ActorRef<RegistryMsg<K>>,
        id: ActorId,
        failure: Option<String>,
    ) {
        // Unknown ids are orphans of a stopped spawn; nothing depends on them.
        let Some((key, mailbox)) = self.by_id.remove(&id) else {
            return;
        };
        self.live_changed(false);
        if mailbox.has_succeeded() {
            self.close_circuit(&key);
        }
        self.shared.directory.remove(&key, id);
        let waiters = match self.slots.remove(&key) {
            Some(Slot::Stopping { waiters }) => waiters,
            Some(Slot::Live(_)) | None => Vec::new(),
            Some(other) => {
                // by_id only names the actor of a Live or Stopping slot; keep the newer slot.
                self.slots.insert(key, other);
                return;
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
            }
        }
    }

    /// The restart-or-open decision, in one place.
    fn on_crash(
        &mut self,
        myself: &ActorRef<RegistryMsg<K>>,
        key: K::Key,
        waiters: Vec<Reply<K>>,
        reason: String,
    ) {
        let (restart, circuit) = (self.shared.config.restart, self.shared.config.circuit);
        let verdict = self
            .circuits
            .entry(key.clone())
            .or_insert_with(|| Circuit::new(restart, circuit))
            .record_failure(Instant::now());
        let name = &self.shared.name;
        match verdict {
            Verdict::Restart { after } => {
                metrics::counter!("actor_restarts_total", "registry" => Arc::clone(name))
                    .increment(1);
                tracing::warn!(
                    registry = %name,
                    key = %key,
                    error = %reason,
                    backoff_ms = millis(after),
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
            }
            Verdict::Open { retry_after, trip } => {
                metrics::counter!("actor_circuit_open_total", "registry" => Arc::clone(name))
                    .increment(1);
                tracing::error!(
                    registry = %name,
                    key = %key,
                    error = %reason,
                    retry_after_ms = millis(retry_after),
                    trip,
                    max_restarts = restart.max_restarts,
                    within_ms = millis(restart.within),
                    "keyed actor keeps crashing; its circuit is open and the key refuses requests until retry_after"
                );
                // Whoever was waiting for the restart learns at once that none is coming.
                for waiter in waiters {
                    let _ = waiter.send(Err(ActorError::CircuitOpen { retry_after }));
                }
                self.slots.insert(
                    key,
                    Slot::Open {
                        until: Instant::now() + retry_after,
                    },
                );
                self.open_changed(true);
            }
        }
    }

    /// The key's actor has handled a message successfully: if its circuit had tripped, the
    /// probe proved it, and the key is healthy again.
    fn close_circuit(&mut self, key: &K::Key) {
        if self
            .circuits
            .get_mut(key)
            .is_some_and(Circuit::record_success)
        {
            tracing::info!(registry = %self.shared.name, key = %key, "circuit closed; the key serves again");
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
        // A probe that has proved itself closes its circuit here at the latest (otherwise
        // when its actor exits), so its history can be forgotten.
        let proved: Vec<K::Key> = self
            .slots
            .iter()
            .filter(|(key, slot)| {
                matches!(slot, Slot::Live(entry) if entry.mailbox.has_succeeded())
                    && self.circuits.get(*key).is_some_and(Circuit::is_tripped)
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in &proved {
            self.close_circuit(key);
        }
        let now = Instant::now();
        self.circuits.retain(|_, circuit| !circuit.is_quiet(now));
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

    fn open_changed(&mut self, opened: bool) {
        self.open = if opened {
            self.open.saturating_add(1)
        } else {
            self.open.saturating_sub(1)
        };
        #[allow(clippy::cast_precision_loss)] // a gauge of keys; exact below 2^52
        metrics::gauge!("actor_circuits_open", "registry" => Arc::clone(&self.shared.name))
            .set(self.open as f64);
    }

    /// Nothing is reachable once the supervisor is gone: empty the directory so handles go
    /// straight to "unavailable" instead of finding dead actors.
    fn forget_all(&self) {
        self.shared.directory.clear();
        self.shared.live.store(0, Ordering::Relaxed);
        metrics::gauge!("actors_live", "registry" => Arc::clone(&self.shared.name)).set(0.0);
        metrics::gauge!("actor_circuits_open", "registry" => Arc::clone(&self.shared.name))
            .set(0.0);
    }
}

/// A duration in whole milliseconds, for log fields.
fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl<K: Keyed> Drop for SupervisorState<K> {
    // Also runs when the supervisor failed (a fault of its own), where post_stop does not.
    fn drop(&mut self) {
        self.shared.directory.clear();
        self.shared.live.store(0, Ordering::Relaxed);
    }
}
