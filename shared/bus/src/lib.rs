//! The messaging port of the platform: services talk to each other only through a [`Bus`].
//!
//! One trait, two backends, one behaviour (pinned down by `tests/conformance.rs`, which runs
//! unchanged against both):
//! - [`LocalBus`]: in-process, the embedded default, no external services. Its durable
//!   streams are kept **in memory**: they survive a consumer going away, not a process
//!   restart. In embedded mode a service gets durability from its database (write, then
//!   publish from an outbox), not from the bus.
//! - [`NatsBus`]: NATS core for publish/subscribe/request, JetStream for durable streams.
//!
//! What the port offers:
//! - publish / subscribe with NATS subject semantics (`*` one token, `>` one or more
//!   trailing tokens), queue groups (each message to one member), request/reply with a
//!   timeout and a fast "no responders" answer;
//! - durable streams: publish with a store ack and dedupe by message id, durable consumers
//!   with explicit acks and redelivery after `ack_wait`.
//!
//! Every outgoing message gets a message id ([`MESSAGE_ID_HEADER`], which JetStream dedupes
//! on) and the caller's W3C trace context unless it already carries one, so a trace follows
//! a request across services. Subjects are named in `contracts`, not here: this crate knows
//! nothing of what flows over it.
//!
//! Metrics: `bus_messages_total{direction="published"|"delivered", backend}` and
//! `bus_slow_consumer_drops_total{backend}`.

mod durable;
mod error;
pub(crate) mod local;
mod message;
pub(crate) mod nats;
pub mod subject;
mod subscription;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use durable::{
    ConsumerConfig, DEFAULT_ACK_WAIT, DEFAULT_DUPLICATE_WINDOW, DurableMessage,
    DurableSubscription, StreamConfig,
};
pub use error::BusError;
pub use local::{DEFAULT_SUBSCRIPTION_CAPACITY, LocalBus};
pub use message::{Headers, MESSAGE_ID_HEADER, Message, TRACEPARENT_HEADER};
pub use nats::{DEFAULT_CLIENT_NAME, NatsBus};
pub use subscription::Subscription;

/// The bus as services hold it.
pub type DynBus = Arc<dyn Bus>;

/// The messaging port. Both backends implement it identically (see the crate docs).
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes `msg` to everyone subscribed to a matching pattern. Fire and forget: no
    /// subscriber is not an error. Sets a message id and trace context if missing.
    async fn publish(&self, msg: Message) -> Result<(), BusError>;

    /// Subscribes to `subject_pattern` (`*` matches one token, `>` one or more trailing
    /// tokens). Dropping the subscription unsubscribes.
    async fn subscribe(&self, subject_pattern: &str) -> Result<Subscription, BusError>;

    /// Subscribes as a member of queue group `group`: each message goes to exactly one
    /// member of the group (and, independently, to every plain subscriber).
    async fn queue_subscribe(
        &self,
        subject_pattern: &str,
        group: &str,
    ) -> Result<Subscription, BusError>;

    /// Sends `msg` and waits up to `timeout` for the first reply.
    ///
    /// Fails with [`BusError::NoResponders`] at once when nobody is subscribed, and with
    /// [`BusError::Timeout`] when someone is but does not answer in time.
    async fn request(&self, msg: Message, timeout: Duration) -> Result<Message, BusError>;

    /// Answers `request` with `response`, which is readdressed to the request's reply
    /// subject.
    async fn reply(&self, request: &Message, mut response: Message) -> Result<(), BusError> {
        let reply = request
            .reply
            .as_ref()
            .ok_or_else(|| BusError::NoReplySubject {
                subject: request.subject.clone(),
            })?;
        response.subject.clone_from(reply);
        response.reply = None;
        self.publish(response).await
    }

    /// Creates the stream, or updates it to `config` if it exists. Idempotent.
    async fn ensure_stream(&self, config: StreamConfig) -> Result<(), BusError>;

    /// Deletes a stream and its consumers; false if there was no such stream.
    async fn delete_stream(&self, name: &str) -> Result<bool, BusError>;

    /// Stores `msg` in the stream capturing its subject and returns its stream sequence once
    /// the store has acknowledged it. A message whose id was already stored within the
    /// stream's duplicate window is not stored again: the original sequence is returned.
    /// Fails with [`BusError::NoStream`] when no stream captures the subject.
    async fn publish_durable(&self, msg: Message) -> Result<u64, BusError>;

    /// Attaches to (creating if needed) the durable consumer `config.durable_name`.
    ///
    /// Messages not acknowledged within `ack_wait` are redelivered, to this subscription or,
    /// if it was dropped, to the next one attached under the same durable name.
    async fn consume(&self, config: ConsumerConfig) -> Result<DurableSubscription, BusError>;

    /// Whether the bus can carry messages now (for `/health/ready`).
    async fn health(&self) -> Result<(), BusError>;

    /// Waits until everything published so far has left the process (called on shutdown,
    /// so events published while draining are not lost). The in-process bus has no buffer.
    async fn flush(&self) -> Result<(), BusError> {
        Ok(())
    }

    /// `"local"` or `"nats"`.
    fn backend(&self) -> &'static str;
}
