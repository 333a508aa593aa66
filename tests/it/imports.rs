//! `quire import --from markdown|wordpress`: a Jekyll site, a Hugo site
//! and a WordPress export come in with their posts, drafts, pages, tags,
//! dates, images (and WordPress's threaded comments, by guests); their old
//! addresses redirect; importing again updates rather than copies; a
//! broken file is reported and the rest goes in; a broken export leaves
//! nothing written.

use std::path::{Path, PathBuf};

use quire::db::query;

use crate::backend_test;
use crate::backup::{files_of, quire};
use crate::helpers::TestApp;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

/// Runs `quire import --from FORMAT PATH` on the app's site: whether it
/// succeeded, and what it said.
pub(crate) fn import_from(app: &TestApp, format: &str, path: &Path) -> (bool, String) {
    quire(
        &app.database_url,
        &files_of(app),
        &["import", "--from", format, path.to_str().unwrap()],
    )
}

fn import(app: &TestApp, path: &Path) -> String {
    let (ok, said) = import_from(app, "markdown", path);
    assert!(ok, "{said}");
    said
}

async fn posts_of_owner(app: &TestApp) -> i64 {
    query("SELECT COUNT(*) FROM posts p JOIN users u ON u.id = p.author_id WHERE u.role = 'owner'")
        .scalar(&app.db)
        .await
        .unwrap()
}

/// Where an old address sends its reader.
async fn redirected(app: &TestApp, path: &str) -> Option<String> {
    let page = app.new_browser().get(path).await;
    assert!(
        page.status.is_redirection() || page.status == 404,
        "{path}: {}",
        page.status
    );
    page.location
}

backend_test!(
    a_jekyll_site_comes_in_whole_and_again_without_copies,
    |app| {
        app.register("owner").await;
        let site = tempfile::tempdir().unwrap();
        copy_dir(&fixture("jekyll"), site.path());

        let said = import(&app, site.path());
        assert!(
            said.starts_with(
                "4 added, 0 updated, 1 skipped; 0 comments, 1 images, 4 old addresses redirected"
            ),
            "{said}"
        );
        assert!(
            said.contains("skipped _posts/2020-02-02-broken.md:") && said.contains("never closed"),
            "{said}"
        );
        assert_eq!(posts_of_owner(&app).await, 2 + 1, "two posts and a draft");

        // As written there: title, date, tags and categories, the image now
        // the site's own, the code highlighted.
        let reader = app.new_browser();
        let post = reader.get("/posts/first-light").await;
        post.assert_status(200);
        assert_eq!(post.texts("h1"), ["First light: the harbour at dawn"]);
        assert!(post.contains("naïve"), "{}", post.body);
        let image = post.attr("article img", "src").unwrap();
        assert!(image.starts_with("/media/"), "{image}");
        reader.get(&image).await.assert_status(200);
        assert!(
            post.html()
                .select(
                    &scraper::Selector::parse(".hl-keyword, .hl-function, [class^=hl-]").unwrap()
                )
                .next()
                .is_some()
        );
        let time = post.attr("article time", "datetime").unwrap();
        assert!(time.starts_with("2019-05-12"), "{time}");
        let tagged = reader.get("/tags/notes").await;
        let titles = tagged.texts(".post-card h2 a");
        assert!(
            titles.contains(&"First light: the harbour at dawn".to_owned()),
            "{titles:?}"
        );
        assert!(
            titles.contains(&"Zweiter Beitrag: Über Füße".to_owned()),
            "{titles:?}"
        );
        let second = reader.get("/posts/zweiter-beitrag").await;
        let time = second.attr("article time", "datetime").unwrap();
        assert!(
            time.starts_with("2020-01-03T09:30"),
            "+0100 read as such: {time}"
        );

        // The draft stays a draft; the page is a page.
        reader
            .get("/posts/unfinished-idea")
            .await
            .assert_status(404);
        assert!(
            app.get("/drafts")
                .await
                .texts("a")
                .contains(&"An unfinished idea".to_owned())
        );
        assert_eq!(
            reader.get("/about").await.texts("h1"),
            ["About the harbour"]
        );

        // The old addresses lead to the new ones.
        for (old, new) in [
            ("/notes/2019/05/12/first-light.html", "/posts/first-light"),
            ("/2020/01/03/zweiter-beitrag.html", "/posts/zweiter-beitrag"),
            ("/alt/zweiter/", "/posts/zweiter-beitrag"),
            ("/alt/zweiter", "/posts/zweiter-beitrag"),
            ("/about.html", "/about"),
        ] {
            assert_eq!(redirected(&app, old).await.as_deref(), Some(new), "{old}");
        }
        assert_eq!(redirected(&app, "/2019/05/12/nothing.html").await, None);

        // Again, with a title changed there: updated, not copied.
        let post_file = site.path().join("_posts/2019-05-12-first-light.md");
        let text = std::fs::read_to_string(&post_file).unwrap();
        std::fs::write(
            &post_file,
            text.replace("the harbour at dawn", "the harbour in fog"),
        )
        .unwrap();
        let said = import(&app, site.path());
        assert!(said.starts_with("0 added, 4 updated, 1 skipped"), "{said}");
        assert_eq!(posts_of_owner(&app).await, 3);
        // (In the database: the running server's caches hear of another
        // process's writes at once on PostgreSQL, within their TTL on SQLite.)
        let title: String = query("SELECT title FROM posts WHERE slug = 'first-light'")
            .scalar(&app.db)
            .await
            .unwrap();
        assert_eq!(title, "First light: the harbour in fog");
    }
);

backend_test!(a_hugo_site_comes_in_with_its_bundles_and_aliases, |app| {
    app.register("owner").await;
    let said = import(&app, &fixture("hugo"));
    assert!(
        said.starts_with("4 added, 0 updated, 1 skipped; 0 comments, 2 images"),
        "{said}"
    );
    assert!(
        said.contains("content/posts/garden-bundle/index.md (image nowhere.png): no such file"),
        "{said}"
    );
    let reader = app.new_browser();
    let hello = reader.get("/posts/hello").await;
    hello.assert_status(200);
    assert_eq!(hello.texts("h1"), ["Hello from Hugo"]);
    assert!(
        hello
            .attr("article img", "src")
            .unwrap()
            .starts_with("/media/")
    );
    let garden = reader.get("/posts/garden-bundle").await;
    assert!(
        garden
            .attr("article img", "src")
            .unwrap()
            .starts_with("/media/")
    );
    reader.get("/posts/still-growing").await.assert_status(404);
    assert_eq!(reader.get("/now").await.texts("h1"), ["Now"]);
    for (old, new) in [
        ("/2021/03/hello/", "/posts/hello"),
        ("/old/hello.html", "/posts/hello"),
        ("/2021/06/garden-bundle/", "/posts/garden-bundle"),
        ("/now/", "/now"),
    ] {
        assert_eq!(redirected(&app, old).await.as_deref(), Some(new), "{old}");
    }
});

backend_test!(
    a_wordpress_export_comes_in_with_threaded_guest_comments,
    |app| {
        app.register("owner").await;
        // Jonas has an account here, under another name but the address he
        // had there: his posts are his.
        let (status, body) = app
            .api(
                reqwest::Method::POST,
                "/api/users",
                None,
                Some(serde_json::json!({"user": {"username": "jweber",
                    "email": "jonas@oldblog.example.com", "password": "correct horse"}})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let site = tempfile::tempdir().unwrap();
        copy_dir(&fixture("wordpress"), site.path());
        let export = site.path().join("export.xml");

        let (ok, said) = import_from(&app, "wordpress", &export);
        assert!(ok, "{said}");
        assert!(said.starts_with("7 added, 0 updated, "), "{said}");
        for line in [
            "skipped post:5: in WordPress's trash",
            "skipped nav_menu_item:35: a nav_menu_item, not a post or a page",
            "skipped post:10 (1 comments): marked as spam",
            "skipped post:10 (1 comments): not approved",
            "skipped post:10 (1 comments): pingbacks and trackbacks",
            "(shortcode [contact-form-7]): a plugin's shortcode: kept as text",
            "koeln-dom.jpg): no such file in the source",
        ] {
            assert!(said.contains(line), "{line:?} in {said}");
        }
        assert!(said.contains("; 4 comments, "), "{said}");
        // Three published posts and two drafts (one was private there),
        // all Marta's but one of Jonas's, who has an account here.
        assert_eq!(posts_of_owner(&app).await, 4);

        let reader = app.new_browser();
        let post = reader.get("/posts/first-light").await;
        post.assert_status(200);
        let time = post.attr("article time", "datetime").unwrap();
        assert!(time.starts_with("2019-05-12T05:30"), "{time}");
        // The featured image first, then the post's own; both the site's.
        let images = post.attrs("article .prose img", "src");
        assert!(images.len() >= 2, "{images:?}");
        assert!(
            images.iter().all(|i| i.starts_with("/media/")),
            "{images:?}"
        );
        // Text stays text.
        assert!(post.contains("2 * 3 = 6"), "{}", post.body);
        assert!(post.contains("[pier 4]"), "{}", post.body);
        assert!(post.contains("# not a heading"), "{}", post.body);

        // The comments, threaded, by guests: a name linked to the address
        // they gave, never to an account here.
        assert_eq!(post.texts("#comments-heading"), ["4 comments"]);
        assert_eq!(
            post.attr(".comment-list a.author.guest", "href").as_deref(),
            Some("https://ana.example.org/")
        );
        let third = post.texts(".comment-list .replies .replies .comment .author");
        assert_eq!(third, ["Ana"], "the reply to the reply, two levels down");
        assert!(
            post.attrs(".comment .author", "href")
                .iter()
                .all(|h| !h.starts_with("/users/"))
        );
        let api: serde_json::Value =
            serde_json::from_str(&reader.get("/api/articles/first-light/comments").await.body)
                .unwrap();
        assert_eq!(api["comments"].as_array().unwrap().len(), 4);

        // Tags from categories and tags; WordPress's "Uncategorized" is not one.
        let tagged = reader.get("/tags/köln").await;
        assert!(
            tagged
                .texts(".post-card h2 a")
                .contains(&"Grüße aus Köln".to_owned())
        );
        reader.get("/tags/uncategorized").await.assert_status(404);
        let grüße = reader.get("/posts/gruesse-aus-koeln").await;
        grüße.assert_status(200);
        assert_eq!(
            grüße.attr(".post-header a.author", "href").as_deref(),
            Some("/users/jweber")
        );
        assert!(grüße.contains("ß"));
        // The private post is a draft, never public.
        reader.get("/posts/notes-to-self").await.assert_status(404);
        assert_eq!(reader.get("/about").await.status, 200);
        assert_eq!(
            redirected(&app, "/2019/05/first-light/").await.as_deref(),
            Some("/posts/first-light")
        );

        // Again: everything updated, nothing copied.
        let (ok, said) = import_from(&app, "wordpress", &export);
        assert!(ok, "{said}");
        assert!(said.starts_with("0 added, 7 updated, "), "{said}");
        assert!(said.contains("; 4 comments, "), "{said}");
        let comments: i64 = query("SELECT COUNT(*) FROM comments")
            .scalar(&app.db)
            .await
            .unwrap();
        assert_eq!(comments, 4);
        assert_eq!(posts_of_owner(&app).await, 4);
    }
);

backend_test!(
    a_ghost_export_comes_in_from_lexical_mobiledoc_and_html,
    |app| {
        app.register("owner").await;
        let export = fixture("ghost/export.json");
        let (ok, said) = import_from(&app, "ghost", &export);
        assert!(ok, "{said}");
        assert!(said.starts_with("6 added, 0 updated, "), "{said}");
        for line in [
            "skipped tag:hash-newsletter: one of Ghost's internal tags",
            "old-map.jpg): no such file in the source",
        ] {
            assert!(said.contains(line), "{line:?} in {said}");
        }
        assert_eq!(posts_of_owner(&app).await, 5);

        let reader = app.new_browser();
        // Lexical only: every node made Markdown, the Markdown card kept.
        let every = reader.get("/posts/every-card-in-one-post").await;
        every.assert_status(200);
        assert_eq!(every.texts("article .prose strong")[0], "bold");
        let headings = every.texts("article .prose :is(h2, h3)");
        assert!(
            headings.iter().any(|h| h.contains("Checklist")),
            "{headings:?}"
        );
        assert!(every.contains("2 * 3 = 6 boats"), "{}", every.body);
        assert!(
            every
                .attr("article .prose img", "src")
                .unwrap()
                .starts_with("/media/")
        );
        assert!(!every.texts("article .prose pre").is_empty());
        assert!(
            every
                .texts("article .prose em")
                .contains(&"dawn".to_owned()),
            "the caption"
        );
        // Mobiledoc only.
        let tides = reader.get("/posts/tide-tables-in-markdown").await;
        assert!(
            tides
                .texts("article .prose strong")
                .contains(&"twice a day".to_owned())
        );
        // HTML, with its feature image first and its tags (not the internal one).
        let hafen = reader.get("/posts/gruesse-vom-hafen").await;
        assert_eq!(hafen.texts("h1"), ["Grüße vom Hafen"]);
        assert!(
            hafen
                .attr("article .prose img", "src")
                .unwrap()
                .starts_with("/media/")
        );
        assert_eq!(
            hafen.texts("ul.tags a"),
            ["Travel", "Köln"],
            "in Ghost's order"
        );
        // The scheduled post waits for its day; the draft is a draft.
        reader
            .get("/posts/new-year-at-the-harbour")
            .await
            .assert_status(404);
        reader.get("/posts/winter-plans").await.assert_status(404);
        assert_eq!(reader.get("/about").await.status, 200);
        assert_eq!(
            redirected(&app, "/every-card-in-one-post/")
                .await
                .as_deref(),
            Some("/posts/every-card-in-one-post")
        );

        let (ok, said) = import_from(&app, "ghost", &export);
        assert!(ok, "{said}");
        assert!(said.starts_with("0 added, 6 updated, "), "{said}");
        assert_eq!(posts_of_owner(&app).await, 5);
    }
);

backend_test!(a_wordpress_export_cut_short_writes_nothing, |app| {
    app.register("owner").await;
    let site = tempfile::tempdir().unwrap();
    let whole = std::fs::read_to_string(fixture("wordpress/export.xml")).unwrap();
    let cut = site.path().join("export.xml");
    std::fs::write(&cut, &whole[..whole.len() * 3 / 4]).unwrap();
    let (ok, said) = import_from(&app, "wordpress", &cut);
    assert!(!ok, "{said}");
    assert!(
        said.contains("cut short") || said.contains("not well-formed"),
        "{said}"
    );
    assert_eq!(posts_of_owner(&app).await, 0);
    let imported: i64 = query("SELECT COUNT(*) FROM imported")
        .scalar(&app.db)
        .await
        .unwrap();
    assert_eq!(imported, 0);
});

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A zip of the folder at `root`, its files under `prefix/`.
fn zip_folder(root: &Path, prefix: &str) -> Vec<u8> {
    use std::io::Write;
    fn add(writer: &mut zip::ZipWriter<std::io::Cursor<Vec<u8>>>, dir: &Path, name: &str) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let inner = format!("{name}/{}", entry.file_name().to_string_lossy());
            if entry.file_type().unwrap().is_dir() {
                add(writer, &entry.path(), &inner);
            } else {
                writer
                    .start_file(inner, zip::write::SimpleFileOptions::default())
                    .unwrap();
                writer
                    .write_all(&std::fs::read(entry.path()).unwrap())
                    .unwrap();
            }
        }
    }
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    add(&mut writer, root, prefix);
    writer.finish().unwrap().into_inner()
}

/// Posts the owner's import form; the page it answers with.
async fn upload(
    app: &TestApp,
    format: &str,
    file: Option<(&str, Vec<u8>)>,
) -> crate::helpers::Page {
    use reqwest::multipart::{Form, Part};
    let mut form = Form::new()
        .text("csrf_token", app.csrf().await)
        .text("format", format.to_owned());
    if let Some((name, bytes)) = file {
        form = form.part("file", Part::bytes(bytes).file_name(name.to_owned()));
    }
    let response = app
        .client
        .post(app.url("/admin/import"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    crate::helpers::Browser::page(response).await
}

backend_test!(the_owner_uploads_an_export_and_follows_its_import, |app| {
    app.register("owner").await;
    let page = app.get("/admin/import").await;
    page.assert_status(200);
    assert_eq!(page.texts("#runs-heading"), ["Imports"]);

    // Nothing chosen, or a Markdown site that is not a zip: said so.
    let refused = upload(&app, "wordpress", None).await;
    refused.assert_status(422);
    assert!(
        refused.texts("#file-errors li")[0].contains("must be chosen"),
        "{:?}",
        refused.texts("#file-errors li")
    );

    // WordPress's export with its uploads folder, zipped.
    let zip = zip_folder(&fixture("wordpress"), "oldblog");
    let sent = upload(&app, "wordpress", Some(("oldblog.zip", zip))).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let run = sent.location.clone().unwrap();
    assert!(run.starts_with("/admin/import/"), "{run}");
    let waiting = app.get(&run).await;
    assert!(
        waiting
            .attr("meta[http-equiv=refresh]", "content")
            .is_some()
    );
    assert!(!waiting.texts("progress").is_empty());

    let worker = app.start_worker(|_| {});
    app.jobs_settled().await;
    worker.stop().await;

    let done = app.get(&run).await;
    assert!(done.attr("meta[http-equiv=refresh]", "content").is_none());
    let summary = done.texts("p.notice")[0].clone();
    assert!(
        summary.starts_with("Done: 7 added, 0 updated,")
            && summary.contains("4 comments, 5 images"),
        "{summary}"
    );
    assert!(
        done.texts("#skipped-heading + ul li")
            .iter()
            .any(|l| l.contains("koeln-dom.jpg") && l.contains("no such file")),
        "{:?}",
        done.texts("#skipped-heading + ul li")
    );
    assert_eq!(posts_of_owner(&app).await, 5);
    // The upload is gone from the file store once read.
    let left = std::fs::read_dir(files_of(&app).join("scratch/imports"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(left, 0);

    let markdown = upload(&app, "markdown", Some(("notes.md", b"# Hi".to_vec()))).await;
    assert_eq!(markdown.status, 303);
    let worker = app.start_worker(|_| {});
    app.jobs_settled().await;
    worker.stop().await;
    let failed = app.get(markdown.location.as_deref().unwrap()).await;
    assert!(
        failed.texts("[role=alert]")[0].contains("uploaded as a .zip"),
        "{:?}",
        failed.texts("[role=alert]")
    );
    assert_eq!(
        app.get("/admin/import").await.texts("tbody td:last-child"),
        ["failed", "done"]
    );
});
