//! Visit counting: exact under concurrency, durable when acknowledged,
//! rebuildable from its events.

use std::time::Duration;

use quire::db::query;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backend_test;
use crate::helpers::{QuireProcess, fresh_database_url};

const BROWSER_UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126 Safari/537.36";

async fn visit(client: &reqwest::Client, base: &str, name: &str) -> reqwest::Result<Value> {
    client
        .post(format!("{base}/api/visitors/{name}/visits"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await
}

async fn totals(client: &reqwest::Client, base: &str) -> std::collections::HashMap<String, i64> {
    let body: Value = client
        .get(format!("{base}/api/visitors"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["username"].as_str().unwrap().to_owned(),
                v["visits"].as_i64().unwrap(),
            )
        })
        .collect()
}

backend_test!(the_visitor_api_counts_and_lists, |app| {
    let (status, body) = app
        .api(Method::POST, "/api/visitors/alice/visits", None, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["username"], "alice");
    assert_eq!(body["visits"], 1);
    let (_, body) = app
        .api(Method::POST, "/api/visitors/alice/visits", None, None)
        .await;
    assert_eq!(body["visits"], 2);
    app.api(Method::POST, "/api/visitors/bob.b_2-x/visits", None, None)
        .await;
    let (status, body) = app.api(Method::GET, "/api/visitors", None, None).await;
    assert_eq!(status, 200);
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(
        (results[0]["username"].clone(), results[0]["visits"].clone()),
        (json!("alice"), json!(2))
    );
    assert!(results[0]["id"].is_i64());

    // No page shows visitor totals: counting one keeps the cached pages
    // (at thousands a second it would otherwise empty the cache as fast).
    let generation = app.app.pages.generation();
    app.api(Method::POST, "/api/visitors/alice/visits", None, None)
        .await;
    assert_eq!(app.app.pages.generation(), generation);

    for bad in ["a%20b", "%C3%BC", &"x".repeat(81), "semi;colon"] {
        let (status, body) = app
            .api(
                Method::POST,
                &format!("/api/visitors/{bad}/visits"),
                None,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert!(
            body["errors"]["username"][0]
                .as_str()
                .unwrap()
                .starts_with("must be 1 to 80")
        );
    }
});

backend_test!(concurrent_visits_are_all_counted_exactly_once, |app| {
    let base = app.base.as_str().trim_end_matches('/').to_owned();
    let client = reqwest::Client::new();
    let names = ["v0", "v1", "v2", "v3", "v4"];
    let tasks: Vec<_> = (0..64)
        .map(|t| {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for i in 0..25 {
                    let name = names[(t + i) % names.len()];
                    seen.push((
                        name,
                        visit(&client, &base, name).await.unwrap()["visits"]
                            .as_i64()
                            .unwrap(),
                    ));
                }
                seen
            })
        })
        .collect();
    let mut answers: std::collections::HashMap<&str, Vec<i64>> = Default::default();
    for task in tasks {
        for (name, count) in task.await.unwrap() {
            answers.entry(name).or_default().push(count);
        }
    }
    let totals = totals(&client, &base).await;
    for name in names {
        // 64 × 25 visits spread evenly over five names.
        assert_eq!(totals[name], 320, "{name}");
        // Each visit was told a distinct count: 1..=320, none twice.
        let mut counts = answers.remove(name).unwrap();
        counts.sort();
        assert_eq!(counts, (1..=320).collect::<Vec<_>>(), "{name}");
    }
    let events: i64 = query("SELECT COUNT(*) FROM visits")
        .scalar(&app.db)
        .await
        .unwrap();
    assert_eq!(events, 1600);
});

backend_test!(post_views_are_counted_for_people_not_robots, |app| {
    app.register("owner").await;
    let slug = app.publish("Counted", "read me", "").await;
    let readers: Vec<_> = (0..3).map(|_| app.new_browser()).collect();
    for reader in &readers {
        for _ in 0..2 {
            let response = reader
                .client
                .get(reader.url(&format!("/posts/{slug}")))
                .header("user-agent", BROWSER_UA)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
    }
    // A robot, and a draft, are not counted.
    app.client
        .get(app.url(&format!("/posts/{slug}")))
        .header("user-agent", "Googlebot/2.1")
        .send()
        .await
        .unwrap();
    let draft = app.save_draft("Draft", "x").await;
    app.client
        .get(app.url(&format!("/posts/{draft}")))
        .header("user-agent", BROWSER_UA)
        .send()
        .await
        .unwrap();

    // Views are written with the next batch; once it is, the page shows them.
    app.state_flush().await;
    let shown = app
        .get(&format!("/posts/{slug}"))
        .await
        .texts(".view-count")[0]
        .clone();
    assert_eq!(shown, "6 views");
    let viewers: i64 = query("SELECT COUNT(DISTINCT viewer) FROM visits WHERE post_id IS NOT NULL")
        .scalar(&app.db)
        .await
        .unwrap();
    assert_eq!(
        viewers, 3,
        "each anonymous reader is one visitor, by cookie"
    );
    let stats = app.get("/stats").await;
    stats.assert_status(200);
    assert_eq!(
        stats.texts("tbody tr:first-child td"),
        vec!["Counted", "published", "6", "0", "0"]
    );
});

backend_test!(totals_are_rebuilt_from_the_events, |app| {
    for name in ["a", "b", "b", "c", "c", "c"] {
        app.api(
            Method::POST,
            &format!("/api/visitors/{name}/visits"),
            None,
            None,
        )
        .await;
    }
    app.register("owner").await;
    let slug = app.publish("Viewed", "x", "").await;
    app.client
        .get(app.url(&format!("/posts/{slug}")))
        .header("user-agent", BROWSER_UA)
        .send()
        .await
        .unwrap();
    app.state_flush().await;
    for sql in ["UPDATE visitors SET visits = 999", "DELETE FROM post_views"] {
        quire::db::query(sql).execute(&app.db).await.unwrap();
    }
    let rebuilt = quire::features::visits::rebuild_totals(&app.db)
        .await
        .unwrap();
    assert_eq!((rebuilt.visitors, rebuilt.posts), (3, 1));
    let totals = totals(
        &reqwest::Client::new(),
        app.base.as_str().trim_end_matches('/'),
    )
    .await;
    assert_eq!((totals["a"], totals["b"], totals["c"]), (1, 2, 3));
    // Rebuilt behind the app's back (`quire visits rebuild` is another
    // process): pages show it once their cached copy goes, as here.
    app.app.pages.forget_all();
    assert_eq!(
        app.get(&format!("/posts/{slug}"))
            .await
            .texts(".view-count"),
        vec!["1 view"]
    );
});

fn serve(database_url: &str, data_dir: &std::path::Path) -> QuireProcess {
    QuireProcess::start(&["serve", "--migrate"], database_url, data_dir, &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_visits_survive_sigkill() {
    for backend in crate::helpers::backends() {
        let dir = tempfile::tempdir().unwrap();
        let (url, _pg) = fresh_database_url(backend, dir.path()).await.unwrap();
        let mut server = serve(&url, dir.path());
        server.wait_until_up().await;
        let client = reqwest::Client::new();
        let acknowledged = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (client, base, acknowledged) =
                    (client.clone(), server.base.clone(), acknowledged.clone());
                tokio::spawn(async move {
                    for _ in 0..40 {
                        if visit(&client, &base, "durable").await.is_ok() {
                            acknowledged.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        // Kill mid-burst: once some visits are acknowledged, while others
        // are still on their way.
        for _ in 0..500 {
            if acknowledged.load(std::sync::atomic::Ordering::SeqCst) >= 100 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        for task in tasks {
            task.await.unwrap();
        }
        let acknowledged = acknowledged.load(std::sync::atomic::Ordering::SeqCst);
        assert!(acknowledged > 0, "{backend:?}: the burst was under way");
        let mut restarted = serve(&url, dir.path());
        restarted.wait_until_up().await;
        let stored = totals(&client, &restarted.base)
            .await
            .get("durable")
            .copied()
            .unwrap_or(0);
        // Every acknowledged visit is stored; a visit cut off between its
        // commit and its answer may be stored too.
        assert!(
            stored >= acknowledged,
            "{backend:?}: stored {stored} < acknowledged {acknowledged}"
        );
        assert!(stored <= 32 * 40);
        restarted.child.kill().unwrap();
        restarted.child.wait().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_on_one_postgres_count_exactly() {
    let Some((dir, url, _database)) = crate::helpers::postgres_only().await else {
        return;
    };
    let mut first = serve(&url, dir.path());
    first.wait_until_up().await;
    let mut second = serve(&url, dir.path());
    second.wait_until_up().await;
    let client = reqwest::Client::new();
    let tasks: Vec<_> = (0..40)
        .map(|t| {
            let base = if t % 2 == 0 {
                first.base.clone()
            } else {
                second.base.clone()
            };
            let client = client.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    visit(&client, &base, &format!("shared{}", (t + i) % 4))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let totals = totals(&client, &first.base).await;
    for i in 0..4 {
        assert_eq!(totals[&format!("shared{i}")], 250);
    }
    for process in [&mut first, &mut second] {
        process.child.kill().unwrap();
        process.child.wait().unwrap();
    }
}
