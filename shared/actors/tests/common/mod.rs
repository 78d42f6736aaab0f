//! A test behaviour: a counter per key, persisted to a shared in-memory "database", with
//! messages that fail, panic or block on demand.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actors::ractor::RpcReplyPort;
use actors::{ActorError, CircuitPolicy, Keyed, Registry, RegistryConfig, RestartPolicy};
use tokio::sync::Notify;

#[derive(Default)]
pub struct Counters {
    /// key -> persisted total: what `init` loads.
    pub db: Mutex<HashMap<String, i64>>,
    /// How many times `init` ran, per key.
    pub inits: Mutex<HashMap<String, usize>>,
    /// How many times `on_stop` ran.
    pub stops: AtomicUsize,
    /// Keys whose `init` fails.
    pub broken: Mutex<Vec<String>>,
}

impl Counters {
    pub fn inits(&self, key: &str) -> usize {
        self.inits.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

pub enum Msg {
    Add {
        by: i64,
        reply: RpcReplyPort<i64>,
    },
    /// Replies (total, incarnation = how many inits of this key had run when this actor
    /// was built).
    Get {
        reply: RpcReplyPort<(i64, usize)>,
    },
    Ping {
        reply: RpcReplyPort<()>,
    },
    /// `handle` returns Err (reply port dropped).
    Fail {
        reply: RpcReplyPort<()>,
    },
    /// `handle` panics.
    Panic {
        reply: RpcReplyPort<()>,
    },
    /// Waits for `gate` before replying.
    Block {
        gate: Arc<Notify>,
        reply: RpcReplyPort<()>,
    },
    /// Says it has started (`entered`), then waits for `gate` before replying: a busy
    /// actor whose business the test can see.
    Hold {
        entered: Arc<Notify>,
        gate: Arc<Notify>,
        reply: RpcReplyPort<()>,
    },
    /// Replies with the deadline the registry exposes to the handler.
    Deadline {
        reply: RpcReplyPort<Option<tokio::time::Instant>>,
    },
}

pub struct State {
    total: i64,
    incarnation: usize,
}

impl Keyed for Counters {
    type Key = String;
    type Msg = Msg;
    type State = State;

    async fn init(&self, key: &String) -> Result<State, ActorError> {
        // Let concurrent callers pile up while "the database" answers.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        if self.broken.lock().unwrap().contains(key) {
            return Err(ActorError::failed(format!("no such counter {key}")));
        }
        let incarnation = {
            let mut inits = self.inits.lock().unwrap();
            let n = inits.entry(key.clone()).or_default();
            *n += 1;
            *n
        };
        let total = self.db.lock().unwrap().get(key).copied().unwrap_or(0);
        Ok(State { total, incarnation })
    }

    async fn handle(&self, key: &String, state: &mut State, msg: Msg) -> Result<(), ActorError> {
        match msg {
            Msg::Add { by, reply } => {
                state.total += by;
                self.db.lock().unwrap().insert(key.clone(), state.total);
                let _ = reply.send(state.total);
            }
            Msg::Get { reply } => {
                let _ = reply.send((state.total, state.incarnation));
            }
            Msg::Ping { reply } => {
                let _ = reply.send(());
            }
            Msg::Fail { reply: _ } => return Err(ActorError::failed("asked to fail")),
            Msg::Panic { reply: _ } => panic!("asked to panic"),
            Msg::Block { gate, reply } => {
                gate.notified().await;
                let _ = reply.send(());
            }
            Msg::Hold {
                entered,
                gate,
                reply,
            } => {
                entered.notify_one();
                gate.notified().await;
                let _ = reply.send(());
            }
            Msg::Deadline { reply } => {
                let _ = reply.send(actors::deadline());
            }
        }
        Ok(())
    }

    fn on_stop(&self, _key: &String, _state: &mut State) -> impl Future<Output = ()> + Send {
        self.stops.fetch_add(1, Ordering::SeqCst);
        async {}
    }
}

pub fn config() -> RegistryConfig {
    RegistryConfig {
        idle_timeout: Duration::from_secs(600),
        sweep_interval: None,
        restart: RestartPolicy {
            max_restarts: 5,
            within: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(5),
            backoff_max: Duration::from_millis(50),
        },
        circuit: CircuitPolicy {
            open_initial: Duration::from_millis(300),
            open_max: Duration::from_secs(2),
        },
        mailbox_capacity: 1024,
        call_timeout: Duration::from_secs(5),
    }
}

pub async fn registry(config: RegistryConfig) -> (Registry<Counters>, Arc<Counters>) {
    let behaviour = Arc::new(Counters::default());
    let registry = Registry::spawn("counters", Arc::clone(&behaviour), config, None)
        .await
        .expect("spawn registry");
    (registry, behaviour)
}

/// Poll `cond` until it holds, yielding between tries; panic after `within`.
pub async fn eventually(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let polled = tokio::time::timeout(within, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(polled.is_ok(), "not within {within:?}: {what}");
}
