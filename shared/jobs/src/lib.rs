//! Durable jobs for every service: background work (hold expiry, scheduled publishing,
//! reconciliation, notifications) and job-backed RPC, on the platform's own database and
//! bus, with workers supervised as actors. Oban, River and Sidekiq are the references.
//!
//! - Jobs live in the `jobs` table ([`migrations`]), on SQLite (embedded) or Postgres.
//!   A job is enqueued with [`Jobs::enqueue`], or with [`Jobs::enqueue_in`] inside the
//!   caller's own transaction so it exists if and only if the business write commits.
//! - A [`Runner`] serves queues on a node: it claims due jobs (`FOR UPDATE SKIP LOCKED` on
//!   Postgres), runs each on a worker actor under its queue's supervisor, and records the
//!   outcome: completed, or retried with exponential backoff and jitter until discarded.
//!   Claimed jobs hold a lease renewed by heartbeat; a node that dies has its jobs rescued
//!   once the lease expires. Enqueueing wakes an idle node over the bus; polling remains
//!   the fallback.
//! - Uniqueness ([`Unique`]), cron ([`Cron`], fired by the node holding the leader lease),
//!   pruning, per-queue concurrency, global limits and rate limits ([`Queue`]).
//! - RPC: [`Jobs::call`] runs a worker now on whichever node serves its queue, over bus
//!   request/reply with a queue group.
//!
//! The state machine and the retry rules are pure ([`state`], [`cron`]); all SQL is in
//! `store`. This crate knows nothing of the services whose work it runs.
//!
//! Starting a runner from a service's `Module::start`:
//!
//! ```ignore
//! let jobs = jobs::Jobs::new(context.db.clone(), context.bus.clone());
//! let runner = jobs::Runner::builder(jobs.clone())
//!     .queue(jobs::Queue::new("wallet").concurrency(20))
//!     .worker(ExpireHolds { service: service.clone() })
//!     .cron(jobs::Cron::new("wallet.sweep", "* * * * *", jobs::NewJob::of::<Sweep>(&())?)?)
//!     .start()
//!     .await?;
//! let (task, stop) = runner.into_task();
//! context.supervise("wallet-jobs", task, Some(stop)).await?;
//! ```

pub mod admin;
mod client;
pub mod clock;
pub mod cron;
mod error;
mod job;
mod migration;
mod runner;
pub mod state;
mod store;

pub use admin::JobsModule;
pub use client::{DEFAULT_SUBJECT_PREFIX, Jobs};
pub use clock::{Clock, DynClock, ManualClock, SystemClock};
pub use error::{JobError, JobsError};
pub use job::{
    AttemptError, DEFAULT_QUEUE, Enqueued, Job, JobOptions, JobView, NewJob, Unique, Worker,
};
pub use migration::Migrator;
pub use runner::{Cron, Queue, Runner, RunnerBuilder, RunnerConfig};
pub use state::{Backoff, JobState};
pub use store::{ListFilter, QueueStats};

/// The jobs tables' migrations, for a module's `migrations()` or `storage::migrate`.
pub fn migrations() -> storage::Migrations {
    storage::Migrations::of::<Migrator>("jobs")
}

/// A queue name is one bus subject token: it names the queue's wake-up and RPC subjects.
pub(crate) fn validate_queue(queue: &str) -> Result<(), JobsError> {
    let ok = !queue.is_empty()
        && queue.len() <= 64
        && queue
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(JobsError::invalid(
            "queue",
            format!("{queue:?}: 1 to 64 of a-z, A-Z, 0-9, `_` and `-`"),
        ))
    }
}
