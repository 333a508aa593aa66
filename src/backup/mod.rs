//! `quire backup DEST` and `quire restore SRC`: a consistent snapshot of the
//! database in a folder of its own, with a manifest that names the format and
//! the SHA-256 of every file, checked before anything is restored. DEST and
//! SRC are folders or `s3://` URLs (see [`s3`]).
//!
//! The snapshot itself is the database's own tool (`VACUUM INTO`,
//! `pg_dump`): see `db::snapshot`.
//!
//! The site's files (uploaded images and their smaller copies: every
//! object of the app's store) go beside the backups, in a `media` pool
//! shared by all of them, copied once each: an object's path names the
//! hash of its bytes, so a path already in the pool holds the same bytes
//! and a backup copies only what is new. Each manifest lists the objects
//! its database needs, with their checksums, and a restore puts back what
//! the site's store lacks, checked.

mod s3;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::db::{Db, Timestamp, query};
use crate::jobs::Job;

/// The periodic backup: writes one to `QUIRE_BACKUP_DEST` and deletes the
/// oldest beyond `QUIRE_BACKUP_KEEP`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Backup;

impl Job for Backup {
    const KIND: &'static str = "backup";

    async fn run(self, app: &App) -> anyhow::Result<()> {
        let jobs = &app.settings.jobs;
        let dest = jobs.backup_dest.as_ref().ok_or_else(|| {
            anyhow::anyhow!("QUIRE_BACKUP_DEST is not set in this worker's settings")
        })?;
        let dest = dest.open().await?;
        let written = dest
            .backup(&app.db, &app.settings.database.url, app.storage.as_ref())
            .await?;
        let removed = dest.prune(jobs.backup_keep as usize).await?;
        tracing::info!(%written, removed, "backup written");
        Ok(())
    }
}

const MANIFEST: &str = "manifest.json";
/// 2 added the site's files (`media`); 1 is still read.
const FORMAT: u32 = 2;
/// The folder (or prefix) beside the backups that holds the site's files.
const POOL: &str = "media";

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// This layout's version, so a later Quire can read older backups.
    pub format: u32,
    pub quire_version: String,
    pub created_at: String,
    /// `sqlite` or `postgres`: a backup restores into the same kind.
    pub backend: String,
    /// How the database file was made: `sqlite-vacuum-into` or `pg_dump-custom`.
    pub database_format: String,
    /// The newest migration applied when the backup was made.
    pub migration: Option<i64>,
    pub files: Vec<FileEntry>,
    /// The site's files, by their path in its store, in the `media` pool
    /// beside the backup (none before format 2).
    #[serde(default)]
    pub media: Vec<FileEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

pub use crate::storage::Location;

/// The size and SHA-256 of a file, read in a stream: a dump can be larger
/// than memory.
async fn sha256_of(path: &Path) -> anyhow::Result<(u64, String)> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut file =
            std::fs::File::open(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut hasher = Sha256::new();
        let bytes = std::io::copy(&mut file, &mut hasher)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok((bytes, format!("{:x}", hasher.finalize())))
    })
    .await?
}

/// A [`Location`] made ready: for S3, the bucket has been reached once,
/// and a backup and its pruning share it.
pub enum Opened {
    Folder(PathBuf),
    S3(s3::Bucket),
}

impl Location {
    pub async fn open(&self) -> anyhow::Result<Opened> {
        Ok(match self {
            Location::Folder(dir) => Opened::Folder(dir.clone()),
            Location::S3 { bucket, prefix } => Opened::S3(s3::Bucket::open(bucket, prefix).await?),
        })
    }
}

impl Opened {
    /// Writes a backup into a new `quire-TIMESTAMP` folder (or prefix) and
    /// says where it is; the site's files (`files`, the app's store) go to
    /// the pool beside it.
    pub async fn backup(
        &self,
        db: &Db,
        database_url: &str,
        files: &dyn ObjectStore,
    ) -> anyhow::Result<String> {
        let pool = self.pool()?;
        match self {
            Opened::Folder(dir) => Ok(write(db, database_url, dir, files, pool.as_ref())
                .await?
                .display()
                .to_string()),
            Opened::S3(bucket) => {
                // The dump is made locally first (pg_dump writes a file); it
                // needs room for one backup in TMPDIR.
                let scratch = tempfile::tempdir().context("making a scratch folder in TMPDIR")?;
                let folder = write(db, database_url, scratch.path(), files, pool.as_ref()).await?;
                bucket.upload(&folder).await
            }
        }
    }

    /// The pool of the site's files beside the backups in this place.
    fn pool(&self) -> anyhow::Result<Arc<dyn ObjectStore>> {
        match self {
            Opened::Folder(dir) => crate::storage::open(&Location::Folder(dir.join(POOL))),
            Opened::S3(bucket) => Ok(bucket.pool()),
        }
    }

    /// The pool of the place this backup is in.
    fn parent_pool(&self) -> anyhow::Result<Arc<dyn ObjectStore>> {
        match self {
            Opened::Folder(dir) => {
                let parent = dir.parent().unwrap_or(Path::new("."));
                crate::storage::open(&Location::Folder(parent.join(POOL)))
            }
            Opened::S3(bucket) => Ok(bucket.parent_pool()),
        }
    }

    /// The finished backups in this place, oldest first.
    pub async fn finished(&self) -> anyhow::Result<Vec<String>> {
        match self {
            Opened::Folder(dir) => finished_in_folder(dir).await,
            Opened::S3(bucket) => bucket.finished().await,
        }
    }

    /// Whether this place is a finished backup itself.
    async fn is_backup(&self) -> bool {
        match self {
            Opened::Folder(dir) => dir.join(MANIFEST).exists(),
            Opened::S3(bucket) => bucket.has(MANIFEST).await,
        }
    }

    /// The backup `name` in this place.
    fn child(self, name: &str) -> Self {
        match self {
            Opened::Folder(dir) => Opened::Folder(dir.join(name)),
            Opened::S3(bucket) => Opened::S3(bucket.child(name)),
        }
    }

    /// Deletes the oldest finished backups beyond the newest `keep`;
    /// returns how many it deleted. Folders without a manifest (unfinished,
    /// or not ours) are left alone.
    pub async fn prune(&self, keep: usize) -> anyhow::Result<usize> {
        match self {
            Opened::Folder(dir) => prune_folder(dir, keep).await,
            Opened::S3(bucket) => bucket.prune(keep).await,
        }
    }
}

async fn write(
    db: &Db,
    database_url: &str,
    dest: &Path,
    files: &dyn ObjectStore,
    pool: &dyn ObjectStore,
) -> anyhow::Result<PathBuf> {
    let stamp = Timestamp::now()
        .as_datetime()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))?;
    let folder = dest.join(format!("quire-{stamp}"));
    tokio::fs::create_dir_all(dest)
        .await
        .with_context(|| format!("creating {}", dest.display()))?;
    tokio::fs::create_dir(&folder)
        .await
        .with_context(|| format!("creating {}", folder.display()))?;
    let snapshot = db.snapshot_into(database_url, &folder).await?;
    // After the snapshot: every file its rows name was in the store by then
    // (a file is stored before its row), and housekeeping removes only files
    // that nothing used for a day.
    let media = copy_files(files, pool).await?;
    let file = snapshot.file;
    let (bytes, sha256) = sha256_of(&file).await?;
    let manifest = Manifest {
        format: FORMAT,
        quire_version: env!("CARGO_PKG_VERSION").into(),
        created_at: Timestamp::now().rfc3339(),
        backend: db.backend().into(),
        database_format: snapshot.format.into(),
        migration: db.newest_migration().await?,
        files: vec![FileEntry {
            path: file
                .file_name()
                .expect("a file name")
                .to_string_lossy()
                .into_owned(),
            bytes,
            sha256,
        }],
        media,
    };

    // Written last: a folder without a manifest is an unfinished backup.
    tokio::fs::write(folder.join(MANIFEST), serde_json::to_vec_pretty(&manifest)?).await?;
    Ok(folder)
}

async fn prune_folder(dest: &Path, keep: usize) -> anyhow::Result<usize> {
    let backups = finished_in_folder(dest).await?;
    let excess = backups.len().saturating_sub(keep);
    for old in &backups[..excess] {
        tokio::fs::remove_dir_all(dest.join(old)).await?;
    }
    Ok(excess)
}

/// The names of the finished backups in a folder (`quire-TIMESTAMP` with a
/// manifest), oldest first: the names are timestamps.
async fn finished_in_folder(dest: &Path) -> anyhow::Result<Vec<String>> {
    let mut backups = Vec::new();
    let mut entries = tokio::fs::read_dir(dest)
        .await
        .with_context(|| format!("reading {}", dest.display()))?;
    while let Some(entry) = entries.next_entry().await? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("quire-") && entry.path().join(MANIFEST).exists() {
            backups.push(name);
        }
    }
    backups.sort();
    Ok(backups)
}

/// Reads a backup's manifest: one this version understands, naming only
/// files inside the backup.
async fn read_manifest(src: &Path) -> anyhow::Result<Manifest> {
    let text = tokio::fs::read(src.join(MANIFEST)).await.with_context(|| {
        format!(
            "{} has no {MANIFEST}: not a finished Quire backup",
            src.display()
        )
    })?;
    let manifest: Manifest = serde_json::from_slice(&text).context("reading the manifest")?;
    if !(1..=FORMAT).contains(&manifest.format) {
        bail!(
            "backup format {} is not one this version reads (1 to {FORMAT})",
            manifest.format
        );
    }
    for entry in &manifest.media {
        store_path(entry)?;
    }
    if manifest.files.len() != 1 {
        bail!(
            "the manifest lists {} files; a backup of this format has one, the database",
            manifest.files.len()
        );
    }
    if let Some(entry) = manifest
        .files
        .iter()
        .find(|e| e.path.contains('/') || e.path.contains("..") || e.path == MANIFEST)
    {
        bail!(
            "the manifest names a file outside the backup: {}",
            entry.path
        );
    }
    Ok(manifest)
}

/// Reads a backup's manifest and checks every file against it.
pub async fn verify(src: &Path) -> anyhow::Result<Manifest> {
    let manifest = read_manifest(src).await?;
    for entry in &manifest.files {
        let (bytes, sha256) = sha256_of(&src.join(&entry.path)).await?;
        if bytes != entry.bytes || sha256 != entry.sha256 {
            bail!(
                "{} does not match its checksum in the manifest: the backup is damaged",
                entry.path
            );
        }
    }
    Ok(manifest)
}

/// Whether the database holds anything a restore would destroy.
async fn holds_data(db: &Db) -> anyhow::Result<bool> {
    if !db.has_table("users").await? {
        return Ok(false);
    }
    let rows: i64 = query(
        "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM posts) + (SELECT COUNT(*) FROM visitors)",
    )
    .scalar(db)
    .await?;
    Ok(rows > 0)
}

/// Restores a verified backup into the database at `database_url`, which
/// must hold no users, posts or visitors unless `force`. `src` is a backup,
/// or a place backups are written to (`quire backup DEST`), whose newest
/// finished backup is restored.
pub async fn restore(
    database_url: &str,
    db: Db,
    src: &Location,
    force: bool,
    files: &dyn ObjectStore,
) -> anyhow::Result<Manifest> {
    let opened = src.open().await?;
    let (opened, pool) = if opened.is_backup().await {
        let pool = opened.parent_pool()?;
        (opened, pool)
    } else {
        let pool = opened.pool()?;
        let finished = opened.finished().await?;
        let Some(newest) = finished.last() else {
            bail!(
                "{src} is not a finished Quire backup (it has no {MANIFEST}) and holds none \
                 (no quire-TIMESTAMP backup with one inside)"
            );
        };
        tracing::info!(backup = %newest, "restoring the newest backup");
        (opened.child(newest), pool)
    };
    let into = Restore {
        database_url,
        db,
        force,
        pool: pool.as_ref(),
        files,
    };
    match opened {
        Opened::Folder(folder) => into.run(&folder).await,
        Opened::S3(bucket) => {
            let scratch = tempfile::tempdir().context("making a scratch folder in TMPDIR")?;
            bucket.download(scratch.path()).await?;
            into.run(scratch.path()).await
        }
    }
}

/// Where a restore puts things back: the database and the site's store.
struct Restore<'a> {
    database_url: &'a str,
    db: Db,
    force: bool,
    /// The site's files beside the backup.
    pool: &'a dyn ObjectStore,
    /// The site's store, which gets back what it lacks.
    files: &'a dyn ObjectStore,
}

impl Restore<'_> {
    async fn run(self, src: &Path) -> anyhow::Result<Manifest> {
        let Restore {
            database_url,
            db,
            force,
            pool,
            files,
        } = self;
        let manifest = verify(src).await?;
        // Every file the site lacks is there and intact before anything is
        // replaced.
        let missing = files_to_restore(&manifest, pool, files).await?;
        restore_database(database_url, db, src, force, &manifest).await?;
        // Read again rather than held: the files may not fit in memory.
        for entry in missing {
            let (path, bytes) = checked_file(entry, pool).await?;
            files.put(&path, bytes.into()).await?;
        }
        tracing::info!(listed = manifest.media.len(), "site files restored");
        Ok(manifest)
    }
}

/// Copies every image of the site's store (`storage::site_objects`) that the pool lacks (a path
/// the pool has holds the same bytes), and lists every object, with its
/// checksum, for the manifest. Every object is read to be checksummed;
/// only new ones are written.
async fn copy_files(
    files: &dyn ObjectStore,
    pool: &dyn ObjectStore,
) -> anyhow::Result<Vec<FileEntry>> {
    let mut in_pool: HashMap<String, u64> = HashMap::new();
    let mut listing = pool.list(None);
    while let Some(meta) = listing.next().await {
        let meta = meta.context("listing the backups' media folder")?;
        in_pool.insert(meta.location.to_string(), meta.size);
    }
    let mut entries = Vec::new();
    let mut objects = crate::storage::site_objects(files);
    while let Some(meta) = objects.next().await {
        let meta = meta.context("listing the site's files")?;
        let bytes = files
            .get(&meta.location)
            .await
            .with_context(|| format!("reading the site's file {}", meta.location))?
            .bytes()
            .await?;
        let path = meta.location.to_string();
        if in_pool.get(&path) != Some(&(bytes.len() as u64)) {
            pool.put(&meta.location, bytes.clone().into())
                .await
                .with_context(|| format!("copying the site's file {path}"))?;
        }
        entries.push(FileEntry {
            sha256: format!("{:x}", Sha256::digest(&bytes)),
            bytes: bytes.len() as u64,
            path,
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// The files the manifest lists that the site's store lacks, each read
/// from the pool and checked against its checksum.
async fn files_to_restore<'m>(
    manifest: &'m Manifest,
    pool: &dyn ObjectStore,
    files: &dyn ObjectStore,
) -> anyhow::Result<Vec<&'m FileEntry>> {
    let mut missing = Vec::new();
    for entry in &manifest.media {
        let path = store_path(entry)?;
        if files
            .head(&path)
            .await
            .is_ok_and(|meta| meta.size == entry.bytes)
        {
            continue;
        }
        checked_file(entry, pool).await?;
        missing.push(entry);
    }
    Ok(missing)
}

/// A file of the pool, if it is whole and matches its checksum.
async fn checked_file(
    entry: &FileEntry,
    pool: &dyn ObjectStore,
) -> anyhow::Result<(StorePath, bytes::Bytes)> {
    let path = store_path(entry)?;
    let bytes = match pool.get(&path).await {
        Ok(found) => found.bytes().await?,
        Err(object_store::Error::NotFound { .. }) => bail!(
            "the site's file {} is missing from the backup's {POOL} folder",
            entry.path
        ),
        Err(e) => return Err(e.into()),
    };
    if bytes.len() as u64 != entry.bytes || format!("{:x}", Sha256::digest(&bytes)) != entry.sha256
    {
        bail!(
            "the site's file {} does not match its checksum in the manifest: the backup is damaged",
            entry.path
        );
    }
    Ok((path, bytes))
}

/// A manifest's media path as a path in a store; one that climbs out
/// (`..`) or is otherwise not a plain path is refused.
fn store_path(entry: &FileEntry) -> anyhow::Result<StorePath> {
    StorePath::parse(&entry.path)
        .ok()
        .filter(|p| p.to_string() == entry.path && !entry.path.is_empty())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the manifest names a file outside the media folder: {}",
                entry.path
            )
        })
}

async fn restore_database(
    database_url: &str,
    db: Db,
    src: &Path,
    force: bool,
    manifest: &Manifest,
) -> anyhow::Result<()> {
    if manifest.backend != db.backend() {
        bail!(
            "this is a {} backup and the database is {}: restore it into the same kind",
            manifest.backend,
            db.backend()
        );
    }
    if holds_data(&db).await? && !force {
        bail!("the database is not empty; restoring would replace it (add --force to do so)");
    }
    let file = src.join(&manifest.files[0].path);
    db.replace_with(database_url, &file).await?;
    Ok(())
}
