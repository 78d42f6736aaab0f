//! The Redis store: one count shared by every node.
//!
//! The GCRA step runs as one Lua script, so reading the TAT, deciding and writing it back
//! is atomic: two nodes admitting at once cannot both take the last request. The script
//! reads Redis's clock (`TIME`), not the node's, so nodes with skewed clocks still agree.
//! Each key expires when its allowance is full again: idle clients cost Redis nothing.

use crate::config::Quota;
use crate::error::RateLimitError;
use crate::gcra::Decision;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Arc;
use std::time::Duration;

/// KEYS[1]: the client's key. ARGV[1]: refill interval, ARGV[2]: window, both µs.
/// Returns {allowed (0|1), remaining, retry_after µs, reset_after µs}.
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - window
if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end
-- '%.0f': a plain number would be written as 1.7e+15 and lose the microseconds.
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((window - (new_tat - now)) / interval), 0, new_tat - now}
";

/// Rate limit state in Redis. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    script: Arc<redis::Script>,
    prefix: Arc<str>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://host:6379/0`); every key starts with `prefix:`. Each
    /// command, and each (re)connection attempt, gives up after `timeout`.
    pub async fn connect(
        url: &str,
        prefix: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, RateLimitError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(timeout))
            .set_connection_timeout(Some(timeout))
            // Reconnect attempts in the background stay short: a request meanwhile fails
            // fast and the outage policy answers it.
            .set_number_of_retries(2);
        let connection = ConnectionManager::new_with_config(client, config).await?;
        Ok(Self {
            connection,
            script: Arc::new(redis::Script::new(GCRA)),
            prefix: prefix.into().into(),
        })
    }

    /// Counts one request of `key` against `quota`, atomically across nodes.
    pub async fn check(&self, key: &str, quota: Quota) -> Result<Decision, RateLimitError> {
        let mut connection = self.connection.clone();
        let reply: Vec<i64> = self
            .script
            .key(format!("{}:{key}", self.prefix))
            .arg(quota.interval_micros())
            .arg(quota.window_micros())
            .invoke_async(&mut connection)
            .await?;
        let [allowed, remaining, retry_after, reset_after] = reply[..] else {
            return Err(RateLimitError::UnexpectedReply(reply));
        };
        let micros = |value: i64| u64::try_from(value).unwrap_or(0);
        Ok(Decision::from_parts(
            quota,
            allowed == 1,
            micros(remaining),
            micros(retry_after),
            micros(reset_after),
        ))
    }
}
