//! The HTTP toolkit: the layers every request goes through, extractors,
//! page rendering, the API's error shape, and the server itself. The
//! routes are put together in `assembly`.

pub mod api;
pub mod assets;
pub mod caller;
pub mod extract;
pub mod health;
pub mod logging;
pub mod pages;

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

use crate::app::App;

/// What every request goes through, whatever it asks for: metrics, the log
/// line and trace span, the request id, panics turned into 500s, Sentry;
/// and the health routes beside them, outside the request log.
pub fn with_operations(routes: Router<App>, state: App) -> Router {
    routes
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

/// A server bound to its port, zero2prod style: tests bind port 0 and ask
/// which port they got.
pub struct Server {
    listener: TcpListener,
    router: Router,
}

impl Server {
    pub async fn bind(addr: SocketAddr, router: Router) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self { listener, router })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}
