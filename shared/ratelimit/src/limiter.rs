//! The limiter a node builds once from its settings and hands to every guard: the store
//! (memory or Redis) and the quotas by route group.

use crate::config::{GroupLimits, Quota, RateLimitConfig};
use crate::error::RateLimitError;
use crate::gcra::Decision;
use crate::memory::MemoryStore;
use crate::redis_store::RedisStore;
use std::fmt;
use std::sync::Arc;

/// What a client is counted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// The client's address (IPv6 by its /64: one subscriber's prefix).
    Ip,
    /// The signed-in user; signed-out callers are counted by address.
    Account,
}

impl Key {
    /// `ip` or `account`, as in keys and settings.
    pub fn as_str(self) -> &'static str {
        match self {
            Key::Ip => "ip",
            Key::Account => "account",
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Key::Ip => "per_ip",
            Key::Account => "per_account",
        };
        f.write_str(name)
    }
}

/// Where counts live.
#[derive(Clone, Debug)]
pub enum Store {
    /// In this process: limits hold per node.
    Memory(Arc<MemoryStore>),
    /// In Redis: limits hold across nodes.
    Redis(RedisStore),
}

impl Store {
    /// Counts one request of `key` against `quota`.
    pub async fn check(&self, key: &str, quota: Quota) -> Result<Decision, RateLimitError> {
        match self {
            Store::Memory(store) => Ok(store.check(key, quota)),
            Store::Redis(store) => store.check(key, quota).await,
        }
    }

    /// `memory` or `redis`.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Memory(_) => "memory",
            Store::Redis(_) => "redis",
        }
    }
}

/// A store and the quotas by route group. Cheap to clone; clones share the store.
#[derive(Clone, Debug)]
pub struct Limiter {
    store: Store,
    config: Arc<RateLimitConfig>,
}

impl Limiter {
    /// The limiter the settings describe: Redis when `redis_url` is set (connecting now,
    /// so a wrong URL stops the node at start), else memory.
    pub async fn from_config(config: RateLimitConfig) -> Result<Self, RateLimitError> {
        let store = match &config.redis_url {
            Some(url) => Store::Redis(
                RedisStore::connect(
                    url.expose(),
                    config.key_prefix.clone(),
                    config.redis_timeout(),
                )
                .await?,
            ),
            None => Store::Memory(Arc::new(MemoryStore::new(config.max_keys))),
        };
        Self::with_store(config, store)
    }

    /// A limiter over a store built elsewhere (tests with a manual clock, two nodes on one
    /// Redis).
    pub fn with_store(config: RateLimitConfig, store: Store) -> Result<Self, RateLimitError> {
        config.validate().map_err(RateLimitError::Config)?;
        tracing::info!(
            store = store.kind(),
            enabled = config.enabled,
            groups = ?config.groups.keys().collect::<Vec<_>>(),
            "rate limits ready"
        );
        Ok(Self {
            store,
            config: Arc::new(config),
        })
    }

    /// The settings it runs with.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A group's quotas.
    pub fn group(&self, group: &str) -> Result<GroupLimits, RateLimitError> {
        self.config
            .groups
            .get(group)
            .copied()
            .ok_or_else(|| RateLimitError::UnknownGroup(group.to_owned()))
    }

    /// The quota a group sets for `key`.
    pub fn quota(&self, group: &str, key: Key) -> Result<Quota, RateLimitError> {
        let limits = self.group(group)?;
        let quota = match key {
            Key::Ip => limits.per_ip,
            Key::Account => limits.per_account,
        };
        quota.ok_or_else(|| RateLimitError::NoQuota {
            group: group.to_owned(),
            key,
        })
    }

    /// Counts one request of `subject` (an address or a user id) under `group`'s quota for
    /// `key`.
    pub async fn check(
        &self,
        group: &str,
        key: Key,
        subject: &str,
    ) -> Result<Decision, RateLimitError> {
        let quota = self.quota(group, key)?;
        self.check_quota(group, key.as_str(), subject, quota).await
    }

    /// Counts under an explicit key namespace (`ip`, `account`, `anonymous`).
    pub(crate) async fn check_quota(
        &self,
        group: &str,
        namespace: &str,
        subject: &str,
        quota: Quota,
    ) -> Result<Decision, RateLimitError> {
        let store_key = format!("{group}:{namespace}:{subject}");
        self.store.check(&store_key, quota).await
    }
}
