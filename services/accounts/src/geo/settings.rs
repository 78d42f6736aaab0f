//! `[geofence]`: where the IP database is, which regions and countries are known, and the
//! feature policies in force until an admin overrides them.
//!
//! ```toml
//! [geofence]
//! ip_database = "/var/lib/geoip/GeoLite2-City.mmdb"  # absent: coordinates only
//! countries = ["IN"]                                 # country-level regions beyond the sets'
//! builtin_regions = true                             # India's states, shipped in the binary
//! reload_interval_seconds = 30                       # fallback when a change event is missed
//!
//! [geofence.features.paid_quiz]
//! default = "allow"
//! outside = "deny"
//! mismatch = "deny"
//! regions = { "IN-TS" = "deny", "IN-AS" = "deny" }
//! ```

use geofence::{FeaturePolicy, Rule};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The `[geofence]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeofenceSettings {
    /// A MaxMind-format City or Country database; without one, only coordinates count.
    pub ip_database: Option<PathBuf>,
    /// Country codes (ISO 3166-1 alpha-2) known as regions besides those implied by the
    /// sets' subdivision codes.
    pub countries: Vec<String>,
    /// Load `geofence::INDIA_STATES` as the set `india`.
    pub builtin_regions: bool,
    /// How often each node re-reads policies and regions even without a change event.
    pub reload_interval_seconds: u64,
    /// The policies in force where no admin override exists.
    pub features: BTreeMap<String, FeaturePolicy>,
}

impl Default for GeofenceSettings {
    fn default() -> Self {
        // Paid contests are restricted by state law in these states (the list changes;
        // admins change it at runtime). Outside India, on a spoofed fix, or with no location
        // at all, paid features are off.
        let restricted = ["IN-AP", "IN-AS", "IN-NL", "IN-OD", "IN-SK", "IN-TS"];
        let paid_quiz = restricted.into_iter().fold(
            FeaturePolicy::new(Rule::Allow, Rule::Deny),
            |policy, code| policy.with_region(code, Rule::Deny),
        );
        Self {
            ip_database: None,
            countries: Vec::new(),
            builtin_regions: true,
            reload_interval_seconds: 30,
            features: BTreeMap::from([
                ("paid_quiz".to_owned(), paid_quiz),
                (
                    "voucher_purchase".to_owned(),
                    FeaturePolicy::new(Rule::Allow, Rule::Deny),
                ),
                (
                    "free_quiz".to_owned(),
                    FeaturePolicy::new(Rule::Allow, Rule::Allow).with_mismatch(Rule::Allow),
                ),
            ]),
        }
    }
}
