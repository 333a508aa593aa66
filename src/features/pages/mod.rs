//! Standalone pages: About, Now, Contact… Administrators write them in
//! Markdown and put them in an order; every page's header links them in
//! that order ([`nav`]), and each is at `/{slug}`, among the site's own
//! addresses ([`RESERVED`] keeps them apart).

pub mod web;

use std::sync::Arc;

use serde::Serialize;
use sqlx::FromRow;

use crate::app::App;
use crate::db::{self, Db, Timestamp, query};
use crate::error::{AppError, AppResult, FieldErrors, Problem, Thing};
use crate::features::accounts::User;
use crate::features::media;
use crate::features::posts::{self, slug};
use crate::http::nav::{Nav, NavLink};
use crate::markdown::{self, StoredIn};
use crate::page_cache::Shared;
use crate::templates::path_segment;

/// The first segments of the site's own addresses (`assembly::router`):
/// a page there would never be reached, as the router prefers its fixed
/// routes to `/{slug}`. Those with a dot cannot be slugs anyway; they are
/// here so that the owner is told why. A test checks the list against the
/// routes in the source.
pub const RESERVED: &[&str] = &[
    ".well-known",
    "admin",
    "ap",
    "api",
    "atom.xml",
    "drafts",
    "editor",
    "favicon.ico",
    "feed.json",
    "feed.xml",
    "healthz",
    "login",
    "logout",
    "media",
    "moderation",
    "newsletter",
    "nodeinfo",
    "p",
    "password",
    "posts",
    "preview",
    "readyz",
    "register",
    "robots.txt",
    "search",
    "settings",
    "sitemap",
    "sitemap.xml",
    "static",
    "stats",
    "tags",
    "unsubscribe",
    "users",
];

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Page {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub body: String,
    /// The body rendered when it was written; see [`find`].
    #[serde(skip)]
    pub body_html: Option<String>,
    #[serde(skip)]
    pub body_html_version: i32,
    /// Its place in the navigation: lower first, ties by id.
    pub position: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

const SELECT_PAGES: &str = "SELECT id, slug, title, body, body_html, body_html_version, position,
    created_at, updated_at FROM pages";

/// What a page's form holds, before parsing.
#[derive(Debug, Default, Clone)]
pub struct PageFields {
    pub title: String,
    /// Empty for the one the title makes.
    pub slug: String,
    pub body: String,
}

/// A page's content, validated, with its body rendered.
#[derive(Debug, Clone)]
pub struct PageInput {
    title: String,
    slug: String,
    body: String,
    body_html: String,
    /// What made `body_html` (`media::html_version`).
    body_html_version: i32,
}

impl PageInput {
    /// Checks every field (a page's title and body follow a post's rules)
    /// and renders the body.
    pub async fn parse(app: &App, fields: &PageFields) -> AppResult<Self> {
        let mut errors = FieldErrors::new();
        let title = errors.check("title", posts::parse_title(&fields.title));
        let slug = errors.check("slug", parse_slug(&fields.slug, &fields.title));
        let body_html = errors.check("body", posts::render_body(app, &fields.body).await?);
        let (true, Some(title), Some(slug), Some(body_html)) =
            (errors.is_empty(), title, slug, body_html)
        else {
            return Err(AppError::Validation(errors));
        };
        Ok(Self {
            title: title.to_owned(),
            slug,
            body: fields.body.clone(),
            body_html,
            body_html_version: media::html_version(&app.settings.media),
        })
    }
}

/// The address a page asks for, or without one, the address its title
/// makes: in the form of a post's slug, and none of the site's own.
fn parse_slug(given: &str, title: &str) -> Result<String, Problem> {
    let slug = match given.trim() {
        "" => slug::slugify(title),
        given => given.to_owned(),
    };
    if slug.chars().count() > slug::MAX {
        return Err(Problem::TooLong { max: slug::MAX });
    }
    if RESERVED.contains(&slug.to_lowercase().as_str()) {
        return Err(Problem::Refused(
            "is one of the site's own (such as /search or /login); choose another",
        ));
    }
    if slug::slugify(&slug) != slug {
        return Err(Problem::Format(
            "may hold only lower-case letters, digits and single hyphens, like about-me",
        ));
    }
    Ok(slug)
}

/// Pages are the site's, not an author's: administrators manage them.
fn may_manage(user: &User) -> AppResult<()> {
    if user.is_admin() {
        Ok(())
    } else {
        Err(AppError::Forbidden(Thing::Page))
    }
}

/// Every page, in the navigation's order.
pub async fn list(db: &Db) -> AppResult<Vec<Page>> {
    let sql = format!("{SELECT_PAGES} ORDER BY position, id");
    Ok(db::Query::assembled(sql).fetch_all(db).await?)
}

/// The page at `/{slug}`, with its HTML made current.
pub async fn find(app: &App, slug: &str) -> AppResult<Page> {
    let sql = format!("{SELECT_PAGES} WHERE slug = $1");
    let page: Option<Page> = db::Query::assembled(sql)
        .bind(slug)
        .fetch_optional(&app.db)
        .await?;
    let mut page = page.ok_or(AppError::NotFound(Thing::Page))?;
    markdown::keep_current(
        &app.db,
        StoredIn::Pages,
        page.id,
        &page.body,
        &mut page.body_html,
        &mut page.body_html_version,
        media::html_version(&app.settings.media),
        media::figures(app, &page.body),
    )
    .await?;
    Ok(page)
}

/// A page for `user` to change.
pub async fn find_for_edit(db: &Db, user: &User, id: i64) -> AppResult<Page> {
    may_manage(user)?;
    let sql = format!("{SELECT_PAGES} WHERE id = $1");
    let page: Option<Page> = db::Query::assembled(sql)
        .bind(id)
        .fetch_optional(db)
        .await?;
    page.ok_or(AppError::NotFound(Thing::Page))
}

/// A taken address is the form's problem; other failures are not.
fn slug_taken(error: sqlx::Error) -> AppError {
    match db::unique_violation(&error) {
        Some(db::Unique::PageSlug) => FieldErrors::single("slug", Problem::Taken).into(),
        _ => error.into(),
    }
}

/// Adds a page, last in the navigation.
pub async fn create(app: &App, user: &User, input: &PageInput) -> AppResult<Page> {
    may_manage(user)?;
    let now = Timestamp::now();
    let mut tx = app.db.begin().await?;
    // One writer of positions at a time, so each new page has its own.
    tx.lock_exclusive(&["pages"]).await?;
    let id: i64 = query(
        "INSERT INTO pages (slug, title, body, body_html, body_html_version, position,
                            created_at, updated_at)
         SELECT $1, $2, $3, $4, $5, COALESCE(MAX(position) + 1, 0), $6, $6 FROM pages
         RETURNING id",
    )
    .bind(&input.slug)
    .bind(&input.title)
    .bind(&input.body)
    .bind(&input.body_html)
    .bind(input.body_html_version)
    .bind(now)
    .scalar(&mut tx)
    .await
    .map_err(slug_taken)?;
    media::record_uses(&mut tx, media::Use::Page(id), &input.body).await?;
    tx.commit().await?;
    find_for_edit(&app.db, user, id).await
}

/// Replaces a page's content and address; its place stays.
pub async fn update(app: &App, user: &User, page: &Page, input: &PageInput) -> AppResult<Page> {
    may_manage(user)?;
    let mut tx = app.db.begin().await?;
    query(
        "UPDATE pages SET slug = $1, title = $2, body = $3, body_html = $4,
             body_html_version = $5, updated_at = $6
         WHERE id = $7",
    )
    .bind(&input.slug)
    .bind(&input.title)
    .bind(&input.body)
    .bind(&input.body_html)
    .bind(input.body_html_version)
    .bind(Timestamp::now())
    .bind(page.id)
    .execute(&mut tx)
    .await
    .map_err(slug_taken)?;
    media::record_uses(&mut tx, media::Use::Page(page.id), &input.body).await?;
    tx.commit().await?;
    find_for_edit(&app.db, user, page.id).await
}

/// Removes a page (its uses of images go with it).
pub async fn delete(db: &Db, user: &User, page: &Page) -> AppResult<()> {
    may_manage(user)?;
    query("DELETE FROM pages WHERE id = $1")
        .bind(page.id)
        .execute(db)
        .await?;
    Ok(())
}

/// Which way a page moves in the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Before the page before it.
    Up,
    /// After the page after it.
    Down,
}

/// Swaps a page with its neighbour in the navigation; the first page
/// going up, or the last going down, stays. Every page is numbered again
/// from 0 in the new order, so ties (from pages an older release added
/// at once) are gone after the first move.
pub async fn move_page(db: &Db, user: &User, page: &Page, direction: Direction) -> AppResult<()> {
    may_manage(user)?;
    let mut tx = db.begin().await?;
    tx.lock_exclusive(&["pages"]).await?;
    let mut order: Vec<i64> = query("SELECT id FROM pages ORDER BY position, id")
        .scalars(&mut tx)
        .await?;
    let at = order
        .iter()
        .position(|id| *id == page.id)
        .ok_or(AppError::NotFound(Thing::Page))?;
    let other = match direction {
        Direction::Up => at.checked_sub(1),
        Direction::Down => Some(at + 1).filter(|next| *next < order.len()),
    };
    let Some(other) = other else {
        return Ok(());
    };
    order.swap(at, other);
    for (position, id) in order.iter().enumerate() {
        query("UPDATE pages SET position = $1 WHERE id = $2 AND position <> $1")
            .bind(position as i64)
            .bind(*id)
            .execute(&mut tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The header's links, kept between changes like the pages that show them
/// (`page_cache::Shared`): every page rendered needs them, and they change
/// only when a page is written, which forgets them.
#[derive(Clone)]
pub struct NavCache(Arc<Shared<Nav>>);

impl Default for NavCache {
    fn default() -> Self {
        // One list, under one key.
        Self(Arc::new(Shared::new(1)))
    }
}

/// The pages as the header links them, in their order.
pub async fn nav(app: &App) -> AppResult<Nav> {
    const KEY: &str = "nav";
    let kept = &app.part::<NavCache>().0;
    if let Some(nav) = kept.get(&app.pages, KEY) {
        return Ok(nav);
    }
    let generation = app.pages.generation();
    let rows: Vec<(String, String)> = query("SELECT slug, title FROM pages ORDER BY position, id")
        .fetch_all(&app.db)
        .await?;
    let nav = Nav(rows
        .into_iter()
        .map(|(slug, title)| NavLink {
            href: format!("/{}", path_segment(&slug)),
            title,
        })
        .collect());
    kept.put(&app.pages, KEY.to_owned(), generation, nav.clone());
    Ok(nav)
}

/// What a sitemap lists of the pages: each slug, with when it last
/// changed, in the navigation's order.
pub async fn site_map(db: &Db) -> AppResult<Vec<(String, Timestamp)>> {
    Ok(
        query("SELECT slug, updated_at FROM pages ORDER BY position, id")
            .fetch_all(db)
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_given_or_made_from_the_title() {
        assert_eq!(parse_slug("", "About me!"), Ok("about-me".into()));
        assert_eq!(parse_slug("  now  ", "What I do"), Ok("now".into()));
        assert_eq!(parse_slug("", "Über uns"), Ok("über-uns".into()));
    }

    #[test]
    fn the_sites_own_addresses_and_other_forms_are_refused() {
        for reserved in RESERVED {
            assert!(matches!(
                parse_slug(reserved, "x"),
                Err(Problem::Refused(_))
            ));
        }
        assert!(matches!(parse_slug("", "Search"), Err(Problem::Refused(_))));
        assert!(matches!(
            parse_slug("Feed.XML", "x"),
            Err(Problem::Refused(_))
        ));
        for bad in ["About", "about me", "a--b", "-a", "a/b", "a.b", "%41"] {
            assert!(
                matches!(parse_slug(bad, "x"), Err(Problem::Format(_))),
                "{bad}"
            );
        }
        assert_eq!(
            parse_slug(&"a".repeat(61), "x"),
            Err(Problem::TooLong { max: 60 })
        );
    }
}
