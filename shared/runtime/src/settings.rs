//! Settings, loaded once and passed down by value: defaults, then a TOML file, then
//! `PLATFORM__SECTION__KEY` environment variables (plus the conventional `DATABASE_URL`,
//! `NATS_URL` and `REDIS_URL`), then command-line flags, each overriding the one before.

pub use figment::Figment;
use figment::providers::{Env, Format, Toml};
use kernel::Secret;
use serde::Deserialize;
use std::path::Path;

/// Every setting of a node. Each service reads its own section through [`crate::Context`].
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub bus: BusSettings,
    pub auth: AuthSettings,
    pub telemetry: telemetry::TelemetryConfig,
}

/// `[http]`
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    /// The address to listen on.
    pub listen: String,
    /// HTTP worker threads; defaults to one per core.
    pub workers: Option<usize>,
    /// Largest JSON body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// How long in-flight requests may take to finish on shutdown.
    pub shutdown_grace_seconds: u64,
    pub cors: web::cors::CorsConfig,
    /// Proxies (CIDR ranges: `10.0.0.0/8`, `203.0.113.7/32`) whose `X-Forwarded-For` names the client; the
    /// geofence reads the client's address through them.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// A connection whose client has acknowledged none of the data sent to it for this
    /// many seconds is closed by the kernel (`TCP_USER_TIMEOUT`, Linux): a viewer that
    /// stopped reading a live stream, a phone that went away without closing. Without it
    /// such a socket and its buffers live until the stream ends. 0 turns it off.
    pub send_timeout_seconds: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            workers: None,
            body_limit_bytes: 256 * 1024,
            shutdown_grace_seconds: 10,
            cors: web::cors::CorsConfig::default(),
            trusted_proxies: Vec::new(),
            send_timeout_seconds: 30,
        }
    }
}

/// `[database]`
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct DatabaseSettings {
    /// `sqlite://...` (embedded) or `postgres://...` (distributed).
    pub url: String,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://var/platform.db?mode=rwc".into(),
        }
    }
}

/// `[bus]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct BusSettings {
    /// NATS server URL; without one the node runs the in-process bus.
    pub nats_url: Option<String>,
}

/// `[auth]`
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct AuthSettings {
    /// HMAC secret signing access tokens (32+ random bytes). Every node of a deployment needs
    /// the same one; without it an embedded node makes a random one per start.
    pub jwt_secret: Option<Secret<String>>,
    /// The `iss` claim.
    pub issuer: String,
    /// Access token lifetime.
    pub access_ttl_seconds: i64,
    /// Refresh token (session) lifetime.
    pub refresh_ttl_seconds: i64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            issuer: "cricket-platform".into(),
            access_ttl_seconds: 15 * 60,
            refresh_ttl_seconds: 30 * 24 * 3600,
        }
    }
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid settings: {0}")]
pub struct SettingsError(#[from] Box<figment::Error>);

/// The layered configuration source, before flags are merged in.
pub fn sources(file: Option<&Path>) -> Figment {
    let mut figment = Figment::new();
    match file {
        Some(file) => figment = figment.merge(Toml::file_exact(file)),
        None => figment = figment.merge(Toml::file("platform.toml")),
    }
    // The conventional variables first, so the namespaced ones can still override them.
    figment = figment
        .merge(
            Env::raw()
                .only(&["DATABASE_URL"])
                .map(|_| "database.url".into()),
        )
        .merge(
            Env::raw()
                .only(&["NATS_URL"])
                .map(|_| "bus.nats_url".into()),
        )
        // Read by the services that rate-limit (the `[ratelimit]` section is theirs).
        .merge(
            Env::raw()
                .only(&["REDIS_URL"])
                .map(|_| "ratelimit.redis_url".into()),
        )
        .merge(Env::prefixed("PLATFORM__").split("__"));
    figment
}

impl Settings {
    /// Reads the settings out of their sources.
    pub fn from_figment(figment: &Figment) -> Result<Self, SettingsError> {
        figment
            .extract()
            .map_err(|error| SettingsError(Box::new(error)))
    }
}

#[cfg(test)]
// figment's Jail API returns its own (large) error type; nothing to shrink here.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn layers_override_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "platform.toml",
                "[http]\nlisten = \"0.0.0.0:9000\"\nbody_limit_bytes = 1000\n",
            )?;
            jail.set_env("PLATFORM__HTTP__LISTEN", "127.0.0.1:9100");
            jail.set_env("DATABASE_URL", "postgres://db/platform");
            let figment = sources(None).merge(("http.workers", 3));
            let settings = Settings::from_figment(&figment).map_err(|e| e.to_string())?;
            assert_eq!(settings.http.listen, "127.0.0.1:9100");
            assert_eq!(settings.http.body_limit_bytes, 1000);
            assert_eq!(settings.http.workers, Some(3));
            assert_eq!(settings.database.url, "postgres://db/platform");
            assert_eq!(settings.bus.nats_url, None);
            Ok(())
        });
    }

    #[test]
    fn redis_url_feeds_the_ratelimit_section_unless_namespaced() {
        figment::Jail::expect_with(|jail| {
            let redis_url = |figment: &Figment| {
                figment
                    .extract_inner::<String>("ratelimit.redis_url")
                    .map_err(|e| e.to_string())
            };
            jail.set_env("REDIS_URL", "redis://cache:6379/0");
            assert_eq!(redis_url(&sources(None))?, "redis://cache:6379/0");
            jail.set_env("PLATFORM__RATELIMIT__REDIS_URL", "redis://limits:6379/1");
            assert_eq!(redis_url(&sources(None))?, "redis://limits:6379/1");
            Ok(())
        });
    }

    #[test]
    fn defaults_need_no_file() {
        figment::Jail::expect_with(|_| {
            let settings = Settings::from_figment(&sources(None)).map_err(|e| e.to_string())?;
            assert_eq!(settings.http.listen, "127.0.0.1:8080");
            assert!(settings.database.url.starts_with("sqlite://var/"));
            Ok(())
        });
    }
}
