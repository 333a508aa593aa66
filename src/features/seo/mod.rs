//! What search engines read: `/robots.txt`, which keeps them out of the
//! pages only members use and names the sitemap, and the sitemap itself
//! (`/sitemap.xml`): the home page, the owner's pages, every visible post,
//! every author and every tag, with when each last changed. Past 50,000
//! addresses (the protocol's limit for one file) `/sitemap.xml` is an index
//! of parts, `/sitemap/N.xml`.

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
use crate::features::pages;
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
    let (addresses, total) = addresses(&app, 1).await?;
    if total <= PER_FILE {
        return shared(&app, urlset(addresses)).await;
    }
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
"#,
    );
    for n in 1..=(total + PER_FILE - 1) / PER_FILE {
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
    let (addresses, _) = addresses(&app, n).await?;
    if addresses.is_empty() {
        return Err(AppError::NotFound(Thing::Page));
    }
    shared(&app, urlset(addresses)).await
}

/// An address with when what is there last changed, if known.
type Address = (Url, Option<Timestamp>);

/// The addresses of file `n` (from 1) of the map, and how many the whole
/// map holds. The home page and the owner's pages come first, then the
/// posts' map, which is paged from the database.
async fn addresses(app: &App, n: i64) -> AppResult<(Vec<Address>, i64)> {
    let mut fixed = vec![home(app).await?];
    for (slug, changed) in pages::site_map(&app.db).await? {
        fixed.push((absolute(app, &path_segment(&slug))?, Some(changed)));
    }
    let fixed_count = fixed.len() as i64;
    let first = (n - 1)
        .checked_mul(PER_FILE)
        .ok_or(AppError::NotFound(Thing::Page))?;
    let mut addresses: Vec<Address> = fixed
        .into_iter()
        .skip(usize::try_from(first).unwrap_or(usize::MAX))
        .take(PER_FILE as usize)
        .collect();
    let offset = (first - fixed_count).max(0);
    let limit = PER_FILE - addresses.len() as i64;
    let (entries, posts_total) = posts::site_map(&app.db, offset, limit).await?;
    for (mapped, changed) in entries {
        let path = match mapped {
            Mapped::Post(slug) => format!("posts/{}", path_segment(&slug)),
            Mapped::Author(username) => format!("users/{}", path_segment(&username)),
            Mapped::Tag(tag) => format!("tags/{}", path_segment(&tag)),
        };
        addresses.push((absolute(app, &path)?, Some(changed)));
    }
    Ok((addresses, fixed_count + posts_total))
}

/// The home page's entry: it changes with the newest post.
async fn home(app: &App) -> AppResult<Address> {
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

fn urlset(addresses: Vec<Address>) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
"#,
    );
    for (loc, changed) in addresses {
        xml.push_str(&format!("  <url><loc>{}</loc>", escape(loc.as_str())));
        if let Some(changed) = changed {
            xml.push_str(&format!("<lastmod>{}</lastmod>", changed.rfc3339()));
        }
        xml.push_str("</url>\n");
    }
    xml.push_str("</urlset>\n");
    xml
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
