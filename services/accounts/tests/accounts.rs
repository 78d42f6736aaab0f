//! The accounts service through its HTTP API, on the real node (SQLite and the local bus by
//! default; Postgres and NATS with TEST_DATABASE_URL / TEST_NATS_URL).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::{Method, StatusCode};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use std::sync::Arc;
use testkit::TestApp;

async fn app() -> TestApp {
    TestApp::spawn(vec![Arc::new(accounts::Accounts)])
        .await
        .unwrap()
}

async fn post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn sign_up(app: &TestApp, email: &str) -> Value {
    let (status, body) = post(
        app,
        "/v1/auth/signup",
        json!({"email": email, "password": "cover drive at dusk"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn users(app: &TestApp) -> u64 {
    accounts::store::user::Entity::find()
        .count(app.node().db())
        .await
        .unwrap()
}

/// Users, sessions and refresh tokens: everything a request could have written.
async fn rows(app: &TestApp) -> (u64, u64, u64) {
    let db = app.node().db();
    (
        accounts::store::user::Entity::find()
            .count(db)
            .await
            .unwrap(),
        accounts::store::session::Entity::find()
            .count(db)
            .await
            .unwrap(),
        accounts::store::refresh_token::Entity::find()
            .count(db)
            .await
            .unwrap(),
    )
}

async fn me(app: &TestApp, access_token: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .get(app.url("/v1/me"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn sign_up_then_me_shows_the_user() {
    let app = app().await;
    let tokens = sign_up(&app, "Virat@Example.com").await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["user"]["email"], "virat@example.com");
    assert_eq!(tokens["user"]["roles"], json!(["user"]));
    let (status, profile) = me(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(profile["id"], tokens["user"]["id"]);
    assert_eq!(profile["email"], "virat@example.com");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_taken_email_is_a_conflict_whatever_its_case() {
    let app = app().await;
    sign_up(&app, "rohit@example.com").await;
    let (status, problem) = post(
        &app,
        "/v1/auth/signup",
        json!({"email": " ROHIT@example.com", "password": "another long phrase"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "email_taken");
    assert_eq!(users(&app).await, 1);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn weak_passwords_and_bad_emails_are_refused_and_store_nothing() {
    let app = app().await;
    for (body, code) in [
        (
            json!({"email": "a@example.com", "password": "short"}),
            "weak_password",
        ),
        (
            json!({"email": "a@example.com", "password": "password123"}),
            "weak_password",
        ),
        (
            json!({"email": "not-an-email", "password": "cover drive at dusk"}),
            "invalid_email",
        ),
    ] {
        let (status, problem) = post(&app, "/v1/auth/signup", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem["code"], code);
    }
    assert_eq!(users(&app).await, 0);
    // The refused email is still free.
    sign_up(&app, "a@example.com").await;
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let app = app().await;
    sign_up(&app, "smriti@example.com").await;
    let (wrong_status, wrong) = post(
        &app,
        "/v1/auth/login",
        json!({"email": "smriti@example.com", "password": "not her password"}),
    )
    .await;
    let (unknown_status, unknown) = post(
        &app,
        "/v1/auth/login",
        json!({"email": "nobody@example.com", "password": "not her password"}),
    )
    .await;
    assert_eq!(wrong_status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong, unknown);
    assert_eq!(wrong_status, unknown_status);
    assert_eq!(wrong["code"], "invalid_credentials");

    let (status, tokens) = post(
        &app,
        "/v1/auth/login",
        json!({"email": "SMRITI@example.com", "password": "cover drive at dusk"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        me(&app, tokens["access_token"].as_str().unwrap()).await.0,
        StatusCode::OK
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_session() {
    let app = app().await;
    let first = sign_up(&app, "jasprit@example.com").await;
    let first_refresh = first["refresh_token"].as_str().unwrap();

    let (status, second) = post(
        &app,
        "/v1/auth/refresh",
        json!({"refresh_token": first_refresh}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let second_refresh = second["refresh_token"].as_str().unwrap();
    assert_ne!(first_refresh, second_refresh);
    assert_eq!(
        me(&app, second["access_token"].as_str().unwrap()).await.0,
        StatusCode::OK
    );

    // The rotated token shows up again: someone copied it. The session dies for both holders.
    let (status, problem) = post(
        &app,
        "/v1/auth/refresh",
        json!({"refresh_token": first_refresh}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["code"], "refresh_token_reused");
    let (status, problem) = post(
        &app,
        "/v1/auth/refresh",
        json!({"refresh_token": second_refresh}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["code"], "session_ended");

    // Another session of the same user is untouched.
    let (status, other) = post(
        &app,
        "/v1/auth/login",
        json!({"email": "jasprit@example.com", "password": "cover drive at dusk"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post(
        &app,
        "/v1/auth/refresh",
        json!({"refresh_token": other["refresh_token"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_let_exactly_one_through() {
    let app = app().await;
    let tokens = sign_up(&app, "hardik@example.com").await;
    let refresh = tokens["refresh_token"].clone();
    let attempts =
        (0..8).map(|_| post(&app, "/v1/auth/refresh", json!({"refresh_token": refresh})));
    // Sent together, so the requests overlap on the server.
    let outcomes = futures::future::join_all(attempts).await;
    let succeeded = outcomes
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .count();
    assert_eq!(succeeded, 1, "{outcomes:?}");
    // The others are refused as reuse, not failed by the database.
    for (status, problem) in outcomes
        .iter()
        .filter(|(status, _)| *status != StatusCode::OK)
    {
        assert_eq!(*status, StatusCode::UNAUTHORIZED, "{problem}");
    }
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn logout_ends_the_session_and_is_idempotent() {
    let app = app().await;
    let tokens = sign_up(&app, "shafali@example.com").await;
    let refresh = tokens["refresh_token"].clone();
    for _ in 0..2 {
        let response = app
            .client
            .post(app.url("/v1/auth/logout"))
            .json(&json!({"refresh_token": refresh}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let (status, problem) = post(&app, "/v1/auth/refresh", json!({"refresh_token": refresh})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["code"], "session_ended");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn sign_up_announces_the_user_on_the_bus() {
    let app = app().await;
    let mut events = app
        .node()
        .bus()
        .subscribe("accounts.v1.user.>")
        .await
        .unwrap();
    let tokens = sign_up(&app, "mithali@example.com").await;
    let user_id = tokens["user"]["id"].as_str().unwrap();
    // On a shared NATS other tests sign users up too: wait for this user's event.
    let event = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            let message = futures::StreamExt::next(&mut events)
                .await
                .expect("subscribed");
            if message.subject != "accounts.v1.user.signed_up" {
                continue;
            }
            let event: contracts::accounts::UserSignedUp = message.decode().unwrap();
            if event.user_id.to_string() == user_id {
                return event;
            }
        }
    })
    .await
    .expect("the event arrives");
    assert_eq!(event.roles, vec![kernel::Role::User]);
    app.shutdown().await.unwrap();
}

/// Every malformed request gets problem+json with the right status and code, and changes
/// nothing.
#[tokio::test]
async fn malformed_requests_get_problems_and_change_nothing() {
    let app = app().await;
    // One real account, so requests that could touch a session have one to touch.
    sign_up(&app, "deepti@example.com").await;
    let before = rows(&app).await;
    let keys = app.jwt_keys();
    let now = chrono::Utc::now().timestamp();
    let claims = |exp: i64| web::Claims {
        sub: kernel::UserId::new(),
        roles: vec![kernel::Role::User],
        sid: uuid::Uuid::new_v4(),
        iat: now - 3600,
        exp,
        iss: testkit::TEST_ISSUER.into(),
    };
    let expired = keys.sign(&claims(now - 60));
    let forged = web::JwtKeys::new(
        b"an attacker's secret, 32 bytes long!",
        testkit::TEST_ISSUER,
    )
    .sign(&claims(now + 600));
    let huge = json!({"email": "a@example.com", "password": "x".repeat(300 * 1024)}).to_string();

    struct Case {
        name: &'static str,
        method: Method,
        path: &'static str,
        content_type: Option<&'static str>,
        body: String,
        bearer: Option<String>,
        status: StatusCode,
        code: &'static str,
    }
    let case = |name, method, path, body: &str, status, code| Case {
        name,
        method,
        path,
        content_type: Some("application/json"),
        body: body.to_owned(),
        bearer: None,
        status,
        code,
    };
    let cases = vec![
        case(
            "bad json",
            Method::POST,
            "/v1/auth/signup",
            "{\"email\": ",
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        case(
            "not json at all",
            Method::POST,
            "/v1/auth/signup",
            "email=a@b.c",
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        case(
            "wrong types",
            Method::POST,
            "/v1/auth/signup",
            r#"{"email": 42, "password": true}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        case(
            "missing field",
            Method::POST,
            "/v1/auth/signup",
            r#"{"email": "a@example.com"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        case(
            "unknown field",
            Method::POST,
            "/v1/auth/signup",
            r#"{"email": "a@example.com", "password": "cover drive at dusk", "role": "admin"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        Case {
            content_type: Some("text/plain"),
            ..case(
                "wrong content type",
                Method::POST,
                "/v1/auth/signup",
                r#"{"email": "a@example.com", "password": "cover drive at dusk"}"#,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            )
        },
        Case {
            body: huge,
            ..case(
                "huge body",
                Method::POST,
                "/v1/auth/signup",
                "",
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
            )
        },
        case(
            "unknown route",
            Method::GET,
            "/v1/nowhere",
            "",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        case(
            "wrong method",
            Method::GET,
            "/v1/auth/signup",
            "",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        case(
            "wrong method on a GET route",
            Method::DELETE,
            "/v1/me",
            "",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        case(
            "no token",
            Method::GET,
            "/v1/me",
            "",
            StatusCode::UNAUTHORIZED,
            "missing_token",
        ),
        Case {
            bearer: Some("not.a.jwt".into()),
            ..case(
                "garbage token",
                Method::GET,
                "/v1/me",
                "",
                StatusCode::UNAUTHORIZED,
                "invalid_token",
            )
        },
        Case {
            bearer: Some(forged),
            ..case(
                "forged token",
                Method::GET,
                "/v1/me",
                "",
                StatusCode::UNAUTHORIZED,
                "invalid_token",
            )
        },
        Case {
            bearer: Some(expired),
            ..case(
                "expired token",
                Method::GET,
                "/v1/me",
                "",
                StatusCode::UNAUTHORIZED,
                "token_expired",
            )
        },
        case(
            "refresh with junk",
            Method::POST,
            "/v1/auth/refresh",
            r#"{"refresh_token": "junk"}"#,
            StatusCode::UNAUTHORIZED,
            "invalid_refresh_token",
        ),
        case(
            "login, bad json",
            Method::POST,
            "/v1/auth/login",
            "{",
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        case(
            "login, missing password",
            Method::POST,
            "/v1/auth/login",
            r#"{"email": "deepti@example.com"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        case(
            "login, wrong password type",
            Method::POST,
            "/v1/auth/login",
            r#"{"email": "deepti@example.com", "password": 12345678901}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        case(
            "refresh, wrong type",
            Method::POST,
            "/v1/auth/refresh",
            r#"{"refresh_token": 7}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        case(
            "logout, missing token",
            Method::POST,
            "/v1/auth/logout",
            "{}",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        case(
            "logout, bad json",
            Method::POST,
            "/v1/auth/logout",
            "[",
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
    ];

    for case in cases {
        let mut request = app
            .client
            .request(case.method.clone(), app.url(case.path))
            .body(case.body);
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(token) = case.bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), case.status, "{}", case.name);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{}",
            case.name
        );
        if case.status == StatusCode::METHOD_NOT_ALLOWED {
            assert!(response.headers().contains_key("allow"), "{}", case.name);
        }
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], case.code, "{}: {problem}", case.name);
        assert_eq!(problem["status"], case.status.as_u16(), "{}", case.name);
        assert!(problem["detail"].is_string(), "{}", case.name);
    }
    assert_eq!(
        rows(&app).await,
        before,
        "no malformed request wrote anything"
    );
    app.shutdown().await.unwrap();
}
