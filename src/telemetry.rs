//! Logging and error reporting: human-readable or JSON lines on standard
//! error (levels from `RUST_LOG`), and, when `SENTRY_DSN` is set, errors to
//! Sentry: every `error`-level event (5xx answers, failed jobs) and panics,
//! tagged with the request id.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    let lines = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .boxed(),
        // Colours only on a terminal: a log file or collector gets plain text.
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed(),
    };
    // `error` events become Sentry events; without a DSN the layer has no
    // client and does nothing.
    let sentry = sentry::integrations::tracing::ErrorLayer::new()
        .with_filter(tracing_subscriber::filter::LevelFilter::ERROR);
    // A second initialisation (as in tests) is not an error worth failing for.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(lines)
        .with(sentry)
        .try_init();
}

/// Starts the Sentry client when `SENTRY_DSN` is set (and `SENTRY_ENVIRONMENT`,
/// `SENTRY_RELEASE` if given). Keep the guard until exit: it flushes what is
/// queued. Personal data (cookies, addresses) is not sent.
pub fn init_sentry() -> Option<sentry::ClientInitGuard> {
    std::env::var("SENTRY_DSN").ok().filter(|d| !d.is_empty())?;
    let mut options = sentry::ClientOptions::default();
    options.release = Some(concat!("quire@", env!("CARGO_PKG_VERSION")).into());
    options.send_default_pii = false;
    // The DSN, environment and release come from SENTRY_* when set.
    Some(sentry::init(options))
}
