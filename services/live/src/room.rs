//! One actor per live match: the match room. It alone appends to its match's log.
//!
//! The room keeps the match as it stands (a `cricket::Match` and the last seq) so it can
//! check an event without reading the log. Each event is applied to a copy first: a refused
//! event, or a write that fails, leaves the room exactly as it was. The order on success is
//! validate -> persist -> publish -> reply, so nothing is ever published (or acknowledged to
//! the scorer) that the database does not hold.
//!
//! Two nodes may each run a room for one match (the registry is per node). The database
//! keeps them honest: the (match_id, seq) key lets only one of them append a given seq, and
//! the loser reloads the log before its next event.

use crate::error::LiveError;
use crate::feed::{self, MatchView, Summary, Update};
use crate::store::{self, AppendError};
use actors::ractor::RpcReplyPort;
use actors::{ActorError, Keyed};
use bus::{DynBus, Message};
use cricket::{Match, MatchEvent, MatchStatus};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

/// What a match room is asked.
pub enum RoomMsg {
    /// Apply, persist and publish one event.
    Submit {
        // Boxed: a delivery is large, and every message in the mailbox is sized to it.
        event: Box<MatchEvent>,
        reply: RpcReplyPort<Result<Update, LiveError>>,
    },
    /// The match as it stands.
    View {
        reply: RpcReplyPort<Result<MatchView, LiveError>>,
    },
}

/// The behaviour shared by every room of a node.
pub struct Rooms {
    pub db: DatabaseConnection,
    pub bus: DynBus,
}

/// One match as its room holds it.
pub struct Room {
    game: Match,
    seq: i64,
}

impl Room {
    /// Replays a stored log.
    pub fn replay(log: &[(i64, MatchEvent)]) -> Result<Self, LiveError> {
        let mut game = Match::new();
        let mut seq = 0;
        for (at, event) in log {
            game.apply(event)
                .map_err(|error| LiveError::Corrupt(format!("event {at}: {error}")))?;
            seq = *at;
        }
        Ok(Self { game, seq })
    }

    fn view(&self, id: Uuid) -> MatchView {
        MatchView {
            id,
            seq: self.seq,
            scorecard: self.game.scorecard(),
        }
    }
}

impl Rooms {
    /// The room for a match, or `None` when there is no such match (yet).
    async fn load(&self, id: Uuid) -> Result<Option<Room>, ActorError> {
        let log = store::log(&self.db, id).await.map_err(ActorError::failed)?;
        log.map(|log| Room::replay(&log))
            .transpose()
            .map_err(ActorError::failed)
    }

    async fn submit(
        &self,
        id: Uuid,
        room: &mut Room,
        event: MatchEvent,
    ) -> Result<Update, LiveError> {
        let mut next = room.game.clone();
        next.apply(&event).map_err(LiveError::Illegal)?;
        let seq = room.seq + 1;
        let status = next.status();
        let changed: Option<MatchStatus> = (status != room.game.status()).then_some(status);
        match store::append(&self.db, id, seq, &event, changed).await {
            Ok(()) => {}
            Err(AppendError::Taken) => {
                // Another room appended first: take its history as ours before the next
                // event is checked.
                if let Ok(Some(fresh)) = self.load(id).await {
                    *room = fresh;
                }
                return Err(LiveError::Conflict);
            }
            Err(AppendError::Db(error)) => return Err(error.into()),
        }
        room.game = next;
        room.seq = seq;
        let update = Update {
            match_id: id,
            seq,
            event,
            summary: Summary::of(&room.game.scorecard()),
        };
        // The event is stored: a failed publish costs viewers latency, not data (they see
        // a gap in seq and read the missing events from the database).
        match Message::json(feed::subject(id), &update) {
            Ok(message) => {
                if let Err(error) = self
                    .bus
                    .publish(message.with_id(feed::message_id(id, seq)))
                    .await
                {
                    tracing::warn!(%error, match_id = %id, seq, "publish failed");
                }
            }
            Err(error) => tracing::warn!(%error, match_id = %id, seq, "update not encodable"),
        }
        Ok(update)
    }
}

impl Keyed for Rooms {
    type Key = Uuid;
    type Msg = RoomMsg;
    /// `None` while the match does not exist; looked up again on each message.
    type State = Option<Room>;

    async fn init(&self, id: &Uuid) -> Result<Option<Room>, ActorError> {
        self.load(*id).await
    }

    async fn handle(
        &self,
        id: &Uuid,
        state: &mut Option<Room>,
        msg: RoomMsg,
    ) -> Result<(), ActorError> {
        if state.is_none() {
            *state = self.load(*id).await?;
        }
        match msg {
            RoomMsg::Submit { event, reply } => {
                let result = match state.as_mut() {
                    Some(room) => self.submit(*id, room, *event).await,
                    None => Err(LiveError::NotFound),
                };
                let _ = reply.send(result);
            }
            RoomMsg::View { reply } => {
                let view = state
                    .as_ref()
                    .map(|room| room.view(*id))
                    .ok_or(LiveError::NotFound);
                let _ = reply.send(view);
            }
        }
        Ok(())
    }
}
