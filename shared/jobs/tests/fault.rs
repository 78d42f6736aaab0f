//! Three nodes on one Postgres and one NATS run 10,000 jobs; one node is killed with
//! SIGKILL in the middle. Every job completes; a job runs again only if it was running on
//! the killed node, and only after that node's lease on it ran out; the number that ran
//! again is printed.
//!
//! The nodes are separate processes (`jobs-fault-node`), so the kill is a real one: no
//! destructor, no drain, its leases simply stop being renewed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bus::{DynBus, NatsBus};
use jobs::{JobError, JobOptions, Jobs, NewJob, Worker};
use sea_orm::{ConnectionTrait, Statement};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use storage::testing::TestDatabase;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const JOBS: u64 = 10_000;
const LEASE_MS: i64 = 3_000;
const HEARTBEAT_MS: i64 = 500;

/// The nodes' worker, as the enqueuing side names it (the node binary runs it).
struct Work;

impl Worker for Work {
    const NAME: &'static str = "fault.work";
    type Args = u64;

    fn options() -> JobOptions {
        JobOptions::default().queue("fault")
    }

    async fn perform(&self, _: jobs::Job<u64>) -> Result<serde_json::Value, JobError> {
        unreachable!("the nodes run it")
    }
}

async fn node(database: &str, nats: &str, prefix: &str, name: &str) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jobs-fault-node"))
        .args([database, nats, prefix, name])
        .args([LEASE_MS.to_string(), HEARTBEAT_MS.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the node started within 30 s")
        .unwrap();
    assert_eq!(ready.as_deref(), Some("ready"));
    child
}

async fn scalar(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

#[tokio::test]
#[ignore = "needs Postgres and NATS: set TEST_DATABASE_URL and TEST_NATS_URL"]
async fn a_node_killed_mid_run_loses_no_job_and_reruns_only_after_its_lease() {
    let nats = std::env::var("TEST_NATS_URL").expect("TEST_NATS_URL");
    let database = TestDatabase::new().await.unwrap();
    assert!(
        database.url().starts_with("postgres"),
        "set TEST_DATABASE_URL: the fault test runs on Postgres"
    );
    let db = database.connection().clone();
    storage::migrate(&db, &[jobs::migrations()]).await.unwrap();
    db.execute_unprepared(
        "CREATE TABLE fault_runs (job_id TEXT NOT NULL, attempt BIGINT NOT NULL, \
         node TEXT NOT NULL, started_at BIGINT NOT NULL)",
    )
    .await
    .unwrap();
    let prefix = format!("jobs.v1.t{}", uuid::Uuid::new_v4().simple());

    let mut nodes = Vec::new();
    for name in ["node-a", "node-b", "node-c"] {
        nodes.push(node(database.url(), &nats, &prefix, name).await);
    }
    let bus: DynBus = Arc::new(NatsBus::connect(&nats).await.unwrap());
    let jobs = Jobs::new(db.clone(), bus).with_subject_prefix(&prefix);
    for chunk in (0..JOBS).collect::<Vec<_>>().chunks(1000) {
        let batch = chunk
            .iter()
            .map(|n| NewJob::of::<Work>(n).unwrap())
            .collect();
        jobs.enqueue_all(batch).await.unwrap();
    }

    // Kill node A once it has run a good share of the jobs, with others in its hands.
    testkit::eventually(
        "node-a ran 1,000 jobs",
        Duration::from_secs(120),
        || async {
            scalar(&db, "SELECT COUNT(*) FROM fault_runs WHERE node = 'node-a'").await >= 1000
        },
    )
    .await;
    let mut killed = nodes.remove(0);
    killed.start_kill().unwrap();
    let killed_at = chrono::Utc::now().timestamp_micros();
    killed.wait().await.unwrap();
    let done_at_kill = scalar(&db, "SELECT COUNT(*) FROM jobs WHERE state = 'completed'").await;
    assert!(
        done_at_kill < i64::try_from(JOBS).unwrap(),
        "the kill came too late"
    );

    testkit::eventually("every job completed", Duration::from_secs(180), || async {
        scalar(&db, "SELECT COUNT(*) FROM jobs WHERE state = 'completed'").await
            == i64::try_from(JOBS).unwrap()
    })
    .await;
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM jobs WHERE state <> 'completed'").await,
        0
    );

    // Every run, by job, in order of start.
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT job_id, node, started_at FROM fault_runs ORDER BY started_at",
        ))
        .await
        .unwrap();
    let mut runs: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    for row in rows {
        let (job, node, started): (String, String, i64) = (
            row.try_get_by_index(0).unwrap(),
            row.try_get_by_index(1).unwrap(),
            row.try_get_by_index(2).unwrap(),
        );
        runs.entry(job).or_default().push((node, started));
    }
    assert_eq!(
        runs.len(),
        usize::try_from(JOBS).unwrap(),
        "a job never ran"
    );
    // Node A's last renewal was at most a heartbeat before the kill, so its leases ran out
    // no earlier than this.
    let leases_out = killed_at - (HEARTBEAT_MS + 100) * 1000 + LEASE_MS * 1000;
    let mut reran = 0;
    for (job, runs) in &runs {
        let Some(((last_node, last_started), earlier)) = runs.split_last() else {
            continue;
        };
        if earlier.is_empty() {
            continue;
        }
        reran += 1;
        assert!(
            earlier.iter().all(|(node, _)| node == "node-a"),
            "job {job} ran more than once on live nodes: {runs:?}"
        );
        assert_ne!(last_node, "node-a", "job {job}: {runs:?}");
        assert!(
            *last_started >= leases_out,
            "job {job} ran again {} ms after the kill, inside node-a's lease: {runs:?}",
            (last_started - killed_at) / 1000
        );
    }
    println!(
        "{JOBS} jobs on 3 nodes, node-a killed with SIGKILL after {done_at_kill} completed: \
         every job completed, {reran} ran again after the kill (each was running on node-a, \
         and ran again only after its lease expired)"
    );

    for mut node in nodes {
        drop(node.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(20), node.wait()).await;
    }
}
