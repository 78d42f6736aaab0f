//! The rewards service end to end over HTTP, with the real wallet behind the bus: voucher
//! purchase and redemption, the last code under concurrent buyers, market orders held,
//! traded, settled and cancelled, bad input, and campaign budgets under concurrent grants.
//! On SQLite and the in-process bus by default; on Postgres and NATS with
//! `TEST_DATABASE_URL` and `TEST_NATS_URL`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kernel::{Role, UserId};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use testkit::TestApp;
use uuid::Uuid;

/// Purchases are geofenced: the tests buy from Mumbai.
const MUMBAI: &str = "19.0760,72.8777";

async fn spawn() -> TestApp {
    TestApp::spawn(vec![
        Arc::new(jobs::JobsModule),
        Arc::new(accounts::Accounts),
        Arc::new(wallet::Wallet),
        Arc::new(rewards::Rewards),
    ])
    .await
    .unwrap()
}

/// On NATS every test node answers the wallet's queue group and shares the campaigns'
/// durable consumer, whatever its database: the tests of this binary take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Rig {
    app: TestApp,
    admin: String,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Rig {
    async fn new() -> Self {
        let turn = ONE_AT_A_TIME.lock().await;
        let app = spawn().await;
        let admin = app.token(UserId::new(), &[Role::Admin]);
        Self {
            app,
            admin,
            _turn: turn,
        }
    }

    fn user(&self) -> (Uuid, String) {
        let id = UserId::new();
        (id.0, self.app.token(id, &[Role::User]))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, bool) {
        let mut request = self
            .app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let replayed = response.headers().get("idempotent-replayed").is_some();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body, replayed)
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        let (status, body, _) = self
            .send(reqwest::Method::POST, path, token, Some(body))
            .await;
        (status, body)
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let (status, body, _) = self.send(reqwest::Method::GET, path, token, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    /// Moves coins into an account from issuance (money entering the platform).
    async fn fund(&self, account: &str, coins: u64) {
        let batch = json!({"legs": [{"kind": "transfer", "id": Uuid::now_v7(), "debit": "system:issuance",
            "credit": account, "asset": "COIN", "amount": coins.to_string()}]});
        let (status, body) = self
            .post("/v1/admin/ledger/transfers", &self.admin, batch)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    async fn sku(&self, sku: &str, price: u64, pattern: Option<&str>) {
        let body = json!({"brand": "amazon", "brand_name": "Amazon", "name": format!("Voucher {sku}"),
            "denomination": "100.00", "currency": "INR", "price": price, "pattern": pattern,
            "expires_at": "2099-12-31T00:00:00Z"});
        let (status, body, _) = self
            .send(
                reqwest::Method::PUT,
                &format!("/v1/admin/vouchers/skus/{sku}"),
                &self.admin,
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn codes(&self, sku: &str, body: Value) -> Value {
        let (status, body) = self
            .post(
                &format!("/v1/admin/vouchers/skus/{sku}/codes"),
                &self.admin,
                body,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn buy(&self, sku: &str, token: &str, key: &str) -> (StatusCode, Value, bool) {
        let response = self
            .app
            .client
            .post(self.app.url(&format!("/v1/vouchers/{sku}/purchase")))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .header("x-geo-position", MUMBAI)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let replayed = response.headers().get("idempotent-replayed").is_some();
        (status, response.json().await.unwrap(), replayed)
    }

    /// Waits until the token's user has `(available, pending)` of `asset`: trades settle in
    /// the wallet just behind the order's answer.
    async fn settled(&self, token: &str, asset: &str, expected: (i64, i64)) {
        let what = format!("{asset} at {expected:?}");
        testkit::eventually(&what, Duration::from_secs(10), || async {
            self.balance(token, asset).await == expected
        })
        .await;
    }

    /// `(available, pending)` of `asset` in the wallet of the token's user.
    async fn balance(&self, token: &str, asset: &str) -> (i64, i64) {
        let wallet = self.get("/v1/wallet", token).await;
        wallet["balances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|balance| balance["asset"] == asset)
            .map_or((0, 0), |balance| {
                (
                    balance["available"].as_str().unwrap().parse().unwrap(),
                    balance["pending"].as_str().unwrap().parse().unwrap(),
                )
            })
    }

    async fn order(
        &self,
        sku: &str,
        token: &str,
        side: &str,
        price: u64,
        qty: u64,
        tif: &str,
    ) -> (StatusCode, Value) {
        self.post(
            &format!("/v1/markets/{sku}/orders"),
            token,
            json!({"id": Uuid::now_v7(), "side": side, "price": price, "qty": qty, "time_in_force": tif}),
        )
        .await
    }
}

#[tokio::test]
async fn a_voucher_is_bought_paid_for_and_its_code_shown_only_to_its_owner_once_redeemed() {
    let rig = Rig::new().await;
    rig.sku("AMZ_100", 1000, Some("AMZ-{12:unambiguous/4}"))
        .await;
    let added = rig.codes("AMZ_100", json!({"top_up_to": 3})).await;
    assert_eq!(added["added"], 3);
    // Topping up again to the same inventory adds nothing.
    assert_eq!(
        rig.codes("AMZ_100", json!({"top_up_to": 3})).await["added"],
        0
    );

    let (buyer, token) = rig.user();
    rig.fund(&format!("user:{buyer}"), 2500).await;
    let (status, purchase, replayed) = rig.buy("AMZ_100", &token, "first").await;
    assert_eq!(status, StatusCode::CREATED, "{purchase}");
    assert_eq!(purchase["status"], "paid");
    assert!(!replayed);
    // A resend buys nothing more.
    let (status, again, replayed) = rig.buy("AMZ_100", &token, "first").await;
    assert_eq!((status, replayed), (StatusCode::CREATED, true));
    assert_eq!(again["id"], purchase["id"]);
    rig.settled(&token, "COIN", (1500, 0)).await;
    rig.settled(&token, "VCH_AMZ_100", (1, 0)).await;
    let catalog = rig.get("/v1/vouchers", &token).await;
    assert_eq!(catalog[0]["available"], 2);

    // Held: the code is hidden, even from its owner, and nobody else sees the voucher.
    let mine = rig.get("/v1/me/vouchers", &token).await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["status"], "held");
    assert!(mine[0].get("code").is_none());
    let (_, stranger) = rig.user();
    assert_eq!(rig.get("/v1/me/vouchers", &stranger).await, json!([]));

    // Redeemed: the unit is burnt and the code shown to its owner, the same on a resend.
    let redeem = |key: &'static str| {
        rig.app
            .client
            .post(rig.app.url("/v1/me/vouchers/AMZ_100/redeem"))
            .bearer_auth(&token)
            .header("idempotency-key", key)
            .send()
    };
    let response = redeem("r1").await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let redeemed: Value = response.json().await.unwrap();
    let code = redeemed["code"].as_str().unwrap().to_owned();
    assert!(code.starts_with("AMZ-") && code.len() == 18, "{code}");
    let again: Value = redeem("r1").await.unwrap().json().await.unwrap();
    assert_eq!(again["code"], code.as_str());
    rig.settled(&token, "VCH_AMZ_100", (0, 0)).await;
    assert_eq!(
        rig.get("/v1/me/vouchers", &token).await[0]["code"],
        code.as_str()
    );
    // Nothing left to redeem.
    let response = redeem("r2").await.unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "no_voucher_to_redeem"
    );

    // Not enough coins: nothing is bought and the code goes back on sale.
    let (_, poor) = rig.user();
    let (status, problem, _) = rig.buy("AMZ_100", &poor, "p").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["code"], "insufficient_funds");
    assert_eq!(rig.get("/v1/vouchers", &poor).await[0]["available"], 2);
    // A key is required, and an unknown SKU is a 404.
    let response = rig
        .app
        .client
        .post(rig.app.url("/v1/vouchers/AMZ_100/purchase"))
        .bearer_auth(&token)
        .header("x-geo-position", MUMBAI)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(rig.buy("NOPE", &token, "x").await.0, StatusCode::NOT_FOUND);
    // Where the user cannot be placed, the geofence refuses before anything is bought.
    let response = rig
        .app
        .client
        .post(rig.app.url("/v1/vouchers/AMZ_100/purchase"))
        .bearer_auth(&token)
        .header("idempotency-key", "nowhere")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "geo_restricted"
    );
    assert_eq!(rig.get("/v1/vouchers", &poor).await[0]["available"], 2);
    rig.app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_buyers_of_the_last_code_get_it_exactly_once() {
    let rig = Arc::new(Rig::new().await);
    rig.sku("LAST_ONE", 100, None).await;
    let imported = rig
        .codes("LAST_ONE", json!({"codes": ["partner-code-0001"]}))
        .await;
    assert_eq!(imported["added"], 1);
    // The same file again: already present, nothing added.
    let again = rig
        .codes("LAST_ONE", json!({"codes": ["PARTNER-CODE-0001"]}))
        .await;
    assert_eq!(
        (again["added"].clone(), again["already_present"].clone()),
        (json!(0), json!(1))
    );

    let mut buyers = Vec::new();
    for _ in 0..8 {
        let (id, token) = rig.user();
        rig.fund(&format!("user:{id}"), 100).await;
        buyers.push(token);
    }
    let attempts: Vec<_> = buyers
        .iter()
        .cloned()
        .map(|token| {
            let rig = rig.clone();
            tokio::spawn(async move { (rig.buy("LAST_ONE", &token, "k").await, token) })
        })
        .collect();
    let mut winners = Vec::new();
    for attempt in attempts {
        let ((status, body, _), token) = attempt.await.unwrap();
        match status {
            StatusCode::CREATED => winners.push(token),
            StatusCode::CONFLICT => assert_eq!(body["code"], "sold_out"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one buyer gets the last code");
    for token in &buyers {
        let coins = rig.balance(token, "COIN").await.0;
        let units = rig.balance(token, "VCH_LAST_ONE").await.0;
        let held = rig
            .get("/v1/me/vouchers", token)
            .await
            .as_array()
            .unwrap()
            .len();
        if winners.contains(token) {
            assert_eq!((coins, units, held), (0, 1, 1));
        } else {
            assert_eq!((coins, units, held), (100, 0, 0), "a loser paid nothing");
        }
    }
}

#[tokio::test]
async fn orders_are_held_traded_settled_and_cancelled_in_the_wallet() {
    let rig = Rig::new().await;
    rig.sku("FLIP_50", 500, Some("FLP-{10:alphanumeric/5}"))
        .await;
    rig.codes("FLIP_50", json!({"top_up_to": 5})).await;
    let (seller_id, seller) = rig.user();
    let (buyer_id, buyer) = rig.user();
    rig.fund(&format!("user:{seller_id}"), 1000).await;
    rig.fund(&format!("user:{buyer_id}"), 2000).await;
    for key in ["a", "b"] {
        assert_eq!(
            rig.buy("FLIP_50", &seller, key).await.0,
            StatusCode::CREATED
        );
    }

    // The seller offers both units at 450: they are held in the wallet.
    let (status, ask) = rig.order("FLIP_50", &seller, "sell", 450, 2, "gtc").await;
    assert_eq!(status, StatusCode::CREATED, "{ask}");
    assert_eq!(
        (ask["status"].clone(), ask["open"].clone()),
        (json!("open"), json!(2))
    );
    rig.settled(&seller, "VCH_FLIP_50", (0, 2)).await;
    let book = rig.get("/v1/markets/FLIP_50/book", &buyer).await;
    assert_eq!(book["asks"], json!([{"price": 450, "qty": 2, "orders": 1}]));

    // The buyer bids 480 for one: it trades at the seller's 450, the 30 is not taken.
    let (status, bid) = rig.order("FLIP_50", &buyer, "buy", 480, 1, "gtc").await;
    assert_eq!(status, StatusCode::CREATED, "{bid}");
    assert_eq!(
        (bid["status"].clone(), bid["filled"].clone()),
        (json!("filled"), json!(1))
    );
    rig.settled(&buyer, "COIN", (2000 - 450, 0)).await;
    rig.settled(&buyer, "VCH_FLIP_50", (1, 0)).await;
    rig.settled(&seller, "COIN", (450, 0)).await;
    rig.settled(&seller, "VCH_FLIP_50", (0, 1)).await;
    let trades = rig.get("/v1/markets/FLIP_50/trades", &buyer).await;
    assert_eq!(trades.as_array().unwrap().len(), 1);
    assert_eq!(
        (trades[0]["price"].clone(), trades[0]["taker_side"].clone()),
        (json!(450), json!("buy"))
    );
    // The voucher (its code) followed the unit, once the trade settled.
    testkit::eventually(
        "the code follows the unit",
        Duration::from_secs(10),
        || async {
            rig.get("/v1/me/vouchers", &buyer)
                .await
                .as_array()
                .unwrap()
                .len()
                == 1
        },
    )
    .await;
    assert_eq!(
        rig.get("/v1/me/vouchers", &seller)
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Cancelling the rest releases its hold; cancelling again changes nothing.
    let path = format!("/v1/markets/FLIP_50/orders/{}", ask["id"].as_str().unwrap());
    let (status, cancelled, _) = rig
        .send(reqwest::Method::DELETE, &path, &seller, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (cancelled["status"].clone(), cancelled["filled"].clone()),
        (json!("cancelled"), json!(1))
    );
    rig.settled(&seller, "VCH_FLIP_50", (1, 0)).await;
    let (status, _, _) = rig
        .send(reqwest::Method::DELETE, &path, &seller, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    // Someone else's order is not found.
    let (status, _, _) = rig.send(reqwest::Method::DELETE, &path, &buyer, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let book = rig.get("/v1/markets/FLIP_50/book", &buyer).await;
    assert_eq!(
        (book["bids"].clone(), book["asks"].clone()),
        (json!([]), json!([]))
    );

    // An IOC that finds nothing is cancelled and its hold released.
    let (status, ioc) = rig.order("FLIP_50", &buyer, "buy", 400, 1, "ioc").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        (ioc["status"].clone(), ioc["reason"].clone()),
        (json!("cancelled"), json!("unfilled"))
    );
    rig.settled(&buyer, "COIN", (1550, 0)).await;
    rig.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_orders_get_a_clear_problem_and_change_nothing() {
    let rig = Rig::new().await;
    rig.sku("BAD_10", 100, Some("BAD-{10:alphanumeric}")).await;
    rig.codes("BAD_10", json!({"top_up_to": 2})).await;
    let (user_id, user) = rig.user();
    rig.fund(&format!("user:{user_id}"), 300).await;
    assert_eq!(rig.buy("BAD_10", &user, "k").await.0, StatusCode::CREATED);
    let (maker_id, maker) = rig.user();
    rig.fund(&format!("user:{maker_id}"), 1000).await;
    assert_eq!(
        rig.order("BAD_10", &maker, "buy", 90, 1, "gtc").await.0,
        StatusCode::CREATED
    );
    let book = rig.get("/v1/markets/BAD_10/book", &user).await;

    let cases = [
        (
            json!({"id": Uuid::now_v7(), "side": "buy", "price": 0, "qty": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_price",
        ),
        (
            json!({"id": Uuid::now_v7(), "side": "buy", "price": 10, "qty": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_quantity",
        ),
        (
            json!({"id": Uuid::now_v7(), "side": "buy", "price": -5, "qty": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            json!({"id": Uuid::now_v7(), "side": "buy", "price": 1.5, "qty": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        // 200 coins left: 2 x 150 cannot be held.
        (
            json!({"id": Uuid::now_v7(), "side": "buy", "price": 150, "qty": 2}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "insufficient_funds",
        ),
        // One unit held: two cannot be sold.
        (
            json!({"id": Uuid::now_v7(), "side": "sell", "price": 95, "qty": 2}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "insufficient_funds",
        ),
        // Would trade with the bid at 90.
        (
            json!({"id": Uuid::now_v7(), "side": "sell", "price": 90, "qty": 1, "time_in_force": "post_only"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "post_only_would_cross",
        ),
        (
            json!({"id": Uuid::now_v7(), "side": "sell", "price": 80, "qty": 2, "time_in_force": "fok"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "insufficient_funds",
        ),
    ];
    for (body, status, code) in cases {
        let (got, problem) = rig
            .post("/v1/markets/BAD_10/orders", &user, body.clone())
            .await;
        assert_eq!(
            (got, problem["code"].as_str()),
            (status, Some(code)),
            "{body}: {problem}"
        );
    }
    let (got, problem) = rig
        .post(
            "/v1/markets/NOPE/orders",
            &user,
            json!({"id": Uuid::now_v7(), "side": "buy", "price": 1, "qty": 1}),
        )
        .await;
    assert_eq!(
        (got, problem["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_sku"))
    );
    // Nothing reached the book (refusals by the book are logged, so its seq moves),
    // nothing stays held.
    let after = rig.get("/v1/markets/BAD_10/book", &user).await;
    assert_eq!(
        (&after["bids"], &after["asks"]),
        (&book["bids"], &book["asks"])
    );
    rig.settled(&user, "COIN", (200, 0)).await;
    rig.settled(&user, "VCH_BAD_10", (1, 0)).await;

    // A replayed order id: the first answer; with another order, a conflict.
    let id = Uuid::now_v7();
    let order = json!({"id": id, "side": "sell", "price": 120, "qty": 1});
    let (first, body, replayed) = rig
        .send(
            reqwest::Method::POST,
            "/v1/markets/BAD_10/orders",
            &user,
            Some(order.clone()),
        )
        .await;
    assert_eq!((first, replayed), (StatusCode::CREATED, false), "{body}");
    let (again, same, replayed) = rig
        .send(
            reqwest::Method::POST,
            "/v1/markets/BAD_10/orders",
            &user,
            Some(order),
        )
        .await;
    assert_eq!((again, replayed), (StatusCode::CREATED, true));
    assert_eq!(same, body);
    let (status, problem) = rig
        .post(
            "/v1/markets/BAD_10/orders",
            &user,
            json!({"id": id, "side": "sell", "price": 130, "qty": 1}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("order_id_reused"))
    );
    let book = rig.get("/v1/markets/BAD_10/book", &user).await;
    assert_eq!(book["asks"], json!([{"price": 120, "qty": 1, "orders": 1}]));

    // Sold out: the last code went to `user`; the maker buys nothing.
    assert_eq!(rig.buy("BAD_10", &maker, "m").await.0, StatusCode::CREATED);
    let (status, problem, _) = rig.buy("BAD_10", &maker, "m2").await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("sold_out"))
    );
    rig.app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_campaign_never_exceeds_its_budget_and_rewards_each_event_once() {
    let rig = Rig::new().await;
    rig.fund("system:reward_pool", 10_000).await;
    let quiz = Uuid::now_v7();
    // Starting now: activity kept in the stream from earlier runs is older.
    let start = chrono::Utc::now();
    let campaign = json!({"name": "Quiz winners", "trigger": "quiz_won", "amount": 100, "budget": 500,
        "per_user_cap": 3, "starts_at": start, "ends_at": "2099-01-01T00:00:00Z"});
    let (status, body, _) = rig
        .send(
            reqwest::Method::PUT,
            &format!("/v1/admin/rewards/campaigns/{quiz}"),
            &rig.admin,
            Some(campaign),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Twelve wins by six users (two each), each event delivered twice, all at once.
    let bus = rig.app.node().bus().clone();
    let users: Vec<UserId> = (0..6).map(|_| UserId::new()).collect();
    let mut events = Vec::new();
    for user in &users {
        for _ in 0..2 {
            let event = contracts::rewards::QuizWon {
                quiz_id: Uuid::now_v7(),
                user_id: *user,
                at: chrono::Utc::now(),
            };
            events.push(event.clone());
            events.push(event);
        }
    }
    let publishes: Vec<_> = events
        .into_iter()
        .map(|event| {
            let bus = bus.clone();
            tokio::spawn(async move {
                let message = bus::Message::json(
                    <contracts::rewards::QuizWon as contracts::Event>::SUBJECT,
                    &event,
                )
                .unwrap();
                bus.publish(message).await.unwrap();
            })
        })
        .collect();
    for publish in publishes {
        publish.await.unwrap();
    }
    // A second node shares the consumer: grants race across nodes too.
    let other = rig.app.another_node().await.unwrap();

    let admin = rig.admin.clone();
    let app = &rig.app;
    testkit::eventually(
        "the budget is spent and paid out",
        Duration::from_secs(20),
        || {
            let admin = admin.clone();
            async move {
                let Ok(response) = app
                    .client
                    .get(app.url("/v1/admin/rewards/campaigns"))
                    .bearer_auth(&admin)
                    .send()
                    .await
                else {
                    return false;
                };
                let campaigns: Value = response.json().await.unwrap_or(Value::Null);
                campaigns[0]["spent"] == 500
            }
        },
    )
    .await;
    let mut paid = 0;
    for user in &users {
        let token = rig.app.token(*user, &[Role::User]);
        let coins = rig.balance(&token, "COIN").await.0;
        assert!(coins % 100 == 0 && coins <= 200, "{coins}");
        paid += coins;
    }
    // Payouts are jobs: wait for the last.
    assert!(paid <= 500);
    testkit::eventually("every grant is paid", Duration::from_secs(20), || {
        let rig = &rig;
        let users = users.clone();
        async move {
            let mut total = 0;
            for user in &users {
                total += rig
                    .balance(&rig.app.token(*user, &[Role::User]), "COIN")
                    .await
                    .0;
            }
            total == 500
        }
    })
    .await;
    let campaigns = rig.get("/v1/admin/rewards/campaigns", &rig.admin).await;
    assert_eq!(
        (
            campaigns[0]["spent"].clone(),
            campaigns[0]["remaining"].clone()
        ),
        (json!(500), json!(0))
    );

    // The budget cannot go below what is spent.
    let lower = json!({"name": "Quiz winners", "trigger": "quiz_won", "amount": 100, "budget": 400,
        "per_user_cap": 3, "starts_at": start, "ends_at": "2099-01-01T00:00:00Z"});
    let (status, problem, _) = rig
        .send(
            reqwest::Method::PUT,
            &format!("/v1/admin/rewards/campaigns/{quiz}"),
            &rig.admin,
            Some(lower),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("budget_below_spent"))
    );
    other.shutdown().await.unwrap();
    rig.app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_grants_respect_the_budget_and_the_per_user_cap() {
    let rig = Rig::new().await;
    rig.fund("system:reward_pool", 10_000).await;
    let id = Uuid::now_v7();
    let campaign = json!({"name": "Sign-up bonus", "trigger": "prediction_correct", "amount": 30, "budget": 300,
        "per_user_cap": 2, "starts_at": "2026-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"});
    let (status, body, _) = rig
        .send(
            reqwest::Method::PUT,
            &format!("/v1/admin/rewards/campaigns/{id}"),
            &rig.admin,
            Some(campaign),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let db = rig.app.node().db().clone();
    let bus = rig.app.node().bus().clone();
    let campaigns = rewards::campaigns::Campaigns::new(
        db.clone(),
        rewards::ledger::Ledger::new(bus.clone()),
        jobs::Jobs::new(db, bus),
    );
    // 40 claims at once: 8 users x 5 distinct events; the cap allows 16, the budget 10.
    let users: Vec<Uuid> = (0..8).map(|_| Uuid::now_v7()).collect();
    let claims: Vec<_> = users
        .iter()
        .flat_map(|user| (0..5).map(move |n| (*user, n)))
        .map(|(user, n)| {
            let campaigns = campaigns.clone();
            tokio::spawn(async move {
                let activity = rewards::campaigns::Activity {
                    trigger: rewards::campaigns::Trigger::PredictionCorrect,
                    user,
                    source: format!("prediction:{n}"),
                    at: chrono::Utc::now(),
                    streak: None,
                };
                campaigns.on_activity(&activity).await.unwrap()
            })
        })
        .collect();
    let mut granted = 0;
    for claim in claims {
        granted += claim.await.unwrap();
    }
    assert_eq!(granted, 10, "the budget allows exactly ten");
    let view = campaigns.get(id).await.unwrap();
    assert_eq!((view.spent, view.remaining), (300, 0));
    rig.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_order_stopped_between_its_hold_and_the_book_is_released_by_its_job() {
    let rig = Rig::new().await;
    rig.sku("HALF_1", 100, None).await;
    let (user_id, user) = rig.user();
    rig.fund(&format!("user:{user_id}"), 500).await;
    // What a crash right after the hold leaves: the order row still `new`, the hold open.
    let id = Uuid::now_v7();
    let hold = json!({"legs": [{"kind": "hold", "id": id, "debit": format!("user:{user_id}"),
        "credit": "system:market_escrow", "asset": "COIN", "amount": "300", "timeout_seconds": 86400}]});
    let (status, body) = rig
        .post("/v1/admin/ledger/transfers", &rig.admin, hold)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let db = rig.app.node().db().clone();
    let now = chrono::Utc::now();
    use sea_orm::{ActiveValue::Set, EntityTrait};
    rewards::store::order::Entity::insert(rewards::store::order::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        sku: Set("HALF_1".into()),
        engine_id: Set(None),
        side: Set("buy".into()),
        price: Set(100),
        qty: Set(3),
        tif: Set("gtc".into()),
        request_hash: Set("h".into()),
        status: Set("new".into()),
        filled: Set(0),
        hold_id: Set(id),
        held: Set(300),
        holds: Set(0),
        reason: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(&db)
    .await
    .unwrap();
    rig.settled(&user, "COIN", (200, 300)).await;

    // The abandon job's work: the hold is released and the order says why.
    let bus = rig.app.node().bus().clone();
    let ledger = rewards::ledger::Ledger::new(bus.clone());
    let jobs = jobs::Jobs::new(db.clone(), bus.clone());
    let catalog = rewards::catalog::Catalog::new(
        db.clone(),
        ledger.clone(),
        codes::Sealer::new(&[7; 32]),
        jobs.clone(),
        chrono::Duration::seconds(30),
    );
    let markets = rewards::market::Markets::start(
        rewards::market::MarketContext {
            db: db.clone(),
            ledger,
            bus,
            jobs,
            hold_days: 30,
            depth_levels: 20,
            retry_after: chrono::Duration::seconds(30),
            drains: std::sync::Mutex::default(),
        },
        catalog,
        Duration::from_secs(60),
        None,
    )
    .await
    .unwrap();
    markets.abandon(id).await.unwrap();
    rig.settled(&user, "COIN", (500, 0)).await;
    let order = rig
        .get(&format!("/v1/markets/HALF_1/orders/{id}"), &user)
        .await;
    assert_eq!(
        (order["status"].clone(), order["reason"].clone()),
        (json!("rejected"), json!("interrupted"))
    );
    // The id stays taken (this row's request differs): nothing is held again.
    let (status, problem) = rig
        .post(
            "/v1/markets/HALF_1/orders",
            &user,
            json!({"id": id, "side": "buy", "price": 100, "qty": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    // Twice is once.
    markets.abandon(id).await.unwrap();
    rig.settled(&user, "COIN", (500, 0)).await;
    markets.stop().await;
    rig.app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_streaks_and_per_user_caps_and_expiry_hold() {
    let rig = Rig::new().await;
    rig.fund("system:reward_pool", 10_000).await;
    let start = chrono::Utc::now() - chrono::Duration::days(10);
    let put = |id: Uuid, body: Value| {
        let rig = &rig;
        async move {
            let (status, body, _) = rig
                .send(
                    reqwest::Method::PUT,
                    &format!("/v1/admin/rewards/campaigns/{id}"),
                    &rig.admin,
                    Some(body),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    };
    let streak = Uuid::now_v7();
    put(
        streak,
        json!({"name": "3-day streak", "trigger": "login_streak", "streak_days": 3, "amount": 50,
        "budget": 1000, "per_user_cap": 5, "starts_at": start, "ends_at": "2099-01-01T00:00:00Z"}),
    )
    .await;
    // A login streak campaign without its length is refused.
    let (status, problem, _) = rig
        .send(
            reqwest::Method::PUT,
            &format!("/v1/admin/rewards/campaigns/{}", Uuid::now_v7()),
            &rig.admin,
            Some(
                json!({"name": "x", "trigger": "login_streak", "amount": 1, "budget": 1,
                "starts_at": start, "ends_at": "2099-01-01T00:00:00Z"}),
            ),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_streak"))
    );

    // Logins on three consecutive days (the second day twice): one streak of three.
    let user = UserId::new();
    let bus = rig.app.node().bus().clone();
    let day = |n: i64| start + chrono::Duration::days(n) + chrono::Duration::hours(1);
    for at in [day(1), day(2), day(2) + chrono::Duration::hours(3), day(3)] {
        let event = contracts::accounts::UserLoggedIn { user_id: user, at };
        let message = bus::Message::json(
            <contracts::accounts::UserLoggedIn as contracts::Event>::SUBJECT,
            &event,
        )
        .unwrap();
        bus.publish(message).await.unwrap();
    }
    let token = rig.app.token(user, &[Role::User]);
    rig.settled(&token, "COIN", (50, 0)).await;
    let campaign = rig.get("/v1/admin/rewards/campaigns", &rig.admin).await;
    assert_eq!(
        campaign[0]["spent"], 50,
        "one streak of three days, one reward"
    );

    // A cap of one: three distinct wins, one reward.
    let capped = Uuid::now_v7();
    put(
        capped,
        json!({"name": "First win", "trigger": "quiz_won", "amount": 20, "budget": 1000,
        "per_user_cap": 1, "starts_at": start, "ends_at": "2099-01-01T00:00:00Z"}),
    )
    .await;
    let db = rig.app.node().db().clone();
    let campaigns = rewards::campaigns::Campaigns::new(
        db.clone(),
        rewards::ledger::Ledger::new(bus.clone()),
        jobs::Jobs::new(db, bus),
    );
    let mut granted = 0;
    for n in 0..3 {
        let activity = rewards::campaigns::Activity {
            trigger: rewards::campaigns::Trigger::QuizWon,
            user: user.0,
            source: format!("quiz:{n}"),
            at: chrono::Utc::now(),
            streak: None,
        };
        granted += campaigns.on_activity(&activity).await.unwrap();
    }
    assert_eq!(granted, 1);
    // Outside its period a campaign grants nothing.
    let late = rewards::campaigns::Activity {
        trigger: rewards::campaigns::Trigger::QuizWon,
        user: UserId::new().0,
        source: "quiz:late".into(),
        at: chrono::DateTime::parse_from_rfc3339("2099-06-01T00:00:00Z")
            .unwrap()
            .into(),
        streak: None,
    };
    assert_eq!(campaigns.on_activity(&late).await.unwrap(), 0);
    rig.settled(&token, "COIN", (70, 0)).await;

    // An expired SKU can be neither bought nor traded.
    let body = json!({"brand": "old", "brand_name": "Old", "name": "Expired", "denomination": "10",
        "currency": "INR", "price": 10, "expires_at": "2020-01-01T00:00:00Z"});
    let (status, body, _) = rig
        .send(
            reqwest::Method::PUT,
            "/v1/admin/vouchers/skus/GONE",
            &rig.admin,
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, problem, _) = rig.buy("GONE", &token, "late").await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("voucher_expired"))
    );
    let (status, problem) = rig.order("GONE", &token, "buy", 5, 1, "gtc").await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("voucher_expired"))
    );
    assert!(
        rig.get("/v1/vouchers", &token)
            .await
            .as_array()
            .unwrap()
            .iter()
            .all(|sku| sku["sku"] != "GONE")
    );
    rig.app.shutdown().await.unwrap();
}
