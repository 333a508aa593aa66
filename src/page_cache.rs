//! Pages as anonymous readers see them, kept in memory: the same bytes for
//! every reader without a session. The layers that fill and serve it, and
//! the rules of freshness, are in `http::cache`; this is the store, with
//! bounded memory and a generation that forgets every page at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// How long a page may be served from the cache, at most.
pub const TTL: Duration = Duration::from_secs(10);

/// How many pages are kept, and how large each may be: the cache's memory
/// stays bounded whatever URLs are asked for.
const MAX_PAGES: usize = 1024;
pub const MAX_PAGE_BYTES: usize = 1 << 20;

/// What a hit does besides answering (counting a post's view): given the
/// request's headers, it may return a cookie for the response to set.
pub type OnHit = Arc<dyn Fn(&HeaderMap) -> Option<HeaderValue> + Send + Sync>;

/// Put in a response's extensions by a handler: this page is the same for
/// every reader without a session.
#[derive(Clone, Default)]
pub struct Shareable {
    pub on_hit: Option<OnHit>,
    /// When the page changes on its own, if sooner than the TTL.
    pub until: Option<Instant>,
}

pub struct Page {
    generation: u64,
    expires: Instant,
    etag: HeaderValue,
    content_type: HeaderValue,
    /// When what the page shows last changed, if its handler said
    /// (`Last-Modified`: feeds).
    last_modified: Option<(HeaderValue, std::time::SystemTime)>,
    body: Bytes,
    on_hit: Option<OnHit>,
}

pub struct PageCache {
    pages: RwLock<HashMap<String, Arc<Page>>>,
    generation: AtomicU64,
    /// Tells this process's notifications of a change from the others'.
    origin: String,
    /// Wakes the task that sends those notifications
    /// (`http::cache::site_changed`).
    announcer: std::sync::OnceLock<Arc<tokio::sync::Notify>>,
}

impl Default for PageCache {
    fn default() -> Self {
        Self {
            pages: RwLock::default(),
            generation: AtomicU64::default(),
            origin: crate::crypto::random_token(16),
            announcer: Default::default(),
        }
    }
}

impl PageCache {
    /// The name this process's change notifications carry.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn announcer(&self) -> &std::sync::OnceLock<Arc<tokio::sync::Notify>> {
        &self.announcer
    }

    /// Forgets every page: the site changed.
    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Which generation a page rendered now belongs to: read before
    /// rendering, so a change made meanwhile is not hidden by the page.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn get(&self, key: &str) -> Option<Arc<Page>> {
        let page = self.pages.read().ok()?.get(key).cloned()?;
        let fresh = page.generation == self.generation() && page.expires > Instant::now();
        fresh.then_some(page)
    }

    /// Keeps a page rendered in `generation`; returns it, kept or not.
    pub fn put(
        &self,
        key: String,
        generation: u64,
        shareable: Shareable,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Arc<Page> {
        let now = Instant::now();
        let page = Arc::new(Page {
            generation,
            expires: shareable
                .until
                .map_or(now + TTL, |until| until.min(now + TTL)),
            etag: etag(&body),
            content_type: headers
                .get(header::CONTENT_TYPE)
                .cloned()
                .unwrap_or_else(|| HeaderValue::from_static("text/html; charset=utf-8")),
            last_modified: headers.get(header::LAST_MODIFIED).and_then(|value| {
                let at = httpdate::parse_http_date(value.to_str().ok()?).ok()?;
                Some((value.clone(), at))
            }),
            body,
            on_hit: shareable.on_hit,
        });
        if let Ok(mut pages) = self.pages.write() {
            if pages.len() >= MAX_PAGES {
                let current = self.generation();
                pages.retain(|_, p| p.generation == current && p.expires > now);
            }
            if pages.len() < MAX_PAGES {
                pages.insert(key, page.clone());
            }
        }
        page
    }
}

impl Page {
    pub fn body(&self) -> Bytes {
        self.body.clone()
    }

    /// The page for one reader: 304 when they have it already, and what a
    /// hit does (a view counted).
    pub fn answer(&self, headers: &HeaderMap) -> Response {
        let mut response = if self.not_modified_for(headers) {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut response = Response::new(Body::from(self.body.clone()));
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, self.content_type.clone());
            response
        };
        self.validators(response.headers_mut());
        if let Some(cookie) = self.on_hit.as_ref().and_then(|on_hit| on_hit(headers)) {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        response
    }

    /// Whether the reader has this page already: by its ETag, or, from a
    /// client that sent none, by its date (RFC 9110, 13.1.3).
    fn not_modified_for(&self, headers: &HeaderMap) -> bool {
        let mut tags = headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .peekable();
        if tags.peek().is_some() {
            return tags.any(|tag| tag.trim() == self.etag || tag.trim() == "*");
        }
        let since = headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| httpdate::parse_http_date(v.to_str().ok()?).ok());
        matches!((since, &self.last_modified), (Some(since), Some((_, at))) if *at <= since)
    }

    /// The page's ETag (and date, if it has one), and that browsers ask
    /// again each time (so a change shows at once, and an unchanged page
    /// costs a 304).
    pub fn validators(&self, headers: &mut HeaderMap) {
        headers.insert(header::ETAG, self.etag.clone());
        if let Some((date, _)) = &self.last_modified {
            headers.insert(header::LAST_MODIFIED, date.clone());
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
}

/// A strong validator from the bytes: the same page has the same ETag on
/// every replica.
fn etag(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header value")
}

/// What many readers' pages are made of (a post and its comments), kept
/// like the pages themselves: forgotten with them at every change
/// ([`PageCache::forget_all`]), after [`TTL`] at the latest. Signed-in
/// readers' pages cannot be shared whole, but most of what is on them can.
pub struct Shared<V> {
    entries: RwLock<HashMap<String, (u64, Instant, V)>>,
    max: usize,
}

impl<V: Clone> Shared<V> {
    /// Keeps at most `max` values.
    pub fn new(max: usize) -> Self {
        Self {
            entries: RwLock::default(),
            max,
        }
    }

    pub fn get(&self, pages: &PageCache, key: &str) -> Option<V> {
        let entries = self.entries.read().ok()?;
        let (generation, expires, value) = entries.get(key)?;
        (*generation == pages.generation() && *expires > Instant::now()).then(|| value.clone())
    }

    /// Keeps a value read in `generation` (read before the value was).
    pub fn put(&self, pages: &PageCache, key: String, generation: u64, value: V) {
        let now = Instant::now();
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= self.max {
                let current = pages.generation();
                entries.retain(|_, (g, expires, _)| *g == current && *expires > now);
            }
            if entries.len() < self.max {
                entries.insert(key, (generation, now + TTL, value));
            }
        }
    }
}
