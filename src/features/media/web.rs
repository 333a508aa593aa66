//! The media page: an author's uploads, where each is used, the Markdown
//! to show it, a form to upload more (no JavaScript needed; the editor's
//! script uploads through it too) and deletion of unused ones.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minijinja::context;
use minijinja::value::Serde;

use super::{FormUploads, MediaName, Upload};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::features::accounts::extract::SignedIn;
use crate::http::extract::{CsrfForm, CsrfFormData, NoFields};
use crate::http::pages::{PageCtx, see_other, wants_json};

pub fn routes(app: &App) -> Router<App> {
    let limit = super::form_body_limit(&app.settings);
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
/// gets the last upload as JSON, as the API gives it, or the refusal's
/// status and words as plain text.
async fn upload(
    State(state): State<App>,
    ctx: PageCtx,
    headers: HeaderMap,
    SignedIn(user): SignedIn,
    mut form: CsrfFormData,
) -> AppResult<Response> {
    let (mut uploaded, refused) = FormUploads::take(&state, user.id, &mut form)
        .await?
        .settle();
    let refused = refused.map(|(_, e)| e);
    if wants_json(&headers) {
        return match (refused, uploaded.pop()) {
            (Some(e), _) => Err(e),
            (None, upload) => Ok((
                StatusCode::CREATED,
                axum::Json(serde_json::json!({ "upload": upload })),
            )
                .into_response()),
        };
    }
    let (status, error) = match &refused {
        Some(e) => (e.status(), Some(e.public_message())),
        None => (StatusCode::OK, None),
    };
    show(&state, &ctx, user.id, status, &uploaded, error).await
}

/// A new profile picture from the settings page. A refused file shows the
/// settings page again with the reason beside the file input.
async fn avatar(
    State(state): State<App>,
    ctx: PageCtx,
    SignedIn(user): SignedIn,
    mut form: CsrfFormData,
) -> AppResult<Response> {
    let (mut uploaded, refused) = FormUploads::take(&state, user.id, &mut form)
        .await?
        .settle();
    let refused = match (refused, uploaded.pop()) {
        (Some((_, e)), _) => e,
        (None, upload) => {
            let upload = upload.expect("settled: an upload when nothing was refused");
            super::set_avatar(&state, user.id, &upload).await?;
            return Ok(see_other("/settings"));
        }
    };
    Ok(ctx.render_status(
        &state,
        refused.status(),
        "settings.html",
        context! { form => Serde(&user), saved => false, avatar_error => refused.public_message() },
    ))
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
