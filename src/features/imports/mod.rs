//! Posts and pages from another blog: `quire import --from markdown PATH`
//! (a Jekyll or Hugo site's folder; [`markdown`]) or `--from wordpress
//! FILE` (a WordPress export, with its comments; [`wordpress`]) or
//! `--from ghost FILE` (a Ghost export; [`ghost`]).
//!
//! A source is read into [`Item`]s first, then each is written as the
//! editor would write it (checked, rendered), with the dates and the slug
//! it had, by the importing author, its images uploaded from the source's
//! files. Which item of which source each post or page is, is remembered
//! (`imported`), so importing the same source again updates them rather
//! than adding copies; the addresses they had there are remembered too
//! (`redirects`) and answered with a permanent redirect ([`web`]). What
//! could not be imported is reported with why, and the rest goes in.

pub mod admin;
pub mod ghost;
pub mod html;
pub mod markdown;
pub mod runs;
pub mod web;
pub mod wordpress;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Context;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::db::{Timestamp, query};
use crate::error::AppError;
use crate::features::accounts::{self, User};
use crate::features::posts::import::{self as post_import, Imported};
use crate::features::{comments, media, pages};

/// What a source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A folder of Markdown files with front matter (Jekyll, Hugo).
    Markdown,
    /// WordPress's export file (WXR).
    WordPress,
    /// Ghost's export file (JSON).
    Ghost,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Markdown => "markdown",
            Format::WordPress => "wordpress",
            Format::Ghost => "ghost",
        }
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "markdown" | "jekyll" | "hugo" => Ok(Format::Markdown),
            "wordpress" | "wxr" => Ok(Format::WordPress),
            "ghost" => Ok(Format::Ghost),
            other => Err(format!(
                "{other:?} is not a format Quire imports from: markdown (a Jekyll or Hugo \
                 site's folder), wordpress or ghost (their export files)"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    Post { draft: bool },
    Page,
}

/// A post or a page as the source had it.
#[derive(Debug)]
pub struct Item {
    /// What names it in its source, for ever (a file's path in the folder).
    pub source_id: String,
    pub kind: ItemKind,
    pub title: String,
    pub slug: String,
    pub description: String,
    /// Markdown.
    pub body: String,
    pub published_at: Option<Timestamp>,
    pub created_at: Option<Timestamp>,
    pub tags: Vec<String>,
    /// Where it was (`/2019/05/12/my-post.html`).
    pub old_paths: Vec<String>,
    /// The images it shows from the source's files: as written, and the
    /// file (`None`: not in the source).
    pub images: Vec<(String, Option<PathBuf>)>,
    /// A post's comments, each after the one it answers.
    pub comments: Vec<ItemComment>,
    /// Who wrote it there: their names and addresses, the first author
    /// first (an account here with one of them is theirs: [`Authors`]).
    pub authors: Vec<String>,
}

/// Whose posts and pages imported items become.
#[derive(Clone, Copy)]
pub enum Authors<'a> {
    /// Every item is this account's (`--author`).
    All(&'a User),
    /// Each item is the account's here that has the name or the address
    /// its author had there, if there is one; the others are this one's.
    Matched(&'a User),
}

impl Authors<'_> {
    /// The account `item` becomes, looked up once per name.
    async fn of(
        self,
        app: &App,
        item: &Item,
        known: &mut HashMap<String, Option<User>>,
    ) -> Result<User, AppError> {
        let otherwise = match self {
            Authors::All(user) => return Ok(user.clone()),
            Authors::Matched(user) => user,
        };
        for name in &item.authors {
            if !known.contains_key(name) {
                let found = accounts::find_active_by_name_or_email(&app.db, name).await?;
                known.insert(name.clone(), found);
            }
            if let Some(Some(user)) = known.get(name) {
                return Ok(user.clone());
            }
        }
        Ok(otherwise.clone())
    }
}

/// A comment on a post, by a guest of the old blog.
#[derive(Debug)]
pub struct ItemComment {
    /// What names it in its source, among the post's comments.
    pub source_id: String,
    /// The comment it answers.
    pub parent: Option<String>,
    pub name: String,
    /// The address the guest gave.
    pub url: Option<String>,
    /// Markdown.
    pub body: String,
    pub created_at: Option<Timestamp>,
}

/// The images `body` shows from its source, once each: as written, with
/// the file. `resolve` says whether an address is the source's (`None`:
/// an image elsewhere on the web, left as it is) and which file it is
/// (`Some(None)`: the source's, but not there).
pub(crate) fn images_of(
    body: &str,
    resolve: impl Fn(&str) -> Option<Option<PathBuf>>,
) -> Vec<(String, Option<PathBuf>)> {
    let mut found: Vec<(String, Option<PathBuf>)> = Vec::new();
    for reference in markdown::image_references(body) {
        if found.iter().any(|(r, _)| *r == reference) {
            continue;
        }
        if let Some(file) = resolve(&reference) {
            found.push((reference, file));
        }
    }
    found
}

/// The first of `names` that is a folder beside `file`, made absolute.
fn folder_beside(file: &Path, names: &[&str]) -> Option<PathBuf> {
    let dir = file.parent()?;
    names
        .iter()
        .map(|name| dir.join(name))
        .find(|d| d.is_dir())
        .and_then(|d| d.canonicalize().ok())
}

/// Whether `path` is a file inside the folder `root` (absolute), whatever
/// `..` or links it goes through: a source's text never reaches further.
fn is_file_inside(path: &Path, root: &Path) -> bool {
    path.is_file() && path.canonicalize().is_ok_and(|real| real.starts_with(root))
}

/// Orders comments so that each comes after the one it answers (and
/// otherwise by time), as they must be written.
pub fn parents_first(comments: &mut Vec<ItemComment>) {
    comments.sort_by_key(|c| c.created_at);
    let mut ordered: Vec<ItemComment> = Vec::with_capacity(comments.len());
    let mut waiting = std::mem::take(comments);
    while !waiting.is_empty() {
        let before = waiting.len();
        let (ready, later): (Vec<_>, Vec<_>) = waiting.into_iter().partition(|c| {
            c.parent
                .as_ref()
                .is_none_or(|p| ordered.iter().any(|o| &o.source_id == p))
        });
        ordered.extend(ready);
        waiting = later;
        if waiting.len() == before {
            // Answers to nothing imported (or a loop): on their own.
            for mut comment in waiting.drain(..) {
                comment.parent = None;
                ordered.push(comment);
            }
        }
    }
    *comments = ordered;
}

/// An item, or a file, passed over, and why.
#[derive(Debug, Serialize, Deserialize)]
pub struct Skipped {
    pub source_id: String,
    pub reason: String,
}

impl Skipped {
    /// An item that is neither a post nor a published page: why, for the
    /// report. `kind` and `state` are the source's own words.
    fn not_imported(source_id: String, kind: &str, state: &str) -> Self {
        let reason = if kind == "page" {
            format!("a page in the {state} state (pages here are published)")
        } else {
            format!("a {kind}, not a post or a page")
        };
        Self { source_id, reason }
    }
}

/// What an import did.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Report {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub skipped: Vec<Skipped>,
    pub images: usize,
    pub comments: usize,
    pub redirects: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} added, {} updated, {} skipped; {} comments, {} images, {} old addresses redirected",
            self.added.len(),
            self.updated.len(),
            self.skipped.len(),
            self.comments,
            self.images,
            self.redirects
        )?;
        for skipped in &self.skipped {
            writeln!(f, "skipped {}: {}", skipped.source_id, skipped.reason)?;
        }
        Ok(())
    }
}

/// Imports everything in the source at `path`, as written by `authors`.
/// An error is returned only when nothing could be read, or the database
/// failed; an item that cannot be imported is skipped and reported.
pub async fn import(
    app: &App,
    format: Format,
    path: &Path,
    authors: Authors<'_>,
) -> anyhow::Result<Report> {
    import_as(app, format, path, authors, None, None).await
}

/// [`import`], the source named `name` rather than by where it is (an
/// upload is read from a new folder each time), and its progress written
/// to the run `run` (`runs`).
async fn import_as(
    app: &App,
    format: Format,
    path: &Path,
    authors: Authors<'_>,
    name: Option<String>,
    run: Option<i64>,
) -> anyhow::Result<Report> {
    let root = path
        .canonicalize()
        .with_context(|| format!("{}: no such file or folder", path.display()))?;
    // Which source this is, so that importing it again updates: a folder
    // by its own path (two sites with the same file names stay apart), a
    // WordPress site by its address (a newer export of it is the same).
    let (read_name, items, skipped) = tokio::task::spawn_blocking(move || match format {
        Format::Markdown => markdown::read(&root)
            .map(|(items, skipped)| (root.display().to_string(), items, skipped)),
        Format::WordPress => wordpress::read(&root),
        Format::Ghost => ghost::read(&root),
    })
    .await??;
    let name = match (format, name) {
        (Format::Markdown, Some(name)) => name,
        _ => read_name,
    };
    let source = format!("{}:{name}", format.name());
    let mut report = Report {
        skipped,
        ..Report::default()
    };
    let total = items.len();
    let mut known = HashMap::new();
    for (done, item) in items.into_iter().enumerate() {
        if let Some(run) = run {
            runs::progress(&app.db, run, done, total).await?;
        }
        let author = authors.of(app, &item, &mut known).await?;
        match import_item(app, &source, &author, &item, &mut report).await {
            Ok(Outcome::Added(at)) => report.added.push(format!("{} → {at}", item.source_id)),
            Ok(Outcome::Updated(at)) => report.updated.push(format!("{} → {at}", item.source_id)),
            // The database failing is not the item's fault: stop.
            Err(e @ (AppError::Internal(_) | AppError::Unavailable(..))) => {
                return Err(anyhow::Error::new(e).context(format!("importing {}", item.source_id)));
            }
            Err(e) => report.skipped.push(Skipped {
                source_id: item.source_id.clone(),
                reason: e.public_message(),
            }),
        }
    }
    Ok(report)
}

enum Outcome {
    /// Where it is now.
    Added(String),
    Updated(String),
}

async fn import_item(
    app: &App,
    source: &str,
    author: &User,
    item: &Item,
    report: &mut Report,
) -> Result<Outcome, AppError> {
    let known: Option<(Option<i64>, Option<i64>)> =
        query("SELECT post_id, page_id FROM imported WHERE source = $1 AND source_id = $2")
            .bind(source)
            .bind(&item.source_id)
            .fetch_optional(&app.db)
            .await?;
    let body = with_images(app, author, item, report).await?;

    let (post_id, page_id, address) = match item.kind {
        ItemKind::Post { .. } => {
            let post = Imported {
                title: item.title.clone(),
                description: item.description.clone(),
                body,
                tags: item.tags.clone(),
                slug: item.slug.clone(),
                published_at: item.published_at,
                created_at: item.created_at,
            };
            let existing = known.and_then(|(post, _)| post);
            let (id, slug) = post_import::write(app, author, &post, existing).await?;
            (Some(id), None, format!("/posts/{slug}"))
        }
        ItemKind::Page => {
            let fields = pages::PageFields {
                title: item.title.clone(),
                slug: item.slug.clone(),
                body,
            };
            let input = pages::PageInput::parse(app, &fields).await?;
            let page = match known.and_then(|(_, page)| page) {
                Some(id) => {
                    let page = pages::find_for_edit(&app.db, author, id).await?;
                    pages::update(app, author, &page, &input).await?
                }
                None => pages::create(app, author, &input).await?,
            };
            (None, Some(page.id), format!("/{}", page.slug))
        }
    };

    let now = Timestamp::now();
    query(
        "INSERT INTO imported (source, source_id, post_id, page_id, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (source, source_id) DO UPDATE SET post_id = excluded.post_id,
             page_id = excluded.page_id, updated_at = excluded.updated_at",
    )
    .bind(source)
    .bind(&item.source_id)
    .bind(post_id)
    .bind(page_id)
    .bind(now)
    .execute(&app.db)
    .await?;
    for old in &item.old_paths {
        let old = web::normalized(old);
        if old == address || old.is_empty() {
            continue;
        }
        query(
            "INSERT INTO redirects (path, post_id, page_id, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (path) DO UPDATE SET post_id = excluded.post_id, page_id = excluded.page_id",
        )
        .bind(&old)
        .bind(post_id)
        .bind(page_id)
        .bind(now)
        .execute(&app.db)
        .await?;
        report.redirects += 1;
    }
    if let Some(post_id) = post_id {
        import_comments(app, source, post_id, item, report).await?;
    }
    Ok(match known {
        Some(_) => Outcome::Updated(address),
        None => Outcome::Added(address),
    })
}

/// The post's comments, each written over the one imported before from
/// the same comment of the source. One that would not be accepted here (a
/// body too long) is skipped, and its answers stand on their own.
async fn import_comments(
    app: &App,
    source: &str,
    post_id: i64,
    item: &Item,
    report: &mut Report,
) -> Result<(), AppError> {
    let mut written: HashMap<&str, i64> = HashMap::new();
    for comment in &item.comments {
        let source_id = format!("{}#{}", item.source_id, comment.source_id);
        let existing: Option<i64> =
            query("SELECT comment_id FROM imported_comments WHERE source = $1 AND source_id = $2")
                .bind(source)
                .bind(&source_id)
                .scalar_optional(&app.db)
                .await?;
        let guest = comments::GuestComment {
            name: comment.name.clone(),
            url: comment.url.clone(),
            body: comment.body.clone(),
            created_at: comment
                .created_at
                .or(item.published_at)
                .unwrap_or_else(Timestamp::now),
            parent_id: comment
                .parent
                .as_deref()
                .and_then(|parent| written.get(parent).copied()),
            image: None,
        };
        match comments::write_guest(app, post_id, &guest, existing).await {
            Ok(id) => {
                query(
                    "INSERT INTO imported_comments (source, source_id, comment_id) VALUES ($1, $2, $3)
                     ON CONFLICT (source, source_id) DO UPDATE SET comment_id = excluded.comment_id",
                )
                .bind(source)
                .bind(&source_id)
                .bind(id)
                .execute(&app.db)
                .await?;
                written.insert(&comment.source_id, id);
                report.comments += 1;
            }
            Err(e @ (AppError::Internal(_) | AppError::Unavailable(..))) => return Err(e),
            Err(e) => report.skipped.push(Skipped {
                source_id,
                reason: e.public_message(),
            }),
        }
    }
    Ok(())
}

/// The item's text with each image it shows from the source's files
/// uploaded (once: the store is content-addressed) and its address
/// replaced. An image that cannot be taken (a format the site does not
/// store) is left as it was, and reported.
async fn with_images(
    app: &App,
    author: &User,
    item: &Item,
    report: &mut Report,
) -> Result<String, AppError> {
    let mut body = item.body.clone();
    for (reference, file) in &item.images {
        let Some(file) = file else {
            report.skipped.push(Skipped {
                source_id: format!("{} (image {reference})", item.source_id),
                reason: "no such file in the source".into(),
            });
            continue;
        };
        let bytes = match tokio::fs::read(file).await {
            Ok(bytes) => Bytes::from(bytes),
            Err(e) => {
                report.skipped.push(Skipped {
                    source_id: format!("{} (image {reference})", item.source_id),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        match media::upload(app, author.id, name.as_deref(), bytes).await {
            Ok(upload) => {
                for (before, after) in [("](", "]("), ("src=\"", "src=\""), ("src='", "src='")] {
                    body = body.replace(
                        &format!("{before}{reference}"),
                        &format!("{after}{}", upload.url),
                    );
                }
                report.images += 1;
            }
            Err(e @ (AppError::Internal(_) | AppError::Unavailable(..))) => return Err(e),
            Err(e) => report.skipped.push(Skipped {
                source_id: format!("{} (image {reference})", item.source_id),
                reason: e.public_message(),
            }),
        }
    }
    Ok(body)
}
