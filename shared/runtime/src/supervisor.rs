//! The root of the node's supervision tree.
//!
//! ```text
//! root (this actor)
//! ├── <service> registry / supervisor   (linked by each module's `start`)
//! │   └── one actor per key ...
//! └── ...
//! ```
//!
//! Policy: each service supervisor restarts its own children (see `actors`), and a key in
//! a crash loop only has its own circuit opened there; it never reaches this actor. A
//! failure that reaches the root is a service supervisor (or background loop) failing in
//! itself, so the node cannot heal itself: the root reports it, and the node shuts down
//! cleanly to be restarted by its orchestrator, as an OTP node does when its top
//! supervisor gives up.

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::mpsc::UnboundedSender;

pub(crate) struct Root;

impl Actor for Root {
    type Msg = ();
    type State = UnboundedSender<String>;
    type Arguments = UnboundedSender<String>;

    async fn pre_start(
        &self,
        _myself: ActorRef<()>,
        fatal: UnboundedSender<String>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(fatal)
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<()>,
        event: SupervisionEvent,
        fatal: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(child, error) => {
                let name = child
                    .get_name()
                    .unwrap_or_else(|| child.get_id().to_string());
                tracing::error!(child = %name, %error, "a service supervisor gave up; stopping the node");
                metrics::counter!("actor_escalations_total", "supervisor" => "root").increment(1);
                // The receiver is gone only while the node is already stopping.
                let _ = fatal.send(format!("{name} failed: {error}"));
            }
            SupervisionEvent::ActorTerminated(child, _, reason) => {
                tracing::debug!(child = ?child.get_name(), ?reason, "service supervisor stopped");
            }
            _ => {}
        }
        Ok(())
    }
}
