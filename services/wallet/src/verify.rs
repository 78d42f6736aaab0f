//! `platform ledger verify`: recompute every balance from the transfers and check the
//! ledger's invariants. It trusts nothing the writers maintain (account totals, the
//! open-holds table) and compares them with what the immutable transfers imply.
//!
//! Invariants: each account's four totals equal the sums of its transfers; the open holds
//! are exactly the holds never resolved; every asset sums to zero across all accounts
//! (double entry: every debit has its credit); no account whose flags forbid it is below
//! zero; every resolution resolves a hold that existed, once.

use crate::domain::{MAX_TOTAL, Totals, flags};
use crate::store::{account, asset, hold, transfer};
use contracts::wallet::TransferKind;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// Transfers read per query.
const PAGE: u64 = 10_000;

/// What the verification found.
#[derive(Debug, Default)]
pub struct Report {
    pub assets: usize,
    pub accounts: usize,
    pub transfers: u64,
    pub open_holds: usize,
    /// Every broken invariant, in words; empty when the ledger is sound.
    pub problems: Vec<String>,
}

impl Report {
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} assets, {} accounts, {} transfers, {} open holds",
            self.assets, self.accounts, self.transfers, self.open_holds
        )?;
        if self.problems.is_empty() {
            writeln!(
                f,
                "ledger sound: every balance matches its transfers and every asset sums to zero"
            )
        } else {
            for problem in &self.problems {
                writeln!(f, "PROBLEM: {problem}")?;
            }
            writeln!(f, "ledger NOT sound: {} problems", self.problems.len())
        }
    }
}

/// Verifies the whole ledger. Run it on a quiet ledger (writes during the run may show as
/// mismatches).
pub async fn verify(db: &DatabaseConnection) -> Result<Report, DbErr> {
    let mut report = Report::default();
    let assets: HashMap<String, i32> = asset::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.code, row.scale))
        .collect();
    report.assets = assets.len();

    // Replay the transfers in commit order.
    let mut computed: HashMap<Uuid, (String, Totals)> = HashMap::new();
    let mut holds: HashMap<Uuid, (Uuid, Uuid, i64)> = HashMap::new();
    let mut resolved: HashMap<Uuid, Uuid> = HashMap::new();
    let mut after = i64::MIN;
    // Replay sums are checked: stored amounts are bounded by the writers, but this
    // trusts nothing the writers keep.
    let mut overflows = Vec::new();
    let zero = Totals::default();
    loop {
        let page = transfer::Entity::find()
            .filter(transfer::Column::Seq.gt(after))
            .order_by_asc(transfer::Column::Seq)
            .limit(PAGE)
            .all(db)
            .await?;
        for row in &page {
            report.transfers += 1;
            after = row.seq;
            if !assets.contains_key(&row.asset) {
                report.problems.push(format!(
                    "transfer {} is in unknown asset {}",
                    row.id, row.asset
                ));
            }
            if row.amount < 0 || (row.amount == 0 && row.kind != TransferKind::Post.as_str()) {
                report
                    .problems
                    .push(format!("transfer {} has amount {}", row.id, row.amount));
            }
            let mut side = |account: Uuid, change: Totals| {
                let entry = computed
                    .entry(account)
                    .or_insert_with(|| (row.asset.clone(), Totals::default()));
                match entry.1.checked_add(&change) {
                    Some(sum) => entry.1 = sum,
                    None => overflows.push(format!(
                        "transfer {} takes account {account} past the ledger's limit",
                        row.id
                    )),
                }
            };
            let amount = row.amount;
            match TransferKind::parse(&row.kind) {
                Some(TransferKind::Transfer) => {
                    side(
                        row.debit_account,
                        Totals {
                            debits_posted: amount,
                            ..zero
                        },
                    );
                    side(
                        row.credit_account,
                        Totals {
                            credits_posted: amount,
                            ..zero
                        },
                    );
                }
                Some(TransferKind::Hold) => {
                    side(
                        row.debit_account,
                        Totals {
                            debits_pending: amount,
                            ..zero
                        },
                    );
                    side(
                        row.credit_account,
                        Totals {
                            credits_pending: amount,
                            ..zero
                        },
                    );
                    holds.insert(row.id, (row.debit_account, row.credit_account, amount));
                }
                Some(kind @ (TransferKind::Post | TransferKind::Void | TransferKind::Expire)) => {
                    let Some(pending) = row.pending_id else {
                        report
                            .problems
                            .push(format!("{} {} names no hold", kind.as_str(), row.id));
                        continue;
                    };
                    let Some(&(debit, credit, held)) = holds.get(&pending) else {
                        report.problems.push(format!(
                            "{} {} resolves unknown hold {pending}",
                            kind.as_str(),
                            row.id
                        ));
                        continue;
                    };
                    if let Some(first) = resolved.insert(pending, row.id) {
                        report.problems.push(format!(
                            "hold {pending} resolved twice ({first}, {})",
                            row.id
                        ));
                    }
                    if (debit, credit) != (row.debit_account, row.credit_account) {
                        report.problems.push(format!(
                            "{} {} names other accounts than hold {pending}",
                            kind.as_str(),
                            row.id
                        ));
                    }
                    let posted = if kind == TransferKind::Post {
                        amount
                    } else {
                        0
                    };
                    if posted > held {
                        report
                            .problems
                            .push(format!("post {} exceeds hold {pending}", row.id));
                    }
                    side(
                        debit,
                        Totals {
                            debits_pending: -held,
                            debits_posted: posted,
                            ..zero
                        },
                    );
                    side(
                        credit,
                        Totals {
                            credits_pending: -held,
                            credits_posted: posted,
                            ..zero
                        },
                    );
                }
                None => report
                    .problems
                    .push(format!("transfer {} has unknown kind {}", row.id, row.kind)),
            }
        }
        if (page.len() as u64) < PAGE {
            break;
        }
    }

    report.problems.append(&mut overflows);

    // The open-holds table must list exactly the unresolved holds.
    let open = hold::Entity::find().all(db).await?;
    report.open_holds = open.len();
    let unresolved: BTreeMap<Uuid, i64> = holds
        .iter()
        .filter(|(id, _)| !resolved.contains_key(id))
        .map(|(id, (_, _, amount))| (*id, *amount))
        .collect();
    let listed: BTreeMap<Uuid, i64> = open.iter().map(|row| (row.id, row.amount)).collect();
    if unresolved != listed {
        report.problems.push(format!(
            "open holds table lists {} holds, the transfers leave {} unresolved (or amounts differ)",
            listed.len(),
            unresolved.len()
        ));
    }

    // Every account's totals against the replay, and its flags.
    let accounts = account::Entity::find().all(db).await?;
    report.accounts = accounts.len();
    for row in &accounts {
        let expected = computed
            .remove(&row.id)
            .map(|(_, totals)| totals)
            .unwrap_or_default();
        if row.totals() != expected {
            report.problems.push(format!(
                "account {} ({} {}) stores {:?}, its transfers give {:?}",
                row.id,
                row.owner,
                row.asset,
                row.totals(),
                expected
            ));
        }
        let stored = row.totals();
        if [
            stored.debits_pending,
            stored.debits_posted,
            stored.credits_pending,
            stored.credits_posted,
        ]
        .iter()
        .any(|total| !(0..=MAX_TOTAL).contains(total))
        {
            report.problems.push(format!(
                "account {} ({} {}) has a total outside 0..={MAX_TOTAL}: {stored:?}",
                row.id, row.owner, row.asset
            ));
        }
        if !expected.allowed_by(row.flags) {
            report.problems.push(format!(
                "account {} ({} {}) breaks its flags {:?}: {expected:?}",
                row.id,
                row.owner,
                row.asset,
                flags::names(row.flags)
            ));
        }
    }
    for (id, _) in computed.iter() {
        report
            .problems
            .push(format!("transfers move account {id}, which does not exist"));
    }

    // Double entry: each asset sums to zero.
    let mut sums: BTreeMap<&str, (i128, i128)> = BTreeMap::new();
    for row in &accounts {
        let sum = sums.entry(row.asset.as_str()).or_default();
        sum.0 += i128::from(row.credits_posted) - i128::from(row.debits_posted);
        sum.1 += i128::from(row.credits_pending) - i128::from(row.debits_pending);
    }
    for (asset, (posted, pending)) in sums {
        if posted != 0 || pending != 0 {
            report.problems.push(format!(
                "{asset} does not sum to zero: posted {posted}, pending {pending}"
            ));
        }
    }
    Ok(report)
}
