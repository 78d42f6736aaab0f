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

use crate::feed::{self, Update};
use actix_web::web::Bytes;
use bus::{BusError, DynBus};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use tokio::sync::{Mutex, broadcast};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// An update as the hub hands it to viewers: its seq and its SSE frame.
pub struct Published {
    pub seq: i64,
    pub frame: Bytes,
}

/// One match's subscription on this node.
struct Topic {
    sender: broadcast::Sender<Arc<Published>>,
    forward: JoinHandle<()>,
}

impl Drop for Topic {
    fn drop(&mut self) {
        self.forward.abort();
    }
}

/// A viewer's place in a topic: keeps the subscription alive while it exists.
pub struct Viewer {
    pub updates: broadcast::Receiver<Arc<Published>>,
    _topic: Arc<Topic>,
}

/// The node's topics, by match.
pub struct Hub {
    bus: DynBus,
    capacity: usize,
    // A tokio mutex, held across the bus subscribe: two first viewers of one match must
    // end up on one subscription, not two.
    topics: Mutex<HashMap<Uuid, Weak<Topic>>>,
}

impl Hub {
    /// A hub whose viewers may each fall `capacity` updates behind.
    pub fn new(bus: DynBus, capacity: usize) -> Self {
        Self {
            bus,
            capacity: capacity.max(1),
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
                _topic: topic,
            });
        }
        topics.retain(|_, topic| topic.strong_count() > 0);
        let subscription = self.bus.subscribe(&feed::subject(match_id)).await?;
        let (sender, updates) = broadcast::channel(self.capacity);
        let forward = tokio::spawn(forward(subscription, sender.clone(), match_id));
        let topic = Arc::new(Topic { sender, forward });
        topics.insert(match_id, Arc::downgrade(&topic));
        Ok(Viewer {
            updates,
            _topic: topic,
        })
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
    match_id: Uuid,
) {
    while let Some(message) = subscription.next().await {
        match message.decode::<Update>() {
            // No receivers only means the last viewer is leaving; the topic's drop ends us.
            Ok(update) => {
                let _ = sender.send(Arc::new(Published {
                    seq: update.seq,
                    frame: crate::sse::event_frame(&update),
                }));
            }
            Err(error) => tracing::warn!(%error, %match_id, "undecodable live update"),
        }
    }
}
