//! Pages anonymous readers share: served from memory with an ETag, a 304
//! for a reader who has the page, and never stale after a change.

use crate::backend_test;
use crate::helpers::Page;

fn etag(page: &Page) -> String {
    page.headers
        .get("etag")
        .expect("an anonymous reader's page has an ETag")
        .to_str()
        .unwrap()
        .to_owned()
}

/// A conditional GET, as a browser that has the page with `tag` sends it.
async fn revalidate(reader: &crate::helpers::Browser, path: &str, tag: &str) -> reqwest::Response {
    reader
        .client
        .get(reader.url(path))
        .header("if-none-match", tag)
        .send()
        .await
        .unwrap()
}

backend_test!(
    anonymous_readers_share_a_page_that_changes_with_the_site,
    |app| {
        let token = app.api_register("owner").await;
        app.login("owner", "correct horse").await;
        let slug = app.publish("Shared", "Read *me*.", "").await;
        let path = format!("/posts/{slug}");
        let reader = app.new_browser();

        let first = reader.get(&path).await;
        first.assert_status(200);
        assert_eq!(first.headers["cache-control"], "no-cache");
        let tag = etag(&first);
        let again = reader.get(&path).await;
        assert_eq!(etag(&again), tag, "the same page, the same validator");
        assert_eq!(again.body, first.body);

        // A reader who has the page gets 304 and no body.
        let response = revalidate(&reader, &path, &tag).await;
        assert_eq!(response.status(), 304);
        assert!(response.text().await.unwrap().is_empty());

        // A comment shows at once: the change forgot the cached page.
        app.post(
            &format!("{path}/comments"),
            &[("body", "First!"), ("action", "")],
        )
        .await
        .assert_status(303);
        let after = reader.get(&path).await;
        assert!(after.contains("First!"), "{}", after.body);
        assert_ne!(etag(&after), tag);
        let response = revalidate(&reader, &path, &tag).await;
        assert_eq!(response.status(), 200, "an old validator gets the new page");

        // Changes through the API count too; refused ones change nothing.
        let before = reader.get("/").await;
        let (status, _) = app
            .api(
                reqwest::Method::PUT,
                &format!("/api/articles/{slug}"),
                None,
                Some(serde_json::json!({"article": {"title": "x"}})),
            )
            .await;
        assert_eq!(status, 401);
        assert_eq!(etag(&reader.get("/").await), etag(&before));
        let (status, _) = app
        .api(
            reqwest::Method::POST,
            "/api/articles",
            Some(&token),
            Some(serde_json::json!({"article": {"title": "Through the API", "description": "d", "body": "b"}})),
        )
        .await;
        assert_eq!(status, 201);
        let home = reader.get("/").await;
        assert!(home.contains("Through the API"), "{}", home.body);
        assert_ne!(etag(&home), etag(&before));
    }
);

backend_test!(signed_in_pages_are_never_shared, |app| {
    app.register("owner").await;
    let slug = app.publish("Mine", "Private view.", "").await;
    let path = format!("/posts/{slug}");
    let own = app.get(&path).await;
    assert!(own.headers.get("etag").is_none());
    assert_eq!(own.headers["cache-control"], "private, no-store");
    assert!(own.contains("Sign out"));

    let reader = app.new_browser();
    for _ in 0..2 {
        let page = reader.get(&path).await;
        assert!(!page.contains("Sign out"), "{}", page.body);
        assert!(!page.contains("csrf_token"));
        assert!(page.contains("Sign in"));
    }
    // And the owner still sees their own page after readers filled the cache.
    assert!(app.get(&path).await.contains("Sign out"));
});

backend_test!(maintenance_is_not_hidden_by_the_cache, |app| {
    app.register("owner").await;
    let slug = app.publish("Up", "Soon down.", "").await;
    let reader = app.new_browser();
    reader
        .get(&format!("/posts/{slug}"))
        .await
        .assert_status(200);
    reader.get("/").await.assert_status(200);
    quire::maintenance::turn_on(&app.db, None).await.unwrap();
    crate::helpers::eventually("readers see the maintenance page", || async {
        reader.get(&format!("/posts/{slug}")).await.status == 503
            && reader.get("/").await.status == 503
    })
    .await;
});

/// Two replicas on one PostgreSQL database: a change made through one is
/// seen at once on the other, whose cached pages it makes go (NOTIFY),
/// not only after the cache's ten seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_replica_shows_on_the_other_at_once() {
    use crate::helpers::{Browser, QuireProcess};
    let Some((dir, url, _database)) = crate::helpers::postgres_only().await else {
        return;
    };
    let serve = || {
        QuireProcess::start(
            &["serve", "--migrate"],
            &url,
            dir.path(),
            &[("QUIRE_RATE_LIMITS", "off")],
        )
    };
    let one = serve();
    one.wait_until_up().await;
    let other = serve();
    other.wait_until_up().await;
    let writer = Browser::new(url::Url::parse(&one.base).unwrap());
    let token = writer.api_register("writer").await;
    let (status, article) = writer
        .api(
            reqwest::Method::POST,
            "/api/articles",
            Some(&token),
            Some(serde_json::json!({"article": {"title": "Twice", "description": "d", "body": "b", "tagList": []}})),
        )
        .await;
    assert_eq!(status, 201);
    let path = format!("/posts/{}", article["article"]["slug"].as_str().unwrap());
    let reader = Browser::new(url::Url::parse(&other.base).unwrap());
    // Cached on the other replica, with no comment yet.
    for _ in 0..2 {
        assert!(reader.get(&path).await.texts(".comment").is_empty());
    }
    let (status, _) = writer
        .api(
            reqwest::Method::POST,
            &format!("{}/comments", path.replace("/posts/", "/api/articles/")),
            Some(&token),
            Some(serde_json::json!({"comment": {"body": "Seen everywhere"}})),
        )
        .await;
    assert_eq!(status, 201);
    let started = std::time::Instant::now();
    while reader.get(&path).await.texts(".comment").is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "the other replica still shows its cached page"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
