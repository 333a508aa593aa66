//! The emails about an account itself.

use crate::jobs::JobContext;
use crate::mail;

/// The job: welcomes a new account (unless it is already gone).
pub async fn welcome(ctx: &JobContext, user_id: i64) -> anyhow::Result<()> {
    let Some(user) = super::find(&ctx.db, user_id).await? else {
        return Ok(());
    };
    let Some(address) = user.email.as_deref().filter(|_| user.deleted_at.is_none()) else {
        return Ok(());
    };
    let public = ctx.config.public_url();
    let message = mail::Email::render(
        &ctx.templates,
        "welcome",
        minijinja::context! {
            username => user.username,
            write_link => public.join("editor")?.as_str(),
            settings_link => public.join("settings")?.as_str(),
            site => mail::site(&ctx.config),
        },
    )?;
    ctx.mailer.send(address, message).await
}
