//! Logs, traces and error reports.
//!
//! - Log lines, human-readable or JSON, on standard error; levels from
//!   `RUST_LOG`.
//! - OpenTelemetry traces over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is
//!   set: a span per request (continuing an incoming `traceparent`), per job
//!   (linked to the request that queued it) and per SQL query inside them.
//! - Errors to Sentry when `SENTRY_DSN` is set: every `error`-level event
//!   (5xx answers, failed jobs) and panics, tagged with the request id.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span as _, SpanContext, SpanKind, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::dispatcher::WeakDispatch;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{LogFormat, OtlpProtocol, TelemetrySettings, TraceConfig};

/// Keeps the exporters alive; dropping it sends what is still queued.
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
    _sentry: Option<sentry::ClientInitGuard>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.traces.take()
            && let Err(e) = provider.shutdown_with_timeout(Duration::from_secs(5))
        {
            eprintln!("warning: not every span was sent: {e}");
        }
    }
}

pub type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Starts logging, tracing and error reporting; call before the async
/// runtime starts, so that its threads report too. `secret_routes` are the
/// route templates whose paths hold a secret (a reset link), which reach
/// Sentry as their template only.
pub fn init(
    config: &TelemetrySettings,
    secret_routes: &'static [&'static str],
) -> anyhow::Result<Telemetry> {
    let sentry = init_sentry(config, secret_routes);
    let (layers, traces) = layers(config)?;
    // A second initialisation (as in tests) is not an error worth failing for.
    if tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .is_ok()
    {
        tracing::dispatcher::get_default(|dispatch| {
            let _ = DISPATCH.set(dispatch.downgrade());
        });
    }
    Ok(Telemetry {
        traces,
        _sentry: sentry,
    })
}

/// Every layer the process's subscriber is made of, and the trace exporter
/// when traces are on (which must be shut down to send what it holds).
pub fn layers(
    config: &TelemetrySettings,
) -> anyhow::Result<(Vec<BoxedLayer>, Option<SdkTracerProvider>)> {
    let mut layers: Vec<BoxedLayer> = vec![log_lines(config.log_format), sentry_events()];
    if config.pool_waits {
        layers.push(
            crate::metrics::PoolWaits
                .with_filter(crate::metrics::pool_waits_filter())
                .boxed(),
        );
    }
    let traces = match config.traces.traces_url() {
        Some(url) => {
            let (provider, tracer) = tracer(&config.traces, &url)?;
            layers.extend(trace_layers(tracer, config.postgres));
            Some(provider)
        }
        None => None,
    };
    Ok((layers, traces))
}

/// `error` events become Sentry events — one per failure, from where it is
/// logged with its cause. Not the request line of a 5xx (its cause was
/// reported), the panic catcher's line (the panic itself is), nor the trace
/// exporter's complaints (a collector that is down is not the site's error,
/// and would report every few seconds). Without a DSN the layer has no
/// client and does nothing.
fn sentry_events() -> BoxedLayer {
    sentry::integrations::tracing::ErrorLayer::new()
        .with_filter(
            Targets::new()
                .with_default(Level::ERROR)
                .with_target("quire::http::logging", LevelFilter::OFF)
                .with_target("tower_http::catch_panic", LevelFilter::OFF)
                .with_target("opentelemetry", LevelFilter::OFF)
                .with_target("opentelemetry_sdk", LevelFilter::OFF)
                .with_target("opentelemetry_otlp", LevelFilter::OFF)
                .with_target("opentelemetry_http", LevelFilter::OFF),
        )
        .boxed()
}

fn log_lines(format: LogFormat) -> BoxedLayer {
    // A filter on this layer only: the trace layers see SQL queries even
    // when the log shows none of them.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .with_filter(filter)
            .boxed(),
        // Colours only on a terminal: a log file or collector gets plain text.
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(filter)
            .boxed(),
    }
}

/// Starts the Sentry client when `SENTRY_DSN` is set, reporting panics as
/// well as what the tracing layer sends. Keep the guard until exit: it
/// flushes what is queued. Personal data (cookies, addresses) is not sent.
pub fn init_sentry(
    config: &TelemetrySettings,
    secret_routes: &'static [&'static str],
) -> Option<sentry::ClientInitGuard> {
    let mut options = sentry::ClientOptions::default();
    options.dsn = Some(config.sentry_dsn.clone()?);
    options.send_default_pii = false;
    // Sentry's client reads SENTRY_RELEASE only when no release is given.
    options.release = Some(
        std::env::var("SENTRY_RELEASE")
            .ok()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| concat!("quire@", env!("CARGO_PKG_VERSION")).to_owned())
            .into(),
    );
    // Paths with a secret in them (a reset link, an unsubscribe link) are
    // never logged; nor are they sent with an error.
    options.before_send = Some(std::sync::Arc::new(move |mut event| {
        if let Some(url) = event.request.as_mut().and_then(|r| r.url.as_mut()) {
            let secret = secret_routes.iter().copied().find(|route| {
                url.path()
                    .starts_with(route.split('{').next().unwrap_or(route))
            });
            if let Some(route) = secret {
                url.set_path(route);
            }
            url.set_query(None);
        }
        Some(event)
    }));
    Some(sentry::init(options))
}

/// The OTLP exporter behind a batch processor, which sends from its own
/// thread so that no request waits on the collector.
fn tracer(config: &TraceConfig, url: &url::Url) -> anyhow::Result<(SdkTracerProvider, SdkTracer)> {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    let protocol = match config.protocol {
        OtlpProtocol::HttpProtobuf => Protocol::HttpBinary,
        OtlpProtocol::HttpJson => Protocol::HttpJson,
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_endpoint(url.as_str())
        .build()
        .map_err(|e| anyhow::anyhow!("OTEL_EXPORTER_OTLP_ENDPOINT: {e}"))?;
    let resource = || {
        opentelemetry_sdk::Resource::builder()
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
    };
    let resource = match &config.service_name {
        Some(name) => resource().with_service_name(name.clone()).build(),
        None => {
            // The SDK names an unnamed service `unknown_service`; it is ours.
            let detected = resource().build();
            let named = detected
                .get(&opentelemetry::Key::from_static_str("service.name"))
                .is_some_and(|n| !n.as_str().starts_with("unknown_service"));
            if named {
                detected
            } else {
                resource().with_service_name("quire").build()
            }
        }
    };
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("quire");
    Ok((provider, tracer))
}

fn trace_layers(tracer: SdkTracer, postgres: bool) -> [BoxedLayer; 2] {
    // Quire's own spans only: the exporter's HTTP client has spans too,
    // and tracing those would send spans about sending spans.
    let spans = tracing_opentelemetry::layer()
        .with_tracer(tracer.clone())
        .with_filter(Targets::new().with_target("quire", Level::INFO))
        .boxed();
    let queries = SqlSpans {
        tracer,
        system: if postgres { "postgresql" } else { "sqlite" },
    }
    .with_filter(Targets::new().with_target("sqlx::query", Level::TRACE))
    .boxed();
    [spans, queries]
}

/// Turns the event sqlx logs after each query into a span of the query's
/// duration, under the request's or job's span. sqlx makes no spans of its
/// own, and wrapping every call site would be noise; this is the one place
/// that sees every query. Queries outside a traced request or job (the
/// worker polling, the visit recorder's flushes) make no spans.
struct SqlSpans {
    tracer: SdkTracer,
    system: &'static str,
}

/// The process's subscriber, for [`SqlSpans`] to look spans up in. Set once
/// it is installed: a `Vec` of layers does not pass it on to its layers
/// (`on_register_dispatch`), and inside an event the usual way to reach it
/// answers "none".
static DISPATCH: OnceLock<WeakDispatch> = OnceLock::new();

impl<S: Subscriber> Layer<S> for SqlSpans {
    fn on_event(&self, event: &Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let Some(dispatch) = DISPATCH.get().and_then(WeakDispatch::upgrade) else {
            return;
        };
        let Some(parent) = traced_ancestor(&dispatch, event) else {
            return;
        };
        let mut query = Query::default();
        event.record(&mut query);
        let end = SystemTime::now();
        let start = end.checked_sub(query.elapsed).unwrap_or(end);
        let text = query.text();
        if text.is_empty() {
            // sqlx logs some protocol steps without a statement; a span
            // without a name or text tells nobody anything.
            return;
        }
        let operation = text.split_whitespace().next().unwrap_or("").to_uppercase();
        let name = match query.table(text) {
            Some(table) => format!("{operation} {table}"),
            None => operation.clone(),
        };
        let mut span = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .with_start_time(start)
            .with_attributes([
                KeyValue::new("db.system.name", self.system),
                KeyValue::new("db.operation.name", operation),
                // Placeholders, never values: no bound parameter is here.
                KeyValue::new("db.query.text", text.to_owned()),
                KeyValue::new("db.response.returned_rows", query.rows as i64),
            ])
            .start_with_context(&self.tracer, &parent);
        span.end_with_timestamp(end);
    }
}

/// The OpenTelemetry context of the nearest traced span (a request's, a
/// job's) at or above where `event` happened. Not simply the current
/// OpenTelemetry context: SQLite runs queries on a thread of its own, which
/// enters only the caller's innermost span, and that may be another crate's
/// that the trace layer does not see (tower-sessions', when RUST_LOG shows
/// it). So the walk goes through the registry itself, unfiltered.
fn traced_ancestor(dispatch: &tracing::Dispatch, event: &Event<'_>) -> Option<Context> {
    let registry = dispatch.downcast_ref::<Registry>()?;
    let id = match event.parent() {
        Some(id) => id.clone(),
        None if event.is_contextual() => dispatch.current_span().id()?.clone(),
        None => return None,
    };
    registry.span(&id)?.scope().find_map(|span| {
        tracing_opentelemetry::get_otel_context(&span.id(), dispatch)
            .filter(|cx| cx.has_active_span())
    })
}

/// The fields of sqlx's query event.
#[derive(Default)]
struct Query {
    summary: String,
    statement: String,
    rows: u64,
    elapsed: Duration,
}

impl Query {
    /// The whole statement: sqlx gives it separately only when its summary
    /// (the first words) is shorter.
    fn text(&self) -> &str {
        match self.statement.trim() {
            "" => &self.summary,
            statement => statement,
        }
    }

    /// The table a statement works on, for the span's name.
    fn table<'a>(&self, text: &'a str) -> Option<&'a str> {
        let mut words = text.split_whitespace();
        while let Some(word) = words.next() {
            if ["FROM", "INTO", "UPDATE"]
                .iter()
                .any(|k| word.eq_ignore_ascii_case(k))
            {
                return words
                    .next()
                    .map(|t| t.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_')));
            }
        }
        None
    }
}

impl Visit for Query {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_owned(),
            "db.statement" => self.statement = value.to_owned(),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "rows_returned" {
            self.rows = value;
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed = Duration::try_from_secs_f64(value).unwrap_or_default();
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

/// The W3C `traceparent` of the span being run, if it is traced: stored
/// with a job so that the job's span can link back to it.
pub fn current_traceparent() -> Option<String> {
    let cx = Context::current();
    if !cx.has_active_span() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove("traceparent")
}

/// The span a stored `traceparent` names (invalid if it is malformed).
pub fn span_context(traceparent: &str) -> SpanContext {
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    TraceContextPropagator::new()
        .extract_with_context(&Context::new(), &carrier)
        .span()
        .span_context()
        .clone()
}

/// The trace context an incoming request carries in its `traceparent`
/// header (empty when it has none).
pub fn incoming_context(headers: &axum::http::HeaderMap) -> Context {
    TraceContextPropagator::new().extract_with_context(
        &Context::new(),
        &opentelemetry_http::HeaderExtractor(headers),
    )
}
