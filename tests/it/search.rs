//! Full-text search, as readers use it from the header and as API clients
//! call it, on both databases: ranking, snippets, the query language,
//! visibility, pagination, and queries that must never be an error.

use reqwest::StatusCode;

use crate::backend_test;
use crate::helpers::{Page, TestApp};

/// The results page as a reader without a session sees it.
async fn search(app: &TestApp, q: &str) -> Page {
    let url = {
        let mut url = app.url("/search");
        url.query_pairs_mut().append_pair("q", q);
        url
    };
    let response = reqwest::get(url).await.unwrap();
    let status = response.status();
    Page {
        status,
        location: None,
        headers: response.headers().clone(),
        body: response.text().await.unwrap(),
    }
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
