//! Catching up over the bus: the live service answers `live.v1.match.<id>.replay`
//! ([`contracts::live::ReplayRequest`]) with what the viewer missed, exactly as an SSE
//! viewer reconnecting with `Last-Event-ID` gets it (the events, or a snapshot when it
//! missed too many).
//!
//! This is how a websocket viewer resumes from a sequence. It is the one subject such a
//! viewer may publish on: the NATS config exports it from the platform's account to the
//! viewers' one as a service, so a viewer's request reaches this responder and nothing
//! else, and the answer goes to that viewer's inbox alone. (JetStream's own consumer API
//! is not offered to viewers; `nix/nats/server.conf` says why.)
//!
//! Every node answers as a member of one queue group, so each request is answered once.

use crate::error::LiveError;
use crate::feed::{MatchView, Update};
use crate::service::{LiveService, Resume};
use bus::{DynBus, Message};
use contracts::live::{ALL_REPLAYS, Replay, ReplayRequest};
use cricket::MatchEvent;
use futures::StreamExt;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The queue group the nodes answer in.
const GROUP: &str = "live-replay";

/// NATS refuses messages over 1 MiB by default; an answer that would be larger than this
/// is a snapshot instead, which is smaller and does as well.
const MAX_ANSWER_BYTES: usize = 512 * 1024;

/// What a replay request is answered with, as this service types it.
pub type Answer = Replay<MatchEvent, MatchView>;

/// Requests one node answers at once: each reads a match's log, and viewers must not be
/// able to queue unbounded work on the database.
const CONCURRENCY: usize = 16;

/// Starts answering replay requests. The task ends only when the bus subscription does;
/// the node supervises it.
pub async fn start(service: LiveService, bus: DynBus) -> Result<JoinHandle<()>, bus::BusError> {
    let requests = bus.queue_subscribe(ALL_REPLAYS, GROUP).await?;
    Ok(tokio::spawn(requests.for_each_concurrent(
        CONCURRENCY,
        move |request| {
            let (service, bus) = (service.clone(), bus.clone());
            async move {
                let answer = answer(&service, &request).await;
                let sent = match request.response_json(&answer) {
                    Ok(response) => bus.reply(&request, response).await,
                    Err(error) => Err(error),
                };
                if let Err(error) = sent {
                    tracing::debug!(%error, subject = %request.subject, "replay answer not sent");
                }
            }
        },
    )))
}

async fn answer(service: &LiveService, request: &Message) -> Answer {
    let error = |code: &str| Replay::Error {
        code: code.to_owned(),
    };
    // live.v1.match.<id>.replay
    let Some(id) = request
        .subject
        .split('.')
        .nth(3)
        .and_then(|id| id.parse::<Uuid>().ok())
    else {
        return error("invalid_request");
    };
    let Ok(ReplayRequest { after }) = request.decode::<ReplayRequest>() else {
        return error("invalid_request");
    };
    match resume(service, id, after).await {
        Ok(answer) => answer,
        Err(LiveError::NotFound) => error("match_not_found"),
        Err(failure) => {
            tracing::warn!(error = %failure, match_id = %id, "replay not answered");
            error("unavailable")
        }
    }
}

async fn resume(service: &LiveService, id: Uuid, after: i64) -> Result<Answer, LiveError> {
    if let Resume::Missed(events) = service.missed(id, after).await? {
        let size: usize = events.iter().map(approximate_size).sum();
        if size <= MAX_ANSWER_BYTES {
            return Ok(Replay::Missed { events });
        }
    }
    Ok(Replay::Snapshot {
        snapshot: service.view(id).await?,
    })
}

/// An update's size as JSON, give or take its summary's length: each innings at a glance
/// is under a hundred bytes, a ball under two hundred.
fn approximate_size(update: &Update) -> usize {
    256 + 96 * update.summary.innings.len()
}
