//! The wallet schema. Migrations are never edited once released; each names itself
//! explicitly.
//!
//! Amounts and totals are `BIGINT` minor units: SQLite would store a `DECIMAL` as a float.

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m0001_ledger::Migration)]
    }

    fn migration_table_name() -> DynIden {
        storage::migration_table("wallet")
    }
}

mod m0001_ledger {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0001_ledger"
        }
    }

    #[derive(DeriveIden)]
    enum WalletAssets {
        Table,
        Code,
        Scale,
        CreatedAt,
    }

    #[derive(DeriveIden)]
    enum WalletAccounts {
        Table,
        Id,
        Owner,
        Asset,
        Flags,
        DebitsPending,
        DebitsPosted,
        CreditsPending,
        CreditsPosted,
        CreatedAt,
    }

    #[derive(DeriveIden)]
    enum WalletTransfers {
        Table,
        Seq,
        Id,
        BatchId,
        Kind,
        DebitAccount,
        DebitOwner,
        CreditAccount,
        CreditOwner,
        Asset,
        Amount,
        PendingId,
        ExpiresAt,
        Memo,
        RequestHash,
        CreatedAt,
    }

    #[derive(DeriveIden)]
    enum WalletHolds {
        Table,
        Id,
        DebitAccount,
        DebitOwner,
        CreditAccount,
        CreditOwner,
        Asset,
        Amount,
        ExpiresAt,
    }

    fn money(column: impl IntoIden) -> ColumnDef {
        ColumnDef::new(column)
            .big_integer()
            .not_null()
            .default(0)
            .to_owned()
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(WalletAssets::Table)
                        .col(
                            ColumnDef::new(WalletAssets::Code)
                                .string()
                                .not_null()
                                .primary_key(),
                        )
                        .col(ColumnDef::new(WalletAssets::Scale).integer().not_null())
                        .col(
                            ColumnDef::new(WalletAssets::CreatedAt)
                                .timestamp_with_time_zone()
                                .not_null(),
                        )
                        .to_owned(),
                )
                .await?;

            manager
                .create_table(
                    Table::create()
                        .table(WalletAccounts::Table)
                        .col(
                            ColumnDef::new(WalletAccounts::Id)
                                .uuid()
                                .not_null()
                                .primary_key(),
                        )
                        .col(ColumnDef::new(WalletAccounts::Owner).string().not_null())
                        .col(ColumnDef::new(WalletAccounts::Asset).string().not_null())
                        .col(ColumnDef::new(WalletAccounts::Flags).integer().not_null())
                        .col(money(WalletAccounts::DebitsPending))
                        .col(money(WalletAccounts::DebitsPosted))
                        .col(money(WalletAccounts::CreditsPending))
                        .col(money(WalletAccounts::CreditsPosted))
                        .col(
                            ColumnDef::new(WalletAccounts::CreatedAt)
                                .timestamp_with_time_zone()
                                .not_null(),
                        )
                        .foreign_key(
                            ForeignKey::create()
                                .from(WalletAccounts::Table, WalletAccounts::Asset)
                                .to(WalletAssets::Table, WalletAssets::Code),
                        )
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("wallet_accounts_owner_asset")
                        .table(WalletAccounts::Table)
                        .col(WalletAccounts::Owner)
                        .col(WalletAccounts::Asset)
                        .unique()
                        .to_owned(),
                )
                .await?;

            manager
                .create_table(
                    Table::create()
                        .table(WalletTransfers::Table)
                        .col(
                            ColumnDef::new(WalletTransfers::Seq)
                                .big_integer()
                                .not_null()
                                .auto_increment()
                                .primary_key(),
                        )
                        .col(ColumnDef::new(WalletTransfers::Id).uuid().not_null())
                        .col(ColumnDef::new(WalletTransfers::BatchId).uuid().not_null())
                        .col(ColumnDef::new(WalletTransfers::Kind).string().not_null())
                        .col(
                            ColumnDef::new(WalletTransfers::DebitAccount)
                                .uuid()
                                .not_null(),
                        )
                        .col(
                            ColumnDef::new(WalletTransfers::DebitOwner)
                                .string()
                                .not_null(),
                        )
                        .col(
                            ColumnDef::new(WalletTransfers::CreditAccount)
                                .uuid()
                                .not_null(),
                        )
                        .col(
                            ColumnDef::new(WalletTransfers::CreditOwner)
                                .string()
                                .not_null(),
                        )
                        .col(ColumnDef::new(WalletTransfers::Asset).string().not_null())
                        .col(
                            ColumnDef::new(WalletTransfers::Amount)
                                .big_integer()
                                .not_null(),
                        )
                        .col(ColumnDef::new(WalletTransfers::PendingId).uuid().null())
                        .col(
                            ColumnDef::new(WalletTransfers::ExpiresAt)
                                .timestamp_with_time_zone()
                                .null(),
                        )
                        .col(ColumnDef::new(WalletTransfers::Memo).string().null())
                        .col(
                            ColumnDef::new(WalletTransfers::RequestHash)
                                .string()
                                .not_null(),
                        )
                        .col(
                            ColumnDef::new(WalletTransfers::CreatedAt)
                                .timestamp_with_time_zone()
                                .not_null(),
                        )
                        .to_owned(),
                )
                .await?;
            // The client-chosen id is what makes every write idempotent; a hold is resolved
            // (posted, voided or expired) at most once.
            for (name, column) in [
                ("wallet_transfers_id", WalletTransfers::Id),
                ("wallet_transfers_pending_id", WalletTransfers::PendingId),
            ] {
                manager
                    .create_index(
                        Index::create()
                            .name(name)
                            .table(WalletTransfers::Table)
                            .col(column)
                            .unique()
                            .to_owned(),
                    )
                    .await?;
            }
            // A wallet's history, newest first, from either side.
            for (name, column) in [
                ("wallet_transfers_debit", WalletTransfers::DebitAccount),
                ("wallet_transfers_credit", WalletTransfers::CreditAccount),
            ] {
                manager
                    .create_index(
                        Index::create()
                            .name(name)
                            .table(WalletTransfers::Table)
                            .col(column)
                            .col(WalletTransfers::Seq)
                            .to_owned(),
                    )
                    .await?;
            }

            // Open holds only: a row leaves when its hold is resolved.
            manager
                .create_table(
                    Table::create()
                        .table(WalletHolds::Table)
                        .col(
                            ColumnDef::new(WalletHolds::Id)
                                .uuid()
                                .not_null()
                                .primary_key(),
                        )
                        .col(ColumnDef::new(WalletHolds::DebitAccount).uuid().not_null())
                        .col(ColumnDef::new(WalletHolds::DebitOwner).string().not_null())
                        .col(ColumnDef::new(WalletHolds::CreditAccount).uuid().not_null())
                        .col(ColumnDef::new(WalletHolds::CreditOwner).string().not_null())
                        .col(ColumnDef::new(WalletHolds::Asset).string().not_null())
                        .col(ColumnDef::new(WalletHolds::Amount).big_integer().not_null())
                        .col(
                            ColumnDef::new(WalletHolds::ExpiresAt)
                                .timestamp_with_time_zone()
                                .not_null(),
                        )
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("wallet_holds_expires_at")
                        .table(WalletHolds::Table)
                        .col(WalletHolds::ExpiresAt)
                        .to_owned(),
                )
                .await?;

            manager.create_table(crate::OUTBOX.create_table()).await?;
            Ok(())
        }
    }
}
