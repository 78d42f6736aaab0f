//! Redemptions claimed before they act: one row per (user, `Idempotency-Key`), taken by a
//! conditional insert before the unit is burnt, so a key resent at once, or on another
//! node, finds the first claim and answers its result instead of revealing a second code.
//! Codes redeemed before this migration get their row from the key stored on the code.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0002_redemptions"
    }
}

#[derive(DeriveIden)]
enum RewardsRedemptions {
    Table,
    Id,
    UserId,
    IdemKey,
    Sku,
    CodeId,
    Status,
    Failure,
    LeaseUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RewardsCodes {
    Table,
    Id,
    Sku,
    Owner,
    RedeemedAt,
    RedeemKey,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use RewardsRedemptions as R;
        manager
            .create_table(
                Table::create()
                    .table(R::Table)
                    .col(ColumnDef::new(R::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(R::UserId).uuid().not_null())
                    .col(ColumnDef::new(R::IdemKey).string().not_null())
                    .col(ColumnDef::new(R::Sku).string().not_null())
                    .col(ColumnDef::new(R::CodeId).uuid().null())
                    // `pending` until a code is revealed (`redeemed`) or the wallet
                    // refuses the burn (`failed`, the refusal in `failure`).
                    .col(ColumnDef::new(R::Status).string().not_null())
                    .col(ColumnDef::new(R::Failure).string().null())
                    // Until when the caller that claimed a pending redemption is trusted to
                    // finish it; after that a resend may take it over.
                    .col(
                        ColumnDef::new(R::LeaseUntil)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(R::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(R::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        // The claim: one redemption per key and user, whichever node sees it first.
        manager
            .create_index(
                Index::create()
                    .name("rewards_redemptions_key")
                    .table(R::Table)
                    .col(R::UserId)
                    .col(R::IdemKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // A code is revealed by one redemption (pending ones have none yet; NULLs never
        // clash, on SQLite and Postgres alike).
        manager
            .create_index(
                Index::create()
                    .name("rewards_redemptions_code")
                    .table(R::Table)
                    .col(R::CodeId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Keys already used keep answering their code. Where the old race marked several
        // codes under one key, the first row wins and the others stay revealed but are no
        // longer any key's answer.
        let redeemed = Query::select()
            .column(RewardsCodes::Id)
            .column(RewardsCodes::Owner)
            .column(RewardsCodes::RedeemKey)
            .column(RewardsCodes::Sku)
            .column(RewardsCodes::Id)
            .expr(Expr::val("redeemed"))
            .column(RewardsCodes::RedeemedAt)
            .column(RewardsCodes::RedeemedAt)
            .column(RewardsCodes::RedeemedAt)
            .from(RewardsCodes::Table)
            .and_where(Expr::col(RewardsCodes::RedeemKey).is_not_null())
            .and_where(Expr::col(RewardsCodes::Owner).is_not_null())
            .and_where(Expr::col(RewardsCodes::RedeemedAt).is_not_null())
            .to_owned();
        let backfill = Query::insert()
            .into_table(R::Table)
            .columns([
                R::Id,
                R::UserId,
                R::IdemKey,
                R::Sku,
                R::CodeId,
                R::Status,
                R::LeaseUntil,
                R::CreatedAt,
                R::UpdatedAt,
            ])
            .select_from(redeemed)
            .map_err(|error| DbErr::Migration(error.to_string()))?
            .on_conflict(
                OnConflict::columns([R::UserId, R::IdemKey])
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        manager.exec_stmt(backfill).await
    }
}
