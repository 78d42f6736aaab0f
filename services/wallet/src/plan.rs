//! From a client's batch to a planned request: every amount parsed at its asset's scale,
//! every account resolved, every leg hashed for idempotency. Everything that can be refused
//! without touching balances is refused here, before a transaction starts.
//!
//! The [`Catalog`] is what planning reads: assets, the configured system accounts, and
//! accounts by id. All of it is immutable once written, so each node caches it.

use crate::domain::{AccountInfo, Asset, LedgerError, Owner, flags};
use crate::store;
use contracts::wallet::{Batch, Leg, TransferKind};
use sea_orm::{DatabaseConnection, EntityTrait};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use uuid::Uuid;

/// The most legs one batch may carry.
pub const MAX_LEGS: usize = 64;
/// The longest hold: 30 days.
pub const MAX_TIMEOUT_SECONDS: u32 = 30 * 24 * 3600;
/// Accounts a node remembers as open before it starts over.
const MAX_CACHED_ACCOUNTS: usize = 1_000_000;
/// The longest memo, in characters.
pub const MAX_MEMO: usize = 512;

/// One planned leg.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A transfer or a new hold: money moves (or is reserved) between two accounts.
    Move {
        id: Uuid,
        kind: TransferKind,
        debit: AccountInfo,
        credit: AccountInfo,
        asset: Asset,
        amount: i64,
        /// For a hold: seconds until it expires.
        timeout_seconds: Option<u32>,
        memo: Option<String>,
        hash: String,
    },
    /// A post, void or expiry of an open hold, whose accounts and amount are read when it
    /// is resolved.
    Resolve {
        id: Uuid,
        kind: TransferKind,
        pending_id: Uuid,
        /// For a partial post, as the client wrote it (parsed once the hold's asset is known).
        amount: Option<String>,
        memo: Option<String>,
        hash: String,
    },
}

impl Step {
    pub fn id(&self) -> Uuid {
        match self {
            Step::Move { id, .. } | Step::Resolve { id, .. } => *id,
        }
    }

    pub fn hash(&self) -> &str {
        match self {
            Step::Move { hash, .. } | Step::Resolve { hash, .. } => hash,
        }
    }
}

/// A batch ready to commit: all of its steps post, or none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    /// The first leg's id; every leg records it, so a replay can tell its batch.
    pub batch_id: Uuid,
    pub steps: Vec<Step>,
}

impl Planned {
    /// The user whose wallet actor should order this request: the first user debited.
    pub fn debtor(&self) -> Option<Uuid> {
        self.steps.iter().find_map(|step| match step {
            Step::Move {
                debit:
                    AccountInfo {
                        owner: Owner::User(user),
                        ..
                    },
                ..
            } => Some(*user),
            _ => None,
        })
    }

    /// New money this request takes out of `user`'s accounts, per account.
    pub fn debits_of(&self, user: Uuid) -> HashMap<Uuid, i64> {
        let mut debits = HashMap::new();
        for step in &self.steps {
            if let Step::Move { debit, amount, .. } = step
                && debit.owner == Owner::User(user)
            {
                // Saturating: a sum past i64 is more than any balance, which sends the
                // request down the path where the database decides.
                let total = debits.entry(debit.id).or_insert(0_i64);
                *total = total.saturating_add(*amount);
            }
        }
        debits
    }

    /// The expiry of hold `pending_id`, done by the platform itself.
    pub fn expiry(pending_id: Uuid) -> Self {
        let id = crate::domain::expiry_id(pending_id);
        Self {
            batch_id: id,
            steps: vec![Step::Resolve {
                id,
                kind: TransferKind::Expire,
                pending_id,
                amount: None,
                memo: None,
                hash: hash(&["expire", &pending_id.to_string()]),
            }],
        }
    }
}

/// Assets, system accounts and known accounts, cached.
pub struct Catalog {
    db: DatabaseConnection,
    assets: RwLock<HashMap<String, Asset>>,
    /// System account names and their flags.
    system: HashMap<String, i32>,
    /// Accounts known to exist, by id.
    accounts: RwLock<HashMap<Uuid, AccountInfo>>,
}

impl Catalog {
    pub fn new(db: DatabaseConnection, system: HashMap<String, i32>) -> Self {
        Self {
            db,
            assets: RwLock::default(),
            system,
            accounts: RwLock::default(),
        }
    }

    /// The asset `code`, from the cache or the database (another node may have defined it).
    pub async fn asset(&self, code: &str) -> Result<Asset, LedgerError> {
        if let Some(asset) = read(&self.assets).get(code) {
            return Ok(asset.clone());
        }
        let row = store::asset::Entity::find_by_id(code.to_owned())
            .one(&self.db)
            .await?
            .ok_or_else(|| LedgerError::UnknownAsset(code.to_owned()))?;
        let asset = Asset {
            code: row.code,
            scale: u32::try_from(row.scale).unwrap_or(0),
        };
        write(&self.assets).insert(code.to_owned(), asset.clone());
        Ok(asset)
    }

    /// Remembers an asset defined at startup.
    pub fn remember_asset(&self, asset: Asset) {
        write(&self.assets).insert(asset.code.clone(), asset);
    }

    /// The flags of a configured system account, if `name` is one.
    pub fn system_flags(&self, name: &str) -> Option<i32> {
        self.system.get(name).copied()
    }

    /// The flags an account of `owner` is opened with, if it may be opened.
    pub fn flags_for(&self, owner: &Owner) -> Option<i32> {
        match owner {
            Owner::User(_) => Some(flags::DEBITS_MUST_NOT_EXCEED_CREDITS),
            Owner::System(name) => self.system_flags(name),
        }
    }

    /// Whether the account is known to exist (then no transaction needs to open it).
    pub fn is_open(&self, id: Uuid) -> bool {
        read(&self.accounts).contains_key(&id)
    }

    /// Remembers accounts that now exist.
    pub fn remember_open<'a>(&self, accounts: impl IntoIterator<Item = &'a AccountInfo>) {
        let mut known = write(&self.accounts);
        // A bound on memory: forgetting costs one idempotent insert per account later.
        if known.len() > MAX_CACHED_ACCOUNTS {
            known.clear();
        }
        for account in accounts {
            known.entry(account.id).or_insert_with(|| account.clone());
        }
    }

    /// An account by id: cached, else read.
    pub async fn account_by_id(&self, id: Uuid) -> Result<Option<AccountInfo>, LedgerError> {
        if let Some(info) = read(&self.accounts).get(&id) {
            return Ok(Some(info.clone()));
        }
        let Some(info) = store::account::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .and_then(|row| row.info())
        else {
            return Ok(None);
        };
        write(&self.accounts).insert(id, info.clone());
        Ok(Some(info))
    }

    /// Resolves one side of a leg: an account id, or an owner address in `asset`.
    async fn resolve(&self, reference: &str, asset: &Asset) -> Result<AccountInfo, LedgerError> {
        let unknown = || LedgerError::UnknownAccount(reference.to_owned());
        if let Ok(id) = Uuid::parse_str(reference) {
            let info = self.account_by_id(id).await?.ok_or_else(unknown)?;
            if info.asset != asset.code {
                return Err(LedgerError::AssetMismatch {
                    account: id,
                    expected: asset.code.clone(),
                    actual: info.asset,
                });
            }
            return Ok(info);
        }
        let owner = Owner::parse(reference).ok_or_else(unknown)?;
        let flags = self.flags_for(&owner).ok_or_else(unknown)?;
        Ok(AccountInfo::of(owner, &asset.code, flags))
    }

    /// Plans a client's batch.
    pub async fn plan(&self, batch: &Batch) -> Result<Planned, LedgerError> {
        let Some(first) = batch.legs.first() else {
            return Err(LedgerError::InvalidBatch { max: MAX_LEGS });
        };
        if batch.legs.len() > MAX_LEGS {
            return Err(LedgerError::InvalidBatch { max: MAX_LEGS });
        }
        let mut seen = HashSet::new();
        for leg in &batch.legs {
            if !seen.insert(leg.id()) {
                return Err(LedgerError::DuplicateId(leg.id()));
            }
        }
        let batch_id = first.id();
        let mut steps = Vec::with_capacity(batch.legs.len());
        for leg in &batch.legs {
            steps.push(self.plan_leg(leg, batch_id).await?);
        }
        Ok(Planned { batch_id, steps })
    }

    async fn plan_leg(&self, leg: &Leg, batch_id: Uuid) -> Result<Step, LedgerError> {
        let memo = |memo: &Option<String>| match memo {
            Some(text) if text.chars().count() > MAX_MEMO => {
                Err(LedgerError::MemoTooLong { max: MAX_MEMO })
            }
            _ => Ok(memo.clone()),
        };
        let batch = batch_id.to_string();
        match leg {
            Leg::Transfer(leg) => {
                self.plan_move(
                    leg.id,
                    TransferKind::Transfer,
                    (&leg.debit, &leg.credit, &leg.asset, &leg.amount),
                    None,
                    memo(&leg.memo)?,
                    &batch,
                )
                .await
            }
            Leg::Hold(leg) => {
                if !(1..=MAX_TIMEOUT_SECONDS).contains(&leg.timeout_seconds) {
                    return Err(LedgerError::InvalidTimeout {
                        max: MAX_TIMEOUT_SECONDS,
                    });
                }
                self.plan_move(
                    leg.id,
                    TransferKind::Hold,
                    (&leg.debit, &leg.credit, &leg.asset, &leg.amount),
                    Some(leg.timeout_seconds),
                    memo(&leg.memo)?,
                    &batch,
                )
                .await
            }
            Leg::Post(leg) => {
                let memo = memo(&leg.memo)?;
                Ok(Step::Resolve {
                    id: leg.id,
                    kind: TransferKind::Post,
                    pending_id: leg.pending_id,
                    amount: leg.amount.clone(),
                    hash: hash(&[
                        "post",
                        &batch,
                        &leg.pending_id.to_string(),
                        leg.amount.as_deref().unwrap_or("*"),
                        memo.as_deref().unwrap_or(""),
                    ]),
                    memo,
                })
            }
            Leg::Void(leg) => {
                let memo = memo(&leg.memo)?;
                Ok(Step::Resolve {
                    id: leg.id,
                    kind: TransferKind::Void,
                    pending_id: leg.pending_id,
                    amount: None,
                    hash: hash(&[
                        "void",
                        &batch,
                        &leg.pending_id.to_string(),
                        memo.as_deref().unwrap_or(""),
                    ]),
                    memo,
                })
            }
        }
    }

    async fn plan_move(
        &self,
        id: Uuid,
        kind: TransferKind,
        (debit, credit, asset, amount): (&str, &str, &str, &str),
        timeout_seconds: Option<u32>,
        memo: Option<String>,
        batch: &str,
    ) -> Result<Step, LedgerError> {
        let asset = self.asset(asset).await?;
        let amount = asset.parse(amount)?;
        let debit = self.resolve(debit, &asset).await?;
        let credit = self.resolve(credit, &asset).await?;
        if debit.id == credit.id {
            return Err(LedgerError::SameAccount);
        }
        let hash = hash(&[
            kind.as_str(),
            batch,
            &debit.id.to_string(),
            &credit.id.to_string(),
            &asset.code,
            &amount.to_string(),
            &timeout_seconds.map(|t| t.to_string()).unwrap_or_default(),
            memo.as_deref().unwrap_or(""),
        ]);
        Ok(Step::Move {
            id,
            kind,
            debit,
            credit,
            asset,
            amount,
            timeout_seconds,
            memo,
            hash,
        })
    }
}

/// A request's fingerprint: the same id with a different fingerprint is a conflict.
fn hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        // Length-prefixed, so no two different lists of parts collide by concatenation.
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // The maps are caches of immutable facts: a panic mid-insert cannot leave them wrong.
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
