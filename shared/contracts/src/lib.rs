//! Everything that crosses a process boundary: bus subjects and the payloads on them.
//!
//! Services never depend on each other's crates; what one service tells or asks another
//! is typed here. Subjects are versioned, `<service>.v1.<noun>.<verb>`: a breaking payload
//! change is a new version beside the old one, never an edit in place.

use serde::{Serialize, de::DeserializeOwned};

pub mod accounts;

/// A fact a service publishes on the bus for whoever cares.
pub trait Event: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The subject this event is published on.
    const SUBJECT: &'static str;
}
