//! ActivityPub: the blog and each author can be followed from Mastodon and
//! the rest of the fediverse. Followers get each post as it goes live
//! (`Create`), and its edits and deletion; their replies come back as
//! comments, held for the author's approval (`moderation`), their likes
//! and boosts are counted. docs/federation.md says what is sent and kept.
//!
//! - [`actors`]: who we are (WebFinger, NodeInfo, actor documents, keys)
//!   and who they are (remote actors, fetched and kept);
//! - [`objects`]: posts as `Article`s, the outbox, content negotiation;
//! - [`inbox`]: activities received, their signatures checked;
//! - [`delivery`]: activities sent, as durable jobs, signed;
//! - [`moderation`]: the author's queue of replies and blocks;
//! - [`moves`]: accounts moving here, away, and elsewhere;
//! - [`pictures`]: writers' avatars, copied to show beside their replies;
//! - [`signatures`], [`fetch`]: HTTP Signatures, and requests to other
//!   servers that cannot be turned against ours.
//!
//! `QUIRE_FEDERATION=off` removes the routes and sends nothing.

pub mod actors;
pub mod delivery;
pub mod emails;
pub mod fetch;
pub mod inbox;
#[cfg(test)]
mod interop;
pub mod moderation;
pub mod moves;
pub mod objects;
pub mod pictures;
pub mod signatures;

use axum::Router;
use axum::http::{HeaderMap, header};

use crate::app::App;

/// The `@context` of every document we serve.
pub const CONTEXT: &str = "https://www.w3.org/ns/activitystreams";
/// The audience "everyone".
pub const PUBLIC: &str = "https://www.w3.org/ns/activitystreams#Public";

/// What federation keeps for the life of the process: the client every
/// request to another server goes through, and our actors' keys as read
/// for signing.
#[derive(Clone)]
pub struct Federation {
    pub fetcher: fetch::Fetcher,
    pub signers: signatures::Signers,
    /// Signatures made at once: half the cores (at least one).
    pub signing: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Federation {
    pub fn new(settings: &crate::config::FederationSettings) -> Self {
        Self {
            fetcher: fetch::Fetcher::new(settings.allow_loopback),
            signers: signatures::Signers::default(),
            signing: std::sync::Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            )),
        }
    }
}

pub fn enabled(app: &App) -> bool {
    app.settings.federation.enabled
}

/// The routes other servers use (discovery, documents, inboxes), outside
/// the site's sessions and forms; none when federation is off.
pub fn routes(app: &App) -> Router<App> {
    if !enabled(app) {
        return Router::new();
    }
    Router::new()
        .merge(actors::routes())
        .merge(objects::routes())
        .merge(inbox::routes())
}

/// The pages of the site's people: the moderation queue.
pub fn pages(app: &App) -> Router<App> {
    if !enabled(app) {
        return Router::new();
    }
    moderation::routes()
}

/// Whether a request asks for an ActivityPub document rather than a page:
/// `application/activity+json`, or JSON-LD with ActivityStreams' profile.
pub fn wants_activity_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|kind| {
            let kind = kind.trim().to_ascii_lowercase();
            kind.starts_with(fetch::ACTIVITY_JSON)
                || (kind.starts_with("application/ld+json") && kind.contains("activitystreams"))
        })
}

/// A JSON-LD document as ActivityPub servers expect it.
pub fn activity_response(document: serde_json::Value) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [
            (header::CONTENT_TYPE, fetch::ACTIVITY_JSON),
            // Pages vary by it too; a cache in front must not give a
            // reader this document.
            (header::VARY, "Accept"),
        ],
        document.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_json_is_told_from_html() {
        let asks = |accept: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, accept.parse().unwrap());
            wants_activity_json(&headers)
        };
        assert!(asks("application/activity+json"));
        assert!(asks(
            r#"application/ld+json; profile="https://www.w3.org/ns/activitystreams""#
        ));
        assert!(asks("text/html;q=0.5, application/activity+json"));
        assert!(!asks("text/html,application/xhtml+xml,*/*;q=0.8"));
        assert!(!asks("application/ld+json"));
        assert!(!asks("application/json"));
    }
}
