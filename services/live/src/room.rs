//! One actor per live match: the match room. It alone appends to its match's log.
//!
//! The room keeps the match as it stands (a `cricket::Match`, the last seq, and the
//! scorers' idempotency keys with the seq each was recorded at) so it can check an event
//! without reading the log. Each event is applied to a copy first: a refused event, or a
//! write that fails, leaves the room exactly as it was. The order on success is
//! validate -> persist -> publish -> reply, so nothing is ever published (or acknowledged to
//! the scorer) that the database does not hold.
//!
//! A scorer whose answer got lost resends the event with the same idempotency key and gets
//! the first answer back (read from the log, so it is the very update that was published);
//! a scorer that says which seq it last saw (`If-Match`) is refused if another event came
//! in between, rather than scoring a ball on top of one it did not know about.
//!
//! A room exists only for a match that exists: `init` refuses an unknown id, so a request
//! for one answers 404 and leaves no actor behind.
//!
//! Two nodes may each run a room for one match (the registry is per node). The database
//! keeps them honest: the (match_id, seq) key lets only one of them append a given seq (and
//! the (match_id, client_key) index one of them record a given resent event), and the
//! loser reloads the log before answering.

use crate::error::LiveError;
use crate::feed::{self, MatchView, Update};
use crate::store::{self, AppendError, Logged};
use actors::ractor::RpcReplyPort;
use actors::{ActorError, Keyed};
use bus::{DynBus, Message};
use cricket::{Match, MatchEvent, MatchStatus};
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use uuid::Uuid;

/// What `init` fails with for a match that does not exist. The registry hands an `init`
/// error to the callers as [`ActorError::Failed`] with this text, and the service turns it
/// back into [`LiveError::NotFound`]: the one string both sides agree on.
pub(crate) const NO_SUCH_MATCH: &str = "no such match";

/// How a scorer guards an event against being recorded twice or out of turn.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Guard {
    /// The scorer's id for this event (`Idempotency-Key`): sending it again returns what
    /// was recorded the first time.
    pub key: Option<String>,
    /// The seq the scorer last saw (`If-Match`): the event is refused when the match has
    /// moved on since.
    pub expected_seq: Option<i64>,
}

/// What a submitted event came to.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub update: Update,
    /// True when the event had been recorded before (a resend), and nothing new was.
    pub replayed: bool,
}

/// What a match room is asked.
pub enum RoomMsg {
    /// Apply, persist and publish one event.
    Submit {
        // Boxed: a delivery is large, and every message in the mailbox is sized to it.
        event: Box<MatchEvent>,
        guard: Guard,
        reply: RpcReplyPort<Result<Recorded, LiveError>>,
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
    /// Idempotency key -> the seq it was recorded at. At most one per event of the match.
    keys: HashMap<String, i64>,
}

impl Room {
    /// Replays a stored log.
    pub fn replay(log: &[Logged]) -> Result<Self, LiveError> {
        let mut game = Match::new();
        let mut seq = 0;
        let mut keys = HashMap::new();
        for logged in log {
            game.apply(&logged.event)
                .map_err(|error| LiveError::Corrupt(format!("event {}: {error}", logged.seq)))?;
            seq = logged.seq;
            if let Some(key) = &logged.key {
                keys.insert(key.clone(), seq);
            }
        }
        Ok(Self { game, seq, keys })
    }

    fn view(&self, id: Uuid) -> MatchView {
        MatchView {
            id,
            seq: self.seq,
            scorecard: self.game.scorecard(),
        }
    }
}

/// The updates of a log's events after `after` up to `through`, each with the score after
/// it, exactly as the room published them.
pub(crate) fn updates(
    id: Uuid,
    log: Vec<Logged>,
    after: i64,
    through: i64,
) -> Result<Vec<Update>, LiveError> {
    let mut game = Match::new();
    let mut updates = Vec::new();
    for Logged { seq, event, .. } in log {
        if seq > through {
            break;
        }
        game.apply(&event)
            .map_err(|error| LiveError::Corrupt(format!("event {seq}: {error}")))?;
        if seq > after {
            updates.push(Update {
                match_id: id,
                seq,
                event,
                summary: feed::summary(&game.scorecard()),
            });
        }
    }
    Ok(updates)
}

impl Rooms {
    /// The room for a match, or `None` when there is no such match.
    async fn load(&self, id: Uuid) -> Result<Option<Room>, LiveError> {
        store::log(&self.db, id)
            .await?
            .map(|log| Room::replay(&log))
            .transpose()
    }

    /// The first answer to an event resent with `key` (recorded at `seq`), provided it is
    /// the same event.
    async fn resent(
        &self,
        id: Uuid,
        key: &str,
        seq: i64,
        event: &MatchEvent,
    ) -> Result<Recorded, LiveError> {
        let log = store::log(&self.db, id).await?.ok_or(LiveError::NotFound)?;
        let update = updates(id, log, seq - 1, seq)?
            .pop()
            .ok_or_else(|| LiveError::Corrupt(format!("event {seq} of key {key} is missing")))?;
        if update.event != *event {
            return Err(LiveError::KeyReused { seq });
        }
        Ok(Recorded {
            update,
            replayed: true,
        })
    }

    async fn submit(
        &self,
        id: Uuid,
        room: &mut Room,
        event: MatchEvent,
        guard: Guard,
    ) -> Result<Recorded, LiveError> {
        // A resend is answered before anything else is checked: the match has moved on
        // since (its own event, at least), which is why the scorer is resending.
        if let Some(key) = &guard.key
            && let Some(&seq) = room.keys.get(key)
        {
            return self.resent(id, key, seq, &event).await;
        }
        if let Some(expected) = guard.expected_seq
            && expected != room.seq
        {
            return Err(LiveError::SeqMismatch {
                expected,
                actual: room.seq,
            });
        }
        let mut next = room.game.clone();
        next.apply(&event).map_err(LiveError::Illegal)?;
        let seq = room.seq + 1;
        let status = next.status();
        let changed: Option<MatchStatus> = (status != room.game.status()).then_some(status);
        match store::append(&self.db, id, seq, &event, guard.key.as_deref(), changed).await {
            Ok(()) => {}
            Err(AppendError::Taken) => {
                // Another room appended first: take its history as ours. If what it
                // recorded was this very event (the scorer resent it to the other node
                // too), answer as for any resend; otherwise the scorer decides again.
                if let Ok(Some(fresh)) = self.load(id).await {
                    *room = fresh;
                }
                if let Some(key) = &guard.key
                    && let Some(&seq) = room.keys.get(key)
                {
                    return self.resent(id, key, seq, &event).await;
                }
                return Err(LiveError::Conflict);
            }
            Err(AppendError::Db(error)) => return Err(error.into()),
        }
        room.game = next;
        room.seq = seq;
        if let Some(key) = guard.key {
            room.keys.insert(key, seq);
        }
        let update = Update {
            match_id: id,
            seq,
            event,
            summary: feed::summary(&room.game.scorecard()),
        };
        publish(&self.bus, &update).await;
        Ok(Recorded {
            update,
            replayed: false,
        })
    }
}

/// Publishes an update into the `LIVE` stream, which also delivers it to live
/// subscribers. The event is stored already: a failed publish costs viewers latency, not
/// data (they see a gap in seq and read the missing events from the database), so when the
/// stream cannot take it, a plain publish still reaches the viewers.
pub(crate) async fn publish(bus: &DynBus, update: &Update) {
    let (id, seq) = (update.match_id, update.seq);
    let message = match Message::json(feed::subject(id), update) {
        Ok(message) => message.with_id(feed::message_id(id, seq)),
        Err(error) => {
            tracing::warn!(%error, match_id = %id, seq, "update not encodable");
            return;
        }
    };
    let Err(error) = bus.publish_durable(message.clone()).await else {
        return;
    };
    tracing::warn!(%error, match_id = %id, seq, "not stored in the stream; publishing live only");
    if let Err(error) = bus.publish(message).await {
        tracing::warn!(%error, match_id = %id, seq, "publish failed");
    }
}

impl Keyed for Rooms {
    type Key = Uuid;
    type Msg = RoomMsg;
    type State = Room;

    async fn init(&self, id: &Uuid) -> Result<Room, ActorError> {
        match self.load(*id).await {
            Ok(Some(room)) => Ok(room),
            Ok(None) => Err(ActorError::Failed(NO_SUCH_MATCH.to_owned())),
            Err(error) => Err(ActorError::failed(error)),
        }
    }

    async fn handle(&self, id: &Uuid, room: &mut Room, msg: RoomMsg) -> Result<(), ActorError> {
        match msg {
            RoomMsg::Submit {
                event,
                guard,
                reply,
            } => {
                let _ = reply.send(self.submit(*id, room, *event, guard).await);
            }
            RoomMsg::View { reply } => {
                let _ = reply.send(Ok(room.view(*id)));
            }
        }
        Ok(())
    }
}
