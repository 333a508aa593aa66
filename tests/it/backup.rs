//! `quire backup` and `quire restore`: everything comes back, damaged
//! backups and non-empty databases are refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use object_store::{ObjectStore, ObjectStoreExt};
use quire::db::{Db, Dialect, PoolSize, Query, query};

use crate::backend_test;
use crate::helpers::{
    QuireProcess, TEST_SECRET, TestApp, TestDatabase, fresh_database_url, run_quire,
};

/// Runs `quire ARGS` on a site: its database and the folder of its files.
pub(crate) fn quire(database_url: &str, files: &Path, args: &[&str]) -> (bool, String) {
    quire_with(database_url, files, args, &[])
}

pub(crate) fn quire_with(
    database_url: &str,
    files: &Path,
    args: &[&str],
    env: &[(&str, String)],
) -> (bool, String) {
    let files = files.display().to_string();
    let mut all = vec![
        ("QUIRE_DATABASE_URL", database_url),
        ("QUIRE_SECRET_KEY", TEST_SECRET),
        ("QUIRE_STORAGE_URL", files.as_str()),
    ];
    all.extend(env.iter().map(|(k, v)| (*k, v.as_str())));
    run_quire(args, &all)
}

/// Runs `quire backup DEST` (with `env`) on the app's database and files;
/// returns where the backup went, as the command says.
fn back_up(app: &TestApp, dest: &str, env: &[(&str, String)]) -> String {
    let (ok, said) = quire_with(&app.database_url, &files_of(app), &["backup", dest], env);
    assert!(ok, "{said}");
    said.trim()
        .strip_prefix("backed up to ")
        .unwrap()
        .to_owned()
}

/// The folder of a test app's files (its uploaded images).
pub(crate) fn files_of(app: &TestApp) -> PathBuf {
    match &app.app.settings.storage {
        quire::storage::Location::Folder(dir) => dir.clone(),
        other => panic!("test apps keep their files in a folder, not {other}"),
    }
}

/// Every file under `dir`, by its path inside it, with its bytes.
pub(crate) fn files_in(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Every row of every table (each row as a JSON array of its values as
/// text), in a stable order.
async fn contents(database_url: &str) -> Vec<(String, Vec<String>)> {
    let db = Db::connect(database_url, PoolSize(2), None).await.unwrap();
    // SQLite's quote() also spells out blobs.
    let (tables, columns, as_text, row) = match db.dialect() {
        Dialect::Sqlite => (
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
            "SELECT name FROM pragma_table_info($1) ORDER BY cid",
            "quote({})",
            "json_array({})",
        ),
        Dialect::Postgres => (
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() ORDER BY table_name",
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            "CAST({} AS TEXT)",
            "json_build_array({})::text",
        ),
    };
    let mut out = Vec::new();
    for table in query(tables).scalars::<String>(&db).await.unwrap() {
        let columns: Vec<String> = query(columns)
            .bind(table.clone())
            .scalars(&db)
            .await
            .unwrap();
        let values: Vec<String> = columns.iter().map(|c| as_text.replace("{}", c)).collect();
        let sql = format!(
            "SELECT {} AS r FROM {table} ORDER BY r",
            row.replace("{}", &values.join(", "))
        );
        let rows = Query::assembled(sql).scalars(&db).await.unwrap();
        out.push((table, rows));
    }
    db.close().await;
    out
}

/// Runs `quire restore SRC` (with `env`) into a new, empty database of the
/// app's backend, and checks that it then holds exactly `before`. Returns
/// the database's URL, and the folder and database that must outlive it.
async fn restore_into_empty(
    app: &TestApp,
    src: &str,
    env: &[(&str, String)],
    before: &[(String, Vec<String>)],
) -> (String, tempfile::TempDir, Option<TestDatabase>) {
    let dir = tempfile::tempdir().unwrap();
    let (target, database) = fresh_database_url(app.backend, dir.path()).await.unwrap();
    let (ok, said) = quire_with(&target, &dir.path().join("media"), &["restore", src], env);
    assert!(ok, "{said}");
    assert_eq!(contents(&target).await, before);
    // Every file comes back, byte for byte.
    let restored = files_in(&dir.path().join("media"));
    assert!(!restored.is_empty(), "the site had images");
    assert_eq!(restored, files_in(&files_of(app)));
    (target, dir, database)
}

/// A site with a bit of everything; returns all its rows.
pub(crate) async fn populate(app: &TestApp) -> Vec<(String, Vec<String>)> {
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
    // An image, which the backup must carry beside the database.
    let token = app.api_register("photographer").await;
    let png = {
        let mut out = Vec::new();
        image::DynamicImage::new_rgb8(600, 400)
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    };
    let uploaded = app
        .client
        .post(app.url("/api/uploads"))
        .header("authorization", format!("Token {token}"))
        .multipart(reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(png).file_name("kept.png"),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), reqwest::StatusCode::CREATED);
    app.state_flush().await;
    let before = contents(&app.database_url).await;
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
    before
}

backend_test!(
    a_backup_restores_into_an_empty_database_identically,
    |app| {
        let before = populate(&app).await;
        let dest = tempfile::tempdir().unwrap();
        let folder = back_up(&app, &dest.path().display().to_string(), &[]);
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(format!("{folder}/manifest.json")).unwrap())
                .unwrap();
        assert_eq!(manifest["backend"], app.db.backend());
        assert_eq!(manifest["files"][0]["sha256"].as_str().unwrap().len(), 64);

        // Into an empty database: identical, row for row.
        let (target, target_dir, _target_db) =
            restore_into_empty(&app, &folder, &[], &before).await;

        // Not again over data, unless forced.
        let (ok, said) = quire(
            &target,
            &target_dir.path().join("media"),
            &["restore", &folder],
        );
        assert!(
            !ok && said.contains("not empty") && said.contains("--force"),
            "{said}"
        );
        let (ok, said) = quire(
            &target,
            &target_dir.path().join("media"),
            &["restore", "--force", &folder],
        );
        assert!(ok, "{said}");
        assert_eq!(contents(&target).await, before);

        // A damaged backup is refused before anything is touched.
        let file = format!(
            "{folder}/{}",
            manifest["files"][0]["path"].as_str().unwrap()
        );
        let mut bytes = std::fs::read(&file).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&file, bytes).unwrap();
        let (ok, said) = quire(
            &target,
            &target_dir.path().join("media"),
            &["restore", "--force", &folder],
        );
        assert!(
            !ok && said.contains("does not match its checksum"),
            "{said}"
        );
        // A damaged image in the media folder beside the backups: refused
        // before the database is touched (a new backup, whole but for it).
        let dest = tempfile::tempdir().unwrap();
        let second = back_up(&app, &dest.path().display().to_string(), &[]);
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(format!("{second}/manifest.json")).unwrap())
                .unwrap();
        let image = manifest["media"][0]["path"].as_str().unwrap();
        assert!(image.starts_with("originals/"), "{manifest}");
        let pooled = dest.path().join("media").join(image);
        let mut bytes = std::fs::read(&pooled).unwrap();
        bytes[100] ^= 0xff;
        std::fs::write(&pooled, bytes).unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let (fresh, _fresh_db) = fresh_database_url(app.backend, elsewhere.path())
            .await
            .unwrap();
        let (ok, said) = quire(
            &fresh,
            &elsewhere.path().join("media"),
            &["restore", &second],
        );
        assert!(
            !ok && said.contains("does not match its checksum"),
            "{said}"
        );
        assert!(
            !contents(&fresh)
                .await
                .iter()
                .any(|(_, rows)| !rows.is_empty()),
            "nothing was restored"
        );
        let (ok, said) = quire(
            &target,
            &target_dir.path().join("media"),
            &["restore", "ftp://host/backups"],
        );
        assert!(
            !ok && said.contains("give a folder or s3://BUCKET/PREFIX"),
            "{said}"
        );
    }
);

backend_test!(backups_go_to_s3_and_come_back_checked, |app| {
    let Some(s3) = crate::s3_server::S3Server::start() else {
        return;
    };
    let before = populate(&app).await;
    let env = s3.env();
    let backup = back_up(&app, &format!("s3://{}/site", s3.bucket), &env);
    let prefix = format!("s3://{}/site/quire-", s3.bucket);
    assert!(backup.starts_with(&prefix), "{backup}");
    let key = backup
        .strip_prefix(&format!("s3://{}/", s3.bucket))
        .unwrap();

    // The objects are there, the manifest among them.
    let bucket = s3.client();
    let object = |name: &str| object_store::path::Path::from(format!("{key}/{name}"));
    let manifest: serde_json::Value = serde_json::from_slice(
        &bucket
            .get(&object("manifest.json"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["backend"], app.db.backend());
    let database = object(manifest["files"][0]["path"].as_str().unwrap());

    // Into an empty database: identical, row for row.
    let (target, target_dir, _target_db) = restore_into_empty(&app, &backup, &env, &before).await;

    // Damaged in the bucket: refused before anything is touched.
    let mut bytes = bucket
        .get(&database)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    bytes[0] ^= 0xff;
    bucket.put(&database, bytes.into()).await.unwrap();
    let (ok, said) = quire_with(
        &target,
        &target_dir.path().join("media"),
        &["restore", "--force", &backup],
        &env,
    );
    assert!(
        !ok && said.contains("does not match its checksum"),
        "{said}"
    );
    let (ok, said) = quire_with(
        &target,
        &target_dir.path().join("media"),
        &["restore", &format!("s3://{}/nothing-here", s3.bucket)],
        &env,
    );
    assert!(
        !ok && said.contains("not a finished Quire backup"),
        "{said}"
    );

    // Periodic backups to S3 keep the newest two. Older finished backups
    // are there already, and an unfinished one (no manifest), which is not
    // pruning's business.
    for (name, files) in [
        ("quire-20000101T000000Z", &["database.sqlite"][..]),
        (
            "quire-20000101T000001Z",
            &["database.sqlite", "manifest.json"][..],
        ),
        (
            "quire-20000101T000002Z",
            &["database.sqlite", "manifest.json"][..],
        ),
    ] {
        for file in files {
            let key = object_store::path::Path::from(format!("periodic/{name}/{file}"));
            bucket.put(&key, "old".into()).await.unwrap();
        }
    }
    let mut backup_env = vec![
        ("QUIRE_BACKUP_SCHEDULE", "* * * * * *".to_owned()),
        ("QUIRE_BACKUP_DEST", format!("s3://{}/periodic", s3.bucket)),
        ("QUIRE_BACKUP_KEEP", "2".to_owned()),
    ];
    backup_env.extend(env.iter().cloned());
    let worker_dir = tempfile::tempdir().unwrap();
    let worker = QuireProcess::start(
        &["worker"],
        &app.database_url,
        worker_dir.path(),
        &backup_env
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    );
    tokio::time::sleep(std::time::Duration::from_millis(4500)).await;
    // SIGTERM lets a backup in progress finish, pruning included.
    worker.signal("TERM");
    assert!(worker.exit_status().await.success());
    let periodic = bucket
        .list_with_delimiter(Some(&object_store::path::Path::from("periodic")))
        .await
        .unwrap();
    let mut kept: Vec<String> = periodic
        .common_prefixes
        .iter()
        .map(|p| p.filename().unwrap().to_owned())
        .collect();
    kept.sort();
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert_eq!(
        kept[0], "quire-20000101T000000Z",
        "the unfinished one stays"
    );
    assert!(
        kept[1..]
            .iter()
            .all(|k| k.starts_with("quire-20") && k.as_str() > "quire-20000101T000002Z"),
        "the two newest are kept: {kept:?}"
    );
    let done: i64 = query("SELECT COUNT(*) FROM jobs WHERE kind = 'backup' AND state = 'done'")
        .scalar(&app.db)
        .await
        .unwrap();
    assert!(done >= 3, "{done} periodic backups ran");
});

backend_test!(
    a_restore_from_the_backup_destination_takes_its_newest_backup,
    |app| {
        let before = populate(&app).await;
        let dest = tempfile::tempdir().unwrap();
        let dest_path = dest.path().display().to_string();
        let folder = back_up(&app, &dest_path, &[]);
        let name = std::path::Path::new(&folder)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        // A later backup that never finished (no manifest) is passed over.
        std::fs::create_dir(dest.path().join("quire-99991231T000000Z")).unwrap();

        let (ok, said) = quire(
            &app.database_url,
            &files_of(&app),
            &["restore", "--list", &dest_path],
        );
        assert!(ok, "{said}");
        assert_eq!(said.trim(), name);

        let (target, target_dir, _target_db) =
            restore_into_empty(&app, &dest_path, &[], &before).await;

        let empty = tempfile::tempdir().unwrap();
        let (ok, said) = quire(
            &target,
            &target_dir.path().join("media"),
            &["restore", "--force", &empty.path().display().to_string()],
        );
        assert!(!ok && said.contains("holds none"), "{said}");
    }
);
