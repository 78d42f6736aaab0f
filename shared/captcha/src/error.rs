//! Why a captcha check refused a request, with the stable code and status each renders as.
//!
//! Details shown to the caller never carry the score, the hostname or the provider's raw
//! codes: a bot tuning itself against the API learns nothing it could not guess. Logs get
//! them through `Debug`.

use actix_web::http::{StatusCode, header};
use web::ApiError;

/// Why a token was not accepted, or the verifier could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CaptchaError {
    /// No token in the request.
    #[error("this request needs a solved captcha: send its token in the X-Captcha-Token header")]
    Required,
    /// The provider does not know the token (garbage, another site's key, malformed).
    #[error("the captcha token is not valid; solve the captcha again")]
    Invalid {
        /// The provider's `error-codes`, if it gave any.
        codes: Vec<String>,
    },
    /// This node has already seen the token.
    #[error("the captcha token was already used; solve the captcha again")]
    Replayed,
    /// The token is too old, or the provider has already redeemed it (its
    /// `timeout-or-duplicate` does not say which).
    #[error("the captcha token has expired or was already used; solve the captcha again")]
    Expired,
    /// The provider's score is below the action's minimum.
    #[error("the captcha check did not pass; solve the captcha again")]
    LowScore {
        /// The score on the humanness scale (1.0 human).
        score: f64,
        /// The action's minimum.
        min_score: f64,
    },
    /// The token was solved for another action.
    #[error("the captcha was solved for another action")]
    ActionMismatch {
        /// The guarded action.
        expected: String,
        /// The action the provider reported.
        actual: String,
    },
    /// The token was solved on a site not in `captcha.hostnames`.
    #[error("the captcha was solved on another site")]
    HostnameMismatch {
        /// The hostname the provider reported.
        actual: Option<String>,
    },
    /// The provider could not answer and the action fails closed.
    #[error("captcha verification is unavailable; try again shortly")]
    Unavailable {
        /// What went wrong, for the logs.
        reason: String,
    },
    /// The provider refused our own credentials (`invalid-input-secret`): every token
    /// would fail, so no request passes, whatever the outage policy.
    #[error("captcha verification is misconfigured: the provider answered {codes:?}")]
    Misconfigured {
        /// The provider's `error-codes`.
        codes: Vec<String>,
    },
    /// The settings do not make sense.
    #[error("invalid captcha settings: {0}")]
    Config(String),
}

impl CaptchaError {
    /// The stable code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            CaptchaError::Required => "captcha_required",
            CaptchaError::Invalid { .. } => "captcha_invalid",
            CaptchaError::Replayed => "captcha_replayed",
            CaptchaError::Expired => "captcha_expired",
            CaptchaError::LowScore { .. } => "captcha_low_score",
            CaptchaError::ActionMismatch { .. } => "captcha_action_mismatch",
            CaptchaError::HostnameMismatch { .. } => "captcha_hostname_mismatch",
            // A misconfiguration looks like an outage from outside; the logs tell them apart.
            CaptchaError::Unavailable { .. } | CaptchaError::Misconfigured { .. } => {
                "captcha_unavailable"
            }
            CaptchaError::Config(_) => "captcha_config",
        }
    }

    /// The status it renders as: 400 for a token the client must replace, 403 for one
    /// that verified but is not good enough here, 503 when we cannot tell.
    pub fn status(&self) -> StatusCode {
        match self {
            CaptchaError::Required
            | CaptchaError::Invalid { .. }
            | CaptchaError::Replayed
            | CaptchaError::Expired => StatusCode::BAD_REQUEST,
            CaptchaError::LowScore { .. }
            | CaptchaError::ActionMismatch { .. }
            | CaptchaError::HostnameMismatch { .. } => StatusCode::FORBIDDEN,
            CaptchaError::Unavailable { .. } | CaptchaError::Misconfigured { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            CaptchaError::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Seconds a client should wait before retrying when the provider is unavailable.
const RETRY_AFTER_SECONDS: &str = "5";

impl From<CaptchaError> for ApiError {
    fn from(error: CaptchaError) -> Self {
        match &error {
            CaptchaError::Config(_) => ApiError::internal(&error),
            CaptchaError::Misconfigured { .. } => {
                tracing::error!(error = %error, "captcha provider refused our secret");
                ApiError::new(
                    error.status(),
                    error.code(),
                    "captcha verification is unavailable; try again shortly",
                )
                .with_header(header::RETRY_AFTER, RETRY_AFTER_SECONDS)
            }
            CaptchaError::Unavailable { .. } => {
                ApiError::new(error.status(), error.code(), error.to_string())
                    .with_header(header::RETRY_AFTER, RETRY_AFTER_SECONDS)
            }
            _ => ApiError::new(error.status(), error.code(), error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::ResponseError;

    #[test]
    fn refusals_map_to_stable_codes_and_statuses() {
        let cases = [
            (CaptchaError::Required, 400, "captcha_required"),
            (
                CaptchaError::Invalid { codes: vec![] },
                400,
                "captcha_invalid",
            ),
            (CaptchaError::Replayed, 400, "captcha_replayed"),
            (CaptchaError::Expired, 400, "captcha_expired"),
            (
                CaptchaError::LowScore {
                    score: 0.1,
                    min_score: 0.5,
                },
                403,
                "captcha_low_score",
            ),
            (
                CaptchaError::ActionMismatch {
                    expected: "login".into(),
                    actual: "signup".into(),
                },
                403,
                "captcha_action_mismatch",
            ),
            (
                CaptchaError::HostnameMismatch { actual: None },
                403,
                "captcha_hostname_mismatch",
            ),
            (
                CaptchaError::Unavailable {
                    reason: "timeout".into(),
                },
                503,
                "captcha_unavailable",
            ),
            (
                CaptchaError::Misconfigured {
                    codes: vec!["invalid-input-secret".into()],
                },
                503,
                "captcha_unavailable",
            ),
        ];
        for (error, status, code) in cases {
            let api = ApiError::from(error);
            assert_eq!(api.status_code().as_u16(), status, "{api}");
            assert_eq!(api.code(), code);
        }
    }

    #[test]
    fn a_low_score_does_not_reveal_the_score() {
        let api = ApiError::from(CaptchaError::LowScore {
            score: 0.3,
            min_score: 0.5,
        });
        let detail = api.problem().detail;
        assert!(
            !detail.contains("0.3") && !detail.contains("0.5"),
            "{detail}"
        );
    }
}
