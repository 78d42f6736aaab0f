//! A feed adapter for demos, rehearsals and load: replays a Cricsheet file into a running
//! platform ball by ball, as if it were being scored live (`platform live replay`).
//!
//! It is a client of the scorer API like any scoring app, not a back door into the
//! database: the node's room validates, stores and broadcasts each event, so viewers see a
//! replay exactly as they would see a live match, on either backend and any number of
//! nodes.
//!
//! Cricsheet files carry no times, so "real time" is a nominal [`REAL_SECONDS_PER_BALL`]
//! (a T20 innings of about 125 deliveries takes about 85 minutes; a Test day of 90 overs,
//! six hours: both about 40 s a ball). At `speed` N a ball is sent every 40/N seconds;
//! the events between balls (an innings starting or closing, penalty runs) follow at once.
//!
//! Every event carries an `Idempotency-Key` (its place in the file) and `If-Match` (the
//! seq the replay last saw), so a send that failed in transit is simply resent, and a
//! replay that finds someone else scoring in its match stops instead of interleaving.

use crate::feed::{Created, Update};
use cricket::{CricsheetError, MatchEvent, MatchInfo};
use reqwest::StatusCode;
use std::time::Duration;
use uuid::Uuid;

/// The nominal time between two balls of a real match.
pub const REAL_SECONDS_PER_BALL: f64 = 40.0;

/// Sends that fail in transit, or that the node answers with 503 or 504, are resent this
/// many times (with the same key, so at most one is recorded).
const ATTEMPTS: u32 = 5;

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The file is not a Cricsheet match the platform can take.
    #[error("{0}")]
    File(#[from] CricsheetError),
    /// Not a positive, finite speed.
    #[error("the speed must be a positive number, not {0}")]
    Speed(f64),
    /// The platform could not be reached (after retries).
    #[error("the platform did not answer: {0}")]
    Unreachable(#[from] reqwest::Error),
    /// The platform refused a request; `code` is its problem's code.
    #[error("{what} was refused with {status} {code}: {detail}")]
    Refused {
        what: String,
        status: StatusCode,
        code: String,
        detail: String,
    },
}

/// A parsed Cricsheet file, ready to be replayed.
pub struct Replay {
    info: MatchInfo,
    /// Every event after `Started` (which creating the match records).
    events: Vec<MatchEvent>,
}

impl Replay {
    /// Parses a Cricsheet JSON file; the error names the place in the file.
    pub fn parse(file: &[u8]) -> Result<Self, ReplayError> {
        let imported = cricket::cricsheet::parse(file)?;
        let events = imported
            .events
            .into_iter()
            .filter(|event| !matches!(event, MatchEvent::Started(_)))
            .collect();
        Ok(Self {
            info: imported.info,
            events,
        })
    }

    /// The events a replay sends (after creating the match).
    pub fn events(&self) -> usize {
        self.events.len()
    }

    /// The balls among them, each paced.
    pub fn balls(&self) -> usize {
        self.events
            .iter()
            .filter(|event| matches!(event, MatchEvent::Ball(_)))
            .count()
    }
}

/// The time between balls at `speed` times real time.
pub fn ball_interval(speed: f64) -> Result<Duration, ReplayError> {
    if !(speed.is_finite() && speed > 0.0) {
        return Err(ReplayError::Speed(speed));
    }
    Ok(Duration::from_secs_f64(REAL_SECONDS_PER_BALL / speed))
}

/// A scorer's connection to a platform node.
pub struct Scorer {
    client: reqwest::Client,
    base_url: String,
    token: String,
}

impl Scorer {
    /// A scorer on the node at `base_url` (`http://host:port`) with an editor's or admin's
    /// access token.
    pub fn new(base_url: &str, token: impl Into<String>) -> Result<Self, ReplayError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: token.into(),
        })
    }

    /// Sets up the file's match on the platform, under an idempotency key of this run's:
    /// a resend in transit cannot make two matches, and another run makes its own.
    pub async fn create(&self, replay: &Replay) -> Result<Created, ReplayError> {
        let url = format!("{}/v1/live/matches", self.base_url);
        let key = format!("replay-{}", Uuid::new_v4());
        self.send("creating the match", &url, &replay.info, Some(&key), None)
            .await
    }

    /// Sends the file's events into match `id` (just created from it), a ball every
    /// `interval`, calling `on_update` with each recorded update. Returns the last seq.
    pub async fn replay(
        &self,
        id: Uuid,
        replay: &Replay,
        interval: Duration,
        mut on_update: impl FnMut(&Update),
    ) -> Result<i64, ReplayError> {
        let url = format!("{}/v1/live/matches/{id}/balls", self.base_url);
        // `Started` is seq 1; the file's other events follow it in order.
        let mut seq = 1;
        // Ticks on a fixed schedule, so the time each send takes does not add up to drift.
        let mut pace = tokio::time::interval(interval.max(Duration::from_nanos(1)));
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for (index, event) in replay.events.iter().enumerate() {
            if matches!(event, MatchEvent::Ball(_)) {
                pace.tick().await;
            }
            let what = format!("event {} of the file", index + 2);
            let key = format!("replay-{id}-{index}");
            let update: Update = self.send(&what, &url, event, Some(&key), Some(seq)).await?;
            seq = update.seq;
            on_update(&update);
        }
        Ok(seq)
    }

    /// POSTs `body` with an idempotency key (and the seq last seen, when scoring), resent
    /// on failures in transit and on 503/504: the key makes that safe.
    async fn send<B, T>(
        &self,
        what: &str,
        url: &str,
        body: &B,
        key: Option<&str>,
        seq: Option<i64>,
    ) -> Result<T, ReplayError>
    where
        B: serde::Serialize,
        T: serde::de::DeserializeOwned,
    {
        let attempts = if key.is_some() { ATTEMPTS } else { 1 };
        let mut attempt = 1;
        loop {
            let mut request = self.client.post(url).bearer_auth(&self.token).json(body);
            if let Some(key) = key {
                request = request.header("idempotency-key", key);
            }
            if let Some(seq) = seq {
                request = request.header("if-match", format!("\"{seq}\""));
            }
            let retry = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    return Ok(response.json().await?);
                }
                Ok(response)
                    if !matches!(
                        response.status(),
                        StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
                    ) || attempt == attempts =>
                {
                    return Err(refused(what, response).await);
                }
                Ok(response) => format!("status {}", response.status()),
                Err(error) if attempt == attempts => return Err(error.into()),
                Err(error) => error.to_string(),
            };
            tracing::warn!(what, attempt, %retry, "resending");
            // A backoff before resending, not a wait for something to happen.
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            attempt += 1;
        }
    }
}

async fn refused(what: &str, response: reqwest::Response) -> ReplayError {
    let status = response.status();
    let problem: serde_json::Value = response.json().await.unwrap_or_default();
    let text = |field: &str| problem[field].as_str().unwrap_or_default().to_owned();
    ReplayError::Refused {
        what: what.to_owned(),
        status,
        code: text("code"),
        detail: text("detail"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_divides_the_real_time_between_balls() {
        assert_eq!(ball_interval(1.0).ok(), Some(Duration::from_secs(40)));
        assert_eq!(ball_interval(40.0).ok(), Some(Duration::from_secs(1)));
        for bad in [0.0, -2.0, f64::NAN, f64::INFINITY] {
            assert!(
                matches!(ball_interval(bad), Err(ReplayError::Speed(_))),
                "{bad}"
            );
        }
    }
}
