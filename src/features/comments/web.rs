//! The post page and its discussion: the post, its likes and its
//! comments, with the forms that add to them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::value::Serde;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};

use super::Comment;
use crate::app::App;
use crate::error::{AppError, AppResult, FieldErrors, Thing};
use crate::features::accounts::User;
use crate::features::accounts::extract::{Page, SignedIn};
use crate::features::media::{self, FormUploads, UploadQuery};
use crate::features::{posts, visits};
use crate::http::extract::{CsrfForm, CsrfFormData, NoFields};
use crate::http::pages::see_other;
use crate::page_cache::Shareable;

pub fn routes(app: &App) -> Router<App> {
    // Comment forms carry images ("Upload images").
    let images = DefaultBodyLimit::max(media::form_body_limit(&app.settings));
    Router::new()
        .route("/posts/{slug}", get(show))
        .route("/p/{token}", get(shared))
        .route("/posts/{slug}/like", post(like))
        .route("/posts/{slug}/unlike", post(unlike))
        .route("/posts/{slug}/comments", post(create).layer(images))
        .route(
            "/posts/{slug}/comments/{id}/edit",
            get(edit).post(update).layer(images),
        )
        .route("/posts/{slug}/comments/{id}/delete", post(delete))
}

#[derive(Serialize)]
pub struct CommentView {
    #[serde(flatten)]
    comment: Comment,
    edited: bool,
    can_modify: bool,
    html: Value,
    /// The comments that answer this one, oldest first.
    replies: Vec<CommentView>,
}

impl CommentView {
    fn new(comment: Comment, viewer: Option<&User>, replies: Vec<CommentView>) -> Self {
        Self {
            edited: comment.updated_at > comment.created_at,
            can_modify: viewer.is_some_and(|u| u.can_modify(comment.author_id)),
            // Rendered when written (`super::list` keeps it current).
            html: Value::from_safe_string(comment.body_html.clone().unwrap_or_default()),
            replies,
            comment,
        }
    }
}

/// How deep replies are shown nested; answers deeper than this are shown
/// at this depth, in order, so that a long exchange stays readable on a
/// phone (and a page's nesting stays bounded whatever the thread).
const MAX_DEPTH: usize = 4;

/// A post's comments (oldest first) as threads: each with the replies to
/// it. A reply whose parent is not among them stands on its own.
fn threads(comments: Vec<Comment>, viewer: Option<&User>) -> Vec<CommentView> {
    let ids: HashSet<i64> = comments.iter().map(|c| c.id).collect();
    let mut replies: HashMap<i64, Vec<Comment>> = HashMap::new();
    let mut roots = Vec::new();
    for comment in comments {
        match comment.parent_id.filter(|parent| ids.contains(parent)) {
            Some(parent) => replies.entry(parent).or_default().push(comment),
            None => roots.push(comment),
        }
    }
    roots
        .into_iter()
        .map(|root| thread(root, 1, &mut replies, viewer))
        .collect()
}

fn thread(
    comment: Comment,
    depth: usize,
    replies: &mut HashMap<i64, Vec<Comment>>,
    viewer: Option<&User>,
) -> CommentView {
    let answers = replies.remove(&comment.id).unwrap_or_default();
    let answers = if depth < MAX_DEPTH {
        answers
            .into_iter()
            .map(|reply| thread(reply, depth + 1, replies, viewer))
            .collect()
    } else {
        // Every answer below, oldest first, at this depth.
        let mut below = Vec::new();
        let mut waiting = answers;
        while !waiting.is_empty() {
            let mut next = Vec::new();
            for reply in waiting {
                next.extend(replies.remove(&reply.id).unwrap_or_default());
                below.push(reply);
            }
            waiting = next;
        }
        below.sort_by_key(|reply| (reply.created_at, reply.id));
        below
            .into_iter()
            .map(|reply| CommentView::new(reply, viewer, Vec::new()))
            .collect()
    };
    CommentView::new(comment, viewer, answers)
}

#[derive(Deserialize, Serialize, Default)]
struct CommentForm {
    #[serde(default)]
    body: String,
    /// `preview` to see the rendered comment before posting.
    #[serde(default)]
    action: String,
}

/// A comment form after "Upload images", to show again: its text with the
/// images' Markdown added, and why a file was refused.
struct WithImages {
    form: CommentForm,
    status: StatusCode,
    errors: Option<FieldErrors>,
    added: usize,
}

impl WithImages {
    async fn take(state: &App, user: &User, mut data: CsrfFormData) -> AppResult<Self> {
        let (uploaded, refused) = FormUploads::take(state, user.id, &mut data).await?.settle();
        let mut form: CommentForm = data.fields().await?;
        media::append_markdown(&mut form.body, &uploaded);
        let (status, errors) = media::upload_outcome(refused)?;
        Ok(Self {
            form,
            status,
            errors,
            added: uploaded.len(),
        })
    }
}

async fn create(
    State(state): State<App>,
    ctx: Page,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
    Query(query): Query<UploadQuery>,
    data: CsrfFormData,
) -> AppResult<Response> {
    let post = posts::find(&state, &slug, Some(user.id)).await?;
    if query.wants_upload() {
        let taken = WithImages::take(&state, &user, data).await?;
        return render_post(
            &state,
            &ctx,
            post,
            taken.status,
            context! {
                comment_form => Serde(taken.form),
                comment_errors => Serde(taken.errors),
                comment_images_added => taken.added,
            },
        )
        .await;
    }
    let form: CommentForm = data.fields().await?;
    if form.action == "preview" {
        let (status, extra) =
            match posts::preview(&state, &user, &form.body, crate::markdown::Shape::Note).await? {
                Ok(html) => (
                    StatusCode::OK,
                    context! { comment_preview => Value::from_safe_string(html) },
                ),
                Err(problem) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    context! { comment_errors => Serde(FieldErrors::single("body", problem)) },
                ),
            };
        return render_post(
            &state,
            &ctx,
            post,
            status,
            context! { comment_form => Serde(form), ..extra },
        )
        .await;
    }
    match super::create(&state, &user, &post, &form.body).await {
        Ok(comment) => Ok(see_other(&format!("/posts/{slug}#comment-{}", comment.id))),
        Err(AppError::Validation(comment_errors)) => {
            render_post(
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
    state: &App,
    user: &User,
    slug: &str,
    id: &str,
) -> AppResult<(posts::Post, Comment)> {
    let (post, comment) = super::find_by_path(state, slug, id, Some(user.id)).await?;
    if !user.can_modify(comment.author_id) {
        return Err(AppError::Forbidden(Thing::Comment));
    }
    Ok((post, comment))
}

async fn edit(
    State(state): State<App>,
    ctx: Page,
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
    State(state): State<App>,
    ctx: Page,
    SignedIn(user): SignedIn,
    Path((slug, id)): Path<(String, String)>,
    Query(query): Query<UploadQuery>,
    data: CsrfFormData,
) -> AppResult<Response> {
    let (post, comment) = find_for_edit(&state, &user, &slug, &id).await?;
    if query.wants_upload() {
        let taken = WithImages::take(&state, &user, data).await?;
        return Ok(ctx.render_status(
            &state,
            taken.status,
            "comment_edit.html",
            context! {
                post => Serde(post),
                comment => Serde(comment),
                form => Serde(taken.form),
                errors => Serde(taken.errors),
                images_added => taken.added,
            },
        ));
    }
    let form: CommentForm = data.fields().await?;
    if form.action == "preview" {
        let (status, extra) =
            match posts::preview(&state, &user, &form.body, crate::markdown::Shape::Note).await? {
                Ok(html) => (
                    StatusCode::OK,
                    context! { preview => Value::from_safe_string(html) },
                ),
                Err(problem) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    context! { errors => Serde(FieldErrors::single("body", problem)) },
                ),
            };
        return Ok(ctx.render_status(&state, status, "comment_edit.html", context! { post => Serde(post), comment => Serde(comment), form => Serde(form), ..extra }));
    }
    match super::update(&state, &user, &post, &comment, &form.body).await {
        Ok(comment) => Ok(see_other(&format!("/posts/{slug}#comment-{}", comment.id))),
        Err(e) => ctx.form_again(&state, "comment_edit.html", e, |errors| {
            context! { post => Serde(post), comment => Serde(comment), form => Serde(form), errors => Serde(errors) }
        }),
    }
}

async fn delete(
    State(state): State<App>,
    SignedIn(user): SignedIn,
    Path((slug, id)): Path<(String, String)>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> AppResult<Response> {
    let (_, comment) = find_for_edit(&state, &user, &slug, &id).await?;
    super::delete(&state.db, &user, &comment).await?;
    Ok(see_other(&format!("/posts/{slug}#comments")))
}

async fn show(
    State(state): State<App>,
    ctx: Page,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> AppResult<Response> {
    let (post, comments) = super::discussion(&state, &slug, ctx.viewer.id()).await?;
    // Only published posts count views; drafts are their author's business.
    let published = post.state() == posts::PostState::Published;
    let post_id = post.id;
    let counter = visits::web::ViewCounter::of(&state);
    let cookie = published
        .then(|| counter.record(&headers, ctx.viewer.id(), post_id))
        .flatten();
    let mut response = render_discussion(&state, &ctx, post, comments, StatusCode::OK, context! {});
    if let Some(cookie) = cookie {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, cookie);
    }
    // Every anonymous reader sees the same page: it is served from the
    // cache, and each of them is still counted.
    if published && ctx.viewer.user().is_none() {
        response.extensions_mut().insert(Shareable {
            on_hit: Some(Arc::new(move |headers| {
                counter.record(headers, None, post_id)
            })),
            until: None,
        });
    }
    Ok(response)
}

/// A draft or a scheduled post read through its preview link
/// (`posts::preview_links`): the post alone, never indexed or kept by a
/// cache; once published, the link leads to the post.
async fn shared(
    State(state): State<App>,
    ctx: Page,
    Path(token): Path<String>,
) -> AppResult<Response> {
    use axum::http::{HeaderValue, header};
    let post = posts::preview_links::find(&state, &token).await?;
    if post.state() == posts::PostState::Published {
        return Ok(see_other(&format!("/posts/{}", post.slug)));
    }
    let mut response = render_discussion(
        &state,
        &ctx,
        post,
        Vec::new(),
        StatusCode::OK,
        context! { shared => true },
    );
    let headers = response.headers_mut();
    headers.insert(
        header::HeaderName::from_static("x-robots-tag"),
        HeaderValue::from_static("noindex, nofollow"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    // The secret address is not sent to sites the draft links to.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}

/// The post page, also used to re-render it with a comment form's errors or preview.
pub async fn render_post(
    state: &App,
    ctx: &Page,
    post: posts::Post,
    status: StatusCode,
    extra: Value,
) -> AppResult<Response> {
    let comments = super::list(state, &post).await?;
    Ok(render_discussion(state, ctx, post, comments, status, extra))
}

fn render_discussion(
    state: &App,
    ctx: &Page,
    post: posts::Post,
    comments: Vec<Comment>,
    status: StatusCode,
    extra: Value,
) -> Response {
    let comment_count = comments.len();
    let threads = threads(comments, ctx.viewer.user());
    let post = posts::web::PostView::new(post, ctx.viewer.user(), true);
    ctx.render_status(
        state,
        status,
        "post.html",
        context! { post => Serde(post), threads => Serde(threads), comment_count, ..extra },
    )
}

async fn like(
    State(state): State<App>,
    ctx: Page,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> AppResult<Response> {
    let post = posts::find(&state, &slug, Some(user.id)).await?;
    match posts::react(&state.db, &user, &post, posts::SelfReaction::Refuse).await {
        Ok(()) => Ok(see_other(&format!("/posts/{slug}#reactions"))),
        Err(AppError::Validation(errors)) => {
            render_post(
                &state,
                &ctx,
                post,
                StatusCode::UNPROCESSABLE_ENTITY,
                context! { reaction_errors => Serde(errors) },
            )
            .await
        }
        Err(e) => Err(e),
    }
}

async fn unlike(
    State(state): State<App>,
    SignedIn(user): SignedIn,
    Path(slug): Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> AppResult<Response> {
    let post = posts::find(&state, &slug, Some(user.id)).await?;
    posts::unreact(&state.db, &user, &post).await?;
    Ok(see_other(&format!("/posts/{slug}#reactions")))
}
