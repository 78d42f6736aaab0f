//! Errors. [`IllegalEvent`] is the answer to an event that does not fit the match: it
//! carries a stable machine-readable [`code`](IllegalEvent::code) for the service's
//! problem responses and a message for the scorer. A refused event changes nothing.
//! [`ReplayError`] says which event of a log was refused, [`CricsheetError`] what is wrong
//! with a file and where.
//!
//! There are three types rather than one enum because they answer different callers: the
//! match room answers a scorer with an `IllegalEvent`, a replay names a position in a log,
//! and an import names a place in a file.

use crate::event::{BallId, CloseReason};

/// Why an event was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IllegalEvent {
    /// Nothing but `Started` can come first.
    #[error("the match has not started")]
    NotStarted,
    /// `Started` came twice.
    #[error("the match has already started")]
    AlreadyStarted,
    /// The match information cannot describe a match.
    #[error("invalid match information: {0}")]
    InvalidInfo(String),
    /// The match is over.
    #[error("the match is over")]
    MatchOver,
    /// A ball or innings-level event with no innings begun.
    #[error("no innings has started")]
    NoInnings,
    /// A ball or close after the innings ended.
    #[error("the innings is closed ({0})")]
    InningsClosed(CloseReason),
    /// An innings cannot start while another is open.
    #[error("innings {0} is still in progress")]
    InningsInProgress(usize),
    /// A team that is not playing.
    #[error("{0:?} is not a team in this match")]
    UnknownTeam(String),
    /// An innings the rules do not allow here (a third innings in a one-innings match, a
    /// side batting twice in a row, a super over before the scores are level).
    #[error("invalid innings: {0}")]
    InvalidInnings(String),
    /// A player not in the squad of the side they are playing for.
    #[error("{player:?} is not in the squad of {team}")]
    UnknownPlayer {
        /// The player.
        player: String,
        /// The team whose squad was checked.
        team: String,
    },
    /// A batter who cannot be batting now.
    #[error("wrong batter {player:?}: {reason}")]
    WrongBatter {
        /// The batter named.
        player: String,
        /// Why not.
        reason: String,
    },
    /// More wickets than the side has.
    #[error("too many wickets: the side has only {max} to lose")]
    TooManyWickets {
        /// Wickets the side can lose in this innings.
        max: u32,
    },
    /// Runs that do not add up.
    #[error("invalid runs: {0}")]
    InvalidRuns(String),
    /// Extras that cannot happen together.
    #[error("invalid extras: {0}")]
    InvalidExtras(String),
    /// A wicket that cannot happen on this ball.
    #[error("invalid wicket: {0}")]
    InvalidWicket(String),
    /// A target that does not fit the innings.
    #[error("invalid target: {0}")]
    InvalidTarget(String),
    /// An innings closed for a reason that is not the scorer's to give, or does not hold.
    #[error("cannot close the innings: {0}")]
    InvalidClose(String),
    /// `Undo` with nothing after `Started`.
    #[error("nothing to undo")]
    NothingToUndo,
    /// `Amend` of a ball that was not bowled.
    #[error("no ball {} in innings {}", .0.ball, .0.innings)]
    UnknownBall(BallId),
    /// The amended ball makes a later event illegal.
    #[error("amending ball {} of innings {} breaks event {at}: {reason}", .ball.ball, .ball.innings)]
    AmendConflict {
        /// The ball amended.
        ball: BallId,
        /// The position (in the events still in effect) of the first event it breaks.
        at: usize,
        /// Why that event no longer holds.
        reason: Box<IllegalEvent>,
    },
}

impl IllegalEvent {
    /// A stable snake_case code, for machines.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::NotStarted => "not_started",
            Self::AlreadyStarted => "already_started",
            Self::InvalidInfo(_) => "invalid_info",
            Self::MatchOver => "match_over",
            Self::NoInnings => "no_innings",
            Self::InningsClosed(_) => "innings_closed",
            Self::InningsInProgress(_) => "innings_in_progress",
            Self::UnknownTeam(_) => "unknown_team",
            Self::InvalidInnings(_) => "invalid_innings",
            Self::UnknownPlayer { .. } => "unknown_player",
            Self::WrongBatter { .. } => "wrong_batter",
            Self::TooManyWickets { .. } => "too_many_wickets",
            Self::InvalidRuns(_) => "invalid_runs",
            Self::InvalidExtras(_) => "invalid_extras",
            Self::InvalidWicket(_) => "invalid_wicket",
            Self::InvalidTarget(_) => "invalid_target",
            Self::InvalidClose(_) => "invalid_close",
            Self::NothingToUndo => "nothing_to_undo",
            Self::UnknownBall(_) => "unknown_ball",
            Self::AmendConflict { .. } => "amend_conflict",
        }
    }
}

/// An event of a log was refused while replaying it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("event {index}: {error}")]
pub struct ReplayError {
    /// Its position in the log.
    pub index: usize,
    /// Why it was refused.
    #[source]
    pub error: IllegalEvent,
}

/// A Cricsheet file that cannot be imported. `path` names the place in the file, as
/// `innings[1].overs[3].deliveries[2].runs.total`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CricsheetError {
    /// Not JSON, or JSON not in Cricsheet's shape (a field missing or of the wrong type).
    #[error("{path}: {message} (line {line}, column {column})")]
    Malformed {
        /// Where.
        path: String,
        /// What is wrong.
        message: String,
        /// The line in the file (1-based).
        line: usize,
        /// The column in the line (1-based).
        column: usize,
    },
    /// Well-formed JSON whose content cannot describe a match.
    #[error("{path}: {message}")]
    Invalid {
        /// Where.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// An innings, ball or other record that the match rules refuse.
    #[error("{path}: {error}")]
    Rejected {
        /// Where.
        path: String,
        /// Why it was refused.
        #[source]
        error: IllegalEvent,
    },
}

impl CricsheetError {
    /// A stable snake_case code, for machines.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "malformed_file",
            Self::Invalid { .. } => "invalid_file",
            Self::Rejected { .. } => "rejected_event",
        }
    }

    /// Where in the file.
    #[must_use]
    pub fn path(&self) -> &str {
        match self {
            Self::Malformed { path, .. }
            | Self::Invalid { path, .. }
            | Self::Rejected { path, .. } => path,
        }
    }
}
