//! The guard on a real actix service: refusals are problem+json and the handler never runs;
//! a pass reaches the handler with what the provider said.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, test, web};
use captcha::fake::{FakeSiteverify, Outage, Solved};
use captcha::{Passed, Provider, TOKEN_HEADER, Verifier, actions};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const HOST: &str = "fans.example.com";

/// Counts its calls and echoes how the captcha passed. It reads a JSON body, which the
/// guard never touches: a refused request's body is not even parsed.
async fn sign_up(
    calls: web::Data<AtomicUsize>,
    passed: web::ReqData<Passed>,
    _body: web::Json<serde_json::Value>,
) -> HttpResponse {
    calls.fetch_add(1, Ordering::SeqCst);
    let how = match passed.into_inner() {
        Passed::Verified(_) => "verified",
        Passed::Disabled => "disabled",
        Passed::Unverified => "unverified",
    };
    HttpResponse::Created().body(how)
}

fn verifier(fake: &FakeSiteverify) -> Verifier {
    let mut config = fake.config(Provider::Recaptcha);
    config.hostnames = vec![HOST.into()];
    config.timeout_ms = 300;
    Verifier::new(config).unwrap()
}

fn request(token: Option<&str>) -> test::TestRequest {
    let mut request = test::TestRequest::post()
        .uri("/v1/auth/signup")
        .set_json(serde_json::json!({ "email": "fan@example.com" }));
    if let Some(token) = token {
        request = request.insert_header((TOKEN_HEADER, token));
    }
    request
}

async fn problem(response: ServiceResponse) -> (StatusCode, serde_json::Value) {
    let status = response.status();
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    (status, test::read_body_json(response).await)
}

#[actix_web::test]
async fn refused_requests_never_reach_the_handler() {
    let fake = FakeSiteverify::start("secret").unwrap();
    fake.issue("low", Solved::on(HOST).score(0.1));
    fake.issue("other-action", Solved::on(HOST).action(actions::LOGIN));
    fake.issue("other-site", Solved::on("phish.example.net"));
    let calls = web::Data::new(AtomicUsize::new(0));
    let app = test::init_service(
        App::new().app_data(calls.clone()).service(
            web::resource("/v1/auth/signup")
                .wrap(captcha::guard(verifier(&fake), actions::SIGNUP))
                .route(web::post().to(sign_up)),
        ),
    )
    .await;

    let cases = [
        (None, 400, "captcha_required"),
        (Some("never-issued"), 400, "captcha_invalid"),
        (Some("low"), 403, "captcha_low_score"),
        (Some("other-action"), 403, "captcha_action_mismatch"),
        (Some("other-site"), 403, "captcha_hostname_mismatch"),
        // Refused once already on this node.
        (Some("low"), 400, "captcha_replayed"),
    ];
    for (token, status, code) in cases {
        let response = test::call_service(&app, request(token).to_request()).await;
        let (actual, body) = problem(response).await;
        assert_eq!(actual.as_u16(), status, "{token:?}: {body}");
        assert_eq!(body["code"], code, "{token:?}");
        assert_eq!(body["type"], format!("urn:problem:{code}"));
    }

    // A non-ASCII header value was not made by any widget.
    let response = app
        .call(
            request(None)
                .insert_header((
                    TOKEN_HEADER,
                    actix_web::http::header::HeaderValue::from_bytes(b"tok\xffen").unwrap(),
                ))
                .to_request(),
        )
        .await
        .unwrap();
    let (status, body) = problem(response).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (400, Some("captcha_invalid"))
    );

    assert_eq!(calls.load(Ordering::SeqCst), 0, "the handler ran");
}

#[actix_web::test]
async fn a_solved_captcha_reaches_the_handler_once() {
    let fake = FakeSiteverify::start("secret").unwrap();
    fake.issue("good", Solved::on(HOST).score(0.9).action(actions::SIGNUP));
    let calls = web::Data::new(AtomicUsize::new(0));
    let app = test::init_service(
        App::new().app_data(calls.clone()).service(
            web::resource("/v1/auth/signup")
                .wrap(captcha::guard(verifier(&fake), actions::SIGNUP))
                .route(web::post().to(sign_up)),
        ),
    )
    .await;
    let response = test::call_service(&app, request(Some("good")).to_request()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(test::read_body(response).await, "verified");

    let response = test::call_service(&app, request(Some("good")).to_request()).await;
    let (status, body) = problem(response).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (400, Some("captcha_replayed"))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[actix_web::test]
async fn an_outage_refuses_money_with_retry_after_and_admits_login_unverified() {
    let fake = FakeSiteverify::start("secret").unwrap();
    fake.set_outage(Outage::ServerError);
    fake.issue("a", Solved::on(HOST));
    fake.issue("b", Solved::on(HOST));
    let verifier = verifier(&fake);
    let calls = web::Data::new(AtomicUsize::new(0));
    let app = test::init_service(
        App::new()
            .app_data(calls.clone())
            .service(
                web::resource("/v1/vouchers")
                    .wrap(captcha::guard(verifier.clone(), actions::VOUCHER_PURCHASE))
                    .route(web::post().to(sign_up)),
            )
            .service(
                web::resource("/v1/auth/login")
                    .wrap(captcha::guard(verifier, actions::LOGIN))
                    .route(web::post().to(sign_up)),
            ),
    )
    .await;
    let response =
        test::call_service(&app, request(Some("a")).uri("/v1/vouchers").to_request()).await;
    assert_eq!(response.headers().get("retry-after").unwrap(), "5");
    let (status, body) = problem(response).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (503, Some("captcha_unavailable"))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    let response =
        test::call_service(&app, request(Some("b")).uri("/v1/auth/login").to_request()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(test::read_body(response).await, "unverified");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[actix_web::test]
async fn a_guard_can_take_its_verifier_from_app_data() {
    let fake = FakeSiteverify::start("secret").unwrap();
    fake.issue("good", Solved::on(HOST));
    let calls = web::Data::new(AtomicUsize::new(0));
    let route = || {
        web::resource("/v1/auth/signup")
            .wrap(captcha::guard_from_app_data(actions::SIGNUP))
            .route(web::post().to(sign_up))
    };
    let app = test::init_service(
        App::new()
            .app_data(calls.clone())
            .app_data(web::Data::new(verifier(&fake)))
            .service(route()),
    )
    .await;
    let response = test::call_service(&app, request(Some("good")).to_request()).await;
    assert_eq!(response.status(), StatusCode::CREATED);

    // Without the app data the route is broken, loudly, and still admits nobody.
    let app = test::init_service(App::new().app_data(calls.clone()).service(route())).await;
    let response = test::call_service(&app, request(Some("good")).to_request()).await;
    let (status, body) = problem(response).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (500, Some("internal"))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[actix_web::test]
async fn with_captcha_disabled_the_handler_runs_and_knows_it() {
    let verifier = Verifier::new(captcha::CaptchaConfig::default()).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let app = test::init_service(
        App::new().app_data(web::Data::from(calls.clone())).service(
            web::resource("/v1/auth/signup")
                .wrap(captcha::guard(verifier, actions::SIGNUP))
                .route(web::post().to(sign_up)),
        ),
    )
    .await;
    let response = test::call_service(&app, request(None).to_request()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(test::read_body(response).await, "disabled");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
