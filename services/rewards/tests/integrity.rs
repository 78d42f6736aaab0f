//! Money paths under the races issue 14 found: one redemption key sent eight times at once
//! (on one node and over two) reveals one code and burns one unit; a redemption a crash
//! left half done is finished by a resend or by its job; a login-streak grant whose first
//! attempt failed is granted, once, when the event is delivered again.
//! On SQLite and the in-process bus by default; on Postgres and NATS with
//! `TEST_DATABASE_URL` and `TEST_NATS_URL`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kernel::{Role, UserId};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use testkit::TestApp;
use uuid::Uuid;

/// Purchases are geofenced: the tests buy from Mumbai.
const MUMBAI: &str = "19.0760,72.8777";

/// On NATS every test node answers the wallet's queue group and shares the campaigns'
/// durable consumer, whatever its database: the tests of this binary take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Rig {
    app: TestApp,
    admin: String,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// One answer to a redemption.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    body: Value,
    retry_after: Option<String>,
}

impl Rig {
    async fn new() -> Self {
        let turn = ONE_AT_A_TIME.lock().await;
        let app = TestApp::spawn(vec![
            Arc::new(jobs::JobsModule),
            Arc::new(accounts::Accounts),
            Arc::new(wallet::Wallet),
            Arc::new(rewards::Rewards),
        ])
        .await
        .unwrap();
        let admin = app.token(UserId::new(), &[Role::Admin]);
        Self {
            app,
            admin,
            _turn: turn,
        }
    }

    async fn admin_send(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    async fn fund(&self, account: &str, coins: u64) {
        let batch = json!({"legs": [{"kind": "transfer", "id": Uuid::now_v7(), "debit": "system:issuance",
            "credit": account, "asset": "COIN", "amount": coins.to_string()}]});
        self.admin_send(reqwest::Method::POST, "/v1/admin/ledger/transfers", batch)
            .await;
    }

    /// A SKU with `codes` codes in stock.
    async fn sku(&self, sku: &str, codes: u64) {
        let body = json!({"brand": "amazon", "brand_name": "Amazon", "name": format!("Voucher {sku}"),
            "denomination": "100.00", "currency": "INR", "price": 100, "pattern": "AMZ-{12:unambiguous/4}",
            "expires_at": "2099-12-31T00:00:00Z"});
        self.admin_send(
            reqwest::Method::PUT,
            &format!("/v1/admin/vouchers/skus/{sku}"),
            body,
        )
        .await;
        self.admin_send(
            reqwest::Method::POST,
            &format!("/v1/admin/vouchers/skus/{sku}/codes"),
            json!({ "top_up_to": codes }),
        )
        .await;
    }

    /// A user holding `units` vouchers of `sku`, bought with coins.
    async fn holder(&self, sku: &str, units: u64) -> String {
        self.holder_of(UserId::new(), sku, units).await
    }

    async fn holder_of(&self, user: UserId, sku: &str, units: u64) -> String {
        let token = self.app.token(user, &[Role::User]);
        self.fund(&format!("user:{}", user.0), 100 * units).await;
        for n in 0..units {
            let response = self
                .app
                .client
                .post(self.app.url(&format!("/v1/vouchers/{sku}/purchase")))
                .bearer_auth(&token)
                .header("idempotency-key", format!("buy-{n}"))
                .header("x-geo-position", MUMBAI)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
        }
        let units = i64::try_from(units).unwrap();
        assert_eq!(balance(&self.app, &token, &units_of(sku)).await, units);
        token
    }
}

fn units_of(sku: &str) -> String {
    format!("VCH_{sku}")
}

/// The available balance of `asset` in the token's wallet.
async fn balance(app: &TestApp, token: &str, asset: &str) -> i64 {
    let wallet: Value = app
        .client
        .get(app.url("/v1/wallet"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    wallet["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|balance| balance["asset"] == asset)
        .map_or(0, |balance| {
            balance["available"].as_str().unwrap().parse().unwrap()
        })
}

async fn redeem(app: &TestApp, token: &str, sku: &str, key: &str) -> Answer {
    let response = app
        .client
        .post(app.url(&format!("/v1/me/vouchers/{sku}/redeem")))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_owned());
    Answer {
        status,
        body: response.json().await.unwrap_or(Value::Null),
        retry_after,
    }
}

/// The code a redemption answer reveals; a `request_in_progress` answer must say when to
/// come back, and the resend then gets the first result.
async fn revealed(app: &TestApp, token: &str, sku: &str, key: &str, first: Answer) -> String {
    let mut answer = first;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match answer.status {
            StatusCode::CREATED => {
                assert_eq!(answer.body["status"], "redeemed", "{answer:?}");
                return answer.body["code"].as_str().unwrap().to_owned();
            }
            StatusCode::CONFLICT if answer.body["code"] == "request_in_progress" => {
                assert!(answer.retry_after.is_some(), "no Retry-After: {answer:?}");
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "still in progress after 15 s: {answer:?}"
                );
                answer = redeem(app, token, sku, key).await;
            }
            _ => panic!("a redemption answered {answer:?}"),
        }
    }
}

/// Codes of `sku` marked redeemed, as the database has them.
async fn redeemed_codes(app: &TestApp, sku: &str) -> u64 {
    rewards::store::code::Entity::find()
        .filter(rewards::store::code::Column::Sku.eq(sku))
        .filter(rewards::store::code::Column::RedeemedAt.is_not_null())
        .count(app.node().db())
        .await
        .unwrap()
}

/// Eight redemptions under one key at once, sent to `nodes` in turn, by a holder of three:
/// one code, the same in every answer, one unit burnt, one code marked redeemed.
async fn eight_at_once(rig: &Rig, nodes: &[&TestApp], sku: &str) {
    rig.sku(sku, 5).await;
    let token = rig.holder(sku, 3).await;
    let sends: Vec<_> = (0..8)
        .map(|n| {
            let app = nodes[n % nodes.len()];
            let token = token.clone();
            async move {
                let first = redeem(app, &token, sku, "once").await;
                revealed(app, &token, sku, "once", first).await
            }
        })
        .collect();
    let codes = futures::future::join_all(sends).await;
    assert!(
        codes.iter().all(|code| *code == codes[0]),
        "one key, one code: {codes:?}"
    );
    let app = &rig.app;
    assert_eq!(
        balance(app, &token, &units_of(sku)).await,
        2,
        "one unit burnt"
    );
    assert_eq!(
        redeemed_codes(app, sku).await,
        1,
        "one code marked redeemed"
    );
    let mine: Value = app
        .client
        .get(app.url("/v1/me/vouchers"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shown: Vec<&str> = mine
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|voucher| voucher["code"].as_str())
        .collect();
    assert_eq!(shown, vec![codes[0].as_str()], "{mine}");
    assert_eq!(
        mine.as_array()
            .unwrap()
            .iter()
            .filter(|voucher| voucher["status"] == "held")
            .count(),
        2
    );

    // Later resends, on any node, still answer the first result.
    for node in nodes {
        let again = redeem(node, &token, sku, "once").await;
        assert_eq!(again.status, StatusCode::CREATED, "{again:?}");
        assert_eq!(again.body["code"], codes[0].as_str());
    }
    // The same key for another SKU is a conflict, and changes nothing.
    rig.sku("OTHER", 1).await;
    let reused = redeem(app, &token, "OTHER", "once").await;
    assert_eq!(
        (reused.status, reused.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("idempotency_key_reused")),
        "{reused:?}"
    );
    // Another key redeems another unit, with another code.
    let second = redeem(app, &token, sku, "twice").await;
    let second = revealed(app, &token, sku, "twice", second).await;
    assert_ne!(second, codes[0]);
    assert_eq!(balance(app, &token, &units_of(sku)).await, 1);
    assert_eq!(redeemed_codes(app, sku).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_redemptions_with_one_key_reveal_one_code_and_burn_one_unit() {
    let rig = Rig::new().await;
    eight_at_once(&rig, &[&rig.app], "ONCE_1").await;
    rig.app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_key_sent_alternately_to_two_nodes_reveals_one_code_and_burns_one_unit() {
    let rig = Rig::new().await;
    let other = rig.app.another_node().await.unwrap();
    eight_at_once(&rig, &[&rig.app, &other], "ONCE_2").await;
    other.shutdown().await.unwrap();
    rig.app.shutdown().await.unwrap();
}

/// What a crash right after the claim leaves: the row pending, its claimer's lease lapsed.
async fn crashed_claim(app: &TestApp, user: Uuid, sku: &str, key: &str) -> Uuid {
    use sea_orm::ActiveValue::Set;
    let id = Uuid::now_v7();
    let then = chrono::Utc::now() - chrono::Duration::hours(1);
    rewards::store::redemption::Entity::insert(rewards::store::redemption::ActiveModel {
        id: Set(id),
        user_id: Set(user),
        idem_key: Set(key.to_owned()),
        sku: Set(sku.to_owned()),
        code_id: Set(None),
        status: Set("pending".into()),
        failure: Set(None),
        lease_until: Set(then + chrono::Duration::seconds(30)),
        created_at: Set(then),
        updated_at: Set(then),
    })
    .exec(app.node().db())
    .await
    .unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redemption_a_crash_left_half_done_is_finished_once_by_a_resend_or_its_job() {
    let rig = Rig::new().await;
    rig.sku("CRASH_1", 5).await;
    let user = UserId::new();
    let token = rig.holder_of(user, "CRASH_1", 3).await;
    let app = &rig.app;

    // Stopped before the burn: a resend carries it out, once however often it comes.
    crashed_claim(app, user.0, "CRASH_1", "before-burn").await;
    let sends = (0..4).map(|_| async {
        let first = redeem(app, &token, "CRASH_1", "before-burn").await;
        revealed(app, &token, "CRASH_1", "before-burn", first).await
    });
    let codes = futures::future::join_all(sends).await;
    assert!(codes.iter().all(|code| *code == codes[0]), "{codes:?}");
    assert_eq!(balance(app, &token, "VCH_CRASH_1").await, 2);
    assert_eq!(redeemed_codes(app, "CRASH_1").await, 1);

    // Stopped after the burn: its job attaches a code and burns nothing more.
    let id = crashed_claim(app, user.0, "CRASH_1", "after-burn").await;
    let bus = app.node().bus().clone();
    let ledger = rewards::ledger::Ledger::new(bus.clone());
    let burn = contracts::wallet::Batch {
        legs: vec![contracts::wallet::Leg::Transfer(
            contracts::wallet::TransferLeg {
                id: rewards::ledger::leg_id(&["redeem", &user.0.to_string(), "after-burn"]),
                debit: format!("user:{}", user.0),
                credit: "system:issuance".into(),
                asset: "VCH_CRASH_1".into(),
                amount: "1".into(),
                memo: Some("redeemed".into()),
            },
        )],
    };
    ledger.execute(&burn).await.unwrap();
    assert_eq!(balance(app, &token, "VCH_CRASH_1").await, 1);
    let db = app.node().db().clone();
    let catalog = rewards::catalog::Catalog::new(
        db.clone(),
        ledger,
        codes::Sealer::new(&[7; 32]),
        jobs::Jobs::new(db, bus),
        chrono::Duration::seconds(30),
    );
    catalog.finish_redemption(id).await.unwrap();
    catalog.finish_redemption(id).await.unwrap();
    assert_eq!(balance(app, &token, "VCH_CRASH_1").await, 1, "one burn");
    assert_eq!(redeemed_codes(app, "CRASH_1").await, 2);
    let again = redeem(app, &token, "CRASH_1", "after-burn").await;
    assert_eq!(again.status, StatusCode::CREATED, "{again:?}");
    let code = again.body["code"].as_str().unwrap();
    assert!(!codes.contains(&code.to_owned()));

    // A key whose burn the wallet refused answers that, and burns nothing later.
    let broke = rig.app.token(UserId::new(), &[Role::User]);
    let refused = redeem(app, &broke, "CRASH_1", "nothing").await;
    assert_eq!(
        (refused.status, refused.body["code"].as_str()),
        (StatusCode::CONFLICT, Some("no_voucher_to_redeem")),
        "{refused:?}"
    );
    let again = redeem(app, &broke, "CRASH_1", "nothing").await;
    assert_eq!(again.body["code"], "no_voucher_to_redeem");
    rig.app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_streak_grant_that_failed_once_is_granted_when_the_event_comes_again() {
    let rig = Rig::new().await;
    rig.fund("system:reward_pool", 1000).await;
    let start = chrono::Utc::now() - chrono::Duration::days(10);
    rig.admin_send(
        reqwest::Method::PUT,
        &format!("/v1/admin/rewards/campaigns/{}", Uuid::now_v7()),
        json!({"name": "2-day streak", "trigger": "login_streak", "streak_days": 2, "amount": 50,
            "budget": 1000, "per_user_cap": 5, "starts_at": start, "ends_at": "2099-01-01T00:00:00Z"}),
    )
    .await;
    let db = rig.app.node().db().clone();
    let bus = rig.app.node().bus().clone();
    // The consumer's own work, called directly so the test decides when each delivery
    // happens: the node's consumer sees none of these events.
    let campaigns = rewards::campaigns::Campaigns::new(
        db.clone(),
        rewards::ledger::Ledger::new(bus.clone()),
        jobs::Jobs::new(db.clone(), bus),
    );
    let user = UserId::new();
    let login = |at: chrono::DateTime<chrono::Utc>| {
        bus::Message::json(
            <contracts::accounts::UserLoggedIn as contracts::Event>::SUBJECT,
            &contracts::accounts::UserLoggedIn { user_id: user, at },
        )
        .unwrap()
    };
    let day = |n: i64| start + chrono::Duration::days(n) + chrono::Duration::hours(1);
    assert_eq!(campaigns.on_event(&login(day(1))).await.unwrap(), 0);

    // The second day's login meets a database that refuses the grant (its table is
    // away), as a failover or a full disk would: the delivery fails and will come again.
    let execute = |sql: &'static str| {
        let db = db.clone();
        async move {
            db.execute_unprepared(sql).await.unwrap();
        }
    };
    execute("ALTER TABLE rewards_grants RENAME TO rewards_grants_away").await;
    let second = login(day(2));
    let failed = campaigns.on_event(&second).await;
    assert!(
        failed.is_err(),
        "the grant could not be written: {failed:?}"
    );
    execute("ALTER TABLE rewards_grants_away RENAME TO rewards_grants").await;

    // Redelivered: the streak of two is rewarded now, and once however often it comes.
    assert_eq!(
        campaigns.on_event(&second).await.unwrap(),
        1,
        "the redelivered login grants the streak reward"
    );
    assert_eq!(campaigns.on_event(&second).await.unwrap(), 0);
    let token = rig.app.token(user, &[Role::User]);
    let app = &rig.app;
    testkit::eventually("the reward is paid", Duration::from_secs(10), || async {
        balance(app, &token, "COIN").await == 50
    })
    .await;
    let campaigns = rig
        .admin_send(
            reqwest::Method::GET,
            "/v1/admin/rewards/campaigns",
            json!({}),
        )
        .await;
    assert_eq!(campaigns[0]["spent"], 50);
    rig.app.shutdown().await.unwrap();
}
