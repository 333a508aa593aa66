//! `quire backup DEST` and `quire restore SRC`: a consistent snapshot of the
//! database in a folder of its own, with a manifest that names the format and
//! the SHA-256 of every file, checked before anything is restored. DEST and
//! SRC are folders or `s3://` URLs (see [`s3`]).
//!
//! The snapshot itself is the database's own tool (`VACUUM INTO`,
//! `pg_dump`): see `db::snapshot`.
//!
//! Uploaded media are not part of Quire yet; when they are, they belong in
//! the same folder and manifest.

mod s3;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::db::{Db, MigrationState, Timestamp, query};
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
        let written = dest.backup(&app.db, &app.settings.database.url).await?;
        let removed = dest.prune(jobs.backup_keep as usize).await?;
        tracing::info!(%written, removed, "backup written");
        Ok(())
    }
}

const MANIFEST: &str = "manifest.json";
const FORMAT: u32 = 1;

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

async fn newest_migration(db: &Db) -> anyhow::Result<Option<i64>> {
    Ok(db
        .migration_status()
        .await?
        .iter()
        .filter(|m| m.state == MigrationState::Applied)
        .map(|m| m.version)
        .max())
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
    /// says where it is.
    pub async fn backup(&self, db: &Db, database_url: &str) -> anyhow::Result<String> {
        match self {
            Opened::Folder(dir) => Ok(write(db, database_url, dir).await?.display().to_string()),
            Opened::S3(bucket) => {
                // The dump is made locally first (pg_dump writes a file); it
                // needs room for one backup in TMPDIR.
                let scratch = tempfile::tempdir().context("making a scratch folder in TMPDIR")?;
                let folder = write(db, database_url, scratch.path()).await?;
                bucket.upload(&folder).await
            }
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

async fn write(db: &Db, database_url: &str, dest: &Path) -> anyhow::Result<PathBuf> {
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
    let file = snapshot.file;
    let (bytes, sha256) = sha256_of(&file).await?;
    let manifest = Manifest {
        format: FORMAT,
        quire_version: env!("CARGO_PKG_VERSION").into(),
        created_at: Timestamp::now().rfc3339(),
        backend: db.backend().into(),
        database_format: snapshot.format.into(),
        migration: newest_migration(db).await?,
        files: vec![FileEntry {
            path: file
                .file_name()
                .expect("a file name")
                .to_string_lossy()
                .into_owned(),
            bytes,
            sha256,
        }],
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
    if manifest.format != FORMAT {
        bail!(
            "backup format {} is not one this version reads ({FORMAT})",
            manifest.format
        );
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
) -> anyhow::Result<Manifest> {
    let opened = src.open().await?;
    let opened = if opened.is_backup().await {
        opened
    } else {
        let finished = opened.finished().await?;
        let Some(newest) = finished.last() else {
            bail!(
                "{src} is not a finished Quire backup (it has no {MANIFEST}) and holds none \
                 (no quire-TIMESTAMP backup with one inside)"
            );
        };
        tracing::info!(backup = %newest, "restoring the newest backup");
        opened.child(newest)
    };
    match opened {
        Opened::Folder(folder) => restore_folder(database_url, db, &folder, force).await,
        Opened::S3(bucket) => {
            let scratch = tempfile::tempdir().context("making a scratch folder in TMPDIR")?;
            bucket.download(scratch.path()).await?;
            restore_folder(database_url, db, scratch.path(), force).await
        }
    }
}

async fn restore_folder(
    database_url: &str,
    db: Db,
    src: &Path,
    force: bool,
) -> anyhow::Result<Manifest> {
    let manifest = verify(src).await?;
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
    Ok(manifest)
}
