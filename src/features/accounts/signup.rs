//! Registration on the site: the address is confirmed by a link before the
//! account is made.
//!
//! The form's answer is the same whether or not an account has the
//! address: every valid registration is kept as pending and queues one
//! job, and the job looks the address up. A free address gets a link that
//! makes the account; one with an account gets a notice, and its pending
//! registration is dropped. Nothing pending reserves a username or an
//! address (if it did, trying the name or the address would tell who is
//! registering): both are checked again when the link is followed. The
//! site's first account is made at once: there is nobody's address to
//! reveal yet, and a fresh install often has no mail server.
//!
//! The JSON API registers at once and says when an address is taken, as
//! RealWorld clients expect (docs/decisions.md).

use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use time::Duration;

use super::domain::{Email, Username};
use super::link::{new_token, token_hash};
use super::{Applicant, NewAccount, NewRow, NotMade, Role, User, applicant, password};
use crate::app::App;
use crate::config::Registration;
use crate::db::{Db, Timestamp, query};
use crate::error::{AppError, AppResult, FieldErrors, Problem, Thing};
use crate::jobs::Job;

/// How long a link works.
pub const LINK_LIFETIME: Duration = Duration::hours(24);

/// How a registration on the site went.
#[derive(Debug)]
pub enum SignUp {
    /// The site's first account, made at once.
    Owner(User),
    /// An email is on its way to the address: a link to finish, or a notice
    /// that the address has an account.
    Confirming(Email),
}

/// Registers from the site's form: the first account at once, any other
/// once its address is confirmed. Refuses a username an account has
/// (usernames are public) and, by invitation, a code that does not work.
pub async fn sign_up(db: &Db, mode: Registration, input: &NewAccount) -> AppResult<SignUp> {
    loop {
        let first = super::user_count(db).await? == 0;
        let applicant = applicant(mode, input, first)?;
        let mut errors = FieldErrors::new();
        if username_taken(db, &applicant.username).await? {
            errors.add("username", Problem::Taken);
        }
        if let Some(code) = &applicant.invite
            && !invite_works(db, code).await?
        {
            errors.add("invite", super::INVITE_INVALID);
        }
        errors.into_result()?;
        let hash = password::hash(&applicant.password).await?;
        if !first {
            wait_for_confirmation(db, &applicant, &hash).await?;
            return Ok(SignUp::Confirming(applicant.email));
        }
        let owner = NewRow {
            role: Some(Role::Owner),
            ..NewRow::new(&applicant.username, &applicant.email, &hash)
        };
        match super::insert_user(db, owner).await {
            Ok(user) => return Ok(SignUp::Owner(user)),
            // Another registration became the first meanwhile: this one
            // goes the way of every later one.
            Err(NotMade::NotFirst | NotMade::Taken(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether an account has the name, in any case or form: deleted accounts'
/// names stay taken.
async fn username_taken(db: &Db, username: &Username) -> AppResult<bool> {
    Ok(
        query("SELECT EXISTS (SELECT 1 FROM users WHERE username_key = $1)")
            .bind(username.key())
            .scalar(db)
            .await?,
    )
}

/// Whether an invite code can still admit an account. It is consumed when
/// the account is made.
async fn invite_works(db: &Db, code: &str) -> AppResult<bool> {
    Ok(query(
        "SELECT EXISTS (SELECT 1 FROM invites
                        WHERE code = $1 AND used_by IS NULL AND expires_at > $2)",
    )
    .bind(code)
    .bind(Timestamp::now())
    .scalar(db)
    .await?)
}

/// Keeps the registration, replacing any earlier one for the address (and
/// so its link), and queues the email, in one transaction.
async fn wait_for_confirmation(db: &Db, applicant: &Applicant, hash: &str) -> AppResult<()> {
    let now = Timestamp::now();
    let mut tx = db.begin().await?;
    query(
        "INSERT INTO pending_registrations
             (email, username, password_hash, invite, token_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, NULL, $5, $6)
         ON CONFLICT (email) DO UPDATE SET username = $2, password_hash = $3, invite = $4,
             token_hash = NULL, created_at = $5, expires_at = $6",
    )
    .bind(applicant.email.as_str())
    .bind(applicant.username.as_str())
    .bind(hash)
    .bind(&applicant.invite)
    .bind(now)
    .bind(now + LINK_LIFETIME)
    .execute(&mut tx)
    .await?;
    let job = RegistrationEmail {
        email: applicant.email.as_str().to_owned(),
    }
    .now();
    crate::jobs::enqueue(&mut tx, &job).await?;
    tx.commit().await?;
    Ok(())
}

/// Emails an address that someone registered with: the link that finishes
/// the registration, or, when an account has the address, a notice to its
/// owner.
#[derive(Debug, Serialize, Deserialize)]
pub struct RegistrationEmail {
    pub email: String,
}

impl Job for RegistrationEmail {
    const KIND: &'static str = "registration_email";

    async fn run(self, app: &App) -> anyhow::Result<()> {
        send(app, &self.email).await
    }
}

async fn send(app: &App, email: &str) -> anyhow::Result<()> {
    if let Some(account) = super::find_by_email(&app.db, email).await? {
        query("DELETE FROM pending_registrations WHERE email = $1")
            .bind(email)
            .execute(&app.db)
            .await?;
        return super::emails::address_in_use(app, email, &account).await;
    }
    // A new secret each time: the link of an earlier email stops working.
    let token = new_token();
    let username: Option<String> = query(
        "UPDATE pending_registrations SET token_hash = $1
         WHERE email = $2 AND expires_at > $3 RETURNING username",
    )
    .bind(token_hash(&token))
    .bind(email)
    .bind(Timestamp::now())
    .scalar_optional(&app.db)
    .await?;
    let Some(username) = username else {
        tracing::info!("the registration is no longer pending; nothing sent");
        return Ok(());
    };
    super::link::send(
        app,
        email,
        "registration_confirm",
        "register/confirm",
        &token,
        &username,
        LINK_LIFETIME,
    )
    .await
}

/// A registration waiting for its link, as the confirmation page shows it.
#[derive(Debug, FromRow, Serialize)]
pub struct Pending {
    pub username: String,
    pub email: String,
}

/// What a link would make, if it still works.
pub async fn check(db: &Db, token: &str) -> AppResult<Pending> {
    query(
        "SELECT username, email FROM pending_registrations
         WHERE token_hash = $1 AND expires_at > $2",
    )
    .bind(token_hash(token))
    .bind(Timestamp::now())
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound(Thing::Link))
}

/// The whole of a pending registration.
#[derive(FromRow)]
struct Kept {
    username: String,
    email: String,
    password_hash: String,
    invite: Option<String>,
}

/// Makes the account a link confirms, which uses the link up.
/// `NotFound(Thing::Link)` when the link is unknown, used, replaced or
/// expired; field errors when the username or the address got an account,
/// or the invite was used, since the registration: the link is then dropped,
/// as it can never work.
pub async fn confirm(db: &Db, token: &str) -> AppResult<User> {
    let hash = token_hash(token);
    let kept: Option<Kept> = query(
        "SELECT username, email, password_hash, invite FROM pending_registrations
         WHERE token_hash = $1 AND expires_at > $2",
    )
    .bind(&hash)
    .bind(Timestamp::now())
    .fetch_optional(db)
    .await?;
    let Some(kept) = kept else {
        return Err(AppError::NotFound(Thing::Link));
    };
    // Checked when kept; parsing again gives the same values.
    let mut errors = FieldErrors::new();
    let username = errors.check("username", Username::parse(&kept.username));
    let email = errors.check("email", Email::parse(&kept.email));
    let (Some(username), Some(email)) = (username, email) else {
        return Err(errors.into());
    };
    let account = NewRow {
        link: Some(&hash),
        ..NewRow::new(&username, &email, &kept.password_hash).invited(kept.invite.as_deref())
    };
    match super::insert_user(db, account).await {
        Ok(user) => Ok(user),
        Err(refused @ (NotMade::Taken(_) | NotMade::InviteInvalid)) => {
            query("DELETE FROM pending_registrations WHERE token_hash = $1")
                .bind(&hash)
                .execute(db)
                .await?;
            Err(refused.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Deletes the registrations whose links have expired.
pub(super) async fn purge(db: &Db, now: Timestamp) -> AppResult<u64> {
    Ok(
        query("DELETE FROM pending_registrations WHERE expires_at < $1")
            .bind(now)
            .execute(db)
            .await?,
    )
}
