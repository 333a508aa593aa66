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

pub mod events;
mod worker;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use time::Duration;

use crate::app::App;
use crate::config::Schedule;
use crate::db::{Conn, Db, Query, Timestamp, query};
use crate::error::{AppError, AppResult, Thing};
pub use worker::run_worker;

/// A kind of background job. The value is the job's payload, stored as
/// JSON beside its `KIND`, so a job queued by one version is read by the
/// next; the feature that defines a job says what it does, and the
/// assembly registers it ([`Registry::register`]).
pub trait Job: Serialize + DeserializeOwned + Send + 'static {
    /// The name stored in the `kind` column: never change it.
    const KIND: &'static str;

    fn run(self, app: &App) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// To run as soon as a worker is free.
    fn now(&self) -> NewJob {
        NewJob::new(Self::KIND, self)
    }
}

/// Does nothing: measures the queue itself and shows a worker is alive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Noop;

impl Job for Noop {
    const KIND: &'static str = "noop";

    async fn run(self, _: &App) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The states a job goes through.
pub const STATES: [&str; 4] = ["queued", "running", "done", "failed"];

/// A kind's work, from its stored payload. It is handed the registry too,
/// which only event delivery needs (the event's subscribers).
type Runner = Box<
    dyn Fn(App, Arc<Registry>, &str) -> Result<BoxFuture<'static, anyhow::Result<()>>, String>
        + Send
        + Sync,
>;

/// Whether a recorded event still stands when its time comes.
type Stands =
    Box<dyn Fn(App, String, Timestamp) -> BoxFuture<'static, anyhow::Result<bool>> + Send + Sync>;

/// One subscriber's work for a recorded event.
type Subscriber = Box<
    dyn Fn(App, String) -> anyhow::Result<BoxFuture<'static, anyhow::Result<()>>> + Send + Sync,
>;

/// A kind of event and who subscribes to it.
struct EventKind {
    stands: Stands,
    subscribers: Vec<(&'static str, Subscriber)>,
}

/// Every kind of job and event this build knows, the subscribers of each
/// event, and the periodic jobs: collected by the assembly from the
/// features.
pub struct Registry {
    runners: BTreeMap<&'static str, Runner>,
    events: BTreeMap<&'static str, EventKind>,
    periodic: Vec<(String, Schedule, NewJob)>,
}

impl Default for Registry {
    fn default() -> Self {
        let mut registry = Self {
            runners: BTreeMap::new(),
            events: BTreeMap::new(),
            periodic: Vec::new(),
        };
        registry.register::<Noop>();
        registry.runners.insert(
            events::Deliver::KIND,
            Box::new(|app, registry, payload| {
                let deliver: events::Deliver = decode(events::Deliver::KIND, payload)?;
                Ok(Box::pin(deliver.run(app, registry)))
            }),
        );
        registry
    }
}

impl Registry {
    pub fn register<J: Job>(&mut self) -> &mut Self {
        let runner: Runner = Box::new(|app: App, _, payload: &str| {
            let job: J = decode(J::KIND, payload)?;
            Ok(Box::pin(async move { job.run(&app).await }))
        });
        let previous = self.runners.insert(J::KIND, runner);
        assert!(
            previous.is_none(),
            "job kind {:?} registered twice",
            J::KIND
        );
        self
    }

    /// Queues `job` at every time of `schedule`, once across all workers.
    pub fn every<J: Job>(&mut self, schedule: Schedule, job: J) -> &mut Self {
        assert!(
            self.runners.contains_key(J::KIND),
            "register {} first",
            J::KIND
        );
        self.periodic
            .push((J::KIND.to_owned(), schedule, job.now()));
        self
    }

    /// Every kind's name, as stored.
    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.runners.keys().copied()
    }

    fn event_kind(&self, kind: &str) -> anyhow::Result<&EventKind> {
        self.events
            .get(kind)
            .ok_or_else(|| anyhow::anyhow!("no event of kind {kind:?} is known to this version"))
    }

    /// The work of a stored job; the error says what is wrong with it.
    fn start(
        self: &Arc<Self>,
        app: App,
        kind: &str,
        payload: &str,
    ) -> Result<BoxFuture<'static, anyhow::Result<()>>, String> {
        let runner = self
            .runners
            .get(kind)
            .ok_or_else(|| format!("no job of kind {kind:?} is known to this version"))?;
        runner(app, self.clone(), payload)
    }
}

/// Reads a stored payload back.
fn decode<J: DeserializeOwned>(kind: &str, payload: &str) -> Result<J, String> {
    let value: serde_json::Value = serde_json::from_str(payload)
        .map_err(|e| format!("the payload of this {kind:?} job is not JSON: {e}"))?;
    serde_json::from_value(value).map_err(|e| format!("cannot read a {kind:?} job: {e}"))
}

/// A job about to be queued.
#[derive(Debug, Clone)]
pub struct NewJob {
    kind: &'static str,
    payload: String,
    pub run_at: Timestamp,
    pub dedup_key: Option<String>,
}

impl NewJob {
    fn new(kind: &'static str, payload: &impl Serialize) -> Self {
        NewJob {
            kind,
            payload: serde_json::to_string(payload).expect("jobs serialise to JSON"),
            run_at: Timestamp::now(),
            dedup_key: None,
        }
    }

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

tokio::task_local! {
    /// The trace a chain of work started in (the request that recorded an
    /// event), for jobs queued on its behalf to link to.
    static ORIGIN: Option<String>;
}

/// Queues a job, in a transaction ([`Tx`](crate::db::Tx)) so that the job exists exactly
/// when the change that called for it does, or on its own (on a [`Db`]).
/// The job remembers the trace it was queued in (or on whose behalf: see
/// [`events`]), for its own span to link to. Returns whether it was queued
/// (false: its dedup key was taken).
pub async fn enqueue<'c>(on: impl Into<Conn<'c>>, new_job: &NewJob) -> Result<bool, sqlx::Error> {
    let trace_parent = ORIGIN
        .try_with(Clone::clone)
        .unwrap_or_else(|_| crate::telemetry::current_traceparent());
    let queued = query(
        "INSERT INTO jobs (kind, payload, run_at, dedup_key, created_at, trace_parent)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedup_key) DO NOTHING",
    )
    .bind(new_job.kind)
    .bind(&new_job.payload)
    .bind(new_job.run_at)
    .bind(new_job.dedup_key.as_deref())
    .bind(Timestamp::now())
    .bind(trace_parent)
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

/// Sets the `quire_jobs` gauge for every kind (`kinds`, and any other the
/// table holds) in every state, zeros included: a gauge that is not set
/// keeps its last value. Called at each metrics scrape.
pub async fn set_gauges(db: &Db, kinds: &[&'static str]) {
    let counts = match counts(db).await {
        Ok(counts) => counts,
        Err(e) => {
            tracing::warn!(error = %e, "counting jobs for metrics failed");
            return;
        }
    };
    let mut all: Vec<String> = kinds.iter().map(|k| (*k).to_owned()).collect();
    all.extend(counts.iter().map(|c| c.kind.clone()));
    all.sort();
    all.dedup();
    for kind in all {
        for state in STATES {
            let jobs = counts
                .iter()
                .find(|c| c.kind == kind && c.state == state)
                .map_or(0, |c| c.jobs);
            metrics::gauge!("quire_jobs", "kind" => kind.clone(), "state" => state)
                .set(jobs as f64);
        }
    }
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
        return Err(AppError::NotFound(Thing::Job));
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
        return Err(AppError::NotFound(Thing::Job));
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

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Greet {
        user_id: i64,
    }

    impl Job for Greet {
        const KIND: &'static str = "greet";
        async fn run(self, _: &App) -> anyhow::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn jobs_round_trip_through_their_columns() {
        let new = Greet { user_id: 7 }.now();
        assert_eq!(
            (new.kind, new.payload.as_str()),
            ("greet", r#"{"user_id":7}"#)
        );
        assert_eq!(
            decode::<Greet>("greet", &new.payload),
            Ok(Greet { user_id: 7 })
        );
        // Payloads written before jobs were types read the same way.
        assert_eq!(Noop.now().payload, "null");
    }

    #[test]
    fn bad_jobs_say_what_is_wrong() {
        let registry = Registry::default();
        assert_eq!(
            registry.kinds().collect::<Vec<_>>(),
            ["deliver_event", "noop"]
        );
        let garbled = decode::<Greet>("greet", "{not json").unwrap_err();
        assert!(garbled.contains("not JSON"), "{garbled}");
        let missing = decode::<Greet>("greet", "{}").unwrap_err();
        assert!(missing.contains("user_id"), "{missing}");
    }
}
