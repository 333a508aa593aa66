//! Posts brought from another blog (`features::imports`): checked and
//! rendered as any post is, but written with the slug and the dates they
//! had there, and without the event of a post going live. A post from
//! 2019 is not news: nothing that follows publications (notifications,
//! and later newsletters and federation) hears of it.

use super::{
    NewPost, PostFields, PostInput, PostStatus, PostUpdated, Publication, insert_tags,
    insert_with_free_slug, search, slug,
};
use crate::app::App;
use crate::db::{Timestamp, query};
use crate::error::AppResult;
use crate::features::accounts::User;
use crate::features::media;
use crate::jobs::events;

/// A post as another blog had it.
pub struct Imported {
    pub title: String,
    pub description: String,
    /// Markdown.
    pub body: String,
    pub tags: Vec<String>,
    /// What its address ended in there: the slug here, if free.
    pub slug: String,
    /// When it went live there; `None` for a draft.
    pub published_at: Option<Timestamp>,
    /// When it was written, if known.
    pub created_at: Option<Timestamp>,
}

/// Writes `post` by `author`, as a new post or, for a post imported before
/// (`existing`), over it. Returns its id and slug. A post that would not be
/// accepted from the editor (a blank title, a body too long) is refused
/// with the same field errors.
pub async fn write(
    app: &App,
    author: &User,
    post: &Imported,
    existing: Option<i64>,
) -> AppResult<(i64, String)> {
    let fields = PostFields {
        title: post.title.clone(),
        description: post.description.clone(),
        body: post.body.clone(),
        tags: post.tags.clone(),
        publication: Publication::Draft,
        description_required: false,
        email_subscribers: None,
    };
    let input = PostInput::parse(app, &fields).await?;
    let (status, published_at) = match post.published_at {
        Some(at) => (PostStatus::Published, Some(at)),
        None => (PostStatus::Draft, None),
    };
    let now = Timestamp::now();
    let created_at = post.created_at.or(post.published_at).unwrap_or(now);
    let db = &app.db;

    if let Some(id) = existing {
        let (search_text, search_tags) = search::indexed_text(&input.body_html, &input.tags);
        let mut tx = db.begin().await?;
        let slug: String = query(
            "UPDATE posts SET title = $1, description = $2, body = $3, body_html = $4,
                 body_html_version = $5, status = $6, published_at = $7, updated_at = $8,
                 search_text = $9, search_tags = $10
             WHERE id = $11 RETURNING slug",
        )
        .bind(&input.title)
        .bind(&input.description)
        .bind(&input.body)
        .bind(&input.body_html)
        .bind(input.body_html_version)
        .bind(status)
        .bind(published_at)
        .bind(now)
        .bind(search_text)
        .bind(search_tags)
        .bind(id)
        .scalar(&mut tx)
        .await?;
        query("DELETE FROM post_tags WHERE post_id = $1")
            .bind(id)
            .execute(&mut tx)
            .await?;
        insert_tags(&mut tx, id, &input.tags).await?;
        media::record_uses(&mut tx, media::Use::Post(id), &input.body).await?;
        events::record(&mut tx, &PostUpdated { post_id: id }, now).await?;
        tx.commit().await?;
        return Ok((id, slug));
    }

    let base = match slug::slugify(&post.slug) {
        empty if empty.is_empty() => slug::slugify(&input.title),
        base => base,
    };
    let new = NewPost {
        status,
        published_at,
        created_at,
        announce: false,
    };
    insert_with_free_slug(db, author, &input, &base, base.clone(), &new, now).await
}
