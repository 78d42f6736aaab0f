//! The `[rewards]` settings section.

use kernel::Secret;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RewardsSettings {
    /// The key voucher codes are sealed with: 32 random bytes, base64
    /// (`openssl rand -base64 32`). Required with Postgres. Without it an embedded node
    /// keeps a generated key in its own database, which protects nothing at rest.
    pub code_key: Option<Secret<String>>,
    /// How long the wallet holds an order's cost (1 to 30 days). A resting order is
    /// cancelled an hour before its hold would lapse.
    pub order_hold_days: u32,
    /// Price levels per side in a book view and on the bus, at most.
    pub depth_levels: usize,
    /// A market actor unused this long is stopped (its book is rebuilt on the next order).
    pub market_idle_seconds: u64,
    /// Jobs (settlements, purchases, reward payouts) one node runs at once.
    pub job_concurrency: usize,
    /// How long a settlement, purchase or payout waits for the wallet before its job
    /// takes over.
    pub retry_after_seconds: u64,
}

impl Default for RewardsSettings {
    fn default() -> Self {
        Self {
            code_key: None,
            order_hold_days: 30,
            depth_levels: 20,
            market_idle_seconds: 600,
            job_concurrency: 16,
            retry_after_seconds: 30,
        }
    }
}

impl RewardsSettings {
    /// Refuses settings the service cannot run with.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=30).contains(&self.order_hold_days),
            "rewards.order_hold_days must be 1 to 30"
        );
        anyhow::ensure!(
            (1..=500).contains(&self.depth_levels),
            "rewards.depth_levels must be 1 to 500"
        );
        anyhow::ensure!(
            self.job_concurrency > 0,
            "rewards.job_concurrency must be positive"
        );
        anyhow::ensure!(
            self.retry_after_seconds > 0,
            "rewards.retry_after_seconds must be positive"
        );
        Ok(())
    }

    /// The configured code key, decoded.
    pub fn code_key(&self) -> anyhow::Result<Option<[u8; 32]>> {
        use base64::Engine as _;
        let Some(key) = &self.code_key else {
            return Ok(None);
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key.expose().trim())
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok());
        bytes.map(Some).ok_or_else(|| {
            anyhow::anyhow!("rewards.code_key must be 32 bytes in base64 (openssl rand -base64 32)")
        })
    }
}
