//! The Redis store against a real Redis (`TEST_REDIS_URL`): the same arithmetic as in
//! memory, keys that expire, and two nodes holding one limit, also under concurrency.
//! Each test writes under its own random key prefix, so runs never see each other's counts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, test, web};
use ratelimit::{
    GroupLimits, Guard, Key, Limiter, OutagePolicy, Quota, RateLimitConfig, RedisStore, Store,
};
use std::time::Duration;

fn url() -> String {
    std::env::var("TEST_REDIS_URL")
        .expect("Redis tests need TEST_REDIS_URL (e.g. redis://127.0.0.1:6379)")
}

fn prefix() -> String {
    format!("test-ratelimit:{}", uuid::Uuid::new_v4())
}

async fn node(prefix: &str) -> RedisStore {
    RedisStore::connect(&url(), prefix, Duration::from_secs(2))
        .await
        .expect("connect to TEST_REDIS_URL")
}

async fn raw() -> redis::aio::MultiplexedConnection {
    redis::Client::open(url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "needs Redis: set TEST_REDIS_URL"]
async fn redis_gives_a_burst_then_refuses_until_the_refill() {
    let store = node(&prefix()).await;
    let quota = Quota::new(3, 60);
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let decision = store.check("client", quota).await.unwrap();
        assert!(decision.allowed);
        remaining.push(decision.remaining);
    }
    assert_eq!(remaining, vec![2, 1, 0]);
    let refused = store.check("client", quota).await.unwrap();
    assert!(!refused.allowed);
    assert_eq!(refused.remaining, 0);
    // The next request's worth refills 20 s after the first was counted.
    let retry = refused.retry_after.unwrap();
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_secs(20),
        "{retry:?}"
    );
    assert!(refused.reset_after <= Duration::from_secs(60));
    // Another client is untouched.
    assert_eq!(store.check("other", quota).await.unwrap().remaining, 2);
}

#[tokio::test]
#[ignore = "needs Redis: set TEST_REDIS_URL"]
async fn redis_keys_expire_when_the_allowance_is_full_again() {
    let prefix = prefix();
    let store = node(&prefix).await;
    store.check("client", Quota::new(10, 60)).await.unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}:client"))
        .query_async(&mut raw().await)
        .await
        .unwrap();
    // One request's worth of a 10-per-minute quota: 6 s.
    assert!(ttl > 0 && ttl <= 6_000, "{ttl}");
}

#[tokio::test]
#[ignore = "needs Redis: set TEST_REDIS_URL"]
async fn two_nodes_share_one_limit() {
    let prefix = prefix();
    let (a, b) = (node(&prefix).await, node(&prefix).await);
    let quota = Quota::new(4, 60);
    assert!(a.check("client", quota).await.unwrap().allowed);
    assert!(b.check("client", quota).await.unwrap().allowed);
    assert!(a.check("client", quota).await.unwrap().allowed);
    let last = b.check("client", quota).await.unwrap();
    assert!(last.allowed);
    assert_eq!(last.remaining, 0);
    assert!(!a.check("client", quota).await.unwrap().allowed);
    assert!(!b.check("client", quota).await.unwrap().allowed);

    // Another deployment (prefix) on the same Redis counts on its own.
    let elsewhere = node(&self::prefix()).await;
    assert!(elsewhere.check("client", quota).await.unwrap().allowed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis: set TEST_REDIS_URL"]
async fn concurrent_checks_on_two_nodes_admit_exactly_the_limit() {
    let prefix = prefix();
    let (a, b) = (node(&prefix).await, node(&prefix).await);
    let quota = Quota::new(10, 3600);
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { store.check("client", quota).await.unwrap().allowed })
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        admitted += usize::from(task.await.unwrap());
    }
    assert_eq!(admitted, 10);
}

fn config(prefix: &str) -> RateLimitConfig {
    let mut config = RateLimitConfig {
        redis_url: Some(kernel::Secret::new(url())),
        key_prefix: prefix.to_owned(),
        ..RateLimitConfig::default()
    };
    config.groups.insert(
        "auth".into(),
        GroupLimits {
            per_ip: Some(Quota::new(2, 60)),
            per_account: None,
        },
    );
    config
}

async fn ok() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[actix_web::test]
#[ignore = "needs Redis: set TEST_REDIS_URL"]
async fn guards_on_two_nodes_refuse_together() {
    let prefix = prefix();
    let node = |limiter: Limiter| {
        test::init_service(
            App::new().service(
                web::resource("/login")
                    .wrap(Guard::new(limiter, "auth", Key::Ip).unwrap())
                    .route(web::get().to(ok)),
            ),
        )
    };
    let limiter_a = Limiter::from_config(config(&prefix)).await.unwrap();
    let limiter_b = Limiter::from_config(config(&prefix)).await.unwrap();
    assert_eq!(limiter_a.store().kind(), "redis");
    let (a, b) = (node(limiter_a).await, node(limiter_b).await);
    let request = || {
        test::TestRequest::get()
            .uri("/login")
            .peer_addr("198.51.100.1:40000".parse().unwrap())
            .to_request()
    };
    let first = test::call_service(&a, request()).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers().get("ratelimit-remaining").unwrap(), "1");
    let second = test::call_service(&b, request()).await;
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(second.headers().get("ratelimit-remaining").unwrap(), "0");
    let refused = test::call_service(&a, request()).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    let problem: ::web::Problem = test::read_body_json(refused).await;
    assert_eq!(problem.code, "rate_limited");
}

/// A key Redis cannot run the script on (another type under it) fails the check like an
/// outage would; the policy decides.
#[actix_web::test]
#[ignore = "needs Redis: set TEST_REDIS_URL"]
async fn a_failing_store_follows_the_outage_policy() {
    for (policy, status) in [
        (OutagePolicy::FailOpen, StatusCode::OK),
        (OutagePolicy::FailClosed, StatusCode::SERVICE_UNAVAILABLE),
    ] {
        let prefix = prefix();
        let broken_key = format!("{prefix}:auth:ip:198.51.100.1");
        let _: () = redis::pipe()
            .hset(&broken_key, "not", "a counter")
            .expire(&broken_key, 60)
            .query_async(&mut raw().await)
            .await
            .unwrap();
        let mut config = config(&prefix);
        config.on_outage = policy;
        let limiter = Limiter::from_config(config).await.unwrap();
        assert!(matches!(limiter.store(), Store::Redis(_)));
        let app = test::init_service(
            App::new().service(
                web::resource("/login")
                    .wrap(Guard::new(limiter, "auth", Key::Ip).unwrap())
                    .route(web::get().to(ok)),
            ),
        )
        .await;
        let response = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/login")
                .peer_addr("198.51.100.1:40000".parse().unwrap())
                .to_request(),
        )
        .await;
        assert_eq!(response.status(), status, "{policy:?}");
        // An unmeasured pass claims no numbers.
        assert!(!response.headers().contains_key("ratelimit-remaining"));
    }
}

/// Needs no Redis: nothing listens where it points.
#[tokio::test]
async fn an_unreachable_redis_stops_the_node_at_start() {
    let config = RateLimitConfig {
        redis_url: Some(kernel::Secret::new("redis://127.0.0.1:1".into())),
        ..RateLimitConfig::default()
    };
    assert!(Limiter::from_config(config).await.is_err());
}
