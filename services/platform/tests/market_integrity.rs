//! Markets through the real binary, as a round-robin balancer spreads a client over two
//! `platform serve` nodes of one database: sixty orders for one market in turn, one order
//! sent many times at once, and two nodes draining one market's settlements at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Deployment, Node};
use reqwest::StatusCode;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

use rewards::store::{code, market_log, settlement};

/// A deployment of two nodes, an admin and a connection to their database.
struct Market {
    deployment: Deployment,
    nodes: [Node; 2],
    db: DatabaseConnection,
    admin: String,
}

impl Market {
    async fn new() -> Self {
        let deployment = Deployment::new().await;
        let nodes = [deployment.node(&[]), deployment.node(&[])];
        let db = sea_orm::Database::connect(deployment.database_url())
            .await
            .unwrap();
        let admin = deployment.admin_token();
        Self {
            deployment,
            nodes,
            db,
            admin,
        }
    }

    async fn send(
        &self,
        node: usize,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .deployment
            .client
            .request(method, self.nodes[node % 2].url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, node: usize, path: &str, token: &str) -> Value {
        let (status, body) = self
            .send(node, reqwest::Method::GET, path, token, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    fn user(&self) -> (Uuid, String) {
        let id = kernel::UserId::new();
        (id.0, testkit::token(id, &[kernel::Role::User]))
    }

    /// A SKU with `codes` codes in stock.
    async fn sku(&self, sku: &str, codes: u64) {
        let body = json!({"brand": "amazon", "brand_name": "Amazon", "name": format!("Voucher {sku}"),
            "denomination": "100.00", "currency": "INR", "price": 100, "pattern": "E2E-{12:alphanumeric/4}",
            "expires_at": "2099-12-31T00:00:00Z"});
        let (status, body) = self
            .send(
                0,
                reqwest::Method::PUT,
                &format!("/v1/admin/vouchers/skus/{sku}"),
                &self.admin,
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = self
            .send(
                0,
                reqwest::Method::POST,
                &format!("/v1/admin/vouchers/skus/{sku}/codes"),
                &self.admin,
                Some(json!({"top_up_to": codes})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// A seller of `units` units with a code for each (what `units` purchases leave).
    async fn seller(&self, sku: &str, units: u64) -> (Uuid, String) {
        let (id, token) = self.user();
        self.deployment
            .fund(
                &self.nodes[0],
                id,
                &rewards::ledger::units_asset(sku),
                &units.to_string(),
            )
            .await;
        let free: Vec<Uuid> = code::Entity::find()
            .select_only()
            .column(code::Column::Id)
            .filter(code::Column::Sku.eq(sku))
            .filter(code::Column::Owner.is_null())
            .limit(units)
            .into_tuple()
            .all(&self.db)
            .await
            .unwrap();
        assert_eq!(free.len() as u64, units);
        code::Entity::update_many()
            .col_expr(code::Column::Owner, Some(id).into())
            .col_expr(code::Column::AssignedAt, Some(chrono::Utc::now()).into())
            .filter(code::Column::Id.is_in(free))
            .exec(&self.db)
            .await
            .unwrap();
        (id, token)
    }

    async fn codes_of(&self, sku: &str, user: Uuid) -> u64 {
        code::Entity::find()
            .filter(code::Column::Sku.eq(sku))
            .filter(code::Column::Owner.eq(user))
            .count(&self.db)
            .await
            .unwrap()
    }

    /// `(available, pending)` of `asset` in the user's wallet.
    async fn balance(&self, token: &str, asset: &str) -> (i64, i64) {
        let wallet = self.get(0, "/v1/wallet", token).await;
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
            .all(&self.db)
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
        for node in 0..2 {
            let path = format!("/v1/markets/{sku}/book?levels=50");
            testkit::eventually(
                "the node's book is the replay of the log",
                Duration::from_secs(15),
                || async { self.get(node, &path, token).await == expected },
            )
            .await;
        }
    }

    async fn settled_all(&self, sku: &str) {
        testkit::eventually(
            "every settlement is done",
            Duration::from_secs(30),
            || async {
                settlement::Entity::find()
                    .filter(settlement::Column::Sku.eq(sku))
                    .filter(settlement::Column::Status.ne("done"))
                    .count(&self.db)
                    .await
                    .unwrap()
                    == 0
            },
        )
        .await;
    }

    /// How often the node restarted a market actor (`actor_restarts_total`).
    async fn market_restarts(&self, node: usize) -> f64 {
        let metrics = self
            .deployment
            .client
            .get(self.nodes[node].url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metrics
            .lines()
            .filter(|line| {
                line.starts_with("actor_restarts_total{") && line.contains("registry=\"markets\"")
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_orders_for_one_market_through_two_nodes_in_turn_all_succeed() {
    let mut market = Market::new().await;
    market.sku("TURN_60", 40).await;
    let (seller_id, seller) = market.seller("TURN_60", 30).await;
    let (buyer_id, buyer) = market.user();
    market
        .deployment
        .fund(&market.nodes[1], buyer_id, "COIN", "100000")
        .await;

    // Asks at 100, bids that take them, bids that rest below; every other one through
    // the other node.
    let mut trades = 0;
    let mut refused = Vec::new();
    for n in 0..60usize {
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
        let (status, order) = market
            .send(
                n,
                reqwest::Method::POST,
                "/v1/markets/TURN_60/orders",
                token,
                Some(body),
            )
            .await;
        if status != StatusCode::CREATED {
            refused.push(format!("order {n} via node {}: {status} {order}", n % 2));
        }
    }
    let running = [market.nodes[0].is_running(), market.nodes[1].is_running()];
    let restarts = [
        market.market_restarts(0).await,
        market.market_restarts(1).await,
    ];
    eprintln!(
        "60 orders: {} refused, nodes running {running:?}, market actor restarts {restarts:?}",
        refused.len()
    );
    assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));
    assert_eq!(running, [true, true], "a node stopped");
    assert_eq!(restarts, [0.0, 0.0], "a market actor crashed");

    market.books_agree_with_the_log("TURN_60", &buyer).await;
    market.settled_all("TURN_60").await;
    assert_eq!(market.balance(&buyer, "VCH_TURN_60").await, (trades, 0));
    assert_eq!(market.codes_of("TURN_60", buyer_id).await, trades as u64);
    assert_eq!(
        market.codes_of("TURN_60", seller_id).await,
        30 - trades as u64
    );
    market.deployment.verify_ledger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_order_resent_at_once_through_two_nodes_rests_once() {
    let market = std::sync::Arc::new(Market::new().await);
    market.sku("ONCE_E2E", 1).await;
    let (buyer_id, buyer) = market.user();
    market
        .deployment
        .fund(&market.nodes[0], buyer_id, "COIN", "1000")
        .await;
    let body = json!({"id": Uuid::now_v7(), "side": "buy", "price": 95, "qty": 2});

    let sends: Vec<_> = (0..8)
        .map(|n| {
            let (market, buyer, body) = (market.clone(), buyer.clone(), body.clone());
            tokio::spawn(async move {
                market
                    .send(
                        n,
                        reqwest::Method::POST,
                        "/v1/markets/ONCE_E2E/orders",
                        &buyer,
                        Some(body),
                    )
                    .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for send in sends {
        let (status, answer) = send.await.unwrap();
        match status {
            StatusCode::CREATED => answers.push(answer),
            StatusCode::CONFLICT if answer["code"] == "request_in_progress" => {}
            other => panic!("a send answered {other}: {answer}"),
        }
    }
    for n in 0..2 {
        let (status, again) = market
            .send(
                n,
                reqwest::Method::POST,
                "/v1/markets/ONCE_E2E/orders",
                &buyer,
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{again}");
        answers.push(again);
    }
    for answer in &answers {
        assert_eq!(answer, &answers[0]);
    }
    // One hold, one place in the book, on both nodes.
    assert_eq!(market.balance(&buyer, "COIN").await, (1000 - 190, 190));
    market.books_agree_with_the_log("ONCE_E2E", &buyer).await;
    for node in 0..2 {
        let book = market.get(node, "/v1/markets/ONCE_E2E/book", &buyer).await;
        assert_eq!(book["bids"], json!([{"price": 95, "qty": 2, "orders": 1}]));
    }
    market.deployment.verify_ledger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_draining_one_market_move_each_code_once() {
    let market = std::sync::Arc::new(Market::new().await);
    market.sku("DRAIN_E2E", 60).await;
    let (seller_id, _) = market.seller("DRAIN_E2E", 60).await;
    let (buyer_id, buyer) = market.user();
    // Thirty settlements a stopped node left pending, each paying the buyer a coin and
    // moving one of the seller's codes to the buyer.
    for seq in 1..=30i64 {
        use sea_orm::ActiveValue::Set;
        let legs = json!({"legs": [{"kind": "transfer",
            "id": rewards::ledger::leg_id(&["DRAIN_E2E", &seq.to_string(), "pay"]),
            "debit": "system:issuance", "credit": format!("user:{buyer_id}"), "asset": "COIN", "amount": "1"}]});
        settlement::Entity::insert(settlement::ActiveModel {
            id: Set(rewards::ledger::leg_id(&[
                "DRAIN_E2E",
                &seq.to_string(),
                "settlement",
            ])),
            sku: Set("DRAIN_E2E".to_owned()),
            seq: Set(seq),
            batch: Set(legs.to_string()),
            code_moves: Set(json!([{"from": seller_id, "to": buyer_id, "qty": 1}]).to_string()),
            status: Set("pending".to_owned()),
            failure: Set(None),
            created_at: Set(chrono::Utc::now()),
            ..Default::default()
        })
        .exec(&market.db)
        .await
        .unwrap();
    }
    // The market starts on both nodes at once, and each drains what it finds.
    let starts: Vec<_> = (0..2)
        .map(|n| {
            let (market, buyer) = (market.clone(), buyer.clone());
            tokio::spawn(async move {
                market.get(n, "/v1/markets/DRAIN_E2E/book", &buyer).await;
            })
        })
        .collect();
    for start in starts {
        start.await.unwrap();
    }
    market.settled_all("DRAIN_E2E").await;
    assert_eq!(market.codes_of("DRAIN_E2E", buyer_id).await, 30);
    assert_eq!(market.codes_of("DRAIN_E2E", seller_id).await, 30);
    assert_eq!(market.balance(&buyer, "COIN").await, (30, 0));
    market.deployment.verify_ledger();
}
