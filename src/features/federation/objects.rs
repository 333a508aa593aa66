//! Posts as the fediverse reads them: an `Article` at `/ap/posts/{id}` (a
//! slug may change, the id does not), also answered at the post's own
//! address to a client that asks for ActivityPub JSON; each actor's outbox,
//! newest first, a page at a time.

use axum::Router;
use axum::extract::{Path, Query as UrlQuery, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use super::actors::{Local, is_blogs};
use super::{CONTEXT, PUBLIC, activity_response, wants_activity_json};
use crate::app::App;
use crate::error::{AppError, AppResult, Thing};
use crate::features::accounts;
use crate::features::posts::{self, Post};
use crate::markdown;
use crate::templates::path_segment;

/// Posts on a page of an outbox.
const OUTBOX_PAGE: i64 = 20;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/ap/posts/{id}", get(article))
        .route("/ap/comments/{id}", get(comment_note))
        .route("/ap/blog/outbox", get(blog_outbox))
        .route("/ap/users/{id}/outbox", get(author_outbox))
}

/// A post's id on the fediverse.
pub fn post_id(app: &App, id: i64) -> Url {
    absolute(app, &format!("/ap/posts/{id}"))
}

/// The post's id in `/ap/posts/{id}` (or its page's address `/posts/SLUG`)
/// of this site, if `uri` is one.
pub fn local_post(app: &App, uri: &str) -> Option<PostRef> {
    let url = Url::parse(uri).ok()?;
    if url.origin() != app.settings.http.public_url().origin() {
        return None;
    }
    let path = url.path();
    if let Some(id) = path.strip_prefix("/ap/posts/") {
        return id.parse().ok().map(PostRef::Id);
    }
    if let Some(id) = path.strip_prefix("/ap/comments/") {
        return id.parse().ok().map(PostRef::Comment);
    }
    path.strip_prefix("/posts/")
        .filter(|slug| !slug.is_empty() && !slug.contains('/'))
        .map(|slug| {
            PostRef::Slug(
                percent_encoding::percent_decode_str(slug)
                    .decode_utf8_lossy()
                    .into_owned(),
            )
        })
}

/// What a local address names.
pub enum PostRef {
    Id(i64),
    Slug(String),
    /// A comment (`/ap/comments/{id}`), on a post.
    Comment(i64),
}

fn absolute(app: &App, path: &str) -> Url {
    app.settings
        .http
        .absolute(path)
        .expect("a path joins the public URL")
}

/// The actor a post is by.
pub async fn author_of(app: &App, post: &Post) -> AppResult<Local> {
    Local::by_user_id(app, post.author_id).await
}

/// Whether the blog actor carries the post too (the home page shows it).
pub async fn blog_carries(app: &App, post: &Post) -> AppResult<bool> {
    let role = accounts::find(&app.db, post.author_id)
        .await?
        .map(|user| user.role);
    Ok(role.is_some_and(is_blogs))
}

/// The `Article` of a published post.
pub async fn article_of(app: &App, post: &Post) -> AppResult<Value> {
    let author = author_of(app, post).await?;
    let page = absolute(app, &format!("/posts/{}", path_segment(&post.slug)));
    let html = markdown::for_feed(post.body_html.as_deref().unwrap_or_default(), &page);
    let mut cc = vec![author.collection(app, "followers")];
    if blog_carries(app, post).await? {
        cc.push(Local::Blog.collection(app, "followers"));
    }
    let tags: Vec<Value> = post
        .tags
        .iter()
        .map(|tag| {
            json!({
                "type": "Hashtag",
                "name": format!("#{tag}"),
                "href": absolute(app, &format!("/tags/{}", path_segment(tag))),
            })
        })
        .collect();
    let mut article = json!({
        "id": post_id(app, post.id),
        "type": "Article",
        "attributedTo": author.id(app),
        "name": post.title,
        "summary": ammonia::clean_text(&post.description),
        "content": html,
        "mediaType": "text/html",
        "url": page,
        "to": [PUBLIC],
        "cc": cc,
        "tag": tags,
        "published": post.published_at.map(|at| at.rfc3339()),
        "sensitive": false,
    });
    if let Some(edited) = post.edited_at {
        article["updated"] = json!(edited.rfc3339());
    }
    if let Some(image) = markdown::first_image(post.body_html.as_deref().unwrap_or_default())
        .and_then(|src| page.join(&src).ok())
    {
        article["image"] = json!({ "type": "Image", "url": image });
        article["attachment"] = json!([{ "type": "Image", "url": image, "name": post.title }]);
    }
    Ok(article)
}

fn with_context(mut object: Value) -> Value {
    object["@context"] = json!([CONTEXT, { "Hashtag": "as:Hashtag", "sensitive": "as:sensitive" }]);
    object
}

async fn article(State(app): State<App>, Path(id): Path<i64>) -> AppResult<Response> {
    let post = posts::find_published_by_id(&app, id).await?;
    Ok(activity_response(with_context(
        article_of(&app, &post).await?,
    )))
}

/// The layer that answers a post's or an author's address with its
/// ActivityPub document when that is what the client asks for (Mastodon's
/// search box, a pasted link), before the page cache sees the request.
pub async fn negotiate(State(app): State<App>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let negotiated = path.starts_with("/posts/") || path.starts_with("/users/");
    if !super::enabled(&app) || !negotiated || request.method() != axum::http::Method::GET {
        return next.run(request).await;
    }
    if !wants_activity_json(request.headers()) {
        // The page: a cache in front must keep it apart from the document.
        let mut response = next.run(request).await;
        response.headers_mut().append(
            axum::http::header::VARY,
            axum::http::HeaderValue::from_static("Accept"),
        );
        return response;
    }
    let segment = |prefix: &str| {
        path.strip_prefix(prefix)
            .filter(|s| !s.is_empty() && !s.contains('/'))
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
    };
    let answer = if let Some(slug) = segment("/posts/") {
        post_document(&app, &slug).await
    } else if let Some(name) = segment("/users/") {
        match accounts::find_active_by_username(&app.db, &name).await {
            Ok(Some(user)) => Local::Author(user)
                .document(&app)
                .await
                .map(activity_response),
            Ok(None) => Err(AppError::NotFound(Thing::Profile)),
            Err(e) => Err(e),
        }
    } else {
        return next.run(request).await;
    };
    answer.unwrap_or_else(IntoResponse::into_response)
}

async fn post_document(app: &App, slug: &str) -> AppResult<Response> {
    let post = posts::find(app, slug, None).await?;
    Ok(activity_response(with_context(
        article_of(app, &post).await?,
    )))
}

#[derive(Deserialize)]
struct Page {
    page: Option<i64>,
}

async fn blog_outbox(
    State(app): State<App>,
    UrlQuery(page): UrlQuery<Page>,
) -> AppResult<Response> {
    outbox(&app, &Local::Blog, page.page).await
}

async fn author_outbox(
    State(app): State<App>,
    Path(id): Path<i64>,
    UrlQuery(page): UrlQuery<Page>,
) -> AppResult<Response> {
    outbox(&app, &Local::by_user_id(&app, id).await?, page.page).await
}

/// An outbox: the collection (its size, its first page), or one page of
/// `Create`s, newest first.
async fn outbox(app: &App, local: &Local, page: Option<i64>) -> AppResult<Response> {
    let listing = posts::Listing {
        owner_only: matches!(local, Local::Blog),
        author: match local {
            Local::Blog => None,
            Local::Author(user) => Some(user.username.clone()),
        },
        ..Default::default()
    };
    let id = local.collection(app, "outbox");
    let Some(page) = page else {
        let (_, total) = posts::list(&app.db, None, &listing, 0, 0).await?;
        return Ok(activity_response(json!({
            "@context": CONTEXT,
            "id": id,
            "type": "OrderedCollection",
            "totalItems": total,
            "first": format!("{id}?page=1"),
            "last": format!("{id}?page={}", (total + OUTBOX_PAGE - 1).max(OUTBOX_PAGE) / OUTBOX_PAGE),
        })));
    };
    if !(1..=10_000).contains(&page) {
        return Err(AppError::BadRequest(
            "page must be between 1 and 10000".into(),
        ));
    }
    let (posts, total) = posts::list(
        &app.db,
        None,
        &listing,
        (page - 1) * OUTBOX_PAGE,
        OUTBOX_PAGE,
    )
    .await?;
    let mut items = Vec::with_capacity(posts.len());
    for mut post in posts {
        posts::keep_html_current(app, &mut post).await?;
        let article = article_of(app, &post).await?;
        items.push(activity(app, local, "Create", &post, article));
    }
    let mut document = json!({
        "@context": CONTEXT,
        "id": format!("{id}?page={page}"),
        "type": "OrderedCollectionPage",
        "partOf": id,
        "totalItems": total,
        "orderedItems": items,
    });
    if page * OUTBOX_PAGE < total {
        document["next"] = json!(format!("{id}?page={}", page + 1));
    }
    if page > 1 {
        document["prev"] = json!(format!("{id}?page={}", page - 1));
    }
    Ok(activity_response(document))
}

/// An activity about a post, by `local`: `Create` or `Update` of its
/// article by the author; the blog `Announce`s it.
pub fn activity(app: &App, local: &Local, kind: &str, post: &Post, article: Value) -> Value {
    let actor = local.id(app);
    let to = json!([PUBLIC]);
    let cc = json!([local.collection(app, "followers")]);
    match local {
        Local::Blog => json!({
            "id": format!("{}/activities/announce", post_id(app, post.id)),
            "type": "Announce",
            "actor": actor,
            "object": post_id(app, post.id),
            "to": to,
            "cc": cc,
            "published": post.published_at.map(|at| at.rfc3339()),
        }),
        Local::Author(_) => {
            // An update is a new activity each time it is sent.
            let suffix = match kind {
                "Update" => format!("update/{}", post.updated_at.unix_timestamp()),
                _ => "create".to_owned(),
            };
            json!({
                "id": format!("{}/activities/{suffix}", post_id(app, post.id)),
                "type": kind,
                "actor": actor,
                "object": article,
                "to": to,
                "cc": article_cc(&article),
                "published": post.published_at.map(|at| at.rfc3339()),
            })
        }
    }
}

fn article_cc(article: &Value) -> Value {
    article.get("cc").cloned().unwrap_or_else(|| json!([]))
}

/// A comment written here, as the fediverse reads it: a `Note` replying to
/// the post (or to the reply from the fediverse it answers), by its
/// writer's actor, mentioning the writer of what it answers.
pub struct CommentNote {
    pub note: Value,
    pub post: Post,
    pub by: Local,
}

/// The `Note` of a member's comment on a published post.
pub async fn comment_note_of(app: &App, comment_id: i64) -> AppResult<Option<CommentNote>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        post_id: i64,
        author_id: i64,
        body_html: Option<String>,
        created_at: crate::db::Timestamp,
        /// What it answers: a reply from the fediverse (its note's id and
        /// writer), or a comment of ours.
        parent_id: Option<i64>,
        parent_uri: Option<String>,
        parent_actor: Option<String>,
        parent_handle: Option<String>,
    }
    let row: Option<Row> = crate::db::query(
        "SELECT c.post_id, c.author_id, c.body_html, c.created_at, c.parent_id,
                r.uri AS parent_uri, a.uri AS parent_actor,
                '@' || a.handle || '@' || a.domain AS parent_handle
         FROM comments c
         LEFT JOIN remote_replies r ON r.comment_id = c.parent_id
         LEFT JOIN remote_actors a ON a.id = r.remote_actor_id
         WHERE c.id = $1 AND c.author_id IS NOT NULL",
    )
    .bind(comment_id)
    .fetch_optional(&app.db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let post = match posts::find_published_by_id(app, row.post_id).await {
        Ok(post) => post,
        Err(AppError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let by = match Local::by_user_id(app, row.author_id).await {
        Ok(by) => by,
        Err(AppError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let page = absolute(app, &format!("/posts/{}", path_segment(&post.slug)));
    let in_reply_to = match (&row.parent_uri, row.parent_id) {
        (Some(uri), _) => json!(uri),
        (None, Some(parent)) => json!(absolute(app, &format!("/ap/comments/{parent}"))),
        (None, None) => json!(post_id(app, post.id)),
    };
    let mut cc = vec![json!(by.collection(app, "followers"))];
    let mut tags = Vec::new();
    if let (Some(actor), Some(handle)) = (&row.parent_actor, &row.parent_handle) {
        cc.push(json!(actor));
        tags.push(json!({ "type": "Mention", "href": actor, "name": handle }));
    }
    let mut url = page.clone();
    url.set_fragment(Some(&format!("comment-{comment_id}")));
    let note = json!({
        "id": absolute(app, &format!("/ap/comments/{comment_id}")),
        "type": "Note",
        "attributedTo": by.id(app),
        "inReplyTo": in_reply_to,
        "content": markdown::for_feed(row.body_html.as_deref().unwrap_or_default(), &page),
        "mediaType": "text/html",
        "url": url,
        "published": row.created_at.rfc3339(),
        "to": [PUBLIC],
        "cc": cc,
        "tag": tags,
    });
    Ok(Some(CommentNote { note, post, by }))
}

async fn comment_note(State(app): State<App>, Path(id): Path<i64>) -> AppResult<Response> {
    let found = comment_note_of(&app, id)
        .await?
        .ok_or(AppError::NotFound(Thing::Comment))?;
    Ok(activity_response(with_context(found.note)))
}

/// Local posts by id, for the inbox: the post `uri` names (or the post of
/// the comment it names, with the comment).
pub async fn resolve(app: &App, uri: &str) -> AppResult<Option<(Post, Option<i64>)>> {
    let found = match local_post(app, uri) {
        None => return Ok(None),
        Some(PostRef::Id(id)) => (posts::find_published_by_id(app, id).await, None),
        Some(PostRef::Slug(slug)) => (posts::find(app, &slug, None).await, None),
        Some(PostRef::Comment(id)) => {
            let post_id: Option<i64> =
                crate::db::query("SELECT post_id FROM comments WHERE id = $1")
                    .bind(id)
                    .scalar_optional(&app.db)
                    .await?;
            match post_id {
                Some(post) => (posts::find_published_by_id(app, post).await, Some(id)),
                None => return Ok(None),
            }
        }
    };
    match found {
        (Ok(post), comment) => Ok(Some((post, comment))),
        (Err(AppError::NotFound(_)), _) => Ok(None),
        (Err(e), _) => Err(e),
    }
}
