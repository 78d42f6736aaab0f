//! Group commit: requests from every wallet actor on this node are gathered into shared
//! database transactions, so one commit (one fsync) carries many transfers.
//!
//! Each worker takes the first waiting request, then whatever else is already queued (up
//! to a cap), and commits them together. Nothing waits for a batch to fill: under light
//! load a request commits alone at once; under heavy load requests queue while a commit is
//! in flight and the next commit takes them all. If the shared transaction aborts, each of
//! its requests is retried alone, so one refusal never fails its neighbours.

use crate::domain::LedgerError;
use crate::ledger::{Committed, Ledger};
use crate::plan::Planned;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{Mutex, mpsc, oneshot};

/// One request waiting for a commit.
struct Job {
    request: Planned,
    /// Skip the shared transaction: the caller expects a refusal or a replay.
    careful: bool,
    reply: oneshot::Sender<Result<Committed, LedgerError>>,
}

/// The entrance to the group commit workers.
#[derive(Clone)]
pub struct Committer {
    queue: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts `workers` workers committing up to `max_batch` requests per transaction.
    pub fn spawn(ledger: Arc<Ledger>, workers: usize, max_batch: usize) -> Self {
        let (queue, receiver) = mpsc::channel(max_batch * workers.max(1) * 4);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..workers.max(1) {
            tokio::spawn(work(ledger.clone(), receiver.clone(), max_batch.max(1)));
        }
        Self { queue }
    }

    /// Commits `request` (in a shared transaction when it can) and returns its result.
    pub async fn commit(&self, request: Planned) -> Result<Committed, LedgerError> {
        self.submit(request, false).await
    }

    /// Commits `request` alone, for requests likely to be refused or replayed.
    pub async fn commit_alone(&self, request: Planned) -> Result<Committed, LedgerError> {
        self.submit(request, true).await
    }

    async fn submit(&self, request: Planned, careful: bool) -> Result<Committed, LedgerError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || LedgerError::Unavailable("the ledger is shutting down".into());
        self.queue
            .send(Job {
                request,
                careful,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn work(ledger: Arc<Ledger>, receiver: Arc<Mutex<mpsc::Receiver<Job>>>, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        {
            // One worker gathers at a time; it releases the queue before committing, so
            // the next worker gathers while this one waits on the database.
            let mut receiver = receiver.lock().await;
            if receiver.recv_many(&mut batch, max_batch).await == 0 {
                return;
            }
        }
        let (careful, shared): (Vec<Job>, Vec<Job>) = batch.drain(..).partition(|job| job.careful);
        for job in careful {
            let result = ledger.commit_one(&job.request).await;
            let _ = job.reply.send(result);
        }
        commit_shared(&ledger, shared).await;
    }
}

async fn commit_shared(ledger: &Ledger, jobs: Vec<Job>) {
    if jobs.is_empty() {
        return;
    }
    let started = Instant::now();
    let requests: Vec<&Planned> = jobs.iter().map(|job| &job.request).collect();
    match ledger.commit_all(&requests).await {
        Ok(committed) => {
            metrics::histogram!("wallet_group_commit_size").record(jobs.len() as f64);
            metrics::histogram!("wallet_group_commit_seconds")
                .record(started.elapsed().as_secs_f64());
            for (job, result) in jobs.into_iter().zip(committed) {
                // The caller may have given up waiting; the transfer stands either way.
                let _ = job.reply.send(Ok(result));
            }
        }
        Err(abort) => {
            tracing::debug!(
                ?abort,
                size = jobs.len(),
                "group commit aborted; committing alone"
            );
            metrics::counter!("wallet_group_commit_aborts_total").increment(1);
            for job in jobs {
                let result = ledger.commit_one(&job.request).await;
                let _ = job.reply.send(result);
            }
        }
    }
}
