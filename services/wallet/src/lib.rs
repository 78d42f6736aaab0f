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
        let service = WalletService::start(
            context.db.clone(),
            &settings,
            relay.waker(),
            Some(context.supervisor.clone()),
        )
        .await?;
        // Holds that fell due while no node ran expire before this node serves.
        let expired = expiry::sweep(&context.db, &service).await?;
        if expired > 0 {
            tracing::info!(expired, "holds expired at start");
        }
        let stop_expiry = Arc::new(tokio::sync::Notify::new());
        let sweeper = expiry::spawn(
            context.db.clone(),
            service.clone(),
            Duration::from_millis(settings.expiry_interval_ms),
            stop_expiry.clone(),
        );
        context
            .supervise("wallet-expiry", sweeper, Some(stop_expiry))
            .await?;
        let (relay_task, relay_stop) = relay.into_task();
        context
            .supervise("wallet-outbox", relay_task, Some(relay_stop))
            .await?;
        for listener in bus_api::serve(context.bus.clone(), service.clone()).await? {
            context.supervise("wallet-commands", listener, None).await?;
        }
        let service = actix_web::web::Data::new(service);
        Ok(Arc::new(move |config| {
            http::configure(config, service.clone())
        }))
    }
}
