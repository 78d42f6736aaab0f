//! Sign-up, login and refresh behind the captcha and the `auth` rate limit, on the real node:
//! the captcha checked by the real verifier against a fake siteverify provider over HTTP,
//! the rate limit counted in memory (and in Redis with TEST_REDIS_URL).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use captcha::actions;
use captcha::fake::{FakeSiteverify, Outage, Solved};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use runtime::settings::Figment;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use std::sync::Arc;
use testkit::TestApp;

const SECRET: &str = "0x-test-siteverify-secret";
const HOST: &str = "fans.example.com";
const PASSWORD: &str = "cover drive at dusk";

/// A node with captcha on, asking `fake`, with `tweak` applied to the settings.
async fn protected_app(fake: &FakeSiteverify, tweak: impl FnOnce(Figment) -> Figment) -> TestApp {
    let url = fake.url();
    TestApp::spawn_with(vec![Arc::new(accounts::Accounts)], move |figment| {
        tweak(
            figment
                .merge(("captcha.enabled", true))
                .merge(("captcha.provider", "recaptcha"))
                .merge(("captcha.secret", SECRET))
                .merge(("captcha.verify_url", url))
                .merge(("captcha.hostnames", [HOST])),
        )
    })
    .await
    .unwrap()
}

/// A node with the embedded captcha default (off) and an `auth` limit of 3 per hour per
/// address: a burst of 3, then one more every 20 minutes, far beyond any test's run.
async fn limited_app(tweak: impl FnOnce(Figment) -> Figment) -> TestApp {
    TestApp::spawn_with(vec![Arc::new(accounts::Accounts)], |figment| {
        tweak(figment.merge((
            "ratelimit.groups.auth.per_ip",
            json!({"limit": 3, "window_seconds": 3600}),
        )))
    })
    .await
    .unwrap()
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Asserts a problem+json refusal with `status` and `code`.
    fn assert_problem(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(self.body["code"], code, "{}", self.body);
    }
}

async fn post(app: &TestApp, path: &str, body: Value, headers: &[(&'static str, &str)]) -> Reply {
    let mut request = app.client.post(app.url(path)).json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.json().await.unwrap_or(Value::Null),
    }
}

async fn sign_up(app: &TestApp, email: &str, token: Option<&str>) -> Reply {
    let headers: Vec<_> = token
        .map(|token| ("x-captcha-token", token))
        .into_iter()
        .collect();
    post(
        app,
        "/v1/auth/signup",
        json!({"email": email, "password": PASSWORD}),
        &headers,
    )
    .await
}

async fn log_in(app: &TestApp, email: &str, headers: &[(&'static str, &str)]) -> Reply {
    post(
        app,
        "/v1/auth/login",
        json!({"email": email, "password": PASSWORD}),
        headers,
    )
    .await
}

async fn users(app: &TestApp) -> u64 {
    accounts::store::user::Entity::find()
        .count(app.node().db())
        .await
        .unwrap()
}

async fn sessions(app: &TestApp) -> u64 {
    accounts::store::session::Entity::find()
        .count(app.node().db())
        .await
        .unwrap()
}

/// A user written straight to the database, so setting it up costs no guarded request.
async fn existing_user(app: &TestApp, email: &str) {
    accounts::add_user(
        app.node().db(),
        email,
        PASSWORD.into(),
        vec![kernel::Role::User],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn sign_up_needs_a_solved_captcha_and_spends_it_once() {
    let fake = FakeSiteverify::start(SECRET).unwrap();
    let app = protected_app(&fake, |figment| figment).await;

    let reply = sign_up(&app, "kohli@example.com", None).await;
    reply.assert_problem(StatusCode::BAD_REQUEST, "captcha_required");
    assert!(fake.received().is_empty(), "no token, no provider call");
    assert_eq!(users(&app).await, 0);

    fake.issue(
        "solved",
        Solved::on(HOST).score(0.9).action(actions::SIGNUP),
    );
    let reply = sign_up(&app, "kohli@example.com", Some("solved")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["user"]["email"], "kohli@example.com");

    // The same token again, for another account: this node remembers it.
    let reply = sign_up(&app, "bot-1@example.com", Some("solved")).await;
    reply.assert_problem(StatusCode::BAD_REQUEST, "captcha_replayed");

    let refusals = [
        ("low", Solved::on(HOST).score(0.1), "captcha_low_score"),
        (
            "for-login",
            Solved::on(HOST).score(0.9).action(actions::LOGIN),
            "captcha_action_mismatch",
        ),
        (
            "elsewhere",
            Solved::on("phish.example.net").score(0.9),
            "captcha_hostname_mismatch",
        ),
    ];
    for (token, solved, code) in refusals {
        fake.issue(token, solved);
        let reply = sign_up(&app, &format!("bot-{token}@example.com"), Some(token)).await;
        reply.assert_problem(StatusCode::FORBIDDEN, code);
    }
    let reply = sign_up(&app, "bot-2@example.com", Some("never-issued")).await;
    reply.assert_problem(StatusCode::BAD_REQUEST, "captcha_invalid");

    assert_eq!(users(&app).await, 1, "only the solved captcha made a user");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn sign_up_fails_closed_while_the_provider_is_down() {
    let fake = FakeSiteverify::start(SECRET).unwrap();
    let app = protected_app(&fake, |figment| figment).await;
    fake.set_outage(Outage::ServerError);
    fake.issue("solved", Solved::on(HOST).score(0.9));

    let reply = sign_up(&app, "bumrah@example.com", Some("solved")).await;
    reply.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "captcha_unavailable");
    assert!(reply.header("retry-after").is_some());
    assert_eq!(fake.received().len(), 1, "the provider was asked");
    assert_eq!(users(&app).await, 0);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn login_needs_a_solved_captcha_and_fails_open_while_the_provider_is_down() {
    let fake = FakeSiteverify::start(SECRET).unwrap();
    let app = protected_app(&fake, |figment| figment).await;
    existing_user(&app, "mandhana@example.com").await;

    let reply = log_in(&app, "mandhana@example.com", &[]).await;
    reply.assert_problem(StatusCode::BAD_REQUEST, "captcha_required");

    fake.issue(
        "for-signup",
        Solved::on(HOST).score(0.9).action(actions::SIGNUP),
    );
    let reply = log_in(
        &app,
        "mandhana@example.com",
        &[("x-captcha-token", "for-signup")],
    )
    .await;
    reply.assert_problem(StatusCode::FORBIDDEN, "captcha_action_mismatch");
    assert_eq!(sessions(&app).await, 0);

    fake.issue("solved", Solved::on(HOST).score(0.9).action(actions::LOGIN));
    let reply = log_in(
        &app,
        "mandhana@example.com",
        &[("x-captcha-token", "solved")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body["access_token"].is_string());

    // People must reach their accounts while the provider is down (login's default policy);
    // the rate limit stands guard meanwhile.
    fake.set_outage(Outage::ServerError);
    fake.issue("unchecked", Solved::on(HOST));
    let reply = log_in(
        &app,
        "mandhana@example.com",
        &[("x-captcha-token", "unchecked")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(sessions(&app).await, 2);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_fourth_attempt_from_one_address_is_rate_limited() {
    let app = limited_app(|figment| figment).await;
    existing_user(&app, "dhoni@example.com").await;

    let mut refresh_token = Value::Null;
    for remaining in ["2", "1", "0"] {
        let reply = log_in(&app, "dhoni@example.com", &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.header("ratelimit-limit"), Some("3"));
        assert_eq!(reply.header("ratelimit-remaining"), Some(remaining));
        assert_eq!(reply.header("ratelimit-policy"), Some("3;w=3600"));
        assert!(reply.header("ratelimit-reset").is_some());
        refresh_token = reply.body["refresh_token"].clone();
    }

    let reply = log_in(&app, "dhoni@example.com", &[]).await;
    reply.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let retry_after: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    assert_eq!(reply.header("ratelimit-remaining"), Some("0"));
    assert_eq!(sessions(&app).await, 3, "the refused login made no session");

    // Sign-up and refresh count in the same `auth` allowance.
    let reply = sign_up(&app, "another@example.com", None).await;
    reply.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let reply = post(
        &app,
        "/v1/auth/refresh",
        json!({"refresh_token": refresh_token}),
        &[],
    )
    .await;
    reply.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(users(&app).await, 1);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn each_address_has_its_own_allowance_behind_a_trusted_proxy() {
    // The test client is the proxy: its X-Forwarded-For names the client.
    let app =
        limited_app(|figment| figment.merge(("ratelimit.trusted_proxies", ["127.0.0.1"]))).await;
    existing_user(&app, "jemimah@example.com").await;
    let from = |address| [("x-forwarded-for", address)];

    for _ in 0..3 {
        let reply = log_in(&app, "jemimah@example.com", &from("198.51.100.7")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let reply = log_in(&app, "jemimah@example.com", &from("198.51.100.7")).await;
    reply.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");

    let reply = log_in(&app, "jemimah@example.com", &from("203.0.113.9")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.header("ratelimit-remaining"), Some("2"));
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn captcha_refusals_count_and_past_the_limit_the_provider_is_not_asked() {
    let fake = FakeSiteverify::start(SECRET).unwrap();
    let app = protected_app(&fake, |figment| {
        figment.merge((
            "ratelimit.groups.auth.per_ip",
            json!({"limit": 3, "window_seconds": 3600}),
        ))
    })
    .await;
    for attempt in 0..3 {
        let token = format!("guess-{attempt}");
        let reply = sign_up(&app, "bot@example.com", Some(&token)).await;
        reply.assert_problem(StatusCode::BAD_REQUEST, "captcha_invalid");
    }
    // A genuine token now: the rate limit refuses first, and the token is not spent.
    fake.issue("solved", Solved::on(HOST).score(0.9));
    let reply = sign_up(&app, "bot@example.com", Some("solved")).await;
    reply.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(fake.received().len(), 3);
    assert_eq!(users(&app).await, 0);
    app.shutdown().await.unwrap();
}

#[tokio::test]
#[ignore = "needs Redis: set TEST_REDIS_URL"]
async fn two_nodes_on_one_redis_share_the_limit() {
    let redis_url = std::env::var("TEST_REDIS_URL")
        .expect("this test needs TEST_REDIS_URL (e.g. redis://127.0.0.1:6379)");
    // Its own keys, so no other run or test shares its counts.
    let prefix = format!("test-accounts:{}", uuid::Uuid::new_v4());
    let first = limited_app(|figment| {
        figment
            .merge(("ratelimit.redis_url", redis_url))
            .merge(("ratelimit.key_prefix", prefix))
    })
    .await;
    let second = first.another_node().await.unwrap();
    existing_user(&first, "harmanpreet@example.com").await;

    let remaining = [(&first, "2"), (&second, "1"), (&first, "0")];
    for (node, remaining) in remaining {
        let reply = log_in(node, "harmanpreet@example.com", &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.header("ratelimit-remaining"), Some(remaining));
    }
    for node in [&second, &first] {
        let reply = log_in(node, "harmanpreet@example.com", &[]).await;
        reply.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    }
    second.shutdown().await.unwrap();
    first.shutdown().await.unwrap();
}
