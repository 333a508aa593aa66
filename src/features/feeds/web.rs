//! The feeds' addresses: `/feed.xml`, `/atom.xml` and `/feed.json` for the
//! site, the same below `/users/NAME/` and `/tags/TAG/`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{Format, Scope};
use crate::app::App;
use crate::error::AppResult;
use crate::features::posts;

pub fn routes() -> Router<App> {
    let mut routes = Router::new();
    for format in Format::ALL {
        let file = format.file_name();
        routes = routes
            .route(
                &format!("/{file}"),
                get(move |State(app): State<App>| async move {
                    respond(&app, Scope::Site, format).await
                }),
            )
            .route(
                &format!("/users/{{username}}/{file}"),
                get(
                    move |State(app): State<App>, Path(username): Path<String>| async move {
                        respond(&app, Scope::Author(username), format).await
                    },
                ),
            )
            .route(
                &format!("/tags/{{tag}}/{file}"),
                get(
                    move |State(app): State<App>, Path(tag): Path<String>| async move {
                        respond(&app, Scope::Tag(tag), format).await
                    },
                ),
            );
    }
    routes
}

/// A feed, the same for every reader: kept by the page cache, which
/// answers `If-None-Match` and `If-Modified-Since` with 304.
async fn respond(app: &App, scope: Scope, format: Format) -> AppResult<Response> {
    let feed = super::build(app, &scope, format).await?;
    let modified = httpdate::fmt_http_date(feed.updated.as_datetime().into());
    let mut response = (
        [
            (
                header::CONTENT_TYPE,
                format!("{}; charset=utf-8", format.media_type()),
            ),
            (header::LAST_MODIFIED, modified),
        ],
        feed.render(format),
    )
        .into_response();
    response
        .extensions_mut()
        .insert(posts::shared_listing(&app.db).await?);
    Ok(response)
}
