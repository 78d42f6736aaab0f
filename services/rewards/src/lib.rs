//! Rewards: the voucher catalog and its codes, order book markets that trade voucher
//! units for coins, and reward campaigns driven by platform events. Every coin and unit
//! moves in the wallet, reached over the bus ([`ledger`]); this service owns the
//! `rewards_*` tables.
//!
//! - [`catalog`]: SKUs, sealed codes, purchases (one code to exactly one buyer) and
//!   redemption.
//! - [`market`]: one actor per market owns its book ([`matching`]); orders are held in the
//!   wallet before they reach it, and each command's trades settle in one linked batch.
//! - [`campaigns`]: activity from the bus turns into coins from budgeted campaigns.
//! - [`work`]: the jobs that finish a write when the wallet was away.
//! - [`http`]: the REST API.

pub mod campaigns;
pub mod catalog;
pub mod error;
pub mod http;
pub mod ledger;
pub mod market;
mod migration;
pub mod settings;
pub mod store;
pub mod work;

use anyhow::Context as _;
use base64::Engine as _;
use runtime::{Context, Module, Routes};
use sea_orm::{ActiveValue, DatabaseConnection, EntityTrait, sea_query::OnConflict};
use std::sync::Arc;
use std::time::Duration;
use utoipa::OpenApi as _;

pub use settings::RewardsSettings;

/// The rewards service, as the node mounts it (after the jobs, accounts and wallet
/// modules: it runs jobs, its purchase route is geofenced, and it settles in the wallet).
pub struct Rewards;

#[async_trait::async_trait]
impl Module for Rewards {
    fn name(&self) -> &'static str {
        "rewards"
    }

    fn migrations(&self) -> Option<storage::Migrations> {
        Some(storage::Migrations::of::<migration::Migrator>("rewards"))
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        http::RewardsApi::openapi()
    }

    async fn start(&self, context: &Context) -> anyhow::Result<Routes> {
        let settings: RewardsSettings = context.section("rewards")?;
        settings.validate()?;
        let key = code_key(&settings, &context.db).await?;
        let ledger = ledger::Ledger::new(context.bus.clone());
        let jobs = jobs::Jobs::new(context.db.clone(), context.bus.clone());
        let retry_after = chrono::Duration::seconds(
            i64::try_from(settings.retry_after_seconds).unwrap_or(i64::MAX),
        );
        let catalog = catalog::Catalog::new(
            context.db.clone(),
            ledger.clone(),
            codes::Sealer::new(&key),
            jobs.clone(),
            retry_after,
        );
        let markets = market::Markets::start(
            market::MarketContext {
                db: context.db.clone(),
                ledger: ledger.clone(),
                bus: context.bus.clone(),
                jobs: jobs.clone(),
                hold_days: settings.order_hold_days,
                depth_levels: settings.depth_levels,
                retry_after,
                drains: std::sync::Mutex::default(),
            },
            catalog.clone(),
            Duration::from_secs(settings.market_idle_seconds),
            Some(context.supervisor.clone()),
        )
        .await?;
        let campaigns = campaigns::Campaigns::new(context.db.clone(), ledger, jobs.clone());
        let runner = jobs::Runner::builder(jobs)
            .queue(jobs::Queue::new(work::QUEUE).concurrency(settings.job_concurrency))
            .worker(work::SettleMarket(markets.clone()))
            .worker(work::ExpireOrder(markets.clone()))
            .worker(work::AbandonOrder(markets.clone()))
            .worker(work::CompletePurchase(catalog.clone()))
            .worker(work::FinishRedemption(catalog.clone()))
            .worker(work::PayGrant(campaigns.clone()))
            .start()
            .await
            .context("starting the rewards job runner (is the jobs module mounted?)")?;
        let (runner_task, runner_stop) = runner.into_task();
        context
            .supervise("rewards-jobs", runner_task, Some(runner_stop))
            .await?;
        // Settlements a stopped node left behind: their markets come back and drain.
        for sku in markets.unsettled().await? {
            let markets = markets.clone();
            tokio::spawn(async move { markets.settle_left_over(&sku).await });
        }
        let consumer = campaigns.serve(context.bus.clone()).await?;
        context
            .supervise("rewards-campaigns", consumer, None)
            .await?;
        let markets = actix_web::web::Data::new(markets);
        let catalog = actix_web::web::Data::new(catalog);
        let campaigns = actix_web::web::Data::new(campaigns);
        Ok(Arc::new(move |config| {
            http::configure(config, markets.clone(), catalog.clone(), campaigns.clone());
        }))
    }
}

/// The key codes are sealed with: configured, or (embedded only) generated once and kept
/// in the database.
async fn code_key(settings: &RewardsSettings, db: &DatabaseConnection) -> anyhow::Result<[u8; 32]> {
    if let Some(key) = settings.code_key()? {
        return Ok(key);
    }
    anyhow::ensure!(
        db.get_database_backend() == sea_orm::DatabaseBackend::Sqlite,
        "rewards.code_key (PLATFORM__REWARDS__CODE_KEY) is required with Postgres: 32 random bytes in base64 (openssl rand -base64 32)"
    );
    tracing::warn!(
        "voucher codes are sealed with a key kept in the embedded database; set rewards.code_key in production"
    );
    let engine = base64::engine::general_purpose::STANDARD;
    let fresh: [u8; 32] = rand::random();
    store::secret::Entity::insert(store::secret::ActiveModel {
        name: ActiveValue::Set("code_key".to_owned()),
        value: ActiveValue::Set(engine.encode(fresh)),
    })
    .on_conflict(
        OnConflict::column(store::secret::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let stored = store::secret::Entity::find_by_id("code_key".to_owned())
        .one(db)
        .await?
        .context("the code key was not stored")?;
    engine
        .decode(stored.value)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .context("the stored code key is not 32 bytes of base64")
}
