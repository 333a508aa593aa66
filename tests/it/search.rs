//! Full-text search, as readers use it from the header and as API clients
//! call it, on both databases: ranking, snippets, the query language,
//! visibility, pagination, and queries that must never be an error.

use reqwest::StatusCode;

use crate::backend_test;
use crate::helpers::{Browser, Page, TestApp};

/// The results page as a reader without a session sees it.
async fn search(app: &TestApp, q: &str) -> Page {
    let url = {
        let mut url = app.url("/search");
        url.query_pairs_mut().append_pair("q", q);
        url
    };
    Browser::page(reqwest::get(url).await.unwrap()).await
}

async fn found(app: &TestApp, q: &str) -> Vec<String> {
    let page = search(app, q).await;
    page.assert_status(200);
    page.texts(".post-card h2 a")
}

backend_test!(search_finds_what_readers_may_see_best_first, |app| {
    app.register("owner").await;
    let runtimes = app
        .publish("Rust async runtimes", "A comparison of executors.", "rust")
        .await;
    let notes = app
        .publish(
            "Weekend notes",
            "I went running. Later I read about Rust and its borrow checker, in `x<y` cases.",
            "",
        )
        .await;
    app.save_draft("Rust draft", "rust rust rust").await;
    app.post(
        "/editor",
        &[
            ("title", "Rust in the future"),
            ("body", "Scheduled rust."),
            ("publish_at", "2099-01-01T00:00"),
            ("action", "publish"),
        ],
    )
    .await
    .assert_status(303);
    let member = app.new_browser();
    member.register("member").await;
    member.save_draft("Member's rust draft", "rust").await;

    // Title and tags weigh more than the text; drafts and scheduled posts,
    // anyone's, are not found.
    assert_eq!(
        found(&app, "rust").await,
        ["Rust async runtimes", "Weekend notes"]
    );
    let page = search(&app, "borrow").await;
    let snippet = page.html();
    let marked: Vec<String> = snippet
        .select(&scraper::Selector::parse(".snippet mark").unwrap())
        .map(|m| m.text().collect())
        .collect();
    assert_eq!(marked, ["borrow"]);
    assert!(page.body.contains("x&lt;y"), "the text is escaped");
    assert!(page.texts("[role=status]")[0].contains("1 post found"));

    // The query language of web search engines, with English stemming.
    assert_eq!(found(&app, "run").await, ["Weekend notes"]);
    assert_eq!(found(&app, "\"borrow checker\"").await, ["Weekend notes"]);
    assert!(found(&app, "\"checker borrow\"").await.is_empty());
    // Phrases left out, and phrases among alternatives (on PostgreSQL each
    // gains its pairs of words; what matches must not change).
    assert_eq!(
        found(&app, "rust -\"borrow checker\"").await,
        ["Rust async runtimes"]
    );
    assert_eq!(
        found(&app, "\"checker borrow\" or \"async runtimes\"").await,
        ["Rust async runtimes"]
    );
    assert_eq!(found(&app, "rust -async").await, ["Weekend notes"]);
    assert_eq!(found(&app, "executors or borrow").await.len(), 2);

    // Nothing a reader types is an error.
    let long = "a".repeat(5000);
    for hostile in [
        "\"",
        "AND",
        "NEAR(",
        "*",
        "-",
        "(((",
        "'; DROP TABLE posts; --",
        "東京",
        "\u{e000}",
        &long,
        "NOT rust",
        "title:rust",
        "^rust",
        "rust*",
        "a OR",
        "or or",
    ] {
        search(&app, hostile).await.assert_status(200);
    }

    // The API searches as the page does.
    let (status, body) = app
        .api(reqwest::Method::GET, "/api/articles?q=rust", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["articlesCount"], 2);
    assert_eq!(body["articles"][0]["title"], "Rust async runtimes");

    // Edits and deletions reach the index in their transaction.
    app.post(
        &format!("/posts/{notes}/edit"),
        &[
            ("title", "Weekend notes"),
            ("body", "Nothing about that any more."),
            ("action", "publish"),
        ],
    )
    .await
    .assert_status(303);
    assert!(found(&app, "borrow").await.is_empty());
    app.post(&format!("/posts/{runtimes}/delete"), &[])
        .await
        .assert_status(303);
    assert!(found(&app, "executors").await.is_empty());

    // Every page has the search form, which needs no script.
    let home = reqwest::get(app.url("/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let home = scraper::Html::parse_document(&home);
    let form =
        scraper::Selector::parse(r#"form[role=search][action="/search"] input[name=q]"#).unwrap();
    assert!(home.select(&form).next().is_some());
});

backend_test!(search_results_come_in_pages, |app| {
    app.register("owner").await;
    for n in 1..=12 {
        app.publish(&format!("Paged {n:02}"), "A paginated story.", "")
            .await;
    }
    let first = search(&app, "paginated").await;
    assert_eq!(first.texts(".post-card h2 a").len(), 10);
    assert!(first.texts("[role=status]")[0].contains("12 posts found"));
    let next = first
        .attr("a[rel=next]", "href")
        .expect("a link to the next page");
    assert!(next.contains("q=paginated"), "{next}");
    let second = reqwest::get(app.url(&format!("/search{next}")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let second = scraper::Html::parse_document(&second);
    let cards = scraper::Selector::parse(".post-card").unwrap();
    assert_eq!(second.select(&cards).count(), 2);
});

backend_test!(
    searches_matching_too_much_come_newest_first_and_bounded,
    |app| {
        app.register("owner").await;
        let owner: i64 = quire::db::query("SELECT id FROM users WHERE username = 'owner'")
            .scalar(&app.db)
            .await
            .unwrap();
        // Past the ranking's bound: written straight into the table, as the
        // site's own writes fill it.
        let posts = quire::features::posts::search::RANKED_AT_MOST + 5;
        let at = quire::db::Timestamp::now() - time::Duration::minutes(1);
        for first in (0..posts).step_by(200) {
            let rows: Vec<i64> = (first..(first + 200).min(posts)).collect();
            let values: Vec<String> = (0..rows.len())
                .map(|r| {
                    let p = |c: usize| format!("${}", r * 2 + c + 1);
                    format!(
                        "({owner}, {slug}, {slug}, '', 'common words', '<p>common words</p>', 2,
                      'published', {at}, {at}, {at}, 'common words', '')",
                        slug = p(0),
                        at = p(1)
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO posts (author_id, slug, title, description, body, body_html,
                 body_html_version, status, published_at, created_at, updated_at,
                 search_text, search_tags) VALUES {}",
                values.join(", ")
            );
            let mut insert = quire::db::Query::assembled(sql);
            for n in rows {
                insert = insert.bind(format!("common-{n:04}")).bind(at);
            }
            insert.execute(&app.db).await.unwrap();
        }

        let page = search(&app, "common").await;
        page.assert_status(200);
        assert!(
            page.texts("[role=status]")[0].contains("More than 1000 posts match"),
            "{:?}",
            page.texts("[role=status]")
        );
        let newest = format!("common-{:04}", posts - 1);
        assert_eq!(page.texts(".post-card h2 a")[0], newest);
        // The last page there is: page 100 of 10 each.
        let last = reqwest::get(app.url("/search?q=common&page=100"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(last.contains("Page 100 of 100"), "{last}");
        let beyond = reqwest::get(app.url("/search?q=common&page=101"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!beyond.contains("post-card"), "nothing past the bound");
        let (_, body) = app
            .api(
                reqwest::Method::GET,
                "/api/articles?q=common&limit=1",
                None,
                None,
            )
            .await;
        assert_eq!(body["articlesCount"], 1000);
        assert_eq!(body["articles"][0]["slug"], newest);
    }
);
