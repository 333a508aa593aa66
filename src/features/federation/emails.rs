//! "A reply from the fediverse is waiting": the email to the post's author
//! when a reply is held for their approval (`moderation`), if they want to
//! hear about replies (the same setting as for comments).

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use crate::app::App;
use crate::db::query;
use crate::features::accounts;
use crate::jobs::Job;
use crate::mail;

/// Tells a post's author that a reply waits for them.
#[derive(Debug, Serialize, Deserialize)]
pub struct WaitingReplyEmail {
    pub reply_id: i64,
}

impl Job for WaitingReplyEmail {
    const KIND: &'static str = "fediverse_reply_email";

    async fn run(self, app: &App) -> anyhow::Result<()> {
        #[derive(FromRow)]
        struct Waiting {
            body: String,
            name: String,
            handle: String,
            domain: String,
            title: String,
            author_id: i64,
        }
        // Approved, rejected or deleted before the email went: nothing to
        // tell.
        let waiting: Option<Waiting> = query(
            "SELECT r.body, a.name, a.handle, a.domain, p.title, p.author_id
             FROM remote_replies r JOIN remote_actors a ON a.id = r.remote_actor_id
             JOIN posts p ON p.id = r.post_id
             WHERE r.id = $1 AND r.state = 'pending'",
        )
        .bind(self.reply_id)
        .fetch_optional(&app.db)
        .await?;
        let Some(waiting) = waiting else {
            return Ok(());
        };
        // The author's wishes are read now, as for comments' emails.
        let Some(author) = accounts::find(&app.db, waiting.author_id).await? else {
            return Ok(());
        };
        let Some(address) = author
            .email
            .as_deref()
            .filter(|_| author.deleted_at.is_none() && author.notify_replies)
        else {
            return Ok(());
        };
        let public = app.settings.http.public_url();
        let unsubscribe = public.join(&format!(
            "unsubscribe/{}/{}",
            author.id,
            accounts::unsubscribe_token(app.secret(), author.id)
        ))?;
        let mut message = mail::Email::render(
            &app.templates,
            "fediverse_reply",
            minijinja::context! {
                username => author.username,
                name => waiting.name,
                address => format!("@{}@{}", waiting.handle, waiting.domain),
                title => waiting.title,
                excerpt => mail::excerpt(&waiting.body),
                link => public.join("moderation")?.as_str(),
                unsubscribe_link => unsubscribe.as_str(),
                settings_link => public.join("settings")?.as_str(),
                site => mail::site(&app.settings),
            },
        )?;
        message.unsubscribe = Some(unsubscribe.to_string());
        app.mailer.send(address, message).await
    }
}
