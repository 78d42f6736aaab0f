//! The platform as its users meet it: the binary's commands, the node's operational
//! endpoints, and the published contract.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use testkit::TestApp;

const REGENERATE: &str = "cargo run -q -p platform -- openapi > openapi/openapi.json";

fn figment() -> runtime::settings::Figment {
    runtime::settings::Figment::new()
}

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let generated = platform::node(figment(), &[])
        .unwrap()
        .openapi()
        .to_pretty_json()
        .unwrap();
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../openapi/openapi.json"
    ))
    .unwrap_or_default();
    assert!(
        generated.trim() == committed.trim(),
        "openapi/openapi.json is out of date with the code; regenerate it with:\n    {REGENERATE}"
    );
}

#[tokio::test]
async fn the_node_serves_health_docs_spec_and_metrics() {
    let app = TestApp::spawn(platform::services()).await.unwrap();

    let live = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let ready = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let report: Value = ready.json().await.unwrap();
    assert_eq!(report["checks"]["database"], "ok");
    assert_eq!(report["checks"]["bus"], "ok");
    assert!(request_ids_are_echoed(&app).await);

    let spec: Value = app
        .client
        .get(app.url("/api-docs/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = spec["paths"].as_object().unwrap();
    for path in [
        "/v1/auth/signup",
        "/v1/auth/login",
        "/v1/auth/refresh",
        "/v1/auth/logout",
        "/v1/me",
        "/health/live",
        "/health/ready",
        "/metrics",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} is missing from the OpenAPI document"
        );
    }

    let redirect = app.client.get(app.url("/docs")).send().await.unwrap();
    assert!(redirect.status().is_redirection());
    assert_eq!(redirect.headers()["location"], "/docs/");
    let page = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "the docs UI page is served");
    // Its script and styles come from the binary, not a CDN.
    assert!(!html.contains("://cdn") && !html.contains("unpkg.com"));
    let script = app
        .client
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);

    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("http_server_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/health/ready""#),
        "latency is labelled by route template"
    );
    app.shutdown().await.unwrap();
}

async fn request_ids_are_echoed(app: &TestApp) -> bool {
    let response = app
        .client
        .get(app.url("/health/live"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    response.headers()["x-request-id"] == "trace-me-42"
}

/// The docs page really renders: a headless browser runs Swagger UI, which fetches the
/// spec from the node and draws every operation, with the network otherwise cut.
#[tokio::test]
#[ignore = "needs chromium: set TEST_CHROMIUM=/usr/bin/chromium"]
async fn the_docs_render_in_a_browser_without_network() {
    let chromium = std::env::var("TEST_CHROMIUM").expect("TEST_CHROMIUM names the browser");
    let app = TestApp::spawn(platform::services()).await.unwrap();
    let profile = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            // Only the node on loopback is reachable, as on a machine with no network.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(app.url("/docs/"))
        .output()
        .await
        .unwrap();
    let dom = String::from_utf8_lossy(&output.stdout);
    // These exist only once Swagger UI has fetched the document and rendered it.
    assert!(
        dom.contains("Cricket platform API"),
        "title not rendered:\n{dom}"
    );
    assert!(dom.contains("/v1/auth/signup"), "operations not rendered");
    assert!(dom.contains("opblock"), "operation blocks not rendered");
    app.shutdown().await.unwrap();
}

struct Server {
    child: Child,
    base: String,
}

fn platform(args: &[&str], database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_platform"));
    command
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("PLATFORM__AUTH__JWT_SECRET", testkit::TEST_JWT_SECRET)
        .env("PLATFORM__REWARDS__CODE_KEY", testkit::TEST_CODE_KEY)
        .env("RUST_LOG", "warn")
        .env_remove("NATS_URL")
        .env_remove("PLATFORM_CONFIG");
    if let Some(nats) = testkit::nats_url() {
        command.env("NATS_URL", nats);
    }
    command
}

/// `platform serve` on a free port, once it says where it listens.
fn serve(mut command: Command) -> Server {
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first
        .strip_prefix("platform serving on ")
        .expect(&first)
        .to_owned();
    // Keep reading, so the server never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Server { child, base }
}

/// The binary end to end: `users add` makes the first admin from a password on stdin,
/// `serve` prints its URLs and serves, and SIGTERM stops it cleanly with exit code 0.
#[tokio::test]
async fn the_binary_makes_an_admin_serves_and_stops_cleanly_on_sigterm() {
    let database = storage::testing::TestDatabase::new().await.unwrap();
    let mut add = platform(
        &["users", "add", "ops@example.com", "--role", "admin"],
        database.url(),
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(b"a long admin passphrase\n")
        .unwrap();
    let added = add.wait_with_output().unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stdout)
    );

    let server = serve(platform(
        &["serve", "--listen", "127.0.0.1:0"],
        database.url(),
    ));
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{}/v1/auth/login", server.base))
        .json(
            &serde_json::json!({"email": "ops@example.com", "password": "a long admin passphrase"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(login["user"]["roles"], serde_json::json!(["admin"]));

    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut child = server.child;
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0), "graceful shutdown exits 0");
    // Nothing listens any more.
    let after = client
        .get(format!("{}/health/live", server.base))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(after.is_err());
}

#[test]
fn unknown_services_are_refused_by_name() {
    let error = platform::node(figment(), &["accounts".into(), "casino".into()])
        .err()
        .unwrap();
    assert!(error.to_string().contains("unknown service `casino`"));
}

/// A stand-in OpenTelemetry collector: it accepts OTLP/HTTP export requests and hands
/// their bodies (protobuf) to the test.
async fn fake_collector() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(String, Vec<u8>)>,
) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (exports, received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let exports = exports.clone();
            tokio::spawn(async move {
                let mut socket = tokio::io::BufReader::new(socket);
                loop {
                    let mut request_line = String::new();
                    if socket.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        socket.read_line(&mut line).await.unwrap();
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    socket.read_exact(&mut body).await.unwrap();
                    let path = request_line
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                    let _ = exports.send((path, body));
                    socket
                        .get_mut()
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n")
                        .await
                        .unwrap();
                }
            });
        }
    });
    (address, received)
}

/// With OTEL_EXPORTER_OTLP_ENDPOINT set, request spans are exported over OTLP/HTTP, joined
/// to the caller's W3C trace, and flushed when the process stops.
#[tokio::test]
async fn spans_join_the_callers_trace_and_are_exported_over_otlp() {
    let (collector, mut exports) = fake_collector().await;
    let database = storage::testing::TestDatabase::new().await.unwrap();
    let mut command = platform(&["serve", "--listen", "127.0.0.1:0"], database.url());
    command
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector)
        .env("RUST_LOG", "info");
    let Server { mut child, base } = serve(command);

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = reqwest::Client::new()
        .get(format!("{base}/health/ready"))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // SIGTERM flushes the batch exporter on the way out.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));

    let (path, body) = tokio::time::timeout(Duration::from_secs(10), exports.recv())
        .await
        .expect("spans were exported before exit")
        .unwrap();
    assert_eq!(path, "/v1/traces");
    // Protobuf keeps strings and ids as raw bytes: the span's name and the caller's trace id.
    let trace_id_bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&trace_id[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert!(
        contains(&body, b"http.request"),
        "the request span is exported"
    );
    assert!(
        contains(&body, &trace_id_bytes),
        "the span belongs to the caller's trace"
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The wallet survives a crash: SIGKILL in the middle of a load run loses no acknowledged
/// transfer, and the ledger still verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_loses_no_acknowledged_transfer_and_the_ledger_verifies() {
    use std::sync::{Arc, Mutex};
    let database = storage::testing::TestDatabase::new().await.unwrap();
    let server = serve(platform(
        &["serve", "--listen", "127.0.0.1:0"],
        database.url(),
    ));
    let admin = Arc::new(testkit::token(
        kernel::UserId::new(),
        &[kernel::Role::Admin],
    ));
    let client = reqwest::Client::new();
    let url = Arc::new(format!("{}/v1/admin/ledger/transfers", server.base));
    let wallets: Vec<uuid::Uuid> = (0..8).map(|_| uuid::Uuid::now_v7()).collect();
    for user in &wallets {
        let legs = serde_json::json!({"legs": [{"kind": "transfer", "id": uuid::Uuid::now_v7(),
            "debit": "system:issuance", "credit": format!("user:{user}"), "asset": "COIN", "amount": "1000"}]});
        let status = client
            .post(url.as_str())
            .bearer_auth(admin.as_str())
            .json(&legs)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, reqwest::StatusCode::CREATED);
    }

    // Sixteen clients move coins between the wallets until the server dies under them.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let (enough_tx, enough) = tokio::sync::watch::channel(0usize);
    let enough_tx = Arc::new(enough_tx);
    let clients: Vec<_> = (0..16)
        .map(|n| {
            let (client, url, admin, acknowledged, enough_tx) =
                (client.clone(), url.clone(), admin.clone(), acknowledged.clone(), enough_tx.clone());
            let wallets = wallets.clone();
            tokio::spawn(async move {
                for i in 0.. {
                    let from = wallets[(n + i) % wallets.len()];
                    let to = wallets[(n + 3 * i + 1) % wallets.len()];
                    if from == to {
                        continue;
                    }
                    let id = uuid::Uuid::now_v7();
                    let legs = serde_json::json!({"legs": [{"kind": "transfer", "id": id, "debit": format!("user:{from}"),
                        "credit": format!("user:{to}"), "asset": "COIN", "amount": "3"}]});
                    match client.post(url.as_str()).bearer_auth(admin.as_str()).json(&legs).send().await {
                        Ok(response) if response.status() == reqwest::StatusCode::CREATED => {
                            let mut ids = acknowledged.lock().unwrap();
                            ids.push(id);
                            enough_tx.send_replace(ids.len());
                        }
                        Ok(_) => {}
                        // The server is gone.
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    let mut enough = enough;
    enough.wait_for(|count| *count >= 500).await.unwrap();
    let killed = Command::new("kill")
        .args(["-KILL", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut child = server.child;
    tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    for client in clients {
        client.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    let verify = platform(&["ledger", "verify"], database.url())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{report}");
    assert!(report.contains("ledger sound"), "{report}");

    let db = database.connection();
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let found = wallet::store::transfer::Entity::find()
        .filter(wallet::store::transfer::Column::Id.is_in(acknowledged.clone()))
        .count(db)
        .await
        .unwrap();
    assert_eq!(
        found,
        acknowledged.len() as u64,
        "every acknowledged transfer survived"
    );
    println!(
        "{} transfers acknowledged before SIGKILL, all present; {report}",
        acknowledged.len()
    );

    // And the node comes back and serves.
    let server = serve(platform(
        &["serve", "--listen", "127.0.0.1:0"],
        database.url(),
    ));
    let status = client
        .get(format!("{}/health/ready", server.base))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, reqwest::StatusCode::OK);
    let mut child = server.child;
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A market survives a crash: after SIGKILL the restarted node rebuilds each book from its
/// command log, and the book's depth, the open orders and the wallet's holds agree with
/// each other and with what they were. The rebuilt book then trades as before.
///
/// In-process bus: this node's wallet must be the one answering its settlement requests
/// (on a shared NATS, other tests' nodes answer the same queue group).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_rebuilds_its_markets_and_their_holds_agree() {
    use serde_json::json;
    let database = storage::testing::TestDatabase::new().await.unwrap();
    let embedded = |args: &[&str]| {
        let mut command = platform(args, database.url());
        command.env_remove("NATS_URL");
        command
    };
    let server = serve(embedded(&["serve", "--listen", "127.0.0.1:0"]));
    let client = reqwest::Client::new();
    let admin = testkit::token(kernel::UserId::new(), &[kernel::Role::Admin]);
    let call =
        |base: &str, method: reqwest::Method, path: &str, token: &str, body: Option<Value>| {
            let mut request = client
                .request(method, format!("{base}{path}"))
                .bearer_auth(token);
            if let Some(body) = body {
                request = request.json(&body);
            }
            async move {
                let response = request.send().await.unwrap();
                let status = response.status();
                (
                    status,
                    response.json::<Value>().await.unwrap_or(Value::Null),
                )
            }
        };
    let put = json!({"brand": "acme", "brand_name": "Acme", "name": "Acme 50", "denomination": "50",
        "currency": "INR", "price": 100, "pattern": "ACM-{10:unambiguous}", "expires_at": "2099-01-01T00:00:00Z"});
    let (status, body) = call(
        &server.base,
        reqwest::Method::PUT,
        "/v1/admin/vouchers/skus/ACME_50",
        &admin,
        Some(put),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    call(
        &server.base,
        reqwest::Method::POST,
        "/v1/admin/vouchers/skus/ACME_50/codes",
        &admin,
        Some(json!({"top_up_to": 20})),
    )
    .await;

    // Three users, each with coins and vouchers, each resting orders on both sides.
    let users: Vec<(uuid::Uuid, String)> = (0..3)
        .map(|_| {
            let id = kernel::UserId::new();
            (id.0, testkit::token(id, &[kernel::Role::User]))
        })
        .collect();
    for (n, (id, token)) in users.iter().enumerate() {
        let fund = json!({"legs": [{"kind": "transfer", "id": uuid::Uuid::now_v7(), "debit": "system:issuance",
            "credit": format!("user:{id}"), "asset": "COIN", "amount": "5000"}]});
        call(
            &server.base,
            reqwest::Method::POST,
            "/v1/admin/ledger/transfers",
            &admin,
            Some(fund),
        )
        .await;
        for k in 0..3 {
            let response = client
                .post(format!("{}/v1/vouchers/ACME_50/purchase", server.base))
                .bearer_auth(token)
                .header("idempotency-key", format!("{n}-{k}"))
                .header("x-geo-position", "19.0760,72.8777")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::CREATED);
        }
    }
    let orders = [
        (0, "sell", 120, 2),
        (1, "sell", 125, 1),
        (2, "sell", 130, 2),
        (0, "buy", 90, 3),
        (1, "buy", 95, 2),
        (2, "buy", 95, 1),
        // Takes both units at 120; the third rests at 121 under a new hold.
        (1, "buy", 121, 3),
    ];
    for (who, side, price, qty) in orders {
        let body = json!({"id": uuid::Uuid::now_v7(), "side": side, "price": price, "qty": qty});
        let (status, order) = call(
            &server.base,
            reqwest::Method::POST,
            "/v1/markets/ACME_50/orders",
            &users[who].1,
            Some(body),
        )
        .await;
        assert_eq!(status, reqwest::StatusCode::CREATED, "{order}");
    }
    let snapshot = |base: String| {
        let users = users.clone();
        let call = &call;
        async move {
            let (_, book) = call(
                &base,
                reqwest::Method::GET,
                "/v1/markets/ACME_50/book",
                &users[0].1,
                None,
            )
            .await;
            let mut wallets = Vec::new();
            for (_, token) in &users {
                wallets.push(
                    call(&base, reqwest::Method::GET, "/v1/wallet", token, None)
                        .await
                        .1["balances"]
                        .clone(),
                );
            }
            (book, wallets)
        }
    };
    // The holds are exactly what the open orders need: coins at the bid price, units.
    let pending = |wallets: &[Value], user: usize, asset: &str| -> i64 {
        wallets[user]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["asset"] == asset)
            .map_or(0, |b| b["pending"].as_str().unwrap().parse().unwrap())
    };
    // Trades settle just behind the answers.
    let base = server.base.clone();
    testkit::eventually(
        "the trades settle",
        std::time::Duration::from_secs(10),
        || {
            let base = base.clone();
            async move {
                let (_, wallets) = snapshot(base).await;
                pending(&wallets, 1, "COIN") == 190 + 121
                    && pending(&wallets, 0, "VCH_ACME_50") == 0
            }
        },
    )
    .await;
    let (book, wallets) = snapshot(server.base.clone()).await;
    assert_eq!(
        book["bids"],
        json!([{"price": 121, "qty": 1, "orders": 1}, {"price": 95, "qty": 3, "orders": 2}, {"price": 90, "qty": 3, "orders": 1}])
    );
    assert_eq!(
        book["asks"],
        json!([{"price": 125, "qty": 1, "orders": 1}, {"price": 130, "qty": 2, "orders": 1}])
    );
    assert_eq!(pending(&wallets, 0, "COIN"), 270);
    assert_eq!(pending(&wallets, 1, "COIN"), 190 + 121);
    assert_eq!(pending(&wallets, 2, "COIN"), 95);
    assert_eq!(
        (
            pending(&wallets, 0, "VCH_ACME_50"),
            pending(&wallets, 1, "VCH_ACME_50"),
            pending(&wallets, 2, "VCH_ACME_50")
        ),
        (0, 1, 2)
    );

    let killed = Command::new("kill")
        .args(["-KILL", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut child = server.child;
    tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();

    let server = serve(embedded(&["serve", "--listen", "127.0.0.1:0"]));
    let (book_after, wallets_after) = snapshot(server.base.clone()).await;
    assert_eq!(
        (&book_after["bids"], &book_after["asks"]),
        (&book["bids"], &book["asks"])
    );
    assert_eq!(wallets_after, wallets);
    // The rebuilt book matches as the old one would: a sell at 95 takes the best bid, the
    // 121 that rests under its second hold, and that hold settles.
    let body = json!({"id": uuid::Uuid::now_v7(), "side": "sell", "price": 95, "qty": 1, "time_in_force": "ioc"});
    let (status, order) = call(
        &server.base,
        reqwest::Method::POST,
        "/v1/markets/ACME_50/orders",
        &users[0].1,
        Some(body),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{order}");
    assert_eq!(order["filled"], 1);
    let (_, trades) = call(
        &server.base,
        reqwest::Method::GET,
        "/v1/markets/ACME_50/trades",
        &users[0].1,
        None,
    )
    .await;
    assert_eq!(trades[0]["price"], 121);
    let (_, book) = call(
        &server.base,
        reqwest::Method::GET,
        "/v1/markets/ACME_50/book",
        &users[0].1,
        None,
    )
    .await;
    assert_eq!(
        book["bids"],
        json!([{"price": 95, "qty": 3, "orders": 2}, {"price": 90, "qty": 3, "orders": 1}])
    );
    // Only the two bids at 95 stay held once that trade settles.
    testkit::eventually(
        "the 121 bid's hold settles",
        std::time::Duration::from_secs(10),
        || async {
            let (_, wallet) = call(
                &server.base,
                reqwest::Method::GET,
                "/v1/wallet",
                &users[1].1,
                None,
            )
            .await;
            pending(&[wallet["balances"].clone()], 0, "COIN") == 190
        },
    )
    .await;
    let mut child = server.child;
    child.kill().unwrap();
    child.wait().unwrap();
}
