//! [`Handle`]: how callers talk to one keyed actor, with the registry's call timeout and
//! transparent re-resolution after a passivation or restart.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use ractor::{MessagingErr, RpcReplyPort};

use super::Registry;
use super::directory::Entry;
use crate::{ActorError, Keyed};

/// A cloneable handle on the actor for one key.
///
/// It caches the actor it was resolved to. If that actor has since passivated or been
/// replaced after a crash, the message bounces undelivered, and the handle resolves the
/// key through the registry once more and delivers it to the current actor; so a handle
/// kept for a long time keeps working. Nothing is ever delivered twice: only a message
/// that provably never reached an actor is re-sent.
pub struct Handle<K: Keyed> {
    inner: Arc<Inner<K>>,
}

struct Inner<K: Keyed> {
    key: K::Key,
    registry: Registry<K>,
    /// The actor last resolved; replaced when it turns out dead.
    entry: RwLock<Arc<Entry<K>>>,
}

impl<K: Keyed> Clone for Handle<K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K: Keyed> fmt::Debug for Handle<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("registry", &self.inner.registry.name())
            .field("key", &self.inner.key)
            .finish_non_exhaustive()
    }
}

impl<K: Keyed> Handle<K> {
    pub(super) fn new(registry: Registry<K>, key: K::Key, entry: Arc<Entry<K>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                key,
                registry,
                entry: RwLock::new(entry),
            }),
        }
    }

    /// The key this handle talks to.
    pub fn key(&self) -> &K::Key {
        &self.inner.key
    }

    /// Request/reply: `build` wraps the reply port into the actor's message, e.g.
    /// `handle.call(|reply| WalletMsg::Balance { reply })`. The whole call (finding the
    /// actor, waiting for a restarting one, the reply) is bounded by the registry's call
    /// timeout.
    ///
    /// Errors: `Timeout` when no reply came in time (the request may still be handled
    /// later); `Failed` when the actor crashed with the request queued or in flight (it
    /// may or may not have taken effect); `Unavailable` when the registry is gone or going
    /// (stopped, or failed after escalating).
    pub async fn call<T, F>(&self, build: F) -> Result<T, ActorError>
    where
        T: Send + 'static,
        F: FnOnce(RpcReplyPort<T>) -> K::Msg,
    {
        let timeout = self.inner.registry.shared.config.call_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let (tx, rx) = tokio::sync::oneshot::channel();
        // The port carries the timeout too, so a handler can see how long it has.
        let msg = build(RpcReplyPort::from((tx, timeout)));
        self.deliver(msg, deadline).await?;
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            // The reply port died with the actor. If the registry itself is going down,
            // the actor was killed with it rather than crashed: say so.
            Ok(Err(_dropped)) if !self.inner.registry.is_running() => Err(ActorError::Unavailable),
            Ok(Err(_dropped)) => Err(ActorError::Failed(
                "actor stopped before replying".to_owned(),
            )),
            Err(_elapsed) => Err(ActorError::Timeout),
        }
    }

    /// Fire and forget. Waits only as long as it takes to find a live actor (bounded by
    /// the call timeout); the message is then in that actor's mailbox.
    pub async fn cast(&self, msg: K::Msg) -> Result<(), ActorError> {
        let deadline = tokio::time::Instant::now() + self.inner.registry.shared.config.call_timeout;
        self.deliver(msg, deadline).await
    }

    /// Put `msg` in the mailbox of the key's current actor: the cached one, or, if that
    /// refused it (passivated, crashed), the one the registry resolves now. Once.
    async fn deliver(&self, msg: K::Msg, deadline: tokio::time::Instant) -> Result<(), ActorError> {
        let registry = &self.inner.registry;
        let msg = {
            let entry = self
                .inner
                .entry
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            match Self::send(&entry, msg, registry.shared.now_ms()) {
                Ok(()) => return Ok(()),
                Err(bounced) => bounced?,
            }
        };
        let entry = registry.resolve(&self.inner.key, deadline).await?;
        *self
            .inner
            .entry
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::clone(&entry);
        match Self::send(&entry, msg, registry.shared.now_ms()) {
            Ok(()) => Ok(()),
            // Resolved alive a moment ago and already gone again: give up rather than
            // chase it; the caller decides whether to retry.
            Err(_) => Err(ActorError::Unavailable),
        }
    }

    /// `Err(Ok(msg))`: refused, message handed back (safe to re-send).
    /// `Err(Err(_))`: lost (cannot happen for a typed local actor, handled anyway).
    fn send(entry: &Entry<K>, msg: K::Msg, now_ms: u64) -> Result<(), Result<K::Msg, ActorError>> {
        entry.touch(now_ms);
        match entry.actor.send_message(msg) {
            Ok(()) => Ok(()),
            Err(MessagingErr::SendErr(msg)) => Err(Ok(msg)),
            Err(_) => Err(Err(ActorError::Unavailable)),
        }
    }
}
