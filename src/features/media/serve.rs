//! `/media/NAME` and `/media/NAME/WIDTH.webp`: images from the store, for
//! a year in every cache (a name is the hash of the bytes, so what it
//! names never changes), with `ETag`, `304` and byte ranges.
//!
//! Only names [`MediaName::parse`] accepts reach the store, and the
//! content type comes from the name's format, which the upload checked
//! from the bytes: nothing is ever served as HTML or SVG.

use axum::Router;
use axum::body::Body;
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
    let etag = format!("\"{}\"", name.as_str());
    serve(
        &app,
        &headers,
        &name.original(),
        name.format(),
        &etag,
        FOREVER,
    )
    .await
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
    let etag = format!("\"{}-{width}\"", name.as_str());
    let path = name.variant(width);
    match app.storage.head(&path).await {
        Ok(_) => serve(&app, &headers, &path, picture::Format::Webp, &etag, FOREVER).await,
        Err(object_store::Error::NotFound { .. }) => {
            let etag = format!("\"{}\"", name.as_str());
            serve(
                &app,
                &headers,
                &name.original(),
                name.format(),
                &etag,
                UNTIL_THE_COPY_IS_MADE,
            )
            .await
        }
        Err(e) => store_failed(e),
    }
}

async fn serve(
    app: &App,
    headers: &HeaderMap,
    path: &StorePath,
    format: picture::Format,
    etag: &str,
    cache: &'static str,
) -> Response {
    let mut response_headers = HeaderMap::new();
    response_headers.insert(
        header::ETAG,
        HeaderValue::from_str(etag).expect("hex and quotes"),
    );
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    response_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    response_headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Opened on its own, an image still runs nothing.
    response_headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );

    if matches_etag(headers.get(header::IF_NONE_MATCH), etag) {
        response_headers.remove(header::CONTENT_TYPE);
        return (StatusCode::NOT_MODIFIED, response_headers).into_response();
    }

    // A range only applies to the same bytes (If-Range), and only one:
    // several are answered with the whole image, as HTTP allows.
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| {
            headers
                .get(header::IF_RANGE)
                .is_none_or(|v| v.to_str().is_ok_and(|v| v == etag))
        });
    if let Some(range) = range {
        let size = match app.storage.head(path).await {
            Ok(meta) => meta.size,
            Err(object_store::Error::NotFound { .. }) => return not_found(),
            Err(e) => return store_failed(e),
        };
        let ranges =
            http_range_header::parse_range_header(range).and_then(|parsed| parsed.validate(size));
        match ranges.as_deref() {
            Ok([one]) => {
                let (start, end) = (*one.start(), *one.end());
                return match app.storage.get_range(path, start..end + 1).await {
                    Ok(bytes) => {
                        response_headers.insert(
                            header::CONTENT_RANGE,
                            HeaderValue::from_str(&format!("bytes {start}-{end}/{size}"))
                                .expect("digits"),
                        );
                        (StatusCode::PARTIAL_CONTENT, response_headers, bytes).into_response()
                    }
                    Err(e) => store_failed(e),
                };
            }
            Ok(_) => {}
            Err(_) => {
                response_headers.insert(
                    header::CONTENT_RANGE,
                    HeaderValue::from_str(&format!("bytes */{size}")).expect("digits"),
                );
                response_headers.remove(header::CONTENT_TYPE);
                return (StatusCode::RANGE_NOT_SATISFIABLE, response_headers).into_response();
            }
        }
    }

    match app.storage.get(path).await {
        Ok(found) => {
            response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(found.meta.size));
            let body = Body::from_stream(found.into_stream().map_err(std::io::Error::other));
            (StatusCode::OK, response_headers, body).into_response()
        }
        Err(object_store::Error::NotFound { .. }) => not_found(),
        Err(e) => store_failed(e),
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
