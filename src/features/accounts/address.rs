//! Changing an account's address on the site: the change waits for a link
//! sent to the new address.
//!
//! Asking gives the same answer whether or not another account has the new
//! address: the request keeps the change and queues one job, and the job
//! looks the address up. A free address gets a link that makes the change;
//! one with an account gets a notice, and the change is dropped. The new
//! address is not reserved meanwhile: it is checked again when the link is
//! followed. The JSON API changes the address at once and says when it is
//! taken, as RealWorld clients expect (docs/decisions.md).

use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use time::Duration;

use super::domain::Email;
use super::link::{new_token, token_hash};
use super::{USER_COLUMNS, User};
use crate::app::App;
use crate::db::{self, Db, Query, Timestamp, Tx, Unique, query};
use crate::error::{AppError, AppResult, Thing};
use crate::jobs::Job;

/// How long a link works.
pub const LINK_LIFETIME: Duration = Duration::hours(24);

/// Keeps the account's change to `email`, replacing any earlier one (and so
/// its link), and queues the email, in the transaction that saves the rest
/// of the profile.
pub(super) async fn request(tx: &mut Tx, user: &User, email: &Email) -> AppResult<()> {
    let now = Timestamp::now();
    query(
        "INSERT INTO email_changes (user_id, email, token_hash, created_at, expires_at)
         VALUES ($1, $2, NULL, $3, $4)
         ON CONFLICT (user_id) DO UPDATE SET email = $2, token_hash = NULL, created_at = $3,
             expires_at = $4",
    )
    .bind(user.id)
    .bind(email.as_str())
    .bind(now)
    .bind(now + LINK_LIFETIME)
    .execute(&mut *tx)
    .await?;
    crate::jobs::enqueue(&mut *tx, &AddressChangeEmail { user_id: user.id }.now()).await?;
    Ok(())
}

/// Emails the new address an account asked for: the link that makes the
/// change, or, when another account has the address, a notice to its
/// owner.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddressChangeEmail {
    pub user_id: i64,
}

impl Job for AddressChangeEmail {
    const KIND: &'static str = "address_change_email";

    async fn run(self, app: &App) -> anyhow::Result<()> {
        send(app, self.user_id).await
    }
}

/// A change of address and the account it is for.
#[derive(FromRow)]
struct Change {
    /// Named apart from the account's own `email`.
    #[sqlx(rename = "new_email")]
    email: String,
    #[sqlx(flatten)]
    user: User,
}

async fn send(app: &App, user_id: i64) -> anyhow::Result<()> {
    let sql = format!(
        "SELECT c.email AS new_email, {} FROM email_changes c JOIN users u ON u.id = c.user_id
         WHERE c.user_id = $1 AND c.expires_at > $2 AND u.deleted_at IS NULL",
        super::user_columns_of_u()
    );
    let change: Option<Change> = Query::assembled(sql)
        .bind(user_id)
        .bind(Timestamp::now())
        .fetch_optional(&app.db)
        .await?;
    let Some(Change { email, user }) = change else {
        tracing::info!("the change of address is no longer asked for; nothing sent");
        return Ok(());
    };
    if let Some(account) = super::find_by_email(&app.db, &email).await? {
        query("DELETE FROM email_changes WHERE user_id = $1")
            .bind(user_id)
            .execute(&app.db)
            .await?;
        // The account has it already (changed through the API meanwhile).
        if account.id == user_id {
            return Ok(());
        }
        return super::emails::address_in_use(app, &email, &account).await;
    }
    // A new secret each time: the link of an earlier email stops working.
    let token = new_token();
    let kept = query("UPDATE email_changes SET token_hash = $1 WHERE user_id = $2 AND email = $3")
        .bind(token_hash(&token))
        .bind(user_id)
        .bind(&email)
        .execute(&app.db)
        .await?;
    if kept == 0 {
        tracing::info!("the change of address was replaced meanwhile; its own job sends");
        return Ok(());
    }
    super::link::send(
        app,
        &email,
        "address_change",
        "settings/email",
        &token,
        &user.username,
        LINK_LIFETIME,
    )
    .await
}

/// A change of address waiting for its link, as the confirmation page
/// shows it.
#[derive(Debug, FromRow, Serialize)]
pub struct Pending {
    pub username: String,
    pub email: String,
}

/// What a link would change, if it still works.
pub async fn check(db: &Db, token: &str) -> AppResult<Pending> {
    query(
        "SELECT u.username, c.email FROM email_changes c JOIN users u ON u.id = c.user_id
         WHERE c.token_hash = $1 AND c.expires_at > $2 AND u.deleted_at IS NULL",
    )
    .bind(token_hash(token))
    .bind(Timestamp::now())
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound(Thing::Link))
}

/// Makes the change a link confirms, which uses the link up.
/// `NotFound(Thing::Link)` when the link is unknown, used, replaced or
/// expired, or its account deleted; a field error when another account got
/// the address since (the link is then dropped, as it can never work).
pub async fn confirm(db: &Db, token: &str) -> AppResult<User> {
    let hash = token_hash(token);
    let now = Timestamp::now();
    let mut tx = db.begin().await?;
    let claimed: Option<(i64, String)> = query(
        "DELETE FROM email_changes WHERE token_hash = $1 AND expires_at > $2
         RETURNING user_id, email",
    )
    .bind(&hash)
    .bind(now)
    .fetch_optional(&mut tx)
    .await?;
    let Some((user_id, email)) = claimed else {
        return Err(AppError::NotFound(Thing::Link));
    };
    let sql = format!(
        "UPDATE users SET email = $1, updated_at = $2 WHERE id = $3 AND deleted_at IS NULL
         RETURNING {USER_COLUMNS}"
    );
    let changed: Result<Option<User>, sqlx::Error> = Query::assembled(sql)
        .bind(&email)
        .bind(now)
        .bind(user_id)
        .fetch_optional(&mut tx)
        .await;
    match changed {
        Ok(Some(user)) => {
            tx.commit().await?;
            Ok(user)
        }
        Ok(None) => Err(AppError::NotFound(Thing::Link)),
        Err(e) if db::unique_violation(&e) == Some(Unique::Email) => {
            drop(tx);
            query("DELETE FROM email_changes WHERE token_hash = $1")
                .bind(&hash)
                .execute(db)
                .await?;
            Err(super::taken(e))
        }
        Err(e) => Err(e.into()),
    }
}

/// Deletes the changes whose links have expired.
pub(super) async fn purge(db: &Db, now: Timestamp) -> AppResult<u64> {
    Ok(query("DELETE FROM email_changes WHERE expires_at < $1")
        .bind(now)
        .execute(db)
        .await?)
}
