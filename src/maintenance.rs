//! Maintenance mode: visitors get a "back soon" page (503, `Retry-After`)
//! while administrators keep full access. The switch is a row of the
//! `settings` table, so every replica sees it; each process re-reads it at
//! most every [`REFRESH`], and health endpoints never look at it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::db::{Db, Timestamp, query};
use crate::error::AppResult;

const KEY: &str = "maintenance";

/// How stale a process's view of the switch may be.
pub const REFRESH: Duration = Duration::from_secs(2);

/// What visitors are told to wait, in seconds.
pub const RETRY_AFTER_SECS: u64 = 300;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Maintenance {
    pub message: String,
    pub since: String,
}

/// The default words of the maintenance page.
pub const DEFAULT_MESSAGE: &str = "The site is down for maintenance and will be back shortly.";

pub async fn status(db: &Db) -> AppResult<Option<Maintenance>> {
    let value: Option<String> = query("SELECT value FROM settings WHERE key = $1")
        .bind(KEY)
        .scalar_optional(db)
        .await?;
    Ok(value.and_then(|v| serde_json::from_str(&v).ok()))
}

pub async fn turn_on(db: &Db, message: Option<&str>) -> AppResult<Maintenance> {
    let maintenance = Maintenance {
        message: message
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .unwrap_or(DEFAULT_MESSAGE)
            .to_owned(),
        since: Timestamp::now().rfc3339(),
    };
    let value = serde_json::to_string(&maintenance).expect("serialises");
    query(
        "INSERT INTO settings (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(KEY)
    .bind(value)
    .execute(db)
    .await?;
    Ok(maintenance)
}

pub async fn turn_off(db: &Db) -> AppResult<()> {
    query("DELETE FROM settings WHERE key = $1")
        .bind(KEY)
        .execute(db)
        .await?;
    Ok(())
}

/// One process's view of the switch, read again when older than [`REFRESH`].
#[derive(Default)]
pub struct Switch {
    seen: std::sync::Mutex<Option<(Instant, Option<Arc<Maintenance>>)>>,
}

/// What the switch said for one request, kept in its extensions by the
/// first layer that asked (the page cache, then the gate), so that it is
/// read once per request and both layers act on the same answer.
#[derive(Clone)]
struct SeenByRequest(Option<Arc<Maintenance>>);

impl Switch {
    /// The switch as this request sees it.
    pub async fn for_request(
        &self,
        db: &Db,
        extensions: &mut axum::http::Extensions,
    ) -> Option<Arc<Maintenance>> {
        if let Some(SeenByRequest(seen)) = extensions.get() {
            return seen.clone();
        }
        let seen = self.current(db).await;
        extensions.insert(SeenByRequest(seen.clone()));
        seen
    }

    async fn current(&self, db: &Db) -> Option<Arc<Maintenance>> {
        if let Some((read_at, seen)) = &*self.seen.lock().expect("not poisoned")
            && read_at.elapsed() < REFRESH
        {
            return seen.clone();
        }
        let seen = match status(db).await {
            Ok(seen) => seen.map(Arc::new),
            Err(e) => {
                // Keep what was last seen (the database may be down for the
                // very maintenance the switch announces); try again later.
                tracing::warn!(error = %e, "reading the maintenance switch failed");
                self.seen
                    .lock()
                    .expect("not poisoned")
                    .as_ref()
                    .and_then(|(_, seen)| seen.clone())
            }
        };
        *self.seen.lock().expect("not poisoned") = Some((Instant::now(), seen.clone()));
        seen
    }
}
