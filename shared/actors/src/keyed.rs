//! What a service writes to get "one actor per key": the [`Keyed`] trait, and the ractor
//! actor that runs one key's state on its behalf.
//!
//! This module owns the life of one keyed actor (init in `pre_start`, one message at a
//! time, `on_stop` when it is stopped on purpose). It knows nothing about how keyed actors
//! are found, spawned, passivated or restarted: that is the registry's business.

use std::fmt::{Debug, Display};
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

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

/// The ractor actor behind one key. It holds the shared behaviour and its key; the state
/// is built in `pre_start`, as the house style asks.
pub(crate) struct KeyedActor<K: Keyed> {
    pub(crate) behaviour: Arc<K>,
    pub(crate) key: K::Key,
    /// The registry's name, for the per-message span.
    pub(crate) registry: Arc<str>,
}

impl<K: Keyed> Actor for KeyedActor<K> {
    type Msg = K::Msg;
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
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // ractor runs this inside the sender's span (message_span_propogation), so the
        // trace reads request -> actor -> database.
        self.behaviour
            .handle(&self.key, state, msg)
            .instrument(tracing::info_span!("actor", registry = %self.registry, key = %self.key))
            .await
            .map_err(ActorProcessingErr::from)
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
