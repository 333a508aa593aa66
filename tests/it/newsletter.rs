//! The newsletter: a reader subscribes, confirms from the email, gets each
//! post its author chose to email, and leaves with one click (mail
//! clients' RFC 8058 POST); against a real SMTP server, a post reaches a
//! thousand subscribers exactly once though the worker sending it is
//! killed, temporary refusals are retried, permanent ones mark the address
//! bouncing, and the rate holds (measured from the server's clock).

use std::collections::BTreeMap;
use std::time::Duration;

use quire::db::{Timestamp, query};

use crate::backend_test;
use crate::helpers::{QuireProcess, SmtpSink, TestApp, backends};

async fn state_of(app: &TestApp, email: &str) -> Option<String> {
    query("SELECT state FROM subscribers WHERE email = $1")
        .bind(email)
        .scalar_optional(&app.db)
        .await
        .unwrap()
}

/// Publishes from the editor with "Email this post to subscribers" ticked.
async fn publish_emailed(app: &TestApp, title: &str, body: &str) {
    let page = app
        .post(
            "/editor",
            &[
                ("title", title),
                ("body", body),
                ("tags", ""),
                ("email_subscribers", "on"),
                ("action", "publish"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
}

backend_test!(
    readers_confirm_by_email_get_posts_and_leave_in_one_click,
    |app| {
        app.register("owner").await;
        let reader = app.new_browser();
        let asked = reader
            .post_raw(
                "/newsletter",
                &[("email", "Reader@Example.com"), ("author", "")],
            )
            .await;
        asked.assert_status(200);
        assert!(asked.contains("Check your inbox"), "{}", asked.body);
        assert_eq!(
            state_of(&app, "reader@example.com").await.as_deref(),
            Some("pending")
        );

        // The same answer for a bot (the hidden field filled), which gets
        // nothing, and a clear one for an address that is not one.
        let bot = reader
            .post_raw(
                "/newsletter",
                &[
                    ("email", "bot@example.com"),
                    ("website", "http://spam.example"),
                ],
            )
            .await;
        bot.assert_status(200);
        assert_eq!(bot.texts("[role=status]"), asked.texts("[role=status]"));
        assert_eq!(state_of(&app, "bot@example.com").await, None);
        let bad = reader
            .post_raw("/newsletter", &[("email", "not an address")])
            .await;
        bad.assert_status(422);
        assert!(bad.contains("is not a valid email address"), "{}", bad.body);

        // Nothing is sent before the address confirms.
        publish_emailed(&app, "Too early", "Before confirming.").await;
        assert!(
            app.outbox
                .to("reader@example.com")
                .await
                .iter()
                .all(|e| e.subject != "Too early")
        );

        // The link opens a page whose button confirms (a scanner opening the
        // link confirms nothing).
        let link = app
            .outbox
            .link("reader@example.com", "/newsletter/confirm/")
            .await;
        let page = reader.get(&link).await;
        page.assert_status(200);
        assert!(page.contains("Yes, subscribe"));
        assert_eq!(
            state_of(&app, "reader@example.com").await.as_deref(),
            Some("pending")
        );
        reader.post_raw(&link, &[]).await.assert_status(200);
        assert_eq!(
            state_of(&app, "reader@example.com").await.as_deref(),
            Some("confirmed")
        );
        // Asking again changes nothing and says the same.
        let again = reader
            .post_raw("/newsletter", &[("email", "reader@example.com")])
            .await;
        assert_eq!(again.texts("[role=status]"), asked.texts("[role=status]"));

        // A post the author chose to email comes whole: rendered, its code
        // highlighted, its Markdown as the plain text, with a one-click way out.
        publish_emailed(
            &app,
            "Letter one",
            "Hello **readers**.\n\n![A cat](/media/none.png)\n\n```rust\nfn main() {}\n```",
        )
        .await;
        app.publish("Quiet one", "Not emailed.", "").await;
        let emails = app.outbox.to("reader@example.com").await;
        let letter = emails
            .iter()
            .find(|e| e.subject == "Letter one")
            .expect("the post was emailed");
        assert!(
            letter.html.contains("<strong>readers</strong>"),
            "{}",
            letter.html
        );
        assert!(letter.html.contains("hl-"), "code is highlighted");
        assert!(
            letter.text.contains("Hello **readers**."),
            "{}",
            letter.text
        );
        assert!(emails.iter().all(|e| e.subject != "Quiet one"));
        assert_eq!(
            letter.list_unsubscribe_post.as_deref(),
            Some("List-Unsubscribe=One-Click")
        );
        let unsubscribe = letter
            .list_unsubscribe
            .as_deref()
            .unwrap()
            .trim_matches(['<', '>'])
            .to_owned();
        assert!(letter.text.contains(&unsubscribe));

        // The manage page, reached from the email without an account.
        let manage = app
            .outbox
            .link("reader@example.com", "/newsletter/manage/")
            .await;
        let page = app.new_browser().get(&manage).await;
        page.assert_status(200);
        assert!(page.contains("reader@example.com"));

        // A mail client's one-click unsubscribe: a bare POST.
        let response = reqwest::Client::new()
            .post(&unsubscribe)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            state_of(&app, "reader@example.com").await.as_deref(),
            Some("unsubscribed")
        );
        publish_emailed(&app, "Letter two", "After leaving.").await;
        assert!(
            app.outbox
                .to("reader@example.com")
                .await
                .iter()
                .all(|e| e.subject != "Letter two")
        );
        // A forged link is no link.
        let forged = format!("{}x", unsubscribe.trim_end_matches('/'));
        let response = reqwest::Client::new().post(&forged).send().await.unwrap();
        assert_eq!(response.status(), 404);
    }
);

backend_test!(a_scheduled_post_is_emailed_at_its_time_and_once, |app| {
    app.register("owner").await;
    let email = quire::features::accounts::domain::Email::parse("early@example.com").unwrap();
    quire::features::newsletter::subscribers::request(
        &app.app,
        &email,
        quire::features::newsletter::subscribers::Audience::Blog,
        quire::features::newsletter::subscribers::Consent::Imported("test".into()),
    )
    .await
    .unwrap();
    let later = Timestamp::now() + time::Duration::hours(1);
    let page = app
        .post(
            "/editor",
            &[
                ("title", "Tomorrow's letter"),
                ("body", "Scheduled."),
                ("tags", ""),
                ("email_subscribers", "on"),
                ("publish_at", &later.to_string()[..16]),
                ("action", "publish"),
            ],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let subject = |emails: &[crate::helpers::Received]| {
        emails
            .iter()
            .filter(|e| e.subject == "Tomorrow's letter")
            .count()
    };
    assert_eq!(subject(&app.outbox.to("early@example.com").await), 0);
    // Its time comes (brought forward): the post's, its event's and the
    // event's job's.
    let now = Timestamp::now();
    for sql in [
        "UPDATE posts SET published_at = $1",
        "UPDATE events SET occurs_at = $1 WHERE kind = 'post_published'",
        "UPDATE jobs SET run_at = $1 WHERE state = 'queued'",
    ] {
        query(sql).bind(now).execute(&app.db).await.unwrap();
    }
    assert_eq!(subject(&app.outbox.to("early@example.com").await), 1);
    // Another going-live of the same post (a new time) sends nothing more.
    let send: i64 = query("SELECT COUNT(*) FROM newsletter_sends")
        .scalar(&app.db)
        .await
        .unwrap();
    assert_eq!(send, 1);
});

/// `count` confirmed subscribers of the whole blog, written straight in.
async fn subscribers(app: &TestApp, count: usize) -> Vec<String> {
    let now = Timestamp::now();
    let mut emails = Vec::new();
    for i in 0..count {
        let email = format!("reader{i:04}@example.com");
        let id: i64 = query(
            "INSERT INTO subscribers (email, state, consent, created_at, confirmed_at)
             VALUES ($1, 'confirmed', 'test', $2, $2) RETURNING id",
        )
        .bind(&email)
        .bind(now)
        .scalar(&app.db)
        .await
        .unwrap();
        query("INSERT INTO subscriptions (subscriber_id, author_id, created_at) VALUES ($1, NULL, $2)")
            .bind(id)
            .bind(now)
            .execute(&app.db)
            .await
            .unwrap();
        emails.push(email);
    }
    emails
}

async fn deliveries(app: &TestApp) -> BTreeMap<String, i64> {
    let rows: Vec<(String, i64)> =
        query("SELECT state, COUNT(*) FROM newsletter_deliveries GROUP BY state")
            .fetch_all(&app.db)
            .await
            .unwrap();
    rows.into_iter().collect()
}

/// A `quire worker` process sending through `sink`, with more settings.
fn worker(
    app: &TestApp,
    sink: &SmtpSink,
    dir: &std::path::Path,
    env: &[(&str, &str)],
) -> QuireProcess {
    let (smtp, public) = (sink.url(), app.base.to_string());
    let mut settings = vec![
        ("QUIRE_SMTP_URL", smtp.as_str()),
        ("QUIRE_PUBLIC_URL", public.as_str()),
    ];
    settings.extend_from_slice(env);
    QuireProcess::start(&["worker"], &app.database_url, dir, &settings)
}

/// The deliveries by state once `done` holds of them (at most 10 s).
async fn deliveries_when(
    app: &TestApp,
    done: impl Fn(&BTreeMap<String, i64>) -> bool,
) -> BTreeMap<String, i64> {
    let mut states = BTreeMap::new();
    for _ in 0..100 {
        states = deliveries(app).await;
        if done(&states) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    states
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_subscribers_get_a_post_once_though_the_worker_is_killed() {
    for backend in backends() {
        let Some(sink) = SmtpSink::start() else {
            return;
        };
        let Some(app) = TestApp::try_spawn(backend).await else {
            continue;
        };
        app.register("owner").await;
        let expected = subscribers(&app, 1000).await;
        publish_emailed(&app, "To everyone", "One thousand readers.").await;

        let dir = tempfile::tempdir().unwrap();
        let env = [
            ("QUIRE_JOB_LEASE", "2s"),
            ("QUIRE_NEWSLETTER_RATE", "0"),
            ("QUIRE_NEWSLETTER_BATCH", "100"),
        ];
        let first = worker(&app, &sink, dir.path(), &env);
        // Killed in the middle: while the server holds a recipient.
        sink.wait_for(300).await;
        sink.set_delay(30.0);
        tokio::time::sleep(Duration::from_millis(700)).await;
        first.signal("KILL");
        drop(first);
        let before = sink.received().len();
        assert!(before < 1000, "{backend:?}: the kill came too late");
        sink.set_delay(0.0);
        let _second = worker(&app, &sink, dir.path(), &env);
        let received = sink.wait_for(1000).await;
        // Whatever is still to come would come now.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let received = if sink.received().len() > received.len() {
            sink.received()
        } else {
            received
        };
        let mut to: Vec<String> = received
            .iter()
            .filter(|e| e.subject == "To everyone")
            .map(|e| e.to.clone())
            .collect();
        to.sort();
        assert_eq!(to.len(), 1000, "{backend:?}: each once, none twice");
        assert_eq!(to, expected, "{backend:?}");
        let states = deliveries_when(&app, |s| s.get("sent") == Some(&1000)).await;
        assert_eq!(
            states,
            BTreeMap::from([("sent".to_owned(), 1000)]),
            "{backend:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_retried_or_bounce_and_the_rate_holds() {
    for backend in backends() {
        let Some(sink) = SmtpSink::start() else {
            return;
        };
        let Some(app) = TestApp::try_spawn(backend).await else {
            continue;
        };
        app.register("owner").await;
        let emails = subscribers(&app, 12).await;
        sink.refuse(&[(&emails[3], 451, Some(1)), (&emails[7], 550, None)]);
        publish_emailed(&app, "Paced", "Five a second.").await;
        let dir = tempfile::tempdir().unwrap();
        let env = [
            ("QUIRE_NEWSLETTER_RATE", "5"),
            ("QUIRE_NEWSLETTER_BATCH", "4"),
        ];
        let _worker = worker(&app, &sink, dir.path(), &env);
        // The owner's welcome email goes too.
        let received = sink.wait_for(11).await;
        // The rate, from the SMTP server's clock: any six in a row span
        // about a second at least (five a second, some slack for each
        // exchange's own time).
        let times: Vec<f64> = received
            .iter()
            .filter(|e| e.subject == "Paced")
            .map(|e| e.received_at)
            .collect();
        assert_eq!(times.len(), 10, "{backend:?}");
        for window in times.windows(6) {
            assert!(
                window[5] - window[0] >= 0.9,
                "{backend:?}: more than 5 a second: {times:?}"
            );
        }
        // The 5xx bounced; the 4xx waits for its retry, brought forward.
        let states = deliveries_when(&app, |s| {
            s.get("pending") == Some(&1) && s.get("bounced") == Some(&1)
        })
        .await;
        assert_eq!(
            states,
            BTreeMap::from([
                ("bounced".to_owned(), 1),
                ("pending".to_owned(), 1),
                ("sent".to_owned(), 10)
            ]),
            "{backend:?}"
        );
        assert_eq!(
            state_of(&app, &emails[7]).await.as_deref(),
            Some("bouncing")
        );
        query("UPDATE newsletter_deliveries SET retry_at = $1 WHERE state = 'pending'")
            .bind(Timestamp::now())
            .execute(&app.db)
            .await
            .unwrap();
        query("UPDATE jobs SET run_at = $1 WHERE state = 'queued'")
            .bind(Timestamp::now())
            .execute(&app.db)
            .await
            .unwrap();
        let received = sink.wait_for(12).await;
        assert_eq!(
            received.iter().filter(|e| e.to == emails[3]).count(),
            1,
            "{backend:?}: the 4xx was sent on its retry"
        );
        for _ in 0..100 {
            let finished: Option<Option<Timestamp>> =
                query("SELECT finished_at FROM newsletter_sends")
                    .scalar_optional(&app.db)
                    .await
                    .unwrap();
            if finished.flatten().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            deliveries(&app).await,
            BTreeMap::from([("bounced".to_owned(), 1), ("sent".to_owned(), 11)]),
            "{backend:?}"
        );
    }
}

backend_test!(
    the_api_asks_as_the_form_and_the_owner_imports_exports_and_follows_sends,
    |app| {
        app.register("owner").await;
        // The API's request: the same double opt-in, the same answer.
        let (status, body) = app
            .api(
                reqwest::Method::POST,
                "/api/newsletter/subscriptions",
                None,
                Some(serde_json::json!({"subscription": {"email": "api@example.com"}})),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["status"], "confirm");
        assert_eq!(
            state_of(&app, "api@example.com").await.as_deref(),
            Some("pending")
        );
        let (status, body) = app
            .api(
                reqwest::Method::POST,
                "/api/newsletter/subscriptions",
                None,
                Some(serde_json::json!({"subscription": {"email": "nope", "author": "nobody"}})),
            )
            .await;
        assert_eq!(status, 422);
        assert!(body["errors"]["email"].is_array(), "{body}");
        assert!(body["errors"]["author"].is_array(), "{body}");

        // An import needs its consent said; then every address is confirmed,
        // the note kept with it.
        let refused = app
            .post(
                "/admin/newsletter/import",
                &[
                    ("addresses", "a@example.com\nb@example.com"),
                    ("consent", ""),
                ],
            )
            .await;
        refused.assert_status(422);
        assert_eq!(
            refused.texts(".field-errors li"),
            ["Consent can't be blank"]
        );
        let page = app
            .post(
                "/admin/newsletter/import",
                &[
                    ("addresses", "email,state\na@example.com,x\nB@example.com"),
                    ("consent", "signed up at a talk"),
                ],
            )
            .await;
        page.assert_status(200);
        assert!(page.contains("Imported 2 addresses."), "{}", page.body);
        assert_eq!(
            state_of(&app, "b@example.com").await.as_deref(),
            Some("confirmed")
        );
        let csv = app.get("/admin/newsletter/subscribers.csv").await;
        csv.assert_status(200);
        assert!(
            csv.body
                .contains("a@example.com,confirmed,blog,import: signed up at a talk,"),
            "{}",
            csv.body
        );

        // A send's progress, and a test send to oneself.
        publish_emailed(&app, "Counted", "Two readers.").await;
        app.outbox.deliver().await;
        let page = app.get("/admin/newsletter").await;
        assert!(
            page.contains("2 delivered, 0 bounced, 0 failed of 2"),
            "{}",
            page.body
        );
        let post_id: i64 = query("SELECT id FROM posts WHERE title = 'Counted'")
            .scalar(&app.db)
            .await
            .unwrap();
        app.post(
            "/admin/newsletter/test",
            &[("post_id", &post_id.to_string())],
        )
        .await
        .assert_status(200);
        assert!(
            app.outbox
                .to("owner@example.com")
                .await
                .iter()
                .any(|e| e.subject == "Counted")
        );

        // Members see none of it.
        let member = app.new_browser();
        member.register("member").await;
        member.get("/admin/newsletter").await.assert_status(403);
    }
);
