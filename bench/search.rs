//! Searching 100,000 posts: `cargo bench --bench search`.
//!
//! Starts the release server on SQLite (and on PostgreSQL when
//! QUIRE_TEST_POSTGRES_URL is set), writes QUIRE_BENCH_POSTS (default
//! 100,000) published posts of 80 words, a minute apart, straight into its
//! database (the index follows them as it follows the site's own writes:
//! FTS5's triggers, PostgreSQL's generated column), then measures
//! `/search?q=` for readers without a session over a mix of queries: a
//! word in about a third of the posts, one in a thirtieth, a rare one, two
//! words, a phrase and an exclusion; first from one keep-alive
//! connection, then from eight. The words come from a vocabulary of 5,000
//! in a Zipf-like spread. Each request carries a distinct `n=` so that
//! none is answered from the page cache. Target: p99 ≤ 50 ms.
//! QUIRE_BENCH_REQUESTS (default 3000) sets the requests per load.

use std::time::Instant;

use quire::db::{Db, PoolSize, Query, Timestamp, query};

#[path = "common.rs"]
mod common;

use common::{env_number, load, start, wait_until_up};

const VOCABULARY: usize = 5_000;
const WORDS_PER_POST: usize = 80;
const BATCH: usize = 400;

/// The `i`-th word of the vocabulary: syllables, so that stemmers leave
/// them alone and every word is distinct.
fn word(mut i: usize) -> String {
    const SYLLABLES: [&str; 20] = [
        "ka", "lo", "mi", "su", "te", "ra", "no", "vi", "de", "pu", "go", "ze", "ba", "fi", "ju",
        "ho", "wa", "ce", "ny", "qo",
    ];
    let mut out = String::from("x");
    loop {
        out.push_str(SYLLABLES[i % SYLLABLES.len()]);
        i /= SYLLABLES.len();
        if i == 0 {
            return out;
        }
    }
}

/// A small deterministic generator (xorshift): the same posts every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A word's index, log-uniform: word k is about k times rarer than the first.
    fn word(&mut self) -> usize {
        ((VOCABULARY as f64).powf(self.next()) as usize - 1).min(VOCABULARY - 1)
    }
}

/// Writes `posts` published posts by `author`, `BATCH` a statement; the
/// text is also what search reads (`search_text`), as the site writes it.
async fn seed(db: &Db, author: i64, posts: usize) {
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    // A post a minute, the newest now: as a real blog's, every post has
    // its own time (the newest-first order depends on it).
    let now = Timestamp::now();
    const COLUMNS: usize = 7;
    for first in (0..posts).step_by(BATCH) {
        let rows = BATCH.min(posts - first);
        let values: Vec<String> = (0..rows)
            .map(|r| {
                let p = |c: usize| format!("${}", r * COLUMNS + c + 1);
                format!(
                    "({a}, {slug}, {title}, {description}, {body}, {html}, 2, 'published', {at}, {at}, {at}, {body}, {tags})",
                    a = author,
                    slug = p(0),
                    title = p(1),
                    description = p(2),
                    body = p(3),
                    html = p(4),
                    at = p(5),
                    tags = p(6),
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO posts (author_id, slug, title, description, body, body_html,
                 body_html_version, status, published_at, created_at, updated_at,
                 search_text, search_tags) VALUES {}",
            values.join(", ")
        );
        let mut insert = Query::assembled(sql);
        for r in 0..rows {
            let n = first + r;
            let mut text = |count: usize| {
                (0..count)
                    .map(|_| word(random.word()))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let (title, description, body) = (text(5), text(10), text(WORDS_PER_POST));
            let html = format!("<p>{body}</p>\n");
            insert = insert
                .bind(format!("post-{n}"))
                .bind(title)
                .bind(description)
                .bind(body)
                .bind(html)
                .bind(now - time::Duration::minutes((posts - n) as i64))
                .bind(word(n % 50));
        }
        insert.execute(db).await.expect("posts inserted");
    }
}

/// `address?name=value&…`, encoded.
fn with_query(address: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(address).unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.to_string()
}

/// How many of the posts hold `text`'s words, for the report.
async fn matching(client: &reqwest::Client, base: &str, q: &str) -> i64 {
    let found: serde_json::Value = client
        .get(with_query(
            &format!("{base}/api/articles"),
            &[("q", q), ("limit", "1")],
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    found["articlesCount"].as_i64().unwrap()
}

async fn bench(backend: &str, url: &str, data: &std::path::Path) {
    let posts = env_number("QUIRE_BENCH_POSTS", 100_000);
    let requests = env_number("QUIRE_BENCH_REQUESTS", 3_000);
    let server = start(url, data);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(8)
        .build()
        .unwrap();
    wait_until_up(&client, &server.base).await;
    common::register(&client, &server.base, "owner").await;
    let db = Db::connect(url, PoolSize(2), None).await.unwrap();
    let author: i64 = query("SELECT id FROM users WHERE username = 'owner'")
        .scalar(&db)
        .await
        .unwrap();
    let seeding = Instant::now();
    seed(&db, author, posts).await;
    if backend == "postgres" {
        query("ANALYZE posts").execute(&db).await.unwrap();
    }
    println!(
        "{backend:<9} {posts} posts written and indexed in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    db.close().await;

    let queries = [
        word(30),
        word(300),
        word(3000),
        format!("{} {}", word(30), word(300)),
        format!("\"{} {}\"", word(10), word(20)),
        format!("{} -{}", word(30), word(100)),
    ];
    for q in &queries {
        let found = matching(&client, &server.base, q).await;
        println!("{backend:<9}   q={q:<24} matches {found:>6} posts");
    }
    let base = server.base.clone();
    // One reader at a time (how long a search takes), then eight at once
    // (what two cores serve).
    for connections in [1, 8] {
        let mut floor = load(connections, requests, {
            let (client, base) = (client.clone(), base.clone());
            move |_| client.get(format!("{base}/healthz"))
        })
        .await;
        let floor_p99 = floor.percentile(0.99);
        let mut run = load(connections, requests, {
            let (client, base, queries) = (client.clone(), base.clone(), queries.clone());
            move |i| {
                let q = queries[i % queries.len()].as_str();
                client.get(with_query(
                    &format!("{base}/search"),
                    &[("q", q), ("n", &format!("{connections}-{i}"))],
                ))
            }
        })
        .await;
        println!(
            "{backend:<9} /search, {connections} connection(s): {:>6.0}/s  p50 {:>6.2} ms  p99 {:>6.2} ms (target ≤ 50 ms); /healthz p99 {:.2} ms",
            run.per_second(),
            run.percentile(0.50).as_secs_f64() * 1e3,
            run.percentile(0.99).as_secs_f64() * 1e3,
            floor_p99.as_secs_f64() * 1e3,
        );
    }
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; there is nothing else to parse.
    common::on_each_database("search", |backend, url, data| async move {
        bench(backend, &url, &data).await
    })
    .await;
}
