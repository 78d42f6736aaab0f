//! A circuit breaker per key, as pure bookkeeping on top of [`RestartTracker`]: no clock,
//! no timers, no IO; the caller passes `now` in.
//!
//! A key's actor is restarted after each crash as the [`RestartPolicy`] says. When the
//! tracker would escalate (more than `max_restarts` crashes within `within`), the circuit
//! **opens** instead: the key is refused for [`CircuitPolicy::open_initial`], then the
//! next request tries it once more (**half-open**). If that probe fails (its `init`, or its
//! actor crashes before it has handled one message successfully), the circuit reopens for
//! twice as long, up to [`CircuitPolicy::open_max`]; once the probe has handled a message
//! successfully, the caller calls [`Circuit::record_success`] and the circuit **closes**:
//! a fresh restart history, as if the key had never crashed.
//!
//! ```text
//!            crash (within intensity)          crash past intensity
//!   Closed ───────────────────────────▶ Closed ─────────────────────▶ Open(trip 1)
//!     ▲                                                                  │ open_for elapsed,
//!     │ success                                                          ▼ next request
//!     └──────────────────────────── HalfOpen ◀───────────────────── (probe)
//!                                      │ crash
//!                                      ▼
//!                                Open(trip n+1), open_for doubled, capped
//! ```

use std::time::{Duration, Instant};

use crate::restart::{Decision, RestartPolicy, RestartTracker};

/// How long a tripped key stays refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitPolicy {
    /// The first open period after a crash loop.
    pub open_initial: Duration,
    /// Cap on the open period, which doubles with each failed probe.
    pub open_max: Duration,
}

impl Default for CircuitPolicy {
    /// Open for 5 s, doubling up to 5 min. Five seconds is long enough for a crash loop
    /// (five crashes in ten seconds by default) to stop costing database round trips and
    /// log lines, short enough that a transient cause (a deadlock storm, a failover) costs
    /// one retry of a client honouring `Retry-After`. A key that is structurally broken
    /// (bad data) settles at one probe every five minutes.
    fn default() -> Self {
        Self {
            open_initial: Duration::from_secs(5),
            open_max: Duration::from_secs(300),
        }
    }
}

impl CircuitPolicy {
    /// The open period of the `trip`th consecutive opening (1-based):
    /// `open_initial * 2^(trip - 1)`, capped at `open_max`.
    pub fn open_for(&self, trip: u32) -> Duration {
        let factor = 1u32.checked_shl(trip.saturating_sub(1)).unwrap_or(u32::MAX);
        self.open_initial.saturating_mul(factor).min(self.open_max)
    }
}

/// What the registry does about a crashed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Restart the key's actor once `after` has passed.
    Restart {
        /// The backoff delay.
        after: Duration,
    },
    /// Refuse the key for `retry_after`, then let the next request probe it.
    Open {
        /// The open period.
        retry_after: Duration,
        /// How many times in a row the circuit has opened (1 on the first crash loop).
        trip: u32,
    },
}

/// The crash history and circuit state of one key.
#[derive(Debug, Clone)]
pub struct Circuit {
    restarts: RestartTracker,
    policy: CircuitPolicy,
    /// Consecutive openings not yet followed by a success; 0 while closed.
    trips: u32,
}

impl Circuit {
    /// A closed circuit with no failures yet.
    pub fn new(restart: RestartPolicy, policy: CircuitPolicy) -> Self {
        Self {
            restarts: RestartTracker::new(restart),
            policy,
            trips: 0,
        }
    }

    /// Record a crash at `now` (a failed `handle`, or a failed `init` of a restart or of a
    /// probe) and decide.
    pub fn record_failure(&mut self, now: Instant) -> Verdict {
        if self.trips > 0 {
            // Half-open: the probe failed before proving itself. Back off further.
            self.trips = self.trips.saturating_add(1);
            return self.open();
        }
        match self.restarts.record_failure(now) {
            Decision::Restart { after } => Verdict::Restart { after },
            Decision::Escalate => {
                self.trips = 1;
                // The crashes that tripped it are accounted for by the open period; a
                // probe that succeeds starts from a clean history.
                self.restarts = RestartTracker::new(*self.restarts.policy());
                self.open()
            }
        }
    }

    /// The key's actor handled a message successfully. If the circuit had tripped, the
    /// probe proved itself: close it and forget the crashes, and return true. While closed
    /// it changes nothing: as in OTP, crashes count within their window however many
    /// messages succeeded between them, or a key that fails every other request would
    /// never stop being restarted.
    pub fn record_success(&mut self) -> bool {
        if self.trips == 0 {
            return false;
        }
        self.trips = 0;
        self.restarts = RestartTracker::new(*self.restarts.policy());
        true
    }

    /// True after the circuit opened and before a success closed it: the next crash
    /// reopens it at once, and an `init` failure counts as a crash.
    pub fn is_tripped(&self) -> bool {
        self.trips > 0
    }

    /// True when this circuit is indistinguishable from a fresh one (closed, no crash in
    /// the window), so it may be dropped to save memory.
    pub fn is_quiet(&self, now: Instant) -> bool {
        self.trips == 0 && self.restarts.is_quiet(now)
    }

    fn open(&self) -> Verdict {
        Verdict::Open {
            retry_after: self.policy.open_for(self.trips),
            trip: self.trips,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn circuit(max_restarts: u32) -> Circuit {
        Circuit::new(
            RestartPolicy {
                max_restarts,
                within: Duration::from_secs(10),
                backoff_initial: ms(10),
                backoff_max: ms(100),
            },
            CircuitPolicy {
                open_initial: ms(1000),
                open_max: ms(5000),
            },
        )
    }

    #[test]
    fn open_period_doubles_and_caps() {
        let p = CircuitPolicy {
            open_initial: ms(1000),
            open_max: ms(5000),
        };
        assert_eq!(p.open_for(1), ms(1000));
        assert_eq!(p.open_for(2), ms(2000));
        assert_eq!(p.open_for(3), ms(4000));
        assert_eq!(p.open_for(4), ms(5000));
        assert_eq!(p.open_for(u32::MAX), ms(5000));
        assert_eq!(p.open_for(0), ms(1000));
    }

    #[test]
    fn restarts_within_intensity_then_opens_instead_of_escalating() {
        let mut c = circuit(2);
        let t0 = Instant::now();
        assert_eq!(c.record_failure(t0), Verdict::Restart { after: ms(10) });
        assert_eq!(
            c.record_failure(t0 + ms(1)),
            Verdict::Restart { after: ms(20) }
        );
        assert!(!c.is_tripped());
        assert_eq!(
            c.record_failure(t0 + ms(2)),
            Verdict::Open {
                retry_after: ms(1000),
                trip: 1
            }
        );
        assert!(c.is_tripped());
        assert!(
            !c.is_quiet(t0 + Duration::from_secs(3600)),
            "open is not quiet"
        );
    }

    #[test]
    fn a_failed_probe_reopens_for_longer_up_to_the_cap() {
        let mut c = circuit(0);
        let t0 = Instant::now();
        let opened = |c: &mut Circuit, at| match c.record_failure(at) {
            Verdict::Open { retry_after, .. } => retry_after,
            other => panic!("expected open, got {other:?}"),
        };
        assert_eq!(opened(&mut c, t0), ms(1000));
        // Half-open failures reopen whatever the restart window says.
        assert_eq!(opened(&mut c, t0 + Duration::from_secs(60)), ms(2000));
        assert_eq!(opened(&mut c, t0 + Duration::from_secs(120)), ms(4000));
        assert_eq!(opened(&mut c, t0 + Duration::from_secs(180)), ms(5000));
        assert_eq!(opened(&mut c, t0 + Duration::from_secs(240)), ms(5000));
    }

    #[test]
    fn a_success_closes_and_forgets_the_history() {
        let mut c = circuit(1);
        let t0 = Instant::now();
        assert!(matches!(c.record_failure(t0), Verdict::Restart { .. }));
        assert!(matches!(
            c.record_failure(t0),
            Verdict::Open { trip: 1, .. }
        ));
        assert!(c.record_success(), "closing a tripped circuit reports it");
        assert!(!c.is_tripped());
        assert!(c.is_quiet(t0));
        // A fresh history: the next crash restarts with the initial backoff.
        assert_eq!(
            c.record_failure(t0 + ms(5)),
            Verdict::Restart { after: ms(10) }
        );
        // And a later crash loop opens at the initial period again.
        assert_eq!(
            c.record_failure(t0 + ms(6)),
            Verdict::Open {
                retry_after: ms(1000),
                trip: 1
            }
        );
    }

    #[test]
    fn success_while_closed_keeps_counting_crashes() {
        let mut c = circuit(1);
        let t0 = Instant::now();
        assert!(!c.record_success());
        assert!(c.is_quiet(t0));
        assert!(matches!(c.record_failure(t0), Verdict::Restart { .. }));
        // Requests succeeded in between: the crash loop still trips the circuit.
        assert!(!c.record_success());
        assert!(matches!(
            c.record_failure(t0 + ms(1)),
            Verdict::Open { trip: 1, .. }
        ));
    }

    #[test]
    fn quiet_only_when_closed_and_the_window_is_empty() {
        let mut c = circuit(3);
        let t0 = Instant::now();
        c.record_failure(t0);
        assert!(!c.is_quiet(t0 + Duration::from_secs(9)));
        assert!(c.is_quiet(t0 + Duration::from_secs(10)));
    }
}
