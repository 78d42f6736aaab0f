//! One node of the jobs fault test (`tests/fault.rs`): a runner on queue `fault` whose
//! worker records each run it starts in the table `fault_runs` (job, attempt, node, when)
//! and then works for a few milliseconds, so that jobs are in flight whenever the test
//! kills a node. Prints `ready` once it serves; runs until killed (the point of the test)
//! or until its stdin closes.
//!
//!   jobs-fault-node <database-url> <nats-url> <subject-prefix> <node-name> <lease-ms> <heartbeat-ms>
//!
//! The test gives it a lease of seconds, so a killed node's jobs are rescued soon.

use bus::{DynBus, NatsBus};
use jobs::{Job, JobError, JobOptions, Jobs, Queue, Runner, RunnerConfig, Worker};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

#[derive(Clone)]
struct Work {
    db: DatabaseConnection,
    node: String,
}

impl Worker for Work {
    const NAME: &'static str = "fault.work";
    type Args = u64;

    fn options() -> JobOptions {
        JobOptions::default().queue("fault")
    }

    async fn perform(&self, job: Job<u64>) -> Result<Value, JobError> {
        let started = chrono::Utc::now().timestamp_micros();
        self.db
            .execute_raw(Statement::from_sql_and_values(
                self.db.get_database_backend(),
                "INSERT INTO fault_runs (job_id, attempt, node, started_at) VALUES ($1, $2, $3, $4)",
                [
                    job.id.into(),
                    i64::from(job.attempt).into(),
                    self.node.clone().into(),
                    started.into(),
                ],
            ))
            .await?;
        // The work itself: long enough that a kill catches some jobs mid-run.
        tokio::time::sleep(Duration::from_millis(3)).await;
        Ok(Value::Null)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, database, nats, prefix, node, lease, heartbeat] = args.as_slice() else {
        anyhow::bail!(
            "usage: jobs-fault-node <database-url> <nats-url> <subject-prefix> <node-name> <lease-ms> <heartbeat-ms>"
        );
    };
    let config = RunnerConfig {
        lease: Duration::from_millis(lease.parse()?),
        heartbeat: Duration::from_millis(heartbeat.parse()?),
        poll_interval: Duration::from_millis(200),
        upkeep_interval: Duration::from_millis(200),
        ..RunnerConfig::default()
    };
    let db = storage::connect(database).await?;
    let bus: DynBus = Arc::new(NatsBus::connect_named(nats, node).await?);
    let jobs = Jobs::new(db.clone(), bus).with_subject_prefix(prefix);
    let runner = Runner::builder(jobs)
        .config(config)
        .node_id(node.clone())
        .queue(Queue::new("fault").concurrency(20))
        .worker(Work {
            db,
            node: node.clone(),
        })
        .start()
        .await?;
    println!("ready");
    let mut line = String::new();
    let _ = tokio::io::BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await;
    runner.shutdown().await;
    Ok(())
}
