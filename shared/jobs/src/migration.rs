//! The jobs schema, tracked in `seaql_migrations_jobs`. Migrations are never edited once
//! released.
//!
//! One SQL text serves both backends: only types and partial indexes both understand. Times
//! are `BIGINT` microseconds since the epoch (see [`crate::clock`]); ids are UUIDv7 as
//! `TEXT`, so they sort by creation and bind the same way on both backends; JSON (arguments,
//! result, errors) is `TEXT`.

use sea_orm_migration::prelude::*;

/// The migrations of the jobs tables, for `storage::Migrations::of::<Migrator>("jobs")`.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(M0001Jobs)]
    }

    fn migration_table_name() -> DynIden {
        storage::migration_table("jobs")
    }
}

struct M0001Jobs;

impl MigrationName for M0001Jobs {
    fn name(&self) -> &str {
        "m0001_jobs"
    }
}

const M0001: &[&str] = &[
    "CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        queue TEXT NOT NULL,
        worker TEXT NOT NULL,
        state TEXT NOT NULL,
        priority INTEGER NOT NULL,
        args TEXT NOT NULL,
        result TEXT,
        errors TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL,
        timeout_ms BIGINT,
        unique_hash TEXT,
        unique_states INTEGER NOT NULL,
        unique_key TEXT,
        inserted_at BIGINT NOT NULL,
        scheduled_at BIGINT NOT NULL,
        attempted_at BIGINT,
        finished_at BIGINT,
        attempted_by TEXT,
        lease_until BIGINT
    )",
    // The fetch: the next due jobs of one queue in priority order.
    "CREATE INDEX jobs_due ON jobs (queue, priority, scheduled_at, id)
        WHERE state IN ('scheduled', 'available', 'retryable')",
    // Rescue: executing jobs whose lease ran out.
    "CREATE INDEX jobs_leased ON jobs (lease_until) WHERE state = 'executing'",
    // Pruning: finished jobs by age.
    "CREATE INDEX jobs_finished ON jobs (finished_at)
        WHERE state IN ('completed', 'discarded', 'cancelled')",
    // Rate limits: attempts per queue in a sliding window.
    "CREATE INDEX jobs_attempted ON jobs (queue, attempted_at)",
    // Uniqueness: a job holds its key only while in one of its unique states.
    "CREATE UNIQUE INDEX jobs_unique ON jobs (unique_key) WHERE unique_key IS NOT NULL",
    // Named leases (the cron leader): one holder at a time, until it expires.
    "CREATE TABLE jobs_leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at BIGINT NOT NULL
    )",
    // Queues an operator paused; absent means running.
    "CREATE TABLE jobs_queues (
        queue TEXT PRIMARY KEY,
        paused INTEGER NOT NULL,
        updated_at BIGINT NOT NULL
    )",
];

#[async_trait::async_trait]
impl MigrationTrait for M0001Jobs {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for statement in M0001 {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }
}
