//! Redemption: one of a user's vouchers of a SKU has its unit burnt in the wallet (so it
//! can no longer be sold) and one of their codes revealed, once per `Idempotency-Key`.
//!
//! The key is claimed before anything moves: a conditional insert of the redemption row,
//! unique per (user, key). Only the caller whose insert landed carries it out; a resend
//! (at once, or on another node) waits briefly for that result and answers it, or answers
//! 409 `request_in_progress` with `Retry-After` while it is still being carried out.
//!
//! Carrying a redemption out is safe to repeat and to race, so a crash between the claim
//! and the reveal is finished later, by the job enqueued with the claim or by a resend once
//! the claimer's lease has lapsed:
//! - the burn's transfer id is derived from the key, so the wallet posts it once;
//! - the code is attached by a conditional update of the still-pending row, in the
//!   transaction that marks the code redeemed, so one redemption reveals one code;
//! - a burn refused for want of a unit fails the redemption for good; should another
//!   attempt's burn land after that (a unit arrived meanwhile), the unit is given back.

use super::{Catalog, VoucherView};
use crate::error::RewardsError;
use crate::ledger::{self, ISSUANCE};
use crate::store::{code, redemption, sku};
use chrono::Utc;
use contracts::wallet::{Batch, Leg, TransferLeg};
use sea_orm::sea_query::{LockBehavior, LockType, OnConflict};
use sea_orm::{
    ActiveValue, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect,
    TransactionTrait,
};
use std::time::Duration;
use uuid::Uuid;

/// How long a resend waits for the first send to finish before it answers
/// `request_in_progress`: a healthy redemption takes milliseconds.
const WAIT: Duration = Duration::from_secs(2);
/// How often a waiting resend looks again (the first send may be on another node, so a
/// look in the database is the one signal every node sees).
const POLL: Duration = Duration::from_millis(25);
/// The `Retry-After` of a `request_in_progress`, in seconds.
const RETRY_AFTER_SECONDS: u64 = 1;
/// Why a redemption failed when the user had no unit to burn.
const NO_VOUCHER: &str = "no_voucher_to_redeem";

/// Where a redemption stands after an attempt to carry it out.
pub(crate) enum Progress {
    /// Its code is revealed (the row, with its `code_id`).
    Redeemed(redemption::Model),
    /// The wallet refused the burn: the user held no unit to redeem.
    Failed(redemption::Model),
    /// The unit is burnt but none of the user's codes is free yet: it came by a trade whose
    /// codes have not moved yet.
    Settling,
}

impl Catalog {
    /// Redeems one of the user's vouchers of `sku_id` under the client's `key`. Returns the
    /// revealed voucher and whether it is the answer of an earlier send.
    pub async fn redeem(
        &self,
        user: Uuid,
        sku_id: &str,
        key: &str,
    ) -> Result<(VoucherView, bool), RewardsError> {
        let sku = self.sku(sku_id).await?;
        if let Some(row) = self.redemption_by_key(user, key).await? {
            return self.resent(row, &sku).await;
        }
        if sku.expires_at <= Utc::now() {
            return Err(RewardsError::Expired(sku_id.to_owned()));
        }
        let now = Utc::now();
        let id = Uuid::now_v7();
        let txn = self.db.begin().await?;
        let claimed = redemption::Entity::insert(redemption::ActiveModel {
            id: ActiveValue::Set(id),
            user_id: ActiveValue::Set(user),
            idem_key: ActiveValue::Set(key.to_owned()),
            sku: ActiveValue::Set(sku_id.to_owned()),
            code_id: ActiveValue::Set(None),
            status: ActiveValue::Set("pending".to_owned()),
            failure: ActiveValue::Set(None),
            lease_until: ActiveValue::Set(now + self.retry_after),
            created_at: ActiveValue::Set(now),
            updated_at: ActiveValue::Set(now),
        })
        .on_conflict(
            OnConflict::columns([redemption::Column::UserId, redemption::Column::IdemKey])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if claimed == 0 {
            // The same key, sent concurrently: this send is a resend of that one.
            txn.rollback().await?;
            let row = self
                .redemption_by_key(user, key)
                .await?
                .ok_or_else(|| RewardsError::Unavailable("redemption row vanished".into()))?;
            return self.resent(row, &sku).await;
        }
        let enqueued = self
            .jobs
            .enqueue_all_in(
                &txn,
                vec![crate::work::redemption_job(id, now + self.retry_after)?],
            )
            .await
            .map_err(|error| RewardsError::Unavailable(error.to_string()))?;
        txn.commit().await?;
        self.jobs.wake(&enqueued).await;
        self.carry_out(id, &sku, false).await
    }

    /// Finishes redemption `id` if it is still pending (its job). `Ok` once it is settled
    /// either way; an error while it cannot be finished yet.
    pub async fn finish_redemption(&self, id: Uuid) -> Result<(), RewardsError> {
        match self.advance(id).await? {
            Progress::Redeemed(_) => Ok(()),
            Progress::Failed(row) => self.undo_stray_burn(&row).await,
            Progress::Settling => Err(RewardsError::Unavailable(format!(
                "redemption {id} waits for its code to settle"
            ))),
        }
    }

    async fn redemption_by_key(
        &self,
        user: Uuid,
        key: &str,
    ) -> Result<Option<redemption::Model>, RewardsError> {
        Ok(redemption::Entity::find()
            .filter(redemption::Column::UserId.eq(user))
            .filter(redemption::Column::IdemKey.eq(key))
            .one(&self.db)
            .await?)
    }

    /// The answer to a key claimed before: its result, once there is one. A pending one
    /// is waited for briefly, or carried out here when its claimer let its lease go.
    async fn resent(
        &self,
        mut row: redemption::Model,
        sku: &sku::Model,
    ) -> Result<(VoucherView, bool), RewardsError> {
        if row.sku != sku.sku {
            return Err(RewardsError::Conflict(
                "idempotency_key_reused",
                "this Idempotency-Key was used to redeem another voucher".into(),
            ));
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut poll = tokio::time::interval(POLL);
        loop {
            match row.status.as_str() {
                "redeemed" => return Ok((self.redemption_view(&row, sku).await?, true)),
                "failed" => return Err(no_voucher(&row)),
                _ => {}
            }
            if self.take_lease(row.id).await? {
                return self.carry_out(row.id, sku, true).await;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(RewardsError::InProgress {
                    retry_after: RETRY_AFTER_SECONDS,
                });
            }
            poll.tick().await;
            row = redemption::Entity::find_by_id(row.id)
                .one(&self.db)
                .await?
                .ok_or_else(|| RewardsError::Unavailable("redemption row vanished".into()))?;
        }
    }

    /// Carries out redemption `id` for a caller holding its lease, and lets the lease go
    /// unless it is done, so the next resend carries on at once.
    async fn carry_out(
        &self,
        id: Uuid,
        sku: &sku::Model,
        resent: bool,
    ) -> Result<(VoucherView, bool), RewardsError> {
        let progress = self.advance(id).await;
        if !matches!(progress, Ok(Progress::Redeemed(_) | Progress::Failed(_))) {
            self.release_lease(id).await?;
        }
        match progress? {
            Progress::Redeemed(row) => Ok((self.redemption_view(&row, sku).await?, resent)),
            Progress::Failed(row) => Err(no_voucher(&row)),
            Progress::Settling => Err(RewardsError::InProgress {
                retry_after: RETRY_AFTER_SECONDS,
            }),
        }
    }

    /// Takes over a pending redemption whose lease has lapsed; true if this caller now
    /// holds it.
    async fn take_lease(&self, id: Uuid) -> Result<bool, RewardsError> {
        let now = Utc::now();
        let taken = redemption::Entity::update_many()
            .col_expr(
                redemption::Column::LeaseUntil,
                (now + self.retry_after).into(),
            )
            .col_expr(redemption::Column::UpdatedAt, now.into())
            .filter(redemption::Column::Id.eq(id))
            .filter(redemption::Column::Status.eq("pending"))
            .filter(redemption::Column::LeaseUntil.lte(now))
            .exec(&self.db)
            .await?;
        Ok(taken.rows_affected == 1)
    }

    async fn release_lease(&self, id: Uuid) -> Result<(), RewardsError> {
        redemption::Entity::update_many()
            .col_expr(redemption::Column::LeaseUntil, Utc::now().into())
            .filter(redemption::Column::Id.eq(id))
            .filter(redemption::Column::Status.eq("pending"))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// One attempt to take redemption `id` to its end: burn its unit, then attach a code.
    /// Every step is safe to repeat and to race with another attempt.
    pub(crate) async fn advance(&self, id: Uuid) -> Result<Progress, RewardsError> {
        let row = redemption::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| RewardsError::Internal(format!("redemption {id} is missing")))?;
        match row.status.as_str() {
            "redeemed" => return Ok(Progress::Redeemed(row)),
            "failed" => return Ok(Progress::Failed(row)),
            _ => {}
        }
        match self.ledger.execute(&burn(&row)).await {
            Ok(_) => {}
            Err(RewardsError::Wallet(refusal))
                if matches!(
                    refusal.code.as_str(),
                    "insufficient_funds" | "unknown_account"
                ) =>
            {
                let failed = redemption::Entity::update_many()
                    .col_expr(redemption::Column::Status, "failed".into())
                    .col_expr(redemption::Column::Failure, Some(NO_VOUCHER).into())
                    .col_expr(redemption::Column::UpdatedAt, Utc::now().into())
                    .filter(redemption::Column::Id.eq(id))
                    .filter(redemption::Column::Status.eq("pending"))
                    .exec(&self.db)
                    .await?;
                if failed.rows_affected == 1 {
                    return Ok(Progress::Failed(redemption::Model {
                        status: "failed".into(),
                        failure: Some(NO_VOUCHER.into()),
                        ..row
                    }));
                }
                // Another attempt settled it meanwhile: its result stands.
                return self.settled(id, false).await;
            }
            Err(error) => return Err(error),
        }
        // The unit is burnt: attach a code, at most a few tries if another redemption of
        // this user takes the code this one picked.
        for _ in 0..8 {
            let txn = self.db.begin().await?;
            // This write comes first: it locks the row (Postgres) and takes SQLite's write
            // lock at once, so a racing attempt waits here and then finds it settled.
            let now = Utc::now();
            let pending = redemption::Entity::update_many()
                .col_expr(redemption::Column::UpdatedAt, now.into())
                .filter(redemption::Column::Id.eq(id))
                .filter(redemption::Column::Status.eq("pending"))
                .exec(&txn)
                .await?;
            if pending.rows_affected == 0 {
                txn.rollback().await?;
                return self.settled(id, true).await;
            }
            let Some(code_id) = free_code(&txn, &row).await? else {
                txn.rollback().await?;
                return Ok(Progress::Settling);
            };
            let revealed = code::Entity::update_many()
                .col_expr(code::Column::RedeemedAt, Some(now).into())
                .col_expr(code::Column::RedeemKey, Some(row.idem_key.clone()).into())
                .filter(code::Column::Id.eq(code_id))
                .filter(code::Column::Owner.eq(row.user_id))
                .filter(code::Column::RedeemedAt.is_null())
                .exec(&txn)
                .await?;
            if revealed.rows_affected == 0 {
                txn.rollback().await?;
                continue;
            }
            redemption::Entity::update_many()
                .col_expr(redemption::Column::Status, "redeemed".into())
                .col_expr(redemption::Column::CodeId, Some(code_id).into())
                .filter(redemption::Column::Id.eq(id))
                .exec(&txn)
                .await?;
            txn.commit().await?;
            return Ok(Progress::Redeemed(redemption::Model {
                status: "redeemed".into(),
                code_id: Some(code_id),
                updated_at: now,
                ..row
            }));
        }
        Err(RewardsError::Unavailable(
            "the redemption kept racing for a code; retry with the same Idempotency-Key".into(),
        ))
    }

    /// The result another attempt recorded for redemption `id`. If it failed while this
    /// attempt's burn went through (a unit arrived between the two), that unit is given
    /// back: a failed redemption burns nothing.
    async fn settled(&self, id: Uuid, burnt: bool) -> Result<Progress, RewardsError> {
        let row = redemption::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or_else(|| RewardsError::Internal(format!("redemption {id} is missing")))?;
        match row.status.as_str() {
            "redeemed" => Ok(Progress::Redeemed(row)),
            "failed" => {
                if burnt {
                    self.ledger.execute(&give_back(&row)).await?;
                }
                Ok(Progress::Failed(row))
            }
            _ => Err(RewardsError::Unavailable(format!(
                "redemption {id} is still pending"
            ))),
        }
    }

    /// Makes sure a failed redemption burnt nothing: an attempt that raced the failure may
    /// have had its burn land and stopped before giving it back. Burning again either
    /// finds that burn (then it is given back), is refused (nothing was burnt), or burns
    /// now and gives back at once; each way the user ends with what they had.
    async fn undo_stray_burn(&self, row: &redemption::Model) -> Result<(), RewardsError> {
        match self.ledger.execute(&burn(row)).await {
            Ok(_) => self.ledger.execute(&give_back(row)).await.map(drop),
            Err(RewardsError::Wallet(_)) => Ok(()),
            Err(error) => Err(error),
        }
    }

    async fn redemption_view(
        &self,
        row: &redemption::Model,
        sku: &sku::Model,
    ) -> Result<VoucherView, RewardsError> {
        let code_id = row
            .code_id
            .ok_or_else(|| RewardsError::Internal(format!("redemption {} has no code", row.id)))?;
        let code = code::Entity::find_by_id(code_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| RewardsError::Internal(format!("code {code_id} is missing")))?;
        self.redeemed_view(&code, sku)
    }
}

/// The answer of a redemption the wallet refused: the user held no unit to burn.
fn no_voucher(row: &redemption::Model) -> RewardsError {
    RewardsError::Conflict(
        "no_voucher_to_redeem",
        format!("you hold no {} voucher that is not on sale", row.sku),
    )
}

/// The burn of a redemption's unit, under an id derived from its key (the same id as
/// before redemptions had rows, so a burn sent then is found now).
fn burn(row: &redemption::Model) -> Batch {
    Batch {
        legs: vec![Leg::Transfer(TransferLeg {
            id: ledger::leg_id(&["redeem", &row.user_id.to_string(), &row.idem_key]),
            debit: ledger::user(row.user_id),
            credit: ISSUANCE.to_owned(),
            asset: ledger::units_asset(&row.sku),
            amount: "1".to_owned(),
            memo: Some("redeemed".to_owned()),
        })],
    }
}

/// The unit of a burn that landed after its redemption failed, given back.
fn give_back(row: &redemption::Model) -> Batch {
    Batch {
        legs: vec![Leg::Transfer(TransferLeg {
            id: ledger::leg_id(&["redeem", &row.user_id.to_string(), &row.idem_key, "back"]),
            debit: ISSUANCE.to_owned(),
            credit: ledger::user(row.user_id),
            asset: ledger::units_asset(&row.sku),
            amount: "1".to_owned(),
            memo: Some("redemption refused".to_owned()),
        })],
    }
}

/// One of the user's unrevealed codes of the redemption's SKU (on Postgres locked, and
/// skipping codes another redemption has locked).
async fn free_code(
    txn: &DatabaseTransaction,
    row: &redemption::Model,
) -> Result<Option<Uuid>, RewardsError> {
    Ok(code::Entity::find()
        .select_only()
        .column(code::Column::Id)
        .filter(code::Column::Sku.eq(row.sku.as_str()))
        .filter(code::Column::Owner.eq(row.user_id))
        .filter(code::Column::RedeemedAt.is_null())
        .limit(1)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .into_tuple()
        .one(txn)
        .await?)
}
