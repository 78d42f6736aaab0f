#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Request/reply latency through the bus: an echo responder, then sequential requests,
//! reporting p50 / p99 / p99.9 / max in microseconds and the throughput that sequential
//! round trips reach. `LocalBus` always; `NatsBus` when `NATS_URL` (default
//! `nats://127.0.0.1:4222`) is reachable.
//!
//! Sequential on purpose: this is the latency floor under every RPC built on the bus (job
//! RPC budget: p99 < 10 ms), not a saturation test.
//!
//! Run: `cargo bench -p bus --bench request_reply`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bus::{DynBus, LocalBus, Message, NatsBus};
use bytes::Bytes;
use futures::StreamExt;

const LOCAL_REQUESTS: usize = 20_000;
const NATS_REQUESTS: usize = 5_000;
const PAYLOAD_BYTES: usize = 128;

fn main() {
    // The platform's runtime: several workers, so a request may wake its responder on
    // another thread. Measured from a spawned task, as services run, not from `block_on`.
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let measured = multi.spawn(async {
        run("local", Arc::new(LocalBus::new()), LOCAL_REQUESTS).await;

        let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
        let connect = NatsBus::connect_named(&url, "bus-bench");
        match tokio::time::timeout(Duration::from_secs(3), connect).await {
            Ok(Ok(nats)) => run("nats", Arc::new(nats), NATS_REQUESTS).await,
            Ok(Err(err)) => println!("nats: skipped ({url} not reachable: {err})"),
            Err(_) => println!("nats: skipped ({url} did not answer within 3 s)"),
        }
    });
    multi.block_on(measured).expect("benchmark task");
    drop(multi);

    // One thread, no cross-thread wake-ups: what the bus itself costs per round trip.
    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    single.block_on(run(
        "local, current-thread runtime",
        Arc::new(LocalBus::new()),
        LOCAL_REQUESTS,
    ));
}

async fn run(name: &str, bus: DynBus, requests: usize) {
    let subject = format!("bench.{}.echo", uuid::Uuid::new_v4().simple());
    let mut incoming = bus.subscribe(&subject).await.expect("subscribe");
    let responder_bus = Arc::clone(&bus);
    let responder = tokio::spawn(async move {
        while let Some(request) = incoming.next().await {
            let response = request
                .response(request.payload.clone())
                .expect("reply subject");
            responder_bus.publish(response).await.expect("reply");
        }
    });

    let payload = Bytes::from(vec![b'x'; PAYLOAD_BYTES]);
    let timeout = Duration::from_secs(5);
    // Warm up connections, allocator and caches before measuring.
    for _ in 0..requests / 10 {
        bus.request(Message::new(subject.clone(), payload.clone()), timeout)
            .await
            .expect("warm-up request");
    }

    let mut latencies = Vec::with_capacity(requests);
    let started = Instant::now();
    for _ in 0..requests {
        let sent = Instant::now();
        let response = bus
            .request(Message::new(subject.clone(), payload.clone()), timeout)
            .await
            .expect("request");
        latencies.push(sent.elapsed());
        assert_eq!(response.payload.len(), PAYLOAD_BYTES);
    }
    let total = started.elapsed();
    responder.abort();

    latencies.sort_unstable();
    let at = |q: f64| {
        let index = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[index].as_secs_f64() * 1e6
    };
    let max = latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e6);
    println!(
        "{name}: {requests} sequential requests ({PAYLOAD_BYTES} B echo): \
         p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us, {:.0} req/s",
        at(0.50),
        at(0.99),
        at(0.999),
        max,
        requests as f64 / total.as_secs_f64(),
    );
}
