//! Moving accounts, as Mastodon does it (`Move`, `alsoKnownAs`).
//!
//! - **Moving here**: an author (or the blog) names their other accounts
//!   (`alsoKnownAs` in the actor document). A Mastodon account can then
//!   move to ours: Mastodon checks that ours names it, and its followers'
//!   servers follow ours.
//! - **Moving away**: an author moves to another account, which must name
//!   ours among its aliases first (checked here, as the other server will).
//!   Our actor then says `movedTo`, and every follower's server gets a
//!   `Move`, on which Mastodon moves its people to the new account.
//! - **Someone else moving**: a remote actor's `Move` is taken when the
//!   new account names the old: we note where it went, and what an author
//!   thought of the old account (trusted, blocked) holds for the new one.

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use super::actors::{self, ActorError, Local, Remote};
use super::inbox::Refused;
use super::{CONTEXT, Federation};
use crate::app::App;
use crate::db::{Timestamp, query};
use crate::error::{AppError, AppResult, FieldErrors, Problem, Thing};
use crate::features::accounts::extract::SignedIn;
use crate::http::extract::CsrfForm;
use crate::http::pages::PageCtx;

/// Other accounts an actor can list: enough for every server someone
/// has been on.
const MAX_ALIASES: usize = 10;

/// An actor's other accounts and the one it moved to, by their ids.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Movement {
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub moved_to: Option<String>,
}

/// The `settings` row of the blog actor's [`Movement`].
const BLOG_MOVEMENT: &str = "federation_blog_movement";

impl Local {
    pub async fn movement(&self, app: &App) -> AppResult<Movement> {
        let text: Option<String> = match self {
            Local::Blog => {
                query("SELECT value FROM settings WHERE key = $1")
                    .bind(BLOG_MOVEMENT)
                    .scalar_optional(&app.db)
                    .await?
            }
            Local::Author(user) => {
                query("SELECT ap_movement FROM users WHERE id = $1")
                    .bind(user.id)
                    .scalar(&app.db)
                    .await?
            }
        };
        // Written by us alone (`set_movement`).
        Ok(text
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default())
    }

    async fn set_movement(&self, app: &App, movement: &Movement) -> AppResult<()> {
        let text = serde_json::to_string(movement).map_err(anyhow::Error::from)?;
        match self {
            Local::Blog => {
                query(
                    "INSERT INTO settings (key, value) VALUES ($1, $2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )
                .bind(BLOG_MOVEMENT)
                .bind(text)
                .execute(&app.db)
                .await?
            }
            Local::Author(user) => {
                query("UPDATE users SET ap_movement = $1 WHERE id = $2")
                    .bind(text)
                    .bind(user.id)
                    .execute(&app.db)
                    .await?
            }
        };
        Ok(())
    }
}

/// What an actor document says of its movement, for [`Local::document`].
pub fn describe(movement: &Movement, document: &mut Value) {
    if !movement.aliases.is_empty() {
        document["alsoKnownAs"] = json!(movement.aliases);
    }
    if let Some(target) = &movement.moved_to {
        document["movedTo"] = json!(target);
    }
}

/// The terms an actor document needs beside ActivityStreams' own.
pub const TERMS: &str = r#"{"alsoKnownAs":{"@id":"as:alsoKnownAs","@type":"@id"},"movedTo":{"@id":"as:movedTo","@type":"@id"},"manuallyApprovesFollowers":"as:manuallyApprovesFollowers"}"#;

/// The ids an actor's document lists as its other accounts.
fn aliases_in(document: &Value) -> Vec<String> {
    let id = |v: &Value| match v {
        Value::String(id) => Some(id.clone()),
        other => other.get("id")?.as_str().map(str::to_owned),
    };
    match document.get("alsoKnownAs") {
        Some(Value::Array(list)) => list.iter().filter_map(id).collect(),
        Some(one) => id(one).into_iter().collect(),
        None => Vec::new(),
    }
}

/// The account someone names (`@name@host`, `name@host`, or its address),
/// fetched now: its id and document.
async fn look_up(app: &App, text: &str) -> Result<(Url, Value), String> {
    let text = text.trim();
    let fetcher = &app.part::<Federation>().fetcher;
    let url = if text.starts_with("https://") || text.starts_with("http://") {
        Url::parse(text).map_err(|_| format!("“{text}” is not an address"))?
    } else {
        let (user, host) = text
            .trim_start_matches('@')
            .split_once('@')
            .filter(|(user, host)| !user.is_empty() && !host.is_empty() && !host.contains('/'))
            .ok_or_else(|| format!("“{text}” is neither @name@server nor an account's address"))?;
        fetcher
            .webfinger(user, host)
            .await
            .map_err(|e| format!("{text} could not be found: {e}"))?
    };
    let document = fetcher
        .get_json(&url)
        .await
        .map_err(|e| format!("{text} could not be fetched: {e}"))?;
    let actor = actors::parse_actor(&url, &document).map_err(|e| e.to_string())?;
    let id = Url::parse(&actor.uri).map_err(|_| format!("{text} has no usable id"))?;
    Ok((id, document))
}

/// The author's actor, or the blog's for an administrator who asks.
fn actor_of(user: &crate::features::accounts::User, which: &str) -> AppResult<Local> {
    match which {
        "blog" if user.is_admin() => Ok(Local::Blog),
        "blog" => Err(AppError::Forbidden(Thing::Profile)),
        _ => Ok(Local::Author(user.clone())),
    }
}

#[derive(Debug, Deserialize, Serialize)]
pub struct AliasesForm {
    /// `me`, or `blog`.
    #[serde(default)]
    actor: String,
    #[serde(default)]
    aliases: String,
}

/// Saves the accounts an actor is also known as: each found and fetched,
/// by its id.
pub async fn save_aliases(
    State(app): State<App>,
    ctx: PageCtx,
    SignedIn(user): SignedIn,
    CsrfForm(form): CsrfForm<AliasesForm>,
) -> AppResult<Response> {
    let local = actor_of(&user, &form.actor)?;
    let named: Vec<&str> = form
        .aliases
        .split(['\n', ',', ' '])
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let refuse = |problem: Problem| {
        let errors = FieldErrors::single("aliases", problem);
        let form = json!({ "actor": form.actor, "aliases": form.aliases });
        super::moderation::render_refused(&app, &ctx, &user, errors, form)
    };
    if named.len() > MAX_ALIASES {
        return refuse(Problem::TooMany { max: MAX_ALIASES }).await;
    }
    let mut aliases = Vec::new();
    for text in named {
        match look_up(&app, text).await {
            Ok((id, _)) => aliases.push(id.to_string()),
            Err(why) => return refuse(Problem::Explained(why)).await,
        }
    }
    aliases.dedup();
    let mut movement = local.movement(&app).await?;
    movement.aliases = aliases;
    local.set_movement(&app, &movement).await?;
    let done = if movement.aliases.is_empty() {
        "Saved: no other accounts."
    } else {
        "Saved: accounts named here can now move to this one."
    };
    super::moderation::render(&app, &ctx, &user, Some(done)).await
}

#[derive(Debug, Deserialize, Serialize)]
pub struct MoveForm {
    #[serde(default)]
    actor: String,
    /// The account to move to; empty to stay (undoing a move).
    #[serde(default)]
    target: String,
}

/// Moves an actor to another account: its followers' servers are told.
pub async fn move_actor(
    State(app): State<App>,
    ctx: PageCtx,
    SignedIn(user): SignedIn,
    CsrfForm(form): CsrfForm<MoveForm>,
) -> AppResult<Response> {
    let local = actor_of(&user, &form.actor)?;
    let mut movement = local.movement(&app).await?;
    if form.target.trim().is_empty() {
        movement.moved_to = None;
        local.set_movement(&app, &movement).await?;
        let done = "This account no longer says it moved.";
        return super::moderation::render(&app, &ctx, &user, Some(done)).await;
    }
    let ours = local.id(&app);
    let checked = match look_up(&app, &form.target).await {
        Ok((target, _)) if target == ours => Err("that is this account".to_owned()),
        Ok((target, document)) if aliases_in(&document).contains(&ours.to_string()) => Ok(target),
        Ok((target, _)) => Err(format!(
            "{target} does not name this account among its aliases: add {ours} there first \
             (on Mastodon: Preferences → Account → Moving from a different account)"
        )),
        Err(why) => Err(why),
    };
    let target = match checked {
        Ok(target) => target,
        Err(why) => {
            let errors = FieldErrors::single("target", Problem::Explained(why));
            let form = json!({ "actor": form.actor, "target": form.target });
            return super::moderation::render_refused(&app, &ctx, &user, errors, form).await;
        }
    };
    movement.moved_to = Some(target.to_string());
    local.set_movement(&app, &movement).await?;
    let activity = json!({
        "@context": CONTEXT,
        "id": format!("{ours}#move/{}", Timestamp::now().unix_timestamp()),
        "type": "Move",
        "actor": ours,
        "object": ours,
        "target": target,
    });
    let told = super::delivery::to_followers(&app, &local, activity).await?;
    tracing::info!(%target, servers = told, "actor moved");
    let done = "Moved: your followers' servers are told, and theirs move them to the new account.";
    super::moderation::render(&app, &ctx, &user, Some(done)).await
}

/// A remote actor's `Move` to another account (`target`, ours when
/// `local`), which must name it.
pub async fn received(
    app: &App,
    actor: &Remote,
    object: &Value,
    target: &str,
    local: Option<Local>,
) -> Result<(), Refused> {
    let moved = match object {
        Value::String(id) => Some(id.as_str()),
        other => other.get("id").and_then(Value::as_str),
    };
    if moved != Some(actor.uri.as_str()) {
        return Err(Refused::Invalid("an actor can only move itself".into()));
    }
    let not_named = || {
        Refused::Invalid(format!(
            "{target} does not name {} among its aliases",
            actor.uri
        ))
    };
    let new = match local {
        // Someone moving here: to one of our actors that names them.
        Some(local) => {
            if !local.movement(app).await?.aliases.contains(&actor.uri) {
                return Err(not_named());
            }
            None
        }
        None => {
            let url = Url::parse(target)
                .map_err(|_| Refused::Invalid(format!("{target} is not an address")))?;
            // The new account says it is the old one too: fetched now,
            // not as the activity describes it.
            let fetcher = &app.part::<Federation>().fetcher;
            let document = fetcher.get_json(&url).await.map_err(ActorError::from)?;
            if !aliases_in(&document).contains(&actor.uri) {
                return Err(not_named());
            }
            Some(actors::keep(app, &url, &document).await?)
        }
    };
    query("UPDATE remote_actors SET moved_to = $1 WHERE id = $2")
        .bind(target)
        .bind(actor.id)
        .execute(&app.db)
        .await?;
    if let Some(new) = new {
        // Trusted or blocked by an author: the same person, so the same.
        query(
            "INSERT INTO actor_standing (user_id, remote_actor_id, standing)
             SELECT user_id, $1, standing FROM actor_standing WHERE remote_actor_id = $2
             ON CONFLICT (user_id, remote_actor_id) DO NOTHING",
        )
        .bind(new.id)
        .bind(actor.id)
        .execute(&app.db)
        .await?;
    }
    tracing::info!(from = %actor.uri, to = %target, "a remote actor moved");
    Ok(())
}
