//! The one error type of the bus, shared by both backends so callers never match on a
//! backend's own errors.

use std::time::Duration;

/// Everything a bus operation can fail with.
///
/// Backend-specific failures are flattened to strings on purpose: callers branch on the
/// portable variants (`Timeout`, `NoResponders`, ...) and only log the rest.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// A subject or subscription pattern that NATS would reject (or that we refuse so both
    /// backends agree).
    #[error("invalid subject {subject:?}: {reason}")]
    InvalidSubject {
        /// The offending subject or pattern.
        subject: String,
        /// Which rule it broke.
        reason: &'static str,
    },

    /// A header name or value that cannot travel on the wire.
    #[error("invalid header {name:?}: {reason}")]
    InvalidHeader {
        /// The offending header name.
        name: String,
        /// Which rule it broke.
        reason: &'static str,
    },

    /// A stream, consumer or queue group configuration the bus refuses.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// A request got no answer within its timeout (someone was listening).
    #[error("request timed out after {0:?}")]
    Timeout(Duration),

    /// A request found nobody subscribed to its subject.
    #[error("no responders on {subject:?}")]
    NoResponders {
        /// The request subject.
        subject: String,
    },

    /// A response was built for a message that carries no reply subject.
    #[error("message on {subject:?} has no reply subject")]
    NoReplySubject {
        /// Subject of the message that cannot be answered.
        subject: String,
    },

    /// A durable publish whose subject no stream captures.
    #[error("no stream captures subject {subject:?}")]
    NoStream {
        /// The publish subject.
        subject: String,
    },

    /// A consumer was asked for on a stream that does not exist.
    #[error("stream {stream:?} not found")]
    StreamNotFound {
        /// The stream name.
        stream: String,
    },

    /// The durable consumer (or its stream) was deleted while being consumed.
    #[error("consumer deleted")]
    ConsumerDeleted,

    /// The bus, or the connection under it, is shut down.
    #[error("bus closed")]
    Closed,

    /// A payload did not (de)serialise.
    #[error("payload codec: {0}")]
    Codec(#[from] serde_json::Error),

    /// Any other backend failure (connection, server error, ...), already rendered.
    #[error("{backend} backend: {message}")]
    Backend {
        /// `"nats"` or `"local"`.
        backend: &'static str,
        /// What went wrong, as the backend described it.
        message: String,
    },
}

impl BusError {
    pub(crate) fn nats(err: impl std::fmt::Display) -> Self {
        Self::Backend {
            backend: "nats",
            message: err.to_string(),
        }
    }
}
