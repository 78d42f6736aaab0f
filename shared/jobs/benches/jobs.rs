//! Job throughput and latency on Postgres and NATS, in one run:
//!
//! - no-op jobs per second with one node and with two (each node its own pool and NATS
//!   connection, all in this process on the machine's cores);
//! - enqueue-to-start latency, p50 / p99: one job at a time on an idle node, from the
//!   `enqueue` call to the worker's first line;
//! - RPC round trip, p50 / p99, beside raw NATS request/reply on the same connection.
//!
//! `cargo bench -p jobs`. `BENCH_DATABASE_URL` names the Postgres server (default
//! `postgres://postgres@127.0.0.1:5432/postgres`; a fresh database is created and dropped),
//! `BENCH_NATS_URL` the NATS server (default `nats://127.0.0.1:4222`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bus::{DynBus, Message, NatsBus};
use futures::StreamExt;
use hdrhistogram::Histogram;
use jobs::{Job, JobError, JobOptions, Jobs, NewJob, Queue, Runner, RunnerConfig, Worker};
use sea_orm::ConnectionTrait;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const THROUGHPUT_JOBS: usize = 20_000;
const LATENCY_JOBS: u64 = 2_000;
const RPC_CALLS: usize = 5_000;
const CONCURRENCY: usize = 100;

#[derive(Clone, Default)]
struct Noop {
    done: Arc<AtomicUsize>,
    /// When each tagged job started (latency phase).
    started: Arc<Mutex<HashMap<u64, Instant>>>,
}

impl Worker for Noop {
    const NAME: &'static str = "bench.noop";
    type Args = u64;

    fn options() -> JobOptions {
        JobOptions::default().queue("bench")
    }

    async fn perform(&self, job: Job<u64>) -> Result<Value, JobError> {
        if job.args > 0 {
            self.started
                .lock()
                .unwrap()
                .insert(job.args, Instant::now());
        }
        self.done.fetch_add(1, Ordering::Relaxed);
        Ok(Value::Null)
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

fn database_url(server: &str, name: &str) -> String {
    let (base, _) = server.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

struct Node {
    jobs: Jobs,
    runner: Option<Runner>,
}

async fn node(url: &str, nats: &str, prefix: &str, worker: &Noop, name: &str) -> Node {
    let db = storage::connect(url).await.unwrap();
    let bus: DynBus = Arc::new(NatsBus::connect_named(nats, name).await.unwrap());
    let jobs = Jobs::new(db, bus).with_subject_prefix(prefix);
    let config = RunnerConfig {
        poll_interval: Duration::from_millis(500),
        ..RunnerConfig::default()
    };
    let runner = Runner::builder(jobs.clone())
        .config(config)
        .node_id(name)
        .queue(Queue::new("bench").concurrency(CONCURRENCY))
        .worker(worker.clone())
        .start()
        .await
        .unwrap();
    Node {
        jobs,
        runner: Some(runner),
    }
}

async fn enqueue_many(jobs: &Jobs, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let batch: Vec<NewJob> = chunk
            .iter()
            .map(|_| NewJob::of::<Noop>(&0).unwrap())
            .collect();
        jobs.enqueue_all(batch).await.unwrap();
    }
}

async fn completed(jobs: &Jobs) -> u64 {
    jobs.stats()
        .await
        .unwrap()
        .iter()
        .map(|q| q.completed)
        .sum()
}

/// Enqueues `THROUGHPUT_JOBS` while the queue is paused, then resumes it and times until
/// every job is recorded completed.
async fn throughput(nodes: &[Node], worker: &Noop) -> f64 {
    let jobs = &nodes[0].jobs;
    let before = completed(jobs).await;
    jobs.pause("bench").await.unwrap();
    enqueue_many(jobs, THROUGHPUT_JOBS).await;
    worker.done.store(0, Ordering::SeqCst);
    let started = Instant::now();
    jobs.resume("bench").await.unwrap();
    // Counting completed rows is a scan: polling it often would load the database being
    // measured. The workers' own count says when to start checking.
    while worker.done.load(Ordering::SeqCst) < THROUGHPUT_JOBS {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let target = before + THROUGHPUT_JOBS as u64;
    while completed(jobs).await < target {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    THROUGHPUT_JOBS as f64 / started.elapsed().as_secs_f64()
}

fn percentiles(histogram: &Histogram<u64>) -> String {
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        histogram.value_at_quantile(0.5) as f64 / 1000.0,
        histogram.value_at_quantile(0.99) as f64 / 1000.0,
        histogram.max() as f64 / 1000.0
    )
}

async fn run() {
    let server = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let nats = std::env::var("BENCH_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let name = format!("bench_jobs_{}", uuid::Uuid::new_v4().simple());
    let admin = storage::connect(&server).await.unwrap();
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    let url = database_url(&server, &name);
    storage::migrate_exclusively(&url, &[jobs::migrations()])
        .await
        .unwrap();
    let prefix = format!("jobs.v1.bench{}", uuid::Uuid::new_v4().simple());
    let worker = Noop::default();
    println!(
        "jobs benchmark: Postgres {}, NATS {nats}, concurrency {CONCURRENCY} per node",
        server
            .rsplit_once('@')
            .map_or(server.as_str(), |(_, host)| host)
    );

    // One node.
    let mut nodes = vec![node(&url, &nats, &prefix, &worker, "bench-1").await];
    let one = throughput(&nodes, &worker).await;
    println!("no-op jobs, 1 node:  {one:>8.0} jobs/s ({THROUGHPUT_JOBS} jobs)");

    // Enqueue to start, on the idle single node: one job at a time, 2 ms apart.
    let mut latency = Histogram::<u64>::new(3).unwrap();
    for tag in 1..=LATENCY_JOBS {
        let sent = Instant::now();
        nodes[0]
            .jobs
            .enqueue(NewJob::of::<Noop>(&tag).unwrap())
            .await
            .unwrap();
        let start = loop {
            if let Some(at) = worker.started.lock().unwrap().get(&tag) {
                break *at;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        latency
            .record(start.duration_since(sent).as_micros() as u64)
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    println!(
        "enqueue -> start:    {} ({LATENCY_JOBS} jobs, one at a time)",
        percentiles(&latency)
    );

    // RPC on the same node, then raw NATS request/reply on the same connection.
    let mut rpc = Histogram::<u64>::new(3).unwrap();
    for _ in 0..RPC_CALLS / 10 {
        nodes[0]
            .jobs
            .call::<Noop, Value>(&0, Duration::from_secs(5))
            .await
            .unwrap();
    }
    for _ in 0..RPC_CALLS {
        let sent = Instant::now();
        nodes[0]
            .jobs
            .call::<Noop, Value>(&0, Duration::from_secs(5))
            .await
            .unwrap();
        rpc.record(sent.elapsed().as_micros() as u64).unwrap();
    }
    let bus: DynBus = Arc::new(NatsBus::connect_named(&nats, "bench-raw").await.unwrap());
    let subject = format!("{prefix}.raw-echo");
    let mut echo = bus.subscribe(&subject).await.unwrap();
    let responder = bus.clone();
    let echoing = tokio::spawn(async move {
        while let Some(request) = echo.next().await {
            let response = request.response(request.payload.clone()).unwrap();
            responder.publish(response).await.unwrap();
        }
    });
    let mut raw = Histogram::<u64>::new(3).unwrap();
    for round in 0..RPC_CALLS + RPC_CALLS / 10 {
        let sent = Instant::now();
        bus.request(
            Message::new(subject.clone(), b"{}".to_vec()),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        if round >= RPC_CALLS / 10 {
            raw.record(sent.elapsed().as_micros() as u64).unwrap();
        }
    }
    echoing.abort();
    println!(
        "rpc round trip:      {} ({RPC_CALLS} sequential calls)",
        percentiles(&rpc)
    );
    println!(
        "raw NATS req/reply:  {} (same run, same server)",
        percentiles(&raw)
    );

    // Two nodes.
    nodes.push(node(&url, &nats, &prefix, &worker, "bench-2").await);
    let two = throughput(&nodes, &worker).await;
    println!("no-op jobs, 2 nodes: {two:>8.0} jobs/s ({THROUGHPUT_JOBS} jobs)");

    for node in &mut nodes {
        if let Some(runner) = node.runner.take() {
            runner.shutdown().await;
        }
        node.jobs.db().clone().close().await.unwrap();
    }
    drop(nodes);
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
}
