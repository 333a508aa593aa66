//! `TestApp`: the real server on port 0 over a fresh database of either
//! backend, and `Browser`s that drive it over HTTP with their own cookies.

pub use crate::smtp_sink::{Received, SmtpSink, free_port};
use std::path::PathBuf;
use std::sync::Arc;

use quire::config::Settings;
use quire::db::{Db, query};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::{Client, StatusCode, Url};
use tokio::sync::oneshot;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body against SQLite, and against PostgreSQL when
/// `QUIRE_TEST_POSTGRES_URL` is set, as two tests named `…::sqlite` and
/// `…::postgres`.
#[macro_export]
macro_rules! backend_test {
    ($name:ident, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use $crate::helpers::{Backend, TestApp};

            async fn run($app: TestApp) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(TestApp::spawn(Backend::Sqlite).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(app) = TestApp::try_spawn(Backend::Postgres).await else {
                    eprintln!("skipped: QUIRE_TEST_POSTGRES_URL is not set");
                    return;
                };
                run(app).await;
            }
        }
    };
}

/// The secret the test servers sign with, so tests can forge tokens.
pub const TEST_SECRET: &str = "test-secret-key-that-is-long-enough-0123456789";

pub struct TestApp {
    pub base: Url,
    pub db: Db,
    pub backend: Backend,
    /// Kept so the folder (and its SQLite file) lives as long as the app.
    _data_dir: tempfile::TempDir,
    /// The browser tests use unless they need several people.
    pub browser: Browser,
    shutdown: Option<oneshot::Sender<()>>,
    pg_database: Option<TestDatabase>,
    /// The app the server runs, for what tests do beside the HTTP requests.
    pub app: quire::app::App,
    /// The app's database, for worker processes to share.
    pub database_url: String,
    /// Where its emails go.
    pub outbox: Arc<Outbox>,
}

impl std::ops::Deref for TestApp {
    type Target = Browser;
    fn deref(&self) -> &Browser {
        &self.browser
    }
}

pub fn postgres_admin_url() -> Option<String> {
    std::env::var("QUIRE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A PostgreSQL database made for one test, dropped with this value, also
/// when the test fails. Its name starts with the run's prefix
/// (`QUIRE_TEST_RUN`, set by scripts/test), so the end of the run can check
/// that none of its databases remain.
pub struct TestDatabase {
    admin: String,
    name: String,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop is not async: clean up on a thread with its own runtime.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(pool) = sqlx::PgPool::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&pool)
                    .await;
                    pool.close().await;
                }
            });
        })
        .join()
        .ok();
    }
}

/// A fresh database for one test: its own SQLite file, or its own
/// PostgreSQL database created on the test server (keep the
/// [`TestDatabase`] for as long as the test uses it).
pub async fn fresh_database_url(
    backend: Backend,
    data_dir: &std::path::Path,
) -> Option<(String, Option<TestDatabase>)> {
    match backend {
        Backend::Sqlite => Some((
            format!("sqlite://{}", data_dir.join("quire.db").display()),
            None,
        )),
        Backend::Postgres => {
            let admin = postgres_admin_url()?;
            let run = std::env::var("QUIRE_TEST_RUN").unwrap_or_default();
            let name = format!("quire_test_{run}{}", uuid::Uuid::new_v4().simple());
            let pool = sqlx::PgPool::connect(&admin)
                .await
                .expect("QUIRE_TEST_POSTGRES_URL connects");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&pool)
                .await
                .expect("creating a test database");
            pool.close().await;
            let mut url = Url::parse(&admin).expect("QUIRE_TEST_POSTGRES_URL is a URL");
            url.set_path(&name);
            Some((url.to_string(), Some(TestDatabase { admin, name })))
        }
    }
}

/// For a test only PostgreSQL can run (several processes on one
/// database): a temporary folder and a new database's URL, or `None`,
/// after saying so, when QUIRE_TEST_POSTGRES_URL is not set.
pub async fn postgres_only() -> Option<(tempfile::TempDir, String, TestDatabase)> {
    if postgres_admin_url().is_none() {
        eprintln!("skipped: QUIRE_TEST_POSTGRES_URL is not set");
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (url, database) = fresh_database_url(Backend::Postgres, dir.path()).await?;
    Some((dir, url, database?))
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::try_spawn(backend).await.expect("backend available")
    }

    pub async fn try_spawn(backend: Backend) -> Option<Self> {
        Self::try_spawn_with(backend, |_| {}).await
    }

    /// Spawns with settings changed by `change`, e.g.
    /// `|s| s.site.registration = Registration::Invite`.
    pub async fn try_spawn_with(
        backend: Backend,
        change: impl FnOnce(&mut Settings),
    ) -> Option<Self> {
        Self::try_spawn_at(backend, |settings, _| change(settings)).await
    }

    /// Spawns a site whose public URL is its own address, so that other
    /// servers (the fediverse peer) can reach what it names, with remote
    /// servers on loopback allowed.
    pub async fn try_spawn_federated(backend: Backend) -> Option<Self> {
        Self::try_spawn_at(backend, |settings, addr| {
            settings.http.configured_public_url =
                Some(Url::parse(&format!("http://{addr}/")).unwrap());
            settings.federation.allow_loopback = true;
        })
        .await
    }

    /// Spawns with settings changed by `change`, which is told the
    /// server's address.
    pub async fn try_spawn_at(
        backend: Backend,
        change: impl FnOnce(&mut Settings, std::net::SocketAddr),
    ) -> Option<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().unwrap();
        let data_dir = tempfile::tempdir().expect("temp dir");
        let (database_url, pg_database) = fresh_database_url(backend, data_dir.path()).await?;
        let mut config = Settings::local(data_dir.path(), &database_url, TEST_SECRET)
            .expect("test settings are valid");
        config.database.pool_size = quire::db::PoolSize(5);
        // Every browser of a test comes from 127.0.0.1, where the budgets
        // per address would soon refuse the accounts tests make; the tests
        // of those budgets turn them back on.
        config.http.rate_limits = quire::config::Switch::Off;
        change(&mut config, addr);
        init_logs(&config);
        let db = Db::connect(&database_url, config.database.pool_size, None)
            .await
            .expect("connect");
        db.migrate_up(quire::assembly::MIGRATION_STEPS)
            .await
            .expect("migrate");
        let limits = quire::http::ConnectionLimits::of(&config.http);
        let app = quire::app::App::build(config, db.clone()).expect("settings are valid");
        let server =
            quire::http::Server::on(listener, quire::assembly::router(app.clone()), limits);
        let (tx, rx) = oneshot::channel();
        // As `quire serve` does: on PostgreSQL, changes made by other
        // processes (the workers tests start) reach this one's caches.
        let changes = quire::http::cache::listen_for_changes(&app);
        tokio::spawn(server.run(async {
            let _ = rx.await;
            if let Some(changes) = changes {
                changes.abort();
            }
        }));
        let base = Url::parse(&format!("http://{addr}/")).unwrap();
        let outbox = Arc::new(Outbox::new(&app, &base));
        Some(Self {
            browser: Browser::new(base.clone()).with_outbox(outbox.clone()),
            outbox,
            base,
            db,
            backend,
            _data_dir: data_dir,
            shutdown: Some(tx),
            pg_database,
            app,
            database_url,
        })
    }

    /// An address as the site names it to the outside: under its public
    /// URL (a test server's is not its own address).
    pub fn public(&self, path: &str) -> String {
        let root = self.app.settings.http.public_url();
        root.join(path.trim_start_matches('/')).unwrap().to_string()
    }

    /// The settings a process of this app would have, changed by `change`;
    /// its public URL is this app's address, for the links in emails.
    pub fn settings(&self, change: impl FnOnce(&mut Settings)) -> Settings {
        settings_of(&self.app, &self.base, change)
    }

    /// Starts a job worker on this app's database, in this process, with
    /// settings changed by `change` (an SMTP server, say). It stops when
    /// the handle is stopped or dropped.
    pub fn start_worker(&self, change: impl FnOnce(&mut Settings)) -> Worker {
        let config = self.settings(change);
        let registry = Arc::new(quire::assembly::jobs(&config));
        let app =
            quire::app::App::build(config, self.db.clone()).expect("worker settings are valid");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(quire::jobs::run_worker(app, registry, async {
            let _ = stopped.await;
        }));
        Worker {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Waits until no job is running or due (at most 30 s).
    pub async fn jobs_settled(&self) {
        jobs_settled(&self.db).await;
    }

    /// Waits until every visit recorded so far is written.
    pub async fn state_flush(&self) {
        self.app.flush().await;
    }

    /// Another person, with their own cookies.
    pub fn new_browser(&self) -> Browser {
        Browser::new(self.base.clone()).with_outbox(self.outbox.clone())
    }
}

fn settings_of(app: &quire::app::App, base: &Url, change: impl FnOnce(&mut Settings)) -> Settings {
    let mut settings = (*app.settings).clone();
    settings.http.configured_public_url = Some(base.clone());
    change(&mut settings);
    settings
}

/// Waits until no job is running or due (at most 30 s).
async fn jobs_settled(db: &Db) {
    for _ in 0..600 {
        let now = quire::db::Timestamp::now();
        let busy: i64 = query(
            "SELECT COUNT(*) FROM jobs WHERE state = 'running' OR (state = 'queued' AND run_at <= $1)",
        )
        .bind(now)
        .scalar(db)
        .await
        .unwrap();
        if busy == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("jobs still running or due after 30 s");
}

/// A test app's emails. Without an SMTP server they are `.eml` files in
/// DATA_DIR/outbox, written by whichever worker sends them; the test app
/// runs no worker of its own, so [`Outbox::deliver`] runs one for as long
/// as the queued jobs take. (A test that starts a worker sending over SMTP
/// finds those emails in its `SmtpSink` instead.)
pub struct Outbox {
    /// The app a worker runs: the test app's settings with its address as
    /// the public URL, for the links.
    app: quire::app::App,
    registry: Arc<quire::jobs::Registry>,
    dir: PathBuf,
}

impl Outbox {
    fn new(server: &quire::app::App, base: &Url) -> Self {
        let settings = settings_of(server, base, |_| {});
        let dir = settings.site.data_dir.join("outbox");
        let registry = Arc::new(quire::assembly::jobs(&settings));
        let app = quire::app::App::build(settings, server.db.clone()).expect("settings are valid");
        Self { app, registry, dir }
    }

    /// Runs the jobs due now (and those they queue) to their end.
    pub async fn deliver(&self) {
        let (stop, stopped) = oneshot::channel::<()>();
        let worker = tokio::spawn(quire::jobs::run_worker(
            self.app.clone(),
            self.registry.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        jobs_settled(&self.app.db).await;
        let _ = stop.send(());
        worker
            .await
            .expect("worker task")
            .expect("worker ends cleanly");
    }

    /// The emails to `to`, oldest first, once the queued ones are sent.
    pub async fn to(&self, to: &str) -> Vec<Received> {
        self.deliver().await;
        let mut files: Vec<(std::time::SystemTime, Received)> =
            crate::smtp_sink::emails_in(&self.dir)
                .iter()
                .map(|path| {
                    let written = std::fs::metadata(path).unwrap().modified().unwrap();
                    (written, Received::read(path))
                })
                .filter(|(_, email)| email.to == to)
                .collect();
        files.sort_by_key(|(written, _)| *written);
        files.into_iter().map(|(_, email)| email).collect()
    }

    /// The path of the link starting with `prefix` in the newest email to
    /// `to` that has one.
    pub async fn link(&self, to: &str, prefix: &str) -> String {
        let base = self.app.settings.http.public_url();
        let prefix = base.join(prefix).unwrap();
        let email = self
            .to(to)
            .await
            .into_iter()
            .rev()
            .find(|email| email.text.contains(prefix.as_str()))
            .unwrap_or_else(|| panic!("no email to {to} with a link to {prefix}"));
        email.link(prefix.as_str())[base.as_str().len() - 1..].to_owned()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(database) = self.pg_database.take() {
            // Close the app's pool first, then drop its database.
            let db = self.db.clone();
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(db.close());
            })
            .join()
            .ok();
            drop(database);
        }
    }
}

/// A job worker started by [`TestApp::start_worker`].
pub struct Worker {
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Worker {
    /// Asks it to stop and waits until it has.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task
            .take()
            .unwrap()
            .await
            .expect("worker task")
            .expect("worker ends cleanly");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The backends this run covers: SQLite, and PostgreSQL when
/// QUIRE_TEST_POSTGRES_URL is set.
pub fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Sqlite];
    if postgres_admin_url().is_some() {
        backends.push(Backend::Postgres);
    }
    backends
}

/// Runs `quire ARGS` with `env` to its end: whether it succeeded, and what
/// it printed on standard output and error.
pub fn run_quire(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut command = quire_command();
    command.args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The binary, with nothing from the developer's environment (`QUIRE_*`)
/// leaking into the run.
pub fn quire_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_quire"));
    for (key, _) in std::env::vars() {
        if key.starts_with("QUIRE_") {
            command.env_remove(key);
        }
    }
    command.env("RUST_LOG", "warn");
    command
}

/// A `quire` process of its own (`serve`, `worker`…) on a database, for
/// what needs a real process: signals, several replicas. Killed on drop.
pub struct QuireProcess {
    pub child: std::process::Child,
    /// `http://127.0.0.1:PORT`, where a `serve` listens.
    pub base: String,
}

impl QuireProcess {
    /// Runs `quire ARGS`; `QUIRE_BIND` is a free port unless `env` names one.
    pub fn start(
        args: &[&str],
        database_url: &str,
        data_dir: &std::path::Path,
        env: &[(&str, &str)],
    ) -> Self {
        let bind = env
            .iter()
            .find(|(k, _)| *k == "QUIRE_BIND")
            .map(|(_, v)| (*v).to_owned())
            .unwrap_or_else(|| format!("127.0.0.1:{}", free_port()));
        let mut command = quire_command();
        command
            .env("QUIRE_DATABASE_URL", database_url)
            .env("QUIRE_DATA_DIR", data_dir)
            .env("QUIRE_SECRET_KEY", TEST_SECRET)
            .env("QUIRE_BIND", &bind)
            .args(args)
            .stdout(std::process::Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        Self {
            child: command.spawn().expect("the quire binary starts"),
            base: format!("http://{bind}"),
        }
    }

    /// Waits until a `serve` answers its liveness probe (at most 10 s).
    pub async fn wait_until_up(&self) {
        for _ in 0..200 {
            if reqwest::get(format!("{}/healthz", self.base))
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{} did not come up", self.base);
    }

    /// Sends a signal by name (`TERM`, `KILL`).
    pub fn signal(&self, signal: &str) {
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal}");
    }

    /// Waits for the process to exit, without blocking the runtime.
    pub async fn exit_status(mut self) -> std::process::ExitStatus {
        let mut child = std::mem::replace(
            &mut self.child,
            std::process::Command::new("true").spawn().unwrap(),
        );
        tokio::task::spawn_blocking(move || child.wait().unwrap())
            .await
            .unwrap()
    }
}

impl Drop for QuireProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn init_logs(config: &Settings) {
    // Logs only when asked, as in zero2prod: TEST_LOG=1 cargo test.
    if std::env::var_os("TEST_LOG").is_some() {
        // Only the first call takes effect; the tests trace nothing.
        let _ = quire::telemetry::init(&config.telemetry, quire::assembly::SECRET_ROUTES);
    }
}

/// One person's browser: a cookie jar and no automatic redirects, so tests
/// see each redirect the server sends.
#[derive(Clone)]
pub struct Browser {
    pub base: Url,
    pub client: Client,
    jar: Arc<Jar>,
    /// Where the site's emails to this person arrive (a [`TestApp`]'s
    /// browsers have one).
    outbox: Option<Arc<Outbox>>,
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn html(&self) -> scraper::Html {
        scraper::Html::parse_document(&self.body)
    }

    /// Texts of the elements matching a CSS selector.
    pub fn texts(&self, selector: &str) -> Vec<String> {
        let selector = scraper::Selector::parse(selector).expect("valid selector");
        self.html()
            .select(&selector)
            .map(|e| {
                e.text()
                    .collect::<String>()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    /// The value of an attribute of the first element matching a selector.
    pub fn attr(&self, selector: &str, attribute: &str) -> Option<String> {
        let selector = scraper::Selector::parse(selector).expect("valid selector");
        self.html()
            .select(&selector)
            .next()?
            .value()
            .attr(attribute)
            .map(str::to_owned)
    }

    /// The values of an attribute of every element matching a selector.
    pub fn attrs(&self, selector: &str, attribute: &str) -> Vec<String> {
        let selector = scraper::Selector::parse(selector).expect("valid selector");
        self.html()
            .select(&selector)
            .filter_map(|e| e.value().attr(attribute).map(str::to_owned))
            .collect()
    }

    pub fn contains(&self, text: &str) -> bool {
        self.body.contains(text)
    }

    #[track_caller]
    pub fn assert_redirect(&self, to: &str) {
        assert_eq!(
            self.status,
            StatusCode::SEE_OTHER,
            "expected a redirect, got {}: {}",
            self.status,
            excerpt(&self.body)
        );
        assert_eq!(self.location.as_deref(), Some(to));
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) {
        assert_eq!(self.status.as_u16(), status, "{}", excerpt(&self.body));
    }
}

fn excerpt(body: &str) -> String {
    let start = body.find("<main").unwrap_or(0);
    body[start..].chars().take(3000).collect()
}

impl Browser {
    pub fn new(base: Url) -> Self {
        let jar = Arc::new(Jar::default());
        let client = Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            base,
            client,
            jar,
            outbox: None,
        }
    }

    pub fn with_outbox(self, outbox: Arc<Outbox>) -> Self {
        Self {
            outbox: Some(outbox),
            ..self
        }
    }

    pub fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }

    /// A response as a [`Page`], read whole.
    pub async fn page(response: reqwest::Response) -> Page {
        Page {
            status: response.status(),
            location: response
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned()),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        Self::page(self.client.get(self.url(path)).send().await.unwrap()).await
    }

    /// The anti-forgery token a page would put in its forms, from this
    /// browser's cookie after a page: as a browser posts a form of a page
    /// it has, whatever happened since (signing in changes the token).
    pub async fn csrf(&self) -> String {
        self.get("/login").await;
        self.cookie("quire_csrf").expect("the site sets quire_csrf")
    }

    /// Sets a cookie as the site's script would.
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar
            .add_cookie_str(&format!("{name}={value}; Path=/"), &self.base);
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        let header = self.jar.cookies(&self.base)?;
        header
            .to_str()
            .ok()?
            .split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }

    /// Posts a form as the page would, with the anti-forgery token.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.csrf().await;
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", &token)];
        form.extend_from_slice(fields);
        self.post_raw(path, &form).await
    }

    /// Posts exactly these fields (no token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        Self::page(
            self.client
                .post(self.url(path))
                .form(fields)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Calls the JSON API: `token` goes in `Authorization: Token …`.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.header("authorization", format!("Token {token}"));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        (status, json)
    }

    /// Registers over the API and returns the token.
    pub async fn api_register(&self, username: &str) -> String {
        let (status, body) = self
            .api(
                reqwest::Method::POST,
                "/api/users",
                None,
                Some(serde_json::json!({"user": {"username": username, "email": format!("{username}@example.com"), "password": "correct horse"}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["user"]["token"].as_str().unwrap().to_owned()
    }

    /// Registers on the site's form as `username` with the address
    /// USERNAME@example.com. Every account but the first is made by the
    /// link the site emails, so this follows it, as its owner would.
    /// Returns the answer that signed in (a redirect home), or the form
    /// refused.
    pub async fn register(&self, username: &str) -> Page {
        let email = format!("{username}@example.com");
        let page = self
            .post(
                "/register",
                &[
                    ("username", username),
                    ("email", &email),
                    ("password", "correct horse"),
                ],
            )
            .await;
        if page.status != StatusCode::OK {
            return page;
        }
        let outbox = self
            .outbox
            .as_ref()
            .expect("a second account needs the emailed link: use TestApp::new_browser");
        let link = outbox.link(&email, "register/confirm/").await;
        self.confirm_registration(&link).await
    }

    /// Follows a registration link (its path): its page, then its button.
    pub async fn confirm_registration(&self, link: &str) -> Page {
        self.get(link).await.assert_status(200);
        self.post(link, &[]).await
    }

    pub async fn login(&self, login: &str, password: &str) -> Page {
        self.post("/login", &[("login", login), ("password", password)])
            .await
    }

    pub async fn logout(&self) -> Page {
        self.post("/logout", &[]).await
    }

    /// Publishes a post and returns its slug.
    pub async fn publish(&self, title: &str, body: &str, tags: &str) -> String {
        let page = self
            .post(
                "/editor",
                &[
                    ("title", title),
                    ("body", body),
                    ("tags", tags),
                    ("action", "publish"),
                ],
            )
            .await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "publishing failed: {}",
            excerpt(&page.body)
        );
        page.location
            .unwrap()
            .trim_start_matches("/posts/")
            .to_owned()
    }

    pub async fn save_draft(&self, title: &str, body: &str) -> String {
        let page = self
            .post(
                "/editor",
                &[("title", title), ("body", body), ("action", "draft")],
            )
            .await;
        page.assert_status(303);
        page.location
            .unwrap()
            .trim_start_matches("/posts/")
            .to_owned()
    }
}

/// Polls until `check` holds (at most 10 s): what another part of the
/// system does in its own time (the maintenance switch reaches a process
/// within two seconds).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
