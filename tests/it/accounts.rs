use quire::db::{Timestamp, query};
use quire::features::accounts;

use crate::backend_test;
use crate::helpers::{Browser, Page, TestApp};

/// Posts the registration form, as `username` with `email`.
async fn start_registration(browser: &Browser, username: &str, email: &str) -> Page {
    browser
        .post(
            "/register",
            &[
                ("username", username),
                ("email", email),
                ("password", "correct horse"),
            ],
        )
        .await
}

/// The accounts with this username (0 or 1).
async fn accounts_named(app: &TestApp, username: &str) -> i64 {
    query("SELECT COUNT(*) FROM users WHERE username = $1")
        .bind(username)
        .scalar(&app.db)
        .await
        .unwrap()
}

const CONFIRM: &str = "register/confirm/";

backend_test!(
    the_first_account_is_made_at_once_as_owner_and_admin,
    |app| {
        // Nobody's address to reveal yet, and often no mail server: the owner
        // is in straight away.
        start_registration(&app, "owner", "owner@example.com")
            .await
            .assert_redirect("/");
        let home = app.get("/").await;
        assert!(
            home.contains("Invites"),
            "the owner is an admin and sees the invites link"
        );
        let sent = app.outbox.to("owner@example.com").await;
        assert!(
            sent.iter()
                .all(|email| email.subject.starts_with("Welcome")),
            "no link to follow: {sent:?}"
        );
        let member = app.new_browser();
        member.register("member").await.assert_redirect("/");
        let home = member.get("/").await;
        assert!(
            !home.contains("Invites"),
            "a second account is a plain member"
        );
        member.get("/admin/invites").await.assert_status(403);
    }
);

backend_test!(
    registering_answers_the_same_whether_or_not_the_address_has_an_account,
    |app| {
        app.register("alice").await;
        let visitor = app.new_browser();
        let free = start_registration(&visitor, "newbie", "newbie@example.com").await;
        let taken = start_registration(&visitor, "alice2", "ALICE@example.com").await;
        free.assert_status(200);
        taken.assert_status(200);
        assert_eq!(
            free.texts("[role=status]"),
            vec![
                "We have sent an email to newbie@example.com. Open the link in it within 24 \
                 hours to finish registering. Check your spam folder if it does not arrive."
            ]
        );
        assert_eq!(
            free.body.replace("newbie@example.com", "ADDRESS"),
            taken.body.replace("alice@example.com", "ADDRESS")
        );
        for name in ["newbie", "alice2"] {
            assert_eq!(accounts_named(&app, name).await, 0, "{name}");
        }

        // The account's owner hears that someone tried, and how to get in;
        // nothing of that attempt is kept.
        let sent = app.outbox.to("alice@example.com").await;
        let notice = sent
            .iter()
            .find(|email| email.subject == "Someone tried to use your address at Quire")
            .unwrap_or_else(|| panic!("no notice in {sent:?}"));
        assert!(notice.text.contains("Hello alice,"), "{}", notice.text);
        for link in ["login", "password/forgot"] {
            assert!(
                notice.text.contains(&format!("{}{link}", app.base)),
                "{}",
                notice.text
            );
        }
        assert!(!notice.text.contains(CONFIRM), "{}", notice.text);
        let kept: i64 = query("SELECT COUNT(*) FROM pending_registrations WHERE email = $1")
            .bind("alice@example.com")
            .scalar(&app.db)
            .await
            .unwrap();
        assert_eq!(kept, 0);

        // The free address gets the link. Opening it makes nothing yet (mail
        // programs fetch links to scan them); its button makes the account
        // and signs in.
        let link = app.outbox.link("newbie@example.com", CONFIRM).await;
        let page = visitor.get(&link).await;
        page.assert_status(200);
        assert!(page.contains("newbie@example.com"));
        assert_eq!(accounts_named(&app, "newbie").await, 0);
        visitor.post(&link, &[]).await.assert_redirect("/");
        assert_eq!(accounts_named(&app, "newbie").await, 1);
        assert!(
            visitor
                .get("/settings")
                .await
                .contains("newbie@example.com")
        );
        let sent = app.outbox.to("newbie@example.com").await;
        assert!(
            sent.iter()
                .any(|email| email.subject == "Welcome to Quire, newbie"),
            "{sent:?}"
        );
    }
);

backend_test!(
    a_registration_link_works_once_until_it_expires_or_is_replaced,
    |app| {
        app.register("owner").await;
        let bob = app.new_browser();
        start_registration(&bob, "bob", "bob@example.com")
            .await
            .assert_status(200);
        let first = app.outbox.link("bob@example.com", CONFIRM).await;
        // Registering the address again replaces the registration, link and all.
        start_registration(&bob, "bobby", "bob@example.com")
            .await
            .assert_status(200);
        let second = app.outbox.link("bob@example.com", CONFIRM).await;
        assert_ne!(first, second);
        for page in [bob.get(&first).await, bob.post(&first, &[]).await] {
            page.assert_status(404);
            assert!(page.contains("This link no longer works"));
        }

        query("UPDATE pending_registrations SET expires_at = $1")
            .bind(Timestamp::now() - time::Duration::seconds(1))
            .execute(&app.db)
            .await
            .unwrap();
        for page in [bob.get(&second).await, bob.post(&second, &[]).await] {
            page.assert_status(404);
            assert!(page.contains("more than 24 hours old"));
        }
        let purged = accounts::purge_expired(&app.db, Timestamp::now())
            .await
            .unwrap();
        assert_eq!(purged.pending_registrations, 1);
        assert_eq!(accounts_named(&app, "bobby").await, 0);

        start_registration(&bob, "bobby", "bob@example.com")
            .await
            .assert_status(200);
        let third = app.outbox.link("bob@example.com", CONFIRM).await;
        bob.confirm_registration(&third).await.assert_redirect("/");
        let late = app.new_browser();
        late.get(&third).await.assert_status(404);
        late.post(&third, &[]).await.assert_status(404);
        assert_eq!(accounts_named(&app, "bobby").await, 1);
    }
);

backend_test!(
    a_pending_registration_reserves_neither_the_username_nor_the_address,
    |app| {
        app.register("owner").await;
        // Someone registers the name with an address of theirs, and waits…
        let slow = app.new_browser();
        start_registration(&slow, "carol", "slow@example.com")
            .await
            .assert_status(200);
        let slow_link = app.outbox.link("slow@example.com", CONFIRM).await;
        // …which neither says the name is taken nor keeps it from Carol.
        app.new_browser()
            .register("carol")
            .await
            .assert_redirect("/");
        let page = slow.post(&slow_link, &[]).await;
        page.assert_status(409);
        assert_eq!(
            page.texts("[role=alert] li"),
            vec!["Username has already been taken"]
        );
        slow.get(&slow_link).await.assert_status(404);

        // The address's owner registers through the API meanwhile.
        let dave = app.new_browser();
        start_registration(&dave, "dave", "dave@example.com")
            .await
            .assert_status(200);
        let dave_link = app.outbox.link("dave@example.com", CONFIRM).await;
        let (status, body) = dave
            .api(
                reqwest::Method::POST,
                "/api/users",
                None,
                Some(serde_json::json!({"user": {"username": "dave2", "email": "dave@example.com", "password": "correct horse"}})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let page = dave.post(&dave_link, &[]).await;
        page.assert_status(409);
        assert_eq!(
            page.texts("[role=alert] li"),
            vec!["Email has already been taken"]
        );
        assert_eq!(accounts_named(&app, "dave").await, 0);
    }
);

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

backend_test!(a_taken_username_is_a_field_error, |app| {
    app.register("alice").await.assert_redirect("/");
    let page = start_registration(&app.new_browser(), "alice", "new@example.com").await;
    page.assert_status(422);
    assert_eq!(
        page.texts(".field-errors li"),
        vec!["Username has already been taken"]
    );
    assert!(
        page.contains("value=\"new@example.com\""),
        "the email typed is kept"
    );
});

backend_test!(racing_confirmations_of_one_name_give_one_account, |app| {
    app.register("owner").await;
    let racers: Vec<_> = (0..8)
        .map(|i| (app.new_browser(), format!("racer{i}@example.com")))
        .collect();
    let registrations = racers
        .iter()
        .map(|(browser, email)| start_registration(browser, "racer", email));
    for page in futures_util::future::join_all(registrations).await {
        page.assert_status(200);
    }
    let mut links = Vec::new();
    for (_, email) in &racers {
        links.push(app.outbox.link(email, CONFIRM).await);
    }
    let confirmations = racers
        .iter()
        .zip(&links)
        .map(|((browser, _), link)| browser.post(link, &[]));
    let pages = futures_util::future::join_all(confirmations).await;
    let created = pages.iter().filter(|p| p.status == 303).count();
    let refused = pages.iter().filter(|p| p.status == 409).count();
    assert_eq!(
        (created, refused),
        (1, 7),
        "{:?}",
        pages.iter().map(|p| p.status).collect::<Vec<_>>()
    );
    assert_eq!(accounts_named(&app, "racer").await, 1);
});

backend_test!(racing_first_registrations_make_exactly_one_owner, |app| {
    let browsers: Vec<_> = (0..6).map(|_| app.new_browser()).collect();
    let attempts = browsers.iter().enumerate().map(|(i, browser)| async move {
        start_registration(
            browser,
            &format!("first{i}"),
            &format!("first{i}@example.com"),
        )
        .await
    });
    let pages = futures_util::future::join_all(attempts).await;
    // One is the first and is in at once; the others confirm their
    // addresses, as every later registration does.
    let statuses: Vec<u16> = pages.iter().map(|p| p.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    let (owners, accounts): (i64, i64) = (
        query("SELECT COUNT(*) FROM users WHERE role = 'owner'")
            .scalar(&app.db)
            .await
            .unwrap(),
        query("SELECT COUNT(*) FROM users")
            .scalar(&app.db)
            .await
            .unwrap(),
    );
    assert_eq!((owners, accounts), (1, 1));
});

backend_test!(sign_in_returns_to_the_page_that_asked, |app| {
    app.register("writer").await;
    app.logout().await.assert_redirect("/");
    let page = app.get("/editor").await;
    page.assert_redirect("/login?next=%2Feditor&why=members");
    let login = app.get("/login?next=%2Feditor&why=members").await;
    assert_eq!(
        login.attr("input[name=next]", "value").as_deref(),
        Some("/editor")
    );
    assert_eq!(
        login.texts(".notice"),
        ["That page is for signed-in members. Sign in and you will go straight back to it."],
        "the page says why it is there"
    );
    // Reached from the header's link, it says nothing of the kind.
    assert!(app.get("/login?next=%2F").await.texts(".notice").is_empty());
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
    // The address waits for its link.
    assert!(page.contains("We have sent a link to <strong>dave@new.example</strong>"));
    assert_eq!(
        page.attr("#email", "value").as_deref(),
        Some("dave@example.com")
    );
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

const NEW_ADDRESS: &str = "settings/email/";

/// Asks on the settings form for the address of `browser`'s account to
/// become `email`.
async fn change_address(browser: &Browser, email: &str) -> Page {
    browser.post("/settings", &[("email", email)]).await
}

backend_test!(
    a_new_address_waits_for_its_link_and_the_answer_does_not_tell_if_it_is_taken,
    |app| {
        app.register("owner").await;
        let erin = app.new_browser();
        erin.register("erin").await;
        let taken = change_address(&erin, "OWNER@example.com").await;
        let sent = app.outbox.to("owner@example.com").await;
        let notice = sent
            .iter()
            .find(|email| email.subject == "Someone tried to use your address at Quire")
            .unwrap_or_else(|| panic!("no notice in {sent:?}"));
        assert!(notice.text.contains("Hello owner,"), "{}", notice.text);
        assert!(
            notice
                .text
                .contains(&format!("{}password/forgot", app.base))
        );
        let free = change_address(&erin, "erin@new.example").await;
        free.assert_status(200);
        taken.assert_status(200);
        assert_eq!(
            free.texts("[role=status]"),
            vec![
                "Your settings were saved. We have sent a link to erin@new.example: your \
                 address changes to it when you open the link, within 24 hours."
            ]
        );
        assert_eq!(
            free.body.replace("erin@new.example", "ADDRESS"),
            taken.body.replace("owner@example.com", "ADDRESS")
        );

        // Nothing changes until the link is followed, by anyone who has it.
        let link = app.outbox.link("erin@new.example", NEW_ADDRESS).await;
        let mailbox = app.new_browser();
        let page = mailbox.get(&link).await;
        page.assert_status(200);
        assert!(page.contains("<strong>erin</strong> to <strong>erin@new.example</strong>"));
        assert!(
            erin.get("/settings")
                .await
                .contains("value=\"erin@example.com\"")
        );
        let page = mailbox.post(&link, &[]).await;
        page.assert_status(200);
        assert_eq!(
            page.texts("[role=status]"),
            vec!["The address of your account is now erin@new.example."]
        );
        assert!(
            erin.get("/settings")
                .await
                .contains("value=\"erin@new.example\"")
        );
        for page in [mailbox.get(&link).await, mailbox.post(&link, &[]).await] {
            page.assert_status(404);
            assert!(page.contains("This link no longer works"));
        }
        let phone = app.new_browser();
        phone
            .login("erin@new.example", "correct horse")
            .await
            .assert_redirect("/");
    }
);

backend_test!(
    an_address_taken_before_its_link_is_followed_is_not_changed_to,
    |app| {
        app.register("owner").await;
        change_address(&app, "frank@example.com")
            .await
            .assert_status(200);
        let link = app.outbox.link("frank@example.com", NEW_ADDRESS).await;
        // Asking again replaces the change, and its link.
        change_address(&app, "frank@example.com")
            .await
            .assert_status(200);
        let second = app.outbox.link("frank@example.com", NEW_ADDRESS).await;
        assert_ne!(link, second);
        app.new_browser().post(&link, &[]).await.assert_status(404);

        // Its owner registers meanwhile: the address was not reserved.
        app.new_browser().api_register("frank").await;
        let page = app.new_browser().post(&second, &[]).await;
        page.assert_status(409);
        assert_eq!(
            page.texts("[role=alert] li"),
            vec!["Email has already been taken"]
        );
        app.new_browser().get(&second).await.assert_status(404);
        assert!(
            app.get("/settings")
                .await
                .contains("value=\"owner@example.com\"")
        );

        // Expired links are refused, and housekeeping removes them.
        change_address(&app, "later@example.com")
            .await
            .assert_status(200);
        let later = app.outbox.link("later@example.com", NEW_ADDRESS).await;
        query("UPDATE email_changes SET expires_at = $1")
            .bind(Timestamp::now() - time::Duration::seconds(1))
            .execute(&app.db)
            .await
            .unwrap();
        let page = app.new_browser().get(&later).await;
        page.assert_status(404);
        assert!(page.contains("more than 24 hours old"));
        let purged = accounts::purge_expired(&app.db, Timestamp::now())
            .await
            .unwrap();
        assert_eq!(purged.email_changes, 1);
    }
);

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
            .assert_redirect("/login?next=%2Fsettings&why=members");

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

    // An address change waiting for its link goes with the account.
    frank
        .post("/settings", &[("email", "frank@elsewhere.example")])
        .await
        .assert_status(200);
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

    let changes: i64 = query("SELECT COUNT(*) FROM email_changes")
        .scalar(&app.db)
        .await
        .unwrap();
    assert_eq!(changes, 0);

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
    if app.backend == crate::helpers::Backend::Sqlite {
        // The worker that forgot the likes is an App of its own, as another
        // process would be; PostgreSQL tells this one (NOTIFY), SQLite
        // cannot, so its cached copy would go only with the TTL.
        app.app.pages.forget_all();
    }
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
