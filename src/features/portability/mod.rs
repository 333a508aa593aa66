//! A member's own data, to take away (the right to data portability):
//! `GET /settings/export` downloads, as one JSON file, their profile, their
//! posts (drafts and scheduled ones too, in Markdown, with their tags),
//! their comments, their likes, whom they follow and the files they
//! uploaded. Only what is theirs: others' comments on their posts are
//! others' data.
//!
//! An author's posts also come as Markdown files in a zip ([`markdown`]),
//! and the owner can take the whole site through the API ([`site`]).
//!
//! This feature reads the tables other features write, and writes none
//! but its own record of the site's archives ([`site`]):
//! a read of everything one person made, which no single feature holds.

mod markdown;
pub mod site;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use sqlx::FromRow;

use crate::app::App;
use crate::db::{Timestamp, query};
use crate::error::AppResult;
use crate::features::accounts::extract::SignedIn;
use crate::features::accounts::{Role, User};

/// The file's format, so that what reads it can tell its version.
const FORMAT: &str = "quire-personal-data";
const VERSION: u32 = 1;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/settings/export", get(download))
        .route("/settings/export/posts.zip", get(markdown::download))
}

#[derive(Serialize)]
struct Export {
    format: &'static str,
    version: u32,
    exported_at: Timestamp,
    site: String,
    profile: Profile,
    posts: Vec<PostData>,
    comments: Vec<CommentData>,
    likes: Vec<LikeData>,
    following: Vec<String>,
    uploads: Vec<UploadData>,
}

#[derive(Serialize)]
struct Profile {
    username: String,
    email: Option<String>,
    bio: Option<String>,
    image: Option<String>,
    role: Role,
    created_at: Timestamp,
    notify_replies: bool,
    time_zone: Option<String>,
}

#[derive(Serialize, FromRow)]
struct PostData {
    #[serde(skip)]
    id: i64,
    slug: String,
    title: String,
    description: String,
    /// Markdown, as written.
    body: String,
    status: String,
    published_at: Option<Timestamp>,
    created_at: Timestamp,
    updated_at: Timestamp,
    #[sqlx(skip)]
    tags: Vec<String>,
}

#[derive(Serialize, FromRow)]
struct CommentData {
    post_slug: String,
    post_title: String,
    body: String,
    created_at: Timestamp,
    updated_at: Timestamp,
}

#[derive(Serialize, FromRow)]
struct LikeData {
    post_slug: String,
    post_title: String,
    liked_at: Timestamp,
}

#[derive(Serialize, FromRow)]
struct UploadData {
    file_name: String,
    /// The image's name in the store: it is at `/media/NAME`.
    name: String,
    created_at: Timestamp,
}

async fn download(State(app): State<App>, SignedIn(user): SignedIn) -> AppResult<Response> {
    let export = gather(&app, &user).await?;
    let file_name = format!(
        "quire-{}-{}.json",
        user.username,
        &export.exported_at.rfc3339()[..10]
    );
    let body = serde_json::to_vec_pretty(&export).map_err(anyhow::Error::from)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                // The username is letters, digits and a few safe marks.
                format!("attachment; filename=\"{file_name}\""),
            ),
            // Personal data: never kept by a cache on the way.
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

/// The user's posts (drafts and scheduled ones too), oldest first, with
/// their tags.
async fn posts_of(app: &App, user: &User) -> AppResult<Vec<PostData>> {
    let db = &app.db;
    let mut posts: Vec<PostData> = query(
        "SELECT id, slug, title, description, body, status, published_at, created_at, updated_at
         FROM posts WHERE author_id = $1 ORDER BY created_at, id",
    )
    .bind(user.id)
    .fetch_all(db)
    .await?;
    let tags: Vec<(i64, String)> = query(
        "SELECT pt.post_id, t.name FROM post_tags pt
         JOIN tags t ON t.id = pt.tag_id JOIN posts p ON p.id = pt.post_id
         WHERE p.author_id = $1 ORDER BY pt.post_id, pt.position",
    )
    .bind(user.id)
    .fetch_all(db)
    .await?;
    for post in &mut posts {
        post.tags = tags
            .iter()
            .filter(|(id, _)| *id == post.id)
            .map(|(_, name)| name.clone())
            .collect();
    }
    Ok(posts)
}

async fn gather(app: &App, user: &User) -> AppResult<Export> {
    let db = &app.db;
    let posts = posts_of(app, user).await?;
    let comments = query(
        "SELECT p.slug AS post_slug, p.title AS post_title, c.body, c.created_at, c.updated_at
         FROM comments c JOIN posts p ON p.id = c.post_id
         WHERE c.author_id = $1 ORDER BY c.created_at, c.id",
    )
    .bind(user.id)
    .fetch_all(db)
    .await?;
    let likes = query(
        "SELECT p.slug AS post_slug, p.title AS post_title, r.created_at AS liked_at
         FROM reactions r JOIN posts p ON p.id = r.post_id
         WHERE r.user_id = $1 ORDER BY r.created_at, p.id",
    )
    .bind(user.id)
    .fetch_all(db)
    .await?;
    let following = query(
        "SELECT u.username FROM follows f JOIN users u ON u.id = f.followee_id
         WHERE f.follower_id = $1 ORDER BY f.created_at, u.id",
    )
    .bind(user.id)
    .scalars(db)
    .await?;
    let uploads = query(
        "SELECT file_name, name, created_at FROM uploads WHERE user_id = $1 ORDER BY created_at, id",
    )
    .bind(user.id)
    .fetch_all(db)
    .await?;
    Ok(Export {
        format: FORMAT,
        version: VERSION,
        exported_at: Timestamp::now(),
        site: app.settings.http.public_url().to_string(),
        profile: Profile {
            username: user.username.clone(),
            email: user.email.clone(),
            bio: user.bio.clone(),
            image: user.image.clone(),
            role: user.role,
            created_at: user.created_at,
            notify_replies: user.notify_replies,
            time_zone: user.time_zone.clone(),
        },
        posts,
        comments,
        likes,
        following,
        uploads,
    })
}
