//! The database layer under adverse conditions.

use crate::backend_test;

backend_test!(the_pool_recovers_from_dropped_connections, |app| {
    app.register("owner").await;
    let slug = app.publish("Survivor", "still here", "").await;
    if app.backend == Backend::Postgres {
        // What a server restart or an idle-killing proxy does to a pool:
        // every connection the app holds is closed under it.
        let admin = sqlx::PgPool::connect(&crate::helpers::postgres_admin_url().unwrap())
            .await
            .unwrap();
        let name: String = quire::db::query("SELECT current_database()")
            .scalar(&app.db)
            .await
            .unwrap();
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
        )
        .bind(&name)
        .fetch_all(&admin)
        .await
        .unwrap();
        assert!(!killed.is_empty(), "the app held connections");
        admin.close().await;
    }
    for _ in 0..5 {
        let page = app.get(&format!("/posts/{slug}")).await;
        page.assert_status(200);
    }
    app.publish("After", "the storm", "").await;
});

backend_test!(each_known_unique_violation_is_recognised, |app| {
    use quire::db::{Unique, query, unique_violation};
    app.register("owner").await;
    let slug = app.publish("Only once", "x", "").await;
    let now = quire::db::Timestamp::now();
    let user = |username: &str, email: &str, role: &str| {
        query(
            "INSERT INTO users (username, username_key, email, password_hash, role, created_at, updated_at)
             VALUES ($1, $5, $2, 'x', $3, $4, $4)",
        )
        .bind(username.to_owned())
        .bind(email.to_owned())
        .bind(role.to_owned())
        .bind(now)
        .bind(username.to_lowercase())
    };
    let cases = [
        (user("owner", "new@example.com", "member"), Some(Unique::Username)),
        // The same name in another case: its key is taken.
        (user("OWNER", "new@example.com", "member"), Some(Unique::Username)),
        (user("new", "owner@example.com", "member"), Some(Unique::Email)),
        (user("new", "new@example.com", "owner"), Some(Unique::SingleOwner)),
        (
            query(
                "INSERT INTO posts (author_id, slug, title, description, body, status, created_at, updated_at)
                 SELECT author_id, slug, 't', '', 'b', 'draft', $2, $2 FROM posts WHERE slug = $1",
            )
            .bind(slug.clone())
            .bind(now),
            Some(Unique::PostSlug),
        ),
        (
            query(
                "INSERT INTO pages (slug, title, body, position, created_at, updated_at)
                 VALUES ('twice', 't', 'b', 0, $1, $1), ('twice', 't', 'b', 1, $1, $1)",
            )
            .bind(now),
            Some(Unique::PageSlug),
        ),
        // A unique constraint no feature answers for.
        (
            query("INSERT INTO tags (name) VALUES ('twice'), ('twice')"),
            None,
        ),
    ];
    for (insert, expected) in cases {
        let sql = insert.sql().to_owned();
        let error = insert.execute(&app.db).await.expect_err(&sql);
        assert!(
            error
                .as_database_error()
                .is_some_and(|e| e.is_unique_violation()),
            "{sql}: {error}"
        );
        assert_eq!(unique_violation(&error), expected, "{sql}: {error}");
    }
});

/// A TCP proxy on loopback in front of PostgreSQL that can take it away
/// as a restart or a failover does: every open connection cut, new ones
/// refused, until it is put back on the same port.
struct Outage {
    port: u16,
    up: tokio::sync::watch::Sender<bool>,
}

impl Outage {
    async fn start(upstream: std::net::SocketAddr) -> Self {
        let first = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = first.local_addr().unwrap().port();
        let (up, state) = tokio::sync::watch::channel(true);
        tokio::spawn(Self::serve(Some(first), port, upstream, state));
        Self { port, up }
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }

    async fn serve(
        mut listener: Option<tokio::net::TcpListener>,
        port: u16,
        upstream: std::net::SocketAddr,
        mut state: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            // Down: no listener at all, so connecting is refused.
            while !*state.borrow_and_update() {
                if state.changed().await.is_err() {
                    return;
                }
            }
            let listening = match listener.take() {
                Some(listener) => listener,
                None => {
                    let socket = tokio::net::TcpSocket::new_v4().unwrap();
                    socket.set_reuseaddr(true).unwrap();
                    socket.bind(([127, 0, 0, 1], port).into()).unwrap();
                    socket.listen(1024).unwrap()
                }
            };
            loop {
                tokio::select! {
                    accepted = listening.accept() => {
                        let Ok((mut client, _)) = accepted else { continue };
                        let mut state = state.clone();
                        tokio::spawn(async move {
                            let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                                return;
                            };
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                                _ = state.wait_for(|up| !up) => {}
                            }
                        });
                    }
                    changed = state.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        if !*state.borrow() {
                            break;
                        }
                    }
                }
            }
        }
    }
}

/// PostgreSQL gone for two seconds under a steady load of visits: while it
/// is away, requests are answered 503 with Retry-After at once (not after
/// the pool's ten-second acquire timeout, and never 500); when it is back
/// the same process serves again; and every visit acknowledged is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_answers_503_at_once_and_loses_no_acknowledged_visit() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
    let Some((dir, direct, _database)) = crate::helpers::postgres_only().await else {
        return;
    };
    let mut url = url::Url::parse(&direct).unwrap();
    let upstream = tokio::net::lookup_host((
        url.host_str().unwrap().to_owned(),
        url.port().unwrap_or(5432),
    ))
    .await
    .unwrap()
    .next()
    .unwrap();
    let outage = Outage::start(upstream).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(outage.port)).unwrap();
    let server =
        crate::helpers::QuireProcess::start(&["serve", "--migrate"], url.as_str(), dir.path(), &[]);
    server.wait_until_up().await;

    // (status, seconds it took, sent during the outage) of every visit.
    let answers = Arc::new(Mutex::new(Vec::<(u16, f64, bool)>::new()));
    let down = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::new();
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (client, base, answers, down, stop) = (
                client.clone(),
                server.base.clone(),
                answers.clone(),
                down.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(SeqCst) {
                    let sent = Instant::now();
                    let during = down.load(SeqCst);
                    let response = client
                        .post(format!("{base}/api/visitors/steady/visits"))
                        .send()
                        .await
                        .unwrap();
                    let status = response.status().as_u16();
                    if status == 503 {
                        assert!(
                            response.headers().contains_key("retry-after"),
                            "a 503 says when to retry"
                        );
                    }
                    answers
                        .lock()
                        .unwrap()
                        .push((status, sent.elapsed().as_secs_f64(), during));
                    if status == 503 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            })
        })
        .collect();
    // Until this many more visits are counted (at most 30 s: a busy machine).
    let counted = |more: usize| {
        let answers = answers.clone();
        async move {
            let goal = answers
                .lock()
                .unwrap()
                .iter()
                .filter(|a| a.0 == 200)
                .count()
                + more;
            let deadline = Instant::now() + Duration::from_secs(30);
            while answers
                .lock()
                .unwrap()
                .iter()
                .filter(|a| a.0 == 200)
                .count()
                < goal
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    counted(100).await;
    down.store(true, SeqCst);
    outage.set_up(false);
    tokio::time::sleep(Duration::from_secs(2)).await;
    outage.set_up(true);
    down.store(false, SeqCst);
    counted(200).await;
    stop.store(true, SeqCst);
    for task in load {
        task.await.unwrap();
    }

    let answers = answers.lock().unwrap().clone();
    let count = |f: &dyn Fn(&(u16, f64, bool)) -> bool| answers.iter().filter(|a| f(a)).count();
    let acknowledged = count(&|a| a.0 == 200);
    let mut statuses = std::collections::BTreeMap::<(u16, bool), usize>::new();
    for answer in &answers {
        *statuses.entry((answer.0, answer.2)).or_default() += 1;
    }
    // (status, during the outage) → how many
    assert!(
        count(&|a| a.0 == 200 && !a.2) > 0,
        "visits counted before: {statuses:?}"
    );
    assert!(
        count(&|a| a.0 == 503 && a.2) > 0,
        "visits refused during: {statuses:?}"
    );
    let others: Vec<_> = answers
        .iter()
        .filter(|a| a.0 != 200 && a.0 != 503)
        .collect();
    assert!(others.is_empty(), "only 200 or 503: {others:?}");
    // Fast: no visit waited out the pool's acquire timeout.
    let slowest = answers.iter().map(|a| a.1).fold(0.0, f64::max);
    assert!(slowest < 3.0, "the slowest answer took {slowest:.1} s");
    // Back without a restart: the last visits of the run were all counted.
    let tail = &answers[answers.len().saturating_sub(20)..];
    assert!(
        tail.iter().all(|a| a.0 == 200),
        "served again after the outage: {tail:?}"
    );

    let db = quire::db::Db::connect(&direct, quire::db::PoolSize(1), None)
        .await
        .unwrap();
    let stored: i64 = quire::db::query("SELECT visits FROM visitors WHERE username = 'steady'")
        .scalar(&db)
        .await
        .unwrap();
    db.close().await;
    assert!(
        stored >= acknowledged as i64 && stored <= answers.len() as i64,
        "stored {stored}, acknowledged {acknowledged}, sent {}",
        answers.len()
    );
}

/// SQLite on a disk that fills up (a file size limit, which needs no
/// privileges: writes past it fail as on a full disk): writes get a 503
/// that says the storage is full, nothing half-written, reading goes on,
/// and once there is room again the same process writes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_clearly_and_corrupts_nothing() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("quire.db").display());
    // A process over its file size limit is killed by SIGXFSZ unless it
    // ignores it; ignored, the write fails (EFBIG) as on a full disk.
    let mut command = std::process::Command::new("sh");
    let quire = crate::helpers::quire_command();
    let port = crate::helpers::free_port();
    command
        .args(["-c", "trap '' XFSZ; exec \"$0\" \"$@\""])
        .arg(quire.get_program())
        .args(["serve", "--migrate"])
        .envs(quire.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env("QUIRE_DATABASE_URL", &url)
        .env("QUIRE_DATA_DIR", dir.path())
        .env("QUIRE_SECRET_KEY", crate::helpers::TEST_SECRET)
        .env("QUIRE_BIND", format!("127.0.0.1:{port}"))
        .env("QUIRE_RATE_LIMITS", "off")
        .stdout(std::process::Stdio::null());
    let server = crate::helpers::QuireProcess {
        child: command.spawn().unwrap(),
        base: format!("http://127.0.0.1:{port}"),
    };
    server.wait_until_up().await;
    let browser = crate::helpers::Browser::new(url::Url::parse(&server.base).unwrap());
    let token = browser.api_register("writer").await;
    let article = |title: &str| serde_json::json!({"article": {"title": title, "description": "d", "body": "b", "tagList": []}});
    let (status, _) = browser
        .api(
            Method::POST,
            "/api/articles",
            Some(&token),
            Some(article("Before")),
        )
        .await;
    assert_eq!(status, 201);

    let limit = |size: &str| {
        let set = std::process::Command::new("prlimit")
            .args([
                "--pid",
                &server.child.id().to_string(),
                &format!("--fsize={size}"),
            ])
            .status()
            .expect("prlimit (util-linux) runs");
        assert!(set.success(), "prlimit --fsize={size}");
    };
    limit("4096:unlimited");
    let (status, body) = browser
        .api(
            Method::POST,
            "/api/articles",
            Some(&token),
            Some(article("During")),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(body.to_string().contains("storage is full"), "{body}");
    let visit = browser
        .client
        .post(format!("{}/api/visitors/someone/visits", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(visit.status(), 503);
    let page = browser.get("/posts/before").await;
    page.assert_status(200);

    limit("unlimited:unlimited");
    crate::helpers::eventually("writes succeed again", || async {
        let (status, _) = browser
            .api(
                Method::POST,
                "/api/articles",
                Some(&token),
                Some(article("After")),
            )
            .await;
        status == 201
    })
    .await;
    server.signal("TERM");
    assert!(server.exit_status().await.success());

    let db = quire::db::Db::connect(&url, quire::db::PoolSize(1), None)
        .await
        .unwrap();
    let integrity: String = quire::db::query("PRAGMA integrity_check")
        .scalar(&db)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    let titles: Vec<String> = quire::db::query("SELECT title FROM posts ORDER BY id")
        .scalars(&db)
        .await
        .unwrap();
    assert_eq!(titles, ["Before", "After"]);
    db.close().await;
}

backend_test!(
    a_transaction_that_reads_then_writes_survives_a_commit_in_between,
    |app| {
        use quire::db::query;
        app.register("owner").await;
        let mut tx = app.db.begin().await.unwrap();
        let users: i64 = query("SELECT COUNT(*) FROM users")
            .scalar(&mut tx)
            .await
            .unwrap();
        assert_eq!(users, 1);
        // Another connection (a request, the worker) writes meanwhile. On SQLite
        // with a deferred BEGIN it commits here, and the transaction's write
        // below then fails at once with "database is locked"; with the write
        // lock taken at BEGIN it waits for the transaction instead.
        let db = app.db.clone();
        let mut other = tokio::spawn(async move {
            query("UPDATE users SET bio = 'written elsewhere'")
                .execute(&db)
                .await
        });
        let early = tokio::time::timeout(std::time::Duration::from_millis(300), &mut other)
            .await
            .ok();
        query("UPDATE users SET image = 'https://example.com/a.png'")
            .execute(&mut tx)
            .await
            .expect("a write after a read in a transaction is not refused");
        tx.commit().await.unwrap();
        let other = match early {
            Some(done) => done,
            None => other.await,
        };
        assert_eq!(other.unwrap().unwrap(), 1, "the other write landed too");
    }
);
