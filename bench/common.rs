//! What the benchmarks share: sizes from the environment, the release
//! binary run as a process of its own, and throwaway databases.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const SECRET: &str = "bench-secret-key-that-is-long-enough-0123456789";

pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A `quire` process, killed when dropped.
pub struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `quire ARGS` on a database with settings from `env`.
pub fn quire(
    database_url: &str,
    data_dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Process {
    let mut command = Command::new(env!("CARGO_BIN_EXE_quire"));
    command
        .env("QUIRE_DATABASE_URL", database_url)
        .env("QUIRE_DATA_DIR", data_dir)
        .env("QUIRE_SECRET_KEY", SECRET)
        .env("RUST_LOG", "warn")
        .args(args)
        .stdout(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    Process(command.spawn().expect("the quire binary runs"))
}

/// The databases to measure: a SQLite file in `dir`, and a new PostgreSQL
/// database when QUIRE_TEST_POSTGRES_URL is set. Call [`drop_databases`] after.
pub async fn databases(dir: &std::path::Path) -> Vec<(&'static str, String)> {
    let mut out = vec![(
        "sqlite",
        format!("sqlite://{}", dir.join("bench.db").display()),
    )];
    if std::env::var("QUIRE_TEST_POSTGRES_URL").is_ok() {
        let name = format!("quire_bench_{}", std::process::id());
        out.push(("postgres", create_postgres(&name).await));
    } else {
        println!(
            "postgres   skipped: set QUIRE_TEST_POSTGRES_URL to a server this may create databases on"
        );
    }
    out
}

/// Says what runs where, runs `bench` on each of [`databases`] (with a
/// folder of its own for the server's data), then drops them.
#[allow(dead_code)] // each bench is its own crate; only some ask
pub async fn on_each_database<F, Fut>(name: &str, bench: F)
where
    F: Fn(&'static str, String, std::path::PathBuf) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    println!(
        "{name} benchmark: {} cores, load generator in this process",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let dir = tempfile::tempdir().unwrap();
    for (backend, url) in databases(dir.path()).await {
        let data = dir.path().join(backend);
        std::fs::create_dir_all(&data).unwrap();
        bench(backend, url, data).await;
    }
    drop_databases().await;
}

/// Publishes `article` (the API's fields) as the holder of `token`;
/// returns its slug.
#[allow(dead_code)] // each bench is its own crate; only some ask
pub async fn publish(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    article: serde_json::Value,
) -> String {
    let created: serde_json::Value = client
        .post(format!("{base}/api/articles"))
        .header(reqwest::header::AUTHORIZATION, token)
        .json(&serde_json::json!({ "article": article }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["article"]["slug"].as_str().unwrap().to_owned()
}

/// Registers `name` through the API; the header that signs requests as
/// them (`Token …`).
#[allow(dead_code)] // each bench is its own crate; only some ask
pub async fn register(client: &reqwest::Client, base: &str, name: &str) -> String {
    let registered: serde_json::Value = client
        .post(format!("{base}/api/users"))
        .json(&serde_json::json!({"user": {
            "username": name,
            "email": format!("{name}@example.com"),
            "password": "bench password",
        }}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = registered["user"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("registering {name}: {registered}"));
    format!("Token {token}")
}

pub async fn drop_databases() {
    if std::env::var("QUIRE_TEST_POSTGRES_URL").is_ok() {
        drop_postgres(&format!("quire_bench_{}", std::process::id())).await;
    }
}

/// A new database `name` on QUIRE_TEST_POSTGRES_URL's server: its URL.
pub async fn create_postgres(name: &str) -> String {
    let admin = std::env::var("QUIRE_TEST_POSTGRES_URL").unwrap();
    let pool = sqlx::PgPool::connect(&admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(name);
    url.to_string()
}

pub async fn drop_postgres(name: &str) {
    let admin = std::env::var("QUIRE_TEST_POSTGRES_URL").unwrap();
    let pool = sqlx::PgPool::connect(&admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&pool)
    .await
    .unwrap();
}

/// A release server on loopback, stopped when dropped.
pub struct Server {
    process: Process,
    pub base: String,
}

impl Server {
    /// The most memory the process has held so far (`VmHWM`), in MiB.
    #[allow(dead_code)] // each bench is its own crate; only some ask
    pub fn peak_rss_mib(&self) -> f64 {
        self.process.peak_rss_mib()
    }
}

impl Process {
    /// The most memory the process has held so far (`VmHWM`), in MiB.
    #[allow(dead_code)] // each bench is its own crate; only some ask
    pub fn peak_rss_mib(&self) -> f64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }
}

/// Serves `database_url` (migrating it first) on a free loopback port.
#[allow(dead_code)] // each bench is its own crate; only some ask
pub fn start(database_url: &str, data_dir: &std::path::Path) -> Server {
    start_with(database_url, data_dir, &[])
}

/// As [`start`], with more settings; its public URL is its own address.
pub fn start_with(database_url: &str, data_dir: &std::path::Path, env: &[(&str, &str)]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let public = format!("http://{bind}/");
    let mut settings = vec![
        ("QUIRE_BIND", bind.as_str()),
        ("QUIRE_PUBLIC_URL", public.as_str()),
        ("QUIRE_DB_POOL_SIZE", "16"),
    ];
    settings.extend_from_slice(env);
    let process = quire(database_url, data_dir, &["serve", "--migrate"], &settings);
    Server {
        process,
        base: format!("http://{bind}"),
    }
}

pub async fn wait_until_up(client: &reqwest::Client, base: &str) {
    for _ in 0..400 {
        if client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server at {base} did not come up");
}

/// Latencies of one load run, and how long it took.
pub struct Run {
    seconds: f64,
    latencies: Vec<Duration>,
}

impl Run {
    pub fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds
    }
    /// `N/s = S% of /healthz (target ≥ T%)  p50 … ms  p99 … ms (target ≤
    /// 20 ms)`: throughput as a share of the HTTP floor measured in the
    /// same run, which is what stays comparable on a shared machine.
    #[allow(dead_code)] // each bench is its own crate; only some ask
    pub fn against(&mut self, floor: f64, target_share: Option<f64>) -> String {
        let share = self.per_second() / floor * 100.0;
        let target = target_share.map_or(String::new(), |t| format!(" (target ≥ {t:.0}%)"));
        format!(
            "{:>8.0}/s = {share:>5.1}% of /healthz{target}  p50 {:>6.2} ms  p99 {:>6.2} ms (target ≤ 20 ms)",
            self.per_second(),
            self.percentile(0.50).as_secs_f64() * 1e3,
            self.percentile(0.99).as_secs_f64() * 1e3,
        )
    }

    pub fn percentile(&mut self, p: f64) -> Duration {
        self.latencies.sort_unstable();
        let index = ((self.latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
        self.latencies[index.min(self.latencies.len() - 1)]
    }
}

/// Sends `total` requests from `concurrency` tasks, each keeping its
/// connection alive; `request(i)` builds the i-th.
pub async fn load<F>(concurrency: usize, total: usize, request: F) -> Run
where
    F: Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let request = Arc::new(request);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (request, next) = (request.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= total {
                        break latencies;
                    }
                    let sent = Instant::now();
                    let response = request(i).send().await.expect("request sent");
                    let status = response.status();
                    assert!(
                        status.is_success() || status == reqwest::StatusCode::NOT_MODIFIED,
                        "status {status}"
                    );
                    response.bytes().await.expect("body read");
                    latencies.push(sent.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    Run {
        seconds: started.elapsed().as_secs_f64(),
        latencies,
    }
}
