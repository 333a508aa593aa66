//! Feeds read by a real parser (feed-rs), as a feed reader without a
//! session fetches them, in the three formats, on both databases.

use feed_rs::model::Feed;
use quire::db::{Timestamp, query};
use reqwest::StatusCode;

use crate::backend_test;
use crate::helpers::TestApp;

const FORMATS: [(&str, &str); 3] = [
    ("feed.xml", "application/rss+xml; charset=utf-8"),
    ("atom.xml", "application/atom+xml; charset=utf-8"),
    ("feed.json", "application/feed+json; charset=utf-8"),
];

/// A feed as a reader gets it: parsed, after checking its type.
async fn feed(app: &TestApp, path: &str, content_type: &str) -> Feed {
    let response = reqwest::get(app.url(path)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert_eq!(response.headers()["content-type"], content_type, "{path}");
    let bytes = response.bytes().await.unwrap();
    feed_rs::parser::parse(&bytes[..]).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn titles(feed: &Feed) -> Vec<String> {
    feed.entries
        .iter()
        .map(|e| e.title.as_ref().unwrap().content.clone())
        .collect()
}

backend_test!(
    feeds_carry_what_visitors_see_with_absolute_addresses,
    |app| {
        app.register("owner").await;
        let slug = app
            .publish(
                "First post",
                "Some *words*, a [tag](/tags/rust) and a note.[^1]\n\n[^1]: The note.",
                "rust, web",
            )
            .await;
        app.save_draft("Secret draft", "Not yet.").await;
        let member = app.new_browser();
        member.register("member").await;
        member.publish("Member post", "Theirs.", "rust").await;
        let post_url = app.public(&format!("/posts/{slug}"));

        for (file, content_type) in FORMATS {
            // The site's feed is the home page as visitors see it: the owner's.
            let site = feed(&app, &format!("/{file}"), content_type).await;
            assert_eq!(titles(&site), ["First post"], "{file}");
            let entry = &site.entries[0];
            assert_eq!(entry.id, post_url, "{file}: the id is the post's address");
            assert_eq!(entry.links[0].href, post_url, "{file}");
            let terms: Vec<_> = entry.categories.iter().map(|c| c.term.as_str()).collect();
            assert_eq!(terms, ["rust", "web"], "{file}");
            assert!(entry.published.is_some(), "{file}");
            let html = entry.content.as_ref().unwrap().body.clone().unwrap();
            assert!(html.contains("<em>words</em>"), "{file}: {html}");
            let tag_url = app.public("/tags/rust");
            assert!(
                html.contains(&format!(r#"href="{tag_url}""#)),
                "{file}: {html}"
            );
            assert!(
                html.contains(&format!(r##"href="{post_url}#user-content-fn-1""##)),
                "{file}: footnotes point into the post: {html}"
            );
            assert!(!html.contains(r#"href="/"#), "{file}: {html}");

            // An author's and a tag's: theirs, anyone's with the tag.
            let theirs = feed(&app, &format!("/users/member/{file}"), content_type).await;
            assert_eq!(titles(&theirs), ["Member post"], "{file}");
            let tagged = feed(&app, &format!("/tags/rust/{file}"), content_type).await;
            assert_eq!(titles(&tagged), ["Member post", "First post"], "{file}");

            for missing in [
                format!("/users/nobody/{file}"),
                format!("/tags/none/{file}"),
            ] {
                let response = reqwest::get(app.url(&missing)).await.unwrap();
                assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
            }
        }

        // Pages name their feeds, in the head and visibly.
        for (page, feed_path) in [
            ("/", "/feed.xml"),
            ("/users/member", "/users/member/feed.xml"),
            ("/tags/rust", "/tags/rust/feed.xml"),
        ] {
            let shown = reqwest::get(app.url(page))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let html = scraper::Html::parse_document(&shown);
            let selector =
                format!(r#"link[rel=alternate][type="application/rss+xml"][href="{feed_path}"]"#);
            assert!(
                html.select(&scraper::Selector::parse(&selector).unwrap())
                    .next()
                    .is_some(),
                "{page} links {feed_path}"
            );
            let visible = format!(r#"a[href="{feed_path}"]"#);
            assert!(
                html.select(&scraper::Selector::parse(&visible).unwrap())
                    .next()
                    .is_some(),
                "{page} shows {feed_path}"
            );
        }
    }
);

backend_test!(feed_readers_that_have_the_feed_get_304, |app| {
    app.register("owner").await;
    app.publish("Dated", "Words.", "").await;
    let client = reqwest::Client::new();
    let first = client.get(app.url("/atom.xml")).send().await.unwrap();
    let etag = first.headers()["etag"].clone();
    let modified = first.headers()["last-modified"].clone();
    let again = |name: &'static str, value: reqwest::header::HeaderValue| {
        let request = client.get(app.url("/atom.xml")).header(name, value);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(again("if-none-match", etag.clone()).await, 304);
    assert_eq!(again("if-modified-since", modified.clone()).await, 304);
    let long_ago = reqwest::header::HeaderValue::from_static("Mon, 01 Jan 2001 00:00:00 GMT");
    assert_eq!(again("if-modified-since", long_ago).await, 200);

    // A new post changes the feed: both validators let it through.
    app.publish("Newer", "More.", "").await;
    assert_eq!(again("if-none-match", etag).await, 200);
});

backend_test!(feeds_can_carry_summaries_only, |app| {
    let app = TestApp::try_spawn_with(app.backend, |s| {
        s.site.feed_content = quire::config::FeedContent::Summary
    })
    .await
    .unwrap();
    app.register("owner").await;
    let long = "word ".repeat(200);
    app.publish("Long", &format!("**Bold** start. {long}"), "")
        .await;
    for (file, content_type) in FORMATS {
        let site = feed(&app, &format!("/{file}"), content_type).await;
        let entry = &site.entries[0];
        let summary = entry.summary.as_ref().unwrap().content.clone();
        assert!(summary.starts_with("Bold start. word"), "{file}: {summary}");
        assert!(
            summary.ends_with('…') && summary.chars().count() <= 281,
            "{file}: {summary}"
        );
        let html = entry.content.as_ref().and_then(|c| c.body.clone());
        assert!(
            html.is_none_or(|body| !body.contains("<strong>")),
            "{file}: no full content"
        );
    }
});

backend_test!(search_engines_get_a_sitemap_and_robots_rules, |app| {
    // Every browser asks for /favicon.ico: it is the site's icon.
    let icon = reqwest::get(app.url("/favicon.ico")).await.unwrap();
    assert_eq!(icon.url().path(), "/static/favicon.svg");
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");

    app.register("owner").await;
    let slug = app.publish("Mapped", "Words.", "rust, c++").await;
    app.save_draft("Unmapped draft", "No.").await;
    let member = app.new_browser();
    member.register("member").await;

    let robots = reqwest::get(app.url("/robots.txt")).await.unwrap();
    assert_eq!(
        robots.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    let robots = robots.text().await.unwrap();
    assert!(robots.contains("Disallow: /editor"), "{robots}");
    assert!(
        robots.contains(&format!("Sitemap: {}", app.public("/sitemap.xml"))),
        "{robots}"
    );

    let map = reqwest::get(app.url("/sitemap.xml")).await.unwrap();
    assert_eq!(
        map.headers()["content-type"],
        "application/xml; charset=utf-8"
    );
    let map = map.text().await.unwrap();
    let doc = roxmltree::Document::parse(&map).unwrap_or_else(|e| panic!("{e}: {map}"));
    let urls: Vec<(String, Option<String>)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("url"))
        .map(|url| {
            let child = |name: &str| {
                url.children()
                    .find(|c| c.has_tag_name(name))
                    .and_then(|c| c.text())
                    .map(str::to_owned)
            };
            (child("loc").unwrap(), child("lastmod"))
        })
        .collect();
    let locs: Vec<&str> = urls.iter().map(|(loc, _)| loc.as_str()).collect();
    let expected = [
        app.public("/"),
        app.public(&format!("/posts/{slug}")),
        app.public("/users/owner"),
        app.public("/tags/c%2B%2B"),
        app.public("/tags/rust"),
    ];
    assert_eq!(locs, expected, "no draft, no author without posts");
    for (loc, lastmod) in &urls {
        let lastmod = lastmod
            .as_deref()
            .unwrap_or_else(|| panic!("{loc} has a date"));
        time::OffsetDateTime::parse(lastmod, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("{loc}: {lastmod}: {e}"));
    }
    for gone in ["/sitemap/2.xml", "/sitemap/0.xml", "/sitemap/x.xml"] {
        let response = reqwest::get(app.url(gone)).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{gone}");
    }
    assert_eq!(
        reqwest::get(app.url("/sitemap/1.xml"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        map,
        "the first part is the whole map while it fits one file"
    );
});

backend_test!(
    a_map_past_fifty_thousand_addresses_is_an_index_of_parts,
    |app| {
        app.register("owner").await;
        let slug = app.publish("The newest", "Words.", "").await;
        // 50,000 more published posts, straight into the database: with the
        // home page, the author and the post above, 50,003 addresses.
        query(
            "INSERT INTO posts (author_id, slug, title, description, body, body_html,
             body_html_version, status, published_at, created_at, updated_at)
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000)
         SELECT (SELECT id FROM users WHERE username = 'owner'), 'bulk-' || i, 'Bulk', '',
                '', '', 1, 'published', $1, $1, $1
         FROM n",
        )
        .bind(Timestamp::now() - time::Duration::days(1))
        .execute(&app.db)
        .await
        .unwrap();

        let text = |path: &'static str| {
            let url = app.url(path);
            async move {
                let response = reqwest::get(url).await.unwrap();
                assert_eq!(response.status(), StatusCode::OK, "{path}");
                response.text().await.unwrap()
            }
        };
        let index = text("/sitemap.xml").await;
        let doc = roxmltree::Document::parse(&index).unwrap();
        assert_eq!(doc.root_element().tag_name().name(), "sitemapindex");
        let parts: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("loc"))
            .filter_map(|n| n.text())
            .collect();
        assert_eq!(
            parts,
            [app.public("/sitemap/1.xml"), app.public("/sitemap/2.xml")]
        );

        let locs = |xml: &str| -> Vec<String> {
            let doc = roxmltree::Document::parse(xml).unwrap();
            assert_eq!(doc.root_element().tag_name().name(), "urlset");
            doc.descendants()
                .filter(|n| n.has_tag_name("loc"))
                .filter_map(|n| n.text().map(str::to_owned))
                .collect()
        };
        let first = locs(&text("/sitemap/1.xml").await);
        let second = locs(&text("/sitemap/2.xml").await);
        assert_eq!(first.len(), 50_000, "a part holds the protocol's most");
        assert_eq!(second.len(), 3);
        assert_eq!(first[0], app.public("/"));
        let all: std::collections::HashSet<&String> = first.iter().chain(&second).collect();
        assert_eq!(all.len(), 50_003, "no address twice");
        assert!(all.contains(&app.public(&format!("/posts/{slug}"))));
        assert!(all.contains(&app.public("/posts/bulk-50000")));
        assert!(all.contains(&app.public("/users/owner")));
        let past = reqwest::get(app.url("/sitemap/3.xml")).await.unwrap();
        assert_eq!(past.status(), StatusCode::NOT_FOUND);
    }
);

/// The `content` of a page's `<meta>` named (or with the property) `name`.
fn meta(html: &scraper::Html, name: &str) -> Option<String> {
    let selector = format!(r#"meta[name="{name}"], meta[property="{name}"]"#);
    html.select(&scraper::Selector::parse(&selector).unwrap())
        .next()
        .and_then(|m| m.value().attr("content").map(str::to_owned))
}

/// The page's structured data (JSON-LD), parsed.
fn json_ld(html: &scraper::Html) -> serde_json::Value {
    let script = scraper::Selector::parse(r#"script[type="application/ld+json"]"#).unwrap();
    let text: String = html
        .select(&script)
        .next()
        .expect("JSON-LD")
        .text()
        .collect();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

async fn anonymous_page(app: &TestApp, path: &str) -> scraper::Html {
    let text = reqwest::get(app.url(path))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    scraper::Html::parse_document(&text)
}

backend_test!(
    pages_describe_themselves_to_search_engines_and_previews,
    |app| {
        app.register("owner").await;
        let slug = app
            .publish(
                "Seen from afar",
                "![A view](https://images.example/view.jpg?w=1&h=2)\n\nThe *first* words of it.",
                "travel",
            )
            .await;
        let post_url = app.public(&format!("/posts/{slug}"));
        let html = anonymous_page(&app, &format!("/posts/{slug}")).await;
        let canonical = scraper::Selector::parse(r#"link[rel=canonical]"#).unwrap();
        assert_eq!(
            html.select(&canonical).next().unwrap().value().attr("href"),
            Some(post_url.as_str())
        );
        assert_eq!(
            meta(&html, "description").as_deref(),
            Some("The first words of it.")
        );
        assert_eq!(meta(&html, "og:title").as_deref(), Some("Seen from afar"));
        assert_eq!(meta(&html, "og:url").as_deref(), Some(post_url.as_str()));
        assert_eq!(
            meta(&html, "og:image").as_deref(),
            Some("https://images.example/view.jpg?w=1&h=2")
        );
        assert_eq!(
            meta(&html, "twitter:card").as_deref(),
            Some("summary_large_image")
        );
        assert_eq!(meta(&html, "robots"), None);
        let data = json_ld(&html);
        assert_eq!(data["@type"], "BlogPosting");
        assert_eq!(data["headline"], "Seen from afar");
        assert_eq!(data["author"]["name"], "owner");
        assert_eq!(data["author"]["url"], app.public("/users/owner"));
        assert!(data["datePublished"].is_string());
        assert_eq!(data["keywords"][0], "travel");

        // The home page: the site, and how to search it.
        let home = anonymous_page(&app, "/?page=1&utm_source=x").await;
        let data = json_ld(&home);
        assert_eq!(data["@type"], "WebSite");
        assert_eq!(
            data["potentialAction"]["target"]["urlTemplate"],
            format!("{}search?q={{search_term_string}}", app.public("/"))
        );
        assert_eq!(
            home.select(&canonical).next().unwrap().value().attr("href"),
            Some(format!("{}?page=1", app.public("/")).as_str()),
            "only the page of the list stays in the canonical address"
        );
        assert_eq!(
            json_ld(&anonymous_page(&app, "/users/owner").await)["@type"],
            "ProfilePage"
        );

        // A draft, seen by its author, is not for indexing.
        let draft = app.save_draft("Not yet", "Soon.").await;
        let page = app.get(&format!("/posts/{draft}")).await;
        assert_eq!(meta(&page.html(), "robots").as_deref(), Some("noindex"));
    }
);
