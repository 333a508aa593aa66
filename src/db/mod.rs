//! The database: one `Db` over a SQLite or a PostgreSQL pool, chosen at
//! runtime by the URL scheme.
//!
//! Queries are written once, in the dialect both backends accept (`$1`
//! placeholders, `RETURNING`, `ON CONFLICT`), as a [`Query`] that runs on a
//! [`Db`] or inside a [`Tx`] that several features share. Only this module
//! looks at which backend it has; where the dialects truly differ (job
//! claiming, locking, notifications, snapshots), [`Dialect`] and the methods
//! here say so, and the callers never match on a backend.

mod cells;
mod migrate;
mod outage;
mod query;
mod snapshot;
mod timestamp;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use cells::{Cell, Cells};
pub use migrate::{MigrationState, MigrationStatus, MigrationStep, StepFuture};
pub use query::{Column, Conn, Param, Query, Record, query};
pub use timestamp::Timestamp;

use query::Target;

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

/// The database: a pool of either backend. Cheap to clone. Which backend
/// it is stays private to this module.
#[derive(Clone, Debug)]
pub struct Db(Pool);

#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool, std::sync::Arc<outage::Outage>),
}

/// A transaction of either backend. Dropped without [`Tx::commit`], it
/// rolls back.
pub struct Tx(TxInner);

enum TxInner {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(
        sqlx::Transaction<'static, sqlx::Postgres>,
        std::sync::Arc<outage::Outage>,
    ),
}

impl<'c> From<&'c Db> for Conn<'c> {
    fn from(db: &'c Db) -> Self {
        Conn(match &db.0 {
            Pool::Sqlite(pool) => Target::SqlitePool(pool),
            Pool::Postgres(pool, outage) => Target::PgPool(pool, outage),
        })
    }
}

impl<'c> From<&'c mut Tx> for Conn<'c> {
    fn from(tx: &'c mut Tx) -> Self {
        Conn(match &mut tx.0 {
            TxInner::Sqlite(tx) => Target::Sqlite(&mut *tx),
            TxInner::Postgres(tx, outage) => Target::Postgres(&mut *tx, outage),
        })
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.0 {
            TxInner::Sqlite(tx) => tx.commit().await,
            TxInner::Postgres(tx, outage) => outage.watch(tx.commit()).await,
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self.0 {
            TxInner::Sqlite(_) => Dialect::Sqlite,
            TxInner::Postgres(..) => Dialect::Postgres,
        }
    }

    /// Keeps other writers of these tables waiting until this transaction
    /// ends. SQLite has one writer at a time, and `begin` takes that lock
    /// at once, so there nothing more is needed.
    pub async fn lock_exclusive(&mut self, tables: &[&str]) -> Result<(), sqlx::Error> {
        if self.dialect() == Dialect::Postgres {
            Query::assembled(format!(
                "LOCK TABLE {} IN EXCLUSIVE MODE",
                tables.join(", ")
            ))
            .execute(self)
            .await?;
        }
        Ok(())
    }
}

/// What differs between the backends, for the few queries where it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Appended to a `SELECT` that picks rows to claim: other transactions
    /// skip the rows this one is claiming instead of queueing behind it.
    /// SQLite has one writer at a time, which is the same guarantee.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        }
    }

    /// Whether a transaction can wake listeners in other processes
    /// (PostgreSQL's `NOTIFY`): see [`Db::listen`].
    pub fn notifies(self) -> bool {
        self == Dialect::Postgres
    }
}

/// Why the database cannot be used just now, when that is the trouble
/// rather than the query: requests then get a 503 and may try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trouble {
    /// No connection: refused, reset, timed out, the server shutting down
    /// or starting up, too many connections.
    Unreachable,
    /// Nothing more can be written: the disk is full or failing.
    Full,
}

/// Which [`Trouble`] an error is, if any.
pub fn trouble(error: &sqlx::Error) -> Option<Trouble> {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed => Some(Trouble::Unreachable),
        sqlx::Error::Database(e) => {
            let code = e.code()?;
            match (e.try_downcast_ref::<sqlx::sqlite::SqliteError>(), &*code) {
                // SQLite's primary result codes are the low byte: 13 is
                // SQLITE_FULL (no space), 10 SQLITE_IOERR (a failed write,
                // such as one past the process's file size limit).
                (Some(_), code) => code
                    .parse::<i32>()
                    .ok()
                    .filter(|c| matches!(c & 0xff, 10 | 13))
                    .map(|_| Trouble::Full),
                // PostgreSQL: connection exceptions (class 08), shutting
                // down or starting up (57P01–57P03), too many connections,
                // disk full.
                (None, "53300" | "57P01" | "57P02" | "57P03") => Some(Trouble::Unreachable),
                (None, code) if code.starts_with("08") => Some(Trouble::Unreachable),
                (None, "53100") => Some(Trouble::Full),
                (None, _) => None,
            }
        }
        _ => None,
    }
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
            Ok(Db(Pool::Sqlite(pool)))
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
                .connect_lazy_with(options.clone());
            metrics::gauge!(outage::REACHABLE).set(1.0);
            Ok(Db(Pool::Postgres(pool, outage::Outage::new(options))))
        } else {
            // Only the scheme: the rest may hold a password.
            let scheme = url.split(':').next().unwrap_or_default();
            Err(ConnectError::Scheme(scheme.to_owned()))
        }
    }

    /// Starts a transaction, for changes that must happen together.
    ///
    /// Every caller writes, so on SQLite the transaction takes the write lock
    /// at `BEGIN IMMEDIATE`, where the busy timeout applies. A deferred
    /// `BEGIN` that reads first and then writes fails at once with "database
    /// is locked" (SQLITE_BUSY_SNAPSHOT) when another connection — the
    /// in-process worker, say — committed in between, and no wait can mend
    /// that.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(Tx(match &self.0 {
            Pool::Sqlite(pool) => TxInner::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),

            Pool::Postgres(pool, outage) => {
                TxInner::Postgres(outage.guard(pool.begin()).await?, outage.clone())
            }
        }))
    }

    /// A read-only transaction that sees the database as it was when it
    /// began, while the site goes on writing: for a copy of the whole site
    /// that must be consistent (an archive). SQLite's deferred transaction
    /// takes its snapshot at the first read and holds no lock writers wait
    /// for (WAL); PostgreSQL's is REPEATABLE READ.
    pub async fn begin_snapshot(&self) -> Result<Tx, sqlx::Error> {
        Ok(Tx(match &self.0 {
            Pool::Sqlite(pool) => TxInner::Sqlite(pool.begin_with("BEGIN DEFERRED").await?),
            Pool::Postgres(pool, outage) => TxInner::Postgres(
                outage
                    .guard(pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
                    .await?,
                outage.clone(),
            ),
        }))
    }

    pub fn dialect(&self) -> Dialect {
        match self.0 {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(..) => Dialect::Postgres,
        }
    }

    /// Connections open, and how many of them are idle.
    pub fn pool_state(&self) -> (u32, u32) {
        match &self.0 {
            Pool::Sqlite(pool) => (pool.size(), pool.num_idle() as u32),
            Pool::Postgres(pool, _) => (pool.size(), pool.num_idle() as u32),
        }
    }

    pub fn backend(&self) -> &'static str {
        match self.dialect() {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }

    /// Whether a table exists (in PostgreSQL's current schema).
    pub async fn has_table(&self, name: &str) -> Result<bool, sqlx::Error> {
        let sql = match self.dialect() {
            Dialect::Sqlite => {
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1)"
            }
            Dialect::Postgres => {
                "SELECT EXISTS (SELECT 1 FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_name = $1)"
            }
        };
        query(sql).bind(name).scalar(self).await
    }

    /// A trivial round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        query("SELECT 1").execute(self).await.map(|_| ())
    }

    pub async fn close(&self) {
        match &self.0 {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool, _) => pool.close().await,
        }
    }

    /// Wakes every process listening on `channel` ([`Db::listen`]), with
    /// `payload` (who sent it, say): a `NOTIFY` on PostgreSQL; nothing on
    /// SQLite, which has no listeners.
    pub async fn notify(&self, channel: &'static str, payload: &str) -> Result<(), sqlx::Error> {
        if self.dialect().notifies() {
            query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(self)
                .await?;
        }
        Ok(())
    }

    /// On PostgreSQL, a task that calls `wake` for every `NOTIFY` on
    /// `channel` (reconnecting when the connection drops) but those whose
    /// payload is `unless` (a process's own); `None` on SQLite, whose
    /// callers poll instead.
    pub fn listen(
        &self,
        channel: &'static str,
        unless: Option<String>,
        wake: std::sync::Arc<tokio::sync::Notify>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let Pool::Postgres(pool, _) = &self.0 else {
            return None;
        };
        let pool = pool.clone();
        Some(tokio::spawn(async move {
            loop {
                let listening = async {
                    let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
                    listener.listen(channel).await?;
                    loop {
                        let notification = listener.recv().await?;
                        if unless.as_deref() != Some(notification.payload()) {
                            wake.notify_one();
                        }
                    }
                };
                let result: Result<(), sqlx::Error> = listening.await;
                if let Err(e) = result {
                    tracing::warn!(error = %e, channel, "listening for notifications failed; polling until it works again");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }))
    }
}

/// The unique constraints whose violation a feature turns into an answer
/// ("username has already been taken"). Others are errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unique {
    /// The name as written, or its key (the same name in another case or
    /// Unicode form).
    Username,
    Email,
    /// The partial index that allows one owner.
    SingleOwner,
    PostSlug,
    PageSlug,
}

/// Each constraint as each backend names it in a violation: PostgreSQL by
/// the constraint's name, SQLite by its columns in the message
/// ("UNIQUE constraint failed: users.username"). One table, checked by a
/// test that makes each violation on both databases.
const UNIQUES: [(Unique, &str, &str); 6] = [
    (Unique::Username, "users.username", "users_username_key"),
    (
        Unique::Username,
        "users.username_key",
        "users_username_key_unique",
    ),
    (Unique::Email, "users.email", "users_email_key"),
    (Unique::SingleOwner, "users.role", "users_single_owner"),
    (Unique::PostSlug, "posts.slug", "posts_slug_key"),
    (Unique::PageSlug, "pages.slug", "pages_slug_key"),
];

/// Which known unique constraint an error violates, if it is one.
pub fn unique_violation(error: &sqlx::Error) -> Option<Unique> {
    let db_error = error.as_database_error()?;
    if !db_error.is_unique_violation() {
        return None;
    }
    let sqlite = db_error
        .message()
        .strip_prefix("UNIQUE constraint failed: ");
    UNIQUES
        .iter()
        .find(|(_, columns, constraint)| {
            db_error.constraint() == Some(*constraint) || sqlite == Some(*columns)
        })
        .map(|(unique, ..)| *unique)
}
