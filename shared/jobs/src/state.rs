//! The job state machine, as plain data and pure functions: no clock, no IO, no randomness
//! of its own (the caller passes the jitter in), so every rule is unit-tested here and the
//! SQL in [`crate::store`] only has to encode what this module decides.
//!
//! ```text
//!                    insert (due later)            insert (due now)
//!                          │                              │
//!                          ▼            due               ▼
//!   retry (admin) ──▶ scheduled ──────────────────▶ available ◀── drained at shutdown
//!                          │                              │
//!                          └────────── claimed ───────────┤
//!                                                          ▼
//!   retryable ◀── error, panic, timeout, lease lost ── executing ──▶ completed
//!       │          (attempts left)                         │
//!       └──── due: claimed again ──▶ executing             ├── error, no attempts left,
//!                                                          │   or JobError::Discard ──▶ discarded
//!   scheduled, available, retryable, executing ── cancel ──▶ cancelled
//! ```
//!
//! `scheduled` and `retryable` jobs become runnable when their `scheduled_at` passes; the
//! fetch takes them directly (no separate staging pass rewrites them to `available`).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for its scheduled time.
    Scheduled,
    /// Ready to run now.
    Available,
    /// Claimed by a node, which holds a lease on it.
    Executing,
    /// Failed an attempt; runs again at its scheduled time (the backoff).
    Retryable,
    /// Finished successfully.
    Completed,
    /// Failed for good: attempts exhausted, or the worker discarded it.
    Discarded,
    /// Cancelled by someone; never runs (again).
    Cancelled,
}

impl JobState {
    /// Every state, in life order.
    pub const ALL: [JobState; 7] = [
        JobState::Scheduled,
        JobState::Available,
        JobState::Executing,
        JobState::Retryable,
        JobState::Completed,
        JobState::Discarded,
        JobState::Cancelled,
    ];

    /// The name stored in the `state` column.
    pub const fn as_str(self) -> &'static str {
        match self {
            JobState::Scheduled => "scheduled",
            JobState::Available => "available",
            JobState::Executing => "executing",
            JobState::Retryable => "retryable",
            JobState::Completed => "completed",
            JobState::Discarded => "discarded",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Parses a stored state name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == name)
    }

    /// One bit per state, for the `unique_states` column: a job keeps its unique key
    /// exactly while its state's bit is set there.
    pub const fn bit(self) -> i32 {
        1 << (self as i32)
    }

    /// Whether the job will not run again unless someone retries it.
    pub const fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Discarded | JobState::Cancelled
        )
    }

    /// Whether `cancel` applies: anything not finished yet.
    pub const fn is_cancellable(self) -> bool {
        !self.is_finished()
    }

    /// Whether `retry` (by an operator) applies: anything not waiting or running already.
    pub const fn is_retriable(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Discarded | JobState::Cancelled | JobState::Retryable
        )
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The bitmask of a set of states (see [`JobState::bit`]).
pub fn state_mask(states: &[JobState]) -> i32 {
    states.iter().fold(0, |mask, state| mask | state.bit())
}

/// Retry delays: exponential in the attempt number, capped, with jitter so jobs that failed
/// together (a dependency was down) do not all come back in the same instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// The delay after the first failed attempt.
    pub initial: Duration,
    /// The cap on the exponential delay.
    pub max: Duration,
    /// The delay is scaled by a factor drawn from `[1 - jitter, 1 + jitter]`.
    pub jitter: f64,
}

impl Default for Backoff {
    /// 1 s, 2 s, 4 s, ... up to one hour, ±20 %: 20 attempts span about 5 hours, which
    /// rides out a dependency's outage but gives up on a job that can never succeed.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(3600),
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The delay before the attempt after failed attempt `attempt` (1-based), with `unit`
    /// (uniform in `[0, 1)`) choosing the jitter.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        let base = self.initial.saturating_mul(factor).min(self.max);
        let jitter = self.jitter.clamp(0.0, 1.0);
        let scale = 1.0 - jitter + 2.0 * jitter * unit.clamp(0.0, 1.0);
        base.mul_f64(scale)
    }
}

/// What happens to a job after an attempt that did not complete it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Run again once the delay has passed.
    Retry { after: Duration },
    /// No attempts left, or the worker said so.
    Discard,
}

/// The decision after failed attempt `attempt` of `max_attempts`: retry after `delay`
/// while attempts remain, discard otherwise or when `discard` (the worker gave up).
pub fn after_failure(
    attempt: u32,
    max_attempts: u32,
    discard: bool,
    delay: Duration,
) -> AfterFailure {
    if discard || attempt >= max_attempts {
        AfterFailure::Discard
    } else {
        AfterFailure::Retry { after: delay }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_round_trip() {
        for state in JobState::ALL {
            assert_eq!(JobState::parse(state.as_str()), Some(state));
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                serde_json::json!(state.as_str())
            );
        }
        assert_eq!(JobState::parse("running"), None);
    }

    #[test]
    fn state_bits_are_distinct() {
        let mask = state_mask(&JobState::ALL);
        assert_eq!(mask, 0b111_1111);
        assert_eq!(
            state_mask(&[JobState::Available, JobState::Executing]),
            0b110
        );
    }

    #[test]
    fn which_states_accept_cancel_and_retry() {
        let cancellable: Vec<_> = JobState::ALL
            .into_iter()
            .filter(|s| s.is_cancellable())
            .collect();
        assert_eq!(
            cancellable,
            [
                JobState::Scheduled,
                JobState::Available,
                JobState::Executing,
                JobState::Retryable
            ]
        );
        let retriable: Vec<_> = JobState::ALL
            .into_iter()
            .filter(|s| s.is_retriable())
            .collect();
        assert_eq!(
            retriable,
            [
                JobState::Retryable,
                JobState::Completed,
                JobState::Discarded,
                JobState::Cancelled
            ]
        );
    }

    #[test]
    fn backoff_doubles_caps_and_jitters_within_bounds() {
        let backoff = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10),
            jitter: 0.0,
        };
        let delays: Vec<u64> = (1..=6).map(|n| backoff.delay(n, 0.5).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
        assert_eq!(backoff.delay(u32::MAX, 0.5), Duration::from_secs(10));

        let jittered = Backoff {
            jitter: 0.2,
            ..backoff
        };
        assert_eq!(jittered.delay(3, 0.0), Duration::from_secs(4).mul_f64(0.8));
        assert_eq!(jittered.delay(3, 1.0), Duration::from_secs(4).mul_f64(1.2));
        assert_eq!(jittered.delay(3, 0.5), Duration::from_secs(4));
    }

    #[test]
    fn failures_retry_until_attempts_run_out() {
        let delay = Duration::from_secs(2);
        assert_eq!(
            after_failure(1, 3, false, delay),
            AfterFailure::Retry { after: delay }
        );
        assert_eq!(
            after_failure(2, 3, false, delay),
            AfterFailure::Retry { after: delay }
        );
        assert_eq!(after_failure(3, 3, false, delay), AfterFailure::Discard);
        assert_eq!(after_failure(1, 3, true, delay), AfterFailure::Discard);
    }
}
