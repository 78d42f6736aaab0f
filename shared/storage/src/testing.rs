//! Fresh databases for tests: a new SQLite file per test, or, when `TEST_DATABASE_URL`
//! points at a Postgres server, a new Postgres database per test (dropped afterwards).

use crate::{StorageError, connect};
use sea_orm::{ConnectionTrait, DatabaseConnection};

/// A database that exists for one test.
pub struct TestDatabase {
    url: String,
    connection: DatabaseConnection,
    cleanup: Cleanup,
}

enum Cleanup {
    /// The temporary directory holding the SQLite file; removed on drop.
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    /// The server's maintenance URL and the database to drop.
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// A new, empty database on the backend `TEST_DATABASE_URL` names (SQLite without it).
    pub async fn new() -> Result<Self, StorageError> {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => Self::postgres(admin_url).await,
            _ => Self::sqlite().await,
        }
    }

    async fn sqlite() -> Result<Self, StorageError> {
        let dir = tempfile::tempdir().map_err(|source| StorageError::Directory {
            path: std::env::temp_dir().display().to_string(),
            source,
        })?;
        let url = format!("sqlite://{}/test.db?mode=rwc", dir.path().display());
        let connection = connect(&url).await?;
        Ok(Self {
            url,
            connection,
            cleanup: Cleanup::Sqlite(dir),
        })
    }

    async fn postgres(admin_url: String) -> Result<Self, StorageError> {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let admin = connect(&admin_url).await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await?;
        admin.close().await?;
        let url = with_database(&admin_url, &name);
        let connection = connect(&url).await?;
        Ok(Self {
            url,
            connection,
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }

    /// The URL of this database (to boot a node on it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A connection pool on this database.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.connection
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup {
            // Drop cannot await, and the test's runtime may be shutting down: drop the
            // database from a thread with a runtime of its own. FORCE ends the pool's sessions.
            let (admin_url, database) = (admin_url.clone(), name.clone());
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async {
                    let admin = connect(&admin_url).await.map_err(std::io::Error::other)?;
                    admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
                        ))
                        .await
                        .map_err(std::io::Error::other)?;
                    admin.close().await.map_err(std::io::Error::other)
                })
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                eprintln!("test database {name} was not dropped");
            }
        }
    }
}

/// `postgres://user@host:port/old?params` with the database part replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5432/test", "t1"),
            "postgres://u@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://127.0.0.1/test?sslmode=disable", "t1"),
            "postgres://127.0.0.1/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "t1"), "postgres://h:1/t1");
    }

    #[tokio::test]
    async fn each_test_database_is_fresh_and_usable() {
        let a = TestDatabase::new().await.unwrap();
        let b = TestDatabase::new().await.unwrap();
        assert_ne!(a.url(), b.url());
        a.connection()
            .execute_unprepared("CREATE TABLE probe (id INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        // The same table in the other database does not exist yet: they are isolated.
        b.connection()
            .execute_unprepared("CREATE TABLE probe (id INTEGER PRIMARY KEY)")
            .await
            .unwrap();
    }
}
