//! Imports the owner starts from `/admin/import` ([`super::admin`]): the
//! uploaded file waits in the file store (where every worker can read it,
//! on this machine or another) while a job ([`ImportUpload`]) unpacks it
//! and imports it, writing how far it is for the page that shows a
//! progress bar, and then its report. The upload is removed when the job
//! ends, whatever the outcome.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use bytes::Bytes;
use object_store::ObjectStoreExt;
use object_store::path::Path as StorePath;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::{Format, Report};
use crate::app::App;
use crate::db::{Db, Query, Timestamp, query};
use crate::error::{AppError, AppResult, Thing};
use crate::features::accounts::{self, User};
use crate::jobs::{self, Job};

/// The largest file the form takes. A site larger than this is imported
/// with `quire import` on the server (docs/operations.md).
pub const MAX_UPLOAD_BYTES: u64 = 64 << 20;

/// What an uploaded zip may unpack to at most: its files, and their bytes
/// (a small zip may claim to hold terabytes).
const MAX_UNPACKED_FILES: usize = 20_000;
const MAX_UNPACKED_BYTES: u64 = 1 << 30;

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Run {
    pub id: i64,
    pub user_id: i64,
    pub format: String,
    pub file_name: String,
    /// waiting, running, done, failed
    pub state: String,
    pub items_total: i64,
    pub items_done: i64,
    #[serde(skip)]
    pub report: Option<String>,
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

impl Run {
    /// What it did, once done.
    pub fn report(&self) -> Option<Report> {
        serde_json::from_str(self.report.as_deref()?).ok()
    }
}

const COLUMNS: &str = "id, user_id, format, file_name, state, items_total, items_done, report,
     error, created_at, finished_at";

fn upload_path(run: i64) -> StorePath {
    crate::storage::scratch("imports", &run.to_string())
}

/// Keeps the upload and queues its import, as `user`'s. Returns the run.
pub async fn start(
    app: &App,
    user: &User,
    format: Format,
    file_name: &str,
    bytes: Bytes,
) -> AppResult<i64> {
    let mut tx = app.db.begin().await?;
    let id: i64 = query(
        "INSERT INTO import_runs (user_id, format, file_name, created_at)
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(user.id)
    .bind(format.name())
    .bind(file_name)
    .bind(Timestamp::now())
    .scalar(&mut tx)
    .await?;
    app.storage
        .put(&upload_path(id), bytes.into())
        .await
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("keeping an upload")))?;
    jobs::enqueue(&mut tx, &ImportUpload { run: id }.now()).await?;
    tx.commit().await?;
    Ok(id)
}

async fn by_id(db: &Db, id: i64) -> Result<Option<Run>, sqlx::Error> {
    Query::assembled(format!("SELECT {COLUMNS} FROM import_runs WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// A run, for the user who started it (or an admin).
pub async fn find(db: &Db, user: &User, id: i64) -> AppResult<Run> {
    match by_id(db, id).await? {
        Some(run) if user.can_modify(run.user_id) => Ok(run),
        _ => Err(AppError::NotFound(Thing::Page)),
    }
}

/// The latest runs, newest first.
pub async fn recent(db: &Db, limit: i64) -> AppResult<Vec<Run>> {
    Ok(Query::assembled(format!(
        "SELECT {COLUMNS} FROM import_runs ORDER BY id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// How far the run is: `done` of `total` items written.
pub(super) async fn progress(db: &Db, run: i64, done: usize, total: usize) -> AppResult<()> {
    query("UPDATE import_runs SET items_done = $1, items_total = $2 WHERE id = $3")
        .bind(done as i64)
        .bind(total as i64)
        .bind(run)
        .execute(db)
        .await?;
    Ok(())
}

/// Imports an uploaded file.
#[derive(Debug, Serialize, Deserialize)]
pub struct ImportUpload {
    pub run: i64,
}

impl Job for ImportUpload {
    const KIND: &'static str = "import_upload";

    async fn run(self, app: &App) -> anyhow::Result<()> {
        let run = by_id(&app.db, self.run).await?;
        // Gone, or ended by an earlier try.
        let Some(run) = run.filter(|r| matches!(r.state.as_str(), "waiting" | "running")) else {
            return Ok(());
        };
        query("UPDATE import_runs SET state = 'running' WHERE id = $1")
            .bind(run.id)
            .execute(&app.db)
            .await?;
        let outcome = import(app, &run).await;
        let (state, report, error) = match outcome {
            Ok(report) => ("done", Some(serde_json::to_string(&report)?), None),
            // What the file or its contents lack, said to the owner.
            Err(e) => ("failed", None, Some(format!("{e:#}"))),
        };
        query(
            "UPDATE import_runs SET state = $1, report = $2, error = $3, finished_at = $4,
                 items_done = CASE WHEN $1 = 'done' THEN items_total ELSE items_done END
             WHERE id = $5",
        )
        .bind(state)
        .bind(report)
        .bind(error)
        .bind(Timestamp::now())
        .bind(run.id)
        .execute(&app.db)
        .await?;
        if let Err(e) = app.storage.delete(&upload_path(run.id)).await {
            tracing::warn!(error = %e, run = run.id, "removing an imported upload failed");
        }
        crate::http::cache::announce_change(app).await?;
        Ok(())
    }
}

async fn import(app: &App, run: &Run) -> anyhow::Result<Report> {
    let format: Format = run.format.parse().map_err(anyhow::Error::msg)?;
    let author = accounts::find(&app.db, run.user_id)
        .await?
        .context("the account that uploaded the file is gone")?;
    let bytes = app
        .storage
        .get(&upload_path(run.id))
        .await
        .context("reading the upload")?
        .bytes()
        .await?;
    let folder = tempfile::tempdir()?;
    let file_name = run.file_name.clone();
    let root = folder.path().to_owned();
    let source =
        tokio::task::spawn_blocking(move || unpack(format, &file_name, &bytes, &root)).await??;
    // An upload has no folder of its own to be known by: its file's name.
    let name = format!("upload:{}", run.file_name);
    let authors = super::Authors::Matched(&author);
    super::import_as(app, format, &source, authors, Some(name), Some(run.id)).await
}

/// The upload written out under `root`, and what to import from it: a
/// zip unpacked (a Markdown site's folder, or an export with its images),
/// or the export file itself.
fn unpack(format: Format, file_name: &str, bytes: &[u8], root: &Path) -> anyhow::Result<PathBuf> {
    let zipped = bytes.starts_with(b"PK\x03\x04");
    if !zipped {
        return match format {
            Format::Markdown => {
                anyhow::bail!("a Markdown site is uploaded as a .zip of its folder")
            }
            Format::WordPress | Format::Ghost => {
                let file = root.join(format!("export.{}", extension(format)));
                std::fs::write(&file, bytes)?;
                Ok(file)
            }
        };
    }
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).context("the zip file cannot be read")?;
    if archive.len() > MAX_UNPACKED_FILES {
        anyhow::bail!("the zip holds more than {MAX_UNPACKED_FILES} files");
    }
    let mut left = MAX_UNPACKED_BYTES;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index)?;
        // Names that would land outside the folder are passed over.
        let Some(name) = entry.enclosed_name() else {
            continue;
        };
        let target = root.join(name);
        if entry.is_dir() {
            std::fs::create_dir_all(&target)?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut out = std::fs::File::create(&target)?;
        // Counted as it unpacks: the sizes the zip claims are not trusted.
        let copied = std::io::copy(&mut (&mut entry).take(left + 1), &mut out)?;
        if copied > left {
            anyhow::bail!(
                "the zip unpacks to more than {} MiB",
                MAX_UNPACKED_BYTES >> 20
            );
        }
        left -= copied;
        out.flush()?;
    }
    // A zip of a folder holds the folder: what is inside it is the site.
    let mut top = root.to_owned();
    loop {
        let entries: Vec<_> = std::fs::read_dir(&top)?.flatten().collect();
        match entries.as_slice() {
            [only] if only.path().is_dir() => top = only.path(),
            _ => break,
        }
    }
    match format {
        Format::Markdown => Ok(top),
        Format::WordPress | Format::Ghost => {
            find_file(&top, extension(format)).with_context(|| {
                format!(
                    "{file_name} holds no .{} file (the site's export)",
                    extension(format)
                )
            })
        }
    }
}

/// What an export file of `format` ends in.
fn extension(format: Format) -> &'static str {
    match format {
        Format::Ghost => "json",
        _ => "xml",
    }
}

/// The first file with this extension, nearest the top.
fn find_file(root: &Path, extension: &str) -> Option<PathBuf> {
    let mut folders = vec![root.to_owned()];
    while !folders.is_empty() {
        let mut next = Vec::new();
        for folder in folders {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&folder)
                .ok()?
                .flatten()
                .map(|e| e.path())
                .collect();
            entries.sort();
            for path in entries {
                if path.is_dir() {
                    next.push(path);
                } else if path.extension().is_some_and(|e| e == extension) {
                    return Some(path);
                }
            }
        }
        folders = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes) in files {
            writer
                .start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            writer.write_all(bytes).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn a_zip_unpacks_to_its_folder_and_nothing_outside() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = zip_of(&[
            ("site/_posts/2020-01-01-a.md", b"---\ntitle: A\n---\nHi"),
            ("site/export.xml", b"<rss/>"),
            ("../escape.txt", b"no"),
        ]);
        let top = unpack(Format::Markdown, "site.zip", &bytes, dir.path()).unwrap();
        assert_eq!(top, dir.path().join("site"));
        assert!(top.join("_posts/2020-01-01-a.md").is_file());
        assert!(!dir.path().parent().unwrap().join("escape.txt").exists());
        let xml = unpack(Format::WordPress, "site.zip", &bytes, dir.path()).unwrap();
        assert_eq!(xml, dir.path().join("site/export.xml"));
    }

    #[test]
    fn a_markdown_site_must_be_a_zip() {
        let dir = tempfile::tempdir().unwrap();
        let error = unpack(Format::Markdown, "a.md", b"# Hi", dir.path()).unwrap_err();
        assert!(error.to_string().contains(".zip"), "{error}");
    }
}
