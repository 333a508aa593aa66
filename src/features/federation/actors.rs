//! Actors: ours — the blog (`@blog@host`, whose posts the home page shows)
//! and each author (`@username@host`) — found by WebFinger and described
//! by their documents with their public keys; and theirs, fetched when an
//! activity names them and kept in `remote_actors`.
//!
//! Our actors' ids do not change when a username does: `/ap/users/{id}`.

use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::FromRow;
use url::Url;

use super::fetch::FetchError;
use super::signatures::KeyPair;
use super::{CONTEXT, Federation, activity_response};
use crate::app::App;
use crate::db::{Timestamp, query};
use crate::error::{AppError, AppResult, Thing};
use crate::features::accounts::{self, Role, User};

/// One of this site's actors.
#[derive(Debug, Clone)]
pub enum Local {
    /// The blog: what the home page shows, the owner's posts.
    Blog,
    Author(User),
}

impl Local {
    /// The actor's id (and the base of its inbox, outbox, collections).
    pub fn id(&self, app: &App) -> Url {
        absolute(app, &self.path())
    }

    fn path(&self) -> String {
        match self {
            Local::Blog => "/ap/blog".to_owned(),
            Local::Author(user) => format!("/ap/users/{}", user.id),
        }
    }

    pub fn key_id(&self, app: &App) -> String {
        format!("{}#main-key", self.id(app))
    }

    pub fn collection(&self, app: &App, name: &str) -> Url {
        absolute(app, &format!("{}/{name}", self.path()))
    }

    /// The name after `@`.
    pub fn name<'a>(&'a self, app: &'a App) -> &'a str {
        match self {
            Local::Blog => &app.settings.federation.blog_name,
            Local::Author(user) => &user.username,
        }
    }

    /// `followers.user_id`: the author, or NULL for the blog.
    pub fn user_id(&self) -> Option<i64> {
        match self {
            Local::Blog => None,
            Local::Author(user) => Some(user.id),
        }
    }

    /// The page that shows the actor to people.
    fn profile_url(&self, app: &App) -> Url {
        match self {
            Local::Blog => app.settings.http.public_url(),
            Local::Author(user) => absolute(
                app,
                &format!("/users/{}", crate::templates::path_segment(&user.username)),
            ),
        }
    }

    /// The actor by the name in a WebFinger address or an id's path.
    pub async fn by_name(app: &App, name: &str) -> AppResult<Option<Local>> {
        if name == app.settings.federation.blog_name {
            return Ok(Some(Local::Blog));
        }
        Ok(accounts::find_active_by_username(&app.db, name)
            .await?
            .map(Local::Author))
    }

    pub async fn by_user_id(app: &App, id: i64) -> AppResult<Local> {
        match accounts::find(&app.db, id).await? {
            Some(user) if user.deleted_at.is_none() => Ok(Local::Author(user)),
            _ => Err(AppError::NotFound(Thing::Profile)),
        }
    }

    /// The actor's key pair, made the first time it is asked for. Two
    /// processes making one at once keep the first written.
    pub async fn keys(&self, app: &App) -> AppResult<KeyPair> {
        if let Some(pair) = self.stored_keys(app).await? {
            return Ok(pair);
        }
        let pair = tokio::task::spawn_blocking(KeyPair::generate)
            .await
            .map_err(anyhow::Error::from)??;
        match self {
            Local::Blog => {
                query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(BLOG_KEY)
                    .bind(&pair.private_pem)
                    .execute(&app.db)
                    .await?;
            }
            Local::Author(user) => {
                query(
                    "UPDATE users SET ap_public_key = $1, ap_private_key = $2
                     WHERE id = $3 AND ap_private_key IS NULL",
                )
                .bind(&pair.public_pem)
                .bind(&pair.private_pem)
                .bind(user.id)
                .execute(&app.db)
                .await?;
            }
        }
        Ok(self
            .stored_keys(app)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the actor's key pair was not kept"))?)
    }

    async fn stored_keys(&self, app: &App) -> AppResult<Option<KeyPair>> {
        Ok(match self {
            Local::Blog => {
                let private: Option<String> = query("SELECT value FROM settings WHERE key = $1")
                    .bind(BLOG_KEY)
                    .scalar_optional(&app.db)
                    .await?;
                private.map(KeyPair::from_private_pem).transpose()?
            }
            Local::Author(user) => {
                #[derive(FromRow)]
                struct Pair {
                    ap_public_key: Option<String>,
                    ap_private_key: Option<String>,
                }
                let pair: Pair =
                    query("SELECT ap_public_key, ap_private_key FROM users WHERE id = $1")
                        .bind(user.id)
                        .fetch_one(&app.db)
                        .await?;
                pair.ap_public_key
                    .zip(pair.ap_private_key)
                    .map(|(public_pem, private_pem)| KeyPair {
                        public_pem,
                        private_pem,
                    })
            }
        })
    }

    /// Whether the actor approves each follower: an author who chose to
    /// (the Fediverse page); the blog never.
    pub async fn approves_followers(&self, app: &App) -> AppResult<bool> {
        Ok(match self {
            Local::Blog => false,
            Local::Author(user) => {
                query("SELECT ap_approves_followers FROM users WHERE id = $1")
                    .bind(user.id)
                    .scalar(&app.db)
                    .await?
            }
        })
    }

    /// The actor's document.
    pub async fn document(&self, app: &App) -> AppResult<Value> {
        let keys = self.keys(app).await?;
        let approves = self.approves_followers(app).await?;
        let id = self.id(app);
        let (kind, name, summary, icon) = match self {
            Local::Blog => (
                "Person",
                app.settings.site.title.clone(),
                format!("Every post of {}", app.settings.site.title),
                None,
            ),
            Local::Author(user) => (
                "Person",
                user.username.clone(),
                user.bio.clone().unwrap_or_default(),
                user.image
                    .as_deref()
                    .and_then(|image| app.settings.http.public_url().join(image).ok()),
            ),
        };
        let terms: Value = serde_json::from_str(super::moves::TERMS).expect("the terms are JSON");
        let mut document = json!({
            "@context": [CONTEXT, "https://w3id.org/security/v1", terms],
            "id": id,
            "type": kind,
            "preferredUsername": self.name(app),
            "name": name,
            "summary": ammonia::clean_text(&summary),
            "url": self.profile_url(app),
            "inbox": self.collection(app, "inbox"),
            "outbox": self.collection(app, "outbox"),
            "followers": self.collection(app, "followers"),
            "following": self.collection(app, "following"),
            "endpoints": { "sharedInbox": absolute(app, "/ap/inbox") },
            "manuallyApprovesFollowers": approves,
            "discoverable": true,
            "publicKey": {
                "id": self.key_id(app),
                "owner": id,
                "publicKeyPem": keys.public_pem,
            },
        });
        if let Some(icon) = icon {
            document["icon"] = json!({ "type": "Image", "url": icon });
        }
        super::moves::describe(&self.movement(app).await?, &mut document);
        Ok(document)
    }
}

/// The `settings` row holding the blog actor's private key.
const BLOG_KEY: &str = "federation_blog_key";

fn absolute(app: &App, path: &str) -> Url {
    app.settings
        .http
        .absolute(path)
        .expect("a path joins the public URL")
}

/// `host` or `host:port`, as in `@name@host`.
pub fn authority(url: &Url) -> String {
    match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    }
}

pub fn routes() -> Router<App> {
    Router::new()
        .route("/.well-known/webfinger", get(webfinger))
        .route("/.well-known/host-meta", get(host_meta))
        .route("/.well-known/nodeinfo", get(nodeinfo_links))
        .route("/nodeinfo/2.1", get(nodeinfo))
        .route("/ap/blog", get(blog))
        .route("/ap/users/{id}", get(author))
        .route("/ap/blog/followers", get(blog_followers))
        .route("/ap/users/{id}/followers", get(author_followers))
        .route("/ap/blog/following", get(blog_following))
        .route("/ap/users/{id}/following", get(author_following))
}

#[derive(Deserialize)]
struct Resource {
    resource: Option<String>,
}

/// `GET /.well-known/webfinger?resource=acct:NAME@HOST` (or an actor's
/// id, or its profile's address).
async fn webfinger(
    State(app): State<App>,
    UrlQuery(query): UrlQuery<Resource>,
) -> AppResult<Response> {
    let Some(resource) = query.resource else {
        return Ok(problem(
            StatusCode::BAD_REQUEST,
            "give the account to look up: ?resource=acct:name@host",
        ));
    };
    let here = app.settings.http.public_authority();
    let name = if let Some(acct) = resource.strip_prefix("acct:") {
        let acct = acct.trim_start_matches('@');
        match acct.rsplit_once('@') {
            Some((name, host)) if host.eq_ignore_ascii_case(&here) => Some(name.to_owned()),
            _ => None,
        }
    } else {
        local_name_of_url(&app, &resource).await?
    };
    let local = match name {
        Some(name) => Local::by_name(&app, &name.to_ascii_lowercase()).await?,
        None => None,
    };
    let Some(local) = local else {
        return Ok(problem(
            StatusCode::NOT_FOUND,
            &format!("no account {resource} on {here}"),
        ));
    };
    let id = local.id(&app);
    let body = json!({
        "subject": format!("acct:{}@{here}", local.name(&app)),
        "aliases": [id, local.profile_url(&app)],
        "links": [
            { "rel": "self", "type": super::fetch::ACTIVITY_JSON, "href": id },
            { "rel": "http://webfinger.net/rel/profile-page", "type": "text/html",
              "href": local.profile_url(&app) },
        ],
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/jrd+json"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        body.to_string(),
    )
        .into_response())
}

/// The actor's name when `resource` is one of its addresses here.
async fn local_name_of_url(app: &App, resource: &str) -> AppResult<Option<String>> {
    let Ok(url) = Url::parse(resource) else {
        return Ok(None);
    };
    let base = app.settings.http.public_url();
    if url.origin() != base.origin() {
        return Ok(None);
    }
    let path = url.path();
    if path == "/ap/blog" {
        return Ok(Some(app.settings.federation.blog_name.clone()));
    }
    if let Some(id) = path.strip_prefix("/ap/users/").and_then(|s| s.parse().ok()) {
        return Ok(accounts::find(&app.db, id).await?.map(|u| u.username));
    }
    Ok(path.strip_prefix("/users/").map(str::to_owned))
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn host_meta(State(app): State<App>) -> Response {
    let template = format!(
        "{}?resource={{uri}}",
        absolute(&app, "/.well-known/webfinger")
    );
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">
  <Link rel="lrdd" type="application/jrd+json" template="{}"/>
</XRD>
"#,
        quick_xml::escape::escape(template.as_str())
    );
    ([(header::CONTENT_TYPE, "application/xrd+xml")], body).into_response()
}

const NODEINFO_SCHEMA: &str = "http://nodeinfo.diaspora.software/ns/schema/2.1";

async fn nodeinfo_links(State(app): State<App>) -> Json<Value> {
    Json(json!({
        "links": [{ "rel": NODEINFO_SCHEMA, "href": absolute(&app, "/nodeinfo/2.1") }]
    }))
}

/// NodeInfo 2.1: what software this is and how much is on it.
async fn nodeinfo(State(app): State<App>) -> AppResult<Response> {
    #[derive(FromRow)]
    struct Usage {
        users: i64,
        active_month: i64,
        active_halfyear: i64,
        posts: i64,
        comments: i64,
    }
    let now = Timestamp::now();
    let usage: Usage = query(
        "SELECT
           (SELECT COUNT(*) FROM users WHERE deleted_at IS NULL) AS users,
           (SELECT COUNT(DISTINCT author_id) FROM posts
             WHERE status = 'published' AND published_at > $1) AS active_month,
           (SELECT COUNT(DISTINCT author_id) FROM posts
             WHERE status = 'published' AND published_at > $2) AS active_halfyear,
           (SELECT COUNT(*) FROM posts WHERE status = 'published' AND published_at <= $3) AS posts,
           (SELECT COUNT(*) FROM comments) AS comments",
    )
    .bind(now - time::Duration::days(30))
    .bind(now - time::Duration::days(180))
    .bind(now)
    .fetch_one(&app.db)
    .await?;
    let body = json!({
        "version": "2.1",
        "software": {
            "name": "quire",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "protocols": ["activitypub"],
        "services": { "inbound": [], "outbound": ["atom1.0", "rss2.0"] },
        "openRegistrations": app.settings.site.registration == crate::config::Registration::Open,
        "usage": {
            "users": {
                "total": usage.users,
                "activeMonth": usage.active_month,
                "activeHalfyear": usage.active_halfyear,
            },
            "localPosts": usage.posts,
            "localComments": usage.comments,
        },
        "metadata": { "nodeName": app.settings.site.title },
    });
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/json; profile=\"http://nodeinfo.diaspora.software/ns/schema/2.1#\"",
        )],
        body.to_string(),
    )
        .into_response())
}

async fn blog(State(app): State<App>) -> AppResult<Response> {
    Ok(activity_response(Local::Blog.document(&app).await?))
}

async fn author(State(app): State<App>, Path(id): Path<i64>) -> AppResult<Response> {
    let local = Local::by_user_id(&app, id).await?;
    Ok(activity_response(local.document(&app).await?))
}

/// The followers collection: its size, not who (as Mastodon shows it).
async fn followers_of(app: &App, local: &Local) -> AppResult<Response> {
    let total = count_followers(app, local).await?;
    Ok(activity_response(json!({
        "@context": CONTEXT,
        "id": local.collection(app, "followers"),
        "type": "OrderedCollection",
        "totalItems": total,
    })))
}

/// Accepted followers of an actor.
pub async fn count_followers(app: &App, local: &Local) -> AppResult<i64> {
    Ok(query(
        "SELECT COUNT(*) FROM followers
         WHERE COALESCE(user_id, 0) = COALESCE($1, 0) AND state = 'accepted'",
    )
    .bind(local.user_id())
    .scalar(&app.db)
    .await?)
}

async fn blog_followers(State(app): State<App>) -> AppResult<Response> {
    followers_of(&app, &Local::Blog).await
}

async fn author_followers(State(app): State<App>, Path(id): Path<i64>) -> AppResult<Response> {
    followers_of(&app, &Local::by_user_id(&app, id).await?).await
}

/// Our actors follow no one.
fn following_of(app: &App, local: &Local) -> Response {
    activity_response(json!({
        "@context": CONTEXT,
        "id": local.collection(app, "following"),
        "type": "OrderedCollection",
        "totalItems": 0,
        "orderedItems": [],
    }))
}

async fn blog_following(State(app): State<App>) -> Response {
    following_of(&app, &Local::Blog)
}

async fn author_following(State(app): State<App>, Path(id): Path<i64>) -> AppResult<Response> {
    Ok(following_of(&app, &Local::by_user_id(&app, id).await?))
}

/// An actor of another server, as we keep it.
#[derive(Debug, Clone, FromRow)]
pub struct Remote {
    pub id: i64,
    pub uri: String,
    pub domain: String,
    pub handle: String,
    pub name: String,
    pub url: Option<String>,
    pub inbox: String,
    pub shared_inbox: Option<String>,
    pub key_id: String,
    pub public_key_pem: String,
    pub icon_url: Option<String>,
    pub fetched_at: Timestamp,
}

impl Remote {
    /// `@handle@domain`.
    pub fn address(&self) -> String {
        format!("@{}@{}", self.handle, self.domain)
    }

    /// Where deliveries to them go: their server's shared inbox when it
    /// has one (one request for all its followers of ours).
    pub fn delivery_inbox(&self) -> &str {
        self.shared_inbox.as_deref().unwrap_or(&self.inbox)
    }

    /// The page that shows them: their profile, else their id.
    pub fn profile(&self) -> &str {
        self.url.as_deref().unwrap_or(&self.uri)
    }
}

const REMOTE_COLUMNS: &str = "id, uri, domain, handle, name, url, inbox, shared_inbox, key_id, \
                              public_key_pem, icon_url, fetched_at";

/// How long a fetched actor is trusted before it is fetched again when an
/// activity names it (a changed name or avatar shows within a day; a
/// changed key is fetched at once, see [`by_key_id`]).
const REFRESH_AFTER: time::Duration = time::Duration::days(1);

/// Why a remote actor cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum ActorError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<sqlx::Error> for ActorError {
    fn from(e: sqlx::Error) -> Self {
        ActorError::App(e.into())
    }
}

/// The actor whose key `key_id` is: kept, or fetched (again when `fresh`:
/// its key may have changed since).
pub async fn by_key_id(app: &App, key_id: &str, fresh: bool) -> Result<Remote, ActorError> {
    if !fresh {
        let sql = format!("SELECT {REMOTE_COLUMNS} FROM remote_actors WHERE key_id = $1");
        if let Some(actor) = crate::db::Query::assembled(sql)
            .bind(key_id)
            .fetch_optional(&app.db)
            .await?
        {
            return Ok(actor);
        }
    }
    // The key's address without its fragment is the actor (Mastodon), or a
    // document of the key naming its owner.
    let mut url = parse_url(key_id)?;
    url.set_fragment(None);
    let document = app.part::<Federation>().fetcher.get_json(&url).await?;
    let actor_uri = if document.get("inbox").is_some() {
        url
    } else {
        parse_url(
            document
                .get("owner")
                .and_then(Value::as_str)
                .ok_or_else(|| ActorError::Invalid(format!("{key_id} names no actor")))?,
        )?
    };
    let actor = fetch(app, &actor_uri).await?;
    if actor.key_id != key_id {
        return Err(ActorError::Invalid(format!(
            "{key_id} is not the key of {}",
            actor.uri
        )));
    }
    Ok(actor)
}

/// The actor `uri`: kept and recent, or fetched and kept.
pub async fn by_uri(app: &App, uri: &str) -> Result<Remote, ActorError> {
    let sql = format!("SELECT {REMOTE_COLUMNS} FROM remote_actors WHERE uri = $1");
    let kept: Option<Remote> = crate::db::Query::assembled(sql)
        .bind(uri)
        .fetch_optional(&app.db)
        .await?;
    match kept {
        Some(actor) if actor.fetched_at + REFRESH_AFTER > Timestamp::now() => Ok(actor),
        _ => fetch(app, &parse_url(uri)?).await,
    }
}

fn parse_url(text: &str) -> Result<Url, ActorError> {
    Url::parse(text).map_err(|_| ActorError::Invalid(format!("{text} is not an address")))
}

/// Fetches the actor at `uri` and keeps it.
pub async fn fetch(app: &App, uri: &Url) -> Result<Remote, ActorError> {
    let document = app.part::<Federation>().fetcher.get_json(uri).await?;
    keep(app, uri, &document).await
}

/// Keeps the actor whose document was fetched from `uri`.
pub async fn keep(app: &App, uri: &Url, document: &Value) -> Result<Remote, ActorError> {
    let parsed = parse_actor(uri, document)?;
    let sql = format!(
        "INSERT INTO remote_actors (uri, domain, handle, name, url, inbox, shared_inbox, key_id,
                                    public_key_pem, icon_url, fetched_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (uri) DO UPDATE SET domain = $2, handle = $3, name = $4, url = $5,
             inbox = $6, shared_inbox = $7, key_id = $8, public_key_pem = $9, icon_url = $10,
             fetched_at = $11
         RETURNING {REMOTE_COLUMNS}"
    );
    let actor: Remote = crate::db::Query::assembled(sql)
        .bind(parsed.uri)
        .bind(parsed.domain)
        .bind(parsed.handle)
        .bind(parsed.name)
        .bind(parsed.url)
        .bind(parsed.inbox)
        .bind(parsed.shared_inbox)
        .bind(parsed.key_id)
        .bind(parsed.public_key_pem)
        .bind(parsed.icon_url)
        .bind(Timestamp::now())
        .fetch_one(&app.db)
        .await?;
    // A new avatar: shown on their comments once copied.
    let changed: Option<i64> = query(
        "SELECT a.id FROM remote_actors a WHERE a.id = $1 AND a.icon_from IS DISTINCT FROM a.icon_url
         AND EXISTS (SELECT 1 FROM remote_replies r
                     WHERE r.remote_actor_id = a.id AND r.comment_id IS NOT NULL)",
    )
    .bind(actor.id)
    .scalar_optional(&app.db)
    .await?;
    if changed.is_some() {
        super::pictures::copy_later(app, actor.id).await?;
    }
    Ok(actor)
}

/// What we keep of an actor's document fetched from `fetched`.
pub fn parse_actor(fetched: &Url, document: &Value) -> Result<Remote, ActorError> {
    let invalid = |what: &str| ActorError::Invalid(format!("the actor at {fetched} {what}"));
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let id = text(document, "id").ok_or_else(|| invalid("has no id"))?;
    let id_url = Url::parse(&id).map_err(|_| invalid("has an id that is not an address"))?;
    // An actor is what its own server says: a document served from
    // elsewhere cannot claim to be it.
    if id_url.origin() != fetched.origin() {
        return Err(invalid("claims an id on another server"));
    }
    let kind = text(document, "type").unwrap_or_default();
    if !matches!(
        kind.as_str(),
        "Person" | "Service" | "Application" | "Group" | "Organization"
    ) {
        return Err(invalid("is not an actor"));
    }
    let same_server = |url: Option<String>| -> Result<Option<String>, ActorError> {
        match url {
            Some(u) if Url::parse(&u).is_ok_and(|u| u.origin() == id_url.origin()) => Ok(Some(u)),
            Some(_) => Err(invalid("names an inbox on another server")),
            None => Ok(None),
        }
    };
    let inbox = same_server(text(document, "inbox"))?.ok_or_else(|| invalid("has no inbox"))?;
    let shared_inbox = document
        .get("endpoints")
        .and_then(|e| text(e, "sharedInbox"));
    let shared_inbox = same_server(shared_inbox)?;
    // One key, or several (an RSA key among Ed25519 ones): ours is RSA.
    let keys: Vec<&Value> = match document.get("publicKey") {
        Some(Value::Array(keys)) => keys.iter().collect(),
        Some(key) => vec![key],
        None => Vec::new(),
    };
    let (key_id, public_key_pem) = keys
        .into_iter()
        .filter(|key| text(key, "owner").is_none_or(|owner| owner == id))
        .find_map(|key| {
            let pem = text(key, "publicKeyPem")?;
            super::signatures::is_usable_public_key(&pem).then(|| (text(key, "id"), pem))
        })
        .ok_or_else(|| invalid("publishes no RSA public key"))?;
    let key_id = key_id.ok_or_else(|| invalid("publishes a key without an id"))?;
    let handle = text(document, "preferredUsername").ok_or_else(|| invalid("has no username"))?;
    let name = text(document, "name")
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| handle.clone());
    let url = match document.get("url") {
        Some(Value::String(url)) => Some(url.clone()),
        Some(Value::Object(link)) => text(&Value::Object(link.clone()), "href"),
        Some(Value::Array(links)) => links.iter().find_map(|l| match l {
            Value::String(url) => Some(url.clone()),
            link => text(link, "href"),
        }),
        _ => None,
    }
    .filter(|u| Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "https" | "http")));
    let icon_url = match document.get("icon") {
        Some(Value::Array(icons)) => icons.first().and_then(|i| text(i, "url")),
        Some(icon) => text(icon, "url"),
        None => None,
    };
    Ok(Remote {
        id: 0,
        domain: authority(&id_url),
        uri: id,
        handle: clip(&handle, 100),
        name: clip(&name, 100),
        url,
        inbox,
        shared_inbox,
        key_id,
        public_key_pem,
        icon_url,
        fetched_at: Timestamp::now(),
    })
}

/// At most `max` characters of a remote text.
pub fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Whether the actors of `role` are the blog's: the owner's posts are.
pub fn is_blogs(role: Role) -> bool {
    role == Role::Owner
}
