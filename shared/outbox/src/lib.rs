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
//!
//! A writer whose readers cannot wait for a relay pass (a live ball) may publish its
//! events itself right after the commit, the *fast path*, and run the relay as a backstop
//! ([`Relay::behind_fast_path`]): it tells the relay which events it delivered
//! ([`Delivered::mark`]), whose rows are then deleted unpublished, and the relay publishes
//! only rows older than a grace period, which are the ones whose writer failed to publish
//! or died first. A fast publish that the relay repeats anyway (its writer was slower
//! than the grace) goes out under the same message id, so it is a duplicate consumers
//! recognise, never a loss.

use bus::{DynBus, Message, StreamConfig};
use sea_orm::sea_query::{
    Alias, ColumnDef, Expr, ExprTrait, LockBehavior, LockType, Order, Query, Table,
    TableCreateStatement,
};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement, TransactionTrait,
};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// How many rows one relay pass publishes at most.
const BATCH: u64 = 256;

/// How many delivered ids wait for deletion at most. Past it (the database has been away
/// for a while) ids are dropped: their rows are published again later, as duplicates.
const MAX_DELIVERED: usize = 4096;

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
        self.relay(db, bus, None).await
    }

    /// Like [`Outbox::relay_once`], for events written at least `grace` ago only: the
    /// backstop of writers that publish their events themselves.
    pub async fn relay_settled(
        &self,
        db: &DatabaseConnection,
        bus: &DynBus,
        grace: Duration,
    ) -> Result<usize, RelayError> {
        self.relay(db, bus, Some(grace)).await
    }

    /// Deletes the events with these message ids unpublished: their writer published them.
    /// Returns how many rows went.
    pub async fn forget(&self, db: &DatabaseConnection, ids: &[String]) -> Result<u64, DbErr> {
        let mut deleted = 0;
        // SQLite binds at most 32766 parameters per statement; chunks stay well under it.
        for chunk in ids.chunks(500) {
            let delete = Query::delete()
                .from_table(Alias::new(self.table))
                .and_where(Expr::col(Alias::new("message_id")).is_in(chunk.iter().cloned()))
                .to_owned();
            deleted += db.execute(&delete).await?.rows_affected();
        }
        Ok(deleted)
    }

    async fn relay(
        &self,
        db: &DatabaseConnection,
        bus: &DynBus,
        grace: Option<Duration>,
    ) -> Result<usize, RelayError> {
        // Compared in Rust, not SQL: SQLite keeps timestamps as text, whose order is not
        // reliably the order of time. Younger rows are locked for the pass, and skipped.
        let written_by = grace.map(|grace| {
            chrono::Utc::now() - chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX)
        });
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
                Alias::new("created_at"),
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
            if let Some(written_by) = written_by {
                let created_at: chrono::DateTime<chrono::Utc> = row.try_get_by_index(4)?;
                if created_at > written_by {
                    continue;
                }
            }
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

/// The events a writer published itself (the fast path), by message id, for its relay to
/// delete unpublished. Cheap to clone and to mark; marking wakes the relay.
#[derive(Clone, Debug, Default)]
pub struct Delivered {
    ids: Arc<Mutex<Vec<String>>>,
    wake: Arc<Notify>,
}

impl Delivered {
    /// The event with this message id is stored in its stream: its row can go.
    pub fn mark(&self, message_id: impl Into<String>) {
        {
            let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
            if ids.len() < MAX_DELIVERED {
                ids.push(message_id.into());
            }
        }
        self.wake.notify_one();
    }

    /// How many marked ids wait for their rows to be deleted.
    pub fn waiting(&self) -> usize {
        self.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.ids.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn put_back(&self, mut taken: Vec<String>) {
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        taken.append(&mut ids);
        taken.truncate(MAX_DELIVERED);
        *ids = taken;
    }
}

/// A running relay: wake it after a commit for instant delivery; it also polls, so events
/// written by a node that crashed before waking anyone still go out.
pub struct Relay {
    wake: Arc<Notify>,
    stop: Arc<Notify>,
    task: JoinHandle<()>,
    delivered: Delivered,
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
        Self::start(outbox, db, bus, stream, interval, None)
    }

    /// Starts the backstop of a writer that publishes its events itself after the commit:
    /// rows marked [`Delivered`] are deleted unpublished, and only rows written at least
    /// `grace` ago are published (their writer failed to, or died first). `grace` should
    /// comfortably exceed the writer's own publish, so that the two rarely overlap.
    pub fn behind_fast_path(
        outbox: Outbox,
        db: DatabaseConnection,
        bus: DynBus,
        stream: StreamConfig,
        interval: Duration,
        grace: Duration,
    ) -> Self {
        Self::start(outbox, db, bus, stream, interval, Some(grace))
    }

    fn start(
        outbox: Outbox,
        db: DatabaseConnection,
        bus: DynBus,
        stream: StreamConfig,
        interval: Duration,
        grace: Option<Duration>,
    ) -> Self {
        let wake = Arc::new(Notify::new());
        let stop = Arc::new(Notify::new());
        let delivered = Delivered {
            ids: Arc::default(),
            wake: wake.clone(),
        };
        let task = tokio::spawn(run(
            Pass {
                outbox,
                db,
                bus,
                grace,
                delivered: delivered.clone(),
            },
            stream,
            interval,
            wake.clone(),
            stop.clone(),
        ));
        Self {
            wake,
            stop,
            task,
            delivered,
        }
    }

    /// Where the writer marks the events it published itself.
    pub fn delivered(&self) -> Delivered {
        self.delivered.clone()
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

/// What one relay pass works on.
struct Pass {
    outbox: Outbox,
    db: DatabaseConnection,
    bus: DynBus,
    grace: Option<Duration>,
    delivered: Delivered,
}

impl Pass {
    /// Deletes the rows of delivered events, then publishes what is due.
    async fn run(&self) -> Result<usize, RelayError> {
        let delivered = self.delivered.take();
        if !delivered.is_empty()
            && let Err(error) = self.outbox.forget(&self.db, &delivered).await
        {
            self.delivered.put_back(delivered);
            return Err(error.into());
        }
        match self.grace {
            Some(grace) => self.outbox.relay_settled(&self.db, &self.bus, grace).await,
            None => self.outbox.relay_once(&self.db, &self.bus).await,
        }
    }
}

async fn run(
    pass: Pass,
    stream: StreamConfig,
    interval: Duration,
    wake: Arc<Notify>,
    stop: Arc<Notify>,
) {
    let mut stream_ready = false;
    let mut backoff = interval;
    loop {
        if !stream_ready {
            match pass.bus.ensure_stream(stream.clone()).await {
                Ok(()) => stream_ready = true,
                Err(error) => tracing::warn!(%error, stream = %stream.name, "outbox stream"),
            }
        }
        let mut pause = interval;
        if stream_ready {
            match pass.run().await {
                // A full batch means more may be waiting: go again at once.
                Ok(n) if n as u64 == BATCH => continue,
                Ok(_) => backoff = interval,
                Err(error) => {
                    tracing::warn!(%error, table = pass.outbox.table, "outbox relay pass failed");
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use bus::{ConsumerConfig, LocalBus};
    use futures::StreamExt;
    use storage::testing::TestDatabase;

    const OUTBOX: Outbox = Outbox::new("test_outbox");

    async fn setup() -> (TestDatabase, DynBus) {
        let database = TestDatabase::new().await.unwrap();
        let db = database.connection();
        db.execute(&OUTBOX.create_table()).await.unwrap();
        let bus: DynBus = Arc::new(LocalBus::new());
        bus.ensure_stream(StreamConfig::new("TEST_OUTBOX", ["outbox.test.>"]))
            .await
            .unwrap();
        (database, bus)
    }

    fn envelope(n: u32) -> Envelope {
        Envelope::json(format!("event-{n}"), format!("outbox.test.{n}"), &n).unwrap()
    }

    /// Behind a fast path: a young row is left to its writer, a delivered one is deleted
    /// unpublished, and one whose writer never said it delivered is published once old
    /// enough.
    #[tokio::test]
    async fn a_backstop_relays_only_what_its_writer_did_not_deliver() {
        let (database, bus) = setup().await;
        let db = database.connection();
        OUTBOX.write(db, &[envelope(1), envelope(2)]).await.unwrap();

        // Both are younger than the grace: nothing goes out.
        let relayed = OUTBOX
            .relay_settled(db, &bus, Duration::from_secs(3600))
            .await
            .unwrap();
        assert_eq!(relayed, 0);
        assert_eq!(OUTBOX.pending(db).await.unwrap(), 2);

        // The writer delivered event 1 itself; event 2 it did not (it crashed).
        assert_eq!(OUTBOX.forget(db, &["event-1".to_owned()]).await.unwrap(), 1);
        let relayed = OUTBOX
            .relay_settled(db, &bus, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(relayed, 1);
        assert_eq!(OUTBOX.pending(db).await.unwrap(), 0);

        let mut consumer = bus
            .consume(ConsumerConfig::new("TEST_OUTBOX", "test"))
            .await
            .unwrap();
        let message = consumer.next().await.unwrap().unwrap();
        assert_eq!(message.message.subject, "outbox.test.2");
        assert_eq!(message.message.id(), Some("event-2"));
    }

    /// A running backstop deletes the rows its writer marks delivered without publishing
    /// them, and publishes the rest after the grace.
    #[tokio::test]
    async fn a_running_backstop_deletes_delivered_rows_and_publishes_the_rest() {
        let (database, bus) = setup().await;
        let db = database.connection().clone();
        let relay = Relay::behind_fast_path(
            OUTBOX,
            db.clone(),
            bus.clone(),
            StreamConfig::new("TEST_OUTBOX", ["outbox.test.>"]),
            Duration::from_millis(20),
            Duration::from_millis(100),
        );
        let delivered = relay.delivered();
        OUTBOX
            .write(&db, &[envelope(1), envelope(2)])
            .await
            .unwrap();
        delivered.mark("event-1");

        let mut consumer = bus
            .consume(ConsumerConfig::new("TEST_OUTBOX", "test"))
            .await
            .unwrap();
        let message = tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await
            .expect("the undelivered event is relayed")
            .unwrap()
            .unwrap();
        assert_eq!(message.message.id(), Some("event-2"));
        // The relay deletes a row after its publish is acknowledged, a moment after the
        // consumer may see it: poll, bounded.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while OUTBOX.pending(&db).await.unwrap() != 0 || delivered.waiting() != 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the relayed and the delivered rows are gone within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (task, stop) = relay.into_task();
        stop.notify_one();
        task.await.unwrap();
    }
}
