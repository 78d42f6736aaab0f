//! The live tables as sea-orm entities, and the queries the service runs on them.
//!
//! `live_matches` lists matches (info as JSON text, status kept current for the list);
//! `live_events` is each match's append-only log, keyed by (match_id, seq), with the
//! scorer's idempotency key (unique per match) on events that came with one. Nothing here
//! knows the match rules: callers hand in events the `cricket` crate has accepted.

use crate::error::LiveError;
use crate::feed::status_name;
use cricket::{MatchEvent, MatchInfo, MatchStatus};
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

/// Creates a match with its whole log (the `Started` event first), all or nothing.
pub async fn create(
    db: &DatabaseConnection,
    id: Uuid,
    info: &MatchInfo,
    events: &[MatchEvent],
    status: MatchStatus,
) -> Result<(), LiveError> {
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
    txn.commit().await?;
    Ok(())
}

/// Appends one event at `seq` (with the scorer's idempotency key, if any), and the match's
/// new status when it changed, in one transaction.
pub async fn append(
    db: &DatabaseConnection,
    match_id: Uuid,
    seq: i64,
    event: &MatchEvent,
    key: Option<&str>,
    status: Option<MatchStatus>,
) -> Result<(), AppendError> {
    let json = to_json(event)
        .map_err(|error| AppendError::Db(sea_orm::DbErr::Custom(error.to_string())))?;
    let run = async {
        let txn = db.begin().await?;
        live_event::Entity::insert(event_row(match_id, seq, json, key.map(str::to_owned)))
            .exec(&txn)
            .await?;
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
    let rows = live_event::Entity::find()
        .filter(live_event::Column::MatchId.eq(match_id))
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
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
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
