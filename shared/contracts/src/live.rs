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

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Every match's events: what a node (or a websocket viewer allowed to read all matches)
/// subscribes to for everything live.
pub const ALL_MATCHES: &str = "live.v1.match.>";

/// The subject a match's events are published on: one per match, so that a node
/// subscribes only to the matches its viewers watch.
pub fn subject(match_id: Uuid) -> String {
    format!("live.v1.match.{match_id}.events")
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
    use super::*;

    #[test]
    fn subjects_are_versioned_per_match_and_covered_by_the_wildcard() {
        let id = Uuid::nil();
        assert_eq!(
            subject(id),
            "live.v1.match.00000000-0000-0000-0000-000000000000.events"
        );
        let prefix = ALL_MATCHES.trim_end_matches('>');
        assert!(subject(id).starts_with(prefix));
        assert_eq!(message_id(id, 7), "00000000-0000-0000-0000-000000000000:7");
    }
}
