//! In-memory durable streams for `LocalBus`, imitating JetStream closely enough that the
//! conformance suite cannot tell them apart: stream sequences, dedupe by message id within
//! a window, durable consumers with explicit acks, redelivery after `ack_wait`, `nak`,
//! `max_deliver` and JetStream's default cap of 1000 unacknowledged messages per consumer.
//!
//! "Durable" here means durable across consumers, not across processes: everything lives
//! in this process's memory and is gone after a restart. In embedded mode, services that
//! must not lose an event persist it in their database and publish it from an outbox.
//!
//! Each stream is one mutex-guarded state plus a `Notify` that wakes its waiting consumers
//! on every change (publish, ack, nak, delete); waiting consumers also wake on their next
//! redelivery deadline.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::durable::{
    AckAction, Acker, ConsumerConfig, DurableMessage, DurableSubscription, StreamConfig,
};
use crate::subject::Pattern;
use crate::{BusError, Message};

/// JetStream's default `max_ack_pending`: a consumer stops getting new messages while this
/// many are unacknowledged.
const MAX_ACK_PENDING: usize = 1000;

/// All streams of one `LocalBus`.
#[derive(Default)]
pub(crate) struct Streams {
    map: Mutex<HashMap<String, StreamEntry>>,
}

struct StreamEntry {
    /// Kept beside the handle so routing a publish never locks a stream it does not hit.
    patterns: Vec<Pattern>,
    handle: Arc<StreamHandle>,
}

pub(crate) struct StreamHandle {
    state: Mutex<StreamState>,
    changed: Notify,
}

struct StreamState {
    config: StreamConfig,
    /// Contiguous by sequence: only the oldest are ever removed (by `max_age`).
    messages: VecDeque<Stored>,
    /// Sequence the next message will get.
    next_seq: u64,
    /// Message id -> (sequence, stored at), for dedupe within the duplicate window.
    ids: HashMap<String, (u64, Instant)>,
    /// Ids in arrival order, to expire `ids` without scanning it.
    id_order: VecDeque<(Instant, String, u64)>,
    consumers: HashMap<String, ConsumerState>,
    deleted: bool,
}

struct Stored {
    seq: u64,
    at: Instant,
    message: Message,
}

struct ConsumerState {
    filter: Option<Pattern>,
    ack_wait: Duration,
    max_deliver: Option<u64>,
    /// First stream sequence this consumer has not looked at yet.
    next_seq: u64,
    /// Delivered, unacknowledged messages by sequence.
    pending: BTreeMap<u64, Pending>,
    /// The same entries ordered by redelivery deadline.
    due: BTreeSet<(Instant, u64)>,
}

struct Pending {
    deliveries: u64,
    due: Instant,
}

enum Next {
    Deliver {
        message: Message,
        seq: u64,
        delivered: u64,
    },
    /// Nothing to deliver; wake on a change or at the given deadline.
    Wait(Option<Instant>),
    Gone,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; should it ever, the state is still
    // consistent per operation, so carry on rather than cascade the panic.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Streams {
    pub(crate) fn ensure(&self, config: StreamConfig) -> Result<(), BusError> {
        let patterns = config.validate()?;
        let mut map = lock(&self.map);
        for (name, entry) in map.iter() {
            if *name == config.name {
                continue;
            }
            if entry
                .patterns
                .iter()
                .any(|theirs| patterns.iter().any(|ours| ours.overlaps(theirs)))
            {
                return Err(BusError::InvalidConfig(format!(
                    "subjects of stream {:?} overlap with stream {name:?}",
                    config.name
                )));
            }
        }
        match map.get_mut(&config.name) {
            Some(entry) => {
                entry.patterns = patterns;
                lock(&entry.handle.state).config = config;
            }
            None => {
                let handle = Arc::new(StreamHandle {
                    state: Mutex::new(StreamState::new(config.clone())),
                    changed: Notify::new(),
                });
                map.insert(config.name, StreamEntry { patterns, handle });
            }
        }
        Ok(())
    }

    pub(crate) fn delete(&self, name: &str) -> bool {
        let Some(entry) = lock(&self.map).remove(name) else {
            return false;
        };
        lock(&entry.handle.state).deleted = true;
        entry.handle.changed.notify_waiters();
        true
    }

    /// Stores `msg` in the stream capturing its subject. Returns its sequence and whether it
    /// is new (false: a duplicate id within the window, answered with the original sequence).
    pub(crate) fn append(&self, msg: &Message) -> Result<(u64, bool), BusError> {
        let handle = {
            let map = lock(&self.map);
            let entry = map
                .values()
                .find(|e| e.patterns.iter().any(|p| p.matches(&msg.subject)))
                .ok_or_else(|| BusError::NoStream {
                    subject: msg.subject.clone(),
                })?;
            Arc::clone(&entry.handle)
        };
        let now = Instant::now();
        let result = lock(&handle.state).append(msg, now);
        if result.1 {
            handle.changed.notify_waiters();
        }
        Ok(result)
    }

    pub(crate) fn consume(&self, config: ConsumerConfig) -> Result<DurableSubscription, BusError> {
        let filter = config.validate()?;
        let handle = lock(&self.map)
            .get(&config.stream)
            .map(|e| Arc::clone(&e.handle))
            .ok_or_else(|| BusError::StreamNotFound {
                stream: config.stream.clone(),
            })?;
        {
            let mut state = lock(&handle.state);
            let first = state.first_seq();
            let consumer = state
                .consumers
                .entry(config.durable_name.clone())
                .or_insert_with(|| ConsumerState {
                    filter: None,
                    ack_wait: config.ack_wait,
                    max_deliver: None,
                    // Deliver policy "all": a new durable starts at the oldest message.
                    next_seq: first,
                    pending: BTreeMap::new(),
                    due: BTreeSet::new(),
                });
            // Reattaching with a new configuration updates it, as JetStream does for the
            // updatable fields.
            consumer.filter = filter;
            consumer.ack_wait = config.ack_wait;
            consumer.max_deliver = config.delivery_limit();
        }

        let durable: Arc<str> = config.durable_name.as_str().into();
        let deliveries = futures::stream::unfold(Some((handle, durable)), |state| async move {
            let (handle, durable) = state?;
            let item = next_delivery(&handle, &durable).await;
            let keep_going = item.is_ok();
            Some((item, keep_going.then_some((handle, durable))))
        });
        Ok(DurableSubscription::new(&config, deliveries.boxed()))
    }
}

/// Waits for the next message for consumer `durable`; an error ends the subscription.
async fn next_delivery(
    handle: &Arc<StreamHandle>,
    durable: &Arc<str>,
) -> Result<DurableMessage, BusError> {
    loop {
        // Register for wake-ups before looking, so a change between the look and the wait
        // is not missed.
        let changed = handle.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();

        let next = lock(&handle.state).next_for(durable, Instant::now());
        match next {
            Next::Deliver {
                message,
                seq,
                delivered,
            } => {
                metrics::counter!("bus_messages_total", "direction" => "delivered", "backend" => "local")
                    .increment(1);
                let acker = Acker::Local(LocalAcker {
                    stream: Arc::clone(handle),
                    durable: Arc::clone(durable),
                    seq,
                });
                return Ok(DurableMessage::new(message, seq, delivered, acker));
            }
            Next::Gone => return Err(BusError::ConsumerDeleted),
            Next::Wait(None) => changed.await,
            Next::Wait(Some(deadline)) => {
                tokio::select! {
                    () = &mut changed => {}
                    () = tokio::time::sleep_until(deadline) => {}
                }
            }
        }
    }
}

impl StreamState {
    /// An empty stream.
    fn new(config: StreamConfig) -> Self {
        Self {
            config,
            messages: VecDeque::new(),
            next_seq: 1,
            ids: HashMap::new(),
            id_order: VecDeque::new(),
            consumers: HashMap::new(),
            deleted: false,
        }
    }

    fn first_seq(&self) -> u64 {
        self.messages.front().map_or(self.next_seq, |m| m.seq)
    }

    fn expire(&mut self, now: Instant) {
        if let Some(max_age) = self.config.effective_max_age() {
            while self.messages.front().is_some_and(|m| m.at + max_age <= now) {
                self.messages.pop_front();
            }
        }
        let window = self.config.effective_duplicate_window();
        while let Some((at, _, _)) = self.id_order.front() {
            if *at + window > now {
                break;
            }
            if let Some((_, id, seq)) = self.id_order.pop_front()
                && self.ids.get(&id).is_some_and(|(s, _)| *s == seq)
            {
                self.ids.remove(&id);
            }
        }
    }

    fn append(&mut self, msg: &Message, now: Instant) -> (u64, bool) {
        self.expire(now);
        if let Some(id) = msg.id()
            && let Some((seq, _)) = self.ids.get(id)
        {
            return (*seq, false);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.messages.push_back(Stored {
            seq,
            at: now,
            message: msg.clone(),
        });
        if let Some(id) = msg.id() {
            self.ids.insert(id.to_owned(), (seq, now));
            self.id_order.push_back((now, id.to_owned(), seq));
        }
        (seq, true)
    }

    fn next_for(&mut self, durable: &str, now: Instant) -> Next {
        if self.deleted {
            return Next::Gone;
        }
        self.expire(now);
        let first = self.first_seq();
        let Self {
            messages,
            next_seq: stream_next,
            consumers,
            ..
        } = self;
        let Some(consumer) = consumers.get_mut(durable) else {
            return Next::Gone;
        };

        // Redeliveries first: they are the oldest outstanding work.
        while let Some(&(due, seq)) = consumer.due.first() {
            if due > now {
                break;
            }
            consumer.due.pop_first();
            let stored = seq
                .checked_sub(first)
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| messages.get(i));
            let Some(stored) = stored else {
                // Expired from the stream meanwhile.
                consumer.pending.remove(&seq);
                continue;
            };
            let Some(pending) = consumer.pending.get_mut(&seq) else {
                continue;
            };
            if consumer
                .max_deliver
                .is_some_and(|max| pending.deliveries >= max)
            {
                consumer.pending.remove(&seq);
                continue;
            }
            pending.deliveries += 1;
            pending.due = now + consumer.ack_wait;
            consumer.due.insert((pending.due, seq));
            return Next::Deliver {
                message: stored.message.clone(),
                seq,
                delivered: pending.deliveries,
            };
        }

        if consumer.pending.len() < MAX_ACK_PENDING {
            let mut seq = consumer.next_seq.max(first);
            while seq < *stream_next {
                let index = usize::try_from(seq - first).unwrap_or(usize::MAX);
                seq += 1;
                let Some(stored) = messages.get(index) else {
                    break;
                };
                if consumer
                    .filter
                    .as_ref()
                    .is_none_or(|f| f.matches(&stored.message.subject))
                {
                    consumer.next_seq = seq;
                    let due = now + consumer.ack_wait;
                    consumer
                        .pending
                        .insert(stored.seq, Pending { deliveries: 1, due });
                    consumer.due.insert((due, stored.seq));
                    return Next::Deliver {
                        message: stored.message.clone(),
                        seq: stored.seq,
                        delivered: 1,
                    };
                }
            }
            consumer.next_seq = seq;
        }
        Next::Wait(consumer.due.first().map(|(due, _)| *due))
    }

    fn apply(&mut self, durable: &str, seq: u64, action: AckAction, now: Instant) {
        let Some(consumer) = self.consumers.get_mut(durable) else {
            return;
        };
        let Some(pending) = consumer.pending.get_mut(&seq) else {
            // Already acked, or given up on: acks are idempotent.
            return;
        };
        consumer.due.remove(&(pending.due, seq));
        match action {
            AckAction::Ack | AckAction::Term => {
                consumer.pending.remove(&seq);
            }
            AckAction::Nak(delay) => {
                pending.due = now + delay;
                consumer.due.insert((pending.due, seq));
            }
            AckAction::InProgress => {
                pending.due = now + consumer.ack_wait;
                consumer.due.insert((pending.due, seq));
            }
        }
    }
}

/// Acknowledges one delivery of a local durable message.
pub(crate) struct LocalAcker {
    stream: Arc<StreamHandle>,
    durable: Arc<str>,
    seq: u64,
}

impl LocalAcker {
    pub(crate) fn apply(&self, action: AckAction) {
        lock(&self.stream.state).apply(&self.durable, self.seq, action, Instant::now());
        // An ack can unblock a consumer at its pending cap; a nak makes a message due.
        self.stream.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(max_age: Option<Duration>) -> StreamState {
        let mut config =
            StreamConfig::new("S", ["s.>"]).with_duplicate_window(Duration::from_secs(1));
        config.max_age = max_age;
        StreamState::new(config)
    }

    fn consumer(ack_wait: Duration, max_deliver: Option<u64>) -> ConsumerState {
        ConsumerState {
            filter: None,
            ack_wait,
            max_deliver,
            next_seq: 1,
            pending: BTreeMap::new(),
            due: BTreeSet::new(),
        }
    }

    fn delivered(next: Next) -> (u64, u64) {
        match next {
            Next::Deliver { seq, delivered, .. } => (seq, delivered),
            Next::Wait(_) => panic!("expected a delivery, got wait"),
            Next::Gone => panic!("expected a delivery, got gone"),
        }
    }

    #[test]
    fn dedupe_expires_with_the_window() {
        let mut s = state(None);
        let t0 = Instant::now();
        let msg = Message::new("s.a", "x").with_id("one");
        assert_eq!(s.append(&msg, t0), (1, true));
        assert_eq!(s.append(&msg, t0 + Duration::from_millis(500)), (1, false));
        assert_eq!(s.append(&msg, t0 + Duration::from_secs(2)), (2, true));
    }

    #[test]
    fn max_age_drops_old_messages_and_their_pending_deliveries() {
        let mut s = state(Some(Duration::from_secs(10)));
        let t0 = Instant::now();
        s.append(&Message::new("s.a", "1"), t0);
        s.consumers
            .insert("c".into(), consumer(Duration::from_secs(1), None));
        assert_eq!(delivered(s.next_for("c", t0)), (1, 1));
        s.append(&Message::new("s.a", "2"), t0 + Duration::from_secs(5));
        // At t0+11 message 1 is gone: its redelivery is dropped, message 2 comes next.
        assert_eq!(
            delivered(s.next_for("c", t0 + Duration::from_secs(11))),
            (2, 1)
        );
        assert!(s.consumers["c"].pending.keys().eq([2].iter()));
    }

    #[test]
    fn max_deliver_stops_redelivery() {
        let mut s = state(None);
        let t0 = Instant::now();
        s.append(&Message::new("s.a", "1"), t0);
        s.consumers
            .insert("c".into(), consumer(Duration::from_secs(1), Some(2)));
        assert_eq!(delivered(s.next_for("c", t0)), (1, 1));
        assert_eq!(
            delivered(s.next_for("c", t0 + Duration::from_secs(1))),
            (1, 2)
        );
        assert!(matches!(
            s.next_for("c", t0 + Duration::from_secs(3)),
            Next::Wait(None)
        ));
    }

    #[test]
    fn pending_cap_holds_back_new_messages_until_an_ack() {
        let mut s = state(None);
        let t0 = Instant::now();
        for i in 0..=MAX_ACK_PENDING {
            s.append(&Message::new("s.a", format!("{i}")), t0);
        }
        s.consumers
            .insert("c".into(), consumer(Duration::from_secs(30), None));
        for _ in 0..MAX_ACK_PENDING {
            delivered(s.next_for("c", t0));
        }
        assert!(matches!(s.next_for("c", t0), Next::Wait(Some(_))));
        s.apply("c", 1, AckAction::Ack, t0);
        let last = u64::try_from(MAX_ACK_PENDING).unwrap() + 1;
        assert_eq!(delivered(s.next_for("c", t0)), (last, 1));
    }

    #[test]
    fn filter_skips_other_subjects() {
        let mut s = state(None);
        let t0 = Instant::now();
        s.append(&Message::new("s.a", "1"), t0);
        s.append(&Message::new("s.b", "2"), t0);
        let mut c = consumer(Duration::from_secs(1), None);
        c.filter = Some(Pattern::parse("s.b").unwrap());
        s.consumers.insert("c".into(), c);
        assert_eq!(delivered(s.next_for("c", t0)), (2, 1));
        assert!(matches!(s.next_for("c", t0), Next::Wait(Some(_))));
    }
}
