//! Pages as anonymous readers see them, kept in memory: the same bytes for
//! every reader without a session, so most reads cost a lookup instead of
//! queries and a template. A handler marks a page [`Shareable`]; the
//! [`serve`] layer, outside the session and page layers, answers from the
//! cache, with an `ETag` and `304 Not Modified` for a reader who has it.
//!
//! Freshness: every change made through this process (any request that is
//! not a read and succeeded, [`forget_on_change`]) forgets every page at
//! once, so a reader sees a new comment as soon as it is posted. A change
//! made through another replica reaches this one's cache at once on
//! PostgreSQL (`NOTIFY`, [`listen_for_changes`]), and on either backend
//! within [`TTL`](crate::page_cache::TTL);
//! a page that changes by the passing of time (a scheduled post going live)
//! says when ([`Shareable::until`]).

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::page_cache::{MAX_PAGE_BYTES, Shareable};

/// Whether a request may be answered from the cache: a plain read by a
/// reader without a session (the site being open is checked after).
fn cacheable(request: &Request) -> bool {
    request.method() == Method::GET
        && super::pages::cookie(request.headers(), super::pages::SESSION_COOKIE).is_none()
}

/// The layer: answers from the cache, or lets the request through and
/// keeps what a handler marked [`Shareable`].
pub async fn serve(State(app): State<App>, mut request: Request, next: Next) -> Response {
    if !cacheable(&request)
        || app
            .maintenance
            .for_request(&app.db, request.extensions_mut())
            .await
            .is_some()
    {
        return next.run(request).await;
    }
    let key = request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.to_string());
    if let Some(page) = app.pages.get(&key) {
        return page.answer(request.headers());
    }
    let generation = app.pages.generation();
    let response = next.run(request).await;
    let Some(shareable) = response.extensions().get::<Shareable>().cloned() else {
        return response;
    };
    if response.status() != StatusCode::OK {
        return response;
    }
    // Too large to keep (a sitemap's part of 50,000 addresses), or of no
    // known size: served as it is, not kept.
    if response
        .body()
        .size_hint()
        .upper()
        .is_none_or(|bytes| bytes > MAX_PAGE_BYTES as u64)
    {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_PAGE_BYTES).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    // A page with a form carries its reader's anti-forgery token: never
    // shared, whatever the handler said.
    if body
        .windows(b"csrf_token".len())
        .any(|w| w == b"csrf_token")
    {
        tracing::warn!(key, "a page marked shareable holds a form; not cached");
        return Response::from_parts(parts, Body::from(body));
    }
    let page = app
        .pages
        .put(key, generation, shareable, &parts.headers, body);
    // This reader's response keeps what the handler set (the cookies of a
    // first visit), with the page's validators.
    let mut response = Response::from_parts(parts, Body::from(page.body()));
    page.validators(response.headers_mut());
    response
}

/// The layer around everything that changes the site: a request that is not
/// a read and succeeded forgets every cached page, unless its handler said
/// that no page shows what it changed ([`PagesUnchanged`]).
pub async fn forget_on_change(State(app): State<App>, request: Request, next: Next) -> Response {
    let changes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let response = next.run(request).await;
    if changes
        && !response.status().is_client_error()
        && !response.status().is_server_error()
        && response.extensions().get::<PagesUnchanged>().is_none()
    {
        site_changed(&app);
    }
    response
}

/// A response extension (`Extension(PagesUnchanged)`) from a handler whose
/// write no page shows, such as a visit counted through the visitor API:
/// thousands of those a second would otherwise empty the cache as fast.
#[derive(Clone, Copy, Debug)]
pub struct PagesUnchanged;

/// The site changed: this process forgets every cached page, and the other
/// processes theirs ([`listen_for_changes`]). Requests that change things
/// call it through [`forget_on_change`]; work done outside a request that
/// changes what pages show (a job, a domain event's subscriber) calls it.
pub fn site_changed(app: &App) {
    app.pages.forget_all();
    if app.db.dialect().notifies() {
        announcer(app).notify_one();
    }
}

/// The site changed through a command (`quire import`), not a server:
/// the servers on PostgreSQL are told now, before the command exits;
/// SQLite's see it within the cache's TTL.
pub async fn announce_change(app: &App) -> Result<(), sqlx::Error> {
    if app.db.dialect().notifies() {
        app.db.notify(CHANGED, app.pages.origin()).await?;
    }
    Ok(())
}

/// Wakes the task that tells the other processes, started on the first
/// change. Changes made while a notification is on its way are told by one
/// more after it (a `Notify` keeps one permit): a burst of writes costs two
/// round trips, not one each.
fn announcer(app: &App) -> &tokio::sync::Notify {
    app.pages.announcer().get_or_init(|| {
        let wake = std::sync::Arc::new(tokio::sync::Notify::new());
        let db = app.db.clone();
        let origin = app.pages.origin().to_owned();
        let woken = wake.clone();
        tokio::spawn(async move {
            loop {
                woken.notified().await;
                if let Err(e) = db.notify(CHANGED, &origin).await {
                    tracing::warn!(error = %e, "telling other processes of a change failed; they catch up within the cache's TTL");
                }
            }
        });
        wake
    })
}

/// The channel on which replicas tell each other that the site changed.
const CHANGED: &str = "quire_changed";

/// On PostgreSQL, a task that forgets this process's cached pages whenever
/// another process (a replica behind the same load balancer) changed the
/// site, so a member who comments through one replica sees the comment
/// from any; without it, within [`TTL`](crate::page_cache::TTL).
pub fn listen_for_changes(app: &App) -> Option<tokio::task::JoinHandle<()>> {
    let wake = std::sync::Arc::new(tokio::sync::Notify::new());
    // Not its own: this process forgot its pages when it made the change,
    // and the notification comes later, after it may have kept new ones.
    let own = Some(app.pages.origin().to_owned());
    let listener = app.db.listen(CHANGED, own, wake.clone())?;
    let app = app.clone();
    Some(tokio::spawn(async move {
        // The listener lives as long as this task.
        let _listener = DropAbort(listener);
        loop {
            wake.notified().await;
            app.pages.forget_all();
        }
    }))
}

/// Stops a task when dropped.
struct DropAbort(tokio::task::JoinHandle<()>);

impl Drop for DropAbort {
    fn drop(&mut self) {
        self.0.abort();
    }
}
