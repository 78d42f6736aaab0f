//! Everything that crosses a process boundary: bus subjects and the payloads on them.
//!
//! Services never depend on each other's crates; what one service tells or asks another
//! is typed here. Subjects are versioned, `<service>.v1.<noun>.<verb>`: a breaking payload
//! change is a new version beside the old one, never an edit in place.

use serde::{Serialize, de::DeserializeOwned};

pub mod accounts;
pub mod live;
pub mod rewards;
pub mod wallet;

/// A fact a service publishes on the bus for whoever cares.
pub trait Event: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The subject this event is published on.
    const SUBJECT: &'static str;
}

/// A request one service sends another over bus request/reply (to a queue group, so one
/// node answers).
pub trait Command: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The subject the serving service listens on.
    const SUBJECT: &'static str;
    /// What a successful reply carries.
    type Reply: Serialize + DeserializeOwned + Send + Sync + 'static;
}

/// A refusal sent back over the bus: the same stable `code` the REST API would give.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Refusal {
    pub code: String,
    pub message: String,
}
