//! `/admin/import`: the owner uploads another blog's export (or a zip of
//! a Markdown site), and follows its import ([`super::runs`]) on a page
//! that shows a progress bar while it runs (refreshing itself, no script
//! needed) and what was imported, updated and skipped when it is done.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use minijinja::context;
use minijinja::value::Serde;
use serde::Deserialize;

use super::Format;
use super::runs::{self, MAX_UPLOAD_BYTES};
use crate::app::App;
use crate::error::{AppError, AppResult, FieldErrors, Problem, Thing};
use crate::features::accounts::extract::Admin;
use crate::features::media;
use crate::http::extract::{CsrfFormData, Part};
use crate::http::pages::{PageCtx, see_other};

/// Imports listed on the page.
const RECENT: i64 = 20;

pub fn routes(app: &App) -> Router<App> {
    let limit = MAX_UPLOAD_BYTES as usize + 64 * 1024 + app.settings.http.max_body_bytes;
    Router::new()
        .route(
            "/admin/import",
            get(page).post(upload).layer(DefaultBodyLimit::max(limit)),
        )
        .route("/admin/import/{id}", get(show))
}

#[derive(Deserialize, Default)]
struct ImportForm {
    #[serde(default)]
    format: String,
}

async fn render(
    state: &App,
    ctx: &PageCtx,
    status: StatusCode,
    errors: Option<FieldErrors>,
    format: &str,
) -> AppResult<Response> {
    let runs = runs::recent(&state.db, RECENT).await?;
    Ok(ctx.render_status(
        state,
        status,
        "admin_import.html",
        context! {
            runs => Serde(runs),
            errors => Serde(errors),
            format,
            max_mib => MAX_UPLOAD_BYTES >> 20,
        },
    ))
}

async fn page(State(state): State<App>, ctx: PageCtx, Admin(_): Admin) -> AppResult<Response> {
    render(&state, &ctx, StatusCode::OK, None, "wordpress").await
}

async fn upload(
    State(state): State<App>,
    ctx: PageCtx,
    Admin(user): Admin,
    mut form: CsrfFormData,
) -> AppResult<Response> {
    let mut file = None;
    let mut refused = None;
    while let Some(part) = form.next_part().await? {
        let Part::File(field) = part else { continue };
        let name = field.file_name().unwrap_or_default().to_owned();
        if field.name() != Some("file") || name.is_empty() || file.is_some() {
            continue;
        }
        let shown = media::shown_file_name(&name);
        match media::read_file(*field, MAX_UPLOAD_BYTES).await {
            Ok((_, bytes)) => file = Some((shown, bytes)),
            Err(e) => refused = Some(e.upload_problem(shown)?),
        }
    }
    let fields: ImportForm = form.fields().await?;
    let format = fields.format.parse::<Format>();
    let mut errors = FieldErrors::default();
    if format.is_err() {
        errors.add("format", Problem::Refused("must be one of those listed"));
    }
    match (&file, refused) {
        (_, Some(problem)) => errors.add("file", problem),
        (None, None) => errors.add(
            "file",
            Problem::Refused("must be chosen: the export file, or a .zip of the site"),
        ),
        (Some((_, bytes)), None) if bytes.is_empty() => {
            errors.add("file", Problem::Refused("is empty"))
        }
        _ => {}
    }
    match (format, file) {
        (Ok(format), Some((name, bytes))) if errors.is_empty() => {
            let id = runs::start(&state, &user, format, &name, bytes).await?;
            Ok(see_other(&format!("/admin/import/{id}")))
        }
        _ => {
            render(
                &state,
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(errors),
                &fields.format,
            )
            .await
        }
    }
}

async fn show(
    State(state): State<App>,
    ctx: PageCtx,
    Admin(user): Admin,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound(Thing::Page))?;
    let run = runs::find(&state.db, &user, id).await?;
    let report = run.report();
    Ok(ctx.render(
        &state,
        "admin_import_run.html",
        context! { run => Serde(&run), report => Serde(report) },
    ))
}
