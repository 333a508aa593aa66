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
            "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || COALESCE(column_default, '')
             FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'
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
