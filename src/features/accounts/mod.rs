//! Accounts: registration, sign-in, settings, soft deletion, invites, and the
//! sessions that remember who is signed in.

pub mod address;
pub mod api;
mod backoff;
pub mod device;
pub mod domain;
pub mod emails;
pub mod extract;
pub mod limits;
mod link;
mod password;
pub mod reset;
pub mod session_store;
pub mod signup;
pub mod token;
pub mod web;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;
use sqlx::FromRow;
use time::Duration;

use crate::app::App;
use crate::config::{Registration, SecretKey};
use crate::db::{self, Db, MigrationStep, Query, Timestamp, Unique, query};
use crate::error::{AppError, AppResult, FieldErrors, Problem, Thing};
use crate::jobs::events::{self, Event};
use crate::page_cache::Shared;
use crate::zone::Zone;
pub use backoff::address_key;
pub use domain::bio_html;
use domain::{Email, Password, Username, parse_bio, parse_image_url, username_key};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The first account: its posts are the blog that visitors see.
    Owner,
    Admin,
    Member,
}

impl TryFrom<String> for Role {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    pub bio: Option<String>,
    pub image: Option<String>,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub created_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
    /// Emails when someone replies to their post or comment.
    pub notify_replies: bool,
    /// The zone they type and read times in (an IANA name); `None`: their
    /// browser's.
    pub time_zone: Option<String>,
}

impl User {
    pub fn is_admin(&self) -> bool {
        matches!(self.role, Role::Owner | Role::Admin)
    }

    /// Whether this user may change or delete something written by
    /// `author_id`: their own work, or anyone's for an admin (moderation,
    /// and the only way to a guest's comment, which has no account).
    pub fn can_modify(&self, author_id: impl Into<Option<i64>>) -> bool {
        author_id.into() == Some(self.id) || self.is_admin()
    }
}

/// [`USER_COLUMNS`] of the `users` table aliased as `u`, for joins.
fn user_columns_of_u() -> String {
    USER_COLUMNS
        .split(", ")
        .map(|c| format!("u.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

const USER_COLUMNS: &str =
    "id, username, email, bio, image, role, created_at, deleted_at, notify_replies, time_zone";

pub async fn find(db: &Db, id: i64) -> AppResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    Ok(Query::assembled(sql).bind(id).fetch_optional(db).await?)
}

/// Who signed in with which session, kept between changes like the pages
/// (`page_cache::Shared`): every request of a signed-in member needs it.
/// Signing out, a new password, a deleted account are changes, which
/// forget it in every process; a session's end is checked on each use.
#[derive(Clone)]
pub struct Sessions(Arc<Shared<Arc<(User, Timestamp)>>>);

impl Default for Sessions {
    fn default() -> Self {
        Self(Arc::new(Shared::new(4096)))
    }
}

#[derive(FromRow)]
struct SessionUser {
    #[sqlx(flatten)]
    user: User,
    session_expires_at: Timestamp,
}

/// The account signed in with a live session, if it still exists.
pub async fn find_by_session(app: &App, session_id: &str) -> AppResult<Option<User>> {
    let now = Timestamp::now();
    let kept = &app.part::<Sessions>().0;
    if let Some(entry) = kept.get(&app.pages, session_id)
        && entry.1 > now
    {
        return Ok(Some(entry.0.clone()));
    }
    let generation = app.pages.generation();
    let sql = format!(
        "SELECT {USER_COLUMNS},
                (SELECT expires_at FROM sessions WHERE id = $1) AS session_expires_at
         FROM users
         WHERE id = (SELECT user_id FROM sessions WHERE id = $1 AND expires_at > $2)
           AND deleted_at IS NULL"
    );
    let found: Option<SessionUser> = Query::assembled(sql)
        .bind(session_id)
        .bind(now)
        .fetch_optional(&app.db)
        .await?;
    Ok(found.map(|found| {
        kept.put(
            &app.pages,
            session_id.to_owned(),
            generation,
            Arc::new((found.user.clone(), found.session_expires_at)),
        );
        found.user
    }))
}

/// An account that still exists, by its username.
pub async fn find_active_by_username(db: &Db, username: &str) -> AppResult<Option<User>> {
    let sql =
        format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1 AND deleted_at IS NULL");
    Ok(Query::assembled(sql)
        .bind(username)
        .fetch_optional(db)
        .await?)
}

/// An account that still exists, by its username or its email address.
pub async fn find_active_by_name_or_email(db: &Db, text: &str) -> AppResult<Option<User>> {
    match find_active_by_username(db, text).await? {
        Some(user) => Ok(Some(user)),
        None => Ok(find_by_email(db, text).await?),
    }
}

/// The site's owner, once someone has registered.
pub async fn find_owner(db: &Db) -> AppResult<Option<User>> {
    let sql =
        format!("SELECT {USER_COLUMNS} FROM users WHERE role = 'owner' AND deleted_at IS NULL");
    Ok(Query::assembled(sql).fetch_optional(db).await?)
}

/// The account that has an address, if any.
async fn find_by_email(db: &Db, email: &str) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1 AND deleted_at IS NULL");
    Query::assembled(sql).bind(email).fetch_optional(db).await
}

/// What a registration form or API call submits, unparsed.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct NewAccount {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub invite: Option<String>,
}

/// A registration whose fields are valid and which the site's mode admits.
struct Applicant {
    username: Username,
    email: Email,
    password: Password,
    /// The invite code it brings, where registration is by invitation.
    invite: Option<String>,
}

/// Checks a registration's fields against the site's mode. `first`: no
/// account exists yet.
fn applicant(mode: Registration, input: &NewAccount, first: bool) -> AppResult<Applicant> {
    let mut errors = FieldErrors::new();
    let username = errors.check("username", Username::parse(&input.username));
    let email = errors.check("email", Email::parse(&input.email));
    let password = errors.check("password", Password::parse(&input.password));
    let invite = match mode {
        Registration::Open => None,
        Registration::Closed => {
            errors.add("registration", Problem::Refused("is closed on this site"));
            None
        }
        // The first account sets the site up: nobody could have invited it.
        Registration::Invite if first => None,
        Registration::Invite => match input.invite.as_deref().map(str::trim) {
            Some(code) if !code.is_empty() => Some(code.to_owned()),
            _ => {
                errors.add(
                    "invite",
                    Problem::Refused("is required: registration is by invitation"),
                );
                None
            }
        },
    };
    let (Some(username), Some(email), Some(password)) = (username, email, password) else {
        return Err(errors.into());
    };
    errors.into_result()?;
    Ok(Applicant {
        username,
        email,
        password,
        invite,
    })
}

/// Creates an account at once: the JSON API's registration (the site's
/// form confirms the address first: `signup`). The very first one becomes
/// the owner; with `Registration::Invite` a valid unused invite code is
/// consumed in the same transaction, so a code admits exactly one account.
pub async fn register(db: &Db, mode: Registration, input: &NewAccount) -> AppResult<User> {
    let applicant = applicant(mode, input, user_count(db).await? == 0)?;
    let hash = password::hash(&applicant.password).await?;
    let account = NewRow::new(&applicant.username, &applicant.email, &hash);
    Ok(insert_user(db, account.invited(applicant.invite.as_deref())).await?)
}

/// Why an account was not made.
#[derive(Debug)]
enum NotMade {
    /// An account has this username or address.
    Taken(sqlx::Error),
    /// The invite was used, or expired, since it was checked.
    InviteInvalid,
    /// The confirmation link was used, or replaced, meanwhile.
    LinkUsed,
    /// Asked for the owner, but another account became the owner first.
    NotFirst,
    Database(sqlx::Error),
}

impl From<sqlx::Error> for NotMade {
    fn from(e: sqlx::Error) -> Self {
        match db::unique_violation(&e) {
            Some(Unique::SingleOwner) => NotMade::NotFirst,
            Some(Unique::Username | Unique::Email) => NotMade::Taken(e),
            _ => NotMade::Database(e),
        }
    }
}

impl From<NotMade> for AppError {
    fn from(not_made: NotMade) -> Self {
        match not_made {
            NotMade::Taken(e) => taken(e),
            NotMade::InviteInvalid => FieldErrors::single("invite", INVITE_INVALID).into(),
            NotMade::LinkUsed => AppError::NotFound(Thing::Link),
            // Only for callers that asked for the owner, which handle it.
            NotMade::NotFirst => {
                AppError::Internal(anyhow::anyhow!("another account became the owner first"))
            }
            NotMade::Database(e) => e.into(),
        }
    }
}

const INVITE_INVALID: Problem =
    Problem::Refused("is not valid: it may have been used or have expired");

/// The columns of a new account, and what its making uses up.
struct NewRow<'a> {
    username: &'a Username,
    email: &'a Email,
    hash: &'a str,
    /// A given role (`Role::Owner`: the first account or none); otherwise
    /// the owner when it is the first, else a member.
    role: Option<Role>,
    /// The invite code it consumes.
    invite: Option<&'a str>,
    /// The hash of the confirmation link it consumes (`signup`).
    link: Option<&'a str>,
}

impl<'a> NewRow<'a> {
    fn new(username: &'a Username, email: &'a Email, hash: &'a str) -> Self {
        Self {
            username,
            email,
            hash,
            role: None,
            invite: None,
            link: None,
        }
    }

    fn invited(self, invite: Option<&'a str>) -> Self {
        Self { invite, ..self }
    }
}

/// Inserts the account row, with its event and what it consumes, in one
/// transaction.
async fn insert_user(db: &Db, account: NewRow<'_>) -> Result<User, NotMade> {
    // Two registrations racing to be first both see an empty table; the
    // single-owner index lets one win and the other retries as a member,
    // unless it asked to be the owner.
    let mut role = match account.role {
        Some(role) => role,
        None if user_count(db).await? == 0 => Role::Owner,
        None => Role::Member,
    };
    loop {
        match insert_row(db, &account, role).await {
            Err(NotMade::NotFirst) if account.role.is_none() => role = Role::Member,
            result => return result,
        }
    }
}

/// One attempt at [`insert_user`], as `role`.
async fn insert_row(db: &Db, account: &NewRow<'_>, role: Role) -> Result<User, NotMade> {
    let now = Timestamp::now();
    let mut tx = db.begin().await?;
    // The link first: of two confirmations of one link, the second waits
    // here and finds it used, rather than failing on the first's account.
    if let Some(link) = account.link {
        let claimed =
            query("DELETE FROM pending_registrations WHERE token_hash = $1 AND expires_at > $2")
                .bind(link)
                .bind(now)
                .execute(&mut tx)
                .await?;
        if claimed == 0 {
            return Err(NotMade::LinkUsed);
        }
    }
    let insert = format!(
        "INSERT INTO users (username, username_key, email, password_hash, role, created_at, updated_at)
         VALUES ($1, $6, $2, $3, $4, $5, $5) RETURNING {USER_COLUMNS}"
    );
    let user: User = Query::assembled(insert)
        .bind(account.username.as_str())
        .bind(account.email.as_str())
        .bind(account.hash)
        .bind(role.as_str())
        .bind(now)
        .bind(account.username.key())
        .fetch_one(&mut tx)
        .await?;
    events::record(&mut tx, &AccountCreated { user_id: user.id }, now).await?;
    if let Some(code) = account.invite {
        let used = query(
            "UPDATE invites SET used_by = $1, used_at = $2
             WHERE code = $3 AND used_by IS NULL AND expires_at > $2",
        )
        .bind(user.id)
        .bind(now)
        .bind(code)
        .execute(&mut tx)
        .await?;
        if used == 0 {
            return Err(NotMade::InviteInvalid);
        }
    }
    tx.commit().await?;
    Ok(user)
}

/// An account was made (registration, an invite used, `quire user create`).
#[derive(Debug, serde::Deserialize, Serialize)]
pub struct AccountCreated {
    pub user_id: i64,
}

impl Event for AccountCreated {
    const KIND: &'static str = "account_created";
}

/// An account was deleted (its row stays, emptied: see [`delete_account`]).
#[derive(Debug, serde::Deserialize, Serialize)]
pub struct AccountDeleted {
    pub user_id: i64,
}

impl Event for AccountDeleted {
    const KIND: &'static str = "account_deleted";
}

/// Who wrote a post or a comment, as readers see them: read from the
/// `author_*` columns of the query that loaded the writing.
#[derive(Debug, Clone, FromRow)]
pub struct Author {
    #[sqlx(rename = "author_username")]
    username: String,
    #[sqlx(rename = "author_image")]
    pub image: Option<String>,
    #[sqlx(rename = "author_deleted_at")]
    deleted_at: Option<Timestamp>,
}

impl Author {
    /// How a deleted account's name is shown on what it wrote.
    pub const DELETED: &str = "[deleted]";

    /// The name shown: "[deleted]" once the account is gone.
    pub fn name(&self) -> &str {
        if self.is_deleted() {
            Self::DELETED
        } else {
            &self.username
        }
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }

    /// Their page's name (`/users/NAME`), while the account exists.
    pub fn username(&self) -> Option<&str> {
        (!self.is_deleted()).then_some(self.username.as_str())
    }
}

/// For templates: `name`, `username` (absent once deleted), `image`,
/// `deleted`.
impl Serialize for Author {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut author = serializer.serialize_struct("Author", 4)?;
        author.serialize_field("name", self.name())?;
        author.serialize_field("username", &self.username())?;
        author.serialize_field("image", &self.image)?;
        author.serialize_field("deleted", &self.is_deleted())?;
        author.end()
    }
}

/// Who already has a value that must be unique, as a field error. Other
/// errors, other violations among them, stay what they are.
fn taken(error: sqlx::Error) -> AppError {
    match db::unique_violation(&error) {
        Some(Unique::Username) => FieldErrors::single("username", Problem::Taken).into(),
        Some(Unique::Email) => FieldErrors::single("email", Problem::Taken).into(),
        _ => error.into(),
    }
}

const NOT_CURRENT_PASSWORD: Problem = Problem::Refused("is not your current password");

/// A user and their password hash, for signing in.
#[derive(FromRow)]
struct WithHash {
    #[sqlx(flatten)]
    user: User,
    password_hash: Option<String>,
}

async fn user_count(db: &Db) -> Result<i64, sqlx::Error> {
    query("SELECT COUNT(*) FROM users").scalar(db).await
}

/// Creates an account from the command line, bypassing the registration mode.
pub async fn create_from_cli(
    db: &Db,
    username: &str,
    email: &str,
    password: &str,
    admin: bool,
) -> AppResult<User> {
    let mut errors = FieldErrors::new();
    let username = errors.check("username", Username::parse(username));
    let email = errors.check("email", Email::parse(email));
    let password = errors.check("password", Password::parse(password));
    let (Some(username), Some(email), Some(password)) = (username, email, password) else {
        return Err(errors.into());
    };
    let hash = password::hash(&password).await?;
    let account = NewRow {
        role: admin.then_some(Role::Admin),
        ..NewRow::new(&username, &email, &hash)
    };
    Ok(insert_user(db, account).await?)
}

/// Where a sign-in comes from, for its backoff: the client's address, and
/// the account its browser has signed in to before (`device`).
#[derive(Clone, Copy, Debug)]
pub struct SignInFrom {
    pub client: IpAddr,
    pub known_account: Option<i64>,
}

/// Checks a username (or email) and password. The error never says which
/// of the two was wrong. While the client's address or the account waits
/// out its failures (`backoff`), the answer is `RateLimited` and the
/// password is not checked.
pub async fn authenticate(
    db: &Db,
    login: &str,
    password: &str,
    from: SignInFrom,
) -> AppResult<User> {
    let mut errors = FieldErrors::new();
    let login = login.trim();
    if login.is_empty() {
        errors.add("login", Problem::Blank);
    }
    if password.is_empty() {
        errors.add("password", Problem::Blank);
    }
    errors.into_result()?;

    let login_key = username_key(login);
    let sql = format!(
        "SELECT {USER_COLUMNS}, password_hash FROM users
         WHERE (username_key = $1 OR email = $2) AND deleted_at IS NULL"
    );
    let found: Option<WithHash> = Query::assembled(sql)
        .bind(&login_key)
        .bind(login.to_lowercase())
        .fetch_optional(db)
        .await?;
    let (user, stored) = match found {
        Some(found) => (Some(found.user), found.password_hash),
        None => (None, None),
    };

    // The address's waits, then the account's budget (whichever name it is
    // reached by), or its known devices' own budget when the browser is one
    // of them. The account counts each attempt before its password is
    // checked, so guesses sent at once count against each other. The
    // address counts failures only, after the check: an office's people
    // signing in at once, or a request cut off by a restart before it
    // could take its attempt back, must not make the address wait.
    let user_id = user.as_ref().map(|u| u.id);
    let account_key = match user_id {
        Some(id) if from.known_account == Some(id) => backoff::known_device_key(id),
        _ => backoff::account_key(user_id, &login_key),
    };
    let now = Timestamp::now();
    let address_key = backoff::address_key(from.client);
    backoff::refuse_while_waiting(db, &address_key, now).await?;
    let account = backoff::begin(db, account_key, backoff::ACCOUNT, now).await?;
    if password::verify(password.to_owned(), stored).await?
        && let Some(user) = user
    {
        account.clear(db).await?;
        return Ok(user);
    }
    // Already waiting (another failure just set it): nothing more to count.
    match backoff::begin(db, address_key, backoff::ADDRESS, Timestamp::now()).await {
        Ok(_) | Err(AppError::RateLimited { .. }) => {}
        Err(e) => return Err(e),
    }
    Err(AppError::BadCredentials)
}

#[derive(Debug, Default, Clone, serde::Deserialize, Serialize)]
pub struct ProfileChanges {
    pub username: Option<String>,
    pub email: Option<String>,
    pub bio: Option<String>,
    pub image: Option<String>,
}

impl ProfileChanges {
    /// The valid address these changes give an account that has another.
    pub fn new_address(&self, user: &User) -> Option<Email> {
        let email = Email::parse(self.email.as_deref()?).ok()?;
        (Some(email.as_str()) != user.email.as_deref()).then_some(email)
    }
}

/// When a new address takes effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewAddress {
    /// At once, refused when another account has it: the RealWorld API's
    /// contract.
    AtOnce,
    /// When the link sent to it is followed (`address`): the site's form,
    /// whose answer must not tell whether another account has it.
    Confirmed,
}

/// A profile after an update.
#[derive(Debug)]
pub struct Updated {
    pub user: User,
    /// The new address a link is on its way to (`NewAddress::Confirmed`).
    pub confirming: Option<Email>,
}

/// Sets a member's profile picture to `url` (an image they uploaded), in
/// the caller's transaction.
pub async fn set_image(tx: &mut db::Tx, user_id: i64, url: &str) -> AppResult<()> {
    let changed =
        query("UPDATE users SET image = $1, updated_at = $2 WHERE id = $3 AND deleted_at IS NULL")
            .bind(url)
            .bind(Timestamp::now())
            .bind(user_id)
            .execute(tx)
            .await?;
    if changed == 0 {
        return Err(AppError::NotFound(Thing::Profile));
    }
    Ok(())
}

/// Updates the given fields of a profile; absent fields stay as they are.
pub async fn update_profile(
    db: &Db,
    user: &User,
    changes: &ProfileChanges,
    new_address: NewAddress,
) -> AppResult<Updated> {
    let mut errors = FieldErrors::new();
    let username = match &changes.username {
        Some(name) => errors
            .check("username", Username::parse(name))
            .map(|u| u.as_str().to_owned()),
        None => Some(user.username.clone()),
    };
    if let Some(email) = &changes.email {
        errors.check("email", Email::parse(email));
    }
    let bio = match &changes.bio {
        Some(bio) => errors.check("bio", parse_bio(bio)).flatten(),
        None => user.bio.clone(),
    };
    let image = match &changes.image {
        Some(image) => errors.check("image", parse_image_url(image)).flatten(),
        None => user.image.clone(),
    };
    errors.into_result()?;
    let (email, confirming) = match (changes.new_address(user), new_address) {
        (Some(email), NewAddress::AtOnce) => (Some(email.as_str().to_owned()), None),
        (confirming, _) => (user.email.clone(), confirming),
    };
    let key = username.as_deref().map(username_key);
    let sql = format!(
        "UPDATE users SET email = $1, bio = $2, image = $3, updated_at = $4, username = $6,
             username_key = $7
         WHERE id = $5 AND deleted_at IS NULL RETURNING {USER_COLUMNS}"
    );
    let mut tx = db.begin().await?;
    let result: Result<User, sqlx::Error> = Query::assembled(sql)
        .bind(&email)
        .bind(&bio)
        .bind(&image)
        .bind(Timestamp::now())
        .bind(user.id)
        .bind(&username)
        .bind(&key)
        .fetch_one(&mut tx)
        .await;
    let updated = match result {
        Ok(user) => user,
        Err(sqlx::Error::RowNotFound) => return Err(AppError::NotFound(Thing::Profile)),
        Err(e) => return Err(taken(e)),
    };
    if let Some(email) = &confirming {
        address::request(&mut tx, &updated, email).await?;
    }
    tx.commit().await?;
    Ok(Updated {
        user: updated,
        confirming,
    })
}

/// Changes a password after checking the current one, and ends every other
/// session of the account.
pub async fn change_password(
    db: &Db,
    user: &User,
    current: &str,
    new: &str,
    keep_session: Option<&str>,
) -> AppResult<()> {
    if !verify_current_password(db, user, current).await? {
        let mut errors = FieldErrors::single("current_password", NOT_CURRENT_PASSWORD);
        if let Err(problem) = Password::parse(new) {
            errors.add("new_password", problem);
        }
        return Err(errors.into());
    }
    set_password(db, user, new, "new_password", keep_session).await
}

/// Sets a new password and ends every session and API token of the account
/// except `keep_session`, the one making the change. The API sets passwords
/// this way: its token is the proof of identity.
pub async fn set_password(
    db: &Db,
    user: &User,
    new: &str,
    field: &'static str,
    keep_session: Option<&str>,
) -> AppResult<()> {
    let new = Password::parse(new).map_err(|message| FieldErrors::single(field, message))?;
    let hash = password::hash(&new).await?;
    let mut tx = db.begin().await?;
    query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(&hash)
        .bind(Timestamp::now())
        .bind(user.id)
        .execute(&mut tx)
        .await?;
    query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
        .bind(user.id)
        .bind(keep_session.unwrap_or(""))
        .execute(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn verify_current_password(db: &Db, user: &User, password: &str) -> AppResult<bool> {
    let stored: Option<String> =
        query("SELECT password_hash FROM users WHERE id = $1 AND deleted_at IS NULL")
            .bind(user.id)
            .scalar_optional(db)
            .await?
            .flatten();
    Ok(password::verify(password.to_owned(), stored).await?)
}

/// Soft-deletes an account after checking its password: the row stays (so
/// the username is never reused and posts keep an author, shown as
/// "[deleted]"), personal data is cleared, sessions, follows and a change of
/// address waiting for its link end.
pub async fn delete_account(db: &Db, user: &User, password: &str) -> AppResult<()> {
    if !verify_current_password(db, user, password).await? {
        return Err(FieldErrors::single("password", NOT_CURRENT_PASSWORD).into());
    }
    let now = Timestamp::now();
    let mut tx = db.begin().await?;
    query(
        "UPDATE users SET deleted_at = $1, updated_at = $1, email = NULL,
             password_hash = NULL, bio = NULL, image = NULL
         WHERE id = $2",
    )
    .bind(now)
    .bind(user.id)
    .execute(&mut tx)
    .await?;
    query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user.id)
        .execute(&mut tx)
        .await?;
    query("DELETE FROM follows WHERE follower_id = $1 OR followee_id = $1")
        .bind(user.id)
        .execute(&mut tx)
        .await?;
    // The address it was to change to is personal data too.
    query("DELETE FROM email_changes WHERE user_id = $1")
        .bind(user.id)
        .execute(&mut tx)
        .await?;
    events::record(&mut tx, &AccountDeleted { user_id: user.id }, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Turns reply emails on or off.
/// Sets the zone a member types and reads times in; `None`: their
/// browser's.
pub async fn set_time_zone(db: &Db, user_id: i64, zone: Option<&Zone>) -> AppResult<()> {
    query("UPDATE users SET time_zone = $1 WHERE id = $2")
        .bind(zone.map(Zone::name))
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_notify_replies(db: &Db, user_id: i64, on: bool) -> AppResult<()> {
    query("UPDATE users SET notify_replies = $1 WHERE id = $2")
        .bind(on)
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

/// The secret part of a user's unsubscribe link: it proves the link came
/// from an email we sent them, so it works without signing in.
pub fn unsubscribe_token(secret: &SecretKey, user_id: i64) -> String {
    crate::crypto::sign(secret, &format!("unsubscribe-replies:{user_id}"))
}

pub fn check_unsubscribe_token(secret: &SecretKey, user_id: i64, token: &str) -> bool {
    crate::crypto::verify(secret, &format!("unsubscribe-replies:{user_id}"), token)
}

/// What housekeeping removed from the accounts' tables.
#[derive(Debug, Default)]
pub struct Purged {
    pub sessions: u64,
    pub reset_links: u64,
    pub pending_registrations: u64,
    pub email_changes: u64,
    pub invites: u64,
    pub login_backoff: u64,
}

/// Deletes what has expired: sessions, reset links, registrations and
/// changes of address never confirmed, unused invites, and sign-in failures
/// that are forgotten.
pub async fn purge_expired(db: &Db, now: Timestamp) -> AppResult<Purged> {
    let sessions = query("DELETE FROM sessions WHERE expires_at < $1")
        .bind(now)
        .execute(db)
        .await?;
    let reset_links = query("DELETE FROM password_resets WHERE expires_at < $1")
        .bind(now)
        .execute(db)
        .await?;
    let pending_registrations = signup::purge(db, now).await?;
    let email_changes = address::purge(db, now).await?;
    let invites = query("DELETE FROM invites WHERE expires_at < $1 AND used_by IS NULL")
        .bind(now)
        .execute(db)
        .await?;
    let login_backoff = backoff::purge(db, now).await?;
    Ok(Purged {
        sessions,
        reset_links,
        pending_registrations,
        email_changes,
        invites,
        login_backoff,
    })
}

/// Gives each account without one the key of its username
/// (`domain::username_key`). Refuses, changing nothing, when accounts'
/// names are one name in another case or Unicode form: which of them to
/// rename is for a person to decide. Runs before the migration that makes
/// the keys unique ([`FILL_USERNAME_KEYS`]), and at housekeeping for the
/// accounts that the release before made during a rolling deploy.
pub async fn fill_username_keys(db: &Db) -> anyhow::Result<u64> {
    let missing: bool = query("SELECT EXISTS (SELECT 1 FROM users WHERE username_key IS NULL)")
        .scalar(db)
        .await?;
    if !missing {
        return Ok(0);
    }
    let accounts: Vec<KeyedName> =
        query("SELECT id, username, username_key FROM users ORDER BY id")
            .fetch_all(db)
            .await?;
    let mut by_key: BTreeMap<String, Vec<&KeyedName>> = BTreeMap::new();
    for account in &accounts {
        by_key
            .entry(username_key(&account.username))
            .or_default()
            .push(account);
    }
    let clashes: Vec<String> = by_key
        .values()
        .filter(|same| same.len() > 1)
        .map(|same| {
            let named: Vec<String> = same
                .iter()
                .map(|a| format!("{:?} (id {})", a.username, a.id))
                .collect();
            named.join(" and ")
        })
        .collect();
    if !clashes.is_empty() {
        anyhow::bail!(
            "usernames are now unique whatever their case or Unicode form, and some accounts \
             share one: {}. Rename all but one account of each group, for instance \
             `UPDATE users SET username = 'new-name' WHERE id = ID;` in the database, and try again",
            clashes.join("; ")
        );
    }
    let mut filled = 0;
    let mut tx = db.begin().await?;
    for (key, same) in by_key {
        let account = same[0];
        if account.username_key.as_deref() != Some(key.as_str()) {
            query("UPDATE users SET username_key = $1 WHERE id = $2")
                .bind(key)
                .bind(account.id)
                .execute(&mut tx)
                .await?;
            filled += 1;
        }
    }
    tx.commit().await?;
    Ok(filled)
}

/// An account's name and the key stored for it, if any.
#[derive(FromRow)]
struct KeyedName {
    id: i64,
    username: String,
    username_key: Option<String>,
}

/// [`fill_username_keys`], before the migration that makes the keys unique.
pub const FILL_USERNAME_KEYS: MigrationStep = MigrationStep {
    before: 20261129000005,
    run: |db| Box::pin(async move { fill_username_keys(db).await.map(drop) }),
};

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Invite {
    pub code: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_by_username: Option<String>,
}

const INVITE_LIFETIME: Duration = Duration::days(14);

pub async fn create_invite(db: &Db, admin: &User) -> AppResult<String> {
    if !admin.is_admin() {
        return Err(AppError::Forbidden(Thing::Page));
    }
    let code = crate::crypto::random_token(16);
    let now = Timestamp::now();
    query("INSERT INTO invites (code, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(&code)
        .bind(admin.id)
        .bind(now)
        .bind(now + INVITE_LIFETIME)
        .execute(db)
        .await?;
    Ok(code)
}

pub async fn list_invites(db: &Db, admin: &User) -> AppResult<Vec<Invite>> {
    if !admin.is_admin() {
        return Err(AppError::Forbidden(Thing::Page));
    }
    Ok(query(
        "SELECT i.code, i.created_at, i.expires_at, u.username AS used_by_username
         FROM invites i LEFT JOIN users u ON u.id = i.used_by
         ORDER BY i.created_at DESC LIMIT 100",
    )
    .fetch_all(db)
    .await?)
}

/// A user as others see them, with whether the viewer follows them.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Profile {
    pub username: String,
    pub bio: Option<String>,
    pub image: Option<String>,
    pub following: bool,
}

pub async fn profile(db: &Db, username: &str, viewer: Option<i64>) -> AppResult<Profile> {
    let profile: Option<Profile> = query(
        "SELECT u.username, u.bio, u.image,
                EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $2 AND f.followee_id = u.id)
                    AS following
         FROM users u WHERE u.username = $1 AND u.deleted_at IS NULL",
    )
    .bind(username)
    .bind(viewer.unwrap_or(0))
    .fetch_optional(db)
    .await?;
    profile.ok_or(AppError::NotFound(Thing::Profile))
}

/// Follows (or with `follow = false`, unfollows) an account; either is
/// idempotent. Returns the profile as the follower now sees it.
pub async fn set_following(
    db: &Db,
    user: &User,
    username: &str,
    follow: bool,
) -> AppResult<Profile> {
    let target = find_active_by_username(db, username)
        .await?
        .ok_or(AppError::NotFound(Thing::Profile))?;
    if follow {
        query(
            "INSERT INTO follows (follower_id, followee_id, created_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(user.id)
        .bind(target.id)
        .bind(Timestamp::now())
        .execute(db)
        .await?;
    } else {
        query("DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2")
            .bind(user.id)
            .bind(target.id)
            .execute(db)
            .await?;
    }
    profile(db, username, Some(user.id)).await
}
