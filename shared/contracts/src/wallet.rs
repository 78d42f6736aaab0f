//! The wallet's contract: the ledger commands other services send it over the bus, the
//! events it publishes, and the shapes its REST API shares with both.
//!
//! Amounts are decimal strings (`"12.50"`), exact, with no more decimals than the asset's
//! scale: JSON numbers would pass through floats in too many clients.
//!
//! Accounts are addressed either by id (a UUID) or by owner, `user:<uuid>` or
//! `system:<name>`, together with the leg's asset: the wallet opens a user's account on its
//! first credit.

use crate::{Command, Event};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// One leg of a batch. Every leg carries an id the client chooses; sending the same id
/// again returns the first result instead of moving money twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Leg {
    /// Move an amount now.
    Transfer(TransferLeg),
    /// Reserve an amount until it is posted, voided or expires.
    Hold(HoldLeg),
    /// Post a hold, in full or in part (the rest is released).
    Post(PostLeg),
    /// Release a hold.
    Void(VoidLeg),
}

impl Leg {
    /// The client-chosen id of this leg.
    pub fn id(&self) -> Uuid {
        match self {
            Leg::Transfer(leg) => leg.id,
            Leg::Hold(leg) => leg.id,
            Leg::Post(leg) => leg.id,
            Leg::Void(leg) => leg.id,
        }
    }
}

/// Move `amount` of `asset` from `debit` to `credit` now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"id": "0193a4b2-7c1e-7d2a-9f10-3b5c2d4e6f70", "debit": "system:reward_pool", "credit": "user:0193a4b2-0000-7000-8000-000000000001", "asset": "COIN", "amount": "250", "memo": "welcome bonus"}))]
pub struct TransferLeg {
    pub id: Uuid,
    /// The account debited: an account id, `user:<uuid>` or `system:<name>`.
    pub debit: String,
    /// The account credited.
    pub credit: String,
    pub asset: String,
    /// A positive decimal string with at most the asset's scale of decimals.
    pub amount: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
}

/// Reserve `amount`: it leaves the debit account's available balance now and moves when
/// the hold is posted, or comes back when it is voided or expires after `timeout_seconds`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"id": "0193a4b2-7c1e-7d2a-9f10-3b5c2d4e6f71", "debit": "user:0193a4b2-0000-7000-8000-000000000001", "credit": "system:revenue", "asset": "COIN", "amount": "100", "timeout_seconds": 300}))]
pub struct HoldLeg {
    pub id: Uuid,
    pub debit: String,
    pub credit: String,
    pub asset: String,
    pub amount: String,
    /// Seconds until the hold expires by itself (1 to 30 days' worth).
    pub timeout_seconds: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
}

/// Post the hold `pending_id`: `amount` (all of it when absent) moves, the rest is released.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"id": "0193a4b2-7c1e-7d2a-9f10-3b5c2d4e6f72", "pending_id": "0193a4b2-7c1e-7d2a-9f10-3b5c2d4e6f71", "amount": "60"}))]
pub struct PostLeg {
    pub id: Uuid,
    pub pending_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
}

/// Release the hold `pending_id` in full.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidLeg {
    pub id: Uuid,
    pub pending_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
}

/// A linked batch: every leg posts, or none does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"legs": [
    {"kind": "transfer", "id": "0193a4b2-7c1e-7d2a-9f10-3b5c2d4e6f73", "debit": "user:0193a4b2-0000-7000-8000-000000000001", "credit": "system:voucher_treasury", "asset": "COIN", "amount": "500"},
    {"kind": "transfer", "id": "0193a4b2-7c1e-7d2a-9f10-3b5c2d4e6f74", "debit": "system:voucher_treasury", "credit": "user:0193a4b2-0000-7000-8000-000000000001", "asset": "VOUCHER_AMZ_100", "amount": "1"},
    {"kind": "transfer", "id": "0193a4b2-7c1e-7d2a-9f10-3b5c2d4e6f75", "debit": "user:0193a4b2-0000-7000-8000-000000000001", "credit": "system:fees", "asset": "COIN", "amount": "5"}
]}))]
pub struct Batch {
    pub legs: Vec<Leg>,
}

impl Command for Batch {
    const SUBJECT: &'static str = "wallet.v1.cmd.transfer";
    type Reply = Receipt;
}

impl Command for HoldLeg {
    const SUBJECT: &'static str = "wallet.v1.cmd.hold";
    type Reply = Receipt;
}

impl Command for PostLeg {
    const SUBJECT: &'static str = "wallet.v1.cmd.post";
    type Reply = Receipt;
}

impl Command for VoidLeg {
    const SUBJECT: &'static str = "wallet.v1.cmd.void";
    type Reply = Receipt;
}

/// Define an asset (a voucher SKU's units, say), or confirm one that exists with the same
/// scale. Idempotent; a different scale for an existing code is refused
/// (`asset_scale_conflict`): every stored amount depends on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefineAsset {
    /// `A-Z`, `0-9` and `_`, up to 32.
    pub code: String,
    /// Decimal places, 0 to 8.
    pub scale: u32,
}

impl Command for DefineAsset {
    const SUBJECT: &'static str = "wallet.v1.cmd.define_asset";
    type Reply = DefineAsset;
}

/// Ask for an owner's balances.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceQuery {
    /// `user:<uuid>` or `system:<name>`.
    pub owner: String,
}

impl Command for BalanceQuery {
    const SUBJECT: &'static str = "wallet.v1.cmd.balance";
    type Reply = Balances;
}

/// What a transfer did, as recorded. Immutable: a mistake is fixed by a new transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    Transfer,
    Hold,
    Post,
    Void,
    Expire,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::Transfer => "transfer",
            TransferKind::Hold => "hold",
            TransferKind::Post => "post",
            TransferKind::Void => "void",
            TransferKind::Expire => "expire",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "transfer" => TransferKind::Transfer,
            "hold" => TransferKind::Hold,
            "post" => TransferKind::Post,
            "void" => TransferKind::Void,
            "expire" => TransferKind::Expire,
            _ => return None,
        })
    }
}

/// One recorded transfer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TransferRecord {
    pub id: Uuid,
    pub kind: TransferKind,
    pub debit_account: Uuid,
    pub debit_owner: String,
    pub credit_account: Uuid,
    pub credit_owner: String,
    pub asset: String,
    /// For a void or an expiry, the amount released.
    pub amount: String,
    /// The hold a post, void or expiry resolves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_id: Option<Uuid>,
    /// When a hold expires by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The answer to a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Receipt {
    pub transfers: Vec<TransferRecord>,
    /// True when every id had been seen before: nothing moved this time.
    pub replayed: bool,
}

/// One account's balances. `posted` is what has settled; `pending` is held for outgoing
/// holds; `incoming` is held towards this account; `available` is `posted - pending`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"account_id": "6f2c1a5e-4b3d-5e6f-8a9b-0c1d2e3f4a5b", "asset": "COIN", "posted": "1250", "pending": "100", "incoming": "0", "available": "1150"}))]
pub struct Balance {
    pub account_id: Uuid,
    pub asset: String,
    pub posted: String,
    pub pending: String,
    pub incoming: String,
    pub available: String,
}

/// Every balance of one owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Balances {
    pub owner: String,
    pub balances: Vec<Balance>,
}

macro_rules! transfer_event {
    ($(#[$doc:meta])* $name:ident, $subject:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub TransferRecord);

        impl Event for $name {
            const SUBJECT: &'static str = $subject;
        }
    };
}

transfer_event!(
    /// Money moved: a transfer, or a hold posted.
    TransferPosted,
    "wallet.v1.transfer.posted"
);
transfer_event!(
    /// Money was reserved.
    TransferHeld,
    "wallet.v1.transfer.held"
);
transfer_event!(
    /// A hold was released on request.
    TransferVoided,
    "wallet.v1.transfer.voided"
);
transfer_event!(
    /// A hold reached its deadline and was released.
    TransferExpired,
    "wallet.v1.transfer.expired"
);

/// Every wallet event subject, for the stream that keeps them.
pub const TRANSFER_EVENTS: &str = "wallet.v1.transfer.>";
