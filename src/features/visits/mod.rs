//! Visits, counted without losing any: every visit is an event row, and
//! concurrent visits are written together, in one transaction per batch
//! (group commit), with the totals that reads use.
//!
//! The seed visitor counter lost a third of its counts to read-modify-write
//! races. Here totals only ever change by `visits = visits + k` inside the
//! transaction that inserts the k events, so they cannot drift from the
//! events, whatever the number of writers or processes.

pub mod api;
mod recorder;
pub mod web;

use serde::Serialize;
use sqlx::FromRow;

use crate::db::{Db, query};
use crate::error::{AppError, AppResult, FieldErrors, Problem};
pub use recorder::{Recorder, VisitorCount};

/// What the feature keeps for the life of a process, in the `App`: the one
/// task that writes visits, and the encoded visitor list.
#[derive(Clone)]
pub struct Visits {
    pub recorder: Recorder,
    pub list: std::sync::Arc<ListCache>,
}

impl Visits {
    pub fn start(db: Db) -> Self {
        Self {
            recorder: Recorder::start(db),
            list: Default::default(),
        }
    }
}

/// A visitor's name in the visitor API: 1–80 letters, digits, `-`, `_`, `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VisitorName(String);

impl VisitorName {
    pub fn parse(input: &str) -> Result<Self, FieldErrors> {
        let valid = (1..=80).contains(&input.chars().count())
            && input
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if valid {
            Ok(Self(input.to_owned()))
        } else {
            Err(FieldErrors::single(
                "username",
                Problem::Format("must be 1 to 80 letters, digits, '-', '_' or '.'"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a user agent is an obvious robot, whose views are not counted.
pub fn is_bot(user_agent: Option<&str>) -> bool {
    const MARKERS: &[&str] = &[
        "bot",
        "crawl",
        "spider",
        "slurp",
        "facebookexternalhit",
        "embedly",
        "preview",
        "curl/",
        "wget/",
        "python-requests",
        "go-http-client",
    ];
    match user_agent {
        None => true,
        Some(ua) if ua.trim().is_empty() => true,
        Some(ua) => {
            let ua = ua.to_ascii_lowercase();
            MARKERS.iter().any(|m| ua.contains(m))
        }
    }
}

#[derive(Debug, Clone, FromRow, Serialize, utoipa::ToSchema)]
pub struct Visitor {
    pub id: i64,
    pub username: String,
    pub visits: i64,
}

/// Every visitor with their total, from the read model: O(visitors).
pub async fn list_visitors(db: &Db) -> AppResult<Vec<Visitor>> {
    Ok(
        query("SELECT id, username, visits FROM visitors ORDER BY id")
            .fetch_all(db)
            .await?,
    )
}

/// The body of `GET /api/visitors`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VisitorsResponse {
    results: Vec<Visitor>,
}

/// How long another process's visits may take to show in the visitor list.
const LIST_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(1);

/// The visitor list as last encoded. Reading a thousand rows and encoding
/// them costs milliseconds; the list changes only when visits are written.
/// An entry is used while this process has written no visit since it was
/// read (so an acknowledged visit always shows) and for at most
/// [`LIST_MAX_AGE`] (for visits written by other processes).
#[derive(Default)]
pub struct ListCache {
    cached: std::sync::Mutex<Option<CachedList>>,
}

struct CachedList {
    generation: u64,
    read_at: std::time::Instant,
    body: bytes::Bytes,
}

impl ListCache {
    /// The JSON of `{"results": [every visitor]}`.
    pub async fn get(&self, db: &Db, recorder: &Recorder) -> AppResult<bytes::Bytes> {
        let generation = recorder.generation();
        if let Some(cached) = &*self.cached.lock().expect("not poisoned")
            && cached.generation == generation
            && cached.read_at.elapsed() < LIST_MAX_AGE
        {
            return Ok(cached.body.clone());
        }
        let read_at = std::time::Instant::now();
        let results = list_visitors(db).await?;
        let body = bytes::Bytes::from(
            serde_json::to_vec(&VisitorsResponse { results })
                .map_err(|e| AppError::Internal(e.into()))?,
        );
        *self.cached.lock().expect("not poisoned") = Some(CachedList {
            generation,
            read_at,
            body: body.clone(),
        });
        Ok(body)
    }
}

/// One row of an author's statistics.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct PostStats {
    pub slug: String,
    pub title: String,
    pub status: crate::features::posts::PostStatus,
    pub views: i64,
    pub likes: i64,
    pub comments: i64,
}

pub async fn stats_for_author(db: &Db, author_id: i64) -> AppResult<Vec<PostStats>> {
    Ok(query(
        "SELECT p.slug, p.title, p.status, COALESCE(v.views, 0) AS views,
                (SELECT COUNT(*) FROM reactions r WHERE r.post_id = p.id) AS likes,
                (SELECT COUNT(*) FROM comments c WHERE c.post_id = p.id) AS comments
         FROM posts p LEFT JOIN post_views v ON v.post_id = p.id
         WHERE p.author_id = $1 ORDER BY views DESC, p.id DESC",
    )
    .bind(author_id)
    .fetch_all(db)
    .await?)
}

/// What a rebuild found and wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebuilt {
    pub visitors: u64,
    pub posts: u64,
}

/// Recomputes every total from the events, in one transaction that keeps
/// writers out while it runs.
pub async fn rebuild_totals(db: &Db) -> AppResult<Rebuilt> {
    let rebuild = "UPDATE visitors SET visits = (SELECT COUNT(*) FROM visits WHERE visits.visitor_id = visitors.id)";
    let clear = "DELETE FROM post_views";
    let refill = "INSERT INTO post_views (post_id, views)
                  SELECT post_id, COUNT(*) FROM visits WHERE post_id IS NOT NULL GROUP BY post_id";
    let mut tx = db.begin().await?;
    // Recorders in other processes wait at the lock rather than write
    // between the steps.
    tx.lock_exclusive(&["visits", "visitors", "post_views"])
        .await?;
    let visitors = query(rebuild).execute(&mut tx).await?;
    query(clear).execute(&mut tx).await?;
    let posts = query(refill).execute(&mut tx).await?;
    tx.commit().await?;
    Ok(Rebuilt { visitors, posts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visitor_names() {
        assert!(VisitorName::parse("alice.b-c_1").is_ok());
        assert!(VisitorName::parse(&"a".repeat(80)).is_ok());
        for bad in ["", "a b", "ünï", "a/b", "<x>"] {
            assert!(VisitorName::parse(bad).is_err(), "{bad}");
        }
        assert!(VisitorName::parse(&"a".repeat(81)).is_err());
    }

    #[test]
    fn bots() {
        assert!(is_bot(Some("Mozilla/5.0 (compatible; Googlebot/2.1)")));
        assert!(is_bot(Some("curl/8.0")));
        assert!(is_bot(None));
        assert!(!is_bot(Some(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126 Safari/537.36"
        )));
    }

    proptest::proptest! {
        #[test]
        fn visitor_names_are_parsed_once(input in "\\PC{0,90}|[A-Za-z0-9._-]{0,90}") {
            if let Ok(name) = VisitorName::parse(&input) {
                proptest::prop_assert_eq!(VisitorName::parse(name.as_str()).ok(), Some(name.clone()));
                proptest::prop_assert!(name.as_str().is_ascii());
            }
        }
    }
}
