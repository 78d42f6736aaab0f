//! The live tables as sea-orm entities, and the queries the service runs on them.
//!
//! `live_matches` lists matches (info as JSON text, status kept current for the list);
//! `live_events` is each match's append-only log, keyed by (match_id, seq), with the
//! scorer's idempotency key (unique per match) on events that came with one. A match
//! created with an idempotency key keeps it, with a digest of the request and the answer
//! given, in `live_matches`. Every event that is published is written with its
//! `live_outbox` row ([`crate::OUTBOX`]) in one transaction. Nothing here knows the match
//! rules: callers hand in events the `cricket` crate has accepted.

use crate::error::LiveError;
use crate::feed::{self, Created, Update, status_name};
use cricket::{MatchEvent, MatchInfo, MatchStatus};
use outbox::Envelope;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, SqlErr, TransactionTrait,
};
use uuid::Uuid;

pub mod live_match {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "live_matches")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// `cricket::MatchInfo` as JSON.
        pub info: String,
        pub status: String,
        pub created_at: ChronoDateTimeUtc,
        /// The creator's `Idempotency-Key`, when it sent one (unique).
        pub client_key: Option<String>,
        /// SHA-256 (hex) of what was sent with the key.
        pub request_digest: Option<String>,
        /// The answer given (`feed::Created` as JSON), for a resend.
        pub answer: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod live_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "live_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub match_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        /// `cricket::MatchEvent` as JSON.
        pub event: String,
        pub created_at: ChronoDateTimeUtc,
        /// The scorer's `Idempotency-Key`, when it sent one.
        pub client_key: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Why an append failed.
#[derive(Debug)]
pub enum AppendError {
    /// The seq, or the idempotency key, is taken: another writer appended first.
    Taken,
    /// Anything else.
    Db(sea_orm::DbErr),
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, LiveError> {
    serde_json::to_string(value).map_err(|error| LiveError::Corrupt(error.to_string()))
}

/// The outbox row of an update: published on the match's subject under `<match>:<seq>`,
/// the id JetStream dedupes by, whoever publishes it.
pub fn envelope(update: &Update) -> Result<Envelope, LiveError> {
    Envelope::json(
        feed::message_id(update.match_id, update.seq),
        feed::subject(update.match_id),
        update,
    )
    .map_err(|error| LiveError::Corrupt(error.to_string()))
}

fn event_row(
    match_id: Uuid,
    seq: i64,
    event: String,
    client_key: Option<String>,
) -> live_event::ActiveModel {
    live_event::ActiveModel {
        match_id: Set(match_id),
        seq: Set(seq),
        event: Set(event),
        created_at: Set(chrono::Utc::now()),
        client_key: Set(client_key),
    }
}

/// One event of a match's log.
#[derive(Clone, Debug)]
pub struct Logged {
    pub seq: i64,
    pub event: MatchEvent,
    /// The scorer's idempotency key, when it sent one.
    pub key: Option<String>,
}

/// A creation's idempotency record: the client's key, what was sent, what it was told.
pub struct CreationKey {
    pub key: String,
    pub digest: String,
    pub answer: Created,
}

/// Why a creation failed.
#[derive(Debug)]
pub enum CreateError {
    /// The idempotency key is taken: another request created a match with it first.
    KeyTaken,
    Other(LiveError),
}

impl From<sea_orm::DbErr> for CreateError {
    fn from(error: sea_orm::DbErr) -> Self {
        if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
            Self::KeyTaken
        } else {
            Self::Other(error.into())
        }
    }
}

impl From<LiveError> for CreateError {
    fn from(error: LiveError) -> Self {
        Self::Other(error)
    }
}

/// The creation recorded under an idempotency key: the digest of its request and the
/// answer it was given.
pub async fn created_with(
    db: &DatabaseConnection,
    key: &str,
) -> Result<Option<(String, Created)>, LiveError> {
    let row = live_match::Entity::find()
        .filter(live_match::Column::ClientKey.eq(key))
        .one(db)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (Some(digest), Some(answer)) = (row.request_digest, row.answer) else {
        return Err(LiveError::Corrupt(format!(
            "match {} lost its key record",
            row.id
        )));
    };
    let answer = serde_json::from_str(&answer)
        .map_err(|error| LiveError::Corrupt(format!("match {}: {error}", row.id)))?;
    Ok(Some((digest, answer)))
}

/// Creates a match with its whole log (the `Started` event first), all or nothing, its
/// idempotency record when the client sent a key, and the outbox row of the update to
/// publish, if any (an import publishes none).
pub async fn create(
    db: &DatabaseConnection,
    id: Uuid,
    info: &MatchInfo,
    events: &[MatchEvent],
    status: MatchStatus,
    key: Option<CreationKey>,
    announce: Option<&Update>,
) -> Result<(), CreateError> {
    let announce = announce.map(envelope).transpose()?;
    let rows = events
        .iter()
        .zip(1_i64..)
        .map(|(event, seq)| Ok(event_row(id, seq, to_json(event)?, None)))
        .collect::<Result<Vec<_>, LiveError>>()?;
    let txn = db.begin().await?;
    live_match::Entity::insert(live_match::ActiveModel {
        id: Set(id),
        info: Set(to_json(info)?),
        status: Set(status_name(status).to_owned()),
        created_at: Set(chrono::Utc::now()),
        client_key: Set(key.as_ref().map(|key| key.key.clone())),
        request_digest: Set(key.as_ref().map(|key| key.digest.clone())),
        answer: Set(key.as_ref().map(|key| to_json(&key.answer)).transpose()?),
    })
    .exec(&txn)
    .await?;
    // Postgres caps bind parameters per statement (65535); a Test match has ~2000 events
    // of 4 columns, so chunks keep any log well under it.
    for chunk in rows.chunks(1000) {
        live_event::Entity::insert_many(chunk.to_vec())
            .exec(&txn)
            .await?;
    }
    if let Some(announce) = announce {
        crate::OUTBOX.write(&txn, &[announce]).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Appends an update's event at its seq (with the scorer's idempotency key, if any), its
/// outbox row, and the match's new status when it changed, in one transaction.
pub async fn append(
    db: &DatabaseConnection,
    update: &Update,
    key: Option<&str>,
    status: Option<MatchStatus>,
) -> Result<(), AppendError> {
    let corrupt = |error: LiveError| AppendError::Db(sea_orm::DbErr::Custom(error.to_string()));
    let json = to_json(&update.event).map_err(corrupt)?;
    let announce = envelope(update).map_err(corrupt)?;
    let (match_id, seq) = (update.match_id, update.seq);
    let run = async {
        let txn = db.begin().await?;
        live_event::Entity::insert(event_row(match_id, seq, json, key.map(str::to_owned)))
            .exec(&txn)
            .await?;
        crate::OUTBOX.write(&txn, &[announce]).await?;
        if let Some(status) = status {
            live_match::Entity::update_many()
                .col_expr(
                    live_match::Column::Status,
                    sea_orm::sea_query::Expr::value(status_name(status)),
                )
                .filter(live_match::Column::Id.eq(match_id))
                .exec(&txn)
                .await?;
        }
        txn.commit().await
    };
    run.await.map_err(|error| {
        if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
            AppendError::Taken
        } else {
            AppendError::Db(error)
        }
    })
}

/// A match's log, in order; `None` when there is no such match.
pub async fn log(
    db: &DatabaseConnection,
    match_id: Uuid,
) -> Result<Option<Vec<Logged>>, LiveError> {
    let exists = live_match::Entity::find_by_id(match_id)
        .select_only()
        .column(live_match::Column::Id)
        .into_tuple::<Uuid>()
        .one(db)
        .await?;
    if exists.is_none() {
        return Ok(None);
    }
    log_after(db, match_id, 0).await.map(Some)
}

/// The events of a match's log after seq `after`, in order: what a room that has applied
/// the log up to `after` has yet to apply.
pub async fn log_after(
    db: &DatabaseConnection,
    match_id: Uuid,
    after: i64,
) -> Result<Vec<Logged>, LiveError> {
    let rows = live_event::Entity::find()
        .filter(live_event::Column::MatchId.eq(match_id))
        .filter(live_event::Column::Seq.gt(after))
        .order_by_asc(live_event::Column::Seq)
        .all(db)
        .await?;
    rows.into_iter()
        .map(|row| {
            serde_json::from_str(&row.event)
                .map(|event| Logged {
                    seq: row.seq,
                    event,
                    key: row.client_key,
                })
                .map_err(|error| LiveError::Corrupt(format!("event {}: {error}", row.seq)))
        })
        .collect()
}

/// The most recently created matches, newest first.
pub async fn list(
    db: &DatabaseConnection,
    limit: u64,
) -> Result<Vec<live_match::Model>, LiveError> {
    Ok(live_match::Entity::find()
        .order_by_desc(live_match::Column::CreatedAt)
        .order_by_desc(live_match::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}
