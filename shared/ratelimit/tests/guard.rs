//! The guard on a real actix service over the in-memory store, with time moved by hand:
//! headers on every response, the 429 problem, who counts as a client, and stacking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ::web::{Claims, JwtKeys, Problem};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, test, web};
use kernel::{Role, UserId};
use ratelimit::{
    GroupLimits, Guard, Key, Limiter, ManualClock, MemoryStore, Quota, RateLimitConfig,
    RateLimitError, Store,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const CLIENT: &str = "198.51.100.1:40000";

fn config() -> RateLimitConfig {
    let mut config = RateLimitConfig::default();
    config.groups.insert(
        "auth".into(),
        GroupLimits {
            per_ip: Some(Quota::new(2, 60)),
            per_account: Some(Quota::new(3, 60)),
        },
    );
    config.groups.insert(
        "ip_only".into(),
        GroupLimits {
            per_ip: Some(Quota::new(100, 60)),
            per_account: None,
        },
    );
    config
}

fn limiter(config: RateLimitConfig) -> (Arc<ManualClock>, Limiter) {
    let clock = Arc::new(ManualClock::new());
    let store = Store::Memory(Arc::new(MemoryStore::with_clock(1_000, clock.clone())));
    (clock, Limiter::with_store(config, store).unwrap())
}

async fn handler(calls: web::Data<AtomicUsize>) -> HttpResponse {
    calls.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok().body("ok")
}

fn get(peer: &str) -> test::TestRequest {
    test::TestRequest::get()
        .uri("/v1/auth/login")
        .peer_addr(peer.parse().unwrap())
}

fn header<'a>(response: &'a ServiceResponse, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap())
}

fn rate_headers(response: &ServiceResponse) -> [Option<&str>; 4] {
    [
        header(response, "ratelimit-limit"),
        header(response, "ratelimit-remaining"),
        header(response, "ratelimit-reset"),
        header(response, "ratelimit-policy"),
    ]
}

macro_rules! app {
    ($calls:expr, $($guard:expr),+) => {
        test::init_service(
            App::new().app_data($calls.clone()).service(
                web::resource("/v1/auth/login")
                    $(.wrap($guard))+
                    .route(web::get().to(handler)),
            ),
        )
        .await
    };
}

#[actix_web::test]
async fn every_response_carries_the_headers_and_the_third_request_is_refused() {
    let (clock, limiter) = limiter(config());
    let calls = web::Data::new(AtomicUsize::new(0));
    let app = app!(calls, Guard::new(limiter, "auth", Key::Ip).unwrap());

    // 2 per 60 s: one request's worth refills every 30 s.
    let first = test::call_service(&app, get(CLIENT).to_request()).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(
        rate_headers(&first),
        [Some("2"), Some("1"), Some("30"), Some("2;w=60")]
    );
    let second = test::call_service(&app, get(CLIENT).to_request()).await;
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(
        rate_headers(&second),
        [Some("2"), Some("0"), Some("60"), Some("2;w=60")]
    );

    let refused = test::call_service(&app, get(CLIENT).to_request()).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&refused, "retry-after"), Some("30"));
    assert_eq!(
        rate_headers(&refused),
        [Some("2"), Some("0"), Some("60"), Some("2;w=60")]
    );
    assert_eq!(
        header(&refused, "content-type"),
        Some("application/problem+json")
    );
    let problem: Problem = test::read_body_json(refused).await;
    assert_eq!(problem.code, "rate_limited");
    assert_eq!(problem.status, 429);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the handler ran when refused"
    );

    // Just short of the refill it is still refused; at it, one more request fits.
    clock.advance(Duration::from_secs(29));
    let refused = test::call_service(&app, get(CLIENT).to_request()).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&refused, "retry-after"), Some("1"));
    clock.advance(Duration::from_secs(1));
    let admitted = test::call_service(&app, get(CLIENT).to_request()).await;
    assert_eq!(admitted.status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[actix_web::test]
async fn addresses_are_counted_apart_and_forwarded_for_is_not_believed_by_default() {
    let (_, limiter) = limiter(config());
    let calls = web::Data::new(AtomicUsize::new(0));
    let app = app!(calls, Guard::new(limiter, "auth", Key::Ip).unwrap());
    for i in 0..2 {
        // A client claiming to be someone new each time is still itself.
        let request = get(CLIENT).insert_header(("x-forwarded-for", format!("203.0.113.{i}")));
        let response = test::call_service(&app, request.to_request()).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let request = get(CLIENT).insert_header(("x-forwarded-for", "203.0.113.99"));
    let response = test::call_service(&app, request.to_request()).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);

    let other = test::call_service(&app, get("198.51.100.2:40000").to_request()).await;
    assert_eq!(other.status(), StatusCode::OK);
}

#[actix_web::test]
async fn behind_a_trusted_proxy_each_forwarded_client_counts_alone() {
    let mut config = config();
    config.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    let (_, limiter) = limiter(config);
    let calls = web::Data::new(AtomicUsize::new(0));
    let app = app!(calls, Guard::new(limiter, "auth", Key::Ip).unwrap());
    let via_proxy = |client: &str| {
        get("10.0.0.2:443")
            .insert_header(("x-forwarded-for", client.to_owned()))
            .to_request()
    };
    for _ in 0..2 {
        let response = test::call_service(&app, via_proxy("203.0.113.1")).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = test::call_service(&app, via_proxy("203.0.113.1")).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy is not held back by the first.
    let response = test::call_service(&app, via_proxy("203.0.113.2")).await;
    assert_eq!(response.status(), StatusCode::OK);
}

fn token(keys: &JwtKeys, user: UserId) -> String {
    let now = chrono::Utc::now().timestamp();
    keys.sign(&Claims {
        sub: user,
        roles: vec![Role::User],
        sid: uuid::Uuid::new_v4(),
        iat: now,
        exp: now + 600,
        iss: "platform".into(),
    })
}

#[actix_web::test]
async fn accounts_are_counted_by_user_and_anonymous_callers_by_address() {
    let (_, limiter) = limiter(config());
    let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef", "platform");
    let calls = web::Data::new(AtomicUsize::new(0));
    let app = test::init_service(
        App::new()
            .app_data(calls.clone())
            .app_data(web::Data::new(keys.clone()))
            .service(
                web::resource("/v1/auth/login")
                    .wrap(Guard::new(limiter, "auth", Key::Account).unwrap())
                    .route(web::get().to(handler)),
            ),
    )
    .await;
    let as_user = |user: UserId| {
        get(CLIENT)
            .insert_header(("authorization", format!("Bearer {}", token(&keys, user))))
            .to_request()
    };
    // Two users on one address (a household, a mobile carrier's NAT): 3 each.
    let (alice, bob) = (UserId::new(), UserId::new());
    for user in [alice, bob] {
        for expected_remaining in ["2", "1", "0"] {
            let response = test::call_service(&app, as_user(user)).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(header(&response, "ratelimit-limit"), Some("3"));
            assert_eq!(
                header(&response, "ratelimit-remaining"),
                Some(expected_remaining)
            );
        }
        let response = test::call_service(&app, as_user(user)).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    // Signed out, on the same address: the per-IP quota of 2, untouched by the users.
    for _ in 0..2 {
        let response = test::call_service(&app, get(CLIENT).to_request()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "ratelimit-limit"), Some("2"));
    }
    let response = test::call_service(&app, get(CLIENT).to_request()).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // A forged token is just anonymous (and the address is spent).
    let forged = get(CLIENT)
        .insert_header(("authorization", "Bearer not.a.token"))
        .to_request();
    let response = test::call_service(&app, forged).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn stacked_guards_report_the_tighter_limit() {
    let (_, limiter) = limiter(config());
    let calls = web::Data::new(AtomicUsize::new(0));
    let app = app!(
        calls,
        Guard::new(limiter.clone(), "auth", Key::Ip).unwrap(),
        Guard::new(limiter, "ip_only", Key::Ip).unwrap()
    );
    let response = test::call_service(&app, get(CLIENT).to_request()).await;
    assert_eq!(
        rate_headers(&response),
        [Some("2"), Some("1"), Some("30"), Some("2;w=60")]
    );
}

#[actix_web::test]
async fn per_ip_and_per_account_guards_together_count_a_signed_out_caller_once() {
    let (_, limiter) = limiter(config());
    let calls = web::Data::new(AtomicUsize::new(0));
    let app = test::init_service(
        App::new()
            .app_data(calls.clone())
            .app_data(web::Data::new(JwtKeys::new(
                b"0123456789abcdef0123456789abcdef",
                "platform",
            )))
            .service(
                web::resource("/v1/auth/login")
                    .wrap(Guard::new(limiter.clone(), "auth", Key::Account).unwrap())
                    .wrap(Guard::new(limiter, "auth", Key::Ip).unwrap())
                    .route(web::get().to(handler)),
            ),
    )
    .await;
    // per_ip is 2: both guards admit two signed-out requests, each in its own count.
    for _ in 0..2 {
        let response = test::call_service(&app, get(CLIENT).to_request()).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = test::call_service(&app, get(CLIENT).to_request()).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[actix_web::test]
async fn misnamed_groups_and_missing_quotas_fail_at_start() {
    let (_, limiter) = limiter(config());
    assert!(matches!(
        Guard::new(limiter.clone(), "atuh", Key::Ip),
        Err(RateLimitError::UnknownGroup(group)) if group == "atuh"
    ));
    assert!(matches!(
        Guard::new(limiter, "ip_only", Key::Account),
        Err(RateLimitError::NoQuota {
            key: Key::Account,
            ..
        })
    ));
}

#[actix_web::test]
async fn a_guard_can_take_its_limiter_from_app_data() {
    let (_, limiter) = limiter(config());
    let calls = web::Data::new(AtomicUsize::new(0));
    let route = |group: &str| {
        web::resource("/v1/auth/login")
            .wrap(Guard::from_app_data(group, Key::Ip))
            .route(web::get().to(handler))
    };
    let app = test::init_service(
        App::new()
            .app_data(calls.clone())
            .app_data(web::Data::new(limiter.clone()))
            .service(route("auth")),
    )
    .await;
    let response = test::call_service(&app, get(CLIENT).to_request()).await;
    assert_eq!(header(&response, "ratelimit-limit"), Some("2"));

    // A wrong group is a broken route: 500, logged, handler not run.
    let app = test::init_service(
        App::new()
            .app_data(calls.clone())
            .app_data(web::Data::new(limiter))
            .service(route("atuh")),
    )
    .await;
    let response = app.call(get(CLIENT).to_request()).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[actix_web::test]
async fn disabled_limits_admit_everything_without_headers() {
    let mut config = config();
    config.enabled = false;
    let (_, limiter) = limiter(config);
    let calls = web::Data::new(AtomicUsize::new(0));
    let app = app!(calls, Guard::new(limiter, "auth", Key::Ip).unwrap());
    for _ in 0..5 {
        let response = test::call_service(&app, get(CLIENT).to_request()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(rate_headers(&response), [None, None, None, None]);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}
