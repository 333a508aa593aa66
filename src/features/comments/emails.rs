//! "Someone replied": the email to the author of a post or of an earlier
//! comment when a new comment arrives.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use crate::app::App;
use crate::db::query;
use crate::features::accounts;
use crate::jobs::Job;
use crate::mail;

/// Tells someone that a comment answered their post or comment.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReplyEmail {
    pub comment_id: i64,
    pub recipient_id: i64,
}

impl Job for ReplyEmail {
    const KIND: &'static str = "reply_email";

    async fn run(self, app: &App) -> anyhow::Result<()> {
        reply(app, self.comment_id, self.recipient_id).await
    }
}

#[derive(FromRow)]
struct Reply {
    body: String,
    commenter: String,
    slug: String,
    title: String,
    post_author_id: i64,
}

/// The subscriber to [`CommentCreated`](super::CommentCreated): queues a
/// reply email for the post's author and everyone who commented before,
/// except the one replying, if they want to hear about replies. Once per
/// recipient, however often it runs.
pub async fn email_replies(app: App, event: super::CommentCreated) -> anyhow::Result<()> {
    let id = event.comment_id;
    let recipients: Vec<i64> = query(
        "SELECT u.id FROM users u JOIN comments c ON c.id = $1
         WHERE u.id <> c.author_id AND u.deleted_at IS NULL AND u.notify_replies
           AND (u.id = (SELECT author_id FROM posts WHERE id = c.post_id)
                OR u.id IN (SELECT author_id FROM comments
                            WHERE post_id = c.post_id AND id < c.id))",
    )
    .bind(id)
    .scalars(&app.db)
    .await?;
    for recipient_id in recipients {
        let job = ReplyEmail {
            comment_id: id,
            recipient_id,
        }
        .now()
        .dedup(format!("reply:{id}:{recipient_id}"));
        crate::jobs::enqueue(&app.db, &job).await?;
    }
    Ok(())
}

/// The recipient's wishes are read now, not when the job was queued, so
/// unsubscribing stops emails already on their way.
async fn reply(ctx: &App, comment_id: i64, recipient_id: i64) -> anyhow::Result<()> {
    let Some(recipient) = accounts::find(&ctx.db, recipient_id).await? else {
        return Ok(());
    };
    let Some(address) = recipient
        .email
        .as_deref()
        .filter(|_| recipient.deleted_at.is_none() && recipient.notify_replies)
    else {
        return Ok(());
    };
    let reply: Option<Reply> = query(
        "SELECT c.body, u.username AS commenter, p.slug, p.title, p.author_id AS post_author_id
         FROM comments c JOIN posts p ON p.id = c.post_id JOIN users u ON u.id = c.author_id
         WHERE c.id = $1",
    )
    .bind(comment_id)
    .fetch_optional(&ctx.db)
    .await?;
    // Deleted before the email went: nothing to tell.
    let Some(reply) = reply else {
        return Ok(());
    };
    let public = ctx.settings.http.public_url();
    let mut link = public.join(&format!("posts/{}", reply.slug))?;
    link.set_fragment(Some(&format!("comment-{comment_id}")));
    let unsubscribe = public.join(&format!(
        "unsubscribe/{recipient_id}/{}",
        accounts::unsubscribe_token(ctx.secret(), recipient_id)
    ))?;
    let excerpt = mail::excerpt(&reply.body);
    let mut message = mail::Email::render(
        &ctx.templates,
        "reply",
        minijinja::context! {
            username => recipient.username,
            commenter => reply.commenter,
            title => reply.title,
            your_post => reply.post_author_id == recipient_id,
            excerpt,
            link => link.as_str(),
            unsubscribe_link => unsubscribe.as_str(),
            settings_link => public.join("settings")?.as_str(),
            site => mail::site(&ctx.settings),
        },
    )?;
    message.unsubscribe = Some(unsubscribe.to_string());
    ctx.mailer.send(address, message).await
}
