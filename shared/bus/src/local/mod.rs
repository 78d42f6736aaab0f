//! `LocalBus`: the in-process bus, the embedded default. Zero external services.
//!
//! Owns a subscription table and in-memory streams. It is the latency floor of the
//! embedded platform, so the publish path takes one read lock, does one hash lookup for
//! literal subscriptions plus a scan of the (few) wildcard ones on pre-split tokens, and
//! never waits on a subscriber: each subscription has a bounded channel, and a full one
//! loses the message with a warning, as NATS drops messages for a slow consumer.
//!
//! Durable streams live in memory only (see [`durable`]): they do not survive a process
//! restart. Services that need durability in embedded mode write to their database first
//! and publish from an outbox.

pub(crate) mod durable;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::durable::{ConsumerConfig, DurableSubscription, StreamConfig};
use crate::subject::{self, Pattern};
use crate::{Bus, BusError, Message, Subscription};

const BACKEND: &str = "local";

/// Default number of messages a subscription may hold before it counts as a slow consumer.
pub const DEFAULT_SUBSCRIPTION_CAPACITY: usize = 8192;

/// The in-process bus. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct LocalBus {
    inner: Arc<Inner>,
}

struct Inner {
    table: RwLock<Table>,
    next_sub_id: AtomicU64,
    /// Spreads queue-group deliveries round-robin over members.
    queue_cursor: AtomicUsize,
    /// `_INBOX.<bus id>.`: replies to our own requests bypass the table (see `route`).
    inbox_prefix: String,
    next_request: AtomicU64,
    pending_requests: Mutex<HashMap<u64, oneshot::Sender<Message>>>,
    capacity: usize,
    streams: durable::Streams,
}

#[derive(Default)]
struct Table {
    /// Wildcard-free patterns by subject: the common case is one hash lookup.
    literal: HashMap<Box<str>, Vec<Arc<Sub>>>,
    wildcard: Vec<Arc<Sub>>,
}

struct Sub {
    id: u64,
    pattern: Pattern,
    queue: Option<Box<str>>,
    tx: mpsc::Sender<Arc<Message>>,
    /// Set while messages are being dropped, so a slow consumer warns once per episode
    /// instead of once per message.
    lagging: AtomicBool,
}

impl Default for LocalBus {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for LocalBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBus")
            .field("capacity", &self.inner.capacity)
            .finish_non_exhaustive()
    }
}

impl LocalBus {
    /// A bus with [`DEFAULT_SUBSCRIPTION_CAPACITY`].
    pub fn new() -> Self {
        Self::with_subscription_capacity(DEFAULT_SUBSCRIPTION_CAPACITY)
    }

    /// A bus whose subscriptions buffer up to `capacity` messages (at least 1).
    pub fn with_subscription_capacity(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                table: RwLock::default(),
                next_sub_id: AtomicU64::new(1),
                queue_cursor: AtomicUsize::new(0),
                inbox_prefix: format!("_INBOX.{}.", uuid::Uuid::new_v4().simple()),
                next_request: AtomicU64::new(1),
                pending_requests: Mutex::default(),
                capacity: capacity.max(1),
                streams: durable::Streams::default(),
            }),
        }
    }

    fn add_subscription(
        &self,
        pattern: &str,
        queue: Option<&str>,
    ) -> Result<Subscription, BusError> {
        let parsed = Pattern::parse(pattern)?;
        if let Some(group) = queue {
            subject::validate_name("queue group", group)?;
        }
        let (tx, rx) = mpsc::channel(self.inner.capacity);
        let id = self.inner.next_sub_id.fetch_add(1, Ordering::Relaxed);
        let literal_key: Option<Box<str>> = parsed.is_literal().then(|| pattern.into());
        let sub = Arc::new(Sub {
            id,
            pattern: parsed,
            queue: queue.map(Into::into),
            tx,
            lagging: AtomicBool::new(false),
        });
        {
            let mut table = self
                .inner
                .table
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            match &literal_key {
                Some(key) => table.literal.entry(key.clone()).or_default().push(sub),
                None => table.wildcard.push(sub),
            }
        }
        let guard = SubGuard {
            bus: Arc::downgrade(&self.inner),
            id,
            literal_key,
        };
        Ok(Subscription::local(
            pattern,
            LocalReceiver { rx, _guard: guard },
        ))
    }
}

impl Inner {
    /// Delivers `msg` to every matching subscription (one member per queue group) and
    /// returns how many live subscriptions or groups it was addressed to.
    fn route(&self, msg: Arc<Message>) -> usize {
        if let Some(id) = msg
            .subject
            .strip_prefix(self.inbox_prefix.as_str())
            .and_then(|rest| rest.parse::<u64>().ok())
        {
            // A reply to one of our requests goes straight to the waiting caller: no
            // subscription per request, so request/reply never takes the table's write lock.
            let waiter = self
                .pending_requests
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
            if let Some(waiter) = waiter {
                let msg = Arc::try_unwrap(msg).unwrap_or_else(|shared| (*shared).clone());
                return usize::from(waiter.send(msg).is_ok());
            }
        }

        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        let mut reached = 0;
        // Queue members seen, grouped by group name; allocated only if there are any.
        let mut groups: Vec<(&str, Vec<&Sub>)> = Vec::new();
        let literal = table
            .literal
            .get(msg.subject.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        // Split once per publish, only when some pattern needs tokens.
        let tokens: Vec<&str> = if table.wildcard.is_empty() {
            Vec::new()
        } else {
            msg.subject.split('.').collect()
        };
        let wildcard = table
            .wildcard
            .iter()
            .filter(|sub| sub.pattern.matches_tokens(&tokens));
        for sub in literal.iter().chain(wildcard) {
            if sub.tx.is_closed() {
                continue;
            }
            match &sub.queue {
                None => {
                    reached += 1;
                    deliver(sub, &msg);
                }
                Some(group) => match groups.iter_mut().find(|(name, _)| *name == &**group) {
                    Some((_, members)) => members.push(sub),
                    None => groups.push((group, vec![sub])),
                },
            }
        }
        for (group, members) in &groups {
            reached += 1;
            let start = self.queue_cursor.fetch_add(1, Ordering::Relaxed);
            // Try the chosen member first, then the others: one full member should not
            // lose a message its group could take.
            let delivered = (0..members.len())
                .map(|i| members[(start + i) % members.len()])
                .any(|member| deliver(member, &msg));
            if !delivered {
                tracing::warn!(subject = %msg.subject, group, "queue group full, message dropped");
            }
        }
        reached
    }

    fn remove_subscription(&self, id: u64, literal_key: Option<&str>) {
        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        match literal_key {
            Some(key) => {
                if let Some(subs) = table.literal.get_mut(key) {
                    subs.retain(|s| s.id != id);
                    if subs.is_empty() {
                        table.literal.remove(key);
                    }
                }
            }
            None => table.wildcard.retain(|s| s.id != id),
        }
    }
}

/// Hands `msg` to one subscription without waiting; false if it could not take it.
fn deliver(sub: &Sub, msg: &Arc<Message>) -> bool {
    match sub.tx.try_send(Arc::clone(msg)) {
        Ok(()) => {
            if sub.lagging.load(Ordering::Relaxed) {
                sub.lagging.store(false, Ordering::Relaxed);
            }
            true
        }
        Err(mpsc::error::TrySendError::Full(_)) => {
            metrics::counter!("bus_slow_consumer_drops_total", "backend" => BACKEND).increment(1);
            if !sub.lagging.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    subject = %msg.subject,
                    pattern = %sub.pattern,
                    "slow subscriber, dropping messages"
                );
            }
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// Removes its subscription from the table when the `Subscription` is dropped.
struct SubGuard {
    bus: Weak<Inner>,
    id: u64,
    literal_key: Option<Box<str>>,
}

impl Drop for SubGuard {
    fn drop(&mut self) {
        if let Some(bus) = self.bus.upgrade() {
            bus.remove_subscription(self.id, self.literal_key.as_deref());
        }
    }
}

/// The receiving end of a local subscription.
pub(crate) struct LocalReceiver {
    rx: mpsc::Receiver<Arc<Message>>,
    _guard: SubGuard,
}

impl LocalReceiver {
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        // Messages are shared between subscribers; the last one to receive takes it
        // without a copy.
        self.rx
            .poll_recv(cx)
            .map(|m| m.map(|m| Arc::try_unwrap(m).unwrap_or_else(|shared| (*shared).clone())))
    }
}

/// Forgets a pending request when its caller stops waiting (answer, timeout or cancel).
struct PendingRequest<'a> {
    bus: &'a Inner,
    id: u64,
}

impl Drop for PendingRequest<'_> {
    fn drop(&mut self) {
        self.bus
            .pending_requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

fn count_published() {
    metrics::counter!("bus_messages_total", "direction" => "published", "backend" => BACKEND)
        .increment(1);
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish(&self, mut msg: Message) -> Result<(), BusError> {
        msg.prepare_outgoing()?;
        count_published();
        // As in JetStream, a stream captures every message on its subjects, durable
        // publish or not (it just cannot tell the publisher).
        match self.inner.streams.append(&msg) {
            Ok(_) | Err(BusError::NoStream { .. }) => {}
            Err(error) => tracing::warn!(subject = %msg.subject, %error, "not kept in its stream"),
        }
        self.inner.route(Arc::new(msg));
        Ok(())
    }

    async fn subscribe(&self, subject_pattern: &str) -> Result<Subscription, BusError> {
        self.add_subscription(subject_pattern, None)
    }

    async fn queue_subscribe(
        &self,
        subject_pattern: &str,
        group: &str,
    ) -> Result<Subscription, BusError> {
        self.add_subscription(subject_pattern, Some(group))
    }

    async fn request(&self, mut msg: Message, timeout: Duration) -> Result<Message, BusError> {
        msg.prepare_outgoing()?;
        let id = self.inner.next_request.fetch_add(1, Ordering::Relaxed);
        msg.reply = Some(format!("{}{id}", self.inner.inbox_prefix));
        let (tx, rx) = oneshot::channel();
        self.inner
            .pending_requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, tx);
        let _pending = PendingRequest {
            bus: &self.inner,
            id,
        };

        count_published();
        let msg = Arc::new(msg);
        if self.inner.route(Arc::clone(&msg)) == 0 {
            return Err(BusError::NoResponders {
                subject: msg.subject.clone(),
            });
        }
        drop(msg);
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(response)) => Ok(response),
            // The sender lives in `pending_requests` until answered or until `_pending`
            // drops, so it cannot vanish while we wait.
            Ok(Err(_)) => Err(BusError::Closed),
            Err(_) => Err(BusError::Timeout(timeout)),
        }
    }

    async fn ensure_stream(&self, config: StreamConfig) -> Result<(), BusError> {
        self.inner.streams.ensure(config)
    }

    async fn delete_stream(&self, name: &str) -> Result<bool, BusError> {
        Ok(self.inner.streams.delete(name))
    }

    async fn publish_durable(&self, mut msg: Message) -> Result<u64, BusError> {
        msg.prepare_outgoing()?;
        let (sequence, fresh) = self.inner.streams.append(&msg)?;
        count_published();
        if fresh {
            // Like a JetStream publish, a durable publish also reaches live subscribers.
            self.inner.route(Arc::new(msg));
        }
        Ok(sequence)
    }

    async fn consume(&self, config: ConsumerConfig) -> Result<DurableSubscription, BusError> {
        self.inner.streams.consume(config)
    }

    async fn health(&self) -> Result<(), BusError> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        BACKEND
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;

    use super::*;

    #[tokio::test]
    async fn dropping_a_subscription_removes_it() {
        let bus = LocalBus::new();
        let a = bus.subscribe("a.b").await.unwrap();
        let w = bus.subscribe("a.*").await.unwrap();
        assert_eq!(bus.inner.table.read().unwrap().literal.len(), 1);
        assert_eq!(bus.inner.table.read().unwrap().wildcard.len(), 1);
        drop(a);
        drop(w);
        let table = bus.inner.table.read().unwrap();
        assert!(table.literal.is_empty());
        assert!(table.wildcard.is_empty());
    }

    #[tokio::test]
    async fn a_full_subscriber_loses_messages_without_blocking_the_publisher() {
        let bus = LocalBus::with_subscription_capacity(2);
        let mut slow = bus.subscribe("s").await.unwrap();
        for i in 0..5 {
            bus.publish(Message::new("s", format!("{i}")))
                .await
                .unwrap();
        }
        let first = slow.next().await.unwrap();
        let second = slow.next().await.unwrap();
        assert_eq!(&first.payload[..], b"0");
        assert_eq!(&second.payload[..], b"1");
        // Recovered: new messages flow again.
        bus.publish(Message::new("s", "5")).await.unwrap();
        let next = tokio::time::timeout(Duration::from_secs(1), slow.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&next.payload[..], b"5");
    }

    #[tokio::test]
    async fn a_full_queue_member_hands_over_to_another() {
        let bus = LocalBus::with_subscription_capacity(1);
        let mut a = bus.queue_subscribe("q", "g").await.unwrap();
        let mut b = bus.queue_subscribe("q", "g").await.unwrap();
        bus.publish(Message::new("q", "1")).await.unwrap();
        bus.publish(Message::new("q", "2")).await.unwrap();
        let got_a = a.next().await.unwrap();
        let got_b = b.next().await.unwrap();
        let mut got = [got_a.payload, got_b.payload];
        got.sort();
        assert_eq!(got, [bytes::Bytes::from("1"), bytes::Bytes::from("2")]);
    }

    #[tokio::test]
    async fn abandoned_requests_leave_nothing_behind() {
        let bus = LocalBus::new();
        let _responder = bus.subscribe("svc").await.unwrap();
        let err = bus
            .request(Message::new("svc", ""), Duration::from_millis(10))
            .await
            .unwrap_err();
        assert!(matches!(err, BusError::Timeout(_)));
        assert!(bus.inner.pending_requests.lock().unwrap().is_empty());
    }
}
