//! `quire backup` and `quire restore`: everything comes back, damaged
//! backups and non-empty databases are refused.

use quire::db::{Db, PoolSize};
use quire::with_pool;

use crate::backend_test;
use crate::helpers::{TEST_SECRET, fresh_database_url, run_quire};

fn quire(database_url: &str, args: &[&str]) -> (bool, String) {
    run_quire(
        args,
        &[
            ("QUIRE_DATABASE_URL", database_url),
            ("QUIRE_SECRET_KEY", TEST_SECRET),
        ],
    )
}

/// Every row of every table, each value as text, in a stable order.
async fn contents(db: &Db) -> Vec<(String, Vec<Vec<Option<String>>>)> {
    let tables: Vec<String> = match db {
        Db::Sqlite(pool) => sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
        Db::Postgres(pool) => sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() ORDER BY table_name",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
    };
    let mut out = Vec::new();
    for table in tables {
        let columns: Vec<String> = match db {
            Db::Sqlite(pool) => sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
            )))
            .fetch_all(pool)
            .await
            .unwrap(),
            Db::Postgres(pool) => sqlx::query_scalar(
                "SELECT column_name::text FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            )
            .bind(&table)
            .fetch_all(pool)
            .await
            .unwrap(),
        };
        // Each value as text: SQLite's quote() also spells out blobs.
        let select: Vec<String> = columns
            .iter()
            .map(|c| match db {
                Db::Sqlite(_) => format!("quote({c})"),
                Db::Postgres(_) => format!("CAST({c} AS TEXT)"),
            })
            .collect();
        let sql = format!("SELECT {} FROM {table} ORDER BY 1, 2", select.join(", "));
        let sql = if columns.len() == 1 {
            sql.replace(", 2", "")
        } else {
            sql
        };
        let rows: Vec<Vec<Option<String>>> = with_pool!(db, pool => {
            use sqlx::Row;
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .fetch_all(pool)
                .await
                .unwrap()
                .iter()
                .map(|row| (0..columns.len()).map(|i| row.try_get::<Option<String>, _>(i).unwrap()).collect())
                .collect()
        });
        out.push((table, rows));
    }
    out
}

backend_test!(
    a_backup_restores_into_an_empty_database_identically,
    |app| {
        // A site with a bit of everything.
        app.register("owner").await.assert_status(303);
        let slug = app
            .publish("Kept", "Every *word* of it.", "backups, care")
            .await;
        let reader = app.new_browser();
        reader.register("reader").await.assert_status(303);
        reader
            .post(&format!("/posts/{slug}/comments"), &[("body", "Safe?")])
            .await
            .assert_status(303);
        reader
            .post(&format!("/posts/{slug}/like"), &[])
            .await
            .assert_status(303);
        // A view, from a browser that says it is one (robots are not counted).
        let viewed = reader
            .client
            .get(reader.url(&format!("/posts/{slug}")))
            .header(
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(viewed.status(), reqwest::StatusCode::OK);
        let (status, _) = reader
            .api(
                reqwest::Method::POST,
                "/api/visitors/ann/visits",
                None,
                None,
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::OK);
        app.state_flush().await;
        let before = contents(&app.db).await;
        let count = |table: &str| {
            before
                .iter()
                .find(|(t, _)| t == table)
                .map_or(0, |(_, rows)| rows.len())
        };
        for table in [
            "users",
            "posts",
            "comments",
            "reactions",
            "visits",
            "visitors",
            "post_views",
            "tags",
            "sessions",
            "jobs",
        ] {
            assert!(count(table) > 0, "the site has {table}");
        }

        let dest = tempfile::tempdir().unwrap();
        let (ok, said) = quire(
            &app.database_url,
            &["backup", &dest.path().display().to_string()],
        );
        assert!(ok, "{said}");
        let folder = said
            .trim()
            .strip_prefix("backed up to ")
            .unwrap()
            .to_owned();
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(format!("{folder}/manifest.json")).unwrap())
                .unwrap();
        assert_eq!(manifest["backend"], app.db.backend());
        assert_eq!(manifest["files"][0]["sha256"].as_str().unwrap().len(), 64);

        // Into an empty database: identical, row for row.
        let target_dir = tempfile::tempdir().unwrap();
        let (target, _pg) = fresh_database_url(app.backend, target_dir.path())
            .await
            .unwrap();
        let (ok, said) = quire(&target, &["restore", &folder]);
        assert!(ok, "{said}");
        let restored = Db::connect(&target, PoolSize(2), None).await.unwrap();
        assert_eq!(contents(&restored).await, before);

        // Not again over data, unless forced.
        let (ok, said) = quire(&target, &["restore", &folder]);
        assert!(
            !ok && said.contains("not empty") && said.contains("--force"),
            "{said}"
        );
        restored.close().await;
        let (ok, said) = quire(&target, &["restore", "--force", &folder]);
        assert!(ok, "{said}");
        let restored = Db::connect(&target, PoolSize(2), None).await.unwrap();
        assert_eq!(contents(&restored).await, before);
        restored.close().await;

        // A damaged backup is refused before anything is touched.
        let file = format!(
            "{folder}/{}",
            manifest["files"][0]["path"].as_str().unwrap()
        );
        let mut bytes = std::fs::read(&file).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&file, bytes).unwrap();
        let (ok, said) = quire(&target, &["restore", "--force", &folder]);
        assert!(
            !ok && said.contains("does not match its checksum"),
            "{said}"
        );
        let (ok, said) = quire(&target, &["restore", "s3://bucket/backups"]);
        assert!(!ok, "{said}");
    }
);
