//! [`Handle`]: how callers talk to one keyed actor, with the registry's call timeout,
//! the caller's deadline riding with the message, a bounded mailbox, and transparent
//! re-resolution after a passivation or restart.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use ractor::{MessagingErr, RpcReplyPort};

use super::Registry;
use super::directory::Entry;
use crate::keyed::Envelope;
use crate::{ActorError, Keyed};

/// How one attempt to put a message in a mailbox ended.
enum Sent<M> {
    Delivered,
    /// The actor no longer takes messages (passivated, crashed); the message is handed
    /// back untouched, safe to deliver elsewhere.
    Bounced(Envelope<M>),
    /// Refused for good (a full mailbox): do not try another actor.
    Refused(ActorError),
}

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
    /// The deadline rides with the message: if it passes while the message still waits in
    /// the mailbox, the actor drops it unhandled, so a `Timeout` seen here means the
    /// request took effect only if the actor had already started it.
    ///
    /// Errors: `Timeout` when no reply came in time (the request may still be finishing,
    /// if it had started); `Failed` when the actor crashed with the request queued or in
    /// flight (it may or may not have taken effect); `Overloaded` when the key's mailbox is
    /// full and `CircuitOpen` when the key is in a crash loop (both refused at once, no
    /// effect); `Unavailable` when the registry is gone or going (stopped, or failed).
    pub async fn call<T, F>(&self, build: F) -> Result<T, ActorError>
    where
        T: Send + 'static,
        F: FnOnce(RpcReplyPort<T>) -> K::Msg,
    {
        let timeout = self.inner.registry.shared.config.call_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let (tx, rx) = tokio::sync::oneshot::channel();
        // The port carries the timeout too, so a handler can see how long it has.
        let msg = Envelope {
            msg: build(RpcReplyPort::from((tx, timeout))),
            deadline: Some(deadline),
        };
        self.deliver(msg, deadline).await?;
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            // The actor dropped the request as expired just as our own timer was due.
            Ok(Err(_dropped)) if tokio::time::Instant::now() >= deadline => {
                Err(ActorError::Timeout)
            }
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
    /// the call timeout); the message is then in that actor's mailbox. A cast has no
    /// caller waiting, so it never expires; it is refused like a call when the mailbox is
    /// full or the key's circuit is open.
    pub async fn cast(&self, msg: K::Msg) -> Result<(), ActorError> {
        let deadline = tokio::time::Instant::now() + self.inner.registry.shared.config.call_timeout;
        let msg = Envelope {
            msg,
            deadline: None,
        };
        self.deliver(msg, deadline).await
    }

    /// Put `msg` in the mailbox of the key's current actor: the cached one, or, if that
    /// refused it (passivated, crashed), the one the registry resolves now. Once.
    async fn deliver(
        &self,
        msg: Envelope<K::Msg>,
        deadline: tokio::time::Instant,
    ) -> Result<(), ActorError> {
        let registry = &self.inner.registry;
        let msg = {
            let entry = self
                .inner
                .entry
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            match self.send(&entry, msg) {
                Sent::Delivered => return Ok(()),
                Sent::Refused(error) => return Err(error),
                Sent::Bounced(msg) => msg,
            }
        };
        let entry = registry.resolve(&self.inner.key, deadline).await?;
        *self
            .inner
            .entry
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::clone(&entry);
        match self.send(&entry, msg) {
            Sent::Delivered => Ok(()),
            Sent::Refused(error) => Err(error),
            // Resolved alive a moment ago and already gone again: give up rather than
            // chase it; the caller decides whether to retry.
            Sent::Bounced(_) => Err(ActorError::Unavailable),
        }
    }

    fn send(&self, entry: &Entry<K>, msg: Envelope<K::Msg>) -> Sent<K::Msg> {
        let shared = &self.inner.registry.shared;
        entry.touch(shared.now_ms());
        // Reserve before sending, so the bound holds however many callers send at once;
        // refusing here is the fast answer a pile-up needs, instead of a queue whose tail
        // would only time out.
        if !entry.mailbox.reserve(shared.config.mailbox_capacity) {
            metrics::counter!("actor_overloaded_total", "registry" => Arc::clone(&shared.name))
                .increment(1);
            return Sent::Refused(ActorError::Overloaded);
        }
        match entry.actor.send_message(msg) {
            Ok(()) => Sent::Delivered,
            Err(error) => {
                entry.mailbox.release();
                match error {
                    MessagingErr::SendErr(msg) => Sent::Bounced(msg),
                    // Cannot happen for a typed local actor; handled anyway.
                    _ => Sent::Refused(ActorError::Unavailable),
                }
            }
        }
    }
}
