//! Domain events: a change that others care about (an account made, a
//! comment posted, a post going live) is recorded by the feature that makes
//! it, in the same transaction, with [`record`]. A [`Deliver`] job, queued
//! in that transaction for the event's time, hands it to every subscriber
//! of its kind (registered by the assembly: [`Registry::subscribe`]). So a
//! new subscriber (a feed cache, federation, a newsletter) needs no change
//! to the feature that emits the event, and nothing is lost when a process
//! dies between the change and its effects.
//!
//! Delivery is at least once: a subscriber that fails makes the delivery
//! retry, and every subscriber of the event runs again. Subscribers must
//! therefore be idempotent; today's queue jobs with dedup keys.

use std::future::Future;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use tracing::Instrument;

use std::sync::Arc;

use super::{NewJob, ORIGIN, Registry};
use crate::app::App;
use crate::db::{Timestamp, Tx, query};

/// A kind of event. The value is its payload, stored as JSON beside `KIND`.
pub trait Event: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The name stored in the `kind` column: never change it.
    const KIND: &'static str;

    /// Whether the event still stands at `occurs_at`, when it is delivered:
    /// a post scheduled for then may have been unpublished or moved since,
    /// and then nothing is delivered.
    fn still_stands(
        &self,
        _app: &App,
        _occurs_at: Timestamp,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send {
        async { Ok(true) }
    }
}

/// Records `event` in the caller's transaction, to be delivered to its
/// subscribers at `occurs_at` (now, or a scheduled post's publication).
pub async fn record<E: Event>(
    tx: &mut Tx,
    event: &E,
    occurs_at: Timestamp,
) -> Result<(), sqlx::Error> {
    let payload = serde_json::to_string(event).expect("events serialise to JSON");
    let id: i64 = query(
        "INSERT INTO events (kind, payload, occurs_at, trace_parent, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(E::KIND)
    .bind(payload)
    .bind(occurs_at)
    .bind(crate::telemetry::current_traceparent())
    .bind(Timestamp::now())
    .scalar(&mut *tx)
    .await?;
    let deliver = NewJob::new(Deliver::KIND, &Deliver { event_id: id })
        .at(occurs_at)
        .dedup(format!("event:{id}"));
    super::enqueue(&mut *tx, &deliver).await?;
    Ok(())
}

/// The job that hands one event to the subscribers of its kind; every
/// registry runs it (`Registry::default`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Deliver {
    pub event_id: i64,
}

#[derive(FromRow)]
struct Recorded {
    kind: String,
    payload: String,
    occurs_at: Timestamp,
    trace_parent: Option<String>,
}

impl Deliver {
    pub const KIND: &'static str = "deliver_event";

    pub(super) async fn run(self, app: App, registry: Arc<Registry>) -> anyhow::Result<()> {
        let recorded: Option<Recorded> = query(
            "SELECT kind, payload, occurs_at, trace_parent FROM events
             WHERE id = $1 AND delivered_at IS NULL",
        )
        .bind(self.event_id)
        .fetch_optional(&app.db)
        .await?;
        // Delivered already (a retry after the stamp), or purged.
        let Some(recorded) = recorded else {
            return Ok(());
        };
        let kind = registry.event_kind(&recorded.kind)?;
        if !(kind.stands)(app.clone(), recorded.payload.clone(), recorded.occurs_at).await? {
            tracing::info!(event = self.event_id, kind = %recorded.kind, "event no longer stands; not delivered");
            return Ok(());
        }
        for (name, subscriber) in &kind.subscribers {
            let work = subscriber(app.clone(), recorded.payload.clone())?;
            let span = tracing::info_span!("subscriber", name = %name, event = self.event_id);
            // Jobs the subscriber queues link to the request that made the
            // change, not to this delivery.
            ORIGIN
                .scope(recorded.trace_parent.clone(), work.instrument(span))
                .await
                .map_err(|e| e.context(format!("subscriber {name}")))?;
        }
        query("UPDATE events SET delivered_at = $1 WHERE id = $2")
            .bind(Timestamp::now())
            .bind(self.event_id)
            .execute(&app.db)
            .await?;
        Ok(())
    }
}

impl Registry {
    /// Makes events of kind `E` deliverable; subscribe to them with
    /// [`Registry::subscribe`].
    pub fn event<E: Event>(&mut self) -> &mut Self {
        let stands: super::Stands = Box::new(|app: App, payload: String, occurs_at| {
            Box::pin(async move {
                let event: E = super::decode(E::KIND, &payload).map_err(anyhow::Error::msg)?;
                event.still_stands(&app, occurs_at).await
            })
        });
        let previous = self.events.insert(
            E::KIND,
            super::EventKind {
                stands,
                subscribers: Vec::new(),
            },
        );
        assert!(
            previous.is_none(),
            "event kind {:?} registered twice",
            E::KIND
        );
        self
    }

    /// Runs `subscriber` for every event of kind `E`, under `name` (in logs
    /// and errors). It must be idempotent: delivery is at least once.
    pub fn subscribe<E, F, Fut>(&mut self, name: &'static str, subscriber: F) -> &mut Self
    where
        E: Event,
        F: Fn(App, E) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let kind = self
            .events
            .get_mut(E::KIND)
            .unwrap_or_else(|| panic!("register the event {} first", E::KIND));
        kind.subscribers.push((
            name,
            Box::new(move |app: App, payload: String| {
                let event: E = super::decode(E::KIND, &payload).map_err(anyhow::Error::msg)?;
                Ok(Box::pin(subscriber(app, event)))
            }),
        ));
        self
    }
}

/// How long events are kept once delivered (or past their time, if they no
/// longer stood): long enough to look at what happened.
const KEEP: time::Duration = time::Duration::days(30);

/// Deletes old events; returns how many.
pub async fn purge(db: &crate::db::Db, now: Timestamp) -> Result<u64, sqlx::Error> {
    query(
        "DELETE FROM events WHERE occurs_at < $1 AND (delivered_at IS NOT NULL OR created_at < $1)",
    )
    .bind(now - KEEP)
    .execute(db)
    .await
}
