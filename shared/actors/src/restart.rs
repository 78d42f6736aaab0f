//! Restart intensity and backoff, as pure bookkeeping: no clock, no timers, no IO. The
//! caller passes `now` in, which keeps the OTP-style decision ("restart after a delay, or
//! give up and escalate") unit-testable to the millisecond.
//!
//! Semantics, as in OTP's `intensity`/`period`: a child may fail at most `max_restarts`
//! times within any sliding window of `within`; the failure that exceeds that escalates.
//! `max_restarts = 0` therefore means "never restart". Each restart is delayed by an
//! exponential backoff in the number of failures still inside the window, so a child that
//! crashes once in a blue moon comes back after `backoff_initial`, and one in a crash loop
//! backs off `initial, 2*initial, 4*initial, ...` up to `backoff_max` before it escalates.
//!
//! What "escalate" means is the user's call: the jobs runner fails its queue supervisor;
//! the keyed registry opens the key's circuit instead ([`crate::circuit`]), so that one
//! key never takes its registry down.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How often a child may crash before its supervisor gives up, and how long to wait
/// before each restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Failures tolerated within `within`; one more escalates.
    pub max_restarts: u32,
    /// The sliding window failures are counted in.
    pub within: Duration,
    /// Delay before the first restart in a window.
    pub backoff_initial: Duration,
    /// Cap on the exponential delay.
    pub backoff_max: Duration,
}

impl Default for RestartPolicy {
    /// 5 restarts in 10 s, backing off from 10 ms up to 5 s (the OTP default intensity is
    /// 1 in 5 s; keyed actors rebuild from the database, so a little more patience pays).
    fn default() -> Self {
        Self {
            max_restarts: 5,
            within: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(10),
            backoff_max: Duration::from_secs(5),
        }
    }
}

impl RestartPolicy {
    /// The delay before the `nth` restart in a window (1-based):
    /// `backoff_initial * 2^(nth - 1)`, capped at `backoff_max`.
    pub fn backoff(&self, nth: u32) -> Duration {
        let factor = 1u32.checked_shl(nth.saturating_sub(1)).unwrap_or(u32::MAX);
        self.backoff_initial
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

/// What a supervisor does about a failed child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Start the child again once `after` has passed.
    Restart {
        /// The backoff delay.
        after: Duration,
    },
    /// Too many failures within the window: the supervisor fails itself so that its own
    /// parent decides.
    Escalate,
}

/// The failure history of one child under a [`RestartPolicy`].
#[derive(Debug, Clone)]
pub struct RestartTracker {
    policy: RestartPolicy,
    /// Failures still inside the window, oldest first. Never longer than
    /// `max_restarts + 1`: anything older cannot change a decision.
    recent: VecDeque<Instant>,
}

impl RestartTracker {
    /// A tracker with no failures yet.
    pub fn new(policy: RestartPolicy) -> Self {
        Self {
            policy,
            recent: VecDeque::new(),
        }
    }

    /// The policy this tracker applies.
    pub fn policy(&self) -> &RestartPolicy {
        &self.policy
    }

    /// Record a failure at `now` and decide what to do about it.
    pub fn record_failure(&mut self, now: Instant) -> Decision {
        self.forget_old(now);
        self.recent.push_back(now);
        let cap = usize::try_from(self.policy.max_restarts)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        while self.recent.len() > cap {
            self.recent.pop_front();
        }
        let in_window = self.recent.len();
        if in_window > usize::try_from(self.policy.max_restarts).unwrap_or(usize::MAX) {
            Decision::Escalate
        } else {
            let nth = u32::try_from(in_window).unwrap_or(u32::MAX);
            Decision::Restart {
                after: self.policy.backoff(nth),
            }
        }
    }

    /// How many failures are inside the window ending at `now`.
    pub fn failures_within_window(&self, now: Instant) -> usize {
        self.recent
            .iter()
            .filter(|at| self.in_window(**at, now))
            .count()
    }

    /// True when no failure is inside the window any more, i.e. the tracker is
    /// indistinguishable from a fresh one and may be dropped to save memory.
    pub fn is_quiet(&self, now: Instant) -> bool {
        self.failures_within_window(now) == 0
    }

    fn in_window(&self, at: Instant, now: Instant) -> bool {
        now.saturating_duration_since(at) < self.policy.within
    }

    fn forget_old(&mut self, now: Instant) {
        while let Some(oldest) = self.recent.front() {
            if self.in_window(*oldest, now) {
                break;
            }
            self.recent.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_restarts: u32) -> RestartPolicy {
        RestartPolicy {
            max_restarts,
            within: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(10),
            backoff_max: Duration::from_millis(100),
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = policy(5);
        assert_eq!(p.backoff(0), ms(10));
        assert_eq!(p.backoff(1), ms(10));
        assert_eq!(p.backoff(2), ms(20));
        assert_eq!(p.backoff(3), ms(40));
        assert_eq!(p.backoff(4), ms(80));
        assert_eq!(p.backoff(5), ms(100));
        assert_eq!(
            p.backoff(40),
            ms(100),
            "shift overflow saturates to the cap"
        );
        assert_eq!(p.backoff(u32::MAX), ms(100));
    }

    #[test]
    fn restarts_with_growing_backoff_then_escalates() {
        let mut t = RestartTracker::new(policy(3));
        let t0 = Instant::now();
        assert_eq!(t.record_failure(t0), Decision::Restart { after: ms(10) });
        assert_eq!(
            t.record_failure(t0 + ms(1)),
            Decision::Restart { after: ms(20) }
        );
        assert_eq!(
            t.record_failure(t0 + ms(2)),
            Decision::Restart { after: ms(40) }
        );
        assert_eq!(t.record_failure(t0 + ms(3)), Decision::Escalate);
        assert_eq!(t.failures_within_window(t0 + ms(3)), 4);
    }

    #[test]
    fn zero_intensity_escalates_on_first_failure() {
        let mut t = RestartTracker::new(policy(0));
        assert_eq!(t.record_failure(Instant::now()), Decision::Escalate);
    }

    #[test]
    fn old_failures_slide_out_of_the_window() {
        let mut t = RestartTracker::new(policy(2));
        let t0 = Instant::now();
        assert!(matches!(t.record_failure(t0), Decision::Restart { .. }));
        assert!(matches!(
            t.record_failure(t0 + Duration::from_secs(5)),
            Decision::Restart { .. }
        ));
        // 10.5 s after the first: the first has left the window, so this is the second
        // failure in the window, not the third, and the backoff reflects that.
        assert_eq!(
            t.record_failure(t0 + Duration::from_millis(10_500)),
            Decision::Restart { after: ms(20) }
        );
        // Three within 10 s of each other: 5 s, 10.5 s, 11 s.
        assert_eq!(
            t.record_failure(t0 + Duration::from_secs(11)),
            Decision::Escalate
        );
    }

    #[test]
    fn backoff_resets_after_a_quiet_window() {
        let mut t = RestartTracker::new(policy(5));
        let t0 = Instant::now();
        for i in 0..4 {
            assert!(matches!(
                t.record_failure(t0 + ms(i)),
                Decision::Restart { .. }
            ));
        }
        assert!(!t.is_quiet(t0 + Duration::from_secs(9)));
        let later = t0 + Duration::from_secs(60);
        assert!(t.is_quiet(later));
        assert_eq!(t.record_failure(later), Decision::Restart { after: ms(10) });
    }

    #[test]
    fn window_edge_is_exclusive() {
        let mut t = RestartTracker::new(policy(1));
        let t0 = Instant::now();
        assert!(matches!(t.record_failure(t0), Decision::Restart { .. }));
        // Exactly `within` later the first failure no longer counts.
        assert!(matches!(
            t.record_failure(t0 + Duration::from_secs(10)),
            Decision::Restart { .. }
        ));
        assert_eq!(
            t.record_failure(t0 + Duration::from_secs(10) + ms(1)),
            Decision::Escalate
        );
    }

    #[test]
    fn history_is_bounded() {
        let mut t = RestartTracker::new(policy(2));
        let t0 = Instant::now();
        for i in 0..1000 {
            t.record_failure(t0 + ms(i));
        }
        assert_eq!(t.recent.len(), 3);
    }

    #[test]
    fn out_of_order_instants_do_not_panic() {
        let mut t = RestartTracker::new(policy(5));
        let t0 = Instant::now() + Duration::from_secs(1);
        t.record_failure(t0);
        assert!(matches!(
            t.record_failure(t0 - ms(500)),
            Decision::Restart { .. }
        ));
    }
}
