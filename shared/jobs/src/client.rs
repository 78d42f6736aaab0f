//! [`Jobs`]: the handle every service holds to enqueue, inspect, cancel and retry jobs and
//! to call job-backed functions over RPC. It needs no runner on the same node: it writes
//! rows and sends bus messages, and whichever node serves the queue does the rest.

use crate::clock::{DynClock, SystemClock};
use crate::error::JobsError;
use crate::job::{Enqueued, JobView, NewJob, Worker};
use crate::store::{self, ListFilter, QueueStats};
use bus::{BusError, DynBus, Message};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The subject prefix when none is chosen: `jobs.v1.wake.<queue>`, `jobs.v1.rpc.<queue>`,
/// `jobs.v1.cancel`.
pub const DEFAULT_SUBJECT_PREFIX: &str = "jobs.v1";

/// Enqueue, inspect, cancel, retry, call. Cheap to clone.
#[derive(Clone)]
pub struct Jobs {
    pub(crate) db: DatabaseConnection,
    pub(crate) bus: DynBus,
    pub(crate) clock: DynClock,
    prefix: Arc<str>,
}

/// An RPC request on the wire.
#[derive(Serialize, Deserialize)]
pub(crate) struct RpcRequest {
    pub worker: String,
    /// The arguments as JSON text, handed to the worker as a stored job's would be.
    pub args: String,
}

/// An RPC answer on the wire.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RpcReply {
    Ok(serde_json::Value),
    Failed(String),
    UnknownWorker(String),
}

impl Jobs {
    /// A handle on `db` (migrated with [`crate::migrations`]) and `bus`, on the system clock.
    pub fn new(db: DatabaseConnection, bus: DynBus) -> Self {
        Self {
            db,
            bus,
            clock: Arc::new(SystemClock),
            prefix: DEFAULT_SUBJECT_PREFIX.into(),
        }
    }

    /// The same handle on another clock (tests move a [`crate::ManualClock`]).
    #[must_use]
    pub fn with_clock(mut self, clock: DynClock) -> Self {
        self.clock = clock;
        self
    }

    /// The same handle with its subjects under `prefix` (several deployments, or tests,
    /// sharing one NATS).
    #[must_use]
    pub fn with_subject_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The database the jobs live in.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub(crate) fn wake_subject(&self, queue: &str) -> String {
        format!("{}.wake.{queue}", self.prefix)
    }

    pub(crate) fn rpc_subject(&self, queue: &str) -> String {
        format!("{}.rpc.{queue}", self.prefix)
    }

    pub(crate) fn cancel_subject(&self) -> String {
        format!("{}.cancel", self.prefix)
    }

    /// Enqueues one job and wakes a node serving its queue.
    pub async fn enqueue(&self, job: NewJob) -> Result<Enqueued, JobsError> {
        let mut enqueued = self.enqueue_all(vec![job]).await?;
        enqueued
            .pop()
            .ok_or_else(|| JobsError::invalid("enqueue", "no row came back"))
    }

    /// Enqueues many jobs in one statement and wakes their queues.
    pub async fn enqueue_all(&self, jobs: Vec<NewJob>) -> Result<Vec<Enqueued>, JobsError> {
        let enqueued = self.enqueue_all_in(&self.db, jobs).await?;
        self.wake(&enqueued).await;
        Ok(enqueued)
    }

    /// Enqueues one job inside the caller's transaction: it exists if and only if the
    /// transaction commits. Call [`Jobs::wake`] after the commit for instant pickup;
    /// without it the job starts at the next poll.
    pub async fn enqueue_in<C: ConnectionTrait>(
        &self,
        txn: &C,
        job: NewJob,
    ) -> Result<Enqueued, JobsError> {
        let mut enqueued = self.enqueue_all_in(txn, vec![job]).await?;
        enqueued
            .pop()
            .ok_or_else(|| JobsError::invalid("enqueue", "no row came back"))
    }

    /// Enqueues many jobs inside the caller's transaction (see [`Jobs::enqueue_in`]).
    pub async fn enqueue_all_in<C: ConnectionTrait>(
        &self,
        txn: &C,
        jobs: Vec<NewJob>,
    ) -> Result<Vec<Enqueued>, JobsError> {
        let now = self.clock.now();
        let rows = jobs
            .iter()
            .map(|job| job.row(now))
            .collect::<Result<Vec<_>, _>>()?;
        let enqueued = store::insert(txn, &rows).await?;
        for row in rows.iter().zip(&enqueued).filter(|(_, e)| !e.duplicate) {
            metrics::counter!("jobs_enqueued_total", "queue" => row.0.queue.clone()).increment(1);
        }
        Ok(enqueued)
    }

    /// Tells the nodes serving these jobs' queues to fetch now. Best effort: a lost wake
    /// costs one poll interval, never the job.
    pub async fn wake(&self, enqueued: &[Enqueued]) {
        let mut queues: Vec<&str> = enqueued
            .iter()
            .filter(|e| !e.duplicate)
            .map(|e| e.queue.as_str())
            .collect();
        queues.sort_unstable();
        queues.dedup();
        for queue in queues {
            self.wake_queue(queue).await;
        }
    }

    pub(crate) async fn wake_queue(&self, queue: &str) {
        if let Err(error) = self
            .bus
            .publish(Message::new(self.wake_subject(queue), Vec::new()))
            .await
        {
            tracing::debug!(%error, queue, "wake-up not sent; the poll will find the job");
        }
    }

    /// Cancels a job: one waiting never runs; one running is stopped on its node (told over
    /// the bus, or by its next heartbeat at the latest). False if it had already finished.
    pub async fn cancel(&self, id: &str) -> Result<bool, JobsError> {
        let cancelled = store::cancel(&self.db, id, self.clock.now())
            .await?
            .ok_or_else(|| JobsError::NotFound(id.to_owned()))?;
        if cancelled
            && let Err(error) = self
                .bus
                .publish(Message::new(self.cancel_subject(), id.as_bytes().to_vec()))
                .await
        {
            tracing::warn!(%error, job = id, "cancel not broadcast; the heartbeat will stop it");
        }
        Ok(cancelled)
    }

    /// Runs a finished or retryable job again now (with one more attempt if it had used
    /// them all). False if it is already waiting or running.
    pub async fn retry(&self, id: &str) -> Result<bool, JobsError> {
        let retried = store::retry(&self.db, id, self.clock.now())
            .await?
            .ok_or_else(|| JobsError::NotFound(id.to_owned()))?;
        if retried && let Some(job) = self.get(id).await? {
            self.wake_queue(&job.queue).await;
        }
        Ok(retried)
    }

    /// One job.
    pub async fn get(&self, id: &str) -> Result<Option<JobView>, JobsError> {
        Ok(store::get(&self.db, id).await?)
    }

    /// Jobs matching `filter`, newest first.
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<JobView>, JobsError> {
        Ok(store::list(&self.db, filter).await?)
    }

    /// Jobs per queue and state.
    pub async fn stats(&self) -> Result<Vec<QueueStats>, JobsError> {
        Ok(store::stats(&self.db).await?)
    }

    /// Stops every node from starting jobs of `queue` (running ones finish).
    pub async fn pause(&self, queue: &str) -> Result<(), JobsError> {
        crate::validate_queue(queue)?;
        Ok(store::set_paused(&self.db, queue, true, self.clock.now()).await?)
    }

    /// Lets nodes start jobs of `queue` again.
    pub async fn resume(&self, queue: &str) -> Result<(), JobsError> {
        crate::validate_queue(queue)?;
        store::set_paused(&self.db, queue, false, self.clock.now()).await?;
        self.wake_queue(queue).await;
        Ok(())
    }

    /// Runs worker `W` with `args` now on whichever node serves its queue and returns its
    /// result: supervised like a job (concurrency, timeout, panics caught), but not stored
    /// and not retried: the caller gets the error. A node that dies mid-call gives
    /// [`JobsError::Timeout`] after `timeout`.
    pub async fn call<W: Worker, R: DeserializeOwned>(
        &self,
        args: &W::Args,
        timeout: Duration,
    ) -> Result<R, JobsError> {
        let queue = W::options().queue;
        let request = RpcRequest {
            worker: W::NAME.to_owned(),
            args: serde_json::to_string(args)?,
        };
        let message = Message::json(self.rpc_subject(&queue), &request)?;
        let reply = match self.bus.request(message, timeout).await {
            Ok(reply) => reply,
            Err(BusError::NoResponders { .. }) => return Err(JobsError::NoNode(queue)),
            Err(BusError::Timeout(after)) => return Err(JobsError::Timeout(after)),
            Err(error) => return Err(error.into()),
        };
        match reply.decode::<RpcReply>()? {
            RpcReply::Ok(value) => Ok(serde_json::from_value(value)?),
            RpcReply::Failed(error) => Err(JobsError::Failed(error)),
            RpcReply::UnknownWorker(worker) => Err(JobsError::UnknownWorker(worker)),
        }
    }
}
