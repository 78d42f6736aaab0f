//! Ingest-to-delivery latency of the live stream, and what each viewer costs the server
//! holding its connection: the platform's SSE beside a minimal broadcast server and NATS
//! over websocket, in one run.
//!
//!   cargo bench -p live --bench latency                     # 1000, 5000 and 10000 viewers
//!   cargo bench -p live --bench latency -- --viewers 1000 --balls 200
//!
//! For each N, three servers, one after the other, each in a child process of its own so
//! that its memory is its own:
//! - `reference`: a minimal broadcast server (below) that only holds SSE connections and
//!   writes each event to all of them: the floor for this machine;
//! - `platform SSE`: a node (the real startup path, SQLite, the bus on the NATS server
//!   below) serving one match; viewers follow `GET /v1/live/matches/{id}/stream`;
//! - `NATS websocket`: the same node's match, followed by N async-nats clients over
//!   `ws://` on a nats-server started from `nix/nats/server.conf` (so as the `viewer`
//!   user, permissions and all).
//!
//! N viewers connect over loopback and wait for their first frame (or subscription);
//! then balls are scored at 10 a second (for the platform, through the scorer API: the
//! room validates, stores, publishes to JetStream; for the reference, a POST it
//! broadcasts). Latency is from just before the scorer's POST is sent to when a viewer
//! has read the event, over every (viewer, ball); memory is the serving process's RSS
//! growth from before the viewers connected to after, per viewer. Viewers cut off for
//! falling behind (`resync`) are counted.
//!
//! Without `nats-server` on PATH (or `NATS_SERVER`), the node runs on the in-process bus
//! and the websocket rows are skipped. The load client shares the machine's cores with the
//! servers, as the reference figures in the README were measured.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::StreamExt;
use kernel::{Role, UserId};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use testkit::TestApp;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{Notify, broadcast};

/// Set in a child: which server to be (`node` or `reference`) instead of measuring.
const ROLE: &str = "LIVE_BENCH_ROLE";
/// Set in the node child: the NATS server its bus connects to.
const NATS: &str = "LIVE_BENCH_NATS";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    match std::env::var(ROLE).as_deref() {
        Ok("node") => return runtime.block_on(serve_node()),
        Ok("reference") => return runtime.block_on(serve_reference()),
        _ => {}
    }
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|at| args.get(at + 1))
            .cloned()
    };
    let viewers: Vec<usize> = value("--viewers")
        .unwrap_or_else(|| "1000,5000,10000".into())
        .split(',')
        .map(|n| n.parse().expect("--viewers 1000,5000"))
        .collect();
    let balls: usize = value("--balls").map_or(100, |n| n.parse().expect("--balls 100"));
    runtime.block_on(run(&viewers, balls));
}

async fn run(viewers: &[usize], balls: usize) {
    let nats = NatsServer::start().await;
    if nats.is_none() {
        println!("(no nats-server: the node runs on the in-process bus, no websocket rows)\n");
    }
    println!(
        "| viewers | server | deliveries | p50 | p99 | max | memory per viewer | cut off | p99 vs reference |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &n in viewers {
        let reference = reference_row(n, balls).await;
        println!("{}", reference.line(n, "reference", None));
        let (sse, websocket) = platform_rows(n, balls, nats.as_ref()).await;
        println!("{}", sse.line(n, "platform SSE", Some(&reference)));
        if let Some(websocket) = websocket {
            println!("{}", websocket.line(n, "NATS websocket", Some(&reference)));
        }
    }
}

/// One server's figures at one N.
struct Row {
    latencies: Vec<Duration>,
    memory_per_viewer: f64,
    cut_off: usize,
}

impl Row {
    fn new(mut latencies: Vec<Duration>, grown: u64, viewers: usize, cut_off: usize) -> Self {
        latencies.sort_unstable();
        Self {
            latencies,
            memory_per_viewer: grown as f64 / viewers as f64,
            cut_off,
        }
    }

    fn at(&self, q: f64) -> Duration {
        let index = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
        self.latencies.get(index).copied().unwrap_or_default()
    }

    fn line(&self, viewers: usize, server: &str, reference: Option<&Row>) -> String {
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        let ratio = reference.map_or_else(
            || "1.00x".to_owned(),
            |reference| {
                let base = reference.at(0.99).as_secs_f64().max(1e-6);
                format!("{:.2}x", self.at(0.99).as_secs_f64() / base)
            },
        );
        format!(
            "| {viewers} | {server} | {} | {} | {} | {} | {:.1} KiB | {} | {ratio} |",
            self.latencies.len(),
            ms(self.at(0.5)),
            ms(self.at(0.99)),
            ms(self.latencies.last().copied().unwrap_or_default()),
            self.memory_per_viewer / 1024.0,
            self.cut_off,
        )
    }
}

/// A child process of this benchmark serving in `role`; its first line on stdout is its
/// HTTP address. It serves until its stdin closes.
async fn spawn_child(role: &str, nats: Option<&str>) -> (Child, String) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .env(ROLE, role)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    if let Some(nats) = nats {
        command.env(NATS, nats);
    }
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = lines
        .next_line()
        .await
        .unwrap()
        .expect("the child's address");
    (child, address)
}

async fn stop_child(mut child: Child) {
    drop(child.stdin.take());
    let _ = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
}

/// The node: the live service on a free port.
async fn serve_node() {
    let nats = std::env::var(NATS).ok();
    let app = TestApp::spawn_with(vec![Arc::new(live::Live)], |settings| {
        let settings = settings.merge(("http.workers", 2));
        match nats {
            Some(url) => settings.merge(("bus.nats_url", url)),
            None => settings,
        }
    })
    .await
    .unwrap();
    println!("{}", app.address);
    wait_for_stdin_to_close().await;
    app.shutdown().await.unwrap();
}

async fn wait_for_stdin_to_close() {
    let mut line = String::new();
    let _ = BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await;
}

/// The minimal broadcast server: `GET` anything is an SSE stream (a first frame, then every
/// event); `POST` anything is an event, written to every stream as it stands. No
/// validation, storage, bus, resume buffer or auth: the floor the platform is held to.
async fn serve_reference() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("http://{}", listener.local_addr().unwrap());
    let (events, _) = broadcast::channel::<Arc<Vec<u8>>>(256);
    let seq = Arc::new(AtomicUsize::new(2));
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let (events, seq) = (events.clone(), seq.clone());
            tokio::spawn(async move {
                let _ = reference_connection(socket, events, seq).await;
            });
        }
    });
    wait_for_stdin_to_close().await;
}

async fn reference_connection(
    mut socket: tokio::net::TcpStream,
    events: broadcast::Sender<Arc<Vec<u8>>>,
    seq: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 4096];
    let head_end = loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end + 4;
        }
        let read = socket.read(&mut chunk).await?;
        if read == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    if buffer.starts_with(b"POST") {
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0);
        while buffer.len() < head_end + length {
            let read = socket.read(&mut chunk).await?;
            if read == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&chunk[..read]);
        }
        let data = &buffer[head_end..head_end + length];
        let seq = seq.fetch_add(1, Ordering::SeqCst) + 1;
        let mut frame = format!("event: event\nid: {seq}\ndata: ").into_bytes();
        frame.extend_from_slice(data);
        frame.extend_from_slice(b"\n\n");
        let _ = events.send(Arc::new(frame));
        return socket
            .write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n")
            .await;
    }
    let mut receiver = events.subscribe();
    socket
        .write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\r\n\
              event: snapshot\nid: 2\ndata: {}\n\n",
        )
        .await?;
    loop {
        match receiver.recv().await {
            Ok(frame) => socket.write_all(&frame).await?,
            Err(broadcast::error::RecvError::Lagged(_)) => {
                return socket.write_all(b"event: resync\ndata: {}\n\n").await;
            }
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        }
    }
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

/// A wide: it never ends the innings, however many are bowled.
fn wide() -> Value {
    json!({
        "type": "ball", "batter": "Ganguly", "non_striker": "McCullum", "bowler": "Praveen",
        "runs": {"batter": 0, "extras": 1, "total": 1}, "extras": {"wides": 1}
    })
}

/// Scores `balls` wides at 10 a second by POSTing to `url`; element i is when the i-th
/// left the scorer.
async fn score(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    balls: usize,
) -> Vec<Instant> {
    let body = wide();
    let mut sent = Vec::with_capacity(balls);
    let mut pace = tokio::time::interval(Duration::from_millis(100));
    for _ in 0..balls {
        pace.tick().await;
        sent.push(Instant::now());
        let mut request = client.post(url).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
    }
    sent
}

/// Counts viewers in and wakes the measurement once all of them are.
#[derive(Clone)]
struct Ready {
    count: Arc<AtomicUsize>,
    all: Arc<Notify>,
    of: usize,
}

impl Ready {
    fn new(of: usize) -> Self {
        Self {
            count: Arc::new(AtomicUsize::new(0)),
            all: Arc::new(Notify::new()),
            of,
        }
    }

    fn one(&self) {
        if self.count.fetch_add(1, Ordering::SeqCst) + 1 == self.of {
            self.all.notify_one();
        }
    }

    async fn wait(&self) {
        tokio::time::timeout(Duration::from_secs(180), self.all.notified())
            .await
            .expect("every viewer connected within 180 s");
    }
}

/// What one viewer saw.
struct Viewed {
    /// (seq, when it was read), in order.
    seen: Vec<(i64, Instant)>,
    cut_off: bool,
}

/// Latencies of every (viewer, ball) and the number cut off; ball `first` is `sent[0]`.
async fn collect(
    tasks: Vec<tokio::task::JoinHandle<Viewed>>,
    sent: &[Instant],
    first: i64,
) -> (Vec<Duration>, usize) {
    let mut latencies = Vec::with_capacity(tasks.len() * sent.len());
    let mut cut_off = 0;
    for task in tasks {
        let viewed = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("viewers done within 60 s of the last ball")
            .unwrap();
        cut_off += usize::from(viewed.cut_off);
        for (seq, at) in viewed.seen {
            if let Some(sent) = usize::try_from(seq - first).ok().and_then(|i| sent.get(i)) {
                latencies.push(at.saturating_duration_since(*sent));
            }
        }
    }
    (latencies, cut_off)
}

async fn reference_row(viewers: usize, balls: usize) -> Row {
    let (child, address) = spawn_child("reference", None).await;
    let pid = child.id().unwrap();
    let last = 2 + i64::try_from(balls).unwrap();
    let before = rss_bytes(pid);
    let (tasks, ready) = sse_viewers(viewers, &address, "/", last);
    ready.wait().await;
    let grown = rss_bytes(pid).saturating_sub(before);
    let client = reqwest::Client::new();
    let sent = score(&client, &format!("{address}/ball"), None, balls).await;
    let (latencies, cut_off) = collect(tasks, &sent, 3).await;
    stop_child(child).await;
    Row::new(latencies, grown, viewers, cut_off)
}

/// The platform's SSE row and, with a NATS server, its websocket row: one node, one match.
async fn platform_rows(
    viewers: usize,
    balls: usize,
    nats: Option<&NatsServer>,
) -> (Row, Option<Row>) {
    let (child, address) = spawn_child("node", nats.map(|nats| nats.client_url.as_str())).await;
    let pid = child.id().unwrap();
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
    let balls_url = format!("{address}/v1/live/matches/{id}/balls");
    let started = post(
        format!("/v1/live/matches/{id}/balls"),
        json!({"type": "innings_started", "team": "Kolkata"}),
    )
    .await
    .unwrap();
    assert!(started.status().is_success());

    // SSE: seq 2 is the innings starting; the balls are 3..=last.
    let last = 2 + i64::try_from(balls).unwrap();
    let before = rss_bytes(pid);
    let (tasks, ready) = sse_viewers(
        viewers,
        &address,
        &format!("/v1/live/matches/{id}/stream"),
        last,
    );
    ready.wait().await;
    let grown = rss_bytes(pid).saturating_sub(before);
    let sent = score(&client, &balls_url, Some(&token), balls).await;
    let (latencies, cut_off) = collect(tasks, &sent, 3).await;
    let sse = Row::new(latencies, grown, viewers, cut_off);

    // NATS websocket: the balls after those, 3 + balls ..= 2 + 2 * balls.
    let websocket = match nats {
        Some(nats) => {
            let first = last + 1;
            let last = last + i64::try_from(balls).unwrap();
            let before = rss_bytes(nats.pid);
            let subject = contracts::live::subject(id.parse().unwrap());
            let ready = Ready::new(viewers);
            let mut tasks = Vec::with_capacity(viewers);
            // Connecting is throttled a little: thousands of websocket handshakes at once
            // only measure the accept queue.
            let connecting = Arc::new(tokio::sync::Semaphore::new(256));
            for _ in 0..viewers {
                let (url, subject, ready, connecting) = (
                    nats.websocket_url.clone(),
                    subject.clone(),
                    ready.clone(),
                    connecting.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    nats_view(&url, subject, first, last, &ready, &connecting).await
                }));
            }
            ready.wait().await;
            let grown = rss_bytes(nats.pid).saturating_sub(before);
            let sent = score(&client, &balls_url, Some(&token), balls).await;
            let (latencies, cut_off) = collect(tasks, &sent, first).await;
            Some(Row::new(latencies, grown, viewers, cut_off))
        }
        None => None,
    };
    stop_child(child).await;
    (sse, websocket)
}

fn sse_viewers(
    viewers: usize,
    address: &str,
    path: &str,
    last: i64,
) -> (Vec<tokio::task::JoinHandle<Viewed>>, Ready) {
    let ready = Ready::new(viewers);
    let host = address.trim_start_matches("http://").to_owned();
    let tasks = (0..viewers)
        .map(|n| {
            let (ready, host, path) = (ready.clone(), host.clone(), path.to_owned());
            tokio::spawn(async move { sse_view(n, &host, &path, last, || ready.one()).await })
        })
        .collect();
    (tasks, ready)
}

/// One SSE viewer on a bare socket: reads frames until it has seen `last` (or is cut off),
/// noting when each event's frame was complete. Loopback source addresses are spread over
/// 127.0.0.0/8 so thousands of viewers do not run out of ephemeral ports.
async fn sse_view(n: usize, host: &str, path: &str, last: i64, on_first: impl FnOnce()) -> Viewed {
    let source = std::net::Ipv4Addr::new(127, 0, 1 + (n / 20_000) as u8, 1 + (n % 250) as u8);
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((source, 0).into()).unwrap();
    let mut stream = socket.connect(host.parse().unwrap()).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut on_first = Some(on_first);
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
            let Some(seq) = find(block, b"\nid: ").and_then(|at| number(&block[at + 5..])) else {
                continue;
            };
            if block.starts_with(b"event: snapshot") {
                if let Some(ready) = on_first.take() {
                    ready();
                }
            } else {
                viewed.seen.push((seq, now));
            }
            if seq >= last {
                return viewed;
            }
        }
        buffer.drain(..consumed);
    }
}

/// One NATS websocket viewer: subscribes (as the config's anonymous `viewer`), then notes
/// when each update from `first` to `last` arrived, by the `seq` in its JSON.
async fn nats_view(
    url: &str,
    subject: String,
    first: i64,
    last: i64,
    ready: &Ready,
    connecting: &tokio::sync::Semaphore,
) -> Viewed {
    let permit = connecting.acquire().await.unwrap();
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(60))
        .connect(url)
        .await
        .unwrap();
    let mut updates = client.subscribe(subject).await.unwrap();
    client.flush().await.unwrap();
    drop(permit);
    ready.one();
    let mut viewed = Viewed {
        seen: Vec::new(),
        cut_off: false,
    };
    while let Some(message) = updates.next().await {
        let now = Instant::now();
        let Some(seq) =
            find(&message.payload, b"\"seq\":").and_then(|at| number(&message.payload[at + 6..]))
        else {
            continue;
        };
        if seq >= first {
            viewed.seen.push((seq, now));
        }
        if seq >= last {
            break;
        }
    }
    viewed
}

/// The decimal number at the start of `bytes`.
fn number(bytes: &[u8]) -> Option<i64> {
    let len = bytes.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&bytes[..len]).ok()?.parse().ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A nats-server of the benchmark's own, from `nix/nats/server.conf` with its listeners on
/// free ports (as `websocket-test.conf` moves them), its JetStream state in a temporary
/// directory.
struct NatsServer {
    child: Child,
    pid: u32,
    dir: PathBuf,
    client_url: String,
    websocket_url: String,
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl NatsServer {
    async fn start() -> Option<Self> {
        let binary = std::env::var("NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        let free_port = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let (client, websocket) = (free_port(), free_port());
        let dir = std::env::temp_dir().join(format!("live-bench-nats-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        // nats-server resolves an include relative to the including file: a copy sits
        // beside it.
        let server_conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../nix/nats/server.conf");
        std::fs::copy(server_conf, dir.join("server.conf")).unwrap();
        let config = format!(
            "include ./server.conf\nlisten: \"127.0.0.1:{client}\"\n\
             websocket {{\n  listen: \"127.0.0.1:{websocket}\"\n  no_tls: true\n  no_auth_user: viewer\n}}\n"
        );
        std::fs::write(dir.join("bench.conf"), config).unwrap();
        let child = Command::new(binary)
            .arg("-c")
            .arg(dir.join("bench.conf"))
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .ok()?;
        let pid = child.id()?;
        let server = Self {
            child,
            pid,
            dir,
            client_url: format!("nats://127.0.0.1:{client}"),
            websocket_url: format!("ws://127.0.0.1:{websocket}"),
        };
        // Bounded polling until it listens.
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", websocket))
                .await
                .is_ok()
            {
                return Some(server);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the benchmark's nats-server did not listen within 10 s");
    }
}
