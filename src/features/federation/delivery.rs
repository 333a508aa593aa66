//! Activities we send: a post going live (`Create`, and the blog's
//! `Announce`), edited (`Update`) or deleted (`Delete`), and `Accept` of a
//! follow. Each is a durable job per inbox (a server's shared inbox once
//! for all its followers of ours), signed by the actor it is from; a
//! failure is retried with the queue's backoff (`QUIRE_JOB_MAX_ATTEMPTS`,
//! about three hours by default), and an inbox that has failed for
//! [`GIVE_UP_AFTER`] is not tried again until its server sends us
//! something. Drafts, scheduled posts not yet live and previews never
//! leave.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use super::actors::Local;
use super::{CONTEXT, Federation, PUBLIC, objects};
use crate::app::App;
use crate::db::{Timestamp, query};
use crate::error::{AppError, AppResult};
use crate::features::comments::CommentCreated;
use crate::features::posts::{self, PostDeleted, PostPublished, PostUpdated};
use crate::jobs::{self, Job, NewJob};

/// How long an inbox may fail before we stop trying it.
pub const GIVE_UP_AFTER: time::Duration = time::Duration::days(7);

/// Who an activity is from, as a job keeps it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sender {
    Blog,
    Author(i64),
}

impl Sender {
    fn of(local: &Local) -> Self {
        match local.user_id() {
            None => Sender::Blog,
            Some(id) => Sender::Author(id),
        }
    }

    async fn local(self, app: &App) -> AppResult<Local> {
        match self {
            Sender::Blog => Ok(Local::Blog),
            Sender::Author(id) => Local::by_user_id(app, id).await,
        }
    }
}

/// One activity to one inbox.
#[derive(Debug, Serialize, Deserialize)]
pub struct Deliver {
    pub from: Sender,
    pub inbox: String,
    /// The activity's JSON, as it is sent.
    pub activity: String,
}

impl Job for Deliver {
    const KIND: &'static str = "federation_deliver";

    async fn run(self, app: &App) -> anyhow::Result<()> {
        let inbox = Url::parse(&self.inbox)?;
        let domain = super::actors::authority(&inbox);
        if super::inbox::is_blocked(app, &domain).await? {
            tracing::info!(%domain, "not delivered: the server is blocked");
            return Ok(());
        }
        let failing_since: Option<Timestamp> =
            query("SELECT failing_since FROM delivery_failures WHERE inbox = $1")
                .bind(&self.inbox)
                .scalar_optional(&app.db)
                .await?;
        if failing_since.is_some_and(|since| since + GIVE_UP_AFTER < Timestamp::now()) {
            tracing::info!(inbox = %self.inbox, "not delivered: the inbox has failed for a week");
            return Ok(());
        }
        let local = match self.from.local(app).await {
            Ok(local) => local,
            // The author's account is gone: nothing more is sent for it.
            Err(AppError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let keys = local.keys(app).await?;
        let federation = app.part::<Federation>();
        let signer = federation.signers.get(&keys.private_pem)?;
        let body = bytes::Bytes::from(self.activity.into_bytes());
        // An RSA signature is a millisecond of CPU: off the threads that
        // serve pages, and a few at a time, so a fan-out to thousands of
        // inboxes leaves the site the rest of the machine.
        let permit = federation.signing.clone().acquire_owned().await?;
        let (key_id, target, content) = (local.key_id(app), inbox.clone(), body.clone());
        let headers = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            super::signatures::sign(
                &key_id,
                &signer,
                &axum::http::Method::POST,
                &target,
                Some((&content, super::fetch::ACTIVITY_JSON)),
                time::OffsetDateTime::now_utc(),
            )
        })
        .await??;
        match federation.fetcher.post(&inbox, headers, body).await {
            Ok(()) => {
                // A write only when there is something to forget.
                if failing_since.is_some() {
                    query("DELETE FROM delivery_failures WHERE inbox = $1")
                        .bind(&self.inbox)
                        .execute(&app.db)
                        .await?;
                }
                metrics::counter!("quire_federation_deliveries_total", "outcome" => "delivered")
                    .increment(1);
                Ok(())
            }
            Err(error) if error.is_temporary() => {
                query(
                    "INSERT INTO delivery_failures (inbox, domain, failing_since, last_error)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (inbox) DO UPDATE SET last_error = $4",
                )
                .bind(&self.inbox)
                .bind(&domain)
                .bind(Timestamp::now())
                .bind(error.to_string())
                .execute(&app.db)
                .await?;
                metrics::counter!("quire_federation_deliveries_total", "outcome" => "retried")
                    .increment(1);
                Err(error.into())
            }
            // Refused for good (gone, forbidden, not an inbox): retrying
            // would not help.
            Err(error) => {
                tracing::info!(%error, "delivery refused for good");
                metrics::counter!("quire_federation_deliveries_total", "outcome" => "refused")
                    .increment(1);
                Ok(())
            }
        }
    }
}

/// An inbox of `domain` answered or its server wrote to us: deliveries to
/// its inboxes go on.
pub async fn forget_failures(app: &App, domain: &str) -> Result<(), sqlx::Error> {
    query("DELETE FROM delivery_failures WHERE domain = $1")
        .bind(domain)
        .execute(&app.db)
        .await?;
    Ok(())
}

/// A `Follow` of one of our actors, as its answer needs it.
pub struct FollowOf<'a> {
    /// The `Follow` activity's id.
    pub follow_uri: &'a str,
    /// `remote_actors.id` of the follower, their id and inbox.
    pub follower: i64,
    pub follower_uri: &'a str,
    pub inbox: &'a str,
}

/// Answers a follow of `local`: `Accept`, or `Reject` (refused, or a
/// follower removed later).
pub async fn answer_follow(
    app: &App,
    local: &Local,
    kind: &str,
    follow: &FollowOf<'_>,
) -> AppResult<()> {
    let id = local.id(app);
    let answer = json!({
        "@context": CONTEXT,
        "id": format!(
            "{id}#{}/{}/{}",
            kind.to_ascii_lowercase(),
            follow.follower,
            Timestamp::now().unix_timestamp()
        ),
        "type": kind,
        "actor": id,
        "object": {
            "id": follow.follow_uri,
            "type": "Follow",
            "actor": follow.follower_uri,
            "object": id,
        },
    });
    let job = deliver_job(local, &answer, follow.inbox);
    jobs::enqueue(&app.db, &job).await?;
    Ok(())
}

fn deliver_job(local: &Local, activity: &Value, inbox: &str) -> NewJob {
    let id = activity
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let deliver = Deliver {
        from: Sender::of(local),
        inbox: inbox.to_owned(),
        activity: activity.to_string(),
    };
    deliver.now().dedup(format!("ap:{id}:{inbox}"))
}

/// The inboxes of an actor's accepted followers, one per server that has
/// a shared inbox.
async fn follower_inboxes(app: &App, local: &Local) -> AppResult<Vec<String>> {
    let inboxes: Vec<String> = query(
        "SELECT DISTINCT COALESCE(a.shared_inbox, a.inbox) FROM followers f
         JOIN remote_actors a ON a.id = f.remote_actor_id
         WHERE COALESCE(f.user_id, 0) = COALESCE($1, 0) AND f.state = 'accepted'",
    )
    .bind(local.user_id())
    .scalars(&app.db)
    .await?;
    Ok(inboxes)
}

/// Queues `activity` of `local` to its followers' inboxes (a `Move`);
/// returns how many.
pub async fn to_followers(app: &App, local: &Local, activity: Value) -> AppResult<usize> {
    let inboxes = follower_inboxes(app, local).await?;
    let count = inboxes.len();
    fan_out(app, vec![(local.clone(), activity, inboxes)]).await?;
    Ok(count)
}

/// Queues one activity per inbox, from each sender: `Create` (or
/// `Update`, `Delete`) by the author to their followers' and the blog's
/// followers' inboxes, the blog's `Announce` to the blog's followers.
async fn fan_out(app: &App, sends: Vec<(Local, Value, Vec<String>)>) -> AppResult<()> {
    let mut jobs = Vec::new();
    for (local, activity, inboxes) in sends {
        // Each inbox once, in a stable order.
        let inboxes: BTreeMap<String, ()> = inboxes.into_iter().map(|i| (i, ())).collect();
        jobs.extend(
            inboxes
                .keys()
                .map(|inbox| deliver_job(&local, &activity, inbox)),
        );
    }
    let count = jobs.len();
    jobs::enqueue_many(&app.db, &jobs).await?;
    tracing::info!(deliveries = count, "federation deliveries queued");
    Ok(())
}

fn with_context(mut activity: Value) -> Value {
    activity["@context"] =
        json!([CONTEXT, { "Hashtag": "as:Hashtag", "sensitive": "as:sensitive" }]);
    activity
}

/// The author's and (for the owner's posts) the blog's sends for a post.
async fn post_sends(
    app: &App,
    post: &posts::Post,
    kind: &str,
) -> AppResult<Vec<(Local, Value, Vec<String>)>> {
    let author = objects::author_of(app, post).await?;
    let article = objects::article_of(app, post).await?;
    let mut inboxes = follower_inboxes(app, &author).await?;
    let mut sends = Vec::new();
    if objects::blog_carries(app, post).await? {
        let blog_inboxes = follower_inboxes(app, &Local::Blog).await?;
        // An edit reaches everyone who was shown the post; a new post
        // reaches the blog's followers as the blog's boost.
        if kind == "Update" {
            inboxes.extend(blog_inboxes);
        } else {
            let announce = objects::activity(app, &Local::Blog, "Announce", post, article.clone());
            sends.push((Local::Blog, with_context(announce), blog_inboxes));
        }
    }
    let activity = objects::activity(app, &author, kind, post, article);
    sends.push((author, with_context(activity), inboxes));
    Ok(sends)
}

/// The post, if it is still live: deleted or back to a draft since the
/// event, there is nothing to tell.
async fn live_post(app: &App, id: i64) -> AppResult<Option<posts::Post>> {
    match posts::find_published_by_id(app, id).await {
        Ok(post) => Ok(Some(post)),
        Err(AppError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Subscriber to [`PostPublished`]: followers get the new post.
pub async fn post_published(app: App, event: PostPublished) -> anyhow::Result<()> {
    if !super::enabled(&app) {
        return Ok(());
    }
    let Some(post) = live_post(&app, event.post_id).await? else {
        return Ok(());
    };
    let sends = post_sends(&app, &post, "Create").await?;
    fan_out(&app, sends).await?;
    Ok(())
}

/// Subscriber to [`PostUpdated`]: an edit of a live post is sent; of a
/// draft, nothing.
pub async fn post_updated(app: App, event: PostUpdated) -> anyhow::Result<()> {
    if !super::enabled(&app) {
        return Ok(());
    }
    let Some(post) = live_post(&app, event.post_id).await? else {
        return Ok(());
    };
    // Going live is sent as a `Create` (its own event), not as an edit.
    if post.edited_at.is_none() {
        return Ok(());
    }
    let sends = post_sends(&app, &post, "Update").await?;
    fan_out(&app, sends).await?;
    Ok(())
}

/// Subscriber to [`CommentCreated`]: a member's comment on a post the
/// fediverse was told of goes out as a `Note`, to those who follow the
/// post's author (and the blog, for the owner's posts), to everyone who
/// replied to the post from the fediverse, and to the writer it answers:
/// the conversation is whole on both sides.
pub async fn comment_created(app: App, event: CommentCreated) -> anyhow::Result<()> {
    if !super::enabled(&app) {
        return Ok(());
    }
    let Some(found) = objects::comment_note_of(&app, event.comment_id).await? else {
        return Ok(());
    };
    let author = objects::author_of(&app, &found.post).await?;
    let mut inboxes = follower_inboxes(&app, &author).await?;
    if objects::blog_carries(&app, &found.post).await? {
        inboxes.extend(follower_inboxes(&app, &Local::Blog).await?);
    }
    let participants: Vec<String> = query(
        "SELECT DISTINCT COALESCE(a.shared_inbox, a.inbox) FROM remote_replies r
         JOIN remote_actors a ON a.id = r.remote_actor_id
         WHERE r.post_id = $1 AND r.state = 'approved'",
    )
    .bind(found.post.id)
    .scalars(&app.db)
    .await?;
    inboxes.extend(participants);
    // The writer it answers replied to the post from the fediverse, so
    // they are among the participants.
    let activity = json!({
        "@context": CONTEXT,
        "id": format!("{}/activity", found.note["id"].as_str().unwrap_or_default()),
        "type": "Create",
        "actor": found.by.id(&app),
        "to": [PUBLIC],
        "cc": found.note["cc"].clone(),
        "published": found.note["published"].clone(),
        "object": found.note,
    });
    fan_out(&app, vec![(found.by, activity, inboxes)]).await?;
    Ok(())
}

/// Subscriber to [`PostDeleted`]: those told of the post are told it is
/// gone.
pub async fn post_deleted(app: App, event: PostDeleted) -> anyhow::Result<()> {
    let (true, Some(author_id)) = (super::enabled(&app), event.author_id) else {
        return Ok(());
    };
    if !event.was_published {
        return Ok(());
    }
    let author = match Local::by_user_id(&app, author_id).await {
        Ok(author) => author,
        Err(AppError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut inboxes = follower_inboxes(&app, &author).await?;
    inboxes.extend(follower_inboxes(&app, &Local::Blog).await?);
    let object = objects::post_id(&app, event.post_id);
    let activity = json!({
        "@context": CONTEXT,
        "id": format!("{object}/activities/delete"),
        "type": "Delete",
        "actor": author.id(&app),
        "object": { "id": object, "type": "Tombstone" },
        "to": [PUBLIC],
    });
    fan_out(&app, vec![(author, activity, inboxes)]).await?;
    Ok(())
}
