//! A member downloads everything that is theirs, and nothing that is not.

use crate::backend_test;

backend_test!(a_member_downloads_all_their_data_and_only_theirs, |app| {
    app.register("owner").await;
    let owners = app.publish("The owner's post", "Owner words.", "").await;
    let member = app.new_browser();
    member.register("member").await;
    member
        .post(
            "/settings",
            &[
                ("username", "member"),
                ("email", "member@example.com"),
                ("bio", "I write about *birds*."),
                ("image", ""),
            ],
        )
        .await
        .assert_status(200);
    let published = member
        .publish("Swifts in June", "They **never** land.", "birds, summer")
        .await;
    member.save_draft("Half a thought", "About herons.").await;
    member
        .post(&format!("/posts/{owners}/comments"), &[("body", "Lovely.")])
        .await
        .assert_status(303);
    member
        .post(&format!("/posts/{owners}/like"), &[])
        .await
        .assert_status(303);
    // Someone else's comment on the member's post is not the member's data.
    app.post(
        &format!("/posts/{published}/comments"),
        &[("body", "The owner's reply.")],
    )
    .await
    .assert_status(303);

    let response = member
        .client
        .get(member.url("/settings/export"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"quire-member-"),
        "{disposition}"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let data: serde_json::Value = response.json().await.unwrap();
    assert_eq!(data["format"], "quire-personal-data");
    assert_eq!(data["profile"]["username"], "member");
    assert_eq!(data["profile"]["email"], "member@example.com");
    assert_eq!(data["profile"]["bio"], "I write about *birds*.");
    let posts = data["posts"].as_array().unwrap();
    let titles: Vec<&str> = posts.iter().map(|p| p["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Swifts in June", "Half a thought"]);
    assert_eq!(
        posts[0]["body"], "They **never** land.",
        "Markdown as written"
    );
    assert_eq!(posts[0]["tags"], serde_json::json!(["birds", "summer"]));
    assert_eq!(posts[0]["status"], "published");
    assert_eq!(posts[1]["status"], "draft");
    let comments = data["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(comments[0]["body"], "Lovely.");
    assert_eq!(comments[0]["post_slug"], owners.as_str());
    assert_eq!(data["likes"][0]["post_slug"], owners.as_str());
    assert!(
        !serde_json::to_string(&data)
            .unwrap()
            .contains("The owner's reply")
    );

    // Signed out, there is nothing to download.
    let stranger = app.new_browser();
    let page = stranger.get("/settings/export").await;
    assert!(
        page.location
            .as_deref()
            .is_some_and(|to| to.starts_with("/login")),
        "{:?}",
        page.location
    );
});
