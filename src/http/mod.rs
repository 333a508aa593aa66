//! The HTTP server: state, router, middleware and start-up.

pub mod api;
mod assets;
pub mod extract;
pub mod health;
pub mod logging;
pub mod pages;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use base64::Engine;
use tokio::net::TcpListener;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::config::{Config, SecretKey};
use crate::db::Db;
use crate::features;
use crate::features::accounts::session_store::DbSessionStore;
use crate::templates::Templates;

/// What every handler can reach. Cheap to clone: everything is shared.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub templates: Arc<Templates>,
    pub secret: Arc<SecretKey>,
    pub visits: features::visits::Recorder,
    pub visitor_list: Arc<features::visits::ListCache>,
    pub lifecycle: Arc<health::Lifecycle>,
    pub maintenance: Arc<crate::maintenance::Switch>,
}

/// The whole application as a router, ready to serve.
pub fn router(state: AppState) -> Router {
    let routes = routes(&state);
    with_operations(routes, state)
}

/// Every page and API route, with what they share (sessions, the page
/// context, the body limit).
fn routes(state: &AppState) -> Router<AppState> {
    let sessions = SessionManagerLayer::new(DbSessionStore::new(state.db.clone()))
        .with_name("quire_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.secure_cookies())
        // Records are saved when they change (sign-in), not on every
        // request, so a session lasts 30 days from sign-in: no database
        // write per page view.
        .with_expiry(Expiry::OnInactivity(time::Duration::days(30)));

    let site = Router::new()
        .merge(features::accounts::web::routes())
        .merge(features::posts::web::routes())
        .merge(features::comments::web::routes())
        .merge(features::visits::web::routes())
        .merge(crate::jobs::web::routes())
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            pages::page_context,
        ))
        .layer(sessions);

    Router::new()
        .merge(assets::routes())
        .nest("/api", api::router(state))
        .merge(site)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
}

/// What every request goes through, whatever it asks for: metrics, the log
/// line and trace span, the request id, panics turned into 500s, Sentry;
/// and the health routes beside them, outside the request log.
pub fn with_operations(routes: Router<AppState>, state: AppState) -> Router {
    routes
        // A panicking handler answers 500 (and is reported) instead of
        // dropping the connection; innermost, so that answer is counted,
        // logged and carries the request id like any other.
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        // Counted only where metrics are served: no work per request otherwise.
        .layer(tower::util::option_layer(
            state
                .config
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
    pub async fn bind(addr: SocketAddr, state: AppState) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self {
            listener,
            router: router(state),
        })
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

/// A random URL-safe token of `bytes` bytes of entropy.
pub fn random_token(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}
