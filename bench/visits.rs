//! Visit counting under load: `cargo bench --bench visits`.
//!
//! Starts the release server on SQLite (and on PostgreSQL when
//! QUIRE_TEST_POSTGRES_URL is set), sends a fixed number of concurrent
//! increments over keep-alive connections from this process, checks that
//! the stored totals equal exactly what was sent, and reports their rate
//! as a share of `/healthz`'s measured first in the same run (the targets:
//! 30% on SQLite, 15% on PostgreSQL); then it measures the list
//! endpoint over 1,000 visitors holding 1,000,000 visits. Targets are
//! printed beside each figure. Environment: QUIRE_BENCH_INCREMENTS (default
//! 200000), QUIRE_BENCH_CONCURRENCY (64), QUIRE_BENCH_LIST_REQUESTS (20000).

use serde_json::Value;

#[path = "common.rs"]
mod common;

use common::{env_number, load, start, wait_until_up};

const VISITORS: usize = 100;

async fn bench(backend: &str, database_url: &str, data_dir: &std::path::Path, share_target: f64) {
    let increments = env_number("QUIRE_BENCH_INCREMENTS", 200_000);
    let concurrency = env_number("QUIRE_BENCH_CONCURRENCY", 64);
    let list_requests = env_number("QUIRE_BENCH_LIST_REQUESTS", 20_000);
    let server = start(database_url, data_dir);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    wait_until_up(&client, &server.base).await;

    // The HTTP floor, in the same run: the targets are shares of it.
    let healthz = format!("{}/healthz", server.base);
    let c = client.clone();
    let floor = load(concurrency, increments, move |_| c.get(&healthz))
        .await
        .per_second();
    println!("{backend:<10} /healthz: {floor:>8.0}/s");

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
        "{backend:<10} increments: {}  sent {increments}, stored {stored}, lost {lost} (target 0)",
        run.against(floor, Some(share_target)),
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
    common::on_each_database("visits", |backend, url, data| async move {
        // Increments as a share of /healthz's throughput.
        let target = if backend == "sqlite" { 30.0 } else { 15.0 };
        bench(backend, &url, &data, target).await
    })
    .await;
}
