//! The markets under the races several nodes and impatient clients bring: orders for one
//! market through two nodes in turn, one order sent many times at once, a settlement
//! drained by several settlers at once, and a settlement the wallet refuses.
//! On SQLite and the in-process bus by default; on Postgres and NATS with
//! `TEST_DATABASE_URL` and `TEST_NATS_URL`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kernel::{Role, UserId};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use testkit::TestApp;
use uuid::Uuid;

use rewards::store::{code, market_log, settlement};

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

/// On NATS every test node answers the wallet's queue group: the tests of this binary
/// take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Two nodes of one deployment (one database) and an admin.
struct Rig {
    a: TestApp,
    b: TestApp,
    admin: String,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Rig {
    async fn new() -> Self {
        let turn = ONE_AT_A_TIME.lock().await;
        let a = spawn().await;
        let b = a.another_node().await.unwrap();
        let admin = a.token(UserId::new(), &[Role::Admin]);
        Self {
            a,
            b,
            admin,
            _turn: turn,
        }
    }

    async fn shutdown(self) {
        let Self { a, b, .. } = self;
        b.shutdown().await.unwrap();
        a.shutdown().await.unwrap();
    }

    fn node(&self, n: usize) -> &TestApp {
        if n.is_multiple_of(2) {
            &self.a
        } else {
            &self.b
        }
    }

    fn db(&self) -> &sea_orm::DatabaseConnection {
        self.a.node().db()
    }

    fn user(&self) -> (Uuid, String) {
        let id = UserId::new();
        (id.0, self.a.token(id, &[Role::User]))
    }

    async fn send(
        &self,
        node: &TestApp,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut request = node
            .client
            .request(method, node.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        (
            status,
            response.json().await.unwrap_or(Value::Null),
            headers,
        )
    }

    async fn get(&self, node: &TestApp, path: &str, token: &str) -> Value {
        let (status, body, _) = self
            .send(node, reqwest::Method::GET, path, token, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    /// `amount` of `asset` from issuance into the user's wallet.
    async fn fund(&self, user: Uuid, asset: &str, amount: u64) {
        let batch = json!({"legs": [{"kind": "transfer", "id": Uuid::now_v7(), "debit": "system:issuance",
            "credit": format!("user:{user}"), "asset": asset, "amount": amount.to_string()}]});
        let (status, body, _) = self
            .send(
                &self.a,
                reqwest::Method::POST,
                "/v1/admin/ledger/transfers",
                &self.admin,
                Some(batch),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// A SKU with `codes` codes in stock.
    async fn sku(&self, sku: &str, codes: u64) {
        let body = json!({"brand": "amazon", "brand_name": "Amazon", "name": format!("Voucher {sku}"),
            "denomination": "100.00", "currency": "INR", "price": 100, "pattern": "MKT-{12:alphanumeric/4}",
            "expires_at": "2099-12-31T00:00:00Z"});
        let path = format!("/v1/admin/vouchers/skus/{sku}");
        let (status, body, _) = self
            .send(
                &self.a,
                reqwest::Method::PUT,
                &path,
                &self.admin,
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let path = format!("/v1/admin/vouchers/skus/{sku}/codes");
        let (status, body, _) = self
            .send(
                &self.a,
                reqwest::Method::POST,
                &path,
                &self.admin,
                Some(json!({"top_up_to": codes})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// A seller of `units` units, with a code for each (what `units` purchases leave).
    async fn seller(&self, sku: &str, units: u64) -> (Uuid, String) {
        let (id, token) = self.user();
        self.fund(id, &rewards::ledger::units_asset(sku), units)
            .await;
        let free: Vec<Uuid> = code::Entity::find()
            .select_only()
            .column(code::Column::Id)
            .filter(code::Column::Sku.eq(sku))
            .filter(code::Column::Owner.is_null())
            .limit(units)
            .into_tuple()
            .all(self.db())
            .await
            .unwrap();
        assert_eq!(free.len() as u64, units, "not enough codes in stock");
        code::Entity::update_many()
            .col_expr(code::Column::Owner, Some(id).into())
            .col_expr(code::Column::AssignedAt, Some(chrono::Utc::now()).into())
            .filter(code::Column::Id.is_in(free))
            .exec(self.db())
            .await
            .unwrap();
        (id, token)
    }

    async fn codes_of(&self, sku: &str, user: Uuid) -> u64 {
        code::Entity::find()
            .filter(code::Column::Sku.eq(sku))
            .filter(code::Column::Owner.eq(user))
            .count(self.db())
            .await
            .unwrap()
    }

    /// `(available, pending)` of `asset` in the user's wallet.
    async fn balance(&self, token: &str, asset: &str) -> (i64, i64) {
        let wallet = self.get(&self.a, "/v1/wallet", token).await;
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

    /// The book's depth as the replay of the market's log says it must be.
    async fn replayed(&self, sku: &str) -> Value {
        let log = market_log::Entity::find()
            .filter(market_log::Column::Sku.eq(sku))
            .order_by_asc(market_log::Column::Seq)
            .all(self.db())
            .await
            .unwrap();
        let commands: Vec<matching::Command> = log
            .iter()
            .map(|row| serde_json::from_str(&row.command).unwrap())
            .collect();
        for (at, command) in commands.iter().enumerate() {
            assert_eq!(command.seq.0, at as u64 + 1, "the log has no gaps");
        }
        let book = matching::Book::replay(rewards::market::actor::spec(), &commands);
        let depth = book.depth(50);
        let level = |l: &matching::LevelView| json!({"price": l.price.0, "qty": l.qty.0, "orders": l.orders});
        json!({
            "sku": sku,
            "seq": commands.len(),
            "bids": depth.bids.iter().map(level).collect::<Vec<_>>(),
            "asks": depth.asks.iter().map(level).collect::<Vec<_>>(),
        })
    }

    /// Waits until both nodes' books are the replay of the log.
    async fn books_agree_with_the_log(&self, sku: &str, token: &str) {
        let expected = self.replayed(sku).await;
        for node in [&self.a, &self.b] {
            let path = format!("/v1/markets/{sku}/book?levels=50");
            testkit::eventually(
                "the node's book is the replay of the log",
                Duration::from_secs(10),
                || async { self.get(node, &path, token).await == expected },
            )
            .await;
        }
    }

    async fn settled_all(&self, sku: &str) {
        testkit::eventually(
            "every settlement is done",
            Duration::from_secs(20),
            || async {
                settlement::Entity::find()
                    .filter(settlement::Column::Sku.eq(sku))
                    .filter(settlement::Column::Status.ne("done"))
                    .count(self.db())
                    .await
                    .unwrap()
                    == 0
            },
        )
        .await;
    }

    /// A settlement of `sku` at `seq` as the market actor records it.
    async fn pending_settlement(
        &self,
        sku: &str,
        seq: i64,
        legs: Value,
        moves: Value,
    ) -> settlement::Model {
        use sea_orm::ActiveValue::Set;
        let row = settlement::ActiveModel {
            id: Set(rewards::ledger::leg_id(&[
                sku,
                &seq.to_string(),
                "settlement",
            ])),
            sku: Set(sku.to_owned()),
            seq: Set(seq),
            batch: Set(json!({ "legs": legs }).to_string()),
            code_moves: Set(moves.to_string()),
            status: Set("pending".to_owned()),
            failure: Set(None),
            created_at: Set(chrono::Utc::now()),
            ..Default::default()
        };
        settlement::Entity::insert(row)
            .exec(self.db())
            .await
            .unwrap();
        settlement::Entity::find()
            .filter(settlement::Column::Sku.eq(sku))
            .filter(settlement::Column::Seq.eq(seq))
            .one(self.db())
            .await
            .unwrap()
            .unwrap()
    }

    /// A `Markets` of its own on node a's database and bus: a third settler (what the
    /// settle job runs), or the abandon job.
    async fn third_markets(&self) -> rewards::market::Markets {
        let db = self.db().clone();
        let bus = self.a.node().bus().clone();
        let ledger = rewards::ledger::Ledger::new(bus.clone());
        let jobs = jobs::Jobs::new(db.clone(), bus.clone());
        let catalog = rewards::catalog::Catalog::new(
            db.clone(),
            ledger.clone(),
            codes::Sealer::new(&[7; 32]),
            jobs.clone(),
            chrono::Duration::seconds(30),
        );
        rewards::market::Markets::start(
            rewards::market::MarketContext {
                db,
                ledger,
                bus,
                jobs,
                hold_days: 30,
                depth_levels: 50,
                retry_after: chrono::Duration::seconds(30),
                drains: std::sync::Mutex::default(),
            },
            catalog,
            Duration::from_secs(60),
            None,
        )
        .await
        .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_for_one_market_through_two_nodes_in_turn_all_succeed() {
    let rig = Rig::new().await;
    rig.sku("TURN_1", 30).await;
    let (seller_id, seller) = rig.seller("TURN_1", 12).await;
    let (buyer_id, buyer) = rig.user();
    rig.fund(buyer_id, "COIN", 10_000).await;

    // 24 orders, every other one through the other node: asks at 100, bids that take
    // them and bids that rest below.
    let mut trades = 0;
    for n in 0..24 {
        let (token, body) = match n % 4 {
            0 | 2 => (
                &seller,
                json!({"id": Uuid::now_v7(), "side": "sell", "price": 100, "qty": 1}),
            ),
            1 => {
                trades += 1;
                (
                    &buyer,
                    json!({"id": Uuid::now_v7(), "side": "buy", "price": 100, "qty": 1}),
                )
            }
            _ => (
                &buyer,
                json!({"id": Uuid::now_v7(), "side": "buy", "price": 90 - n, "qty": 1}),
            ),
        };
        let (status, order, _) = rig
            .send(
                rig.node(n as usize),
                reqwest::Method::POST,
                "/v1/markets/TURN_1/orders",
                token,
                Some(body),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "order {n} through node {}: {order}",
            n % 2
        );
    }

    rig.books_agree_with_the_log("TURN_1", &buyer).await;
    rig.settled_all("TURN_1").await;
    // Each trade moved one unit and its code, once.
    assert_eq!(rig.balance(&buyer, "VCH_TURN_1").await, (trades, 0));
    assert_eq!(rig.codes_of("TURN_1", buyer_id).await, trades as u64);
    assert_eq!(rig.codes_of("TURN_1", seller_id).await, 12 - trades as u64);
    assert_eq!(rig.balance(&seller, "COIN").await, (100 * trades, 0));
    rig.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_order_sent_eight_times_at_once_rests_once() {
    let rig = Arc::new(Rig::new().await);
    rig.sku("ONCE_1", 1).await;
    let (buyer_id, buyer) = rig.user();
    rig.fund(buyer_id, "COIN", 1000).await;
    let id = Uuid::now_v7();
    let body = json!({"id": id, "side": "buy", "price": 95, "qty": 2});

    let sends: Vec<_> = (0..8)
        .map(|n| {
            let (rig, buyer, body) = (rig.clone(), buyer.clone(), body.clone());
            tokio::spawn(async move {
                rig.send(
                    rig.node(n),
                    reqwest::Method::POST,
                    "/v1/markets/ONCE_1/orders",
                    &buyer,
                    Some(body),
                )
                .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for send in sends {
        let (status, answer, headers) = send.await.unwrap();
        match status {
            StatusCode::CREATED => answers.push(answer),
            StatusCode::CONFLICT => {
                assert_eq!(answer["code"], "request_in_progress", "{answer}");
                assert!(headers.contains_key("retry-after"), "{headers:?}");
            }
            other => panic!("a send answered {other}: {answer}"),
        }
    }
    assert!(!answers.is_empty(), "no send answered the order");
    // Once done, a resend answers the first answer, on either node.
    for n in 0..2 {
        let (status, again, headers) = rig
            .send(
                rig.node(n),
                reqwest::Method::POST,
                "/v1/markets/ONCE_1/orders",
                &buyer,
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{again}");
        assert!(headers.contains_key("idempotent-replayed"));
        answers.push(again);
    }
    for answer in &answers {
        assert_eq!(answer, &answers[0]);
    }
    assert_eq!(
        (answers[0]["status"].clone(), answers[0]["open"].clone()),
        (json!("open"), json!(2))
    );
    // Another order under the same id is refused.
    let (status, problem, _) = rig
        .send(
            &rig.a,
            reqwest::Method::POST,
            "/v1/markets/ONCE_1/orders",
            &buyer,
            Some(json!({"id": id, "side": "buy", "price": 96, "qty": 2})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].clone()),
        (StatusCode::CONFLICT, json!("order_id_reused"))
    );

    // One hold, one place in the book.
    assert_eq!(rig.balance(&buyer, "COIN").await, (1000 - 190, 190));
    rig.books_agree_with_the_log("ONCE_1", &buyer).await;
    let book = rig.get(&rig.b, "/v1/markets/ONCE_1/book", &buyer).await;
    assert_eq!(book["bids"], json!([{"price": 95, "qty": 2, "orders": 1}]));
    let rig = Arc::into_inner(rig).unwrap();
    rig.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_abandon_job_leaves_an_order_in_the_book_alone_and_stops_one_that_is_not() {
    let rig = Rig::new().await;
    rig.sku("GONE_1", 1).await;
    let (buyer_id, buyer) = rig.user();
    rig.fund(buyer_id, "COIN", 1000).await;
    let markets = rig.third_markets().await;

    // An order in the book: the job finds nothing to do.
    let resting = json!({"id": Uuid::now_v7(), "side": "buy", "price": 50, "qty": 2});
    let (status, first, _) = rig
        .send(
            &rig.a,
            reqwest::Method::POST,
            "/v1/markets/GONE_1/orders",
            &buyer,
            Some(resting.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let id: Uuid = first["id"].as_str().unwrap().parse().unwrap();
    markets.abandon(id).await.unwrap();
    assert_eq!(rig.balance(&buyer, "COIN").await, (900, 100));
    let path = format!("/v1/markets/GONE_1/orders/{id}");
    assert_eq!(rig.get(&rig.b, &path, &buyer).await["status"], "open");

    // An order claimed for the book whose attempt stopped after its hold (a crashed
    // node): the job releases it, and a resend never puts it in the book.
    let stopped = rewards::market::PlaceOrder {
        id: Uuid::now_v7(),
        side: contracts::rewards::Side::Buy,
        price: 30,
        qty: 3,
        time_in_force: rewards::market::Tif::Gtc,
    };
    let hold = json!({"legs": [{"kind": "hold", "id": stopped.id, "debit": format!("user:{buyer_id}"),
        "credit": "system:market_escrow", "asset": "COIN", "amount": "90", "timeout_seconds": 86400}]});
    let (status, body, _) = rig
        .send(
            &rig.a,
            reqwest::Method::POST,
            "/v1/admin/ledger/transfers",
            &rig.admin,
            Some(hold),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let now = chrono::Utc::now();
    use sea_orm::ActiveValue::Set;
    rewards::store::order::Entity::insert(rewards::store::order::ActiveModel {
        id: Set(stopped.id),
        user_id: Set(buyer_id),
        sku: Set("GONE_1".into()),
        engine_id: Set(None),
        side: Set("buy".into()),
        price: Set(30),
        qty: Set(3),
        tif: Set("gtc".into()),
        request_hash: Set(rewards::market::request_hash("GONE_1", &stopped)),
        status: Set("submitting".into()),
        filled: Set(0),
        hold_id: Set(stopped.id),
        held: Set(90),
        holds: Set(0),
        reason: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        answer: Set(None),
    })
    .exec(rig.db())
    .await
    .unwrap();
    assert_eq!(rig.balance(&buyer, "COIN").await, (810, 190));
    markets.abandon(stopped.id).await.unwrap();
    assert_eq!(rig.balance(&buyer, "COIN").await, (900, 100));
    let (status, problem, _) = rig
        .send(
            &rig.b,
            reqwest::Method::POST,
            "/v1/markets/GONE_1/orders",
            &buyer,
            Some(json!({"id": stopped.id, "side": "buy", "price": 30, "qty": 3})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].clone()),
        (StatusCode::CONFLICT, json!("interrupted")),
        "{problem}"
    );
    let book = rig.get(&rig.a, "/v1/markets/GONE_1/book", &buyer).await;
    assert_eq!(book["bids"], json!([{"price": 50, "qty": 2, "orders": 1}]));
    assert_eq!(rig.balance(&buyer, "COIN").await, (900, 100));
    markets.stop().await;
    rig.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_settlement_drained_by_several_settlers_at_once_moves_each_code_once() {
    let rig = Arc::new(Rig::new().await);
    rig.sku("RACE_1", 60).await;
    let (seller_id, _) = rig.seller("RACE_1", 60).await;
    let (buyer_id, buyer) = rig.user();
    // Thirty settlements a stopped node left pending, each paying the buyer a coin and
    // moving one of the seller's codes to the buyer.
    for seq in 1..=30 {
        let legs = json!([{"kind": "transfer", "id": rewards::ledger::leg_id(&["RACE_1", &seq.to_string(), "pay"]),
            "debit": "system:issuance", "credit": format!("user:{buyer_id}"), "asset": "COIN", "amount": "1"}]);
        let moves = json!([{"from": seller_id, "to": buyer_id, "qty": 1}]);
        rig.pending_settlement("RACE_1", seq, legs, moves).await;
    }
    let third = Arc::new(rig.third_markets().await);

    // Both nodes' market actors start (each drains what it finds) while the settle job
    // runs twice.
    let mut racers = Vec::new();
    for n in 0..2 {
        let (rig, buyer) = (rig.clone(), buyer.clone());
        racers.push(tokio::spawn(async move {
            rig.get(rig.node(n), "/v1/markets/RACE_1/book", &buyer)
                .await;
        }));
    }
    for _ in 0..2 {
        let third = third.clone();
        racers.push(tokio::spawn(async move {
            let _ = third.drain("RACE_1").await;
        }));
    }
    for racer in racers {
        racer.await.unwrap();
    }
    rig.settled_all("RACE_1").await;
    assert_eq!(rig.codes_of("RACE_1", buyer_id).await, 30);
    assert_eq!(rig.codes_of("RACE_1", seller_id).await, 30);
    assert_eq!(rig.balance(&buyer, "COIN").await, (30, 0));
    Arc::into_inner(third).unwrap().stop().await;
    let rig = Arc::into_inner(rig).unwrap();
    rig.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_settlement_the_wallet_refuses_halts_its_market_visibly() {
    let rig = Rig::new().await;
    rig.sku("HALT_1", 4).await;
    let (seller_id, _) = rig.seller("HALT_1", 2).await;
    let (buyer_id, buyer) = rig.user();
    rig.fund(buyer_id, "COIN", 1000).await;
    // A settlement posting a hold the wallet does not have (an operator voided it, say),
    // and one behind it.
    let post = json!([{"kind": "post", "id": Uuid::now_v7(), "pending_id": Uuid::now_v7(), "amount": "1"}]);
    let moves = json!([{"from": seller_id, "to": buyer_id, "qty": 1}]);
    rig.pending_settlement("HALT_1", 1, post, moves.clone())
        .await;
    let pay = json!([{"kind": "transfer", "id": Uuid::now_v7(), "debit": "system:issuance",
        "credit": format!("user:{buyer_id}"), "asset": "COIN", "amount": "1"}]);
    rig.pending_settlement("HALT_1", 2, pay, moves).await;
    // The market starts, and drains.
    rig.get(&rig.a, "/v1/markets/HALT_1/book", &buyer).await;

    // Admins see the halt and why.
    let admin = rig.admin.clone();
    testkit::eventually(
        "the market is shown halted",
        Duration::from_secs(10),
        || async {
            let (status, markets, _) = rig
                .send(
                    &rig.b,
                    reqwest::Method::GET,
                    "/v1/admin/markets",
                    &admin,
                    None,
                )
                .await;
            status == StatusCode::OK
                && markets.as_array().is_some_and(|markets| {
                    markets.iter().any(|market| {
                        market["sku"] == "HALT_1"
                            && market["halted"] == true
                            && market["failed_seq"] == 1
                            && market["failure"] == "hold_not_found"
                    })
                })
        },
    )
    .await;
    // New orders are refused with a clear code, on every node; nothing is held.
    for node in [&rig.a, &rig.b] {
        let (status, problem, _) = rig
            .send(
                node,
                reqwest::Method::POST,
                "/v1/markets/HALT_1/orders",
                &buyer,
                Some(json!({"id": Uuid::now_v7(), "side": "buy", "price": 10, "qty": 1})),
            )
            .await;
        assert_eq!(
            (status, problem["code"].clone()),
            (StatusCode::CONFLICT, json!("market_halted")),
            "{problem}"
        );
    }
    assert_eq!(rig.balance(&buyer, "COIN").await, (1000, 0));
    // The settlement behind it waits for a person: it is neither sent nor moves a code.
    let behind = settlement::Entity::find()
        .filter(settlement::Column::Sku.eq("HALT_1"))
        .filter(settlement::Column::Seq.eq(2_i64))
        .one(rig.db())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(behind.status, "pending");
    assert_eq!(rig.codes_of("HALT_1", buyer_id).await, 0);
    // The alert.
    let metrics = rig
        .a
        .client
        .get(rig.a.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("rewards_market_halted{sku=\"HALT_1\"} 1")),
        "no halt alert in:\n{metrics}"
    );
    rig.shutdown().await;
}
