//! The addresses imported posts and pages had on their old site
//! (`/2019/05/12/my-post.html`), answered with a permanent redirect to
//! where they are now. A layer that looks only at the requests the site
//! would answer 404, so an address in use is never taken over, and costs
//! a lookup only on those.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::app::App;
use crate::db::{Timestamp, query};
use crate::templates::path_segment;

pub async fn redirect_old_addresses(
    State(app): State<App>,
    request: Request,
    next: Next,
) -> Response {
    let readable = matches!(*request.method(), Method::GET | Method::HEAD);
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    if !readable || response.status() != StatusCode::NOT_FOUND {
        return response;
    }
    match moved_to(&app, &path).await {
        Ok(Some(to)) => Redirect::permanent(&to).into_response(),
        Ok(None) => response,
        Err(e) => {
            tracing::warn!(error = %e, path, "looking up an old address failed");
            response
        }
    }
}

/// An address as it is recorded and looked up: decoded, from the root.
pub fn normalized(path: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(path.trim())
        .decode_utf8_lossy()
        .into_owned();
    if decoded.starts_with('/') {
        decoded
    } else {
        format!("/{decoded}")
    }
}

/// Where the post or page that was at `path` is now: with or without a
/// final `/`, as old sites were not strict about it. Only to what anyone
/// may read: an imported draft's old address stays a 404.
async fn moved_to(app: &App, path: &str) -> Result<Option<String>, sqlx::Error> {
    let path = normalized(path);
    let other = match path.strip_suffix('/') {
        Some(without) if !without.is_empty() => without.to_owned(),
        _ => format!("{path}/"),
    };
    let found: Option<(Option<String>, Option<String>)> = query(
        "SELECT p.slug, g.slug FROM redirects r
         LEFT JOIN posts p ON p.id = r.post_id
              AND p.status = 'published' AND p.published_at <= $3
         LEFT JOIN pages g ON g.id = r.page_id
         WHERE r.path IN ($1, $2) AND (p.id IS NOT NULL OR g.id IS NOT NULL)
         ORDER BY CASE WHEN r.path = $1 THEN 0 ELSE 1 END LIMIT 1",
    )
    .bind(&path)
    .bind(other)
    .bind(Timestamp::now())
    .fetch_optional(&app.db)
    .await?;
    Ok(found.and_then(|(post, page)| match (post, page) {
        (Some(slug), _) => Some(format!("/posts/{}", path_segment(&slug))),
        (None, Some(slug)) => Some(format!("/{}", path_segment(&slug))),
        (None, None) => None,
    }))
}
