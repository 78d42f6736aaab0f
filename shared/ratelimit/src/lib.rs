//! Rate limits per client address and per account, configured per route group, and the
//! actix [`Guard`] that enforces them with `RateLimit-*` headers and 429 problems.
//!
//! Counting is GCRA (a smoothly refilling bucket: a burst of `limit`, then one request
//! per `window / limit`), in memory for the embedded default ([`MemoryStore`], bounded,
//! per node) or in Redis when `redis_url` (`REDIS_URL`) is set ([`RedisStore`], one
//! atomic Lua script, shared by every node). A node builds one [`Limiter`] from
//! [`RateLimitConfig`] and wraps routes or scopes with guards (see [`Guard`]).
//!
//! It knows nothing of the routes it guards, nor of accounts beyond reading a verified
//! access token's subject ([`web::Authenticated`]).

pub mod client;
pub mod clock;
pub mod config;
pub mod error;
mod gcra;
pub mod guard;
pub mod limiter;
pub mod memory;
pub mod redis_store;

pub use clock::{Clock, ManualClock, MonotonicClock};
pub use config::{GroupLimits, OutagePolicy, Quota, RateLimitConfig, groups};
pub use error::RateLimitError;
pub use gcra::Decision;
pub use guard::Guard;
pub use limiter::{Key, Limiter, Store};
pub use memory::MemoryStore;
pub use redis_store::RedisStore;
