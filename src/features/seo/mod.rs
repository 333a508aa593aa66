//! What search engines read: `/robots.txt`, which keeps them out of the
//! pages only members use and names the sitemap, and the sitemap itself
//! (`/sitemap.xml`): the home page, every visible post, every author and
//! every tag, with when each last changed. Past 50,000 addresses (the
//! protocol's limit for one file) `/sitemap.xml` is an index of parts,
//! `/sitemap/N.xml`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use quick_xml::escape::escape;
use url::Url;

use crate::app::App;
use crate::db::Timestamp;
use crate::error::{AppError, AppResult, Thing};
use crate::features::posts::{self, Mapped};
use crate::templates::path_segment;

/// The most addresses one sitemap file may hold (sitemaps.org).
const PER_FILE: i64 = 50_000;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/robots.txt", get(robots))
        .route("/sitemap.xml", get(sitemap))
        .route("/sitemap/{file}", get(part))
}

/// Pages for members only, and forms, are of no use in search results.
async fn robots(State(app): State<App>) -> AppResult<Response> {
    let sitemap = absolute(&app, "sitemap.xml")?;
    let body = format!(
        "User-agent: *\n\
         Disallow: /editor\n\
         Disallow: /drafts\n\
         Disallow: /settings\n\
         Disallow: /stats\n\
         Disallow: /admin/\n\
         Disallow: /preview\n\
         Disallow: /api/\n\
         \n\
         Sitemap: {sitemap}\n"
    );
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response())
}

/// The whole map, or past one file's worth, the index of its parts.
async fn sitemap(State(app): State<App>) -> AppResult<Response> {
    let (entries, total) = posts::site_map(&app.db, 0, PER_FILE - 1).await?;
    // The home page is the first address of the first file.
    if total < PER_FILE {
        let xml = urlset(&app, Some(home(&app).await?), entries)?;
        return shared(&app, xml).await;
    }
    let parts = (total + PER_FILE) / PER_FILE;
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
"#,
    );
    for n in 1..=parts {
        let loc = absolute(&app, &format!("sitemap/{n}.xml"))?;
        xml.push_str(&format!(
            "  <sitemap><loc>{}</loc></sitemap>\n",
            escape(loc.as_str())
        ));
    }
    xml.push_str("</sitemapindex>\n");
    shared(&app, xml).await
}

/// Part `N.xml` of a map too large for one file.
async fn part(State(app): State<App>, Path(file): Path<String>) -> AppResult<Response> {
    let n: i64 = file
        .strip_suffix(".xml")
        .and_then(|n| n.parse().ok())
        .filter(|n| *n >= 1)
        .ok_or(AppError::NotFound(Thing::Page))?;
    // The first part starts with the home page: the posts' map is one
    // address behind.
    let (first, home) = match n {
        1 => (0, Some(home(&app).await?)),
        _ => ((n - 1) * PER_FILE - 1, None),
    };
    let limit = PER_FILE - i64::from(home.is_some());
    let (entries, _) = posts::site_map(&app.db, first, limit).await?;
    if entries.is_empty() && n > 1 {
        return Err(AppError::NotFound(Thing::Page));
    }
    let xml = urlset(&app, home, entries)?;
    shared(&app, xml).await
}

/// The home page's entry: it changes with the newest post.
async fn home(app: &App) -> AppResult<(Url, Option<Timestamp>)> {
    let (newest, _) = posts::list(
        &app.db,
        None,
        &posts::Listing {
            owner_only: true,
            ..posts::Listing::default()
        },
        0,
        1,
    )
    .await?;
    let changed = newest.first().and_then(|p| p.published_at);
    Ok((absolute(app, "")?, changed))
}

fn urlset(
    app: &App,
    home: Option<(Url, Option<Timestamp>)>,
    entries: Vec<(Mapped, Timestamp)>,
) -> AppResult<String> {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
"#,
    );
    let mut add = |loc: &Url, changed: Option<Timestamp>| {
        xml.push_str(&format!("  <url><loc>{}</loc>", escape(loc.as_str())));
        if let Some(changed) = changed {
            xml.push_str(&format!("<lastmod>{}</lastmod>", changed.rfc3339()));
        }
        xml.push_str("</url>\n");
    };
    if let Some((loc, changed)) = home {
        add(&loc, changed);
    }
    for (mapped, changed) in entries {
        let path = match mapped {
            Mapped::Post(slug) => format!("posts/{}", path_segment(&slug)),
            Mapped::Author(username) => format!("users/{}", path_segment(&username)),
            Mapped::Tag(tag) => format!("tags/{}", path_segment(&tag)),
        };
        add(&absolute(app, &path)?, Some(changed));
    }
    xml.push_str("</urlset>\n");
    Ok(xml)
}

/// A map, the same for every reader until a post goes live: kept by the
/// page cache like the listings it follows.
async fn shared(app: &App, xml: String) -> AppResult<Response> {
    let mut response = (
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        xml,
    )
        .into_response();
    response
        .extensions_mut()
        .insert(posts::shared_listing(&app.db).await?);
    Ok(response)
}

/// An address of the site, from its public root.
fn absolute(app: &App, path: &str) -> AppResult<Url> {
    app.settings
        .http
        .absolute(path)
        .map_err(|e| AppError::Internal(e.into()))
}
