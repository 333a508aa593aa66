//! `/media/NAME` and `/media/NAME/WIDTH.webp`: images from the store, for
//! a year in every cache (a name is the hash of the bytes, so what it
//! names never changes), with `ETag`, `304` and byte ranges.
//!
//! Only names [`MediaName::parse`] accepts reach the store, and the
//! content type comes from the name's format, which the upload checked
//! from the bytes: nothing is ever served as HTML or SVG.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path as StorePath;

use super::{MediaName, picture};
use crate::app::App;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/media/{name}", get(original))
        .route("/media/{name}/{copy}", get(copy))
}

const FOREVER: &str = "public, max-age=31536000, immutable";
/// A copy not made yet is answered with the original, briefly: the
/// browser asks again soon and gets the copy.
const UNTIL_THE_COPY_IS_MADE: &str = "public, max-age=60";

async fn original(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(name) = MediaName::parse(&name) else {
        return not_found();
    };
    let answer = Answer::new(name.format(), format!("\"{}\"", name.as_str()), FOREVER);
    if answer.not_modified(&headers) {
        return answer.unchanged();
    }
    match open(&app, &name.original()).await {
        Ok(Some(found)) => answer.send(&app, &headers, &name.original(), found).await,
        Ok(None) => not_found(),
        Err(e) => store_failed(e),
    }
}

async fn copy(
    State(app): State<App>,
    Path((name, copy)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(name) = MediaName::parse(&name) else {
        return not_found();
    };
    let width = copy
        .strip_suffix(".webp")
        .and_then(|w| w.parse::<u32>().ok())
        .filter(|w| picture::WIDTHS.contains(w) && w.to_string() == copy[..copy.len() - 5]);
    let Some(width) = width else {
        return not_found();
    };
    let answer = Answer::new(
        picture::Format::Webp,
        format!("\"{}-{width}\"", name.as_str()),
        FOREVER,
    );
    if answer.not_modified(&headers) {
        return answer.unchanged();
    }
    let path = name.variant(width);
    match open(&app, &path).await {
        Ok(Some(found)) => return answer.send(&app, &headers, &path, found).await,
        Ok(None) => {}
        Err(e) => return store_failed(e),
    }
    // Not made yet: the original, briefly.
    let answer = Answer::new(
        name.format(),
        format!("\"{}\"", name.as_str()),
        UNTIL_THE_COPY_IS_MADE,
    );
    if answer.not_modified(&headers) {
        return answer.unchanged();
    }
    match open(&app, &name.original()).await {
        Ok(Some(found)) => answer.send(&app, &headers, &name.original(), found).await,
        Ok(None) => not_found(),
        Err(e) => store_failed(e),
    }
}

/// The images served most, in memory: a copy is tens of kilobytes, and
/// reading it from the store for every reader (a file, or S3) costs far
/// more than sending it. Names never change what they name, so nothing
/// here is ever stale; the least used go first when the budget is full.
#[derive(Clone)]
pub struct Kept(std::sync::Arc<quick_cache::sync::Cache<String, Bytes, ByLength>>);

/// Objects up to this size are kept; larger ones are streamed from the
/// store for each reader.
const KEEP_AT_MOST: u64 = 512 * 1024;
/// What all kept objects may take together.
const KEPT_BYTES: u64 = 64 * 1024 * 1024;

impl Default for Kept {
    fn default() -> Self {
        Self(std::sync::Arc::new(
            quick_cache::sync::Cache::with_weighter(1024, KEPT_BYTES, ByLength),
        ))
    }
}

#[derive(Clone)]
pub struct ByLength;

impl quick_cache::Weighter<String, Bytes> for ByLength {
    fn weight(&self, _: &String, bytes: &Bytes) -> u64 {
        bytes.len() as u64
    }
}

/// An object found: whole, from memory or small enough to keep, or to be
/// streamed.
enum Found {
    Whole(Bytes),
    Stream(object_store::GetResult),
}

/// The object at `path`, if there is one.
async fn open(app: &App, path: &StorePath) -> Result<Option<Found>, object_store::Error> {
    let kept = &app.part::<Kept>().0;
    if let Some(bytes) = kept.get(path.as_ref()) {
        return Ok(Some(Found::Whole(bytes)));
    }
    match app.storage.get(path).await {
        Ok(found) if found.meta.size <= KEEP_AT_MOST => {
            let bytes = found.bytes().await?;
            kept.insert(path.to_string(), bytes.clone());
            Ok(Some(Found::Whole(bytes)))
        }
        Ok(found) => Ok(Some(Found::Stream(found))),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// How an image is answered: its type, validator and caching.
struct Answer {
    headers: HeaderMap,
    etag: String,
}

impl Answer {
    fn new(format: picture::Format, etag: String, cache: &'static str) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ETAG,
            HeaderValue::from_str(&etag).expect("hex and quotes"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        // Opened on its own, an image still runs nothing.
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; sandbox"),
        );
        Self { headers, etag }
    }

    fn not_modified(&self, request: &HeaderMap) -> bool {
        matches_etag(request.get(header::IF_NONE_MATCH), &self.etag)
    }

    fn unchanged(mut self) -> Response {
        self.headers.remove(header::CONTENT_TYPE);
        (StatusCode::NOT_MODIFIED, self.headers).into_response()
    }

    /// The whole image, or the one range asked for (if it still names the
    /// same bytes: `If-Range`). Several ranges get the whole image, as
    /// HTTP allows.
    async fn send(
        mut self,
        app: &App,
        request: &HeaderMap,
        path: &StorePath,
        found: Found,
    ) -> Response {
        let size = match &found {
            Found::Whole(bytes) => bytes.len() as u64,
            Found::Stream(result) => result.meta.size,
        };
        let range = request
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok())
            .filter(|_| {
                request
                    .get(header::IF_RANGE)
                    .is_none_or(|v| v.to_str().is_ok_and(|v| v == self.etag))
            });
        if let Some(range) = range {
            let ranges = http_range_header::parse_range_header(range)
                .and_then(|parsed| parsed.validate(size));
            match ranges.as_deref() {
                Ok([one]) => {
                    let (start, end) = (*one.start(), *one.end());
                    let part = match found {
                        Found::Whole(bytes) => Ok(bytes.slice(start as usize..end as usize + 1)),
                        Found::Stream(_) => app.storage.get_range(path, start..end + 1).await,
                    };
                    return match part {
                        Ok(bytes) => {
                            self.headers.insert(
                                header::CONTENT_RANGE,
                                HeaderValue::from_str(&format!("bytes {start}-{end}/{size}"))
                                    .expect("digits"),
                            );
                            (StatusCode::PARTIAL_CONTENT, self.headers, bytes).into_response()
                        }
                        Err(e) => store_failed(e),
                    };
                }
                Ok(_) => {}
                Err(_) => {
                    self.headers.insert(
                        header::CONTENT_RANGE,
                        HeaderValue::from_str(&format!("bytes */{size}")).expect("digits"),
                    );
                    self.headers.remove(header::CONTENT_TYPE);
                    return (StatusCode::RANGE_NOT_SATISFIABLE, self.headers).into_response();
                }
            }
        }
        self.headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(size));
        let body = match found {
            Found::Whole(bytes) => Body::from(bytes),
            Found::Stream(result) => {
                Body::from_stream(result.into_stream().map_err(std::io::Error::other))
            }
        };
        (StatusCode::OK, self.headers, body).into_response()
    }
}

/// Whether `If-None-Match` names this `etag` (or is `*`).
fn matches_etag(if_none_match: Option<&HeaderValue>, etag: &str) -> bool {
    let Some(value) = if_none_match.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    value.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "No such image.").into_response()
}

fn store_failed(error: object_store::Error) -> Response {
    tracing::error!(error = %error, "reading an image from the store failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        "The image store cannot be reached just now.",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_match_as_http_says() {
        let value = |s: &'static str| HeaderValue::from_static(s);
        assert!(matches_etag(Some(&value("\"a\"")), "\"a\""));
        assert!(matches_etag(Some(&value("\"b\", W/\"a\"")), "\"a\""));
        assert!(matches_etag(Some(&value("*")), "\"a\""));
        assert!(!matches_etag(Some(&value("\"b\"")), "\"a\""));
        assert!(!matches_etag(None, "\"a\""));
    }
}
