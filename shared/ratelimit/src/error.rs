//! The crate's one error type.

use crate::limiter::Key;

/// Why a limiter could not be built or could not answer.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// A guard names a group the settings do not have.
    #[error("rate limit group {0:?} is not configured (ratelimit.groups.{0})")]
    UnknownGroup(String),
    /// A guard keys by something its group has no quota for.
    #[error("rate limit group {group:?} has no {key} quota (ratelimit.groups.{group}.{key})")]
    NoQuota {
        /// The group.
        group: String,
        /// What the guard keys by.
        key: Key,
    },
    /// The settings do not make sense.
    #[error("invalid rate limit settings: {0}")]
    Config(String),
    /// Redis refused, failed or did not answer in time.
    #[error("rate limit store: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis answered something the script never returns.
    #[error("rate limit store answered {0:?}")]
    UnexpectedReply(Vec<i64>),
}
