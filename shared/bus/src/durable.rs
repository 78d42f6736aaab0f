//! Durable streams and acknowledged consumers: their configuration, the messages a
//! consumer receives and how those are acknowledged.
//!
//! The model is JetStream's, because `NatsBus` maps onto it one to one and `LocalBus`
//! imitates it: a stream captures every message published on its subjects and numbers it
//! (the stream sequence); a durable consumer, identified by name, walks the stream and keeps
//! its position and the set of delivered-but-unacknowledged messages on the server side, so
//! a consumer that dies and reattaches under the same name gets those messages again once
//! their `ack_wait` runs out.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use futures::stream::BoxStream;

use crate::subject::{self, Pattern};
use crate::{BusError, Message};

/// JetStream's default duplicate window, used when none is given.
pub const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// JetStream's default acknowledgement wait.
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);

/// A durable stream: which subjects it captures and how long it keeps messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamConfig {
    /// Stream name: one token, no `.`, `*`, `>` or whitespace.
    pub name: String,
    /// Subject patterns the stream captures; no two streams may overlap.
    pub subjects: Vec<String>,
    /// Messages older than this are discarded; `None` keeps them forever (in memory, for
    /// `LocalBus`).
    pub max_age: Option<Duration>,
    /// Window within which a repeated message id is recognised as a duplicate; zero means
    /// [`DEFAULT_DUPLICATE_WINDOW`]. Must not exceed `max_age`.
    pub duplicate_window: Duration,
}

impl StreamConfig {
    /// A stream keeping messages forever with the default duplicate window.
    pub fn new<S: Into<String>>(
        name: impl Into<String>,
        subjects: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            name: name.into(),
            subjects: subjects.into_iter().map(Into::into).collect(),
            max_age: None,
            duplicate_window: DEFAULT_DUPLICATE_WINDOW,
        }
    }

    /// Sets `max_age`.
    #[must_use]
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Sets `duplicate_window`.
    #[must_use]
    pub fn with_duplicate_window(mut self, window: Duration) -> Self {
        self.duplicate_window = window;
        self
    }

    /// The duplicate window actually applied (zero means the default).
    pub(crate) fn effective_duplicate_window(&self) -> Duration {
        if self.duplicate_window.is_zero() {
            DEFAULT_DUPLICATE_WINDOW
        } else {
            self.duplicate_window
        }
    }

    /// `max_age`, with zero meaning unlimited as in JetStream.
    pub(crate) fn effective_max_age(&self) -> Option<Duration> {
        self.max_age.filter(|age| !age.is_zero())
    }

    /// Checks the configuration the same way for both backends and returns the parsed
    /// subject patterns.
    pub(crate) fn validate(&self) -> Result<Vec<Pattern>, BusError> {
        subject::validate_name("stream name", &self.name)?;
        if self.subjects.is_empty() {
            return Err(BusError::InvalidConfig(format!(
                "stream {:?} captures no subjects",
                self.name
            )));
        }
        let patterns = self
            .subjects
            .iter()
            .map(|s| Pattern::parse(s))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(max_age) = self.effective_max_age()
            && self.effective_duplicate_window() > max_age
        {
            // JetStream refuses this too: a duplicate could outlive the original.
            return Err(BusError::InvalidConfig(format!(
                "stream {:?}: duplicate window exceeds max age",
                self.name
            )));
        }
        Ok(patterns)
    }
}

/// A durable, explicitly acknowledged consumer on a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// The stream to consume.
    pub stream: String,
    /// Durable name: the consumer's identity across restarts and processes.
    pub durable_name: String,
    /// Only messages on subjects matching this pattern; `None` for all of the stream.
    pub filter_subject: Option<String>,
    /// How long a delivered message may stay unacknowledged before it is redelivered.
    pub ack_wait: Duration,
    /// Give up on a message after this many deliveries; `None` (or `-1`) never gives up.
    pub max_deliver: Option<i64>,
}

impl ConsumerConfig {
    /// A consumer of the whole stream with JetStream's default `ack_wait` (30 s).
    pub fn new(stream: impl Into<String>, durable_name: impl Into<String>) -> Self {
        Self {
            stream: stream.into(),
            durable_name: durable_name.into(),
            filter_subject: None,
            ack_wait: DEFAULT_ACK_WAIT,
            max_deliver: None,
        }
    }

    /// Sets `filter_subject`.
    #[must_use]
    pub fn with_filter_subject(mut self, filter: impl Into<String>) -> Self {
        self.filter_subject = Some(filter.into());
        self
    }

    /// Sets `ack_wait`.
    #[must_use]
    pub fn with_ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait;
        self
    }

    /// Sets `max_deliver`.
    #[must_use]
    pub fn with_max_deliver(mut self, max_deliver: i64) -> Self {
        self.max_deliver = Some(max_deliver);
        self
    }

    /// `max_deliver` as a limit, `None` when unlimited.
    pub(crate) fn delivery_limit(&self) -> Option<u64> {
        self.max_deliver.and_then(|n| u64::try_from(n).ok())
    }

    /// Checks the configuration the same way for both backends and returns the parsed
    /// filter.
    pub(crate) fn validate(&self) -> Result<Option<Pattern>, BusError> {
        subject::validate_name("stream name", &self.stream)?;
        subject::validate_name("durable name", &self.durable_name)?;
        if self.ack_wait.is_zero() {
            return Err(BusError::InvalidConfig("ack_wait must be positive".into()));
        }
        if let Some(n) = self.max_deliver
            && n != -1
            && n < 1
        {
            return Err(BusError::InvalidConfig(format!(
                "max_deliver must be positive or -1, got {n}"
            )));
        }
        self.filter_subject
            .as_deref()
            .map(Pattern::parse)
            .transpose()
    }
}

/// How a durable message is acknowledged: one variant per backend, no trait object.
pub(crate) enum Acker {
    Local(crate::local::durable::LocalAcker),
    /// Boxed: it carries a whole JetStream context (~256 bytes), eight times the local one.
    Nats(Box<async_nats::jetstream::message::Acker>),
}

/// The acknowledgement a consumer sends for a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AckAction {
    /// Done: never deliver again.
    Ack,
    /// Failed: deliver again after the delay (now when zero).
    Nak(Duration),
    /// Still working: restart the `ack_wait` clock.
    InProgress,
    /// Never deliver again, without it counting as processed.
    Term,
}

/// A message delivered by a durable consumer, to be acknowledged.
pub struct DurableMessage {
    /// The message as published.
    pub message: Message,
    /// Its position in the stream (1-based, increasing).
    pub stream_sequence: u64,
    /// How many times it has been delivered, this delivery included (1 the first time).
    pub delivered: u64,
    acker: Acker,
}

impl fmt::Debug for DurableMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableMessage")
            .field("message", &self.message)
            .field("stream_sequence", &self.stream_sequence)
            .field("delivered", &self.delivered)
            .finish_non_exhaustive()
    }
}

impl DurableMessage {
    pub(crate) fn new(
        message: Message,
        stream_sequence: u64,
        delivered: u64,
        acker: Acker,
    ) -> Self {
        Self {
            message,
            stream_sequence,
            delivered,
            acker,
        }
    }

    /// Marks the message processed: it will not be delivered again.
    ///
    /// On NATS the ack is sent without waiting for the server to confirm it (as JetStream
    /// clients do by default); if it is lost the message comes back after `ack_wait`, so
    /// handlers must be idempotent. Use [`DurableMessage::ack_confirmed`] to wait.
    pub async fn ack(&self) -> Result<(), BusError> {
        self.send(AckAction::Ack, false).await
    }

    /// Like [`DurableMessage::ack`] but returns only once the server has recorded the ack
    /// (one extra round trip on NATS; the same as `ack` locally).
    pub async fn ack_confirmed(&self) -> Result<(), BusError> {
        self.send(AckAction::Ack, true).await
    }

    /// Asks for redelivery now (processing failed, try again).
    pub async fn nak(&self) -> Result<(), BusError> {
        self.send(AckAction::Nak(Duration::ZERO), false).await
    }

    /// Asks for redelivery after `delay` (backoff).
    pub async fn nak_with_delay(&self, delay: Duration) -> Result<(), BusError> {
        self.send(AckAction::Nak(delay), false).await
    }

    /// Signals the message is still being worked on, restarting its `ack_wait`.
    pub async fn in_progress(&self) -> Result<(), BusError> {
        self.send(AckAction::InProgress, false).await
    }

    /// Stops redelivery of a message that can never succeed (poison message).
    pub async fn term(&self) -> Result<(), BusError> {
        self.send(AckAction::Term, false).await
    }

    async fn send(&self, action: AckAction, confirm: bool) -> Result<(), BusError> {
        match &self.acker {
            Acker::Local(acker) => {
                acker.apply(action);
                Ok(())
            }
            Acker::Nats(acker) => crate::nats::ack(acker, action, confirm).await,
        }
    }
}

/// A durable consumer's deliveries: a stream of messages to acknowledge. Dropping it
/// detaches the consumer; the durable consumer itself (position, pending acks) remains.
pub struct DurableSubscription {
    stream: String,
    durable_name: String,
    inner: BoxStream<'static, Result<DurableMessage, BusError>>,
}

impl DurableSubscription {
    pub(crate) fn new(
        config: &ConsumerConfig,
        inner: BoxStream<'static, Result<DurableMessage, BusError>>,
    ) -> Self {
        Self {
            stream: config.stream.clone(),
            durable_name: config.durable_name.clone(),
            inner,
        }
    }

    /// The stream consumed.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The durable consumer's name.
    pub fn durable_name(&self) -> &str {
        &self.durable_name
    }
}

impl fmt::Debug for DurableSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableSubscription")
            .field("stream", &self.stream)
            .field("durable_name", &self.durable_name)
            .finish_non_exhaustive()
    }
}

impl Stream for DurableSubscription {
    type Item = Result<DurableMessage, BusError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_config_validation() {
        assert!(StreamConfig::new("ORDERS", ["orders.>"]).validate().is_ok());
        assert!(
            StreamConfig::new("OR.DERS", ["orders.>"])
                .validate()
                .is_err()
        );
        assert!(
            StreamConfig::new("ORDERS", Vec::<String>::new())
                .validate()
                .is_err()
        );
        assert!(
            StreamConfig::new("ORDERS", ["orders.>.x"])
                .validate()
                .is_err()
        );
        let too_long_window = StreamConfig::new("ORDERS", ["orders.>"])
            .with_max_age(Duration::from_secs(10))
            .with_duplicate_window(Duration::from_secs(60));
        assert!(too_long_window.validate().is_err());
        let zero_window =
            StreamConfig::new("ORDERS", ["orders.>"]).with_duplicate_window(Duration::ZERO);
        assert_eq!(
            zero_window.effective_duplicate_window(),
            DEFAULT_DUPLICATE_WINDOW
        );
    }

    #[test]
    fn consumer_config_validation() {
        let ok = ConsumerConfig::new("ORDERS", "billing").with_filter_subject("orders.*");
        assert!(ok.validate().unwrap().is_some());
        assert!(
            ConsumerConfig::new("ORDERS", "bil ling")
                .validate()
                .is_err()
        );
        assert!(
            ConsumerConfig::new("ORDERS", "b")
                .with_ack_wait(Duration::ZERO)
                .validate()
                .is_err()
        );
        assert!(
            ConsumerConfig::new("ORDERS", "b")
                .with_max_deliver(0)
                .validate()
                .is_err()
        );
        let unlimited = ConsumerConfig::new("ORDERS", "b").with_max_deliver(-1);
        assert!(unlimited.validate().is_ok());
        assert_eq!(unlimited.delivery_limit(), None);
        assert_eq!(
            ConsumerConfig::new("ORDERS", "b")
                .with_max_deliver(3)
                .delivery_limit(),
            Some(3)
        );
    }
}
