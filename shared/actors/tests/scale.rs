//! 100k idle keyed actors: they spawn, are all reachable, then all passivate. Its own
//! test binary (process) so the memory figure is not muddied by other tests. Timings and
//! memory are printed, not asserted; `benches/keyed.rs` measures them in release.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::ractor::RpcReplyPort;
use actors::{ActorError, Keyed, Registry, RegistryConfig};
use futures::StreamExt;

const ACTORS: u64 = 100_000;

struct Idle;

enum Msg {
    Echo { reply: RpcReplyPort<u64> },
}

impl Keyed for Idle {
    type Key = u64;
    type Msg = Msg;
    type State = u64;

    async fn init(&self, key: &u64) -> Result<u64, ActorError> {
        Ok(*key)
    }

    async fn handle(&self, _key: &u64, state: &mut u64, msg: Msg) -> Result<(), ActorError> {
        match msg {
            Msg::Echo { reply } => {
                let _ = reply.send(*state);
            }
        }
        Ok(())
    }
}

/// Resident set size of this process, in bytes (Linux).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_idle_actors_spawn_answer_and_passivate() {
    // Longer than spawning takes in a debug build, so the figures below describe 100k
    // live actors; if a slow machine passivates early ones anyway, the calls below simply
    // spawn them again, which is what this test is about.
    let idle_timeout = Duration::from_secs(10);
    let config = RegistryConfig {
        idle_timeout,
        sweep_interval: Some(Duration::from_millis(100)),
        call_timeout: Duration::from_secs(60),
        ..RegistryConfig::default()
    };
    let registry = Registry::spawn("idle", Arc::new(Idle), config, None)
        .await
        .unwrap();

    let before = rss_bytes();
    let started = Instant::now();
    let handles: Vec<_> = futures::stream::iter(0..ACTORS)
        .map(|key| {
            let registry = registry.clone();
            async move { registry.get(key).await }
        })
        .buffer_unordered(1_000)
        .collect()
        .await;
    let spawned_in = started.elapsed();
    let live = registry.len();
    let after = rss_bytes();
    let handles: Vec<_> = handles.into_iter().map(|h| h.unwrap()).collect();
    assert_eq!(handles.len(), 100_000);

    // Every one answers, with its own state.
    let started = Instant::now();
    let answered = futures::stream::iter(handles.iter())
        .map(|handle| async move {
            let echoed = handle.call(|reply| Msg::Echo { reply }).await;
            echoed == Ok(*handle.key())
        })
        .buffer_unordered(1_000)
        .filter(|ok| std::future::ready(*ok))
        .count()
        .await;
    let called_in = started.elapsed();
    assert_eq!(answered, 100_000);
    assert!(registry.len() <= 100_000, "never two actors for one key");
    drop(handles);

    // Then they all passivate.
    let started = Instant::now();
    let emptied = tokio::time::timeout(idle_timeout + Duration::from_secs(60), async {
        while !registry.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(emptied.is_ok(), "{} actors still live", registry.len());
    let passivated_in = started.elapsed();

    if let (Some(before), Some(after)) = (before, after) {
        println!(
            "100k idle actors (debug build): {live} live after spawning, rss +{} MB, {} bytes \
             per live actor (RSS delta, handles included); spawned in {spawned_in:?}, all \
             called in {called_in:?}, all passivated {passivated_in:?} after the last call \
             (idle timeout {idle_timeout:?})",
            after.saturating_sub(before) / (1024 * 1024),
            after.saturating_sub(before) / (live.max(1) as u64),
        );
    }
    registry.stop().await;
}
