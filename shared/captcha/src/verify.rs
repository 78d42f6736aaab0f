//! The siteverify client: one protocol for reCAPTCHA (v2, v3), hCaptcha and Turnstile.
//!
//! A form-encoded POST of `secret`, `response` and optionally `remoteip`; the answer is
//! JSON with `success`, `challenge_ts`, `hostname`, `error-codes` and, depending on the
//! provider and key type, `score` and `action`. The provider decides whether a token is
//! genuine; this module adds what the provider cannot know: the route's action, the
//! hostnames we serve, the score we require, the token's age, that a token is spent once,
//! and what to do when the provider does not answer.

use crate::config::{ActionPolicy, CaptchaConfig, OutagePolicy, Provider};
use crate::error::CaptchaError;
use crate::replay::ReplayCache;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Longer tokens are refused without asking the provider. Turnstile documents 2048
/// characters; reCAPTCHA and hCaptcha tokens run longer but far below this.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// A request that passed a guard, and how (in the request's extensions; handlers read it
/// with `web::ReqData<captcha::Passed>`).
#[derive(Clone, Debug, PartialEq)]
pub enum Passed {
    /// The provider vouched for the token.
    Verified(Assessment),
    /// Captcha is switched off, globally or for this action.
    Disabled,
    /// The provider could not answer and the action fails open: nobody checked.
    Unverified,
}

/// What the provider said about a token it accepted.
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    /// The score on the humanness scale (1.0 human), where the provider scores.
    pub score: Option<f64>,
    /// The action the token was solved for, where the provider reports it.
    pub action: Option<String>,
    /// Where the token was solved.
    pub hostname: Option<String>,
    /// When the token was solved.
    pub challenge_ts: Option<DateTime<Utc>>,
}

/// The siteverify answer, as all three providers send it.
#[derive(Debug, Deserialize)]
struct SiteverifyResponse {
    success: bool,
    #[serde(default)]
    score: Option<f64>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    challenge_ts: Option<String>,
    #[serde(default, rename = "error-codes")]
    error_codes: Vec<String>,
}

/// The siteverify client and this node's memory of spent tokens. Cheap to clone; clones
/// share both.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    config: CaptchaConfig,
    http: reqwest::Client,
    seen: Mutex<ReplayCache>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("enabled", &self.inner.config.enabled)
            .field("provider", &self.inner.config.provider)
            .field("verify_url", &self.inner.config.verify_url())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for `config`; refuses settings that cannot work (enabled without a
    /// secret, a score outside 0..=1, plain HTTP to a remote host).
    pub fn new(config: CaptchaConfig) -> Result<Self, CaptchaError> {
        config.validate().map_err(CaptchaError::Config)?;
        if config.enabled {
            tracing::info!(
                provider = config.provider.as_str(),
                verify_url = config.verify_url(),
                "captcha verification is on"
            );
            if config.hostnames.is_empty() {
                tracing::warn!("captcha.hostnames is empty: tokens solved on any site pass");
            }
        } else {
            tracing::warn!(
                "captcha is disabled (captcha.enabled = false): guarded routes admit every request"
            );
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout())
            .connect_timeout(config.timeout())
            .build()
            .map_err(|error| {
                CaptchaError::Config(format!("cannot build the HTTP client: {error}"))
            })?;
        let seen = ReplayCache::new(config.max_token_age(), config.replay_cache_capacity);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                http,
                seen: Mutex::new(seen),
            }),
        })
    }

    /// The settings it runs with.
    pub fn config(&self) -> &CaptchaConfig {
        &self.inner.config
    }

    /// Checks `token` for `action`. `remote_ip` is passed on as `remoteip` when
    /// `captcha.send_remote_ip` is on.
    pub async fn verify(
        &self,
        action: &str,
        token: Option<&str>,
        remote_ip: Option<IpAddr>,
    ) -> Result<Passed, CaptchaError> {
        let policy = self.inner.config.policy(action);
        let outcome = self.check(action, policy, token, remote_ip).await;
        let label = match &outcome {
            Ok(Passed::Verified(_)) => "verified",
            Ok(Passed::Disabled) => "disabled",
            Ok(Passed::Unverified) => "unverified",
            Err(error) => error.code(),
        };
        metrics::counter!(
            "captcha_verifications_total",
            "action" => action.to_owned(),
            "outcome" => label,
        )
        .increment(1);
        match &outcome {
            Ok(_) => tracing::debug!(action, outcome = label, "captcha checked"),
            Err(error) => tracing::info!(action, outcome = label, ?error, "captcha refused"),
        }
        outcome
    }

    async fn check(
        &self,
        action: &str,
        policy: ActionPolicy,
        token: Option<&str>,
        remote_ip: Option<IpAddr>,
    ) -> Result<Passed, CaptchaError> {
        if !policy.enabled {
            return Ok(Passed::Disabled);
        }
        let token = token
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or(CaptchaError::Required)?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(CaptchaError::Invalid { codes: Vec::new() });
        }
        // Marked spent before the provider is asked, so two requests racing with one token
        // cannot both pass while the provider is down and the action fails open.
        let first_sight = self
            .inner
            .seen
            .lock()
            // The cache holds no invariant a panicking holder could break half-way.
            .unwrap_or_else(PoisonError::into_inner)
            .first_sight(token, Instant::now());
        if !first_sight {
            return Err(CaptchaError::Replayed);
        }
        let remote_ip = remote_ip.filter(|_| self.inner.config.send_remote_ip);
        let response = match self.siteverify(token, remote_ip).await {
            Ok(response) => response,
            Err(reason) => return outage(action, policy, reason),
        };
        self.judge(action, policy, response)
    }

    /// One siteverify call; `Err` when the provider gave no usable answer.
    async fn siteverify(
        &self,
        token: &str,
        remote_ip: Option<IpAddr>,
    ) -> Result<SiteverifyResponse, String> {
        let config = &self.inner.config;
        let remote_ip = remote_ip.map(|ip| ip.to_string());
        let mut form = vec![
            ("secret", config.secret.expose().as_str()),
            ("response", token),
        ];
        if let Some(ip) = &remote_ip {
            form.push(("remoteip", ip.as_str()));
        }
        let response = self
            .inner
            .http
            .post(config.verify_url())
            .form(&form)
            .send()
            .await
            // reqwest's error names the URL, never the body: the secret stays out of logs.
            .map_err(|error| {
                if error.is_timeout() {
                    format!("no answer within {} ms", config.timeout_ms)
                } else {
                    format!("request failed: {error}")
                }
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the provider answered HTTP {status}"));
        }
        response
            .json::<SiteverifyResponse>()
            .await
            .map_err(|error| format!("unreadable answer: {error}"))
    }

    fn judge(
        &self,
        action: &str,
        policy: ActionPolicy,
        response: SiteverifyResponse,
    ) -> Result<Passed, CaptchaError> {
        let config = &self.inner.config;
        let has = |code: &str| response.error_codes.iter().any(|c| c == code);
        if !response.success {
            // Our own credentials first: with a bad secret every token fails, and blaming
            // the user would hide it.
            if has("invalid-input-secret") || has("missing-input-secret") {
                return Err(CaptchaError::Misconfigured {
                    codes: response.error_codes,
                });
            }
            // Turnstile: "an internal error happened while validating"; retry later.
            if has("internal-error") {
                return outage(
                    action,
                    policy,
                    "the provider reported internal-error".into(),
                );
            }
            if has("timeout-or-duplicate") {
                return Err(CaptchaError::Expired);
            }
            if has("missing-input-response") {
                return Err(CaptchaError::Required);
            }
            // invalid-input-response, bad-request, and anything newer.
            return Err(CaptchaError::Invalid {
                codes: response.error_codes,
            });
        }

        if !config.hostnames.is_empty() {
            let known = response.hostname.as_deref().is_some_and(|hostname| {
                config
                    .hostnames
                    .iter()
                    .any(|expected| expected.eq_ignore_ascii_case(hostname))
            });
            if !known {
                return Err(CaptchaError::HostnameMismatch {
                    actual: response.hostname,
                });
            }
        }
        // reCAPTCHA v2 and hCaptcha report no action, and the site key, not the client,
        // decides that; where there is one it must be ours.
        if let Some(actual) = response.action.as_deref().filter(|a| !a.is_empty())
            && actual != action
        {
            return Err(CaptchaError::ActionMismatch {
                expected: action.to_owned(),
                actual: actual.to_owned(),
            });
        }
        let challenge_ts = response
            .challenge_ts
            .as_deref()
            .and_then(|ts| DateTime::parse_from_rfc3339(ts).ok())
            .map(|ts| ts.with_timezone(&Utc));
        if let Some(solved) = challenge_ts {
            let age = Utc::now().signed_duration_since(solved);
            if age.to_std().is_ok_and(|age| age > config.max_token_age()) {
                return Err(CaptchaError::Expired);
            }
        }
        let score = response.score.map(|raw| config.provider.humanness(raw));
        if let Some(score) = score
            && score < policy.min_score
        {
            return Err(CaptchaError::LowScore {
                score,
                min_score: policy.min_score,
            });
        }
        Ok(Passed::Verified(Assessment {
            score,
            action: response.action.filter(|a| !a.is_empty()),
            hostname: response.hostname,
            challenge_ts,
        }))
    }

    /// The provider this verifier asks.
    pub fn provider(&self) -> Provider {
        self.inner.config.provider
    }
}

/// The provider gave no answer: the action's policy decides.
fn outage(action: &str, policy: ActionPolicy, reason: String) -> Result<Passed, CaptchaError> {
    match policy.on_outage {
        OutagePolicy::FailOpen => {
            tracing::warn!(action, %reason, "captcha provider unavailable; failing open");
            Ok(Passed::Unverified)
        }
        OutagePolicy::FailClosed => {
            tracing::warn!(action, %reason, "captcha provider unavailable; failing closed");
            Err(CaptchaError::Unavailable { reason })
        }
    }
}
