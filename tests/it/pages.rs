//! Standalone pages (About, Now…): written, ordered and deleted by
//! administrators at /admin/pages, shown at /{slug} and linked in every
//! page's header, in their order.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use quire::features::pages::RESERVED;

use crate::backend_test;
use crate::helpers::{Browser, Page};

/// Submits the new-page form as the page would.
async fn create(browser: &Browser, title: &str, slug: &str, body: &str) -> Page {
    browser
        .post(
            "/admin/pages/new",
            &[
                ("title", title),
                ("slug", slug),
                ("body", body),
                ("action", "save"),
            ],
        )
        .await
}

/// The header's links to the site's pages, in order.
fn nav(page: &Page) -> Vec<String> {
    // The header's links, as wide screens show them (a phone's menu
    // holds the same).
    page.texts(".nav-wide .nav-page a")
}

/// The pages as the administrators' list shows them: title and id, in order.
async fn listed(browser: &Browser) -> Vec<(String, i64)> {
    let list = browser.get("/admin/pages").await;
    list.assert_status(200);
    let html = list.html();
    let rows = scraper::Selector::parse("tr[id^=page-]").unwrap();
    let title = scraper::Selector::parse("th").unwrap();
    html.select(&rows)
        .map(|row| {
            let id = row.value().attr("id").unwrap()["page-".len()..]
                .parse()
                .unwrap();
            let title = row.select(&title).next().unwrap().text().collect();
            (title, id)
        })
        .collect()
}

async fn move_page(browser: &Browser, id: i64, direction: &str) {
    browser
        .post(
            &format!("/admin/pages/{id}/move"),
            &[("direction", direction)],
        )
        .await
        .assert_redirect(&format!("/admin/pages#page-{id}"));
}

backend_test!(
    the_owner_writes_orders_and_deletes_pages_and_the_navigation_follows,
    |app| {
        app.register("owner").await;
        let reader = app.new_browser();
        assert!(nav(&reader.get("/").await).is_empty());

        create(&app, "About", "", "Who writes here.")
            .await
            .assert_redirect("/about");
        create(&app, "Now", "", "What I do now.")
            .await
            .assert_redirect("/now");
        create(&app, "Get in touch", "contact", "Write to me.")
            .await
            .assert_redirect("/contact");
        let about = reader.get("/about").await;
        about.assert_status(200);
        assert_eq!(about.texts("h1"), vec!["About"]);
        assert_eq!(nav(&about), vec!["About", "Now", "Get in touch"]);
        assert_eq!(
            about.attr(".nav-wide .nav-page a[aria-current=page]", "href"),
            Some("/about".into())
        );
        assert!(about.texts(".standalone-page .actions").is_empty());
        assert!(app.get("/about").await.contains("Edit page"));

        let ids = listed(&app).await;
        let titles: Vec<&str> = ids.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(titles, vec!["About", "Now", "Get in touch"]);
        let (about_id, now_id, contact_id) = (ids[0].1, ids[1].1, ids[2].1);

        // Editing: the form shows what is stored; a new address moves it.
        let form = app.get(&format!("/admin/pages/{}/edit", now_id)).await;
        form.assert_status(200);
        assert_eq!(form.attr("#slug", "value"), Some("now".into()));
        app.post(
            &format!("/admin/pages/{}/edit", now_id),
            &[
                ("title", "Now (2026)"),
                ("slug", "now-2026"),
                ("body", "Writing *tests*."),
                ("action", "save"),
            ],
        )
        .await
        .assert_redirect("/now-2026");
        reader.get("/now").await.assert_status(404);
        let now = reader.get("/now-2026").await;
        assert!(now.contains("Writing <em>tests</em>."));
        assert_eq!(nav(&now), vec!["About", "Now (2026)", "Get in touch"]);

        // Reordering, with buttons that need no script.
        move_page(&app, contact_id, "up").await;
        assert_eq!(
            nav(&reader.get("/").await),
            vec!["About", "Get in touch", "Now (2026)"]
        );
        move_page(&app, about_id, "down").await;
        move_page(&app, now_id, "down").await; // the last stays last
        move_page(&app, contact_id, "up").await;
        move_page(&app, contact_id, "up").await; // the first stays first
        assert_eq!(
            nav(&reader.get("/").await),
            vec!["Get in touch", "About", "Now (2026)"]
        );
        let list = app.get("/admin/pages").await;
        assert_eq!(
            list.texts(&format!("tr#page-{} button", about_id)),
            vec!["Move up “About”", "Move down “About”"]
        );
        app.post(
            &format!("/admin/pages/{}/move", about_id),
            &[("direction", "sideways")],
        )
        .await
        .assert_status(400);

        // Deleting asks first.
        let confirm = app.get(&format!("/admin/pages/{}/delete", about_id)).await;
        confirm.assert_status(200);
        assert_eq!(confirm.texts("h1"), vec!["Delete “About”?"]);
        app.post(&format!("/admin/pages/{}/delete", about_id), &[])
            .await
            .assert_redirect("/admin/pages");
        reader.get("/about").await.assert_status(404);
        assert_eq!(
            nav(&reader.get("/").await),
            vec!["Get in touch", "Now (2026)"]
        );
        app.get(&format!("/admin/pages/{}/edit", about_id))
            .await
            .assert_status(404);
        // The owner's header links the administrators' list.
        assert_eq!(
            app.get("/")
                .await
                .attr(".nav a[href='/admin/pages']", "href"),
            Some("/admin/pages".into())
        );
    }
);

backend_test!(only_administrators_manage_pages, |app| {
    app.register("owner").await;
    create(&app, "About", "", "Mine.").await.assert_status(303);
    let id = listed(&app).await[0].1;

    let member = app.new_browser();
    member.register("member").await;
    assert!(
        member
            .get("/")
            .await
            .attr(".nav a[href='/admin/pages']", "href")
            .is_none()
    );
    for path in [
        "/admin/pages".to_owned(),
        "/admin/pages/new".to_owned(),
        format!("/admin/pages/{id}/edit"),
        format!("/admin/pages/{id}/delete"),
    ] {
        member.get(&path).await.assert_status(403);
    }
    create(&member, "Mine now", "", "x")
        .await
        .assert_status(403);
    let edit = [("title", "Taken over"), ("body", "x"), ("action", "save")];
    member
        .post(&format!("/admin/pages/{id}/edit"), &edit)
        .await
        .assert_status(403);
    member
        .post(&format!("/admin/pages/{id}/delete"), &[])
        .await
        .assert_status(403);
    member
        .post(&format!("/admin/pages/{id}/move"), &[("direction", "down")])
        .await
        .assert_status(403);

    // Anyone else is asked to sign in.
    let visitor = app.new_browser();
    visitor
        .get("/admin/pages")
        .await
        .assert_redirect("/login?next=%2Fadmin%2Fpages&why=members");
    let answer = visitor
        .post(&format!("/admin/pages/{id}/delete"), &[])
        .await;
    assert_eq!(answer.status, 303);
    assert!(answer.location.unwrap().starts_with("/login"));

    assert_eq!(listed(&app).await, vec![("About".to_owned(), id)]);
    assert_eq!(
        nav(&visitor.get("/about").await),
        vec!["About"],
        "nothing changed"
    );
});

backend_test!(
    reserved_addresses_and_bad_input_are_refused_beside_their_fields,
    |app| {
        app.register("owner").await;
        // Each address of the site's own, asked for or made from the title.
        for reserved in RESERVED {
            let page = create(&app, "A page", reserved, "Text.").await;
            page.assert_status(422);
            assert_eq!(
                page.texts("#slug-errors li"),
                vec![
                    "Address is one of the site's own (such as /search or /login); choose another"
                ],
                "{reserved}"
            );
            assert_eq!(page.attr("#slug", "value").as_deref(), Some(*reserved));
        }
        let page = create(&app, "Search", "", "Text.").await;
        page.assert_status(422);
        assert_eq!(page.texts("#slug-errors li").len(), 1);
        assert_eq!(
            create(&app, "Admin", "ADMIN", "x").await.status,
            422,
            "in any case"
        );

        let cases: &[(&str, &str, &str, &str, &str)] = &[
            ("", "", "Text.", "#title-errors li", "Title can't be blank"),
            (
                &"t".repeat(201),
                "t",
                "Text.",
                "#title-errors li",
                "Title is too long (at most 200 characters)",
            ),
            ("About", "", "  ", "#body-errors li", "Body can't be blank"),
            (
                "About",
                "About Me",
                "Text.",
                "#slug-errors li",
                "Address may hold only lower-case letters, digits and single hyphens, like about-me",
            ),
            (
                "About",
                &"a".repeat(61),
                "Text.",
                "#slug-errors li",
                "Address is too long (at most 60 characters)",
            ),
            (
                "About",
                "",
                &"> ".repeat(60),
                "#body-errors li",
                "Body nests too deeply (at most 48 levels of quotes, lists and HTML elements)",
            ),
        ];
        for (title, slug, body, selector, message) in cases {
            let page = create(&app, title, slug, body).await;
            page.assert_status(422);
            assert_eq!(page.texts(selector), vec![message.to_string()]);
            assert!(page.contains("Please correct the fields marked below."));
            // What was typed is kept.
            assert_eq!(page.attr("#slug", "value").as_deref(), Some(*slug));
            assert_eq!(
                page.texts("#body"),
                vec![body.split_whitespace().collect::<Vec<_>>().join(" ")]
            );
        }

        // An address another page has.
        create(&app, "About", "", "One.").await.assert_status(303);
        let page = create(&app, "About", "", "Two.").await;
        page.assert_status(422);
        assert_eq!(
            page.texts("#slug-errors li"),
            vec!["Address has already been taken"]
        );
        let id = listed(&app).await[0].1;
        create(&app, "Other", "", "x").await.assert_status(303);
        let other = listed(&app).await[1].1;
        let page = app
            .post(
                &format!("/admin/pages/{other}/edit"),
                &[
                    ("title", "Other"),
                    ("slug", "about"),
                    ("body", "x"),
                    ("action", "save"),
                ],
            )
            .await;
        page.assert_status(422);
        assert_eq!(
            page.texts("#slug-errors li"),
            vec!["Address has already been taken"]
        );
        assert_ne!(id, other);

        // A control character is refused before any field is read.
        create(&app, "Nul\0", "", "x").await.assert_status(400);
        create(&app, "Fine", "", "bell\u{7}")
            .await
            .assert_status(400);
        // Nothing else was saved, and without an anti-forgery token nothing is.
        app.post_raw(
            "/admin/pages/new",
            &[("title", "Forged"), ("body", "x"), ("action", "save")],
        )
        .await
        .assert_status(403);
        let titles: Vec<String> = listed(&app).await.into_iter().map(|(t, _)| t).collect();
        assert_eq!(titles, vec!["About", "Other"]);

        // A preview shows the body rendered and saves nothing.
        let preview = app
            .post(
                "/admin/pages/new",
                &[
                    ("title", "Draft"),
                    ("body", "*soon*"),
                    ("action", "preview"),
                ],
            )
            .await;
        preview.assert_status(200);
        assert!(preview.contains("<em>soon</em>"));
        assert_eq!(listed(&app).await.len(), 2);
    }
);

/// Every top-level segment of an address the router answers, read from the
/// source as `tests/it/layering.rs` reads it: a page there would never be
/// reached.
#[test]
fn every_top_level_route_of_the_site_is_reserved() {
    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    /// The string literal at the start of `text`, if one is there.
    fn literal(text: &str) -> Option<&str> {
        let text = text.strip_prefix('"')?;
        Some(&text[..text.find('"')?])
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut segments = BTreeSet::new();
    for file in files {
        let name = file.file_name().unwrap().to_str().unwrap();
        // The API's routes are under /api; metrics have their own listener
        // (QUIRE_METRICS_BIND).
        if name == "api.rs" || name == "metrics.rs" {
            continue;
        }
        let source = std::fs::read_to_string(&file).unwrap();
        for call in [".route(", ".nest("] {
            for (at, _) in source.match_indices(call) {
                let argument = source[at + call.len()..].trim_start();
                let path = literal(argument).map(str::to_owned).or_else(|| {
                    // A constant of the same file: `const NAME: &str = "…";`
                    let name: String = argument
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    let definition = format!("const {name}: &str = ");
                    let at = source.find(&definition)?;
                    literal(&source[at + definition.len()..]).map(str::to_owned)
                });
                let Some(path) = path else {
                    // `&format!("/{file}")`: the feeds, checked below.
                    continue;
                };
                let first = path.trim_start_matches('/').split('/').next().unwrap();
                if !first.is_empty() && !first.starts_with('{') {
                    segments.insert(first.to_owned());
                }
            }
        }
    }
    for format in quire::features::feeds::Format::ALL {
        segments.insert(format.file_name().to_owned());
    }
    assert!(
        segments.contains("admin") && segments.contains("api") && segments.contains("feed.xml")
    );
    let missing: Vec<&String> = segments
        .iter()
        .filter(|s| !RESERVED.contains(&s.as_str()))
        .collect();
    assert!(missing.is_empty(), "not in pages::RESERVED: {missing:?}");
}

backend_test!(pages_are_in_the_sitemap, |app| {
    app.register("owner").await;
    create(&app, "About", "", "Me.").await.assert_status(303);
    create(&app, "Ünïcödé", "", "Yes.").await.assert_status(303);
    let map = reqwest::get(app.url("/sitemap.xml"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let doc = roxmltree::Document::parse(&map).unwrap_or_else(|e| panic!("{e}: {map}"));
    let locs: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("loc"))
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(
        locs,
        vec![
            app.public("/"),
            app.public("/about"),
            app.public("/%C3%BCn%C3%AFc%C3%B6d%C3%A9"),
        ]
    );
    let lastmods = doc
        .descendants()
        .filter(|n| n.has_tag_name("lastmod"))
        .count();
    assert_eq!(lastmods, 2, "each page says when it changed: {map}");
    // The page's address as written works.
    app.new_browser()
        .get("/%C3%BCn%C3%AFc%C3%B6d%C3%A9")
        .await
        .assert_status(200);
});

backend_test!(a_new_page_shows_in_the_navigation_of_cached_pages, |app| {
    app.register("owner").await;
    app.publish("A post", "Words.", "").await;
    let reader = app.new_browser();
    let first = reader.get("/").await;
    let again = reader.get("/").await;
    assert_eq!(
        first.headers["etag"], again.headers["etag"],
        "the home page is served from the cache"
    );
    assert!(nav(&again).is_empty());

    create(&app, "About", "", "Me.").await.assert_status(303);
    assert_eq!(nav(&reader.get("/").await), vec!["About"]);
    assert_eq!(nav(&reader.get("/posts/a-post").await), vec!["About"]);
    let about = reader.get("/about").await;
    assert_eq!(
        about.headers["etag"],
        reader.get("/about").await.headers["etag"],
        "a page is served from the cache too"
    );

    let id = listed(&app).await[0].1;
    app.post(
        &format!("/admin/pages/{id}/edit"),
        &[
            ("title", "About me"),
            ("slug", "about"),
            ("body", "Me, again."),
            ("action", "save"),
        ],
    )
    .await
    .assert_status(303);
    assert_eq!(nav(&reader.get("/").await), vec!["About me"]);
    assert!(reader.get("/about").await.contains("Me, again."));

    create(&app, "Now", "", "Now.").await.assert_status(303);
    let now = listed(&app).await[1].1;
    move_page(&app, now, "up").await;
    assert_eq!(nav(&reader.get("/").await), vec!["Now", "About me"]);

    app.post(&format!("/admin/pages/{id}/delete"), &[])
        .await
        .assert_status(303);
    assert_eq!(nav(&reader.get("/").await), vec!["Now"]);
    reader.get("/about").await.assert_status(404);
    // Error pages have the navigation too.
    assert_eq!(nav(&reader.get("/nowhere").await), vec!["Now"]);
});

backend_test!(a_page_is_rendered_sanitized_and_described, |app| {
    app.register("owner").await;
    let body = "# Hello\n\nI write **Rust**.<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n[me](javascript:alert(3))";
    create(&app, "About", "", body).await.assert_status(303);
    let page = app.new_browser().get("/about").await;
    page.assert_status(200);
    assert_eq!(page.texts("h1"), vec!["About"]);
    assert_eq!(
        page.texts(".prose h2"),
        ["Hello"],
        "headings sit below the title"
    );
    assert!(page.contains("<strong>Rust</strong>"));
    assert!(!page.contains("alert("), "{}", page.body);
    assert!(!page.contains("onerror"));
    assert_eq!(
        page.attr("link[rel=canonical]", "href"),
        Some(app.public("/about"))
    );
    assert_eq!(
        page.attr("meta[name=description]", "content"),
        Some("Hello I write Rust. me".into())
    );
    assert_eq!(
        page.attr("meta[property='og:title']", "content"),
        Some("About".into())
    );
    let script = page.texts(r#"script[type="application/ld+json"]"#);
    let data: serde_json::Value = serde_json::from_str(&script[0]).unwrap();
    assert_eq!(data["@type"], "WebPage");
    assert_eq!(data["name"], "About");
    assert_eq!(data["url"], app.public("/about"));
    // A page is not a post: nothing to like or comment on.
    assert!(page.texts("#reactions, #comments, .like-count").is_empty());
    assert_eq!(page.attr("html", "lang"), Some("en".into()));
});

backend_test!(images_on_a_page_are_kept_as_its_own, |app| {
    use image::{DynamicImage, ImageFormat};
    let token = app.api_register("owner").await;
    app.login("owner", "correct horse").await;
    let mut png = Vec::new();
    DynamicImage::new_rgb8(40, 30)
        .write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png)
        .unwrap();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(png).file_name("logo.png"),
    );
    let upload: serde_json::Value = app
        .client
        .post(app.url("/api/uploads"))
        .header("authorization", format!("Token {token}"))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = upload["upload"]["url"].as_str().unwrap().to_owned();
    create(&app, "About", "", &format!("![Our logo]({url})"))
        .await
        .assert_status(303);
    let page = app.new_browser().get("/about").await;
    assert_eq!(page.attr(".prose img", "width"), Some("40".into()));
    assert_eq!(
        page.attr("meta[property='og:image']", "content"),
        Some(app.public(&url))
    );
    assert_eq!(
        app.get("/media")
            .await
            .attr(".media-list a[href='/about']", "href"),
        Some("/about".into()),
        "the media page says where the image is used"
    );

    // Used, it stays past the day housekeeping gives unused uploads.
    let later = quire::db::Timestamp::now() + time::Duration::days(2);
    let purged = quire::features::media::purge_unused(&app.app, later)
        .await
        .unwrap();
    assert_eq!((purged.uploads, purged.objects), (0, 0));
    let id = listed(&app).await[0].1;
    app.post(&format!("/admin/pages/{id}/delete"), &[])
        .await
        .assert_status(303);
    let purged = quire::features::media::purge_unused(&app.app, later)
        .await
        .unwrap();
    assert_eq!((purged.uploads, purged.objects), (1, 1));
});
