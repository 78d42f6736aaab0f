//! The wallet, as this service reaches it: its commands over the bus (`wallet.v1.cmd.*`),
//! typed in `contracts::wallet`. Every leg carries an id derived from what it settles, so
//! sending a batch again after a lost answer moves nothing twice.

use crate::error::RewardsError;
use bus::{DynBus, Message};
use contracts::wallet::{Batch, DefineAsset, Receipt};
use contracts::{Command, Refusal};
use std::time::Duration;
use uuid::Uuid;

/// How long a wallet command may take before the caller gives up (and retries later with
/// the same ids).
const TIMEOUT: Duration = Duration::from_secs(5);

/// The asset of a voucher SKU's units in the wallet.
pub fn units_asset(sku: &str) -> String {
    format!("VCH_{sku}")
}

/// The wallet account of a user.
pub fn user(id: Uuid) -> String {
    format!("user:{id}")
}

/// The coins asset.
pub const COIN: &str = "COIN";
/// Where orders' holds go until their trades settle.
pub const ESCROW: &str = "system:market_escrow";
/// What coins for vouchers are paid to.
pub const TREASURY: &str = "system:voucher_treasury";
/// Where voucher units come from and go back to (minted on purchase, burnt on redemption).
pub const ISSUANCE: &str = "system:issuance";
/// What campaigns pay from.
pub const REWARD_POOL: &str = "system:reward_pool";

/// A client of the wallet's bus commands.
#[derive(Clone)]
pub struct Ledger {
    bus: DynBus,
}

impl Ledger {
    pub fn new(bus: DynBus) -> Self {
        Self { bus }
    }

    /// Commits a linked batch: every leg or none.
    pub async fn execute(&self, batch: &Batch) -> Result<Receipt, RewardsError> {
        self.send(batch).await
    }

    /// Makes sure the wallet knows a voucher SKU's units (whole units, scale 0).
    pub async fn define_units(&self, sku: &str) -> Result<(), RewardsError> {
        self.send(&DefineAsset {
            code: units_asset(sku),
            scale: 0,
        })
        .await
        .map(drop)
    }

    async fn send<C: Command>(&self, command: &C) -> Result<C::Reply, RewardsError> {
        let request = Message::json(C::SUBJECT, command)
            .map_err(|error| RewardsError::Internal(error.to_string()))?;
        let reply = self
            .bus
            .request(request, TIMEOUT)
            .await
            .map_err(|error| RewardsError::Unavailable(format!("wallet: {error}")))?;
        let answer: Result<C::Reply, Refusal> = reply
            .decode()
            .map_err(|error| RewardsError::Internal(format!("wallet answer: {error}")))?;
        answer.map_err(|refusal| {
            if refusal.code == "ledger_unavailable" {
                RewardsError::Unavailable(refusal.message)
            } else {
                RewardsError::Wallet(refusal)
            }
        })
    }
}

/// A deterministic id for a leg: the same inputs always name the same transfer.
pub fn leg_id(parts: &[&str]) -> Uuid {
    Uuid::new_v5(&NAMESPACE, parts.join("/").as_bytes())
}

/// The namespace of every id this service derives.
const NAMESPACE: Uuid = Uuid::from_u128(0x6a2f_4c1e_93b7_4d0a_8e55_21c7_d9f0_3b64);
