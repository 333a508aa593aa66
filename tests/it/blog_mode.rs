use crate::backend_test;

backend_test!(visitors_see_the_owners_posts_members_see_everyones, |app| {
    app.register("owner").await;
    app.publish("Owner's post", "by the owner", "shared").await;
    let member = app.new_browser();
    member.register("member").await;
    member
        .publish("Member's post", "by a member", "shared, members-only")
        .await;

    let visitor = app.new_browser();
    let home = visitor.get("/").await;
    assert_eq!(home.texts(".post-card h2"), vec!["Owner's post"]);
    assert!(!home.contains("Everyone"), "no Everyone view for visitors");
    // The tags beside the list are the list's: the owner's.
    assert_eq!(home.texts("aside .tags a"), vec!["shared"]);
    let home = visitor.get("/?view=everyone").await;
    assert_eq!(
        home.texts(".post-card h2"),
        vec!["Owner's post"],
        "visitors cannot ask for it"
    );

    let home = member.get("/").await;
    assert_eq!(home.texts(".post-card h2"), vec!["Owner's post"]);
    let everyone = member.get("/?view=everyone").await;
    assert_eq!(
        everyone.texts(".post-card h2"),
        vec!["Member's post", "Owner's post"]
    );
    assert_eq!(
        everyone.texts("aside .tags a"),
        vec!["shared", "members-only"]
    );

    // Author and tag pages are public.
    assert_eq!(
        visitor.get("/users/member").await.texts(".post-card h2"),
        vec!["Member's post"]
    );
    assert_eq!(
        visitor.get("/tags/shared").await.texts(".post-card h2"),
        vec!["Member's post", "Owner's post"]
    );
});

backend_test!(lists_are_paginated_newest_first, |app| {
    app.register("owner").await;
    for i in 1..=23 {
        app.publish(&format!("Post {i:02}"), "text", "many").await;
    }
    let first = app.get("/").await;
    let titles = first.texts(".post-card h2");
    assert_eq!(titles.len(), 10);
    assert_eq!(titles[0], "Post 23");
    assert_eq!(titles[9], "Post 14");
    assert!(
        first
            .texts(".pagination")
            .iter()
            .any(|t| t.contains("Page 1 of 3"))
    );
    let third = app.get("/?page=3").await;
    assert_eq!(
        third.texts(".post-card h2"),
        vec!["Post 03", "Post 02", "Post 01"]
    );
    let tag_page = app.get("/tags/many?page=2").await;
    assert_eq!(tag_page.texts(".post-card h2")[0], "Post 13");
    // Nonsense page numbers fall back to the first page.
    assert_eq!(
        app.get("/?page=-4").await.texts(".post-card h2")[0],
        "Post 23"
    );
    assert_eq!(
        app.get("/?page=abc").await.texts(".post-card h2")[0],
        "Post 23"
    );
});
