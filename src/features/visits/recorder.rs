//! Group commit: visits arriving while a transaction is being written wait
//! in a queue and are all written by the next one. One task per process
//! owns the writing; under load a transaction carries hundreds of visits,
//! so the cost of a commit (an fsync, a round trip) is shared by all of them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{Visitor, VisitorName};
use crate::db::{self, Db, Query, Timestamp, Tx};
use crate::error::{AppError, AppResult};

/// The most visits written by one transaction.
const MAX_BATCH: usize = 2048;
/// Rows per INSERT statement: well under both backends' parameter limits.
const ROWS_PER_INSERT: usize = 500;

/// A visitor's total right after one particular visit.
pub type VisitorCount = Visitor;

enum Visit {
    /// A visitor API call; answered once its visit is committed.
    Visitor {
        name: VisitorName,
        reply: oneshot::Sender<AppResult<VisitorCount>>,
    },
    /// A view of a post; nobody waits for it.
    PostView { post_id: i64, viewer: String },
    /// Answered once everything queued before it is committed.
    Flush(oneshot::Sender<()>),
}

/// The handle request handlers use; cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::Sender<Visit>,
    /// Counts the batches this process has committed, so that a cached
    /// read of the totals knows when it is out of date.
    generation: Arc<AtomicU64>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recorder")
    }
}

impl Recorder {
    /// Starts the writing task. It ends when every handle is dropped, after
    /// writing what is queued.
    pub fn start(db: Db) -> Self {
        let (queue, receiver) = mpsc::channel(64 * 1024);
        let generation = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(db, receiver, generation.clone()));
        Self { queue, generation }
    }

    /// Changes whenever this process commits visits (before any of them is
    /// acknowledged).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Records a visit of `name` and returns their total including it, once
    /// it is committed.
    pub async fn visit(&self, name: VisitorName) -> AppResult<VisitorCount> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Visit::Visitor { name, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Records a view of a post without waiting: reading a post never waits
    /// on a write. It is committed with the next batch.
    pub fn view(&self, post_id: i64, viewer: String) {
        if let Err(e) = self.queue.try_send(Visit::PostView { post_id, viewer }) {
            // Only when tens of thousands of views are queued: the database
            // is far behind, and shedding a view beats stalling readers.
            tracing::warn!(error = %e, "post view dropped: the visit queue is full");
        }
    }

    /// Waits until everything recorded so far is committed.
    pub async fn flush(&self) {
        let (reply, done) = oneshot::channel();
        if self.queue.send(Visit::Flush(reply)).await.is_ok() {
            let _ = done.await;
        }
    }
}

fn stopped() -> AppError {
    AppError::Internal(anyhow::anyhow!("the visit recorder has stopped"))
}

async fn run(db: Db, mut receiver: mpsc::Receiver<Visit>, generation: Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        write_batch(&db, std::mem::take(&mut batch), &generation).await;
    }
}

async fn write_batch(db: &Db, batch: Vec<Visit>, generation: &AtomicU64) {
    let mut visitors: HashMap<VisitorName, Vec<oneshot::Sender<AppResult<VisitorCount>>>> =
        HashMap::new();
    let mut order: Vec<VisitorName> = Vec::new();
    let mut views: Vec<(i64, String)> = Vec::new();
    let mut flushes = Vec::new();
    for visit in batch {
        match visit {
            Visit::Visitor { name, reply } => {
                let replies = visitors.entry(name.clone()).or_default();
                if replies.is_empty() {
                    order.push(name);
                }
                replies.push(reply);
            }
            Visit::PostView { post_id, viewer } => views.push((post_id, viewer)),
            Visit::Flush(reply) => flushes.push(reply),
        }
    }
    let counts: Vec<(&VisitorName, i64)> = order
        .iter()
        .map(|n| (n, visitors[n].len() as i64))
        .collect();
    let mut attempt = 0;
    let result = loop {
        match commit(db, &counts, &views).await {
            Ok(totals) => break Ok(totals),
            // A deadlock or serialization failure between processes is
            // worth one more try; anything else is reported.
            Err(e) if attempt < 2 && is_retryable(&e) => attempt += 1,
            Err(e) => break Err(e),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    match result {
        Ok(totals) => {
            generation.fetch_add(1, Ordering::AcqRel);
            let visits: usize = visitors.values().map(Vec::len).sum();
            metrics::counter!(crate::metrics::VISITS_WRITTEN, "of" => "visitor")
                .increment(visits as u64);
            metrics::counter!(crate::metrics::VISITS_WRITTEN, "of" => "post")
                .increment(views.len() as u64);
            for visitor in totals {
                let name = VisitorName(visitor.username.clone());
                let replies = visitors.remove(&name).unwrap_or_default();
                let k = replies.len() as i64;
                // The i-th visit of this batch saw the total before it plus i.
                for (i, reply) in replies.into_iter().enumerate() {
                    let _ = reply.send(Ok(Visitor {
                        visits: visitor.visits - k + 1 + i as i64,
                        ..visitor.clone()
                    }));
                }
            }
        }
        Err(e) => {
            let visits = views.len() + counts.len();
            let error = match db::trouble(&e) {
                // The database is away or full: its own kind of answer
                // (503), and the breaker or the operator's alert says so once.
                Some(trouble) => {
                    tracing::debug!(error = %e, visits, "writing visits failed");
                    AppError::Unavailable(trouble, Arc::new(e))
                }
                None => {
                    tracing::error!(error = ?e, visits, "writing visits failed");
                    AppError::Internal(anyhow::anyhow!("writing the visit failed: {e}"))
                }
            };
            for reply in visitors.into_values().flatten() {
                let _ = reply.send(Err(match &error {
                    AppError::Unavailable(trouble, e) => AppError::Unavailable(*trouble, e.clone()),
                    _ => AppError::Internal(anyhow::anyhow!("writing the visit failed")),
                }));
            }
        }
    }
    for reply in flushes {
        let _ = reply.send(());
    }
}

fn is_retryable(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "40P01" || code == "40001")
}

/// Writes one batch: the events and the totals, all or nothing.
async fn commit(
    db: &Db,
    counts: &[(&VisitorName, i64)],
    views: &[(i64, String)],
) -> Result<Vec<Visitor>, sqlx::Error> {
    let now = Timestamp::now();
    if db.dialect() == db::Dialect::Postgres {
        return commit_as_one_statement(db, now, counts, views).await;
    }
    // One upsert per post, in post order.
    let mut view_totals: std::collections::BTreeMap<i64, i64> = Default::default();
    for (post_id, _) in views {
        *view_totals.entry(*post_id).or_default() += 1;
    }
    // One upsert adds each visitor's batch count to their total (creating
    // the visitor on their first visit) and returns the new totals.
    let upsert = (!counts.is_empty()).then(|| {
        format!(
            "INSERT INTO visitors (username, visits, created_at) {}
             ON CONFLICT (username) DO UPDATE SET visits = visitors.visits + excluded.visits
             RETURNING id, username, visits",
            values_rows(counts.len(), 3)
        )
    });
    let mut tx = db.begin().await?;
    let totals = record(&mut tx, now, upsert, counts, views, &view_totals).await?;
    tx.commit().await?;
    Ok(totals)
}

/// PostgreSQL: the whole batch as one data-modifying statement, in
/// autocommit. A transaction of separate statements costs a round trip
/// each (BEGIN, the upsert, the events, the views, COMMIT), and on
/// PostgreSQL every round trip wakes a backend process: measured, those
/// wake-ups and not the SQL were where the time went. The batch travels as
/// two JSON parameters, so the statement has one shape whatever the batch
/// size and each connection prepares it once. SQLite has no
/// data-modifying `WITH` and no round trips, so it keeps the transaction.
async fn commit_as_one_statement(
    db: &Db,
    now: Timestamp,
    counts: &[(&VisitorName, i64)],
    views: &[(i64, String)],
) -> Result<Vec<Visitor>, sqlx::Error> {
    #[derive(serde::Serialize)]
    struct Count<'a> {
        username: &'a str,
        k: i64,
    }
    #[derive(serde::Serialize)]
    struct View<'a> {
        post_id: i64,
        viewer: &'a str,
    }
    let mut counts: Vec<Count> = counts
        .iter()
        .map(|(name, k)| Count {
            username: name.as_str(),
            k: *k,
        })
        .collect();
    // Rows are locked in one order in every process: no deadlocks.
    counts.sort_by(|a, b| a.username.cmp(b.username));
    let views: Vec<View> = views
        .iter()
        .map(|(post_id, viewer)| View {
            post_id: *post_id,
            viewer,
        })
        .collect();
    // Plain structs of strings and numbers: encoding cannot fail.
    let counts = serde_json::to_string(&counts).expect("encodable");
    let views = serde_json::to_string(&views).expect("encodable");
    Query::assembled(
        "WITH batch AS (
             SELECT username, k FROM json_to_recordset($1::json) AS b(username TEXT, k BIGINT)
         ), totals AS (
             INSERT INTO visitors (username, visits, created_at)
             SELECT username, k, $3 FROM batch ORDER BY username
             ON CONFLICT (username) DO UPDATE SET visits = visitors.visits + excluded.visits
             RETURNING id, username, visits
         ), events AS (
             INSERT INTO visits (visitor_id, at)
             SELECT totals.id, $3 FROM totals JOIN batch USING (username),
                    generate_series(1, batch.k)
         ), viewed AS (
             -- Posts deleted since their view was queued are skipped.
             SELECT v.post_id, v.viewer FROM json_to_recordset($2::json) AS v(post_id BIGINT, viewer TEXT)
             WHERE EXISTS (SELECT 1 FROM posts p WHERE p.id = v.post_id)
         ), view_events AS (
             INSERT INTO visits (post_id, viewer, at) SELECT post_id, viewer, $3 FROM viewed
         ), view_totals AS (
             INSERT INTO post_views (post_id, views)
             SELECT post_id, COUNT(*) FROM viewed GROUP BY post_id ORDER BY post_id
             ON CONFLICT (post_id) DO UPDATE SET views = post_views.views + excluded.views
         )
         SELECT id, username, visits FROM totals"
            .to_owned(),
    )
    .bind(counts)
    .bind(views)
    .bind(now)
    .fetch_all(db)
    .await
}

/// The statements of one batch, inside its transaction.
async fn record(
    tx: &mut Tx,
    now: Timestamp,
    upsert: Option<String>,
    counts: &[(&VisitorName, i64)],
    views: &[(i64, String)],
    view_totals: &std::collections::BTreeMap<i64, i64>,
) -> Result<Vec<Visitor>, sqlx::Error> {
    let mut totals: Vec<Visitor> = Vec::new();
    if let Some(sql) = upsert {
        let mut query = Query::assembled(sql);
        for (name, k) in counts {
            query = query.bind(name.as_str()).bind(*k).bind(now);
        }
        totals = query.fetch_all(&mut *tx).await?;
        // One event per visit.
        let events: Vec<i64> = totals
            .iter()
            .flat_map(|v| {
                let k = counts
                    .iter()
                    .find(|(n, _)| n.as_str() == v.username)
                    .map_or(0, |(_, k)| *k);
                std::iter::repeat_n(v.id, k as usize)
            })
            .collect();
        for chunk in events.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO visits (visitor_id, at) {}",
                values_rows(chunk.len(), 2)
            );
            let mut query = Query::assembled(sql);
            for id in chunk {
                query = query.bind(*id).bind(now);
            }
            query.execute(&mut *tx).await?;
        }
    }
    // Posts deleted since their view was queued are skipped.
    for chunk in views.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            // VALUES names its columns column1, column2… on both backends.
            "INSERT INTO visits (post_id, viewer, at)
             SELECT v.column1, v.column2, v.column3 FROM ({}) AS v
             WHERE EXISTS (SELECT 1 FROM posts p WHERE p.id = v.column1)",
            values_rows(chunk.len(), 3)
        );
        let mut query = Query::assembled(sql);
        for (post_id, viewer) in chunk {
            query = query.bind(*post_id).bind(viewer.as_str()).bind(now);
        }
        query.execute(&mut *tx).await?;
    }
    for (post_id, n) in view_totals {
        db::query(
            "INSERT INTO post_views (post_id, views) SELECT $1, $2 WHERE EXISTS (SELECT 1 FROM posts WHERE id = $1)
             ON CONFLICT (post_id) DO UPDATE SET views = post_views.views + excluded.views",
        )
        .bind(*post_id)
        .bind(*n)
        .execute(&mut *tx)
        .await?;
    }
    Ok(totals)
}

/// `VALUES ($1, $2), ($3, $4)` for `rows` rows of `columns` placeholders.
fn values_rows(rows: usize, columns: usize) -> String {
    let rows: Vec<String> = (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=columns)
                .map(|c| format!("${}", r * columns + c))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect();
    format!("VALUES {}", rows.join(", "))
}
