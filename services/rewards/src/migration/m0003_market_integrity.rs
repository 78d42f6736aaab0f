//! Markets safe under several nodes: an order takes its place in the book once (a unique
//! engine id per market) and keeps the answer it was first given; a settlement is claimed
//! by one settler at a time (a claim token with a lease) before it acts.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0003_market_integrity"
    }
}

#[derive(DeriveIden)]
enum RewardsOrders {
    Table,
    Sku,
    EngineId,
    Answer,
}

#[derive(DeriveIden)]
enum RewardsSettlements {
    Table,
    Claim,
    ClaimedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds columns one at a time.
        // The order as its first answer showed it (JSON), for every resend.
        manager
            .alter_table(
                Table::alter()
                    .table(RewardsOrders::Table)
                    .add_column(ColumnDef::new(RewardsOrders::Answer).text().null())
                    .to_owned(),
            )
            .await?;
        // An order enters a market's book at most once, whichever node submits it.
        manager
            .create_index(
                Index::create()
                    .name("rewards_orders_engine")
                    .table(RewardsOrders::Table)
                    .col(RewardsOrders::Sku)
                    .col(RewardsOrders::EngineId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Who is sending a settlement to the wallet, and since when (a lease: a settler
        // that stopped halfway is taken over once it lapses).
        manager
            .alter_table(
                Table::alter()
                    .table(RewardsSettlements::Table)
                    .add_column(ColumnDef::new(RewardsSettlements::Claim).uuid().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RewardsSettlements::Table)
                    .add_column(
                        ColumnDef::new(RewardsSettlements::ClaimedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
