//! Keyed-actor benchmarks (harness = false; `cargo bench -p actors --bench keyed`).
//!
//! (a) request/reply throughput and latency through handles: 1,000 keys, several
//!     concurrent callers, a fixed number of calls; once with handles held by the caller,
//!     once with a `registry.get(key)` (directory lookup) before every call.
//! (b) memory per idle actor, and the time to spawn 100k of them and to passivate them.
//!
//! Memory is the growth of the process's resident set (VmRSS in /proc/self/status)
//! divided by the live actors. A counting `#[global_allocator]` would be more precise but
//! needs `unsafe impl GlobalAlloc`, and the workspace sets `unsafe_code = "forbid"`, which
//! a `#![allow]` in this file cannot override. RSS also counts allocator slack and tokio's
//! per-task memory, which is what an idle actor really costs the machine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::ractor::RpcReplyPort;
use actors::{ActorError, Handle, Keyed, Registry, RegistryConfig};
use futures::StreamExt;

struct Counter;

enum Msg {
    Add { by: u64, reply: RpcReplyPort<u64> },
}

impl Keyed for Counter {
    type Key = u64;
    type Msg = Msg;
    type State = u64;

    async fn init(&self, _key: &u64) -> Result<u64, ActorError> {
        Ok(0)
    }

    async fn handle(&self, _key: &u64, total: &mut u64, msg: Msg) -> Result<(), ActorError> {
        match msg {
            Msg::Add { by, reply } => {
                *total += by;
                let _ = reply.send(*total);
            }
        }
        Ok(())
    }
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

fn percentile(sorted: &[u64], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    Duration::from_nanos(sorted[index])
}

#[derive(Clone, Copy)]
enum Route {
    /// Callers hold one handle per key.
    Held,
    /// `registry.get(key)` before every call.
    GetEachTime,
}

async fn throughput(
    registry: &Registry<Counter>,
    keys: u64,
    callers: u64,
    calls_per_caller: u64,
    route: Route,
) {
    let handles: Arc<Vec<Handle<Counter>>> = Arc::new(
        futures::future::join_all((0..keys).map(|k| registry.get(k)))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect(),
    );
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|caller| {
            let handles = Arc::clone(&handles);
            let registry = registry.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(usize::try_from(calls_per_caller).unwrap());
                for i in 0..calls_per_caller {
                    // Callers walk the keys from different offsets.
                    let key = (caller * 7919 + i) % keys;
                    let t = Instant::now();
                    let total = match route {
                        Route::Held => {
                            handles[usize::try_from(key).unwrap()]
                                .call(|reply| Msg::Add { by: 1, reply })
                                .await
                        }
                        Route::GetEachTime => {
                            registry.call(key, |reply| Msg::Add { by: 1, reply }).await
                        }
                    };
                    total.unwrap();
                    latencies.push(u64::try_from(t.elapsed().as_nanos()).unwrap());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let total = latencies.len();
    #[allow(clippy::cast_precision_loss)]
    let rate = total as f64 / elapsed.as_secs_f64();
    let label = match route {
        Route::Held => "held handles",
        Route::GetEachTime => "get + call",
    };
    println!(
        "(a) {label:>12}: {keys} keys, {callers} callers, {total} calls in {elapsed:.2?}: \
         {rate:.0} calls/s, p50 {:.1?}, p99 {:.1?}, max {:.1?}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    );
}

async fn idle_actors(count: u64) {
    let idle_timeout = Duration::from_secs(5);
    let config = RegistryConfig {
        idle_timeout,
        sweep_interval: Some(Duration::from_millis(20)),
        call_timeout: Duration::from_secs(60),
        ..RegistryConfig::default()
    };
    let registry = Registry::spawn("bench-idle", Arc::new(Counter), config, None)
        .await
        .unwrap();

    let before = rss_bytes();
    let started = Instant::now();
    let spawned = futures::stream::iter(0..count)
        .map(|key| {
            let registry = registry.clone();
            // The handle is dropped at once: only the actors stay.
            async move { registry.get(key).await.map(drop) }
        })
        .buffer_unordered(1_000)
        .filter(|r| std::future::ready(r.is_ok()))
        .count()
        .await;
    let spawned_in = started.elapsed();
    let live = registry.len();
    let after = rss_bytes();
    assert_eq!(spawned, usize::try_from(count).unwrap());
    let per_actor = after.saturating_sub(before) / u64::try_from(live.max(1)).unwrap();
    #[allow(clippy::cast_precision_loss)]
    let spawn_rate = spawned as f64 / spawned_in.as_secs_f64();
    println!(
        "(b) {count} idle actors: spawned in {spawned_in:.2?} ({spawn_rate:.0}/s, concurrency \
         1000); rss {} MB -> {} MB, {per_actor} bytes per live actor ({live} live)",
        before / (1024 * 1024),
        after / (1024 * 1024),
    );

    // Passivation. Re-touch every actor (a `get` on the directory fast path stamps it
    // without a message) so all 100k fall due within a few milliseconds of each other;
    // then time the sweeper draining them.
    let touched = Instant::now();
    for key in 0..count {
        registry.get(key).await.unwrap();
    }
    let touched_in = touched.elapsed();
    let due = touched + idle_timeout;
    println!("(b) re-touched {count} actors by get (fast path) in {touched_in:.2?}");
    let mut first_drop = None;
    while !registry.is_empty() {
        if first_drop.is_none() && registry.len() < live {
            first_drop = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let emptied = Instant::now();
    let first_drop = first_drop.unwrap_or(emptied);
    println!(
        "(b) passivation of {live}: first to last {:.2?}, all done {:.2?} after the first \
         was due (sweep every 20 ms); rss after {} MB",
        emptied.duration_since(first_drop),
        emptied.saturating_duration_since(due),
        rss_bytes() / (1024 * 1024),
    );
    registry.stop().await;
}

/// The same measure for bare ractor actors (no registry), to tell ractor's own cost per
/// actor from the registry's bookkeeping.
async fn bare_ractor_actors(count: u64) {
    struct Bare;
    impl actors::ractor::Actor for Bare {
        type Msg = ();
        type State = u64;
        type Arguments = u64;
        async fn pre_start(
            &self,
            _myself: actors::ractor::ActorRef<()>,
            key: u64,
        ) -> Result<u64, actors::ractor::ActorProcessingErr> {
            Ok(key)
        }
    }
    struct Parent;
    impl actors::ractor::Actor for Parent {
        type Msg = ();
        type State = ();
        type Arguments = ();
        async fn pre_start(
            &self,
            _myself: actors::ractor::ActorRef<()>,
            _args: (),
        ) -> Result<(), actors::ractor::ActorProcessingErr> {
            Ok(())
        }
        async fn handle_supervisor_evt(
            &self,
            _myself: actors::ractor::ActorRef<()>,
            _event: actors::ractor::SupervisionEvent,
            _state: &mut (),
        ) -> Result<(), actors::ractor::ActorProcessingErr> {
            Ok(())
        }
    }
    use actors::ractor::Actor as _;
    let (parent, _join) = Parent::spawn(None, Parent, ()).await.unwrap();
    let before = rss_bytes();
    let started = Instant::now();
    let cell = parent.get_cell();
    let refs: Vec<_> = futures::stream::iter(0..count)
        .map(|key| {
            let cell = cell.clone();
            async move { Bare::spawn_linked(None, Bare, key, cell).await.unwrap().0 }
        })
        .buffer_unordered(1_000)
        .collect()
        .await;
    let spawned_in = started.elapsed();
    let after = rss_bytes();
    println!(
        "(c) {count} bare ractor actors (baseline, refs kept): spawned in {spawned_in:.2?}; \
         {} bytes per actor",
        after.saturating_sub(before) / count,
    );
    drop(refs);
    parent.stop_children_and_wait(None, None).await;
    parent.stop(None);
}

/// Which part runs in this process; the memory parts each get a fresh process so one
/// part's freed-but-kept heap does not flatter the next one's RSS figure.
const PART: &str = "KEYED_BENCH_PART";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    match std::env::var(PART).as_deref() {
        Ok("idle") => runtime.block_on(idle_actors(100_000)),
        Ok("bare") => runtime.block_on(bare_ractor_actors(100_000)),
        _ => {
            runtime.block_on(calls());
            drop(runtime);
            for part in ["idle", "bare"] {
                let status = std::process::Command::new(std::env::current_exe().unwrap())
                    .env(PART, part)
                    .status()
                    .unwrap();
                assert!(status.success(), "part {part} failed");
            }
        }
    }
}

async fn calls() {
    let config = RegistryConfig {
        call_timeout: Duration::from_secs(10),
        ..RegistryConfig::default()
    };
    let registry = Registry::spawn("bench", Arc::new(Counter), config, None)
        .await
        .unwrap();
    // Warm-up, then the figures.
    throughput(&registry, 1_000, 8, 5_000, Route::Held).await;
    for callers in [1, 8, 64] {
        throughput(&registry, 1_000, callers, 400_000 / callers, Route::Held).await;
    }
    throughput(&registry, 1_000, 8, 50_000, Route::GetEachTime).await;
    registry.stop().await;
}
