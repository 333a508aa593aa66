//! Consistent copies of the whole database, with each backend's own tool:
//! what backups are made of.
//!
//! - SQLite: `VACUUM INTO`, a transactionally consistent copy made while the
//!   site keeps running; restoring puts the file in place of the database.
//! - PostgreSQL: `pg_dump --format=custom` (which must be installed: it is in
//!   Debian's `postgresql-client`), restored with `pg_restore`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::{Db, Pool, query};

/// A snapshot file and the name of its format, as a manifest records it.
pub struct Snapshot {
    pub file: PathBuf,
    pub format: &'static str,
}

impl Db {
    /// Writes a consistent copy of the database into `folder`.
    /// `database_url` is what this pool was opened with: `pg_dump` connects
    /// on its own.
    pub async fn snapshot_into(
        &self,
        database_url: &str,
        folder: &Path,
    ) -> anyhow::Result<Snapshot> {
        match &self.0 {
            Pool::Sqlite(_) => {
                let file = folder.join("database.sqlite");
                query("VACUUM INTO $1")
                    .bind(file.display().to_string())
                    .execute(self)
                    .await
                    .context("VACUUM INTO")?;
                Ok(Snapshot {
                    file,
                    format: "sqlite-vacuum-into",
                })
            }
            Pool::Postgres(..) => {
                let file = folder.join("database.pgdump");
                let mut command = pg_command("pg_dump", database_url)?;
                command
                    .args(["--format=custom", "--no-owner", "--no-privileges", "--file"])
                    .arg(&file);
                run(command, "pg_dump").await?;
                Ok(Snapshot {
                    file,
                    format: "pg_dump-custom",
                })
            }
        }
    }

    /// Replaces the whole database with a snapshot made by
    /// [`Db::snapshot_into`] on the same backend. Closes this pool first.
    pub async fn replace_with(self, database_url: &str, file: &Path) -> anyhow::Result<()> {
        match &self.0 {
            Pool::Sqlite(pool) => {
                let target = pool.connect_options().get_filename().to_owned();
                self.close().await;
                for suffix in ["-wal", "-shm"] {
                    let side = PathBuf::from(format!("{}{suffix}", target.display()));
                    if side.exists() {
                        tokio::fs::remove_file(&side).await?;
                    }
                }
                let partial = target.with_extension("restoring");
                tokio::fs::copy(file, &partial).await?;
                tokio::fs::rename(&partial, &target).await?;
            }
            Pool::Postgres(..) => {
                self.close().await;
                let mut command = pg_command("pg_restore", database_url)?;
                command
                    .args([
                        "--no-owner",
                        "--no-privileges",
                        "--clean",
                        "--if-exists",
                        "--single-transaction",
                    ])
                    .arg(file);
                run(command, "pg_restore").await?;
            }
        }
        Ok(())
    }
}

/// The connection settings pg_dump and pg_restore get: the URL without its
/// password (which would show in the process list) and the password in
/// `PGPASSWORD`.
fn pg_command(program: &str, database_url: &str) -> anyhow::Result<tokio::process::Command> {
    let mut url = url::Url::parse(database_url).context("QUIRE_DATABASE_URL")?;
    let password = url.password().map(str::to_owned);
    let _ = url.set_password(None);
    let mut command = tokio::process::Command::new(program);
    command.arg("--dbname").arg(url.as_str());
    if let Some(password) = password {
        let password = percent_encoding::percent_decode_str(&password)
            .decode_utf8_lossy()
            .into_owned();
        command.env("PGPASSWORD", password);
    }
    Ok(command)
}

async fn run(mut command: tokio::process::Command, what: &str) -> anyhow::Result<()> {
    let output = command.output().await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!("{what} is not installed (Debian: apt-get install postgresql-client)")
        } else {
            anyhow::anyhow!("running {what}: {e}")
        }
    })?;
    if !output.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
