//! The transactional outbox: a service writes the events of a change into its own
//! `<service>_outbox` table in the same database transaction as the change, and a relay
//! publishes them to the bus after the commit.
//!
//! What it guarantees: an event exists if and only if its change committed (a rolled-back
//! transaction takes its events with it), and no committed event is lost (a crash between
//! commit and publish leaves the rows, and the next relay pass publishes them). Delivery is
//! at least once: a relay that dies after publishing but before deleting publishes again,
//! with the same message id, so JetStream's duplicate window and consumers that dedupe by
//! id see one event.
//!
//! On Postgres several nodes relay the same table at once without stepping on each other:
//! each pass claims its rows with `FOR UPDATE SKIP LOCKED`.

use bus::{DynBus, Message, StreamConfig};
use sea_orm::sea_query::{
    Alias, ColumnDef, Expr, ExprTrait, LockBehavior, LockType, Order, Query, Table,
    TableCreateStatement,
};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement, TransactionTrait,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// How many rows one relay pass publishes at most.
const BATCH: u64 = 256;

/// One event waiting to be relayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The message id (`Nats-Msg-Id`): stable across retries, so duplicates are recognised.
    pub id: String,
    pub subject: String,
    /// The JSON payload.
    pub payload: String,
}

impl Envelope {
    /// An event serialised to JSON.
    pub fn json<T: serde::Serialize>(
        id: impl Into<String>,
        subject: impl Into<String>,
        payload: &T,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            id: id.into(),
            subject: subject.into(),
            payload: serde_json::to_string(payload)?,
        })
    }
}

/// Why a relay pass stopped short; the rows stay and the next pass retries them.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("bus: {0}")]
    Bus(#[from] bus::BusError),
}

/// One service's outbox table.
#[derive(Clone, Copy, Debug)]
pub struct Outbox {
    table: &'static str,
}

impl Outbox {
    /// The outbox in `table` (by convention `<service>_outbox`).
    pub const fn new(table: &'static str) -> Self {
        Self { table }
    }

    /// The table, for the owning service's migration.
    pub fn create_table(&self) -> TableCreateStatement {
        Table::create()
            .table(Alias::new(self.table))
            .if_not_exists()
            .col(
                ColumnDef::new(Alias::new("seq"))
                    .big_integer()
                    .not_null()
                    .auto_increment()
                    .primary_key(),
            )
            .col(ColumnDef::new(Alias::new("message_id")).string().not_null())
            .col(ColumnDef::new(Alias::new("subject")).string().not_null())
            .col(ColumnDef::new(Alias::new("payload")).text().not_null())
            .col(
                ColumnDef::new(Alias::new("created_at"))
                    .timestamp_with_time_zone()
                    .not_null(),
            )
            .to_owned()
    }

    /// Adds `events` inside the caller's transaction (or on a plain connection, where the
    /// caller has no transaction to share).
    pub async fn write<C: ConnectionTrait>(
        &self,
        conn: &C,
        events: &[Envelope],
    ) -> Result<(), DbErr> {
        if events.is_empty() {
            return Ok(());
        }
        let now = chrono::Utc::now();
        let backend = conn.get_database_backend();
        if backend == DatabaseBackend::Postgres {
            // One statement text for any number of events (they travel as one JSON
            // parameter), so it is prepared once per connection, not once per batch size.
            let rows: Vec<_> = events
                .iter()
                .map(|e| serde_json::json!({"message_id": e.id, "subject": e.subject, "payload": e.payload, "created_at": now}))
                .collect();
            let sql = format!(
                "INSERT INTO {} (message_id, subject, payload, created_at) \
                 SELECT message_id, subject, payload, created_at FROM jsonb_to_recordset($1::jsonb) \
                 AS r(message_id text, subject text, payload text, created_at timestamptz)",
                self.table
            );
            conn.execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [serde_json::Value::from(rows).to_string().into()],
            ))
            .await?;
            return Ok(());
        }
        let mut insert = Query::insert();
        insert.into_table(Alias::new(self.table)).columns([
            Alias::new("message_id"),
            Alias::new("subject"),
            Alias::new("payload"),
            Alias::new("created_at"),
        ]);
        for event in events {
            insert.values_panic([
                event.id.clone().into(),
                event.subject.clone().into(),
                event.payload.clone().into(),
                now.into(),
            ]);
        }
        conn.execute(&insert).await?;
        Ok(())
    }

    /// How many events wait to be relayed.
    pub async fn pending(&self, db: &DatabaseConnection) -> Result<u64, DbErr> {
        let query = Query::select()
            .expr(Expr::col(Alias::new("seq")).count())
            .from(Alias::new(self.table))
            .to_owned();
        let row = db.query_one(&query).await?;
        let count = row.map_or(Ok(0), |row| row.try_get_by_index::<i64>(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Publishes up to one batch of waiting events, oldest first, and deletes them once
    /// the bus has stored them. Returns how many were relayed.
    pub async fn relay_once(
        &self,
        db: &DatabaseConnection,
        bus: &DynBus,
    ) -> Result<usize, RelayError> {
        let backend = db.get_database_backend();
        let txn = db.begin().await?;
        if backend == DatabaseBackend::Postgres {
            // Losing this deletion in a crash only republishes events under their own ids,
            // which JetStream and consumers recognise: it need not wait for its own fsync.
            txn.execute_unprepared("SET LOCAL synchronous_commit = off")
                .await?;
        }
        let mut select = Query::select();
        select
            .columns([
                Alias::new("seq"),
                Alias::new("message_id"),
                Alias::new("subject"),
                Alias::new("payload"),
            ])
            .from(Alias::new(self.table))
            .order_by(Alias::new("seq"), Order::Asc)
            .limit(BATCH);
        if backend == DatabaseBackend::Postgres {
            select.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let rows = txn.query_all(&select).await?;
        let mut relayed = Vec::with_capacity(rows.len());
        for row in rows {
            let seq: i64 = row.try_get_by_index(0)?;
            let id: String = row.try_get_by_index(1)?;
            let subject: String = row.try_get_by_index(2)?;
            let payload: String = row.try_get_by_index(3)?;
            let message = Message::new(subject, payload.into_bytes()).with_id(id);
            // Store-acknowledged: once this returns, the event survives a bus restart.
            bus.publish_durable(message).await?;
            relayed.push(seq);
        }
        if !relayed.is_empty() && backend == DatabaseBackend::Postgres {
            let sql = format!(
                "DELETE FROM {} WHERE seq IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint)",
                self.table
            );
            txn.execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [serde_json::Value::from(relayed.clone()).to_string().into()],
            ))
            .await?;
        } else if !relayed.is_empty() {
            let delete = Query::delete()
                .from_table(Alias::new(self.table))
                .and_where(Expr::col(Alias::new("seq")).is_in(relayed.iter().copied()))
                .to_owned();
            txn.execute(&delete).await?;
        }
        txn.commit().await?;
        metrics::counter!("outbox_relayed_total", "table" => self.table)
            .increment(relayed.len() as u64);
        Ok(relayed.len())
    }
}

/// A running relay: wake it after a commit for instant delivery; it also polls, so events
/// written by a node that crashed before waking anyone still go out.
pub struct Relay {
    wake: Arc<Notify>,
    stop: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Starts relaying `outbox` from `db` to `bus`, into `stream` (created if missing),
    /// polling every `interval` when not woken.
    pub fn spawn(
        outbox: Outbox,
        db: DatabaseConnection,
        bus: DynBus,
        stream: StreamConfig,
        interval: Duration,
    ) -> Self {
        let wake = Arc::new(Notify::new());
        let stop = Arc::new(Notify::new());
        let task = tokio::spawn(run(
            outbox,
            db,
            bus,
            stream,
            interval,
            wake.clone(),
            stop.clone(),
        ));
        Self { wake, stop, task }
    }

    /// Asks for a pass now (cheap; passes coalesce).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// A handle that wakes this relay, for the code that commits.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// The relay's task and the signal that stops it after its current pass, for whoever
    /// supervises it. What is left is relayed by the next start.
    pub fn into_task(self) -> (JoinHandle<()>, Arc<Notify>) {
        (self.task, self.stop)
    }
}

async fn run(
    outbox: Outbox,
    db: DatabaseConnection,
    bus: DynBus,
    stream: StreamConfig,
    interval: Duration,
    wake: Arc<Notify>,
    stop: Arc<Notify>,
) {
    let mut stream_ready = false;
    let mut backoff = interval;
    loop {
        if !stream_ready {
            match bus.ensure_stream(stream.clone()).await {
                Ok(()) => stream_ready = true,
                Err(error) => tracing::warn!(%error, stream = %stream.name, "outbox stream"),
            }
        }
        let mut pause = interval;
        if stream_ready {
            match outbox.relay_once(&db, &bus).await {
                // A full batch means more may be waiting: go again at once.
                Ok(n) if n as u64 == BATCH => continue,
                Ok(_) => backoff = interval,
                Err(error) => {
                    tracing::warn!(%error, table = outbox.table, "outbox relay pass failed");
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    pause = backoff;
                }
            }
        }
        tokio::select! {
            () = stop.notified() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
}
