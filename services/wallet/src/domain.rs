//! The ledger's vocabulary, pure: assets and exact amounts, owners and account ids, account
//! flags, balance totals and the errors a request can be refused with.
//!
//! Amounts are `i64` minor units of their asset (a scale of 2 makes `"12.50"` 1250). They
//! cross the API as decimal strings and never touch a float.

use rust_decimal::Decimal;
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// The largest amount one leg may move, in minor units: far beyond any real transfer.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// The most any of an account's four totals may reach, in minor units (2^60, about 1.15e18).
/// The ledger refuses a change that would pass it (`limit_exceeded`). The bound is what keeps
/// the arithmetic exact everywhere: a commit's delta per account stays within it (a batch of
/// 64 legs of [`MAX_AMOUNT`] would not fit an `i64`), and the database's own sums in the
/// balance update (a total plus a delta, at most four of them in a flag check) stay below
/// 2^62. Postgres would raise on an `i64` overflow, but SQLite silently turns an overflowing
/// integer sum into a float, so the bound must hold before the statement runs.
pub const MAX_TOTAL: i64 = 1 << 60;

/// The namespace of account ids: an account's id is a UUIDv5 of `owner/asset`, so every
/// node derives the same id without a lookup and opening an account is idempotent.
const ACCOUNT_NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_2d1c_9a0e_4c55_b3c1_7d1e_0f3a_9e21);
/// The namespace of expiry transfer ids, derived from the hold's id so that two nodes
/// expiring one hold write one transfer.
const EXPIRY_NAMESPACE: Uuid = Uuid::from_u128(0x2c4e_8a10_5f3b_4d7e_9c02_6e1b_3a5d_7f90);

/// An asset and its fixed number of decimals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asset {
    pub code: String,
    pub scale: u32,
}

/// Whether `code` is a well-formed asset code: `COIN`, `INR`, `VOUCHER_AMZ_100`.
pub fn valid_asset_code(code: &str) -> bool {
    (1..=32).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

impl Asset {
    /// Parses a positive decimal string into minor units of this asset.
    pub fn parse(&self, text: &str) -> Result<i64, LedgerError> {
        let invalid = || LedgerError::InvalidAmount(text.to_owned());
        // Decimal's parser is lenient about some forms (`.5`, `1_000`): accept only
        // plain digits with an optional fraction.
        let plain = {
            let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
            !whole.is_empty()
                && !fraction.is_empty()
                && whole
                    .bytes()
                    .chain(fraction.bytes())
                    .all(|b| b.is_ascii_digit())
        };
        if !plain && !text.starts_with('-') {
            return Err(invalid());
        }
        let value = Decimal::from_str(text).map_err(|_| invalid())?;
        if value <= Decimal::ZERO {
            return Err(LedgerError::NonPositiveAmount(text.to_owned()));
        }
        let value = value.normalize();
        if value.scale() > self.scale {
            return Err(LedgerError::TooManyDecimals {
                amount: text.to_owned(),
                asset: self.code.clone(),
                scale: self.scale,
            });
        }
        let minor = value
            .checked_mul(Decimal::from(10_i64.pow(self.scale)))
            .and_then(|minor| i64::try_from(minor).ok())
            .filter(|minor| *minor <= MAX_AMOUNT)
            .ok_or_else(|| LedgerError::AmountTooLarge(text.to_owned()))?;
        Ok(minor)
    }

    /// Formats minor units as a decimal string with exactly this asset's decimals.
    pub fn format(&self, minor: i64) -> String {
        Decimal::new(minor, self.scale).to_string()
    }
}

/// Who owns an account.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// A user's wallet.
    User(Uuid),
    /// A platform account: a reward pool, payment clearing, revenue...
    System(String),
}

impl Owner {
    /// Parses `user:<uuid>` or `system:<name>`.
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(id) = text.strip_prefix("user:") {
            return Uuid::parse_str(id).ok().map(Owner::User);
        }
        let name = text.strip_prefix("system:")?;
        let valid = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        valid.then(|| Owner::System(name.to_owned()))
    }

    pub fn is_user(&self) -> bool {
        matches!(self, Owner::User(_))
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::User(id) => write!(f, "user:{id}"),
            Owner::System(name) => write!(f, "system:{name}"),
        }
    }
}

/// The id of `owner`'s account in `asset`.
pub fn account_id(owner: &Owner, asset: &str) -> Uuid {
    Uuid::new_v5(&ACCOUNT_NAMESPACE, format!("{owner}/{asset}").as_bytes())
}

/// The id of the transfer that expires hold `pending_id`.
pub fn expiry_id(pending_id: Uuid) -> Uuid {
    Uuid::new_v5(&EXPIRY_NAMESPACE, pending_id.as_bytes())
}

/// Account flags, as stored (a bit set, as in TigerBeetle).
pub mod flags {
    /// Debits (posted and pending) may never exceed posted credits: the balance cannot go
    /// below zero. Every user account has it.
    pub const DEBITS_MUST_NOT_EXCEED_CREDITS: i32 = 1;
    /// Credits may never exceed posted debits: for accounts that only ever pay out.
    pub const CREDITS_MUST_NOT_EXCEED_DEBITS: i32 = 2;

    /// Names of the flags set in `bits`, for display.
    pub fn names(bits: i32) -> Vec<&'static str> {
        let mut names = Vec::new();
        if bits & DEBITS_MUST_NOT_EXCEED_CREDITS != 0 {
            names.push("debits_must_not_exceed_credits");
        }
        if bits & CREDITS_MUST_NOT_EXCEED_DEBITS != 0 {
            names.push("credits_must_not_exceed_debits");
        }
        names
    }
}

/// What an account is: immutable once opened, so every node may cache it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountInfo {
    pub id: Uuid,
    pub owner: Owner,
    pub asset: String,
    pub flags: i32,
}

impl AccountInfo {
    /// The account `owner` has (or will have, once opened) in `asset`.
    pub fn of(owner: Owner, asset: &str, flags: i32) -> Self {
        Self {
            id: account_id(&owner, asset),
            owner,
            asset: asset.to_owned(),
            flags,
        }
    }
}

/// An account's four running totals, in minor units. Balances derive from them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub debits_pending: i64,
    pub debits_posted: i64,
    pub credits_pending: i64,
    pub credits_posted: i64,
}

// Stored totals lie in `0..=MAX_TOTAL` (the ledger refuses anything else), so the
// differences and sums below cannot overflow.
impl Totals {
    /// Settled balance (credit-normal: what the owner has).
    pub fn posted(&self) -> i64 {
        self.credits_posted - self.debits_posted
    }

    /// What the owner can still spend: settled minus what outgoing holds reserve.
    pub fn available(&self) -> i64 {
        self.posted() - self.debits_pending
    }

    /// These totals changed by `delta`, or `None` when any of the four would leave
    /// `-MAX_TOTAL..=MAX_TOTAL` (stored totals are never negative; deltas may be).
    pub fn checked_add(&self, delta: &Totals) -> Option<Totals> {
        let sum = |a: i64, b: i64| a.checked_add(b).filter(|sum| sum.abs() <= MAX_TOTAL);
        Some(Totals {
            debits_pending: sum(self.debits_pending, delta.debits_pending)?,
            debits_posted: sum(self.debits_posted, delta.debits_posted)?,
            credits_pending: sum(self.credits_pending, delta.credits_pending)?,
            credits_posted: sum(self.credits_posted, delta.credits_posted)?,
        })
    }

    /// Whether these totals obey `flags`.
    pub fn allowed_by(&self, flags: i32) -> bool {
        let debits = self.debits_pending + self.debits_posted;
        let credits = self.credits_pending + self.credits_posted;
        (flags & flags::DEBITS_MUST_NOT_EXCEED_CREDITS == 0 || debits <= self.credits_posted)
            && (flags & flags::CREDITS_MUST_NOT_EXCEED_DEBITS == 0 || credits <= self.debits_posted)
    }
}

/// Why a request was refused. Each has a stable code the API and the bus give out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("a batch needs between 1 and {max} legs")]
    InvalidBatch { max: usize },
    #[error("the id {0} appears twice in the batch")]
    DuplicateId(Uuid),
    #[error("`{0}` is not a decimal amount")]
    InvalidAmount(String),
    #[error("the amount must be positive, got `{0}`")]
    NonPositiveAmount(String),
    #[error("`{amount}` has more decimals than {asset} allows ({scale})")]
    TooManyDecimals {
        amount: String,
        asset: String,
        scale: u32,
    },
    #[error("`{0}` is too large")]
    AmountTooLarge(String),
    #[error("unknown asset `{0}`")]
    UnknownAsset(String),
    #[error("unknown account `{0}`")]
    UnknownAccount(String),
    #[error("account {account} holds {actual}, not {expected}")]
    AssetMismatch {
        account: Uuid,
        expected: String,
        actual: String,
    },
    #[error("a transfer needs two different accounts")]
    SameAccount,
    #[error("the timeout must be between 1 and {max} seconds")]
    InvalidTimeout { max: u32 },
    #[error("the memo is longer than {max} characters")]
    MemoTooLong { max: usize },
    #[error("account {0} has insufficient funds")]
    InsufficientFunds(Uuid),
    #[error("account {0} is at its limit")]
    LimitExceeded(Uuid),
    #[error("hold {0} does not exist")]
    HoldNotFound(Uuid),
    #[error("hold {0} was already posted, voided or expired")]
    HoldResolved(Uuid),
    #[error("cannot post {amount} of a hold of {held}")]
    PostExceedsHold { amount: String, held: String },
    #[error("transfer id {0} was used before with a different request")]
    IdConflict(Uuid),
    #[error("`{0}` is not an asset code (A-Z, 0-9 and _, up to 32) with a scale of 0 to 8")]
    InvalidAsset(String),
    #[error("asset {code} exists with scale {stored}; a scale never changes")]
    AssetScaleConflict { code: String, stored: u32 },
    #[error("the ledger is unavailable: {0}")]
    Unavailable(String),
}

impl LedgerError {
    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            LedgerError::InvalidBatch { .. } => "invalid_batch",
            LedgerError::DuplicateId(_) => "duplicate_id",
            LedgerError::InvalidAmount(_) => "invalid_amount",
            LedgerError::NonPositiveAmount(_) => "non_positive_amount",
            LedgerError::TooManyDecimals { .. } => "too_many_decimals",
            LedgerError::AmountTooLarge(_) => "amount_too_large",
            LedgerError::UnknownAsset(_) => "unknown_asset",
            LedgerError::UnknownAccount(_) => "unknown_account",
            LedgerError::AssetMismatch { .. } => "asset_mismatch",
            LedgerError::SameAccount => "same_account",
            LedgerError::InvalidTimeout { .. } => "invalid_timeout",
            LedgerError::MemoTooLong { .. } => "memo_too_long",
            LedgerError::InsufficientFunds(_) => "insufficient_funds",
            LedgerError::LimitExceeded(_) => "limit_exceeded",
            LedgerError::HoldNotFound(_) => "hold_not_found",
            LedgerError::HoldResolved(_) => "hold_resolved",
            LedgerError::PostExceedsHold { .. } => "post_exceeds_hold",
            LedgerError::IdConflict(_) => "id_conflict",
            LedgerError::InvalidAsset(_) => "invalid_asset",
            LedgerError::AssetScaleConflict { .. } => "asset_scale_conflict",
            LedgerError::Unavailable(_) => "ledger_unavailable",
        }
    }
}

impl From<sea_orm::DbErr> for LedgerError {
    fn from(error: sea_orm::DbErr) -> Self {
        LedgerError::Unavailable(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn inr() -> Asset {
        Asset {
            code: "INR".into(),
            scale: 2,
        }
    }

    #[test]
    fn totals_add_up_to_the_limit_and_no_further() {
        let credit = |amount| Totals {
            credits_posted: amount,
            ..Totals::default()
        };
        let near = credit(MAX_TOTAL - 1);
        assert_eq!(near.checked_add(&credit(1)), Some(credit(MAX_TOTAL)));
        assert_eq!(near.checked_add(&credit(2)), None, "past the limit");
        assert_eq!(near.checked_add(&credit(i64::MAX)), None, "past i64");
        // A group commit's delta may shrink a pending total, never below -MAX_TOTAL.
        let release = Totals {
            debits_pending: -MAX_TOTAL,
            ..Totals::default()
        };
        assert!(Totals::default().checked_add(&release).is_some());
        assert_eq!(release.checked_add(&release), None);
    }

    #[test]
    fn amounts_parse_exactly_at_the_assets_scale() {
        assert_eq!(inr().parse("12.50"), Ok(1250));
        assert_eq!(inr().parse("12.5"), Ok(1250));
        assert_eq!(
            inr().parse("12.500"),
            Ok(1250),
            "trailing zeros are not decimals"
        );
        assert_eq!(inr().parse("0.01"), Ok(1));
        assert_eq!(inr().parse("7"), Ok(700));
    }

    #[test]
    fn bad_amounts_are_refused_with_their_reason() {
        let code = |text: &str| inr().parse(text).unwrap_err().code();
        assert_eq!(code("0"), "non_positive_amount");
        assert_eq!(code("0.00"), "non_positive_amount");
        assert_eq!(code("-5"), "non_positive_amount");
        assert_eq!(code("0.001"), "too_many_decimals");
        assert_eq!(code("1.5e3"), "invalid_amount");
        assert_eq!(code(".5"), "invalid_amount");
        assert_eq!(code("1_000"), "invalid_amount");
        assert_eq!(code(" 5"), "invalid_amount");
        assert_eq!(code("NaN"), "invalid_amount");
        assert_eq!(code("99999999999999999999"), "amount_too_large");
        let coin = Asset {
            code: "COIN".into(),
            scale: 0,
        };
        assert_eq!(coin.parse("1.5").unwrap_err().code(), "too_many_decimals");
        assert_eq!(coin.parse("1.0"), Ok(1));
    }

    #[test]
    fn owners_round_trip_and_name_their_account() {
        let user = Owner::parse("user:0193a4b2-0000-7000-8000-000000000001").unwrap();
        assert_eq!(
            user.to_string(),
            "user:0193a4b2-0000-7000-8000-000000000001"
        );
        assert_eq!(
            Owner::parse("system:reward_pool"),
            Some(Owner::System("reward_pool".into()))
        );
        assert_eq!(Owner::parse("system:Reward Pool"), None);
        assert_eq!(Owner::parse("user:nope"), None);
        assert_eq!(Owner::parse("reward_pool"), None);
        assert_ne!(account_id(&user, "COIN"), account_id(&user, "INR"));
        assert_eq!(account_id(&user, "COIN"), account_id(&user.clone(), "COIN"));
    }

    #[test]
    fn flags_bound_the_totals() {
        let mut totals = Totals {
            credits_posted: 100,
            ..Totals::default()
        };
        assert!(totals.allowed_by(flags::DEBITS_MUST_NOT_EXCEED_CREDITS));
        totals.debits_pending = 60;
        totals.debits_posted = 40;
        assert!(totals.allowed_by(flags::DEBITS_MUST_NOT_EXCEED_CREDITS));
        assert_eq!(totals.available(), 0);
        totals.debits_posted = 41;
        assert!(!totals.allowed_by(flags::DEBITS_MUST_NOT_EXCEED_CREDITS));
        assert!(
            totals.allowed_by(0),
            "unflagged system accounts may go negative"
        );
    }

    proptest! {
        #[test]
        fn formatting_then_parsing_is_the_identity(minor in 1..MAX_AMOUNT, scale in 0u32..6) {
            let asset = Asset { code: "X".into(), scale };
            prop_assert_eq!(asset.parse(&asset.format(minor)), Ok(minor));
        }
    }
}
