//! Geofencing on the real node: `POST /v1/geo/check` against India's real state borders,
//! policies changed at runtime by admins (audited, refused when wrong), uploaded region
//! sets, the IP database (a real MaxMind DB file read by the real reader), and a change on
//! one node reaching another.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use geofence::testing::MmdbWriter;
use kernel::{Role, UserId};
use reqwest::StatusCode;
use runtime::settings::Figment;
use serde_json::{Value, json};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::TestApp;

const HYDERABAD: (f64, f64) = (17.385, 78.4867);
const GUWAHATI: (f64, f64) = (26.1445, 91.7362);
const BHUBANESWAR: (f64, f64) = (20.2961, 85.8245);
const GANGTOK: (f64, f64) = (27.3389, 88.6065);
const MUMBAI: (f64, f64) = (19.076, 72.8777);
const BENGALURU: (f64, f64) = (12.9716, 77.5946);
const DELHI: (f64, f64) = (28.6139, 77.209);
const COLOMBO: (f64, f64) = (6.9271, 79.8612);

async fn app(tweak: impl FnOnce(Figment) -> Figment) -> TestApp {
    TestApp::spawn_with(vec![Arc::new(accounts::Accounts)], tweak)
        .await
        .unwrap()
}

struct Reply {
    status: StatusCode,
    body: Value,
}

impl Reply {
    fn assert_problem(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["code"], code, "{}", self.body);
    }
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

async fn check(app: &TestApp, feature: &str, at: Option<(f64, f64)>) -> Reply {
    check_from(app, feature, at, None).await
}

/// A check as if from `client` (through the trusted proxy the IP tests configure).
async fn check_from(
    app: &TestApp,
    feature: &str,
    at: Option<(f64, f64)>,
    client: Option<&str>,
) -> Reply {
    let mut body = json!({"feature": feature});
    if let Some((lat, lon)) = at {
        body["position"] = json!({"lat": lat, "lon": lon});
    }
    let mut request = app.client.post(app.url("/v1/geo/check")).json(&body);
    if let Some(client) = client {
        request = request.header("x-forwarded-for", client);
    }
    send(request).await
}

/// `(allowed, region, reason)` of a check that must succeed.
async fn decide(app: &TestApp, feature: &str, at: Option<(f64, f64)>) -> (bool, Value, String) {
    let reply = check(app, feature, at).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    (
        reply.body["allowed"].as_bool().unwrap(),
        reply.body["region"].clone(),
        reply.body["reason"].as_str().unwrap().to_owned(),
    )
}

fn admin(app: &TestApp) -> (UserId, String) {
    let id = UserId::new();
    (id, app.token(id, &[Role::Admin]))
}

async fn put_policy(app: &TestApp, token: &str, feature: &str, rules: Value) -> Reply {
    send(
        app.client
            .put(app.url(&format!("/v1/admin/geo/policies/{feature}")))
            .bearer_auth(token)
            .json(&rules),
    )
    .await
}

async fn audit(app: &TestApp, token: &str) -> Vec<Value> {
    let reply = send(
        app.client
            .get(app.url("/v1/admin/geo/audit"))
            .bearer_auth(token),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body.as_array().unwrap().clone()
}

async fn policies(app: &TestApp, token: &str) -> Value {
    send(
        app.client
            .get(app.url("/v1/admin/geo/policies"))
            .bearer_auth(token),
    )
    .await
    .body
}

fn restricted_states() -> Value {
    json!({"default": "allow", "outside": "deny",
           "regions": {"IN-TS": "deny", "IN-AS": "deny", "IN-OD": "deny", "IN-SK": "deny"}})
}

#[tokio::test]
async fn the_default_policy_restricts_paid_quizzes_by_state_and_outside_india() {
    let app = app(|f| f).await;
    assert_eq!(
        decide(&app, "paid_quiz", Some(HYDERABAD)).await,
        (false, json!("IN-TS"), "region_denied".into())
    );
    assert_eq!(
        decide(&app, "paid_quiz", Some(MUMBAI)).await,
        (true, json!("IN-MH"), "default_allowed".into())
    );
    assert_eq!(
        decide(&app, "paid_quiz", Some(COLOMBO)).await,
        (false, Value::Null, "outside_known_regions".into())
    );
    // No position and no IP database: nothing is known.
    assert_eq!(
        decide(&app, "paid_quiz", None).await,
        (false, Value::Null, "location_unknown".into())
    );
    assert_eq!(
        decide(&app, "free_quiz", None).await,
        (true, Value::Null, "location_unknown".into())
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_admin_restricts_states_at_runtime_and_the_audit_trail_says_who() {
    let app = app(|f| f).await;
    let (admin_id, token) = admin(&app);
    let reply = put_policy(&app, &token, "paid_quiz", restricted_states()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["source"], "admin");

    for (city, at) in [
        ("Hyderabad", HYDERABAD),
        ("Guwahati", GUWAHATI),
        ("Bhubaneswar", BHUBANESWAR),
        ("Gangtok", GANGTOK),
    ] {
        let (allowed, _, reason) = decide(&app, "paid_quiz", Some(at)).await;
        assert!(!allowed, "{city} must be denied");
        assert_eq!(reason, "region_denied", "{city}");
    }
    for (city, at) in [
        ("Mumbai", MUMBAI),
        ("Bengaluru", BENGALURU),
        ("Delhi", DELHI),
    ] {
        let (allowed, _, _) = decide(&app, "paid_quiz", Some(at)).await;
        assert!(allowed, "{city} must be allowed");
    }

    let entries = audit(&app, &token).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["actor"], admin_id.0.to_string());
    assert_eq!(entries[0]["action"], "policy.put");
    assert_eq!(entries[0]["target"], "paid_quiz");
    assert_eq!(entries[0]["after"]["regions"]["IN-SK"], "deny");
    assert_eq!(
        entries[0]["before"]["regions"]["IN-AP"], "deny",
        "the configured policy"
    );

    // Sending the policy in force again is a no-op: no second audit entry.
    let again = put_policy(&app, &token, "paid_quiz", restricted_states()).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(audit(&app, &token).await.len(), 1);

    // Dropping the override restores the configured policy (Andhra Pradesh denied again).
    let andhra = (16.5062, 80.648);
    assert!(decide(&app, "paid_quiz", Some(andhra)).await.0);
    for _ in 0..2 {
        let reply = send(
            app.client
                .delete(app.url("/v1/admin/geo/policies/paid_quiz"))
                .bearer_auth(&token),
        )
        .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT);
    }
    assert!(!decide(&app, "paid_quiz", Some(andhra)).await.0);
    let entries = audit(&app, &token).await;
    assert_eq!(entries.len(), 2, "the second delete changed nothing");
    assert_eq!(entries[0]["action"], "policy.delete");

    // Users cannot change policy.
    let user = app.token(UserId::new(), &[Role::User]);
    put_policy(&app, &user, "paid_quiz", restricted_states())
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_input_gets_a_problem_and_changes_nothing() {
    let app = app(|f| f).await;
    let (_, token) = admin(&app);
    let raw = |body: &'static str| {
        app.client
            .post(app.url("/v1/geo/check"))
            .header("content-type", "application/json")
            .body(body)
    };
    check(&app, "paid_quiz", Some((91.0, 78.0)))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_latitude");
    check(&app, "paid_quiz", Some((17.0, -180.5)))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_longitude");
    check(&app, "fantasy_league", Some(MUMBAI))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_feature");
    send(raw(
        r#"{"feature": "paid_quiz", "position": {"lat": NaN, "lon": 78}}"#,
    ))
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "malformed_json");
    send(raw(
        r#"{"feature": "paid_quiz", "position": {"lat": "NaN", "lon": 78}}"#,
    ))
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    send(raw(r#"{"position": {"lat": 17, "lon": 78}}"#))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");

    let before = policies(&app, &token).await;
    put_policy(&app, &token, "Paid Quiz", restricted_states())
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_name");
    put_policy(
        &app,
        &token,
        "paid_quiz",
        json!({"default": "allow", "outside": "deny", "regions": {"IN-TG": "deny"}}),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_region");
    put_policy(
        &app,
        &token,
        "paid_quiz",
        json!({"default": "maybe", "outside": "deny"}),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");

    // A malformed upload names the offending feature.
    let broken = json!({"type": "FeatureCollection", "features": [
        square("LK-1", "Western", 79.8, 6.5),
        {"type": "Feature", "properties": {"code": "LK-2", "name": "Central"},
         "geometry": {"type": "Polygon", "coordinates": [[[80.5, 7.0], [80.9, 7.0], [80.5, 7.0]]]}}
    ]});
    let reply = upload(&app, &token, "sri-lanka", &broken).await;
    reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_geometry");
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(detail.contains(r#"#1 (name "Central")"#), "{detail}");
    let not_geojson = json!({"type": "Feature"});
    upload(&app, &token, "sri-lanka", &not_geojson)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "not_feature_collection");
    upload(&app, &token, "india", &sri_lanka())
        .await
        .assert_problem(StatusCode::CONFLICT, "builtin_region_set");
    let clash =
        json!({"type": "FeatureCollection", "features": [square("IN-TS", "Fake", 79.8, 6.5)]});
    upload(&app, &token, "clash", &clash)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "duplicate_region_code");

    assert_eq!(policies(&app, &token).await, before);
    assert!(audit(&app, &token).await.is_empty());
    let sets = send(
        app.client
            .get(app.url("/v1/admin/geo/regions"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(sets.body.as_array().unwrap().len(), 1, "{}", sets.body);
    app.shutdown().await.unwrap();
}

/// A one-degree-ish square feature with its code in `code`.
fn square(code: &str, name: &str, lon: f64, lat: f64) -> Value {
    json!({"type": "Feature", "properties": {"code": code, "name": name},
           "geometry": {"type": "Polygon", "coordinates": [[
               [lon, lat], [lon + 0.5, lat], [lon + 0.5, lat + 0.8], [lon, lat + 0.8], [lon, lat]]]}})
}

fn sri_lanka() -> Value {
    json!({"type": "FeatureCollection", "features": [square("LK-1", "Western", 79.8, 6.5)]})
}

async fn upload(app: &TestApp, token: &str, set: &str, geojson: &Value) -> Reply {
    send(
        app.client
            .put(app.url(&format!("/v1/admin/geo/regions/{set}?code_property=code")))
            .bearer_auth(token)
            .header("content-type", "application/geo+json")
            .body(geojson.to_string()),
    )
    .await
}

#[tokio::test]
async fn an_uploaded_region_set_takes_part_and_cannot_vanish_under_a_policy() {
    let app = app(|f| f).await;
    let (_, token) = admin(&app);
    let reply = upload(&app, &token, "sri-lanka", &sri_lanka()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["codes"], json!(["LK-1"]));
    // Uploading the same set again writes nothing.
    assert_eq!(
        upload(&app, &token, "sri-lanka", &sri_lanka()).await.status,
        StatusCode::OK
    );

    let rules = json!({"default": "allow", "outside": "deny", "regions": {"LK-1": "deny"}});
    assert_eq!(
        put_policy(&app, &token, "voucher_purchase", rules)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        decide(&app, "voucher_purchase", Some(COLOMBO)).await,
        (false, json!("LK-1"), "region_denied".into())
    );

    let delete = || {
        send(
            app.client
                .delete(app.url("/v1/admin/geo/regions/sri-lanka"))
                .bearer_auth(&token),
        )
    };
    delete()
        .await
        .assert_problem(StatusCode::CONFLICT, "region_in_use");
    let ok = send(
        app.client
            .delete(app.url("/v1/admin/geo/policies/voucher_purchase"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    assert_eq!(delete().await.status, StatusCode::NO_CONTENT);
    assert_eq!(delete().await.status, StatusCode::NO_CONTENT, "idempotent");
    assert_eq!(
        decide(&app, "voucher_purchase", Some(COLOMBO)).await,
        (false, Value::Null, "outside_known_regions".into())
    );
    let actions: Vec<String> = audit(&app, &token)
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        [
            "regions.delete",
            "policy.delete",
            "policy.put",
            "regions.put"
        ]
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_ip_address_decides_without_a_position_and_exposes_a_spoofed_one() {
    let database = MmdbWriter::new()
        .network(Ipv4Addr::new(49, 204, 0, 0), 16, "IN", Some("TS"))
        .network(Ipv4Addr::new(49, 36, 0, 0), 16, "IN", Some("MH"))
        .network(Ipv4Addr::new(8, 8, 8, 0), 24, "US", Some("CA"))
        .build();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("city.mmdb");
    std::fs::write(&path, database).unwrap();
    let app = app(move |f| {
        f.merge(("geofence.ip_database", path.display().to_string()))
            // The test client is the proxy: it says which address the user has.
            .merge(("http.trusted_proxies", ["127.0.0.0/8"]))
    })
    .await;

    let from = |client: &'static str, at| check_from(&app, "paid_quiz", at, Some(client));
    let reply = from("49.204.7.1", None).await;
    assert_eq!(
        (
            &reply.body["allowed"],
            &reply.body["region"],
            &reply.body["basis"]
        ),
        (&json!(false), &json!("IN-TS"), &json!("ip"))
    );
    let reply = from("49.36.7.1", None).await;
    assert_eq!(
        (&reply.body["allowed"], &reply.body["region"]),
        (&json!(true), &json!("IN-MH"))
    );
    // A Telangana address but a fix in Mumbai: one country, the fix decides.
    let reply = from("49.204.7.1", Some(MUMBAI)).await;
    assert_eq!(
        (&reply.body["allowed"], &reply.body["basis"]),
        (&json!(true), &json!("coordinates"))
    );
    // A fix in Mumbai from a Californian address: spoofed or tunnelled.
    let reply = from("8.8.8.8", Some(MUMBAI)).await;
    assert_eq!(
        (&reply.body["allowed"], &reply.body["reason"]),
        (&json!(false), &json!("location_mismatch"))
    );
    // An address the database does not know, no fix: unknown.
    let reply = from("10.1.2.3", None).await;
    assert_eq!(reply.body["reason"], "location_unknown");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_change_on_one_node_applies_on_the_other() {
    // With NATS the announcement carries it; on the in-process bus each node has its own
    // bus, and the reload timer (1 s here) carries it.
    let a = app(|f| f.merge(("geofence.reload_interval_seconds", 1))).await;
    let b = a.another_node().await.unwrap();
    let (_, token) = admin(&a);
    assert!(decide(&b, "paid_quiz", Some(MUMBAI)).await.0);
    let rules = json!({"default": "allow", "outside": "deny", "regions": {"IN-MH": "deny"}});
    assert_eq!(
        put_policy(&a, &token, "paid_quiz", rules).await.status,
        StatusCode::OK
    );
    let started = Instant::now();
    while decide(&b, "paid_quiz", Some(MUMBAI)).await.0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "node b still allows Mumbai 10 s after the change"
        );
        tokio::task::yield_now().await;
    }
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}
