//! What the live service says about a match to the outside: the bus subject of a match's
//! events, the update published for each event, and the views of a match (snapshot,
//! listing) that REST and SSE send.
//!
//! These shapes cross a process boundary (other nodes decode [`Update`] off the bus), so
//! they belong in `contracts` once another service consumes them; they live here while the
//! live service is their only reader. They carry no behaviour beyond reading a summary off
//! a scorecard.

use cricket::{MatchEvent, MatchStatus, Scorecard};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The subject a match's events are published on, one per match so that a node subscribes
/// only to the matches its viewers watch.
pub fn subject(match_id: Uuid) -> String {
    format!("live.v1.match.{match_id}.events")
}

/// The bus message id of a match's event: JetStream (and any consumer) dedupes on it.
pub fn message_id(match_id: Uuid, seq: i64) -> String {
    format!("{match_id}:{seq}")
}

/// How a match's status reads in storage and on the wire.
pub const fn status_name(status: MatchStatus) -> &'static str {
    match status {
        MatchStatus::Scheduled => "scheduled",
        MatchStatus::InProgress => "in_progress",
        MatchStatus::InningsBreak => "innings_break",
        MatchStatus::Completed => "completed",
    }
}

/// One event applied to a match: what was published on the bus and what SSE viewers get.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "match_id": "0190f0a4-6c1e-7d1a-9d8e-1b2c3d4e5f60",
    "seq": 42,
    "event": {"type": "ball", "batter": "Ganguly", "non_striker": "McCullum", "bowler": "Praveen", "runs": {"batter": 4, "extras": 0, "total": 4}},
    "summary": {"status": "in_progress", "innings": [{"team": "Kolkata", "runs": 61, "wickets": 1, "overs": "6.2"}], "result": null}
}))]
pub struct Update {
    /// The match.
    pub match_id: Uuid,
    /// The event's position in the match's log, from 1 (the match being set up). Also the
    /// SSE event id.
    pub seq: i64,
    /// The event, in the `cricket` crate's shape (tagged by `type`).
    #[schema(value_type = Object)]
    pub event: MatchEvent,
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

impl Summary {
    /// The summary of a scorecard.
    pub fn of(card: &Scorecard) -> Self {
        Self {
            status: status_name(card.status).to_owned(),
            innings: card
                .innings
                .iter()
                .map(|innings| InningsSummary {
                    team: innings.team.clone(),
                    runs: innings.runs,
                    wickets: innings.wickets,
                    overs: innings.overs.to_string(),
                })
                .collect(),
            result: card.summary.clone(),
        }
    }
}

/// A match as it stands: the full scorecard and the seq it reflects. The SSE `snapshot`
/// event carries the same body.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MatchView {
    /// The match.
    pub id: Uuid,
    /// The last event applied; an SSE client resumes after it.
    pub seq: i64,
    /// The scorecard: `teams`, `status`, `innings` (per innings `team`, `runs`, `wickets`,
    /// `overs` as "19.4", `extras` with `wides`, `noballs`, `byes`, `legbyes`, `penalty`,
    /// batting and bowling figures), `result`, `summary`.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub scorecard: Scorecard,
}

/// A match in the list.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MatchListing {
    /// The match.
    pub id: Uuid,
    /// The two teams.
    pub teams: Vec<String>,
    /// Where it stands: `scheduled`, `in_progress`, `innings_break` or `completed`.
    pub status: String,
    /// When it was created or imported.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A match just created or imported.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Created {
    /// The match.
    pub id: Uuid,
    /// Its last event (1 for a new match; the whole log for an import).
    pub seq: i64,
    /// Where it stands.
    pub status: String,
}
