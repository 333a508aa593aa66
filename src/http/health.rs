//! Liveness and readiness, for load balancers, orchestrators and
//! `quire healthcheck`. Served outside every other layer: no sessions, no
//! maintenance mode, no request body.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;

use crate::app::App;
use crate::db::MigrationState;

/// How long readiness waits for the database before calling it unavailable.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

pub fn routes() -> Router<App> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// Liveness: the process answers.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

fn not_ready(status: &str, reason: String) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": status, "reason": reason })),
    )
        .into_response()
}

/// Readiness: not draining, the database answers, and every migration this
/// version knows is applied. Newer ones (the next release's, during a
/// rolling deploy) are fine: migrations are expand/contract.
async fn readyz(State(state): State<App>) -> Response {
    if state.lifecycle.is_draining() {
        return not_ready("draining", "the process is shutting down".into());
    }
    let migrations = match tokio::time::timeout(DATABASE_TIMEOUT, state.db.migration_status()).await
    {
        Err(_) => {
            return not_ready(
                "unavailable",
                format!(
                    "the database did not answer within {} s",
                    DATABASE_TIMEOUT.as_secs()
                ),
            );
        }
        Ok(Err(e)) => return not_ready("unavailable", format!("the database: {e}")),
        Ok(Ok(migrations)) => migrations,
    };
    let mismatched: Vec<String> = migrations
        .iter()
        .filter(|m| !matches!(m.state, MigrationState::Applied | MigrationState::Newer))
        .map(|m| format!("{} {}", m.version, format!("{:?}", m.state).to_lowercase()))
        .collect();
    if !mismatched.is_empty() {
        return not_ready(
            "unavailable",
            format!("migrations not current: {}", mismatched.join(", ")),
        );
    }
    Json(json!({ "status": "ready" })).into_response()
}
