//! Voucher redemption through the real binary: two `platform serve` nodes on one database
//! (and, under `TEST_NATS_URL`, one bus of their own), one redemption key sent eight times
//! at once and spread over both. One code is revealed, one unit burnt, and the ledger
//! verifies clean.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use kernel::{Role, UserId};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// Purchases are geofenced: the buyer is in Mumbai.
const MUMBAI: &str = "19.0760,72.8777";
const SKU: &str = "E2E_ONCE";

async fn send(
    client: &reqwest::Client,
    request: reqwest::RequestBuilder,
) -> (StatusCode, Value, Option<String>) {
    let response = client.execute(request.build().unwrap()).await.unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_owned());
    (
        status,
        response.json().await.unwrap_or(Value::Null),
        retry_after,
    )
}

/// Sends the redemption until it has its result (a `request_in_progress` says when to come
/// back), and returns the code it reveals.
async fn redeem(client: reqwest::Client, base: String, token: String, key: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let request = client
            .post(format!("{base}/v1/me/vouchers/{SKU}/redeem"))
            .bearer_auth(&token)
            .header("idempotency-key", key);
        let (status, body, retry_after) = send(&client, request).await;
        match status {
            StatusCode::CREATED => return body["code"].as_str().unwrap().to_owned(),
            StatusCode::CONFLICT if body["code"] == "request_in_progress" => {
                assert!(retry_after.is_some(), "no Retry-After: {body}");
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "still in progress after 20 s"
                );
            }
            other => panic!("a redemption answered {other}: {body}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_redemptions_with_one_key_over_two_nodes_reveal_one_code_and_burn_one_unit() {
    let deployment = common::Deployment::new().await;
    let nodes = [deployment.node(&[]), deployment.node(&[])];
    let client = &deployment.client;
    let admin = deployment.admin_token();

    let sku = json!({"brand": "amazon", "brand_name": "Amazon", "name": "Amazon Pay ₹100",
        "denomination": "100.00", "currency": "INR", "price": 100,
        "pattern": "AMZ-{12:unambiguous/4}", "expires_at": "2099-12-31T00:00:00Z"});
    let request = client
        .put(nodes[0].url(&format!("/v1/admin/vouchers/skus/{SKU}")))
        .bearer_auth(&admin)
        .json(&sku);
    let (status, body, _) = send(client, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let request = client
        .post(nodes[1].url(&format!("/v1/admin/vouchers/skus/{SKU}/codes")))
        .bearer_auth(&admin)
        .json(&json!({"top_up_to": 5}));
    let (status, body, _) = send(client, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A user buys three vouchers with coins, one purchase per node in turn.
    let user = UserId::new();
    let token = testkit::token(user, &[Role::User]);
    deployment.fund(&nodes[0], user.0, "COIN", "300").await;
    for n in 0..3 {
        let request = client
            .post(nodes[n % 2].url(&format!("/v1/vouchers/{SKU}/purchase")))
            .bearer_auth(&token)
            .header("idempotency-key", format!("buy-{n}"))
            .header("x-geo-position", MUMBAI);
        let (status, body, _) = send(client, request).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["status"], "paid");
    }

    // Eight sends of one key at once, alternately to each node.
    let mut sends = tokio::task::JoinSet::new();
    for n in 0..8 {
        let base = nodes[n % 2].base.clone();
        sends.spawn(redeem(client.clone(), base, token.clone(), "redeem-once"));
    }
    let codes = sends.join_all().await;
    assert!(
        codes.iter().all(|code| *code == codes[0]),
        "one key, one code: {codes:?}"
    );

    for node in &nodes {
        let request = client.get(node.url("/v1/wallet")).bearer_auth(&token);
        let (_, wallet, _) = send(client, request).await;
        let units = wallet["balances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|balance| balance["asset"] == format!("VCH_{SKU}"))
            .map(|balance| balance["available"].clone());
        assert_eq!(units, Some(json!("2")), "one unit burnt: {wallet}");
        let request = client.get(node.url("/v1/me/vouchers")).bearer_auth(&token);
        let (_, mine, _) = send(client, request).await;
        let shown: Vec<&str> = mine
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|voucher| voucher["code"].as_str())
            .collect();
        assert_eq!(shown, vec![codes[0].as_str()], "one code revealed: {mine}");
    }
    deployment.verify_ledger();
}
