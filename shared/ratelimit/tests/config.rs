//! The `[ratelimit]` section as figment reads it: a TOML file, then environment overrides.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// figment's Jail API returns its own (large) error type.
#![allow(clippy::result_large_err)]

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use ratelimit::{OutagePolicy, Quota, RateLimitConfig};

#[test]
fn a_file_and_the_environment_configure_groups() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "platform.toml",
            r#"
            [ratelimit]
            redis_url = "redis://cache:6379/1"
            trusted_proxies = ["10.0.0.0/8", "192.0.2.10"]
            on_outage = "fail_closed"

            [ratelimit.groups.auth]
            per_ip = { limit = 20, window_secs = 60 }
            per_account = { limit = 10, window_seconds = 60 }

            [ratelimit.groups.search]
            per_ip = { limit = 100, window_seconds = 10 }
            "#,
        )?;
        jail.set_env("PLATFORM__RATELIMIT__GROUPS__AUTH__PER_IP__LIMIT", "5");
        let figment = Figment::new()
            .merge(Toml::file("platform.toml"))
            .merge(Env::prefixed("PLATFORM__").split("__"));
        let config: RateLimitConfig = figment.extract_inner("ratelimit")?;
        assert!(config.validate().is_ok());
        assert_eq!(config.redis_url.unwrap().expose(), "redis://cache:6379/1");
        assert_eq!(config.trusted_proxies.len(), 2);
        assert_eq!(config.on_outage, OutagePolicy::FailClosed);
        let auth = config.groups["auth"];
        assert_eq!(auth.per_ip, Some(Quota::new(5, 60)));
        assert_eq!(auth.per_account, Some(Quota::new(10, 60)));
        assert_eq!(config.groups["search"].per_account, None);
        // Unset fields keep their defaults.
        assert_eq!(config.key_prefix, "ratelimit");
        Ok(())
    });
}

#[test]
fn a_bad_proxy_range_is_a_settings_error() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "platform.toml",
            "[ratelimit]\ntrusted_proxies = [\"10.0.0.0/33\"]\n",
        )?;
        let figment = Figment::new().merge(Toml::file("platform.toml"));
        assert!(
            figment
                .extract_inner::<RateLimitConfig>("ratelimit")
                .is_err()
        );
        Ok(())
    });
}
