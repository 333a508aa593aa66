//! Durable background jobs, kept in the database of the site on either
//! backend: work that must not be lost and must not slow a request down
//! (emails, housekeeping).
//!
//! Delivery is at least once. A worker claims a job by taking a lease on it
//! (`locked_by`, `locked_until`) and keeps the lease alive while the job
//! runs; a job whose lease runs out — its worker died — is claimed again.
//! On PostgreSQL claims use `FOR UPDATE SKIP LOCKED`, on SQLite the single
//! writer serialises them, so a job is never held by two workers at once.
//! Why this is our own queue rather than apalis: docs/decisions.md.

pub mod web;
mod worker;

use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use time::Duration;

use crate::db::{Conn, Db, Query, Timestamp, query};
use crate::error::{AppError, AppResult};
pub use worker::{JobContext, run_worker};

/// Every kind of job, with what it needs. Stored as its `kind` and the JSON
/// of its fields, so a job queued by one version can be read by the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum Job {
    /// Does nothing: measures the queue itself and shows a worker is alive.
    Noop,
    /// Welcomes a new account.
    WelcomeEmail { user_id: i64 },
    /// Tells someone that a comment answered their post or comment.
    ReplyEmail { comment_id: i64, recipient_id: i64 },
    /// Sends a password reset link, if an account has this address.
    PasswordResetEmail { email: String },
    /// Removes expired sessions, reset links, invites and old finished jobs.
    Housekeeping,
    /// Writes a backup to QUIRE_BACKUP_DEST and deletes the oldest beyond
    /// QUIRE_BACKUP_KEEP.
    Backup,
}

/// The states a job goes through.
pub const STATES: [&str; 4] = ["queued", "running", "done", "failed"];

impl Job {
    /// Every kind's name, as stored.
    pub const KINDS: [&'static str; 6] = [
        "noop",
        "welcome_email",
        "reply_email",
        "password_reset_email",
        "housekeeping",
        "backup",
    ];

    /// The `kind` and `payload` columns.
    pub fn encode(&self) -> (String, String) {
        let value = serde_json::to_value(self).expect("jobs serialise to JSON");
        let kind = value["kind"].as_str().unwrap_or_default().to_owned();
        let payload = value.get("payload").cloned().unwrap_or_default();
        (kind, payload.to_string())
    }

    /// Reads a stored job back; the error says what is wrong with it.
    fn decode(kind: &str, payload: &str) -> Result<Self, String> {
        let payload: serde_json::Value = serde_json::from_str(payload)
            .map_err(|e| format!("the payload of this {kind:?} job is not JSON: {e}"))?;
        let mut value = serde_json::json!({ "kind": kind });
        if !payload.is_null() {
            value["payload"] = payload;
        }
        serde_json::from_value(value).map_err(|e| format!("cannot read a {kind:?} job: {e}"))
    }

    /// To run as soon as a worker is free.
    pub fn now(self) -> NewJob {
        NewJob {
            job: self,
            run_at: Timestamp::now(),
            dedup_key: None,
        }
    }
}

/// A job about to be queued.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub job: Job,
    pub run_at: Timestamp,
    pub dedup_key: Option<String>,
}

impl NewJob {
    pub fn at(mut self, run_at: Timestamp) -> Self {
        self.run_at = run_at;
        self
    }

    /// Queued at most once: a second job with the same key is dropped.
    pub fn dedup(mut self, key: impl Into<String>) -> Self {
        self.dedup_key = Some(key.into());
        self
    }
}

/// Queues a job, in a transaction ([`Tx`]) so that the job exists exactly
/// when the change that called for it does, or on its own (on a [`Db`]).
/// The job remembers the trace it was queued in, for its own span to link
/// to. Returns whether it was queued (false: its dedup key was taken).
pub async fn enqueue<'c>(on: impl Into<Conn<'c>>, new_job: &NewJob) -> Result<bool, sqlx::Error> {
    let (kind, payload) = new_job.job.encode();
    let queued = query(
        "INSERT INTO jobs (kind, payload, run_at, dedup_key, created_at, trace_parent)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedup_key) DO NOTHING",
    )
    .bind(kind)
    .bind(payload)
    .bind(new_job.run_at)
    .bind(new_job.dedup_key.as_deref())
    .bind(Timestamp::now())
    .bind(crate::telemetry::current_traceparent())
    .execute(on)
    .await?;
    Ok(queued > 0)
}

/// Queues many jobs in one transaction (imports, benchmarks).
pub async fn enqueue_many(db: &Db, jobs: &[NewJob]) -> AppResult<()> {
    let mut tx = db.begin().await?;
    for job in jobs {
        enqueue(&mut tx, job).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// How many jobs of a kind are in a state.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Count {
    pub kind: String,
    pub state: String,
    pub jobs: i64,
}

pub async fn counts(db: &Db) -> AppResult<Vec<Count>> {
    Ok(query(
        "SELECT kind, state, COUNT(*) AS jobs FROM jobs GROUP BY kind, state ORDER BY kind, state",
    )
    .fetch_all(db)
    .await?)
}

/// A job as the admin page shows it.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub state: String,
    pub attempts: i32,
    pub run_at: Timestamp,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

const JOB_COLUMNS: &str =
    "id, kind, payload, state, attempts, run_at, last_error, created_at, finished_at";

pub async fn failed(db: &Db, limit: i64) -> AppResult<Vec<JobRow>> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE state = 'failed' ORDER BY finished_at DESC, id DESC LIMIT $1"
    );
    Ok(Query::assembled(sql).bind(limit).fetch_all(db).await?)
}

/// Queues a failed job again, as if new: its attempts start over.
pub async fn retry(db: &Db, id: i64) -> AppResult<()> {
    let changed = query(
        "UPDATE jobs SET state = 'queued', attempts = 0, run_at = $1, finished_at = NULL
         WHERE id = $2 AND state = 'failed'",
    )
    .bind(Timestamp::now())
    .bind(id)
    .execute(db)
    .await?;
    if changed == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}

/// Deletes a failed job.
pub async fn discard(db: &Db, id: i64) -> AppResult<()> {
    let changed = query("DELETE FROM jobs WHERE id = $1 AND state = 'failed'")
        .bind(id)
        .execute(db)
        .await?;
    if changed == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}

/// How long finished jobs are kept: done ones for the counts of the admin
/// page (and their dedup keys), failed ones for someone to look at.
const KEEP_DONE: Duration = Duration::days(7);
const KEEP_FAILED: Duration = Duration::days(30);

/// Deletes old finished jobs; returns how many.
pub async fn purge_finished(db: &Db, now: Timestamp) -> AppResult<u64> {
    Ok(query(
        "DELETE FROM jobs WHERE (state = 'done' AND finished_at < $1) OR (state = 'failed' AND finished_at < $2)",
    )
    .bind(now - KEEP_DONE)
    .bind(now - KEEP_FAILED)
    .execute(db)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_through_their_columns() {
        for job in [
            Job::Noop,
            Job::Housekeeping,
            Job::Backup,
            Job::WelcomeEmail { user_id: 7 },
            Job::ReplyEmail {
                comment_id: 1,
                recipient_id: 2,
            },
            Job::PasswordResetEmail {
                email: "a@example.com".into(),
            },
        ] {
            let (kind, payload) = job.encode();
            assert!(Job::KINDS.contains(&kind.as_str()), "{kind} is in KINDS");
            assert_eq!(Job::decode(&kind, &payload), Ok(job));
        }
        assert_eq!(Job::Noop.encode(), ("noop".into(), "null".into()));
    }

    #[test]
    fn bad_jobs_say_what_is_wrong() {
        let unknown = Job::decode("launch_rockets", "null").unwrap_err();
        assert!(unknown.contains("launch_rockets"), "{unknown}");
        let garbled = Job::decode("welcome_email", "{not json").unwrap_err();
        assert!(garbled.contains("not JSON"), "{garbled}");
        let missing = Job::decode("welcome_email", "{}").unwrap_err();
        assert!(missing.contains("user_id"), "{missing}");
    }
}
