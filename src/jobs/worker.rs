//! The worker: claims due jobs, runs them, records how they ended.
//!
//! One loop per process owns the claiming and the bookkeeping; each job runs
//! in a task of its own, at most `QUIRE_WORKER_CONCURRENCY` at a time.
//! Claims and results are written in batches, so a busy worker costs a few
//! statements per batch of jobs rather than several per job.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::FromRow;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{NewJob, Registry};
use crate::app::App;
use crate::config::{JobConfig, Schedule};
use crate::db::{Db, Query, Timestamp, query};

/// How long to wait after a job ends for others to end too.
const LINGER: Duration = Duration::from_millis(1);

/// A job that runs longer than this is stopped and retried later.
const JOB_TIMEOUT: Duration = Duration::from_secs(300);

/// How often an idle worker looks for due jobs. PostgreSQL also wakes it
/// on every new job (LISTEN/NOTIFY), so there polling only catches jobs
/// scheduled for later and leases that ran out.
fn poll_interval(db: &Db) -> Duration {
    if db.dialect().notifies() {
        Duration::from_secs(5)
    } else {
        Duration::from_millis(250)
    }
}

#[derive(Debug, FromRow)]
struct Claimed {
    id: i64,
    kind: String,
    payload: String,
    attempts: i32,
    trace_parent: Option<String>,
}

/// A job that has ended, waiting for its result to be written.
#[derive(Debug)]
struct Ended {
    id: i64,
    attempts: i32,
    kind: String,
    outcome: Outcome,
}

/// How a run of a job ended.
#[derive(Debug)]
enum Outcome {
    Done,
    /// Worth another attempt (while attempts remain).
    Retry(String),
    /// Will never work: an unreadable job, or no attempts left.
    Fail(String),
}

/// Runs jobs until `shutdown` resolves, then takes no new ones, lets the
/// running ones finish for up to `QUIRE_WORKER_SHUTDOWN_TIMEOUT`, and hands
/// back those still running, to be taken up by another worker.
pub async fn run_worker(
    app: App,
    registry: Arc<Registry>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let settings = app.settings.jobs.clone();
    let me = worker_id();
    let wake = Arc::new(Notify::new());
    // PostgreSQL: a trigger on jobs sends `NOTIFY quire_jobs` at the
    // commit of every insert, which wakes this worker.
    let listener = app.db.listen("quire_jobs", None, wake.clone());
    let poll = poll_interval(&app.db);
    let mut periodic = Periodic::new(registry.periodic.clone());
    let claims = claim_sql(&app.db);
    let mut heartbeat = tokio::time::interval(settings.job_lease / 3);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut running: JoinSet<Outcome> = JoinSet::new();
    let mut held: HashMap<tokio::task::Id, (i64, i32, String)> = HashMap::new();
    let mut stop_at: Option<Instant> = None;
    tokio::pin!(shutdown);
    tracing::info!(worker = %me, concurrency = settings.worker_concurrency, "worker started");

    // Results not yet written: they are written with the next claim.
    let mut finished: Vec<Ended> = Vec::new();
    loop {
        // How long to sleep when idle: until the next poll, periodic job,
        // or job that comes due (a retry, a scheduled job, a lease running out).
        let mut idle_for = poll;
        let free = match stop_at {
            None => settings.worker_concurrency as usize - running.len(),
            Some(_) => 0,
        };
        if stop_at.is_none() {
            periodic.enqueue_due(&app.db).await;
            idle_for = idle_for.min(periodic.until_next());
        }
        if free > 0 || !finished.is_empty() {
            match settle(&app.db, &me, &settings, &claims, &finished, free).await {
                Ok(claimed) => {
                    finished.clear();
                    // Fewer than asked for: nothing else is due now.
                    if claimed.len() < free
                        && let Ok(Some(due)) = next_due(&app.db, &me).await
                    {
                        let wait = (due.as_datetime() - Timestamp::now().as_datetime())
                            .try_into()
                            .unwrap_or(Duration::ZERO);
                        // A little after, so the job is due when we look.
                        idle_for = idle_for.min(wait + Duration::from_millis(5));
                    }
                    for job in claimed {
                        let (id, attempts, kind) = (job.id, job.attempts, job.kind.clone());
                        let handle = running.spawn(perform(
                            app.clone(),
                            registry.clone(),
                            job,
                            settings.job_max_attempts as i32,
                        ));
                        held.insert(handle.id(), (id, attempts, kind));
                    }
                }
                // Kept, and written with the next try; the leases of those
                // jobs are renewed meanwhile, so nobody else runs them again.
                Err(e) => {
                    tracing::warn!(error = %e, "recording or claiming jobs failed; retrying shortly")
                }
            }
        }
        if stop_at.is_some() && running.is_empty() && finished.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            () = &mut shutdown, if stop_at.is_none() => {
                tracing::info!(running = running.len(), "worker stopping: no new jobs");
                stop_at = Some(Instant::now() + settings.worker_shutdown_timeout);
            }
            Some(first) = running.join_next_with_id(), if !running.is_empty() => {
                // Jobs ending within a millisecond of each other are
                // written together: one commit for the batch, not one each.
                let mut ended = vec![first];
                let linger = tokio::time::sleep(LINGER);
                tokio::pin!(linger);
                while !running.is_empty() {
                    tokio::select! {
                        Some(more) = running.join_next_with_id() => ended.push(more),
                        () = &mut linger => break,
                    }
                }
                for result in ended {
                    let (task, outcome) = match result {
                        Ok((task, outcome)) => (task, outcome),
                        Err(e) => (e.id(), Outcome::Retry(format!("the job panicked: {e}"))),
                    };
                    if let Some((id, attempts, kind)) = held.remove(&task) {
                        finished.push(Ended { id, attempts, kind, outcome });
                    }
                }
            }
            _ = heartbeat.tick() => {
                let ids: Vec<i64> = held.values().map(|(id, ..)| *id)
                    .chain(finished.iter().map(|e| e.id)).collect();
                if let Err(e) = extend_leases(&app.db, &me, &ids, settings.job_lease).await {
                    tracing::warn!(error = %e, "extending job leases failed");
                }
            }
            () = wake.notified(), if stop_at.is_none() => {}
            () = tokio::time::sleep(idle_for), if stop_at.is_none() => {}
            () = tokio::time::sleep_until(stop_at.unwrap_or_else(Instant::now)), if stop_at.is_some() => {
                tracing::warn!(jobs = running.len(), "shutdown timeout: handing unfinished jobs back");
                running.abort_all();
                while running.join_next().await.is_some() {}
                held.clear();
                if !finished.is_empty() {
                    settle(&app.db, &me, &settings, &claims, &finished, 0).await?;
                }
                break;
            }
        }
    }
    if let Some(listener) = listener {
        listener.abort();
    }
    let released = release(&app.db, &me).await?;
    tracing::info!(released, "worker stopped");
    Ok(())
}

/// Unique among the processes of a deployment, readable in the jobs table.
fn worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    format!(
        "{host}:{}:{}",
        std::process::id(),
        crate::crypto::random_token(4)
    )
}

/// When the next job comes due: queued for later, or held by another worker
/// whose lease may run out.
async fn next_due(db: &Db, me: &str) -> Result<Option<Timestamp>, sqlx::Error> {
    query(
        "SELECT MIN(t) FROM (
             SELECT MIN(run_at) AS t FROM jobs WHERE state = 'queued'
             UNION ALL
             SELECT MIN(locked_until) AS t FROM jobs WHERE state = 'running' AND locked_by <> $1
         ) AS due",
    )
    .bind(me)
    .scalar(db)
    .await
}

/// The claims: a lease on up to `$4` due jobs. Two statements, each served
/// by its own partial index in order, so a claim costs the same with a
/// million jobs waiting as with ten: first running jobs whose worker stopped
/// renewing its lease, then queued jobs whose time has come.
fn claim_sql(db: &Db) -> [String; 2] {
    let skip_locked = db.dialect().skip_locked();
    let claim = |due: &str, order: &str| {
        format!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $1, locked_until = $2
             WHERE id IN (SELECT id FROM jobs WHERE {due} ORDER BY {order} LIMIT $4 {skip_locked})
             RETURNING id, kind, payload, attempts, trace_parent"
        )
    };
    [
        claim("state = 'running' AND locked_until < $3", "locked_until"),
        claim("state = 'queued' AND run_at <= $3", "run_at, id"),
    ]
}

async fn perform(
    app: App,
    registry: Arc<Registry>,
    claimed: Claimed,
    max_attempts: i32,
) -> Outcome {
    if claimed.attempts > max_attempts {
        // Claimed again after its lease ran out, every time: its worker
        // keeps dying on it.
        return Outcome::Fail(format!(
            "gave up after {max_attempts} attempts whose workers stopped before finishing"
        ));
    }
    let work = match registry.start(app, &claimed.kind, &claimed.payload) {
        Ok(work) => work,
        Err(message) => return Outcome::Fail(message),
    };
    let span = tracing::info_span!(
        "job",
        id = claimed.id,
        kind = %claimed.kind,
        attempt = claimed.attempts,
        otel.name = %format_args!("job {}", claimed.kind),
        otel.kind = "consumer",
    );
    // Its own trace, linked to the one that queued it: a job can run long
    // after that request ended, or again after failing.
    if let Some(queued_by) = &claimed.trace_parent {
        span.add_link(crate::telemetry::span_context(queued_by));
    }
    match tokio::time::timeout(JOB_TIMEOUT, work.instrument(span)).await {
        Ok(Ok(())) => Outcome::Done,
        Ok(Err(e)) => Outcome::Retry(format!("{e:#}")),
        Err(_) => Outcome::Retry(format!("timed out after {} s", JOB_TIMEOUT.as_secs())),
    }
}

/// The delay before attempt `attempts + 1`: exponential from
/// `QUIRE_JOB_RETRY_BASE`, capped at an hour, with ±50% jitter so that jobs
/// that failed together (an SMTP outage) do not all retry together.
pub fn backoff(base: Duration, attempts: i32) -> Duration {
    let exponent = attempts.saturating_sub(1).clamp(0, 20) as u32;
    let delay = base
        .saturating_mul(1 << exponent)
        .min(Duration::from_secs(3600));
    delay.mul_f64(rand::random_range(0.5..1.5))
}

/// Writes how jobs ended and claims up to `limit` new ones, in one
/// transaction: a busy worker commits once per batch. Only rows this worker
/// still holds are written: if its lease ran out and another worker took
/// the job, that worker's record wins. Finished jobs keep `locked_by`: who
/// ran them.
async fn settle(
    db: &Db,
    me: &str,
    settings: &JobConfig,
    claims: &[String; 2],
    results: &[Ended],
    limit: usize,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let started = std::time::Instant::now();
    let now = Timestamp::now();
    let mut done = Vec::new();
    let mut requeue = Vec::new();
    let mut failed = Vec::new();
    let mut outcomes = Vec::new();
    for Ended {
        id,
        attempts,
        kind,
        outcome,
    } in results
    {
        let label = match outcome {
            Outcome::Done => {
                done.push(*id);
                "done"
            }
            Outcome::Retry(error) if *attempts < settings.job_max_attempts as i32 => {
                tracing::warn!(job = id, attempts, %error, "job failed; will retry");
                requeue.push((
                    *id,
                    now + backoff(settings.job_retry_base, *attempts),
                    error,
                ));
                "retried"
            }
            Outcome::Retry(error) | Outcome::Fail(error) => {
                tracing::error!(job = id, attempts, %error, "job failed for good");
                failed.push((*id, error));
                "failed"
            }
        };
        outcomes.push((kind.clone(), label));
    }
    let done_sql = (!done.is_empty()).then(|| {
        format!(
            "UPDATE jobs SET state = 'done', finished_at = $1, locked_until = NULL, last_error = NULL
             WHERE locked_by = $2 AND id IN ({})",
            crate::db::placeholders(3, done.len())
        )
    });
    // Nothing to write and nothing due: no write transaction, which on
    // SQLite would take the database's one write lock from the web
    // requests on every poll.
    if results.is_empty() && !anything_due(db, now).await? {
        return Ok(Vec::new());
    }
    async {
        let mut tx = db.begin().await?;
        if let Some(sql) = done_sql {
            Query::assembled(sql)
                .bind(now)
                .bind(me)
                .bind_all(done.iter().copied())
                .execute(&mut tx)
                .await?;
        }
        for (id, run_at, error) in &requeue {
            query(
                "UPDATE jobs SET state = 'queued', run_at = $1, last_error = $2, locked_by = NULL,
                     locked_until = NULL
                 WHERE id = $3 AND locked_by = $4",
            )
            .bind(*run_at)
            .bind(*error)
            .bind(*id)
            .bind(me)
            .execute(&mut tx)
            .await?;
        }
        for (id, error) in &failed {
            query(
                "UPDATE jobs SET state = 'failed', finished_at = $1, last_error = $2, locked_until = NULL
                 WHERE id = $3 AND locked_by = $4",
            )
            .bind(now)
            .bind(*error)
            .bind(*id)
            .bind(me)
            .execute(&mut tx)
            .await?;
        }
        let mut claimed: Vec<Claimed> = Vec::new();
        for sql in claims {
            let wanted = limit - claimed.len();
            if wanted == 0 {
                break;
            }
            let mut more: Vec<Claimed> = Query::assembled(sql.clone())
                .bind(me)
                .bind(now + settings.job_lease)
                .bind(now)
                .bind(wanted as i64)
                .fetch_all(&mut tx)
                .await?;
            // RETURNING gives no order; run the oldest first.
            more.sort_by_key(|job| job.id);
            claimed.append(&mut more);
        }
        tx.commit().await?;
        Ok(claimed)
    }
    .await
    .inspect(|claimed| {
        for (kind, outcome) in outcomes {
            metrics::counter!(crate::metrics::JOBS_FINISHED, "kind" => kind, "outcome" => outcome)
                .increment(1);
        }
        tracing::debug!(recorded = results.len(), claimed = claimed.len(), took = ?started.elapsed(), "settled");
    })
}

async fn anything_due(db: &Db, now: Timestamp) -> Result<bool, sqlx::Error> {
    query(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'queued' AND run_at <= $1)
             OR EXISTS (SELECT 1 FROM jobs WHERE state = 'running' AND locked_until < $1)",
    )
    .bind(now)
    .scalar(db)
    .await
}

/// Renews the leases of the jobs this worker holds: running, or finished
/// and not yet written.
async fn extend_leases(
    db: &Db,
    me: &str,
    ids: &[i64],
    lease: Duration,
) -> Result<u64, sqlx::Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "UPDATE jobs SET locked_until = $1 WHERE locked_by = $2 AND state = 'running' AND id IN ({})",
        crate::db::placeholders(3, ids.len())
    );
    Query::assembled(sql)
        .bind(Timestamp::now() + lease)
        .bind(me)
        .bind_all(ids.iter().copied())
        .execute(db)
        .await
}

/// Hands this worker's unfinished jobs back to the queue, to run again at
/// once elsewhere. The interrupted attempt does not count.
async fn release(db: &Db, me: &str) -> Result<u64, sqlx::Error> {
    query(
        "UPDATE jobs SET state = 'queued', locked_by = NULL, locked_until = NULL,
             attempts = attempts - 1, run_at = $1
         WHERE locked_by = $2 AND state = 'running'",
    )
    .bind(Timestamp::now())
    .bind(me)
    .execute(db)
    .await
}

/// Periodic jobs. Every worker computes the same fire times from the same
/// schedule and queues the job with a dedup key naming the fire time, so
/// however many workers run, each period's job is queued once.
struct Periodic {
    entries: Vec<(String, Schedule, NewJob, Timestamp)>,
}

impl Periodic {
    fn new(entries: Vec<(String, Schedule, NewJob)>) -> Self {
        let now = Timestamp::now();
        Self {
            entries: entries
                .into_iter()
                .map(|(name, schedule, job)| {
                    let next = schedule.next_after(now);
                    (name, schedule, job, next)
                })
                .collect(),
        }
    }

    async fn enqueue_due(&mut self, db: &Db) {
        let now = Timestamp::now();
        for (name, schedule, job, next) in &mut self.entries {
            if *next > now {
                continue;
            }
            let key = format!("periodic:{name}:{}", next.rfc3339());
            let new_job: NewJob = job.clone().at(*next).dedup(key);
            match super::enqueue(db, &new_job).await {
                Ok(_) => *next = schedule.next_after(now),
                Err(e) => {
                    tracing::warn!(error = %e, job = %name, "queueing a periodic job failed")
                }
            }
        }
    }

    /// How long until the next periodic job is due.
    fn until_next(&self) -> Duration {
        let now = Timestamp::now();
        self.entries
            .iter()
            .map(|(.., next)| {
                (next.as_datetime() - now.as_datetime())
                    .try_into()
                    .unwrap_or(Duration::ZERO)
            })
            .min()
            .unwrap_or(Duration::from_secs(3600))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_a_cap() {
        let base = Duration::from_secs(10);
        for attempts in 1..=6 {
            let expected = 10.0 * f64::from(1u32 << (attempts - 1));
            let got = backoff(base, attempts).as_secs_f64();
            assert!(
                (expected * 0.5..=expected * 1.5).contains(&got),
                "attempt {attempts}: {got}"
            );
        }
        assert!(backoff(base, 30) <= Duration::from_secs(5400));
    }
}
