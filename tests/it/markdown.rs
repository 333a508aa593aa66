//! Markdown is work an author asks for: bounded, done when written, and
//! never again when read.

use crate::backend_test;
use quire::db::query;
use reqwest::Method;
use serde_json::json;

/// Took the sanitizer half a second before nesting was bounded (32,000
/// took 17 s; this one fits in a comment).
fn too_deep() -> String {
    ">".repeat(8_000) + " x"
}

backend_test!(
    markdown_nested_too_deeply_is_refused_everywhere_it_is_written,
    |app| {
        let token = app.api_register("writer").await;
        app.login("writer", "correct horse").await;
        let message = "nests too deeply";

        let page = app
            .post(
                "/editor",
                &[
                    ("title", "Deep"),
                    ("body", &too_deep()),
                    ("action", "publish"),
                ],
            )
            .await;
        page.assert_status(422);
        assert!(page.contains(message), "{}", page.body);
        let page = app
            .post(
                "/editor",
                &[
                    ("title", "Deep"),
                    ("body", &too_deep()),
                    ("action", "preview"),
                ],
            )
            .await;
        page.assert_status(422);
        assert!(page.contains(message));
        let fragment = app.post("/preview", &[("body", &too_deep())]).await;
        fragment.assert_status(422);
        assert!(fragment.body.contains(message), "{}", fragment.body);
        assert!(
            !fragment.body.contains("<html"),
            "the words alone, for the editor"
        );

        let article = json!({"article": {"title": "Deep", "description": "d", "body": too_deep()}});
        let (status, body) = app
            .api(Method::POST, "/api/articles", Some(&token), Some(article))
            .await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body["errors"]["body"][0]
                .as_str()
                .unwrap()
                .contains(message),
            "{body}"
        );

        let slug = app.publish("Shallow", "fine", "").await;
        let page = app
            .post(
                &format!("/posts/{slug}/comments"),
                &[("body", &too_deep()), ("action", "")],
            )
            .await;
        page.assert_status(422);
        assert!(page.contains(message));
        let comment = json!({"comment": {"body": too_deep()}});
        let (status, body) = app
            .api(
                Method::POST,
                &format!("/api/articles/{slug}/comments"),
                Some(&token),
                Some(comment),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        let (status, body) = app
            .api(
                Method::PUT,
                "/api/user",
                Some(&token),
                Some(json!({"user": {"bio": ">".repeat(100) + " x"}})),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        // Nothing of it was stored.
        let stored: i64 = query("SELECT COUNT(*) FROM comments")
            .scalar(&app.db)
            .await
            .unwrap();
        assert_eq!(stored, 0);
    }
);

backend_test!(reading_shows_the_html_stored_when_written, |app| {
    app.register("writer").await;
    let slug = app.publish("Stored", "**bold** words", "").await;
    let page = app.get(&format!("/posts/{slug}")).await;
    assert!(page.body.contains("<strong>bold</strong>"));

    // What a page shows is what was stored: no Markdown is rendered to read.
    query("UPDATE posts SET body_html = '<p>from storage</p>' WHERE slug = $1")
        .bind(&slug)
        .execute(&app.db)
        .await
        .unwrap();
    // Written behind the app's back: its cached copy goes as after a change.
    app.app.pages.forget_all();
    let page = app.get(&format!("/posts/{slug}")).await;
    assert!(page.contains("from storage"), "{}", page.body);

    // HTML from another version of the renderer is made again, and stored.
    query("UPDATE posts SET body_html_version = 0 WHERE slug = $1")
        .bind(&slug)
        .execute(&app.db)
        .await
        .unwrap();
    app.app.pages.forget_all();
    let page = app.get(&format!("/posts/{slug}")).await;
    assert!(page.body.contains("<strong>bold</strong>"), "{}", page.body);
    let (html, version): (String, i32) =
        query("SELECT body_html, body_html_version FROM posts WHERE slug = $1")
            .bind(&slug)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(html.contains("<strong>bold</strong>"));
    assert_eq!(version, quire::markdown::VERSION);

    // A release that knows nothing of stored HTML edits the body (a
    // rolling deploy): the stale HTML is not shown.
    query("UPDATE posts SET body = '*edited* by an older release' WHERE slug = $1")
        .bind(&slug)
        .execute(&app.db)
        .await
        .unwrap();
    app.app.pages.forget_all();
    let page = app.get(&format!("/posts/{slug}")).await;
    assert!(page.body.contains("<em>edited</em>"), "{}", page.body);

    // Comments likewise.
    app.post(
        &format!("/posts/{slug}/comments"),
        &[("body", "_nice_"), ("action", "")],
    )
    .await
    .assert_status(303);
    query("UPDATE comments SET body = 'older *release*'")
        .execute(&app.db)
        .await
        .unwrap();
    app.app.pages.forget_all();
    let page = app.get(&format!("/posts/{slug}")).await;
    assert!(
        page.body.contains("older <em>release</em>"),
        "{}",
        page.body
    );
    let version: i32 = query("SELECT body_html_version FROM comments")
        .scalar(&app.db)
        .await
        .unwrap();
    assert_eq!(version, quire::markdown::VERSION);
});

backend_test!(previews_are_limited_per_member, |app| {
    app.register("eager").await;
    let mut refused = None;
    for _ in 0..40 {
        let page = app.post("/preview", &[("body", "*typing*")]).await;
        if page.status == 429 {
            refused = Some(page);
            break;
        }
        page.assert_status(200);
    }
    let refused = refused.expect("a burst of previews is refused before the 40th");
    let wait: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // Another member has their own budget.
    let other = app.new_browser();
    other.register("patient").await;
    other
        .post("/preview", &[("body", "*one*")])
        .await
        .assert_status(200);
});
