//! A post delivered to the fediverse: `cargo bench --bench federation`.
//!
//! Starts the release server (its worker in the same process) on SQLite,
//! and on PostgreSQL when QUIRE_TEST_POSTGRES_URL is set, gives the owner
//! QUIRE_BENCH_FOLLOWERS followers (default 10,000) on QUIRE_BENCH_INBOXES
//! shared inboxes (500) of a receiver in this process on loopback, and
//! publishes a post: the time until every inbox got its signed `Create`,
//! deliveries a second, the server's peak RSS, and the post page's latency
//! while the deliveries run against the same page idle (target: p50 and
//! p99 within 2×), each run of QUIRE_BENCH_REQUESTS (2,000) requests over 4
//! connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use quire::db::{Db, PoolSize, Timestamp, query};
use serde_json::json;

#[path = "common.rs"]
mod common;

use common::{env_number, load, wait_until_up};

/// What the receiver took: deliveries per inbox, and those without a
/// signature.
#[derive(Default)]
struct Received {
    per_inbox: HashMap<usize, usize>,
    unsigned: usize,
}

type Shared = Arc<Mutex<Received>>;

async fn inbox(
    State(received): State<Shared>,
    Path(n): Path<usize>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let mut received = received.lock().unwrap();
    let signed = headers.contains_key("signature")
        && headers.contains_key("digest")
        && serde_json::from_slice::<serde_json::Value>(&body).is_ok();
    if !signed {
        received.unsigned += 1;
    }
    *received.per_inbox.entry(n).or_default() += 1;
    StatusCode::ACCEPTED
}

/// The receiver: `POST /i/{n}/inbox` for each inbox `n`.
async fn receiver() -> (String, Shared) {
    let received = Shared::default();
    let app = Router::new()
        .route("/i/{n}/inbox", post(inbox))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, received)
}

/// The owner's followers, written straight into the database: `followers`
/// actors spread over `inboxes` shared inboxes of the receiver.
async fn follow(db: &Db, receiver: &str, followers: usize, inboxes: usize) {
    let now = Timestamp::now();
    for chunk in (0..followers).collect::<Vec<_>>().chunks(1_000) {
        let mut tx = db.begin().await.unwrap();
        for &i in chunk {
            let inbox = format!("{receiver}/i/{}/inbox", i % inboxes);
            let uri = format!("{receiver}/users/f{i}");
            let id: i64 = query(
                "INSERT INTO remote_actors (uri, domain, handle, name, inbox, shared_inbox, key_id,
                                            public_key_pem, fetched_at)
                 VALUES ($1, $2, $3, $3, $4, $4, $5, '', $6) RETURNING id",
            )
            .bind(&uri)
            .bind(receiver.trim_start_matches("http://"))
            .bind(format!("f{i}"))
            .bind(&inbox)
            .bind(format!("{uri}#main-key"))
            .bind(now)
            .scalar(&mut tx)
            .await
            .unwrap();
            query(
                "INSERT INTO followers (user_id, remote_actor_id, follow_uri, state, created_at)
                 VALUES (1, $1, $2, 'accepted', $3)",
            )
            .bind(id)
            .bind(format!("{uri}/follow"))
            .bind(now)
            .execute(&mut tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    }
}

fn article(title: &str) -> serde_json::Value {
    json!({"title": title, "description": "For the benchmark",
           "body": "Some *words* for the fediverse.", "tagList": ["bench"]})
}

async fn bench(backend: &str, url: &str, dir: &std::path::Path) {
    let followers = env_number("QUIRE_BENCH_FOLLOWERS", 10_000);
    let inboxes = env_number("QUIRE_BENCH_INBOXES", 500);
    let requests = env_number("QUIRE_BENCH_REQUESTS", 2_000);
    let (receiver, received) = receiver().await;

    // Its public URL is its own address: the receiver is told of posts
    // there. Loopback is allowed, as in the tests.
    let server = common::start_with(
        url,
        dir,
        &[
            ("QUIRE_RATE_LIMITS", "off"),
            ("QUIRE_FEDERATION_ALLOW_LOOPBACK", "true"),
        ],
    );
    let base = server.base.clone();
    let client = reqwest::Client::new();
    wait_until_up(&client, &base).await;
    let token = common::register(&client, &base, "owner").await;
    let db = Db::connect(url, PoolSize(2), None).await.unwrap();
    follow(&db, &receiver, followers, inboxes).await;

    // The page readers read, idle.
    let slug = common::publish(&client, &base, &token, article("Before the fan-out")).await;
    let page = format!("{base}/posts/{slug}");
    // The first post's deliveries: waited for, then forgotten.
    wait_for(&received, inboxes, Duration::from_secs(600)).await;
    *received.lock().unwrap() = Received::default();
    let idle_client = client.clone();
    let idle_page = page.clone();
    let mut idle = load(4, requests, move |_| idle_client.get(&idle_page)).await;

    // The fan-out, with readers on the same page meanwhile.
    let started = Instant::now();
    common::publish(&client, &base, &token, article("The fan-out")).await;
    let busy_client = client.clone();
    let busy_page = page.clone();
    let reading =
        tokio::spawn(async move { load(4, requests, move |_| busy_client.get(&busy_page)).await });
    wait_for(&received, inboxes, Duration::from_secs(600)).await;
    let delivered = started.elapsed().as_secs_f64();
    let mut busy = reading.await.unwrap();
    let (unsigned, doubled) = {
        let received = received.lock().unwrap();
        let doubled = received.per_inbox.values().filter(|&&n| n > 1).count();
        (received.unsigned, doubled)
    };
    let ratio = |busy: Duration, idle: Duration| busy.as_secs_f64() / idle.as_secs_f64();
    println!(
        "{backend:<10} fan-out to {followers} followers on {inboxes} inboxes: {delivered:.2} s, \
         {:.0} deliveries/s, unsigned {unsigned}, twice {doubled}; server peak RSS {:.1} MiB",
        inboxes as f64 / delivered,
        server.peak_rss_mib(),
    );
    let (idle50, idle99) = (idle.percentile(0.5), idle.percentile(0.99));
    let (busy50, busy99) = (busy.percentile(0.5), busy.percentile(0.99));
    println!(
        "{backend:<10} post page idle p50 {:.2} ms p99 {:.2} ms; during the fan-out p50 {:.2} ms \
         ({:.2}×) p99 {:.2} ms ({:.2}×) (target ≤ 2×)",
        idle50.as_secs_f64() * 1e3,
        idle99.as_secs_f64() * 1e3,
        busy50.as_secs_f64() * 1e3,
        ratio(busy50, idle50),
        busy99.as_secs_f64() * 1e3,
        ratio(busy99, idle99),
    );
    db.close().await;
}

/// Waits until every inbox got a delivery.
async fn wait_for(received: &Shared, inboxes: usize, limit: Duration) {
    let started = Instant::now();
    loop {
        if received.lock().unwrap().per_inbox.len() >= inboxes {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "deliveries still missing after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    println!(
        "federation benchmark: {} cores, the server (with its worker) and the receiver on loopback",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for (backend, url) in common::databases(dir.path()).await {
        let data = tempfile::tempdir_in(dir.path()).unwrap();
        bench(backend, &url, data.path()).await;
    }
    common::drop_databases().await;
}
