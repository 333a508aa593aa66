//! Comments on posts, in Markdown.

pub mod api;
pub mod emails;
pub mod web;

use std::sync::Arc;

use serde::Serialize;
use sqlx::FromRow;

use crate::app::App;

use crate::db::{Db, Query, Timestamp, Tx, query};
use crate::error::{AppError, AppResult, FieldErrors, Problem, Thing};
use crate::features::accounts::{Author, User};
use crate::features::media;
use crate::features::posts::{self, Post};
use crate::jobs::events::{self, Event};
use crate::markdown::{self, Shape, StoredIn};
use crate::page_cache::Shared;

pub const MAX_BODY: usize = 20_000;

/// A comment was posted.
#[derive(Debug, serde::Deserialize, Serialize)]
pub struct CommentCreated {
    pub comment_id: i64,
}

impl Event for CommentCreated {
    const KIND: &'static str = "comment_created";
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Comment {
    pub id: i64,
    pub post_id: i64,
    /// The account that wrote it; `None` for a guest's, who wrote on the
    /// blog this one was imported from (`author` then holds the name they
    /// gave, and `guest_url` the address).
    pub author_id: Option<i64>,
    #[sqlx(flatten)]
    /// A guest's picture (`guest_image`) is `author.image`.
    pub author: Author,
    pub guest_url: Option<String>,
    /// The comment this one answers.
    pub parent_id: Option<i64>,
    pub body: String,
    /// The body rendered when it was written; see [`list`].
    #[serde(skip)]
    pub body_html: Option<String>,
    #[serde(skip)]
    pub body_html_version: i32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

const SELECT_COMMENTS: &str = "
    SELECT c.id, c.post_id, c.author_id, COALESCE(u.username, c.guest_name) AS author_username,
           COALESCE(u.image, c.guest_image) AS author_image, u.deleted_at AS author_deleted_at, c.guest_url, c.parent_id,
           c.body, c.body_html, c.body_html_version, c.created_at, c.updated_at
    FROM comments c LEFT JOIN users u ON u.id = c.author_id";

/// A comment's text, checked, and rendered off the async threads.
pub struct CommentBody {
    source: String,
    html: String,
    /// What made `html` (`media::html_version`).
    version: i32,
}

pub async fn parse_body(app: &App, body: &str) -> AppResult<CommentBody> {
    let problem = if body.trim().is_empty() {
        Problem::Blank
    } else if body.chars().count() > MAX_BODY {
        Problem::TooLong { max: MAX_BODY }
    } else {
        let figures = media::figures(app, body).await?;
        match markdown::render_off_thread(body.to_owned(), figures, Shape::Note).await {
            Ok(html) => {
                return Ok(CommentBody {
                    source: body.to_owned(),
                    html,
                    version: media::html_version(&app.settings.media),
                });
            }
            Err(refusal) => refusal.into(),
        }
    };
    Err(AppError::Validation(FieldErrors::single("body", problem)))
}

/// Published posts with their comments, as every reader sees them, shared
/// between readers' pages until the next change (`page_cache::Shared`).
/// A published post with its comments.
type Discussion = Arc<(Post, Vec<Comment>)>;

#[derive(Clone)]
pub struct Discussions(Arc<Shared<Discussion>>);

impl Default for Discussions {
    fn default() -> Self {
        // A post with its comments is tens of kilobytes.
        Self(Arc::new(Shared::new(256)))
    }
}

/// A post and its comments, as this viewer may see them. A published
/// post's are the same for every reader but for what the post is to the
/// viewer (liked, following its author), so they are kept between changes
/// ([`Discussions`]) and only that is read (and kept, `posts::Relations`).
pub async fn discussion(
    app: &App,
    slug: &str,
    viewer: Option<i64>,
) -> AppResult<(Post, Vec<Comment>)> {
    let shared = &app.part::<Discussions>().0;
    let (post, comments) = match shared.get(&app.pages, slug) {
        Some(kept) => (kept.0.clone(), kept.1.clone()),
        None => {
            let generation = app.pages.generation();
            // Without a viewer, only a published post is found.
            match posts::find(app, slug, None).await {
                Ok(post) => {
                    let comments = list(app, &post).await?;
                    let kept = Arc::new((post.clone(), comments.clone()));
                    shared.put(&app.pages, slug.to_owned(), generation, kept);
                    (post, comments)
                }
                // A draft or a scheduled post, which only its author reads:
                // never shared.
                Err(AppError::NotFound(_)) if viewer.is_some() => {
                    let post = posts::find(app, slug, viewer).await?;
                    let comments = list(app, &post).await?;
                    return Ok((post, comments));
                }
                Err(e) => return Err(e),
            }
        }
    };
    match viewer {
        Some(viewer) => Ok((posts::with_viewer(app, post, viewer).await?, comments)),
        None => Ok((post, comments)),
    }
}

/// A post's comments, oldest first, with their HTML current.
pub async fn list(app: &App, post: &Post) -> AppResult<Vec<Comment>> {
    let db = &app.db;
    let sql = format!("{SELECT_COMMENTS} WHERE c.post_id = $1 ORDER BY c.created_at, c.id");
    let mut comments: Vec<Comment> = Query::assembled(sql).bind(post.id).fetch_all(db).await?;
    for comment in &mut comments {
        // Rendered when written; made again only after the renderer changed.
        markdown::keep_current(
            db,
            StoredIn::Comments,
            comment.id,
            &comment.body,
            &mut comment.body_html,
            &mut comment.body_html_version,
            media::html_version(&app.settings.media),
            media::figures(app, &comment.body),
        )
        .await?;
    }
    Ok(comments)
}

/// A comment of this post: an id that belongs to another post is not found
/// here, whatever the URL says.
pub async fn find(db: &Db, post: &Post, id: i64) -> AppResult<Comment> {
    let sql = format!("{SELECT_COMMENTS} WHERE c.id = $1 AND c.post_id = $2");
    let comment: Option<Comment> = Query::assembled(sql)
        .bind(id)
        .bind(post.id)
        .fetch_optional(db)
        .await?;
    comment.ok_or(AppError::NotFound(Thing::Comment))
}

/// A comment by the post's slug and the comment's id as they appear in a
/// URL, if the viewer may see the post. An id that is not a number, or that
/// belongs to another post, is not found.
pub async fn find_by_path(
    app: &App,
    slug: &str,
    id: &str,
    viewer: Option<i64>,
) -> AppResult<(Post, Comment)> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound(Thing::Comment))?;
    let post = crate::features::posts::find(app, slug, viewer).await?;
    let comment = find(&app.db, &post, id).await?;
    Ok((post, comment))
}

pub async fn create(app: &App, author: &User, post: &Post, body: &str) -> AppResult<Comment> {
    let body = parse_body(app, body).await?;
    let now = Timestamp::now();
    // The comment and its event are one transaction: what others do about
    // it (reply emails) cannot be lost.
    let mut tx = app.db.begin().await?;
    let id: i64 = query(
        "INSERT INTO comments (post_id, author_id, body, body_html, body_html_version,
                               created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(post.id)
    .bind(author.id)
    .bind(&body.source)
    .bind(&body.html)
    .bind(body.version)
    .bind(now)
    .scalar(&mut tx)
    .await?;
    media::record_uses(&mut tx, media::Use::Comment(id), &body.source).await?;
    events::record(&mut tx, &CommentCreated { comment_id: id }, now).await?;
    tx.commit().await?;
    find(&app.db, post, id).await
}

/// A comment by a guest: written on the blog a post was imported from, or
/// a reply from the fediverse (`federation::moderation`).
pub struct GuestComment {
    pub name: String,
    /// The address they gave.
    pub url: Option<String>,
    /// Markdown.
    pub body: String,
    pub created_at: Timestamp,
    /// The comment it answers, written before it.
    pub parent_id: Option<i64>,
    /// Their picture, an image of this site (`/media/NAME`).
    pub image: Option<String>,
}

/// The text whose images a comment uses (`media::record_uses`): its own,
/// and a guest's picture, which lives as long as a comment shows it.
fn showing(body: &str, guest_image: Option<&str>) -> String {
    match guest_image {
        Some(image) => format!("{body}\n{image}"),
        None => body.to_owned(),
    }
}

/// Writes a guest's comment on the post `post_id`, or over the one written
/// before (`existing`). Checked and rendered as any comment, but without
/// the event of a comment posted: imported replies years late are not news
/// to anyone's inbox, and a reply from the fediverse was seen by the
/// author who approved it. Returns its id.
pub async fn write_guest(
    app: &App,
    post_id: i64,
    comment: &GuestComment,
    existing: Option<i64>,
) -> AppResult<i64> {
    let body = parse_body(app, &comment.body).await?;
    let mut tx = app.db.begin().await?;
    let id: i64 =
        match existing {
            // A reply's parent is older than it (archives write comments in
            // id order): a parent imported after its reply is not linked.
            Some(id) => {
                query(
                    "UPDATE comments SET body = $1, body_html = $2, body_html_version = $3,
                     guest_name = $4, guest_url = $5, updated_at = $6,
                     parent_id = CASE WHEN $7 < id THEN $7 END, guest_image = $9
                 WHERE id = $8 RETURNING id",
                )
                .bind(&body.source)
                .bind(&body.html)
                .bind(body.version)
                .bind(&comment.name)
                .bind(&comment.url)
                .bind(comment.created_at)
                .bind(comment.parent_id)
                .bind(id)
                .bind(&comment.image)
                .scalar(&mut tx)
                .await?
            }
            None => query(
                "INSERT INTO comments (post_id, guest_name, guest_url, parent_id, body, body_html,
                                       body_html_version, created_at, updated_at, guest_image)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) RETURNING id",
            )
            .bind(post_id)
            .bind(&comment.name)
            .bind(&comment.url)
            .bind(comment.parent_id)
            .bind(&body.source)
            .bind(&body.html)
            .bind(body.version)
            .bind(comment.created_at)
            .bind(&comment.image)
            .scalar(&mut tx)
            .await?,
        };
    let uses = showing(&body.source, comment.image.as_deref());
    media::record_uses(&mut tx, media::Use::Comment(id), &uses).await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn update(
    app: &App,
    user: &User,
    post: &Post,
    comment: &Comment,
    body: &str,
) -> AppResult<Comment> {
    if !user.can_modify(comment.author_id) {
        return Err(AppError::Forbidden(Thing::Comment));
    }
    let body = parse_body(app, body).await?;
    let mut tx = app.db.begin().await?;
    query(
        "UPDATE comments SET body = $1, body_html = $4, body_html_version = $5, updated_at = $2
         WHERE id = $3",
    )
    .bind(&body.source)
    .bind(Timestamp::now())
    .bind(comment.id)
    .bind(&body.html)
    .bind(body.version)
    .execute(&mut tx)
    .await?;
    let guest_image = comment
        .author_id
        .is_none()
        .then_some(comment.author.image.as_deref())
        .flatten();
    let uses = showing(&body.source, guest_image);
    media::record_uses(&mut tx, media::Use::Comment(comment.id), &uses).await?;
    tx.commit().await?;

    find(&app.db, post, comment.id).await
}

pub async fn delete(db: &Db, user: &User, comment: &Comment) -> AppResult<()> {
    if !user.can_modify(comment.author_id) {
        return Err(AppError::Forbidden(Thing::Comment));
    }
    query("DELETE FROM comments WHERE id = $1")
        .bind(comment.id)
        .execute(db)
        .await?;
    Ok(())
}

/// Shows `image` (an image of this site, or none) as the picture of the
/// guest who wrote the comment `id`.
pub async fn set_guest_image(tx: &mut Tx, id: i64, image: Option<&str>) -> AppResult<()> {
    let body: Option<String> = query(
        "UPDATE comments SET guest_image = $1 WHERE id = $2 AND author_id IS NULL RETURNING body",
    )
    .bind(image)
    .bind(id)
    .scalar_optional(&mut *tx)
    .await?;
    if let Some(body) = body {
        media::record_uses(tx, media::Use::Comment(id), &showing(&body, image)).await?;
    }
    Ok(())
}

/// Removes a guest's comment: its writer took it back (the fediverse).
pub async fn delete_guest(db: &Db, id: i64) -> AppResult<()> {
    query("DELETE FROM comments WHERE id = $1 AND author_id IS NULL")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// The ids of this post's commenters whom `viewer` follows.
pub async fn followed_authors(db: &Db, post: &Post, viewer: i64) -> AppResult<Vec<i64>> {
    Ok(query(
        "SELECT DISTINCT c.author_id FROM comments c
         JOIN follows f ON f.followee_id = c.author_id AND f.follower_id = $2
         WHERE c.post_id = $1",
    )
    .bind(post.id)
    .bind(viewer)
    .scalars(db)
    .await?)
}
