//! `POST /api/uploads`: an image for an article's Markdown.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Upload;
use crate::app::App;
use crate::error::AppError;
use crate::features::accounts::extract::ApiUser;
use crate::http::api::ApiError;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(upload))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UploadResponse {
    upload: Upload,
}

/// The form of an upload, for the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct UploadForm {
    /// A JPEG, PNG, GIF or WebP image, judged by its bytes.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: String,
}

/// Upload an image (multipart, field `file`). Its metadata (EXIF, GPS) is
/// removed and it is turned upright; smaller copies are made in the
/// background. Use `url` in an article's Markdown.
#[utoipa::path(post, path = "/uploads", tag = "Uploads",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    security(("Token" = [])),
    responses(
        (status = 201, body = UploadResponse),
        (status = 401, description = "No valid token"),
        (status = 413, description = "Larger than QUIRE_UPLOAD_MAX_BYTES, or over the member's quota"),
        (status = 415, description = "Not a JPEG, PNG, GIF or WebP image"),
        (status = 422, description = "No file, a damaged image, too many pixels, or a body that is not multipart"),
        (status = 429, description = "Too many uploads in a short time")))]
pub async fn upload(
    State(state): State<App>,
    caller: ApiUser,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<UploadResponse>), ApiError> {
    // Not multipart, or no boundary: the API's 422, not axum's plain 400.
    let mut multipart = multipart.map_err(|e| AppError::BadRequest(e.body_text()))?;
    super::check_rate(&state, caller.user.id)?;
    let max = state.settings.media.upload_max_bytes;
    while let Some(field) = super::next_field(&mut multipart, max).await? {
        if field.name() == Some("file") {
            let (file_name, bytes) = super::read_file(field, max).await?;
            let upload = super::upload(&state, caller.user.id, file_name.as_deref(), bytes).await?;
            return Ok((StatusCode::CREATED, Json(UploadResponse { upload })));
        }
    }
    Err(AppError::File(crate::error::FileProblem::Missing).into())
}
