//! actix-web glue every service shares: one error type rendered as
//! `application/problem+json`, authentication and roles, request ids and tracing, CORS,
//! health and metrics endpoints, and the OpenAPI document with its docs UI.
//!
//! It knows nothing of any one service: services hand it their routes and OpenAPI parts,
//! the node (`runtime`) assembles them.

pub mod auth;
pub mod cors;
pub mod docs;
pub mod error;
pub mod extract;
pub mod fallback;
pub mod observe;
pub mod ops;

pub use auth::{Admins, Authenticated, Authorized, Claims, Editors, JwtKeys, RoleSet, Users};
pub use error::{ApiError, Problem};
