//! Background jobs: emails through a real SMTP server, retries and the
//! failed state, unreadable jobs, periodic jobs with several workers, the
//! admin page, and workers that die or are stopped.

use std::time::{Duration, Instant};

use quire::config::{Schedule, Settings, SmtpSettings, SmtpUrl};
use quire::db::{Db, Timestamp, query};
use quire::jobs::{Job, NewJob, Noop};

use crate::backend_test;
use crate::helpers::{
    Backend, QuireProcess, SmtpSink, TestDatabase, backends, free_port, fresh_database_url,
};

#[derive(Debug, sqlx::FromRow)]
struct Row {
    id: i64,
    kind: String,
    state: String,
    attempts: i32,
    run_at: Timestamp,
    last_error: Option<String>,
    locked_by: Option<String>,
    created_at: Timestamp,
}

async fn jobs(db: &Db) -> Vec<Row> {
    query(
        "SELECT id, kind, state, attempts, run_at, last_error, locked_by, created_at FROM jobs ORDER BY id").fetch_all(db).await
    .unwrap()
}

async fn jobs_of(db: &Db, kind: &str) -> Vec<Row> {
    jobs(db)
        .await
        .into_iter()
        .filter(|j| j.kind == kind)
        .collect()
}

/// The first job of a kind, once there is one (at most 30 s): jobs that
/// events call for are queued when their delivery runs, on a worker.
async fn first_job_of(db: &Db, kind: &str) -> Row {
    for _ in 0..3000 {
        if let Some(job) = jobs_of(db, kind).await.into_iter().next() {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no {kind} job after 30 s");
}

/// The settings of an SMTP server's URL.
fn smtp(url: &str) -> SmtpSettings {
    url.parse::<SmtpUrl>().unwrap().settings().unwrap()
}

backend_test!(welcome_reply_and_reset_emails_arrive_over_smtp, |app| {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let _worker = app.start_worker(|s| s.mail.smtp = Some(smtp(&sink.url())));
    let base = app.base.to_string();

    // A welcome on sign-up.
    app.register("owner").await.assert_status(303);
    let welcome = &sink.wait_for(1).await[0];
    assert_eq!(welcome.to, "owner@example.com");
    assert_eq!(welcome.subject, "Welcome to Quire, owner");
    assert!(
        welcome.text.contains(&format!("{base}editor")),
        "{}",
        welcome.text
    );
    assert!(welcome.html.contains("Write a post"));

    // Everyone after the owner confirms their address by a link first.
    let reader = app.new_browser();
    reader
        .post(
            "/register",
            &[
                ("username", "reader"),
                ("email", "reader@example.com"),
                ("password", "correct horse"),
            ],
        )
        .await
        .assert_status(200);
    let confirm = &sink.wait_for(2).await[1];
    assert_eq!(confirm.to, "reader@example.com");
    assert_eq!(confirm.subject, "Finish registering at Quire");
    assert!(confirm.html.contains("Finish registering"));
    let path = confirm.link(&format!("{base}register/confirm/"))[base.len() - 1..].to_owned();
    reader
        .confirm_registration(&path)
        .await
        .assert_redirect("/");
    assert_eq!(
        sink.wait_for(3).await[2].subject,
        "Welcome to Quire, reader"
    );

    // A reply to the owner's post, with a one-click unsubscribe link.
    let slug = app.publish("Hello", "First post.", "").await;
    reader
        .post(
            &format!("/posts/{slug}/comments"),
            &[("body", "Lovely <b>post</b>!")],
        )
        .await
        .assert_status(303);
    let received = sink.wait_for(4).await;
    let reply = &received[3];
    assert_eq!(reply.to, "owner@example.com");
    assert_eq!(reply.subject, "reader replied to your post “Hello”");
    assert!(reply.text.contains("Lovely <b>post</b>!"), "{}", reply.text);
    assert!(
        reply.html.contains("Lovely &lt;b&gt;post&lt;"),
        "{}",
        reply.html
    );
    assert!(!reply.html.contains("<b>post"), "escaped in HTML");
    assert!(reply.text.contains(&format!("{base}posts/{slug}#comment-")));
    let unsubscribe = reply.link(&format!("{base}unsubscribe/"));
    assert_eq!(
        reply.list_unsubscribe.as_deref(),
        Some(format!("<{unsubscribe}>").as_str())
    );

    // The owner answers: the reader, who commented before, hears of it.
    app.post(&format!("/posts/{slug}/comments"), &[("body", "Thanks!")])
        .await
        .assert_status(303);
    let received = sink.wait_for(5).await;
    assert_eq!(received[4].to, "reader@example.com");
    assert_eq!(received[4].subject, "owner replied under “Hello”");

    // One click, signed out, turns reply emails off; a forged link does nothing.
    let stranger = app.new_browser();
    let forged = format!("{}x", &unsubscribe[..unsubscribe.len() - 1]);
    stranger
        .get(forged.trim_start_matches(&base))
        .await
        .assert_status(404);
    let page = stranger.get(&unsubscribe[base.len() - 1..]).await;
    page.assert_status(200);
    assert!(page.contains("you will no longer get an email"));
    reader
        .post(&format!("/posts/{slug}/comments"), &[("body", "Again")])
        .await
        .assert_status(303);
    app.jobs_settled().await;
    assert_eq!(sink.received().len(), 5, "no reply email once unsubscribed");
    assert!(
        !app.get("/settings")
            .await
            .html()
            .select(&scraper::Selector::parse("input[name=notify_replies][checked]").unwrap())
            .any(|_| true),
        "the setting shows it is off"
    );

    // Password reset: the same answer for a stranger's address, an email
    // only for the account's, and a link that works once.
    let anonymous = app.new_browser();
    let unknown = anonymous
        .post("/password/forgot", &[("email", "nobody@example.com")])
        .await;
    let known = anonymous
        .post("/password/forgot", &[("email", "reader@example.com")])
        .await;
    unknown.assert_status(200);
    known.assert_status(200);
    assert_eq!(
        unknown.texts(".notice")[0].replace("nobody", "X"),
        known.texts(".notice")[0].replace("reader", "X")
    );
    let received = sink.wait_for(6).await;
    app.jobs_settled().await;
    assert_eq!(
        sink.received().len(),
        6,
        "nothing is sent to an unknown address"
    );
    let reset = &received[5];
    assert_eq!(reset.to, "reader@example.com");
    let path = reset.link(&format!("{base}password/reset/"))[base.len() - 1..].to_owned();
    let form = anonymous.get(&path).await;
    form.assert_status(200);
    assert!(form.contains("reader"));
    let short = anonymous.post(&path, &[("password", "short")]).await;
    short.assert_status(422);
    assert!(short.contains("too short"));
    let done = anonymous
        .post(&path, &[("password", "a brand new secret")])
        .await;
    done.assert_status(200);
    assert!(done.contains("Your password is changed"));
    // The old sessions are over; the new password signs in; the link is spent.
    reader.get("/settings").await.assert_status(303);
    anonymous
        .login("reader", "a brand new secret")
        .await
        .assert_status(303);
    let again = app.new_browser().get(&path).await;
    again.assert_status(404);
    assert!(again.contains("This link no longer works"));
    app.new_browser()
        .post(&path, &[("password", "another new secret")])
        .await
        .assert_status(404);

    // Registering with an address that has an account tells its owner.
    app.new_browser()
        .post(
            "/register",
            &[
                ("username", "impostor"),
                ("email", "reader@example.com"),
                ("password", "correct horse"),
            ],
        )
        .await
        .assert_status(200);
    let notice = &sink.wait_for(7).await[6];
    assert_eq!(notice.to, "reader@example.com");
    assert_eq!(notice.subject, "Someone tried to use your address at Quire");
    assert!(notice.text.contains(&format!("{base}password/forgot")));
});

backend_test!(
    unreadable_jobs_fail_with_a_clear_error_and_the_worker_goes_on,
    |app| {
        for (kind, payload) in [
            ("launch_rockets", "null"),
            ("welcome_email", "{not json"),
            ("welcome_email", "{}"),
        ] {
            query("INSERT INTO jobs (kind, payload, run_at, created_at) VALUES ($1, $2, $3, $3)")
                .bind(kind)
                .bind(payload)
                .bind(Timestamp::now())
                .execute(&app.db)
                .await
                .unwrap();
        }
        quire::jobs::enqueue(&app.db, &Noop.now()).await.unwrap();
        let _worker = app.start_worker(|_| {});
        app.jobs_settled().await;
        let rows = jobs(&app.db).await;
        let errors: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.state.as_str(),
                    r.attempts,
                    r.last_error.clone().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(errors[0].0, "failed");
        assert!(errors[0].2.contains("launch_rockets"), "{errors:?}");
        assert!(errors[1].2.contains("not JSON"), "{errors:?}");
        assert!(errors[2].2.contains("user_id"), "{errors:?}");
        assert!(
            errors[..3].iter().all(|e| e.0 == "failed" && e.1 == 1),
            "no retries of what cannot work: {errors:?}"
        );
        assert_eq!(rows[3].state, "done", "the worker went on");
    }
);

backend_test!(
    failing_jobs_back_off_then_fail_and_an_admin_can_retry_them,
    |app| {
        // An SMTP server that is down: nothing listens on the port yet.
        let port = free_port();
        let url = format!("smtp://127.0.0.1:{port}?tls=none");
        let _worker = app.start_worker(|s| {
            s.mail.smtp = Some(smtp(&url));
            s.jobs.job_retry_base = Duration::from_millis(400);
            s.jobs.job_max_attempts = 3;
        });
        app.register("owner").await.assert_status(303);

        // Watch the welcome job: after failure n it waits 400 ms × 2^(n-1), ±50%.
        // Each attempt runs as soon as it is due and fails at once (connection
        // refused), so the delay chosen after attempt n is the distance from
        // the previous due time to the next.
        let mut due_times = Vec::new();
        let started = Instant::now();
        let failed = loop {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the job never failed for good"
            );
            let job = first_job_of(&app.db, "welcome_email").await;
            if due_times.is_empty() {
                due_times.push(job.created_at);
            }
            if job.state == "queued" && job.attempts as usize == due_times.len() {
                due_times.push(job.run_at);
            }
            if job.state == "failed" {
                break job;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(due_times.len(), 3, "two retries were scheduled");
        for (n, pair) in due_times.windows(2).enumerate() {
            let delay = (pair[1].as_datetime() - pair[0].as_datetime()).as_seconds_f64();
            let nominal = 0.4 * f64::from(1 << n);
            // Late by the worker's reaction time at most; never early.
            assert!(
                (nominal * 0.5..=nominal * 1.5 + 0.3).contains(&delay),
                "retry {}: waited {delay} s for a nominal {nominal} s",
                n + 1
            );
        }
        assert_eq!(failed.attempts, 3);
        let error = failed.last_error.clone().unwrap();
        assert!(error.contains("SMTP"), "{error}");

        // The admin page shows it to admins only, and retries it.
        // (The site's form would wait for an email this worker cannot send.)
        let member = app.new_browser();
        member.api_register("member").await;
        member
            .login("member", "correct horse")
            .await
            .assert_redirect("/");
        member.get("/admin/jobs").await.assert_status(403);
        let page = app.get("/admin/jobs").await;
        page.assert_status(200);
        assert!(page.contains("welcome_email"));
        assert!(page.contains("sending over SMTP"));
        // The SMTP server is back: the retried email goes out; none was lost.
        let Some(sink) = SmtpSink::start_on(port) else {
            return;
        };
        let retried = app
            .post(&format!("/admin/jobs/{}/retry", failed.id), &[])
            .await;
        retried.assert_status(200);
        assert!(retried.contains(&format!("Job {} is queued again", failed.id)));
        let started = Instant::now();
        while !sink.received().iter().any(|r| r.to == "owner@example.com") {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the retried email never came"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // Discarding removes a failed job, and only a failed one.
        app.post(&format!("/admin/jobs/{}/discard", failed.id), &[])
            .await
            .assert_status(404);
    }
);

backend_test!(
    periodic_jobs_run_once_per_period_across_two_workers,
    |app| {
        let every_second = |s: &mut Settings| {
            s.jobs.housekeeping_schedule = Schedule::parse("* * * * * *").unwrap()
        };
        let first = app.start_worker(every_second);
        let second = app.start_worker(every_second);
        let started = Instant::now();
        tokio::time::sleep(Duration::from_millis(3500)).await;
        first.stop().await;
        second.stop().await;
        let elapsed = started.elapsed().as_secs_f64();
        let runs = jobs_of(&app.db, "housekeeping").await;
        assert!(
            runs.iter().all(|r| r.state == "done" && r.attempts == 1),
            "{runs:?}"
        );
        // One per second that passed, not one per worker per second.
        assert!(
            (2..=elapsed.ceil() as usize).contains(&runs.len()),
            "{} runs in {elapsed:.1} s",
            runs.len()
        );
    }
);

fn worker(database_url: &str, data_dir: &std::path::Path, env: &[(&str, &str)]) -> QuireProcess {
    QuireProcess::start(&["worker"], database_url, data_dir, env)
}

async fn migrated(backend: Backend, dir: &std::path::Path) -> (String, Db, Option<TestDatabase>) {
    let (url, database) = fresh_database_url(backend, dir).await.unwrap();
    let db = Db::connect(&url, quire::db::PoolSize(3), None)
        .await
        .unwrap();
    db.migrate_up(quire::assembly::MIGRATION_STEPS)
        .await
        .unwrap();
    (url, db, database)
}

async fn wait_for_state(db: &Db, id: i64, state: &str) -> Row {
    for _ in 0..600 {
        let job = jobs(db).await.into_iter().find(|j| j.id == id).unwrap();
        if job.state == state {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} never reached {state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_worker_is_killed_runs_again_elsewhere_once() {
    for backend in backends() {
        let Some(sink) = SmtpSink::start() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let (url, db, _database) = migrated(backend, dir.path()).await;
        quire::features::accounts::create_from_cli(
            &db,
            "ann",
            "ann@example.com",
            "password123",
            false,
        )
        .await
        .unwrap();
        let smtp = sink.url();
        let env = [("QUIRE_SMTP_URL", smtp.as_str()), ("QUIRE_JOB_LEASE", "2s")];
        // The SMTP server stalls the delivery; the worker dies in the middle.
        sink.set_delay(30.0);
        let first = worker(&url, dir.path(), &env);
        let job = first_job_of(&db, "welcome_email").await;
        let running = wait_for_state(&db, job.id, "running").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        first.signal("KILL");
        drop(first);
        sink.set_delay(0.0);
        let second = worker(&url, dir.path(), &env);
        let done = wait_for_state(&db, job.id, "done").await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(sink.received().len(), 1, "{backend:?}: sent once");
        assert_eq!(done.attempts, 2, "{backend:?}");
        assert_ne!(
            done.locked_by, running.locked_by,
            "{backend:?}: another worker finished it"
        );
        drop(second);
        db.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_running_job_finish_before_the_worker_exits() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (url, db, _database) = migrated(Backend::Sqlite, dir.path()).await;
    quire::features::accounts::create_from_cli(&db, "ann", "ann@example.com", "password123", false)
        .await
        .unwrap();
    sink.set_delay(1.5);
    let smtp = sink.url();
    let worker = worker(&url, dir.path(), &[("QUIRE_SMTP_URL", smtp.as_str())]);
    let job = first_job_of(&db, "welcome_email").await;
    wait_for_state(&db, job.id, "running").await;
    worker.signal("TERM");
    let status = worker.exit_status().await;
    assert!(status.success(), "{status:?}");
    let job = jobs(&db)
        .await
        .into_iter()
        .find(|j| j.id == job.id)
        .unwrap();
    assert_eq!(job.state, "done");
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_processes_on_postgres_run_each_of_1000_jobs_once() {
    if crate::helpers::postgres_admin_url().is_none() {
        eprintln!("skipped: QUIRE_TEST_POSTGRES_URL is not set");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (url, db, _database) = migrated(Backend::Postgres, dir.path()).await;
    let batch: Vec<NewJob> = (0..1000).map(|_| Noop.now()).collect();
    quire::jobs::enqueue_many(&db, &batch).await.unwrap();
    let env = [("QUIRE_WORKER_CONCURRENCY", "4")];
    let _first = worker(&url, dir.path(), &env);
    let _second = worker(&url, dir.path(), &env);
    let started = Instant::now();
    let rows = loop {
        let rows = jobs(&db).await;
        if rows.iter().all(|r| r.state == "done") {
            break rows;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "1000 jobs not done in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(rows.len(), 1000);
    assert!(
        rows.iter().all(|r| r.attempts == 1),
        "every job was claimed once"
    );
    let workers: std::collections::HashSet<_> = rows.iter().map(|r| r.locked_by.clone()).collect();
    assert_eq!(workers.len(), 2, "both workers took jobs: {workers:?}");
}

backend_test!(periodic_backups_keep_the_newest_and_verify, |app| {
    let dest = tempfile::tempdir().unwrap();
    let dest_path = dest.path().display().to_string();
    // Older finished backups are there already, and an unfinished one (no
    // manifest), which is not pruning's business.
    for (name, finished) in [
        ("quire-20000101T000000Z", false),
        ("quire-20000101T000001Z", true),
    ] {
        let folder = dest.path().join(name);
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("database.sqlite"), "old").unwrap();
        if finished {
            std::fs::write(folder.join("manifest.json"), "{}").unwrap();
        }
    }
    let worker = app.start_worker(|s| {
        s.jobs.backup_schedule = Some(Schedule::parse("* * * * * *").unwrap());
        s.jobs.backup_dest = Some(dest_path.parse().unwrap());
        s.jobs.backup_keep = 2;
    });
    tokio::time::sleep(Duration::from_millis(3500)).await;
    worker.stop().await;
    let runs = jobs_of(&app.db, "backup").await;
    assert!(
        runs.len() >= 3 && runs.iter().all(|r| r.state == "done"),
        "{runs:?}"
    );
    // Beside the backups, the folder of the site's files they share.
    let mut kept: Vec<_> = std::fs::read_dir(dest.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.ends_with("media"))
        .collect();
    kept.sort();
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert!(
        kept[0].ends_with("quire-20000101T000000Z"),
        "the unfinished one stays"
    );
    for backup in &kept[1..] {
        let manifest = quire::backup::verify(backup).await.unwrap();
        assert_eq!(manifest.backend, app.db.backend());
    }
});
