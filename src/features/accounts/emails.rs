//! The emails about an account itself.

use serde::{Deserialize, Serialize};

use super::User;
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

/// Tells the owner of `account` that someone tried to use its address for
/// another account (a registration, a change of address), with the ways
/// into their own. The one who tried is told the same as for a free
/// address, so this is how an address's owner learns of it.
pub(super) async fn address_in_use(ctx: &App, address: &str, account: &User) -> anyhow::Result<()> {
    let public = ctx.settings.http.public_url();
    let message = mail::Email::render(
        &ctx.templates,
        "address_in_use",
        minijinja::context! {
            username => &account.username,
            login_link => public.join("login")?.as_str(),
            reset_link => public.join("password/forgot")?.as_str(),
            site => mail::site(&ctx.settings),
        },
    )?;
    ctx.mailer.send(address, message).await
}
