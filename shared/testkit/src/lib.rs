//! Test-only helpers: boot the real node (the same startup path as the binary) on port 0
//! with a fresh database and bus, and talk HTTP to it.
//!
//! The backend follows the environment: SQLite and the in-process bus by default;
//! `TEST_DATABASE_URL` (a Postgres server) and `TEST_NATS_URL` switch to the real ones.

use runtime::settings::Figment;
use runtime::{Module, Node, RunningNode};
use std::sync::Arc;
use std::time::Duration;
use storage::testing::TestDatabase;

/// The access-token secret of every test node, so tests can mint tokens (expired ones too).
pub const TEST_JWT_SECRET: &str = "testkit-only-secret-0123456789abcdef0123";
/// The key test nodes seal voucher codes with (`rewards.code_key`: Postgres needs one).
pub const TEST_CODE_KEY: &str = "dGVzdGtpdC1vbmx5LWNvZGUta2V5LTAxMjM0NTY3ODk=";
/// The issuer of test nodes.
pub const TEST_ISSUER: &str = "cricket-platform";

/// A running node under test.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// A client with no cookies or redirects to hide what the server says.
    pub client: reqwest::Client,
    node: Option<RunningNode>,
    database: Option<TestDatabase>,
    /// What the node was booted with, to boot another on the same database.
    figment: Figment,
    modules: Vec<Arc<dyn Module>>,
}

impl TestApp {
    /// Boots a node mounting `modules` on a fresh database.
    pub async fn spawn(modules: Vec<Arc<dyn Module>>) -> anyhow::Result<Self> {
        Self::spawn_with(modules, |figment| figment).await
    }

    /// Like [`TestApp::spawn`], with settings adjusted by `configure`.
    pub async fn spawn_with(
        modules: Vec<Arc<dyn Module>>,
        configure: impl FnOnce(Figment) -> Figment,
    ) -> anyhow::Result<Self> {
        let database = TestDatabase::new().await?;
        let mut figment = Figment::new()
            .merge(("database.url", database.url()))
            .merge(("auth.jwt_secret", TEST_JWT_SECRET))
            .merge(("auth.issuer", TEST_ISSUER))
            .merge(("rewards.code_key", TEST_CODE_KEY))
            .merge(("http.workers", 1));
        if let Some(nats) = nats_url() {
            figment = figment.merge(("bus.nats_url", nats));
        }
        let figment = configure(figment);
        let mut app = Self::boot(figment, modules).await?;
        app.database = Some(database);
        Ok(app)
    }

    async fn boot(figment: Figment, modules: Vec<Arc<dyn Module>>) -> anyhow::Result<Self> {
        let node = Node::new(figment.clone())?.mount(modules.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let node = node.start(listener).await?;
        let address = format!("http://{}", node.local_addr());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            address,
            client,
            node: Some(node),
            database: None,
            figment,
            modules,
        })
    }

    /// A second node with the same services and settings on the same database (and, with
    /// `TEST_NATS_URL`, the same bus): two nodes of one deployment.
    pub async fn another_node(&self) -> anyhow::Result<Self> {
        Self::boot(self.figment.clone(), self.modules.clone()).await
    }

    /// Stops this node the way the binary does, keeping its database for
    /// [`StoppedApp::start`]: a deployment with no node running.
    pub async fn stop(mut self) -> anyhow::Result<StoppedApp> {
        if let Some(node) = self.node.take() {
            node.shutdown().await?;
        }
        Ok(StoppedApp {
            database: self.database.take(),
            figment: self.figment.clone(),
            modules: self.modules.clone(),
        })
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// The node (its database pool and bus).
    pub fn node(&self) -> &RunningNode {
        // Present from spawn until shutdown consumes the app.
        #[allow(clippy::expect_used)]
        self.node.as_ref().expect("the node runs until shutdown")
    }

    /// The keys test nodes sign access tokens with.
    pub fn jwt_keys(&self) -> web::JwtKeys {
        web::JwtKeys::new(TEST_JWT_SECRET.as_bytes(), TEST_ISSUER)
    }

    /// A valid access token for `user` with `roles`, as accounts would issue it.
    pub fn token(&self, user: kernel::UserId, roles: &[kernel::Role]) -> String {
        token(user, roles)
    }

    /// Stops the node the way the binary does, then drops the database.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(node) = self.node.take() {
            node.shutdown().await?;
        }
        drop(self.database.take());
        Ok(())
    }
}

/// A stopped node's database and settings, ready to boot again.
pub struct StoppedApp {
    database: Option<TestDatabase>,
    figment: Figment,
    modules: Vec<Arc<dyn Module>>,
}

impl StoppedApp {
    /// Boots a new node on the same database with the same settings.
    pub async fn start(mut self) -> anyhow::Result<TestApp> {
        let mut app = TestApp::boot(self.figment.clone(), self.modules.clone()).await?;
        app.database = self.database.take();
        Ok(app)
    }
}

/// A valid access token for `user` with `roles` for any node using [`TEST_JWT_SECRET`] (test
/// nodes, and binaries started with it).
pub fn token(user: kernel::UserId, roles: &[kernel::Role]) -> String {
    let now = chrono::Utc::now().timestamp();
    web::JwtKeys::new(TEST_JWT_SECRET.as_bytes(), TEST_ISSUER).sign(&web::Claims {
        sub: user,
        roles: roles.to_vec(),
        sid: uuid::Uuid::new_v4(),
        iat: now,
        exp: now + 3600,
        iss: TEST_ISSUER.to_owned(),
    })
}

/// `TEST_NATS_URL`, when the tests should run on NATS.
pub fn nats_url() -> Option<String> {
    std::env::var("TEST_NATS_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// Waits until `condition` holds, checking every 10 ms, and fails the test naming `what`
/// if it does not within `within`. For effects that land on their own time (a job due at a
/// deadline, a kernel timeout), never as a stand-in for a signal the code could give.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
