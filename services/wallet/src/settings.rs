//! The `[wallet]` settings section.

use crate::domain::{Asset, flags, valid_asset_code};
use serde::Deserialize;
use std::collections::HashMap;

/// Assets every platform has: coins (whole) and rupees (paise).
const BUILT_IN_ASSETS: [(&str, u32); 2] = [("COIN", 0), ("INR", 2)];

/// The platform's own accounts, and whether each may go below zero. Issuance and payment
/// clearing are where money enters the ledger, so their balances are the negative of what
/// is in circulation; the others hold real money and never go negative.
/// `market_escrow` holds what order book orders reserved until their trades settle.
const BUILT_IN_SYSTEM_ACCOUNTS: [(&str, bool); 7] = [
    ("issuance", true),
    ("payment_clearing", true),
    ("reward_pool", false),
    ("voucher_treasury", false),
    ("market_escrow", false),
    ("revenue", false),
    ("fees", false),
];

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AssetSetting {
    pub code: String,
    pub scale: u32,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SystemAccountSetting {
    pub name: String,
    #[serde(default)]
    pub may_go_negative: bool,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct WalletSettings {
    /// Assets beyond `COIN` and `INR` (e.g. one per voucher SKU).
    pub assets: Vec<AssetSetting>,
    /// System accounts beyond the built-in ones.
    pub system_accounts: Vec<SystemAccountSetting>,
    /// Group commit workers (concurrent transactions).
    pub committers: usize,
    /// Requests per group commit, at most.
    pub max_batch: usize,
    /// Holds one node expires at once (the `wallet` job queue's concurrency).
    pub expiry_concurrency: usize,
    /// How often the outbox is polled when no commit wakes it.
    pub relay_interval_ms: u64,
    /// A wallet actor unused this long is stopped.
    pub idle_timeout_seconds: u64,
    /// Bus commands one node handles at once; one more is refused at once with
    /// `ledger_unavailable` (the callers' "try again later"), so a flood of commands
    /// costs a bounded number of tasks and queued requests instead of growing without end.
    pub bus_concurrency: usize,
}

impl Default for WalletSettings {
    fn default() -> Self {
        Self {
            assets: Vec::new(),
            system_accounts: Vec::new(),
            committers: 1,
            max_batch: 256,
            expiry_concurrency: 16,
            relay_interval_ms: 1000,
            idle_timeout_seconds: 300,
            bus_concurrency: 1024,
        }
    }
}

impl WalletSettings {
    /// Refuses settings the ledger cannot run with.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.expiry_concurrency > 0,
            "wallet.expiry_concurrency must be positive"
        );
        anyhow::ensure!(
            self.bus_concurrency > 0,
            "wallet.bus_concurrency must be positive"
        );
        for asset in &self.assets {
            anyhow::ensure!(
                valid_asset_code(&asset.code),
                "wallet.assets: `{}` is not an asset code (A-Z, 0-9 and _, up to 32)",
                asset.code
            );
            anyhow::ensure!(
                asset.scale <= 8,
                "wallet.assets: {} has a scale above 8",
                asset.code
            );
        }
        for account in &self.system_accounts {
            anyhow::ensure!(
                crate::domain::Owner::parse(&format!("system:{}", account.name)).is_some(),
                "wallet.system_accounts: `{}` is not a name (a-z, 0-9 and _)",
                account.name
            );
        }
        anyhow::ensure!(self.committers >= 1, "wallet.committers must be at least 1");
        anyhow::ensure!(self.max_batch >= 1, "wallet.max_batch must be at least 1");
        Ok(())
    }

    /// The built-in assets and the configured ones.
    pub fn all_assets(&self) -> Vec<Asset> {
        let mut assets: Vec<Asset> = BUILT_IN_ASSETS
            .iter()
            .map(|(code, scale)| Asset {
                code: (*code).to_owned(),
                scale: *scale,
            })
            .collect();
        for asset in &self.assets {
            if !assets.iter().any(|known| known.code == asset.code) {
                assets.push(Asset {
                    code: asset.code.clone(),
                    scale: asset.scale,
                });
            }
        }
        assets
    }

    /// Every system account's name and flags.
    pub fn system_flags(&self) -> HashMap<String, i32> {
        let configured = self
            .system_accounts
            .iter()
            .map(|account| (account.name.as_str(), account.may_go_negative));
        BUILT_IN_SYSTEM_ACCOUNTS
            .into_iter()
            .chain(configured)
            .map(|(name, may_go_negative)| {
                let bits = if may_go_negative {
                    0
                } else {
                    flags::DEBITS_MUST_NOT_EXCEED_CREDITS
                };
                (name.to_owned(), bits)
            })
            .collect()
    }
}
