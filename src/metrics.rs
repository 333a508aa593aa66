//! Prometheus metrics, served on an address of their own
//! (`QUIRE_METRICS_BIND`, off by default) so they never face the public.
//!
//! Counters and histograms are recorded where things happen (requests, job
//! results, visits written) through the `metrics` facade; gauges that
//! describe state (the pool, the queue) are read when Prometheus scrapes.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use std::sync::OnceLock;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::db::Db;

const REQUESTS: &str = "quire_http_requests_total";
const DURATION: &str = "quire_http_request_duration_seconds";
const IN_FLIGHT: &str = "quire_http_requests_in_flight";
const POOL_ACQUIRE: &str = "quire_db_pool_acquire_seconds";
pub const JOBS_FINISHED: &str = "quire_jobs_finished_total";
pub const VISITS_WRITTEN: &str = "quire_visits_written_total";

/// The recorder is global to the process; installing it twice is a no-op.
fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(DURATION.into()),
                &[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            )
            .expect("the buckets are not empty")
            // Taking an idle connection is microseconds; waiting is the signal.
            .set_buckets_for_metric(
                Matcher::Full(POOL_ACQUIRE.into()),
                &[
                    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            )
            .expect("the buckets are not empty")
            .install_recorder()
            .expect("no other metrics recorder is installed")
    })
}

/// Counts each request by method, route template and status, and times it.
/// Without an installed recorder these calls cost next to nothing.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let in_flight = InFlight::start();
    let response = next.run(request).await;
    drop(in_flight);
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!(REQUESTS, &labels).increment(1);
    metrics::histogram!(DURATION, &labels).record(started.elapsed().as_secs_f64());
    response
}

/// One request in flight; a request whose client goes away is dropped
/// mid-way, and still leaves the gauge.
struct InFlight(metrics::Gauge);

impl InFlight {
    fn start() -> Self {
        let gauge = metrics::gauge!(IN_FLIGHT);
        gauge.increment(1);
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1);
    }
}

/// What refreshes the gauges that describe state (the job queue's), once
/// per scrape: given by the caller, so this module names no other.
pub type Refresh = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// Serves `GET /metrics` on `bind` until `shutdown` resolves.
pub async fn serve(
    bind: SocketAddr,
    db: Db,
    refresh: Refresh,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    handle();
    metrics::gauge!(
        "quire_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
        "commit" => option_env!("QUIRE_GIT_COMMIT").unwrap_or("unknown"),
    )
    .set(1.0);
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| anyhow::anyhow!("QUIRE_METRICS_BIND: cannot listen on {bind}: {e}"))?;
    tracing::info!(address = %bind, "serving metrics");
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state((db, refresh));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

async fn scrape(State((db, refresh)): State<(Db, Refresh)>) -> Response {
    let (size, idle) = db.pool_state();
    metrics::gauge!("quire_db_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("quire_db_pool_connections", "state" => "in_use")
        .set(f64::from(size.saturating_sub(idle)));
    refresh().await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle().render(),
    )
        .into_response()
}

/// Records how long each query waited for a database connection, from the
/// event sqlx logs on every acquire (the pool exposes no such counter; see
/// `Db::connect`, which turns the event on). A pool that is too small shows
/// here before it shows as timeouts.
pub struct PoolWaits;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for PoolWaits {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Waited(Option<f64>);
        impl tracing::field::Visit for Waited {
            fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
                if field.name() == "acquired_after_secs" {
                    self.0 = Some(value);
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut waited = Waited(None);
        event.record(&mut waited);
        if let Some(seconds) = waited.0 {
            metrics::histogram!(POOL_ACQUIRE).record(seconds);
        }
    }
}

/// What [`PoolWaits`] listens to.
pub fn pool_waits_filter() -> tracing_subscriber::filter::Targets {
    tracing_subscriber::filter::Targets::new()
        .with_target("sqlx::pool::acquire", tracing::Level::TRACE)
}
