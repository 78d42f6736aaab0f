//! The actors that run jobs: one supervisor per queue, with one worker actor per slot of
//! the queue's concurrency.
//!
//! The supervisor hands each claimed job (or RPC call) to an idle worker and keeps the
//! rest in order until one frees up. A worker runs one attempt at a time: the worker's
//! `perform` runs in a task of its own, so a panic is caught as the attempt's error, the
//! timeout and a cancel can abort it at its next `.await`, and the actor itself survives.
//! The worker awaits that task inside its handler on purpose: it has nothing else to do
//! meanwhile, and cancels reach the task through its abort handle, not the mailbox.
//!
//! Restart policy: a worker actor that fails (a bug here, never a job's failure) is
//! restarted with the `actors` crate's backoff; the job it held is left to its lease,
//! which expires and gets it rescued. Too many failures in a window stop the queue's
//! supervisor, and the queue with it, loudly.

use super::completer::{CompleterTx, Finished, Outcome};
use super::{Node, Queue, StopReason};
use crate::client::{RpcReply, RpcRequest};
use crate::error::JobError;
use crate::job::RawJob;
use actors::ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use actors::{Decision, RestartPolicy, RestartTracker};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

/// Work for one slot.
pub(crate) enum Exec {
    /// A claimed job, leased to this node.
    Durable(RawJob),
    /// An RPC call: run now and answer the caller; nothing is stored.
    Call {
        request: bus::Message,
        received: DateTime<Utc>,
    },
}

/// Work together with the slot it occupies; the slot frees when this is dropped.
pub(crate) struct Assignment {
    pub exec: Exec,
    pub permit: OwnedSemaphorePermit,
}

pub(crate) enum QueueMsg {
    Run(Assignment),
    Idle(ActorRef<Assignment>),
    /// A crashed worker's backoff has elapsed.
    Respawn,
}

pub(crate) struct QueueSupervisor;

pub(crate) struct QueueState {
    node: Arc<Node>,
    queue: Queue,
    completer: CompleterTx,
    idle: Vec<ActorRef<Assignment>>,
    pending: VecDeque<Assignment>,
    /// The durable attempt each busy worker holds, to let go of it if the worker dies.
    busy: HashMap<ActorId, Option<(String, u32)>>,
    restarts: RestartTracker,
}

impl QueueState {
    async fn spawn_worker(
        &mut self,
        myself: &ActorRef<QueueMsg>,
    ) -> Result<(), ActorProcessingErr> {
        let (worker, _) = Actor::spawn_linked(
            None,
            WorkerActor,
            (
                Arc::clone(&self.node),
                self.queue.clone(),
                self.completer.clone(),
                myself.clone(),
            ),
            myself.get_cell(),
        )
        .await?;
        self.idle.push(worker);
        Ok(())
    }

    fn dispatch(&mut self) -> Result<(), ActorProcessingErr> {
        while !self.pending.is_empty() {
            let Some(worker) = self.idle.pop() else { break };
            let Some(assignment) = self.pending.pop_front() else {
                break;
            };
            let held = match &assignment.exec {
                Exec::Durable(job) => Some((job.id.clone(), job.attempt)),
                Exec::Call { .. } => None,
            };
            self.busy.insert(worker.get_id(), held);
            worker.cast(assignment)?;
        }
        Ok(())
    }
}

impl Actor for QueueSupervisor {
    type Msg = QueueMsg;
    type State = QueueState;
    type Arguments = (Arc<Node>, Queue, CompleterTx);

    async fn pre_start(
        &self,
        myself: ActorRef<QueueMsg>,
        (node, queue, completer): Self::Arguments,
    ) -> Result<QueueState, ActorProcessingErr> {
        let mut state = QueueState {
            node,
            completer,
            idle: Vec::with_capacity(queue.concurrency),
            pending: VecDeque::new(),
            busy: HashMap::new(),
            restarts: RestartTracker::new(RestartPolicy::default()),
            queue,
        };
        for _ in 0..state.queue.concurrency {
            state.spawn_worker(&myself).await?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<QueueMsg>,
        message: QueueMsg,
        state: &mut QueueState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            QueueMsg::Run(assignment) => state.pending.push_back(assignment),
            QueueMsg::Idle(worker) => {
                state.busy.remove(&worker.get_id());
                state.idle.push(worker);
            }
            QueueMsg::Respawn => state.spawn_worker(&myself).await?,
        }
        state.dispatch()
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<QueueMsg>,
        event: SupervisionEvent,
        state: &mut QueueState,
    ) -> Result<(), ActorProcessingErr> {
        let (child, error) = match event {
            SupervisionEvent::ActorFailed(child, error) => (child, error.to_string()),
            // Workers stop only with the queue; other events carry no decision.
            _ => return Ok(()),
        };
        state
            .idle
            .retain(|worker| worker.get_id() != child.get_id());
        if let Some(Some((id, attempt))) = state.busy.remove(&child.get_id()) {
            state.node.untrack(&id, attempt);
        }
        tracing::error!(queue = %state.queue.name, %error, "job worker actor failed");
        match state.restarts.record_failure(Instant::now()) {
            Decision::Restart { after } => {
                myself.send_after(after, || QueueMsg::Respawn);
                Ok(())
            }
            Decision::Escalate => {
                Err(format!("queue {} workers keep failing: {error}", state.queue.name).into())
            }
        }
    }
}

struct WorkerActor;

struct WorkerState {
    node: Arc<Node>,
    queue: Queue,
    completer: CompleterTx,
    supervisor: ActorRef<QueueMsg>,
}

impl Actor for WorkerActor {
    type Msg = Assignment;
    type State = WorkerState;
    type Arguments = (Arc<Node>, Queue, CompleterTx, ActorRef<QueueMsg>);

    async fn pre_start(
        &self,
        _myself: ActorRef<Assignment>,
        (node, queue, completer, supervisor): Self::Arguments,
    ) -> Result<WorkerState, ActorProcessingErr> {
        Ok(WorkerState {
            node,
            queue,
            completer,
            supervisor,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Assignment>,
        assignment: Assignment,
        state: &mut WorkerState,
    ) -> Result<(), ActorProcessingErr> {
        let Assignment { exec, permit } = assignment;
        match exec {
            Exec::Durable(job) => {
                let (outcome, backoff) = perform(&state.node, &job, true).await;
                // The slot goes with the outcome, and frees once that is written: the jobs
                // a node holds (and renews leases for) never exceed its concurrency, even
                // when jobs finish faster than their outcomes can be recorded.
                let finished = Finished {
                    id: job.id,
                    attempt: job.attempt,
                    max_attempts: job.max_attempts,
                    outcome,
                    backoff,
                    slot: permit,
                };
                state.completer.send(finished).await;
            }
            Exec::Call { request, received } => {
                answer(state, request, received).await;
                drop(permit);
            }
        }
        state.supervisor.cast(QueueMsg::Idle(myself))?;
        Ok(())
    }
}

/// Runs an RPC call and answers it.
async fn answer(state: &WorkerState, request: bus::Message, received: DateTime<Utc>) {
    let reply = match request.decode::<RpcRequest>() {
        Err(error) => RpcReply::Failed(format!("bad request: {error}")),
        Ok(call) if !state.node.workers.contains_key(&call.worker) => {
            RpcReply::UnknownWorker(call.worker)
        }
        Ok(call) => {
            let job = RawJob {
                id: String::new(),
                worker: call.worker,
                args: call.args,
                attempt: 1,
                max_attempts: 1,
                queue: state.queue.name.clone(),
                scheduled_at: received,
                timeout: state.queue.timeout,
            };
            match perform(&state.node, &job, false).await.0 {
                Outcome::Completed(value) => RpcReply::Ok(value),
                Outcome::Failed { error, .. } => RpcReply::Failed(error),
                Outcome::Stopped(reason) => RpcReply::Failed(format!("stopped: {reason:?}")),
            }
        }
    };
    let sent = match request.response_json(&reply) {
        Ok(response) => state.node.jobs.bus.publish(response).await,
        Err(error) => Err(error),
    };
    if let Err(error) = sent {
        // The caller times out; nothing else can be done for it.
        tracing::warn!(%error, "rpc reply not sent");
    }
}

/// Runs one attempt: the worker's future in its own task, bounded by the timeout. A
/// durable attempt registers its task so a cancel or a lost lease can abort it.
async fn perform(node: &Node, job: &RawJob, durable: bool) -> (Outcome, crate::state::Backoff) {
    let Some(worker) = node.workers.get(&job.worker) else {
        // Enqueued by a newer (or misconfigured) deployment: another node may know it.
        let error = format!(
            "worker {:?} is not registered on node {}",
            job.worker, node.id
        );
        return (
            Outcome::Failed {
                error,
                discard: false,
            },
            Default::default(),
        );
    };
    let backoff = worker.backoff();
    let timeout = job.timeout.unwrap_or(node.config.default_timeout);
    let span = tracing::info_span!("job", id = %job.id, worker = %job.worker, queue = %job.queue, attempt = job.attempt);
    let waited = (node.now() - job.scheduled_at).to_std().unwrap_or_default();
    metrics::histogram!("jobs_wait_seconds", "queue" => job.queue.clone())
        .record(waited.as_secs_f64());
    let started = Instant::now();
    let mut task = tokio::spawn(worker.perform(job.clone()).instrument(span));
    if durable && let Some(reason) = node.started(&job.id, job.attempt, task.abort_handle()) {
        task.abort();
        return (Outcome::Stopped(reason), backoff);
    }
    let outcome = match tokio::time::timeout(timeout, &mut task).await {
        Ok(Ok(Ok(value))) => Outcome::Completed(value),
        Ok(Ok(Err(JobError::Retry(error)))) => Outcome::Failed {
            error,
            discard: false,
        },
        Ok(Ok(Err(JobError::Discard(error)))) => Outcome::Failed {
            error,
            discard: true,
        },
        Ok(Err(join)) if join.is_panic() => {
            let panic = join.into_panic();
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string payload".to_owned());
            Outcome::Failed {
                error: format!("panicked: {message}"),
                discard: false,
            }
        }
        Ok(Err(_aborted)) => Outcome::Stopped(
            node.stop_reason(&job.id, job.attempt)
                .unwrap_or(StopReason::LeaseLost),
        ),
        Err(_elapsed) => {
            task.abort();
            Outcome::Failed {
                error: format!("timed out after {timeout:?}"),
                discard: false,
            }
        }
    };
    let label = match &outcome {
        Outcome::Completed(_) => "completed",
        Outcome::Failed { .. } => "failed",
        Outcome::Stopped(_) => "stopped",
    };
    metrics::counter!("jobs_executed_total", "queue" => job.queue.clone(), "worker" => job.worker.clone(), "outcome" => label)
        .increment(1);
    metrics::histogram!("jobs_run_seconds", "queue" => job.queue.clone(), "worker" => job.worker.clone())
        .record(started.elapsed().as_secs_f64());
    if let Outcome::Failed { error, .. } = &outcome {
        tracing::warn!(job = %job.id, worker = %job.worker, attempt = job.attempt, %error, "job attempt failed");
    }
    (outcome, backoff)
}
