//! The one error type of the live service: everything a request about a match can fail
//! with, mapped to problem+json in [`crate::http`].

use actors::ActorError;
use cricket::{CricsheetError, IllegalEvent};

/// Why a request about a match failed.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// No match has this id.
    #[error("no such match")]
    NotFound,
    /// The match rules refuse the event now; nothing changed.
    #[error("{0}")]
    Illegal(IllegalEvent),
    /// A Cricsheet file that cannot be imported.
    #[error("{0}")]
    Import(CricsheetError),
    /// An idempotency key sent again with a different event than the one recorded under it
    /// (at `seq`); nothing changed.
    #[error("this idempotency key was used for a different event (recorded at seq {seq})")]
    KeyReused { seq: i64 },
    /// An idempotency key sent again with a different match than the one created under it
    /// (`id`); nothing changed.
    #[error("this idempotency key created match {id} from a different request")]
    CreationKeyReused { id: uuid::Uuid },
    /// The scorer expected the match at `expected` (`If-Match`) but it is at `actual`:
    /// someone else scored in between; nothing changed.
    #[error("the match is at seq {actual}, not {expected}: check the scorecard and resend")]
    SeqMismatch { expected: i64, actual: i64 },
    /// Other writers (rooms for the same match on other nodes) appended first every time
    /// this room tried ([`crate::room::ATTEMPTS`]); nothing was recorded, and a retry is
    /// checked against the match as the log has it.
    #[error("other writers kept appending to this match first")]
    Contended,
    /// The database failed; nothing was applied.
    #[error("storage: {0}")]
    Storage(String),
    /// The stored log no longer replays: a bug or a hand edit, never user input.
    #[error("corrupt log: {0}")]
    Corrupt(String),
    /// The match room could not be reached.
    #[error(transparent)]
    Actor(#[from] ActorError),
}

impl From<sea_orm::DbErr> for LiveError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::Storage(error.to_string())
    }
}
