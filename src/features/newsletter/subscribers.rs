//! Subscribers: an address asks (the form, the API, a member's button),
//! confirms from the email it gets (double opt-in: nothing is sent before),
//! chooses what it gets from a page its emails link to, and leaves with
//! one click. The links are signed with the site key and bound to the
//! address, so they need no account and no stored token.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use url::Url;

use crate::app::App;
use crate::config::SecretKey;
use crate::db::{Db, Timestamp, query};
use crate::error::{AppError, AppResult, FieldErrors, Problem, Thing};
use crate::features::accounts::{self, domain::Email};
use crate::jobs::{self, Job};
use crate::mail;

/// What a subscription is to: every post of the site, or one author's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Audience {
    Blog,
    Author(i64),
}

impl Audience {
    /// `subscriptions.author_id`.
    pub fn author_id(self) -> Option<i64> {
        match self {
            Audience::Blog => None,
            Audience::Author(id) => Some(id),
        }
    }
}

/// How an address came to be subscribed, kept as its consent.
#[derive(Debug, Clone)]
pub enum Consent {
    /// Asked on the site's form or through the API: confirmed by email.
    Asked,
    /// A signed-in member, with the address their account confirmed.
    Member,
    /// Imported by the owner, who noted how these people consented.
    Imported(String),
}

impl Consent {
    fn text(&self) -> String {
        match self {
            Consent::Asked => "form".to_owned(),
            Consent::Member => "member".to_owned(),
            Consent::Imported(note) => format!("import: {note}"),
        }
    }

    /// Whether it stands without the confirmation email.
    fn is_confirmed(&self) -> bool {
        !matches!(self, Consent::Asked)
    }
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Subscriber {
    pub id: i64,
    pub email: String,
    /// `pending`, `confirmed`, `bouncing`, `suspended` or `unsubscribed`.
    pub state: String,
    pub bounces: i64,
    pub consent: String,
    pub created_at: Timestamp,
    pub confirmed_at: Option<Timestamp>,
}

/// The states that are sent to.
pub const RECEIVING: &str = "('confirmed', 'bouncing')";

/// The links of a subscriber's emails: `confirm` asks to confirm, `manage`
/// opens their choices (and leaving), `unsubscribe` leaves (a page, and the
/// one-click POST of RFC 8058).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Confirm,
    Manage,
}

impl Link {
    fn purpose(self) -> &'static str {
        match self {
            Link::Confirm => "newsletter-confirm",
            Link::Manage => "newsletter-manage",
        }
    }
}

/// The secret part of a subscriber's link: bound to their id and address,
/// so it stops working if the row goes.
pub fn token(secret: &SecretKey, link: Link, id: i64, email: &str) -> String {
    crate::crypto::sign(secret, &format!("{}:{id}:{email}", link.purpose()))
}

/// The subscriber a link is for, if its token is theirs.
pub async fn by_link(app: &App, link: Link, id: i64, token: &str) -> AppResult<Subscriber> {
    let subscriber = find(&app.db, id).await?;
    let message = format!("{}:{id}:{}", link.purpose(), subscriber.email);
    if !crate::crypto::verify(app.secret(), &message, token) {
        return Err(AppError::NotFound(Thing::Link));
    }
    Ok(subscriber)
}

pub async fn find(db: &Db, id: i64) -> AppResult<Subscriber> {
    query(
        "SELECT id, email, state, bounces, consent, created_at, confirmed_at
         FROM subscribers WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?
    .ok_or(AppError::NotFound(Thing::Link))
}

/// A subscriber's links, whole.
pub struct Links {
    pub confirm: Url,
    pub manage: Url,
    pub unsubscribe: Url,
}

pub fn links(app: &App, id: i64, email: &str) -> AppResult<Links> {
    let at = |path: String| {
        app.settings
            .http
            .absolute(&path)
            .map_err(|e| AppError::Internal(e.into()))
    };
    let manage = token(app.secret(), Link::Manage, id, email);
    Ok(Links {
        confirm: at(format!(
            "newsletter/confirm/{id}/{}",
            token(app.secret(), Link::Confirm, id, email)
        ))?,
        manage: at(format!("newsletter/manage/{id}/{manage}"))?,
        unsubscribe: at(format!("newsletter/unsubscribe/{id}/{manage}"))?,
    })
}

/// An address asks to get `audience`. Asked on the form, it waits for the
/// confirmation email's link (sent again at most once an hour: the form
/// cannot be used to flood someone's inbox); a member's or an import's
/// stands at once. Whatever the address's state, the caller answers the
/// same, so the form tells no one who subscribes.
pub async fn request(
    app: &App,
    email: &Email,
    audience: Audience,
    consent: Consent,
) -> AppResult<()> {
    let now = Timestamp::now();
    let mut tx = app.db.begin().await?;
    let existing: Option<(i64, String)> =
        query("SELECT id, state FROM subscribers WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(&mut tx)
            .await?;
    let confirmed = consent.is_confirmed();
    let (id, state) = match existing {
        None => {
            let state = if confirmed { "confirmed" } else { "pending" };
            let id: i64 = query(
                "INSERT INTO subscribers (email, state, consent, created_at, confirmed_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(email.as_str())
            .bind(state)
            .bind(consent.text())
            .bind(now)
            .bind(confirmed.then_some(now))
            .scalar(&mut tx)
            .await?;
            (id, state.to_owned())
        }
        // Receiving already: one more audience.
        Some((id, state)) if state == "confirmed" || state == "bouncing" => (id, state),
        // Waiting, left, or suspended: asked again.
        Some((id, _)) => {
            let state = if confirmed { "confirmed" } else { "pending" };
            query(
                "UPDATE subscribers SET state = $1, consent = $2, bounces = 0,
                     confirmed_at = $3 WHERE id = $4",
            )
            .bind(state)
            .bind(consent.text())
            .bind(confirmed.then_some(now))
            .bind(id)
            .execute(&mut tx)
            .await?;
            (id, state.to_owned())
        }
    };
    query(
        "INSERT INTO subscriptions (subscriber_id, author_id, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (subscriber_id, COALESCE(author_id, 0)) DO NOTHING",
    )
    .bind(id)
    .bind(audience.author_id())
    .bind(now)
    .execute(&mut tx)
    .await?;
    if state == "pending" {
        let hour = now.unix_timestamp() / 3600;
        jobs::enqueue(
            &mut tx,
            &ConfirmationEmail { subscriber_id: id }
                .now()
                .dedup(format!("newsletter-confirm:{id}:{hour}")),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What a request to subscribe came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// A confirmation email is on its way (or the address was already
    /// subscribed, or it was a bot: the asker is not told which).
    ToConfirm,
    /// A member's own address, subscribed at once.
    Subscribed,
}

/// A request to subscribe, from the form or the API: `email`, and the
/// author whose posts (by username; none or `blog`: every post). A
/// signed-in member asking for their account's address (`member_email`)
/// needs no confirmation. Field errors name `email` and `author`.
pub async fn ask(
    app: &App,
    email: &str,
    author: Option<&str>,
    member_email: Option<&str>,
) -> AppResult<Asked> {
    let mut errors = FieldErrors::new();
    let email = errors.check("email", Email::parse(email));
    let audience = match author
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "blog")
    {
        None => Some(Audience::Blog),
        Some(name) => match accounts::find_active_by_username(&app.db, name).await? {
            Some(user) => Some(Audience::Author(user.id)),
            None => {
                errors.add("author", Problem::Refused("is no author of this site"));
                None
            }
        },
    };
    let (Some(email), Some(audience)) = (email, audience) else {
        return Err(AppError::Validation(errors));
    };
    if member_email == Some(email.as_str()) {
        request(app, &email, audience, Consent::Member).await?;
        Ok(Asked::Subscribed)
    } else {
        request(app, &email, audience, Consent::Asked).await?;
        Ok(Asked::ToConfirm)
    }
}

/// The link in the confirmation email was followed (and its button pressed).
pub async fn confirm(db: &Db, id: i64) -> AppResult<()> {
    query(
        "UPDATE subscribers SET state = 'confirmed', confirmed_at = $1
         WHERE id = $2 AND state = 'pending'",
    )
    .bind(Timestamp::now())
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// What a subscriber gets.
pub async fn audiences(db: &Db, id: i64) -> AppResult<Vec<Audience>> {
    let rows: Vec<Option<i64>> =
        query("SELECT author_id FROM subscriptions WHERE subscriber_id = $1 ORDER BY author_id")
            .bind(id)
            .scalars(db)
            .await?;
    Ok(rows
        .into_iter()
        .map(|author| author.map_or(Audience::Blog, Audience::Author))
        .collect())
}

/// Replaces what a subscriber gets; nothing at all is leaving.
pub async fn set_audiences(db: &Db, id: i64, chosen: &[Audience]) -> AppResult<()> {
    if chosen.is_empty() {
        return unsubscribe(db, id).await;
    }
    let mut tx = db.begin().await?;
    query("DELETE FROM subscriptions WHERE subscriber_id = $1")
        .bind(id)
        .execute(&mut tx)
        .await?;
    for audience in chosen {
        query(
            "INSERT INTO subscriptions (subscriber_id, author_id, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (subscriber_id, COALESCE(author_id, 0)) DO NOTHING",
        )
        .bind(id)
        .bind(audience.author_id())
        .bind(Timestamp::now())
        .execute(&mut tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Leaves: nothing more is sent. The address stays (unsubscribed), so a
/// send under way skips it and the owner's counts keep it.
pub async fn unsubscribe(db: &Db, id: i64) -> AppResult<()> {
    let mut tx = db.begin().await?;
    query("DELETE FROM subscriptions WHERE subscriber_id = $1")
        .bind(id)
        .execute(&mut tx)
        .await?;
    query("UPDATE subscribers SET state = 'unsubscribed' WHERE id = $1")
        .bind(id)
        .execute(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// An author one can subscribe to: one with a published post.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Author {
    pub id: i64,
    pub username: String,
}

pub async fn authors(db: &Db) -> AppResult<Vec<Author>> {
    Ok(query(
        "SELECT u.id, u.username FROM users u
         WHERE u.deleted_at IS NULL
           AND EXISTS (SELECT 1 FROM posts p WHERE p.author_id = u.id AND p.status = 'published')
         ORDER BY u.username",
    )
    .fetch_all(db)
    .await?)
}

/// The email asking an address to confirm.
#[derive(Debug, Serialize, Deserialize)]
pub struct ConfirmationEmail {
    pub subscriber_id: i64,
}

impl Job for ConfirmationEmail {
    const KIND: &'static str = "newsletter_confirmation";

    async fn run(self, app: &App) -> anyhow::Result<()> {
        let subscriber = match find(&app.db, self.subscriber_id).await {
            Ok(subscriber) if subscriber.state == "pending" => subscriber,
            // Confirmed, or gone, since.
            Ok(_) | Err(AppError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let links = links(app, subscriber.id, &subscriber.email)?;
        let names = audience_names(app, subscriber.id).await?;
        let email = mail::Email::render(
            &app.templates,
            "newsletter_confirm",
            minijinja::context! {
                audiences => names,
                confirm_link => links.confirm.as_str(),
                site => mail::site(&app.settings),
            },
        )?;
        app.mailer.send(&subscriber.email, email).await
    }
}

/// What a subscriber gets, as emails name it: "every post of Site",
/// "the posts of ann".
pub async fn audience_names(app: &App, id: i64) -> AppResult<Vec<String>> {
    let authors: Vec<Option<String>> = query(
        "SELECT u.username FROM subscriptions s LEFT JOIN users u ON u.id = s.author_id
         WHERE s.subscriber_id = $1 ORDER BY s.author_id IS NOT NULL, u.username",
    )
    .bind(id)
    .scalars(&app.db)
    .await?;
    Ok(authors
        .into_iter()
        .map(|author| match author {
            None => format!("every post of {}", app.settings.site.title),
            Some(name) => format!("the posts of {name}"),
        })
        .collect())
}
