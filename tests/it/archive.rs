//! `quire export` and `quire import`: a site moves from SQLite to
//! PostgreSQL and back with every row and every file, people stay signed
//! in, and a damaged archive or a site that holds data is refused with
//! nothing written.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use quire::archive::{LEFT_OUT, TABLES};
use quire::db::{Db, Dialect, PoolSize, query};
use sha2::{Digest, Sha256};

use crate::backend_test;
use crate::backup::{files_in, files_of, populate, quire, quire_with};
use crate::helpers::{
    Backend, Browser, QuireProcess, TestApp, TestDatabase, fresh_database_url, postgres_admin_url,
};

backend_test!(
    an_archive_carries_every_table_but_those_it_says_it_leaves_out,
    |app| {
        let db = &app.db;
        let (tables, columns) = match db.dialect() {
            Dialect::Sqlite => (
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
                // Generated columns are hidden from table_info.
                "SELECT name FROM pragma_table_info($1)",
            ),
            Dialect::Postgres => (
                "SELECT table_name::text FROM information_schema.tables
                 WHERE table_schema = current_schema() ORDER BY 1",
                "SELECT column_name::text FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1
                   AND is_generated = 'NEVER'",
            ),
        };
        let names: Vec<String> = query(tables).scalars(db).await.unwrap();
        for name in &names {
            let carried = TABLES.iter().find(|t| t.name == name);
            if LEFT_OUT.contains(&name.as_str()) {
                assert!(carried.is_none(), "{name} is both carried and left out");
                continue;
            }
            let table = carried.unwrap_or_else(|| {
                panic!("{name} is neither carried nor left out: say which in src/archive/tables.rs")
            });
            let mut in_database: Vec<String> =
                query(columns).bind(name.clone()).scalars(db).await.unwrap();
            in_database.sort();
            let mut in_archive: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
            in_archive.sort();
            assert_eq!(in_database, in_archive, "the columns of {name}");
        }
        for table in TABLES {
            assert!(
                names.iter().any(|n| n == table.name),
                "{} exists",
                table.name
            );
        }
    }
);

/// `quire migrate up`, then `quire ARGS`, on a new site of `backend`; the
/// site's folder and database outlive the call.
struct Site {
    url: String,
    dir: tempfile::TempDir,
    _database: Option<TestDatabase>,
    /// Where its files are kept, when not in its folder (S3).
    storage: Vec<(&'static str, String)>,
}

impl Site {
    async fn new(backend: Backend) -> Self {
        Self::storing_in(backend, Vec::new()).await
    }

    /// A site whose files are kept as `storage` says (`QUIRE_STORAGE_URL`
    /// and what it needs).
    async fn storing_in(backend: Backend, storage: Vec<(&'static str, String)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (url, database) = fresh_database_url(backend, dir.path()).await.unwrap();
        let site = Self {
            url,
            dir,
            _database: database,
            storage,
        };
        site.run_ok(&["migrate", "up"]);
        site
    }

    fn files(&self) -> PathBuf {
        self.dir.path().join("media")
    }

    fn run(&self, args: &[&str]) -> (bool, String) {
        quire_with(&self.url, &self.files(), args, &self.storage)
    }

    fn run_ok(&self, args: &[&str]) -> String {
        let (ok, said) = self.run(args);
        assert!(ok, "quire {args:?}: {said}");
        said
    }

    async fn rows(&self, table: &str) -> i64 {
        let db = Db::connect(&self.url, PoolSize(1), None).await.unwrap();
        let rows = quire::db::Query::assembled(format!("SELECT COUNT(*) FROM {table}"))
            .scalar(&db)
            .await
            .unwrap();
        db.close().await;
        rows
    }
}

/// Every entry of an archive but its manifest, by path, with its bytes.
fn entries(archive: &Path) -> BTreeMap<String, Vec<u8>> {
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(archive).unwrap());
    let mut tar = tar::Archive::new(gz);
    let mut out = BTreeMap::new();
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        out.insert(path, bytes);
    }
    out
}

/// An archive of `entries`, as they are.
fn pack(entries: &BTreeMap<String, Vec<u8>>, to: &Path) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(to).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    // The manifest first, as `quire export` writes it.
    let mut paths: Vec<&String> = entries.keys().collect();
    paths.sort_by_key(|p| *p != "manifest.json");
    for path in paths {
        let bytes = &entries[path];
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, path, bytes.as_slice())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

/// An archive of `entries`, with its manifest's counts and checksums made
/// to match them: a well-formed archive of changed data.
fn repack(mut entries: BTreeMap<String, Vec<u8>>, to: &Path) {
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&entries["manifest.json"]).unwrap();
    for table in manifest["tables"].as_array_mut().unwrap() {
        let bytes = &entries[&format!("tables/{}.jsonl", table["name"].as_str().unwrap())];
        table["bytes"] = bytes.len().into();
        table["rows"] = bytes.iter().filter(|b| **b == b'\n').count().into();
        table["sha256"] = format!("{:x}", Sha256::digest(bytes)).into();
    }
    entries.insert(
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    );
    pack(&entries, to);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_moves_to_postgresql_and_back_with_every_row_and_file() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    populate(&app).await;
    // What populate leaves out: a page, a follow.
    app.post(
        "/admin/pages/new",
        &[
            ("title", "About"),
            ("slug", ""),
            ("body", "Who *we* are."),
            ("action", "save"),
        ],
    )
    .await
    .assert_status(303);
    let reader = app.new_browser();
    reader
        .login("reader", "correct horse")
        .await
        .assert_status(303);
    let follower = app.api_register("follower").await;
    let (followed, _) = app
        .api(
            reqwest::Method::POST,
            "/api/profiles/owner/follow",
            Some(&follower),
            None,
        )
        .await;
    assert_eq!(followed, reqwest::StatusCode::OK);

    let work = tempfile::tempdir().unwrap();
    let first = work.path().join("first.quire.tar.gz");
    let (ok, said) = quire(
        &app.database_url,
        &files_of(&app),
        &["export", first.to_str().unwrap()],
    );
    assert!(ok && said.contains("exported"), "{said}");
    let archived = entries(&first);
    let manifest: serde_json::Value = serde_json::from_slice(&archived["manifest.json"]).unwrap();
    assert_eq!(manifest["format"], "quire-archive");
    assert_eq!(manifest["backend"], "sqlite");
    for table in [
        "users",
        "posts",
        "comments",
        "reactions",
        "follows",
        "pages",
        "media",
        "visits",
    ] {
        let rows = manifest["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == table)
            .unwrap()["rows"]
            .as_u64()
            .unwrap();
        assert!(rows > 0, "the archive has {table}");
    }
    assert!(
        archived.keys().any(|p| p.starts_with("media/originals/")),
        "{:?}",
        archived.keys()
    );

    // Into PostgreSQL when this run has it (else another SQLite site), its
    // files in S3 when this run has a server for it: the files come back
    // from it the same.
    let s3 = crate::s3_server::S3Server::start();
    let storage = match &s3 {
        Some(s3) => {
            let mut env = s3.env();
            env.push((
                "QUIRE_STORAGE_URL",
                format!("s3://{}/archive-{}", s3.bucket, std::process::id()),
            ));
            env
        }
        None => Vec::new(),
    };
    let middle = Site::storing_in(
        if postgres_admin_url().is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        },
        storage,
    )
    .await;
    let said = middle.run_ok(&["import", first.to_str().unwrap()]);
    assert!(said.contains("imported"), "{said}");
    let second = work.path().join("second.quire.tar.gz");
    middle.run_ok(&["export", second.to_str().unwrap()]);

    // And back into SQLite.
    let last = Site::new(Backend::Sqlite).await;
    last.run_ok(&["import", second.to_str().unwrap()]);
    let third = work.path().join("third.quire.tar.gz");
    last.run_ok(&["export", third.to_str().unwrap()]);

    // Every row, every reference (the ids are kept) and every file, the
    // same bytes after each move.
    let without_manifest = |mut entries: BTreeMap<String, Vec<u8>>| {
        entries.remove("manifest.json");
        entries
    };
    let first_entries = without_manifest(archived);
    assert_eq!(without_manifest(entries(&second)), first_entries);
    assert_eq!(without_manifest(entries(&third)), first_entries);
    if s3.is_none() {
        assert_eq!(files_in(&middle.files()), files_in(&files_of(&app)));
    }

    // The moved site serves: people sign in with their passwords, those
    // signed in stay signed in, and the images are there.
    let folder = vec![("QUIRE_STORAGE_URL", middle.files().display().to_string())];
    let storage = if middle.storage.is_empty() {
        &folder
    } else {
        &middle.storage
    };
    let storage: Vec<(&str, &str)> = storage.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = QuireProcess::start(&["serve"], &middle.url, middle.dir.path(), &storage);
    server.wait_until_up().await;
    let base = url::Url::parse(&server.base).unwrap();
    let newcomer = Browser::new(base.clone());
    newcomer
        .login("owner", "correct horse")
        .await
        .assert_status(303);
    let carried = Browser::new(base);
    carried.set_cookie("quire_session", &reader.cookie("quire_session").unwrap());
    let settings = carried.get("/settings").await;
    settings.assert_status(200);
    assert!(settings.contains("reader"), "still signed in as reader");
    // Its search index was made from the rows as they went in.
    assert!(
        newcomer
            .get("/search?q=word")
            .await
            .texts(".post-card h2 a")
            .iter()
            .any(|t| t.contains("Kept"))
    );
    let about = newcomer.get("/about").await;
    assert!(about.contains("Who"), "the page moved");
    let image = manifest["media"][0]["path"].as_str().unwrap();
    assert!(image.starts_with("originals/") || image.starts_with("variants/"));
    // …and served from where the moved site keeps them (S3 or a folder).
    let original = manifest["media"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["path"].as_str()?.strip_prefix("originals/"))
        .next()
        .unwrap();
    newcomer
        .get(&format!("/media/{original}"))
        .await
        .assert_status(200);

    // Not into a site that holds data.
    let (ok, said) = middle.run(&["import", first.to_str().unwrap()]);
    assert!(!ok && said.contains("already holds data"), "{said}");
}

backend_test!(
    a_damaged_or_inconsistent_archive_is_refused_and_writes_nothing,
    |app| {
        populate(&app).await;
        let work = tempfile::tempdir().unwrap();
        let good = work.path().join("good.tar.gz");
        let (ok, said) = quire(
            &app.database_url,
            &files_of(&app),
            &["export", good.to_str().unwrap()],
        );
        assert!(ok, "{said}");
        let site = Site::new(app.backend).await;

        // Changed after it was made: the checksum says so before anything
        // is written.
        let mut changed = entries(&good);
        changed
            .get_mut("tables/posts.jsonl")
            .unwrap()
            .extend_from_slice(b"{}\n");
        let tampered = work.path().join("tampered.tar.gz");
        pack(&changed, &tampered);
        let (ok, said) = site.run(&["import", tampered.to_str().unwrap()]);
        assert!(!ok && said.contains("not what its manifest says"), "{said}");

        // Well-formed, but one of its last tables breaks a rule of the
        // database (a session twice): the rows already written go too.
        let mut doubled = entries(&good);
        let sessions = doubled.get_mut("tables/sessions.jsonl").unwrap();
        let first_line = sessions[..=sessions.iter().position(|b| *b == b'\n').unwrap()].to_vec();
        sessions.extend_from_slice(&first_line);
        let inconsistent = work.path().join("inconsistent.tar.gz");
        repack(doubled, &inconsistent);
        let (ok, said) = site.run(&["import", inconsistent.to_str().unwrap()]);
        assert!(!ok && said.contains("sessions"), "{said}");
        for table in ["users", "posts", "comments", "sessions"] {
            assert_eq!(site.rows(table).await, 0, "nothing written to {table}");
        }

        // Not an archive at all.
        let text = work.path().join("notes.tar.gz");
        std::fs::write(&text, "just words").unwrap();
        let (ok, said) = site.run(&["import", text.to_str().unwrap()]);
        assert!(!ok && said.contains("notes.tar.gz"), "{said}");

        // The good one still goes in.
        site.run_ok(&["import", good.to_str().unwrap()]);
        assert!(site.rows("posts").await > 0);
    }
);

backend_test!(every_foreign_key_is_a_reference_a_merge_carries, |app| {
    let sql = match app.db.dialect() {
            Dialect::Sqlite => {
                "SELECT m.name || '.' || f.\"from\" || ' ' || f.\"table\"
                 FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f
                 WHERE m.type = 'table' ORDER BY 1"
            }
            Dialect::Postgres => {
                "SELECT c.conrelid::regclass::text || '.' || a.attname || ' ' || c.confrelid::regclass::text
                 FROM pg_constraint c
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
                 WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace
                 ORDER BY 1"
            }
        };
    let in_schema: Vec<String> = query(sql).scalars(&app.db).await.unwrap();
    let carried: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
    let mut expected: Vec<String> = in_schema
        .into_iter()
        .filter(|fk| carried.contains(&fk.split('.').next().unwrap()))
        .collect();
    expected.sort();
    let mut declared: Vec<String> = quire::archive::REFERENCES
        .iter()
        .map(|(table, column, target)| format!("{table}.{column} {target}"))
        .collect();
    declared.sort();
    assert_eq!(declared, expected, "src/archive/merge.rs REFERENCES");
});

backend_test!(an_archive_merges_into_a_site_that_holds_data, |app| {
    // The other site: the same owner's name, a member, a post whose
    // address this site uses too, a tag both have, a comment.
    let other = TestApp::spawn(app.backend).await;
    other.register("owner").await;
    other
        .publish("Hello again", "From the **other** site.", "birds, sea")
        .await;
    let member = other.new_browser();
    member.register("reader").await;
    member
        .post("/posts/hello-again/comments", &[("body", "Welcome back.")])
        .await
        .assert_status(303);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("other.quire.tar.gz");
    let (ok, said) = quire(
        &other.database_url,
        &files_of(&other),
        &["export", archive.to_str().unwrap()],
    );
    assert!(ok, "{said}");

    // This site, with its own owner, post at the same address, and tag.
    app.register("owner").await;
    app.publish("Hello again", "This site's own.", "birds")
        .await;
    let before_posts: i64 = query("SELECT COUNT(*) FROM posts")
        .scalar(&app.db)
        .await
        .unwrap();

    let (ok, said) = quire(
        &app.database_url,
        &files_of(&app),
        &["import", archive.to_str().unwrap()],
    );
    assert!(
        !ok && said.contains("--merge"),
        "refused without --merge: {said}"
    );
    let (ok, said) = quire(
        &app.database_url,
        &files_of(&app),
        &["import", "--merge", archive.to_str().unwrap()],
    );
    assert!(ok, "{said}");

    let db = app.db.clone();
    let count = |sql: &'static str| {
        let db = db.clone();
        async move { query(sql).scalar::<i64>(&db).await.unwrap() }
    };
    assert_eq!(count("SELECT COUNT(*) FROM posts").await, before_posts + 1);
    assert_eq!(
        count("SELECT COUNT(*) FROM users WHERE role = 'owner'").await,
        1
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM users WHERE username = 'owner'").await,
        1,
        "the same name is the same person"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM tags WHERE name = 'birds'").await,
        1
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM posts p JOIN users u ON u.id = p.author_id
                 WHERE u.username = 'owner'"
        )
        .await,
        2
    );
    let reader = app.new_browser();
    let merged = reader.get("/posts/hello-again-2").await;
    merged.assert_status(200);
    assert!(merged.contains("From the <strong>other</strong> site."));
    assert_eq!(merged.texts("ul.tags a"), ["birds", "sea"]);
    assert_eq!(merged.texts(".comment .author"), ["reader"]);
    assert_eq!(
        reader
            .get("/posts/hello-again")
            .await
            .texts("article .prose p"),
        ["This site's own."]
    );
    // The member signs in here with the other site's password.
    reader
        .login("reader", "correct horse")
        .await
        .assert_status(303);

    // Merged twice: nothing the site has doubles, the posts come again
    // at new addresses (an archive has no ids of this site's to update).
    let (ok, said) = quire(
        &app.database_url,
        &files_of(&app),
        &["import", "--merge", archive.to_str().unwrap()],
    );
    assert!(ok, "{said}");
    assert_eq!(count("SELECT COUNT(*) FROM users").await, 2);
    assert_eq!(count("SELECT COUNT(*) FROM tags").await, 2);
});
