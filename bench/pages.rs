//! Reading under load: `cargo bench --bench pages`.
//!
//! Starts the release server on SQLite (and on PostgreSQL when
//! QUIRE_TEST_POSTGRES_URL is set) with a post of 1,200 words and 20
//! comments, and measures in one run, 64 keep-alive connections each:
//! `/healthz` (the HTTP floor), the post page and the home page for
//! anonymous readers, the post page for a signed-in member, and a
//! conditional GET answered 304. Each figure is printed beside its target,
//! as a share of `/healthz`'s throughput in the same run. Environment:
//! QUIRE_BENCH_REQUESTS (default 50000), QUIRE_BENCH_CONCURRENCY (64).

use reqwest::header;
use serde_json::json;

#[path = "common.rs"]
mod common;

use common::{Run, env_number, load, start, wait_until_up};

const WORDS: usize = 1_200;
const COMMENTS: usize = 20;

/// A post body of `WORDS` words in paragraphs, with some Markdown in it.
fn body() -> String {
    let sentence = "The quick brown fox jumps over the **lazy** dog, and _then_ some `code`. ";
    let paragraph = sentence.repeat(8); // 8 × 15 words
    (0..WORDS / 120)
        .map(|i| format!("## Part {i}\n\n{paragraph}\n\n"))
        .collect()
}

/// Publishes the post through the API, with comments from a second member;
/// returns its slug.
async fn seed(client: &reqwest::Client, base: &str) -> String {
    let owner = common::register(client, base, "owner").await;
    let reader = common::register(client, base, "reader").await;
    let article: serde_json::Value = client
        .post(format!("{base}/api/articles"))
        .header(header::AUTHORIZATION, &owner)
        .json(&json!({"article": {"title": "A long read", "description": "For the benchmark", "body": body(), "tagList": ["bench"]}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let slug = article["article"]["slug"].as_str().unwrap().to_owned();
    for i in 0..COMMENTS {
        let status = client
            .post(format!("{base}/api/articles/{slug}/comments"))
            .header(header::AUTHORIZATION, &reader)
            .json(&json!({"comment": {"body": format!("Comment {i}: *well* said, and [a link](https://example.com/{i}).")}}))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "comment: {status}");
    }
    slug
}

/// A signed-in member's cookies, from the site's own sign-in form.
async fn sign_in(base: &str) -> reqwest::Client {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let form = client
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = form
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the sign-in form has a token")
        .to_owned();
    let response = client
        .post(format!("{base}/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("login", "reader"),
            ("password", "bench password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "signed in");
    client
}

fn report(backend: &str, what: &str, run: &mut Run, floor: f64, target: Option<f64>) {
    println!("{backend:<10} {what:<28} {}", run.against(floor, target));
}

async fn bench(backend: &str, database_url: &str, data_dir: &std::path::Path) {
    let requests = env_number("QUIRE_BENCH_REQUESTS", 50_000);
    let concurrency = env_number("QUIRE_BENCH_CONCURRENCY", 64);
    let server = start(database_url, data_dir);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    wait_until_up(&client, &server.base).await;
    let slug = seed(&client, &server.base).await;
    let post = format!("{}/posts/{slug}", server.base);
    let home = format!("{}/", server.base);
    let healthz = format!("{}/healthz", server.base);

    // A conditional GET of the post page: 304, no body.
    let first = client.get(&post).send().await.unwrap();
    let etag = first
        .headers()
        .get(header::ETAG)
        .cloned()
        .expect("the post page has an ETag");
    let words = first.text().await.unwrap().split_whitespace().count();
    let again = client
        .get(&post)
        .header(header::IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304, "If-None-Match with the current ETag");
    println!("{backend:<10} post page: {words} words of HTML; If-None-Match answered 304");

    let c = client.clone();
    let mut floor_run = load(concurrency, requests, move |_| c.get(&healthz)).await;
    let floor = floor_run.per_second();
    report(backend, "/healthz", &mut floor_run, floor, None);
    let c = client.clone();
    let p = post.clone();
    let mut run = load(concurrency, requests, move |_| c.get(&p)).await;
    report(backend, "post page, anonymous", &mut run, floor, Some(50.0));
    let c = client.clone();
    let mut run = load(concurrency, requests, move |_| c.get(&home)).await;
    report(backend, "home page, anonymous", &mut run, floor, Some(50.0));
    let c = client.clone();
    let p = post.clone();
    let mut run = load(concurrency, requests, move |_| {
        c.get(&p).header(header::IF_NONE_MATCH, etag.clone())
    })
    .await;
    report(backend, "post page, 304", &mut run, floor, None);
    let member = sign_in(&server.base).await;
    let mut run = load(concurrency, requests / 5, move |_| member.get(&post)).await;
    report(backend, "post page, signed in", &mut run, floor, Some(10.0));
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; there is nothing else to parse.
    common::on_each_database("pages", |backend, url, data| async move {
        bench(backend, &url, &data).await
    })
    .await;
}
