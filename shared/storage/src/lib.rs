//! Database connections and schema migrations, the same code on SQLite and Postgres.
//!
//! The URL decides the backend: `sqlite://var/platform.db` (the embedded default) or
//! `postgres://...`. Each service owns its tables and its migrations; the node runs the
//! migrations of every service it mounts, each tracked in its own table, so services can
//! be split into separate processes without untangling one shared history.
//!
//! Money never goes into a `DECIMAL` column here: SQLite stores those as floats. Use
//! integer minor units.

#[cfg(any(test, feature = "testing"))]
pub mod testing;

use futures::future::BoxFuture;
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection, DbErr};
use sea_orm_migration::MigratorTrait;
use std::time::Duration;

pub use sea_orm;
pub use sea_orm_migration;

/// Why the database could not be reached or migrated.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("unsupported database url scheme `{0}`: expected sqlite://... or postgres://...")]
    UnsupportedUrl(String),
    #[error("cannot create the database directory {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot lock the database for migrations: {source}")]
    Lock { source: std::io::Error },
    #[error("migrating {service}: {source}")]
    Migration {
        service: &'static str,
        source: DbErr,
    },
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Which engine a URL points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend named by a database URL's scheme.
    pub fn of(url: &str) -> Result<Self, StorageError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            // Only the scheme: the rest of a URL may carry credentials.
            let scheme = url.split(':').next().unwrap_or_default();
            Err(StorageError::UnsupportedUrl(scheme.to_owned()))
        }
    }
}

/// Opens a connection pool.
///
/// For a SQLite file the directory and file are created when missing, and the connection is
/// set up for a server: WAL (readers never block the writer), a busy timeout instead of
/// immediate `SQLITE_BUSY`, and foreign keys enforced.
pub async fn connect(url: &str) -> Result<DatabaseConnection, StorageError> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5));
    match Backend::of(url)? {
        Backend::Sqlite => {
            if let Some(path) = sqlite_file(url)
                && let Some(dir) = std::path::Path::new(path).parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(|source| StorageError::Directory {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
            options.map_sqlx_sqlite_opts(|opts| {
                opts.create_if_missing(true)
                    .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true)
            });
        }
        Backend::Postgres => {
            options.max_connections(20).min_connections(1);
        }
    }
    Ok(sea_orm::Database::connect(options).await?)
}

/// The file path of a `sqlite://path?query` URL, or `None` for an in-memory database.
fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// Checks that the database answers (readiness probe).
pub async fn ping(db: &DatabaseConnection) -> Result<(), StorageError> {
    db.execute_unprepared("SELECT 1").await?;
    Ok(())
}

type MigrateFn = for<'a> fn(&'a DatabaseConnection) -> BoxFuture<'a, Result<(), DbErr>>;

/// One service's migrations, as the node runs them.
#[derive(Clone, Copy)]
pub struct Migrations {
    service: &'static str,
    up: MigrateFn,
}

impl Migrations {
    /// The migrations of `M`, which must track itself in a table of its own
    /// (override `MigratorTrait::migration_table_name`, see [`migration_table`]).
    pub fn of<M: MigratorTrait + 'static>(service: &'static str) -> Self {
        Self {
            service,
            up: |db| Box::pin(M::up(db, None)),
        }
    }

    /// The service these migrations belong to.
    pub fn service(&self) -> &'static str {
        self.service
    }
}

/// The per-service migration tracking table, `seaql_migrations_<service>`.
pub fn migration_table(service: &str) -> sea_orm::sea_query::DynIden {
    sea_orm::sea_query::Alias::new(format!("seaql_migrations_{service}")).into()
}

/// An arbitrary, fixed key for the Postgres advisory lock held while migrating.
const MIGRATION_LOCK: i64 = 0x0063_7269_636b_6574; // "cricket" in ASCII

/// Applies migrations while holding a database-wide lock, so nodes starting together take
/// turns instead of racing on the tracking tables (the migrator checks, then applies).
/// Postgres: an advisory lock. SQLite has none: an exclusive lock on a file beside the
/// database serves, across tasks and processes alike.
pub async fn migrate_exclusively(url: &str, all: &[Migrations]) -> Result<(), StorageError> {
    match Backend::of(url)? {
        Backend::Sqlite => {
            // Connecting first creates the database's directory, where the lock file goes.
            let db = connect(url).await?;
            let _lock = match sqlite_file(url) {
                Some(path) => Some(lock_file(format!("{path}.migrate-lock")).await?),
                None => None,
            };
            migrate(&db, all).await?;
            db.close().await?;
        }
        Backend::Postgres => {
            // A session-level advisory lock belongs to one connection: use a pool of one.
            let mut options = ConnectOptions::new(url.to_owned());
            options
                .sqlx_logging(false)
                .max_connections(1)
                .connect_timeout(Duration::from_secs(5));
            let db = sea_orm::Database::connect(options).await?;
            db.execute_unprepared(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                .await?;
            let migrated = migrate(&db, all).await;
            // Closing the session would release the lock too; unlocking says so explicitly.
            let unlocked = db
                .execute_unprepared(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                .await;
            db.close().await?;
            migrated?;
            unlocked?;
        }
    }
    Ok(())
}

/// Opens `path` and takes an exclusive lock on it, waiting for whoever holds it. The lock
/// lasts as long as the returned file.
async fn lock_file(path: String) -> Result<std::fs::File, StorageError> {
    let locked = tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|locked| locked);
    locked.map_err(|source| StorageError::Lock { source })
}

/// Applies every pending migration of every given service, in order.
pub async fn migrate(db: &DatabaseConnection, all: &[Migrations]) -> Result<(), StorageError> {
    for migrations in all {
        (migrations.up)(db)
            .await
            .map_err(|source| StorageError::Migration {
                service: migrations.service,
                source,
            })?;
        tracing::debug!(service = migrations.service, "migrations applied");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_are_chosen_by_scheme() {
        assert_eq!(Backend::of("sqlite://var/x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of("sqlite::memory:").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::of("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert!(Backend::of("mysql://h/db").is_err());
    }

    #[test]
    fn sqlite_paths_are_read_from_urls() {
        assert_eq!(sqlite_file("sqlite://var/p.db?mode=rwc"), Some("var/p.db"));
        assert_eq!(sqlite_file("sqlite:///tmp/p.db"), Some("/tmp/p.db"));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
    }

    mod probe {
        use sea_orm_migration::prelude::*;

        pub struct Migrator;

        #[async_trait::async_trait]
        impl MigratorTrait for Migrator {
            fn migrations() -> Vec<Box<dyn MigrationTrait>> {
                vec![Box::new(CreateProbe)]
            }

            fn migration_table_name() -> DynIden {
                crate::migration_table("probe")
            }
        }

        struct CreateProbe;

        impl MigrationName for CreateProbe {
            fn name(&self) -> &str {
                "m0001_create_probe"
            }
        }

        #[async_trait::async_trait]
        impl MigrationTrait for CreateProbe {
            async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                manager
                    .create_table(
                        Table::create()
                            .table(Alias::new("probe"))
                            .col(ColumnDef::new(Alias::new("id")).integer().primary_key())
                            .to_owned(),
                    )
                    .await
            }
        }
    }

    /// Nodes starting together all migrate, and the schema is applied once.
    #[tokio::test]
    async fn concurrent_migrations_take_turns() {
        let database = testing::TestDatabase::new().await.unwrap();
        let all = [Migrations::of::<probe::Migrator>("probe")];
        let nodes = (0..4).map(|_| migrate_exclusively(database.url(), &all));
        for outcome in futures::future::join_all(nodes).await {
            outcome.unwrap();
        }
        let applied = database
            .connection()
            .query_one_raw(sea_orm::Statement::from_string(
                database.connection().get_database_backend(),
                "SELECT COUNT(*) AS n FROM seaql_migrations_probe",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        assert_eq!(applied, 1);
    }

    #[tokio::test]
    async fn a_sqlite_file_is_created_with_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/nested/db.sqlite", dir.path().display());
        let db = connect(&url).await.unwrap();
        ping(&db).await.unwrap();
        assert!(dir.path().join("nested/db.sqlite").exists());
    }
}
