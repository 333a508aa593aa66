//! `/admin/jobs`: what the queue holds, and the failed jobs with buttons to
//! retry or discard them. Administrators only.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::context;
use minijinja::value::Serde;

use crate::app::App;
use crate::error::{AppError, AppResult, Thing};
use crate::features::accounts::extract::Admin;
use crate::http::extract::{CsrfForm, NoFields};
use crate::http::pages::PageCtx;

use crate::jobs::{self, STATES};
/// Failed jobs listed at most; older ones wait behind these.
const FAILED_SHOWN: i64 = 100;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/admin/jobs", get(page))
        .route("/admin/jobs/{id}/{action}", post(act))
}

async fn render(state: &App, ctx: &PageCtx, done: Option<String>) -> AppResult<Response> {
    // One row per kind, one column per state.
    let mut by_kind: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for count in jobs::counts(&state.db).await? {
        by_kind
            .entry(count.kind)
            .or_default()
            .insert(count.state, count.jobs);
    }
    let counts: Vec<minijinja::Value> = by_kind
        .into_iter()
        .map(|(kind, states)| context! { kind, ..minijinja::Value::from(states) })
        .collect();
    let failed = jobs::failed(&state.db, FAILED_SHOWN).await?;
    Ok(ctx.render(
        state,
        "admin_jobs.html",
        context! { counts, states => STATES, failed => Serde(failed), done },
    ))
}

async fn page(State(state): State<App>, ctx: PageCtx, Admin(_): Admin) -> AppResult<Response> {
    render(&state, &ctx, None).await
}

/// Retry or discard a failed job.
async fn act(
    State(state): State<App>,
    ctx: PageCtx,
    Admin(_): Admin,
    Path((id, action)): Path<(i64, String)>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> AppResult<Response> {
    let done = match action.as_str() {
        "retry" => {
            jobs::retry(&state.db, id).await?;
            format!("Job {id} is queued again.")
        }
        "discard" => {
            jobs::discard(&state.db, id).await?;
            format!("Job {id} was discarded.")
        }
        _ => return Err(AppError::NotFound(Thing::Page)),
    };
    render(&state, &ctx, Some(done)).await
}
