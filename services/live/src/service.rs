//! The live service as its HTTP layer and SSE streams use it: create and import matches,
//! hand events to match rooms, read views, and find what a reconnecting viewer missed
//! (from the hub's recent events when they cover it, from the log otherwise; the
//! `live_resumes_total{source}` counter says which).

use crate::error::LiveError;
use crate::feed::{self, Created, MatchListing, MatchView, Update, status_name};
use crate::hub::{Hub, Published, Viewer};
use crate::room::{self, Guard, Recorded, RoomMsg, Rooms};
use crate::settings::LiveSettings;
use crate::store;
use actors::ractor::{ActorCell, RpcReplyPort};
use actors::{ActorError, Handle, Registry, RegistryConfig};
use bus::{DynBus, StreamConfig};
use contracts::live::{ALL_MATCHES, STREAM};
use cricket::{Match, MatchEvent, MatchInfo};
use outbox::Delivered;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Cheap to clone; every clone shares the rooms and the hub.
#[derive(Clone)]
pub struct LiveService {
    db: DatabaseConnection,
    bus: DynBus,
    delivered: Delivered,
    rooms: Registry<Rooms>,
    hub: Arc<Hub>,
    settings: LiveSettings,
}

/// What a reconnecting viewer gets.
pub enum Resume {
    /// Exactly the events after its last one, in order (possibly none).
    Missed(Vec<Arc<Published>>),
    /// Too much was missed (or the id is not one of this match's): start again.
    Snapshot,
}

/// The bus's `LIVE` stream as the live service keeps it.
pub fn stream_config(settings: &LiveSettings) -> StreamConfig {
    let max_age = Duration::from_secs(settings.stream_max_age_hours.saturating_mul(3600));
    StreamConfig::new(STREAM, [ALL_MATCHES]).with_max_age(max_age)
}

impl LiveService {
    /// Starts the room registry under `supervisor` and makes sure the bus's `LIVE` stream
    /// exists. Rooms mark what they publish in `delivered`, the outbox relay's.
    pub async fn start(
        db: DatabaseConnection,
        bus: DynBus,
        settings: LiveSettings,
        delivered: Delivered,
        supervisor: Option<ActorCell>,
    ) -> anyhow::Result<Self> {
        let rooms = Registry::spawn(
            "live-rooms",
            Arc::new(Rooms {
                db: db.clone(),
                bus: bus.clone(),
                delivered: delivered.clone(),
                view_fresh: Duration::from_millis(settings.view_fresh_ms),
            }),
            RegistryConfig {
                idle_timeout: Duration::from_secs(settings.room_idle_secs),
                ..RegistryConfig::default()
            },
            supervisor,
        )
        .await?;
        bus.ensure_stream(stream_config(&settings)).await?;
        Ok(Self {
            db,
            hub: Arc::new(Hub::new(
                bus.clone(),
                settings.viewer_queue,
                settings.resume_ring,
            )),
            bus,
            delivered,
            rooms,
            settings,
        })
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &LiveSettings {
        &self.settings
    }

    /// Sets up a new match and publishes its first event. With an idempotency `key`,
    /// sending the same match again returns the first answer (and `true`), on any node;
    /// another match under a used key is [`LiveError::CreationKeyReused`].
    pub async fn create(
        &self,
        info: MatchInfo,
        key: Option<String>,
    ) -> Result<(Created, bool), LiveError> {
        let events = [MatchEvent::Started(Box::new(info.clone()))];
        let game = Match::replay(&events).map_err(|refused| LiveError::Illegal(refused.error))?;
        // The match as understood, not as spelled: whitespace or key order does not make
        // a resend a different request.
        let request =
            serde_json::to_vec(&info).map_err(|error| LiveError::Corrupt(error.to_string()))?;
        let id = Uuid::now_v7();
        let [started] = &events;
        let update = Update {
            match_id: id,
            seq: 1,
            event: started.clone(),
            summary: feed::summary(&game.scorecard()),
        };
        let (created, replayed) = self
            .insert(
                id,
                info,
                &events,
                &game,
                key.map(|key| (key, digest(&request))),
                Some(&update),
            )
            .await?;
        if !replayed {
            room::publish(&self.bus, &self.delivered, &update).await;
        }
        Ok((created, replayed))
    }

    /// Stores a Cricsheet file as a match with its whole log; idempotent under `key` as
    /// [`LiveService::create`] is (the file's bytes are what must match). An import is
    /// history, not live: its events are not published.
    pub async fn import(
        &self,
        file: &[u8],
        key: Option<String>,
    ) -> Result<(Created, bool), LiveError> {
        let imported = cricket::cricsheet::parse(file).map_err(LiveError::Import)?;
        // The parser replays every event as it goes, so this cannot refuse one; if it did,
        // storing a log that does not replay would break the room, so refuse the file.
        let game =
            Match::replay(&imported.events).map_err(|refused| LiveError::Illegal(refused.error))?;
        self.insert(
            Uuid::now_v7(),
            imported.info,
            &imported.events,
            &game,
            key.map(|key| (key, digest(file))),
            None,
        )
        .await
    }

    /// Stores a new match `id` with its log, and the outbox row of `announce` when it is
    /// to be published.
    async fn insert(
        &self,
        id: Uuid,
        info: MatchInfo,
        events: &[MatchEvent],
        game: &Match,
        key: Option<(String, String)>,
        announce: Option<&Update>,
    ) -> Result<(Created, bool), LiveError> {
        if let Some((key, digest)) = &key
            && let Some(first) = self.created_before(key, digest).await?
        {
            return Ok((first, true));
        }
        let created = Created {
            id,
            seq: i64::try_from(events.len()).unwrap_or(i64::MAX),
            status: status_name(game.status()).to_owned(),
        };
        let record = key.clone().map(|(key, digest)| store::CreationKey {
            key,
            digest,
            answer: created.clone(),
        });
        match store::create(&self.db, id, &info, events, game.status(), record, announce).await {
            Ok(()) => Ok((created, false)),
            // Sent twice at once, and the other one won: answer as it was answered.
            Err(store::CreateError::KeyTaken) => match &key {
                Some((key, digest)) => self
                    .created_before(key, digest)
                    .await?
                    .map(|first| (first, true))
                    .ok_or_else(|| LiveError::Storage("creation key taken, then gone".into())),
                None => Err(LiveError::Storage("a new match id was taken".into())),
            },
            Err(store::CreateError::Other(error)) => Err(error),
        }
    }

    /// The answer given to the creation under `key`, if it was the same request.
    async fn created_before(&self, key: &str, digest: &str) -> Result<Option<Created>, LiveError> {
        match store::created_with(&self.db, key).await? {
            Some((first, answer)) if first == digest => Ok(Some(answer)),
            Some((_, answer)) => Err(LiveError::CreationKeyReused { id: answer.id }),
            None => Ok(None),
        }
    }

    /// The room of a match, started if needed; [`LiveError::NotFound`] for an unknown id,
    /// and then no room is left behind.
    async fn room(&self, id: Uuid) -> Result<Handle<Rooms>, LiveError> {
        self.rooms.get(id).await.map_err(not_found)
    }

    async fn call<T: Send + 'static>(
        &self,
        id: Uuid,
        build: impl FnOnce(RpcReplyPort<Result<T, LiveError>>) -> RoomMsg,
    ) -> Result<T, LiveError> {
        self.room(id).await?.call(build).await.map_err(not_found)?
    }

    /// Applies one event through the match's room, unless `guard` finds it a resend (the
    /// first answer comes back) or out of turn.
    pub async fn submit(
        &self,
        id: Uuid,
        event: MatchEvent,
        guard: Guard,
    ) -> Result<Recorded, LiveError> {
        self.call(id, |reply| RoomMsg::Submit {
            event: Box::new(event),
            guard,
            reply,
        })
        .await
    }

    /// The match as its room holds it.
    pub async fn view(&self, id: Uuid) -> Result<MatchView, LiveError> {
        self.call(id, |reply| RoomMsg::View { reply }).await
    }

    /// The most recent matches.
    pub async fn list(&self) -> Result<Vec<MatchListing>, LiveError> {
        let rows = store::list(&self.db, self.settings.list_limit).await?;
        Ok(rows
            .into_iter()
            .map(|row| MatchListing {
                id: row.id,
                teams: serde_json::from_str::<MatchInfo>(&row.info)
                    .map(|info| info.teams.to_vec())
                    .unwrap_or_default(),
                status: row.status,
                created_at: row.created_at,
            })
            .collect())
    }

    /// Starts watching a match's updates on this node. The match's room is started first:
    /// an unknown id is refused before the node subscribes to anything for it.
    pub async fn watch(&self, id: Uuid) -> Result<Viewer, LiveError> {
        self.room(id).await?;
        self.hub
            .watch(id)
            .await
            .map_err(|error| LiveError::Storage(format!("bus: {error}")))
    }

    /// What a viewer whose last event was `after` missed: from this node's recent events
    /// of the match when it has viewers for it and they cover it, otherwise from the log
    /// (not from the room: replaying is for viewers, the room is for scorers).
    pub async fn missed(&self, id: Uuid, after: i64) -> Result<Resume, LiveError> {
        if let Some(resume) = self.resume_from_memory(self.hub.recent(id, after).await, after) {
            return Ok(resume);
        }
        Ok(self.resume_from_log(id, after).await?.0)
    }

    /// [`LiveService::missed`] for a viewer of the node's hub: from its topic's recent
    /// events, or from the log, which then also fills the topic's recent events for the
    /// viewers that reconnect next.
    pub async fn resume(&self, viewer: &Viewer, id: Uuid, after: i64) -> Result<Resume, LiveError> {
        if let Some(resume) = self.resume_from_memory(viewer.recent(after), after) {
            return Ok(resume);
        }
        let (resume, read) = self.resume_from_log(id, after).await?;
        viewer.backfill(&read);
        Ok(resume)
    }

    /// The answer from recent events in memory, when they cover `after` (or none is
    /// needed).
    fn resume_from_memory(
        &self,
        recent: Option<Vec<Arc<Published>>>,
        after: i64,
    ) -> Option<Resume> {
        if after < 1 {
            return Some(Resume::Snapshot);
        }
        let recent = recent?;
        metrics::counter!("live_resumes_total", "source" => "memory").increment(1);
        Some(if recent.len() > self.settings.replay_limit {
            Resume::Snapshot
        } else {
            Resume::Missed(recent)
        })
    }

    /// The answer from the log, with the events it read after `after`.
    async fn resume_from_log(
        &self,
        id: Uuid,
        after: i64,
    ) -> Result<(Resume, Vec<Arc<Published>>), LiveError> {
        metrics::counter!("live_resumes_total", "source" => "log").increment(1);
        let log = store::log(&self.db, id).await?.ok_or(LiveError::NotFound)?;
        let last = log.last().map_or(0, |logged| logged.seq);
        let missed = usize::try_from(last.saturating_sub(after)).unwrap_or(usize::MAX);
        if after > last || missed > self.settings.replay_limit {
            return Ok((Resume::Snapshot, Vec::new()));
        }
        // Each update carries the score after its event, as the live one did: fold the log.
        let read: Vec<_> = room::updates(id, log, after, last)?
            .into_iter()
            .map(|update| Arc::new(Published::new(update)))
            .collect();
        Ok((Resume::Missed(read.clone()), read))
    }

    /// Matches with viewers on this node.
    pub async fn hub_topics(&self) -> usize {
        self.hub.watched().await
    }

    /// Stops the rooms.
    pub async fn stop(&self) {
        self.rooms.stop().await;
    }
}

/// SHA-256 of a request, in hex.
fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The registry reports a room whose `init` found no match as a failed start; that is the
/// caller's unknown id, not a fault.
fn not_found(error: ActorError) -> LiveError {
    match error {
        ActorError::Failed(reason) if reason == room::NO_SUCH_MATCH => LiveError::NotFound,
        other => LiveError::Actor(other),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use bus::LocalBus;
    use storage::testing::TestDatabase;

    /// A service on a fresh, migrated database and an in-process bus, without a node.
    pub(crate) async fn service(
        settings: LiveSettings,
    ) -> (Arc<LiveService>, DynBus, TestDatabase) {
        let database = TestDatabase::new().await.unwrap();
        storage::migrate(
            database.connection(),
            &[storage::Migrations::of::<crate::migration::Migrator>(
                "live",
            )],
        )
        .await
        .unwrap();
        let bus: DynBus = Arc::new(LocalBus::new());
        let service = LiveService::start(
            database.connection().clone(),
            bus.clone(),
            settings,
            Delivered::default(),
            None,
        )
        .await
        .unwrap();
        (Arc::new(service), bus, database)
    }

    /// A new T20 match between Kolkata and Bangalore.
    pub(crate) async fn a_match(service: &LiveService) -> Uuid {
        let info = serde_json::from_value(serde_json::json!({
            "teams": ["Kolkata", "Bangalore"], "format": "t20", "balls_per_over": 6, "overs": 20
        }))
        .unwrap();
        service.create(info, None).await.unwrap().0.id
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// Asking for a match that does not exist, in any way, starts no room and subscribes
    /// to nothing: a stream of random ids costs nothing that outlives the request.
    #[tokio::test]
    async fn unknown_ids_leave_no_room_and_no_subscription() {
        let (service, _bus, _database) = testing::service(LiveSettings::default()).await;
        let unknown = Uuid::now_v7();
        assert!(matches!(
            service.view(unknown).await,
            Err(LiveError::NotFound)
        ));
        assert!(matches!(
            service
                .submit(unknown, MatchEvent::Undo, Guard::default())
                .await,
            Err(LiveError::NotFound)
        ));
        assert!(matches!(
            service.watch(unknown).await,
            Err(LiveError::NotFound)
        ));
        assert!(matches!(
            service.missed(unknown, 1).await,
            Err(LiveError::NotFound)
        ));
        assert_eq!(service.rooms.len(), 0);
        assert_eq!(service.hub_topics().await, 0);

        // A real match gets its room (and keeps it while in use).
        let id = testing::a_match(&service).await;
        assert_eq!(service.view(id).await.unwrap().seq, 1);
        assert_eq!(service.rooms.len(), 1);
        service.stop().await;
    }
}
