//! The accounts schema. Migrations are never edited once released; each names itself
//! explicitly (`DeriveMigrationName` would name them all after this file).

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_users_and_sessions::Migration),
            Box::new(m0002_geofence::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        storage::migration_table("accounts")
    }
}

mod m0001_users_and_sessions {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0001_users_and_sessions"
        }
    }

    #[derive(DeriveIden)]
    enum AccountsUsers {
        Table,
        Id,
        Email,
        PasswordHash,
        Roles,
        CreatedAt,
    }

    #[derive(DeriveIden)]
    enum AccountsSessions {
        Table,
        Id,
        UserId,
        CreatedAt,
        ExpiresAt,
        RevokedAt,
        RevokedReason,
    }

    #[derive(DeriveIden)]
    enum AccountsRefreshTokens {
        Table,
        TokenHash,
        SessionId,
        CreatedAt,
        UsedAt,
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(AccountsUsers::Table)
                        .col(
                            ColumnDef::new(AccountsUsers::Id)
                                .uuid()
                                .not_null()
                                .primary_key(),
                        )
                        // Stored lower-cased; the unique key makes duplicate sign-ups
                        // impossible even when two race.
                        .col(
                            ColumnDef::new(AccountsUsers::Email)
                                .string_len(254)
                                .not_null()
                                .unique_key(),
                        )
                        .col(
                            ColumnDef::new(AccountsUsers::PasswordHash)
                                .string()
                                .not_null(),
                        )
                        .col(ColumnDef::new(AccountsUsers::Roles).string().not_null())
                        .col(
                            ColumnDef::new(AccountsUsers::CreatedAt)
                                .timestamp_with_time_zone()
                                .not_null(),
                        )
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(AccountsSessions::Table)
                        .col(
                            ColumnDef::new(AccountsSessions::Id)
                                .uuid()
                                .not_null()
                                .primary_key(),
                        )
                        .col(ColumnDef::new(AccountsSessions::UserId).uuid().not_null())
                        .col(
                            ColumnDef::new(AccountsSessions::CreatedAt)
                                .timestamp_with_time_zone()
                                .not_null(),
                        )
                        .col(
                            ColumnDef::new(AccountsSessions::ExpiresAt)
                                .timestamp_with_time_zone()
                                .not_null(),
                        )
                        .col(
                            ColumnDef::new(AccountsSessions::RevokedAt)
                                .timestamp_with_time_zone()
                                .null(),
                        )
                        .col(
                            ColumnDef::new(AccountsSessions::RevokedReason)
                                .string()
                                .null(),
                        )
                        .foreign_key(
                            ForeignKey::create()
                                .from(AccountsSessions::Table, AccountsSessions::UserId)
                                .to(AccountsUsers::Table, AccountsUsers::Id)
                                .on_delete(ForeignKeyAction::Cascade),
                        )
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("accounts_sessions_user")
                        .table(AccountsSessions::Table)
                        .col(AccountsSessions::UserId)
                        .to_owned(),
                )
                .await?;
            manager
                .create_table(
                    Table::create()
                        .table(AccountsRefreshTokens::Table)
                        // SHA-256 of the token, hex: a leaked table gives no usable token.
                        .col(
                            ColumnDef::new(AccountsRefreshTokens::TokenHash)
                                .string_len(64)
                                .not_null()
                                .primary_key(),
                        )
                        .col(
                            ColumnDef::new(AccountsRefreshTokens::SessionId)
                                .uuid()
                                .not_null(),
                        )
                        .col(
                            ColumnDef::new(AccountsRefreshTokens::CreatedAt)
                                .timestamp_with_time_zone()
                                .not_null(),
                        )
                        .col(
                            ColumnDef::new(AccountsRefreshTokens::UsedAt)
                                .timestamp_with_time_zone()
                                .null(),
                        )
                        .foreign_key(
                            ForeignKey::create()
                                .from(
                                    AccountsRefreshTokens::Table,
                                    AccountsRefreshTokens::SessionId,
                                )
                                .to(AccountsSessions::Table, AccountsSessions::Id)
                                .on_delete(ForeignKeyAction::Cascade),
                        )
                        .to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            for table in [
                "accounts_refresh_tokens",
                "accounts_sessions",
                "accounts_users",
            ] {
                manager
                    .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                    .await?;
            }
            Ok(())
        }
    }
}

mod m0002_geofence {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0002_geofence"
        }
    }

    #[derive(DeriveIden)]
    enum AccountsGeoPolicies {
        Table,
        Feature,
        Rules,
        UpdatedAt,
        UpdatedBy,
    }

    #[derive(DeriveIden)]
    enum AccountsGeoRegionSets {
        Table,
        Name,
        Geojson,
        CodeProperty,
        NameProperty,
        UpdatedAt,
        UpdatedBy,
    }

    #[derive(DeriveIden)]
    enum AccountsGeoAudit {
        Table,
        Id,
        At,
        Actor,
        Action,
        Target,
        Before,
        After,
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            // Admin overrides of the configured feature policies: one row per feature, the
            // rules as JSON text (`geofence::FeaturePolicy`).
            manager
                .create_table(
                    Table::create()
                        .table(AccountsGeoPolicies::Table)
                        .col(
                            ColumnDef::new(AccountsGeoPolicies::Feature)
                                .string_len(64)
                                .not_null()
                                .primary_key(),
                        )
                        .col(ColumnDef::new(AccountsGeoPolicies::Rules).text().not_null())
                        .col(
                            ColumnDef::new(AccountsGeoPolicies::UpdatedAt)
                                .timestamp_with_time_zone()
                                .not_null(),
                        )
                        .col(
                            ColumnDef::new(AccountsGeoPolicies::UpdatedBy)
                                .uuid()
                                .not_null(),
                        )
                        .to_owned(),
                )
                .await?;
            // Uploaded region sets, beside the built-in one.
            manager
                .create_table(
                    Table::create()
                        .table(AccountsGeoRegionSets::Table)
                        .col(
                            ColumnDef::new(AccountsGeoRegionSets::Name)
                                .string_len(64)
                                .not_null()
                                .primary_key(),
                        )
                        .col(
                            ColumnDef::new(AccountsGeoRegionSets::Geojson)
                                .text()
                                .not_null(),
                        )
                        .col(
                            ColumnDef::new(AccountsGeoRegionSets::CodeProperty)
                                .string_len(64)
                                .not_null(),
                        )
                        .col(
                            ColumnDef::new(AccountsGeoRegionSets::NameProperty)
                                .string_len(64)
                                .not_null(),
                        )
                        .col(
                            ColumnDef::new(AccountsGeoRegionSets::UpdatedAt)
                                .timestamp_with_time_zone()
                                .not_null(),
                        )
                        .col(
                            ColumnDef::new(AccountsGeoRegionSets::UpdatedBy)
                                .uuid()
                                .not_null(),
                        )
                        .to_owned(),
                )
                .await?;
            // Who changed what, append-only. Ids are UUIDv7, so their order is time order.
            manager
                .create_table(
                    Table::create()
                        .table(AccountsGeoAudit::Table)
                        .col(
                            ColumnDef::new(AccountsGeoAudit::Id)
                                .uuid()
                                .not_null()
                                .primary_key(),
                        )
                        .col(
                            ColumnDef::new(AccountsGeoAudit::At)
                                .timestamp_with_time_zone()
                                .not_null(),
                        )
                        .col(ColumnDef::new(AccountsGeoAudit::Actor).uuid().not_null())
                        .col(
                            ColumnDef::new(AccountsGeoAudit::Action)
                                .string_len(32)
                                .not_null(),
                        )
                        .col(
                            ColumnDef::new(AccountsGeoAudit::Target)
                                .string_len(64)
                                .not_null(),
                        )
                        .col(ColumnDef::new(AccountsGeoAudit::Before).text().null())
                        .col(ColumnDef::new(AccountsGeoAudit::After).text().null())
                        .to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            for table in [
                "accounts_geo_audit",
                "accounts_geo_region_sets",
                "accounts_geo_policies",
            ] {
                manager
                    .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                    .await?;
            }
            Ok(())
        }
    }
}
