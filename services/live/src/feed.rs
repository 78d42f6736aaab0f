//! What the live service says about a match to the outside: the views of a match
//! (snapshot, listing) that REST and SSE send, and the update of each event, whose shape and
//! bus subject are the live contract ([`contracts::live`]).
//!
//! Nothing here has behaviour beyond reading a summary off a scorecard.

use cricket::{MatchEvent, MatchStatus, Scorecard};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub use contracts::live::{InningsSummary, Summary, message_id, subject};

/// One event applied to a match, as this service types it: what is published on the bus,
/// answered to the scorer and sent to SSE viewers.
pub type Update = contracts::live::Update<MatchEvent>;

/// How a match's status reads in storage and on the wire.
pub const fn status_name(status: MatchStatus) -> &'static str {
    match status {
        MatchStatus::Scheduled => "scheduled",
        MatchStatus::InProgress => "in_progress",
        MatchStatus::InningsBreak => "innings_break",
        MatchStatus::Completed => "completed",
    }
}

/// The summary of a scorecard.
pub fn summary(card: &Scorecard) -> Summary {
    Summary {
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
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Created {
    /// The match.
    pub id: Uuid,
    /// Its last event (1 for a new match; the whole log for an import).
    pub seq: i64,
    /// Where it stands.
    pub status: String,
}
