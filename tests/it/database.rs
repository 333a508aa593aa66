//! The database layer under adverse conditions.

use crate::backend_test;

backend_test!(the_pool_recovers_from_dropped_connections, |app| {
    app.register("owner").await;
    let slug = app.publish("Survivor", "still here", "").await;
    if app.backend == Backend::Postgres {
        // What a server restart or an idle-killing proxy does to a pool:
        // every connection the app holds is closed under it.
        let admin = sqlx::PgPool::connect(&crate::helpers::postgres_admin_url().unwrap())
            .await
            .unwrap();
        let name: String = quire::db::query("SELECT current_database()")
            .scalar(&app.db)
            .await
            .unwrap();
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
        )
        .bind(&name)
        .fetch_all(&admin)
        .await
        .unwrap();
        assert!(!killed.is_empty(), "the app held connections");
        admin.close().await;
    }
    for _ in 0..5 {
        let page = app.get(&format!("/posts/{slug}")).await;
        page.assert_status(200);
    }
    app.publish("After", "the storm", "").await;
});

backend_test!(each_known_unique_violation_is_recognised, |app| {
    use quire::db::{Unique, query, unique_violation};
    app.register("owner").await;
    let slug = app.publish("Only once", "x", "").await;
    let now = quire::db::Timestamp::now();
    let user = |username: &str, email: &str, role: &str| {
        query(
            "INSERT INTO users (username, username_key, email, password_hash, role, created_at, updated_at)
             VALUES ($1, $5, $2, 'x', $3, $4, $4)",
        )
        .bind(username.to_owned())
        .bind(email.to_owned())
        .bind(role.to_owned())
        .bind(now)
        .bind(username.to_lowercase())
    };
    let cases = [
        (user("owner", "new@example.com", "member"), Some(Unique::Username)),
        // The same name in another case: its key is taken.
        (user("OWNER", "new@example.com", "member"), Some(Unique::Username)),
        (user("new", "owner@example.com", "member"), Some(Unique::Email)),
        (user("new", "new@example.com", "owner"), Some(Unique::SingleOwner)),
        (
            query(
                "INSERT INTO posts (author_id, slug, title, description, body, status, created_at, updated_at)
                 SELECT author_id, slug, 't', '', 'b', 'draft', $2, $2 FROM posts WHERE slug = $1",
            )
            .bind(slug.clone())
            .bind(now),
            Some(Unique::PostSlug),
        ),
        // A unique constraint no feature answers for.
        (
            query("INSERT INTO tags (name) VALUES ('twice'), ('twice')"),
            None,
        ),
    ];
    for (insert, expected) in cases {
        let sql = insert.sql().to_owned();
        let error = insert.execute(&app.db).await.expect_err(&sql);
        assert!(
            error
                .as_database_error()
                .is_some_and(|e| e.is_unique_violation()),
            "{sql}: {error}"
        );
        assert_eq!(unique_violation(&error), expected, "{sql}: {error}");
    }
});
