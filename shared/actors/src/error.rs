//! The one error type of the crate: what a caller of a keyed actor can get back, and what
//! a [`Keyed`](crate::Keyed) implementation returns to say "this actor crashed".

/// Everything talking to a keyed actor can fail with.
///
/// The variants are deliberately few and carry strings rather than foreign error types:
/// callers branch on them (the web layer maps `Unavailable`, `Overloaded` and
/// `CircuitOpen` to 503, the last two with a `Retry-After`, `Timeout` to 504, `Failed` to
/// 500) and only log the text. `Clone` lets one failed spawn answer every
/// caller that was waiting for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActorError {
    /// No reply arrived within the registry's call timeout (this includes waiting for a
    /// crashed actor to come back). The request may still be processed later.
    #[error("actor call timed out")]
    Timeout,

    /// There is no live actor to deliver to and none will come: the registry was stopped,
    /// or it gave up restarting and escalated to its parent.
    #[error("actor unavailable")]
    Unavailable,

    /// The key's mailbox already holds `RegistryConfig::mailbox_capacity` messages: the
    /// request was refused at once and never queued, so it certainly took no effect.
    /// Retry shortly.
    #[error("actor overloaded")]
    Overloaded,

    /// The key crashed in a loop and its circuit is open: nothing is delivered to it until
    /// `retry_after` has passed, after which the next request tries it again. The request
    /// was not delivered, so it took no effect. Other keys are not affected.
    #[error("actor circuit open; retry after {retry_after:?}")]
    CircuitOpen {
        /// How long until the key is tried again.
        retry_after: std::time::Duration,
    },

    /// The operation failed. Returned by `init` or `handle` (which crashes the actor), or
    /// seen by a caller whose request was in flight when the actor crashed; in that case
    /// the request may or may not have taken effect, which is why writes carry idempotency
    /// keys.
    #[error("actor failed: {0}")]
    Failed(String),
}

impl ActorError {
    /// A [`ActorError::Failed`] from anything printable, for `map_err(ActorError::failed)`.
    pub fn failed(reason: impl std::fmt::Display) -> Self {
        Self::Failed(reason.to_string())
    }

    /// Recover our own error from ractor's boxed one, so an `init` that returned
    /// `Timeout` reaches its callers as `Timeout` and not as an opaque string.
    pub(crate) fn from_processing(err: ractor::ActorProcessingErr) -> Self {
        match err.downcast::<ActorError>() {
            Ok(own) => *own,
            Err(other) => Self::Failed(other.to_string()),
        }
    }

    /// Same as [`ActorError::from_processing`] for a failed spawn (`init` returned an
    /// error or panicked).
    pub(crate) fn from_spawn(err: ractor::SpawnErr) -> Self {
        match err {
            ractor::SpawnErr::StartupFailed(inner) => Self::from_processing(inner),
            other => Self::Failed(other.to_string()),
        }
    }
}
