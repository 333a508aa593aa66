//! Every migration is reversible: up, down and up again leave the schema
//! exactly as it was at each step (Lemmy's check).

use quire::db::{Db, Dialect, MigrationState, query};

use crate::backend_test;

async fn schema(db: &Db) -> Vec<String> {
    let sql = match db.dialect() {
        Dialect::Sqlite => {
            "SELECT type || ' ' || name || ': ' || COALESCE(sql, '') FROM sqlite_master
             WHERE name NOT LIKE '_sqlx_migrations%' AND name NOT LIKE 'sqlite_%' ORDER BY type, name"
        }
        Dialect::Postgres => {
            // Generated columns by their expressions and how each column
            // is stored; the functions they call by their definitions.
            "SELECT c.table_name || '.' || c.column_name || ' ' || c.data_type || ' ' || c.is_nullable || ' '
                    || COALESCE(c.column_default, '') || COALESCE(' AS ' || c.generation_expression, '')
                    || ' storage ' || a.attstorage::text
             FROM information_schema.columns c
             JOIN pg_attribute a ON a.attrelid = ('public.' || c.table_name)::regclass AND a.attname = c.column_name
             WHERE c.table_schema = 'public' AND c.table_name <> '_sqlx_migrations'
             UNION ALL
             SELECT 'function ' || proname || ': ' || pg_get_functiondef(oid) FROM pg_proc
             WHERE pronamespace = 'public'::regnamespace
             UNION ALL
             SELECT 'index ' || indexname || ': ' || indexdef FROM pg_indexes
             WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations'
             UNION ALL
             SELECT 'constraint ' || conname || ': ' || pg_get_constraintdef(oid) FROM pg_constraint
             WHERE connamespace = 'public'::regnamespace AND conrelid <> '_sqlx_migrations'::regclass
             ORDER BY 1"
        }
    };
    query(sql).scalars(db).await.unwrap()
}

backend_test!(every_migration_reverts_to_the_schema_before_it, |app| {
    let db = &app.db;
    // TestApp migrated up; go all the way down first.
    let all = db.migration_status().await.unwrap();
    db.migrate_down(all.len()).await.unwrap();
    assert!(
        schema(db).await.is_empty(),
        "down to nothing leaves nothing: {:?}",
        schema(db).await
    );

    for migration in &all {
        let before = schema(db).await;
        db.migrate_to(migration.version).await.unwrap();
        let after_up = schema(db).await;
        assert_ne!(
            before, after_up,
            "migration {} changes the schema",
            migration.version
        );
        db.migrate_down(1).await.unwrap();
        assert_eq!(
            schema(db).await,
            before,
            "migration {} down restores the schema",
            migration.version
        );
        db.migrate_to(migration.version).await.unwrap();
        assert_eq!(
            schema(db).await,
            after_up,
            "migration {} applies again",
            migration.version
        );
    }
    let status = db.migration_status().await.unwrap();
    assert!(status.iter().all(|m| m.state == MigrationState::Applied));
});

/// The migration that makes usernames' keys unique.
const USERNAME_KEYS_UNIQUE: i64 = 20261129000005;

backend_test!(
    usernames_that_clash_stop_the_migration_and_are_named,
    |app| {
        let db = &app.db;
        // Back to before usernames had keys, with accounts made then: some of
        // them one name in another case or Unicode form.
        let since_keys = db
            .migration_status()
            .await
            .unwrap()
            .iter()
            .filter(|m| m.version >= USERNAME_KEYS_UNIQUE - 1 && m.state == MigrationState::Applied)
            .count();
        db.migrate_down(since_keys).await.unwrap();
        let now = quire::db::Timestamp::now();
        let mut ids = Vec::new();
        for name in ["Owner", "bob", "owner", "ｏｗｎｅｒ"] {
            let id: i64 = query(
                "INSERT INTO users (username, email, password_hash, role, created_at, updated_at)
             VALUES ($1, $2, 'x', 'member', $3, $3) RETURNING id",
            )
            .bind(name.to_owned())
            .bind(format!("{}@example.com", ids.len()))
            .bind(now)
            .scalar(db)
            .await
            .unwrap();
            ids.push(id);
        }

        let error = db
            .migrate_up(quire::assembly::MIGRATION_STEPS)
            .await
            .expect_err("clashing usernames stop the migration");
        let message = format!("{error:#}");
        let expected = format!(
            "\"Owner\" (id {}) and \"owner\" (id {}) and \"ｏｗｎｅｒ\" (id {})",
            ids[0], ids[2], ids[3]
        );
        assert!(message.contains(&expected), "{message}");
        assert!(message.contains("UPDATE users SET username"), "{message}");
        assert!(!message.contains("bob"), "{message}");
        // Nothing was written, and the unique index waits for the fix.
        let keys: Vec<Option<String>> = query("SELECT username_key FROM users ORDER BY id")
            .scalars(db)
            .await
            .unwrap();
        assert!(keys.iter().all(Option::is_none), "{keys:?}");
        let waiting = db.migration_status().await.unwrap();
        assert!(
            waiting
                .iter()
                .any(|m| m.version == USERNAME_KEYS_UNIQUE && m.state == MigrationState::Pending)
        );

        // Renamed as the message says, the migration goes through.
        for (id, name) in [(ids[2], "owner-2"), (ids[3], "owner-3")] {
            query("UPDATE users SET username = $1 WHERE id = $2")
                .bind(name)
                .bind(id)
                .execute(db)
                .await
                .unwrap();
        }
        db.migrate_up(quire::assembly::MIGRATION_STEPS)
            .await
            .unwrap();
        let keys: Vec<String> = query("SELECT username_key FROM users ORDER BY id")
            .scalars(db)
            .await
            .unwrap();
        assert_eq!(keys, ["owner", "bob", "owner-2", "owner-3"]);
    }
);
