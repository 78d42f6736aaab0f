//! The per-node fan-out: one bus subscription per match that has viewers on this node,
//! shared by all of them through a `tokio::sync::broadcast` channel.
//!
//! Why a broadcast channel: sending never waits for a receiver, so a slow viewer cannot
//! slow the bus subscription, the room or other viewers. Each receiver can fall at most
//! `capacity` updates behind (its bounded queue); past that it sees `Lagged` and the SSE
//! stream ends it with a `resync` event.
//!
//! Each update is encoded as an SSE frame once, here, and every viewer writes the same
//! bytes: with thousands of viewers per match, encoding per viewer was most of the cost.
//!
//! A topic lives as long as a viewer holds it: the last [`Viewer`] dropped aborts the
//! forwarding task, which drops the bus subscription.
//!
//! Each topic also keeps the match's last events in a [`Ring`] (`live.resume_ring` of
//! them, contiguous seqs), so that viewers reconnecting with `Last-Event-ID`, often many
//! at once after a network blip or a node going away, are answered from memory instead of
//! each reading the match's log. The forwarding task puts an update in the ring before it
//! broadcasts it, and a viewer subscribes before it reads the ring, so an update is always
//! in one or the other for it. Updates the ring already holds (the outbox relay's late
//! copy of one the room published) are not broadcast again.

use crate::feed::{self, Update};
use actix_web::web::Bytes;
use bus::{BusError, DynBus};
use futures::StreamExt;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, PoisonError, Weak};
use tokio::sync::{Mutex, broadcast};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// An update as the hub hands it to viewers: the update and its SSE frame.
pub struct Published {
    pub seq: i64,
    pub update: Update,
    pub frame: Bytes,
}

impl Published {
    /// An update with its frame encoded.
    pub fn new(update: Update) -> Self {
        Self {
            seq: update.seq,
            frame: crate::sse::event_frame(&update),
            update,
        }
    }
}

/// A match's last events as this node received them: contiguous seqs, oldest first, at
/// most `capacity`. A gap (the bus lost an update) starts it again from the newer event,
/// so whatever it answers has no hole.
pub struct Ring {
    events: VecDeque<Arc<Published>>,
    capacity: usize,
}

impl Ring {
    pub fn new(capacity: usize) -> Self {
        Self {
            events: VecDeque::new(),
            capacity,
        }
    }

    fn first(&self) -> Option<i64> {
        self.events.front().map(|event| event.seq)
    }

    fn last(&self) -> Option<i64> {
        self.events.back().map(|event| event.seq)
    }

    /// Takes an event as the bus delivered it; true when it is newer than all before it
    /// (viewers need it), false for one already held or older.
    pub fn push(&mut self, event: Arc<Published>) -> bool {
        let seq = event.seq;
        match (self.first(), self.last()) {
            (Some(_), Some(last)) if seq == last + 1 => self.events.push_back(event),
            (Some(first), Some(_)) if seq == first - 1 => {
                // A late copy of the event just before the oldest: it joins up.
                if self.events.len() < self.capacity {
                    self.events.push_front(event);
                }
                return false;
            }
            (Some(_), Some(last)) if seq <= last => return false,
            _ => {
                self.events.clear();
                self.events.push_back(event);
            }
        }
        while self.events.len() > self.capacity {
            self.events.pop_front();
        }
        true
    }

    /// The events after `after`, when the ring holds every one of them up to its newest;
    /// `None` when it cannot say (it starts later, is empty, or has not reached `after`).
    pub fn after(&self, after: i64) -> Option<Vec<Arc<Published>>> {
        let (first, last) = (self.first()?, self.last()?);
        if after < first - 1 || after > last {
            return None;
        }
        Some(
            self.events
                .iter()
                .filter(|event| event.seq > after)
                .cloned()
                .collect(),
        )
    }

    /// Adds events read from the log (contiguous, oldest first) in front of the ring where
    /// they join up with it, or as the ring when it is empty; newer ones than it holds are
    /// left to the bus, which delivers them in order.
    pub fn backfill(&mut self, run: &[Arc<Published>]) {
        let Some(first) = self.first() else {
            let skip = run.len().saturating_sub(self.capacity);
            self.events.extend(run[skip..].iter().cloned());
            return;
        };
        if run.last().is_none_or(|event| event.seq < first - 1) {
            return;
        }
        for event in run.iter().rev().filter(|event| event.seq < first) {
            if self.events.len() >= self.capacity {
                break;
            }
            self.events.push_front(event.clone());
        }
    }
}

/// One match's subscription on this node.
struct Topic {
    sender: broadcast::Sender<Arc<Published>>,
    ring: Arc<std::sync::Mutex<Ring>>,
    forward: JoinHandle<()>,
}

impl Topic {
    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A panic while holding it cannot leave the ring half-changed in a way that
        // matters: at worst it misses an event, and then it cannot answer past it.
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Topic {
    fn drop(&mut self) {
        self.forward.abort();
    }
}

/// A viewer's place in a topic: keeps the subscription alive while it exists.
pub struct Viewer {
    pub updates: broadcast::Receiver<Arc<Published>>,
    topic: Arc<Topic>,
}

impl Viewer {
    /// What the topic's ring holds after `after` (see [`Ring::after`]). Everything newer
    /// reaches [`Viewer::updates`].
    pub fn recent(&self, after: i64) -> Option<Vec<Arc<Published>>> {
        self.topic.ring().after(after)
    }

    /// Keeps events read from the log in the topic's ring (see [`Ring::backfill`]), for
    /// the next viewer that missed as much.
    pub fn backfill(&self, run: &[Arc<Published>]) {
        self.topic.ring().backfill(run);
    }
}

/// The node's topics, by match.
pub struct Hub {
    bus: DynBus,
    capacity: usize,
    ring: usize,
    // A tokio mutex, held across the bus subscribe: two first viewers of one match must
    // end up on one subscription, not two.
    topics: Mutex<HashMap<Uuid, Weak<Topic>>>,
}

impl Hub {
    /// A hub whose viewers may each fall `capacity` updates behind, keeping the last
    /// `ring` events of each match.
    pub fn new(bus: DynBus, capacity: usize, ring: usize) -> Self {
        Self {
            bus,
            capacity: capacity.max(1),
            ring,
            topics: Mutex::new(HashMap::new()),
        }
    }

    /// Starts watching a match. Everything published after this returns reaches the
    /// viewer (unless it lags), so a caller reads the match's state after watching.
    pub async fn watch(&self, match_id: Uuid) -> Result<Viewer, BusError> {
        let mut topics = self.topics.lock().await;
        if let Some(topic) = topics.get(&match_id).and_then(Weak::upgrade) {
            return Ok(Viewer {
                updates: topic.sender.subscribe(),
                topic,
            });
        }
        topics.retain(|_, topic| topic.strong_count() > 0);
        let subscription = self.bus.subscribe(&feed::subject(match_id)).await?;
        let (sender, updates) = broadcast::channel(self.capacity);
        let ring = Arc::new(std::sync::Mutex::new(Ring::new(self.ring)));
        let forward = tokio::spawn(forward(
            subscription,
            sender.clone(),
            ring.clone(),
            match_id,
        ));
        let topic = Arc::new(Topic {
            sender,
            ring,
            forward,
        });
        topics.insert(match_id, Arc::downgrade(&topic));
        Ok(Viewer { updates, topic })
    }

    /// What this node holds in memory of a match after `after`, when it has viewers for
    /// it and holds all of that (see [`Ring::after`]).
    pub async fn recent(&self, match_id: Uuid, after: i64) -> Option<Vec<Arc<Published>>> {
        let topic = self.topics.lock().await.get(&match_id)?.upgrade()?;
        topic.ring().after(after)
    }

    /// Matches with viewers on this node.
    pub async fn watched(&self) -> usize {
        let topics = self.topics.lock().await;
        topics
            .values()
            .filter(|topic| topic.strong_count() > 0)
            .count()
    }
}

async fn forward(
    mut subscription: bus::Subscription,
    sender: broadcast::Sender<Arc<Published>>,
    ring: Arc<std::sync::Mutex<Ring>>,
    match_id: Uuid,
) {
    while let Some(message) = subscription.next().await {
        match message.decode::<Update>() {
            Ok(update) => {
                let published = Arc::new(Published::new(update));
                // Into the ring first, then out: see the module docs.
                let newer = ring
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(published.clone());
                // No receivers only means the last viewer is leaving; the topic's drop
                // ends us.
                if newer {
                    let _ = sender.send(published);
                }
            }
            Err(error) => tracing::warn!(%error, %match_id, "undecodable live update"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::feed::Summary;
    use cricket::MatchEvent;

    fn event(seq: i64) -> Arc<Published> {
        Arc::new(Published::new(Update {
            match_id: Uuid::nil(),
            seq,
            event: MatchEvent::Undo,
            summary: Summary {
                status: "in_progress".into(),
                innings: Vec::new(),
                result: None,
            },
        }))
    }

    fn seqs(events: Option<Vec<Arc<Published>>>) -> Option<Vec<i64>> {
        events.map(|events| events.iter().map(|event| event.seq).collect())
    }

    /// The ring answers only for what it holds without a hole: after its newest, from
    /// just before its oldest, never across a gap the bus left or past its capacity.
    #[test]
    fn the_ring_answers_only_what_it_holds_whole() {
        let mut ring = Ring::new(4);
        assert_eq!(seqs(ring.after(0)), None);
        for seq in 3..=8 {
            assert!(ring.push(event(seq)));
        }
        // 5 to 8 are kept.
        assert_eq!(seqs(ring.after(4)), Some(vec![5, 6, 7, 8]));
        assert_eq!(seqs(ring.after(6)), Some(vec![7, 8]));
        assert_eq!(seqs(ring.after(8)), Some(vec![]));
        assert_eq!(seqs(ring.after(3)), None);
        assert_eq!(seqs(ring.after(9)), None);

        // A copy of one it holds is not news.
        assert!(!ring.push(event(7)));
        assert_eq!(seqs(ring.after(4)), Some(vec![5, 6, 7, 8]));

        // A gap: it starts again from the newer event; the late one joins up in front.
        assert!(ring.push(event(10)));
        assert_eq!(seqs(ring.after(8)), None);
        assert_eq!(seqs(ring.after(9)), Some(vec![10]));
        assert!(!ring.push(event(9)));
        assert_eq!(seqs(ring.after(8)), Some(vec![9, 10]));
    }

    /// Events read from the log fill the ring in front where they join up with it.
    #[test]
    fn the_log_backfills_the_ring() {
        let mut ring = Ring::new(4);
        let run: Vec<_> = (2..=7).map(event).collect();
        ring.backfill(&run);
        assert_eq!(seqs(ring.after(3)), Some(vec![4, 5, 6, 7]));

        let mut ring = Ring::new(4);
        ring.push(event(7));
        ring.backfill(&run);
        assert_eq!(seqs(ring.after(3)), Some(vec![4, 5, 6, 7]));

        // A run that does not reach the ring leaves it as it was.
        let mut ring = Ring::new(4);
        ring.push(event(9));
        ring.backfill(&run);
        assert_eq!(seqs(ring.after(8)), Some(vec![9]));
        assert_eq!(seqs(ring.after(3)), None);
    }
}
