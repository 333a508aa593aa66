//! Password reset by email: a request form, an emailed single-use link that
//! expires, and a form for the new password.
//!
//! Asking gives the same answer whether or not an account has the address:
//! the request only queues a job, and the job looks the address up. Only a
//! hash of each link's token is stored (`link`).

use time::Duration;

use super::User;
use super::domain::{Email, Password};
use super::link::{new_token, token_hash};
use crate::app::App;
use crate::db::{Db, Query, Timestamp, query};
use crate::error::{AppError, AppResult, FieldErrors, Thing};
use crate::jobs::Job;
use serde::{Deserialize, Serialize};

/// How long a link works.
pub const LINK_LIFETIME: Duration = Duration::hours(1);

/// Repeated requests for one address within this window send one email, so
/// the form cannot be used to flood someone's inbox.
const REQUEST_WINDOW_SECS: i64 = 300;

/// Queues the email for `email` (if it is an address at all).
pub async fn request(db: &Db, email: &str) -> AppResult<()> {
    let email = Email::parse(email).map_err(|m| FieldErrors::single("email", m))?;
    let window = Timestamp::now().unix_timestamp() / REQUEST_WINDOW_SECS;
    let job = PasswordResetEmail {
        email: email.as_str().to_owned(),
    }
    .now()
    .dedup(format!("password-reset:{}:{window}", email.as_str()));
    crate::jobs::enqueue(db, &job).await?;
    Ok(())
}

/// Sends a password reset link, if an account has this address.
#[derive(Debug, Serialize, Deserialize)]
pub struct PasswordResetEmail {
    pub email: String,
}

impl Job for PasswordResetEmail {
    const KIND: &'static str = "password_reset_email";

    async fn run(self, app: &App) -> anyhow::Result<()> {
        send_link(app, &self.email).await
    }
}

/// If an account has this address, makes a link and emails it.
async fn send_link(ctx: &App, email: &str) -> anyhow::Result<()> {
    let Some(user) = super::find_by_email(&ctx.db, email).await? else {
        tracing::info!("password reset asked for an address without an account; nothing sent");
        return Ok(());
    };
    let token = new_token();
    let now = Timestamp::now();
    query(
        "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)").bind(token_hash(&token)).bind(user.id).bind(now).bind(now + LINK_LIFETIME)
        .execute(&ctx.db).await?;
    super::link::send(
        ctx,
        email,
        "password_reset",
        "password/reset",
        &token,
        &user.username,
        LINK_LIFETIME,
    )
    .await
}

/// The account a link would reset, if it still works.
pub async fn check(db: &Db, token: &str) -> AppResult<User> {
    let sql = format!(
        "SELECT {} FROM users u JOIN password_resets r ON r.user_id = u.id
         WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > $2 AND u.deleted_at IS NULL",
        super::user_columns_of_u()
    );
    Query::assembled(sql)
        .bind(token_hash(token))
        .bind(Timestamp::now())
        .fetch_optional(db)
        .await?
        .ok_or(AppError::NotFound(Thing::Link))
}

/// Sets a new password through a link, which is used up by it, along with
/// every other link of the account. Every session of the account ends.
/// `AppError::NotFound(Thing::Link)` when the link is unknown, used or expired.
pub async fn reset_password(db: &Db, token: &str, new_password: &str) -> AppResult<User> {
    Password::parse(new_password).map_err(|m| FieldErrors::single("password", m))?;
    let now = Timestamp::now();
    let user_id: Option<i64> = query(
        "UPDATE password_resets SET used_at = $1
         WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
    )
    .bind(now)
    .bind(token_hash(token))
    .scalar_optional(db)
    .await?;
    let user = match user_id {
        Some(id) => super::find(db, id).await?,
        None => None,
    };
    let Some(user) = user.filter(|u| u.deleted_at.is_none()) else {
        return Err(AppError::NotFound(Thing::Link));
    };
    super::set_password(db, &user, new_password, "password", None).await?;
    query("DELETE FROM password_resets WHERE user_id = $1 AND used_at IS NULL")
        .bind(user.id)
        .execute(db)
        .await?;
    Ok(user)
}
