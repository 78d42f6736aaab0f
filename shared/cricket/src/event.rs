//! Events: everything a scorer (or an imported file) can say about a match, one at a time,
//! in order. A match is the fold of its events through [`Match::apply`]; corrections are
//! events too ([`MatchEvent::Undo`], [`MatchEvent::Amend`]), so the log the service keeps
//! is append-only and replaying it always rebuilds the same match.
//!
//! [`Match::apply`]: crate::Match::apply

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{Delivery, MatchInfo, MatchResult, Powerplay, Target};

/// One thing that happened in (or to the record of) a match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MatchEvent {
    /// The match is set up: teams, rules, squads, toss. Always the first event.
    Started(Box<MatchInfo>),
    /// A team begins an innings.
    InningsStarted {
        /// The batting team.
        team: String,
        /// The target, when set by other than the scores so far (a rain-shortened chase,
        /// a DLS target). Without it the chasing side's target is derived from the scores.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<Target>,
        /// True for a super over (one over, two wickets).
        #[serde(default, skip_serializing_if = "is_false")]
        super_over: bool,
        /// Powerplays, where known in advance.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        powerplays: Vec<Powerplay>,
    },
    /// A ball was bowled.
    Ball(Delivery),
    /// Penalty runs awarded to the batting side of the current (or just finished) innings
    /// other than on a ball: before it started or after its last ball.
    PenaltyRuns {
        /// How many.
        runs: u32,
    },
    /// A player of the batting side will not bat in this innings; the side is all out one
    /// wicket sooner.
    AbsentHurt {
        /// Who.
        player: String,
    },
    /// The current innings' target is revised (e.g. by DLS after an interruption).
    TargetRevised {
        /// The new target.
        target: Target,
    },
    /// The scorer closes the current innings. All out, overs complete and target reached
    /// close it by themselves; this is for declarations, forfeits, play ending early, and a
    /// side all out because no one else can bat.
    InningsClosed {
        /// Why.
        reason: CloseReason,
    },
    /// The match is over. Closes an open innings as curtailed. The result is derived from
    /// the play unless one is given (no result, a DLS decision, an award, a bowl-out).
    Ended {
        /// The result, where play alone does not decide it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<MatchResult>,
    },
    /// Withdraw the most recent event still in effect (usually the last ball), as if it had
    /// never been applied. The match's first event cannot be withdrawn.
    Undo,
    /// Replace a ball already bowled. Everything after it is re-checked against the
    /// corrected history; if any of it no longer holds, the amendment is refused.
    Amend {
        /// Which ball.
        ball: BallId,
        /// What it should have been.
        delivery: Delivery,
    },
}

/// Why an innings ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// No two batters left to bat.
    AllOut,
    /// The innings' overs were bowled.
    OversComplete,
    /// The chasing side reached its target.
    TargetReached,
    /// The batting side declared.
    Declared,
    /// The batting side forfeited the innings (no ball bowled).
    Forfeited,
    /// Play ended early: rain, bad light, time, an abandonment.
    Curtailed,
}

impl CloseReason {
    /// How a scorecard says it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AllOut => "all out",
            Self::OversComplete => "overs complete",
            Self::TargetReached => "target reached",
            Self::Declared => "declared",
            Self::Forfeited => "forfeited",
            Self::Curtailed => "curtailed",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A ball already bowled: the innings (0-based, super overs included, in order of play)
/// and its position in that innings counting every delivery, wides and no-balls too
/// (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BallId {
    /// The innings.
    pub innings: u32,
    /// The delivery within it.
    pub ball: u32,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
const fn is_false(b: &bool) -> bool {
    !*b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Format;

    #[test]
    fn events_round_trip_through_json_with_a_type_tag() {
        let events = [
            MatchEvent::Started(Box::new(MatchInfo::new("A", "B", Format::T20))),
            MatchEvent::InningsStarted {
                team: "A".into(),
                target: None,
                super_over: false,
                powerplays: Vec::new(),
            },
            MatchEvent::Ball(Delivery::new("a1", "a2", "b1", 4)),
            MatchEvent::Undo,
            MatchEvent::InningsClosed {
                reason: CloseReason::Declared,
            },
        ];
        for event in &events {
            let json = serde_json::to_value(event).unwrap();
            assert!(json.get("type").is_some(), "{json}");
            let back: MatchEvent = serde_json::from_value(json).unwrap();
            assert_eq!(&back, event);
        }
        assert_eq!(
            serde_json::to_value(&events[3]).unwrap(),
            serde_json::json!({"type": "undo"})
        );
    }
}
