//! Sending a market's settlements to the wallet, strictly in seq order, each claimed by
//! one settler before it acts: this node's settler (woken after each command), another
//! node's, the settle job and the drain as a node starts may all look at one market at
//! once, and exactly one of them moves a settlement's codes. A settlement the wallet
//! refuses halts its market: alerted (`rewards_market_halted`), logged, shown to admins
//! (`GET /v1/admin/markets`), and new orders are refused with `market_halted` until an
//! operator has looked, rather than every later settlement failing in turn.

use super::settle::CodeMove;
use super::{MarketContext, Markets};
use crate::error::RewardsError;
use crate::store::{code, settlement};
use chrono::{DateTime, Duration as Span, Utc};
use contracts::wallet::Batch;
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// How long a settler's claim on a settlement holds: far beyond the wallet calls of one
/// batch, after which another settler may take it over.
const SETTLE_LEASE: Span = Span::seconds(60);

/// The most legs the wallet takes in one linked batch.
const MAX_LEGS: usize = 64;

/// How a drain of a market's settlements ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drained {
    /// Nothing is left to send.
    Done,
    /// Another settler holds the next settlement and goes on in order.
    Busy,
    /// A settlement was refused: the market is halted until an operator acts.
    Halted,
}

/// Raises the alert of a halted market (`rewards_market_halted{sku}` is 1).
fn alert(sku: &str) {
    metrics::gauge!("rewards_market_halted", "sku" => sku.to_owned()).set(1.0);
}

/// A market that needs attention: settlements still to send, or halted by a refusal.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(example = json!({"sku": "AMZ_100", "halted": true, "failed_seq": 42, "failure": "hold_not_found", "unsettled": 3}))]
pub struct MarketHealth {
    pub sku: String,
    /// A settlement was refused by the wallet: new orders and cancels are refused
    /// (`market_halted`) until an operator has looked.
    pub halted: bool,
    /// The refused settlement's seq (the command in the market's log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_seq: Option<u64>,
    /// The wallet's refusal code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Settlements not yet done (including the refused one).
    pub unsettled: u64,
}

impl MarketContext {
    /// Sends the market's unsettled settlements to the wallet, oldest first, each claimed
    /// before it acts, so that of several settlers (this node's, another node's, the
    /// settle job, the drain as a node starts) exactly one moves a settlement's codes.
    /// Stops at a settlement another settler holds (it goes on in order), at one the wallet
    /// cannot take now (a later one may depend on it), and for good at one it refused.
    pub async fn drain(&self, sku: &str) -> Result<Drained, RewardsError> {
        let lock = self
            .drains
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(sku.to_owned())
            .or_default()
            .clone();
        let _turn = lock.lock().await;
        loop {
            let Some(row) = settlement::Entity::find()
                .filter(settlement::Column::Sku.eq(sku))
                .filter(settlement::Column::Status.ne("done"))
                .order_by_asc(settlement::Column::Seq)
                .one(&self.db)
                .await?
            else {
                return Ok(Drained::Done);
            };
            let now = Utc::now();
            match row.status.as_str() {
                "failed" => {
                    alert(sku);
                    return Ok(Drained::Halted);
                }
                "settling" if row.claimed_at.is_some_and(|at| at > now - SETTLE_LEASE) => {
                    return Ok(Drained::Busy);
                }
                _ => {}
            }
            // The claim: pending, or settling under a lease that lapsed (its settler
            // stopped halfway; the wallet's ids make sending the batch again harmless).
            let claim = Uuid::now_v7();
            let claimed = settlement::Entity::update_many()
                .col_expr(settlement::Column::Status, "settling".into())
                .col_expr(settlement::Column::Claim, Some(claim).into())
                .col_expr(settlement::Column::ClaimedAt, Some(now).into())
                .filter(settlement::Column::Id.eq(row.id))
                .filter(
                    Condition::any()
                        .add(settlement::Column::Status.eq("pending"))
                        .add(
                            Condition::all()
                                .add(settlement::Column::Status.eq("settling"))
                                .add(settlement::Column::ClaimedAt.lt(now - SETTLE_LEASE)),
                        ),
                )
                .exec(&self.db)
                .await?
                .rows_affected;
            if claimed == 1
                && let Some(done) = self.settle(sku, &row, claim).await?
            {
                return Ok(done);
            }
            // Claimed or finished by another settler meanwhile: look again.
        }
    }

    /// Sends one claimed settlement; `Some` when draining must stop.
    async fn settle(
        &self,
        sku: &str,
        row: &settlement::Model,
        claim: Uuid,
    ) -> Result<Option<Drained>, RewardsError> {
        let ours = || {
            Condition::all()
                .add(settlement::Column::Id.eq(row.id))
                .add(settlement::Column::Status.eq("settling"))
                .add(settlement::Column::Claim.eq(claim))
        };
        let batch: Batch = serde_json::from_str(&row.batch)
            .map_err(|error| RewardsError::Internal(error.to_string()))?;
        let moves: Vec<CodeMove> = serde_json::from_str(&row.code_moves)
            .map_err(|error| RewardsError::Internal(error.to_string()))?;
        match self.execute(&batch).await {
            Ok(()) => {
                // Done, and the codes follow the units: only while the claim is still
                // ours (a settler that took over a lapsed lease moves them otherwise).
                let txn = self.db.begin().await?;
                let won = settlement::Entity::update_many()
                    .col_expr(settlement::Column::Status, "done".into())
                    .filter(ours())
                    .exec(&txn)
                    .await?
                    .rows_affected;
                if won == 1 {
                    for change in moves {
                        move_codes(&txn, sku, &change).await?;
                    }
                }
                txn.commit().await?;
                Ok(None)
            }
            Err(RewardsError::Wallet(refusal)) => {
                // Holds guarantee every settlement and they are sent in order: a refusal
                // is a bug or an operator's intervention, and needs a person. Later
                // settlements may depend on this one, so the market stops here.
                let halted = settlement::Entity::update_many()
                    .col_expr(settlement::Column::Status, "failed".into())
                    .col_expr(
                        settlement::Column::Failure,
                        Some(refusal.code.clone()).into(),
                    )
                    .filter(ours())
                    .exec(&self.db)
                    .await?
                    .rows_affected;
                if halted == 1 {
                    metrics::counter!("rewards_settlements_refused_total", "sku" => sku.to_owned())
                        .increment(1);
                    tracing::error!(%sku, seq = row.seq, code = %refusal.code, message = %refusal.message, "settlement refused by the wallet: market halted");
                }
                alert(sku);
                Ok(Some(Drained::Halted))
            }
            Err(error) => {
                // The wallet is away: give the claim back, so the next settler need not
                // wait out the lease.
                settlement::Entity::update_many()
                    .col_expr(settlement::Column::Status, "pending".into())
                    .col_expr(settlement::Column::Claim, Option::<Uuid>::None.into())
                    .col_expr(
                        settlement::Column::ClaimedAt,
                        Option::<DateTime<Utc>>::None.into(),
                    )
                    .filter(ours())
                    .exec(&self.db)
                    .await?;
                Err(error)
            }
        }
    }

    /// The first settlement of the market the wallet refused, if any: the market takes no
    /// new command while it has one.
    pub async fn halt_of(&self, sku: &str) -> Result<Option<settlement::Model>, RewardsError> {
        Ok(settlement::Entity::find()
            .filter(settlement::Column::Sku.eq(sku))
            .filter(settlement::Column::Status.eq("failed"))
            .order_by_asc(settlement::Column::Seq)
            .one(&self.db)
            .await?)
    }

    /// Schedules the job that drains the market later (unique per market).
    pub async fn retry_later(&self, sku: &str) -> Result<(), RewardsError> {
        let job = crate::work::settle_job(sku, Utc::now() + self.retry_after)?;
        let enqueued = self
            .jobs
            .enqueue(job)
            .await
            .map_err(|error| RewardsError::Unavailable(error.to_string()))?;
        self.jobs.wake(&[enqueued]).await;
        Ok(())
    }

    /// Sends a settlement batch: one linked batch, or, past the wallet's 64 legs (a taker
    /// sweeping dozens of orders), consecutive batches in the plan's order (posts into
    /// escrow before payments out of it, new holds last), each idempotent.
    async fn execute(&self, batch: &Batch) -> Result<(), RewardsError> {
        for legs in batch.legs.chunks(MAX_LEGS) {
            self.ledger
                .execute(&Batch {
                    legs: legs.to_vec(),
                })
                .await?;
        }
        Ok(())
    }
}

/// Gives `change.qty` of the seller's unredeemed codes to the buyer.
async fn move_codes(
    txn: &sea_orm::DatabaseTransaction,
    sku: &str,
    change: &CodeMove,
) -> Result<(), RewardsError> {
    let ids: Vec<Uuid> = code::Entity::find()
        .select_only()
        .column(code::Column::Id)
        .filter(code::Column::Sku.eq(sku))
        .filter(code::Column::Owner.eq(change.from))
        .filter(code::Column::RedeemedAt.is_null())
        .order_by_asc(code::Column::AssignedAt)
        .limit(change.qty)
        .into_tuple()
        .all(txn)
        .await?;
    if ids.is_empty() {
        tracing::error!(%sku, seller = %change.from, wanted = change.qty, "seller has no codes for the units sold");
        return Ok(());
    }
    if (ids.len() as u64) < change.qty {
        tracing::error!(%sku, seller = %change.from, wanted = change.qty, found = ids.len(), "seller has fewer codes than units sold");
    }
    code::Entity::update_many()
        .col_expr(code::Column::Owner, change.to.into())
        .col_expr(code::Column::AssignedAt, Utc::now().into())
        .filter(code::Column::Id.is_in(ids))
        .exec(txn)
        .await?;
    Ok(())
}

impl Markets {
    /// Markets with settlements not yet done (a node stopped between a command and its
    /// settlement, or a halted market): drained as the node starts.
    pub async fn unsettled(&self) -> Result<Vec<String>, RewardsError> {
        let skus: Vec<String> = settlement::Entity::find()
            .select_only()
            .column(settlement::Column::Sku)
            .distinct()
            .filter(settlement::Column::Status.ne("done"))
            .into_tuple()
            .all(&self.context.db)
            .await?;
        Ok(skus)
    }

    /// Markets that need attention: settlements still to send, or halted by a refusal.
    pub async fn health(&self) -> Result<Vec<MarketHealth>, RewardsError> {
        let rows = settlement::Entity::find()
            .filter(settlement::Column::Status.ne("done"))
            .order_by_asc(settlement::Column::Sku)
            .order_by_asc(settlement::Column::Seq)
            .all(&self.context.db)
            .await?;
        let mut markets: Vec<MarketHealth> = Vec::new();
        for row in rows {
            if markets.last().is_none_or(|last| last.sku != row.sku) {
                markets.push(MarketHealth {
                    sku: row.sku.clone(),
                    halted: false,
                    failed_seq: None,
                    failure: None,
                    unsettled: 0,
                });
            }
            let Some(market) = markets.last_mut() else {
                continue;
            };
            market.unsettled += 1;
            if row.status == "failed" && !market.halted {
                market.halted = true;
                market.failed_seq = u64::try_from(row.seq).ok();
                market.failure = row.failure;
            }
        }
        Ok(markets)
    }

    /// Sends the market's pending settlements (the settle job): an error retries it later.
    pub async fn drain(&self, sku: &str) -> Result<(), RewardsError> {
        match self.context.drain(sku).await? {
            // Halted: nothing moves until an operator acts; retrying would not help.
            Drained::Done | Drained::Halted => Ok(()),
            Drained::Busy => Err(RewardsError::Unavailable(format!(
                "market {sku}: another settler holds the next settlement"
            ))),
        }
    }

    /// Drains what a stopped node left (as a node starts); what cannot be sent now is
    /// left to the settle job.
    pub async fn settle_left_over(&self, sku: &str) {
        let left = match self.context.drain(sku).await {
            Ok(Drained::Done | Drained::Halted) => return,
            Ok(Drained::Busy) => None,
            Err(error) => Some(error),
        };
        if let Some(error) = left {
            tracing::warn!(%sku, %error, "unsettled market left to its job");
        }
        if let Err(error) = self.context.retry_later(sku).await {
            tracing::error!(%sku, %error, "settlement retry not scheduled");
        }
    }
}
