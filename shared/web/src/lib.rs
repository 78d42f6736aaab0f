//! actix-web glue every service shares: one error type rendered as
//! `application/problem+json`, authentication and roles, request ids and tracing, CORS,
//! health and metrics endpoints, the OpenAPI document with its docs UI, the client's
//! address behind trusted proxies, and guards that refuse a request before its handler
//! runs (the geofence guard by feature name among them).
//!
//! It knows nothing of any one service: services hand it their routes and OpenAPI parts,
//! the node (`runtime`) assembles them.

pub mod auth;
pub mod client;
pub mod cors;
pub mod docs;
pub mod error;
pub mod extract;
pub mod fallback;
pub mod geo;
pub mod guard;
pub mod idempotency;
pub mod observe;
pub mod ops;

pub use auth::{Admins, Authenticated, Authorized, Claims, Editors, JwtKeys, RoleSet, Users};
pub use error::{ApiError, Problem};
