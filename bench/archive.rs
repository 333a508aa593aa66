//! Moving a site: `cargo bench --bench archive`.
//!
//! On SQLite (and on PostgreSQL when QUIRE_TEST_POSTGRES_URL is set),
//! writes a site of QUIRE_BENCH_POSTS (default 10,000) published posts of
//! 300 words with ten comments each (100,000) straight into its database,
//! then times the release binary's `quire export` of it and `quire import`
//! of that archive into a new, empty database of the same kind, with the
//! peak memory (VmHWM) of each process. Then the same size of site comes
//! from elsewhere: a WordPress export (WXR) of as many posts and comments
//! (threaded), imported with `quire import --from wordpress` into another
//! empty database, which is then exported. No target is set by the issue;
//! what matters is that memory stays flat as the site grows (rows are read
//! and written in batches, never all at once) — but for the WordPress
//! file, which is read whole before anything is written (a file cut short
//! must change nothing), so its memory grows with the file.

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

/// A WordPress export of `posts` published posts of 300 words in
/// paragraphs, each with ten approved comments, every other one a reply
/// to the one before.
fn write_wxr(file: &Path, posts: usize) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(file).unwrap());
    writeln!(
        out,
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0" xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"
 xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:wp="http://wordpress.org/export/1.2/">
<channel><title>Bench</title><link>https://bench.example.com</link>
<wp:wxr_version>1.2</wp:wxr_version><wp:base_site_url>https://bench.example.com</wp:base_site_url>"#
    )
    .unwrap();
    let mut comment_id = 0;
    for post in 1..=posts {
        let body: String = (0..6)
            .map(|p| format!("<p>{}</p>\n", words(post * 6 + p, 50)))
            .collect();
        write!(
            out,
            "<item><title><![CDATA[Post {post}: {}]]></title>\
             <link>https://bench.example.com/2020/01/post-{post}/</link>\
             <content:encoded><![CDATA[{body}]]></content:encoded>\
             <excerpt:encoded><![CDATA[]]></excerpt:encoded>\
             <wp:post_id>{post}</wp:post_id>\
             <wp:post_date_gmt><![CDATA[2020-01-01 10:00:00]]></wp:post_date_gmt>\
             <wp:post_name><![CDATA[post-{post}]]></wp:post_name>\
             <wp:status><![CDATA[publish]]></wp:status><wp:post_type><![CDATA[post]]></wp:post_type>\
             <category domain=\"post_tag\" nicename=\"t{}\"><![CDATA[t{}]]></category>",
            words(post, 4),
            post % 50,
            post % 50
        )
        .unwrap();
        for n in 0..COMMENTS_PER_POST {
            comment_id += 1;
            let parent = if n % 2 == 1 { comment_id - 1 } else { 0 };
            write!(
                out,
                "<wp:comment><wp:comment_id>{comment_id}</wp:comment_id>\
                 <wp:comment_author><![CDATA[Reader {n}]]></wp:comment_author>\
                 <wp:comment_author_url>https://reader{n}.example.org</wp:comment_author_url>\
                 <wp:comment_date_gmt><![CDATA[2020-01-02 1{n}:00:00]]></wp:comment_date_gmt>\
                 <wp:comment_content><![CDATA[{}]]></wp:comment_content>\
                 <wp:comment_approved><![CDATA[1]]></wp:comment_approved>\
                 <wp:comment_type><![CDATA[comment]]></wp:comment_type>\
                 <wp:comment_parent>{parent}</wp:comment_parent></wp:comment>",
                words(comment_id, 20)
            )
            .unwrap();
        }
        writeln!(out, "</item>").unwrap();
    }
    writeln!(out, "</channel></rss>").unwrap();
    out.flush().unwrap();
}

/// A WordPress site of the same size imported into the empty database at
/// `url`, then exported.
async fn bench_wordpress(backend: &'static str, url: String, data: &Path, wxr: &Path) {
    migrated(&url, data);
    let db = Db::connect(&url, PoolSize(1), None).await.unwrap();
    query(
        "INSERT INTO users (username, username_key, email, password_hash, role, created_at, updated_at)
         VALUES ('owner', 'owner', 'owner@example.com', 'x', 'owner', $1, $1)",
    )
    .bind(Timestamp::now())
    .execute(&db)
    .await
    .unwrap();
    db.close().await;
    let (took, peak) = measured(
        &url,
        data,
        &["import", "--from", "wordpress", wxr.to_str().unwrap()],
    );
    let db = Db::connect(&url, PoolSize(1), None).await.unwrap();
    let (posts, comments): (i64, i64) = (
        query("SELECT COUNT(*) FROM posts")
            .scalar(&db)
            .await
            .unwrap(),
        query("SELECT COUNT(*) FROM comments")
            .scalar(&db)
            .await
            .unwrap(),
    );
    db.close().await;
    println!(
        "{backend:<9} import --from wordpress: {:>6.1} s, peak RSS {peak:>5.1} MiB ({posts} posts, {comments} comments)",
        took.as_secs_f64()
    );
    let archive = data.join("imported.quire.tar.gz");
    let (took, peak) = measured(&url, data, &["export", archive.to_str().unwrap()]);
    println!(
        "{backend:<9} export of it: {:>6.1} s, peak RSS {peak:>5.1} MiB",
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
        bench(backend, url, data.clone(), empty).await;
        if backend == "postgres" {
            common::drop_postgres(&empty_name).await;
        }
    }
    let posts = env_number("QUIRE_BENCH_POSTS", 10_000);
    let wxr = dir.path().join("wordpress.xml");
    write_wxr(&wxr, posts);
    println!(
        "WordPress export of {posts} posts, {} comments: {:.1} MiB",
        posts * COMMENTS_PER_POST,
        std::fs::metadata(&wxr).unwrap().len() as f64 / 1024.0 / 1024.0
    );
    for backend in ["sqlite", "postgres"] {
        let data = dir.path().join(format!("{backend}-wordpress"));
        std::fs::create_dir_all(&data).unwrap();
        let name = format!("quire_bench_{}_wordpress", std::process::id());
        let url = match backend {
            "sqlite" => format!("sqlite://{}", data.join("quire.db").display()),
            _ if std::env::var("QUIRE_TEST_POSTGRES_URL").is_ok() => {
                common::create_postgres(&name).await
            }
            _ => continue,
        };
        bench_wordpress(backend, url, &data, &wxr).await;
        if backend == "postgres" {
            common::drop_postgres(&name).await;
        }
    }
    common::drop_databases().await;
}
