//! The seed visitor counter's API: list visitors, count a visit.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::{Visitor, VisitorName, VisitorsResponse};
use crate::app::App;
use crate::error::AppError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(visit))
}
use crate::http::api::ApiError;
use crate::http::cache::PagesUnchanged;

/// Every visitor with their number of visits, oldest visitor first.
#[utoipa::path(get, path = "/visitors", tag = "Visitors",
    responses((status = 200, body = VisitorsResponse)))]
pub async fn list(State(state): State<App>) -> Result<Response, ApiError> {
    let visits = state.part::<super::Visits>();
    let body = visits.list.get(&state.db, &visits.recorder).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Counts a visit of `username` (creating the visitor on their first) and
/// answers, once it is stored, with their total including this visit. No
/// page shows the visitor totals, so the page cache is kept.
#[utoipa::path(post, path = "/visitors/{username}/visits", tag = "Visitors",
    params(("username" = String, Path, description = "1 to 80 letters, digits, '-', '_' or '.'")),
    responses((status = 200, body = Visitor), (status = 422, description = "Invalid username")))]
pub async fn visit(
    State(state): State<App>,
    Path(username): Path<String>,
) -> Result<(Extension<PagesUnchanged>, Json<Visitor>), ApiError> {
    let name = VisitorName::parse(&username).map_err(AppError::Validation)?;
    let total = state.part::<super::Visits>().recorder.visit(name).await?;
    Ok((Extension(PagesUnchanged), Json(total)))
}
