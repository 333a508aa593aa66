//! Visit counting under load: `cargo bench --bench visits`.
//!
//! Starts the release server on SQLite (and on PostgreSQL when
//! QUIRE_TEST_POSTGRES_URL is set), sends a fixed number of concurrent
//! increments over keep-alive connections from this process, checks that
//! the stored totals equal exactly what was sent, then measures the list
//! endpoint over 1,000 visitors holding 1,000,000 visits. Targets are
//! printed beside each figure. Environment: QUIRE_BENCH_INCREMENTS (default
//! 200000), QUIRE_BENCH_CONCURRENCY (64), QUIRE_BENCH_LIST_REQUESTS (20000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "common.rs"]
mod common;

use common::env_number;

const VISITORS: usize = 100;

struct Server {
    _process: common::Process,
    base: String,
}

fn start(database_url: &str, data_dir: &std::path::Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let process = common::quire(
        database_url,
        data_dir,
        &["serve", "--migrate"],
        &[("QUIRE_BIND", &bind), ("QUIRE_DB_POOL_SIZE", "16")],
    );
    Server {
        _process: process,
        base: format!("http://{bind}"),
    }
}

async fn wait_until_up(client: &reqwest::Client, base: &str) {
    for _ in 0..400 {
        if client
            .get(format!("{base}/api/visitors"))
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

struct Run {
    seconds: f64,
    latencies: Vec<Duration>,
}

impl Run {
    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds
    }
    fn percentile(&mut self, p: f64) -> Duration {
        self.latencies.sort_unstable();
        let index = ((self.latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
        self.latencies[index.min(self.latencies.len() - 1)]
    }
}

/// Sends `total` requests from `concurrency` tasks, each keeping its
/// connection alive; `request(i)` builds the i-th.
async fn load<F>(concurrency: usize, total: usize, request: F) -> Run
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
                    assert!(
                        response.status().is_success(),
                        "status {}",
                        response.status()
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

async fn bench(
    backend: &str,
    database_url: &str,
    data_dir: &std::path::Path,
    increment_target: f64,
) {
    let increments = env_number("QUIRE_BENCH_INCREMENTS", 200_000);
    let concurrency = env_number("QUIRE_BENCH_CONCURRENCY", 64);
    let list_requests = env_number("QUIRE_BENCH_LIST_REQUESTS", 20_000);
    let server = start(database_url, data_dir);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    wait_until_up(&client, &server.base).await;

    let base = server.base.clone();
    let c = client.clone();
    let mut run = load(concurrency, increments, move |i| {
        c.post(format!("{base}/api/visitors/bench{}/visits", i % VISITORS))
    })
    .await;
    let body: Value = client
        .get(format!("{}/api/visitors", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: i64 = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["visits"].as_i64().unwrap())
        .sum();
    let lost = increments as i64 - stored;
    println!(
        "{backend:<10} increments: {:>8.0}/s (target ≥ {:.0}/s)  p50 {:>6.2} ms  p99 {:>6.2} ms (target ≤ 20 ms)  sent {increments}, stored {stored}, lost {lost} (target 0)",
        run.per_second(),
        increment_target,
        run.percentile(0.50).as_secs_f64() * 1e3,
        run.percentile(0.99).as_secs_f64() * 1e3,
    );
    assert_eq!(lost, 0, "every increment is stored exactly once");

    // The list: 1,000 visitors holding 1,000,000 visits, seeded directly.
    seed_list(database_url).await;
    let base = server.base.clone();
    let c = client.clone();
    let mut run = load(concurrency, list_requests, move |_| {
        c.get(format!("{base}/api/visitors"))
    })
    .await;
    println!(
        "{backend:<10} list of 1,000 visitors / 1,000,000 visits: {:>7.0} requests/s (target ≥ 2000/s)  p50 {:>6.2} ms  p99 {:>6.2} ms (target ≤ 20 ms)",
        run.per_second(),
        run.percentile(0.50).as_secs_f64() * 1e3,
        run.percentile(0.99).as_secs_f64() * 1e3,
    );
}

/// Replaces the visitors with 1,000 holding 1,000 visits each, events and
/// totals alike, in the portable SQL both backends accept.
async fn seed_list(database_url: &str) {
    let statements = [
        "DELETE FROM visits",
        "DELETE FROM visitors",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
         INSERT INTO visitors (username, visits, created_at) SELECT 'list' || i, 1000, $1 FROM n",
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999999)
         INSERT INTO visits (visitor_id, at)
         SELECT (SELECT MIN(id) FROM visitors) + (i % 1000), $1 FROM n",
    ];
    let now = quire::db::Timestamp::now();
    let db = quire::db::Db::connect(database_url, quire::db::PoolSize(2), None)
        .await
        .unwrap();
    for sql in statements {
        let query = quire::db::query(sql);
        let query = if sql.contains("$1") {
            query.bind(now)
        } else {
            query
        };
        query.execute(&db).await.unwrap();
    }
    db.close().await;
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; there is nothing else to parse.
    let dir = tempfile::tempdir().unwrap();
    println!(
        "visits benchmark: {} cores, load generator in this process",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for (backend, url) in common::databases(dir.path()).await {
        let target = if backend == "sqlite" {
            20_000.0
        } else {
            10_000.0
        };
        bench(backend, &url, dir.path(), target).await;
    }
    common::drop_databases().await;
}
