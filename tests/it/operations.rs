//! Running it in production: health and readiness, request ids, maintenance
//! mode, the drain on SIGTERM, and the operator's commands.

use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::backend_test;
use crate::helpers::{
    Backend, QuireProcess, TEST_SECRET, backends, eventually, free_port, fresh_database_url,
    quire_command, run_quire,
};

backend_test!(health_and_readiness_say_what_is_wrong, |app| {
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(app.url(path)).send();
    let live = get("/healthz").await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    assert_eq!(
        live.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );
    let ready = get("/readyz").await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["status"],
        "ready"
    );

    // A database behind this version's migrations is not ready, and says why.
    app.db.migrate_down(1).await.unwrap();
    let ready = get("/readyz").await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert!(
        body["reason"].as_str().unwrap().contains("pending"),
        "{body}"
    );
    assert_eq!(
        get("/healthz").await.unwrap().status(),
        StatusCode::OK,
        "still alive"
    );
    app.db
        .migrate_up(quire::assembly::MIGRATION_STEPS)
        .await
        .unwrap();
});

backend_test!(every_response_carries_a_request_id, |app| {
    let client = reqwest::Client::new();
    let id_of = |response: &reqwest::Response| {
        response
            .headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let made = client.get(app.url("/")).send().await.unwrap();
    let made = id_of(&made).expect("an id is made");
    assert!(made.len() >= 16, "{made}");
    let kept = client
        .get(app.url("/api/tags"))
        .header("x-request-id", "lb-7f3a.42")
        .send()
        .await
        .unwrap();
    assert_eq!(id_of(&kept).as_deref(), Some("lb-7f3a.42"));
    let replaced = client
        .get(app.url("/"))
        .header("x-request-id", "no spaces <allowed>")
        .send()
        .await
        .unwrap();
    let replaced = id_of(&replaced).unwrap();
    assert_ne!(replaced, "no spaces <allowed>");
});

backend_test!(maintenance_mode_turns_visitors_away_but_not_admins, |app| {
    app.register("owner").await.assert_status(303);
    let slug = app.publish("Hello", "Still here.", "").await;
    let member = app.new_browser();
    member.register("member").await.assert_status(303);
    let visitor = app.new_browser();

    quire::maintenance::turn_on(&app.db, Some("Moving to a bigger server."))
        .await
        .unwrap();
    eventually("visitors see the maintenance page", || async {
        visitor.get("/").await.status == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    let page = visitor.get(&format!("/posts/{slug}")).await;
    page.assert_status(503);
    assert!(page.contains("Moving to a bigger server."));
    assert_eq!(page.headers["retry-after"], "300");
    member.get("/").await.assert_status(503);
    let (status, body) = visitor
        .api(reqwest::Method::GET, "/api/articles", None, None)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body["errors"]["maintenance"][0],
        "Moving to a bigger server."
    );
    // Administrators keep the whole site; anyone can reach the sign-in page.
    app.get(&format!("/posts/{slug}")).await.assert_status(200);
    app.get("/admin/jobs").await.assert_status(200);
    visitor.get("/login").await.assert_status(200);
    // Health checks are not maintenance's business.
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    quire::maintenance::turn_off(&app.db).await.unwrap();
    eventually("visitors are back", || async {
        visitor.get("/").await.status == StatusCode::OK
    })
    .await;
    let (status, _) = visitor
        .api(reqwest::Method::GET, "/api/articles", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_then_exits_cleanly_and_healthcheck_follows() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let env = [
        ("QUIRE_DATA_DIR", data_dir.as_str()),
        ("QUIRE_BIND", bind.as_str()),
    ];
    let mut server = quire_command();
    server
        .args(["serve"])
        .env("QUIRE_SHUTDOWN_DRAIN", "1500ms")
        .stdout(Stdio::null());
    for (key, value) in env {
        server.env(key, value);
    }
    let mut server = server.spawn().unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://{bind}");
    eventually("the server comes up", || async {
        client.get(format!("{base}/healthz")).send().await.is_ok()
    })
    .await;
    let (ok, said) = run_quire(&["healthcheck"], &env);
    assert!(ok, "{said}");
    assert!(said.contains("ready"), "{said}");

    let signalled = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Draining: not ready, but still serving.
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap()["status"],
        "draining"
    );
    assert_eq!(
        client
            .get(format!("{base}/"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let (ok, said) = run_quire(&["healthcheck", "--url", &base], &[]);
    assert!(!ok, "draining is not ready: {said}");
    let exit = tokio::task::spawn_blocking(move || server.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(
        signalled.elapsed() >= Duration::from_millis(1500),
        "served through the drain"
    );
    let (ok, said) = run_quire(&["healthcheck"], &env);
    assert!(!ok && said.contains("does not answer"), "{said}");
}

#[tokio::test]
async fn maintenance_commands_switch_every_backend() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let (url, _database) = fresh_database_url(backend, dir.path()).await.unwrap();
        let env = [
            ("QUIRE_DATABASE_URL", url.as_str()),
            ("QUIRE_SECRET_KEY", TEST_SECRET),
        ];
        assert!(run_quire(&["migrate", "up"], &env).0);
        let (ok, said) = run_quire(&["maintenance", "status"], &env);
        assert!(ok && said.starts_with("off"), "{said}");
        let (ok, said) = run_quire(&["maintenance", "on", "--message", "Back at noon"], &env);
        assert!(ok && said.contains("on: Back at noon"), "{said}");
        let (ok, said) = run_quire(&["maintenance", "status"], &env);
        assert!(
            ok && said.starts_with("on since") && said.contains("Back at noon"),
            "{said}"
        );
        assert!(run_quire(&["maintenance", "off"], &env).0);
        assert!(
            run_quire(&["maintenance", "status"], &env)
                .1
                .starts_with("off")
        );
    }
}

#[test]
fn check_deploy_fails_on_what_is_unsafe_and_passes_a_sound_setup() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    assert!(run_quire(&["migrate", "up"], &[("QUIRE_DATA_DIR", &data_dir)]).0);
    let (ok, said) = run_quire(
        &["check", "--deploy"],
        &[
            ("QUIRE_DATA_DIR", &data_dir),
            ("QUIRE_PUBLIC_URL", "http://blog.example.com"),
            ("QUIRE_REPLICAS", "3"),
        ],
    );
    assert!(!ok, "{said}");
    assert!(
        said.contains("error: QUIRE_PUBLIC_URL is http://blog.example.com/"),
        "{said}"
    );
    assert!(
        said.contains("error: QUIRE_REPLICAS is 3 but the database is SQLite"),
        "{said}"
    );
    assert!(said.contains("warning: QUIRE_SMTP_URL is unset"), "{said}");
    assert!(said.contains("unsafe for production"), "{said}");

    let (ok, said) = run_quire(
        &["check", "--deploy"],
        &[
            ("QUIRE_DATA_DIR", &data_dir),
            ("QUIRE_PUBLIC_URL", "https://blog.example.com"),
            ("QUIRE_SECRET_KEY", TEST_SECRET),
        ],
    );
    assert!(ok, "warnings only: {said}");
    assert!(said.contains("warning: QUIRE_SMTP_URL is unset"), "{said}");
    assert!(!said.contains("error:"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_is_one_json_log_line_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let bind = format!("127.0.0.1:{}", free_port());
    let mut server = quire_command()
        .args(["serve"])
        // Traced, so that the line names its trace; nothing listens there,
        // which must not disturb the site.
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{}", free_port()),
        )
        .env("QUIRE_DATA_DIR", dir.path())
        .env("QUIRE_BIND", &bind)
        .env("QUIRE_LOG_FORMAT", "json")
        .env("QUIRE_SHUTDOWN_DRAIN", "0s")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let browser =
        crate::helpers::Browser::new(reqwest::Url::parse(&format!("http://{bind}/")).unwrap());
    eventually("the server comes up", || async {
        reqwest::get(format!("http://{bind}/healthz")).await.is_ok()
    })
    .await;
    browser.register("logger").await.assert_status(303);
    let with_id = browser
        .client
        .get(browser.url("/posts/no-such-post"))
        .header("x-request-id", "trace-me-42")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(with_id.status(), StatusCode::NOT_FOUND);
    let forgot = browser
        .post("/password/forgot", &[("email", "logger@example.com")])
        .await;
    forgot.assert_status(200);
    std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        server.wait().unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(server.stderr.as_mut().unwrap(), &mut text).unwrap();
        text
    })
    .await
    .unwrap();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let request = lines
        .iter()
        .find(|l| l["message"] == "request" && l["span"]["request_id"] == "trace-me-42")
        .unwrap_or_else(|| panic!("no request line: {out}"));
    assert_eq!(request["span"]["route"], "/posts/{slug}");
    assert_eq!(request["span"]["method"], "GET");
    assert_eq!(request["status"], 404);
    assert_eq!(request["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert!(request["latency_ms"].is_number());
    assert!(
        request["user_id"].is_number(),
        "the signed-in user: {request}"
    );
    // The password and the session never reach the log; nor does the reset
    // link the job made.
    assert!(!out.contains("correct horse"), "{out}");
    let session = browser.cookie("quire_session").unwrap();
    assert!(!out.contains(&session), "{out}");
    assert!(!out.contains("password/reset/"), "{out}");
}

/// An nginx master process, stopped when dropped (the test passing or
/// failing) with SIGTERM, so that it stops its workers too: SIGKILL would
/// leave them running, orphaned, on their loopback ports.
struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// nginx from Debian's packages, found on PATH or in /usr/sbin; skipped
/// without it, except under CI (./scripts/test installs it).
fn nginx() -> Option<std::path::PathBuf> {
    let found = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "nginx is missing (Debian: apt-get install nginx-light)"
        );
        eprintln!("skipped: nginx is not installed");
    }
    found
}

/// Two replicas behind nginx under continuous load; each in turn gets
/// SIGTERM and is started again. Not one request may fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_behind_nginx_drops_no_request() {
    if crate::helpers::postgres_admin_url().is_none() {
        eprintln!("skipped: replicas share a database, and QUIRE_TEST_POSTGRES_URL is not set");
        return;
    }
    let Some(nginx) = nginx() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (url, _database) = fresh_database_url(Backend::Postgres, dir.path())
        .await
        .unwrap();
    let binds = [
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    ];
    let replica = |bind: &str, args: &[&str]| {
        QuireProcess::start(
            args,
            &url,
            dir.path(),
            &[
                ("QUIRE_BIND", bind),
                ("QUIRE_SHUTDOWN_DRAIN", "1s"),
                ("QUIRE_WORKER", "off"),
            ],
        )
    };
    let mut replicas = vec![replica(&binds[0], &["serve", "--migrate"])];
    replicas[0].wait_until_up().await;
    replicas.push(replica(&binds[1], &["serve"]));
    replicas[1].wait_until_up().await;

    // nginx retries a request on the other replica when one refuses the
    // connection or drops it (proxy_next_upstream), as a production
    // configuration would.
    let port = free_port();
    let conf = dir.path().join("nginx.conf");
    let d = dir.path().display();
    std::fs::write(
        &conf,
        format!(
            "daemon off; master_process on; worker_processes 1; user root;
             pid {d}/nginx.pid; error_log {d}/nginx-error.log warn;
             events {{ worker_connections 512; }}
             http {{
               access_log off;
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
               fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
               upstream quire {{
                 server {a} max_fails=1 fail_timeout=1s;
                 server {b} max_fails=1 fail_timeout=1s;
                 keepalive 16; keepalive_timeout 20s;
               }}
               server {{
                 listen 127.0.0.1:{port};
                 location / {{
                   proxy_pass http://quire;
                   proxy_http_version 1.1;
                   proxy_set_header Connection \"\";
                   proxy_set_header Host $host;
                   proxy_next_upstream error timeout;
                   proxy_connect_timeout 1s;
                 }}
               }}
             }}",
            a = binds[0],
            b = binds[1],
        ),
    )
    .unwrap();
    let _proxy = Nginx(
        std::process::Command::new(nginx)
            .args([
                "-p",
                &d.to_string(),
                "-c",
                &conf.display().to_string(),
                "-e",
                &format!("{d}/nginx-error.log"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let front = format!("http://127.0.0.1:{port}");
    eventually("nginx comes up", || async {
        reqwest::get(format!("{front}/healthz"))
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..8)
        .map(|i| {
            let (stop, front) = (stop.clone(), front.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let paths = ["/", "/api/articles", "/login", "/api/tags"];
                let (mut ok, mut failed) = (0u32, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let path = paths[(ok as usize + i) % paths.len()];
                    match client.get(format!("{front}{path}")).send().await {
                        Ok(r) if r.status().is_success() => ok += 1,
                        Ok(r) => failed.push(format!("{path}: {}", r.status())),
                        Err(e) => failed.push(format!("{path}: {e}")),
                    }
                }
                (ok, failed)
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(1)).await;
    for (i, bind) in binds.iter().enumerate() {
        let old = replicas.remove(i);
        old.signal("TERM");
        let status = old.exit_status().await;
        assert!(status.success(), "replica {i} exits cleanly: {status:?}");
        let new = replica(bind, &["serve"]);
        new.wait_until_up().await;
        replicas.insert(i, new);
        // nginx takes a failed replica back after fail_timeout.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut served, mut failed) = (0, Vec::new());
    for task in load {
        let (ok, errors) = task.await.unwrap();
        served += ok;
        failed.extend(errors);
    }
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}",
        failed.len(),
        served as usize + failed.len(),
        &failed[..failed.len().min(10)]
    );
    assert!(served > 500, "only {served} requests were served");
    eprintln!("rolling restart: {served} requests served through two restarts, none failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_on_their_own_address() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("quire.db").display());
    let metrics = format!("127.0.0.1:{}", free_port());
    let server = QuireProcess::start(
        &["serve"],
        &url,
        dir.path(),
        &[
            ("QUIRE_METRICS_BIND", &metrics),
            ("QUIRE_SHUTDOWN_DRAIN", "0s"),
        ],
    );
    server.wait_until_up().await;
    let browser =
        crate::helpers::Browser::new(reqwest::Url::parse(&format!("{}/", server.base)).unwrap());
    browser.register("metered").await.assert_status(303);
    browser.get("/posts/none").await.assert_status(404);
    let (status, _) = browser
        .api(
            reqwest::Method::POST,
            "/api/visitors/counted/visits",
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Not on the public address.
    browser.get("/metrics").await.assert_status(404);

    let scrape = || async {
        reqwest::get(format!("http://{metrics}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let mut text = scrape().await;
    // The welcome email's job runs in this process; wait for its outcome.
    for _ in 0..100 {
        if text.contains("quire_jobs_finished_total{kind=\"welcome_email\",outcome=\"done\"} 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        text = scrape().await;
    }
    for expected in [
        "quire_http_requests_total{method=\"GET\",route=\"/posts/{slug}\",status=\"404\"} 1",
        "quire_http_requests_total{method=\"POST\",route=\"/register\",status=\"303\"} 1",
        "quire_http_request_duration_seconds_bucket{method=\"GET\",route=\"/posts/{slug}\",status=\"404\",le=\"0.1\"}",
        "quire_http_requests_in_flight 0",
        "quire_db_pool_connections{state=\"idle\"}",
        "quire_db_pool_acquire_seconds_bucket{le=\"0.0001\"}",
        "quire_db_pool_acquire_seconds_count",
        "quire_jobs{kind=\"welcome_email\",state=\"done\"} 1",
        "quire_jobs{kind=\"reply_email\",state=\"queued\"} 0",
        "quire_jobs_finished_total{kind=\"welcome_email\",outcome=\"done\"} 1",
        "quire_visits_written_total{of=\"visitor\"} 1",
        "quire_build_info{version=\"",
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
}

/// A loopback endpoint that keeps what Sentry clients send it.
struct SentrySink {
    received: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    dsn: String,
}

impl SentrySink {
    async fn start() -> Self {
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let keep = received.clone();
        let sink = axum::Router::new().route(
            "/api/{project}/envelope/",
            axum::routing::post(move |body: axum::body::Bytes| {
                let keep = keep.clone();
                async move {
                    keep.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&body).into_owned());
                    "{}"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, sink).await.unwrap() });
        Self {
            received,
            dsn: format!("http://public@127.0.0.1:{port}/1"),
        }
    }

    /// Every envelope received so far, once one of them contains `needle`
    /// and any others sent with it have had a moment to arrive.
    async fn wait_for(&self, needle: &str) -> Vec<String> {
        eventually("the event reaches the Sentry endpoint", || async {
            self.received
                .lock()
                .unwrap()
                .iter()
                .any(|e| e.contains(needle))
        })
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.received.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_reach_sentry_with_their_request_id() {
    let sentry = SentrySink::start().await;
    // A theme whose home page does not compile: every visit is a 500.
    let dir = tempfile::tempdir().unwrap();
    let theme = dir.path().join("theme");
    std::fs::create_dir(&theme).unwrap();
    std::fs::write(theme.join("home.html"), "{% if %}").unwrap();
    let url = format!("sqlite://{}", dir.path().join("quire.db").display());
    let theme = theme.display().to_string();
    let server = QuireProcess::start(
        &["serve"],
        &url,
        dir.path(),
        &[
            ("SENTRY_DSN", &sentry.dsn),
            ("QUIRE_THEME_DIR", &theme),
            ("QUIRE_SHUTDOWN_DRAIN", "0s"),
        ],
    );
    server.wait_until_up().await;
    let response = reqwest::Client::new()
        .get(format!("{}/", server.base))
        .header("x-request-id", "sentry-trace-1")
        .header("cookie", "quire_session=not-for-sentry")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let envelopes = sentry.wait_for("sentry-trace-1").await;
    let reported: Vec<_> = envelopes
        .iter()
        .filter(|e| e.contains("sentry-trace-1"))
        .collect();
    assert_eq!(reported.len(), 1, "one event per failure: {reported:#?}");
    let envelopes = envelopes.join("\n");
    assert!(
        envelopes.contains("\"tags\":{\"request_id\":\"sentry-trace-1\"}"),
        "{envelopes}"
    );
    assert!(
        envelopes.contains("rendering a template failed"),
        "{envelopes}"
    );
    assert!(
        envelopes.contains("quire@"),
        "the release is named: {envelopes}"
    );
    assert!(
        !envelopes.contains("not-for-sentry"),
        "no cookies: {envelopes}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_reach_an_otlp_receiver_with_their_parents_and_links() {
    let Some(receiver) = crate::otlp_sink::OtlpSink::start() else {
        return;
    };
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let (url, _database) = fresh_database_url(backend, dir.path()).await.unwrap();
        let service = format!("quire-test-{backend:?}");
        let server = QuireProcess::start(
            &["serve", "--migrate"],
            &url,
            dir.path(),
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint()),
                ("OTEL_SERVICE_NAME", &service),
                // The SDK's own variable: send every 100 ms, not every 5 s.
                ("OTEL_BSP_SCHEDULE_DELAY", "100"),
                ("QUIRE_SHUTDOWN_DRAIN", "0s"),
                // Shows tower-sessions' spans too, between a page's span
                // and its queries.
                ("RUST_LOG", "info"),
            ],
        );
        server.wait_until_up().await;

        // A caller that is itself traced: the request's span continues its trace.
        let trace_id = uuid::Uuid::new_v4().simple().to_string();
        let caller_span = &uuid::Uuid::new_v4().simple().to_string()[..16];
        let response = reqwest::Client::new()
            .post(format!("{}/api/users", server.base))
            .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
            .json(&serde_json::json!({"user": {
                "username": "traced", "email": "traced@example.com", "password": "a long passphrase"
            }}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(response.status().is_success(), "{status}");

        // Signing up queues a welcome email; its job runs in its own trace.
        let ours = |s: &crate::otlp_sink::ReceivedSpan| s.service.as_deref() == Some(&service);
        let spans = receiver
            .wait_until(|spans| {
                spans
                    .iter()
                    .any(|s| ours(s) && s.name == "job welcome_email")
                    && spans.iter().any(|s| ours(s) && s.name == "POST /api/users")
            })
            .await;
        let spans: Vec<_> = spans.into_iter().filter(ours).collect();
        let request = spans.iter().find(|s| s.name == "POST /api/users").unwrap();
        assert_eq!(request.kind, "SPAN_KIND_SERVER");
        assert_eq!(
            request.trace_id, trace_id,
            "the caller's trace is continued"
        );
        assert_eq!(
            request.parent_span_id, caller_span,
            "under the caller's span"
        );
        assert_eq!(
            request.attributes["http.response.status_code"],
            serde_json::json!(status)
        );

        // Its queries are its children, named by operation and table, with
        // the statement's text but never a bound value.
        let children: Vec<_> = spans
            .iter()
            .filter(|s| s.parent_span_id == request.span_id)
            .collect();
        let insert = children
            .iter()
            .find(|s| s.name == "INSERT users")
            .unwrap_or_else(|| panic!("no INSERT users under the request: {children:#?}"));
        assert_eq!(insert.kind, "SPAN_KIND_CLIENT");
        assert_eq!(insert.trace_id, trace_id);
        let system = match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        };
        assert_eq!(insert.attributes["db.system.name"], system);
        let text = insert.attributes["db.query.text"].as_str().unwrap();
        assert!(text.starts_with("INSERT INTO users"), "{text}");
        assert!(
            spans.iter().all(
                |s| !s.attributes.values().any(|v| v.as_str().is_some_and(|v| v
                    .contains("a long passphrase")
                    || v.contains("traced@example.com")))
            ),
            "a span holds a bound value"
        );

        // The job's span starts a trace of its own, linked to the request
        // that queued it, with its own queries under it.
        let job = spans
            .iter()
            .find(|s| s.name == "job welcome_email")
            .unwrap();
        assert_eq!(job.kind, "SPAN_KIND_CONSUMER");
        assert_ne!(job.trace_id, trace_id);
        assert_eq!(job.parent_span_id, "");
        assert_eq!(
            job.links,
            vec![crate::otlp_sink::Link {
                trace_id: trace_id.clone(),
                span_id: request.span_id.clone()
            }]
        );
        assert!(
            spans
                .iter()
                .any(|s| s.parent_span_id == job.span_id && s.name.starts_with("SELECT")),
            "the job's queries are under it: {spans:#?}"
        );
        // Without a caller's trace, a request starts one.
        let response = reqwest::get(format!("{}/api/tags", server.base))
            .await
            .unwrap();
        assert!(response.status().is_success());
        let spans = receiver
            .wait_until(|spans| spans.iter().any(|s| ours(s) && s.name == "GET /api/tags"))
            .await;
        let tags = spans
            .iter()
            .find(|s| ours(s) && s.name == "GET /api/tags")
            .unwrap();
        assert_eq!(tags.parent_span_id, "");
        assert_ne!(tags.trace_id, trace_id);

        // A page: its queries find the request's span past tower-sessions'
        // span, on SQLite's worker thread as well.
        let response = reqwest::get(format!("{}/", server.base)).await.unwrap();
        assert!(response.status().is_success());
        let spans = receiver
            .wait_until(|spans| spans.iter().any(|s| ours(s) && s.name == "GET /"))
            .await;
        let home = spans.iter().find(|s| ours(s) && s.name == "GET /").unwrap();
        assert!(
            spans
                .iter()
                .any(|s| s.parent_span_id == home.span_id && s.name == "SELECT posts"),
            "the page's queries are under it: {spans:#?}"
        );
        drop(server);
    }
}

// On one thread: Sentry binds its client to the hub of the thread that
// initialises it (in the binary, the main thread, which every other thread's
// hub starts from). Here another test's thread may own that, so the server,
// its handlers and their panics stay on this test's thread.
#[tokio::test]
async fn a_panicking_handler_answers_500_and_reaches_sentry() {
    let sentry = SentrySink::start().await;
    let app = crate::helpers::TestApp::spawn(Backend::Sqlite).await;
    let config = app.settings(|s| s.telemetry.sentry_dsn = Some(sentry.dsn.parse().unwrap()));
    // Sentry's panic hook is process-wide: while this test runs, panics in
    // other tests of this binary are reported to this sink as well.
    let _sentry = quire::telemetry::init_sentry(&config.telemetry, quire::assembly::SECRET_ROUTES)
        .expect("a DSN is set");
    // And the process's own layers, on this thread, so that what they send
    // to Sentry counts too.
    let (layers, _) = quire::telemetry::layers(&config.telemetry).unwrap();
    let _layers = tracing::subscriber::set_default(tracing_subscriber::layer::SubscriberExt::with(
        tracing_subscriber::registry(),
        layers,
    ));
    let state = quire::app::App::build(config, app.db.clone()).unwrap();
    // No route of the site panics (on purpose); this one goes through the
    // same stack every route does.
    async fn boom() -> &'static str {
        panic!("the handler broke")
    }
    let routes = axum::Router::new().route("/boom", axum::routing::get(boom));
    let router = quire::http::with_operations(routes, state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let client = reqwest::Client::new();
    for id in ["panic-1", "panic-2"] {
        // An answer, not a dropped connection, and the process goes on.
        let response = client
            .get(format!("http://{addr}/boom"))
            .header("x-request-id", id)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()["x-request-id"], id);
    }
    let envelopes = sentry.wait_for("panic-2").await;
    for id in ["panic-1", "panic-2"] {
        let tagged = format!("\"request_id\":\"{id}\"");
        let events: Vec<_> = envelopes.iter().filter(|e| e.contains(&tagged)).collect();
        assert_eq!(events.len(), 1, "one event per panic: {events:#?}");
        assert!(events[0].contains("the handler broke"), "{}", events[0]);
        assert!(
            events[0].contains("\"panic\""),
            "reported as a panic: {}",
            events[0]
        );
    }
}

backend_test!(
    a_release_keeps_serving_on_the_next_releases_migrations,
    |app| {
        app.register("owner").await;
        let slug = app.publish("Before the deploy", "Still here.", "").await;
        // What the next release's migration does in a rolling deploy, run
        // while this release serves: an expand step (a new nullable column),
        // recorded as a migration this release does not know.
        quire::db::query("ALTER TABLE posts ADD COLUMN subtitle TEXT")
            .execute(&app.db)
            .await
            .unwrap();
        quire::db::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES ($1, $2, TRUE, $3, 0)",
        )
        .bind(99991231000000_i64)
        .bind("add a subtitle to posts")
        .bind(vec![0u8; 48])
        .execute(&app.db)
        .await
        .unwrap();

        let client = reqwest::Client::new();
        let ready = |base: String| {
            let client = client.clone();
            async move {
                let response = client.get(format!("{base}/readyz")).send().await.unwrap();
                (response.status(), response.text().await.unwrap())
            }
        };
        // The running replica stays in rotation and serves.
        let base = app.base.as_str().trim_end_matches('/').to_owned();
        let (status, body) = ready(base).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        app.get(&format!("/posts/{slug}")).await.assert_status(200);
        app.publish("During the deploy", "Written on the migrated schema.", "")
            .await;

        // A replica of this release that restarts meanwhile comes up, ready.
        let data_dir = tempfile::tempdir().unwrap();
        let replica = QuireProcess::start(&["serve"], &app.database_url, data_dir.path(), &[]);
        replica.wait_until_up().await;
        let (status, body) = ready(replica.base.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = client
            .get(format!("{}/posts/{slug}", replica.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
    }
);

/// Opens a connection to `base` (`http://HOST:PORT/`) and sends `bytes`.
async fn half_sent(base: &reqwest::Url, bytes: &[u8]) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = format!(
        "{}:{}",
        base.host_str().unwrap(),
        base.port_or_known_default().unwrap()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

/// What the server sends before it closes the connection, waiting at most
/// `limit`: `None` if it is still open then.
async fn until_closed(mut stream: tokio::net::TcpStream, limit: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    tokio::time::timeout(limit, stream.read_to_end(&mut answer))
        .await
        .ok()
        .map(|_| String::from_utf8_lossy(&answer).into_owned())
}

backend_test!(slow_clients_are_cut_off_and_hold_at_most_the_cap, |app| {
    let site = crate::helpers::TestApp::try_spawn_with(app.backend, |s| {
        s.http.header_timeout = Duration::from_secs(1);
        s.http.body_timeout = Duration::from_secs(1);
        s.http.max_connections = 3;
    })
    .await
    .unwrap();
    let base = site.base.clone();
    // Headers trickled, then silence; a partial header line; nothing at all.
    for start in [
        &b"GET / HTTP/1.1\r\nHost: quire\r\n"[..],
        &b"GET / HTTP/1.1\r\nHo"[..],
        &b""[..],
    ] {
        let stream = half_sent(&base, start).await;
        let closed = until_closed(stream, Duration::from_secs(10)).await;
        assert!(closed.is_some(), "{start:?}: still open after 10 s");
    }
    // A body that stops half-way is refused, and the connection closed.
    let stream = half_sent(
        &base,
        b"POST /login HTTP/1.1\r\nHost: quire\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Content-Length: 100\r\n\r\nlogin=ow",
    )
    .await;
    let answer = until_closed(stream, Duration::from_secs(10))
        .await
        .expect("closed within 10 s");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "{answer}"
    );

    // Three slow clients take every connection; a reader waits for one of
    // them to be cut off, then is served.
    let holders = [
        half_sent(&base, b"GET / HTTP/1.1\r\n").await,
        half_sent(&base, b"GET / HTTP/1.1\r\n").await,
        half_sent(&base, b"GET / HTTP/1.1\r\n").await,
    ];
    let page = tokio::time::timeout(Duration::from_secs(10), site.get("/"))
        .await
        .expect("served once a slow client is cut off");
    page.assert_status(200);
    drop(holders);
});
