//! The `[captcha]` section as figment reads it: a TOML file, then environment overrides.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// figment's Jail API returns its own (large) error type.
#![allow(clippy::result_large_err)]

use captcha::{CaptchaConfig, OutagePolicy, Provider, actions};
use figment::Figment;
use figment::providers::{Env, Format, Toml};

#[test]
fn a_file_and_the_environment_configure_the_provider_and_actions() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "platform.toml",
            r#"
            [captcha]
            enabled = true
            provider = "hcaptcha"
            hostnames = ["fans.example.com"]
            on_outage = "fail_open"

            [captcha.actions.reward_claim]
            min_score = 0.8
            on_outage = "fail_closed"
            "#,
        )?;
        jail.set_env("PLATFORM__CAPTCHA__SECRET", "0x-from-the-environment");
        let figment = Figment::new()
            .merge(Toml::file("platform.toml"))
            .merge(Env::prefixed("PLATFORM__").split("__"));
        let config: CaptchaConfig = figment.extract_inner("captcha")?;
        assert!(config.validate().is_ok());
        assert_eq!(config.provider, Provider::Hcaptcha);
        assert_eq!(config.verify_url(), "https://api.hcaptcha.com/siteverify");
        assert_eq!(config.secret.expose(), "0x-from-the-environment");
        // The secret never prints with the settings.
        assert!(!format!("{config:?}").contains("0x-from-the-environment"));
        let claim = config.policy(actions::REWARD_CLAIM);
        assert_eq!(claim.min_score, 0.8);
        assert_eq!(claim.on_outage, OutagePolicy::FailClosed);
        // Listing actions replaces the default list; the rest get the global settings.
        assert_eq!(
            config.policy(actions::SIGNUP).on_outage,
            OutagePolicy::FailOpen
        );
        Ok(())
    });
}

#[test]
fn an_unknown_provider_is_a_settings_error() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("platform.toml", "[captcha]\nprovider = \"geetest\"\n")?;
        let figment = Figment::new().merge(Toml::file("platform.toml"));
        assert!(figment.extract_inner::<CaptchaConfig>("captcha").is_err());
        Ok(())
    });
}
