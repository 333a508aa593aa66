//! The emails about an account itself.

use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::jobs::Job;
use crate::mail;

/// Welcomes a new account (unless it is already gone).
#[derive(Debug, Serialize, Deserialize)]
pub struct WelcomeEmail {
    pub user_id: i64,
}

impl Job for WelcomeEmail {
    const KIND: &'static str = "welcome_email";

    async fn run(self, app: &App) -> anyhow::Result<()> {
        welcome(app, self.user_id).await
    }
}

/// The subscriber to [`AccountCreated`](super::AccountCreated): queues the
/// welcome, once per account.
pub async fn welcome_new_account(app: App, event: super::AccountCreated) -> anyhow::Result<()> {
    let welcome = WelcomeEmail {
        user_id: event.user_id,
    }
    .now()
    .dedup(format!("welcome:{}", event.user_id));
    crate::jobs::enqueue(&app.db, &welcome).await?;
    Ok(())
}

async fn welcome(ctx: &App, user_id: i64) -> anyhow::Result<()> {
    let Some(user) = super::find(&ctx.db, user_id).await? else {
        return Ok(());
    };
    let Some(address) = user.email.as_deref().filter(|_| user.deleted_at.is_none()) else {
        return Ok(());
    };
    let public = ctx.settings.http.public_url();
    let message = mail::Email::render(
        &ctx.templates,
        "welcome",
        minijinja::context! {
            username => user.username,
            write_link => public.join("editor")?.as_str(),
            settings_link => public.join("settings")?.as_str(),
            site => mail::site(&ctx.settings),
        },
    )?;
    ctx.mailer.send(address, message).await
}
