//! The real siteverify client against the fake provider over HTTP: every outcome, single
//! use on both sides, and the outage policy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use captcha::fake::{FakeSiteverify, Outage, Received, Solved};
use captcha::{CaptchaConfig, CaptchaError, Passed, Provider, Verifier, actions};
use chrono::{Duration, Utc};

const SECRET: &str = "0x-fake-secret";
const HOST: &str = "fans.example.com";

fn setup(tweak: impl FnOnce(&mut CaptchaConfig)) -> (FakeSiteverify, Verifier) {
    let fake = FakeSiteverify::start(SECRET).unwrap();
    let mut config = fake.config(Provider::Recaptcha);
    config.hostnames = vec![HOST.into()];
    tweak(&mut config);
    let verifier = Verifier::new(config).unwrap();
    (fake, verifier)
}

fn solved() -> Solved {
    Solved::on(HOST)
}

#[tokio::test]
async fn a_solved_token_passes_with_what_the_provider_said() {
    let (fake, verifier) = setup(|_| {});
    fake.issue("t-ok", solved().score(0.9).action(actions::LOGIN));
    let passed = verifier
        .verify(actions::LOGIN, Some("t-ok"), Some([203, 0, 113, 7].into()))
        .await
        .unwrap();
    let Passed::Verified(assessment) = passed else {
        panic!("expected a verified pass, got {passed:?}");
    };
    assert_eq!(assessment.score, Some(0.9));
    assert_eq!(assessment.action.as_deref(), Some(actions::LOGIN));
    assert_eq!(assessment.hostname.as_deref(), Some(HOST));
    assert!(assessment.challenge_ts.is_some());
    // Form fields as the protocol names them; no remoteip unless configured.
    assert_eq!(
        fake.received(),
        vec![Received {
            secret: Some(SECRET.into()),
            response: Some("t-ok".into()),
            remoteip: None,
        }]
    );
}

#[tokio::test]
async fn remoteip_is_sent_when_configured() {
    let (fake, verifier) = setup(|config| config.send_remote_ip = true);
    fake.issue("t-ip", solved());
    verifier
        .verify(actions::SIGNUP, Some("t-ip"), Some([203, 0, 113, 7].into()))
        .await
        .unwrap();
    assert_eq!(fake.received()[0].remoteip.as_deref(), Some("203.0.113.7"));
}

#[tokio::test]
async fn a_missing_token_is_required_and_the_provider_is_not_asked() {
    let (fake, verifier) = setup(|_| {});
    for token in [None, Some(""), Some("   ")] {
        let error = verifier
            .verify(actions::SIGNUP, token, None)
            .await
            .unwrap_err();
        assert!(matches!(error, CaptchaError::Required), "{error:?}");
    }
    assert!(fake.received().is_empty());
}

#[tokio::test]
async fn an_unknown_token_is_invalid() {
    let (_fake, verifier) = setup(|_| {});
    let error = verifier
        .verify(actions::SIGNUP, Some("never-issued"), None)
        .await
        .unwrap_err();
    let CaptchaError::Invalid { codes } = error else {
        panic!("expected invalid, got {error:?}");
    };
    assert_eq!(codes, vec!["invalid-input-response".to_owned()]);
}

#[tokio::test]
async fn an_oversized_token_is_invalid_without_asking() {
    let (fake, verifier) = setup(|_| {});
    let token = "x".repeat(9 * 1024);
    let error = verifier
        .verify(actions::SIGNUP, Some(&token), None)
        .await
        .unwrap_err();
    assert!(matches!(error, CaptchaError::Invalid { .. }), "{error:?}");
    assert!(fake.received().is_empty());
}

#[tokio::test]
async fn a_token_is_spent_once_on_this_node_without_asking_again() {
    let (fake, verifier) = setup(|_| {});
    fake.issue("t-once", solved());
    verifier
        .verify(actions::SIGNUP, Some("t-once"), None)
        .await
        .unwrap();
    // Another clone of the verifier shares the memory of spent tokens.
    let error = verifier
        .clone()
        .verify(actions::SIGNUP, Some("t-once"), None)
        .await
        .unwrap_err();
    assert!(matches!(error, CaptchaError::Replayed), "{error:?}");
    assert_eq!(fake.received().len(), 1);
}

#[tokio::test]
async fn a_token_redeemed_on_another_node_is_refused_by_the_provider() {
    let (fake, node_a) = setup(|_| {});
    let node_b = Verifier::new(node_a.config().clone()).unwrap();
    fake.issue("t-shared", solved());
    node_a
        .verify(actions::SIGNUP, Some("t-shared"), None)
        .await
        .unwrap();
    let error = node_b
        .verify(actions::SIGNUP, Some("t-shared"), None)
        .await
        .unwrap_err();
    assert!(matches!(error, CaptchaError::Expired), "{error:?}");
    assert_eq!(fake.received().len(), 2);
}

#[tokio::test]
async fn old_tokens_are_expired_at_the_provider_and_here() {
    let (fake, verifier) = setup(|config| config.max_token_age_seconds = 60);
    // Past the provider's own lifetime: it answers timeout-or-duplicate.
    fake.issue(
        "t-ancient",
        solved().solved_at(Utc::now() - Duration::minutes(10)),
    );
    // Within the provider's lifetime but older than ours.
    fake.issue(
        "t-stale",
        solved().solved_at(Utc::now() - Duration::minutes(2)),
    );
    for token in ["t-ancient", "t-stale"] {
        let error = verifier
            .verify(actions::SIGNUP, Some(token), None)
            .await
            .unwrap_err();
        assert!(matches!(error, CaptchaError::Expired), "{token}: {error:?}");
    }
}

#[tokio::test]
async fn scores_are_held_to_each_actions_minimum() {
    let (fake, verifier) = setup(|_| {});
    fake.issue("t-low", solved().score(0.2));
    fake.issue("t-mid-login", solved().score(0.6));
    fake.issue("t-mid-voucher", solved().score(0.6));
    let error = verifier
        .verify(actions::LOGIN, Some("t-low"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, CaptchaError::LowScore { score, min_score } if score == 0.2 && min_score == 0.5),
        "{error:?}"
    );
    // 0.6 clears the default 0.5 but not the 0.7 a voucher purchase asks.
    verifier
        .verify(actions::LOGIN, Some("t-mid-login"), None)
        .await
        .unwrap();
    let error = verifier
        .verify(actions::VOUCHER_PURCHASE, Some("t-mid-voucher"), None)
        .await
        .unwrap_err();
    assert!(matches!(error, CaptchaError::LowScore { .. }), "{error:?}");
}

#[tokio::test]
async fn hcaptcha_risk_scores_count_the_other_way() {
    let (fake, verifier) = setup(|config| config.provider = Provider::Hcaptcha);
    fake.issue("t-risky", solved().score(0.9));
    fake.issue("t-safe", solved().score(0.1));
    let error = verifier
        .verify(actions::SIGNUP, Some("t-risky"), None)
        .await
        .unwrap_err();
    assert!(matches!(error, CaptchaError::LowScore { .. }), "{error:?}");
    let passed = verifier
        .verify(actions::SIGNUP, Some("t-safe"), None)
        .await
        .unwrap();
    let Passed::Verified(assessment) = passed else {
        panic!("expected a verified pass, got {passed:?}");
    };
    assert!((assessment.score.unwrap() - 0.9).abs() < 1e-9);
}

#[tokio::test]
async fn a_token_solved_for_another_action_is_refused() {
    let (fake, verifier) = setup(|_| {});
    fake.issue("t-signup", solved().action(actions::SIGNUP));
    let error = verifier
        .verify(actions::REWARD_CLAIM, Some("t-signup"), None)
        .await
        .unwrap_err();
    let CaptchaError::ActionMismatch { expected, actual } = error else {
        panic!("expected an action mismatch, got {error:?}");
    };
    assert_eq!(
        (expected.as_str(), actual.as_str()),
        (actions::REWARD_CLAIM, actions::SIGNUP)
    );
}

#[tokio::test]
async fn a_token_solved_on_another_site_is_refused() {
    let (fake, verifier) = setup(|_| {});
    fake.issue("t-elsewhere", Solved::on("phish.example.net"));
    fake.issue("t-upper", Solved::on("FANS.example.com"));
    let error = verifier
        .verify(actions::SIGNUP, Some("t-elsewhere"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, CaptchaError::HostnameMismatch { actual } if actual.as_deref() == Some("phish.example.net")),
        "{error:?}"
    );
    // Hostnames compare without case, as DNS does.
    verifier
        .verify(actions::SIGNUP, Some("t-upper"), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_wrong_secret_is_a_misconfiguration_even_where_outages_fail_open() {
    let (fake, _) = setup(|_| {});
    let mut config = fake.config(Provider::Turnstile);
    config.secret = kernel_secret("not-the-secret");
    let verifier = Verifier::new(config).unwrap();
    fake.issue("t-good", solved());
    let error = verifier
        .verify(actions::LOGIN, Some("t-good"), None)
        .await
        .unwrap_err();
    let CaptchaError::Misconfigured { codes } = &error else {
        panic!("expected a misconfiguration, got {error:?}");
    };
    assert_eq!(codes, &vec!["invalid-input-secret".to_owned()]);
    assert_eq!(error.code(), "captcha_unavailable");
}

fn kernel_secret(value: &str) -> kernel::Secret<String> {
    kernel::Secret::new(value.to_owned())
}

/// Under each kind of outage, fail-closed actions refuse and fail-open ones pass unverified.
async fn outage_follows_the_policy(outage: Outage) {
    let (fake, verifier) = setup(|config| config.timeout_ms = 300);
    fake.set_outage(outage);
    fake.issue("t-closed", solved());
    fake.issue("t-open", solved());
    let error = verifier
        .verify(actions::VOUCHER_PURCHASE, Some("t-closed"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, CaptchaError::Unavailable { .. }),
        "{outage:?}: {error:?}"
    );
    let passed = verifier
        .verify(actions::LOGIN, Some("t-open"), None)
        .await
        .unwrap();
    assert_eq!(passed, Passed::Unverified, "{outage:?}");
    // The fake saw both requests: the policy, not a short cut, decided.
    assert_eq!(fake.received().len(), 2, "{outage:?}");
}

#[tokio::test]
async fn a_provider_500_follows_the_outage_policy() {
    outage_follows_the_policy(Outage::ServerError).await;
}

#[tokio::test]
async fn turnstile_internal_error_follows_the_outage_policy() {
    outage_follows_the_policy(Outage::InternalError).await;
}

#[tokio::test]
async fn a_provider_slower_than_the_timeout_follows_the_outage_policy() {
    outage_follows_the_policy(Outage::Hang).await;
}

#[tokio::test]
async fn an_unreachable_provider_follows_the_outage_policy() {
    let fake = FakeSiteverify::start(SECRET).unwrap();
    let config = fake.config(Provider::Turnstile);
    // Nothing listens there once the fake is gone.
    drop(fake);
    let verifier = Verifier::new(config).unwrap();
    let error = verifier
        .verify(actions::REWARD_CLAIM, Some("t-any"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, CaptchaError::Unavailable { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_spent_token_stays_spent_after_an_outage_passed_it() {
    let (fake, verifier) = setup(|_| {});
    fake.set_outage(Outage::InternalError);
    fake.issue("t-outage", solved());
    assert_eq!(
        verifier
            .verify(actions::LOGIN, Some("t-outage"), None)
            .await
            .unwrap(),
        Passed::Unverified
    );
    fake.set_outage(Outage::None);
    let error = verifier
        .verify(actions::LOGIN, Some("t-outage"), None)
        .await
        .unwrap_err();
    assert!(matches!(error, CaptchaError::Replayed), "{error:?}");
}

#[tokio::test]
async fn disabled_captcha_admits_everything_and_says_so() {
    let (fake, verifier) = setup(|config| config.enabled = false);
    assert_eq!(
        verifier.verify(actions::SIGNUP, None, None).await.unwrap(),
        Passed::Disabled
    );
    let (_, verifier) = setup(|config| {
        config.actions.entry("comment".into()).or_default().enabled = false;
    });
    assert_eq!(
        verifier.verify("comment", None, None).await.unwrap(),
        Passed::Disabled
    );
    // Other actions are still guarded.
    let error = verifier
        .verify(actions::SIGNUP, None, None)
        .await
        .unwrap_err();
    assert!(matches!(error, CaptchaError::Required), "{error:?}");
    assert!(fake.received().is_empty());
}

#[test]
fn settings_that_cannot_work_are_refused_at_start() {
    let config = CaptchaConfig {
        enabled: true,
        ..CaptchaConfig::default()
    };
    let error = Verifier::new(config).unwrap_err();
    assert!(matches!(error, CaptchaError::Config(_)), "{error:?}");
}

/// The fake itself, spoken to with a plain HTTP client: the codes a provider answers for
/// requests our client never sends.
#[tokio::test]
async fn the_fake_answers_malformed_requests_like_a_provider() {
    let fake = FakeSiteverify::start(SECRET).unwrap();
    let client = reqwest::Client::new();
    let codes = |body: serde_json::Value| -> Vec<String> {
        assert_eq!(body["success"], false);
        serde_json::from_value(body["error-codes"].clone()).unwrap()
    };
    let empty: [(&str, &str); 0] = [];
    let body = client
        .post(fake.url())
        .form(&empty)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        codes(body),
        vec!["missing-input-secret", "missing-input-response"]
    );
    let body = client
        .post(fake.url())
        .form(&[("secret", "wrong"), ("response", "x")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        codes(body),
        vec!["invalid-input-secret", "invalid-input-response"]
    );
    let body = client
        .post(fake.url())
        .header("content-type", "application/json")
        .body(r#"{"secret": "0x-fake-secret"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(codes(body), vec!["bad-request"]);
}
