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

backend_test!(
    an_authors_posts_download_as_markdown_that_another_site_imports,
    |app| {
        use std::io::Read;

        let token = app.api_register("writer").await;
        app.login("writer", "correct horse")
            .await
            .assert_status(303);
        let mut png = Vec::new();
        image::DynamicImage::new_rgb8(40, 30)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(png.clone()).file_name("gull.png"),
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
        let image = upload["upload"]["url"].as_str().unwrap().to_owned();
        let slug = app
            .publish(
                "Gulls: a \"field\" guide",
                &format!("They *shout*.\n\n![A gull]({image})"),
                "birds, coast",
            )
            .await;
        app.save_draft("Terns, later", "Not yet.").await;

        let response = app
            .client
            .get(app.url("/settings/export/posts.zip"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/zip");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let bytes = response.bytes().await.unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
        let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
        names.sort();
        let day = &quire::db::Timestamp::now().rfc3339()[..10];
        let image_name = image.trim_start_matches("/media/");
        assert_eq!(names.len(), 3, "{names:?}");
        assert_eq!(
            names[0],
            format!("_drafts/{}", names[0].trim_start_matches("_drafts/"))
        );
        assert_eq!(names[1], format!("_posts/{day}-{slug}.md"));
        assert_eq!(names[2], format!("assets/images/{image_name}"));
        let mut text = String::new();
        zip.by_name(&names[1])
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert!(
            text.starts_with("---\ntitle: \"Gulls: a \\\"field\\\" guide\"\n"),
            "{text}"
        );
        assert!(text.contains("tags: [\"birds\", \"coast\"]"), "{text}");
        assert!(
            text.ends_with(&format!(
                "They *shout*.\n\n![A gull](/assets/images/{image_name})"
            )),
            "{text}"
        );
        let mut stored = Vec::new();
        zip.by_name(&names[2])
            .unwrap()
            .read_to_end(&mut stored)
            .unwrap();
        assert!(!stored.is_empty());

        // Another site takes it in whole.
        let folder = tempfile::tempdir().unwrap();
        zip.extract(folder.path()).unwrap();
        let other = crate::helpers::TestApp::spawn(app.backend).await;
        other.register("owner").await;
        let (ok, said) = crate::imports::import_from(&other, "markdown", folder.path());
        assert!(ok, "{said}");
        assert!(
            said.starts_with("2 added, 0 updated, 0 skipped; 0 comments, 1 images"),
            "{said}"
        );
        let post = other.new_browser().get(&format!("/posts/{slug}")).await;
        post.assert_status(200);
        assert_eq!(post.texts("h1"), ["Gulls: a \"field\" guide"]);
        assert_eq!(post.texts("ul.tags a"), ["birds", "coast"]);
        assert_eq!(post.attr("article .prose img", "src"), Some(image.clone()));
        assert!(
            other
                .get("/drafts")
                .await
                .texts("a")
                .contains(&"Terns, later".to_owned())
        );
    }
);

backend_test!(
    the_owner_takes_the_whole_site_through_the_api_as_a_job,
    |app| {
        use reqwest::Method;
        use std::io::Read;

        let owner = app.api_register("owner").await;
        let member = app.api_register("member").await;
        let (status, body) = app
            .api(
                Method::POST,
                "/api/articles",
                Some(&owner),
                Some(serde_json::json!({"article": {"title": "Kept whole", "description": "d", "body": "b"}})),
            )
            .await;
        assert_eq!(status, 201, "{body}");

        let (status, _) = app.api(Method::POST, "/api/exports", None, None).await;
        assert_eq!(status, 401);
        let (status, body) = app
            .api(Method::POST, "/api/exports", Some(&member), None)
            .await;
        assert_eq!(status, 403, "{body}");

        let (status, body) = app
            .api(Method::POST, "/api/exports", Some(&owner), None)
            .await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["export"]["state"], "waiting");
        assert!(body["export"]["download"].is_null());
        let id = body["export"]["id"].as_i64().unwrap();
        let (status, _) = app
            .api(
                Method::GET,
                &format!("/api/exports/{id}/archive"),
                Some(&owner),
                None,
            )
            .await;
        assert_eq!(status, 404, "not made yet");

        let worker = app.start_worker(|_| {});
        app.jobs_settled().await;
        worker.stop().await;

        let (status, body) = app
            .api(
                Method::GET,
                &format!("/api/exports/{id}"),
                Some(&owner),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["export"]["state"], "done", "{body}");
        let download = body["export"]["download"].as_str().unwrap().to_owned();
        assert_eq!(download, format!("/api/exports/{id}/archive"));
        let response = app
            .client
            .get(app.url(&download))
            .header("authorization", format!("Token {owner}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/gzip");
        let bytes = response.bytes().await.unwrap();
        assert_eq!(body["export"]["bytes"].as_u64(), Some(bytes.len() as u64));

        // The archive of `quire export`: its manifest first, the post in it.
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        let mut entries = tar.entries().unwrap();
        let mut first = entries.next().unwrap().unwrap();
        assert_eq!(first.path().unwrap().to_str(), Some("manifest.json"));
        let mut text = String::new();
        first.read_to_string(&mut text).unwrap();
        let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
        let posts = manifest["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "posts")
            .unwrap();
        assert_eq!(posts["rows"], 1, "{posts}");

        // A second archive does not hold the first.
        let (_, body) = app
            .api(Method::POST, "/api/exports", Some(&owner), None)
            .await;
        let second = body["export"]["id"].as_i64().unwrap();
        let worker = app.start_worker(|_| {});
        app.jobs_settled().await;
        worker.stop().await;
        let archive = app
            .client
            .get(app.url(&format!("/api/exports/{second}/archive")))
            .header("authorization", format!("Token {owner}"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&archive[..]));
        for entry in tar.entries().unwrap() {
            let path = entry.unwrap().path().unwrap().display().to_string();
            assert!(!path.contains("exports/"), "{path}");
        }
    }
);
