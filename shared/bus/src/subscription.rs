//! A live (non-durable) subscription: the stream of messages matching a pattern, from
//! either backend. Dropping it unsubscribes.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;

use crate::Message;
use crate::local::LocalReceiver;

enum Inner {
    Local(LocalReceiver),
    Nats(async_nats::Subscriber),
}

/// Messages matching a subscription pattern, in publish order per publisher.
///
/// Delivery is at most once: a subscriber that falls too far behind loses messages (it is a
/// "slow consumer", logged as a warning) rather than slowing the publisher. Use a durable
/// consumer when every message matters.
pub struct Subscription {
    subject: String,
    inner: Inner,
}

impl Subscription {
    pub(crate) fn local(subject: &str, receiver: LocalReceiver) -> Self {
        Self {
            subject: subject.to_owned(),
            inner: Inner::Local(receiver),
        }
    }

    pub(crate) fn nats(subject: &str, subscriber: async_nats::Subscriber) -> Self {
        Self {
            subject: subject.to_owned(),
            inner: Inner::Nats(subscriber),
        }
    }

    /// The pattern subscribed to.
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match self.inner {
            Inner::Local(_) => "local",
            Inner::Nats(_) => "nats",
        };
        f.debug_struct("Subscription")
            .field("subject", &self.subject)
            .field("backend", &backend)
            .finish()
    }
}

impl Stream for Subscription {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        let (polled, backend) = match &mut self.inner {
            Inner::Local(receiver) => (receiver.poll_recv(cx), "local"),
            Inner::Nats(subscriber) => (
                Pin::new(subscriber)
                    .poll_next(cx)
                    .map(|m| m.map(crate::nats::from_nats)),
                "nats",
            ),
        };
        if let Poll::Ready(Some(_)) = &polled {
            metrics::counter!("bus_messages_total", "direction" => "delivered", "backend" => backend)
                .increment(1);
        }
        polled
    }
}
