//! The node runner: it serves a set of queues on this node, runs their jobs on worker
//! actors, and does the node's share of the cluster's upkeep.
//!
//! ```text
//!  fetcher (per queue) ──claims──▶ queue supervisor (actor) ──▶ worker actors (one per slot)
//!     ▲ wake-up (bus), poll              restarts crashed workers       │ outcome
//!  RPC listener (per queue, queue group) ─────┘ with backoff             ▼
//!                                                               completer (batched writes)
//!  heartbeat: renews leases of running jobs; stops jobs it no longer holds
//!  upkeep: rescues expired leases; the leader (a lease in the database) fires cron
//!          schedules, prunes finished jobs and publishes queue gauges
//! ```
//!
//! A queue's free slots are a semaphore: the fetcher claims only as many jobs as it holds
//! permits for, and an RPC call takes a permit like a job, so `concurrency` bounds both.
//!
//! The actor tree is deliberately not linked under the node's root supervisor: shutdown
//! must drain running jobs before their actors stop, so the runner's own task (which the
//! node supervises, see [`Runner::into_task`]) stops them in order.

mod completer;
mod execute;
mod upkeep;

use crate::client::Jobs;
use crate::cron::Schedule;
use crate::error::JobsError;
use crate::job::{Erased, ErasedWorker, NewJob, Worker};
use crate::store::ClaimLimits;
use actors::ractor::{Actor, ActorRef};
use completer::Completer;
use execute::{Assignment, Exec, QueueMsg, QueueSupervisor};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::{AbortHandle, JoinHandle};

/// One queue as this node serves it.
#[derive(Clone, Debug)]
pub struct Queue {
    name: String,
    concurrency: usize,
    global_limit: Option<u32>,
    rate_limit: Option<(u32, Duration)>,
    timeout: Option<Duration>,
}

impl Queue {
    /// `name`, running up to 10 jobs at once on this node.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            concurrency: 10,
            global_limit: None,
            rate_limit: None,
            timeout: None,
        }
    }

    /// How many jobs (and RPC calls) of this queue run at once on this node.
    #[must_use]
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// How many run at once across all nodes.
    #[must_use]
    pub fn global_limit(mut self, limit: u32) -> Self {
        self.global_limit = Some(limit);
        self
    }

    /// At most `allowed` attempts start per `window`, across all nodes (a sliding window).
    #[must_use]
    pub fn rate_limit(mut self, allowed: u32, window: Duration) -> Self {
        self.rate_limit = Some((allowed, window));
        self
    }

    /// The timeout of an attempt whose job sets none (default: the runner's).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// Timings of a runner. The defaults suit production; tests shorten them.
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// How often a queue looks for due jobs when no wake-up came (scheduled jobs, retries,
    /// lost wake-ups).
    pub poll_interval: Duration,
    /// How long a claim holds a job without a heartbeat: a node killed mid-job has its
    /// jobs rescued this long after its last heartbeat.
    pub lease: Duration,
    /// How often the leases of running jobs are renewed (well under `lease`).
    pub heartbeat: Duration,
    /// How often the node looks for expired leases, and the leader does its upkeep.
    pub upkeep_interval: Duration,
    /// The timeout of an attempt when neither the job nor its queue sets one.
    pub default_timeout: Duration,
    /// Finished jobs are deleted this long after they finished.
    pub prune_after: Duration,
    /// How long shutdown waits for running jobs before it stops them and gives them back.
    pub shutdown_grace: Duration,
    /// How far back a new cron leader fires schedules the previous one may have missed.
    pub cron_lookback: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(5),
            upkeep_interval: Duration::from_secs(1),
            default_timeout: Duration::from_secs(300),
            prune_after: Duration::from_secs(7 * 24 * 3600),
            // Under the node's 5 s grace for a supervised loop, so the drain finishes.
            shutdown_grace: Duration::from_secs(3),
            cron_lookback: Duration::from_secs(120),
        }
    }
}

/// A cron schedule: `job` is enqueued at every fire time, by exactly one node.
#[derive(Clone, Debug)]
pub struct Cron {
    pub(crate) name: String,
    pub(crate) schedule: Schedule,
    pub(crate) job: NewJob,
}

impl Cron {
    /// Enqueue `job` at every fire of `expression` (five fields, UTC), under a stable
    /// `name` that identifies the schedule across nodes and restarts.
    pub fn new(name: impl Into<String>, expression: &str, job: NewJob) -> Result<Self, JobsError> {
        Ok(Self {
            name: name.into(),
            schedule: Schedule::parse(expression)
                .map_err(|e| JobsError::invalid("cron", e.to_string()))?,
            job,
        })
    }
}

/// Why a running job is being stopped on this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopReason {
    Cancelled,
    LeaseLost,
    Shutdown,
}

/// A durable job this node holds a lease on, from claim to recorded outcome.
pub(crate) struct Running {
    pub attempt: u32,
    pub abort: Option<AbortHandle>,
    pub stop: Option<StopReason>,
}

/// What every part of a running node shares.
pub(crate) struct Node {
    pub jobs: Jobs,
    pub id: String,
    pub config: RunnerConfig,
    pub workers: HashMap<String, Arc<dyn ErasedWorker>>,
    running: Mutex<HashMap<String, Running>>,
}

impl Node {
    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn track(&self, id: &str, attempt: u32) {
        let previous = self.running().insert(
            id.to_owned(),
            Running {
                attempt,
                abort: None,
                stop: None,
            },
        );
        // Claimed again here after its lease lapsed: the older attempt is not ours any more.
        if let Some(Running {
            abort: Some(abort), ..
        }) = previous
        {
            abort.abort();
        }
    }

    /// Registers the task of a tracked attempt; returns the stop already asked for, if any.
    pub(crate) fn started(&self, id: &str, attempt: u32, abort: AbortHandle) -> Option<StopReason> {
        let mut running = self.running();
        match running.get_mut(id) {
            Some(entry) if entry.attempt == attempt => {
                entry.abort = Some(abort);
                entry.stop
            }
            _ => Some(StopReason::LeaseLost),
        }
    }

    /// Why a tracked attempt was stopped, if it was.
    pub(crate) fn stop_reason(&self, id: &str, attempt: u32) -> Option<StopReason> {
        self.running()
            .get(id)
            .filter(|entry| entry.attempt == attempt)
            .and_then(|entry| entry.stop)
    }

    pub(crate) fn untrack(&self, id: &str, attempt: u32) {
        let mut running = self.running();
        if running
            .get(id)
            .is_some_and(|entry| entry.attempt == attempt)
        {
            running.remove(id);
        }
    }

    /// Stops a running attempt of `id` (whatever its attempt) for `reason`.
    pub(crate) fn stop(&self, id: &str, reason: StopReason) -> bool {
        let mut running = self.running();
        let Some(entry) = running.get_mut(id) else {
            return false;
        };
        entry.stop.get_or_insert(reason);
        if let Some(abort) = &entry.abort {
            abort.abort();
        }
        true
    }

    pub(crate) fn running_ids(&self) -> Vec<String> {
        self.running().keys().cloned().collect()
    }

    pub(crate) fn running_attempts(&self) -> Vec<(String, u32)> {
        self.running()
            .iter()
            .map(|(id, entry)| (id.clone(), entry.attempt))
            .collect()
    }

    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.jobs.clock.now()
    }

    pub(crate) fn after(&self, duration: Duration) -> chrono::DateTime<chrono::Utc> {
        self.now() + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
    }
}

/// Builds a [`Runner`].
pub struct RunnerBuilder {
    jobs: Jobs,
    config: RunnerConfig,
    queues: Vec<Queue>,
    workers: HashMap<String, Arc<dyn ErasedWorker>>,
    crons: Vec<Cron>,
    node_id: Option<String>,
}

impl RunnerBuilder {
    /// Serves `queue` on this node.
    #[must_use]
    pub fn queue(mut self, queue: Queue) -> Self {
        self.queues.push(queue);
        self
    }

    /// Runs `W`'s jobs here (in whichever served queue they are enqueued).
    #[must_use]
    pub fn worker<W: Worker>(mut self, worker: W) -> Self {
        self.workers
            .insert(W::NAME.to_owned(), Arc::new(Erased(Arc::new(worker))));
        self
    }

    /// Adds a cron schedule (fired by whichever node leads; give every node the same set).
    #[must_use]
    pub fn cron(mut self, cron: Cron) -> Self {
        self.crons.push(cron);
        self
    }

    /// Replaces the timings.
    #[must_use]
    pub fn config(mut self, config: RunnerConfig) -> Self {
        self.config = config;
        self
    }

    /// Names this node (default: a fresh UUID); it is recorded on the jobs it runs.
    #[must_use]
    pub fn node_id(mut self, id: impl Into<String>) -> Self {
        self.node_id = Some(id.into());
        self
    }

    /// Starts serving: spawns the actors, subscribes to wake-ups, RPC calls and cancels,
    /// and starts fetching.
    pub async fn start(self) -> Result<Runner, JobsError> {
        let mut names = std::collections::HashSet::new();
        for queue in &self.queues {
            crate::validate_queue(&queue.name)?;
            if !names.insert(queue.name.clone()) {
                return Err(JobsError::invalid(
                    "queue",
                    format!("{:?} configured twice", queue.name),
                ));
            }
        }
        let node = Arc::new(Node {
            jobs: self.jobs,
            id: self
                .node_id
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            config: self.config,
            workers: self.workers,
            running: Mutex::default(),
        });
        if node.config.heartbeat >= node.config.lease {
            return Err(JobsError::invalid(
                "runner config",
                "the heartbeat must be shorter than the lease",
            ));
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        // Leases must stay renewed while running jobs drain: the heartbeat stops last.
        let (stop_background, background_rx) = watch::channel(false);
        let completer = Completer::spawn(Arc::clone(&node));
        let mut tasks = Vec::new();
        let mut served = Vec::new();
        for queue in self.queues {
            let permits = Arc::new(Semaphore::new(queue.concurrency));
            let (actor, _) = Actor::spawn(
                Some(format!("jobs-{}-{}", queue.name, node.id)),
                QueueSupervisor,
                (Arc::clone(&node), queue.clone(), completer.sender()),
            )
            .await
            .map_err(|e| JobsError::Actor(e.to_string()))?;
            let wake = Arc::new(Notify::new());
            // Subscribed before the first fetch, so no wake-up falls between the two.
            let wakes = node
                .jobs
                .bus
                .subscribe(&node.jobs.wake_subject(&queue.name))
                .await?;
            tasks.push(tokio::spawn(forward_wakes(
                wakes,
                Arc::clone(&wake),
                stop_rx.clone(),
            )));
            let calls = node
                .jobs
                .bus
                .queue_subscribe(
                    &node.jobs.rpc_subject(&queue.name),
                    &format!("jobs-rpc-{}", queue.name),
                )
                .await?;
            tasks.push(tokio::spawn(serve_calls(
                Arc::clone(&node),
                calls,
                actor.clone(),
                Arc::clone(&permits),
                stop_rx.clone(),
            )));
            tasks.push(tokio::spawn(fetch(
                Arc::clone(&node),
                queue.clone(),
                actor.clone(),
                Arc::clone(&permits),
                wake,
                stop_rx.clone(),
            )));
            served.push(Served {
                queue,
                actor,
                permits,
            });
        }
        let cancels = node.jobs.bus.subscribe(&node.jobs.cancel_subject()).await?;
        tasks.push(tokio::spawn(upkeep::listen_cancels(
            Arc::clone(&node),
            cancels,
            stop_rx.clone(),
        )));
        let background = vec![
            tokio::spawn(upkeep::heartbeat(Arc::clone(&node), background_rx.clone())),
            tokio::spawn(upkeep::upkeep(Arc::clone(&node), self.crons, background_rx)),
        ];
        tracing::info!(node = %node.id, queues = served.len(), "job runner started");
        Ok(Runner {
            node,
            served,
            tasks,
            background,
            completer,
            stop: stop_tx,
            stop_background,
        })
    }
}

struct Served {
    queue: Queue,
    actor: ActorRef<QueueMsg>,
    permits: Arc<Semaphore>,
}

/// A running node: its queues, workers and upkeep. Stop it with [`Runner::shutdown`], or
/// hand it to the node's supervision with [`Runner::into_task`].
pub struct Runner {
    node: Arc<Node>,
    served: Vec<Served>,
    /// Fetchers and listeners: stopped first.
    tasks: Vec<JoinHandle<()>>,
    /// Heartbeat and upkeep: stopped last, so leases stay renewed while draining.
    background: Vec<JoinHandle<()>>,
    completer: Completer,
    stop: watch::Sender<bool>,
    stop_background: watch::Sender<bool>,
}

impl Runner {
    /// A runner for `jobs`' database and bus.
    pub fn builder(jobs: Jobs) -> RunnerBuilder {
        RunnerBuilder {
            jobs,
            config: RunnerConfig::default(),
            queues: Vec::new(),
            workers: HashMap::new(),
            crons: Vec::new(),
            node_id: None,
        }
    }

    /// This node's id, as recorded in `attempted_by`.
    pub fn node_id(&self) -> &str {
        &self.node.id
    }

    /// How many durable jobs this node holds right now.
    pub fn running(&self) -> usize {
        self.node.running_ids().len()
    }

    /// Stops taking work, lets running jobs finish for the grace period, stops the rest and
    /// gives them back to their queues (the attempt does not count), then stops.
    pub async fn shutdown(self) {
        let Runner {
            node,
            served,
            tasks,
            background,
            completer,
            stop,
            stop_background,
        } = self;
        let _ = stop.send(true);
        for task in tasks {
            let _ = task.await;
        }
        let deadline = tokio::time::Instant::now() + node.config.shutdown_grace;
        for queue in &served {
            let all = u32::try_from(queue.queue.concurrency).unwrap_or(u32::MAX);
            let _ = tokio::time::timeout_at(deadline, queue.permits.acquire_many(all)).await;
        }
        let left = node.running_ids();
        if !left.is_empty() {
            tracing::info!(node = %node.id, jobs = left.len(), "stopping jobs that outlived the grace period");
            for id in &left {
                node.stop(id, StopReason::Shutdown);
            }
            // Stopped jobs hand their slot back once their outcome is with the completer.
            for queue in &served {
                let all = u32::try_from(queue.queue.concurrency).unwrap_or(u32::MAX);
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), queue.permits.acquire_many(all))
                        .await;
            }
        }
        completer.close().await;
        for queue in served {
            let _ = queue
                .actor
                .stop_and_wait(None, Some(Duration::from_secs(1)))
                .await;
        }
        let _ = stop_background.send(true);
        for task in background {
            let _ = task.await;
        }
        tracing::info!(node = %node.id, "job runner stopped");
    }

    /// The runner as a task that shuts down when the returned `Notify` fires: what
    /// `runtime::Context::supervise` takes.
    pub fn into_task(self) -> (JoinHandle<()>, Arc<Notify>) {
        let stop = Arc::new(Notify::new());
        let signal = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            signal.notified().await;
            self.shutdown().await;
        });
        (task, stop)
    }

    /// Stops everything at once, as a killed process would: no drain, no outcome written,
    /// leases left to expire. For tests of rescue.
    pub fn abort(self) {
        let _ = self.stop.send(true);
        let _ = self.stop_background.send(true);
        for task in self.tasks.iter().chain(&self.background) {
            task.abort();
        }
        for id in self.node.running_ids() {
            self.node.stop(&id, StopReason::LeaseLost);
        }
        self.completer.abort();
        for queue in &self.served {
            queue.actor.kill();
        }
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the runner is gone: stop as well.
    let _ = stop.wait_for(|stopped| *stopped).await;
}

async fn forward_wakes(
    mut wakes: bus::Subscription,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = stopped(&mut stop) => return,
            message = wakes.next() => match message {
                Some(_) => wake.notify_one(),
                None => return,
            },
        }
    }
}

/// How long a fetcher with a backlog waits for more free slots before claiming.
const CLAIM_GATHER: Duration = Duration::from_millis(2);

/// Claims due jobs of one queue whenever it has free slots and there may be work: at once
/// after a full claim, on a wake-up, or every poll interval.
async fn fetch(
    node: Arc<Node>,
    queue: Queue,
    actor: ActorRef<QueueMsg>,
    permits: Arc<Semaphore>,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let limits = ClaimLimits {
        global: queue.global_limit,
        rate: queue.rate_limit,
    };
    let mut more = true;
    let mut failures = 0u32;
    loop {
        if !more {
            tokio::select! {
                () = stopped(&mut stop) => return,
                () = wake.notified() => {}
                () = tokio::time::sleep(node.config.poll_interval) => {}
            }
        }
        let first = tokio::select! {
            () = stopped(&mut stop) => return,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let mut held = vec![first];
        if more {
            // A backlog: slots free one by one as jobs finish, and a claim per slot would
            // make the database round trip the limit. Gather slots for a moment, up to
            // half the queue, so that one claim fetches many jobs.
            let gathered = tokio::time::Instant::now() + CLAIM_GATHER;
            while held.len() < queue.concurrency.div_ceil(2) {
                let next = Arc::clone(&permits).acquire_owned();
                match tokio::time::timeout_at(gathered, next).await {
                    Ok(Ok(permit)) => held.push(permit),
                    _ => break,
                }
            }
        }
        while let Ok(permit) = Arc::clone(&permits).try_acquire_owned() {
            held.push(permit);
        }
        let want = u32::try_from(held.len()).unwrap_or(u32::MAX);
        let claimed = crate::store::claim(
            &node.jobs.db,
            &queue.name,
            want,
            limits,
            &node.id,
            node.now(),
            node.after(node.config.lease),
        )
        .await;
        match claimed {
            Ok(jobs) => {
                failures = 0;
                // A full claim means more may be due; a limited queue waits for its window.
                more = jobs.len() == held.len() && limits.rate.is_none();
                for mut job in jobs {
                    let Some(permit) = held.pop() else { break };
                    node.track(&job.id, job.attempt);
                    if job.timeout.is_none() {
                        job.timeout = queue.timeout;
                    }
                    let assignment = Assignment {
                        exec: Exec::Durable(job),
                        permit,
                    };
                    if let Err(error) = actor.cast(QueueMsg::Run(assignment)) {
                        // The queue's actors are gone: leave the job to lease expiry.
                        tracing::error!(%error, queue = %queue.name, "queue supervisor unreachable");
                        return;
                    }
                }
            }
            Err(error) => {
                failures += 1;
                more = false;
                tracing::warn!(%error, queue = %queue.name, "fetch failed");
                let pause = node.config.poll_interval * failures.min(10);
                tokio::select! {
                    () = stopped(&mut stop) => return,
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

/// Answers RPC calls for one queue (a queue group: each call reaches one node).
async fn serve_calls(
    node: Arc<Node>,
    mut calls: bus::Subscription,
    actor: ActorRef<QueueMsg>,
    permits: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let message = tokio::select! {
            () = stopped(&mut stop) => return,
            message = calls.next() => match message {
                Some(message) => message,
                None => return,
            },
        };
        let permit = tokio::select! {
            () = stopped(&mut stop) => return,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let assignment = Assignment {
            exec: Exec::Call {
                request: message,
                received: node.now(),
            },
            permit,
        };
        if actor.cast(QueueMsg::Run(assignment)).is_err() {
            return;
        }
    }
}
