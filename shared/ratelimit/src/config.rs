//! The `[ratelimit]` settings: the store, who counts as a client, and each route group's
//! quotas.
//!
//! ```toml
//! [ratelimit]
//! redis_url = "redis://127.0.0.1:6379"    # absent: in memory, per node
//! trusted_proxies = ["10.0.0.0/8"]        # whose X-Forwarded-For to believe
//!
//! [ratelimit.groups.auth]
//! per_ip = { limit = 20, window_seconds = 60 }
//! per_account = { limit = 10, window_seconds = 60 }
//! ```
//!
//! A quota of `limit` per `window_seconds` admits a burst of `limit` and then one request
//! every `window_seconds / limit` (GCRA: a smoothly refilling bucket, no window edges to
//! game).

use ipnet::IpNet;
use kernel::Secret;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

/// Requests a client may make: a burst of `limit`, refilled evenly over `window_seconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct Quota {
    /// Requests per window (and the largest burst).
    pub limit: u32,
    /// The window, in seconds.
    #[serde(alias = "window_secs")]
    pub window_seconds: u64,
}

impl Quota {
    /// `limit` requests per `window_seconds`.
    pub const fn new(limit: u32, window_seconds: u64) -> Self {
        Self {
            limit,
            window_seconds,
        }
    }

    /// The window in microseconds, the unit both stores count in.
    pub(crate) fn window_micros(self) -> u64 {
        self.window_seconds.saturating_mul(1_000_000)
    }

    /// How often one request's worth refills, in microseconds.
    pub(crate) fn interval_micros(self) -> u64 {
        self.window_micros() / u64::from(self.limit.max(1))
    }

    /// The window as a duration.
    pub fn window(self) -> Duration {
        Duration::from_secs(self.window_seconds)
    }

    fn validate(self, name: &str) -> Result<(), String> {
        if self.limit == 0 {
            return Err(format!("{name}.limit must be at least 1"));
        }
        if self.window_seconds == 0 {
            return Err(format!("{name}.window_seconds must be at least 1"));
        }
        // Below one refill per microsecond the arithmetic would round the limit away.
        if self.interval_micros() == 0 {
            return Err(format!(
                "{name}: {} per {} s is more than one request per microsecond",
                self.limit, self.window_seconds
            ));
        }
        // A week bounds key lifetimes in the store and keeps microsecond sums far from
        // overflow (and from the 2^53 Lua numbers hold exactly).
        if self.window_seconds > 7 * 24 * 3600 {
            return Err(format!("{name}.window_seconds must be at most a week"));
        }
        Ok(())
    }
}

/// One route group's quotas (`[ratelimit.groups.<name>]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct GroupLimits {
    /// Per client address. Also what signed-out callers get under a per-account guard.
    pub per_ip: Option<Quota>,
    /// Per signed-in user.
    pub per_account: Option<Quota>,
}

/// What a guard does when the store does not answer (Redis down or slow).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutagePolicy {
    /// Let requests through unlimited (and log it): a limiter outage should not take the
    /// whole API down.
    #[default]
    FailOpen,
    /// Refuse with 503 `unavailable`.
    FailClosed,
}

/// The `[ratelimit]` settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    /// Off: guards admit everything and set no headers (load tests, local debugging).
    pub enabled: bool,
    /// Redis shared by every node; absent, each node counts in memory. The node's settings
    /// map the conventional `REDIS_URL` here, as they map `DATABASE_URL`.
    pub redis_url: Option<Secret<String>>,
    /// Prefix of every Redis key, so deployments can share a Redis.
    pub key_prefix: String,
    /// How long one Redis check may take before it counts as an outage.
    pub redis_timeout_ms: u64,
    /// Most clients the in-memory store tracks; past it, the clients nearest to a full
    /// allowance are forgotten first.
    pub max_keys: usize,
    /// What to do when Redis does not answer.
    pub on_outage: OutagePolicy,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` is believed. Empty: the
    /// client is the peer address, whatever the headers say.
    #[serde(deserialize_with = "addresses_or_ranges")]
    pub trusted_proxies: Vec<IpNet>,
    /// Quotas by route group name.
    pub groups: BTreeMap<String, GroupLimits>,
}

/// Route group names the embedded default configures.
pub mod groups {
    /// Sign-up, login, refresh, password reset.
    pub const AUTH: &str = "auth";
    /// Reward claims, voucher purchases, wallet transfers.
    pub const MONEY: &str = "money";
    /// Everything else.
    pub const API: &str = "api";
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        let group = |per_ip, per_account| GroupLimits {
            per_ip: Some(per_ip),
            per_account: Some(per_account),
        };
        Self {
            enabled: true,
            redis_url: None,
            key_prefix: "ratelimit".into(),
            redis_timeout_ms: 250,
            max_keys: 100_000,
            on_outage: OutagePolicy::FailOpen,
            trusted_proxies: Vec::new(),
            groups: BTreeMap::from([
                (
                    groups::AUTH.to_owned(),
                    group(Quota::new(20, 60), Quota::new(10, 60)),
                ),
                (
                    groups::MONEY.to_owned(),
                    group(Quota::new(60, 60), Quota::new(10, 60)),
                ),
                (
                    groups::API.to_owned(),
                    group(Quota::new(600, 60), Quota::new(300, 60)),
                ),
            ]),
        }
    }
}

/// `["10.0.0.0/8", "192.0.2.10"]`: a bare address is a range of one.
fn addresses_or_ranges<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(deserializer)?
        .iter()
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    D::Error::custom(format!("{entry:?} is neither an address nor a CIDR range"))
                })
        })
        .collect()
}

impl RateLimitConfig {
    /// The Redis check's timeout.
    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }

    /// Checks the settings make sense; the problem, in words, if not.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_keys == 0 {
            return Err("ratelimit.max_keys must be positive".into());
        }
        if self.redis_timeout_ms == 0 {
            return Err("ratelimit.redis_timeout_ms must be positive".into());
        }
        for (name, limits) in &self.groups {
            if let Some(quota) = limits.per_ip {
                quota.validate(&format!("ratelimit.groups.{name}.per_ip"))?;
            }
            if let Some(quota) = limits.per_account {
                quota.validate(&format!("ratelimit.groups.{name}.per_account"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_default_is_valid_and_in_memory() {
        let config = RateLimitConfig::default();
        assert!(config.validate().is_ok());
        assert!(config.redis_url.is_none());
        assert!(config.groups.contains_key(groups::AUTH));
    }

    #[test]
    fn impossible_quotas_are_refused() {
        let with = |quota| {
            let mut config = RateLimitConfig::default();
            config.groups.insert(
                "x".into(),
                GroupLimits {
                    per_ip: Some(quota),
                    per_account: None,
                },
            );
            config.validate()
        };
        assert!(with(Quota::new(0, 60)).unwrap_err().contains("limit"));
        assert!(with(Quota::new(5, 0)).unwrap_err().contains("window"));
        assert!(with(Quota::new(u32::MAX, 1)).is_err());
        assert!(with(Quota::new(5, 30 * 24 * 3600)).is_err());
        assert!(with(Quota::new(5, 60)).is_ok());
    }
}
