//! Feature policies: given a feature name and where the user is, decide allow or deny and say
//! why in a stable, machine-readable [`Reason`].
//!
//! The evaluation order, first match wins:
//! 1. the location resolves to a region with an override for this feature
//!    (`region_allowed` / `region_denied`);
//! 2. the location resolves to a known region without an override
//!    (`default_allowed` / `default_denied`);
//! 3. coordinates outside every region, or a region code the index does not know
//!    (`outside_known_regions`), or no location at all (`location_unknown`): both use the
//!    feature's [`FeaturePolicy::outside`] rule.
//!
//! Which location to trust when IP and GPS disagree is the service's business, not this
//! module's: it receives one [`Location`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::GeofenceError;
use crate::region::RegionIndex;

/// Allow or deny; spelled `allow` / `deny` in config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    Allow,
    Deny,
}

impl Rule {
    fn allows(self) -> bool {
        self == Self::Allow
    }
}

/// The rules of one feature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturePolicy {
    /// Applies in a known region that has no override.
    pub default: Rule,
    /// Per-region overrides, keyed by region code (e.g. `IN-TS`).
    #[serde(default)]
    pub regions: BTreeMap<String, Rule>,
    /// Applies when the location is unknown or outside every known region. Paid features
    /// usually deny here; that choice belongs to the caller's config.
    pub outside: Rule,
}

impl FeaturePolicy {
    /// A policy with the given default and outside rules and no overrides.
    pub fn new(default: Rule, outside: Rule) -> Self {
        Self {
            default,
            regions: BTreeMap::new(),
            outside,
        }
    }

    /// Adds or replaces the override for one region code.
    #[must_use]
    pub fn with_region(mut self, code: impl Into<String>, rule: Rule) -> Self {
        self.regions.insert(code.into(), rule);
        self
    }
}

/// Where the user is, as far as the caller knows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Location {
    /// WGS84 degrees; validated on use.
    Coordinates { lat: f64, lon: f64 },
    /// A region code already resolved elsewhere (e.g. from an IP database).
    RegionCode(String),
    /// No usable location.
    Unknown,
}

/// Why a decision came out the way it did. The snake_case strings are a stable contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    RegionAllowed,
    RegionDenied,
    DefaultAllowed,
    DefaultDenied,
    OutsideKnownRegions,
    LocationUnknown,
}

impl Reason {
    /// The stable snake_case name, identical to the serde form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RegionAllowed => "region_allowed",
            Self::RegionDenied => "region_denied",
            Self::DefaultAllowed => "default_allowed",
            Self::DefaultDenied => "default_denied",
            Self::OutsideKnownRegions => "outside_known_regions",
            Self::LocationUnknown => "location_unknown",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of [`Policy::decide`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub allowed: bool,
    /// The region code the location resolved to, if it resolved to a known region.
    pub region: Option<String>,
    pub reason: Reason,
}

/// Rules for every feature, keyed by feature name (`paid_quiz`, `voucher_purchase`, ...).
/// Deserialises from config as `{ "features": { "paid_quiz": { "default": "allow", ... } } }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub features: BTreeMap<String, FeaturePolicy>,
}

impl Policy {
    /// An empty policy: every feature is unknown.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces one feature's rules.
    #[must_use]
    pub fn with_feature(mut self, name: impl Into<String>, rules: FeaturePolicy) -> Self {
        self.features.insert(name.into(), rules);
        self
    }

    /// Decides whether `feature` is allowed at `location`.
    ///
    /// Errors: [`GeofenceError::UnknownFeature`] for a feature with no rules, and
    /// [`GeofenceError::InvalidLatitude`] / [`GeofenceError::InvalidLongitude`] for bad
    /// coordinates (a bad fix is the caller's bug, not an "unknown location").
    pub fn decide(
        &self,
        feature: &str,
        location: &Location,
        index: &RegionIndex,
    ) -> Result<Decision, GeofenceError> {
        let rules = self
            .features
            .get(feature)
            .ok_or_else(|| GeofenceError::UnknownFeature(feature.to_owned()))?;
        let region = match location {
            Location::Coordinates { lat, lon } => index.lookup(*lat, *lon)?,
            Location::RegionCode(code) => index.get(code),
            Location::Unknown => {
                return Ok(Decision {
                    allowed: rules.outside.allows(),
                    region: None,
                    reason: Reason::LocationUnknown,
                });
            }
        };
        let Some(region) = region else {
            return Ok(Decision {
                allowed: rules.outside.allows(),
                region: None,
                reason: Reason::OutsideKnownRegions,
            });
        };
        let (allowed, reason) = match rules.regions.get(&region.code) {
            Some(Rule::Allow) => (true, Reason::RegionAllowed),
            Some(Rule::Deny) => (false, Reason::RegionDenied),
            None if rules.default.allows() => (true, Reason::DefaultAllowed),
            None => (false, Reason::DefaultDenied),
        };
        Ok(Decision {
            allowed,
            region: Some(region.code.clone()),
            reason,
        })
    }

    /// Override codes that the index does not know, as `(feature, code)` pairs. Call it at
    /// startup: an override for a misspelt code (`IN-TG` for `IN-TS`) would otherwise never
    /// apply and fail open or closed silently.
    pub fn unknown_region_codes<'a>(&'a self, index: &RegionIndex) -> Vec<(&'a str, &'a str)> {
        self.features
            .iter()
            .flat_map(|(feature, rules)| {
                rules
                    .regions
                    .keys()
                    .filter(|code| index.get(code).is_none())
                    .map(move |code| (feature.as_str(), code.as_str()))
            })
            .collect()
    }
}
