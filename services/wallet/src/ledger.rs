//! The ledger's writes: planned requests committed to the database, several per
//! transaction.
//!
//! The database is the authority. Inside one transaction:
//! 1. accounts not yet known to exist are opened (`ON CONFLICT DO NOTHING`);
//! 2. the holds being resolved are deleted from the open-holds table, which is what makes
//!    a hold resolvable once even with two nodes racing;
//! 3. the accounts touched are locked in id order (Postgres), so concurrent batches never
//!    deadlock;
//! 4. the transfers are inserted; a transfer id seen before inserts nothing;
//! 5. every account's totals move by one `UPDATE ... FROM (VALUES ...)` whose `WHERE`
//!    carries the account's flags, so a balance rule that would break leaves that row out;
//! 6. the events go into the outbox.
//!
//! [`Ledger::commit_all`] runs many requests optimistically in one transaction (the group
//! commit). Anything unexpected (a replayed id, a hold already resolved, insufficient funds)
//! aborts it, and [`Ledger::commit_one`] then runs each request alone, carefully: replays are
//! answered from the stored rows, and refusals name their reason.

use crate::domain::{AccountInfo, Asset, LedgerError, MAX_TOTAL, Totals, flags};
use crate::plan::{Catalog, Planned, Step};
use crate::store::{self, hold, transfer};
use contracts::Event;
use contracts::wallet::{
    Receipt, TransferExpired, TransferHeld, TransferKind, TransferPosted, TransferRecord,
    TransferVoided,
};
use jobs::Jobs;
use outbox::Envelope;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, QueryFilter, Statement, TransactionTrait, Value,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::Notify;
use uuid::Uuid;

/// A committed request: its receipt, and the new totals of the accounts it touched (the
/// wallet actors refresh their caches from them).
#[derive(Clone, Debug)]
pub struct Committed {
    pub receipt: Receipt,
    pub totals: Vec<(Uuid, Totals)>,
}

/// Why an optimistic transaction gave up. Each is resolved by running requests alone.
#[derive(Debug)]
pub enum Abort {
    /// A transfer id exists already.
    Replay,
    /// A hold to resolve is no longer open.
    HoldGone,
    /// These accounts would break their flags.
    Funds(Vec<Uuid>),
    /// A request is wrong in a way only the stored hold shows.
    Invalid(LedgerError),
    Db(DbErr),
}

impl From<DbErr> for Abort {
    fn from(error: DbErr) -> Self {
        Abort::Db(error)
    }
}

/// The ledger on one database.
pub struct Ledger {
    db: DatabaseConnection,
    catalog: Arc<Catalog>,
    /// Woken after each commit, so the outbox relay publishes at once.
    committed: Arc<Notify>,
    /// Where each new hold's expiry job is enqueued, in the hold's own transaction.
    jobs: Jobs,
}

impl Ledger {
    pub fn new(
        db: DatabaseConnection,
        catalog: Arc<Catalog>,
        committed: Arc<Notify>,
        jobs: Jobs,
    ) -> Self {
        Self {
            db,
            catalog,
            committed,
            jobs,
        }
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Commits every request in one transaction, or none of them.
    pub async fn commit_all(&self, requests: &[&Planned]) -> Result<Vec<Committed>, Abort> {
        let txn = self.db.begin().await?;
        let committed = self.apply(&txn, requests).await?;
        txn.commit().await?;
        self.after_commit(requests);
        Ok(committed)
    }

    /// Commits one request alone, answering replays and naming refusals precisely.
    pub async fn commit_one(&self, request: &Planned) -> Result<Committed, LedgerError> {
        // A race with another node (the same id, the same hold) ends on the second look.
        for _ in 0..3 {
            if let Some(answer) = self.replayed(request).await? {
                return answer;
            }
            self.check_holds(request).await?;
            match self.commit_all(&[request]).await {
                Ok(mut committed) => {
                    return committed
                        .pop()
                        .ok_or_else(|| LedgerError::Unavailable("empty commit".into()));
                }
                Err(Abort::Replay | Abort::HoldGone) => continue,
                Err(Abort::Funds(accounts)) => return Err(self.refusal(request, &accounts)),
                Err(Abort::Invalid(error)) => return Err(error),
                Err(Abort::Db(error)) if retryable(&error) => continue,
                Err(Abort::Db(error)) => return Err(error.into()),
            }
        }
        Err(LedgerError::Unavailable(
            "the request kept racing with another writer".into(),
        ))
    }

    fn after_commit(&self, requests: &[&Planned]) {
        self.catalog
            .remember_open(requests.iter().flat_map(|request| {
                request.steps.iter().flat_map(|step| match step {
                    Step::Move { debit, credit, .. } => vec![debit, credit],
                    Step::Resolve { .. } => Vec::new(),
                })
            }));
        self.committed.notify_one();
    }

    /// If the request's ids were used before: the first answer, or a conflict.
    async fn replayed(
        &self,
        request: &Planned,
    ) -> Result<Option<Result<Committed, LedgerError>>, LedgerError> {
        let ids: Vec<Uuid> = request.steps.iter().map(Step::id).collect();
        let rows = transfer::Entity::find()
            .filter(transfer::Column::Id.is_in(ids.clone()))
            .all(&self.db)
            .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let by_id: HashMap<Uuid, &transfer::Model> = rows.iter().map(|row| (row.id, row)).collect();
        let mut records = Vec::with_capacity(ids.len());
        for step in &request.steps {
            let Some(row) = by_id.get(&step.id()) else {
                // Some ids of the batch exist, some not: they were used elsewhere.
                let used = rows.first().map_or(step.id(), |row| row.id);
                return Ok(Some(Err(LedgerError::IdConflict(used))));
            };
            if row.request_hash != step.hash() || row.batch_id != request.batch_id {
                return Ok(Some(Err(LedgerError::IdConflict(row.id))));
            }
            let asset = self.catalog.asset(&row.asset).await?;
            records.push(row.record(&asset));
        }
        Ok(Some(Ok(Committed {
            receipt: Receipt {
                transfers: records,
                replayed: true,
            },
            totals: Vec::new(),
        })))
    }

    /// Refuses resolutions of holds that are not open, saying whether they ever were.
    async fn check_holds(&self, request: &Planned) -> Result<(), LedgerError> {
        let mut seen = HashSet::new();
        for step in &request.steps {
            let Step::Resolve { pending_id, .. } = step else {
                continue;
            };
            if !seen.insert(*pending_id) {
                return Err(LedgerError::HoldResolved(*pending_id));
            }
            if hold::Entity::find_by_id(*pending_id)
                .one(&self.db)
                .await?
                .is_some()
            {
                continue;
            }
            let existed = transfer::Entity::find()
                .filter(transfer::Column::Id.eq(*pending_id))
                .filter(transfer::Column::Kind.eq(TransferKind::Hold.as_str()))
                .one(&self.db)
                .await?
                .is_some();
            return Err(if existed {
                LedgerError::HoldResolved(*pending_id)
            } else {
                LedgerError::HoldNotFound(*pending_id)
            });
        }
        Ok(())
    }

    /// The refusal for a request whose `accounts` would break their flags or pass
    /// [`MAX_TOTAL`]: an account this request debits ran out of funds; any other (one it
    /// only credits, or one a post takes past its limit) is at its limit.
    fn refusal(&self, request: &Planned, accounts: &[Uuid]) -> LedgerError {
        let Some(&account) = accounts.first() else {
            return LedgerError::Unavailable("no account refused".into());
        };
        let debited = request.steps.iter().any(|step| {
            matches!(step, Step::Move { debit, .. }
                if debit.id == account
                    && (debit.owner.is_user()
                        || debit.flags & flags::DEBITS_MUST_NOT_EXCEED_CREDITS != 0))
        });
        if debited {
            LedgerError::InsufficientFunds(account)
        } else {
            LedgerError::LimitExceeded(account)
        }
    }

    async fn apply(
        &self,
        txn: &DatabaseTransaction,
        requests: &[&Planned],
    ) -> Result<Vec<Committed>, Abort> {
        let backend = txn.get_database_backend();
        // Microseconds: what Postgres keeps, so a replay's receipt equals the first one.
        let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);

        // 1. Open accounts this node has not seen yet.
        let mut opening: BTreeMap<Uuid, &AccountInfo> = BTreeMap::new();
        for request in requests {
            for step in &request.steps {
                if let Step::Move { debit, credit, .. } = step {
                    for info in [debit, credit] {
                        if !self.catalog.is_open(info.id) {
                            opening.insert(info.id, info);
                        }
                    }
                }
            }
        }
        if !opening.is_empty() {
            let mut insert = Query::insert();
            insert
                .into_table(store::account::Entity)
                .columns([
                    store::account::Column::Id,
                    store::account::Column::Owner,
                    store::account::Column::Asset,
                    store::account::Column::Flags,
                    store::account::Column::CreatedAt,
                ])
                .on_conflict(
                    OnConflict::column(store::account::Column::Id)
                        .do_nothing()
                        .to_owned(),
                );
            for info in opening.values() {
                insert.values_panic([
                    info.id.into(),
                    info.owner.to_string().into(),
                    info.asset.clone().into(),
                    info.flags.into(),
                    now.into(),
                ]);
            }
            txn.execute(&insert).await?;
        }

        // 2. Take the holds being resolved out of the open-holds table.
        let mut pending_ids = Vec::new();
        for request in requests {
            for step in &request.steps {
                if let Step::Resolve { pending_id, .. } = step {
                    pending_ids.push(*pending_id);
                }
            }
        }
        let mut holds: HashMap<Uuid, hold::Model> = HashMap::new();
        if !pending_ids.is_empty() {
            let distinct: HashSet<Uuid> = pending_ids.iter().copied().collect();
            if distinct.len() != pending_ids.len() {
                return Err(Abort::HoldGone);
            }
            let delete = Query::delete()
                .from_table(hold::Entity)
                .and_where(Expr::col(hold::Column::Id).is_in(pending_ids.iter().copied()))
                .returning_all()
                .to_owned();
            for row in txn.query_all(&delete).await? {
                let hold = hold_from_row(&row)?;
                holds.insert(hold.id, hold);
            }
            if holds.len() != pending_ids.len() {
                return Err(Abort::HoldGone);
            }
        }

        // 3. What each step records and how it moves the totals.
        let mut deltas: BTreeMap<Uuid, Totals> = BTreeMap::new();
        let mut transfers = Vec::new();
        let mut new_holds = Vec::new();
        let mut receipts = Vec::with_capacity(requests.len());
        for request in requests {
            let mut records = Vec::with_capacity(request.steps.len());
            for step in &request.steps {
                let (record, asset) = match step {
                    Step::Move {
                        id,
                        kind,
                        debit,
                        credit,
                        asset,
                        amount,
                        timeout_seconds,
                        memo,
                        ..
                    } => {
                        let pending = timeout_seconds.is_some();
                        let expires_at = timeout_seconds
                            .map(|seconds| now + chrono::Duration::seconds(i64::from(seconds)));
                        let (on_debit, on_credit) = if pending {
                            (
                                Totals {
                                    debits_pending: *amount,
                                    ..Totals::default()
                                },
                                Totals {
                                    credits_pending: *amount,
                                    ..Totals::default()
                                },
                            )
                        } else {
                            (
                                Totals {
                                    debits_posted: *amount,
                                    ..Totals::default()
                                },
                                Totals {
                                    credits_posted: *amount,
                                    ..Totals::default()
                                },
                            )
                        };
                        shift(&mut deltas, debit.id, &on_debit)?;
                        shift(&mut deltas, credit.id, &on_credit)?;
                        if let Some(expires_at) = expires_at {
                            new_holds.push(hold::Model {
                                id: *id,
                                debit_account: debit.id,
                                debit_owner: debit.owner.to_string(),
                                credit_account: credit.id,
                                credit_owner: credit.owner.to_string(),
                                asset: asset.code.clone(),
                                amount: *amount,
                                expires_at,
                            });
                        }
                        let record = Row {
                            id: *id,
                            kind: *kind,
                            debit: (debit.id, debit.owner.to_string()),
                            credit: (credit.id, credit.owner.to_string()),
                            asset: asset.code.clone(),
                            amount: *amount,
                            pending_id: None,
                            expires_at,
                            memo: memo.clone(),
                        };
                        (record, asset.clone())
                    }
                    Step::Resolve {
                        id,
                        kind,
                        pending_id,
                        amount,
                        memo,
                        ..
                    } => {
                        let held = holds.get(pending_id).ok_or(Abort::HoldGone)?;
                        let asset = self
                            .catalog
                            .asset(&held.asset)
                            .await
                            .map_err(Abort::Invalid)?;
                        let posted = match (kind, amount) {
                            (TransferKind::Post, Some(text)) => {
                                let amount = asset.parse(text).map_err(Abort::Invalid)?;
                                if amount > held.amount {
                                    return Err(Abort::Invalid(LedgerError::PostExceedsHold {
                                        amount: text.clone(),
                                        held: asset.format(held.amount),
                                    }));
                                }
                                amount
                            }
                            (TransferKind::Post, None) => held.amount,
                            _ => 0,
                        };
                        let on_debit = Totals {
                            debits_pending: -held.amount,
                            debits_posted: posted,
                            ..Totals::default()
                        };
                        let on_credit = Totals {
                            credits_pending: -held.amount,
                            credits_posted: posted,
                            ..Totals::default()
                        };
                        shift(&mut deltas, held.debit_account, &on_debit)?;
                        shift(&mut deltas, held.credit_account, &on_credit)?;
                        let record = Row {
                            id: *id,
                            kind: *kind,
                            debit: (held.debit_account, held.debit_owner.clone()),
                            credit: (held.credit_account, held.credit_owner.clone()),
                            asset: held.asset.clone(),
                            amount: if *kind == TransferKind::Post {
                                posted
                            } else {
                                held.amount
                            },
                            pending_id: Some(*pending_id),
                            expires_at: None,
                            memo: memo.clone(),
                        };
                        (record, asset)
                    }
                };
                transfers.push((record.clone(), step.hash().to_owned(), request.batch_id));
                records.push(record.into_record(&asset, now));
            }
            receipts.push(records);
        }
        deltas.retain(|_, delta| *delta != Totals::default());

        // 4. Lock the accounts in one order, so two batches never wait on each other in a
        // cycle. (SQLite has one writer at a time.)
        if backend == DatabaseBackend::Postgres && !deltas.is_empty() {
            let ids: Vec<Uuid> = deltas.keys().copied().collect();
            txn.query_all_raw(postgres::lock_accounts(&ids)).await?;
        }

        // 5. The transfers; an id that exists inserts nothing.
        let inserted = if backend == DatabaseBackend::Postgres {
            txn.query_all_raw(postgres::insert_transfers(&transfers, now))
                .await?
        } else {
            let mut insert = Query::insert();
            insert
                .into_table(transfer::Entity)
                .columns([
                    transfer::Column::Id,
                    transfer::Column::BatchId,
                    transfer::Column::Kind,
                    transfer::Column::DebitAccount,
                    transfer::Column::DebitOwner,
                    transfer::Column::CreditAccount,
                    transfer::Column::CreditOwner,
                    transfer::Column::Asset,
                    transfer::Column::Amount,
                    transfer::Column::PendingId,
                    transfer::Column::ExpiresAt,
                    transfer::Column::Memo,
                    transfer::Column::RequestHash,
                    transfer::Column::CreatedAt,
                ])
                .on_conflict(
                    OnConflict::column(transfer::Column::Id)
                        .do_nothing()
                        .to_owned(),
                )
                .returning_col(transfer::Column::Id);
            for (row, hash, batch_id) in &transfers {
                insert.values_panic([
                    row.id.into(),
                    (*batch_id).into(),
                    row.kind.as_str().into(),
                    row.debit.0.into(),
                    row.debit.1.clone().into(),
                    row.credit.0.into(),
                    row.credit.1.clone().into(),
                    row.asset.clone().into(),
                    row.amount.into(),
                    row.pending_id.into(),
                    row.expires_at.into(),
                    row.memo.clone().into(),
                    hash.clone().into(),
                    now.into(),
                ]);
            }
            txn.query_all(&insert).await?
        };
        if inserted.len() != transfers.len() {
            return Err(Abort::Replay);
        }

        // The new holds.
        if !new_holds.is_empty() {
            let mut insert = Query::insert();
            insert.into_table(hold::Entity).columns([
                hold::Column::Id,
                hold::Column::DebitAccount,
                hold::Column::DebitOwner,
                hold::Column::CreditAccount,
                hold::Column::CreditOwner,
                hold::Column::Asset,
                hold::Column::Amount,
                hold::Column::ExpiresAt,
            ]);
            for held in &new_holds {
                insert.values_panic([
                    held.id.into(),
                    held.debit_account.into(),
                    held.debit_owner.clone().into(),
                    held.credit_account.into(),
                    held.credit_owner.clone().into(),
                    held.asset.clone().into(),
                    held.amount.into(),
                    held.expires_at.into(),
                ]);
            }
            txn.execute(&insert).await?;
            // Each hold's expiry, as a job due at its deadline: it exists exactly when the
            // hold does.
            let expiries = new_holds
                .iter()
                .map(|held| crate::expiry::job(held.id, held.expires_at))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| DbErr::Custom(error.to_string()))?;
            self.jobs
                .enqueue_all_in(txn, expiries)
                .await
                .map_err(|error| DbErr::Custom(format!("scheduling hold expiry: {error}")))?;
        }

        // 6. Every account's totals in one statement; the flags are checked on the new values.
        let mut totals: HashMap<Uuid, Totals> = HashMap::with_capacity(deltas.len());
        if !deltas.is_empty() {
            let deltas: Vec<(Uuid, Totals)> = deltas.into_iter().collect();
            let update = if backend == DatabaseBackend::Postgres {
                postgres::update_totals(&deltas)
            } else {
                update_totals(backend, &deltas)
            };
            for row in txn.query_all_raw(update).await? {
                let id: Uuid = row.try_get_by_index(0)?;
                totals.insert(
                    id,
                    Totals {
                        debits_pending: row.try_get_by_index(1)?,
                        debits_posted: row.try_get_by_index(2)?,
                        credits_pending: row.try_get_by_index(3)?,
                        credits_posted: row.try_get_by_index(4)?,
                    },
                );
            }
            if totals.len() != deltas.len() {
                let refused = deltas
                    .iter()
                    .map(|(id, _)| *id)
                    .filter(|id| !totals.contains_key(id))
                    .collect();
                return Err(Abort::Funds(refused));
            }
        }

        // 7. The events, in the same transaction.
        let mut events = Vec::with_capacity(transfers.len());
        for records in &receipts {
            for record in records {
                events.push(
                    event(record).map_err(|error| Abort::Db(DbErr::Custom(error.to_string())))?,
                );
            }
        }
        crate::OUTBOX.write(txn, &events).await?;

        Ok(receipts
            .into_iter()
            .map(|records| {
                let mut touched: Vec<(Uuid, Totals)> = Vec::new();
                for record in &records {
                    for id in [record.debit_account, record.credit_account] {
                        if let Some(t) = totals.get(&id)
                            && !touched.iter().any(|(seen, _)| *seen == id)
                        {
                            touched.push((id, *t));
                        }
                    }
                }
                Committed {
                    receipt: Receipt {
                        transfers: records,
                        replayed: false,
                    },
                    totals: touched,
                }
            })
            .collect())
    }
}

/// A transfer row being written.
#[derive(Clone)]
struct Row {
    id: Uuid,
    kind: TransferKind,
    debit: (Uuid, String),
    credit: (Uuid, String),
    asset: String,
    amount: i64,
    pending_id: Option<Uuid>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    memo: Option<String>,
}

impl Row {
    fn into_record(self, asset: &Asset, now: chrono::DateTime<chrono::Utc>) -> TransferRecord {
        TransferRecord {
            id: self.id,
            kind: self.kind,
            debit_account: self.debit.0,
            debit_owner: self.debit.1,
            credit_account: self.credit.0,
            credit_owner: self.credit.1,
            asset: self.asset,
            amount: asset.format(self.amount),
            pending_id: self.pending_id,
            expires_at: self.expires_at,
            memo: self.memo,
            created_at: now,
        }
    }
}

/// The outbox envelope announcing `record`; its message id is the transfer id, so a
/// relayed duplicate is recognised.
fn event(record: &TransferRecord) -> Result<Envelope, serde_json::Error> {
    let subject = match record.kind {
        TransferKind::Transfer | TransferKind::Post => TransferPosted::SUBJECT,
        TransferKind::Hold => TransferHeld::SUBJECT,
        TransferKind::Void => TransferVoided::SUBJECT,
        TransferKind::Expire => TransferExpired::SUBJECT,
    };
    Envelope::json(record.id.to_string(), subject, record)
}

fn hold_from_row(row: &sea_orm::QueryResult) -> Result<hold::Model, DbErr> {
    Ok(hold::Model {
        id: row.try_get("", "id")?,
        debit_account: row.try_get("", "debit_account")?,
        debit_owner: row.try_get("", "debit_owner")?,
        credit_account: row.try_get("", "credit_account")?,
        credit_owner: row.try_get("", "credit_owner")?,
        asset: row.try_get("", "asset")?,
        amount: row.try_get("", "amount")?,
        expires_at: row.try_get("", "expires_at")?,
    })
}

/// The batch statements on Postgres. Each has one text whatever the batch size (the rows
/// travel as one JSON parameter), so the driver prepares it once per connection instead of
/// once per batch size: planning a fresh statement per commit costs more than the commit.
mod postgres {
    use super::{Row, Totals};
    use sea_orm::{DatabaseBackend, Statement};
    use serde_json::json;
    use uuid::Uuid;

    pub fn lock_accounts(ids: &[Uuid]) -> Statement {
        Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT id FROM wallet_accounts \
             WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)::uuid) \
             ORDER BY id FOR UPDATE",
            [json!(ids).to_string().into()],
        )
    }

    pub fn insert_transfers(
        rows: &[(Row, String, Uuid)],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Statement {
        let rows: Vec<_> = rows
            .iter()
            .map(|(row, hash, batch_id)| {
                json!({
                    "id": row.id, "batch_id": batch_id, "kind": row.kind.as_str(),
                    "debit_account": row.debit.0, "debit_owner": row.debit.1,
                    "credit_account": row.credit.0, "credit_owner": row.credit.1,
                    "asset": row.asset, "amount": row.amount, "pending_id": row.pending_id,
                    "expires_at": row.expires_at, "memo": row.memo, "request_hash": hash,
                    "created_at": now,
                })
            })
            .collect();
        Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "INSERT INTO wallet_transfers (id, batch_id, kind, debit_account, debit_owner, \
             credit_account, credit_owner, asset, amount, pending_id, expires_at, memo, \
             request_hash, created_at) \
             SELECT id, batch_id, kind, debit_account, debit_owner, credit_account, \
             credit_owner, asset, amount, pending_id, expires_at, memo, request_hash, created_at \
             FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, batch_id uuid, kind text, \
             debit_account uuid, debit_owner text, credit_account uuid, credit_owner text, \
             asset text, amount bigint, pending_id uuid, expires_at timestamptz, memo text, \
             request_hash text, created_at timestamptz) \
             ON CONFLICT (id) DO NOTHING RETURNING id",
            [json!(rows).to_string().into()],
        )
    }

    pub fn update_totals(deltas: &[(Uuid, Totals)]) -> Statement {
        let rows: Vec<_> = deltas
            .iter()
            .map(|(id, d)| {
                json!({"id": id, "dpe": d.debits_pending, "dpo": d.debits_posted,
                       "cpe": d.credits_pending, "cpo": d.credits_posted})
            })
            .collect();
        let sql = format!(
            "WITH d AS (SELECT * FROM jsonb_to_recordset($1::jsonb) \
             AS d(id uuid, dpe bigint, dpo bigint, cpe bigint, cpo bigint)) {}",
            super::update_from_d(
                "a.id, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted"
            ),
        );
        Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            sql,
            [json!(rows).to_string().into()],
        )
    }
}

/// Adds `change` to `account`'s delta in this commit, refusing (`limit_exceeded`) a delta
/// that would leave the range every total must stay in.
fn shift(deltas: &mut BTreeMap<Uuid, Totals>, account: Uuid, change: &Totals) -> Result<(), Abort> {
    let delta = deltas.entry(account).or_default();
    *delta = delta
        .checked_add(change)
        .ok_or(Abort::Invalid(LedgerError::LimitExceeded(account)))?;
    Ok(())
}

/// The update both backends run against the deltas `d`: each row changes only if its flags
/// hold afterwards and no total passes [`MAX_TOTAL`]. The bound is written as
/// `total <= MAX - delta` so that checking it cannot overflow (`|delta| <= MAX_TOTAL`), and
/// with it every other sum here stays below 2^62.
const UPDATE_FROM_D: &str = "UPDATE wallet_accounts AS a SET \
     debits_pending = a.debits_pending + d.dpe, \
     debits_posted = a.debits_posted + d.dpo, \
     credits_pending = a.credits_pending + d.cpe, \
     credits_posted = a.credits_posted + d.cpo \
     FROM d WHERE a.id = d.id \
     AND ((a.flags & {dmnec}) = 0 \
          OR a.debits_pending + d.dpe + a.debits_posted + d.dpo <= a.credits_posted + d.cpo) \
     AND ((a.flags & {cmned}) = 0 \
          OR a.credits_pending + d.cpe + a.credits_posted + d.cpo <= a.debits_posted + d.dpo) \
     AND a.debits_pending <= {max} - d.dpe AND a.debits_posted <= {max} - d.dpo \
     AND a.credits_pending <= {max} - d.cpe AND a.credits_posted <= {max} - d.cpo \
     RETURNING {columns}";

/// [`UPDATE_FROM_D`] with the flag bits filled in, returning `columns`.
fn update_from_d(columns: &str) -> String {
    UPDATE_FROM_D
        .replace(
            "{dmnec}",
            &flags::DEBITS_MUST_NOT_EXCEED_CREDITS.to_string(),
        )
        .replace(
            "{cmned}",
            &flags::CREDITS_MUST_NOT_EXCEED_DEBITS.to_string(),
        )
        .replace("{max}", &MAX_TOTAL.to_string())
        .replace("{columns}", columns)
}

/// The same update on SQLite, whose deltas come as `VALUES` (preparing a statement there is
/// local and cheap). Returns the new totals of the rows changed; a row missing from the
/// answer was refused.
fn update_totals(backend: DatabaseBackend, deltas: &[(Uuid, Totals)]) -> Statement {
    let rows = vec!["(?, ?, ?, ?, ?)"; deltas.len()].join(", ");
    let mut values: Vec<Value> = Vec::with_capacity(deltas.len() * 5);
    for (id, delta) in deltas {
        values.extend([
            (*id).into(),
            delta.debits_pending.into(),
            delta.debits_posted.into(),
            delta.credits_pending.into(),
            delta.credits_posted.into(),
        ]);
    }
    // SQLite's RETURNING may only name the updated table, unqualified.
    let update =
        update_from_d("id, debits_pending, debits_posted, credits_pending, credits_posted");
    let sql = format!("WITH d (id, dpe, dpo, cpe, cpo) AS (VALUES {rows}) {update}");
    Statement::from_sql_and_values(backend, sql, values)
}

/// Errors a second attempt may not meet: a deadlock or serialization failure (Postgres),
/// a busy database (SQLite), a unique violation from a concurrent writer.
fn retryable(error: &DbErr) -> bool {
    let text = error.to_string();
    [
        "40P01",
        "40001",
        "deadlock",
        "database is locked",
        "duplicate key",
        "UNIQUE constraint",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}
