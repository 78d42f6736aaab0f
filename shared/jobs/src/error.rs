//! The crate's two error types: [`JobsError`] for callers of the library (enqueue, cancel,
//! RPC, start a runner) and [`JobError`] for what a worker's `perform` returns.

use std::fmt;
use std::time::Duration;

/// What the library's operations fail with.
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("bus: {0}")]
    Bus(#[from] bus::BusError),
    #[error("arguments or result codec: {0}")]
    Codec(#[from] serde_json::Error),
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    #[error("job {0} not found")]
    NotFound(String),
    /// A retry would give the job back a unique key another live job holds.
    #[error("job {id} conflicts with job {existing} on its unique key")]
    UniqueConflict { id: String, existing: String },
    /// An RPC found no node serving the queue.
    #[error("no node serves queue {0:?}")]
    NoNode(String),
    /// An RPC got no answer in time: the node may have died mid-call.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// An RPC ran and the worker returned an error (or panicked, or timed out).
    #[error("the job failed: {0}")]
    Failed(String),
    #[error("the worker {0:?} is not registered on the serving node")]
    UnknownWorker(String),
    #[error("actor: {0}")]
    Actor(String),
}

impl JobsError {
    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            what,
            reason: reason.into(),
        }
    }
}

/// Why an attempt did not complete, as a worker reports it.
///
/// `?` on any error type converts it into a retryable failure. Deliberately not an
/// `std::error::Error` itself, so that blanket conversion can exist (as `anyhow` does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// The attempt failed; retry with backoff while attempts remain.
    Retry(String),
    /// The job can never succeed (bad arguments, the thing it acts on is gone): discard it
    /// now without using up the remaining attempts.
    Discard(String),
}

impl JobError {
    /// A failure worth retrying.
    pub fn retry(reason: impl fmt::Display) -> Self {
        Self::Retry(reason.to_string())
    }

    /// A failure not worth retrying.
    pub fn discard(reason: impl fmt::Display) -> Self {
        Self::Discard(reason.to_string())
    }

    /// The message recorded in the job's errors.
    pub fn message(&self) -> &str {
        match self {
            JobError::Retry(message) | JobError::Discard(message) => message,
        }
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for JobError {
    fn from(error: E) -> Self {
        Self::Retry(error.to_string())
    }
}
