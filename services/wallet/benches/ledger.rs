//! Ledger throughput and latency on Postgres: the actor path with group commit against a
//! naive baseline (one SQL transaction per transfer, same schema and statements), in one
//! run. `cargo bench -p wallet --bench ledger`; `BENCH_DATABASE_URL` picks the server
//! (default `postgres://postgres@127.0.0.1:5432/postgres`; a fresh database is created and
//! dropped).
//!
//! The load: 1,000 funded wallets, each request a 1-coin transfer between two random
//! wallets, so every request debits a user and takes that wallet's actor. Closed loop at
//! several concurrencies gives each path's saturation throughput; then open loops at 50%,
//! 65% and 80% of each path's best give the latency a client would see as the load nears
//! saturation, measured from when each request was due, so a stall is not hidden.
//! The outbox relay runs throughout (on the in-process bus), as in a node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use contracts::wallet::{Batch, Leg, TransferLeg};
use hdrhistogram::Histogram;
use rand::Rng;
use runtime::Module;
use sea_orm::ConnectionTrait;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;
use wallet::ledger::Ledger;
use wallet::{WalletService, WalletSettings};

const WALLETS: usize = 1000;
const RUN: Duration = Duration::from_secs(5);

fn transfer(wallets: &[Uuid]) -> Batch {
    let mut rng = rand::rng();
    let from = rng.random_range(0..wallets.len());
    let to = (from + rng.random_range(1..wallets.len())) % wallets.len();
    Batch {
        legs: vec![Leg::Transfer(TransferLeg {
            id: Uuid::now_v7(),
            debit: format!("user:{}", wallets[from]),
            credit: format!("user:{}", wallets[to]),
            asset: "COIN".into(),
            amount: "1".into(),
            memo: None,
        })],
    }
}

#[derive(Clone)]
enum Path {
    Naive(Arc<Ledger>),
    Actors(WalletService),
}

impl Path {
    fn name(&self) -> &'static str {
        match self {
            Path::Naive(_) => "naive: 1 transaction per transfer",
            Path::Actors(_) => "wallet actors + group commit",
        }
    }

    async fn run(&self, batch: Batch) {
        match self {
            Path::Naive(ledger) => {
                let planned = ledger.catalog().plan(&batch).await.unwrap();
                ledger.commit_all(&[&planned]).await.unwrap();
            }
            Path::Actors(service) => {
                service.execute(&batch).await.unwrap();
            }
        }
    }
}

struct Figures {
    per_second: f64,
    p50: f64,
    p99: f64,
    max: f64,
}

fn figures(histogram: &Histogram<u64>, count: u64, elapsed: Duration) -> Figures {
    let ms = |micros: u64| micros as f64 / 1000.0;
    Figures {
        per_second: count as f64 / elapsed.as_secs_f64(),
        p50: ms(histogram.value_at_quantile(0.50)),
        p99: ms(histogram.value_at_quantile(0.99)),
        max: ms(histogram.max()),
    }
}

/// `concurrency` clients, each sending its next transfer when the last is answered.
async fn closed_loop(path: &Path, wallets: &Arc<Vec<Uuid>>, concurrency: usize) -> Figures {
    let started = Instant::now();
    let clients = (0..concurrency).map(|_| {
        let (path, wallets) = (path.clone(), wallets.clone());
        tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new(3).unwrap();
            while started.elapsed() < RUN {
                let sent = Instant::now();
                path.run(transfer(&wallets)).await;
                histogram.record(sent.elapsed().as_micros() as u64).unwrap();
            }
            histogram
        })
    });
    let mut total = Histogram::<u64>::new(3).unwrap();
    for client in futures::future::join_all(clients).await {
        total.add(client.unwrap()).unwrap();
    }
    figures(&total, total.len(), started.elapsed())
}

/// Transfers sent at a fixed `rate`, each timed from when it was due.
async fn open_loop(path: &Path, wallets: &Arc<Vec<Uuid>>, rate: f64) -> Figures {
    let started = Instant::now();
    let every = Duration::from_secs_f64(1.0 / rate);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut due = tokio::time::Instant::now();
    let mut sent = 0u64;
    while started.elapsed() < RUN {
        tokio::time::sleep_until(due).await;
        let (path, wallets, tx) = (path.clone(), wallets.clone(), tx.clone());
        let scheduled = due;
        tokio::spawn(async move {
            path.run(transfer(&wallets)).await;
            let _ = tx.send(scheduled.elapsed().as_micros() as u64);
        });
        sent += 1;
        due += every;
    }
    drop(tx);
    let mut histogram = Histogram::<u64>::new(3).unwrap();
    while let Some(micros) = rx.recv().await {
        histogram.record(micros).unwrap();
    }
    figures(&histogram, sent, started.elapsed())
}

fn row(name: &str, load: &str, f: &Figures) {
    println!(
        "{name:<36} {load:>14} {:>12.0} {:>9.2} {:>9.2} {:>9.2}",
        f.per_second, f.p50, f.p99, f.max
    );
}

#[tokio::main]
async fn main() {
    let server = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("wallet_bench_{}", Uuid::new_v4().simple());
    let admin = storage::connect(&server).await.unwrap();
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    let url = format!("{}/{name}", server.rsplit_once('/').unwrap().0);
    let db = storage::connect(&url).await.unwrap();
    storage::migrate(
        &db,
        &[jobs::migrations(), wallet::Wallet.migrations().unwrap()],
    )
    .await
    .unwrap();

    let bus: bus::DynBus = Arc::new(bus::LocalBus::new());
    let jobs = jobs::Jobs::new(db.clone(), bus.clone());
    let relay = outbox::Relay::spawn(
        wallet::OUTBOX,
        db.clone(),
        bus,
        bus::StreamConfig::new(wallet::STREAM, [contracts::wallet::TRANSFER_EVENTS])
            .with_max_age(Duration::from_secs(60)),
        Duration::from_millis(100),
    );
    let settings = WalletSettings::default();
    let service = WalletService::start(db.clone(), &settings, relay.waker(), jobs.clone(), None)
        .await
        .unwrap();
    let ledger = Arc::new(Ledger::new(
        db.clone(),
        service.catalog().clone(),
        relay.waker(),
        jobs,
    ));

    let wallets: Arc<Vec<Uuid>> = Arc::new((0..WALLETS).map(|_| Uuid::now_v7()).collect());
    for chunk in wallets.chunks(64) {
        let legs = chunk
            .iter()
            .map(|user| {
                Leg::Transfer(TransferLeg {
                    id: Uuid::now_v7(),
                    debit: "system:issuance".into(),
                    credit: format!("user:{user}"),
                    asset: "COIN".into(),
                    amount: "1000000".into(),
                    memo: None,
                })
            })
            .collect();
        service.execute(&Batch { legs }).await.unwrap();
    }

    println!(
        "ledger on Postgres, {WALLETS} wallets, 1-coin transfers between random wallets, {}s per row",
        RUN.as_secs()
    );
    println!(
        "{:<36} {:>14} {:>12} {:>9} {:>9} {:>9}",
        "path", "load", "transfers/s", "p50 ms", "p99 ms", "max ms"
    );
    let paths = [Path::Naive(ledger), Path::Actors(service.clone())];
    let mut best = [0.0f64; 2];
    for concurrency in [1, 16, 64, 256] {
        for (i, path) in paths.iter().enumerate() {
            let f = closed_loop(path, &wallets, concurrency).await;
            best[i] = best[i].max(f.per_second);
            row(path.name(), &format!("{concurrency} clients"), &f);
        }
    }
    // Latency under a steady offered load, at fractions of each path's best: where it
    // stays flat, and where queueing sets in just below saturation.
    for share in [0.5, 0.65, 0.8] {
        for (i, path) in paths.iter().enumerate() {
            let rate = best[i] * share;
            let f = open_loop(path, &wallets, rate).await;
            row(path.name(), &format!("{rate:.0}/s open"), &f);
        }
    }
    println!(
        "best throughput: actors {:.0}/s, naive {:.0}/s: {:.1}x",
        best[1],
        best[0],
        best[1] / best[0]
    );

    let report = wallet::verify::verify(&db).await.unwrap();
    print!("{report}");
    service.stop().await;
    let (task, stop) = relay.into_task();
    stop.notify_one();
    let _ = task.await;
    db.close().await.unwrap();
    admin
        .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
}
