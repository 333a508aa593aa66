//! Schema migrations, one reversible set per backend, embedded in the binary,
//! and the few steps written in Rust that run between two of them.

use std::future::Future;
use std::pin::Pin;

use anyhow::Context;
use sqlx::migrate::{MigrateError, Migrator};

use super::{Db, Pool, query};

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MigrationState {
    Applied,
    Pending,
    /// Recorded in the database, newer than every migration this binary
    /// knows: the next release migrated it. Migrations are expand/contract
    /// (docs/operations.md), so this release keeps working on it.
    Newer,
    /// Recorded in the database but unknown to this binary, and older than
    /// its newest: a migration was removed, or the database is another's.
    Unknown,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationStatus {
    pub version: i64,
    pub description: String,
    pub state: MigrationState,
}

/// A migration step that SQL cannot write: values only the application
/// computes, or a check that must explain itself to the operator. It runs
/// whenever the SQL migration `before` is about to be applied, after every
/// one older than it, and must be safe to run again (a refused step leaves
/// `before` pending, to be retried once the operator has fixed the data).
/// Steps belong to features, so the assembly lists them
/// (`assembly::MIGRATION_STEPS`); this module only knows when to run them.
pub struct MigrationStep {
    pub before: i64,
    pub run: for<'a> fn(&'a Db) -> StepFuture<'a>,
}

pub type StepFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

impl Db {
    fn migrator(&self) -> &'static Migrator {
        match self.0 {
            Pool::Sqlite(_) => &SQLITE,
            Pool::Postgres(..) => &POSTGRES,
        }
    }

    /// Applies every pending migration, with the `steps` that go before
    /// them; returns how many SQL migrations ran.
    pub async fn migrate_up(&self, steps: &[MigrationStep]) -> anyhow::Result<usize> {
        let pending: Vec<i64> = self
            .migration_status()
            .await?
            .into_iter()
            .filter(|m| m.state == MigrationState::Pending)
            .map(|m| m.version)
            .collect();
        // Nothing to do; and sqlx would refuse a database that holds a
        // newer release's migrations, which this release runs on.
        if pending.is_empty() {
            return Ok(0);
        }
        let mut steps: Vec<&MigrationStep> = steps
            .iter()
            .filter(|step| pending.contains(&step.before))
            .collect();
        steps.sort_by_key(|step| step.before);
        for step in steps {
            self.migrate_to(step.before - 1).await?;
            (step.run)(self)
                .await
                .with_context(|| format!("before migration {}", step.before))?;
        }
        match &self.0 {
            Pool::Sqlite(pool) => self.migrator().run(pool).await?,
            Pool::Postgres(pool, _) => self.migrator().run(pool).await?,
        }
        Ok(pending.len())
    }

    /// Applies migrations up to and including `version`, without the steps
    /// between them (for tests that walk the migrations one by one).
    pub async fn migrate_to(&self, version: i64) -> Result<(), MigrateError> {
        match &self.0 {
            Pool::Sqlite(pool) => self.migrator().run_to(version, pool).await,
            Pool::Postgres(pool, _) => self.migrator().run_to(version, pool).await,
        }
    }

    /// Reverts the last `steps` applied migrations; returns how many it reverted.
    pub async fn migrate_down(&self, steps: usize) -> Result<usize, MigrateError> {
        let applied: Vec<i64> = self
            .migration_status()
            .await?
            .into_iter()
            .filter(|m| m.state == MigrationState::Applied)
            .map(|m| m.version)
            .collect();
        let steps = steps.min(applied.len());
        if steps == 0 {
            return Ok(0);
        }
        // `undo` reverts everything newer than the target version.
        let target = if steps == applied.len() {
            0
        } else {
            applied[applied.len() - steps - 1]
        };
        match &self.0 {
            Pool::Sqlite(pool) => self.migrator().undo(pool, target).await?,
            Pool::Postgres(pool, _) => self.migrator().undo(pool, target).await?,
        }
        Ok(steps)
    }

    /// Each known migration, applied or pending, and any applied one this
    /// version does not know. Only reads: readiness probes call it often.
    /// The newest migration applied, if any: what a copy of the database
    /// (a backup, an archive) records of its schema.
    pub async fn newest_migration(&self) -> Result<Option<i64>, MigrateError> {
        Ok(self
            .migration_status()
            .await?
            .iter()
            .filter(|m| m.state == MigrationState::Applied)
            .map(|m| m.version)
            .max())
    }

    pub async fn migration_status(&self) -> Result<Vec<MigrationStatus>, MigrateError> {
        let applied = self.applied_versions().await?;
        let known = self.migrator();
        let mut status: Vec<MigrationStatus> = known
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| MigrationStatus {
                version: m.version,
                description: m.description.to_string(),
                state: if applied.contains(&m.version) {
                    MigrationState::Applied
                } else {
                    MigrationState::Pending
                },
            })
            .collect();
        let newest_known = known.iter().map(|m| m.version).max().unwrap_or(0);
        status.extend(
            applied
                .iter()
                .filter(|v| !known.version_exists(**v))
                .map(|v| MigrationStatus {
                    version: *v,
                    description: String::new(),
                    state: if *v > newest_known {
                        MigrationState::Newer
                    } else {
                        MigrationState::Unknown
                    },
                }),
        );
        status.sort_by_key(|m| m.version);
        Ok(status)
    }

    /// The versions recorded in sqlx's table (none before the first
    /// migration made it). sqlx's own listing creates the table first, a
    /// write on every call.
    async fn applied_versions(&self) -> Result<Vec<i64>, sqlx::Error> {
        if !self.has_table("_sqlx_migrations").await? {
            return Ok(Vec::new());
        }
        query("SELECT version FROM _sqlx_migrations ORDER BY version")
            .scalars(self)
            .await
    }
}
