//! What keeps leases honest and the cluster tidy: the heartbeat that renews this node's
//! leases (and stops jobs it turns out not to hold any more), the cancel listener, and the
//! upkeep loop: every node rescues jobs whose lease expired, and the one node holding the
//! leader lease fires cron schedules, prunes finished jobs and publishes queue gauges.
//!
//! Cron fires exactly once across nodes by two means: only the leader fires, and each fire
//! is inserted under a unique key made of the schedule's name and the fire time, held in
//! every state, so a leader change (two nodes briefly both believing they lead, or a new
//! leader looking back over fires the old one may have missed) cannot insert it twice.

use super::{Cron, Node, StopReason, stopped};
use crate::state::{JobState, state_mask};
use crate::store;
use futures::StreamExt;
use sha2::Digest;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::watch;

const LEADER_LEASE: &str = "leader";
/// Finished jobs deleted per upkeep pass at most, so pruning never holds long locks.
const PRUNE_BATCH: u32 = 1000;
/// Upkeep passes between two refreshes of the queue gauges (a full count by state).
const GAUGE_EVERY: u32 = 15;

/// Renews the leases of the jobs this node runs; a job whose lease could not be renewed
/// (cancelled, or rescued by another node after this one lost touch) is stopped here.
pub(crate) async fn heartbeat(node: Arc<Node>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = stopped(&mut stop) => return,
            () = tokio::time::sleep(node.config.heartbeat) => {}
        }
        let held = node.running_attempts();
        if held.is_empty() {
            continue;
        }
        let ids: Vec<String> = held.iter().map(|(id, _)| id.clone()).collect();
        match store::renew(&node.jobs.db, &node.id, &ids, node.after(node.config.lease)).await {
            Ok(still) => {
                let still: HashSet<(String, u32)> = still.into_iter().collect();
                for (id, attempt) in held {
                    if !still.contains(&(id.clone(), attempt))
                        && node.stop(&id, StopReason::LeaseLost)
                    {
                        tracing::info!(job = %id, attempt, "lease not held any more; stopping the job here");
                    }
                }
            }
            // The lease outlives a few missed beats; rescue decides if it lapses.
            Err(error) => tracing::warn!(%error, "heartbeat failed"),
        }
    }
}

/// Stops jobs cancelled elsewhere as soon as the cancel is broadcast.
pub(crate) async fn listen_cancels(
    node: Arc<Node>,
    mut cancels: bus::Subscription,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            () = stopped(&mut stop) => return,
            message = cancels.next() => match message {
                Some(message) => {
                    if let Ok(id) = std::str::from_utf8(&message.payload)
                        && node.stop(id, StopReason::Cancelled)
                    {
                        tracing::info!(job = %id, "cancelled while running");
                    }
                }
                None => return,
            },
        }
    }
}

/// Rescue on every node; cron, pruning and gauges on the leader.
pub(crate) async fn upkeep(node: Arc<Node>, crons: Vec<Cron>, mut stop: watch::Receiver<bool>) {
    let mut leading = false;
    let mut passes = 0u32;
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            () = tokio::time::sleep(node.config.upkeep_interval) => {}
        }
        match store::rescue(&node.jobs.db, node.now()).await {
            Ok(queues) => {
                for queue in queues {
                    tracing::info!(%queue, "jobs rescued from expired leases");
                    metrics::counter!("jobs_rescued_total", "queue" => queue.clone()).increment(1);
                    node.jobs.wake_queue(&queue).await;
                }
            }
            Err(error) => tracing::warn!(%error, "rescue failed"),
        }
        let now = node.now();
        match store::acquire_lease(
            &node.jobs.db,
            LEADER_LEASE,
            &node.id,
            now,
            node.after(node.config.lease),
        )
        .await
        {
            Ok(leader) => {
                if leader != leading {
                    tracing::info!(node = %node.id, leader, "job leadership changed");
                    leading = leader;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "leader lease");
                leading = false;
            }
        }
        if !leading {
            continue;
        }
        fire_crons(&node, &crons).await;
        let horizon =
            chrono::Duration::from_std(node.config.prune_after).unwrap_or(chrono::Duration::MAX);
        match store::prune(&node.jobs.db, now - horizon, PRUNE_BATCH).await {
            Ok(0) => {}
            Ok(pruned) => tracing::debug!(pruned, "finished jobs pruned"),
            Err(error) => tracing::warn!(%error, "prune failed"),
        }
        if passes.is_multiple_of(GAUGE_EVERY) {
            publish_gauges(&node).await;
        }
        passes = passes.wrapping_add(1);
    }
    if leading && let Err(error) = store::release_lease(&node.jobs.db, LEADER_LEASE, &node.id).await
    {
        tracing::warn!(%error, "leader lease not released; it expires by itself");
    }
}

/// Enqueues every fire of every schedule within the lookback window; fires already
/// enqueued are recognised by their unique key.
async fn fire_crons(node: &Node, crons: &[Cron]) {
    let now = node.now();
    let from = now
        - chrono::Duration::from_std(node.config.cron_lookback).unwrap_or(chrono::Duration::MAX);
    let mut rows = Vec::new();
    for cron in crons {
        for fire in cron.schedule.fires_between(from, now) {
            let mut row = match cron.job.clone().at(fire).row(now) {
                Ok(row) => row,
                Err(error) => {
                    tracing::error!(%error, cron = %cron.name, "cron job refused");
                    continue;
                }
            };
            let mut key = sha2::Sha256::new();
            key.update(b"cron\0");
            key.update(cron.name.as_bytes());
            key.update(fire.timestamp_micros().to_be_bytes());
            let key: String = key.finalize().iter().map(|b| format!("{b:02x}")).collect();
            row.id = uuid::Uuid::now_v7().to_string();
            row.unique_hash = Some(key.clone());
            row.unique_key = Some(key);
            row.unique_states = state_mask(&JobState::ALL);
            rows.push(row);
        }
    }
    match store::insert(&node.jobs.db, &rows).await {
        Ok(enqueued) => {
            let fired: Vec<_> = enqueued.into_iter().filter(|e| !e.duplicate).collect();
            if !fired.is_empty() {
                tracing::info!(jobs = fired.len(), "cron jobs enqueued");
                node.jobs.wake(&fired).await;
            }
        }
        Err(error) => tracing::warn!(%error, "cron enqueue failed"),
    }
}

async fn publish_gauges(node: &Node) {
    match store::stats(&node.jobs.db).await {
        Ok(stats) => {
            for queue in stats {
                let counts = [
                    (JobState::Scheduled, queue.scheduled),
                    (JobState::Available, queue.available),
                    (JobState::Executing, queue.executing),
                    (JobState::Retryable, queue.retryable),
                    (JobState::Completed, queue.completed),
                    (JobState::Discarded, queue.discarded),
                    (JobState::Cancelled, queue.cancelled),
                ];
                for (state, count) in counts {
                    metrics::gauge!("jobs_queue_depth", "queue" => queue.queue.clone(), "state" => state.as_str())
                        .set(count as f64);
                }
            }
        }
        Err(error) => tracing::warn!(%error, "queue gauges"),
    }
}
