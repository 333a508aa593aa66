use crate::backend_test;

backend_test!(publishing_a_post_shows_it_rendered_with_its_tags, |app| {
    app.register("author").await;
    let body = "# Heading\n\nSome **bold** text and a table:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```rust\nfn main() {}\n```\n\nA footnote[^1], $x^2$ and https://example.com.\n\n[^1]: The note.\n";
    let slug = app
        .publish("Hello, World!", body, "rust, web, Rust Lang")
        .await;
    assert_eq!(slug, "hello-world");
    let page = app.get("/posts/hello-world").await;
    page.assert_status(200);
    assert_eq!(page.texts("h1")[0], "Hello, World!");
    assert!(page.contains("<strong>bold</strong>"));
    assert_eq!(
        page.texts(".prose h2"),
        ["Heading"],
        "headings sit below the title"
    );
    assert!(
        page.contains(r##"<h2 id="user-content-heading">Heading<a href="#user-content-heading""##),
        "headings link to themselves"
    );
    assert!(page.contains("<table tabindex=\"0\">"));
    assert!(page.contains("<code class=\"language-rust\"><span class=\"hl-keyword\">fn</span>"));
    assert!(
        page.contains("<msup><mi>x</mi><mn>2</mn></msup>"),
        "math as MathML"
    );
    assert!(page.contains("href=\"https://example.com\""));
    assert!(page.contains("The note."));
    assert_eq!(
        page.texts(".post .tags a"),
        vec!["rust", "web", "Rust Lang"],
        "tags keep their order"
    );
    assert!(page.texts(".post .meta")[0].contains("1 min read"));
    assert!(!page.texts(".post .meta")[0].contains("edited"));
});

backend_test!(preview_renders_without_saving, |app| {
    app.register("previewer").await;
    let page = app
        .post(
            "/editor",
            &[
                ("title", "Draft idea"),
                ("body", "*emphasis*"),
                ("tags", "x"),
                ("action", "preview"),
            ],
        )
        .await;
    page.assert_status(200);
    assert!(
        page.contains("<em>emphasis</em>"),
        "the preview shows the rendered Markdown"
    );
    assert!(
        page.contains("value=\"Draft idea\""),
        "the form keeps what was typed"
    );
    let drafts = app.get("/drafts").await;
    assert!(
        drafts.texts(".post-card h2").is_empty(),
        "nothing was saved"
    );
    // The live preview endpoint used by the script.
    let fragment = app.post("/preview", &[("body", "## Sub")]).await;
    fragment.assert_status(200);
    assert!(
        fragment
            .body
            .trim()
            .starts_with(r##"<h3 id="user-content-sub">Sub<a href="#user-content-sub""##),
        "{}",
        fragment.body
    );
});

backend_test!(drafts_are_visible_to_their_author_only, |app| {
    app.register("owner").await;
    let slug = app.save_draft("Secret plans", "Not yet.").await;
    let own = app.get(&format!("/posts/{slug}")).await;
    own.assert_status(200);
    assert!(own.texts(".badge").contains(&"Draft".to_owned()));
    assert_eq!(
        app.get("/drafts").await.texts(".post-card h2"),
        vec!["Secret plans"]
    );
    assert!(app.get("/").await.texts(".post-card h2").is_empty());

    let visitor = app.new_browser();
    visitor
        .get(&format!("/posts/{slug}"))
        .await
        .assert_status(404);
    let member = app.new_browser();
    member.register("member").await;
    member
        .get(&format!("/posts/{slug}"))
        .await
        .assert_status(404);
    member
        .get(&format!("/posts/{slug}/edit"))
        .await
        .assert_status(404);

    // Not even an admin (the owner is one) reads a member's draft.
    let member_draft = member.save_draft("Member's draft", "mine").await;
    app.get(&format!("/posts/{member_draft}"))
        .await
        .assert_status(404);
    app.get(&format!("/posts/{member_draft}/edit"))
        .await
        .assert_status(404);
    app.post(&format!("/posts/{member_draft}/delete"), &[])
        .await
        .assert_status(404);
});

// A hidden post's title must not be probeable: publishing a post of the
// same title gets the plain slug, exactly as if the draft did not exist.
backend_test!(a_hidden_posts_title_cannot_be_probed_through_slugs, |app| {
    app.register("owner").await;
    let draft = app.save_draft("Secret plans", "Not yet.").await;
    assert!(draft.starts_with("secret-plans-"), "{draft}");
    let member = app.new_browser();
    member.register("member").await;
    assert_eq!(
        member.publish("Secret plans", "Mine.", "").await,
        "secret-plans"
    );
    // Between two public posts the suffix reveals nothing new.
    assert_ne!(
        member.publish("Secret plans", "Again.", "").await,
        "secret-plans"
    );
});

backend_test!(scheduled_posts_stay_hidden_until_their_time, |app| {
    app.register("owner").await;
    let page = app
        .post(
            "/editor",
            &[
                ("title", "Future"),
                ("body", "Later."),
                ("publish_at", "2999-01-01T09:00"),
                ("action", "publish"),
            ],
        )
        .await;
    // Hidden until its time, so its slug has a random suffix.
    let path = page.location.clone().expect("a redirect to the post");
    assert!(path.starts_with("/posts/future-"), "{path}");
    let own = app.get(&path).await;
    assert!(
        own.texts(".badge")
            .iter()
            .any(|b| b.starts_with("Scheduled for"))
    );
    assert_eq!(
        app.get("/drafts").await.texts(".post-card h2"),
        vec!["Future"]
    );
    app.new_browser().get(&path).await.assert_status(404);

    let page = app
        .post(
            "/editor",
            &[
                ("title", "Past"),
                ("body", "Earlier."),
                ("publish_at", "2001-02-03T04:05"),
                ("action", "publish"),
            ],
        )
        .await;
    page.assert_status(303);
    let visitor = app.new_browser().get("/posts/past").await;
    visitor.assert_status(200);
    assert!(visitor.contains("datetime=\"2001-02-03T04:05:00Z\""));

    let page = app
        .post(
            "/editor",
            &[
                ("title", "Bad"),
                ("body", "x"),
                ("publish_at", "next tuesday"),
                ("action", "publish"),
            ],
        )
        .await;
    page.assert_status(422);
    assert!(page.texts(".field-errors li")[0].starts_with("Publish at must be a date and time"));
});

backend_test!(editor_errors_rerender_with_what_was_typed, |app| {
    app.register("owner").await;
    let long_tag = "t".repeat(41);
    let page = app
        .post(
            "/editor",
            &[
                ("title", "  "),
                ("body", ""),
                ("tags", &long_tag),
                ("description", "Kept"),
                ("action", "publish"),
            ],
        )
        .await;
    page.assert_status(422);
    let errors = page.texts(".field-errors li");
    assert!(
        errors.contains(&"Title can't be blank".to_owned()),
        "{errors:?}"
    );
    assert!(
        errors.contains(&"Body can't be blank".to_owned()),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("Tags must each be at most 40")),
        "{errors:?}"
    );
    assert!(page.contains("value=\"Kept\""));
    let too_many: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
    let page = app
        .post(
            "/editor",
            &[
                ("title", "T"),
                ("body", "B"),
                ("tags", &too_many.join(",")),
                ("action", "publish"),
            ],
        )
        .await;
    page.assert_status(422);
    assert!(app.get("/drafts").await.texts(".post-card").is_empty());
    assert!(
        app.get("/").await.texts(".post-card").is_empty(),
        "nothing half-saved"
    );
});

backend_test!(same_titles_get_distinct_slugs, |app| {
    app.register("owner").await;
    let first = app.publish("Same title", "one", "").await;
    let second = app.publish("Same title", "two", "").await;
    assert_eq!(first, "same-title");
    assert_ne!(first, second);
    assert!(second.starts_with("same-title-"));
    assert!(app.get(&format!("/posts/{second}")).await.contains("two"));
});

backend_test!(
    editing_keeps_the_slug_and_marks_published_posts_edited,
    |app| {
        app.register("owner").await;
        let slug = app.publish("Original", "First version", "a, b").await;
        let form = app.get(&format!("/posts/{slug}/edit")).await;
        form.assert_status(200);
        assert!(form.contains("value=\"a, b\""));
        let page = app
            .post(
                &format!("/posts/{slug}/edit"),
                &[
                    ("title", "Renamed"),
                    ("body", "Second version"),
                    ("tags", "b, c"),
                    ("action", "publish"),
                ],
            )
            .await;
        page.assert_redirect(&format!("/posts/{slug}"));
        let post = app.get(&format!("/posts/{slug}")).await;
        assert_eq!(post.texts("h1")[0], "Renamed");
        assert!(post.contains("Second version"));
        assert_eq!(post.texts(".post .tags a"), vec!["b", "c"]);
        assert!(post.texts(".post .meta")[0].contains("edited"));
        app.get("/tags/a").await.assert_status(404);

        // Drafts are not "edited" when they are finally published.
        let draft = app.save_draft("Draft", "v1").await;
        app.post(
            &format!("/posts/{draft}/edit"),
            &[("title", "Draft"), ("body", "v2"), ("action", "publish")],
        )
        .await;
        assert!(
            !app.get(&format!("/posts/{draft}"))
                .await
                .texts(".post .meta")[0]
                .contains("edited")
        );
    }
);

backend_test!(deleting_asks_for_confirmation_then_removes, |app| {
    app.register("owner").await;
    let slug = app.publish("Doomed", "bye", "gone").await;
    let confirm = app.get(&format!("/posts/{slug}/delete")).await;
    confirm.assert_status(200);
    assert!(confirm.contains("Delete “Doomed”?"));
    app.post(&format!("/posts/{slug}/delete"), &[])
        .await
        .assert_redirect("/");
    app.get(&format!("/posts/{slug}")).await.assert_status(404);
    app.get("/tags/gone").await.assert_status(404);
});

backend_test!(only_authors_and_admins_may_change_posts, |app| {
    app.register("owner").await;
    let writer = app.new_browser();
    writer.register("writer").await;
    let other = app.new_browser();
    other.register("other").await;
    let slug = writer.publish("Writer's post", "mine", "").await;

    let page = other.get(&format!("/posts/{slug}")).await;
    assert!(
        !page.contains("Edit post"),
        "no edit control on other people's posts"
    );
    assert!(!page.contains("Delete post"));
    other
        .get(&format!("/posts/{slug}/edit"))
        .await
        .assert_status(403);
    other
        .post(
            &format!("/posts/{slug}/edit"),
            &[("title", "Hijacked"), ("body", "x"), ("action", "publish")],
        )
        .await
        .assert_status(403);
    other
        .post(&format!("/posts/{slug}/delete"), &[])
        .await
        .assert_status(403);
    assert_eq!(
        app.get(&format!("/posts/{slug}")).await.texts("h1")[0],
        "Writer's post"
    );

    // The owner is an admin and moderates.
    let page = app.get(&format!("/posts/{slug}")).await;
    assert!(page.contains("Edit post"));
    app.post(&format!("/posts/{slug}/delete"), &[])
        .await
        .assert_redirect("/");
    app.get(&format!("/posts/{slug}")).await.assert_status(404);
});

backend_test!(hostile_markdown_is_sanitized_on_the_page, |app| {
    app.register("owner").await;
    let body = "<script>alert('x')</script>\n\n<img src=x onerror=alert(1)>\n\n[link](javascript:alert(1))\n\n<a href=\"JAVASCRIPT:alert(1)\">y</a>";
    let slug = app.publish("Hostile <script>", body, "<b>tag</b>").await;
    let page = app.get(&format!("/posts/{slug}")).await;
    let prose = page.html();
    let article = scraper::Selector::parse(".post").unwrap();
    let html = prose.select(&article).next().unwrap().html().to_lowercase();
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("onerror"), "{html}");
    assert!(!html.contains("javascript:"), "{html}");
    assert!(
        html.contains("hostile &lt;script&gt;"),
        "titles are escaped: {html}"
    );
    assert!(html.contains("&lt;b&gt;tag&lt;/b&gt;"), "tags are escaped");
});

backend_test!(likes_count_and_are_taken_back_by_their_giver_only, |app| {
    app.register("owner").await;
    let slug = app.publish("Likeable", "like me", "").await;
    let page = app.get(&format!("/posts/{slug}")).await;
    assert!(!page.contains(">Like<"), "no like button on your own post");
    let page = app.post(&format!("/posts/{slug}/like"), &[]).await;
    page.assert_status(422);
    assert!(page.contains("Reaction is not possible on your own post"));

    let fan = app.new_browser();
    fan.register("fan").await;
    let other_fan = app.new_browser();
    other_fan.register("otherfan").await;
    fan.post(&format!("/posts/{slug}/like"), &[])
        .await
        .assert_redirect(&format!("/posts/{slug}#reactions"));
    fan.post(&format!("/posts/{slug}/like"), &[])
        .await
        .assert_status(303);
    other_fan.post(&format!("/posts/{slug}/like"), &[]).await;
    assert_eq!(
        app.get(&format!("/posts/{slug}"))
            .await
            .texts(".like-count"),
        vec!["2 likes"]
    );
    let page = fan.get(&format!("/posts/{slug}")).await;
    assert!(page.contains("aria-pressed=\"true\">Unlike"));

    // Unliking removes the caller's like, never someone else's.
    fan.post(&format!("/posts/{slug}/unlike"), &[])
        .await
        .assert_status(303);
    fan.post(&format!("/posts/{slug}/unlike"), &[])
        .await
        .assert_status(303);
    assert_eq!(
        app.get(&format!("/posts/{slug}"))
            .await
            .texts(".like-count"),
        vec!["1 like"]
    );
    assert!(
        other_fan
            .get(&format!("/posts/{slug}"))
            .await
            .contains("Unlike")
    );
});

backend_test!(unknown_slugs_get_the_404_page, |app| {
    let page = app.get("/posts/no-such-post").await;
    page.assert_status(404);
    assert!(page.contains("Page not found"));
    assert!(page.contains("class=\"site-header\""), "in the site's look");
    app.get("/tags/nothing").await.assert_status(404);
    app.get("/users/nobody").await.assert_status(404);
    app.get("/no/such/route").await.assert_status(404);
});

backend_test!(
    a_scheduled_post_goes_live_at_its_time_with_no_worker,
    |app| {
        app.register("owner").await;
        // Visibility is a comparison with the clock, so no job has to run for
        // the post to appear (and none can be late): this app runs no worker.
        let at = quire::db::Timestamp::now().as_datetime() + time::Duration::seconds(3);
        let at = at
            .format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]"
            ))
            .unwrap();
        let page = app
            .post(
                "/editor",
                &[
                    ("title", "Soon"),
                    ("body", "Any second now."),
                    ("publish_at", &at),
                    ("action", "publish"),
                ],
            )
            .await;
        page.assert_status(303);
        let path = page.location.expect("a redirect to the post");
        let reader = app.new_browser();
        let titles = |page: crate::helpers::Page| page.texts(".post-card h2");
        assert!(titles(reader.get("/").await).is_empty());
        let (_, listed) = reader
            .api(reqwest::Method::GET, "/api/articles", None, None)
            .await;
        assert_eq!(listed["articlesCount"], 0);
        tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
        assert_eq!(titles(reader.get("/").await), vec!["Soon"]);
        let (_, listed) = reader
            .api(reqwest::Method::GET, "/api/articles", None, None)
            .await;
        assert_eq!(listed["articles"][0]["title"], "Soon");
        reader.get(&path).await.assert_status(200);
    }
);

backend_test!(
    tags_that_would_break_their_page_address_are_refused,
    |app| {
        app.register("author").await;
        // A slash is encoded in the tag's links, and its page works.
        let slug = app.publish("Slashed", "b", "a/b").await;
        let page = app.get(&format!("/posts/{slug}")).await;
        assert!(page.contains("href=\"/tags/a%2Fb\""));
        app.get("/tags/a%2Fb").await.assert_status(200);
        for tag in ["..", "."] {
            let page = app
                .post(
                    "/editor",
                    &[
                        ("title", "Tagged"),
                        ("body", "b"),
                        ("tags", tag),
                        ("action", "publish"),
                    ],
                )
                .await;
            page.assert_status(422);
            assert!(page.contains("Tags may not be"), "{tag}");
        }
        let token = app.new_browser().api_register("writer").await;
        let (status, body) = app
        .api(
            reqwest::Method::POST,
            "/api/articles",
            Some(&token),
            Some(serde_json::json!({"article": {"title": "t", "description": "d", "body": "b", "tagList": [".."]}})),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert!(body["errors"]["tags"].is_array(), "{body}");
    }
);

backend_test!(a_draft_is_shared_by_a_link_its_author_can_revoke, |app| {
    app.register("owner").await;
    let slug = app.save_draft("Secret plans", "Not *yet*.").await;
    let edit = format!("/posts/{slug}/edit");
    assert!(app.get(&edit).await.contains("Create a preview link"));
    let link = |page: &crate::helpers::Page| {
        let address = page
            .attr("#preview-link", "value")
            .expect("the link is shown");
        let root = app.app.settings.http.public_url().to_string();
        format!(
            "/{}",
            address.strip_prefix(&root).expect("an absolute address")
        )
    };
    let shared = app
        .post(
            &format!("/posts/{slug}/preview-link"),
            &[("action", "share")],
        )
        .await;
    shared.assert_redirect(&format!("/posts/{slug}/edit#share"));
    let first = link(&app.get(&edit).await);
    assert!(first.starts_with("/p/") && first.len() > 40, "{first}");

    // Anyone with the link reads the draft as it is: no account needed,
    // nothing to index, keep or count.
    let visitor = app.new_browser();
    let page = visitor.get(&first).await;
    page.assert_status(200);
    assert_eq!(page.texts("h1"), ["Secret plans"]);
    assert!(page.contains("<em>yet</em>") && page.contains("A preview of a draft"));
    assert!(page.contains(r#"<meta name="robots" content="noindex">"#));
    assert_eq!(page.headers["x-robots-tag"], "noindex, nofollow");
    assert_eq!(page.headers["cache-control"], "private, no-store");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    assert!(page.texts("#comments").is_empty() && page.texts(".view-count").is_empty());
    // Still nowhere else.
    visitor
        .get(&format!("/posts/{slug}"))
        .await
        .assert_status(404);

    // Another member can neither share nor revoke it.
    let member = app.new_browser();
    member.register("member").await;
    member
        .post(
            &format!("/posts/{slug}/preview-link"),
            &[("action", "revoke")],
        )
        .await
        .assert_status(404);
    visitor.get(&first).await.assert_status(200);

    // A new link replaces the old one; revoking ends it.
    app.post(
        &format!("/posts/{slug}/preview-link"),
        &[("action", "share")],
    )
    .await
    .assert_status(303);
    let second = link(&app.get(&edit).await);
    assert_ne!(first, second);
    visitor.get(&first).await.assert_status(404);
    visitor.get(&second).await.assert_status(200);
    app.post(
        &format!("/posts/{slug}/preview-link"),
        &[("action", "revoke")],
    )
    .await
    .assert_status(303);
    visitor.get(&second).await.assert_status(404);
    assert!(app.get(&edit).await.contains("Create a preview link"));
    for odd in ["/p/x", "/p/..%2F..", &format!("/p/{}", "a".repeat(100))] {
        visitor.get(odd).await.assert_status(404);
    }

    // Once published, a link made before leads to the post.
    app.post(
        &format!("/posts/{slug}/preview-link"),
        &[("action", "share")],
    )
    .await
    .assert_status(303);
    let third = link(&app.get(&edit).await);
    let published = app
        .post(
            &edit,
            &[
                ("title", "Secret plans"),
                ("body", "Not *yet*."),
                ("action", "publish"),
            ],
        )
        .await;
    published.assert_status(303);
    let post = published.location.unwrap();
    visitor.get(&third).await.assert_redirect(&post);
    assert!(
        !app.get(&format!("{post}/edit"))
            .await
            .contains("preview-link"),
        "a published post has its own address"
    );
    app.post(&format!("{post}/preview-link"), &[("action", "share")])
        .await
        .assert_status(403);
});

backend_test!(publish_times_are_in_the_authors_time_zone, |app| {
    app.register("owner").await;
    let zone_shown = |page: &crate::helpers::Page| page.texts("label[for=publish_at]").join("");
    // Without script and without a setting: UTC, and the field says so.
    assert!(zone_shown(&app.get("/editor").await).contains("(your time, UTC;"));
    // The browser's zone, as the site's script keeps it.
    app.set_cookie("quire_tz", "Asia/Tokyo");
    assert!(zone_shown(&app.get("/editor").await).contains("(your time, Asia/Tokyo;"));
    let page = app
        .post(
            "/editor",
            &[
                ("title", "Tokyo morning"),
                ("body", "x"),
                ("publish_at", "2001-02-03T09:05"),
                ("action", "publish"),
            ],
        )
        .await;
    page.assert_status(303);
    let post = app.new_browser().get("/posts/tokyo-morning").await;
    assert!(
        post.contains("datetime=\"2001-02-03T00:05:00Z\""),
        "stored in UTC"
    );

    // A zone chosen in the settings wins over the browser's.
    let saved = app
        .post("/settings/time-zone", &[("time_zone", "America/New_York")])
        .await;
    saved.assert_status(200);
    assert!(saved.contains("Your time zone was saved."));
    assert_eq!(
        saved.attr("#time_zone", "value").as_deref(),
        Some("America/New_York")
    );
    let page = app
        .post(
            "/editor",
            &[
                ("title", "New York evening"),
                ("body", "x"),
                ("publish_at", "2999-07-04T21:00"),
                ("action", "publish"),
            ],
        )
        .await;
    let path = page.location.expect("a redirect to the post");
    assert!(
        app.get(&path)
            .await
            .contains("datetime=\"2999-07-05T01:00:00Z\"")
    );
    let edit = app.get(&format!("{path}/edit")).await;
    assert_eq!(
        edit.attr("#publish_at", "value").as_deref(),
        Some("2999-07-04T21:00"),
        "shown back in the author's zone"
    );
    assert!(zone_shown(&edit).contains("(your time, America/New_York;"));

    // A zone that does not exist is refused, beside the field.
    let refused = app
        .post("/settings/time-zone", &[("time_zone", "Mars/Olympus_Mons")])
        .await;
    refused.assert_status(422);
    assert!(refused.texts(".field-errors li")[0].starts_with("Time zone must be a time zone"));
    // Cleared, the browser's zone applies again.
    app.post("/settings/time-zone", &[("time_zone", "")])
        .await
        .assert_status(200);
    assert!(zone_shown(&app.get("/editor").await).contains("(your time, Asia/Tokyo;"));
});
