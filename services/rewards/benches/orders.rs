//! Order placement end to end: `POST /v1/markets/{sku}/orders` over real HTTP against a
//! node (jobs, accounts, wallet, rewards), each order held in the wallet, matched, logged
//! and settled before its answer. `cargo bench -p rewards --bench orders`.
//!
//! SQLite and the in-process bus by default; `TEST_DATABASE_URL` (Postgres) and
//! `TEST_NATS_URL` switch backends, as for the tests. Four markets, 200 traders funded
//! with coins and units; prices are drawn around 100 so about a third of the orders
//! trade. A closed loop first finds the saturation throughput; then open loops at fixed
//! rates measure latency from when each order was due (a stall is not hidden).
//! Arguments: `--seconds N` per phase (default 5).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hdrhistogram::Histogram;
use kernel::{Role, UserId};
use rand::Rng;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use testkit::TestApp;
use uuid::Uuid;

const MARKETS: [&str; 4] = ["BENCH_A", "BENCH_B", "BENCH_C", "BENCH_D"];
const TRADERS: usize = 200;

struct Load {
    app: TestApp,
    traders: Vec<String>,
}

impl Load {
    async fn order(&self) -> bool {
        // The thread's generator is not `Send`: draw everything before the first await.
        let (sku, trader, body) = {
            let mut rng = rand::rng();
            let sku = MARKETS[rng.random_range(0..MARKETS.len())];
            let trader = &self.traders[rng.random_range(0..self.traders.len())];
            let side = if rng.random_bool(0.5) { "buy" } else { "sell" };
            // Bids just under 100 and asks just over, with an overlap that trades.
            let price: u64 = match side {
                "buy" => rng.random_range(90..=102),
                _ => rng.random_range(98..=110),
            };
            let qty: u64 = rng.random_range(1..=3);
            (
                sku,
                trader,
                json!({"id": Uuid::now_v7(), "side": side, "price": price, "qty": qty}),
            )
        };
        let response = self
            .app
            .client
            .post(self.app.url(&format!("/v1/markets/{sku}/orders")))
            .bearer_auth(trader)
            .json(&body)
            .send()
            .await;
        matches!(response, Ok(response) if response.status().as_u16() == 201)
    }
}

fn print(label: &str, histogram: &Histogram<u64>, ok: u64, failed: u64, elapsed: Duration) {
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "| {label} | {:.0}/s | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {failed} |",
        ok as f64 / elapsed.as_secs_f64(),
        ms(0.5),
        ms(0.9),
        ms(0.99),
        histogram.max() as f64 / 1000.0,
    );
}

async fn closed(load: &Arc<Load>, clients: usize, run: Duration) -> f64 {
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let load = load.clone();
            tokio::spawn(async move {
                let mut histogram = Histogram::<u64>::new(3).unwrap();
                let (mut ok, mut failed) = (0u64, 0u64);
                while start.elapsed() < run {
                    let began = Instant::now();
                    if load.order().await {
                        ok += 1;
                    } else {
                        failed += 1;
                    }
                    histogram
                        .record(began.elapsed().as_micros() as u64)
                        .unwrap();
                }
                (histogram, ok, failed)
            })
        })
        .collect();
    let mut total = Histogram::<u64>::new(3).unwrap();
    let (mut ok, mut failed) = (0, 0);
    for task in tasks {
        let (histogram, o, f) = task.await.unwrap();
        total.add(histogram).unwrap();
        ok += o;
        failed += f;
    }
    let elapsed = start.elapsed();
    print(
        &format!("closed loop, {clients} clients"),
        &total,
        ok,
        failed,
        elapsed,
    );
    ok as f64 / elapsed.as_secs_f64()
}

async fn open(load: &Arc<Load>, rate: f64, run: Duration) {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let mut tasks = Vec::new();
    let mut n = 0u32;
    loop {
        let due = start + interval * n;
        if due - start >= run {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let load = load.clone();
        tasks.push(tokio::spawn(async move {
            let ok = load.order().await;
            (due.elapsed().as_micros() as u64, ok)
        }));
        n += 1;
    }
    let mut histogram = Histogram::<u64>::new(3).unwrap();
    let (mut ok, mut failed) = (0, 0);
    for task in tasks {
        let (micros, success) = task.await.unwrap();
        histogram.record(micros).unwrap();
        if success {
            ok += 1;
        } else {
            failed += 1;
        }
    }
    print(
        &format!("open loop at {rate:.0}/s"),
        &histogram,
        ok,
        failed,
        start.elapsed(),
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds = args
        .iter()
        .position(|arg| arg == "--seconds")
        .and_then(|at| args.get(at + 1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(5);
    let run = Duration::from_secs(seconds);
    let app = TestApp::spawn_with(
        vec![
            Arc::new(jobs::JobsModule),
            Arc::new(accounts::Accounts),
            Arc::new(wallet::Wallet),
            Arc::new(rewards::Rewards),
        ],
        |figment| figment.merge(("http.workers", 2)),
    )
    .await
    .unwrap();
    let admin = app.token(UserId::new(), &[Role::Admin]);
    for sku in MARKETS {
        let body = json!({"brand": "bench", "brand_name": "Bench", "name": sku, "denomination": "100",
            "currency": "INR", "price": 100, "expires_at": "2099-01-01T00:00:00Z"});
        let response = app
            .client
            .put(app.url(&format!("/v1/admin/vouchers/skus/{sku}")))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }
    let mut traders = Vec::with_capacity(TRADERS);
    for _ in 0..TRADERS {
        let user = UserId::new();
        let mut legs = vec![
            json!({"kind": "transfer", "id": Uuid::now_v7(), "debit": "system:issuance",
            "credit": format!("user:{}", user.0), "asset": "COIN", "amount": "100000000"}),
        ];
        for sku in MARKETS {
            legs.push(json!({"kind": "transfer", "id": Uuid::now_v7(), "debit": "system:issuance",
                "credit": format!("user:{}", user.0), "asset": format!("VCH_{sku}"), "amount": "1000000"}));
        }
        let response = app
            .client
            .post(app.url("/v1/admin/ledger/transfers"))
            .bearer_auth(&admin)
            .json(&json!({ "legs": legs }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        traders.push(app.token(user, &[Role::User]));
    }
    let load = Arc::new(Load { app, traders });
    println!(
        "order placement over HTTP ({} backend, {} markets, {seconds} s per row)\n",
        if std::env::var("TEST_DATABASE_URL").is_ok() {
            "Postgres"
        } else {
            "SQLite"
        },
        MARKETS.len()
    );
    println!("| load | orders/s | p50 | p90 | p99 | max | failed |");
    println!("|---|---|---|---|---|---|---|");
    // Warm the markets' actors and caches.
    closed(&load, 8, Duration::from_secs(1)).await;
    let mut best: f64 = 0.0;
    for clients in [4, 16, 64] {
        best = best.max(closed(&load, clients, run).await);
    }
    // A steady 50 orders/s (a busy voucher market), then fractions of the best.
    open(&load, 50.0, run).await;
    for share in [0.25, 0.5, 0.75] {
        open(&load, best * share, run).await;
    }
}
