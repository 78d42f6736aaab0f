//! The keyed registry against real ractor actors: spawn on demand, crash and restart,
//! circuits per key, passivation, timeouts, deadlines, bounded mailboxes, shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actors::ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use actors::{ActorError, Registry, RegistryConfig, RestartPolicy};
use common::{Counters, Msg, config, eventually, registry};
use tokio::sync::{Notify, mpsc};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_spawns_on_demand_and_handles_calls() {
    let (registry, db) = registry(config()).await;
    assert!(registry.is_empty());
    let handle = registry.get("a".into()).await.unwrap();
    assert_eq!(handle.key(), "a");
    assert_eq!(handle.call(|reply| Msg::Add { by: 2, reply }).await, Ok(2));
    assert_eq!(handle.call(|reply| Msg::Add { by: 3, reply }).await, Ok(5));
    // A second get finds the same actor (no second init).
    let again = registry.get("a".into()).await.unwrap();
    assert_eq!(again.call(|reply| Msg::Get { reply }).await, Ok((5, 1)));
    assert_eq!(db.inits("a"), 1);
    assert_eq!(registry.len(), 1);
    // Keys are independent.
    assert_eq!(
        registry
            .call("b".into(), |reply| Msg::Add { by: 7, reply })
            .await,
        Ok(7)
    );
    assert_eq!(registry.len(), 2);
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cast_is_delivered_in_order() {
    let (registry, _db) = registry(config()).await;
    let handle = registry.get("a".into()).await.unwrap();
    for _ in 0..10 {
        let (tx, _rx) = tokio::sync::oneshot::channel();
        handle
            .cast(Msg::Add {
                by: 1,
                reply: tx.into(),
            })
            .await
            .unwrap();
    }
    assert_eq!(handle.call(|reply| Msg::Get { reply }).await, Ok((10, 1)));
    registry.stop().await;
}

async fn crash_restarts_with_state_rebuilt(crash: fn(actors::ractor::RpcReplyPort<()>) -> Msg) {
    let (registry, db) = registry(config()).await;
    let handle = registry.get("k".into()).await.unwrap();
    assert_eq!(handle.call(|reply| Msg::Add { by: 5, reply }).await, Ok(5));

    // The request that crashed the actor fails: its reply port died with the actor.
    let crashed = handle.call(crash).await;
    assert!(
        matches!(crashed, Err(ActorError::Failed(_))),
        "got {crashed:?}"
    );

    // It comes back under its key by itself (eager restart after the backoff), rebuilt by
    // init from the "database".
    eventually(WAIT, "restarted", || db.inits("k") == 2).await;

    // The handle taken before the crash still works: it re-resolves the key.
    assert_eq!(handle.call(|reply| Msg::Get { reply }).await, Ok((5, 2)));
    assert_eq!(handle.call(|reply| Msg::Add { by: 1, reply }).await, Ok(6));
    assert_eq!(registry.len(), 1);
    // A fresh get finds the restarted actor, not a third one.
    let fresh = registry.get("k".into()).await.unwrap();
    assert_eq!(fresh.call(|reply| Msg::Get { reply }).await, Ok((6, 2)));
    assert_eq!(db.inits("k"), 2);
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_error_crashes_and_restarts() {
    crash_restarts_with_state_rebuilt(|reply| Msg::Fail { reply }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_panic_crashes_and_restarts() {
    crash_restarts_with_state_rebuilt(|reply| Msg::Panic { reply }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_during_backoff_wait_for_the_restart() {
    let mut cfg = config();
    // A long enough backoff that the next call surely lands inside it.
    cfg.restart.backoff_initial = Duration::from_millis(300);
    cfg.restart.backoff_max = Duration::from_millis(300);
    let (registry, db) = registry(cfg).await;
    let handle = registry.get("k".into()).await.unwrap();
    assert_eq!(handle.call(|reply| Msg::Add { by: 1, reply }).await, Ok(1));
    let crashed = handle.call(|reply| Msg::Fail { reply }).await;
    assert!(matches!(crashed, Err(ActorError::Failed(_))));
    // Wait until the supervisor has seen the crash (the dead actor is unpublished) ...
    eventually(WAIT, "crash noticed", || registry.is_empty()).await;
    // ... then call: this waits out the backoff instead of failing.
    let started = Instant::now();
    assert_eq!(handle.call(|reply| Msg::Get { reply }).await, Ok((1, 2)));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(db.inits("k"), 2);
    registry.stop().await;
}

/// A parent that forwards every supervision event it receives to the test.
struct Parent;

impl Actor for Parent {
    type Msg = ();
    type State = mpsc::UnboundedSender<(String, bool)>;
    type Arguments = mpsc::UnboundedSender<(String, bool)>;

    async fn pre_start(
        &self,
        _myself: ActorRef<()>,
        events: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(events)
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<()>,
        event: SupervisionEvent,
        events: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let failed = matches!(event, SupervisionEvent::ActorFailed(..));
        if let Some(id) = event.actor_id() {
            let _ = events.send((format!("{id} {event}"), failed));
        }
        Ok(())
    }
}

/// Every failure the parent has seen from `registry_id` so far, without waiting.
fn failures_seen(
    events: &mut mpsc::UnboundedReceiver<(String, bool)>,
    registry_id: &str,
) -> Vec<String> {
    let mut failures = Vec::new();
    while let Ok((event, failed)) = events.try_recv() {
        if failed && event.starts_with(registry_id) {
            failures.push(event);
        }
    }
    failures
}

/// Polls `key` (bounded by `WAIT`) until its circuit is open and returns the wait it
/// answers with: the crash that opens it is processed by the supervisor after the caller
/// saw it, and a dying actor may look alive for a moment.
async fn until_circuit_opens(registry: &Registry<Counters>, key: &str) -> Duration {
    tokio::time::timeout(WAIT, async {
        loop {
            match registry.get(key.into()).await {
                Err(ActorError::CircuitOpen { retry_after }) => return retry_after,
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    })
    .await
    .expect("the circuit opened")
}

/// Poll `registry.get(key)` until it answers something other than `CircuitOpen`.
async fn until_circuit_closes(
    registry: &Registry<Counters>,
    key: &str,
) -> Result<actors::Handle<Counters>, ActorError> {
    tokio::time::timeout(WAIT, async {
        loop {
            match registry.get(key.into()).await {
                Err(ActorError::CircuitOpen { .. }) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                other => return other,
            }
        }
    })
    .await
    .expect("the circuit let a request through")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_opens_that_keys_circuit_and_never_fails_the_registry() {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (parent, _parent_join) = Actor::spawn(None, Parent, events_tx).await.unwrap();
    let behaviour = Arc::new(Counters::default());
    let mut cfg = config();
    cfg.restart = RestartPolicy {
        max_restarts: 2,
        within: Duration::from_secs(60),
        backoff_initial: Duration::from_millis(1),
        backoff_max: Duration::from_millis(10),
    };
    let open_initial = cfg.circuit.open_initial;
    let registry = Registry::spawn(
        "crash-loop",
        Arc::clone(&behaviour),
        cfg,
        Some(parent.get_cell()),
    )
    .await
    .unwrap();
    let registry_id = registry.cell().get_id().to_string();

    // An unrelated key that is healthy: it must keep answering throughout.
    let bystander = registry.get("other".into()).await.unwrap();
    assert_eq!(
        bystander.call(|reply| Msg::Add { by: 1, reply }).await,
        Ok(1)
    );

    let handle = registry.get("loop".into()).await.unwrap();
    handle
        .call(|reply| Msg::Add { by: 10, reply })
        .await
        .unwrap();
    // Two crashes are restarted as before ...
    for incarnation in 1..=2 {
        handle.call(|reply| Msg::Ping { reply }).await.unwrap();
        assert!(handle.call(|reply| Msg::Panic { reply }).await.is_err());
        eventually(WAIT, "restarted", || {
            behaviour.inits("loop") == incarnation + 1
        })
        .await;
    }
    // ... the third within the window opens the key's circuit.
    handle.call(|reply| Msg::Ping { reply }).await.unwrap();
    assert!(handle.call(|reply| Msg::Fail { reply }).await.is_err());
    let refused = tokio::time::timeout(WAIT, async {
        loop {
            match handle.call(|reply| Msg::Ping { reply }).await {
                Err(ActorError::CircuitOpen { retry_after }) => return retry_after,
                // The crash has not been processed yet (the handle still reached the
                // dead actor, or waited for a restart that is no longer coming).
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    })
    .await
    .expect("the key answers CircuitOpen");
    assert!(
        !refused.is_zero() && refused <= open_initial,
        "retry_after {refused:?} within the open period {open_initial:?}"
    );
    assert!(matches!(
        registry.get("loop".into()).await,
        Err(ActorError::CircuitOpen { .. })
    ));

    // The registry and every other key carry on.
    assert!(registry.is_running());
    assert_eq!(
        bystander.call(|reply| Msg::Add { by: 1, reply }).await,
        Ok(2)
    );
    assert_eq!(
        registry
            .call("new".into(), |reply| Msg::Add { by: 3, reply })
            .await,
        Ok(3)
    );
    assert_eq!(behaviour.inits("loop"), 3, "no restart while open");

    // Still broken when the window ends: the probe's init fails, and the circuit reopens
    // for longer than the first time.
    behaviour.broken.lock().unwrap().push("loop".into());
    let reopened = tokio::time::timeout(WAIT, async {
        loop {
            match registry.get("loop".into()).await {
                Err(ActorError::CircuitOpen { retry_after }) if retry_after > open_initial => {
                    return retry_after;
                }
                Err(ActorError::CircuitOpen { .. }) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                other => panic!("a broken key must stay refused, got {other:?}"),
            }
        }
    })
    .await
    .expect("the failed probe reopened the circuit for longer");
    assert!(reopened <= open_initial * 2, "{reopened:?}");

    // Fixed: after the window the next request goes through, state rebuilt by init.
    behaviour.broken.lock().unwrap().clear();
    let back = until_circuit_closes(&registry, "loop").await.unwrap();
    assert_eq!(back.call(|reply| Msg::Get { reply }).await, Ok((10, 4)));
    // The old handle works again too.
    assert_eq!(handle.call(|reply| Msg::Add { by: 1, reply }).await, Ok(11));

    assert!(registry.is_running());
    assert_eq!(
        failures_seen(&mut events, &registry_id),
        Vec::<String>::new()
    );
    registry.stop().await;
    parent.stop(None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_circuit_starts_from_a_clean_history() {
    let mut cfg = config();
    cfg.restart.max_restarts = 0;
    let (registry, db) = registry(cfg).await;
    let handle = registry.get("k".into()).await.unwrap();
    assert!(handle.call(|reply| Msg::Fail { reply }).await.is_err());
    // Open at once (no restarts allowed) ...
    until_circuit_opens(&registry, "k").await;
    // ... then the probe succeeds and closes it.
    let back = until_circuit_closes(&registry, "k").await.unwrap();
    assert_eq!(back.call(|reply| Msg::Ping { reply }).await, Ok(()));
    // The next crash opens again at the initial period, not a doubled one.
    assert!(back.call(|reply| Msg::Fail { reply }).await.is_err());
    let refused = until_circuit_opens(&registry, "k").await;
    assert!(refused <= config().circuit.open_initial, "{refused:?}");
    assert_eq!(db.inits("k"), 2);
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_failures_during_restarts_open_the_circuit_without_further_calls() {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (parent, _parent_join) = Actor::spawn(None, Parent, events_tx).await.unwrap();
    let behaviour = Arc::new(Counters::default());
    let mut cfg = config();
    cfg.restart.max_restarts = 3;
    // Long enough that the polling below surely sees it open.
    cfg.circuit.open_initial = Duration::from_secs(30);
    cfg.circuit.open_max = Duration::from_secs(30);
    let registry = Registry::spawn(
        "init-loop",
        Arc::clone(&behaviour),
        cfg,
        Some(parent.get_cell()),
    )
    .await
    .unwrap();
    let registry_id = registry.cell().get_id().to_string();
    let handle = registry.get("k".into()).await.unwrap();
    handle.call(|reply| Msg::Ping { reply }).await.unwrap();
    // From now on every init of "k" fails: one crash, then restarts that cannot succeed.
    behaviour.broken.lock().unwrap().push("k".into());
    assert!(handle.call(|reply| Msg::Fail { reply }).await.is_err());
    // The eager restarts fail by themselves until the circuit opens; a caller arriving
    // meanwhile waits for that and is refused, not left to time out.
    let answered = until_circuit_opens(&registry, "k").await;
    assert!(answered > Duration::from_secs(20), "{answered:?}");
    assert!(registry.is_running());
    assert_eq!(
        failures_seen(&mut events, &registry_id),
        Vec::<String>::new()
    );
    registry.stop().await;
    parent.stop(None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_failure_on_demand_reaches_the_caller_and_is_retried_later() {
    let (registry, db) = registry(config()).await;
    db.broken.lock().unwrap().push("missing".into());
    assert_eq!(
        registry.get("missing".into()).await.err(),
        Some(ActorError::Failed("no such counter missing".into()))
    );
    assert_eq!(registry.len(), 0);
    db.broken.lock().unwrap().clear();
    let handle = registry.get("missing".into()).await.unwrap();
    assert_eq!(handle.call(|reply| Msg::Get { reply }).await, Ok((0, 1)));
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_gets_of_one_key_spawn_one_actor() {
    let (registry, db) = registry(config()).await;
    let start = Arc::new(tokio::sync::Barrier::new(100));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let registry = registry.clone();
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                let handle = registry.get("hot".into()).await?;
                handle.call(|reply| Msg::Add { by: 1, reply }).await
            })
        })
        .collect();
    let mut totals = Vec::new();
    for task in tasks {
        totals.push(task.await.unwrap().unwrap());
    }
    totals.sort_unstable();
    assert_eq!(
        totals,
        (1..=100).collect::<Vec<i64>>(),
        "one actor saw every add"
    );
    assert_eq!(db.inits("hot"), 1);
    assert_eq!(registry.len(), 1);
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_actors_passivate_and_come_back_on_next_use() {
    let mut cfg = config();
    cfg.idle_timeout = Duration::from_millis(200);
    cfg.sweep_interval = Some(Duration::from_millis(20));
    let (registry, db) = registry(cfg).await;
    let handle = registry.get("idle".into()).await.unwrap();
    assert_eq!(handle.call(|reply| Msg::Add { by: 4, reply }).await, Ok(4));
    registry.get("other".into()).await.unwrap();
    assert_eq!(registry.len(), 2);

    eventually(WAIT, "passivated", || registry.is_empty()).await;
    assert_eq!(db.stops.load(Ordering::SeqCst), 2, "on_stop ran for each");

    // The old handle keeps working: a fresh actor, state rebuilt by init.
    assert_eq!(handle.call(|reply| Msg::Get { reply }).await, Ok((4, 2)));
    assert_eq!(registry.len(), 1);
    // And so does a plain get.
    let again = registry.get("other".into()).await.unwrap();
    assert_eq!(again.call(|reply| Msg::Get { reply }).await, Ok((0, 2)));
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actors_in_use_are_not_passivated() {
    let mut cfg = config();
    cfg.idle_timeout = Duration::from_secs(1);
    cfg.sweep_interval = Some(Duration::from_millis(20));
    let (registry, db) = registry(cfg).await;
    let handle = registry.get("busy".into()).await.unwrap();
    // Pacing, not synchronisation: use the actor every 10 ms for 1.5 idle timeouts.
    let mut every = tokio::time::interval(Duration::from_millis(10));
    for _ in 0..150 {
        every.tick().await;
        handle.call(|reply| Msg::Ping { reply }).await.unwrap();
    }
    assert_eq!(db.inits("busy"), 1);
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reply_times_out_instead_of_hanging() {
    let mut cfg = config();
    cfg.call_timeout = Duration::from_millis(100);
    let (registry, _db) = registry(cfg).await;
    let handle = registry.get("slow".into()).await.unwrap();
    let gate = Arc::new(Notify::new());
    let started = Instant::now();
    let blocked = handle
        .call(|reply| Msg::Block {
            gate: Arc::clone(&gate),
            reply,
        })
        .await;
    assert_eq!(blocked, Err(ActorError::Timeout));
    assert!(started.elapsed() < Duration::from_secs(3));
    // Once the handler moves on, the actor answers again.
    gate.notify_one();
    assert_eq!(handle.call(|reply| Msg::Ping { reply }).await, Ok(()));
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_a_key_in_backoff_times_out() {
    let mut cfg = config();
    cfg.call_timeout = Duration::from_millis(100);
    cfg.restart.backoff_initial = Duration::from_secs(30);
    cfg.restart.backoff_max = Duration::from_secs(30);
    let (registry, _db) = registry(cfg).await;
    let handle = registry.get("k".into()).await.unwrap();
    assert!(handle.call(|reply| Msg::Fail { reply }).await.is_err());
    eventually(WAIT, "crash noticed", || registry.is_empty()).await;
    // The restart is 30 s away: a call gives up after the call timeout.
    assert_eq!(
        handle.call(|reply| Msg::Ping { reply }).await,
        Err(ActorError::Timeout)
    );
    assert!(matches!(
        registry.get("k".into()).await,
        Err(ActorError::Timeout)
    ));
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_drains_children_then_the_registry() {
    let (registry, db) = registry(config()).await;
    for key in ["a", "b", "c"] {
        registry
            .call(key.into(), |reply| Msg::Ping { reply })
            .await
            .unwrap();
    }
    let handle = registry.get("a".into()).await.unwrap();
    assert!(registry.is_running());
    registry.stop().await;
    assert!(!registry.is_running());
    assert_eq!(
        db.stops.load(Ordering::SeqCst),
        3,
        "on_stop ran for each child"
    );
    assert_eq!(registry.len(), 0);
    assert_eq!(
        handle.call(|reply| Msg::Ping { reply }).await,
        Err(ActorError::Unavailable)
    );
    assert!(matches!(
        registry.get("d".into()).await,
        Err(ActorError::Unavailable)
    ));
    registry.stop().await; // idempotent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_defaults_are_sane() {
    let cfg = RegistryConfig::default();
    assert_eq!(cfg.effective_sweep_interval(), Duration::from_secs(60));
    let short = RegistryConfig {
        idle_timeout: Duration::from_millis(8),
        ..cfg
    };
    assert_eq!(short.effective_sweep_interval(), Duration::from_millis(10));
    let zero = RegistryConfig {
        sweep_interval: Some(Duration::ZERO),
        ..cfg
    };
    assert_eq!(zero.effective_sweep_interval(), Duration::from_millis(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_caller_gave_up_while_queued_is_not_handled() {
    let mut cfg = config();
    cfg.call_timeout = Duration::from_millis(100);
    let (registry, db) = registry(cfg).await;
    let handle = registry.get("k".into()).await.unwrap();
    let gate = Arc::new(Notify::new());
    // A slow message holds the actor past the next caller's deadline ...
    let slow = handle
        .call(|reply| Msg::Block {
            gate: Arc::clone(&gate),
            reply,
        })
        .await;
    assert_eq!(slow, Err(ActorError::Timeout));
    // ... so this one waits in the mailbox until its caller gives up.
    assert_eq!(
        handle.call(|reply| Msg::Add { by: 1, reply }).await,
        Err(ActorError::Timeout)
    );
    gate.notify_one();
    // The actor moves on: the abandoned Add is skipped, not applied behind the caller's
    // back.
    assert_eq!(handle.call(|reply| Msg::Get { reply }).await, Ok((0, 1)));
    assert_eq!(db.db.lock().unwrap().get("k"), None, "nothing was written");
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_sees_its_callers_deadline() {
    let (registry, _db) = registry(config()).await;
    let handle = registry.get("k".into()).await.unwrap();
    let before = tokio::time::Instant::now();
    let seen = handle.call(|reply| Msg::Deadline { reply }).await.unwrap();
    let deadline = seen.expect("a call carries its deadline");
    assert!(
        deadline > before && deadline <= before + config().call_timeout + Duration::from_millis(50)
    );
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_mailbox_answers_overloaded_at_once_and_keeps_what_it_accepted() {
    let mut cfg = config();
    cfg.mailbox_capacity = 2;
    let (registry, _db) = registry(cfg).await;
    let handle = registry.get("busy".into()).await.unwrap();
    let entered = Arc::new(Notify::new());
    let gate = Arc::new(Notify::new());
    let held = tokio::spawn({
        let handle = handle.clone();
        let (entered, gate) = (Arc::clone(&entered), Arc::clone(&gate));
        async move {
            handle
                .call(|reply| Msg::Hold {
                    entered,
                    gate,
                    reply,
                })
                .await
        }
    });
    tokio::time::timeout(WAIT, entered.notified())
        .await
        .expect("the actor is busy");
    // Two fit in the mailbox behind the busy handler ...
    for _ in 0..2 {
        let (tx, _rx) = tokio::sync::oneshot::channel();
        handle
            .cast(Msg::Add {
                by: 1,
                reply: tx.into(),
            })
            .await
            .unwrap();
    }
    // ... the third is refused at once, by a call and by a cast alike.
    assert_eq!(
        handle.call(|reply| Msg::Add { by: 1, reply }).await,
        Err(ActorError::Overloaded)
    );
    let (tx, _rx) = tokio::sync::oneshot::channel();
    assert_eq!(
        handle
            .cast(Msg::Add {
                by: 1,
                reply: tx.into()
            })
            .await,
        Err(ActorError::Overloaded)
    );
    assert!(!held.is_finished(), "the actor was still busy");
    gate.notify_one();
    assert_eq!(held.await.unwrap(), Ok(()));
    // It handled exactly what it accepted, and takes new work again.
    assert_eq!(handle.call(|reply| Msg::Add { by: 0, reply }).await, Ok(2));
    registry.stop().await;
}
