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
//! Two nodes may each run a room for one match (the registry is per node), and behind a
//! round-robin balancer a scorer's balls alternate between them. The database keeps them
//! honest: the (match_id, seq) key lets only one of them append a given seq (and the
//! (match_id, client_key) index one of them record a given resent event). A room that
//! loses an append has only missed the events other rooms appended since it last looked:
//! it reads those from the log (not the whole log), applies them, and applies the same
//! request again on top, up to [`ATTEMPTS`] times before answering
//! [`LiveError::Contended`] (503, retry). So a guard is always judged against the log, not
//! against what one node happened to see: a resend recorded through another node is found
//! by its key, an `If-Match` is compared with the true last seq, and an event refused by a
//! room that may be behind (an innings started after another node recorded the close) is
//! decided again once it has caught up. What is refused by the caught-up match is refused
//! as before.
//!
//! A room learns of other nodes' events when it writes, and, for reads, when its last look
//! at the log is older than `live.view_fresh_ms`.

use crate::error::LiveError;
use crate::feed::{self, MatchView, Update};
use crate::store::{self, AppendError, Logged};
use actors::ractor::RpcReplyPort;
use actors::{ActorError, Keyed};
use bus::{DynBus, Message};
use cricket::{Match, MatchEvent, MatchStatus};
use outbox::Delivered;
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// What `init` fails with for a match that does not exist. The registry hands an `init`
/// error to the callers as [`ActorError::Failed`] with this text, and the service turns it
/// back into [`LiveError::NotFound`]: the one string both sides agree on.
pub(crate) const NO_SUCH_MATCH: &str = "no such match";

/// How often a room applies one request before giving up on it: each lost append (or
/// refusal by a room that turned out to be behind) means another writer got in between,
/// and a request still losing after this many is better retried by the client than held.
pub const ATTEMPTS: u32 = 3;

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
    /// Where a room marks the events it published itself, so the outbox relay does not
    /// publish them again.
    pub delivered: Delivered,
    /// How stale a view may be when other nodes write ([`crate::LiveSettings::view_fresh_ms`]).
    pub view_fresh: Duration,
}

/// One match as its room holds it.
pub struct Room {
    game: Match,
    seq: i64,
    /// Idempotency key -> the seq it was recorded at. At most one per event of the match.
    keys: HashMap<String, i64>,
    /// When the room last knew itself to be at the end of the log.
    checked: Instant,
}

impl Room {
    /// Replays a stored log.
    pub fn replay(log: &[Logged]) -> Result<Self, LiveError> {
        let mut room = Self {
            game: Match::new(),
            seq: 0,
            keys: HashMap::new(),
            checked: Instant::now(),
        };
        room.apply(log)?;
        Ok(room)
    }

    /// Applies the events that follow the room's last one, all or none.
    fn apply(&mut self, log: &[Logged]) -> Result<(), LiveError> {
        let mut game = self.game.clone();
        let mut seq = self.seq;
        for logged in log {
            if logged.seq != seq + 1 {
                return Err(LiveError::Corrupt(format!(
                    "event {} follows event {seq}",
                    logged.seq
                )));
            }
            game.apply(&logged.event)
                .map_err(|error| LiveError::Corrupt(format!("event {}: {error}", logged.seq)))?;
            seq = logged.seq;
        }
        self.game = game;
        self.seq = seq;
        for logged in log {
            if let Some(key) = &logged.key {
                self.keys.insert(key.clone(), logged.seq);
            }
        }
        Ok(())
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

/// One try at a submitted event against the room as it stands.
enum Attempt {
    /// Recorded now, or found recorded before; or refused for good.
    // Boxed: a recorded update is large, and the other variants are small.
    Done(Box<Result<Recorded, LiveError>>),
    /// Refused by a room that may be behind the log: decided again once it has caught up,
    /// and final if it was not behind.
    Refused(LiveError),
    /// Another writer appended this seq (or this key) first.
    Lost,
}

impl Rooms {
    /// The room for a match, or `None` when there is no such match.
    async fn load(&self, id: Uuid) -> Result<Option<Room>, LiveError> {
        store::log(&self.db, id)
            .await?
            .map(|log| Room::replay(&log))
            .transpose()
    }

    /// Applies what other writers appended since the room's last event; true when there
    /// was anything. Reads only the events after it: a room behind by a ball reads one.
    async fn catch_up(&self, id: Uuid, room: &mut Room) -> Result<bool, LiveError> {
        let checked = Instant::now();
        let log = store::log_after(&self.db, id, room.seq).await?;
        if log.is_empty() {
            room.checked = checked;
            return Ok(false);
        }
        if let Err(error) = room.apply(&log) {
            // Not expected (the log only grows, and the room holds a prefix of it); a
            // full replay is the way back to the truth, or fails saying why.
            tracing::warn!(%error, match_id = %id, "catch-up failed; replaying the log");
            *room = self.load(id).await?.ok_or(LiveError::NotFound)?;
        }
        room.checked = checked;
        Ok(true)
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

    /// Records `event` unless the guard or the match refuses it; a room that loses the
    /// race to another writer, or refuses while behind, catches up and tries again.
    async fn submit(
        &self,
        id: Uuid,
        room: &mut Room,
        event: MatchEvent,
        guard: Guard,
    ) -> Result<Recorded, LiveError> {
        for attempt in 1..=ATTEMPTS {
            match self.attempt(id, room, &event, &guard).await {
                Attempt::Done(result) => return *result,
                Attempt::Refused(refusal) => {
                    if !self.catch_up(id, room).await? {
                        return Err(refusal);
                    }
                }
                Attempt::Lost => {
                    metrics::counter!("live_write_races_total").increment(1);
                    tracing::debug!(match_id = %id, attempt, "another writer appended first");
                    self.catch_up(id, room).await?;
                }
            }
        }
        metrics::counter!("live_writes_contended_total").increment(1);
        tracing::warn!(match_id = %id, attempts = ATTEMPTS, "event not recorded: the match keeps moving");
        Err(LiveError::Contended)
    }

    async fn attempt(
        &self,
        id: Uuid,
        room: &mut Room,
        event: &MatchEvent,
        guard: &Guard,
    ) -> Attempt {
        // A resend is answered before anything else is checked: the match has moved on
        // since (its own event, at least), which is why the scorer is resending.
        if let Some(key) = &guard.key
            && let Some(&seq) = room.keys.get(key)
        {
            return Attempt::Done(Box::new(self.resent(id, key, seq, event).await));
        }
        if let Some(expected) = guard.expected_seq
            && expected != room.seq
        {
            let mismatch = LiveError::SeqMismatch {
                expected,
                actual: room.seq,
            };
            // The room is never ahead of the log, so a seq it has passed is stale for
            // sure; one it has not reached may be in the log already.
            return if expected < room.seq {
                Attempt::Done(Box::new(Err(mismatch)))
            } else {
                Attempt::Refused(mismatch)
            };
        }
        let mut next = room.game.clone();
        if let Err(illegal) = next.apply(event) {
            return Attempt::Refused(LiveError::Illegal(illegal));
        }
        let status = next.status();
        let changed: Option<MatchStatus> = (status != room.game.status()).then_some(status);
        let update = Update {
            match_id: id,
            seq: room.seq + 1,
            event: event.clone(),
            summary: feed::summary(&next.scorecard()),
        };
        match store::append(&self.db, &update, guard.key.as_deref(), changed).await {
            Ok(()) => {}
            Err(AppendError::Taken) => return Attempt::Lost,
            Err(AppendError::Db(error)) => return Attempt::Done(Box::new(Err(error.into()))),
        }
        room.game = next;
        room.seq = update.seq;
        // Its own append just succeeded, so nothing else was in the log past it.
        room.checked = Instant::now();
        if let Some(key) = &guard.key {
            room.keys.insert(key.clone(), update.seq);
        }
        publish(&self.bus, &self.delivered, &update).await;
        Attempt::Done(Box::new(Ok(Recorded {
            update,
            replayed: false,
        })))
    }

    /// The match as it stands, first catching up with other nodes' events when the room
    /// has not looked for `view_fresh`. A log that cannot be read then leaves the view as
    /// the room has it: stale by what others wrote, rather than no answer.
    async fn view(&self, id: Uuid, room: &mut Room) -> MatchView {
        if room.checked.elapsed() >= self.view_fresh
            && let Err(error) = self.catch_up(id, room).await
        {
            tracing::warn!(%error, match_id = %id, "view not caught up with the log");
        }
        room.view(id)
    }
}

/// Publishes an update into the `LIVE` stream, which also delivers it to live
/// subscribers: the fast path, right after the commit. Stored, it is marked delivered so
/// the outbox relay deletes its row instead of publishing it again. The event is stored
/// already: when the stream cannot take it, a plain publish still reaches the viewers, and
/// the relay stores it in the stream later from its outbox row.
pub(crate) async fn publish(bus: &DynBus, delivered: &Delivered, update: &Update) {
    let (id, seq) = (update.match_id, update.seq);
    let message_id = feed::message_id(id, seq);
    let message = match Message::json(feed::subject(id), update) {
        Ok(message) => message.with_id(message_id.clone()),
        Err(error) => {
            tracing::warn!(%error, match_id = %id, seq, "update not encodable");
            return;
        }
    };
    let Err(error) = bus.publish_durable(message.clone()).await else {
        delivered.mark(message_id);
        return;
    };
    tracing::warn!(%error, match_id = %id, seq, "not stored in the stream; publishing live only, the outbox relay stores it later");
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
                let _ = reply.send(Ok(self.view(*id, room).await));
            }
        }
        Ok(())
    }
}
