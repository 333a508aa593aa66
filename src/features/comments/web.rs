//! Comment forms on post pages.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::value::Serde;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};

use super::Comment;
use crate::error::{AppError, AppResult};
use crate::features::accounts::User;
use crate::features::posts;
use crate::http::AppState;
use crate::http::extract::{CsrfForm, NoFields, SignedIn};
use crate::http::pages::{PageCtx, see_other};
use crate::markdown;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/posts/{slug}/comments", post(create))
        .route("/posts/{slug}/comments/{id}/edit", get(edit).post(update))
        .route("/posts/{slug}/comments/{id}/delete", post(delete))
}

#[derive(Serialize)]
pub struct CommentView {
    #[serde(flatten)]
    comment: Comment,
    author_name: String,
    author_deleted: bool,
    edited: bool,
    can_modify: bool,
    html: Value,
}

impl CommentView {
    pub fn new(comment: Comment, viewer: Option<&User>) -> Self {
        let author_deleted = comment.author_deleted_at.is_some();
        Self {
            author_name: if author_deleted {
                "[deleted]".into()
            } else {
                comment.author_username.clone()
            },
            author_deleted,
            edited: comment.updated_at > comment.created_at,
            can_modify: viewer.is_some_and(|u| u.can_modify(comment.author_id)),
            html: Value::from_safe_string(markdown::render(&comment.body)),
            comment,
        }
    }
}

#[derive(Deserialize, Serialize, Default)]
struct CommentForm {
    #[serde(default)]
    body: String,
    /// `preview` to see the rendered comment before posting.
    #[serde(default)]
    action: String,
}

async fn create(
    State(state): State<AppState>,
    ctx: PageCtx,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
    CsrfForm(form): CsrfForm<CommentForm>,
) -> AppResult<Response> {
    let post = posts::find(&state.db, &slug, Some(user.id)).await?;
    if form.action == "preview" {
        let comment_preview = Value::from_safe_string(markdown::render(&form.body));
        return posts::web::render_post(
            &state,
            &ctx,
            post,
            StatusCode::OK,
            context! { comment_form => Serde(form), comment_preview },
        )
        .await;
    }
    match super::create(&state.db, &user, &post, &form.body).await {
        Ok(comment) => Ok(see_other(&format!("/posts/{slug}#comment-{}", comment.id))),
        Err(AppError::Validation(comment_errors)) => {
            posts::web::render_post(
                &state,
                &ctx,
                post,
                StatusCode::UNPROCESSABLE_ENTITY,
                context! { comment_form => Serde(form), comment_errors => Serde(comment_errors) },
            )
            .await
        }
        Err(e) => Err(e),
    }
}

/// The post and one of its comments that the user may change.
async fn find_for_edit(
    state: &AppState,
    user: &User,
    slug: &str,
    id: &str,
) -> AppResult<(posts::Post, Comment)> {
    let (post, comment) = super::find_by_path(&state.db, slug, id, Some(user.id)).await?;
    if !user.can_modify(comment.author_id) {
        return Err(AppError::Forbidden);
    }
    Ok((post, comment))
}

async fn edit(
    State(state): State<AppState>,
    ctx: PageCtx,
    SignedIn(user): SignedIn,
    Path((slug, id)): Path<(String, String)>,
) -> AppResult<Response> {
    let (post, comment) = find_for_edit(&state, &user, &slug, &id).await?;
    let form = CommentForm {
        body: comment.body.clone(),
        action: String::new(),
    };
    Ok(ctx.render(
        &state,
        "comment_edit.html",
        context! { post => Serde(post), comment => Serde(comment), form => Serde(form) },
    ))
}

async fn update(
    State(state): State<AppState>,
    ctx: PageCtx,
    SignedIn(user): SignedIn,
    Path((slug, id)): Path<(String, String)>,
    CsrfForm(form): CsrfForm<CommentForm>,
) -> AppResult<Response> {
    let (post, comment) = find_for_edit(&state, &user, &slug, &id).await?;
    if form.action == "preview" {
        let preview = Value::from_safe_string(markdown::render(&form.body));
        return Ok(ctx.render(&state, "comment_edit.html", context! { post => Serde(post), comment => Serde(comment), form => Serde(form), preview }));
    }
    match super::update(&state.db, &user, &post, &comment, &form.body).await {
        Ok(comment) => Ok(see_other(&format!("/posts/{slug}#comment-{}", comment.id))),
        Err(AppError::Validation(errors)) => Ok(ctx.render_status(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "comment_edit.html",
            context! { post => Serde(post), comment => Serde(comment), form => Serde(form), errors => Serde(errors) },
        )),
        Err(e) => Err(e),
    }
}

async fn delete(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path((slug, id)): Path<(String, String)>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> AppResult<Response> {
    let (_, comment) = find_for_edit(&state, &user, &slug, &id).await?;
    super::delete(&state.db, &user, &comment).await?;
    Ok(see_other(&format!("/posts/{slug}#comments")))
}
