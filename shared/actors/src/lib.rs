//! The ractor toolkit every service uses for "one actor per key" state: a user's wallet,
//! an order book market, a live match room, a running job.
//!
//! Invariant it enforces: one owner per piece of mutable state. Each keyed actor is
//! spawned on demand under its service's supervisor, stopped when idle, and restarted
//! (with backoff and an intensity limit, as in OTP) when it crashes; a key that crashes
//! past that limit is refused for a while (its circuit opens), never the whole registry.
//! Nothing else may mutate that state, and callers only reach it through a [`Handle`]
//! whose methods are bounded by a timeout, carry that deadline to the actor (which drops
//! what expired unhandled), meet a bounded mailbox, and return `Result`.
//!
//! - [`restart`]: the pure restart-or-escalate bookkeeping ([`RestartPolicy`],
//!   [`RestartTracker`], [`Decision`]), OTP's intensity; also used by the jobs runner.
//! - [`circuit`]: the pure circuit breaker per key built on it ([`Circuit`],
//!   [`CircuitPolicy`], [`Verdict`]).
//! - [`Keyed`]: what a service implements (`init` the state, `handle` one message).
//! - [`Registry`]: the supervisor of one kind of keyed actor, with its tree and policy in
//!   the [`registry`] module docs.
//!
//! This crate knows nothing about databases, HTTP or the bus; services bring those in
//! through their `Keyed` implementation.
//!
//! ```no_run
//! use std::sync::Arc;
//! use actors::{ActorError, Keyed, Registry, RegistryConfig};
//! use ractor::RpcReplyPort;
//!
//! struct Counters; // would hold e.g. a database pool
//!
//! enum CounterMsg {
//!     Add { by: i64, reply: RpcReplyPort<i64> },
//! }
//!
//! impl Keyed for Counters {
//!     type Key = String;
//!     type Msg = CounterMsg;
//!     type State = i64;
//!
//!     async fn init(&self, _key: &String) -> Result<i64, ActorError> {
//!         Ok(0) // load from the database
//!     }
//!
//!     async fn handle(&self, _key: &String, total: &mut i64, msg: CounterMsg) -> Result<(), ActorError> {
//!         match msg {
//!             CounterMsg::Add { by, reply } => {
//!                 *total += by;
//!                 let _ = reply.send(*total); // the caller may have timed out
//!             }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # async fn demo() -> Result<(), ActorError> {
//! let registry = Registry::spawn("counters", Arc::new(Counters), RegistryConfig::default(), None).await?;
//! let handle = registry.get("visits".to_owned()).await?;
//! let total = handle.call(|reply| CounterMsg::Add { by: 1, reply }).await?;
//! assert_eq!(total, 1);
//! registry.stop().await;
//! # Ok(())
//! # }
//! ```

pub mod circuit;
mod error;
mod keyed;
pub mod registry;
pub mod restart;

pub use circuit::{Circuit, CircuitPolicy, Verdict};
pub use error::ActorError;
pub use keyed::{Keyed, deadline};
pub use registry::{Handle, Registry, RegistryConfig};
pub use restart::{Decision, RestartPolicy, RestartTracker};

/// Re-exported so services name the reply port and supervision types through this crate
/// and stay on the same ractor version.
pub use ractor;
