//! Posts: writing, publishing (now or at a time), tags, listing in blog
//! mode, and reactions.

pub mod api;
pub mod import;
pub mod preview_links;
pub mod search;
pub mod slug;
pub mod web;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use crate::app::App;
use crate::jobs::events::{self, Event};
use crate::page_cache::{Shareable, Shared};

use crate::db::{self, Db, Query, Timestamp, Tx, query};
use crate::error::{AppError, AppResult, FieldErrors, Problem, Thing};
use crate::features::accounts::{Author, User};
use crate::features::media;

use crate::http::limit::RateLimit;
use crate::markdown::{self, Shape, StoredIn};

pub const MAX_TITLE: usize = 200;
pub const MAX_DESCRIPTION: usize = 500;
pub const MAX_BODY: usize = 200_000;
pub const MAX_TAGS: usize = 10;
pub const MAX_TAG_LEN: usize = 40;

/// Whether a post is public. A published post with a future `published_at`
/// is scheduled: it becomes visible by the passing of time alone, so there
/// is no state to flip and nothing can go live late.
const VISIBLE: &str = "(p.status = 'published' AND p.published_at <= {now})";

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Post {
    pub id: i64,
    pub author_id: i64,
    #[sqlx(flatten)]
    pub author: Author,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub body: String,
    /// The body rendered when it was written; see [`find`].
    #[serde(skip)]
    pub body_html: Option<String>,
    #[serde(skip)]
    pub body_html_version: i32,
    pub status: PostStatus,
    /// Its author chose to email it to subscribers when it goes live
    /// (`newsletter`).
    pub email_subscribers: bool,
    pub published_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub edited_at: Option<Timestamp>,
    pub likes: i64,
    pub liked: bool,
    /// Likes and boosts from the fediverse (`federation`).
    pub fediverse_likes: i64,
    pub boosts: i64,
    pub comment_count: i64,
    pub following_author: bool,
    /// Views counted so far (recent ones may still be on their way).
    pub views: i64,
    #[sqlx(skip)]
    pub tags: Vec<String>,
}

/// What the author decided, as stored. Whether a published post is visible
/// yet depends on its time as well: see [`PostState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum PostStatus {
    Draft,
    Published,
}

/// A post went live: delivered at its publication time, so a scheduled
/// post's subscribers hear of it when readers can see it, and not at all if
/// it was unpublished or moved to another time before then.
#[derive(Debug, Deserialize, Serialize)]
pub struct PostPublished {
    pub post_id: i64,
}

impl Event for PostPublished {
    const KIND: &'static str = "post_published";

    async fn still_stands(&self, app: &App, occurs_at: Timestamp) -> anyhow::Result<bool> {
        let published_at: Option<Option<Timestamp>> =
            query("SELECT published_at FROM posts WHERE id = $1 AND status = $2")
                .bind(self.post_id)
                .bind(PostStatus::Published)
                .scalar_optional(&app.db)
                .await?;
        Ok(published_at.flatten() == Some(occurs_at))
    }
}

/// A post's content or publication changed.
#[derive(Debug, Deserialize, Serialize)]
pub struct PostUpdated {
    pub post_id: i64,
}

impl Event for PostUpdated {
    const KIND: &'static str = "post_updated";
}

/// A post was deleted; its slug says which page is gone.
#[derive(Debug, Deserialize, Serialize)]
pub struct PostDeleted {
    pub post_id: i64,
    pub slug: String,
    /// Whose it was, and whether readers could see it (who was told of
    /// it, and must be told it is gone). Absent in events recorded before.
    #[serde(default)]
    pub author_id: Option<i64>,
    #[serde(default)]
    pub was_published: bool,
}

impl Event for PostDeleted {
    const KIND: &'static str = "post_deleted";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PostState {
    Draft,
    Scheduled,
    Published,
}

impl Post {
    /// What a list or a feed says of the post: its description, or, when
    /// the author wrote none, its first words (at most `max` characters).
    pub fn summary(&self, max: usize) -> String {
        match self.description.trim() {
            "" => markdown::excerpt(self.body_html.as_deref().unwrap_or_default(), max),
            description => description.to_owned(),
        }
    }

    pub fn state(&self) -> PostState {
        match (self.status, self.published_at) {
            (PostStatus::Published, Some(at)) if at <= Timestamp::now() => PostState::Published,
            (PostStatus::Published, _) => PostState::Scheduled,
            (PostStatus::Draft, _) => PostState::Draft,
        }
    }
}

// What a post is to the viewer `$1`: read with every post, and on their own
// for a post read without a viewer ([`viewer_flags`]).
macro_rules! liked {
    () => {
        "EXISTS (SELECT 1 FROM reactions r WHERE r.post_id = p.id AND r.user_id = $1)"
    };
}
macro_rules! following_author {
    () => {
        "EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $1 AND f.followee_id = p.author_id)"
    };
}

const SELECT_POSTS: &str = concat!(
    "
    SELECT p.id, p.author_id, u.username AS author_username, u.image AS author_image,
           u.deleted_at AS author_deleted_at, p.slug, p.title, p.description, p.body,
           p.body_html, p.body_html_version, p.status, p.email_subscribers,
           p.published_at, p.created_at, p.updated_at, p.edited_at,
           (SELECT COUNT(*) FROM reactions r WHERE r.post_id = p.id) AS likes,
           (SELECT COUNT(*) FROM remote_reactions rr WHERE rr.post_id = p.id AND rr.kind = 'like')
             AS fediverse_likes,
           (SELECT COUNT(*) FROM remote_reactions rr WHERE rr.post_id = p.id
              AND rr.kind = 'announce') AS boosts,
           ",
    liked!(),
    " AS liked,
           (SELECT COUNT(*) FROM comments c WHERE c.post_id = p.id) AS comment_count,
           ",
    following_author!(),
    " AS following_author,
           COALESCE((SELECT v.views FROM post_views v WHERE v.post_id = p.id), 0) AS views
    FROM posts p JOIN users u ON u.id = p.author_id"
);

/// What the fields of an editor or an API call hold, before parsing.
#[derive(Debug, Default, Clone)]
pub struct PostFields {
    pub title: String,
    pub description: String,
    pub body: String,
    pub tags: Vec<String>,
    pub publication: Publication,
    /// The site leaves the description optional; the RealWorld API requires one.
    pub description_required: bool,
    /// Email it to subscribers when it goes live; `None`: as it was (the
    /// API does not say).
    pub email_subscribers: Option<bool>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Publication {
    #[default]
    Draft,
    /// Published now, or for a post that already is, when it was.
    Publish,
    /// Published from the given time (scheduled when it is in the future).
    PublishAt(Timestamp),
    /// As the post already is (the API edits content, not publication).
    Unchanged,
}

/// A post's content, validated, with its body rendered.
#[derive(Debug, Clone)]
pub struct PostInput {
    title: String,
    description: String,
    body: String,
    body_html: String,
    /// What made `body_html` (`media::html_version`).
    body_html_version: i32,
    tags: Vec<String>,
    publication: Publication,
    email_subscribers: Option<bool>,
}

impl PostInput {
    /// Checks every field, and renders the body (off the async threads): a
    /// body too complex to render is a field error like any other.
    pub async fn parse(app: &App, fields: &PostFields) -> AppResult<Self> {
        let mut errors = FieldErrors::new();
        let title = errors.check("title", parse_title(&fields.title));
        let description = fields.description.trim();
        if description.is_empty() && fields.description_required {
            errors.add("description", Problem::Blank);
        } else if description.chars().count() > MAX_DESCRIPTION {
            errors.add(
                "description",
                Problem::TooLong {
                    max: MAX_DESCRIPTION,
                },
            );
        }
        let tags = errors
            .check("tags", normalize_tags(&fields.tags))
            .unwrap_or_default();
        let body_html = errors.check("body", render_body(app, &fields.body).await?);
        let (true, Some(title), Some(body_html)) = (errors.is_empty(), title, body_html) else {
            return Err(AppError::Validation(errors));
        };
        Ok(Self {
            title: title.to_owned(),
            description: description.to_owned(),
            body: fields.body.clone(),
            body_html,
            body_html_version: media::html_version(&app.settings.media),
            tags,
            publication: fields.publication,
            email_subscribers: fields.email_subscribers,
        })
    }
}

/// A title as posts (and the site's pages) take it: trimmed, not blank, at
/// most [`MAX_TITLE`] characters.
pub fn parse_title(title: &str) -> Result<&str, Problem> {
    let title = title.trim();
    if title.is_empty() {
        Err(Problem::Blank)
    } else if title.chars().count() > MAX_TITLE {
        Err(Problem::TooLong { max: MAX_TITLE })
    } else {
        Ok(title)
    }
}

/// A body as posts (and the site's pages) take it: not blank, at most
/// [`MAX_BODY`] characters, rendered off the async threads with its images
/// laid out. The outer error refuses the request; the inner one is about
/// the text, for beside the field.
pub async fn render_body(app: &App, source: &str) -> AppResult<Result<String, Problem>> {
    if source.trim().is_empty() {
        return Ok(Err(Problem::Blank));
    }
    if source.chars().count() > MAX_BODY {
        return Ok(Err(Problem::TooLong { max: MAX_BODY }));
    }
    let figures = media::figures(app, source).await?;
    Ok(
        markdown::render_off_thread(source.to_owned(), figures, Shape::Article)
            .await
            .map_err(Problem::from),
    )
}

/// Each member's budget of previews, a part of the `App`: the editor asks
/// for one as the author pauses typing, each costs a render, and nobody
/// should be able to keep the server's cores busy with them.
#[derive(Clone)]
pub struct Previews(Arc<RateLimit>);

impl Default for Previews {
    fn default() -> Self {
        Self(Arc::new(RateLimit::new(20, Duration::from_millis(500))))
    }
}

/// What a member is writing (a post or a comment), rendered for them to
/// check, within their budget of previews. The outer error refuses the
/// request; the inner one is about the text, for beside the field.
pub async fn preview(
    app: &App,
    user: &User,
    source: &str,
    shape: Shape,
) -> AppResult<Result<String, Problem>> {
    app.part::<Previews>().0.check(user.id)?;
    if source.chars().count() > MAX_BODY {
        return Ok(Err(Problem::TooLong { max: MAX_BODY }));
    }
    let figures = media::figures(app, source).await?;
    Ok(
        markdown::render_off_thread(source.to_owned(), figures, shape)
            .await
            .map_err(Problem::from),
    )
}

/// Splits a comma-separated tag field ("rust, web") into tags.
pub fn split_tags(text: &str) -> Vec<String> {
    text.split(',').map(str::to_owned).collect()
}

/// Trims tags, drops empty ones and repeats (keeping the first place), and
/// checks their number and length. Order is the author's.
pub fn normalize_tags(tags: &[String]) -> Result<Vec<String>, Problem> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.split_whitespace().collect::<Vec<_>>().join(" ");
        if tag.is_empty() || out.contains(&tag) {
            continue;
        }
        if tag.chars().count() > MAX_TAG_LEN {
            return Err(Problem::ItemTooLong { max: MAX_TAG_LEN });
        }
        // A tag is a path segment of its page (/tags/NAME), percent-encoded
        // in links, which keeps a '/' inside it; but "." and ".." would be
        // read by browsers as "here" and "up", leaving the tag's page.
        if tag == "." || tag == ".." {
            return Err(Problem::Format(
                "may not be '.' or '..' (each tag names a page /tags/NAME)",
            ));
        }
        out.push(tag);
    }
    if out.len() > MAX_TAGS {
        return Err(Problem::TooMany { max: MAX_TAGS });
    }
    Ok(out)
}

/// Which posts a list shows; the filters that are set all apply.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Blog mode: only the owner's posts.
    pub owner_only: bool,
    /// Posts by this username.
    pub author: Option<String>,
    pub tag: Option<String>,
    /// Posts liked by this username.
    pub liked_by: Option<String>,
    /// Posts by the authors this user follows.
    pub followed_by: Option<i64>,
    /// This user's own drafts and scheduled posts, instead of published posts.
    pub unpublished_of: Option<i64>,
}

/// A value of a listing's `WHERE` clause.
enum Arg {
    Int(i64),
    Text(String),
    Time(Timestamp),
}

impl Arg {
    fn bind_to<'q>(&self, query: Query<'q>) -> Query<'q> {
        match self {
            Arg::Int(i) => query.bind(*i),
            Arg::Text(t) => query.bind(t.clone()),
            Arg::Time(t) => query.bind(*t),
        }
    }
}

impl Listing {
    /// The WHERE clause, with placeholders numbered from `first`, and the
    /// values to bind to them in order.
    fn clause(&self, first: usize) -> (String, Vec<Arg>) {
        let mut conditions = Vec::new();
        let mut args = Vec::new();
        let mut arg = |value: Arg| {
            args.push(value);
            format!("${}", first + args.len() - 1)
        };
        let visible = VISIBLE.replace("{now}", &arg(Arg::Time(Timestamp::now())));
        match self.unpublished_of {
            Some(user) => {
                conditions.push(format!(
                    "p.author_id = {} AND NOT {visible}",
                    arg(Arg::Int(user))
                ));
            }
            None => conditions.push(visible),
        }
        if self.owner_only {
            conditions.push("u.role = 'owner'".into());
        }
        if let Some(author) = &self.author {
            conditions.push(format!(
                "u.username = {} AND u.deleted_at IS NULL",
                arg(Arg::Text(author.clone()))
            ));
        }
        if let Some(tag) = &self.tag {
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM post_tags pt JOIN tags t ON t.id = pt.tag_id
                         WHERE pt.post_id = p.id AND t.name = {})",
                arg(Arg::Text(tag.clone()))
            ));
        }
        if let Some(username) = &self.liked_by {
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM reactions r JOIN users ru ON ru.id = r.user_id
                         WHERE r.post_id = p.id AND ru.username = {})",
                arg(Arg::Text(username.clone()))
            ));
        }
        if let Some(user) = self.followed_by {
            conditions.push(format!(
                "p.author_id IN (SELECT followee_id FROM follows WHERE follower_id = {})",
                arg(Arg::Int(user))
            ));
        }
        (conditions.join(" AND "), args)
    }
}

/// One page of a listing, newest first (a stable order: ties broken by
/// id), and how many posts the listing holds in all.
pub async fn list(
    db: &Db,
    viewer: Option<i64>,
    listing: &Listing,
    offset: i64,
    limit: i64,
) -> AppResult<(Vec<Post>, i64)> {
    let order = if listing.unpublished_of.is_some() {
        "p.updated_at DESC, p.id DESC"
    } else {
        "p.published_at DESC, p.id DESC"
    };
    let (clause, args) = listing.clause(2);
    let next = args.len() + 2;
    let list_sql = format!(
        "{SELECT_POSTS} WHERE {clause} ORDER BY {order} LIMIT ${next} OFFSET ${}",
        next + 1
    );
    let (count_clause, count_args) = listing.clause(1);
    let count_sql = format!(
        "SELECT COUNT(*) FROM posts p JOIN users u ON u.id = p.author_id WHERE {count_clause}"
    );
    let list = Query::assembled(list_sql).bind(viewer.unwrap_or(0));
    let list = args.iter().fold(list, |q, arg| arg.bind_to(q));
    let mut posts: Vec<Post> = list.bind(limit).bind(offset).fetch_all(db).await?;
    let count = count_args
        .iter()
        .fold(Query::assembled(count_sql), |q, arg| arg.bind_to(q));
    let total: i64 = count.scalar(db).await?;
    attach_tags(db, &mut posts).await?;
    Ok((posts, total))
}

async fn attach_tags(db: &Db, posts: &mut [Post]) -> AppResult<()> {
    if posts.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SELECT pt.post_id, t.name FROM post_tags pt JOIN tags t ON t.id = pt.tag_id
         WHERE pt.post_id IN ({}) ORDER BY pt.post_id, pt.position",
        crate::db::placeholders(1, posts.len())
    );
    let rows: Vec<(i64, String)> = Query::assembled(sql)
        .bind_all(posts.iter().map(|post| post.id))
        .fetch_all(db)
        .await?;
    let mut by_post: HashMap<i64, Vec<String>> = HashMap::new();
    for (post_id, name) in rows {
        by_post.entry(post_id).or_default().push(name);
    }
    for post in posts {
        post.tags = by_post.remove(&post.id).unwrap_or_default();
    }
    Ok(())
}

/// A post by its slug, if the viewer may see it: anyone when it is
/// published, only its author while it is a draft or scheduled.
pub async fn find(app: &App, slug: &str, viewer: Option<i64>) -> AppResult<Post> {
    let db = &app.db;
    let sql = format!("{SELECT_POSTS} WHERE p.slug = $2");
    let post: Option<Post> = Query::assembled(sql)
        .bind(viewer.unwrap_or(0))
        .bind(slug)
        .fetch_optional(db)
        .await?;
    let mut post = post.ok_or(AppError::NotFound(Thing::Post))?;
    if post.state() != PostState::Published && Some(post.author_id) != viewer {
        return Err(AppError::NotFound(Thing::Post));
    }
    attach_tags(db, std::slice::from_mut(&mut post)).await?;
    keep_html_current(app, &mut post).await?;
    Ok(post)
}

/// A published post by its id, as anyone sees it (federation names posts
/// by id: a slug may change).
pub async fn find_published_by_id(app: &App, id: i64) -> AppResult<Post> {
    let sql = format!("{SELECT_POSTS} WHERE p.id = $2");
    let post: Option<Post> = Query::assembled(sql)
        .bind(0_i64)
        .bind(id)
        .fetch_optional(&app.db)
        .await?;
    let mut post = post
        .filter(|post| post.state() == PostState::Published)
        .ok_or(AppError::NotFound(Thing::Post))?;
    attach_tags(&app.db, std::slice::from_mut(&mut post)).await?;
    keep_html_current(app, &mut post).await?;
    Ok(post)
}

/// Makes a post's stored HTML current: rendered when written, it is made
/// again only after the renderer (or where images are served from)
/// changed.
pub async fn keep_html_current(app: &App, post: &mut Post) -> Result<(), sqlx::Error> {
    markdown::keep_current(
        &app.db,
        StoredIn::Posts,
        post.id,
        &post.body,
        &mut post.body_html,
        &mut post.body_html_version,
        media::html_version(&app.settings.media),
        media::figures(app, &post.body),
    )
    .await
}

/// What posts are to their readers (liked, following the author), kept
/// between changes like the pages (`page_cache::Shared`): liking and
/// following are changes, which forget it.
#[derive(Clone)]
pub struct Relations(Arc<Shared<(bool, bool)>>);

impl Default for Relations {
    fn default() -> Self {
        Self(Arc::new(Shared::new(16_384)))
    }
}

/// Sets what the post is to this viewer (liked, following its author) on
/// a post read without one: a published post is the same for everyone
/// else, so it can be shared between readers and only this is read.
pub async fn with_viewer(app: &App, mut post: Post, viewer: i64) -> AppResult<Post> {
    let kept = &app.part::<Relations>().0;
    let key = format!("{}:{viewer}", post.id);
    let (liked, following_author) = match kept.get(&app.pages, &key) {
        Some(relation) => relation,
        None => {
            let generation = app.pages.generation();
            let sql = concat!(
                "SELECT ",
                liked!(),
                ", ",
                following_author!(),
                " FROM posts p WHERE p.id = $2"
            );
            let relation: (bool, bool) = query(sql)
                .bind(viewer)
                .bind(post.id)
                .fetch_one(&app.db)
                .await?;
            kept.put(&app.pages, key, generation, relation);
            relation
        }
    };
    post.liked = liked;
    post.following_author = following_author;
    Ok(post)
}

/// A post the user may modify (their own, or any for an admin). Drafts of
/// others stay invisible even to admins: they are not published writing.
pub async fn find_for_edit(app: &App, slug: &str, user: &User) -> AppResult<Post> {
    let post = find(app, slug, Some(user.id)).await?;
    if !user.can_modify(post.author_id) {
        return Err(AppError::Forbidden(Thing::Post));
    }
    Ok(post)
}

fn publication_columns(
    publication: Publication,
    previous: Option<&Post>,
    now: Timestamp,
) -> (PostStatus, Option<Timestamp>) {
    match publication {
        Publication::Unchanged => match previous {
            Some(p) if p.status == PostStatus::Published => (PostStatus::Published, p.published_at),
            Some(_) => (PostStatus::Draft, None),
            None => (PostStatus::Published, Some(now)),
        },
        Publication::Draft => (PostStatus::Draft, None),
        Publication::PublishAt(at) => (PostStatus::Published, Some(at)),
        Publication::Publish => {
            let kept = previous
                .filter(|p| p.status == PostStatus::Published)
                .and_then(|p| p.published_at)
                .filter(|at| *at <= now);
            (PostStatus::Published, Some(kept.unwrap_or(now)))
        }
    }
}

/// Attaches tags, in order, to a post.
async fn insert_tags(tx: &mut Tx, post_id: i64, tags: &[String]) -> Result<(), sqlx::Error> {
    for (position, tag) in tags.iter().enumerate() {
        query("INSERT INTO tags (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
            .bind(tag)
            .execute(&mut *tx)
            .await?;
        query(
            "INSERT INTO post_tags (post_id, tag_id, position)
             SELECT $1, id, $2 FROM tags WHERE name = $3",
        )
        .bind(post_id)
        .bind(position as i64)
        .bind(tag)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

pub async fn create(app: &App, author: &User, input: &PostInput) -> AppResult<Post> {
    let db = &app.db;
    let now = Timestamp::now();
    let (status, published_at) = publication_columns(input.publication, None, now);
    let base = slug::slugify(&input.title);
    // A post nobody else may read yet (a draft, a scheduled post) takes a
    // random suffix from the start. Were it to hold the plain slug, anyone
    // could learn its title by publishing a post of the same title and
    // seeing theirs get the suffix.
    let readable_now = status == PostStatus::Published && published_at.is_some_and(|at| at <= now);
    let first = if readable_now {
        base.clone()
    } else {
        slug::with_suffix(&base)
    };
    let new = NewPost {
        status,
        published_at,
        created_at: now,
        announce: true,
    };
    let (_, slug) = insert_with_free_slug(db, author, input, &base, first, &new, now).await?;
    find(app, &slug, Some(author.id)).await
}

/// What a new post's row holds besides its content.
struct NewPost {
    status: PostStatus,
    published_at: Option<Timestamp>,
    created_at: Timestamp,
    /// Whether its going live is an event (not for a post imported from
    /// another blog: see `import`).
    announce: bool,
}

/// Inserts the post as `first` or, while that slug is taken, as `base`
/// with a random suffix; its id and slug.
async fn insert_with_free_slug(
    db: &Db,
    author: &User,
    input: &PostInput,
    base: &str,
    first: String,
    new: &NewPost,
    now: Timestamp,
) -> AppResult<(i64, String)> {
    let mut candidate = first;
    // A taken slug aborts the transaction (PostgreSQL requires it), so each
    // try is a transaction of its own.
    for _ in 0..5 {
        match insert_post(db, author, input, &candidate, new, now).await {
            Ok(id) => return Ok((id, candidate)),
            Err(e) if db::unique_violation(&e) == Some(db::Unique::PostSlug) => {
                candidate = slug::with_suffix(base);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(AppError::Internal(anyhow::anyhow!(
        "no free slug for {base:?} after 5 tries"
    )))
}

/// The post and its tags, in one transaction.
async fn insert_post(
    db: &Db,
    author: &User,
    input: &PostInput,
    slug: &str,
    new: &NewPost,
    now: Timestamp,
) -> Result<i64, sqlx::Error> {
    let (search_text, search_tags) = search::indexed_text(&input.body_html, &input.tags);
    let mut tx = db.begin().await?;
    let id: i64 = query(
        "INSERT INTO posts (author_id, slug, title, description, body, body_html,
                            body_html_version, status, published_at, created_at, updated_at,
                            search_text, search_tags, email_subscribers)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
    )
    .bind(author.id)
    .bind(slug)
    .bind(&input.title)
    .bind(&input.description)
    .bind(&input.body)
    .bind(&input.body_html)
    .bind(input.body_html_version)
    .bind(new.status)
    .bind(new.published_at)
    .bind(new.created_at)
    .bind(now)
    .bind(search_text)
    .bind(search_tags)
    .bind(input.email_subscribers.unwrap_or(false))
    .scalar(&mut tx)
    .await?;
    insert_tags(&mut tx, id, &input.tags).await?;
    media::record_uses(&mut tx, media::Use::Post(id), &input.body).await?;
    if let (true, PostStatus::Published, Some(at)) = (new.announce, new.status, new.published_at) {
        events::record(&mut tx, &PostPublished { post_id: id }, at).await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// Replaces a post's content. The slug never changes, so links keep working.
pub async fn update(app: &App, user: &User, post: &Post, input: &PostInput) -> AppResult<Post> {
    if !user.can_modify(post.author_id) {
        return Err(AppError::Forbidden(Thing::Post));
    }
    // Strictly later than the last update, so every edit shows in updatedAt
    // even at the API's millisecond precision.
    let now = Timestamp::now().max(post.updated_at + time::Duration::milliseconds(1));
    let (status, published_at) = publication_columns(input.publication, Some(post), now);
    // "Edited" is shown only for changes made after the post went live.
    let edited_at = if post.state() == PostState::Published {
        Some(now)
    } else {
        post.edited_at
    };
    let (search_text, search_tags) = search::indexed_text(&input.body_html, &input.tags);
    let mut tx = app.db.begin().await?;
    query(
        "UPDATE posts SET title = $1, description = $2, body = $3, status = $4,
             published_at = $5, updated_at = $6, edited_at = $7, body_html = $9,
             body_html_version = $10, search_text = $11, search_tags = $12,
             email_subscribers = COALESCE($13, email_subscribers)
         WHERE id = $8",
    )
    .bind(&input.title)
    .bind(&input.description)
    .bind(&input.body)
    .bind(status)
    .bind(published_at)
    .bind(now)
    .bind(edited_at)
    .bind(post.id)
    .bind(&input.body_html)
    .bind(input.body_html_version)
    .bind(search_text)
    .bind(search_tags)
    .bind(input.email_subscribers)
    .execute(&mut tx)
    .await?;
    query("DELETE FROM post_tags WHERE post_id = $1")
        .bind(post.id)
        .execute(&mut tx)
        .await?;
    insert_tags(&mut tx, post.id, &input.tags).await?;
    media::record_uses(&mut tx, media::Use::Post(post.id), &input.body).await?;
    let post_id = post.id;

    events::record(&mut tx, &PostUpdated { post_id }, now).await?;
    // Going live, now or at a (new) time.
    if let (PostStatus::Published, Some(at)) = (status, published_at)
        && (post.status, post.published_at) != (status, published_at)
    {
        events::record(&mut tx, &PostPublished { post_id }, at).await?;
    }
    tx.commit().await?;
    // Read back as the editor sees it (an admin's likes, follows), but an
    // admin cannot read another's draft, so fall back to the author's view.
    match find(app, &post.slug, Some(user.id)).await {
        Err(AppError::NotFound(Thing::Post)) => find(app, &post.slug, Some(post.author_id)).await,
        found => found,
    }
}

pub async fn delete(db: &Db, user: &User, post: &Post) -> AppResult<()> {
    if !user.can_modify(post.author_id) {
        return Err(AppError::Forbidden(Thing::Post));
    }
    let mut tx = db.begin().await?;
    query("DELETE FROM posts WHERE id = $1")
        .bind(post.id)
        .execute(&mut tx)
        .await?;
    let event = PostDeleted {
        post_id: post.id,
        slug: post.slug.clone(),
        author_id: Some(post.author_id),
        was_published: post.state() == PostState::Published,
    };
    events::record(&mut tx, &event, Timestamp::now()).await?;
    tx.commit().await?;
    Ok(())
}

/// The subscriber to [`AccountDeleted`](crate::features::accounts::AccountDeleted):
/// a deleted account's likes go with it, as its follows do, rather than
/// staying in every count (and in the list of what it liked) under
/// "[deleted]". Idempotent, as delivery is at least once.
pub async fn forget_likes_of_deleted_account(
    app: App,
    event: crate::features::accounts::AccountDeleted,
) -> anyhow::Result<()> {
    query("DELETE FROM reactions WHERE user_id = $1")
        .bind(event.user_id)
        .execute(&app.db)
        .await?;
    // Pages show like counts; this ran in a worker, not a request.
    crate::http::cache::site_changed(&app);
    Ok(())
}

/// Whether an author may like their own post. The site says no; the
/// RealWorld API lets authors favorite their own articles (its conformance
/// suite does), so each door states its policy here, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfReaction {
    Refuse,
    Allow,
}

impl SelfReaction {
    /// Whether `user` may like `post` under this policy.
    pub fn permits(self, user: &User, post: &Post) -> bool {
        self == SelfReaction::Allow || post.author_id != user.id
    }
}

/// Likes a post; liking twice is one like.
pub async fn react(db: &Db, user: &User, post: &Post, own: SelfReaction) -> AppResult<()> {
    if !own.permits(user, post) {
        return Err(FieldErrors::single(
            "reaction",
            Problem::Refused("is not possible on your own post"),
        )
        .into());
    }
    query(
        "INSERT INTO reactions (post_id, user_id, kind, created_at) VALUES ($1, $2, 'like', $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(post.id)
    .bind(user.id)
    .bind(Timestamp::now())
    .execute(db)
    .await?;
    Ok(())
}

/// Takes back the caller's own like, and only theirs.
pub async fn unreact(db: &Db, user: &User, post: &Post) -> AppResult<()> {
    query("DELETE FROM reactions WHERE post_id = $1 AND user_id = $2 AND kind = 'like'")
        .bind(post.id)
        .bind(user.id)
        .execute(db)
        .await?;
    Ok(())
}

/// When the next scheduled post goes live, if one is waiting: every
/// listing changes then.
pub async fn next_publication(db: &Db) -> AppResult<Option<Timestamp>> {
    Ok(
        query("SELECT MIN(published_at) FROM posts WHERE status = $1 AND published_at > $2")
            .bind(PostStatus::Published)
            .bind(Timestamp::now())
            .scalar::<Option<Timestamp>>(db)
            .await?,
    )
}

/// A listing (a page or a feed) is the same for every anonymous reader
/// until the next scheduled post goes live: shared until then.
pub async fn shared_listing(db: &Db) -> AppResult<Shareable> {
    let until = next_publication(db).await?.map(|at| {
        let wait = at.as_datetime() - time::OffsetDateTime::now_utc();
        std::time::Instant::now() + std::time::Duration::try_from(wait).unwrap_or_default()
    });
    Ok(Shareable {
        on_hit: None,
        until,
    })
}

/// Tags in use on the posts a listing shows, most used first (a home
/// page's list, suggestions in the editor).
pub async fn popular_tags(db: &Db, listing: &Listing, limit: i64) -> AppResult<Vec<String>> {
    let (clause, args) = listing.clause(1);
    let sql = format!(
        "SELECT t.name FROM tags t JOIN post_tags pt ON pt.tag_id = t.id
         JOIN posts p ON p.id = pt.post_id JOIN users u ON u.id = p.author_id
         WHERE {clause} GROUP BY t.name ORDER BY COUNT(*) DESC, t.name LIMIT ${}",
        args.len() + 1
    );
    let tags = args
        .iter()
        .fold(Query::assembled(sql), |q, arg| arg.bind_to(q));
    Ok(tags.bind(limit).scalars(db).await?)
}

/// What a sitemap lists of the posts' pages: each visible post, each
/// author and each tag with one, with when it last changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    Post(String),
    Author(String),
    Tag(String),
}

/// The part of the site's map from `offset`, at most `limit` pages, in a
/// stable order (posts, authors, tags; each by name), and how many there
/// are in all.
pub async fn site_map(
    db: &Db,
    offset: i64,
    limit: i64,
) -> AppResult<(Vec<(Mapped, Timestamp)>, i64)> {
    let visible = format!(
        "{} AND u.deleted_at IS NULL",
        VISIBLE.replace("{now}", "$1")
    );
    let all = format!(
        "SELECT 1 AS kind, p.slug AS name, COALESCE(p.edited_at, p.published_at) AS changed
         FROM posts p JOIN users u ON u.id = p.author_id WHERE {visible}
         UNION ALL
         SELECT 2, u.username, MAX(COALESCE(p.edited_at, p.published_at))
         FROM posts p JOIN users u ON u.id = p.author_id WHERE {visible} GROUP BY u.username
         UNION ALL
         SELECT 3, t.name, MAX(COALESCE(p.edited_at, p.published_at))
         FROM posts p JOIN users u ON u.id = p.author_id
         JOIN post_tags pt ON pt.post_id = p.id JOIN tags t ON t.id = pt.tag_id
         WHERE {visible} GROUP BY t.name"
    );
    let now = Timestamp::now();
    let rows: Vec<(i32, String, Timestamp)> = Query::assembled(format!(
        "SELECT kind, name, changed FROM ({all}) m ORDER BY kind, name LIMIT $2 OFFSET $3"
    ))
    .bind(now)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total: i64 = Query::assembled(format!("SELECT COUNT(*) FROM ({all}) m"))
        .bind(now)
        .scalar(db)
        .await?;
    let entries = rows
        .into_iter()
        .map(|(kind, name, changed)| {
            let mapped = match kind {
                1 => Mapped::Post(name),
                2 => Mapped::Author(name),
                _ => Mapped::Tag(name),
            };
            (mapped, changed)
        })
        .collect();
    Ok((entries, total))
}
