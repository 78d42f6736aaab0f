//! Records the outcome of attempts: one writer per node that batches whatever finished
//! while its previous write ran (group commit), so a busy node writes many completions
//! in one statement instead of one round trip each.
//!
//! An attempt stays in the node's running set (and keeps its lease renewed) until its
//! outcome is written, so a slow write can never let another node rescue a job that
//! already completed here. It keeps its queue slot until then too, so the running set
//! stays within the queue's concurrency and each renewal stays small.

use super::{Node, StopReason};
use crate::state::{AfterFailure, Backoff, after_failure};
use crate::store::{self, Completion};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};
use tokio::task::JoinHandle;

/// Outcomes waiting to be written at most; a full queue makes workers wait.
const CAPACITY: usize = 8192;
/// Outcomes written in one pass at most.
const BATCH: usize = 1024;
/// Tries of one write before its attempts are left to lease expiry.
const TRIES: u32 = 3;

/// How an attempt ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    Completed(serde_json::Value),
    Failed { error: String, discard: bool },
    Stopped(StopReason),
}

/// One finished attempt of a durable job.
pub(crate) struct Finished {
    pub id: String,
    pub attempt: u32,
    pub max_attempts: u32,
    pub outcome: Outcome,
    pub backoff: Backoff,
    /// The queue slot the attempt ran in, freed when this is dropped: after the outcome
    /// is written.
    pub slot: OwnedSemaphorePermit,
}

enum Msg {
    Finished(Finished),
    Close(oneshot::Sender<()>),
}

/// Where workers send outcomes.
#[derive(Clone)]
pub(crate) struct CompleterTx(mpsc::Sender<Msg>);

impl CompleterTx {
    pub(crate) async fn send(&self, finished: Finished) {
        if self.0.send(Msg::Finished(finished)).await.is_err() {
            // Only after shutdown: the attempt stays executing and is rescued.
            tracing::warn!("outcome after the completer stopped");
        }
    }
}

pub(crate) struct Completer {
    tx: CompleterTx,
    task: JoinHandle<()>,
}

impl Completer {
    pub(crate) fn spawn(node: Arc<Node>) -> Self {
        let (tx, rx) = mpsc::channel(CAPACITY);
        Self {
            tx: CompleterTx(tx),
            task: tokio::spawn(run(node, rx)),
        }
    }

    pub(crate) fn sender(&self) -> CompleterTx {
        self.tx.clone()
    }

    /// Writes everything sent so far, then stops.
    pub(crate) async fn close(self) {
        let (done, written) = oneshot::channel();
        if self.tx.0.send(Msg::Close(done)).await.is_ok() {
            let _ = written.await;
        }
        let _ = self.task.await;
    }

    pub(crate) fn abort(self) {
        self.task.abort();
    }
}

async fn run(node: Arc<Node>, mut rx: mpsc::Receiver<Msg>) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(first) = rx.recv().await {
        let mut closing = None;
        match first {
            Msg::Finished(finished) => batch.push(finished),
            Msg::Close(done) => closing = Some(done),
        }
        while closing.is_none() && batch.len() < BATCH {
            match rx.try_recv() {
                Ok(Msg::Finished(finished)) => batch.push(finished),
                Ok(Msg::Close(done)) => closing = Some(done),
                Err(_) => break,
            }
        }
        write(&node, &mut batch).await;
        if let Some(done) = closing {
            let _ = done.send(());
            return;
        }
    }
}

async fn write(node: &Node, batch: &mut Vec<Finished>) {
    let mut completions: Vec<Completion> = Vec::new();
    let mut others = Vec::new();
    // Freed when this returns, once every outcome of the batch is written.
    let mut slots = Vec::with_capacity(batch.len());
    for finished in batch.drain(..) {
        match finished.outcome {
            Outcome::Completed(value) => {
                completions.push(Completion {
                    id: finished.id,
                    attempt: finished.attempt,
                    result: (!value.is_null()).then(|| value.to_string()),
                });
                slots.push(finished.slot);
            }
            _ => others.push(finished),
        }
    }
    if !completions.is_empty() {
        let mut tries = 0;
        loop {
            tries += 1;
            match store::complete(&node.jobs.db, &node.id, &completions, node.now()).await {
                Ok(_) => break,
                Err(error) if tries < TRIES => {
                    tracing::warn!(%error, "writing completions failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(tries))).await;
                }
                Err(error) => {
                    tracing::error!(%error, jobs = completions.len(), "completions not written; leases will expire");
                    break;
                }
            }
        }
        for completion in &completions {
            node.untrack(&completion.id, completion.attempt);
        }
    }
    for finished in others {
        if let Err(error) = record(node, &finished).await {
            tracing::error!(%error, job = %finished.id, "outcome not written; the lease will expire");
        }
        node.untrack(&finished.id, finished.attempt);
    }
}

async fn record(node: &Node, finished: &Finished) -> Result<(), sea_orm::DbErr> {
    let now = node.now();
    match &finished.outcome {
        Outcome::Completed(_) => Ok(()),
        Outcome::Failed { error, discard } => {
            let delay = finished
                .backoff
                .delay(finished.attempt, rand::random::<f64>());
            let retry_at =
                match after_failure(finished.attempt, finished.max_attempts, *discard, delay) {
                    AfterFailure::Retry { after } => Some(
                        now + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX),
                    ),
                    AfterFailure::Discard => None,
                };
            store::fail(
                &node.jobs.db,
                &node.id,
                &finished.id,
                finished.attempt,
                error,
                retry_at,
                now,
            )
            .await?;
            Ok(())
        }
        // The cancel was written by whoever cancelled; a lost lease belongs to another node.
        Outcome::Stopped(StopReason::Cancelled | StopReason::LeaseLost) => Ok(()),
        Outcome::Stopped(StopReason::Shutdown) => {
            store::requeue(&node.jobs.db, &node.id, &finished.id, finished.attempt, now).await?;
            Ok(())
        }
    }
}
