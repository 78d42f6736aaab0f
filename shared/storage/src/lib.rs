//! Database connections and schema migrations, the same code on SQLite and Postgres.
//!
//! The URL decides the backend: `sqlite://var/platform.db` (the embedded default) or
//! `postgres://...`. Each service owns its tables and its migrations; the node runs the
//! migrations of every service it mounts, each tracked in its own table, so services can
//! be split into separate processes without untangling one shared history.
//!
//! Money never goes into a `DECIMAL` column here: SQLite stores those as floats. Use
//! integer minor units.

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
    #[error("unsupported database url `{0}`: expected sqlite://... or postgres://...")]
    UnsupportedUrl(String),
    #[error("cannot create the database directory {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
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
            Err(StorageError::UnsupportedUrl(url.to_owned()))
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

    #[tokio::test]
    async fn a_sqlite_file_is_created_with_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/nested/db.sqlite", dir.path().display());
        let db = connect(&url).await.unwrap();
        ping(&db).await.unwrap();
        assert!(dir.path().join("nested/db.sqlite").exists());
    }
}
