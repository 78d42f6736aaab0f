//! Live: matches scored ball by ball, their scorecards, and the live stream to viewers.
//!
//! Owns the `live_*` tables. A match is its log of `cricket::MatchEvent`s (`live_events`),
//! the scorecard is derived from it by the pure `cricket` crate. The write path: an editor
//! posts an event ([`http`]); the match's room actor ([`room`], one per match, keyed by
//! its id, under the `live-rooms` registry linked to the node's supervisor) checks it
//! against the match so far, appends it to the log with its outbox row, publishes it on
//! `live.v1.match.<id>.events` (subject and payload are [`contracts::live`]), and only then
//! answers. A room that another node's room wrote past catches up from the log and applies
//! the request again. The read path: each node subscribes once per match that has local
//! viewers ([`hub`]) and fans out to its SSE connections ([`http::stream`]), keeping the
//! last events in memory; a reconnecting viewer is replayed what it missed from there, or
//! from the log when it missed more, over SSE or by asking on the bus ([`catchup`]).
//! Every event is also kept in the bus's `LIVE` stream for durable consumers. [`replay`]
//! feeds a Cricsheet file into a running node through the scorer API, paced like a live
//! match.
//!
//! Publishing: viewers cannot wait for a relay pass, so a room publishes each event itself
//! right after the commit (the fast path, into the `LIVE` stream under the message id
//! `<match>:<seq>`), and the outbox ([`OUTBOX`], the `live-outbox` relay) is the backstop:
//! the event's row is written in the event's transaction, the room marks it delivered once
//! the stream has it (the relay deletes such rows unpublished, in batches, off the
//! scorer's path), and the relay publishes what is left after `live.relay_grace_ms`: the
//! events of a node that died between commit and publish, or whose publish failed. A
//! publish both made is one message to the stream (same id) and, at worst, a duplicate
//! live update, which viewers skip by seq.
//!
//! Supervision: node supervisor -> `live-rooms` registry -> one room per match (restarted
//! from the log with backoff when it crashes, stopped after `live.room_idle_secs` idle);
//! the replay responder ([`catchup`]) and the outbox relay are supervised loops of the
//! node, which fail up to the root if they ever end.
//!
//! This crate must not know about other services: it talks to the rest of the platform
//! over the bus only.

pub mod catchup;
pub mod error;
pub mod feed;
pub mod http;
pub mod hub;
mod migration;
pub mod replay;
pub mod room;
pub mod service;
pub mod settings;
mod sse;
pub mod store;

use runtime::{Context, Module, Routes};
use std::sync::Arc;
use std::time::Duration;
use utoipa::OpenApi as _;

pub use error::LiveError;
pub use service::LiveService;
pub use settings::LiveSettings;

/// The live service's outbox table.
pub const OUTBOX: outbox::Outbox = outbox::Outbox::new("live_outbox");

/// The live service, as the node mounts it.
pub struct Live;

#[async_trait::async_trait]
impl Module for Live {
    fn name(&self) -> &'static str {
        "live"
    }

    fn migrations(&self) -> Option<storage::Migrations> {
        Some(storage::Migrations::of::<migration::Migrator>("live"))
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        http::LiveApi::openapi()
    }

    async fn start(&self, context: &Context) -> anyhow::Result<Routes> {
        let settings: LiveSettings = context.section("live")?;
        settings.validate()?;
        let relay = outbox::Relay::behind_fast_path(
            OUTBOX,
            context.db.clone(),
            context.bus.clone(),
            service::stream_config(&settings),
            Duration::from_millis(settings.relay_interval_ms),
            Duration::from_millis(settings.relay_grace_ms),
        );
        let service = LiveService::start(
            context.db.clone(),
            context.bus.clone(),
            settings,
            relay.delivered(),
            Some(context.supervisor.clone()),
        )
        .await?;
        let (relay_task, relay_stop) = relay.into_task();
        context
            .supervise("live-outbox", relay_task, Some(relay_stop))
            .await?;
        let answering = catchup::start(service.clone(), context.bus.clone()).await?;
        context.supervise("live-catchup", answering, None).await?;
        let service = actix_web::web::Data::new(service);
        Ok(Arc::new(move |config| {
            http::configure(config, service.clone())
        }))
    }
}
