//! The stylesheet and script, compiled in and served with caching headers.
//! A theme folder's `static/` copy replaces a built-in file of the same name.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::App;
use crate::error::{AppError, Thing};

const FILES: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../static/style.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/app.js"),
    ),
    (
        "theme.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/theme.js"),
    ),
    // A theme folder's `static/favicon.svg` is the site's own icon.
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../static/favicon.svg"),
    ),
];

pub fn routes() -> Router<App> {
    Router::new()
        .route("/static/{name}", get(serve))
        // Browsers and crawlers ask for /favicon.ico whatever the page says.
        .route(
            "/favicon.ico",
            get(|| async { axum::response::Redirect::permanent("/static/favicon.svg") }),
        )
}

async fn serve(State(state): State<App>, Path(name): Path<String>) -> Result<Response, AppError> {
    let (_, content_type, built_in) = FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or(AppError::NotFound(Thing::Page))?;
    let themed = match &state.settings.site.theme_dir {
        Some(dir) => tokio::fs::read_to_string(dir.join("static").join(&name))
            .await
            .ok(),
        None => None,
    };
    let body = themed.unwrap_or_else(|| (*built_in).to_owned());
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // URLs carry the version (`?v=`), so a new release is a new URL.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        body,
    )
        .into_response())
}
