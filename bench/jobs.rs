//! Jobs through one worker: `cargo bench --bench jobs`.
//!
//! Queues a fixed number of jobs on SQLite (and on PostgreSQL when
//! QUIRE_TEST_POSTGRES_URL is set), starts one release `quire worker`
//! process, and times it until every job is done: no-op jobs (the queue's
//! own cost), then password-reset emails delivered to a real SMTP server on
//! loopback (aiosmtpd from QUIRE_TEST_PYTHON; skipped without it). Checks
//! that each job ran once and each email arrived. Environment:
//! QUIRE_BENCH_NOOP_JOBS (default 20000), QUIRE_BENCH_EMAIL_JOBS (1000),
//! QUIRE_WORKER_CONCURRENCY (the worker's default unless set).

use std::time::{Duration, Instant};

use quire::db::{Db, PoolSize, Timestamp, query};
use quire::jobs::{Job, NewJob, Noop};

// Shared by the benchmarks; this one does not drive HTTP load.
#[allow(dead_code)]
#[path = "common.rs"]
mod common;
#[path = "../tests/support/python.rs"]
mod python;
// The benchmark uses part of what the tests use of it.
#[allow(dead_code)]
#[path = "../tests/support/smtp_sink.rs"]
mod smtp_sink;

use common::env_number;

/// Waits until no job is left queued or running; returns the seconds taken
/// and the largest number of attempts any job needed.
async fn drain(db: &Db, started: Instant) -> (f64, i64) {
    loop {
        let (left, attempts): (i64, Option<i64>) = query(
            "SELECT COUNT(*) FILTER (WHERE state IN ('queued', 'running')), CAST(MAX(attempts) AS BIGINT) FROM jobs").fetch_one(db).await
        .unwrap();
        if left == 0 {
            return (started.elapsed().as_secs_f64(), attempts.unwrap_or(0));
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "{left} jobs still not done after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn failed(db: &Db) -> i64 {
    query("SELECT COUNT(*) FROM jobs WHERE state <> 'done'")
        .scalar(db)
        .await
        .unwrap()
}

async fn clear(db: &Db) {
    query("DELETE FROM jobs").execute(db).await.unwrap();
}

async fn bench(
    backend: &str,
    url: &str,
    dir: &std::path::Path,
    sink: Option<&smtp_sink::SmtpSink>,
) {
    let db = Db::connect(url, PoolSize(2), None).await.unwrap();
    db.migrate_up(quire::assembly::MIGRATION_STEPS)
        .await
        .unwrap();
    // The account the emails go to; its welcome email is not measured.
    quire::features::accounts::create_from_cli(
        &db,
        "reader",
        "reader@example.com",
        "password123",
        false,
    )
    .await
    .unwrap();
    clear(&db).await;

    let noop = env_number("QUIRE_BENCH_NOOP_JOBS", 20_000);
    let jobs: Vec<NewJob> = (0..noop).map(|_| Noop.now()).collect();
    for chunk in jobs.chunks(5_000) {
        quire::jobs::enqueue_many(&db, chunk).await.unwrap();
    }
    let smtp = sink.map(|s| s.url());
    // The worker's own default concurrency unless QUIRE_WORKER_CONCURRENCY says otherwise.
    let mut env: Vec<(String, String)> = std::env::var("QUIRE_WORKER_CONCURRENCY")
        .map(|c| vec![("QUIRE_WORKER_CONCURRENCY".to_owned(), c)])
        .unwrap_or_default();
    if let Some(smtp) = &smtp {
        env.push(("QUIRE_SMTP_URL".into(), smtp.clone()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let started = Instant::now();
    let worker = common::quire(url, dir, &["worker"], &env);
    let (seconds, attempts) = drain(&db, started).await;
    println!(
        "{backend:<10} no-op jobs: {:>8.0}/s (target ≥ 2000/s)  {noop} jobs in {seconds:.2} s, not done {}, most attempts {attempts} (target 1)",
        noop as f64 / seconds,
        failed(&db).await,
    );

    if let Some(sink) = sink {
        clear(&db).await;
        let emails = env_number("QUIRE_BENCH_EMAIL_JOBS", 1_000);
        let before = sink.received().len();
        let jobs: Vec<NewJob> = (0..emails)
            .map(|_| {
                quire::features::accounts::reset::PasswordResetEmail {
                    email: "reader@example.com".into(),
                }
                .now()
                .at(Timestamp::now())
            })
            .collect();
        let started = Instant::now();
        quire::jobs::enqueue_many(&db, &jobs).await.unwrap();
        let (seconds, attempts) = drain(&db, started).await;
        let arrived = sink.received().len() - before;
        println!(
            "{backend:<10} email jobs: {:>8.0}/s (no target)  {emails} emails in {seconds:.2} s, arrived {arrived}, not done {}, most attempts {attempts}",
            emails as f64 / seconds,
            failed(&db).await,
        );
        assert_eq!(arrived, emails, "every email arrived once");
    } else {
        println!(
            "{backend:<10} email jobs: skipped (set QUIRE_TEST_PYTHON to a Python with aiosmtpd)"
        );
    }
    drop(worker);
    db.close().await;
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    println!(
        "jobs benchmark: {} cores, one worker process",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let sink = if std::env::var("QUIRE_TEST_PYTHON").is_ok() {
        smtp_sink::SmtpSink::start()
    } else {
        None
    };
    for (backend, url) in common::databases(dir.path()).await {
        bench(backend, &url, dir.path(), sink.as_ref()).await;
    }
    common::drop_databases().await;
}
