//! A deployment of the real binary for multi-node tests: one database, several
//! `platform serve` processes on it, and (under `TEST_NATS_URL`) a NATS server of the
//! deployment's own, so nodes of one test share a bus and no other test's nodes answer
//! their queue groups. Without `TEST_NATS_URL` each node has its own in-process bus and
//! the nodes meet only in the database, which is where their races are decided anyway.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use storage::testing::TestDatabase;

/// One database (and bus) that nodes join.
pub struct Deployment {
    database: TestDatabase,
    nats: Option<NatsServer>,
    admin: String,
    pub client: reqwest::Client,
}

impl Deployment {
    /// A fresh database, and a private JetStream-enabled nats-server when the suite runs
    /// on NATS.
    pub async fn new() -> Self {
        let database = TestDatabase::new().await.unwrap();
        let nats = testkit::nats_url().map(|_| NatsServer::start());
        Self {
            database,
            nats,
            admin: testkit::token(kernel::UserId::new(), &[kernel::Role::Admin]),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    pub fn database_url(&self) -> &str {
        self.database.url()
    }

    /// The deployment's NATS URL, when it has one.
    pub fn nats_url(&self) -> Option<&str> {
        self.nats.as_ref().map(|nats| nats.url.as_str())
    }

    /// `platform <args>` against this deployment's database and bus.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_platform"));
        command
            .args(args)
            .env("DATABASE_URL", self.database.url())
            .env("PLATFORM__AUTH__JWT_SECRET", testkit::TEST_JWT_SECRET)
            .env("PLATFORM__REWARDS__CODE_KEY", testkit::TEST_CODE_KEY)
            .env("RUST_LOG", "warn")
            .env_remove("NATS_URL")
            .env_remove("PLATFORM_CONFIG");
        if let Some(nats) = self.nats_url() {
            command.env("NATS_URL", nats);
        }
        command
    }

    /// A node: `platform serve` on a free port, returned once it says where it listens.
    pub fn node(&self, env: &[(&str, &str)]) -> Node {
        let mut command = self.command(&["serve", "--listen", "127.0.0.1:0"]);
        command.envs(env.iter().copied());
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().unwrap().unwrap();
        let base = first
            .strip_prefix("platform serving on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .to_owned();
        // Keep reading, so the server never writes into a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Node {
            child: Some(child),
            base,
        }
    }

    /// An admin's access token, valid on every node.
    pub fn admin_token(&self) -> String {
        self.admin.clone()
    }

    /// Moves `amount` of `asset` from `system:issuance` to `user` through `node`'s admin
    /// ledger API.
    pub async fn fund(&self, node: &Node, user: uuid::Uuid, asset: &str, amount: &str) {
        let legs = json!({"legs": [{"kind": "transfer", "id": uuid::Uuid::now_v7(),
            "debit": "system:issuance", "credit": format!("user:{user}"),
            "asset": asset, "amount": amount}]});
        let response = self
            .client
            .post(node.url("/v1/admin/ledger/transfers"))
            .bearer_auth(&self.admin)
            .json(&legs)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(
            status,
            reqwest::StatusCode::CREATED,
            "funding failed: {body}"
        );
    }

    /// `platform ledger verify`; panics with its report unless the ledger is sound.
    pub fn verify_ledger(&self) -> String {
        let output = self.command(&["ledger", "verify"]).output().unwrap();
        let report = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success() && report.contains("ledger sound"),
            "ledger verify failed:\n{report}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        report
    }
}

/// One `platform serve` process. Dropping it kills the process.
pub struct Node {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl Node {
    /// The absolute URL of `path` on this node.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The process has not exited (by itself or otherwise).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().unwrap().is_none())
    }

    /// SIGKILL, then wait for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM (an orderly shutdown) and wait; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        child.wait().unwrap().code()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A nats-server with JetStream on a free loopback port and a store of its own, stopped
/// (and its store removed) on drop. `NATS_SERVER` names the binary if it is not on PATH.
pub struct NatsServer {
    child: Child,
    pub url: String,
    _store: tempfile::TempDir,
}

impl NatsServer {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let store = tempfile::tempdir().unwrap();
        let binary = std::env::var("NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        let child = Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} (nats-server on PATH, or NATS_SERVER): {e}"));
        // Bounded: the server listens within milliseconds, or the test cannot run.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server did not listen on {port} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            _store: store,
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
