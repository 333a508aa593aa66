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
