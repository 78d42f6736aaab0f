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
        vec![
            Box::new(m0001_matches::Migration),
            Box::new(m0002_client_keys::Migration),
            Box::new(m0003_creation_keys::Migration),
            Box::new(m0004_outbox::Migration),
        ]
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

/// Scorers' idempotency keys: a resent event is found by its key and answered with what was
/// recorded the first time, on any node (the room reads the keys back with the log).
mod m0002_client_keys {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0002_client_keys"
        }
    }

    #[derive(DeriveIden)]
    enum LiveEvents {
        Table,
        MatchId,
        ClientKey,
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .alter_table(
                    Table::alter()
                        .table(LiveEvents::Table)
                        .add_column(ColumnDef::new(LiveEvents::ClientKey).string().null())
                        .to_owned(),
                )
                .await?;
            // Unique per match: two rooms (two nodes) given one resent event cannot both
            // record it, even at different seqs. Events without a key (NULL) never clash,
            // on SQLite and Postgres alike.
            manager
                .create_index(
                    Index::create()
                        .name("live_events_client_key")
                        .table(LiveEvents::Table)
                        .col(LiveEvents::MatchId)
                        .col(LiveEvents::ClientKey)
                        .unique()
                        .to_owned(),
                )
                .await
        }
    }
}

/// Idempotent match creation and import: the client's key, a digest of what it sent, and
/// the answer it was given, so a resent request gets that answer back on any node.
mod m0003_creation_keys {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0003_creation_keys"
        }
    }

    #[derive(DeriveIden)]
    enum LiveMatches {
        Table,
        ClientKey,
        RequestDigest,
        Answer,
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            // One column per statement: SQLite's ALTER TABLE adds one at a time.
            for column in [
                LiveMatches::ClientKey,
                LiveMatches::RequestDigest,
                LiveMatches::Answer,
            ] {
                manager
                    .alter_table(
                        Table::alter()
                            .table(LiveMatches::Table)
                            .add_column(ColumnDef::new(column).string().null())
                            .to_owned(),
                    )
                    .await?;
            }
            // Two nodes given one resent creation cannot both create a match.
            manager
                .create_index(
                    Index::create()
                        .name("live_matches_client_key")
                        .table(LiveMatches::Table)
                        .col(LiveMatches::ClientKey)
                        .unique()
                        .to_owned(),
                )
                .await
        }
    }
}

/// The outbox of live events ([`crate::OUTBOX`]): each event's row is written with the
/// event, so a node dying between storing and publishing it leaves it to be relayed. The
/// message-id index serves the deletion of rows whose room published them itself.
mod m0004_outbox {
    use sea_orm_migration::prelude::*;

    pub struct Migration;

    impl MigrationName for Migration {
        fn name(&self) -> &str {
            "m0004_outbox"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Migration {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager.create_table(crate::OUTBOX.create_table()).await?;
            manager
                .create_index(
                    Index::create()
                        .name("live_outbox_message_id")
                        .table(Alias::new("live_outbox"))
                        .col(Alias::new("message_id"))
                        .to_owned(),
                )
                .await
        }
    }
}
