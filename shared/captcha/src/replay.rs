//! Tokens this node has seen, so each is spent once even where the provider would take it
//! again (a provider outage under `fail_open`, a provider slow to mark it redeemed, two
//! requests racing with one token).
//!
//! It holds SHA-256 digests, not tokens (which run to kilobytes), for `ttl` after first
//! sight and at most `capacity` of them. Every entry lives the same `ttl`, so insertion
//! order is expiry order and a queue is enough to forget the oldest first. Other nodes
//! are not told: across nodes the provider's own single use holds.

use sha2::{Digest, Sha256};
use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

type Fingerprint = [u8; 32];

pub(crate) struct ReplayCache {
    ttl: Duration,
    capacity: usize,
    order: VecDeque<(Instant, Fingerprint)>,
    seen: HashSet<Fingerprint>,
}

impl ReplayCache {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity: capacity.max(1),
            order: VecDeque::new(),
            seen: HashSet::new(),
        }
    }

    /// Records `token` as seen at `now`; false if it already was (and not yet forgotten).
    pub(crate) fn first_sight(&mut self, token: &str, now: Instant) -> bool {
        self.forget_expired(now);
        let fingerprint: Fingerprint = Sha256::digest(token.as_bytes()).into();
        if self.seen.contains(&fingerprint) {
            return false;
        }
        // Full of live tokens (more than `capacity` solves within `ttl`): the oldest goes.
        // The provider still refuses a second use of it; we only lose the early refusal.
        while self.order.len() >= self.capacity {
            self.pop_oldest();
        }
        self.order.push_back((now, fingerprint));
        self.seen.insert(fingerprint);
        true
    }

    fn forget_expired(&mut self, now: Instant) {
        while let Some((seen_at, _)) = self.order.front() {
            if now.saturating_duration_since(*seen_at) < self.ttl {
                break;
            }
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        if let Some((_, fingerprint)) = self.order.pop_front() {
            self.seen.remove(&fingerprint);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_refused_the_second_time_until_it_expires() {
        let start = Instant::now();
        let mut cache = ReplayCache::new(Duration::from_secs(300), 10);
        assert!(cache.first_sight("a", start));
        assert!(!cache.first_sight("a", start + Duration::from_secs(1)));
        assert!(cache.first_sight("b", start + Duration::from_secs(1)));
        assert!(!cache.first_sight("a", start + Duration::from_secs(299)));
        // Past the ttl the provider refuses the token itself; we may forget it.
        assert!(cache.first_sight("a", start + Duration::from_secs(300)));
    }

    #[test]
    fn memory_stays_within_capacity() {
        let start = Instant::now();
        let mut cache = ReplayCache::new(Duration::from_secs(300), 3);
        for i in 0..10 {
            assert!(cache.first_sight(&format!("token-{i}"), start));
            assert!(cache.len() <= 3);
        }
        // The newest are still refused; the oldest were let go.
        assert!(!cache.first_sight("token-9", start));
        assert!(cache.first_sight("token-0", start));
    }

    #[test]
    fn expired_entries_are_dropped_on_the_next_sight() {
        let start = Instant::now();
        let mut cache = ReplayCache::new(Duration::from_secs(10), 100);
        for i in 0..50 {
            cache.first_sight(&format!("token-{i}"), start);
        }
        cache.first_sight("late", start + Duration::from_secs(11));
        assert_eq!(cache.len(), 1);
    }
}
