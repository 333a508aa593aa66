//! `/api/articles/{slug}/comments`: the RealWorld comment routes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Comment;
use crate::app::App;
use crate::error::{AppError, Thing};
use crate::features::accounts::api::ProfileJson;
use crate::features::posts;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(delete))
}
use crate::features::accounts::extract::{ApiUser, MaybeApiUser};
use crate::http::api::{ApiError, ApiJson};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommentJson {
    id: i64,
    created_at: String,
    updated_at: String,
    body: String,
    author: ProfileJson,
}

impl CommentJson {
    fn new(app: &App, comment: Comment, following: bool) -> Self {
        let author = comment.author.name().to_owned();
        // A guest's picture is an address of this site: clients show it
        // from wherever they run.
        let image = comment.author.image.map(|image| {
            if image.starts_with('/') {
                let http = &app.settings.http;
                http.absolute(&image).map_or(image, |url| url.to_string())
            } else {
                image
            }
        });
        Self {
            id: comment.id,
            created_at: comment.created_at.iso_millis(),
            updated_at: comment.updated_at.iso_millis(),
            body: comment.body,
            author: ProfileJson {
                username: author,
                bio: None,
                image,
                following,
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CommentResponse {
    comment: CommentJson,
}

#[derive(Serialize, ToSchema)]
pub struct CommentsResponse {
    comments: Vec<CommentJson>,
}

#[derive(Deserialize, ToSchema)]
pub struct NewCommentRequest {
    comment: NewComment,
}

#[derive(Deserialize, ToSchema)]
struct NewComment {
    #[serde(default)]
    body: Option<String>,
}

/// An article's comments, oldest first.
#[utoipa::path(get, path = "/articles/{slug}/comments", tag = "Comments", params(("slug" = String, Path)),
    responses((status = 200, body = CommentsResponse), (status = 404, description = "No such article")))]
pub async fn list(
    State(state): State<App>,
    caller: MaybeApiUser,
    Path(slug): Path<String>,
) -> Result<Json<CommentsResponse>, ApiError> {
    let post = posts::find(&state, &slug, caller.id()).await?;
    let followed = match caller.id() {
        Some(viewer) => super::followed_authors(&state.db, &post, viewer).await?,
        None => Vec::new(),
    };
    let comments = super::list(&state, &post).await?;
    Ok(Json(CommentsResponse {
        comments: comments
            .into_iter()
            .map(|c| {
                let following = c.author_id.is_some_and(|id| followed.contains(&id));
                CommentJson::new(&state, c, following)
            })
            .collect(),
    }))
}

/// Comment on an article.
#[utoipa::path(post, path = "/articles/{slug}/comments", tag = "Comments", params(("slug" = String, Path)),
    request_body = NewCommentRequest, security(("Token" = [])),
    responses((status = 201, body = CommentResponse), (status = 401, description = "No or bad token"), (status = 404, description = "No such article"), (status = 422, description = "Blank body")))]
pub async fn create(
    State(state): State<App>,
    caller: ApiUser,
    Path(slug): Path<String>,
    ApiJson(request): ApiJson<NewCommentRequest>,
) -> Result<(StatusCode, Json<CommentResponse>), ApiError> {
    let post = posts::find(&state, &slug, Some(caller.user.id)).await?;
    let body = request.comment.body.unwrap_or_default();
    let comment = super::create(&state, &caller.user, &post, &body).await?;
    Ok((
        StatusCode::CREATED,
        Json(CommentResponse {
            comment: CommentJson::new(&state, comment, false),
        }),
    ))
}

/// Delete a comment (its author's, or an admin's moderation).
#[utoipa::path(delete, path = "/articles/{slug}/comments/{id}", tag = "Comments",
    params(("slug" = String, Path), ("id" = i64, Path)), security(("Token" = [])),
    responses((status = 204, description = "Deleted"), (status = 401, description = "No or bad token"), (status = 403, description = "Not the author"), (status = 404, description = "No such article or comment")))]
pub async fn delete(
    State(state): State<App>,
    caller: ApiUser,
    Path((slug, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let post = posts::find(&state, &slug, Some(caller.user.id)).await?;
    let id: i64 = id.parse().map_err(|_| AppError::NotFound(Thing::Comment))?;
    let comment = super::find(&state.db, &post, id).await?;
    super::delete(&state.db, &caller.user, &comment).await?;
    Ok(StatusCode::NO_CONTENT)
}
