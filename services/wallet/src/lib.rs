//! Wallet: every coin, rupee and voucher a user holds, in a double-entry ledger.
//!
//! Owns the `wallet_*` tables. The model follows TigerBeetle: accounts per (owner, asset)
//! with four running totals (debits and credits, pending and posted) and flags; transfers
//! that move an exact amount between two accounts of one asset, each under an id the
//! client chooses; holds (pending transfers) that are posted in full or in part, voided,
//! or expire; linked batches that post all or nothing. Transfers are immutable: a mistake
//! is fixed by a reversing transfer.
//!
//! The write path: a request is planned ([`plan`]), ordered by the debited user's wallet
//! actor ([`wallet_actor`]), committed with other requests in one transaction by the group
//! commit ([`committer`], [`ledger`]), and announced by events written to the outbox in
//! that same transaction and relayed to the bus afterwards. Correctness rests on the
//! database transaction alone; the actors and the batching make it fast.
//!
//! Holds expire through the jobs library ([`expiry`]): one scheduled job per hold,
//! enqueued in the transaction that opens it. The jobs module must be mounted.
//!
//! Other services use it over the bus (`wallet.v1.cmd.*`, typed in `contracts`), users and
//! operators over REST ([`http`]). `platform ledger verify` runs [`verify`].

pub mod bus_api;
pub mod committer;
pub mod domain;
pub mod expiry;
pub mod http;
pub mod ledger;
mod migration;
pub mod plan;
pub mod service;
pub mod settings;
pub mod store;
pub mod verify;
pub mod wallet_actor;

use anyhow::Context as _;
use contracts::wallet::TRANSFER_EVENTS;
use runtime::{Context, Module, Routes};
use std::sync::Arc;
use std::time::Duration;
use utoipa::OpenApi as _;

pub use service::WalletService;
pub use settings::WalletSettings;

/// The wallet's outbox table.
pub const OUTBOX: outbox::Outbox = outbox::Outbox::new("wallet_outbox");

/// The JetStream stream that keeps the wallet's events.
pub const STREAM: &str = "WALLET";

/// The wallet service, as the node mounts it.
pub struct Wallet;

#[async_trait::async_trait]
impl Module for Wallet {
    fn name(&self) -> &'static str {
        "wallet"
    }

    fn migrations(&self) -> Option<storage::Migrations> {
        Some(storage::Migrations::of::<migration::Migrator>("wallet"))
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        http::WalletApi::openapi()
    }

    async fn start(&self, context: &Context) -> anyhow::Result<Routes> {
        let settings: WalletSettings = context.section("wallet")?;
        settings.validate()?;
        let relay = outbox::Relay::spawn(
            OUTBOX,
            context.db.clone(),
            context.bus.clone(),
            bus::StreamConfig::new(STREAM, [TRANSFER_EVENTS]),
            Duration::from_millis(settings.relay_interval_ms),
        );
        let jobs = jobs::Jobs::new(context.db.clone(), context.bus.clone());
        let service = WalletService::start(
            context.db.clone(),
            &settings,
            relay.waker(),
            jobs.clone(),
            Some(context.supervisor.clone()),
        )
        .await?;
        // Hold expiry runs on the jobs library (the jobs module owns its tables).
        let runner = jobs::Runner::builder(jobs.clone())
            .queue(jobs::Queue::new(expiry::QUEUE).concurrency(settings.expiry_concurrency))
            .worker(expiry::ExpireHold {
                service: service.clone(),
            })
            .start()
            .await
            .context("starting the wallet's job runner (is the jobs module mounted?)")?;
        let (runner_task, runner_stop) = runner.into_task();
        context
            .supervise("wallet-jobs", runner_task, Some(runner_stop))
            .await?;
        let scheduled = expiry::schedule_open_holds(&context.db, &jobs).await?;
        if scheduled > 0 {
            tracing::info!(scheduled, "expiry jobs given to open holds");
        }
        let (relay_task, relay_stop) = relay.into_task();
        context
            .supervise("wallet-outbox", relay_task, Some(relay_stop))
            .await?;
        for listener in bus_api::serve(
            context.bus.clone(),
            service.clone(),
            settings.bus_concurrency,
        )
        .await?
        {
            context.supervise("wallet-commands", listener, None).await?;
        }
        let service = actix_web::web::Data::new(service);
        Ok(Arc::new(move |config| {
            http::configure(config, service.clone())
        }))
    }
}
