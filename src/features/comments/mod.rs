//! Comments on posts, in Markdown.

pub mod api;
pub mod emails;
pub mod web;

use serde::Serialize;
use sqlx::FromRow;

use crate::db::{Db, Query, Timestamp, query};
use crate::error::{AppError, AppResult, FieldErrors, Problem, Thing};
use crate::features::accounts::{Author, User};
use crate::features::posts::Post;
use crate::jobs::events::{self, Event};

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
    pub author_id: i64,
    #[sqlx(flatten)]
    pub author: Author,
    pub body: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

const SELECT_COMMENTS: &str = "
    SELECT c.id, c.post_id, c.author_id, u.username AS author_username, u.image AS author_image,
           u.deleted_at AS author_deleted_at, c.body, c.created_at, c.updated_at
    FROM comments c JOIN users u ON u.id = c.author_id";

pub fn parse_body(body: &str) -> Result<String, FieldErrors> {
    if body.trim().is_empty() {
        return Err(FieldErrors::single("body", Problem::Blank));
    }
    if body.chars().count() > MAX_BODY {
        return Err(FieldErrors::single(
            "body",
            Problem::TooLong { max: MAX_BODY },
        ));
    }
    Ok(body.to_owned())
}

/// A post's comments, oldest first.
pub async fn list(db: &Db, post: &Post) -> AppResult<Vec<Comment>> {
    let sql = format!("{SELECT_COMMENTS} WHERE c.post_id = $1 ORDER BY c.created_at, c.id");
    Ok(Query::assembled(sql).bind(post.id).fetch_all(db).await?)
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
    db: &Db,
    slug: &str,
    id: &str,
    viewer: Option<i64>,
) -> AppResult<(Post, Comment)> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound(Thing::Comment))?;
    let post = crate::features::posts::find(db, slug, viewer).await?;
    let comment = find(db, &post, id).await?;
    Ok((post, comment))
}

pub async fn create(db: &Db, author: &User, post: &Post, body: &str) -> AppResult<Comment> {
    let body = parse_body(body)?;
    let now = Timestamp::now();
    // The comment and its event are one transaction: what others do about
    // it (reply emails) cannot be lost.
    let mut tx = db.begin().await?;
    let id: i64 = query(
        "INSERT INTO comments (post_id, author_id, body, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $4) RETURNING id",
    )
    .bind(post.id)
    .bind(author.id)
    .bind(&body)
    .bind(now)
    .scalar(&mut tx)
    .await?;
    events::record(&mut tx, &CommentCreated { comment_id: id }, now).await?;
    tx.commit().await?;
    find(db, post, id).await
}

pub async fn update(
    db: &Db,
    user: &User,
    post: &Post,
    comment: &Comment,
    body: &str,
) -> AppResult<Comment> {
    if !user.can_modify(comment.author_id) {
        return Err(AppError::Forbidden(Thing::Comment));
    }
    let body = parse_body(body)?;
    query("UPDATE comments SET body = $1, updated_at = $2 WHERE id = $3")
        .bind(&body)
        .bind(Timestamp::now())
        .bind(comment.id)
        .execute(db)
        .await?;
    find(db, post, comment.id).await
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
