//! The HTTP toolkit: the layers every request goes through, extractors,
//! page rendering, the API's error shape, and the server itself. The
//! routes are put together in `assembly`.

pub mod api;
pub mod assets;
pub mod cache;
pub mod caller;
pub mod extract;
pub mod gate;
pub mod health;
pub mod limit;
pub mod logging;
pub mod nav;
pub mod pages;
pub mod security;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::app::App;

/// What every request goes through, whatever it asks for: metrics, the log
/// line and trace span, the request id, panics turned into 500s, Sentry;
/// and the health routes beside them, outside the request log.
pub fn with_operations(routes: Router<App>, state: App) -> Router {
    routes
        .layer(axum::middleware::from_fn_with_state(
            security::SecurityHeaders::new(&state.settings.http),
            security::add,
        ))
        // A body that pauses longer than QUIRE_BODY_TIMEOUT is cut off: the
        // request is refused rather than holding its connection.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.settings.http.body_timeout,
        ))
        // A panicking handler answers 500 (and is reported) instead of
        // dropping the connection; innermost, so that answer is counted,
        // logged and carries the request id like any other.
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        // Counted only where metrics are served: no work per request otherwise.
        .layer(tower::util::option_layer(
            state
                .settings
                .http
                .metrics_bind
                .is_some()
                .then(|| axum::middleware::from_fn(crate::metrics::track)),
        ))
        .layer(axum::middleware::from_fn(logging::user_slot))
        .layer(logging::trace_layer())
        .layer(tower_http::request_id::PropagateRequestIdLayer::new(
            logging::REQUEST_ID,
        ))
        .layer(axum::middleware::map_request(logging::request_id))
        // Each request reports to Sentry through a hub of its own, so the
        // request id tagged on it stays with its own events.
        .layer(sentry::integrations::tower::SentryHttpLayer::new())
        .layer(sentry::integrations::tower::NewSentryLayer::new_from_top())
        // Health checks come every few seconds from every balancer: they
        // stay out of the request log.
        .merge(health::routes())
        .with_state(state)
}

/// What a connection may cost the server: how long a client may take to
/// send a request's headers (and how long an idle keep-alive connection
/// stays open), and how many connections are served at once. A slow client
/// holds a connection for at most the timeout, and at most `max` are held;
/// more wait to be accepted.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub max: usize,
}

impl ConnectionLimits {
    pub fn of(http: &crate::config::HttpSettings) -> Self {
        Self {
            header_timeout: http.header_timeout,
            max: http.max_connections,
        }
    }
}

/// A server bound to its port, zero2prod style: tests bind port 0 and ask
/// which port they got.
pub struct Server {
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
}

impl Server {
    pub async fn bind(
        addr: SocketAddr,
        router: Router,
        limits: ConnectionLimits,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self {
            listener,
            router,
            limits,
        })
    }

    /// A server on a socket already bound: its address can be known (and
    /// made the site's public URL) before the router is built.
    pub fn on(listener: TcpListener, router: Router, limits: ConnectionLimits) -> Self {
        Self {
            listener,
            router,
            limits,
        }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    ///
    /// The accept loop is axum's `serve` with what it does not offer: a
    /// header read timeout (hyper has one, but it needs a timer axum does
    /// not give it) and a cap on connections. HTTP/1.1 only: hyper-util's
    /// automatic HTTP/2 detection reads the first bytes with no timeout, so
    /// a client that sends nothing would hold its connection forever; and
    /// what talks to Quire is a proxy (HTTP/1.1 to its upstreams) or a
    /// browser, which speaks HTTP/2 only over TLS, which Quire leaves to
    /// the proxy.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self {
            listener,
            router,
            limits,
        } = self;
        let slots = Arc::new(Semaphore::new(limits.max));
        let graceful = GracefulShutdown::new();
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        tokio::pin!(shutdown);
        loop {
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                () = &mut shutdown => break,
            };
            let (stream, remote) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors, say: wait a little rather
                        // than spin, as axum's own loop does.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let service =
                router
                    .clone()
                    .map_request(move |mut request: axum::extract::Request<Incoming>| {
                        request.extensions_mut().insert(ConnectInfo(remote));
                        request.map(axum::body::Body::new)
                    });
            let connection = graceful.watch(
                builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)),
            );
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                drop(slot);
            });
        }
        drop(listener);
        graceful.shutdown().await;
        Ok(())
    }
}
