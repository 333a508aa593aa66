//! What the benchmarks share: sizes from the environment, the release
//! binary run as a process of its own, and throwaway databases.

use std::process::{Child, Command, Stdio};

pub const SECRET: &str = "bench-secret-key-that-is-long-enough-0123456789";

pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A `quire` process, killed when dropped.
pub struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `quire ARGS` on a database with settings from `env`.
pub fn quire(
    database_url: &str,
    data_dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Process {
    let mut command = Command::new(env!("CARGO_BIN_EXE_quire"));
    command
        .env("QUIRE_DATABASE_URL", database_url)
        .env("QUIRE_DATA_DIR", data_dir)
        .env("QUIRE_SECRET_KEY", SECRET)
        .env("RUST_LOG", "warn")
        .args(args)
        .stdout(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    Process(command.spawn().expect("the quire binary runs"))
}

/// The databases to measure: a SQLite file in `dir`, and a new PostgreSQL
/// database when QUIRE_TEST_POSTGRES_URL is set. Call [`drop_databases`] after.
pub async fn databases(dir: &std::path::Path) -> Vec<(&'static str, String)> {
    let mut out = vec![(
        "sqlite",
        format!("sqlite://{}", dir.join("bench.db").display()),
    )];
    if let Ok(admin) = std::env::var("QUIRE_TEST_POSTGRES_URL") {
        let name = format!("quire_bench_{}", std::process::id());
        let pool = sqlx::PgPool::connect(&admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await
            .unwrap();
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&name);
        out.push(("postgres", url.to_string()));
    } else {
        println!(
            "postgres   skipped: set QUIRE_TEST_POSTGRES_URL to a server this may create databases on"
        );
    }
    out
}

pub async fn drop_databases() {
    if let Ok(admin) = std::env::var("QUIRE_TEST_POSTGRES_URL") {
        let name = format!("quire_bench_{}", std::process::id());
        let pool = sqlx::PgPool::connect(&admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&pool)
        .await
        .unwrap();
    }
}
