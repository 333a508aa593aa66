//! The media page: an author's uploads, where each is used, the Markdown
//! to show it, a form to upload more (no JavaScript needed; the editor's
//! script uploads through it too) and deletion of unused ones.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::context;
use minijinja::value::Serde;

use super::{MediaName, Upload};
use crate::app::App;
use crate::error::{AppError, AppResult, FileProblem};
use crate::features::accounts::extract::SignedIn;
use crate::http::extract::{CsrfForm, CsrfMultipart, NoFields};
use crate::http::pages::{PageCtx, see_other};

/// Files one form may carry at once (several chosen in the file input).
const FILES_PER_FORM: usize = 10;

pub fn routes(app: &App) -> Router<App> {
    let limit = super::body_limit(&app.settings.media) * FILES_PER_FORM;
    Router::new()
        .route(
            "/media",
            get(page).post(upload).layer(DefaultBodyLimit::max(limit)),
        )
        .route("/media/{name}/delete", post(delete))
        .route(
            "/settings/avatar",
            post(avatar).layer(DefaultBodyLimit::max(super::body_limit(
                &app.settings.media,
            ))),
        )
}

async fn page(
    State(state): State<App>,
    ctx: PageCtx,
    SignedIn(user): SignedIn,
) -> AppResult<Response> {
    show(&state, &ctx, user.id, StatusCode::OK, &[], None).await
}

async fn show(
    state: &App,
    ctx: &PageCtx,
    user_id: i64,
    status: StatusCode,
    uploaded: &[Upload],
    error: Option<String>,
) -> AppResult<Response> {
    let uploads = super::list(&state.db, user_id).await?;
    let used = super::used_bytes(&state.db, user_id, None).await?;
    Ok(ctx.render_status(
        state,
        status,
        "media.html",
        context! {
            uploads => Serde(uploads),
            uploaded => Serde(uploaded),
            used => crate::error::human_bytes(used),
            quota => crate::error::human_bytes(state.settings.media.quota_bytes),
            max_bytes => crate::error::human_bytes(state.settings.media.upload_max_bytes),
            error,
        },
    ))
}

/// Uploads the chosen files. A browser's form gets the media page with the
/// Markdown of each; the editor's script (`Accept: application/json`)
/// gets the upload as JSON, as the API gives it.
async fn upload(
    State(state): State<App>,
    ctx: PageCtx,
    headers: HeaderMap,
    SignedIn(user): SignedIn,
    CsrfMultipart(mut multipart): CsrfMultipart,
) -> AppResult<Response> {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let max = state.settings.media.upload_max_bytes;
    let mut uploaded = Vec::new();
    let mut refused = None;
    while let Some(field) = super::next_field(&mut multipart, max).await? {
        if field.name() != Some("file") || uploaded.len() == FILES_PER_FORM {
            continue;
        }
        // An empty file input still sends a part, with no name and no bytes.
        if field.file_name().is_none_or(str::is_empty) {
            continue;
        }
        let result = async {
            super::check_rate(&state, user.id)?;
            let (file_name, bytes) = super::read_file(field, max).await?;
            super::upload(&state, user.id, file_name.as_deref(), bytes).await
        }
        .await;
        match result {
            Ok(upload) => uploaded.push(upload),
            Err(e @ (AppError::File(_) | AppError::RateLimited { .. })) => {
                refused = Some(e);
                break;
            }
            Err(e) => return Err(e),
        }
    }
    if wants_json {
        return match (uploaded.pop(), refused) {
            (_, Some(e)) => Err(e),
            (Some(upload), None) => Ok((
                StatusCode::CREATED,
                axum::Json(serde_json::json!({ "upload": upload })),
            )
                .into_response()),
            (None, None) => Err(AppError::File(FileProblem::Missing)),
        };
    }
    let (status, error) = match (&refused, uploaded.is_empty()) {
        (Some(e), _) => (e.status(), Some(e.public_message())),
        (None, true) => {
            let e = AppError::File(FileProblem::Missing);
            (e.status(), Some(e.public_message()))
        }
        (None, false) => (StatusCode::OK, None),
    };
    show(&state, &ctx, user.id, status, &uploaded, error).await
}

/// A new profile picture from the settings page. A refused file shows the
/// settings page again with the reason beside the file input.
async fn avatar(
    State(state): State<App>,
    ctx: PageCtx,
    SignedIn(user): SignedIn,
    CsrfMultipart(mut multipart): CsrfMultipart,
) -> AppResult<Response> {
    let max = state.settings.media.upload_max_bytes;
    let mut result = Err(AppError::File(FileProblem::Missing));
    while let Some(field) = super::next_field(&mut multipart, max).await? {
        if field.name() == Some("file") && field.file_name().is_some_and(|n| !n.is_empty()) {
            result = async {
                super::check_rate(&state, user.id)?;
                let (file_name, bytes) = super::read_file(field, max).await?;
                super::upload(&state, user.id, file_name.as_deref(), bytes).await
            }
            .await;
            break;
        }
    }
    match result {
        Ok(upload) => {
            super::set_avatar(&state, user.id, &upload).await?;
            Ok(see_other("/settings"))
        }
        Err(e @ (AppError::File(_) | AppError::RateLimited { .. })) => Ok(ctx.render_status(
            &state,
            e.status(),
            "settings.html",
            context! { form => Serde(&user), saved => false, avatar_error => e.public_message() },
        )),
        Err(e) => Err(e),
    }
}

async fn delete(
    State(state): State<App>,
    SignedIn(user): SignedIn,
    Path(name): Path<String>,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> AppResult<Response> {
    let name = MediaName::parse(&name).ok_or(AppError::NotFound(crate::error::Thing::Page))?;
    super::delete_unused(&state.db, user.id, &name).await?;
    Ok(see_other("/media"))
}
