//! Building, running and stopping a node.

use crate::module::{Context, Module, Routes};
use crate::settings::Settings;
use crate::supervisor::Root;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, dev::ServerHandle, web as aweb};
use anyhow::Context as _;
use figment::Figment;
use ractor::{Actor, ActorRef};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;
use storage::sea_orm::DatabaseConnection;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use utoipa::OpenApi as _;
use web::{docs, extract, fallback, observe, ops};

/// A node before it starts: settings and the modules it mounts.
pub struct Node {
    settings: Settings,
    figment: Figment,
    modules: Vec<Arc<dyn Module>>,
}

impl Node {
    /// A node configured from `figment` (see [`crate::settings::sources`]).
    pub fn new(figment: Figment) -> anyhow::Result<Self> {
        let settings = Settings::from_figment(&figment)?;
        Ok(Self {
            settings,
            figment,
            modules: Vec::new(),
        })
    }

    /// Mounts services.
    pub fn mount(mut self, modules: impl IntoIterator<Item = Arc<dyn Module>>) -> Self {
        self.modules.extend(modules);
        self
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The merged OpenAPI document of every mounted service and the node's own endpoints.
    pub fn openapi(&self) -> utoipa::openapi::OpenApi {
        let mut doc = docs::base_document(
            "Cricket platform API",
            env!("CARGO_PKG_VERSION"),
            "Live cricket, rewards, wallet and content: every service of the platform.",
        );
        doc.merge(ops::OpsApi::openapi());
        for module in &self.modules {
            doc.merge(module.openapi());
        }
        doc
    }

    /// Applies every mounted service's pending migrations (one node at a time), then opens
    /// the pool the node serves with.
    pub async fn migrate(&self) -> anyhow::Result<DatabaseConnection> {
        let url = &self.settings.database.url;
        let migrations: Vec<_> = self.modules.iter().filter_map(|m| m.migrations()).collect();
        storage::migrate_exclusively(url, &migrations)
            .await
            .with_context(|| format!("migrating {}", redact(url)))?;
        storage::connect(url)
            .await
            .with_context(|| format!("connecting to {}", redact(url)))
    }

    /// Starts everything and serves HTTP on `listener` until [`RunningNode::shutdown`].
    pub async fn start(self, listener: TcpListener) -> anyhow::Result<RunningNode> {
        // The node serves /metrics, so it records from its first request on.
        telemetry::metrics_handle()?;
        let openapi = self.openapi();
        let db = self.migrate().await?;
        let bus: bus::DynBus = match &self.settings.bus.nats_url {
            Some(url) => Arc::new(
                bus::NatsBus::connect(url)
                    .await
                    .with_context(|| format!("connecting to NATS at {}", redact(url)))?,
            ),
            None => Arc::new(bus::LocalBus::new()),
        };
        let jwt = web::JwtKeys::new(&self.jwt_secret()?, self.settings.auth.issuer.clone());

        let (fatal_tx, fatal) = unbounded_channel();
        let (root, _) = Actor::spawn(
            Some(format!("root-{}", uuid::Uuid::new_v4())),
            Root,
            fatal_tx,
        )
        .await
        .context("starting the root supervisor")?;

        let settings = Arc::new(self.settings.clone());
        let context = Context {
            db: db.clone(),
            bus: bus.clone(),
            jwt: jwt.clone(),
            settings: settings.clone(),
            supervisor: root.get_cell(),
            figment: self.figment.clone(),
        };
        let mut routes: Vec<Routes> = Vec::with_capacity(self.modules.len());
        for module in &self.modules {
            routes.push(
                module
                    .start(&context)
                    .await
                    .with_context(|| format!("starting {}", module.name()))?,
            );
            tracing::info!(service = module.name(), "service started");
        }

        let readiness = aweb::Data::new(readiness(db.clone(), bus.clone()));
        let route_table = aweb::Data::new(fallback::RouteTable::from_openapi(&openapi));
        let jwt_data = aweb::Data::new(jwt);
        let trusted_proxies = aweb::Data::new(web::client::TrustedProxies(
            settings.http.trusted_proxies.clone().into(),
        ));
        let http = settings.http.clone();
        let local_addr = listener.local_addr()?;
        let mut server = HttpServer::new(move || {
            let mut app = App::new()
                .app_data(extract::json_config(http.body_limit_bytes))
                .app_data(extract::path_config())
                .app_data(extract::query_config())
                .app_data(jwt_data.clone())
                .app_data(readiness.clone())
                .app_data(route_table.clone())
                .app_data(trusted_proxies.clone())
                // The first `wrap` is innermost. CORS rejections become problems too, and
                // the observer sees every response as the client gets it.
                .wrap(http.cors.middleware())
                .wrap(fallback::problem_errors())
                .wrap(from_fn(observe::observe))
                .configure(ops::configure)
                .configure(docs::configure(openapi.clone()));
            for register in &routes {
                app = app.configure(|config| register(config));
            }
            app.default_service(aweb::to(fallback::no_route))
        })
        .on_connect(send_timeout(settings.http.send_timeout_seconds))
        // The node decides when to stop (signals are handled by the binary).
        .disable_signals()
        .shutdown_timeout(settings.http.shutdown_grace_seconds)
        .listen(listener)?;
        if let Some(workers) = settings.http.workers {
            server = server.workers(workers);
        }
        let server = server.run();
        let handle = server.handle();
        let serving = tokio::spawn(server);
        tracing::info!(address = %local_addr, bus = bus.backend(), "serving");

        Ok(RunningNode {
            local_addr,
            handle,
            serving,
            root,
            db,
            bus,
            fatal,
        })
    }

    fn jwt_secret(&self) -> anyhow::Result<Vec<u8>> {
        match &self.settings.auth.jwt_secret {
            Some(secret) if secret.expose().len() >= 32 => Ok(secret.expose().as_bytes().to_vec()),
            Some(_) => anyhow::bail!("auth.jwt_secret must be at least 32 bytes"),
            // Nodes sharing a database or a bus are a deployment: they must agree on the key.
            None if self.settings.bus.nats_url.is_some()
                || storage::Backend::of(&self.settings.database.url)?
                    == storage::Backend::Postgres =>
            {
                anyhow::bail!(
                    "auth.jwt_secret (PLATFORM__AUTH__JWT_SECRET) is required with Postgres or NATS"
                )
            }
            None => {
                tracing::warn!(
                    "no auth.jwt_secret set: using a random one; tokens end with this process"
                );
                Ok([uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
                    .iter()
                    .flat_map(|id| id.into_bytes())
                    .collect())
            }
        }
    }
}

/// Sets `TCP_USER_TIMEOUT` on each accepted connection: the kernel then aborts one whose
/// peer has not acknowledged data for that long, including one that keeps its receive
/// window shut (Linux 5.11 on). A stalled reader's response is dropped with it.
fn send_timeout(
    seconds: u64,
) -> impl Fn(&dyn std::any::Any, &mut actix_web::dev::Extensions) + Send + Sync + Clone + 'static {
    let timeout = (seconds > 0).then(|| std::time::Duration::from_secs(seconds));
    move |connection, _| {
        let (Some(timeout), Some(socket)) = (
            timeout,
            connection.downcast_ref::<actix_web::rt::net::TcpStream>(),
        ) else {
            return;
        };
        let timeout = Some(timeout);
        if let Err(error) = socket2::SockRef::from(socket).set_tcp_user_timeout(timeout) {
            tracing::debug!(%error, "TCP_USER_TIMEOUT not set");
        }
    }
}

fn readiness(db: DatabaseConnection, bus: bus::DynBus) -> ops::Readiness {
    ops::Readiness::default()
        .with(
            "database",
            Arc::new(move || {
                let db = db.clone();
                Box::pin(async move { storage::ping(&db).await.map_err(|e| e.to_string()) })
            }),
        )
        .with(
            "bus",
            Arc::new(move || {
                let bus = bus.clone();
                Box::pin(async move { bus.health().await.map_err(|e| e.to_string()) })
            }),
        )
}

/// A connection URL fit for messages: no password, no query (which may carry one).
fn redact(url: &str) -> String {
    let url = url.split('?').next().unwrap_or(url);
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A started node.
pub struct RunningNode {
    local_addr: SocketAddr,
    handle: ServerHandle,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
    root: ActorRef<()>,
    db: DatabaseConnection,
    bus: bus::DynBus,
    fatal: UnboundedReceiver<String>,
}

impl RunningNode {
    /// The address HTTP is served on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The node's database pool.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The node's bus.
    pub fn bus(&self) -> &bus::DynBus {
        &self.bus
    }

    /// Resolves when a supervisor under the root gave up: the node should stop.
    pub async fn failed(&mut self) -> String {
        self.fatal
            .recv()
            .await
            .unwrap_or_else(|| "root supervisor stopped".to_owned())
    }

    /// Stops in order: stop accepting and drain in-flight requests (up to the grace period),
    /// stop actors top-down, then close the database pool.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        tracing::info!("shutting down: draining requests");
        self.handle.stop(true).await;
        if let Ok(Err(error)) = self.serving.await {
            tracing::warn!(%error, "http server ended with an error");
        }
        tracing::info!("stopping actors");
        let grace = Some(Duration::from_secs(10));
        self.root.stop_children_and_wait(None, grace).await;
        let _ = self.root.stop_and_wait(None, grace).await;
        // What the drained requests and stopped actors published must leave the process.
        if let Err(error) = self.bus.flush().await {
            tracing::warn!(%error, "bus not flushed");
        }
        self.db.close().await?;
        tracing::info!("stopped");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://var/p.db?mode=rwc"), "sqlite://var/p.db");
        assert_eq!(redact("postgres://h/db?password=secret"), "postgres://h/db");
        assert_eq!(redact("nats://u:p@ss@h:4222"), "nats://u:***@h:4222");
    }
}
