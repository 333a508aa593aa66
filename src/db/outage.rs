//! When PostgreSQL cannot be reached (restarting, failing over, the network
//! gone), requests should hear so at once rather than each wait out the
//! pool's acquire timeout: sqlx retries a refused connection until that
//! deadline, so without this every request would hang for ten seconds and
//! then fail, and under load they pile up faster than they fail.
//!
//! A query that fails for want of a connection, or waits on the pool for
//! over a second, makes one direct connection attempt, outside the pool
//! (the pool would hide a refused connection by retrying it). If that
//! fails too, the
//! breaker opens: queries waiting on the pool are abandoned, new ones fail
//! at once with [`unreachable`], and one task tries to connect every
//! [`PROBE_EVERY`] until it can, which closes the breaker. If the attempt
//! succeeds, the trouble was that one connection (or a busy pool) and
//! nothing changes. The pool reconnects on its own (`test_before_acquire`),
//! so nothing needs a restart. Queries inside open transactions fail with
//! their own errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use tokio::sync::Notify;

/// A gauge: 1 while PostgreSQL answers, 0 while the breaker is open.
pub const REACHABLE: &str = "quire_db_reachable";

/// How often the background task tries to reach the database while it is down.
const PROBE_EVERY: Duration = Duration::from_millis(250);
/// How long a query on the pool may wait before the database is checked.
const SLOW: Duration = Duration::from_secs(1);
/// How long one attempt to connect may take.
const ATTEMPT: Duration = Duration::from_secs(2);

const UP: u8 = 0;
const CHECKING: u8 = 1;
const DOWN: u8 = 2;

#[derive(Debug)]
pub(super) struct Outage {
    state: AtomicU8,
    /// Wakes the queries waiting on the pool when the breaker opens.
    opened: Notify,
    options: PgConnectOptions,
}

impl Outage {
    pub(super) fn new(options: PgConnectOptions) -> Arc<Self> {
        Arc::new(Self {
            state: AtomicU8::new(UP),
            opened: Notify::new(),
            options,
        })
    }

    /// Runs a query on the pool, unless the database is known to be down.
    pub(super) async fn guard<T>(
        self: &Arc<Self>,
        query: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        let opened = self.opened.notified();
        tokio::pin!(opened);
        // Registered before the state is read, so an opening in between
        // still wakes this query.
        opened.as_mut().enable();
        if self.state.load(Ordering::Acquire) == DOWN {
            return Err(unreachable());
        }
        // A pool hides a refused connection by retrying it until its
        // timeout, so a query that waits this long is a reason to check.
        let slow = tokio::time::sleep(SLOW);
        tokio::pin!(query, slow);
        let mut waited = false;
        let result = loop {
            tokio::select! {
                result = &mut query => break result,
                () = &mut opened => break Err(unreachable()),
                () = &mut slow, if !waited => {
                    waited = true;
                    self.suspect(format!("a query waited {SLOW:?} for its answer"));
                }
            }
        };
        self.notice(&result);
        result
    }

    /// Runs a query inside a transaction (its connection already held):
    /// no shortcut, but a lost connection is noticed like the pool's.
    pub(super) async fn watch<T>(
        self: &Arc<Self>,
        query: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        let result = query.await;
        self.notice(&result);
        result
    }

    /// After a failure for want of a connection, checks whether the
    /// database is gone (once at a time).
    fn notice<T>(self: &Arc<Self>, result: &Result<T, sqlx::Error>) {
        if let Err(e) = result
            && super::trouble(e) == Some(super::Trouble::Unreachable)
        {
            self.suspect(e.to_string());
        }
    }

    fn suspect(self: &Arc<Self>, why: String) {
        if self
            .state
            .compare_exchange(UP, CHECKING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            tokio::spawn(self.clone().check(why));
        }
    }

    async fn reachable(&self) -> Result<(), String> {
        use sqlx::Connection;
        let attempt = async {
            let connection = sqlx::PgConnection::connect_with(&self.options).await?;
            connection.close().await
        };
        match tokio::time::timeout(ATTEMPT, attempt).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {ATTEMPT:?}")),
        }
    }

    /// After a query failed for want of a connection: is the database
    /// gone, or was it one connection?
    async fn check(self: Arc<Self>, why: String) {
        if self.reachable().await.is_ok() {
            self.state.store(UP, Ordering::Release);
            return;
        }
        self.state.store(DOWN, Ordering::Release);
        self.opened.notify_waiters();
        metrics::gauge!(REACHABLE).set(0.0);
        tracing::warn!(error = %why, "PostgreSQL is unreachable: answering 503 until it is back");
        let mut attempts = 0u32;
        loop {
            tokio::time::sleep(PROBE_EVERY).await;
            attempts += 1;
            match self.reachable().await {
                Ok(()) => break,
                // Every ten seconds or so, so the log shows it is still down.
                Err(e) if attempts.is_multiple_of(40) => {
                    tracing::warn!(error = %e, attempts, "PostgreSQL is still unreachable");
                }
                Err(_) => {}
            }
        }
        self.state.store(UP, Ordering::Release);
        metrics::gauge!(REACHABLE).set(1.0);
        tracing::warn!(attempts, "PostgreSQL is reachable again");
    }
}

/// The error queries get while the database is known to be down.
pub(super) fn unreachable() -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        "PostgreSQL is unreachable (trying again every 250 ms)",
    ))
}
