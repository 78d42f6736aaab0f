//! The live schema. Migrations are never edited once released; each names itself
//! explicitly.
//!
//! The event log is the match: `live_events` holds every event a match was given, in
//! order, and the scorecard is derived from it. Events are JSON text (the `cricket`
//! crate's serde shape) so that SQLite and Postgres store them alike.

use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m0001_matches::Migration)]
    }

    fn migration_table_name() -> DynIden {
        storage::migration_table("live")
    }
}

mod m0001_matches {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0001_matches"
        }
    }

    #[derive(DeriveIden)]
    enum LiveMatches {
        Table,
        Id,
        Info,
        Status,
        CreatedAt,
    }

    #[derive(DeriveIden)]
    enum LiveEvents {
        Table,
        MatchId,
        Seq,
        Event,
        CreatedAt,
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table(LiveMatches::Table)
                        .col(
                            ColumnDef::new(LiveMatches::Id)
                                .uuid()
                                .not_null()
                                .primary_key(),
                        )
                        .col(ColumnDef::new(LiveMatches::Info).text().not_null())
                        .col(ColumnDef::new(LiveMatches::Status).string().not_null())
                        .col(
                            ColumnDef::new(LiveMatches::CreatedAt)
                                .timestamp_with_time_zone()
                                .not_null(),
                        )
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("live_matches_created_at")
                        .table(LiveMatches::Table)
                        .col(LiveMatches::CreatedAt)
                        .to_owned(),
                )
                .await?;

            // (match_id, seq) is the primary key: two writers (two nodes each running a
            // room for one match) cannot both append the same seq; the loser reloads.
            manager
                .create_table(
                    Table::create()
                        .table(LiveEvents::Table)
                        .col(ColumnDef::new(LiveEvents::MatchId).uuid().not_null())
                        .col(ColumnDef::new(LiveEvents::Seq).big_integer().not_null())
                        .col(ColumnDef::new(LiveEvents::Event).text().not_null())
                        .col(
                            ColumnDef::new(LiveEvents::CreatedAt)
                                .timestamp_with_time_zone()
                                .not_null(),
                        )
                        .primary_key(
                            Index::create()
                                .col(LiveEvents::MatchId)
                                .col(LiveEvents::Seq),
                        )
                        .foreign_key(
                            ForeignKey::create()
                                .from(LiveEvents::Table, LiveEvents::MatchId)
                                .to(LiveMatches::Table, LiveMatches::Id),
                        )
                        .to_owned(),
                )
                .await?;
            Ok(())
        }
    }
}
