//! The `[live]` settings section.

use serde::Deserialize;

/// How the live service runs; every field has a default.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveSettings {
    /// A room nobody has written to or read for this long is stopped; its match reloads
    /// from the log on the next request.
    pub room_idle_secs: u64,
    /// How many updates one SSE viewer may fall behind before it is cut off with a
    /// `resync` event.
    pub viewer_queue: usize,
    /// A reconnecting viewer that missed more events than this gets a fresh snapshot
    /// instead of the events.
    pub replay_limit: usize,
    /// Seconds between SSE heartbeat comments, so proxies keep idle streams open.
    pub heartbeat_secs: u64,
    /// Matches in the public list.
    pub list_limit: u64,
    /// The largest Cricsheet file `POST /v1/live/matches/import` takes, in bytes. Its own
    /// limit rather than `http.body_limit_bytes`: a Test match file is several hundred KB,
    /// more than any other request needs.
    pub import_limit_bytes: usize,
    /// How long the bus's `LIVE` stream keeps each event (hours) for durable consumers.
    /// The match log in the database keeps everything; the stream is for catching up.
    pub stream_max_age_hours: u64,
    /// Recent events each node keeps in memory per match it has viewers for, so that
    /// reconnecting viewers resume without reading the log.
    pub resume_ring: usize,
    /// How often the outbox backstop looks for events nobody published (milliseconds).
    pub relay_interval_ms: u64,
    /// How old an unpublished event must be before the backstop publishes it
    /// (milliseconds): longer than a room's own publish normally takes, so the two rarely
    /// both publish one event.
    pub relay_grace_ms: u64,
    /// A scorecard read on a node may be this stale (milliseconds) when another node wrote
    /// the last events: a room reads the log for others' events at most this often for
    /// reads (writes always see them). 0 reads it on every view.
    pub view_fresh_ms: u64,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            room_idle_secs: 600,
            viewer_queue: 256,
            replay_limit: 1000,
            heartbeat_secs: 15,
            list_limit: 100,
            import_limit_bytes: 8 * 1024 * 1024,
            stream_max_age_hours: 72,
            resume_ring: 256,
            relay_interval_ms: 1000,
            relay_grace_ms: 2000,
            view_fresh_ms: 100,
        }
    }
}

impl LiveSettings {
    /// Refuses settings the service cannot run with.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.viewer_queue > 0, "live.viewer_queue must be positive");
        anyhow::ensure!(
            self.heartbeat_secs > 0,
            "live.heartbeat_secs must be positive"
        );
        anyhow::ensure!(
            self.import_limit_bytes > 0,
            "live.import_limit_bytes must be positive"
        );
        anyhow::ensure!(
            self.stream_max_age_hours > 0,
            "live.stream_max_age_hours must be positive"
        );
        anyhow::ensure!(
            self.room_idle_secs > 0,
            "live.room_idle_secs must be positive"
        );
        anyhow::ensure!(
            self.relay_interval_ms > 0,
            "live.relay_interval_ms must be positive"
        );
        Ok(())
    }
}
