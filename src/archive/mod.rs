//! `quire export FILE` and `quire import FILE`: the whole site as one
//! portable archive, from either database into either. Unlike a backup
//! (the database's own snapshot, restored into the same kind), an archive
//! is rows as JSON, so it is how a site moves from SQLite to PostgreSQL
//! (docs/operations.md) and how it leaves Quire.
//!
//! The archive is a gzip-compressed tar (docs/archive.md):
//!
//! - `manifest.json` first: the format and its version, where the archive
//!   came from, and for every table its columns, its row count and the
//!   size and SHA-256 of its file; for every file of the site's store its
//!   size and SHA-256;
//! - `tables/NAME.jsonl`: one JSON object per row, in the order of the
//!   table's key, times in RFC 3339 (UTC), booleans as booleans, so the
//!   same data makes the same file on either database;
//! - `media/PATH`: each object of the site's store (uploaded images and
//!   their smaller copies) at its path there.
//!
//! An export reads one consistent snapshot while the site goes on serving.
//! An import checks every checksum before it writes anything, refuses a
//! site that holds data, stores the files, then writes every row in one
//! transaction with the ids they had (so every reference survives) and
//! checks the counts before it commits: it loads all of the archive or
//! none of it.

mod tables;

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

pub use tables::{Kind, LEFT_OUT, TABLES, Table};

mod merge;
use merge::Merge;
pub use merge::REFERENCES;

use crate::backup::FileEntry;
use crate::db::{Cell, Cells, Db, Dialect, Query, Timestamp, Tx};

const FORMAT: &str = "quire-archive";
/// This layout's version; an archive of a later one is refused, by name.
const VERSION: u32 = 1;
const MANIFEST: &str = "manifest.json";
/// Rows read by one query of an export.
const READ_ROWS: i64 = 1_000;
/// Rows written by one statement of an import (its values stay below both
/// databases' limits on bound parameters).
const WRITE_ROWS: usize = 400;

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `quire-archive`: what this file is.
    pub format: String,
    pub version: u32,
    pub quire_version: String,
    pub created_at: String,
    /// `sqlite` or `postgres`: where it came from (it goes into either).
    pub backend: String,
    /// The newest migration of the database it came from.
    pub migration: Option<i64>,
    pub tables: Vec<TableEntry>,
    /// The objects of the site's store, by their path there (under
    /// `media/` in the archive).
    pub media: Vec<FileEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TableEntry {
    pub name: String,
    /// The columns every row of the file has.
    pub columns: Vec<String>,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

impl TableEntry {
    fn path(&self) -> String {
        format!("tables/{}.jsonl", self.name)
    }
}

/// Writes the site, as it is at one moment, to the archive `file`: first
/// under a temporary name beside it, renamed when whole, so a file of that
/// name is always a finished archive.
pub async fn export(db: &Db, store: &dyn ObjectStore, file: &Path) -> anyhow::Result<Manifest> {
    let folder = match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let work = tempfile::Builder::new()
        .prefix(".quire-export-")
        .tempdir_in(folder)
        .with_context(|| format!("making a scratch folder in {}", folder.display()))?;
    tokio::fs::create_dir_all(work.path().join("tables")).await?;

    let mut snapshot = db.begin_snapshot().await?;
    let mut tables = Vec::new();
    for table in TABLES {
        tables.push(export_table(&mut snapshot, table, work.path()).await?);
    }
    let migration = db.newest_migration().await?;
    // Read only: ending it changes nothing.
    drop(snapshot);
    // After the snapshot: every file its rows name was in the store by
    // then (a file is stored before its row), and housekeeping removes
    // only files that nothing used for a day.
    let media = export_media(store, &work.path().join("media")).await?;

    let manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        quire_version: env!("CARGO_PKG_VERSION").into(),
        created_at: Timestamp::now().rfc3339(),
        backend: db.backend().into(),
        migration,
        tables,
        media,
    };
    let manifest_json = serde_json::to_vec_pretty(&manifest)?;
    let (file, work_path) = (file.to_owned(), work.path().to_owned());
    let entries: Vec<String> = manifest
        .tables
        .iter()
        .map(TableEntry::path)
        .chain(manifest.media.iter().map(|m| format!("media/{}", m.path)))
        .collect();
    tokio::task::spawn_blocking(move || {
        let written = write_tar(&file, &work_path, &manifest_json, &entries);
        if written.is_err() {
            let _ = std::fs::remove_file(partial(&file));
        }
        written
    })
    .await??;
    Ok(manifest)
}

/// `ORDER BY` the table's key, the same order on both databases: bytes
/// for text (PostgreSQL's default collation follows the locale), NULLs
/// first (PostgreSQL puts them last).
fn order_by(table: &Table, dialect: Dialect) -> String {
    table
        .key
        .iter()
        .map(|column| match (table.kind(column), dialect) {
            (Some(Kind::Text), Dialect::Postgres) => format!("{column} COLLATE \"C\" NULLS FIRST"),
            _ => format!("{column} NULLS FIRST"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn export_table(tx: &mut Tx, table: &Table, work: &Path) -> anyhow::Result<TableEntry> {
    let columns: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
    // A table keyed by a generated id is read in pages after the last id
    // seen, so each page costs the same wherever it is; the others (small)
    // by offset.
    let id_at = table
        .identity
        .then(|| columns.iter().position(|c| *c == "id"))
        .flatten();
    let sql = match id_at {
        Some(_) => format!(
            "SELECT {} FROM {} WHERE id > $2 ORDER BY id LIMIT $1",
            columns.join(", "),
            table.name
        ),
        None => format!(
            "SELECT {} FROM {} ORDER BY {} LIMIT $1 OFFSET $2",
            columns.join(", "),
            table.name,
            order_by(table, tx.dialect())
        ),
    };
    let mut after = i64::MIN;
    let mut entry = TableEntry {
        name: table.name.into(),
        columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        rows: 0,
        bytes: 0,
        sha256: String::new(),
    };
    let path = work.join(entry.path());
    let mut out = tokio::io::BufWriter::new(
        tokio::fs::File::create(&path)
            .await
            .with_context(|| format!("writing {}", path.display()))?,
    );
    let mut hasher = Sha256::new();
    loop {
        let from = if id_at.is_some() {
            after
        } else {
            entry.rows as i64
        };
        let batch: Vec<Cells> = Query::assembled(sql.clone())
            .bind(READ_ROWS)
            .bind(from)
            .fetch_all(&mut *tx)
            .await
            .with_context(|| format!("reading {}", table.name))?;
        if let (Some(at), Some(Cells(last))) = (id_at, batch.last())
            && let Some(Cell::Int(id)) = last.get(at)
        {
            after = *id;
        }
        let mut lines = Vec::new();
        for Cells(cells) in &batch {
            let mut row = Map::new();
            for ((column, kind), cell) in table.columns.iter().zip(cells) {
                let value = to_json(*kind, cell)
                    .with_context(|| format!("{}.{column}: {cell:?}", table.name))?;
                row.insert((*column).to_owned(), value);
            }
            serde_json::to_writer(&mut lines, &row)?;
            lines.push(b'\n');
        }
        hasher.update(&lines);
        out.write_all(&lines).await?;
        entry.bytes += lines.len() as u64;
        entry.rows += batch.len() as u64;
        if (batch.len() as i64) < READ_ROWS {
            break;
        }
    }
    out.flush().await?;
    entry.sha256 = format!("{:x}", hasher.finalize());
    Ok(entry)
}

/// A stored value as the archive writes it, whichever database stored it
/// (SQLite keeps times as text and booleans as integers).
fn to_json(kind: Kind, cell: &Cell) -> anyhow::Result<Value> {
    Ok(match (kind, cell) {
        (_, Cell::Null) => Value::Null,
        (Kind::Int | Kind::Int4, Cell::Int(n)) => Value::from(*n),
        (Kind::Text, Cell::Text(text)) => Value::from(text.as_str()),
        (Kind::Bool, Cell::Bool(b)) => Value::from(*b),
        (Kind::Bool, Cell::Int(n)) => Value::from(*n != 0),
        (Kind::Time, Cell::Time(at)) => Value::from(at.rfc3339()),
        (Kind::Time, Cell::Text(text)) => Value::from(text.parse::<Timestamp>()?.rfc3339()),
        _ => bail!("not a {kind:?}"),
    })
}

/// Copies every image of the store under `into`, with its checksum.
async fn export_media(store: &dyn ObjectStore, into: &Path) -> anyhow::Result<Vec<FileEntry>> {
    let mut entries = Vec::new();
    let mut objects = crate::storage::site_objects(store);
    while let Some(meta) = objects.next().await {
        let meta = meta.context("listing the site's files")?;
        let path = meta.location.to_string();
        let bytes = store
            .get(&meta.location)
            .await
            .with_context(|| format!("reading the site's file {path}"))?
            .bytes()
            .await?;
        let target = into.join(&path);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::write(&target, &bytes)
            .await
            .with_context(|| format!("writing {}", target.display()))?;
        entries.push(FileEntry {
            sha256: format!("{:x}", Sha256::digest(&bytes)),
            bytes: bytes.len() as u64,
            path,
        });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// Where an archive is written until it is whole.
fn partial(file: &Path) -> PathBuf {
    let mut partial = file.as_os_str().to_owned();
    partial.push(".partial");
    PathBuf::from(partial)
}

/// The manifest, then each file of `work` named in `entries`, into a
/// gzip-compressed tar at `file` (through a temporary name).
fn write_tar(file: &Path, work: &Path, manifest: &[u8], entries: &[String]) -> anyhow::Result<()> {
    let partial = partial(file);
    let out = std::fs::File::create(&partial)
        .with_context(|| format!("writing {}", partial.display()))?;
    let gz =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(out), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(Timestamp::now().unix_timestamp().max(0) as u64);
    header.set_cksum();
    tar.append_data(&mut header, MANIFEST, manifest)?;
    for entry in entries {
        tar.append_path_with_name(work.join(entry), entry)
            .with_context(|| format!("adding {entry}"))?;
    }
    let gz = tar.into_inner()?;
    let out = gz.finish()?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&partial, file)
        .with_context(|| format!("renaming {} to {}", partial.display(), file.display()))?;
    Ok(())
}

/// Loads the archive `file` into this site, which must hold no data
/// unless `merge` ([`merge`]): its files into `store`, its rows into `db`,
/// all of them or, on any error, none of the rows.
pub async fn import(
    db: &Db,
    store: &dyn ObjectStore,
    file: &Path,
    merge: bool,
) -> anyhow::Result<Manifest> {
    let work = tempfile::Builder::new()
        .prefix("quire-import-")
        .tempdir()
        .context("making a scratch folder in TMPDIR")?;
    let (from, into) = (file.to_owned(), work.path().to_owned());
    tokio::task::spawn_blocking(move || unpack(&from, &into))
        .await?
        .with_context(|| format!("reading {}", file.display()))?;
    let manifest = verify(work.path())
        .await
        .with_context(|| format!("checking {}", file.display()))?;

    let held = holdings(db).await?;
    if !held.is_empty() && !merge {
        bail!(
            "this site already holds data ({}): an archive is imported only into a new, empty \
             site, or merged into this one with --merge",
            held.join(", ")
        );
    }

    for entry in &manifest.media {
        let bytes = tokio::fs::read(work.path().join("media").join(&entry.path)).await?;
        let path = StorePath::parse(&entry.path)
            .with_context(|| format!("media/{}: not a path of the store", entry.path))?;
        store
            .put(&path, bytes.into())
            .await
            .with_context(|| format!("storing media/{}", entry.path))?;
    }

    let mut tx = db.begin().await?;
    let mut merging = merge.then(Merge::default);
    for entry in &manifest.tables {
        let table = TABLES
            .iter()
            .find(|t| t.name == entry.name)
            .expect("verified: every table is known");
        if merging.is_some() && Merge::skips(table.name) {
            continue;
        }
        import_table(&mut tx, table, entry, work.path(), merging.as_mut())
            .await
            .with_context(|| entry.path())?;
    }
    tx.commit().await?;
    Ok(manifest)
}

/// Unpacks the archive into `into`: only plain files and folders, only at
/// the places an archive has them.
fn unpack(file: &Path, into: &Path) -> anyhow::Result<()> {
    let gz = flate2::read::GzDecoder::new(std::io::BufReader::new(std::fs::File::open(file)?));
    let mut archive = tar::Archive::new(gz);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        let safe = path.components().all(|c| matches!(c, Component::Normal(_)));
        let known =
            path == Path::new(MANIFEST) || path.starts_with("tables") || path.starts_with("media");
        if !kind.is_file() || !safe || !known {
            bail!(
                "{} is not part of a Quire archive: is this file one?",
                path.display()
            );
        }
        if !entry.unpack_in(into)? {
            bail!("{} is outside the archive", path.display());
        }
    }
    Ok(())
}

/// Reads the manifest and checks every file against it: nothing missing,
/// nothing changed.
async fn verify(work: &Path) -> anyhow::Result<Manifest> {
    let text = tokio::fs::read(work.join(MANIFEST))
        .await
        .context("no manifest.json: not a Quire archive")?;
    let manifest: Manifest = serde_json::from_slice(&text).context("manifest.json")?;
    if manifest.format != FORMAT {
        bail!(
            "not a Quire archive (its manifest says {:?})",
            manifest.format
        );
    }
    if manifest.version > VERSION {
        bail!(
            "the archive is of version {} of the format, made by Quire {}; this Quire reads up to version {VERSION}: upgrade it first",
            manifest.version,
            manifest.quire_version
        );
    }
    let mut seen = HashSet::new();
    for entry in &manifest.tables {
        let Some(table) = TABLES.iter().find(|t| t.name == entry.name) else {
            bail!(
                "the archive holds a table this Quire does not know ({}): it was made by a newer Quire ({})",
                entry.name,
                manifest.quire_version
            );
        };
        if !seen.insert(entry.name.as_str()) {
            bail!("the manifest lists {} twice", entry.name);
        }
        if let Some(unknown) = entry.columns.iter().find(|c| table.kind(c).is_none()) {
            bail!(
                "{}.{unknown} is not a column this Quire knows: the archive was made by a newer Quire ({})",
                entry.name,
                manifest.quire_version
            );
        }
        check_file(&work.join(entry.path()), entry.bytes, &entry.sha256).await?;
    }
    for entry in &manifest.media {
        check_file(
            &work.join("media").join(&entry.path),
            entry.bytes,
            &entry.sha256,
        )
        .await?;
    }
    Ok(manifest)
}

async fn check_file(path: &Path, bytes: u64, sha256: &str) -> anyhow::Result<()> {
    let path = path.to_owned();
    let (size, sum) = tokio::task::spawn_blocking(move || -> anyhow::Result<(u64, String)> {
        let mut file = std::fs::File::open(&path).with_context(|| {
            format!(
                "{}: listed in the manifest, missing from the archive",
                path.display()
            )
        })?;
        let mut hasher = Sha256::new();
        let size = std::io::copy(&mut file, &mut hasher)?;
        Ok((size, format!("{:x}", hasher.finalize())))
    })
    .await??;
    if size != bytes || sum != sha256 {
        bail!("a file of the archive is not what its manifest says (damaged or changed)");
    }
    Ok(())
}

/// The tables that hold rows, with how many: what an import would mix
/// with. (Settings are left out: a new site may be in maintenance mode
/// for the move.)
async fn holdings(db: &Db) -> anyhow::Result<Vec<String>> {
    let mut held = Vec::new();
    for table in TABLES.iter().filter(|t| t.name != "settings") {
        let rows: i64 = Query::assembled(format!("SELECT COUNT(*) FROM {}", table.name))
            .scalar(db)
            .await?;
        if rows > 0 {
            held.push(format!("{rows} in {}", table.name));
        }
    }
    Ok(held)
}

async fn import_table(
    tx: &mut Tx,
    table: &Table,
    entry: &TableEntry,
    work: &Path,
    mut merge: Option<&mut Merge>,
) -> anyhow::Result<()> {
    let kinds: Vec<Kind> = entry
        .columns
        .iter()
        .map(|c| table.kind(c).expect("verified: every column is known"))
        .collect();
    let overriding = match (tx.dialect(), table.identity) {
        (Dialect::Postgres, true) => " OVERRIDING SYSTEM VALUE",
        _ => "",
    };
    // A new site may have its maintenance setting already: the archive's wins.
    let conflict = if merge.is_some() {
        Merge::on_conflict(table.name)
    } else if table.name == "settings" {
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    } else {
        ""
    };
    let target = match merge {
        Some(_) => Some(Merge::target(tx, table.name, table.identity, &entry.columns).await?),
        None => None,
    };
    let insert = |rows: usize| {
        let width = kinds.len();
        let values: Vec<String> = (0..rows)
            .map(|r| format!("({})", crate::db::placeholders(r * width + 1, width)))
            .collect();
        format!(
            "INSERT INTO {} ({}){overriding} VALUES {}{conflict}",
            table.name,
            entry.columns.join(", "),
            values.join(", ")
        )
    };

    let file = tokio::fs::File::open(work.join(entry.path())).await?;
    let mut lines = tokio::io::BufReader::new(file).lines();
    let mut batch: Vec<Vec<Bound>> = Vec::new();
    let mut line_number = 0u64;
    while let Some(line) = lines.next_line().await? {
        line_number += 1;
        let row: Map<String, Value> = serde_json::from_str(&line)
            .with_context(|| format!("line {line_number}: not a JSON object"))?;
        if row.len() != entry.columns.len() {
            bail!("line {line_number}: not the columns the manifest lists");
        }
        let values = entry
            .columns
            .iter()
            .zip(&kinds)
            .map(|(column, kind)| {
                bound(*kind, row.get(column).unwrap_or(&Value::Null))
                    .with_context(|| format!("line {line_number}, {column}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let values = match (merge.as_deref_mut(), &target) {
            (Some(merge), Some(target)) => match merge
                .row(tx, target, values)
                .await
                .with_context(|| format!("line {line_number}"))?
            {
                Some(values) => values,
                // The site has it already.
                None => continue,
            },
            _ => values,
        };
        batch.push(values);
        if batch.len() == WRITE_ROWS {
            write_rows(tx, &insert(batch.len()), std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        write_rows(tx, &insert(batch.len()), batch).await?;
    }
    if line_number != entry.rows {
        bail!("{line_number} rows, the manifest says {}", entry.rows);
    }
    if table.identity && tx.dialect() == Dialect::Postgres {
        // The next id the site makes comes after the imported ones.
        Query::assembled(format!(
            "SELECT setval(pg_get_serial_sequence('{0}', 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM {0}), false)",
            table.name
        ))
        .execute(&mut *tx)
        .await?;
    }
    // Merged, the table holds the site's rows too, and not every row of
    // the archive (what the site had is not doubled).
    if table.name != "settings" && target.is_none() {
        let rows: i64 = Query::assembled(format!("SELECT COUNT(*) FROM {}", table.name))
            .scalar(&mut *tx)
            .await?;
        if rows as u64 != entry.rows {
            bail!(
                "{rows} rows after the import, the archive has {}",
                entry.rows
            );
        }
    }
    Ok(())
}

/// A value of the archive, typed for its column (a NULL too: PostgreSQL
/// wants a NULL of the column's type).
enum Bound {
    Int(Option<i64>),
    Int4(Option<i32>),
    Text(Option<String>),
    Bool(Option<bool>),
    Time(Option<Timestamp>),
}

fn bound(kind: Kind, value: &Value) -> anyhow::Result<Bound> {
    if value.is_null() {
        return Ok(match kind {
            Kind::Int => Bound::Int(None),
            Kind::Int4 => Bound::Int4(None),
            Kind::Text => Bound::Text(None),
            Kind::Bool => Bound::Bool(None),
            Kind::Time => Bound::Time(None),
        });
    }
    let wrong = || anyhow::anyhow!("{value} is not a {kind:?}");
    Ok(match kind {
        Kind::Int => Bound::Int(Some(value.as_i64().ok_or_else(wrong)?)),
        Kind::Int4 => Bound::Int4(Some(
            value
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(wrong)?,
        )),
        Kind::Text => Bound::Text(Some(value.as_str().ok_or_else(wrong)?.to_owned())),
        Kind::Bool => Bound::Bool(Some(value.as_bool().ok_or_else(wrong)?)),
        Kind::Time => Bound::Time(Some(
            value
                .as_str()
                .ok_or_else(wrong)?
                .parse()
                .map_err(|_| wrong())?,
        )),
    })
}

async fn write_rows(tx: &mut Tx, sql: &str, rows: Vec<Vec<Bound>>) -> anyhow::Result<()> {
    let mut statement = Query::assembled(sql.to_owned()).planned_each_time();
    for value in rows.into_iter().flatten() {
        statement = match value {
            Bound::Int(v) => statement.bind(v),
            Bound::Int4(v) => statement.bind(v),
            Bound::Text(v) => statement.bind(v),
            Bound::Bool(v) => statement.bind(v),
            Bound::Time(v) => statement.bind(v),
        };
    }
    statement.execute(&mut *tx).await?;
    Ok(())
}
