//! The database: one `Db` over a SQLite or a PostgreSQL pool, chosen at
//! runtime by the URL scheme.
//!
//! Queries are written once, in the dialect both backends accept (`$1`
//! placeholders, `RETURNING`, `ON CONFLICT`), and run on whichever pool we
//! have through [`with_pool!`]: the macro expands the same code once per
//! backend, so each copy is type-checked against its own driver. Where the
//! dialects truly differ, code matches on [`Db`] itself.

mod migrate;
mod timestamp;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use migrate::{MigrationState, MigrationStatus};
pub use timestamp::Timestamp;

/// `$first, $first+1, …` for `count` values bound one by one (an `IN` list
/// that both backends read the same way).
pub fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// sqlx logs how long each acquire waited at this level; the metrics layer
/// listens for it (`metrics::PoolWaits`). At `trace` nothing else shows it,
/// and while nothing listens the event costs nothing.
const ACQUIRE_EVENTS: log::LevelFilter = log::LevelFilter::Trace;

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the backend's pool (or anything else
/// matched out of a [`Db`]-shaped enum, such as a transaction).
#[macro_export]
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// How many connections each process may hold. PostgreSQL's default limit is
/// 100 server-wide, so many replicas × a small pool is the scaling unit.
#[derive(Clone, Copy, Debug)]
pub struct PoolSize(pub u32);

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("unsupported database URL scheme {0:?}: use sqlite://PATH or postgres://…")]
    Scheme(String),
    #[error("invalid database URL: {0}")]
    Url(#[source] sqlx::Error),
    #[error("could not create the folder {path} for the SQLite database: {source}")]
    Folder {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
}

impl Db {
    /// Connects and checks that the database answers. With `wait`, retries
    /// with exponential backoff for up to that long before giving up (for
    /// containers that start before their database does).
    pub async fn connect(
        url: &str,
        pool_size: PoolSize,
        wait: Option<Duration>,
    ) -> Result<Self, ConnectError> {
        let deadline = wait.map(|w| tokio::time::Instant::now() + w);
        let mut delay = Duration::from_millis(200);
        loop {
            match Self::connect_once(url, pool_size).await {
                Ok(db) => return Ok(db),
                Err(ConnectError::Connect(e))
                    if deadline.is_some_and(|d| tokio::time::Instant::now() + delay < d) =>
                {
                    tracing::warn!(error = %e, retry_in = ?delay, "database not reachable yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn connect_once(url: &str, pool_size: PoolSize) -> Result<Self, ConnectError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(ConnectError::Url)?
                .create_if_missing(true)
                // WAL lets readers proceed while one writer writes; the busy
                // timeout makes concurrent writers queue instead of failing.
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            if let Some(parent) = options.get_filename().parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|source| ConnectError::Folder {
                    path: parent.display().to_string(),
                    source,
                })?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(pool_size.0)
                .acquire_time_level(ACQUIRE_EVENTS)
                .connect_with(options)
                .await
                .map_err(ConnectError::Connect)?;
            Ok(Db::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url).map_err(ConnectError::Url)?;
            // One direct connection first: the pool would retry a refused
            // connection until its acquire timeout, and start-up should say
            // at once that the database is not there.
            use sqlx::Connection;
            sqlx::PgConnection::connect_with(&options)
                .await
                .map_err(ConnectError::Connect)?
                .close()
                .await
                .map_err(ConnectError::Connect)?;
            let pool = PgPoolOptions::new()
                .max_connections(pool_size.0)
                .min_connections(0)
                // Connections are checked before use and recycled, so a
                // database restart or a proxy that drops idle connections
                // costs a reconnect, never an error to a user.
                .test_before_acquire(true)
                .idle_timeout(Duration::from_secs(300))
                .max_lifetime(Duration::from_secs(1800))
                .acquire_timeout(Duration::from_secs(10))
                .acquire_time_level(ACQUIRE_EVENTS)
                .connect_lazy_with(options);
            Ok(Db::Postgres(pool))
        } else {
            // Only the scheme: the rest may hold a password.
            let scheme = url.split(':').next().unwrap_or_default();
            Err(ConnectError::Scheme(scheme.to_owned()))
        }
    }

    /// Connections open, and how many of them are idle.
    pub fn pool_state(&self) -> (u32, u32) {
        with_pool!(self, pool => (pool.size(), pool.num_idle() as u32))
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Whether a table exists (in PostgreSQL's current schema).
    pub async fn has_table(&self, name: &str) -> Result<bool, sqlx::Error> {
        match self {
            Db::Sqlite(pool) => sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1)",
            )
            .bind(name)
            .fetch_one(pool)
            .await,
            Db::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM information_schema.tables
                     WHERE table_schema = current_schema() AND table_name = $1)",
                )
                .bind(name)
                .fetch_one(pool)
                .await
            }
        }
    }

    /// A trivial round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
    }

    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}

/// Whether an error is the violation of a unique constraint or index, and
/// which: callers turn these into field errors ("username is taken").
pub fn unique_violation(error: &sqlx::Error) -> Option<String> {
    let db_error = error.as_database_error()?;
    if !db_error.is_unique_violation() {
        return None;
    }
    // PostgreSQL names the constraint; SQLite names the columns in its
    // message ("UNIQUE constraint failed: users.username").
    Some(
        db_error
            .constraint()
            .map(str::to_owned)
            .unwrap_or_else(|| db_error.message().to_owned()),
    )
}
