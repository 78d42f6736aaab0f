//! Ingest-to-delivery latency of the live stream, and what each SSE viewer costs the node.
//!
//!   cargo bench -p live --bench sse_latency                    # 1000 and 5000 viewers
//!   cargo bench -p live --bench sse_latency -- --viewers 1000 --balls 200
//!
//! For each N: a node (the real startup path, SQLite and the in-process bus, in a child
//! process of its own so that its memory is its own) serves one match; N SSE viewers
//! connect over loopback and wait for their snapshot; then balls are scored through the
//! scorer API at 10 a second. Latency is from just before the scorer's POST is sent to
//! when a viewer has read the event's frame, over every (viewer, ball); memory is the
//! node's RSS growth from before the viewers connected to after, per viewer. Viewers cut
//! off for falling behind (`resync`) are counted.
//!
//! The load client shares the machine's cores with the node, as the reference figures in
//! the README were measured.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kernel::{Role, UserId};
use serde_json::{Value, json};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use testkit::TestApp;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Notify;

/// Set in the child: serve instead of measuring.
const SERVE: &str = "LIVE_BENCH_SERVE";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if std::env::var_os(SERVE).is_some() {
        runtime.block_on(serve());
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|at| args.get(at + 1))
            .cloned()
    };
    let viewers: Vec<usize> = value("--viewers")
        .unwrap_or_else(|| "1000,5000".into())
        .split(',')
        .map(|n| n.parse().expect("--viewers 1000,5000"))
        .collect();
    let balls: i64 = value("--balls").map_or(100, |n| n.parse().expect("--balls 100"));
    println!("| viewers | deliveries | p50 | p99 | max | node memory per viewer | cut off |");
    println!("|---|---|---|---|---|---|---|");
    for n in viewers {
        let row = runtime.block_on(measure(n, balls));
        println!("{row}");
    }
}

/// The child: a node with the live service on a free port; prints its address, serves
/// until its parent closes stdin.
async fn serve() {
    let app = TestApp::spawn_with(vec![Arc::new(live::Live)], |settings| {
        settings.merge(("http.workers", 2))
    })
    .await
    .unwrap();
    println!("{}", app.address);
    let mut line = String::new();
    let _ = BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await;
    app.shutdown().await.unwrap();
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap();
    kib * 1024
}

struct Viewed {
    /// (seq, when its frame was read), in order.
    seen: Vec<(i64, Instant)>,
    cut_off: bool,
}

async fn measure(viewers: usize, balls: i64) -> String {
    let mut node = tokio::process::Command::new(std::env::current_exe().unwrap())
        .env(SERVE, "1")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = node.id().unwrap();
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let address = lines
        .next_line()
        .await
        .unwrap()
        .expect("the node's address");
    let client = reqwest::Client::new();
    let token = testkit::token(UserId::new(), &[Role::Editor]);
    let post = |path: String, body: Value| {
        client
            .post(format!("{address}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let created: Value = post(
        "/v1/live/matches".into(),
        json!({"teams": ["Kolkata", "Bangalore"], "format": "t20", "balls_per_over": 6, "overs": 20}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let balls_path = format!("/v1/live/matches/{id}/balls");
    let started = post(
        balls_path.clone(),
        json!({"type": "innings_started", "team": "Kolkata"}),
    )
    .await
    .unwrap();
    assert!(started.status().is_success());
    // Seq 2 is the innings starting; the balls are 3..=last.
    let last = 2 + balls;

    let before = rss_bytes(pid);
    let ready = Arc::new(AtomicUsize::new(0));
    let all_ready = Arc::new(Notify::new());
    let host = address.trim_start_matches("http://").to_owned();
    let mut tasks = Vec::with_capacity(viewers);
    for n in 0..viewers {
        let (ready, all_ready) = (ready.clone(), all_ready.clone());
        let (host, id) = (host.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            view(n, &host, &id, last, || {
                if ready.fetch_add(1, Ordering::SeqCst) + 1 == viewers {
                    all_ready.notify_one();
                }
            })
            .await
        }));
    }
    tokio::time::timeout(Duration::from_secs(120), all_ready.notified())
        .await
        .expect("every viewer connected within 120 s");
    let after = rss_bytes(pid);

    // Balls at 10 a second; sent[i] is when ball 3 + i left the scorer.
    let wide = json!({
        "type": "ball", "batter": "Ganguly", "non_striker": "McCullum", "bowler": "Praveen",
        "runs": {"batter": 0, "extras": 1, "total": 1}, "extras": {"wides": 1}
    });
    let mut sent = Vec::new();
    let mut pace = tokio::time::interval(Duration::from_millis(100));
    for _ in 0..balls {
        pace.tick().await;
        sent.push(Instant::now());
        let response = post(balls_path.clone(), wide.clone()).await.unwrap();
        assert!(response.status().is_success());
    }

    let mut latencies = Vec::with_capacity(viewers * usize::try_from(balls).unwrap());
    let mut cut_off = 0;
    for task in tasks {
        let viewed = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("viewers done within 60 s of the last ball")
            .unwrap();
        cut_off += usize::from(viewed.cut_off);
        for (seq, at) in viewed.seen {
            if seq > 2 {
                let sent = sent[usize::try_from(seq - 3).unwrap()];
                latencies.push(at.saturating_duration_since(sent));
            }
        }
    }
    drop(node.stdin.take());
    let _ = tokio::time::timeout(Duration::from_secs(20), node.wait()).await;

    latencies.sort_unstable();
    let at = |q: f64| {
        let index = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies.get(index).copied().unwrap_or_default()
    };
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    let per_viewer = after.saturating_sub(before) as f64 / viewers as f64 / 1024.0;
    format!(
        "| {viewers} | {} | {} | {} | {} | {per_viewer:.1} KiB | {cut_off} |",
        latencies.len(),
        ms(at(0.5)),
        ms(at(0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
    )
}

/// One SSE viewer on a bare socket: reads frames until it has seen `last` (or is cut off),
/// noting when each event's frame was complete. Loopback source addresses are spread over
/// 127.0.0.0/8 so thousands of viewers do not run out of ephemeral ports.
async fn view(n: usize, host: &str, id: &str, last: i64, on_snapshot: impl FnOnce()) -> Viewed {
    let source = std::net::Ipv4Addr::new(127, 0, 1 + (n / 20_000) as u8, 1 + (n % 250) as u8);
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((source, 0).into()).unwrap();
    let mut stream = socket.connect(host.parse().unwrap()).await.unwrap();
    let request = format!("GET /v1/live/matches/{id}/stream HTTP/1.1\r\nHost: {host}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut on_snapshot = Some(on_snapshot);
    let mut viewed = Viewed {
        seen: Vec::new(),
        cut_off: false,
    };
    let mut buffer = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0_u8; 16 * 1024];
    loop {
        let read = stream.read(&mut chunk).await.unwrap();
        if read == 0 {
            return viewed;
        }
        let now = Instant::now();
        buffer.extend_from_slice(&chunk[..read]);
        // Frames are `event: <name>\nid: <seq>\n...\n\n`; the chunked encoding's size lines
        // sit between them and are skipped with everything else that is not a frame head.
        let mut consumed = 0;
        while let Some(end) = find(&buffer[consumed..], b"\n\n") {
            let block = &buffer[consumed..consumed + end];
            consumed += end + 2;
            let Some(head) = find(block, b"event: ") else {
                continue;
            };
            let block = &block[head..];
            if block.starts_with(b"event: resync") {
                viewed.cut_off = true;
                return viewed;
            }
            let seq = find(block, b"\nid: ").and_then(|at| {
                let digits = &block[at + 5..];
                let len = digits.iter().position(|b| !b.is_ascii_digit())?;
                std::str::from_utf8(&digits[..len])
                    .ok()?
                    .parse::<i64>()
                    .ok()
            });
            if let Some(seq) = seq {
                if block.starts_with(b"event: snapshot") {
                    if let Some(ready) = on_snapshot.take() {
                        ready();
                    }
                } else {
                    viewed.seen.push((seq, now));
                }
                if seq >= last {
                    return viewed;
                }
            }
        }
        buffer.drain(..consumed);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
