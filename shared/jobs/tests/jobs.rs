//! The job library end to end: enqueue, run, retry, time out, cancel, rescue, cron, RPC,
//! drain. SQLite and the in-process bus by default; Postgres and NATS with
//! TEST_DATABASE_URL / TEST_NATS_URL. Time that decides job states (due times, backoff,
//! leases, cron) comes from a manual clock the tests move; waiting for another task is
//! always bounded polling until a condition holds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bus::{DynBus, LocalBus, NatsBus};
use chrono::{DateTime, Utc};
use jobs::{
    Cron, Job, JobError, JobOptions, JobState, Jobs, JobsError, ManualClock, NewJob, Queue, Runner,
    RunnerBuilder, RunnerConfig, Unique, Worker,
};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use storage::testing::TestDatabase;
use tokio::sync::Semaphore;

struct Env {
    database: TestDatabase,
    bus: DynBus,
    prefix: String,
    clock: ManualClock,
}

fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

impl Env {
    async fn new() -> Self {
        let database = TestDatabase::new().await.unwrap();
        storage::migrate(database.connection(), &[jobs::migrations()])
            .await
            .unwrap();
        let bus: DynBus = match std::env::var("TEST_NATS_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            Some(url) => Arc::new(NatsBus::connect(&url).await.unwrap()),
            None => Arc::new(LocalBus::new()),
        };
        Self {
            database,
            bus,
            // Tests share one NATS: each gets its own subjects.
            prefix: format!("jobs.v1.t{}", uuid::Uuid::new_v4().simple()),
            clock: ManualClock::at(start_time()),
        }
    }

    fn jobs(&self) -> Jobs {
        Jobs::new(self.database.connection().clone(), self.bus.clone())
            .with_clock(Arc::new(self.clock.clone()))
            .with_subject_prefix(&self.prefix)
    }

    fn runner(&self, probe: &Probe) -> RunnerBuilder {
        Runner::builder(self.jobs())
            .config(fast())
            .queue(Queue::new("default").concurrency(4))
            .worker(probe.clone())
    }
}

/// Timings short enough for tests; leases only expire when the manual clock moves.
fn fast() -> RunnerConfig {
    RunnerConfig {
        poll_interval: Duration::from_millis(50),
        lease: Duration::from_secs(30),
        heartbeat: Duration::from_millis(100),
        upkeep_interval: Duration::from_millis(50),
        default_timeout: Duration::from_secs(30),
        prune_after: Duration::from_secs(30 * 24 * 3600),
        shutdown_grace: Duration::from_millis(500),
        cron_lookback: Duration::from_secs(30),
    }
}

/// [`testkit::eventually`] with the 15 s these tests allow.
async fn eventually<F, Fut>(what: &str, condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    testkit::eventually(what, Duration::from_secs(15), condition).await;
}

async fn state(jobs: &Jobs, id: &str) -> JobState {
    jobs.get(id).await.unwrap().unwrap().state
}

async fn until_state(jobs: &Jobs, id: &str, wanted: JobState) {
    eventually(&format!("job {id} is {wanted}"), || async {
        state(jobs, id).await == wanted
    })
    .await;
}

/// What a probe job does.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Act {
    /// Returns this value.
    Return(Value),
    /// Fails every attempt before this one.
    FailUntil(u32),
    Panic,
    Discard,
    /// Never finishes (until stopped).
    Hang,
    /// Waits for a permit of the probe's gate.
    Gate,
    /// Counts how many run at once, then waits for the gate.
    Concurrent,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Args {
    act: Act,
    tag: u32,
}

fn job(act: Act) -> NewJob {
    NewJob::of::<Probe>(&Args { act, tag: 0 }).unwrap()
}

/// A worker that does what its arguments say and records what happened.
#[derive(Clone)]
struct Probe {
    /// `(job id, attempt)` of every attempt started.
    runs: Arc<Mutex<Vec<(String, u32)>>>,
    /// Attempts whose future was dropped before it finished (stopped from outside).
    dropped: Arc<AtomicUsize>,
    gate: Arc<Semaphore>,
    now_running: Arc<AtomicUsize>,
    most_running: Arc<AtomicUsize>,
}

impl Default for Probe {
    fn default() -> Self {
        Self {
            runs: Arc::default(),
            dropped: Arc::default(),
            gate: Arc::new(Semaphore::new(0)),
            now_running: Arc::default(),
            most_running: Arc::default(),
        }
    }
}

impl Probe {
    fn runs(&self) -> Vec<(String, u32)> {
        self.runs.lock().unwrap().clone()
    }

    fn runs_of(&self, id: &str) -> usize {
        self.runs().iter().filter(|(run, _)| run == id).count()
    }
}

struct DropGuard(Arc<AtomicUsize>, bool);

impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Worker for Probe {
    const NAME: &'static str = "test.probe";
    type Args = Args;

    fn options() -> JobOptions {
        JobOptions::default().max_attempts(3)
    }

    async fn perform(&self, job: Job<Args>) -> Result<Value, JobError> {
        self.runs
            .lock()
            .unwrap()
            .push((job.id.clone(), job.attempt));
        let mut guard = DropGuard(self.dropped.clone(), false);
        let result = match job.args.act {
            Act::Return(value) => Ok(value),
            Act::FailUntil(n) if job.attempt < n => {
                Err(JobError::retry(format!("attempt {} failed", job.attempt)))
            }
            Act::FailUntil(_) => Ok(json!("finally")),
            Act::Panic => panic!("probe panicked on attempt {}", job.attempt),
            Act::Discard => Err(JobError::discard("not worth retrying")),
            Act::Hang => {
                futures::future::pending::<()>().await;
                Ok(Value::Null)
            }
            Act::Gate => {
                self.gate.acquire().await.unwrap().forget();
                Ok(json!("opened"))
            }
            Act::Concurrent => {
                let now = self.now_running.fetch_add(1, Ordering::SeqCst) + 1;
                self.most_running.fetch_max(now, Ordering::SeqCst);
                self.gate.acquire().await.unwrap().forget();
                self.now_running.fetch_sub(1, Ordering::SeqCst);
                Ok(Value::Null)
            }
        };
        guard.1 = true;
        result
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_once_and_completes_with_its_result() {
    let env = Env::new().await;
    let jobs = env.jobs();
    let probe = Probe::default();
    let runner = env.runner(&probe).node_id("node-a").start().await.unwrap();
    let enqueued = jobs
        .enqueue(job(Act::Return(json!({"answer": 42}))))
        .await
        .unwrap();
    assert!(!enqueued.duplicate);
    until_state(&jobs, &enqueued.id, JobState::Completed).await;
    let view = jobs.get(&enqueued.id).await.unwrap().unwrap();
    assert_eq!(view.result, Some(json!({"answer": 42})));
    assert_eq!(view.attempt, 1);
    assert_eq!(view.attempted_by.as_deref(), Some("node-a"));
    assert_eq!(view.finished_at, Some(start_time()));
    assert!(view.errors.is_empty());
    assert_eq!(probe.runs_of(&enqueued.id), 1);
    runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_job_waits_for_its_time() {
    let env = Env::new().await;
    let jobs = env.jobs();
    let probe = Probe::default();
    let runner = env.runner(&probe).start().await.unwrap();
    let later = jobs
        .enqueue(job(Act::Return(json!(1))).after(Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_eq!(state(&jobs, &later.id).await, JobState::Scheduled);
    // A job enqueued afterwards runs: the runner fetches, and passes the scheduled one over.
    let now = jobs.enqueue(job(Act::Return(json!(2)))).await.unwrap();
    until_state(&jobs, &now.id, JobState::Completed).await;
    assert_eq!(state(&jobs, &later.id).await, JobState::Scheduled);
    env.clock.advance(Duration::from_secs(3600));
    until_state(&jobs, &later.id, JobState::Completed).await;
    runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attempts_are_retried_with_backoff_until_discarded() {
    let env = Env::new().await;
    let jobs = env.jobs();
    let probe = Probe::default();
    let runner = env.runner(&probe).start().await.unwrap();
    let recovers = jobs.enqueue(job(Act::FailUntil(3))).await.unwrap();
    let never = jobs.enqueue(job(Act::FailUntil(99))).await.unwrap();
    for id in [&recovers.id, &never.id] {
        until_state(&jobs, id, JobState::Retryable).await;
        let view = jobs.get(id).await.unwrap().unwrap();
        assert_eq!(view.attempt, 1);
        assert_eq!(view.errors.len(), 1);
        assert_eq!(view.errors[0].error, "attempt 1 failed");
        // Default backoff: 1 s after the first failure, ±20 % jitter.
        let delay = (view.scheduled_at - start_time()).num_milliseconds();
        assert!(
            (800..=1200).contains(&delay),
            "first retry after {delay} ms"
        );
    }
    env.clock.advance(Duration::from_millis(1300));
    for id in [&recovers.id, &never.id] {
        eventually("the second attempt failed", || async {
            jobs.get(id).await.unwrap().unwrap().errors.len() == 2
        })
        .await;
        let view = jobs.get(id).await.unwrap().unwrap();
        assert_eq!(view.state, JobState::Retryable);
        // The second delay doubles: 2 s ±20 % from the second attempt.
        let delay = (view.scheduled_at - view.attempted_at.unwrap()).num_milliseconds();
        assert!(
            (1600..=2400).contains(&delay),
            "second retry after {delay} ms"
        );
    }
    env.clock.advance(Duration::from_millis(2500));
    until_state(&jobs, &recovers.id, JobState::Completed).await;
    until_state(&jobs, &never.id, JobState::Discarded).await;
    let discarded = jobs.get(&never.id).await.unwrap().unwrap();
    assert_eq!(discarded.attempt, 3);
    let attempts: Vec<u32> = discarded.errors.iter().map(|e| e.attempt).collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert!(discarded.finished_at.is_some());
    assert_eq!(
        jobs.get(&recovers.id).await.unwrap().unwrap().result,
        Some(json!("finally"))
    );
    runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_are_recorded_and_retried_and_discards_are_final() {
    let env = Env::new().await;
    let jobs = env.jobs();
    let probe = Probe::default();
    let runner = env.runner(&probe).start().await.unwrap();
    let panics = jobs.enqueue(job(Act::Panic)).await.unwrap();
    let discards = jobs.enqueue(job(Act::Discard)).await.unwrap();
    until_state(&jobs, &panics.id, JobState::Retryable).await;
    let view = jobs.get(&panics.id).await.unwrap().unwrap();
    assert_eq!(
        view.errors[0].error,
        "panicked: probe panicked on attempt 1"
    );
    until_state(&jobs, &discards.id, JobState::Discarded).await;
    let view = jobs.get(&discards.id).await.unwrap().unwrap();
    assert_eq!(
        view.attempt, 1,
        "a discard does not use up the remaining attempts"
    );
    assert_eq!(view.errors[0].error, "not worth retrying");
    // The node survived the panic and still runs jobs.
    let after = jobs.enqueue(job(Act::Return(json!(null)))).await.unwrap();
    until_state(&jobs, &after.id, JobState::Completed).await;
    runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_job_is_stopped_by_its_timeout_and_retried() {
    let env = Env::new().await;
    let jobs = env.jobs();
    let probe = Probe::default();
    let runner = env.runner(&probe).start().await.unwrap();
    let options = JobOptions::default()
        .max_attempts(3)
        .timeout(Duration::from_millis(100));
    let stuck = jobs.enqueue(job(Act::Hang).with(options)).await.unwrap();
    until_state(&jobs, &stuck.id, JobState::Retryable).await;
    let view = jobs.get(&stuck.id).await.unwrap().unwrap();
    assert_eq!(view.errors[0].error, "timed out after 100ms");
    eventually("the stuck future was dropped", || async {
        probe.dropped.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(runner.running(), 0);
    runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_job_stops_it_and_a_waiting_one_never_runs() {
    let env = Env::new().await;
    let jobs = env.jobs();
    let probe = Probe::default();
    let runner = env.runner(&probe).start().await.unwrap();
    let running = jobs.enqueue(job(Act::Hang)).await.unwrap();
    eventually("the job started", || async {
        probe.runs_of(&running.id) == 1
    })
    .await;
    assert_eq!(state(&jobs, &running.id).await, JobState::Executing);
    assert!(jobs.cancel(&running.id).await.unwrap());
    eventually("the running job was stopped", || async {
        probe.dropped.load(Ordering::SeqCst) == 1
    })
    .await;
    eventually("the node let go of it", || async { runner.running() == 0 }).await;
    let view = jobs.get(&running.id).await.unwrap().unwrap();
    assert_eq!(view.state, JobState::Cancelled);
    assert!(view.errors.is_empty());

    let waiting = jobs
        .enqueue(job(Act::Return(json!(1))).after(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(jobs.cancel(&waiting.id).await.unwrap());
    assert!(
        !jobs.cancel(&waiting.id).await.unwrap(),
        "a second cancel changes nothing"
    );
    env.clock.advance(Duration::from_secs(120));
    let marker = jobs.enqueue(job(Act::Return(json!(2)))).await.unwrap();
    until_state(&jobs, &marker.id, JobState::Completed).await;
    assert_eq!(state(&jobs, &waiting.id).await, JobState::Cancelled);
    assert_eq!(probe.runs_of(&waiting.id), 0);
    assert!(matches!(
        jobs.cancel("no-such-job").await,
        Err(JobsError::NotFound(_))
    ));
    runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_job_can_be_retried_and_a_waiting_one_cannot() {
    let env = Env::new().await;
    let jobs = env.jobs();
    let probe = Probe::default();
    let runner = env.runner(&probe).start().await.unwrap();
    let discarded = jobs.enqueue(job(Act::Discard)).await.unwrap();
    until_state(&jobs, &discarded.id, JobState::Discarded).await;
    assert!(jobs.retry(&discarded.id).await.unwrap());
    eventually("it ran again", || async {
        probe.runs_of(&discarded.id) == 2
    })
    .await;
    until_state(&jobs, &discarded.id, JobState::Discarded).await;
    assert_eq!(
        jobs.get(&discarded.id).await.unwrap().unwrap().errors.len(),
        2
    );

    let waiting = jobs
        .enqueue(job(Act::Return(json!(1))).after(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(!jobs.retry(&waiting.id).await.unwrap());
    assert_eq!(state(&jobs, &waiting.id).await, JobState::Scheduled);
    runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_jobs_are_enqueued_once_per_key() {
    let env = Env::new().await;
    let jobs = env.jobs();
    let unique = |tag: u32, unique: Unique| {
        NewJob::of::<Probe>(&Args {
            act: Act::Return(json!(tag)),
            tag,
        })
        .unwrap()
        .after(Duration::from_secs(10))
        .with(JobOptions::default().unique(unique))
    };
    let first = jobs.enqueue(unique(1, Unique::by_args())).await.unwrap();
    let again = jobs.enqueue(unique(1, Unique::by_args())).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.id, first.id);
    let other_args = jobs.enqueue(unique(2, Unique::by_args())).await.unwrap();
    assert!(!other_args.duplicate);
    // In one bulk insert too.
    let bulk = jobs
        .enqueue_all(vec![
            unique(3, Unique::by_args()),
            unique(3, Unique::by_args()),
        ])
        .await
        .unwrap();
    assert!(!bulk[0].duplicate && bulk[1].duplicate);
    assert_eq!(bulk[0].id, bulk[1].id);

    // By period: a duplicate in the same minute, a new job in the next.
    let minute = || {
        Unique::by_args()
            .ignoring_args()
            .period(Duration::from_secs(60))
    };
    let a = jobs
        .enqueue(
            unique(10, minute()).with(JobOptions::default().queue("periodic").unique(minute())),
        )
        .await
        .unwrap();
    let b = jobs
        .enqueue(
            unique(11, minute()).with(JobOptions::default().queue("periodic").unique(minute())),
        )
        .await
        .unwrap();
    assert!(b.duplicate && b.id == a.id);
    env.clock.advance(Duration::from_secs(60));
    let c = jobs
        .enqueue(
            unique(12, minute()).with(JobOptions::default().queue("periodic").unique(minute())),
        )
        .await
        .unwrap();
    assert!(!c.duplicate);

    // A completed job keeps its key by default; one that released it on completion does not.
    let probe = Probe::default();
    let runner = env.runner(&probe).start().await.unwrap();
    env.clock.advance(Duration::from_secs(10));
    until_state(&jobs, &first.id, JobState::Completed).await;
    assert!(
        jobs.enqueue(unique(1, Unique::by_args()))
            .await
            .unwrap()
            .duplicate
    );
    let released = || Unique::by_args().including_finished(&[]);
    let once = jobs.enqueue(unique(5, released())).await.unwrap();
    assert!(jobs.enqueue(unique(5, released())).await.unwrap().duplicate);
    env.clock.advance(Duration::from_secs(10));
    until_state(&jobs, &once.id, JobState::Completed).await;
    assert!(!jobs.enqueue(unique(5, released())).await.unwrap().duplicate);
    runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_enqueued_in_a_transaction_exists_only_if_it_commits() {
    let env = Env::new().await;
    let jobs = env.jobs();
    let db = env.database.connection();
    db.execute_unprepared("CREATE TABLE widgets (id TEXT PRIMARY KEY)")
        .await
        .unwrap();
    let count = |sql: &'static str| async move {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                sql,
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    };

    let txn = db.begin().await.unwrap();
    txn.execute_unprepared("INSERT INTO widgets (id) VALUES ('rolled-back')")
        .await
        .unwrap();
    let lost = jobs
        .enqueue_in(&txn, job(Act::Return(json!(1))))
        .await
        .unwrap();
    txn.rollback().await.unwrap();
    assert_eq!(count("SELECT COUNT(*) FROM widgets").await, 0);
    assert!(jobs.get(&lost.id).await.unwrap().is_none());
    assert_eq!(count("SELECT COUNT(*) FROM jobs").await, 0);

    let probe = Probe::default();
    let runner = env.runner(&probe).start().await.unwrap();
    let txn = db.begin().await.unwrap();
    txn.execute_unprepared("INSERT INTO widgets (id) VALUES ('committed')")
        .await
        .unwrap();
    let kept = jobs
        .enqueue_in(&txn, job(Act::Return(json!(2))))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    jobs.wake(std::slice::from_ref(&kept)).await;
    assert_eq!(count("SELECT COUNT(*) FROM widgets").await, 1);
    until_state(&jobs, &kept.id, JobState::Completed).await;
    assert_eq!(probe.runs_of(&lost.id), 0);
    runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_enqueue_runs_every_job_exactly_once() {
    let env = Env::new().await;
    let jobs = env.jobs();
    let probe = Probe::default();
    let runner = env
        .runner(&probe)
        .queue(Queue::new("bulk").concurrency(8))
        .start()
        .await
        .unwrap();
    let batch: Vec<NewJob> = (0..500)
        .map(|tag| {
            NewJob::of::<Probe>(&Args {
                act: Act::Return(json!(tag)),
                tag,
            })
            .unwrap()
            .with(JobOptions::default().queue(if tag % 2 == 0 { "bulk" } else { "default" }))
        })
        .collect();
    let enqueued = jobs.enqueue_all(batch).await.unwrap();
    assert_eq!(enqueued.len(), 500);
    eventually("every job completed", || async {
        jobs.stats()
            .await
            .unwrap()
            .iter()
            .map(|q| q.completed)
            .sum::<u64>()
            == 500
    })
    .await;
    let mut runs: Vec<String> = probe.runs().into_iter().map(|(id, _)| id).collect();
    runs.sort();
    runs.dedup();
    assert_eq!(runs.len(), 500);
    assert_eq!(probe.runs().len(), 500, "no job ran twice");
    runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_wakes_an_idle_node_without_waiting_for_a_poll() {
    let env = Env::new().await;
    let jobs = env.jobs();
    let probe = Probe::default();
    let config = RunnerConfig {
        poll_interval: Duration::from_secs(3600),
        ..fast()
    };
    let runner = env.runner(&probe).config(config).start().await.unwrap();
    // Let the first (start-up) fetch find nothing, so the fetcher is idle.
    let first = jobs.enqueue(job(Act::Return(json!(0)))).await.unwrap();
    until_state(&jobs, &first.id, JobState::Completed).await;
    for n in 1..=3 {
        let next = jobs.enqueue(job(Act::Return(json!(n)))).await.unwrap();
        until_state(&jobs, &next.id, JobState::Completed).await;
    }
    runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_fires_once_per_schedule_across_two_nodes() {
    let env = Env::new().await;
    let jobs = env.jobs();
    let probe = Probe::default();
    let cron = || {
        Cron::new(
            "test.every-minute",
            "* * * * *",
            job(Act::Return(json!("tick"))),
        )
        .unwrap()
    };
    let a = env
        .runner(&probe)
        .cron(cron())
        .node_id("a")
        .start()
        .await
        .unwrap();
    let b = env
        .runner(&probe)
        .cron(cron())
        .node_id("b")
        .start()
        .await
        .unwrap();
    // The clock starts on a whole minute; the lookback (30 s) reaches no earlier fire
    // than 10:00 itself.
    let fired = || async { jobs.list(&jobs::ListFilter::default()).await.unwrap() };
    eventually("the 10:00 fire ran", || async {
        fired().await.iter().any(|j| j.state == JobState::Completed)
    })
    .await;
    for minute in 1..=3 {
        env.clock.advance(Duration::from_secs(60));
        eventually("this minute's fire completed", || async {
            fired()
                .await
                .iter()
                .filter(|j| j.state == JobState::Completed)
                .count()
                == minute + 1
        })
        .await;
    }
    let all = fired().await;
    assert_eq!(all.len(), 4, "one job per fire: {all:#?}");
    let mut due: Vec<DateTime<Utc>> = all.iter().map(|j| j.scheduled_at).collect();
    due.sort();
    let expected: Vec<DateTime<Utc>> = (0..4)
        .map(|m| start_time() + chrono::Duration::minutes(m))
        .collect();
    assert_eq!(due, expected);
    assert_eq!(probe.runs().len(), 4);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_job_is_rescued_only_after_its_lease_expires() {
    let env = Env::new().await;
    let jobs = env.jobs();
    let probe = Probe::default();
    let a = env.runner(&probe).node_id("doomed").start().await.unwrap();
    let held = jobs.enqueue(job(Act::Gate)).await.unwrap();
    eventually("node a started the job", || async {
        probe.runs_of(&held.id) == 1
    })
    .await;
    // As SIGKILL would: nothing written, the lease left to run out.
    a.abort();
    let b = env
        .runner(&probe)
        .node_id("survivor")
        .start()
        .await
        .unwrap();
    let marker = jobs.enqueue(job(Act::Return(json!(1)))).await.unwrap();
    until_state(&jobs, &marker.id, JobState::Completed).await;
    env.clock.advance(Duration::from_secs(20));
    // Node b is fetching and rescuing, but the lease (30 s) is still alive.
    let marker = jobs.enqueue(job(Act::Return(json!(2)))).await.unwrap();
    until_state(&jobs, &marker.id, JobState::Completed).await;
    let view = jobs.get(&held.id).await.unwrap().unwrap();
    assert_eq!(view.state, JobState::Executing);
    assert_eq!(view.attempted_by.as_deref(), Some("doomed"));
    assert_eq!(probe.runs_of(&held.id), 1);

    env.clock.advance(Duration::from_secs(11));
    probe.gate.add_permits(1);
    until_state(&jobs, &held.id, JobState::Completed).await;
    let view = jobs.get(&held.id).await.unwrap().unwrap();
    assert_eq!(view.attempt, 2);
    assert_eq!(view.attempted_by.as_deref(), Some("survivor"));
    assert_eq!(view.errors[0].error, "lease expired on node doomed");
    assert_eq!(probe.runs_of(&held.id), 2);
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_lost_its_lease_stops_its_copy_of_the_job() {
    let env = Env::new().await;
    let jobs = env.jobs();
    let probe = Probe::default();
    // Node a renews its leases rarely, so another node's rescue can take the job first
    // (as when a's heartbeats do not reach the database for a whole lease).
    let slow = RunnerConfig {
        heartbeat: Duration::from_secs(2),
        ..fast()
    };
    let a = env
        .runner(&probe)
        .config(slow)
        .node_id("stalled")
        .start()
        .await
        .unwrap();
    let held = jobs.enqueue(job(Act::Hang)).await.unwrap();
    eventually("node a started the job", || async {
        probe.runs_of(&held.id) == 1
    })
    .await;
    let b = env.runner(&probe).node_id("rescuer").start().await.unwrap();
    env.clock.advance(Duration::from_secs(31));
    eventually("attempt 2 started", || async {
        probe.runs_of(&held.id) == 2
    })
    .await;
    eventually("the first copy was stopped", || async {
        probe.dropped.load(Ordering::SeqCst) == 1
    })
    .await;
    eventually("one node holds it", || async {
        a.running() + b.running() == 1
    })
    .await;
    let view = jobs.get(&held.id).await.unwrap().unwrap();
    assert_eq!(view.attempt, 2);
    assert_eq!(view.state, JobState::Executing);
    assert_eq!(view.errors[0].error, "lease expired on node stalled");
    jobs.cancel(&held.id).await.unwrap();
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_running_jobs_and_gives_back_the_rest() {
    let env = Env::new().await;
    let jobs = env.jobs();
    let probe = Probe::default();
    let runner = env.runner(&probe).start().await.unwrap();
    let finishing = jobs.enqueue(job(Act::Gate)).await.unwrap();
    let stuck = jobs.enqueue(job(Act::Hang)).await.unwrap();
    eventually("both started", || async { probe.runs().len() == 2 }).await;
    let shutdown = tokio::spawn(runner.shutdown());
    probe.gate.add_permits(1);
    shutdown.await.unwrap();
    let done = jobs.get(&finishing.id).await.unwrap().unwrap();
    assert_eq!(done.state, JobState::Completed);
    let back = jobs.get(&stuck.id).await.unwrap().unwrap();
    assert_eq!(back.state, JobState::Available);
    assert_eq!(back.attempt, 0, "an interrupted attempt does not count");
    // The next node picks it up.
    let next = env.runner(&probe).start().await.unwrap();
    eventually("another node started it", || async {
        probe.runs_of(&stuck.id) == 2
    })
    .await;
    jobs.cancel(&stuck.id).await.unwrap();
    next.shutdown().await;
}

#[derive(Clone, Default)]
struct Echo {
    started: Arc<AtomicUsize>,
}

impl Worker for Echo {
    const NAME: &'static str = "test.echo";
    type Args = Value;

    fn options() -> JobOptions {
        JobOptions::default().queue("rpc")
    }

    async fn perform(&self, job: Job<Value>) -> Result<Value, JobError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        match job.args.get("fail") {
            Some(reason) => Err(JobError::retry(reason)),
            None if job.args.get("hang").is_some() => futures::future::pending().await,
            None => Ok(json!({"echo": job.args})),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_runs_on_a_serving_node_and_a_dead_node_gives_a_timeout() {
    let env = Env::new().await;
    let jobs = env.jobs();
    let short = Duration::from_secs(5);
    assert!(matches!(
        jobs.call::<Echo, Value>(&json!({"x": 1}), short).await,
        Err(JobsError::NoNode(queue)) if queue == "rpc"
    ));
    let echo = Echo::default();
    let runner = Runner::builder(env.jobs())
        .config(fast())
        .queue(Queue::new("rpc").concurrency(4))
        .worker(echo.clone())
        .start()
        .await
        .unwrap();
    let answer: Value = jobs
        .call::<Echo, Value>(&json!({"x": 1}), short)
        .await
        .unwrap();
    assert_eq!(answer, json!({"echo": {"x": 1}}));
    match jobs
        .call::<Echo, Value>(&json!({"fail": "no such match"}), short)
        .await
    {
        Err(JobsError::Failed(error)) => assert_eq!(error, "\"no such match\""),
        other => panic!("{other:?}"),
    }
    // Nothing was stored.
    assert!(
        jobs.list(&jobs::ListFilter::default())
            .await
            .unwrap()
            .is_empty()
    );

    // The serving node dies mid-call: the caller gets a timeout, not a hang.
    let call = {
        let jobs = jobs.clone();
        tokio::spawn(async move {
            jobs.call::<Echo, Value>(&json!({"hang": true}), Duration::from_millis(500))
                .await
        })
    };
    eventually("the call is running", || async {
        echo.started.load(Ordering::SeqCst) == 3
    })
    .await;
    runner.abort();
    let started = std::time::Instant::now();
    assert!(matches!(call.await.unwrap(), Err(JobsError::Timeout(_))));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_queue_starts_nothing_until_resumed() {
    let env = Env::new().await;
    let jobs = env.jobs();
    let probe = Probe::default();
    let runner = env
        .runner(&probe)
        .queue(Queue::new("other"))
        .start()
        .await
        .unwrap();
    jobs.pause("default").await.unwrap();
    let held = jobs.enqueue(job(Act::Return(json!(1)))).await.unwrap();
    let other = jobs
        .enqueue(job(Act::Return(json!(2))).with(JobOptions::default().queue("other")))
        .await
        .unwrap();
    until_state(&jobs, &other.id, JobState::Completed).await;
    assert_eq!(state(&jobs, &held.id).await, JobState::Available);
    let stats = jobs.stats().await.unwrap();
    let default = stats.iter().find(|q| q.queue == "default").unwrap();
    assert!(default.paused);
    assert_eq!(default.available, 1);
    jobs.resume("default").await.unwrap();
    until_state(&jobs, &held.id, JobState::Completed).await;
    runner.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_and_rate_limits_hold_across_nodes() {
    let env = Env::new().await;
    let jobs = env.jobs();
    let probe = Probe::default();
    let limited = || Queue::new("limited").concurrency(5).global_limit(2);
    let a = env.runner(&probe).queue(limited()).start().await.unwrap();
    let b = env.runner(&probe).queue(limited()).start().await.unwrap();
    let in_limited = |act| job(act).with(JobOptions::default().queue("limited"));
    let batch: Vec<NewJob> = (0..8).map(|_| in_limited(Act::Concurrent)).collect();
    jobs.enqueue_all(batch).await.unwrap();
    let completed = |queue: &'static str| {
        let jobs = jobs.clone();
        async move {
            jobs.stats()
                .await
                .unwrap()
                .iter()
                .find(|q| q.queue == queue)
                .map_or(0, |q| q.completed)
        }
    };
    for released in 0..=8 {
        eventually("as many run as the global limit allows", || async {
            completed("limited").await == released
                && probe.now_running.load(Ordering::SeqCst) == 2.min(8 - released as usize)
        })
        .await;
        probe.gate.add_permits(1);
    }
    assert_eq!(probe.most_running.load(Ordering::SeqCst), 2);
    a.shutdown().await;
    b.shutdown().await;

    // Three attempts per hour of the manual clock, across both nodes.
    let rated = || {
        Queue::new("rated")
            .concurrency(5)
            .rate_limit(3, Duration::from_secs(3600))
    };
    let a = env.runner(&probe).queue(rated()).start().await.unwrap();
    let b = env.runner(&probe).queue(rated()).start().await.unwrap();
    let batch: Vec<NewJob> = (0..5)
        .map(|_| job(Act::Return(json!(1))).with(JobOptions::default().queue("rated")))
        .collect();
    jobs.enqueue_all(batch).await.unwrap();
    eventually("three ran", || async { completed("rated").await == 3 }).await;
    // Another queue's job completing shows both nodes kept fetching; "rated" stayed at 3.
    let marker = jobs.enqueue(job(Act::Return(json!(0)))).await.unwrap();
    until_state(&jobs, &marker.id, JobState::Completed).await;
    assert_eq!(completed("rated").await, 3);
    env.clock.advance(Duration::from_secs(3601));
    eventually("the rest ran in the next window", || async {
        completed("rated").await == 5
    })
    .await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_jobs_are_pruned_after_their_age() {
    let env = Env::new().await;
    let jobs = env.jobs();
    let probe = Probe::default();
    let config = RunnerConfig {
        prune_after: Duration::from_secs(3600),
        ..fast()
    };
    let runner = env.runner(&probe).config(config).start().await.unwrap();
    let done = jobs.enqueue(job(Act::Return(json!(1)))).await.unwrap();
    until_state(&jobs, &done.id, JobState::Completed).await;
    let waiting = jobs
        .enqueue(job(Act::Return(json!(2))).after(Duration::from_secs(7200)))
        .await
        .unwrap();
    env.clock.advance(Duration::from_secs(3601));
    eventually("the finished job was pruned", || async {
        jobs.get(&done.id).await.unwrap().is_none()
    })
    .await;
    assert_eq!(
        state(&jobs, &waiting.id).await,
        JobState::Scheduled,
        "unfinished jobs stay"
    );
    runner.shutdown().await;
}
