//! Geofencing for quizzes and paid features: which region (Indian state or union territory,
//! or any region set given as GeoJSON) a point lies in, and whether a feature is allowed there.
//!
//! This crate owns two pure pieces:
//! - [`RegionIndex`] ([`region`]): parses a GeoJSON `FeatureCollection` the caller hands in as
//!   text or bytes and answers point-in-region lookups through an R-tree of bounding boxes.
//! - [`Policy`] ([`policy`]): per-feature allow/deny defaults, per-region overrides and a rule
//!   for locations outside every region, evaluated into a [`Decision`] with a stable reason.
//!
//! - [`Policy::decide_with`]: how the device's coordinates and the region of its IP address
//!   are reconciled (coordinates win; different countries are a `location_mismatch`).
//! - [`IpLocator`] ([`ip`]): IP address to region code through a MaxMind-format database.
//! - [`Geofence`] ([`live`]): the node's current index, policy and IP database behind one
//!   swappable pointer, which HTTP guards and the check API read.
//!
//! It does no IO: the service reads files and database rows and hands in bytes. The
//! `testing` feature adds a MaxMind DB writer for tests.

#![forbid(unsafe_code)]

pub mod error;
pub mod ip;
pub mod live;
pub mod policy;
pub mod region;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{FeatureRef, GeofenceError};
/// India's 28 states and 8 union territories as a GeoJSON `FeatureCollection`, codes in
/// `iso_3166_2` (current ISO 3166-2:IN, e.g. `IN-TS`); licence and provenance in
/// `data/README.md`. Services load it as their built-in region set.
pub const INDIA_STATES: &[u8] = include_bytes!("../data/india-states.geojson");

pub use ip::IpLocator;
pub use live::{Geofence, Snapshot};
pub use policy::{Basis, Decision, FeaturePolicy, Location, Policy, Reason, Rule};
pub use region::{
    DEFAULT_CODE_PROPERTY, DEFAULT_NAME_PROPERTY, IndexOptions, Region, RegionIndex, Source,
    country_of, validate_lat_lon,
};
