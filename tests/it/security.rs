use crate::backend_test;
use crate::helpers::TestApp;
use quire::config::Registration;

backend_test!(forms_without_the_anti_forgery_token_are_refused, |app| {
    app.register("owner").await;
    let slug = app.publish("Keep", "me", "").await;
    for (path, fields) in [
        ("/logout", vec![]),
        (
            "/editor",
            vec![("title", "Forged"), ("body", "x"), ("action", "publish")],
        ),
        (&*format!("/posts/{slug}/delete"), vec![]),
        ("/settings", vec![("email", "evil@example.com")]),
    ] {
        let page = app.post_raw(path, &fields).await;
        page.assert_status(403);
        assert!(page.contains("This form has expired"), "{path}");
        let mut wrong = vec![("csrf_token", "not-the-token")];
        wrong.extend(fields.iter().copied());
        app.post_raw(path, &wrong).await.assert_status(403);
    }
    app.get(&format!("/posts/{slug}")).await.assert_status(200);
    app.get("/settings").await.assert_status(200);
});

// Double-submit alone trusts the cookie, and a sibling subdomain can plant
// one. Signed in, the token is bound to the session: a planted cookie with
// a matching field is refused, and the token the page gives works.
backend_test!(signed_in_forms_need_the_token_bound_to_the_session, |app| {
    app.register("owner").await;
    let session = app.cookie("quire_session").expect("signed in");
    let planted = "planted-token-planted-token";
    let response = app
        .client
        .post(app.url("/settings"))
        .header(
            "cookie",
            format!("quire_session={session}; quire_csrf={planted}"),
        )
        .form(&[("csrf_token", planted), ("email", "evil@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    let settings = app.get("/settings").await;
    let token = settings
        .attr("input[name=csrf_token]", "value")
        .expect("the form carries a token");
    assert_ne!(token, planted);
    app.post_raw(
        "/settings",
        &[("csrf_token", &token), ("email", "new@example.com")],
    )
    .await
    .assert_status(200);
    assert_eq!(
        app.get("/settings")
            .await
            .attr("input[name=email]", "value")
            .as_deref(),
        Some("new@example.com")
    );
});

backend_test!(cookies_are_http_only_and_same_site, |app| {
    let page = app.get("/").await;
    let csrf = page
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert!(
        csrf.iter().any(|c| c.starts_with("quire_csrf=")
            && c.contains("HttpOnly")
            && c.contains("SameSite=Lax")),
        "{csrf:?}"
    );
    let page = app.register("owner").await;
    let cookies = page
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("quire_session="))
        .expect("a session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    assert!(!session.contains("Secure"), "not over plain http");
});

backend_test!(session_ids_planted_before_sign_in_are_not_adopted, |app| {
    app.register("owner").await;
    app.logout().await;
    // An attacker plants a session id in the victim's browser (fixation).
    let planted = "AAAAAAAAAAAAAAAAAAAAAA";
    let jar_browser = app.new_browser();
    jar_browser
        .client
        .get(app.url("/"))
        .header("cookie", format!("quire_session={planted}"))
        .send()
        .await
        .unwrap();
    let token = jar_browser.csrf().await;
    let response = jar_browser
        .client
        .post(app.url("/login"))
        .header(
            "cookie",
            format!("quire_session={planted}; quire_csrf={token}"),
        )
        .form(&[
            ("csrf_token", token.as_str()),
            ("login", "owner"),
            ("password", "correct horse"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let issued = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("quire_session="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("sign-in issues a session cookie");
    assert_ne!(issued, planted);
    // The planted id grants nothing.
    let page = app
        .new_browser()
        .client
        .get(app.url("/settings"))
        .header("cookie", format!("quire_session={planted}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303);
});

backend_test!(oversized_bodies_get_413, |app| {
    app.register("owner").await;
    let body = "x".repeat(1024 * 1024 + 1024);
    let page = app
        .post(
            "/editor",
            &[("title", "Big"), ("body", &body), ("action", "publish")],
        )
        .await;
    page.assert_status(413);
    assert!(page.contains("more than we accept"));
});

backend_test!(signed_out_visitors_are_sent_to_sign_in, |app| {
    for path in [
        "/editor",
        "/drafts",
        "/settings",
        "/settings/delete",
        "/admin/invites",
    ] {
        let page = app.get(path).await;
        page.assert_status(303);
        assert!(page.location.unwrap().starts_with("/login?next="), "{path}");
    }
});

/// Spawns a second app on the same backend as `app`, in another registration mode.
async fn app_in_mode(app: &TestApp, mode: Registration) -> TestApp {
    TestApp::try_spawn_with(app.backend, |s| s.site.registration = mode)
        .await
        .expect("backend available")
}

backend_test!(
    invite_only_registration_consumes_one_code_per_account,
    |app| {
        let site = app_in_mode(&app, Registration::Invite).await;
        // The first account sets the site up, so it needs no code.
        site.register("owner").await.assert_redirect("/");
        let page = site.post("/admin/invites", &[]).await;
        page.assert_status(200);
        let code = page.texts(".notice code")[0].clone();
        assert_eq!(site.get("/admin/invites").await.texts("tbody tr").len(), 1);

        let guest = site.new_browser();
        let form = guest.get("/register").await;
        assert!(form.contains("Invite code"));
        let page = guest.register("uninvited").await;
        page.assert_status(422);
        assert!(
            page.texts(".field-errors li")
                .contains(&"Invite is required: registration is by invitation".to_owned())
        );
        let page = guest
            .post(
                "/register",
                &[
                    ("username", "guest"),
                    ("email", "guest@example.com"),
                    ("password", "correct horse"),
                    ("invite", &code),
                ],
            )
            .await;
        page.assert_redirect("/");
        let page = site
            .new_browser()
            .post(
                "/register",
                &[
                    ("username", "guest2"),
                    ("email", "guest2@example.com"),
                    ("password", "correct horse"),
                    ("invite", &code),
                ],
            )
            .await;
        page.assert_status(422);
        assert!(page.texts(".field-errors li")[0].starts_with("Invite is not valid"));
        assert!(site.get("/admin/invites").await.texts("tbody tr")[0].contains("guest"));
    }
);

backend_test!(closed_registration_refuses_everyone, |app| {
    let site = app_in_mode(&app, Registration::Closed).await;
    let page = site.get("/register").await;
    assert!(page.contains("Registration is closed"));
    assert!(!site.get("/login").await.contains("href=\"/register\""));
    let page = site.register("someone").await;
    page.assert_status(422);
    assert!(page.contains("Registration is closed"));
    assert_eq!(
        site.new_browser()
            .login("someone", "correct horse")
            .await
            .status,
        422
    );
});

backend_test!(failures_spread_over_names_slow_the_address_down, |app| {
    // Ten failures from one address are free, whatever names they try; the
    // eleventh makes the address's next attempt wait.
    for i in 0..11 {
        app.login(&format!("guess{i}"), "wrong password")
            .await
            .assert_status(422);
    }
    let page = app.login("guess99", "wrong password").await;
    page.assert_status(429);
    assert_eq!(page.headers["retry-after"], "1");
});

backend_test!(
    behind_a_trusted_proxy_each_client_has_its_own_sign_in_backoff,
    |app| {
        let client = reqwest::Client::new();
        let login = |site: &TestApp, name: &str, password: &str, forwarded: &'static str| {
            client
                .post(site.url("/api/users/login"))
                .header("x-forwarded-for", forwarded)
                .json(&serde_json::json!({
                    "user": {"email": format!("{name}@example.com"), "password": password}
                }))
                .send()
        };
        let status =
            |response: reqwest::Result<reqwest::Response>| response.unwrap().status().as_u16();

        // The tests' connections come from 127.0.0.1: here, the proxy.
        let site = TestApp::try_spawn_with(app.backend, |s| {
            s.http.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]
        })
        .await
        .unwrap();
        site.new_browser().api_register("bob").await;
        for i in 0..11 {
            let name = format!("guess{i}");
            assert_eq!(
                status(login(&site, &name, "wrong password", "203.0.113.7").await),
                401
            );
        }
        assert_eq!(
            status(login(&site, "guess11", "wrong password", "203.0.113.7").await),
            429
        );
        // Another client behind the same proxy signs in to its own account…
        assert_eq!(
            status(login(&site, "bob", "correct horse", "198.51.100.2").await),
            200
        );
        assert_eq!(
            status(login(&site, "guess12", "wrong password", "198.51.100.2").await),
            401
        );
        // …and a client cannot pose as another by writing the header itself:
        // the proxy appends the address it saw, the nearest one counts.
        assert_eq!(
            status(
                login(
                    &site,
                    "guess13",
                    "wrong password",
                    "198.51.100.2, 203.0.113.7"
                )
                .await
            ),
            429
        );

        // Without trusted proxies the header is ignored: one address for all.
        for i in 0..11 {
            let name = format!("guess{i}");
            assert_eq!(
                status(login(&app, &name, "wrong password", "203.0.113.7").await),
                401
            );
        }
        assert_eq!(
            status(login(&app, "guess11", "wrong password", "198.51.100.2").await),
            429
        );
    }
);

backend_test!(account_requests_have_a_budget_per_address, |app| {
    let site = TestApp::try_spawn_with(app.backend, |s| {
        s.http.rate_limits = quire::config::Switch::On
    })
    .await
    .unwrap();
    let refused = |page: &crate::helpers::Page, most: u64| {
        page.assert_status(429);
        let wait: u64 = page.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=most).contains(&wait), "{wait}");
    };

    // Five registrations, from the site's form and the API alike…
    for i in 0..4 {
        site.new_browser()
            .register(&format!("user{i}"))
            .await
            .assert_redirect("/");
    }
    let member = site.new_browser();
    member.api_register("user4").await;
    // …then one each twelve minutes.
    refused(&site.new_browser().register("user5").await, 12 * 60);
    let (status, _) = site
        .api(
            reqwest::Method::POST,
            "/api/users",
            None,
            Some(serde_json::json!({"user": {"username": "user6", "email": "user6@example.com", "password": "correct horse"}})),
        )
        .await;
    assert_eq!(status, 429);

    // Five checks of the current password, changing it or deleting the
    // account, then one a minute.
    member
        .login("user4", "correct horse")
        .await
        .assert_redirect("/");
    for _ in 0..3 {
        member
            .post(
                "/settings/password",
                &[
                    ("current_password", "a guess"),
                    ("new_password", "battery staple"),
                ],
            )
            .await
            .assert_status(422);
    }
    for _ in 0..2 {
        member
            .post("/settings/delete", &[("password", "a guess")])
            .await
            .assert_status(422);
    }
    refused(
        &member
            .post(
                "/settings/password",
                &[
                    ("current_password", "correct horse"),
                    ("new_password", "battery staple"),
                ],
            )
            .await,
        60,
    );
    refused(
        &member
            .post("/settings/delete", &[("password", "correct horse")])
            .await,
        60,
    );

    // Five password reset requests, then one a minute.
    for i in 0..5 {
        site.post(
            "/password/forgot",
            &[("email", &format!("user{i}@example.com"))],
        )
        .await
        .assert_status(200);
    }
    refused(
        &site
            .post("/password/forgot", &[("email", "user0@example.com")])
            .await,
        60,
    );
});

backend_test!(control_characters_get_a_clear_4xx_on_every_door, |app| {
    app.register("owner").await;
    let slug = app.publish("Plain", "Plain text.", "").await;
    let token = app.new_browser().api_register("reader").await;
    let refused = |status: u16, what: &str| {
        assert!((400..500).contains(&status), "{what}: {status}");
    };
    // The address: a path and a query string.
    refused(app.get("/posts/%00").await.status.as_u16(), "a path");
    refused(app.get("/tags/a%01b").await.status.as_u16(), "a path");
    let (status, body) = app
        .api(reqwest::Method::GET, "/api/articles?tag=%00", None, None)
        .await;
    refused(status.as_u16(), "a query string");
    assert!(body.to_string().contains("control character"), "{body}");
    // Forms.
    refused(
        app.new_browser()
            .login("own\0er", "correct horse")
            .await
            .status
            .as_u16(),
        "sign-in",
    );
    for (path, field) in [
        ("/editor", "title"),
        ("/editor", "tags"),
        ("/settings", "bio"),
    ] {
        let page = app
            .post(
                path,
                &[
                    (field, "with a \0 in it"),
                    ("body", "b"),
                    ("action", "publish"),
                ],
            )
            .await;
        refused(page.status.as_u16(), field);
        assert!(page.contains("control character"), "{field}");
    }
    let page = app
        .post(&format!("/posts/{slug}/comments"), &[("body", "nul\0")])
        .await;
    refused(page.status.as_u16(), "a comment");
    refused(
        app.new_browser()
            .register("new\u{1}one")
            .await
            .status
            .as_u16(),
        "registration",
    );
    // JSON bodies.
    for body in [
        serde_json::json!({"user": {"email": "a\u{0}@example.com", "password": "correct horse"}}),
        serde_json::json!({"article": {"title": "t", "description": "d", "body": "b", "tagList": ["x\u{0}"]}}),
    ] {
        let path = if body.get("user").is_some() {
            "/api/users/login"
        } else {
            "/api/articles"
        };
        let (status, answer) = app
            .api(reqwest::Method::POST, path, Some(&token), Some(body))
            .await;
        refused(status.as_u16(), path);
        assert!(answer.to_string().contains("control character"), "{answer}");
    }
    // Nothing of it was stored, and the site still works.
    app.get(&format!("/posts/{slug}")).await.assert_status(200);
});

backend_test!(every_answer_carries_the_security_headers, |app| {
    for path in ["/", "/login", "/static/app.js", "/no-such-page"] {
        let page = app.get(path).await;
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "script-src 'self'",
            "style-src 'self'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert_eq!(page.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(
            page.headers["referrer-policy"], "strict-origin-when-cross-origin",
            "{path}"
        );
        assert!(page.headers.contains_key("permissions-policy"), "{path}");
        assert!(
            !page.headers.contains_key("strict-transport-security"),
            "not over plain http: {path}"
        );
    }
    // Over https, browsers are told to stay on https; framing as configured.
    let site = TestApp::try_spawn_with(app.backend, |s| {
        s.http.configured_public_url = Some("https://blog.example.com/".parse().unwrap());
        s.http.frame_ancestors = "'self' https://example.com".into();
    })
    .await
    .unwrap();
    let page = site.get("/").await;
    assert_eq!(
        page.headers["strict-transport-security"],
        "max-age=31536000"
    );
    assert!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .ends_with("frame-ancestors 'self' https://example.com")
    );
});

backend_test!(
    a_form_posted_from_another_site_is_refused_even_with_the_token,
    |app| {
        app.register("owner").await;
        let token = app.csrf().await;
        let host = app.base.host_str().unwrap().to_owned();
        let port = app.base.port().unwrap();
        let post =
            |origin: Option<String>, fetch_site: Option<&'static str>, title: &'static str| {
                let mut request = app.client.post(app.url("/editor")).form(&[
                    ("csrf_token", token.as_str()),
                    ("title", title),
                    ("body", "b"),
                    ("action", "publish"),
                ]);
                if let Some(origin) = origin {
                    request = request.header("origin", origin);
                }
                if let Some(site) = fetch_site {
                    request = request.header("sec-fetch-site", site);
                }
                request.send()
            };
        let status = |r: reqwest::Result<reqwest::Response>| r.unwrap().status().as_u16();
        // What a browser sends for the site's own form.
        let own = format!("http://{host}:{port}");
        assert_eq!(
            status(post(Some(own), Some("same-origin"), "Mine").await),
            303
        );
        // Another site's page posting the form, with a token it somehow had.
        for (origin, fetch_site) in [
            (Some("https://evil.example".to_owned()), None),
            (Some("null".to_owned()), None),
            (None, Some("cross-site")),
        ] {
            assert_eq!(
                status(post(origin.clone(), fetch_site, "Theirs").await),
                403,
                "{origin:?} {fetch_site:?}"
            );
        }
        // Nothing of theirs was published.
        assert_eq!(app.get("/posts/theirs").await.status, 404);
    }
);
