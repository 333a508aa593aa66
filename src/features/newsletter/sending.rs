//! A post emailed to its subscribers. When a post its author chose to
//! email goes live (published now, or its scheduled time comes: the
//! `PostPublished` event), every recipient is written down first
//! (`newsletter_deliveries`, one send per post ever); then jobs of
//! `QUIRE_NEWSLETTER_BATCH` recipients each send, paced to
//! `QUIRE_NEWSLETTER_RATE` messages a second, over the mailer's reused SMTP
//! connections. Each recipient is claimed before their message goes and
//! marked when the server answered: a worker killed mid-send leaves its
//! claimed recipient to its job's next run, and the others to the next
//! jobs, so a restart resumes where it stopped. A temporary refusal (4xx)
//! is tried again later; a permanent one (5xx) marks the address bouncing,
//! and repeated ones suspend it.

use std::time::Duration;

use futures_util::StreamExt;

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::subscribers::{self, RECEIVING};
use crate::app::App;
use crate::db::{Query, Timestamp, query};
use crate::error::{AppError, AppResult};
use crate::features::accounts;
use crate::features::posts::{self, Post, PostPublished};
use crate::jobs::{self, Job};
use crate::mail::{self, SendError};
use crate::markdown;

/// Temporary failures a recipient may have before they are given up.
const MAX_ATTEMPTS: i64 = 5;
/// The first wait after a temporary failure; doubled after each.
const FIRST_RETRY: time::Duration = time::Duration::minutes(1);
/// Permanent failures after which an address is no longer sent to.
const SUSPEND_AFTER: i64 = 3;
/// Messages a batch has in flight at once, each on its own SMTP
/// connection of the mailer's pool.
const CONNECTIONS: usize = 4;

/// Subscriber to [`PostPublished`].
pub async fn post_published(app: App, event: PostPublished) -> anyhow::Result<()> {
    let post = match posts::find_published_by_id(&app, event.post_id).await {
        Ok(post) => post,
        // Deleted or back to a draft since: nothing to send.
        Err(AppError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if post.email_subscribers {
        start(&app, &post).await?;
    }
    Ok(())
}

/// Writes down who gets `post` (everyone receiving the whole blog or its
/// author) and queues the first batch; returns the send's id, or none when
/// the post was sent before.
pub async fn start(app: &App, post: &Post) -> AppResult<Option<i64>> {
    let now = Timestamp::now();
    let mut tx = app.db.begin().await?;
    let send: Option<i64> = query(
        "INSERT INTO newsletter_sends (post_id, recipients, created_at) VALUES ($1, 0, $2)
         ON CONFLICT (post_id) DO NOTHING RETURNING id",
    )
    .bind(post.id)
    .bind(now)
    .scalar_optional(&mut tx)
    .await?;
    let Some(send) = send else {
        return Ok(None);
    };
    let recipients = Query::assembled(format!(
        "INSERT INTO newsletter_deliveries (send_id, subscriber_id, state)
         SELECT $1, s.id, 'pending' FROM subscribers s
         WHERE s.state IN {RECEIVING} AND EXISTS (
             SELECT 1 FROM subscriptions x WHERE x.subscriber_id = s.id
             AND (x.author_id IS NULL OR x.author_id = $2))"
    ))
    .bind(send)
    .bind(post.author_id)
    .execute(&mut tx)
    .await?;
    query("UPDATE newsletter_sends SET recipients = $1, finished_at = $2 WHERE id = $3")
        .bind(recipients as i64)
        .bind((recipients == 0).then_some(now))
        .bind(send)
        .execute(&mut tx)
        .await?;
    if recipients > 0 {
        jobs::enqueue(&mut tx, &SendBatch::first(send)).await?;
    }
    tx.commit().await?;
    tracing::info!(post = post.id, send, recipients, "newsletter send started");
    Ok(Some(send))
}

/// One batch of a send's recipients.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendBatch {
    pub send_id: i64,
    /// Which batch of the send: names the job (its dedup key) and the
    /// recipients it claims.
    pub round: i64,
}

impl SendBatch {
    fn first(send_id: i64) -> jobs::NewJob {
        Self { send_id, round: 0 }.job(Timestamp::now())
    }

    fn job(self, at: Timestamp) -> jobs::NewJob {
        let key = format!("newsletter:{}:{}", self.send_id, self.round);
        self.now().at(at).dedup(key)
    }

    /// What this job writes on the rows it claims.
    fn claim(&self) -> String {
        format!("{}:{}", self.send_id, self.round)
    }
}

#[derive(FromRow)]
struct Recipient {
    subscriber_id: i64,
    email: String,
    attempts: i64,
}

impl Job for SendBatch {
    const KIND: &'static str = "newsletter_batch";

    async fn run(self, app: &App) -> anyhow::Result<()> {
        let settings = &app.settings.newsletter;
        let claim = self.claim();
        let post_id: Option<i64> = query("SELECT post_id FROM newsletter_sends WHERE id = $1")
            .bind(self.send_id)
            .scalar_optional(&app.db)
            .await?;
        let Some(post_id) = post_id else {
            // The post was deleted, and its send with it.
            return Ok(());
        };
        // What this job claimed before its worker died: the server never
        // answered for it, so it goes again.
        query(
            "UPDATE newsletter_deliveries SET state = 'pending', claim = NULL
             WHERE send_id = $1 AND state = 'sending' AND claim = $2",
        )
        .bind(self.send_id)
        .bind(&claim)
        .execute(&app.db)
        .await?;
        // Those who left (or were suspended) since the send began.
        Query::assembled(format!(
            "UPDATE newsletter_deliveries SET state = 'skipped'
             WHERE send_id = $1 AND state = 'pending' AND subscriber_id IN
                 (SELECT id FROM subscribers WHERE state NOT IN {RECEIVING})"
        ))
        .bind(self.send_id)
        .execute(&app.db)
        .await?;
        let post = match posts::find_published_by_id(app, post_id).await {
            Ok(post) => Some(post),
            Err(AppError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        let Some(post) = post else {
            // Back to a draft: what was not sent is not.
            query(
                "UPDATE newsletter_deliveries SET state = 'skipped'
                 WHERE send_id = $1 AND state = 'pending'",
            )
            .bind(self.send_id)
            .execute(&app.db)
            .await?;
            return finish_or_continue(app, &self).await;
        };
        let message = PostMessage::new(app, &post).await?;

        let pace = (settings.rate > 0).then(|| Duration::from_secs_f64(1.0 / settings.rate as f64));
        let started = tokio::time::Instant::now();
        // Each message is claimed, sent and recorded on its own, at its
        // slot of the pace, a few at once over as many SMTP connections:
        // one message at a time waits out a round trip (and on loopback
        // the client's Nagle delay) per message.
        let sends = futures_util::stream::iter(0..settings.batch)
            .map(|n| {
                let (message, claim, batch) = (&message, &claim, &self);
                async move {
                    if let Some(pace) = pace {
                        tokio::time::sleep_until(started + pace * n).await;
                    }
                    let Some(recipient) = claim_next(app, batch, claim).await? else {
                        return Ok::<bool, AppError>(false);
                    };
                    let email = message.for_recipient(app, &recipient)?;
                    let outcome = app.mailer.deliver(&recipient.email, email).await;
                    record(app, batch, &recipient, outcome).await?;
                    Ok(true)
                }
            })
            .buffered(CONNECTIONS);
        // Every one run to its end (one that found nobody left is quick):
        // a send dropped halfway would leave its recipient claimed.
        let outcomes: Vec<AppResult<bool>> = sends.collect().await;
        for outcome in outcomes {
            outcome?;
        }
        finish_or_continue(app, &self).await
    }
}

/// Takes the next recipient due, for this job alone.
async fn claim_next(app: &App, batch: &SendBatch, claim: &str) -> AppResult<Option<Recipient>> {
    let now = Timestamp::now();
    loop {
        let next: Option<i64> = query(
            "SELECT subscriber_id FROM newsletter_deliveries
             WHERE send_id = $1 AND state = 'pending' AND (retry_at IS NULL OR retry_at <= $2)
             ORDER BY subscriber_id LIMIT 1",
        )
        .bind(batch.send_id)
        .bind(now)
        .scalar_optional(&app.db)
        .await?;
        let Some(next) = next else {
            return Ok(None);
        };
        // Taken only if still waiting: another run of this send (a job
        // run again late) may have taken it meanwhile.
        let taken: Option<Recipient> = query(
            "UPDATE newsletter_deliveries SET state = 'sending', claim = $3,
                 attempts = attempts + 1
             WHERE send_id = $1 AND subscriber_id = $2 AND state = 'pending'
             RETURNING subscriber_id, attempts,
                 (SELECT email FROM subscribers WHERE id = $2) AS email",
        )
        .bind(batch.send_id)
        .bind(next)
        .bind(claim)
        .fetch_optional(&app.db)
        .await?;
        if taken.is_some() {
            return Ok(taken);
        }
    }
}

/// Writes what the SMTP server answered for one recipient.
async fn record(
    app: &App,
    batch: &SendBatch,
    recipient: &Recipient,
    outcome: Result<(), SendError>,
) -> AppResult<()> {
    let now = Timestamp::now();
    let set = |state: &'static str| {
        query(
            "UPDATE newsletter_deliveries SET state = $1, claim = NULL, sent_at = $2,
                 retry_at = $3, last_error = $4
             WHERE send_id = $5 AND subscriber_id = $6",
        )
        .bind(state)
        .bind((state == "sent").then_some(now))
    };
    match outcome {
        Ok(()) => {
            set("sent")
                .bind(None::<Timestamp>)
                .bind(None::<String>)
                .bind(batch.send_id)
                .bind(recipient.subscriber_id)
                .execute(&app.db)
                .await?;
            metrics::counter!("quire_newsletter_emails_total", "outcome" => "sent").increment(1);
        }
        Err(SendError::Permanent(error)) => {
            let mut tx = app.db.begin().await?;
            set("bounced")
                .bind(None::<Timestamp>)
                .bind(&error)
                .bind(batch.send_id)
                .bind(recipient.subscriber_id)
                .execute(&mut tx)
                .await?;
            query(
                "UPDATE subscribers SET bounces = bounces + 1,
                     state = CASE WHEN bounces + 1 >= $1 THEN 'suspended' ELSE 'bouncing' END
                 WHERE id = $2 AND state IN ('confirmed', 'bouncing')",
            )
            .bind(SUSPEND_AFTER)
            .bind(recipient.subscriber_id)
            .execute(&mut tx)
            .await?;
            tx.commit().await?;
            // The address is personal data: the log has the send only.
            tracing::info!(send = batch.send_id, %error, "newsletter email bounced");
            metrics::counter!("quire_newsletter_emails_total", "outcome" => "bounced").increment(1);
        }
        Err(SendError::Temporary(error)) if recipient.attempts < MAX_ATTEMPTS => {
            let wait = FIRST_RETRY * 2_i32.pow(recipient.attempts.clamp(1, 10) as u32 - 1);
            set("pending")
                .bind(Some(now + wait))
                .bind(&error)
                .bind(batch.send_id)
                .bind(recipient.subscriber_id)
                .execute(&app.db)
                .await?;
            metrics::counter!("quire_newsletter_emails_total", "outcome" => "retried").increment(1);
        }
        Err(SendError::Temporary(error)) => {
            set("failed")
                .bind(None::<Timestamp>)
                .bind(&error)
                .bind(batch.send_id)
                .bind(recipient.subscriber_id)
                .execute(&app.db)
                .await?;
            metrics::counter!("quire_newsletter_emails_total", "outcome" => "failed").increment(1);
        }
    }
    Ok(())
}

/// Queues the next batch while recipients wait (at once, or when the
/// first retry is due), else marks the send finished.
async fn finish_or_continue(app: &App, batch: &SendBatch) -> anyhow::Result<()> {
    let now = Timestamp::now();
    // When the first waiting recipient is due: now for any not tried yet.
    let waiting: Option<Timestamp> = query(
        "SELECT MIN(COALESCE(retry_at, $2)) FROM newsletter_deliveries
         WHERE send_id = $1 AND state = 'pending'",
    )
    .bind(batch.send_id)
    .bind(now)
    .scalar(&app.db)
    .await?;
    match waiting {
        Some(first) => {
            let at = first.max(now);
            let next = SendBatch {
                send_id: batch.send_id,
                round: batch.round + 1,
            };
            jobs::enqueue(&app.db, &next.job(at)).await?;
        }
        None => {
            query("UPDATE newsletter_sends SET finished_at = $1 WHERE id = $2 AND finished_at IS NULL")
                .bind(now)
                .bind(batch.send_id)
                .execute(&app.db)
                .await?;
            tracing::info!(send = batch.send_id, "newsletter send finished");
        }
    }
    Ok(())
}

/// The email of a post, rendered once a batch: its whole body with
/// absolute addresses, its Markdown as the plain text, the author's
/// footer; each recipient's links added.
struct PostMessage {
    context: minijinja::Value,
}

impl PostMessage {
    async fn new(app: &App, post: &Post) -> AppResult<Self> {
        let url = app
            .settings
            .http
            .absolute(&format!("posts/{}", post.slug))
            .map_err(|e| AppError::Internal(e.into()))?;
        let html = markdown::for_feed(post.body_html.as_deref().unwrap_or_default(), &url);
        let author = accounts::find(&app.db, post.author_id).await?;
        let (author_name, bio) = match &author {
            Some(user) => (user.username.clone(), user.bio.clone()),
            None => (String::new(), None),
        };
        Ok(Self {
            context: minijinja::context! {
                title => post.title.clone(),
                description => post.description.clone(),
                url => url.as_str(),
                html,
                text => post.body.clone(),
                author => author_name,
                bio,
                site => mail::site(&app.settings),
            },
        })
    }

    fn for_recipient(&self, app: &App, recipient: &Recipient) -> AppResult<mail::Email> {
        let links = subscribers::links(app, recipient.subscriber_id, &recipient.email)?;
        self.render(app, links.manage.as_str(), links.unsubscribe.as_str())
    }

    fn render(&self, app: &App, manage: &str, unsubscribe: &str) -> AppResult<mail::Email> {
        let mut email = mail::Email::render(
            &app.templates,
            "newsletter_post",
            minijinja::context! {
                manage_link => manage,
                unsubscribe_link => unsubscribe,
                ..self.context.clone()
            },
        )
        .map_err(AppError::Internal)?;
        email.unsubscribe = Some(unsubscribe.to_owned());
        Ok(email)
    }
}

/// A post's email to one address, now: the owner's test send. Its links
/// lead to the subscribe page (the owner subscribes nothing by it).
#[derive(Debug, Serialize, Deserialize)]
pub struct TestEmail {
    pub post_id: i64,
    pub to: String,
}

impl Job for TestEmail {
    const KIND: &'static str = "newsletter_test";

    async fn run(self, app: &App) -> anyhow::Result<()> {
        let post = match posts::find_published_by_id(app, self.post_id).await {
            Ok(post) => post,
            Err(AppError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let message = PostMessage::new(app, &post).await?;
        let form = app.settings.http.absolute("newsletter")?;
        let email = message.render(app, form.as_str(), form.as_str())?;
        app.mailer.send(&self.to, email).await
    }
}
