use quire::db::{Timestamp, query};

use crate::backend_test;
use crate::helpers::{Page, TestApp};

backend_test!(first_account_becomes_owner_and_admin, |app| {
    app.register("owner").await.assert_redirect("/");
    let home = app.get("/").await;
    assert!(
        home.contains("Invites"),
        "the owner is an admin and sees the invites link"
    );
    let member = app.new_browser();
    member.register("member").await.assert_redirect("/");
    let home = member.get("/").await;
    assert!(
        !home.contains("Invites"),
        "a second account is a plain member"
    );
    member.get("/admin/invites").await.assert_status(403);
});

backend_test!(
    registration_errors_rerender_the_form_with_what_was_typed,
    |app| {
        let page = app
            .post(
                "/register",
                &[
                    ("username", "bad name"),
                    ("email", "not-an-email"),
                    ("password", "short"),
                ],
            )
            .await;
        page.assert_status(422);
        let errors = page.texts(".field-errors li");
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("Username may only contain")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e == "Email is not a valid email address"),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("Password is too short")),
            "{errors:?}"
        );
        assert!(
            page.contains("value=\"bad name\""),
            "the username typed is kept"
        );
        assert!(
            page.contains("value=\"not-an-email\""),
            "the email typed is kept"
        );

        let page = app
            .post(
                "/register",
                &[("username", ""), ("email", ""), ("password", "")],
            )
            .await;
        page.assert_status(422);
        assert_eq!(
            page.texts(".field-errors li")
                .iter()
                .filter(|e| e.ends_with("can't be blank"))
                .count(),
            3
        );
    }
);

backend_test!(taken_username_and_email_are_field_errors, |app| {
    app.register("alice").await.assert_redirect("/");
    let other = app.new_browser();
    let page = other
        .post(
            "/register",
            &[
                ("username", "alice"),
                ("email", "new@example.com"),
                ("password", "correct horse"),
            ],
        )
        .await;
    page.assert_status(422);
    assert!(
        page.texts(".field-errors li")
            .contains(&"Username has already been taken".to_owned())
    );
    let page = other
        .post(
            "/register",
            &[
                ("username", "alice2"),
                ("email", "ALICE@example.com"),
                ("password", "correct horse"),
            ],
        )
        .await;
    page.assert_status(422);
    assert!(
        page.texts(".field-errors li")
            .contains(&"Email has already been taken".to_owned())
    );
});

backend_test!(
    racing_registrations_of_one_name_give_one_account_and_field_errors,
    |app| {
        let attempts = (0..8).map(|_| {
            let browser = app.new_browser();
            async move { browser.register("racer").await }
        });
        let pages = futures_util::future::join_all(attempts).await;
        let created = pages.iter().filter(|p| p.status == 303).count();
        let refused = pages.iter().filter(|p| p.status == 422).count();
        assert_eq!(
            (created, refused),
            (1, 7),
            "{:?}",
            pages.iter().map(|p| p.status).collect::<Vec<_>>()
        );
    }
);

backend_test!(racing_first_registrations_make_exactly_one_owner, |app| {
    let attempts = (0..6).map(|i| {
        let browser = app.new_browser();
        async move { browser.register(&format!("first{i}")).await }
    });
    for page in futures_util::future::join_all(attempts).await {
        page.assert_redirect("/");
    }
    let owners: i64 = query("SELECT COUNT(*) FROM users WHERE role = 'owner'")
        .scalar(&app.db)
        .await
        .unwrap();
    assert_eq!(owners, 1);
});

backend_test!(sign_in_returns_to_the_page_that_asked, |app| {
    app.register("writer").await;
    app.logout().await.assert_redirect("/");
    let page = app.get("/editor").await;
    page.assert_redirect("/login?next=%2Feditor");
    let login = app.get("/login?next=%2Feditor").await;
    assert_eq!(
        login.attr("input[name=next]", "value").as_deref(),
        Some("/editor")
    );
    let page = app
        .post(
            "/login",
            &[
                ("login", "writer"),
                ("password", "correct horse"),
                ("next", "/editor"),
            ],
        )
        .await;
    page.assert_redirect("/editor");
    // Never to another site, however the address is disguised.
    for next in [
        "//evil.example/",
        "/\t/evil.example",
        "/\\evil.example",
        "/\n/evil",
        "https://evil.example/",
    ] {
        app.logout().await;
        let page = app
            .post(
                "/login",
                &[
                    ("login", "writer"),
                    ("password", "correct horse"),
                    ("next", next),
                ],
            )
            .await;
        page.assert_redirect("/");
    }
    let login = app
        .new_browser()
        .get("/login?next=%2F%09%2Fevil.example")
        .await;
    assert_eq!(
        login.attr("input[name=next]", "value").as_deref(),
        Some("/")
    );
});

backend_test!(sign_in_accepts_the_email_too, |app| {
    app.register("mailer").await;
    app.logout().await;
    app.login("MAILER@example.com", "correct horse")
        .await
        .assert_redirect("/");
});

backend_test!(wrong_credentials_do_not_say_which_part_was_wrong, |app| {
    app.register("bob").await;
    app.logout().await;
    let wrong_password = app.login("bob", "wrong password").await;
    let unknown_user = app.login("nobody", "correct horse").await;
    for page in [&wrong_password, &unknown_user] {
        page.assert_status(422);
        assert_eq!(
            page.texts("[role=alert]"),
            vec!["Wrong username or password."]
        );
    }
    assert!(
        wrong_password.contains("value=\"bob\""),
        "the username typed is kept"
    );
});

backend_test!(
    signed_in_users_are_sent_home_from_sign_in_and_register,
    |app| {
        app.register("carol").await;
        app.get("/login").await.assert_redirect("/");
        app.get("/register").await.assert_redirect("/");
    }
);

backend_test!(settings_update_profile_and_validate, |app| {
    app.register("dave").await;
    let page = app
        .post(
            "/settings",
            &[
                ("email", "dave@new.example"),
                ("bio", "I *write*."),
                ("image", "https://img.example/d.png"),
            ],
        )
        .await;
    page.assert_status(200);
    assert!(page.contains("Your settings were saved."));
    let profile = app.get("/users/dave").await;
    assert!(
        profile.contains("<em>write</em>"),
        "the bio is rendered Markdown"
    );
    assert_eq!(
        profile.attr(".profile img", "src").as_deref(),
        Some("https://img.example/d.png")
    );

    let page = app
        .post(
            "/settings",
            &[
                ("email", "nope"),
                ("bio", ""),
                ("image", "javascript:alert(1)"),
            ],
        )
        .await;
    page.assert_status(422);
    let errors = page.texts(".field-errors li");
    assert!(
        errors.contains(&"Email is not a valid email address".to_owned()),
        "{errors:?}"
    );
    assert!(
        errors.contains(&"Image must be an http:// or https:// address".to_owned()),
        "{errors:?}"
    );
    assert_eq!(
        page.attr("#email", "value").as_deref(),
        Some("nope"),
        "what was typed is kept"
    );
});

backend_test!(
    password_change_needs_the_current_one_and_ends_other_sessions,
    |app| {
        app.register("erin").await;
        let laptop = app.new_browser();
        laptop
            .login("erin", "correct horse")
            .await
            .assert_redirect("/");

        let page = app
            .post(
                "/settings/password",
                &[
                    ("current_password", "wrong one!"),
                    ("new_password", "battery staple"),
                ],
            )
            .await;
        page.assert_status(422);
        assert!(
            page.texts(".field-errors li")
                .contains(&"Current password is not your current password".to_owned())
        );

        let page = app
            .post(
                "/settings/password",
                &[
                    ("current_password", "correct horse"),
                    ("new_password", "battery staple"),
                ],
            )
            .await;
        page.assert_status(200);
        assert!(page.contains("Your password was changed"));
        // This session goes on; the other one has ended.
        app.get("/settings").await.assert_status(200);
        laptop
            .get("/settings")
            .await
            .assert_redirect("/login?next=%2Fsettings");

        app.logout().await;
        app.login("erin", "correct horse").await.assert_status(422);
        app.login("erin", "battery staple")
            .await
            .assert_redirect("/");
    }
);

backend_test!(deleting_an_account_keeps_its_posts_under_deleted, |app| {
    app.register("owner").await;
    let frank = app.new_browser();
    frank.register("frank").await;
    let slug = frank.publish("Frank's thoughts", "Some words.", "").await;
    let owner_slug = app.publish("Owner post", "Hello", "").await;
    frank
        .post(
            &format!("/posts/{owner_slug}/comments"),
            &[("body", "Nice!")],
        )
        .await
        .assert_status(303);
    frank
        .post(&format!("/posts/{owner_slug}/like"), &[])
        .await
        .assert_status(303);
    let phone = app.new_browser();
    phone
        .login("frank", "correct horse")
        .await
        .assert_redirect("/");

    let _worker = app.start_worker(|_| {});
    frank.get("/settings/delete").await.assert_status(200);
    let page = frank
        .post("/settings/delete", &[("password", "wrong password")])
        .await;
    page.assert_status(422);
    frank
        .post("/settings/delete", &[("password", "correct horse")])
        .await
        .assert_redirect("/");

    // Signed out everywhere, and no way back in.
    frank.get("/settings").await.assert_status(303);
    phone.get("/settings").await.assert_status(303);
    frank
        .login("frank", "correct horse")
        .await
        .assert_status(422);

    let post = app.get(&format!("/posts/{slug}")).await;
    post.assert_status(200);
    assert!(
        post.texts(".post .meta")
            .iter()
            .any(|m| m.contains("[deleted]"))
    );
    assert!(!post.contains("/users/frank"));
    let owner_post = app.get(&format!("/posts/{owner_slug}")).await;
    assert!(
        owner_post
            .texts(".comment .meta")
            .iter()
            .any(|m| m.contains("[deleted]"))
    );
    app.get("/users/frank").await.assert_status(404);
    // Nor do their likes stay behind them, on the page or in the API.
    app.jobs_settled().await;
    assert_eq!(
        app.get(&format!("/posts/{owner_slug}"))
            .await
            .texts(".like-count"),
        vec!["0 likes"]
    );
    let (_, article) = app
        .api(
            reqwest::Method::GET,
            &format!("/api/articles/{owner_slug}"),
            None,
            None,
        )
        .await;
    assert_eq!(article["article"]["favoritesCount"], 0);

    // The name stays taken.
    let page = app.new_browser().register("frank").await;
    page.assert_status(422);
});

/// Makes every sign-in wait in the database end now, as if the time had
/// passed (the waits are seconds long; the tests do not sleep).
async fn wait_out_backoff(app: &TestApp) {
    query("UPDATE login_backoff SET wait_until = $1")
        .bind(Timestamp::now() - time::Duration::seconds(1))
        .execute(&app.db)
        .await
        .unwrap();
}

fn retry_after(page: &Page) -> u64 {
    page.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

backend_test!(
    failed_sign_ins_make_the_next_attempt_wait_longer_each_time,
    |app| {
        app.register("grace").await;
        app.logout().await;
        let guesser = app.new_browser();
        // Three failures are free; from the fourth on, each makes the next
        // attempt wait, twice as long as the one before.
        for _ in 0..4 {
            guesser
                .login("grace", "not the password")
                .await
                .assert_status(422);
        }
        let mut waits = Vec::new();
        for _ in 0..3 {
            // While it waits, even the right password is not checked.
            let page = guesser.login("grace", "correct horse").await;
            page.assert_status(429);
            assert!(page.contains("Too many attempts"), "{}", page.body);
            waits.push(retry_after(&page));
            wait_out_backoff(&app).await;
            guesser
                .login("grace", "not the password")
                .await
                .assert_status(422);
        }
        assert_eq!(waits, [1, 2, 4]);

        // The right password after the wait signs in, and the account's
        // failures are forgotten.
        wait_out_backoff(&app).await;
        guesser
            .login("grace", "correct horse")
            .await
            .assert_redirect("/");
        guesser.logout().await;
        for _ in 0..3 {
            guesser
                .login("grace", "not the password")
                .await
                .assert_status(422);
        }
    }
);

backend_test!(
    a_known_device_signs_in_while_failures_elsewhere_hold_the_account,
    |app| {
        // Registering made this browser a known device of the account.
        app.register("owner").await;
        app.logout().await;
        let attacker = app.new_browser();
        for _ in 0..4 {
            attacker.login("owner", "guess").await.assert_status(422);
        }
        attacker.login("owner", "guess").await.assert_status(429);
        // A new device waits too, whatever password it has…
        app.new_browser()
            .login("owner", "correct horse")
            .await
            .assert_status(429);
        // …but not the owner's own browser…
        app.login("owner", "correct horse")
            .await
            .assert_redirect("/");
        // …whose sign-in does not end the attacker's wait.
        attacker.login("owner", "guess").await.assert_status(429);

        // A known device of one account is a stranger to another.
        let member = app.new_browser();
        member.register("member").await;
        member.logout().await;
        for _ in 0..4 {
            attacker.login("member", "guess").await.assert_status(422);
        }
        app.logout().await;
        app.login("member", "correct horse")
            .await
            .assert_status(429);
        member
            .login("member", "correct horse")
            .await
            .assert_redirect("/");
    }
);

backend_test!(
    usernames_differing_only_in_case_or_width_are_one_name,
    |app| {
        app.register("owner").await.assert_redirect("/");
        for (i, name) in ["Owner", "OWNER", "ｏｗｎｅｒ"].into_iter().enumerate() {
            // An address of its own: only the name clashes.
            let email = format!("other{i}@example.com");
            let page = app
                .new_browser()
                .post(
                    "/register",
                    &[
                        ("username", name),
                        ("email", &email),
                        ("password", "correct horse"),
                    ],
                )
                .await;
            page.assert_status(422);
            assert!(
                page.texts(".field-errors li")
                    .contains(&"Username has already been taken".to_owned()),
                "{name}: {:?}",
                page.texts(".field-errors li")
            );
        }
        let (status, body) = app
        .api(
            reqwest::Method::POST,
            "/api/users",
            None,
            Some(serde_json::json!({"user": {"username": "Owner", "email": "o2@example.com", "password": "correct horse"}})),
        )
        .await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["errors"]["username"][0], "has already been taken");
        // A fullwidth name is the ASCII name it looks like.
        app.new_browser()
            .register("ｗｒｉｔｅｒ")
            .await
            .assert_redirect("/");
        app.get("/users/writer").await.assert_status(200);
    }
);

backend_test!(
    a_member_cannot_rename_to_another_form_of_a_taken_name,
    |app| {
        app.register("owner").await;
        let member = app.new_browser();
        let token = member.api_register("member").await;
        let rename = |name: &'static str| {
            let member = member.clone();
            let token = token.clone();
            async move {
                member
                    .api(
                        reqwest::Method::PUT,
                        "/api/user",
                        Some(&token),
                        Some(serde_json::json!({"user": {"username": name}})),
                    )
                    .await
            }
        };
        let (status, body) = rename("OWNER").await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["errors"]["username"][0], "has already been taken");
        // Another case of one's own name is one's own.
        let (status, body) = rename("Member").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["user"]["username"], "Member");
    }
);

backend_test!(sign_in_finds_a_username_whatever_its_case_or_width, |app| {
    app.register("Alice").await;
    for login in ["alice", "ALICE", "Ａｌｉｃｅ"] {
        let browser = app.new_browser();
        browser
            .login(login, "correct horse")
            .await
            .assert_redirect("/");
        // Shown as its owner wrote it.
        assert!(
            browser.get("/settings").await.contains(">Alice</a>"),
            "{login}"
        );
    }
    let (status, body) = app
        .api(
            reqwest::Method::POST,
            "/api/users/login",
            None,
            Some(serde_json::json!({"user": {"email": "ALICE", "password": "correct horse"}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["username"], "Alice");
});
