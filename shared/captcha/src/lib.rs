//! Captcha verification for routes that bots target: sign-up, login, password reset, and
//! money (reward claims, voucher purchases).
//!
//! One [`Verifier`] speaks the siteverify protocol that reCAPTCHA (v2 and v3), hCaptcha and
//! Cloudflare Turnstile share, and adds the checks the provider cannot make: the action and
//! hostname, a per-action minimum score, a token's age, single use on this node, and an
//! outage policy per action (money fails closed). A [`guard`] puts it in front of any
//! route by action name and refuses with problem+json before the handler runs:
//!
//! | code | status | meaning |
//! |---|---|---|
//! | `captcha_required` | 400 | no `X-Captcha-Token` header |
//! | `captcha_invalid` | 400 | the provider does not know the token |
//! | `captcha_replayed` | 400 | this node has seen the token before |
//! | `captcha_expired` | 400 | too old, or already redeemed at the provider |
//! | `captcha_low_score` | 403 | below the action's `min_score` |
//! | `captcha_action_mismatch` | 403 | solved for another action |
//! | `captcha_hostname_mismatch` | 403 | solved on a site not in `captcha.hostnames` |
//! | `captcha_unavailable` | 503 | the provider did not answer and the action fails closed |
//!
//! It knows nothing of accounts, money or any one service; services name their actions.
//! Settings are [`CaptchaConfig`] (the `[captcha]` section); with the `testing` feature,
//! [`fake`] is a local siteverify server to test against.

pub mod config;
pub mod error;
#[cfg(feature = "testing")]
pub mod fake;
pub mod guard;
mod replay;
pub mod verify;

pub use config::{ActionConfig, ActionPolicy, CaptchaConfig, OutagePolicy, Provider, actions};
pub use error::CaptchaError;
pub use guard::{Captcha, TOKEN_HEADER, guard, guard_from_app_data};
pub use verify::{Assessment, Passed, Verifier};
