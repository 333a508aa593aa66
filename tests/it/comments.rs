use crate::backend_test;

backend_test!(comments_can_be_previewed_posted_edited_and_deleted, |app| {
    app.register("owner").await;
    let slug = app.publish("Discuss", "Talk to me", "").await;
    let reader = app.new_browser();
    reader.register("reader").await;

    let page = reader
        .post(
            &format!("/posts/{slug}/comments"),
            &[("body", "**Great** post"), ("action", "preview")],
        )
        .await;
    page.assert_status(200);
    assert!(
        page.texts(".preview")
            .iter()
            .any(|t| t.contains("Great post"))
    );
    assert!(page.contains("<strong>Great</strong>"));
    assert!(
        app.get(&format!("/posts/{slug}"))
            .await
            .texts(".comment")
            .is_empty(),
        "a preview saves nothing"
    );

    let page = reader
        .post(
            &format!("/posts/{slug}/comments"),
            &[("body", "**Great** post")],
        )
        .await;
    assert_eq!(page.status, 303);
    let location = page.location.clone().unwrap();
    assert!(location.starts_with(&format!("/posts/{slug}#comment-")));
    let id = location.rsplit('-').next().unwrap().to_owned();

    let post = app.get(&format!("/posts/{slug}")).await;
    assert_eq!(post.texts(".comments h2"), vec!["1 comment"]);
    assert!(post.contains("<strong>Great</strong> post"));

    let edit = reader
        .get(&format!("/posts/{slug}/comments/{id}/edit"))
        .await;
    edit.assert_status(200);
    let page = reader
        .post(
            &format!("/posts/{slug}/comments/{id}/edit"),
            &[("body", "Edited words")],
        )
        .await;
    page.assert_status(303);
    let post = app.get(&format!("/posts/{slug}")).await;
    assert!(post.contains("Edited words"));
    assert!(post.texts(".comment .meta")[0].contains("edited"));

    reader
        .post(&format!("/posts/{slug}/comments/{id}/delete"), &[])
        .await
        .assert_redirect(&format!("/posts/{slug}#comments"));
    assert_eq!(
        app.get(&format!("/posts/{slug}"))
            .await
            .texts(".comments h2"),
        vec!["0 comments"]
    );
});

backend_test!(
    blank_and_oversized_comments_are_refused_with_the_text_kept,
    |app| {
        app.register("owner").await;
        let slug = app.publish("Discuss", "Talk", "").await;
        let page = app
            .post(&format!("/posts/{slug}/comments"), &[("body", "   ")])
            .await;
        page.assert_status(422);
        // Named as the field's label names it.
        assert_eq!(
            page.texts("#body-errors li"),
            ["Your comment can't be blank"]
        );
        let huge = "x".repeat(20_001);
        let page = app
            .post(&format!("/posts/{slug}/comments"), &[("body", &huge)])
            .await;
        page.assert_status(422);
        assert!(page.contains(&huge), "the text typed is kept");
    }
);

backend_test!(only_authors_and_admins_may_change_comments, |app| {
    app.register("owner").await;
    let slug = app.publish("Discuss", "Talk", "").await;
    let alice = app.new_browser();
    alice.register("alice").await;
    let mallory = app.new_browser();
    mallory.register("mallory").await;
    let page = alice
        .post(
            &format!("/posts/{slug}/comments"),
            &[("body", "Alice's comment")],
        )
        .await;
    let id = page
        .location
        .unwrap()
        .rsplit('-')
        .next()
        .unwrap()
        .to_owned();

    assert!(
        !mallory
            .get(&format!("/posts/{slug}"))
            .await
            .contains("Edit comment")
    );
    mallory
        .get(&format!("/posts/{slug}/comments/{id}/edit"))
        .await
        .assert_status(403);
    mallory
        .post(
            &format!("/posts/{slug}/comments/{id}/edit"),
            &[("body", "pwned")],
        )
        .await
        .assert_status(403);
    mallory
        .post(&format!("/posts/{slug}/comments/{id}/delete"), &[])
        .await
        .assert_status(403);
    assert_eq!(
        app.get(&format!("/posts/{slug}"))
            .await
            .texts(".comment .prose"),
        vec!["Alice's comment"]
    );

    // Admins moderate.
    app.post(&format!("/posts/{slug}/comments/{id}/delete"), &[])
        .await
        .assert_status(303);
    assert_eq!(
        app.get(&format!("/posts/{slug}"))
            .await
            .texts(".comments h2"),
        vec!["0 comments"]
    );
});

backend_test!(a_comment_id_under_another_posts_url_is_not_found, |app| {
    app.register("owner").await;
    let first = app.publish("First", "one", "").await;
    let second = app.publish("Second", "two", "").await;
    let page = app
        .post(
            &format!("/posts/{first}/comments"),
            &[("body", "on the first")],
        )
        .await;
    let id = page
        .location
        .unwrap()
        .rsplit('-')
        .next()
        .unwrap()
        .to_owned();

    app.get(&format!("/posts/{second}/comments/{id}/edit"))
        .await
        .assert_status(404);
    app.post(
        &format!("/posts/{second}/comments/{id}/edit"),
        &[("body", "moved?")],
    )
    .await
    .assert_status(404);
    app.post(&format!("/posts/{second}/comments/{id}/delete"), &[])
        .await
        .assert_status(404);
    app.get(&format!("/posts/{first}/comments/not-a-number/edit"))
        .await
        .assert_status(404);
    assert!(
        app.get(&format!("/posts/{first}"))
            .await
            .contains("on the first")
    );
});

backend_test!(visitors_must_sign_in_to_comment, |app| {
    app.register("owner").await;
    let slug = app.publish("Discuss", "Talk", "").await;
    let visitor = app.new_browser();
    let page = visitor.get(&format!("/posts/{slug}")).await;
    assert!(page.contains("to like or comment"));
    assert!(!page.contains("Post comment"));
    // A form's visitor returns to the page the form was on.
    let token = visitor.csrf().await;
    let response = visitor
        .client
        .post(visitor.url(&format!("/posts/{slug}/comments")))
        .header("referer", visitor.url(&format!("/posts/{slug}")).as_str())
        .form(&[("csrf_token", token.as_str()), ("body", "anon")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        format!("/login?next=%2Fposts%2F{slug}&why=members").as_str()
    );
    // Without a Referer from this site, home.
    let page = visitor
        .post(&format!("/posts/{slug}/comments"), &[("body", "anon")])
        .await;
    page.assert_redirect("/login?next=%2F&why=members");
});
