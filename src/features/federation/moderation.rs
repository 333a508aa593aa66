//! Replies from the fediverse, and who decides on them. A reply to a post
//! (or to a comment on it) is kept in `remote_replies`; it appears as a
//! comment — with its writer's name linked to their profile — once the
//! post's author approves it, at once when the author trusts its writer,
//! never when they blocked them or an administrator blocked their server.
//! `/moderation` is the author's queue (an administrator's holds every
//! author's): approve, reject, approve and trust the writer, block the
//! writer, block their server (administrators).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::context;
use minijinja::value::Serde;
use serde::Serialize;
use serde_json::Value;
use sqlx::FromRow;

use super::actors::{Local, Remote, clip};
use super::inbox::Refused;
use crate::app::App;
use crate::db::{Timestamp, query};
use crate::error::{AppError, AppResult, FieldErrors, Thing};
use crate::features::accounts::User;
use crate::features::accounts::extract::SignedIn;
use crate::features::comments::{self, GuestComment};
use crate::features::imports::html;
use crate::features::posts::Post;
use crate::http::extract::{CsrfForm, NoFields};
use crate::http::pages::PageCtx;
use crate::jobs::Job;

/// The longest reply taken, in characters of its HTML: a comment's Markdown
/// is at most `comments::MAX_BODY`, and what is longer is cut.
const MAX_HTML: usize = 100_000;

/// Replies listed in the queue at once.
const QUEUE: i64 = 100;

/// A reply as a note of the fediverse gives it.
pub struct Reply {
    pub uri: String,
    /// Markdown, from the note's HTML.
    pub body: String,
    pub url: Option<String>,
    pub published_at: Timestamp,
}

impl Reply {
    pub fn read(note: &Value, actor: &Remote) -> Result<Self, Refused> {
        let uri = note
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| Refused::Invalid("the note has no id".into()))?
            .to_owned();
        let content = note.get("content").and_then(Value::as_str).unwrap_or("");
        let content = clip(content, MAX_HTML);
        let mut body = html::to_markdown(&content);
        body = clip(body.trim(), comments::MAX_BODY);
        if body.is_empty() {
            return Err(Refused::Invalid("the note has no text".into()));
        }
        let url = note
            .get("url")
            .and_then(Value::as_str)
            .filter(|url| super::inbox::same_origin(url, &actor.uri))
            .map(str::to_owned);
        let published_at = note
            .get("published")
            .and_then(Value::as_str)
            .and_then(|at| at.parse().ok())
            .filter(|at| *at <= Timestamp::now())
            .unwrap_or_else(Timestamp::now);
        Ok(Self {
            uri,
            body,
            url,
            published_at,
        })
    }
}

/// What became of a reply received.
pub enum Outcome {
    Published,
    Held,
    Dropped,
}

/// What the post's author thinks of a remote actor.
async fn standing(app: &App, user_id: i64, actor_id: i64) -> Result<Option<String>, sqlx::Error> {
    query("SELECT standing FROM actor_standing WHERE user_id = $1 AND remote_actor_id = $2")
        .bind(user_id)
        .bind(actor_id)
        .scalar_optional(&app.db)
        .await
}

/// Keeps a reply to `post` (to the comment `parent`) from `actor`.
pub async fn receive(
    app: &App,
    post: &Post,
    parent: Option<i64>,
    actor: &Remote,
    reply: &Reply,
) -> Result<Outcome, Refused> {
    let standing = standing(app, post.author_id, actor.id).await?;
    if standing.as_deref() == Some("blocked") {
        return Ok(Outcome::Dropped);
    }
    let id: Option<i64> = query(
        "INSERT INTO remote_replies (uri, post_id, parent_id, remote_actor_id, body, url, state,
                                     published_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)
         ON CONFLICT (uri) DO NOTHING RETURNING id",
    )
    .bind(&reply.uri)
    .bind(post.id)
    .bind(parent)
    .bind(actor.id)
    .bind(&reply.body)
    .bind(&reply.url)
    .bind(reply.published_at)
    .bind(Timestamp::now())
    .scalar_optional(&app.db)
    .await?;
    let Some(id) = id else {
        return Ok(Outcome::Dropped);
    };
    if standing.as_deref() == Some("trusted") {
        publish(app, id).await?;
        return Ok(Outcome::Published);
    }
    let email = super::emails::WaitingReplyEmail { reply_id: id }
        .now()
        .dedup(format!("fediverse-reply:{id}"));
    crate::jobs::enqueue(&app.db, &email).await?;
    Ok(Outcome::Held)
}

#[derive(Debug, FromRow)]
struct Kept {
    post_id: i64,
    remote_actor_id: i64,
    parent_id: Option<i64>,
    body: String,
    state: String,
    comment_id: Option<i64>,
    published_at: Timestamp,
    name: String,
    handle: String,
    domain: String,
    profile: String,
}

async fn kept(app: &App, id: i64) -> AppResult<Kept> {
    query(
        "SELECT r.post_id, r.remote_actor_id, r.parent_id, r.body, r.state, r.comment_id, r.published_at,
                a.name, a.handle, a.domain, COALESCE(a.url, a.uri) AS profile
         FROM remote_replies r JOIN remote_actors a ON a.id = r.remote_actor_id
         WHERE r.id = $1",
    )
    .bind(id)
    .fetch_optional(&app.db)
    .await?
    .ok_or(AppError::NotFound(Thing::Comment))
}

/// Writes the reply `id` as a comment (again, when it was edited).
async fn publish(app: &App, id: i64) -> AppResult<()> {
    let reply = kept(app, id).await?;
    let picture = super::pictures::current(app, reply.remote_actor_id).await?;
    let comment = GuestComment {
        name: format!("{} (@{}@{})", reply.name, reply.handle, reply.domain),
        url: Some(reply.profile),
        body: reply.body,
        created_at: reply.published_at,
        parent_id: reply.parent_id,
        image: picture.shown(),
    };
    let comment_id = comments::write_guest(app, reply.post_id, &comment, reply.comment_id).await?;
    query("UPDATE remote_replies SET state = 'approved', comment_id = $1 WHERE id = $2")
        .bind(comment_id)
        .bind(id)
        .execute(&app.db)
        .await?;
    if let super::pictures::Picture::ToCopy = picture {
        super::pictures::copy_later(app, reply.remote_actor_id).await?;
    }
    crate::http::cache::site_changed(app);
    Ok(())
}

/// The post (and the comment it became) of a reply we took, by its uri: a
/// reply to it is a reply in the same thread.
pub async fn reply_by_uri(app: &App, uri: &str) -> Result<Option<(i64, Option<i64>)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Found {
        post_id: i64,
        comment_id: Option<i64>,
    }
    let found: Option<Found> = query(
        "SELECT post_id, comment_id FROM remote_replies WHERE uri = $1 AND state <> 'rejected'",
    )
    .bind(uri)
    .fetch_optional(&app.db)
    .await?;
    Ok(found.map(|f| (f.post_id, f.comment_id)))
}

/// An edit of a reply by its writer: the comment changes with it.
pub async fn edit(app: &App, actor: &Remote, reply: &Reply) -> Result<bool, Refused> {
    let id: Option<i64> = query(
        "UPDATE remote_replies SET body = $1, url = $2 WHERE uri = $3 AND remote_actor_id = $4
         RETURNING id",
    )
    .bind(&reply.body)
    .bind(&reply.url)
    .bind(&reply.uri)
    .bind(actor.id)
    .scalar_optional(&app.db)
    .await?;
    let Some(id) = id else { return Ok(false) };
    if kept(app, id).await?.state == "approved" {
        publish(app, id).await?;
    }
    Ok(true)
}

/// A reply deleted by its writer: gone from the queue and the thread.
pub async fn remove(app: &App, actor: &Remote, uri: &str) -> Result<bool, Refused> {
    let comment: Option<Option<i64>> = query(
        "DELETE FROM remote_replies WHERE uri = $1 AND remote_actor_id = $2 RETURNING comment_id",
    )
    .bind(uri)
    .bind(actor.id)
    .scalar_optional(&app.db)
    .await?;
    let Some(comment) = comment else {
        return Ok(false);
    };
    if let Some(comment) = comment {
        comments::delete_guest(&app.db, comment).await?;
    }
    Ok(true)
}

pub fn routes() -> Router<App> {
    Router::new()
        .route("/moderation", get(page))
        .route("/moderation/{id}/{action}", post(act))
        .route("/moderation/followers/{id}/{action}", post(answer_follower))
        .route("/moderation/approval", post(set_approval))
        .route("/moderation/aliases", post(super::moves::save_aliases))
        .route("/moderation/move", post(super::moves::move_actor))
}

/// Someone following one of our actors (or asking to), as the page lists
/// them.
#[derive(Debug, FromRow, Serialize)]
struct Follower {
    id: i64,
    /// `accepted`, or `pending` the author's approval.
    state: String,
    /// Whom they follow: the author, or the blog (NULL).
    user_id: Option<i64>,
    name: String,
    handle: String,
    domain: String,
    profile: String,
    created_at: Timestamp,
}

/// Who follows the user (and, for an administrator, the blog).
async fn followers(app: &App, user: &User) -> AppResult<Vec<Follower>> {
    Ok(query(
        "SELECT f.id, f.state, f.user_id, a.name, a.handle, a.domain,
                COALESCE(a.url, a.uri) AS profile, f.created_at
         FROM followers f JOIN remote_actors a ON a.id = f.remote_actor_id
         WHERE f.user_id = $1 OR (f.user_id IS NULL AND $2)
         ORDER BY f.state DESC, f.user_id IS NULL, f.id DESC LIMIT $3",
    )
    .bind(user.id)
    .bind(user.is_admin())
    .bind(QUEUE)
    .fetch_all(&app.db)
    .await?)
}

/// Accepts a follower waiting for approval, or removes one (refusing a
/// request, or ending a follow): their server is told (`Accept`, or
/// `Reject`, which Mastodon takes as "no longer following").
async fn answer_follower(
    State(app): State<App>,
    ctx: PageCtx,
    SignedIn(user): SignedIn,
    Path((id, action)): Path<(i64, String)>,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> AppResult<Response> {
    #[derive(FromRow)]
    struct Found {
        user_id: Option<i64>,
        remote_actor_id: i64,
        follow_uri: String,
        uri: String,
        inbox: String,
    }
    let found: Found = query(
        "SELECT f.user_id, f.remote_actor_id, f.follow_uri, a.uri, a.inbox
         FROM followers f JOIN remote_actors a ON a.id = f.remote_actor_id WHERE f.id = $1",
    )
    .bind(id)
    .fetch_optional(&app.db)
    .await?
    .ok_or(AppError::NotFound(Thing::Profile))?;
    let allowed = match found.user_id {
        Some(owner) => owner == user.id,
        None => user.is_admin(),
    };
    if !allowed {
        return Err(AppError::Forbidden(Thing::Profile));
    }
    let local = match found.user_id {
        Some(owner) => Local::by_user_id(&app, owner).await?,
        None => Local::Blog,
    };
    let follow = super::delivery::FollowOf {
        follow_uri: &found.follow_uri,
        follower: found.remote_actor_id,
        follower_uri: &found.uri,
        inbox: &found.inbox,
    };
    let done = match action.as_str() {
        "accept" => {
            query("UPDATE followers SET state = 'accepted' WHERE id = $1")
                .bind(id)
                .execute(&app.db)
                .await?;
            super::delivery::answer_follow(&app, &local, "Accept", &follow).await?;
            "Accepted: they get your posts from now on."
        }
        "remove" => {
            query("DELETE FROM followers WHERE id = $1")
                .bind(id)
                .execute(&app.db)
                .await?;
            super::delivery::answer_follow(&app, &local, "Reject", &follow).await?;
            "Removed: they no longer get your posts."
        }
        _ => return Err(AppError::NotFound(Thing::Page)),
    };
    render(&app, &ctx, &user, Some(done)).await
}

#[derive(serde::Deserialize)]
struct Approval {
    /// The checkbox: present when ticked.
    approve: Option<String>,
}

/// Whether the author approves each follower from now on (those who
/// follow already stay).
async fn set_approval(
    State(app): State<App>,
    ctx: PageCtx,
    SignedIn(user): SignedIn,
    CsrfForm(form): CsrfForm<Approval>,
) -> AppResult<Response> {
    let approve = form.approve.is_some();
    query("UPDATE users SET ap_approves_followers = $1 WHERE id = $2")
        .bind(approve)
        .bind(user.id)
        .execute(&app.db)
        .await?;
    let done = if approve {
        "New followers now wait for your approval."
    } else {
        "New followers are now accepted at once."
    };
    render(&app, &ctx, &user, Some(done)).await
}

/// A reply waiting, as the queue lists it.
#[derive(Debug, FromRow, Serialize)]
struct Waiting {
    id: i64,
    body: String,
    url: Option<String>,
    published_at: Timestamp,
    name: String,
    handle: String,
    domain: String,
    profile: String,
    post_slug: String,
    post_title: String,
}

async fn waiting(app: &App, user: &User) -> AppResult<Vec<Waiting>> {
    Ok(query(
        "SELECT r.id, r.body, r.url, r.published_at, a.name, a.handle, a.domain,
                COALESCE(a.url, a.uri) AS profile, p.slug AS post_slug, p.title AS post_title
         FROM remote_replies r
         JOIN remote_actors a ON a.id = r.remote_actor_id
         JOIN posts p ON p.id = r.post_id
         WHERE r.state = 'pending' AND (p.author_id = $1 OR $2)
         ORDER BY r.id LIMIT $3",
    )
    .bind(user.id)
    .bind(user.is_admin())
    .bind(QUEUE)
    .fetch_all(&app.db)
    .await?)
}

pub(super) async fn render(
    app: &App,
    ctx: &PageCtx,
    user: &User,
    done: Option<&str>,
) -> AppResult<Response> {
    let page = page_context(app, user).await?;
    Ok(ctx.render(app, "moderation.html", context! { done, ..page }))
}

/// The page again with a form's field errors (`moves`): 422.
pub(super) async fn render_refused(
    app: &App,
    ctx: &PageCtx,
    user: &User,
    errors: FieldErrors,
    form: Value,
) -> AppResult<Response> {
    let page = page_context(app, user).await?;
    Ok(ctx.render_status(
        app,
        StatusCode::UNPROCESSABLE_ENTITY,
        "moderation.html",
        context! { errors => Serde(errors), form => Serde(form), ..page },
    ))
}

/// One of the user's actors as the "Moving" section shows it.
#[derive(Serialize)]
struct Movable {
    /// The forms' `actor`: `me`, or `blog`.
    key: &'static str,
    address: String,
    id: String,
    aliases: Vec<String>,
    moved_to: Option<String>,
}

async fn page_context(app: &App, user: &User) -> AppResult<minijinja::Value> {
    let replies = waiting(app, user).await?;
    let followers = followers(app, user).await?;
    let me = Local::Author(user.clone());
    let approves = me.approves_followers(app).await?;
    let host = app.settings.http.public_authority();
    let mut movable = vec![(me, "me")];
    if user.is_admin() {
        movable.push((Local::Blog, "blog"));
    }
    let mut moving = Vec::new();
    for (local, key) in movable {
        let movement = local.movement(app).await?;
        moving.push(Movable {
            key,
            address: format!("@{}@{host}", local.name(app)),
            id: local.id(app).to_string(),
            aliases: movement.aliases,
            moved_to: movement.moved_to,
        });
    }
    Ok(context! {
        replies => Serde(replies),
        followers => Serde(followers),
        can_block_domains => user.is_admin(),
        approves,
        address => format!("@{}@{host}", user.username),
        moving => Serde(moving),
    })
}

async fn page(
    State(app): State<App>,
    ctx: PageCtx,
    SignedIn(user): SignedIn,
) -> AppResult<Response> {
    render(&app, &ctx, &user, None).await
}

/// What the author does with a reply waiting.
async fn act(
    State(app): State<App>,
    ctx: PageCtx,
    SignedIn(user): SignedIn,
    Path((id, action)): Path<(i64, String)>,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> AppResult<Response> {
    #[derive(FromRow)]
    struct Target {
        author_id: i64,
        remote_actor_id: i64,
        domain: String,
    }
    let target: Target = query(
        "SELECT p.author_id, r.remote_actor_id, a.domain
         FROM remote_replies r JOIN posts p ON p.id = r.post_id
         JOIN remote_actors a ON a.id = r.remote_actor_id
         WHERE r.id = $1 AND r.state = 'pending'",
    )
    .bind(id)
    .fetch_optional(&app.db)
    .await?
    .ok_or(AppError::NotFound(Thing::Comment))?;
    if !user.can_modify(target.author_id) {
        return Err(AppError::Forbidden(Thing::Comment));
    }
    let set_standing = |standing: &'static str| {
        query(
            "INSERT INTO actor_standing (user_id, remote_actor_id, standing) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, remote_actor_id) DO UPDATE SET standing = $3",
        )
        .bind(target.author_id)
        .bind(target.remote_actor_id)
        .bind(standing)
    };
    let done = match action.as_str() {
        "approve" => {
            publish(&app, id).await?;
            "Approved: the reply is shown under the post."
        }
        "trust" => {
            set_standing("trusted").execute(&app.db).await?;
            publish(&app, id).await?;
            "Approved; their next replies are shown at once."
        }
        "reject" => {
            query("UPDATE remote_replies SET state = 'rejected' WHERE id = $1")
                .bind(id)
                .execute(&app.db)
                .await?;
            "Rejected."
        }
        "block" => {
            set_standing("blocked").execute(&app.db).await?;
            // Everything of theirs waiting on this author's posts goes.
            reject_waiting_from(&app, target.remote_actor_id, target.author_id).await?;
            "Blocked: nothing they send reaches your posts."
        }
        "block-domain" if user.is_admin() => {
            query("INSERT INTO blocked_domains (domain, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(&target.domain)
                .bind(Timestamp::now())
                .execute(&app.db)
                .await?;
            query(
                "UPDATE remote_replies SET state = 'rejected' WHERE state = 'pending'
                 AND remote_actor_id IN (SELECT id FROM remote_actors WHERE domain = $1)",
            )
            .bind(&target.domain)
            .execute(&app.db)
            .await?;
            query(
                "DELETE FROM followers
                 WHERE remote_actor_id IN (SELECT id FROM remote_actors WHERE domain = $1)",
            )
            .bind(&target.domain)
            .execute(&app.db)
            .await?;
            "Blocked the server: nothing from it is taken, nothing is sent to it."
        }
        "block-domain" => return Err(AppError::Forbidden(Thing::Comment)),
        _ => return Err(AppError::NotFound(Thing::Comment)),
    };
    render(&app, &ctx, &user, Some(done)).await
}

async fn reject_waiting_from(app: &App, actor: i64, author: i64) -> AppResult<()> {
    query(
        "UPDATE remote_replies SET state = 'rejected'
         WHERE state = 'pending' AND remote_actor_id = $1
           AND post_id IN (SELECT id FROM posts WHERE author_id = $2)",
    )
    .bind(actor)
    .bind(author)
    .execute(&app.db)
    .await?;
    Ok(())
}
