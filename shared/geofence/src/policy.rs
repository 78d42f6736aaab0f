//! Feature policies: given a feature name and where the user is, decide allow or deny and say
//! why in a stable, machine-readable [`Reason`].
//!
//! The evaluation order, first match wins:
//! 1. the location resolves to a region with an override for this feature
//!    (`region_allowed` / `region_denied`);
//!    A subdivision without an override of its own takes its country's (`IN-KA` takes `IN`'s);
//! 2. the location resolves to a known region without an override
//!    (`default_allowed` / `default_denied`);
//! 3. coordinates outside every region, or a region code the index does not know
//!    (`outside_known_regions`), or no location at all (`location_unknown`): both use the
//!    feature's [`FeaturePolicy::outside`] rule.
//!
//! [`Policy::decide_with`] takes both kinds of evidence a request carries, the device's
//! coordinates and the region its IP address resolves to, and reconciles them:
//! - coordinates win when present: IP geolocation is coarse and mobile carriers route
//!   through other states, while a GPS fix is metres wide;
//! - but when the coordinates and the IP place the user in **different countries**, one of
//!   them is lying (a spoofed fix, a VPN), and the feature's [`FeaturePolicy::mismatch`] rule
//!   decides (`location_mismatch`). A different state within one country is not a mismatch,
//!   for the reason above;
//! - with no coordinates, the IP's region (or country) decides; with neither, the feature's
//!   outside rule does (`location_unknown`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::GeofenceError;
use crate::region::{Region, RegionIndex, country_of};

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

    fn deny() -> Self {
        Self::Deny
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
    /// Applies when the coordinates and the IP address place the user in different
    /// countries. Deny unless configured: a disagreement is what spoofing looks like.
    #[serde(default = "Rule::deny")]
    pub mismatch: Rule,
}

impl FeaturePolicy {
    /// A policy with the given default and outside rules and no overrides.
    pub fn new(default: Rule, outside: Rule) -> Self {
        Self {
            default,
            regions: BTreeMap::new(),
            outside,
            mismatch: Rule::Deny,
        }
    }

    /// Sets the rule for coordinates and IP address in different countries.
    #[must_use]
    pub fn with_mismatch(mut self, rule: Rule) -> Self {
        self.mismatch = rule;
        self
    }

    /// Adds or replaces the override for one region code.
    #[must_use]
    pub fn with_region(mut self, code: impl Into<String>, rule: Rule) -> Self {
        self.regions.insert(code.into(), rule);
        self
    }
}

impl FeaturePolicy {
    /// The decision for a location that resolved to `region` (or to none).
    fn apply(&self, region: Option<&Region>, basis: Basis) -> Decision {
        let Some(region) = region else {
            return Decision {
                allowed: self.outside.allows(),
                region: None,
                reason: Reason::OutsideKnownRegions,
                basis,
            };
        };
        // A subdivision without its own override falls back to its country's override
        // (`IN` denies everything Indian that `IN-..` entries do not allow).
        let rule = self.regions.get(&region.code).or_else(|| {
            country_of(&region.code)
                .filter(|country| *country != region.code)
                .and_then(|country| self.regions.get(country))
        });
        let (allowed, reason) = match rule {
            Some(Rule::Allow) => (true, Reason::RegionAllowed),
            Some(Rule::Deny) => (false, Reason::RegionDenied),
            None if self.default.allows() => (true, Reason::DefaultAllowed),
            None => (false, Reason::DefaultDenied),
        };
        Decision {
            allowed,
            region: Some(region.code.clone()),
            reason,
            basis,
        }
    }

    fn unknown(&self) -> Decision {
        Decision {
            allowed: self.outside.allows(),
            region: None,
            reason: Reason::LocationUnknown,
            basis: Basis::None,
        }
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
    LocationMismatch,
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
            Self::LocationMismatch => "location_mismatch",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which evidence a decision rests on. The snake_case strings are a stable contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The device's coordinates.
    Coordinates,
    /// A region code resolved elsewhere, typically from the client's IP address.
    Ip,
    /// Nothing usable.
    None,
}

/// The outcome of [`Policy::decide`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub allowed: bool,
    /// The region code the location resolved to, if it resolved to a known region.
    pub region: Option<String>,
    pub reason: Reason,
    pub basis: Basis,
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
        let rules = self.rules(feature)?;
        match location {
            Location::Coordinates { lat, lon } => {
                let region = index.lookup(*lat, *lon)?;
                Ok(rules.apply(region, Basis::Coordinates))
            }
            Location::RegionCode(code) => Ok(rules.apply(index.get(code), Basis::Ip)),
            Location::Unknown => Ok(rules.unknown()),
        }
    }

    /// Decides from both kinds of evidence a request carries: the device's coordinates
    /// `(lat, lon)` and the region code its IP address resolved to (`IN-TS`, or a bare
    /// country `IN`). See the module docs for how they are reconciled.
    pub fn decide_with(
        &self,
        feature: &str,
        coordinates: Option<(f64, f64)>,
        ip_region: Option<&str>,
        index: &RegionIndex,
    ) -> Result<Decision, GeofenceError> {
        let rules = self.rules(feature)?;
        let Some((lat, lon)) = coordinates else {
            return Ok(match ip_region {
                Some(code) => rules.apply(index.get(code), Basis::Ip),
                None => rules.unknown(),
            });
        };
        let region = index.lookup(lat, lon)?;
        let gps_country = region.and_then(|region| country_of(&region.code));
        let ip_country = ip_region.and_then(country_of);
        if let (Some(gps), Some(ip)) = (gps_country, ip_country)
            && gps != ip
        {
            return Ok(Decision {
                allowed: rules.mismatch.allows(),
                region: region.map(|region| region.code.clone()),
                reason: Reason::LocationMismatch,
                basis: Basis::Coordinates,
            });
        }
        Ok(rules.apply(region, Basis::Coordinates))
    }

    fn rules(&self, feature: &str) -> Result<&FeaturePolicy, GeofenceError> {
        self.features
            .get(feature)
            .ok_or_else(|| GeofenceError::UnknownFeature(feature.to_owned()))
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
