//! A post emailed to its subscribers: `cargo bench --bench newsletter`.
//!
//! On SQLite (and PostgreSQL when QUIRE_TEST_POSTGRES_URL is set): the
//! release server without its worker, one `quire worker` process, and an
//! SMTP sink in this process on loopback that takes every message and
//! counts them by post and recipient. First QUIRE_BENCH_PACED (100)
//! subscribers get a post at the default rate (`QUIRE_NEWSLETTER_RATE`
//! unset: 10 a second); then QUIRE_BENCH_SUBSCRIBERS (50,000) get one at no
//! limit (`QUIRE_NEWSLETTER_RATE=0`), while readers load the post page: the
//! messages a second of each, that no one got one twice, the worker's peak
//! RSS, and the page's latency during the send against idle, each over
//! QUIRE_BENCH_REQUESTS (2,000) requests on 4 connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use quire::db::{Db, PoolSize, Timestamp, query};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[path = "common.rs"]
mod common;

use common::{env_number, load, wait_until_up};

/// What the sink took: messages by (subject, recipient), and when the
/// first and the last of each subject came.
#[derive(Default)]
struct Taken {
    per: HashMap<(String, String), usize>,
    span: HashMap<String, (Instant, Instant, usize)>,
}

type Shared = Arc<Mutex<Taken>>;

fn record(taken: &Shared, subject: &str, to: impl Iterator<Item = String>, now: Instant) {
    let mut taken = taken.lock().unwrap();
    for to in to {
        *taken.per.entry((subject.to_owned(), to)).or_default() += 1;
        let span = taken
            .span
            .entry(subject.to_owned())
            .or_insert((now, now, 0));
        span.1 = now;
        span.2 += 1;
    }
}

/// An SMTP server that accepts everything: enough of the protocol for
/// lettre (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), no extensions.
async fn sink() -> (u16, Shared) {
    let taken = Shared::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let shared = taken.clone();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            // Answers go out at once, as a real server's do: Nagle's
            // algorithm against the client's delayed acknowledgements
            // would cost 40 ms an exchange.
            socket.set_nodelay(true).unwrap();
            let taken = shared.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.ok();
                let (mut rcpt, mut subject, mut in_data) = (Vec::new(), String::new(), false);
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            in_data = false;
                            let now = Instant::now();
                            record(&taken, &subject, rcpt.drain(..), now);
                            write.write_all(b"250 taken\r\n").await.ok();
                        } else if subject.is_empty()
                            && let Some(s) = line.strip_prefix("Subject: ")
                        {
                            subject = s.to_owned();
                        }
                        continue;
                    }
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "RCPT" => {
                            let to = line.split(['<', '>']).nth(1).unwrap_or_default();
                            rcpt.push(to.to_owned());
                            b"250 OK\r\n"
                        }
                        "DATA" => {
                            in_data = true;
                            subject.clear();
                            b"354 go on\r\n"
                        }
                        "RSET" => {
                            rcpt.clear();
                            b"250 OK\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.ok();
                            break;
                        }
                        _ => b"250 OK\r\n",
                    };
                    if write.write_all(answer).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, taken)
}

/// Subscribers `from..to`, confirmed, of the whole blog.
async fn subscribe(db: &Db, from: usize, to: usize) {
    let now = Timestamp::now();
    for chunk in (from..to).collect::<Vec<_>>().chunks(1_000) {
        let mut tx = db.begin().await.unwrap();
        for &i in chunk {
            let id: i64 = query(
                "INSERT INTO subscribers (email, state, consent, created_at, confirmed_at)
                 VALUES ($1, 'confirmed', 'bench', $2, $2) RETURNING id",
            )
            .bind(format!("reader{i}@example.com"))
            .bind(now)
            .scalar(&mut tx)
            .await
            .unwrap();
            query("INSERT INTO subscriptions (subscriber_id, author_id, created_at) VALUES ($1, NULL, $2)")
                .bind(id)
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
           "body": "Some *words* for the readers.\n\n```rust\nfn main() {}\n```",
           "tagList": ["bench"], "emailSubscribers": true})
}

/// Waits until `count` messages of `subject` came; their rate a second
/// (first to last).
async fn wait_for(taken: &Shared, subject: &str, count: usize, limit: Duration) -> f64 {
    let started = Instant::now();
    loop {
        if let Some((first, last, n)) = taken.lock().unwrap().span.get(subject).copied()
            && n >= count
        {
            let seconds = (last - first).as_secs_f64().max(1e-6);
            return (n - 1) as f64 / seconds;
        }
        assert!(
            started.elapsed() < limit,
            "{subject}: messages still missing after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn twice(taken: &Shared, subject: &str) -> usize {
    taken
        .lock()
        .unwrap()
        .per
        .iter()
        .filter(|((s, _), n)| s == subject && **n > 1)
        .count()
}

async fn bench(backend: &str, url: &str, dir: &std::path::Path) {
    let paced = env_number("QUIRE_BENCH_PACED", 100);
    let subscribers = env_number("QUIRE_BENCH_SUBSCRIBERS", 50_000).max(paced);
    let requests = env_number("QUIRE_BENCH_REQUESTS", 2_000);
    let (port, taken) = sink().await;
    let smtp = format!("smtp://127.0.0.1:{port}?tls=none");

    let server = common::start_with(
        url,
        dir,
        &[
            ("QUIRE_RATE_LIMITS", "off"),
            ("QUIRE_WORKER", "off"),
            ("QUIRE_SMTP_URL", &smtp),
        ],
    );
    let base = server.base.clone();
    let client = reqwest::Client::new();
    wait_until_up(&client, &base).await;
    let token = common::register(&client, &base, "owner").await;
    let db = Db::connect(url, PoolSize(2), None).await.unwrap();

    // At the default rate, to a few.
    subscribe(&db, 0, paced).await;
    let worker = common::quire(url, dir, &["worker"], &[("QUIRE_SMTP_URL", &smtp)]);
    let slug = common::publish(&client, &base, &token, article("Paced")).await;
    let rate = wait_for(&taken, "Paced", paced, Duration::from_secs(600)).await;
    println!(
        "{backend:<10} default rate: {paced} messages at {rate:.1}/s (QUIRE_NEWSLETTER_RATE 10), twice {}",
        twice(&taken, "Paced")
    );
    drop(worker);

    // No limit, to everyone, with readers on the post page.
    subscribe(&db, paced, subscribers).await;
    let page = format!("{base}/posts/{slug}");
    let idle_client = client.clone();
    let idle_page = page.clone();
    let mut idle = load(4, requests, move |_| idle_client.get(&idle_page)).await;
    let worker = common::quire(
        url,
        dir,
        &["worker"],
        &[("QUIRE_SMTP_URL", &smtp), ("QUIRE_NEWSLETTER_RATE", "0")],
    );
    let started = Instant::now();
    common::publish(&client, &base, &token, article("Unlimited")).await;
    let busy_client = client.clone();
    let busy_page = page.clone();
    let reading =
        tokio::spawn(async move { load(4, requests, move |_| busy_client.get(&busy_page)).await });
    let rate = wait_for(&taken, "Unlimited", subscribers, Duration::from_secs(3_600)).await;
    let all = started.elapsed().as_secs_f64();
    let mut busy = reading.await.unwrap();
    println!(
        "{backend:<10} no limit: {subscribers} messages in {all:.1} s from publishing, {rate:.0}/s \
         while sending, twice {}; worker peak RSS {:.1} MiB",
        twice(&taken, "Unlimited"),
        worker.peak_rss_mib(),
    );
    let ratio = |busy: Duration, idle: Duration| busy.as_secs_f64() / idle.as_secs_f64();
    let (idle50, idle99) = (idle.percentile(0.5), idle.percentile(0.99));
    let (busy50, busy99) = (busy.percentile(0.5), busy.percentile(0.99));
    println!(
        "{backend:<10} post page idle p50 {:.2} ms p99 {:.2} ms; during the send p50 {:.2} ms \
         ({:.2}×) p99 {:.2} ms ({:.2}×)",
        idle50.as_secs_f64() * 1e3,
        idle99.as_secs_f64() * 1e3,
        busy50.as_secs_f64() * 1e3,
        ratio(busy50, idle50),
        busy99.as_secs_f64() * 1e3,
        ratio(busy99, idle99),
    );
    drop(worker);
    db.close().await;
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    println!(
        "newsletter benchmark: {} cores, the server, one worker process and the SMTP sink on loopback",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for (backend, url) in common::databases(dir.path()).await {
        let data = tempfile::tempdir_in(dir.path()).unwrap();
        bench(backend, &url, data.path()).await;
    }
    common::drop_databases().await;
}
