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
use crate::feed::MatchView;
use crate::service::{LiveService, Resume};
use bus::{DynBus, Message};
use contracts::live::{ALL_REPLAYS, Replay, ReplayRequest, replay_match};
use cricket::MatchEvent;
use futures::StreamExt;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The queue group the nodes answer in.
const GROUP: &str = "live-replay";

/// NATS refuses messages over 1 MiB by default; missed events that encode larger than this
/// are answered with a snapshot instead, which is smaller and does as well.
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
                let sent = match request.response(answer) {
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

/// The answer to one request, as the JSON it is sent as.
async fn answer(service: &LiveService, request: &Message) -> Vec<u8> {
    let error = |code: &str| {
        encode(&Answer::Error {
            code: code.to_owned(),
        })
    };
    let Some(id) = replay_match(&request.subject) else {
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

/// The events after `after`, or the match as it stands when they are too many or would
/// not fit in one message.
async fn resume(service: &LiveService, id: Uuid, after: i64) -> Result<Vec<u8>, LiveError> {
    if let Resume::Missed(events) = service.missed(id, after).await? {
        let events = events.iter().map(|event| event.update.clone()).collect();
        let missed = encode(&Answer::Missed { events });
        if missed.len() <= MAX_ANSWER_BYTES {
            return Ok(missed);
        }
    }
    Ok(encode(&Answer::Snapshot {
        snapshot: service.view(id).await?,
    }))
}

fn encode(answer: &Answer) -> Vec<u8> {
    serde_json::to_vec(answer).unwrap_or_else(|error| {
        // Strings, numbers and lists all the way down: this cannot happen.
        tracing::error!(%error, "replay answer not encodable");
        br#"{"type":"error","code":"unavailable"}"#.to_vec()
    })
}
