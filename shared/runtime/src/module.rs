//! The contract between a service and the node that runs it.

use crate::settings::Settings;
use actix_web::web::ServiceConfig;
use figment::Figment;
use ractor::ActorCell;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use storage::sea_orm::DatabaseConnection;

/// Registers a started service's routes (called once per HTTP worker).
pub type Routes = Arc<dyn Fn(&mut ServiceConfig) + Send + Sync>;

/// A service the node can mount: its schema, its contract and how to start it.
#[async_trait::async_trait]
pub trait Module: Send + Sync + 'static {
    /// A short name (`accounts`); also the name of its settings section.
    fn name(&self) -> &'static str;

    /// Its migrations, if it owns tables.
    fn migrations(&self) -> Option<storage::Migrations> {
        None
    }

    /// Its part of the OpenAPI document: every route it serves.
    fn openapi(&self) -> utoipa::openapi::OpenApi;

    /// Starts the service: spawns its actors under `context.supervisor`, subscribes to the
    /// bus, and returns its routes. Called after migrations have run.
    async fn start(&self, context: &Context) -> anyhow::Result<Routes>;
}

/// What a starting service is given: shared connections and its settings.
#[derive(Clone)]
pub struct Context {
    /// The database pool.
    pub db: DatabaseConnection,
    /// The bus (in-process or NATS).
    pub bus: bus::DynBus,
    /// The access token keys (accounts signs with them; everything else verifies).
    pub jwt: web::JwtKeys,
    /// The node's settings.
    pub settings: Arc<Settings>,
    /// The root supervisor: a service links its own supervisors and registries under it.
    pub supervisor: ActorCell,
    pub(crate) figment: Figment,
}

impl Context {
    /// The service's own settings section (`[accounts]`, `PLATFORM__ACCOUNTS__...`),
    /// its defaults where absent.
    pub fn section<T: DeserializeOwned + Default>(&self, name: &str) -> anyhow::Result<T> {
        if self.figment.contains(name) {
            Ok(self.figment.extract_inner(name)?)
        } else {
            Ok(T::default())
        }
    }

    /// Runs a service's background loop until the node stops (see [`crate::background`]).
    pub async fn supervise(
        &self,
        name: &str,
        task: tokio::task::JoinHandle<()>,
        stop: Option<std::sync::Arc<tokio::sync::Notify>>,
    ) -> anyhow::Result<()> {
        crate::background::supervise(&self.supervisor, name, task, stop).await
    }
}
