//! The live service's contract: the subject each match's events are published on and the
//! update carried for each event. The same update is what the scorer API answers and what
//! SSE viewers (and NATS websocket viewers) receive, so a client decodes one shape
//! whichever way it follows a match.
//!
//! The event itself is the `cricket` crate's `MatchEvent` in its serde shape (Cricsheet's
//! delivery fields, tagged by `type`). This crate does not depend on `cricket`, so
//! [`Update`] is generic over the event: the live service and anything else that links
//! `cricket` reads `Update<MatchEvent>`; a consumer that only relays or displays events
//! can read `Update<serde_json::Value>`.
//!
//! Every event is also stored in the JetStream stream [`STREAM`] (durable consumers such as
//! reward campaigns read matches from there), and a viewer that was away asks for what it
//! missed on [`replay_subject`]: the one request a websocket viewer may send.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Every match's events: what a node (or a websocket viewer allowed to read all matches)
/// subscribes to for everything live, and what the [`STREAM`] captures (events, not
/// replay requests).
pub const ALL_MATCHES: &str = "live.v1.match.*.events";

/// The subject a match's events are published on: one per match, so that a node
/// subscribes only to the matches its viewers watch.
pub fn subject(match_id: Uuid) -> String {
    format!("live.v1.match.{match_id}.events")
}

/// The durable stream holding every match's events, for consumers that must not miss one.
pub const STREAM: &str = "LIVE";

/// Where a viewer asks for the events of a match it missed ([`ReplayRequest`], answered
/// with a [`Replay`]).
pub fn replay_subject(match_id: Uuid) -> String {
    format!("live.v1.match.{match_id}.replay")
}

/// The match a replay request is about, read off its subject ([`replay_subject`]).
pub fn replay_match(subject: &str) -> Option<Uuid> {
    subject
        .strip_prefix("live.v1.match.")?
        .strip_suffix(".replay")?
        .parse()
        .ok()
}

/// Every match's replay requests: what the live service answers, as a queue group.
pub const ALL_REPLAYS: &str = "live.v1.match.*.replay";

/// A viewer's request for what it missed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayRequest {
    /// The seq of the last event the viewer has.
    pub after: i64,
}

/// The answer to a [`ReplayRequest`], tagged by `type`. `E` is the event type (as in
/// [`Update`]), `S` the snapshot's (the live service's match view: a scorecard with `seq`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Replay<E, S> {
    /// Exactly the events after `after`, in order (possibly none); the viewer applies them
    /// and carries on with the live subject.
    Missed { events: Vec<Update<E>> },
    /// Too much was missed (or `after` is not one of the match's seqs): the match as it
    /// stands, to start again from.
    Snapshot { snapshot: S },
    /// The request could not be answered: `code` is `match_not_found`, `invalid_request`
    /// or `unavailable`.
    Error { code: String },
}

/// The bus message id of a match's event. JetStream (and any consumer) dedupes on it: a
/// room that publishes one seq twice (a retried publish) delivers it once.
pub fn message_id(match_id: Uuid, seq: i64) -> String {
    format!("{match_id}:{seq}")
}

/// One event applied to a match, with the score after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
// The event type is the caller's (see the module docs); the schema documents it as an
// object, so it needs no `ToSchema` of its own.
#[schema(as = Update, bound = "")]
#[schema(example = json!({
    "match_id": "0190f0a4-6c1e-7d1a-9d8e-1b2c3d4e5f60",
    "seq": 42,
    "event": {"type": "ball", "batter": "Ganguly", "non_striker": "McCullum", "bowler": "Praveen", "runs": {"batter": 4, "extras": 0, "total": 4}},
    "summary": {"status": "in_progress", "innings": [{"team": "Kolkata", "runs": 61, "wickets": 1, "overs": "6.2"}], "result": null}
}))]
pub struct Update<E> {
    /// The match.
    pub match_id: Uuid,
    /// The event's position in the match's log, from 1 (the match being set up). Also the
    /// SSE event id. Consecutive: a viewer that sees a gap missed an event and fetches it.
    pub seq: i64,
    /// The event, in the `cricket` crate's shape (tagged by `type`).
    #[schema(value_type = Object)]
    pub event: E,
    /// The score after it.
    pub summary: Summary,
}

/// The score at a glance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Summary {
    /// `scheduled`, `in_progress`, `innings_break` or `completed`.
    pub status: String,
    /// Every innings so far, in order of play.
    pub innings: Vec<InningsSummary>,
    /// The result in words, once completed.
    pub result: Option<String>,
}

/// One innings at a glance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InningsSummary {
    /// The batting team.
    pub team: String,
    /// Runs.
    pub runs: u32,
    /// Wickets down.
    pub wickets: u32,
    /// Overs bowled, as "19.4".
    pub overs: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn subjects_are_versioned_per_match_and_covered_by_the_wildcard() {
        let id = Uuid::nil();
        assert_eq!(
            subject(id),
            "live.v1.match.00000000-0000-0000-0000-000000000000.events"
        );
        assert_eq!(message_id(id, 7), "00000000-0000-0000-0000-000000000000:7");
        // The stream captures events only, and a replay request is not an event.
        let pattern = |pattern| bus::subject::Pattern::parse(pattern).unwrap();
        assert!(pattern(ALL_MATCHES).matches(&subject(id)));
        assert!(!pattern(ALL_MATCHES).matches(&replay_subject(id)));
        assert!(pattern(ALL_REPLAYS).matches(&replay_subject(id)));
        assert_eq!(replay_match(&replay_subject(id)), Some(id));
        assert_eq!(replay_match(&subject(id)), None);
    }
}
