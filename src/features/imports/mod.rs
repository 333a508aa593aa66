//! Posts and pages from another blog: `quire import --from markdown PATH`
//! (a Jekyll or Hugo site's folder; [`markdown`]).
//!
//! A source is read into [`Item`]s first, then each is written as the
//! editor would write it (checked, rendered), with the dates and the slug
//! it had, by the importing author, its images uploaded from the source's
//! files. Which item of which source each post or page is, is remembered
//! (`imported`), so importing the same source again updates them rather
//! than adding copies; the addresses they had there are remembered too
//! (`redirects`) and answered with a permanent redirect ([`web`]). What
//! could not be imported is reported with why, and the rest goes in.

pub mod markdown;
pub mod web;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Context;
use bytes::Bytes;

use crate::app::App;
use crate::db::{Timestamp, query};
use crate::error::AppError;
use crate::features::accounts::User;
use crate::features::posts::import::{self as post_import, Imported};
use crate::features::{media, pages};

/// What a source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A folder of Markdown files with front matter (Jekyll, Hugo).
    Markdown,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Markdown => "markdown",
        }
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "markdown" | "jekyll" | "hugo" => Ok(Format::Markdown),
            other => Err(format!(
                "{other:?} is not a format Quire imports from: markdown (a Jekyll or Hugo site's folder)"
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
}

/// An item, or a file, passed over, and why.
#[derive(Debug)]
pub struct Skipped {
    pub source_id: String,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct Report {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub skipped: Vec<Skipped>,
    pub images: usize,
    pub redirects: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} added, {} updated, {} skipped; {} images, {} old addresses redirected",
            self.added.len(),
            self.updated.len(),
            self.skipped.len(),
            self.images,
            self.redirects
        )?;
        for skipped in &self.skipped {
            writeln!(f, "skipped {}: {}", skipped.source_id, skipped.reason)?;
        }
        Ok(())
    }
}

/// Imports everything in the source at `path`, as written by `author`.
/// An error is returned only when nothing could be read, or the database
/// failed; an item that cannot be imported is skipped and reported.
pub async fn import(
    app: &App,
    format: Format,
    path: &Path,
    author: &User,
) -> anyhow::Result<Report> {
    // Which source this is: the format and the folder's own path, so that
    // two sites with the same file names stay apart.
    let root = path
        .canonicalize()
        .with_context(|| format!("{}: no such file or folder", path.display()))?;
    let source = format!("{}:{}", format.name(), root.display());
    let (items, skipped) = match format {
        Format::Markdown => tokio::task::spawn_blocking(move || markdown::read(&root)).await??,
    };
    let mut report = Report {
        skipped,
        ..Report::default()
    };
    for item in items {
        match import_item(app, &source, author, &item, &mut report).await {
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
    Ok(match known {
        Some(_) => Outcome::Updated(address),
        None => Outcome::Added(address),
    })
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
