//! Moving a site: `cargo bench --bench archive`.
//!
//! On SQLite (and on PostgreSQL when QUIRE_TEST_POSTGRES_URL is set),
//! writes a site of QUIRE_BENCH_POSTS (default 10,000) published posts of
//! 300 words with ten comments each (100,000) straight into its database,
//! then times the release binary's `quire export` of it and `quire import`
//! of that archive into a new, empty database of the same kind, with the
//! peak memory (VmHWM) of each process. No target is set by the issue;
//! what matters is that memory stays flat as the site grows (rows are read
//! and written in batches, never all at once).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use quire::db::{Db, PoolSize, Query, Timestamp, query};

// The server and load helpers are for the benches that serve requests.
#[path = "common.rs"]
#[allow(dead_code)]
mod common;

use common::{SECRET, env_number};

const COMMENTS_PER_POST: usize = 10;
const BATCH: usize = 500;

/// Runs `quire ARGS` to its end: how long it took and the most memory it
/// held, in MiB (sampled every 10 ms, so a last peak shorter than that
/// could be missed).
fn measured(database_url: &str, data_dir: &Path, args: &[&str]) -> (Duration, f64) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_quire"))
        .env("QUIRE_DATABASE_URL", database_url)
        .env("QUIRE_DATA_DIR", data_dir)
        .env("QUIRE_SECRET_KEY", SECRET)
        .env("RUST_LOG", "warn")
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .expect("the quire binary runs");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0.0_f64;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_file)
            && let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "quire {args:?} failed");
            return (started.elapsed(), peak_kib / 1024.0);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn migrated(database_url: &str, data_dir: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_quire"))
        .env("QUIRE_DATABASE_URL", database_url)
        .env("QUIRE_DATA_DIR", data_dir)
        .env("QUIRE_SECRET_KEY", SECRET)
        .env("RUST_LOG", "warn")
        .args(["migrate", "up"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "migrate up");
}

/// Words for bodies: the same every run.
fn words(seed: usize, count: usize) -> String {
    const WORDS: [&str; 16] = [
        "quire", "pages", "ink", "margin", "folio", "binding", "thread", "paper", "verse",
        "chapter", "note", "letter", "story", "index", "press", "line",
    ];
    (0..count)
        .map(|i| WORDS[(seed * 7 + i * 13) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

/// Ten members, `posts` published posts by the first, and ten comments
/// on each, written in batches straight into the database.
async fn seed(db: &Db, posts: usize) {
    let now = Timestamp::now();
    for n in 0..10 {
        query(
            "INSERT INTO users (username, username_key, email, password_hash, role, created_at, updated_at)
             VALUES ($1, $1, $2, 'x', $3, $4, $4)",
        )
        .bind(format!("member{n}"))
        .bind(format!("member{n}@example.com"))
        .bind(if n == 0 { "owner" } else { "member" })
        .bind(now)
        .execute(db)
        .await
        .unwrap();
    }
    let first_user: i64 = query("SELECT MIN(id) FROM users").scalar(db).await.unwrap();
    for first in (0..posts).step_by(BATCH) {
        let rows = BATCH.min(posts - first);
        let values: Vec<String> = (0..rows)
            .map(|r| {
                let p = |c: usize| format!("${}", r * 5 + c + 1);
                format!(
                    "({first_user}, {}, {}, '', {}, {}, 2, 'published', {}, {}, {}, {}, '')",
                    p(0),
                    p(1),
                    p(2),
                    p(3),
                    p(4),
                    p(4),
                    p(4),
                    p(2)
                )
            })
            .collect();
        let mut insert = Query::assembled(format!(
            "INSERT INTO posts (author_id, slug, title, description, body, body_html,
                 body_html_version, status, published_at, created_at, updated_at,
                 search_text, search_tags) VALUES {}",
            values.join(", ")
        ));
        for r in 0..rows {
            let n = first + r;
            let body = words(n, 300);
            insert = insert
                .bind(format!("post-{n}"))
                .bind(format!("Post number {n}"))
                .bind(body.clone())
                .bind(format!("<p>{body}</p>\n"))
                .bind(now - time::Duration::minutes((posts - n) as i64));
        }
        insert.execute(db).await.unwrap();
    }
    let post_ids: Vec<i64> = query("SELECT id FROM posts ORDER BY id")
        .scalars(db)
        .await
        .unwrap();
    let comments: Vec<(i64, usize)> = post_ids
        .iter()
        .flat_map(|id| (0..COMMENTS_PER_POST).map(move |c| (*id, c)))
        .collect();
    for chunk in comments.chunks(BATCH) {
        let values: Vec<String> = (0..chunk.len())
            .map(|r| {
                let p = |c: usize| format!("${}", r * 4 + c + 1);
                format!(
                    "({}, {}, {}, {}, {}, {}, 2)",
                    p(0),
                    p(1),
                    p(2),
                    p(3),
                    p(3),
                    p(2)
                )
            })
            .collect();
        let mut insert = Query::assembled(format!(
            "INSERT INTO comments (post_id, author_id, body, created_at, updated_at, body_html,
                 body_html_version) VALUES {}",
            values.join(", ")
        ));
        for (post, c) in chunk {
            insert = insert
                .bind(*post)
                .bind(first_user + (*c as i64 % 10))
                .bind(words(*post as usize + c, 40))
                .bind(now);
        }
        insert.execute(db).await.unwrap();
    }
}

async fn bench(backend: &'static str, url: String, data: std::path::PathBuf, empty: String) {
    let posts = env_number("QUIRE_BENCH_POSTS", 10_000);
    migrated(&url, &data);
    let db = Db::connect(&url, PoolSize(2), None).await.unwrap();
    let seeding = Instant::now();
    seed(&db, posts).await;
    let comments: i64 = query("SELECT COUNT(*) FROM comments")
        .scalar(&db)
        .await
        .unwrap();
    db.close().await;
    println!(
        "{backend:<9} {posts} posts, {comments} comments written in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let archive = data.join("site.quire.tar.gz");
    let (took, peak) = measured(&url, &data, &["export", archive.to_str().unwrap()]);
    let size = std::fs::metadata(&archive).unwrap().len() as f64 / 1024.0 / 1024.0;
    println!(
        "{backend:<9} export: {:>6.1} s, peak RSS {peak:>5.1} MiB, archive {size:.1} MiB",
        took.as_secs_f64()
    );

    let target = data.join("target");
    std::fs::create_dir_all(&target).unwrap();
    migrated(&empty, &target);
    let (took, peak) = measured(&empty, &target, &["import", archive.to_str().unwrap()]);
    println!(
        "{backend:<9} import: {:>6.1} s, peak RSS {peak:>5.1} MiB",
        took.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; there is nothing else to parse.
    println!(
        "archive benchmark: {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let dir = tempfile::tempdir().unwrap();
    for (backend, url) in common::databases(dir.path()).await {
        let data = dir.path().join(backend);
        std::fs::create_dir_all(&data).unwrap();
        // The empty site an archive goes into, of the same kind.
        let empty_name = format!("quire_bench_{}_empty", std::process::id());
        let empty = match backend {
            "sqlite" => format!("sqlite://{}", data.join("empty.db").display()),
            _ => common::create_postgres(&empty_name).await,
        };
        bench(backend, url, data, empty).await;
        if backend == "postgres" {
            common::drop_postgres(&empty_name).await;
        }
    }
    common::drop_databases().await;
}
