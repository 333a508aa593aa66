//! Queries written once and run on either backend.
//!
//! A [`Query`] is SQL in the dialect both backends accept (`$1`
//! placeholders, `RETURNING`, `ON CONFLICT`) and the values bound to it. It
//! runs on a [`Db`](super::Db) (a pool: one statement on its own) or inside a
//! [`Tx`](super::Tx), and only here does the code look at which backend that
//! is: each value knows how to encode itself for both, and rows decode
//! through sqlx's `FromRow` for both. So a feature writes each query once,
//! and both backends type-check it: a value or a row type one backend cannot
//! carry does not compile.

use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgConnection, PgPool, PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteConnection, SqlitePool, SqliteRow};
use sqlx::{Arguments, AssertSqlSafe, Decode, Encode, FromRow, SqlSafeStr, SqlStr, Type};

/// A value that can be bound on either backend, for a query that lives
/// for `'q`. (A lifetime parameter rather than `for<'a> Encode<'a, _>`:
/// sqlx encodes `Option<T>` only for `T: 'a`, which for every `'a` would
/// mean `'static`, and borrowed strings could not be bound.)
pub trait Param<'q>: Send + Sync {
    fn add_to_sqlite(&self, args: &mut SqliteArguments) -> Result<(), BoxDynError>;
    fn add_to_postgres(&self, args: &mut PgArguments) -> Result<(), BoxDynError>;
}

impl<'q, T> Param<'q> for T
where
    T: Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres> + Send + Sync,
{
    fn add_to_sqlite(&self, args: &mut SqliteArguments) -> Result<(), BoxDynError> {
        args.add(self)
    }

    fn add_to_postgres(&self, args: &mut PgArguments) -> Result<(), BoxDynError> {
        args.add(self)
    }
}

/// A row type that both backends can decode (`#[derive(sqlx::FromRow)]`
/// structs, tuples).
pub trait Record:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> Record for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

/// A single column's type that both backends can decode.
pub trait Column:
    for<'r> Decode<'r, Sqlite>
    + Type<Sqlite>
    + for<'r> Decode<'r, Postgres>
    + Type<Postgres>
    + Send
    + Unpin
{
}

impl<T> Column for T where
    T: for<'r> Decode<'r, Sqlite>
        + Type<Sqlite>
        + for<'r> Decode<'r, Postgres>
        + Type<Postgres>
        + Send
        + Unpin
{
}

/// Where a query runs: a pool, or the connection of a transaction. Made
/// from `&Db` or `&mut Tx`.
pub struct Conn<'c>(pub(super) Target<'c>);

pub(super) enum Target<'c> {
    SqlitePool(&'c SqlitePool),
    PgPool(&'c PgPool, &'c std::sync::Arc<super::outage::Outage>),
    Sqlite(&'c mut SqliteConnection),
    Postgres(
        &'c mut PgConnection,
        &'c std::sync::Arc<super::outage::Outage>,
    ),
}

/// SQL and the values bound to its placeholders, in order.
#[must_use = "a query does nothing until it is run"]
pub struct Query<'q> {
    sql: SqlStr,
    args: Vec<Box<dyn Param<'q> + 'q>>,
    /// Kept prepared on the connection (sqlx's default), or planned anew
    /// each time ([`Query::planned_each_time`]).
    persistent: bool,
}

/// A query whose text is a constant.
pub fn query<'q>(sql: &'static str) -> Query<'q> {
    Query {
        sql: sql.into_sql_str(),
        args: Vec::new(),
        persistent: true,
    }
}

impl<'q> Query<'q> {
    /// A query whose text is assembled at run time (a listing's `WHERE`
    /// clause, an `IN` list). Only from constant fragments and
    /// placeholders: values always go through [`Query::bind`].
    pub fn assembled(sql: String) -> Self {
        Query {
            sql: AssertSqlSafe(sql).into_sql_str(),
            args: Vec::new(),
            persistent: true,
        }
    }

    /// Planned for its values each time it runs, never kept prepared. For
    /// a statement whose best plan depends on its values: PostgreSQL
    /// settles on one generic plan after five runs of a prepared one, and
    /// a search for a word in every other post wants another plan than a
    /// search for a rare one (200 ms against 0.5 ms, measured).
    pub fn planned_each_time(mut self) -> Self {
        self.persistent = false;
        self
    }

    /// Binds the next placeholder.
    pub fn bind(mut self, value: impl Param<'q> + 'q) -> Self {
        self.args.push(Box::new(value));
        self
    }

    /// Binds each value to the next placeholders, in order.
    pub fn bind_all<T: Param<'q> + 'q>(mut self, values: impl IntoIterator<Item = T>) -> Self {
        for value in values {
            self.args.push(Box::new(value));
        }
        self
    }

    pub fn sql(&self) -> &str {
        self.sql.as_str()
    }

    fn sqlite_args(&self) -> Result<SqliteArguments, sqlx::Error> {
        let mut args = SqliteArguments::default();
        for arg in &self.args {
            arg.add_to_sqlite(&mut args).map_err(sqlx::Error::Encode)?;
        }
        Ok(args)
    }

    fn postgres_args(&self) -> Result<PgArguments, sqlx::Error> {
        let mut args = PgArguments::default();
        for arg in &self.args {
            arg.add_to_postgres(&mut args)
                .map_err(sqlx::Error::Encode)?;
        }
        Ok(args)
    }

    /// Runs a statement; returns how many rows it changed.
    pub async fn execute<'c>(self, on: impl Into<Conn<'c>>) -> Result<u64, sqlx::Error> {
        Ok(match on.into().0 {
            Target::SqlitePool(pool) => {
                let args = self.sqlite_args()?;
                sqlx::query_with(self.sql, args)
                    .persistent(self.persistent)
                    .execute(pool)
                    .await?
                    .rows_affected()
            }
            Target::Sqlite(conn) => {
                let args = self.sqlite_args()?;
                sqlx::query_with(self.sql, args)
                    .persistent(self.persistent)
                    .execute(conn)
                    .await?
                    .rows_affected()
            }
            Target::PgPool(pool, outage) => outage
                .guard(async move {
                    let args = self.postgres_args()?;
                    sqlx::query_with(self.sql, args)
                        .persistent(self.persistent)
                        .execute(pool)
                        .await
                })
                .await?
                .rows_affected(),
            Target::Postgres(conn, outage) => outage
                .watch(async move {
                    let args = self.postgres_args()?;
                    sqlx::query_with(self.sql, args)
                        .persistent(self.persistent)
                        .execute(conn)
                        .await
                })
                .await?
                .rows_affected(),
        })
    }

    /// Every row.
    pub async fn fetch_all<'c, T: Record>(
        self,
        on: impl Into<Conn<'c>>,
    ) -> Result<Vec<T>, sqlx::Error> {
        match on.into().0 {
            Target::SqlitePool(pool) => {
                let args = self.sqlite_args()?;
                sqlx::query_as_with(self.sql, args)
                    .persistent(self.persistent)
                    .fetch_all(pool)
                    .await
            }
            Target::Sqlite(conn) => {
                let args = self.sqlite_args()?;
                sqlx::query_as_with(self.sql, args)
                    .persistent(self.persistent)
                    .fetch_all(conn)
                    .await
            }
            Target::PgPool(pool, outage) => {
                outage
                    .guard(async move {
                        let args = self.postgres_args()?;
                        sqlx::query_as_with(self.sql, args)
                            .persistent(self.persistent)
                            .fetch_all(pool)
                            .await
                    })
                    .await
            }
            Target::Postgres(conn, outage) => {
                outage
                    .watch(async move {
                        let args = self.postgres_args()?;
                        sqlx::query_as_with(self.sql, args)
                            .persistent(self.persistent)
                            .fetch_all(conn)
                            .await
                    })
                    .await
            }
        }
    }

    /// The first row, if there is one.
    pub async fn fetch_optional<'c, T: Record>(
        self,
        on: impl Into<Conn<'c>>,
    ) -> Result<Option<T>, sqlx::Error> {
        match on.into().0 {
            Target::SqlitePool(pool) => {
                let args = self.sqlite_args()?;
                sqlx::query_as_with(self.sql, args)
                    .persistent(self.persistent)
                    .fetch_optional(pool)
                    .await
            }
            Target::Sqlite(conn) => {
                let args = self.sqlite_args()?;
                sqlx::query_as_with(self.sql, args)
                    .persistent(self.persistent)
                    .fetch_optional(conn)
                    .await
            }
            Target::PgPool(pool, outage) => {
                outage
                    .guard(async move {
                        let args = self.postgres_args()?;
                        sqlx::query_as_with(self.sql, args)
                            .persistent(self.persistent)
                            .fetch_optional(pool)
                            .await
                    })
                    .await
            }
            Target::Postgres(conn, outage) => {
                outage
                    .watch(async move {
                        let args = self.postgres_args()?;
                        sqlx::query_as_with(self.sql, args)
                            .persistent(self.persistent)
                            .fetch_optional(conn)
                            .await
                    })
                    .await
            }
        }
    }

    /// The first row; `RowNotFound` when there is none.
    pub async fn fetch_one<'c, T: Record>(self, on: impl Into<Conn<'c>>) -> Result<T, sqlx::Error> {
        self.fetch_optional(on)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// The first column of the first row.
    pub async fn scalar<'c, T: Column>(self, on: impl Into<Conn<'c>>) -> Result<T, sqlx::Error> {
        self.fetch_one::<(T,)>(on).await.map(|(value,)| value)
    }

    /// The first column of the first row, if there is a row.
    pub async fn scalar_optional<'c, T: Column>(
        self,
        on: impl Into<Conn<'c>>,
    ) -> Result<Option<T>, sqlx::Error> {
        Ok(self.fetch_optional::<(T,)>(on).await?.map(|(value,)| value))
    }

    /// The first column of every row.
    pub async fn scalars<'c, T: Column>(
        self,
        on: impl Into<Conn<'c>>,
    ) -> Result<Vec<T>, sqlx::Error> {
        Ok(self
            .fetch_all::<(T,)>(on)
            .await?
            .into_iter()
            .map(|(value,)| value)
            .collect())
    }
}
