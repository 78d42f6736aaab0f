//! The wallet through its HTTP API and bus commands, on the real node (SQLite and the local
//! bus by default; Postgres and NATS with TEST_DATABASE_URL / TEST_NATS_URL).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::StreamExt;
use kernel::{Role, UserId};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use testkit::TestApp;
use uuid::Uuid;
use wallet::store;

struct Wallet {
    app: TestApp,
    admin: String,
}

fn id() -> String {
    Uuid::now_v7().to_string()
}

fn user() -> Uuid {
    Uuid::now_v7()
}

fn transfer(debit: &str, credit: &str, asset: &str, amount: &str) -> Value {
    json!({"kind": "transfer", "id": id(), "debit": debit, "credit": credit, "asset": asset, "amount": amount})
}

fn hold(debit: &str, credit: &str, amount: &str, timeout_seconds: u32) -> Value {
    json!({"kind": "hold", "id": id(), "debit": debit, "credit": credit, "asset": "COIN", "amount": amount, "timeout_seconds": timeout_seconds})
}

impl Wallet {
    async fn new() -> Self {
        // One voucher SKU as an asset, as the rewards service will configure them.
        let app = TestApp::spawn_with(
            vec![Arc::new(jobs::JobsModule), Arc::new(wallet::Wallet)],
            |figment| {
                figment.merge((
                    "wallet.assets",
                    json!([{"code": "VOUCHER_TEST", "scale": 0}]),
                ))
            },
        )
        .await
        .unwrap();
        Self::on(app)
    }

    fn on(app: TestApp) -> Self {
        let admin = app.token(UserId::new(), &[Role::Admin]);
        Self { app, admin }
    }

    async fn batch(&self, legs: Vec<Value>) -> (StatusCode, Value) {
        let response = self
            .app
            .client
            .post(self.app.url("/v1/admin/ledger/transfers"))
            .bearer_auth(&self.admin)
            .json(&json!({ "legs": legs }))
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn ok(&self, legs: Vec<Value>) -> Value {
        let (status, body) = self.batch(legs).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Mints `amount` of `asset` into `user`'s wallet.
    async fn issue(&self, user: Uuid, asset: &str, amount: &str) {
        self.ok(vec![transfer(
            "system:issuance",
            &format!("user:{user}"),
            asset,
            amount,
        )])
        .await;
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let response = self
            .app
            .client
            .get(self.app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    fn token(&self, user: Uuid) -> String {
        self.app.token(UserId(user), &[Role::User])
    }

    /// `(posted, pending, available)` of `user` in `asset`, as the user sees them.
    async fn balance(&self, user: Uuid, asset: &str) -> (String, String, String) {
        let (status, body) = self.get("/v1/wallet", &self.token(user)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let found = body["balances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["asset"] == asset)
            .cloned();
        match found {
            Some(b) => (
                b["posted"].as_str().unwrap().to_owned(),
                b["pending"].as_str().unwrap().to_owned(),
                b["available"].as_str().unwrap().to_owned(),
            ),
            None => ("0".into(), "0".into(), "0".into()),
        }
    }

    /// Transfers and open holds: everything a request could have written.
    async fn rows(&self) -> (u64, u64) {
        let db = self.app.node().db();
        (
            store::transfer::Entity::find().count(db).await.unwrap(),
            store::hold::Entity::find().count(db).await.unwrap(),
        )
    }

    async fn verify(&self) {
        let report = wallet::verify::verify(self.app.node().db()).await.unwrap();
        assert!(report.is_sound(), "{report}");
    }
}

fn triple(posted: &str, pending: &str, available: &str) -> (String, String, String) {
    (posted.into(), pending.into(), available.into())
}

#[tokio::test]
async fn transfers_move_exact_amounts_between_wallets() {
    let w = Wallet::new().await;
    let (asha, ravi) = (user(), user());
    w.issue(asha, "COIN", "1000").await;
    w.issue(asha, "INR", "250.75").await;
    let receipt = w
        .ok(vec![transfer(
            &format!("user:{asha}"),
            &format!("user:{ravi}"),
            "INR",
            "100.25",
        )])
        .await;
    assert_eq!(receipt["replayed"], false);
    assert_eq!(receipt["transfers"][0]["amount"], "100.25");
    assert_eq!(receipt["transfers"][0]["kind"], "transfer");

    assert_eq!(
        w.balance(asha, "INR").await,
        triple("150.50", "0.00", "150.50")
    );
    assert_eq!(
        w.balance(ravi, "INR").await,
        triple("100.25", "0.00", "100.25")
    );
    assert_eq!(w.balance(asha, "COIN").await, triple("1000", "0", "1000"));
    w.verify().await;
}

#[tokio::test]
async fn bad_amounts_and_accounts_are_refused_and_change_nothing() {
    let w = Wallet::new().await;
    let asha = user();
    let me = format!("user:{asha}");
    w.issue(asha, "INR", "10").await;
    let coin_account = w.balance(asha, "INR").await;
    let before = w.rows().await;
    let (_, wallet) = w.get("/v1/wallet", &w.token(asha)).await;
    let inr_account = wallet["balances"][0]["account_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let cases = [
        (
            transfer(&me, "system:revenue", "INR", "0"),
            "non_positive_amount",
        ),
        (
            transfer(&me, "system:revenue", "INR", "-5"),
            "non_positive_amount",
        ),
        (
            transfer(&me, "system:revenue", "INR", "0.001"),
            "too_many_decimals",
        ),
        (
            transfer(&me, "system:revenue", "COIN", "1.5"),
            "too_many_decimals",
        ),
        (
            transfer(&me, "system:revenue", "INR", "1e3"),
            "invalid_amount",
        ),
        (
            transfer(&me, "system:revenue", "DOGE", "1"),
            "unknown_asset",
        ),
        (
            transfer(&inr_account, "system:revenue", "COIN", "1"),
            "asset_mismatch",
        ),
        (transfer(&me, &me, "INR", "1"), "same_account"),
        (
            transfer(&me, "system:nowhere", "INR", "1"),
            "unknown_account",
        ),
        (
            transfer(&me, "user:not-a-uuid", "INR", "1"),
            "unknown_account",
        ),
        (
            transfer(&me, "system:revenue", "INR", "10.01"),
            "insufficient_funds",
        ),
        (hold(&me, "system:revenue", "1", 0), "invalid_timeout"),
    ];
    for (leg, code) in cases {
        let (status, body) = w.batch(vec![leg.clone()]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{leg}: {body}");
        assert_eq!(body["code"], code, "{leg}: {body}");
    }
    // A number where a decimal string belongs never reaches the ledger.
    let (status, body) = w
        .batch(vec![json!({"kind": "transfer", "id": id(), "debit": me, "credit": "system:revenue", "asset": "INR", "amount": 1.1})])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = w.batch(vec![]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_batch"))
    );

    assert_eq!(w.rows().await, before);
    assert_eq!(w.balance(asha, "INR").await, coin_account);
    w.verify().await;
}

#[tokio::test]
async fn replaying_an_id_returns_the_first_result_and_a_different_body_conflicts() {
    let w = Wallet::new().await;
    let asha = user();
    w.issue(asha, "COIN", "100").await;
    let leg = transfer(&format!("user:{asha}"), "system:revenue", "COIN", "30");
    let first = w.ok(vec![leg.clone()]).await;
    let (status, again) = w.batch(vec![leg.clone()]).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["replayed"], true);
    assert_eq!(again["transfers"], first["transfers"]);
    assert_eq!(w.balance(asha, "COIN").await, triple("70", "0", "70"));

    let mut changed = leg.clone();
    changed["amount"] = json!("31");
    let (status, body) = w.batch(vec![changed]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("id_conflict")),
        "{body}"
    );
    assert_eq!(w.balance(asha, "COIN").await, triple("70", "0", "70"));

    // A replay is answered even when the wallet could no longer pay for it.
    w.ok(vec![transfer(
        &format!("user:{asha}"),
        "system:revenue",
        "COIN",
        "70",
    )])
    .await;
    let (status, again) = w.batch(vec![leg]).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["transfers"], first["transfers"]);
    w.verify().await;
}

#[tokio::test]
async fn a_linked_batch_posts_all_legs_or_none() {
    let w = Wallet::new().await;
    let asha = user();
    let me = format!("user:{asha}");
    w.issue(asha, "COIN", "500").await;
    w.ok(vec![transfer(
        "system:issuance",
        "system:voucher_treasury",
        "VOUCHER_TEST",
        "10",
    )])
    .await;
    let before = w.rows().await;

    // Buy a voucher: coins out, one voucher in, a fee. The fee overdraws: nothing happens.
    let (status, body) = w
        .batch(vec![
            transfer(&me, "system:voucher_treasury", "COIN", "450"),
            transfer("system:voucher_treasury", &me, "VOUCHER_TEST", "1"),
            transfer(&me, "system:fees", "COIN", "51"),
        ])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("insufficient_funds")),
        "{body}"
    );
    assert_eq!(w.rows().await, before);
    assert_eq!(w.balance(asha, "COIN").await, triple("500", "0", "500"));
    assert_eq!(w.balance(asha, "VOUCHER_TEST").await, triple("0", "0", "0"));

    let receipt = w
        .ok(vec![
            transfer(&me, "system:voucher_treasury", "COIN", "450"),
            transfer("system:voucher_treasury", &me, "VOUCHER_TEST", "1"),
            transfer(&me, "system:fees", "COIN", "50"),
        ])
        .await;
    assert_eq!(receipt["transfers"].as_array().unwrap().len(), 3);
    assert_eq!(w.balance(asha, "COIN").await, triple("0", "0", "0"));
    assert_eq!(w.balance(asha, "VOUCHER_TEST").await, triple("1", "0", "1"));
    w.verify().await;
}

#[tokio::test]
async fn a_system_account_without_the_overdraft_flag_cannot_go_negative() {
    let w = Wallet::new().await;
    let (status, body) = w
        .batch(vec![transfer(
            "system:reward_pool",
            &format!("user:{}", user()),
            "COIN",
            "1",
        )])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("insufficient_funds")),
        "{body}"
    );
    // Issuance may: it is where coins come from.
    w.ok(vec![transfer(
        "system:issuance",
        "system:reward_pool",
        "COIN",
        "5",
    )])
    .await;
    w.ok(vec![transfer(
        "system:reward_pool",
        &format!("user:{}", user()),
        "COIN",
        "5",
    )])
    .await;
    w.verify().await;
}

#[tokio::test]
async fn holds_reserve_then_post_in_part_or_void_once() {
    let w = Wallet::new().await;
    let asha = user();
    let me = format!("user:{asha}");
    w.issue(asha, "COIN", "100").await;

    let held = hold(&me, "system:revenue", "80", 600);
    w.ok(vec![held.clone()]).await;
    assert_eq!(w.balance(asha, "COIN").await, triple("100", "80", "20"));
    // Held coins cannot be spent twice.
    let (status, body) = w
        .batch(vec![transfer(&me, "system:fees", "COIN", "21")])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("insufficient_funds")),
        "{body}"
    );

    let pending = held["id"].as_str().unwrap();
    let (status, body) = w
        .batch(vec![
            json!({"kind": "post", "id": id(), "pending_id": pending, "amount": "81"}),
        ])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("post_exceeds_hold")),
        "{body}"
    );
    let posted = w
        .ok(vec![
            json!({"kind": "post", "id": id(), "pending_id": pending, "amount": "60"}),
        ])
        .await;
    assert_eq!(posted["transfers"][0]["amount"], "60");
    assert_eq!(w.balance(asha, "COIN").await, triple("40", "0", "40"));

    let (status, body) = w
        .batch(vec![
            json!({"kind": "void", "id": id(), "pending_id": pending}),
        ])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("hold_resolved")),
        "{body}"
    );
    let (status, body) = w
        .batch(vec![
            json!({"kind": "void", "id": id(), "pending_id": id()}),
        ])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("hold_not_found")),
        "{body}"
    );

    let second = hold(&me, "system:revenue", "40", 600);
    w.ok(vec![second.clone()]).await;
    w.ok(vec![
        json!({"kind": "void", "id": id(), "pending_id": second["id"]}),
    ])
    .await;
    assert_eq!(w.balance(asha, "COIN").await, triple("40", "0", "40"));
    w.verify().await;
}

#[tokio::test]
async fn holds_expire_at_their_deadline_with_an_event() {
    let w = Wallet::new().await;
    let asha = user();
    let me = format!("user:{asha}");
    w.issue(asha, "COIN", "10").await;
    let mut expired = w
        .app
        .node()
        .bus()
        .subscribe("wallet.v1.transfer.expired")
        .await
        .unwrap();
    let held = hold(&me, "system:revenue", "10", 1);
    w.ok(vec![held.clone()]).await;
    assert_eq!(w.balance(asha, "COIN").await, triple("10", "10", "0"));

    // On a shared NATS other tests' holds expire too: wait for this one.
    let record = loop {
        let event = tokio::time::timeout(Duration::from_secs(30), expired.next())
            .await
            .expect("the hold expires")
            .unwrap();
        let record: Value = serde_json::from_slice(&event.payload).unwrap();
        if record["pending_id"] == held["id"] {
            break record;
        }
    };
    assert_eq!(record["amount"], "10");
    assert_eq!(w.balance(asha, "COIN").await, triple("10", "0", "10"));
    w.verify().await;
}

/// A hold's expiry is a job due at its deadline, enqueued in the hold's own transaction:
/// a batch refused as a whole leaves no job behind; a hold posted before its deadline
/// leaves its job nothing to do, and the post stands.
#[tokio::test]
async fn a_hold_expiry_is_a_job_that_exists_only_with_its_hold() {
    let w = Wallet::new().await;
    let asha = user();
    let me = format!("user:{asha}");
    w.issue(asha, "COIN", "10").await;
    let refused = hold(&me, "system:revenue", "5", 1);
    let (status, _) = w
        .batch(vec![
            refused.clone(),
            transfer(&me, "system:revenue", "COIN", "20"),
        ])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let kept = hold(&me, "system:revenue", "4", 1);
    w.ok(vec![kept.clone()]).await;
    w.ok(vec![
        json!({"kind": "post", "id": id(), "pending_id": kept["id"], "amount": "4"}),
    ])
    .await;

    let jobs = jobs::Jobs::new(w.app.node().db().clone(), w.app.node().bus().clone());
    let expiry_jobs = || async {
        jobs.list(&jobs::ListFilter {
            queue: Some("wallet".into()),
            ..jobs::ListFilter::default()
        })
        .await
        .unwrap()
    };
    let listed = expiry_jobs().await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].args, kept["id"]);
    assert_eq!(listed[0].worker, "wallet.expire_hold");

    // Past the deadline the job runs, finds the hold posted, and changes nothing.
    testkit::eventually("the expiry job ran", Duration::from_secs(15), || async {
        expiry_jobs().await[0].state == jobs::JobState::Completed
    })
    .await;
    assert_eq!(w.balance(asha, "COIN").await, triple("6", "0", "6"));
    w.verify().await;
}

#[tokio::test]
async fn holds_due_while_no_node_ran_expire_once_the_next_starts() {
    let w = Wallet::new().await;
    let asha = user();
    let me = format!("user:{asha}");
    w.issue(asha, "COIN", "10").await;
    let held = w.ok(vec![hold(&me, "system:revenue", "10", 1)]).await;
    let deadline: chrono::DateTime<chrono::Utc> = held["transfers"][0]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let stopped = w.app.stop().await.unwrap();
    // The deadline passes while no node runs.
    let wait = (deadline - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(50)).await;
    let w = Wallet::on(stopped.start().await.unwrap());

    // The hold's expiry job, due while no node ran, runs once the next one starts.
    testkit::eventually(
        "the overdue hold expired after the restart",
        Duration::from_secs(15),
        || async { w.balance(asha, "COIN").await == triple("10", "0", "10") },
    )
    .await;
    assert_eq!(w.rows().await.1, 0);
    w.verify().await;
}

#[tokio::test]
async fn every_committed_transfer_is_announced_once_under_its_id_and_refusals_never() {
    let w = Wallet::new().await;
    let asha = user();
    let me = format!("user:{asha}");
    let mut events = w
        .app
        .node()
        .bus()
        .subscribe("wallet.v1.transfer.>")
        .await
        .unwrap();
    let issued = w
        .ok(vec![transfer("system:issuance", &me, "COIN", "5")])
        .await;
    let (status, _) = w
        .batch(vec![transfer(&me, "system:revenue", "COIN", "6")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let spent = w
        .ok(vec![transfer(&me, "system:revenue", "COIN", "5")])
        .await;

    // Events leave in commit order: the refused transfer would sit between these two.
    // (On a shared NATS, other tests' events are skipped.)
    let mine = |record: &Value| record["debit_owner"] == me || record["credit_owner"] == me;
    for expected in [&issued, &spent] {
        let (event, record) = loop {
            let event = tokio::time::timeout(Duration::from_secs(30), events.next())
                .await
                .expect("an event")
                .unwrap();
            let record: Value = serde_json::from_slice(&event.payload).unwrap();
            if mine(&record) {
                break (event, record);
            }
        };
        let id = expected["transfers"][0]["id"].as_str().unwrap();
        assert_eq!(event.subject, "wallet.v1.transfer.posted");
        assert_eq!(event.id(), Some(id), "the message id is the transfer id");
        assert_eq!(record, expected["transfers"][0]);
    }
}

#[tokio::test]
async fn history_pages_newest_first_and_filters_by_asset() {
    let w = Wallet::new().await;
    let asha = user();
    let me = format!("user:{asha}");
    for amount in ["1", "2", "3", "4", "5"] {
        w.issue(asha, "COIN", amount).await;
    }
    w.issue(asha, "INR", "9.99").await;
    w.ok(vec![transfer(&me, "system:revenue", "COIN", "6")])
        .await;
    let token = w.token(asha);

    let (status, page) = w.get("/v1/wallet/transactions?limit=4", &token).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let amounts = |page: &Value| -> Vec<(String, String)> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                (
                    item["amount"].as_str().unwrap().to_owned(),
                    item["direction"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let pair = |a: &str, d: &str| (a.to_owned(), d.to_owned());
    assert_eq!(
        amounts(&page),
        vec![
            pair("6", "out"),
            pair("9.99", "in"),
            pair("5", "in"),
            pair("4", "in")
        ]
    );
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, next) = w
        .get(
            &format!("/v1/wallet/transactions?limit=4&cursor={cursor}"),
            &token,
        )
        .await;
    assert_eq!(
        amounts(&next),
        vec![pair("3", "in"), pair("2", "in"), pair("1", "in")]
    );
    assert!(next.get("next_cursor").is_none());

    let (_, coins) = w.get("/v1/wallet/transactions?asset=INR", &token).await;
    assert_eq!(amounts(&coins), vec![pair("9.99", "in")]);
    // Someone else's wallet shows none of it.
    let (_, other) = w.get("/v1/wallet/transactions", &w.token(user())).await;
    assert_eq!(other["items"], json!([]));

    for (query, status, code) in [
        ("limit=0", StatusCode::UNPROCESSABLE_ENTITY, "invalid_limit"),
        ("cursor=abc", StatusCode::BAD_REQUEST, "invalid_cursor"),
        (
            "asset=NOPE",
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_asset",
        ),
    ] {
        let (got, body) = w
            .get(&format!("/v1/wallet/transactions?{query}"), &token)
            .await;
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn operators_see_accounts_and_only_admins_move_money() {
    let w = Wallet::new().await;
    let asha = user();
    w.issue(asha, "COIN", "42").await;
    let (_, wallet) = w.get("/v1/wallet", &w.token(asha)).await;
    let account = wallet["balances"][0]["account_id"].as_str().unwrap();

    let (status, view) = w
        .get(&format!("/v1/admin/ledger/accounts/{account}"), &w.admin)
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["owner"], format!("user:{asha}"));
    assert_eq!(view["credits_posted"], "42");
    assert_eq!(view["flags"], json!(["debits_must_not_exceed_credits"]));

    let (status, body) = w
        .get(&format!("/v1/admin/ledger/accounts/{}", id()), &w.admin)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("account_not_found"))
    );
    let (status, _) = w
        .get(
            &format!("/v1/admin/ledger/accounts/{account}"),
            &w.token(asha),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let response = w
        .app
        .client
        .post(w.app.url("/v1/admin/ledger/transfers"))
        .bearer_auth(w.token(asha))
        .json(&json!({"legs": [transfer("system:issuance", &format!("user:{asha}"), "COIN", "1000")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(w.balance(asha, "COIN").await, triple("42", "0", "42"));
}

#[tokio::test]
async fn other_services_use_the_ledger_over_the_bus() {
    use contracts::Command;
    use contracts::wallet::{
        BalanceQuery, Balances, Batch, HoldLeg, Leg, Receipt, TransferLeg, VoidLeg,
    };
    // The in-process bus: on a shared NATS every test's node answers in the same queue
    // group, each with its own database. (The bus behaves the same on both: see the bus
    // conformance suite.)
    let app = TestApp::spawn_with(
        vec![Arc::new(jobs::JobsModule), Arc::new(wallet::Wallet)],
        |figment| figment.merge(("bus.nats_url", Option::<String>::None)),
    )
    .await
    .unwrap();
    let w = Wallet::on(app);
    assert_eq!(w.app.node().bus().backend(), "local");
    let bus = w.app.node().bus().clone();
    let asha = user();
    async fn ask<C: Command>(
        bus: &bus::DynBus,
        command: &C,
    ) -> Result<C::Reply, contracts::Refusal> {
        let request = bus::Message::json(C::SUBJECT, command).unwrap();
        let reply = bus.request(request, Duration::from_secs(10)).await.unwrap();
        reply.decode().unwrap()
    }
    let mint = Batch {
        legs: vec![Leg::Transfer(TransferLeg {
            id: Uuid::now_v7(),
            debit: "system:issuance".into(),
            credit: format!("user:{asha}"),
            asset: "COIN".into(),
            amount: "50".into(),
            memo: Some("welcome bonus".into()),
        })],
    };
    let receipt: Receipt = ask(&bus, &mint).await.unwrap();
    assert_eq!(receipt.transfers[0].memo.as_deref(), Some("welcome bonus"));

    let held = HoldLeg {
        id: Uuid::now_v7(),
        debit: format!("user:{asha}"),
        credit: "system:revenue".into(),
        asset: "COIN".into(),
        amount: "51".into(),
        timeout_seconds: 60,
        memo: None,
    };
    let refusal = ask(&bus, &held).await.unwrap_err();
    assert_eq!(refusal.code, "insufficient_funds");
    let held = HoldLeg {
        amount: "20".into(),
        ..held
    };
    ask(&bus, &held).await.unwrap();
    let balances: Balances = ask(
        &bus,
        &BalanceQuery {
            owner: format!("user:{asha}"),
        },
    )
    .await
    .unwrap();
    assert_eq!(balances.balances[0].available, "30");
    ask(
        &bus,
        &VoidLeg {
            id: Uuid::now_v7(),
            pending_id: held.id,
            memo: None,
        },
    )
    .await
    .unwrap();
    let balances: Balances = ask(
        &bus,
        &BalanceQuery {
            owner: format!("user:{asha}"),
        },
    )
    .await
    .unwrap();
    assert_eq!(balances.balances[0].available, "50");
}

#[tokio::test]
async fn concurrent_spending_of_one_wallet_never_overdraws_it() {
    let w = Arc::new(Wallet::new().await);
    let asha = user();
    w.issue(asha, "COIN", "100").await;
    // 60 requests of 7 coins race for 100 coins: exactly 14 can succeed.
    let attempts = (0..60).map(|_| {
        let w = w.clone();
        tokio::spawn(async move {
            w.batch(vec![transfer(
                &format!("user:{asha}"),
                "system:revenue",
                "COIN",
                "7",
            )])
            .await
            .0
        })
    });
    let statuses = futures::future::join_all(attempts).await;
    let won = statuses
        .iter()
        .filter(|s| *s.as_ref().unwrap() == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| *s.as_ref().unwrap() == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    assert_eq!((won, refused), (14, 46));
    assert_eq!(w.balance(asha, "COIN").await, triple("2", "0", "2"));
    w.verify().await;
}

#[tokio::test]
async fn verification_names_a_tampered_balance() {
    let w = Wallet::new().await;
    let asha = user();
    w.issue(asha, "COIN", "10").await;
    w.verify().await;
    let db = w.app.node().db();
    db.execute_unprepared(
        "UPDATE wallet_accounts SET credits_posted = credits_posted + 1 WHERE owner LIKE 'user:%'",
    )
    .await
    .unwrap();
    let report = wallet::verify::verify(db).await.unwrap();
    assert!(!report.is_sound());
    let text = report.to_string();
    assert!(text.contains(&format!("user:{asha}")), "{text}");
    assert!(text.contains("COIN does not sum to zero"), "{text}");
}

/// Totals stop at the ledger's limit (2^60 minor units) instead of overflowing. Credits of
/// the largest amount, 64 legs a batch, would pass `i64::MAX` by the 145th batch (SQLite then
/// silently stores a float, Postgres fails the statement): the ledger refuses the batch
/// that would pass the limit with `limit_exceeded`, long before that, changes nothing for it,
/// and every balance stays exact.
#[tokio::test]
async fn totals_stop_at_the_ledger_limit_and_nothing_overflows() {
    let w = Wallet::new().await;
    let (asha, ravi) = (user(), user());
    let most: i64 = 1_000_000_000_000_000; // MAX_AMOUNT: the largest leg
    let batch = |to: Uuid| -> Vec<Value> {
        (0..64)
            .map(|_| {
                transfer(
                    "system:issuance",
                    &format!("user:{to}"),
                    "COIN",
                    &most.to_string(),
                )
            })
            .collect()
    };
    let mut credited: i64 = 0;
    let mut refusal = None;
    for _ in 0..150 {
        let before = w.rows().await;
        let (status, body) = w.batch(batch(asha)).await;
        if status == StatusCode::CREATED {
            credited += 64 * most;
            continue;
        }
        assert_eq!(w.rows().await, before, "a refused batch writes nothing");
        refusal = Some((status, body));
        break;
    }
    let (status, body) = refusal.expect("the ledger refuses before any total overflows");
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "limit_exceeded", "{body}");
    assert_eq!(
        credited,
        18 * 64 * most,
        "18 batches fit under 2^60, the 19th does not"
    );
    assert_eq!(
        w.balance(asha, "COIN").await,
        triple(&credited.to_string(), "0", &credited.to_string()),
        "the balance is exact"
    );

    // One more leg would still pass the limit, on asha's credits and on issuance's debits.
    for to in [asha, ravi] {
        let (status, body) = w
            .batch(vec![transfer(
                "system:issuance",
                &format!("user:{to}"),
                "COIN",
                &most.to_string(),
            )])
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["code"], "limit_exceeded", "{body}");
    }
    // What fits still moves exactly.
    w.ok(vec![transfer(
        &format!("user:{asha}"),
        &format!("user:{ravi}"),
        "COIN",
        "999999999999999",
    )])
    .await;
    assert_eq!(
        w.balance(ravi, "COIN").await,
        triple("999999999999999", "0", "999999999999999")
    );
    w.verify().await;
}

/// A node takes at most `wallet.bus_concurrency` bus commands at once: a burst beyond it is
/// refused at once with `ledger_unavailable` (the callers' "retry later") and changes
/// nothing, instead of spawning a task per request without end; every request is answered.
#[tokio::test]
async fn a_burst_of_bus_commands_past_the_bound_is_refused_and_changes_nothing() {
    use contracts::wallet::{Batch, Leg, Receipt, TransferLeg};
    // The in-process bus, as in the test above: its queue group is this node's alone.
    let app = TestApp::spawn_with(
        vec![Arc::new(jobs::JobsModule), Arc::new(wallet::Wallet)],
        |figment| {
            figment
                .merge(("bus.nats_url", Option::<String>::None))
                .merge(("wallet.bus_concurrency", 2))
        },
    )
    .await
    .unwrap();
    let w = Wallet::on(app);
    let bus = w.app.node().bus().clone();
    let asha = user();
    let mint = |id: Uuid| Batch {
        legs: vec![Leg::Transfer(TransferLeg {
            id,
            debit: "system:issuance".into(),
            credit: format!("user:{asha}"),
            asset: "COIN".into(),
            amount: "1".into(),
            memo: None,
        })],
    };
    let send = |batch: Batch| {
        let bus = bus.clone();
        async move {
            let request =
                bus::Message::json(<Batch as contracts::Command>::SUBJECT, &batch).unwrap();
            let reply = bus.request(request, Duration::from_secs(10)).await.unwrap();
            let answer: Result<Receipt, contracts::Refusal> = reply.decode().unwrap();
            (batch, answer)
        }
    };
    let ids: Vec<Uuid> = (0..64).map(|_| Uuid::now_v7()).collect();
    let answers = futures::future::join_all(ids.iter().map(|id| send(mint(*id)))).await;
    let mut refused = Vec::new();
    for (batch, answer) in answers {
        match answer {
            Ok(_) => {}
            Err(refusal) => {
                assert_eq!(refusal.code, "ledger_unavailable", "{}", refusal.message);
                refused.push(batch);
            }
        }
    }
    assert!(
        !refused.is_empty(),
        "64 at once past a bound of 2: some refused"
    );
    let landed = 64 - refused.len();
    assert_eq!(
        w.balance(asha, "COIN").await.0,
        landed.to_string(),
        "a refused command moved nothing"
    );
    // Sent again one at a time, each refused command lands once.
    for batch in refused {
        let (_, answer) = send(batch).await;
        answer.unwrap();
    }
    assert_eq!(w.balance(asha, "COIN").await.0, "64");
    w.verify().await;
}
