//! A service's long-running loops (an outbox relay, an expiry sweeper, a bus listener) as
//! children of the root supervisor, so the node stops them with everything else.
//!
//! Each loop runs as a tokio task owned by a small actor linked under the root. When the
//! node shuts down, the actor asks the task to stop (through its `Notify`, if it listens
//! to one), waits up to a grace period for it to finish its pass, then aborts it. A loop
//! that ends on its own is an error the root reports: a service has lost a part.

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinHandle};

/// How long a stopping loop may take to finish its current pass.
const GRACE: Duration = Duration::from_secs(5);

struct Background;

/// The task, and how to ask it to stop (none: it is aborted).
struct Loop {
    task: Option<JoinHandle<()>>,
    stop: Option<Arc<Notify>>,
}

/// What the actor keeps: the watcher of the task, and the task's own abort handle.
struct Running {
    watcher: Option<JoinHandle<()>>,
    abort: Option<AbortHandle>,
    stop: Option<Arc<Notify>>,
}

impl Actor for Background {
    /// Sent by the watcher when the task ended by itself.
    type Msg = String;
    type State = Running;
    type Arguments = Loop;

    async fn pre_start(
        &self,
        myself: ActorRef<String>,
        mut given: Loop,
    ) -> Result<Running, ActorProcessingErr> {
        let task = given.task.take();
        let abort = task.as_ref().map(JoinHandle::abort_handle);
        let watcher = task.map(|task| {
            tokio::spawn(async move {
                let reason = match task.await {
                    Ok(()) => "ended".to_owned(),
                    Err(error) => format!("failed: {error}"),
                };
                // Refused once the actor is stopping: then the end was asked for.
                let _ = myself.cast(reason);
            })
        });
        Ok(Running {
            watcher,
            abort,
            stop: given.stop,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<String>,
        reason: String,
        _running: &mut Running,
    ) -> Result<(), ActorProcessingErr> {
        Err(format!("background loop {reason}").into())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<String>,
        running: &mut Running,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(stop) = &running.stop {
            stop.notify_one();
        }
        let finished = match (&running.stop, running.watcher.take()) {
            (Some(_), Some(watcher)) => tokio::time::timeout(GRACE, watcher).await.is_ok(),
            _ => false,
        };
        if !finished && let Some(abort) = &running.abort {
            abort.abort();
        }
        Ok(())
    }
}

/// Runs `task` under `supervisor` as `name`; `stop`, if given, is how it is asked to finish.
pub async fn supervise(
    supervisor: &ActorCell,
    name: &str,
    task: JoinHandle<()>,
    stop: Option<Arc<Notify>>,
) -> anyhow::Result<()> {
    Actor::spawn_linked(
        Some(format!("{name}-{}", uuid::Uuid::new_v4())),
        Background,
        Loop {
            task: Some(task),
            stop,
        },
        supervisor.clone(),
    )
    .await?;
    Ok(())
}
