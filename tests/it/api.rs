//! The JSON API beyond the conformance suite: its document, its bad-input
//! answers, tokens, CORS, and that it shares the site's data and rules.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backend_test;

fn article(title: &str) -> Value {
    json!({"article": {"title": title, "description": "d", "body": "b", "tagList": ["x"]}})
}

backend_test!(the_openapi_document_matches_the_router, |app| {
    let (status, doc) = app.api(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "OpenAPI 3.1"
    );
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = Vec::new();
    for (path, item) in paths {
        for method in ["get", "post", "put", "delete"] {
            if let Some(op) = item.get(method) {
                assert!(
                    op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{method} {path} documents responses"
                );
                operations.push((method, path.clone()));
            }
        }
    }
    assert_eq!(operations.len(), 26, "{operations:?}");
    // Every documented operation is routed: the router answers with
    // something other than its unknown-route 404 or a 405.
    for (method, path) in &operations {
        let concrete = path
            .replace("{slug}", "no-such-slug")
            .replace("{username}", "nobody")
            .replace("{id}", "1");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let (status, body) = app
            .api(
                method.clone(),
                &format!("/api{concrete}"),
                None,
                Some(json!({})),
            )
            .await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_ne!(
            body["errors"]["route"],
            json!(["not found"]),
            "{method} {path} is routed"
        );
    }
});

backend_test!(bad_requests_get_clear_json_answers, |app| {
    let token = app.api_register("apiuser").await;
    let client = &app.client;
    let url = app.url("/api/articles");

    let response = client
        .post(url.clone())
        .header("authorization", format!("Token {token}"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["errors"]["body"][0]
            .as_str()
            .unwrap()
            .starts_with("is invalid"),
        "{body}"
    );

    let (status, body) = app
        .api(
            Method::POST,
            "/api/articles",
            Some(&token),
            Some(json!({"title": "no wrapper"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["errors"]["body"][0]
            .as_str()
            .unwrap()
            .contains("missing field `article`"),
        "{body}"
    );

    let (status, body) = app
        .api(
            Method::POST,
            "/api/articles",
            Some(&token),
            Some(json!({"article": {"title": 5}})),
        )
        .await;
    assert_eq!(status, 422, "{body}");

    let response = client
        .post(url.clone())
        .header("authorization", format!("Token {token}"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);

    let huge = json!({"article": {"title": "t", "description": "d", "body": "x".repeat(1024 * 1024 + 1024)}});
    let (status, body) = app
        .api(Method::POST, "/api/articles", Some(&token), Some(huge))
        .await;
    assert_eq!(status, 413, "{body}");

    let (status, body) = app.api(Method::GET, "/api/no/such/thing", None, None).await;
    assert_eq!(
        (status.as_u16(), body),
        (404, json!({"errors": {"route": ["not found"]}}))
    );

    let (status, body) = app
        .api(Method::GET, "/api/articles?limit=0", None, None)
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = app
        .api(Method::GET, "/api/articles?offset=-1", None, None)
        .await;
    assert_eq!(status, 422);
    let (status, _) = app
        .api(Method::GET, "/api/articles?limit=abc", None, None)
        .await;
    assert!(status.is_client_error() && status != 404, "{status}");
});

backend_test!(tokens_are_refused_when_bad_expired_or_revoked, |app| {
    let (status, body) = app
        .api(Method::GET, "/api/user", Some("not-a-jwt"), None)
        .await;
    assert_eq!(
        (status.as_u16(), body),
        (401, json!({"errors": {"token": ["is invalid or expired"]}}))
    );

    // A real token, re-signed with a time that has passed.
    let live = app.api_register("expiring").await;
    assert_eq!(
        app.api(Method::GET, "/api/user", Some(&live), None).await.0,
        200
    );
    let key = jsonwebtoken::DecodingKey::from_secret(crate::helpers::TEST_SECRET.as_bytes());
    let mut claims: Value = jsonwebtoken::decode(&live, &key, &jsonwebtoken::Validation::default())
        .unwrap()
        .claims;
    claims["exp"] = json!(1_000_000);
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(crate::helpers::TEST_SECRET.as_bytes()),
    )
    .unwrap();
    let (status, body) = app
        .api(Method::GET, "/api/user", Some(&expired), None)
        .await;
    assert_eq!(
        (status.as_u16(), body),
        (401, json!({"errors": {"token": ["is invalid or expired"]}}))
    );
    // And one signed with another key.
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sid": claims["sid"], "sub": claims["sub"], "iat": 1, "exp": 4_000_000_000_i64}),
        &jsonwebtoken::EncodingKey::from_secret(b"another secret that is long enough......"),
    )
    .unwrap();
    assert_eq!(
        app.api(Method::GET, "/api/user", Some(&forged), None)
            .await
            .0,
        401
    );

    // Two tokens of one account; a password change through one ends the other.
    let first = app.api_register("tokenuser").await;
    let (_, login) = app
        .api(
            Method::POST,
            "/api/users/login",
            None,
            Some(json!({"user": {"email": "tokenuser@example.com", "password": "correct horse"}})),
        )
        .await;
    let second = login["user"]["token"].as_str().unwrap().to_owned();
    let (status, _) = app
        .api(
            Method::PUT,
            "/api/user",
            Some(&first),
            Some(json!({"user": {"password": "battery staple"}})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.api(Method::GET, "/api/user", Some(&first), None)
            .await
            .0,
        200,
        "the changing token goes on"
    );
    assert_eq!(
        app.api(Method::GET, "/api/user", Some(&second), None)
            .await
            .0,
        401,
        "the other one ends"
    );

    // A site sign-in is another door into the same account…
    app.login("tokenuser", "battery staple")
        .await
        .assert_redirect("/");
    // …and deleting the account there ends every API token.
    app.post("/settings/delete", &[("password", "battery staple")])
        .await
        .assert_redirect("/");
    assert_eq!(
        app.api(Method::GET, "/api/user", Some(&first), None)
            .await
            .0,
        401
    );
});

backend_test!(the_api_and_the_site_share_posts_and_rules, |app| {
    app.register("owner").await;
    let token = app.api_register("writer").await;
    let (status, body) = app
        .api(
            Method::POST,
            "/api/articles",
            Some(&token),
            Some(article("From the API")),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let slug = body["article"]["slug"].as_str().unwrap().to_owned();
    let page = app.get(&format!("/posts/{slug}")).await;
    page.assert_status(200);
    assert_eq!(page.texts("h1")[0], "From the API");

    // A draft written on the site stays hidden from everyone else's API calls.
    let draft = app.save_draft("Owner's draft", "secret").await;
    let (status, body) = app
        .api(
            Method::GET,
            &format!("/api/articles/{draft}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (status.as_u16(), body),
        (404, json!({"errors": {"article": ["not found"]}}))
    );
    let (_, list) = app.api(Method::GET, "/api/articles", None, None).await;
    assert!(
        list["articles"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["slug"] != json!(draft))
    );
    let (_, list) = app
        .api(
            Method::GET,
            "/api/articles?author=owner",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(list["articlesCount"], 0);

    // Editing over the API keeps a draft a draft.
    let owner_token = {
        let (_, login) = app
            .api(
                Method::POST,
                "/api/users/login",
                None,
                Some(json!({"user": {"email": "owner@example.com", "password": "correct horse"}})),
            )
            .await;
        login["user"]["token"].as_str().unwrap().to_owned()
    };
    let (status, _) = app
        .api(
            Method::PUT,
            &format!("/api/articles/{draft}"),
            Some(&owner_token),
            Some(json!({"article": {"body": "still secret"}})),
        )
        .await;
    assert_eq!(status, 200);
    app.new_browser()
        .get(&format!("/posts/{draft}"))
        .await
        .assert_status(404);

    // Authorship rules are the site's: someone else cannot edit or delete.
    let other = app.api_register("other").await;
    let (status, body) = app
        .api(
            Method::DELETE,
            &format!("/api/articles/{slug}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(
        (status.as_u16(), body),
        (403, json!({"errors": {"article": ["forbidden"]}}))
    );
    // The owner is an admin and moderates through the API too.
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/articles/{slug}"),
            Some(&owner_token),
            None,
        )
        .await;
    assert_eq!(status, 204);
});

backend_test!(timestamps_have_stable_millisecond_precision, |app| {
    let token = app.api_register("clock").await;
    let (_, created) = app
        .api(
            Method::POST,
            "/api/articles",
            Some(&token),
            Some(article("Tick")),
        )
        .await;
    let slug = created["article"]["slug"].as_str().unwrap();
    let created_at = created["article"]["createdAt"].as_str().unwrap().to_owned();
    assert_eq!(
        created_at.len(),
        "2026-01-01T00:00:00.000Z".len(),
        "{created_at}"
    );
    let mut last = created["article"]["updatedAt"].as_str().unwrap().to_owned();
    for i in 0..3 {
        let (_, updated) = app
            .api(
                Method::PUT,
                &format!("/api/articles/{slug}"),
                Some(&token),
                Some(json!({"article": {"body": format!("v{i}")}})),
            )
            .await;
        assert_eq!(updated["article"]["createdAt"], json!(created_at));
        let now = updated["article"]["updatedAt"].as_str().unwrap().to_owned();
        assert!(now > last, "{now} after {last}");
        last = now;
    }
    let (_, fetched) = app
        .api(Method::GET, &format!("/api/articles/{slug}"), None, None)
        .await;
    assert_eq!(fetched["article"]["createdAt"], json!(created_at));
    assert_eq!(fetched["article"]["updatedAt"], json!(last));
});

backend_test!(cors_allows_only_the_configured_origins, |app| {
    let site = crate::helpers::TestApp::try_spawn_with(app.backend, |s| {
        s.http.cors_origins = ["https://app.example.com", "http://localhost:4200"]
            .map(axum::http::HeaderValue::from_static)
            .to_vec()
    })
    .await
    .unwrap();
    let preflight = |origin: &'static str| {
        site.client
            .request(Method::OPTIONS, site.url("/api/articles"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(
        allowed.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    // Without configuration, no origin is allowed.
    let response = app
        .client
        .get(app.url("/api/tags"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
});

backend_test!(deleted_authors_are_deleted_in_the_api_too, |app| {
    app.register("leaver").await;
    let slug = app.publish("Left behind", "words", "").await;
    let commenter = app.api_register("stayer").await;
    app.api(
        Method::POST,
        &format!("/api/articles/{slug}/comments"),
        Some(&commenter),
        Some(json!({"comment": {"body": "hi"}})),
    )
    .await;
    app.post("/settings/delete", &[("password", "correct horse")])
        .await
        .assert_redirect("/");

    let (_, body) = app
        .api(Method::GET, &format!("/api/articles/{slug}"), None, None)
        .await;
    assert_eq!(body["article"]["author"]["username"], "[deleted]");
    let (_, list) = app
        .api(Method::GET, "/api/articles?author=leaver", None, None)
        .await;
    assert_eq!(list["articlesCount"], 0);
    let (status, _) = app
        .api(Method::GET, "/api/profiles/leaver", None, None)
        .await;
    assert_eq!(status, 404);
});
