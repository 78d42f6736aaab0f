//! The `[captcha]` settings: the provider, its secret and URL, and each action's policy.
//!
//! The embedded default has captcha switched off (`enabled = false`), so a node runs
//! offline with no provider account; [`crate::Verifier::new`] says so in a warning at
//! start and every guarded request carries [`crate::Passed::Disabled`]. A deployment turns
//! it on with a provider and a secret:
//!
//! ```toml
//! [captcha]
//! enabled = true
//! provider = "turnstile"          # recaptcha | hcaptcha | turnstile
//! secret = "0x4AAAA..."           # or PLATFORM__CAPTCHA__SECRET
//! hostnames = ["fans.example.com"]
//! min_score = 0.5                 # reCAPTCHA v3 / hCaptcha Enterprise only
//! on_outage = "fail_closed"       # when the provider is down or slow
//!
//! [captcha.actions.login]
//! on_outage = "fail_open"
//!
//! [captcha.actions.voucher_purchase]
//! min_score = 0.7
//! ```

use kernel::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The action names the platform's own routes use; front ends pass the same names to the
/// widget (`action` in reCAPTCHA v3 and Turnstile), so a token solved for one cannot be
/// spent on another.
pub mod actions {
    /// Creating an account.
    pub const SIGNUP: &str = "signup";
    /// Logging in with a password.
    pub const LOGIN: &str = "login";
    /// Asking for a password reset email.
    pub const PASSWORD_RESET: &str = "password_reset";
    /// Claiming a reward (money).
    pub const REWARD_CLAIM: &str = "reward_claim";
    /// Buying a voucher (money).
    pub const VOUCHER_PURCHASE: &str = "voucher_purchase";
}

/// Which siteverify service answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Google reCAPTCHA, v2 (checkbox, invisible) or v3 (score).
    Recaptcha,
    /// hCaptcha; Enterprise adds a risk score.
    Hcaptcha,
    /// Cloudflare Turnstile.
    Turnstile,
}

impl Provider {
    /// The provider's public siteverify endpoint.
    pub fn default_verify_url(self) -> &'static str {
        match self {
            Provider::Recaptcha => "https://www.google.com/recaptcha/api/siteverify",
            Provider::Hcaptcha => "https://api.hcaptcha.com/siteverify",
            Provider::Turnstile => "https://challenges.cloudflare.com/turnstile/v0/siteverify",
        }
    }

    /// The provider's score on one scale: 1.0 is surely human, 0.0 surely a bot.
    ///
    /// reCAPTCHA v3 scores that way; hCaptcha Enterprise scores *risk* the other way round
    /// (0.0 is safe), so comparing its raw score with `min_score` would admit the bots.
    pub fn humanness(self, raw_score: f64) -> f64 {
        match self {
            Provider::Hcaptcha => 1.0 - raw_score,
            Provider::Recaptcha | Provider::Turnstile => raw_score,
        }
    }

    /// A short name for logs and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Recaptcha => "recaptcha",
            Provider::Hcaptcha => "hcaptcha",
            Provider::Turnstile => "turnstile",
        }
    }
}

/// What a guarded route does when the provider cannot give an answer (unreachable, slower
/// than the timeout, 5xx, Turnstile's `internal-error`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutagePolicy {
    /// Refuse with 503 `captcha_unavailable`: money moves only behind a verified captcha.
    #[default]
    FailClosed,
    /// Let the request through unverified ([`crate::Passed::Unverified`]); rate limits
    /// still hold. For routes where locking every user out is worse than a few bots.
    FailOpen,
}

/// The `[captcha]` settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct CaptchaConfig {
    /// Off: every guarded route admits every request (development and tests). The
    /// embedded default; a deployment must turn it on.
    pub enabled: bool,
    /// Which provider verifies tokens.
    pub provider: Provider,
    /// The provider's secret key.
    pub secret: Secret<String>,
    /// The siteverify endpoint; the provider's public one when absent.
    pub verify_url: Option<String>,
    /// How long one siteverify call may take before it counts as an outage.
    pub timeout_ms: u64,
    /// Hostnames a token must have been solved on (`fans.example.com`); empty accepts any,
    /// which only suits development.
    pub hostnames: Vec<String>,
    /// The lowest acceptable score (0.0 to 1.0, 1.0 human) where the provider scores
    /// (reCAPTCHA v3, hCaptcha Enterprise); actions may raise or lower it.
    pub min_score: f64,
    /// What to do when the provider cannot answer; actions may override it.
    pub on_outage: OutagePolicy,
    /// Tokens solved longer ago than this are refused, and a token seen once is
    /// remembered this long so it cannot be spent twice on this node.
    pub max_token_age_seconds: u64,
    /// How many recently seen tokens each node remembers (a bound on memory).
    pub replay_cache_capacity: usize,
    /// Send the caller's address as `remoteip`. Off by default: behind a proxy the peer is
    /// the proxy, and a wrong address hurts the user's score.
    pub send_remote_ip: bool,
    /// Per-action overrides, by action name. Actions not listed use the settings above.
    pub actions: BTreeMap<String, ActionConfig>,
}

/// One action's overrides (`[captcha.actions.<name>]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct ActionConfig {
    /// Off: this action's guard admits every request.
    pub enabled: bool,
    /// Overrides `captcha.min_score`.
    pub min_score: Option<f64>,
    /// Overrides `captcha.on_outage`.
    pub on_outage: Option<OutagePolicy>,
}

impl Default for ActionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_score: None,
            on_outage: None,
        }
    }
}

/// The policy one action runs under, with the defaults filled in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActionPolicy {
    /// Whether the action is checked at all (false when captcha is off globally).
    pub enabled: bool,
    /// The lowest acceptable humanness score.
    pub min_score: f64,
    /// What to do when the provider cannot answer.
    pub on_outage: OutagePolicy,
}

impl Default for CaptchaConfig {
    fn default() -> Self {
        let action = |min_score: Option<f64>, on_outage: OutagePolicy| ActionConfig {
            enabled: true,
            min_score,
            on_outage: Some(on_outage),
        };
        let actions = BTreeMap::from([
            (
                actions::SIGNUP.to_owned(),
                action(None, OutagePolicy::FailClosed),
            ),
            // People must still be able to reach their accounts while the provider is down;
            // the auth rate limits stand in for the captcha meanwhile.
            (
                actions::LOGIN.to_owned(),
                action(None, OutagePolicy::FailOpen),
            ),
            (
                actions::PASSWORD_RESET.to_owned(),
                action(None, OutagePolicy::FailClosed),
            ),
            (
                actions::REWARD_CLAIM.to_owned(),
                action(Some(0.7), OutagePolicy::FailClosed),
            ),
            (
                actions::VOUCHER_PURCHASE.to_owned(),
                action(Some(0.7), OutagePolicy::FailClosed),
            ),
        ]);
        Self {
            enabled: false,
            provider: Provider::Turnstile,
            secret: Secret::default(),
            verify_url: None,
            timeout_ms: 3_000,
            hostnames: Vec::new(),
            min_score: 0.5,
            on_outage: OutagePolicy::FailClosed,
            // Turnstile and hCaptcha tokens live 300 s; reCAPTCHA's 120 s (it enforces that
            // itself).
            max_token_age_seconds: 300,
            replay_cache_capacity: 100_000,
            send_remote_ip: false,
            actions,
        }
    }
}

impl CaptchaConfig {
    /// The endpoint tokens are sent to.
    pub fn verify_url(&self) -> &str {
        self.verify_url
            .as_deref()
            .unwrap_or_else(|| self.provider.default_verify_url())
    }

    /// The siteverify call's timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// How long a token stays acceptable, and remembered.
    pub fn max_token_age(&self) -> Duration {
        Duration::from_secs(self.max_token_age_seconds)
    }

    /// The policy of `action`: its overrides over the global settings. Unknown actions get
    /// the global settings, so a route that opts in is never left unguarded by a missing
    /// config section.
    pub fn policy(&self, action: &str) -> ActionPolicy {
        let overrides = self.actions.get(action);
        ActionPolicy {
            enabled: self.enabled && overrides.is_none_or(|action| action.enabled),
            min_score: overrides
                .and_then(|action| action.min_score)
                .unwrap_or(self.min_score),
            on_outage: overrides
                .and_then(|action| action.on_outage)
                .unwrap_or(self.on_outage),
        }
    }

    /// Checks the settings make sense; the problem, in words, if not.
    pub fn validate(&self) -> Result<(), String> {
        let score_ok = |score: f64| (0.0..=1.0).contains(&score);
        if !score_ok(self.min_score) {
            return Err(format!(
                "captcha.min_score must be within 0.0..=1.0, not {}",
                self.min_score
            ));
        }
        for (name, action) in &self.actions {
            if let Some(score) = action.min_score.filter(|score| !score_ok(*score)) {
                return Err(format!(
                    "captcha.actions.{name}.min_score must be within 0.0..=1.0, not {score}"
                ));
            }
        }
        if self.timeout_ms == 0 {
            return Err("captcha.timeout_ms must be positive".into());
        }
        if self.replay_cache_capacity == 0 {
            return Err("captcha.replay_cache_capacity must be positive".into());
        }
        if self.enabled && self.secret.expose().trim().is_empty() {
            return Err(format!(
                "captcha is enabled but captcha.secret is empty: set the {} secret key",
                self.provider.as_str()
            ));
        }
        if self.enabled && !self.verify_url().starts_with("https://") {
            // Plain HTTP is for a siteverify server on this machine (tests, a local stub).
            let local = ["http://127.0.0.1", "http://localhost", "http://[::1]"];
            if !local
                .iter()
                .any(|prefix| self.verify_url().starts_with(prefix))
            {
                return Err(format!(
                    "captcha.verify_url must be https (the secret travels in it): {}",
                    self.verify_url()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_default_is_off_and_valid() {
        let config = CaptchaConfig::default();
        assert!(!config.enabled);
        assert!(config.validate().is_ok());
        assert!(!config.policy(actions::SIGNUP).enabled);
    }

    #[test]
    fn money_fails_closed_and_login_fails_open_by_default() {
        let config = CaptchaConfig {
            enabled: true,
            ..CaptchaConfig::default()
        };
        let policy = |action| config.policy(action).on_outage;
        assert_eq!(policy(actions::REWARD_CLAIM), OutagePolicy::FailClosed);
        assert_eq!(policy(actions::VOUCHER_PURCHASE), OutagePolicy::FailClosed);
        assert_eq!(policy(actions::SIGNUP), OutagePolicy::FailClosed);
        assert_eq!(policy(actions::LOGIN), OutagePolicy::FailOpen);
        // An action nobody configured is guarded with the global settings.
        let unknown = config.policy("comment");
        assert!(unknown.enabled);
        assert_eq!(unknown.on_outage, OutagePolicy::FailClosed);
        assert_eq!(unknown.min_score, 0.5);
        assert_eq!(config.policy(actions::VOUCHER_PURCHASE).min_score, 0.7);
    }

    #[test]
    fn enabled_without_a_secret_or_over_plain_http_is_refused() {
        let mut config = CaptchaConfig {
            enabled: true,
            ..CaptchaConfig::default()
        };
        assert!(config.validate().unwrap_err().contains("secret"));
        config.secret = Secret::new("s3cret".into());
        assert!(config.validate().is_ok());
        config.verify_url = Some("http://captcha.example.com/siteverify".into());
        assert!(config.validate().unwrap_err().contains("https"));
        config.verify_url = Some("http://127.0.0.1:4000/siteverify".into());
        assert!(config.validate().is_ok());
        config.min_score = 1.5;
        assert!(config.validate().unwrap_err().contains("min_score"));
    }

    #[test]
    fn hcaptcha_risk_scores_are_turned_round() {
        assert_eq!(Provider::Recaptcha.humanness(0.9), 0.9);
        assert!((Provider::Hcaptcha.humanness(0.9) - 0.1).abs() < 1e-9);
    }
}
