//! Geofencing for quizzes and paid features: which region (Indian state or union territory,
//! or any region set given as GeoJSON) a point lies in, and whether a feature is allowed there.
//!
//! This crate owns two pure pieces:
//! - [`RegionIndex`] ([`region`]): parses a GeoJSON `FeatureCollection` the caller hands in as
//!   text or bytes and answers point-in-region lookups through an R-tree of bounding boxes.
//! - [`Policy`] ([`policy`]): per-feature allow/deny defaults, per-region overrides and a rule
//!   for locations outside every region, evaluated into a [`Decision`] with a stable reason.
//!
//! It must not know about IO, HTTP, IP geolocation or how GPS and IP locations are reconciled:
//! the service decides which [`Location`] to trust and passes it in.

#![forbid(unsafe_code)]

pub mod error;
pub mod policy;
pub mod region;

pub use error::{FeatureRef, GeofenceError};
pub use policy::{Decision, FeaturePolicy, Location, Policy, Reason, Rule};
pub use region::{
    DEFAULT_CODE_PROPERTY, DEFAULT_NAME_PROPERTY, IndexOptions, Region, RegionIndex,
    validate_lat_lon,
};
