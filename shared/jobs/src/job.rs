//! What a service writes: a [`Worker`] (typed arguments in, a JSON result or a
//! [`JobError`] out), the [`NewJob`] it enqueues, and what it reads back ([`JobView`]).
//!
//! Knows nothing of how jobs are stored or run; [`crate::store`] and [`crate::runner`] do.

use crate::clock::{duration_micros, micros};
use crate::error::{JobError, JobsError};
use crate::state::{Backoff, JobState, state_mask};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The queue a job goes to when its worker names none.
pub const DEFAULT_QUEUE: &str = "default";

/// A kind of job: its name, its arguments and what running it does.
///
/// ```no_run
/// use jobs::{Job, JobError, Worker};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct ExpireHold { hold: uuid::Uuid }
///
/// struct ExpireHolds; // would hold e.g. the wallet service
///
/// impl Worker for ExpireHolds {
///     const NAME: &'static str = "wallet.expire_hold";
///     type Args = ExpireHold;
///
///     fn options() -> jobs::JobOptions {
///         jobs::JobOptions::default().queue("wallet").max_attempts(10)
///     }
///
///     async fn perform(&self, job: Job<ExpireHold>) -> Result<serde_json::Value, JobError> {
///         let _ = job.args.hold; // expire it
///         Ok(serde_json::Value::Null)
///     }
/// }
/// ```
pub trait Worker: Send + Sync + 'static {
    /// The stable name jobs are stored under (`<service>.<what>`): renaming it orphans
    /// the jobs already enqueued.
    const NAME: &'static str;

    /// The arguments, stored as JSON.
    type Args: Serialize + DeserializeOwned + Send + 'static;

    /// Defaults for this worker's jobs; a [`NewJob`] may override each.
    fn options() -> JobOptions {
        JobOptions::default()
    }

    /// The retry delays after failed attempts.
    fn backoff() -> Backoff {
        Backoff::default()
    }

    /// Runs one attempt. An `Err` (or a panic, or the timeout) fails the attempt; the job
    /// is retried with backoff until its attempts run out. A cancel or a lost lease drops
    /// the future at its next `.await`.
    fn perform(&self, job: Job<Self::Args>)
    -> impl Future<Output = Result<Value, JobError>> + Send;
}

/// One attempt of a job, as its worker sees it.
#[derive(Debug, Clone)]
pub struct Job<A> {
    /// The job id (a UUIDv7); empty for an RPC call, which has no row.
    pub id: String,
    pub args: A,
    /// 1 on the first attempt.
    pub attempt: u32,
    pub max_attempts: u32,
    pub queue: String,
    /// When the job was due; for an RPC call, when the call arrived.
    pub scheduled_at: DateTime<Utc>,
}

/// Per-job settings, with a worker's defaults from [`Worker::options`].
#[derive(Clone, Debug, PartialEq)]
pub struct JobOptions {
    pub queue: String,
    /// Lower runs first; 0 is the default.
    pub priority: i32,
    pub max_attempts: u32,
    /// How long one attempt may run before it is stopped and counted as failed; `None`
    /// uses the queue's timeout.
    pub timeout: Option<Duration>,
    pub unique: Option<Unique>,
}

impl Default for JobOptions {
    fn default() -> Self {
        Self {
            queue: DEFAULT_QUEUE.to_owned(),
            priority: 0,
            max_attempts: 20,
            timeout: None,
            unique: None,
        }
    }
}

impl JobOptions {
    #[must_use]
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = queue.into();
        self
    }

    #[must_use]
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    #[must_use]
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    #[must_use]
    pub fn unique(mut self, unique: Unique) -> Self {
        self.unique = Some(unique);
        self
    }
}

/// At most one job per key: the worker and queue, the arguments unless
/// [`Unique::ignoring_args`], and the period the insert falls in, among jobs in the
/// unique states. Enqueueing a duplicate returns the existing job instead.
///
/// The unique states always include every unfinished state (scheduled, available,
/// executing, retryable): a job cannot lose its key while it may still run, so moving
/// between those states can never collide. By default `completed` is included too, as in
/// Oban: a job that ran is not enqueued again within its period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unique {
    by_args: bool,
    period: Option<Duration>,
    states: Vec<JobState>,
}

impl Default for Unique {
    fn default() -> Self {
        Self {
            by_args: true,
            period: None,
            states: vec![
                JobState::Scheduled,
                JobState::Available,
                JobState::Executing,
                JobState::Retryable,
                JobState::Completed,
            ],
        }
    }
}

impl Unique {
    /// Unique by worker, queue and arguments, forever, while unfinished or completed.
    pub fn by_args() -> Self {
        Self::default()
    }

    /// Unique by worker and queue alone.
    #[must_use]
    pub fn ignoring_args(mut self) -> Self {
        self.by_args = false;
        self
    }

    /// Unique within fixed windows of `period` (the insert time, truncated), as River's
    /// `ByPeriod`: a duplicate is refused within the same window, accepted in the next.
    #[must_use]
    pub fn period(mut self, period: Duration) -> Self {
        self.period = Some(period);
        self
    }

    /// The finished states that also hold the key (`completed`, `discarded`,
    /// `cancelled`); the unfinished ones always do.
    #[must_use]
    pub fn including_finished(mut self, finished: &[JobState]) -> Self {
        self.states.retain(|state| !state.is_finished());
        self.states
            .extend(finished.iter().copied().filter(|state| state.is_finished()));
        self
    }

    fn key(&self, worker: &str, queue: &str, args: &str, now: DateTime<Utc>) -> String {
        let mut hash = sha2::Sha256::new();
        for part in [worker, queue] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        if self.by_args {
            hash.update(args.as_bytes());
        }
        hash.update([0]);
        if let Some(period) = self.period {
            let period = duration_micros(period).max(1);
            hash.update((micros(now).div_euclid(period)).to_be_bytes());
        }
        hash.finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

/// A job to enqueue.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub(crate) id: uuid::Uuid,
    pub(crate) worker: String,
    pub(crate) args: String,
    pub(crate) options: JobOptions,
    pub(crate) at: Option<DateTime<Utc>>,
    pub(crate) after: Option<Duration>,
}

impl NewJob {
    /// A job for worker `W` with `args` and `W`'s options.
    pub fn of<W: Worker>(args: &W::Args) -> Result<Self, JobsError> {
        Ok(Self {
            id: uuid::Uuid::now_v7(),
            worker: W::NAME.to_owned(),
            args: serde_json::to_string(args)?,
            options: W::options(),
            at: None,
            after: None,
        })
    }

    /// The id the job will have (chosen now, so a caller can record it with its own write).
    pub fn id(&self) -> String {
        self.id.to_string()
    }

    /// Runs no earlier than `at`.
    #[must_use]
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = Some(at);
        self.after = None;
        self
    }

    /// Runs no earlier than `after` from the moment it is enqueued.
    #[must_use]
    pub fn after(mut self, after: Duration) -> Self {
        self.after = Some(after);
        self.at = None;
        self
    }

    /// Replaces the options (start from `self.options().clone()` to change one).
    #[must_use]
    pub fn with(mut self, options: JobOptions) -> Self {
        self.options = options;
        self
    }

    /// The options it will be enqueued with.
    pub fn options(&self) -> &JobOptions {
        &self.options
    }

    /// The row to insert, as of `now`.
    pub(crate) fn row(&self, now: DateTime<Utc>) -> Result<Row, JobsError> {
        crate::validate_queue(&self.options.queue)?;
        if self.options.max_attempts == 0 {
            return Err(JobsError::invalid("max_attempts", "must be at least 1"));
        }
        let scheduled_at = match (self.at, self.after) {
            (Some(at), _) => at,
            (None, Some(after)) => {
                now + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX)
            }
            (None, None) => now,
        };
        let state = if scheduled_at > now {
            JobState::Scheduled
        } else {
            JobState::Available
        };
        let (unique_hash, unique_states) = match &self.options.unique {
            Some(unique) => (
                Some(unique.key(&self.worker, &self.options.queue, &self.args, now)),
                state_mask(&unique.states),
            ),
            None => (None, 0),
        };
        Ok(Row {
            id: self.id.to_string(),
            queue: self.options.queue.clone(),
            worker: self.worker.clone(),
            state,
            priority: self.options.priority,
            args: self.args.clone(),
            max_attempts: i64::from(self.options.max_attempts),
            timeout_ms: self
                .options
                .timeout
                .map(|t| i64::try_from(t.as_millis()).unwrap_or(i64::MAX)),
            unique_key: unique_hash.clone(),
            unique_hash,
            unique_states,
            inserted_at: micros(now),
            scheduled_at: micros(scheduled_at),
        })
    }
}

/// A job as inserted.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Row {
    pub id: String,
    pub queue: String,
    pub worker: String,
    pub state: JobState,
    pub priority: i32,
    pub args: String,
    pub max_attempts: i64,
    pub timeout_ms: Option<i64>,
    pub unique_hash: Option<String>,
    pub unique_states: i32,
    pub unique_key: Option<String>,
    pub inserted_at: i64,
    pub scheduled_at: i64,
}

/// The outcome of enqueueing one job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Enqueued {
    /// The new job's id, or, for a duplicate, the id of the job that holds the key.
    pub id: String,
    pub queue: String,
    /// True when a unique job already existed and nothing was inserted.
    pub duplicate: bool,
}

/// The error of one failed attempt, as recorded on the job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttemptError {
    pub attempt: u32,
    pub at: DateTime<Utc>,
    pub error: String,
}

/// A job as stored.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct JobView {
    pub id: String,
    pub queue: String,
    pub worker: String,
    pub state: JobState,
    pub priority: i32,
    pub args: Value,
    pub result: Option<Value>,
    pub errors: Vec<AttemptError>,
    pub attempt: u32,
    pub max_attempts: u32,
    pub timeout_ms: Option<i64>,
    pub inserted_at: DateTime<Utc>,
    pub scheduled_at: DateTime<Utc>,
    pub attempted_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The node that ran (or runs) the last attempt.
    pub attempted_by: Option<String>,
}

/// A job handed to a worker: its row's arguments still as JSON.
#[derive(Clone, Debug)]
pub(crate) struct RawJob {
    pub id: String,
    pub worker: String,
    pub args: String,
    pub attempt: u32,
    pub max_attempts: u32,
    pub queue: String,
    pub scheduled_at: DateTime<Utc>,
    pub timeout: Option<Duration>,
}

/// A worker with its argument type erased, as the runner holds it.
pub(crate) trait ErasedWorker: Send + Sync + 'static {
    fn perform(&self, job: RawJob) -> BoxFuture<'static, Result<Value, JobError>>;
    fn backoff(&self) -> Backoff;
}

pub(crate) struct Erased<W>(pub Arc<W>);

impl<W: Worker> ErasedWorker for Erased<W> {
    fn perform(&self, job: RawJob) -> BoxFuture<'static, Result<Value, JobError>> {
        let worker = Arc::clone(&self.0);
        Box::pin(async move {
            // Arguments that do not parse never will: discard rather than retry.
            let args = serde_json::from_str(&job.args)
                .map_err(|error| JobError::discard(format!("arguments: {error}")))?;
            worker
                .perform(Job {
                    id: job.id,
                    args,
                    attempt: job.attempt,
                    max_attempts: job.max_attempts,
                    queue: job.queue,
                    scheduled_at: job.scheduled_at,
                })
                .await
        })
    }

    fn backoff(&self) -> Backoff {
        W::backoff()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    #[test]
    fn unique_keys_follow_their_dimensions() {
        let unique = Unique::by_args();
        let key = |u: &Unique, args: &str, now| u.key("w", "q", args, now);
        assert_eq!(key(&unique, "{}", at(0)), key(&unique, "{}", at(99_999)));
        assert_ne!(
            key(&unique, "{\"a\":1}", at(0)),
            key(&unique, "{\"a\":2}", at(0))
        );
        let any_args = Unique::by_args().ignoring_args();
        assert_eq!(
            key(&any_args, "{\"a\":1}", at(0)),
            key(&any_args, "{\"a\":2}", at(0))
        );
        let minute = Unique::by_args().period(Duration::from_secs(60));
        assert_eq!(key(&minute, "{}", at(60)), key(&minute, "{}", at(119)));
        assert_ne!(key(&minute, "{}", at(119)), key(&minute, "{}", at(120)));
        assert_ne!(
            unique.key("w", "q", "{}", at(0)),
            unique.key("w", "other", "{}", at(0))
        );
    }

    #[test]
    fn unique_states_always_cover_unfinished_jobs() {
        let unique =
            Unique::by_args().including_finished(&[JobState::Cancelled, JobState::Available]);
        assert_eq!(
            unique.states,
            [
                JobState::Scheduled,
                JobState::Available,
                JobState::Executing,
                JobState::Retryable,
                JobState::Cancelled
            ]
        );
    }
}
