//! `GET /v1/live/matches/{id}/stream`: a match as Server-Sent Events.
//!
//! The stream opens with a `snapshot` event (the scorecard and its seq), or, for a client
//! reconnecting with `Last-Event-ID`, exactly the `event`s it missed: from the node's
//! recent events of the match when they go back that far ([`crate::hub`]), read from the
//! log otherwise (a fresh `snapshot` when it missed more than `live.replay_limit`). Then each `event` as the
//! room applies it, with `id:` its seq; a comment line every `live.heartbeat_secs`.
//!
//! The viewer is subscribed to the node's hub before the opening is read, so nothing can
//! fall between the two; updates it already has are skipped by seq, and a gap (the bus
//! dropped a message) is filled from the log. A viewer that falls `live.viewer_queue`
//! updates behind gets a final `resync` event and is disconnected: it reconnects with its
//! `Last-Event-ID`, and nobody else waited for it.
//!
//! The lag is noticed when the connection can take bytes again (actix stops polling a
//! response whose socket is full). A client that stops reading for good therefore keeps
//! its socket and the kernel's buffers for it, but no queue of its own in the node (the
//! broadcast ring is shared and does not wait for it); closing such sockets takes a send
//! timeout on the connection (`TCP_USER_TIMEOUT`), which is the HTTP server's to set.

use crate::error::LiveError;
use crate::hub::{Published, Viewer};
use crate::service::{LiveService, Resume};
use crate::sse;
use actix_web::web::{Bytes, Data, Path};
use actix_web::{HttpRequest, HttpResponse, get};
use serde::Serialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Interval, MissedTickBehavior};
use uuid::Uuid;
use web::{ApiError, Problem};

/// Follow a match live. Events: `snapshot` (a scorecard with `seq`), `event` (an update:
/// `seq`, `event`, `summary`; `id:` is the seq) and `resync` (the stream is closing because
/// the client fell behind; reconnect with `Last-Event-ID`). Comment lines are heartbeats.
#[utoipa::path(
    tag = "live",
    params(
        ("id" = Uuid, Path, description = "The match id"),
        ("Last-Event-ID" = Option<i64>, Header, description = "The seq of the last event received, to resume after it"),
    ),
    responses(
        (status = 200, description = "An SSE stream", body = String, content_type = "text/event-stream"),
        (status = 404, description = "`match_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable` (with `Retry-After` when the match's room is paused after failing repeatedly) or `overloaded` (too many requests are waiting for this match; `Retry-After: 1`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/live/matches/{id}/stream")]
pub async fn stream(
    service: Data<LiveService>,
    id: Path<Uuid>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = *id;
    // A malformed id is treated as none: the client gets a snapshot and starts again.
    let last_event_id = request
        .headers()
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<i64>().ok());
    let viewer = service.watch(id).await?;
    let (opening, cursor) = opening(&service, &viewer, id, last_event_id).await?;
    let every = Duration::from_secs(service.settings().heartbeat_secs);
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let feed = Feed {
        service: service.into_inner(),
        id,
        viewer,
        pending: opening,
        cursor,
        heartbeat,
        closing: false,
    };
    let body = futures::stream::unfold(feed, |mut feed| async move {
        let frame = feed.next().await?;
        Some((Ok::<_, Infallible>(frame), feed))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        // Tell nginx-like proxies not to buffer the stream.
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}

/// The first frames and the seq they bring the viewer to.
async fn opening(
    service: &LiveService,
    viewer: &Viewer,
    id: Uuid,
    last_event_id: Option<i64>,
) -> Result<(VecDeque<Bytes>, i64), LiveError> {
    if let Some(after) = last_event_id
        && let Resume::Missed(updates) = service.resume(viewer, id, after).await?
    {
        let cursor = updates.last().map_or(after, |update| update.seq);
        return Ok((
            updates.iter().map(|update| update.frame.clone()).collect(),
            cursor,
        ));
    }
    let view = service.view(id).await?;
    let cursor = view.seq;
    Ok((VecDeque::from([sse::snapshot_frame(&view)]), cursor))
}

/// One SSE connection's state.
struct Feed {
    service: Arc<LiveService>,
    id: Uuid,
    viewer: Viewer,
    /// Frames to send before taking the next update.
    pending: VecDeque<Bytes>,
    /// The seq of the last event the viewer has (or has queued in `pending`).
    cursor: i64,
    heartbeat: Interval,
    /// Set once a `resync` is queued: the stream ends after `pending` drains.
    closing: bool,
}

impl Feed {
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                return Some(frame);
            }
            if self.closing {
                return None;
            }
            tokio::select! {
                received = self.viewer.updates.recv() => match received {
                    Ok(published) => self.take(&published).await,
                    Err(RecvError::Lagged(skipped)) => {
                        tracing::debug!(match_id = %self.id, skipped, "slow viewer cut off");
                        self.resync("lagged");
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = self.heartbeat.tick() => return Some(Bytes::from_static(b": heartbeat\n\n")),
            }
        }
    }

    /// Queues an update the viewer does not have yet, first filling any gap before it.
    async fn take(&mut self, published: &Published) {
        let seq = published.seq;
        if seq <= self.cursor {
            return;
        }
        if seq == self.cursor + 1 {
            self.cursor = seq;
            self.pending.push_back(published.frame.clone());
            return;
        }
        match self
            .service
            .resume(&self.viewer, self.id, self.cursor)
            .await
        {
            Ok(Resume::Missed(updates)) => {
                for missed in updates {
                    if missed.seq > self.cursor {
                        self.cursor = missed.seq;
                        self.pending.push_back(missed.frame.clone());
                    }
                }
            }
            Ok(Resume::Snapshot) => self.resync("too_far_behind"),
            Err(error) => {
                tracing::warn!(%error, match_id = %self.id, "gap not filled");
                self.resync("unavailable");
            }
        }
    }

    fn resync(&mut self, reason: &'static str) {
        #[derive(Serialize)]
        struct Resync {
            reason: &'static str,
            seq: i64,
        }
        let data = Resync {
            reason,
            seq: self.cursor,
        };
        self.pending.push_back(sse::frame("resync", None, &data));
        self.closing = true;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::feed::{Summary, Update, subject};
    use crate::service::testing;
    use crate::settings::LiveSettings;
    use bus::Message;
    use cricket::MatchEvent;

    fn update(match_id: Uuid, seq: i64) -> Update {
        Update {
            match_id,
            seq,
            event: MatchEvent::Undo,
            summary: Summary {
                status: "in_progress".into(),
                innings: Vec::new(),
                result: None,
            },
        }
    }

    fn text(frame: &Bytes) -> &str {
        std::str::from_utf8(frame).unwrap()
    }

    async fn feed(service: &Arc<LiveService>, id: Uuid, cursor: i64) -> Feed {
        let every = Duration::from_secs(3600);
        Feed {
            service: service.clone(),
            id,
            viewer: service.watch(id).await.unwrap(),
            pending: VecDeque::new(),
            cursor,
            heartbeat: tokio::time::interval_at(tokio::time::Instant::now() + every, every),
            closing: false,
        }
    }

    /// A viewer that falls more than `viewer_queue` updates behind is sent `resync` and
    /// closed, while a viewer that keeps up gets everything: the slow one held nobody up.
    #[tokio::test]
    async fn a_slow_viewer_is_cut_off_with_resync_and_others_carry_on() {
        let settings = LiveSettings {
            viewer_queue: 2,
            ..LiveSettings::default()
        };
        let (service, bus, _database) = testing::service(settings).await;
        let id = testing::a_match(&service).await;
        let mut slow = feed(&service, id, 1).await;
        let mut fast = service.watch(id).await.unwrap();

        // The fast viewer reads each update as it comes; the slow one reads none.
        for seq in 2..=6 {
            let message = Message::json(subject(id), &update(id, seq)).unwrap();
            bus.publish(message).await.unwrap();
            assert_eq!(fast.updates.recv().await.unwrap().seq, seq);
        }

        let frame = slow.next().await.unwrap();
        assert!(
            text(&frame).starts_with("event: resync\n"),
            "{}",
            text(&frame)
        );
        assert!(
            text(&frame).contains(r#""reason":"lagged""#),
            "{}",
            text(&frame)
        );
        assert_eq!(slow.next().await, None);

        // Once every viewer has gone, the node lets go of the match's subscription.
        drop(slow);
        assert_eq!(service.hub_topics().await, 1);
        drop(fast);
        assert_eq!(service.hub_topics().await, 0);
        service.stop().await;
    }

    /// Updates a viewer already has are skipped; the next one is sent with its seq as id.
    #[tokio::test]
    async fn updates_already_sent_are_skipped() {
        let (service, bus, _database) = testing::service(LiveSettings::default()).await;
        let id = testing::a_match(&service).await;
        let mut feed = feed(&service, id, 3).await;
        for seq in [2, 3, 4] {
            let message = Message::json(subject(id), &update(id, seq)).unwrap();
            bus.publish(message).await.unwrap();
        }
        let frame = feed.next().await.unwrap();
        assert!(
            text(&frame).starts_with("event: event\nid: 4\n"),
            "{}",
            text(&frame)
        );
        service.stop().await;
    }
}
