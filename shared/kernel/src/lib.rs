//! Pure domain primitives shared by every crate: typed ids, roles and secrets.
//!
//! Nothing here does IO or knows about async, HTTP, the bus or the database; anything
//! that does belongs in a crate further out.

pub mod id;
pub mod role;
pub mod secret;

pub use id::UserId;
pub use role::{Role, UnknownRole};
pub use secret::Secret;
