//! The generic cell rate algorithm, the one both stores run (the Redis store as Lua).
//!
//! Each key keeps one number, its theoretical arrival time (TAT): when its allowance would
//! be fully refilled. A request at `now` moves it to `max(tat, now) + interval` and is
//! admitted if that lands no further than `window` ahead of `now`. So a fresh key takes a
//! burst of `limit`, then one request per `interval = window / limit`; a key whose TAT is
//! in the past is indistinguishable from one never seen, which is what lets the stores
//! forget idle keys without changing any answer.

use crate::config::Quota;
use std::time::Duration;

/// The answer for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go ahead.
    pub allowed: bool,
    /// The quota's limit.
    pub limit: u32,
    /// Requests left in the burst after this one.
    pub remaining: u32,
    /// Until the allowance is full again.
    pub reset_after: Duration,
    /// Until a refused request would be admitted (refusals only).
    pub retry_after: Option<Duration>,
    /// The quota's window (for `RateLimit-Policy`).
    pub window: Duration,
}

impl Decision {
    /// A decision from the store's raw numbers (microseconds).
    pub(crate) fn from_parts(
        quota: Quota,
        allowed: bool,
        remaining: u64,
        retry_after_micros: u64,
        reset_after_micros: u64,
    ) -> Self {
        Self {
            allowed,
            limit: quota.limit,
            remaining: u32::try_from(remaining)
                .unwrap_or(u32::MAX)
                .min(quota.limit),
            reset_after: Duration::from_micros(reset_after_micros),
            retry_after: (!allowed).then(|| Duration::from_micros(retry_after_micros)),
            window: quota.window(),
        }
    }
}

/// One step: the decision, and the key's new TAT if the request was admitted.
pub(crate) fn step(stored_tat: Option<u64>, now: u64, quota: Quota) -> (Decision, Option<u64>) {
    let interval = quota.interval_micros();
    let window = quota.window_micros();
    let tat = stored_tat.unwrap_or(now).max(now);
    let new_tat = tat.saturating_add(interval);
    let allow_at = new_tat.saturating_sub(window);
    if now < allow_at {
        let decision = Decision::from_parts(quota, false, 0, allow_at - now, tat - now);
        return (decision, None);
    }
    let ahead = new_tat - now;
    let remaining = (window - ahead) / interval;
    (
        Decision::from_parts(quota, true, remaining, 0, ahead),
        Some(new_tat),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000;

    #[test]
    fn a_burst_of_limit_then_one_per_interval() {
        let quota = Quota::new(3, 60);
        let mut tat = None;
        let mut now = 1_000 * SECOND;
        for expected_remaining in [2, 1, 0] {
            let (decision, new_tat) = step(tat, now, quota);
            assert!(decision.allowed);
            assert_eq!(decision.remaining, expected_remaining);
            tat = new_tat;
        }
        let (refused, unchanged) = step(tat, now, quota);
        assert!(!refused.allowed);
        assert_eq!(unchanged, None);
        assert_eq!(refused.retry_after, Some(Duration::from_secs(20)));
        assert_eq!(refused.reset_after, Duration::from_secs(60));

        // One interval later exactly one more fits.
        now += 20 * SECOND;
        let (decision, new_tat) = step(tat, now, quota);
        assert!(decision.allowed);
        assert_eq!(decision.remaining, 0);
        assert!(!step(new_tat, now, quota).0.allowed);
    }

    #[test]
    fn an_idle_key_is_as_good_as_new() {
        let quota = Quota::new(5, 10);
        let (_, tat) = step(None, 0, quota);
        let later = 100 * SECOND;
        assert_eq!(step(tat, later, quota), step(None, later, quota));
    }
}
