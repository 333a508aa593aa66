//! Activities other servers send us: to an actor's inbox or the shared
//! one (`/ap/inbox`). Each must be signed (HTTP Signatures, with the
//! body's digest) by the key of the actor it names, recently; an activity
//! already taken is not taken again; a blocked server is refused; each
//! server has a budget of requests a minute. What is understood:
//!
//! - `Follow` of one of our actors, answered with `Accept`; `Undo` of it;
//! - `Create` of a `Note` replying to a post or a comment: a reply, which
//!   waits for the author (`moderation`) unless they trust its writer;
//!   `Update` and `Delete` of it;
//! - `Like` and `Announce` of a post, counted; `Undo` of them;
//! - `Delete` of an actor: what they left here goes with them.
//!
//! Anything else is acknowledged and dropped.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::{Value, json};
use url::Url;

use super::actors::{self, ActorError, Local, Remote, authority};
use super::signatures::{Refusal, SignatureHeader};
use super::{delivery, moderation, objects};
use crate::app::App;
use crate::db::{Timestamp, query};
use crate::error::AppError;
use crate::features::posts::Post;
use crate::http::cache::PagesUnchanged;

/// The largest activity taken: a reply with a long text is a few tens of
/// kilobytes.
const MAX_ACTIVITY: usize = 256 * 1024;

/// Requests a minute each server may send.
const PER_DOMAIN_PER_MINUTE: u32 = 300;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/ap/inbox", post(shared_inbox))
        .route("/ap/blog/inbox", post(blog_inbox))
        .route("/ap/users/{id}/inbox", post(author_inbox))
        .layer(DefaultBodyLimit::max(MAX_ACTIVITY))
}

/// Each server's budget of requests, kept for the life of the process.
#[derive(Clone)]
pub struct Budgets(Arc<DefaultKeyedRateLimiter<String>>);

impl Default for Budgets {
    fn default() -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(PER_DOMAIN_PER_MINUTE).expect("not zero"));
        Self(Arc::new(RateLimiter::keyed(quota)))
    }
}

/// Why an activity is not taken, said to its sender.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Signature(#[from] Refusal),
    #[error("the activity cannot be read: {0}")]
    Invalid(String),
    #[error("the signer's actor could not be had: {0}")]
    Actor(String),
    #[error("{0} is blocked here")]
    Blocked(String),
    #[error("too many requests from {0}; try again in a minute")]
    TooMany(String),
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<sqlx::Error> for Refused {
    fn from(e: sqlx::Error) -> Self {
        Refused::App(e.into())
    }
}

impl From<ActorError> for Refused {
    fn from(e: ActorError) -> Self {
        match e {
            ActorError::App(e) => Refused::App(e),
            other => Refused::Actor(other.to_string()),
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let status = match &self {
            Refused::Signature(_) => StatusCode::UNAUTHORIZED,
            Refused::Invalid(_) => StatusCode::BAD_REQUEST,
            Refused::Actor(_) => StatusCode::UNAUTHORIZED,
            Refused::Blocked(_) => StatusCode::FORBIDDEN,
            Refused::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            Refused::App(_) => {
                let Refused::App(e) = self else {
                    unreachable!()
                };
                return e.into_response();
            }
        };
        tracing::info!(%status, reason = %self, "activity refused");
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

async fn shared_inbox(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refused> {
    receive(&app, &method, &uri, &headers, &body).await
}

async fn blog_inbox(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refused> {
    receive(&app, &method, &uri, &headers, &body).await
}

async fn author_inbox(
    State(app): State<App>,
    Path(id): Path<i64>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refused> {
    // The inbox of someone who is not here takes nothing.
    Local::by_user_id(&app, id).await?;
    receive(&app, &method, &uri, &headers, &body).await
}

/// An activity, checked.
struct Received {
    id: String,
    kind: String,
    actor: Remote,
    object: Value,
    /// Where a `Move` goes.
    target: Option<String>,
}

async fn receive(
    app: &App,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Refused> {
    let signature = headers
        .get("signature")
        .and_then(|v| v.to_str().ok())
        .ok_or(Refusal::Unsigned)?;
    let signature = SignatureHeader::parse(signature)?;
    let key_url =
        Url::parse(&signature.key_id).map_err(|_| Refusal::Malformed("keyId is not an address"))?;
    let domain = authority(&key_url);
    if app.part::<Budgets>().0.check_key(&domain).is_err() {
        return Err(Refused::TooMany(domain));
    }
    if is_blocked(app, &domain).await? {
        return Err(Refused::Blocked(domain));
    }
    let activity: Value =
        serde_json::from_slice(body).map_err(|e| Refused::Invalid(format!("not JSON: {e}")))?;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let now = time::OffsetDateTime::now_utc();
    // The signer as we know them; if their signature does not verify with
    // the key we kept, their key may have changed: fetched again, once.
    let mut actor = actors::by_key_id(app, &signature.key_id, false).await?;
    if let Err(refusal) = signature.verify(method, path, headers, body, &actor.public_key_pem, now)
    {
        if !matches!(refusal, Refusal::Invalid(_)) {
            return Err(refusal.into());
        }
        actor = actors::by_key_id(app, &signature.key_id, true).await?;
        signature.verify(method, path, headers, body, &actor.public_key_pem, now)?;
    }
    if actor.domain != domain && is_blocked(app, &actor.domain).await? {
        return Err(Refused::Blocked(actor.domain));
    }
    let received = read(activity, actor)?;
    // Taken once: a replay, or a sender's retry of what we took, changes
    // nothing.
    let first =
        query("INSERT INTO inbox_seen (uri, received_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(&received.id)
            .bind(Timestamp::now())
            .execute(&app.db)
            .await?
            == 1;
    if !first {
        return Ok(accepted("already received"));
    }
    // A server that sends us something is up: deliveries to it resume.
    delivery::forget_failures(app, &received.actor.domain).await?;
    match handle(app, &received).await {
        Ok(response) => Ok(response),
        Err(e) => {
            // Not taken after all: the sender's retry must be.
            query("DELETE FROM inbox_seen WHERE uri = $1")
                .bind(&received.id)
                .execute(&app.db)
                .await?;
            Err(e)
        }
    }
}

/// The activity's parts, and that its actor is its signer.
fn read(activity: Value, actor: Remote) -> Result<Received, Refused> {
    let text = |key: &str| -> Option<String> {
        match activity.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o.get("id")?.as_str().map(str::to_owned),
            _ => None,
        }
    };
    let id = text("id").ok_or_else(|| Refused::Invalid("the activity has no id".into()))?;
    let kind = text("type").ok_or_else(|| Refused::Invalid("the activity has no type".into()))?;
    let named =
        text("actor").ok_or_else(|| Refused::Invalid("the activity has no actor".into()))?;
    if named != actor.uri {
        return Err(Refused::Invalid(format!(
            "the activity is by {named} but signed by {}",
            actor.uri
        )));
    }
    if !same_origin(&id, &actor.uri) {
        return Err(Refused::Invalid(
            "the activity's id is not on its actor's server".into(),
        ));
    }
    let object = activity.get("object").cloned().unwrap_or(Value::Null);
    Ok(Received {
        id,
        kind,
        actor,
        object,
        target: text("target"),
    })
}

pub fn same_origin(a: &str, b: &str) -> bool {
    match (Url::parse(a), Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

/// The id of an object given whole or by its id.
fn object_id(object: &Value) -> Option<&str> {
    match object {
        Value::String(id) => Some(id),
        Value::Object(o) => o.get("id")?.as_str(),
        _ => None,
    }
}

fn accepted(what: &str) -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Extension(PagesUnchanged),
        Json(json!({ "status": what })),
    )
        .into_response()
}

/// Accepted, and what it changed shows on pages.
fn accepted_and_shown(what: &str) -> Response {
    (StatusCode::ACCEPTED, Json(json!({ "status": what }))).into_response()
}

async fn handle(app: &App, activity: &Received) -> Result<Response, Refused> {
    match activity.kind.as_str() {
        "Follow" => follow(app, activity).await,
        "Undo" => undo(app, activity).await,
        "Create" => create(app, activity).await,
        "Update" => update(app, activity).await,
        "Delete" => delete(app, activity).await,
        "Like" | "Announce" => react(app, activity).await,
        "Move" => moved(app, activity).await,
        _ => Ok(accepted("not understood here; dropped")),
    }
}

async fn follow(app: &App, activity: &Received) -> Result<Response, Refused> {
    let target = object_id(&activity.object)
        .ok_or_else(|| Refused::Invalid("a Follow must name whom it follows".into()))?;
    let Some(local) = local_actor(app, target).await? else {
        return Err(Refused::Invalid(format!("{target} is no actor of ours")));
    };
    // An author who approves followers decides on the Fediverse page; a
    // follow already accepted stays so.
    let state = if local.approves_followers(app).await? {
        "pending"
    } else {
        "accepted"
    };
    let state: String = query(
        "INSERT INTO followers (user_id, remote_actor_id, follow_uri, state, created_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (COALESCE(user_id, 0), remote_actor_id)
         DO UPDATE SET follow_uri = $3
         RETURNING state",
    )
    .bind(local.user_id())
    .bind(activity.actor.id)
    .bind(&activity.id)
    .bind(state)
    .bind(Timestamp::now())
    .scalar(&app.db)
    .await?;
    if state == "pending" {
        return Ok(accepted("waiting for the author's approval"));
    }
    let follow = delivery::FollowOf {
        follow_uri: &activity.id,
        follower: activity.actor.id,
        follower_uri: &activity.actor.uri,
        inbox: &activity.actor.inbox,
    };
    delivery::answer_follow(app, &local, "Accept", &follow).await?;
    Ok(accepted_and_shown("following"))
}

/// Our actor at `uri`, if it is one.
async fn local_actor(app: &App, uri: &str) -> Result<Option<Local>, Refused> {
    let Ok(url) = Url::parse(uri) else {
        return Ok(None);
    };
    if url.origin() != app.settings.http.public_url().origin() {
        return Ok(None);
    }
    Ok(match url.path() {
        "/ap/blog" => Some(Local::Blog),
        path => match path
            .strip_prefix("/ap/users/")
            .and_then(|id| id.parse().ok())
        {
            Some(id) => match Local::by_user_id(app, id).await {
                Ok(local) => Some(local),
                Err(AppError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        },
    })
}

async fn undo(app: &App, activity: &Received) -> Result<Response, Refused> {
    let undone = object_id(&activity.object)
        .ok_or_else(|| Refused::Invalid("an Undo must name what it undoes".into()))?;
    let kind = activity.object.get("type").and_then(Value::as_str);
    if kind == Some("Follow") || kind.is_none() {
        let target = activity.object.get("object").and_then(object_id);
        let local = match target {
            Some(target) => local_actor(app, target).await?,
            None => None,
        };
        let removed = match local {
            // By whom it unfollows: their Follow's id may have been lost.
            Some(local) => {
                query(
                    "DELETE FROM followers
                     WHERE COALESCE(user_id, 0) = COALESCE($1, 0) AND remote_actor_id = $2",
                )
                .bind(local.user_id())
                .bind(activity.actor.id)
                .execute(&app.db)
                .await?
            }
            None => {
                query("DELETE FROM followers WHERE follow_uri = $1 AND remote_actor_id = $2")
                    .bind(undone)
                    .bind(activity.actor.id)
                    .execute(&app.db)
                    .await?
            }
        };
        if removed > 0 {
            return Ok(accepted_and_shown("no longer following"));
        }
    }
    let removed = query("DELETE FROM remote_reactions WHERE uri = $1 AND remote_actor_id = $2")
        .bind(undone)
        .bind(activity.actor.id)
        .execute(&app.db)
        .await?;
    Ok(if removed > 0 {
        accepted_and_shown("undone")
    } else {
        accepted("nothing to undo")
    })
}

/// The object of a `Create` or `Update`: given whole, by its actor.
fn note_of(activity: &Received) -> Result<Option<&Value>, Refused> {
    let object = &activity.object;
    if object.get("type").and_then(Value::as_str) != Some("Note") {
        return Ok(None);
    }
    let id = object_id(object).ok_or_else(|| Refused::Invalid("the note has no id".into()))?;
    if !same_origin(id, &activity.actor.uri) {
        return Err(Refused::Invalid(
            "the note is not on its actor's server".into(),
        ));
    }
    let by = object.get("attributedTo").and_then(object_id);
    if by != Some(activity.actor.uri.as_str()) {
        return Err(Refused::Invalid(
            "the note is not by the activity's actor".into(),
        ));
    }
    Ok(Some(object))
}

async fn create(app: &App, activity: &Received) -> Result<Response, Refused> {
    let Some(note) = note_of(activity)? else {
        return Ok(accepted("only notes are taken; dropped"));
    };
    let Some(in_reply_to) = note.get("inReplyTo").and_then(object_id) else {
        return Ok(accepted("not a reply to anything here; dropped"));
    };
    let Some((post, parent)) = replied_to(app, in_reply_to).await? else {
        return Ok(accepted("not a reply to anything here; dropped"));
    };
    let reply = moderation::Reply::read(note, &activity.actor)?;
    let outcome = moderation::receive(app, &post, parent, &activity.actor, &reply).await?;
    Ok(match outcome {
        moderation::Outcome::Published => accepted_and_shown("published"),
        moderation::Outcome::Held => accepted("waiting for the author's approval"),
        moderation::Outcome::Dropped => accepted("dropped"),
    })
}

/// The post a reply answers, and the comment when it answers one: ours
/// (`/ap/posts/…`, `/ap/comments/…`, a post's page), or a reply from the
/// fediverse we took as a comment.
async fn replied_to(app: &App, uri: &str) -> Result<Option<(Post, Option<i64>)>, Refused> {
    if let Some(found) = objects::resolve(app, uri).await? {
        return Ok(Some(found));
    }
    match moderation::reply_by_uri(app, uri).await? {
        Some((post_id, comment_id)) => Ok(
            match crate::features::posts::find_published_by_id(app, post_id).await {
                Ok(post) => Some((post, comment_id)),
                Err(AppError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            },
        ),
        None => Ok(None),
    }
}

async fn update(app: &App, activity: &Received) -> Result<Response, Refused> {
    if activity
        .object
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|kind| {
            matches!(
                kind,
                "Person" | "Service" | "Application" | "Group" | "Organization"
            )
        })
    {
        // Their profile changed: fetched again now (a new avatar is
        // copied for their comments), or when next needed.
        let uri = Url::parse(&activity.actor.uri)
            .map_err(|_| Refused::Invalid("the actor's id is not an address".into()))?;
        if let Err(error) = super::actors::fetch(app, &uri).await {
            tracing::info!(%error, "an updated actor could not be fetched");
            query("UPDATE remote_actors SET fetched_at = $1 WHERE id = $2")
                .bind(Timestamp::EPOCH)
                .bind(activity.actor.id)
                .execute(&app.db)
                .await?;
        }
        return Ok(accepted_and_shown("noted"));
    }
    let Some(note) = note_of(activity)? else {
        return Ok(accepted("only notes are taken; dropped"));
    };
    let reply = moderation::Reply::read(note, &activity.actor)?;
    Ok(if moderation::edit(app, &activity.actor, &reply).await? {
        accepted_and_shown("updated")
    } else {
        accepted("not known here; dropped")
    })
}

async fn delete(app: &App, activity: &Received) -> Result<Response, Refused> {
    let gone = object_id(&activity.object)
        .ok_or_else(|| Refused::Invalid("a Delete must name what it deletes".into()))?;
    if gone == activity.actor.uri {
        // The account is gone: so is what it left here, its replies too.
        query(
            "DELETE FROM comments WHERE author_id IS NULL AND id IN
               (SELECT comment_id FROM remote_replies WHERE remote_actor_id = $1)",
        )
        .bind(activity.actor.id)
        .execute(&app.db)
        .await?;
        query("DELETE FROM remote_actors WHERE id = $1")
            .bind(activity.actor.id)
            .execute(&app.db)
            .await?;
        return Ok(accepted_and_shown("forgotten"));
    }
    Ok(if moderation::remove(app, &activity.actor, gone).await? {
        accepted_and_shown("deleted")
    } else {
        accepted("not known here; dropped")
    })
}

/// An actor moving to another account (`moves`).
async fn moved(app: &App, activity: &Received) -> Result<Response, Refused> {
    let target = activity
        .target
        .as_deref()
        .ok_or_else(|| Refused::Invalid("a Move must name its target".into()))?;
    let local = local_actor(app, target).await?;
    super::moves::received(app, &activity.actor, &activity.object, target, local).await?;
    Ok(accepted("moved"))
}

async fn react(app: &App, activity: &Received) -> Result<Response, Refused> {
    let Some(object) = object_id(&activity.object) else {
        return Err(Refused::Invalid(
            "a Like or Announce must name a post".into(),
        ));
    };
    let Some((post, None)) = objects::resolve(app, object).await? else {
        return Ok(accepted("not a post here; dropped"));
    };
    let kind = if activity.kind == "Like" {
        "like"
    } else {
        "announce"
    };
    query(
        "INSERT INTO remote_reactions (uri, kind, post_id, remote_actor_id, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(&activity.id)
    .bind(kind)
    .bind(post.id)
    .bind(activity.actor.id)
    .bind(Timestamp::now())
    .execute(&app.db)
    .await?;
    Ok(accepted_and_shown("counted"))
}

/// How long an activity's id is remembered: longer than a signature's
/// date is accepted (`signatures::CLOCK_SKEW`), so a replay is refused
/// by one or the other.
const SEEN_FOR: time::Duration = time::Duration::days(2);

/// Forgets the ids of activities taken long ago (housekeeping).
pub async fn purge_seen(db: &crate::db::Db, now: Timestamp) -> Result<u64, sqlx::Error> {
    query("DELETE FROM inbox_seen WHERE received_at < $1")
        .bind(now - SEEN_FOR)
        .execute(db)
        .await
}

/// Whether the instance takes nothing from `domain` (or a server above
/// it: blocking `example.com` blocks `social.example.com`).
pub async fn is_blocked(app: &App, domain: &str) -> Result<bool, sqlx::Error> {
    let host = domain
        .split(':')
        .next()
        .unwrap_or(domain)
        .to_ascii_lowercase();
    let mut candidates = vec![domain.to_ascii_lowercase()];
    let mut rest = host.as_str();
    loop {
        candidates.push(rest.to_owned());
        match rest.split_once('.') {
            Some((_, parent)) if parent.contains('.') => rest = parent,
            _ => break,
        }
    }
    let count: i64 = crate::db::Query::assembled(format!(
        "SELECT COUNT(*) FROM blocked_domains WHERE domain IN ({})",
        (1..=candidates.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .bind_all(candidates)
    .scalar(&app.db)
    .await?;
    Ok(count > 0)
}
