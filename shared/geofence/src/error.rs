//! The crate's one error type, and [`FeatureRef`], which names the GeoJSON feature at fault so
//! an operator can find it in a half-megabyte file without a debugger.

use std::fmt;

/// Everything that can go wrong when building a [`crate::RegionIndex`], looking a point up,
/// or evaluating a [`crate::Policy`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeofenceError {
    /// The input is not JSON at all.
    #[error("invalid JSON: {0}")]
    Json(String),

    /// Valid JSON, but the top level is not a GeoJSON `FeatureCollection`.
    #[error("not a GeoJSON FeatureCollection: top-level type is {found}")]
    NotFeatureCollection { found: String },

    /// A feature does not parse as a GeoJSON `Feature` (bad geometry object, wrong types).
    #[error("feature {feature}: malformed: {message}")]
    MalformedFeature {
        feature: FeatureRef,
        message: String,
    },

    /// A feature has no geometry (`"geometry": null`).
    #[error("feature {feature}: has no geometry")]
    MissingGeometry { feature: FeatureRef },

    /// A feature's geometry is not a `Polygon` or `MultiPolygon`.
    #[error(
        "feature {feature}: unsupported geometry type {geometry_type} (want Polygon or MultiPolygon)"
    )]
    UnsupportedGeometry {
        feature: FeatureRef,
        geometry_type: String,
    },

    /// A feature lacks the region code property, or it is not a non-empty string.
    #[error("feature {feature}: property {property:?} is missing or not a non-empty string")]
    MissingCode {
        feature: FeatureRef,
        property: String,
    },

    /// Two features carry the same region code; lookups and policy overrides key on the code,
    /// so a second feature would silently shadow or split the first.
    #[error("feature {feature}: region code {code:?} already used by feature #{first_index}{}",
        other_set.as_ref().map(|set| format!(" of set {set:?}")).unwrap_or_default())]
    DuplicateCode {
        feature: FeatureRef,
        code: String,
        first_index: usize,
        /// The set of the earlier feature, when it is another set than this feature's.
        other_set: Option<String>,
    },

    /// A problem in one named region set of [`crate::RegionIndex::from_sources`].
    #[error("region set {set:?}: {error}")]
    InSet {
        set: String,
        error: Box<GeofenceError>,
    },

    /// A country code that is not two upper-case ASCII letters (ISO 3166-1 alpha-2).
    #[error("invalid country code {0:?}: want ISO 3166-1 alpha-2, e.g. \"IN\"")]
    InvalidCountryCode(String),

    /// A position is not `[lon, lat]` with finite, in-range numbers, or a ring is too short.
    #[error("feature {feature}: invalid geometry: {problem}")]
    InvalidGeometry {
        feature: FeatureRef,
        problem: String,
    },

    /// A lookup latitude that is NaN, infinite or outside [-90, 90].
    #[error("invalid latitude {0}: must be finite and within [-90, 90]")]
    InvalidLatitude(f64),

    /// A lookup longitude that is NaN, infinite or outside [-180, 180].
    #[error("invalid longitude {0}: must be finite and within [-180, 180]")]
    InvalidLongitude(f64),

    /// [`crate::Policy::decide`] was asked about a feature it has no rules for. This is an
    /// error rather than a deny so that a typo in a feature name fails loudly in tests.
    #[error("unknown feature {0:?}")]
    UnknownFeature(String),

    /// The bytes are not a readable MaxMind DB.
    #[error("IP database: {0}")]
    IpDatabase(String),
}

impl GeofenceError {
    /// A stable snake_case code, for problem+json bodies and metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Json(_) => "invalid_json",
            Self::NotFeatureCollection { .. } => "not_feature_collection",
            Self::MalformedFeature { .. } => "malformed_feature",
            Self::MissingGeometry { .. } => "missing_geometry",
            Self::UnsupportedGeometry { .. } => "unsupported_geometry",
            Self::MissingCode { .. } => "missing_region_code",
            Self::DuplicateCode { .. } => "duplicate_region_code",
            Self::InSet { error, .. } => error.code(),
            Self::InvalidCountryCode(_) => "invalid_country_code",
            Self::InvalidGeometry { .. } => "invalid_geometry",
            Self::InvalidLatitude(_) => "invalid_latitude",
            Self::InvalidLongitude(_) => "invalid_longitude",
            Self::UnknownFeature(_) => "unknown_feature",
            Self::IpDatabase(_) => "invalid_ip_database",
        }
    }
}

/// Identifies a feature in the input: its position in `features` and, when present, its
/// GeoJSON `id` and `name` property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureRef {
    /// Zero-based position in the `features` array.
    pub index: usize,
    /// The feature's `id` member, rendered as a string.
    pub id: Option<String>,
    /// The feature's name property (see [`crate::IndexOptions::name_property`]).
    pub name: Option<String>,
}

impl fmt::Display for FeatureRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.index)?;
        match (&self.id, &self.name) {
            (Some(id), Some(name)) => write!(f, " (id {id:?}, name {name:?})"),
            (Some(id), None) => write!(f, " (id {id:?})"),
            (None, Some(name)) => write!(f, " (name {name:?})"),
            (None, None) => Ok(()),
        }
    }
}
