//! What a service writes to get "one actor per key": the [`Keyed`] trait, and the ractor
//! actor that runs one key's state on its behalf.
//!
//! This module owns the life of one keyed actor (init in `pre_start`, one message at a
//! time, `on_stop` when it is stopped on purpose) and what rides with each message: the
//! caller's deadline, so that work nobody waits for any more is skipped, and the count of
//! queued messages, so that a mailbox can be bounded. It knows nothing about how keyed
//! actors are found, spawned, passivated or restarted: that is the registry's business.

use std::fmt::{Debug, Display};
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tracing::Instrument;

use crate::ActorError;

/// The behaviour of one kind of keyed actor (a wallet, an order book market, a match room).
///
/// The implementor itself is read-only configuration and dependencies (a database pool, a
/// bus handle), shared by every actor of the registry through an `Arc`. All mutable state
/// lives in [`Keyed::State`], built by [`Keyed::init`] and owned by exactly one actor.
pub trait Keyed: Send + Sync + 'static {
    /// What identifies one actor, e.g. a wallet id.
    type Key: Clone + Eq + Hash + Debug + Display + Send + Sync + 'static;
    /// One enum per actor; request variants carry their [`ractor::RpcReplyPort`].
    type Msg: Send + 'static;
    /// The state one actor owns.
    type State: Send + 'static;

    /// Build the state for `key`, e.g. by loading it from the database. Runs when the key
    /// is first asked for, after a passivation, and again after every crash, so it must
    /// not assume the previous state survived. An `Err` (or a panic) fails the spawn: the
    /// callers waiting for the key get it back, or, during a supervised restart, it counts
    /// as one more crash.
    fn init(&self, key: &Self::Key)
    -> impl Future<Output = Result<Self::State, ActorError>> + Send;

    /// Process one message. An `Err` or a panic crashes the actor: the registry restarts
    /// it (with backoff) from [`Keyed::init`], and callers whose requests were queued or in
    /// flight see [`ActorError::Failed`]. Reply through the message's reply port; a dropped
    /// port is how a caller learns the request failed.
    ///
    /// A request whose caller had already given up (its deadline passed while it waited in
    /// the mailbox) never gets here: the registry drops it unhandled. [`deadline`] tells a
    /// handler how long its caller still waits, should it want to give up mid-way.
    fn handle(
        &self,
        key: &Self::Key,
        state: &mut Self::State,
        msg: Self::Msg,
    ) -> impl Future<Output = Result<(), ActorError>> + Send;

    /// Called when the actor is stopped on purpose (passivated when idle, or the registry
    /// shutting down), after every queued message has been handled; not after a crash.
    /// The place to flush batched writes. The default does nothing.
    fn on_stop(
        &self,
        _key: &Self::Key,
        _state: &mut Self::State,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }
}

tokio::task_local! {
    /// The deadline of the request being handled, set around [`Keyed::handle`].
    static DEADLINE: Option<tokio::time::Instant>;
}

/// The deadline of the caller whose message is being handled: `Some` inside
/// [`Keyed::handle`] for a request made with [`Handle::call`](crate::Handle::call) (its
/// caller stops waiting then), `None` for a cast, outside a handler, or in a task the
/// handler spawned (the value is task-local).
///
/// For a handler that does slow work in steps (a retry loop, a batch) and wants to stop
/// once nobody waits for the answer; a plain handler needs nothing, since a request that
/// expired while queued is dropped before it is handled.
pub fn deadline() -> Option<tokio::time::Instant> {
    DEADLINE.try_with(|deadline| *deadline).ok().flatten()
}

/// What travels through a keyed actor's mailbox: the service's message and its caller's
/// deadline. Services never see it; their `Keyed::Msg` stays as it is.
pub(crate) struct Envelope<M> {
    pub(crate) msg: M,
    /// `None` for a cast: nobody waits, so it never expires.
    pub(crate) deadline: Option<tokio::time::Instant>,
}

/// Per-actor counters shared by the actor, its directory entry and the supervisor.
#[derive(Debug, Default)]
pub(crate) struct Mailbox {
    /// Messages sent and not yet taken out of the mailbox: incremented by the sender
    /// before it sends (and undone if the send fails), decremented by the actor as it
    /// takes a message out (to handle it, or to drop it as expired). Approximate by design
    /// (a relaxed atomic, no lock with the mailbox itself): the bound it enforces may be
    /// overshot by the number of concurrent senders, never by more.
    pub(crate) queued: AtomicUsize,
    /// Set once the actor has handled a message successfully: what closes a half-open
    /// circuit.
    pub(crate) succeeded: AtomicBool,
}

impl Mailbox {
    /// Reserve a place for one message, or refuse if `capacity` are already waiting.
    pub(crate) fn reserve(&self, capacity: usize) -> bool {
        if self.queued.fetch_add(1, Ordering::Relaxed) >= capacity {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            false
        } else {
            true
        }
    }

    /// Give back a place reserved for a message that was not sent after all, or that the
    /// actor has taken out.
    pub(crate) fn release(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn has_succeeded(&self) -> bool {
        self.succeeded.load(Ordering::Relaxed)
    }
}

/// The ractor actor behind one key. It holds the shared behaviour and its key; the state
/// is built in `pre_start`, as the house style asks.
pub(crate) struct KeyedActor<K: Keyed> {
    pub(crate) behaviour: Arc<K>,
    pub(crate) key: K::Key,
    /// The registry's name, for the per-message span.
    pub(crate) registry: Arc<str>,
    pub(crate) mailbox: Arc<Mailbox>,
}

impl<K: Keyed> Actor for KeyedActor<K> {
    type Msg = Envelope<K::Msg>;
    type State = K::State;
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        _args: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        self.behaviour
            .init(&self.key)
            .instrument(
                tracing::debug_span!("actor_init", registry = %self.registry, key = %self.key),
            )
            .await
            .map_err(ActorProcessingErr::from)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        envelope: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        self.mailbox.release();
        let Envelope { msg, deadline } = envelope;
        if deadline.is_some_and(|deadline| tokio::time::Instant::now() >= deadline) {
            // The caller has stopped waiting (it was told `Timeout`). Handling it now would
            // do work nobody sees, behind the back of a client that may already be
            // retrying; dropping it drops its reply port, which nobody listens to.
            metrics::counter!("actor_expired_total", "registry" => Arc::clone(&self.registry))
                .increment(1);
            tracing::debug!(registry = %self.registry, key = %self.key, "dropped a request whose caller gave up");
            return Ok(());
        }
        // ractor runs this inside the sender's span (message_span_propogation), so the
        // trace reads request -> actor -> database.
        DEADLINE
            .scope(deadline, self.behaviour.handle(&self.key, state, msg))
            .instrument(tracing::info_span!("actor", registry = %self.registry, key = %self.key))
            .await
            .map_err(ActorProcessingErr::from)?;
        if !self.mailbox.succeeded.load(Ordering::Relaxed) {
            self.mailbox.succeeded.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        self.behaviour.on_stop(&self.key, state).await;
        Ok(())
    }
}
