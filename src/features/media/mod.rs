//! Uploaded images: checked from their bytes, stripped of metadata, stored
//! in the site's object store under the hash of their bytes, made smaller
//! by a job, and served with long-lived caching.
//!
//! An image's [`MediaName`] is the SHA-256 of its stored bytes with its
//! format's extension, so nothing a user sends names anything in the
//! store, and the same image uploaded twice is one object. The store holds
//! `originals/NAME` and `variants/NAME/WIDTH.webp`; readers fetch
//! `/media/NAME` and `/media/NAME/WIDTH.webp`.

//!
//! Who uploaded what is in `uploads` (the media page, the quota); where an
//! image is used is in `media_uses`, written with the post, comment,
//! profile or page that uses it ([`record_uses`]). Housekeeping removes
//! uploads that nothing used for a day, and objects no one has uploaded or
//! uses.

pub mod api;
pub mod picture;
pub mod serve;
pub mod web;

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use axum::extract::multipart::{Field, Multipart, MultipartError};
use bytes::Bytes;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::app::App;
use crate::config::MediaSettings;
use crate::db::{self, Db, Query, Timestamp, Tx, query};
use crate::error::{AppError, AppResult, FieldErrors, FileProblem};
use crate::http::extract::{CsrfFormData, Part};
use crate::http::limit::RateLimit;
use crate::jobs::{self, Job};
use crate::markdown::{Figure, Figures};
use picture::Format;

/// An image's name: the SHA-256 of its bytes, in hex, and its extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaName {
    name: String,
    format: Format,
}

impl MediaName {
    fn of(bytes: &[u8], format: Format) -> Self {
        Self {
            name: format!("{:x}.{}", Sha256::digest(bytes), format.extension()),
            format,
        }
    }

    /// A name as it appears in an address: 64 lowercase hex digits, a dot
    /// and one of the accepted extensions; anything else is no image.
    pub fn parse(text: &str) -> Option<Self> {
        let (hash, extension) = text.split_once('.')?;
        let hex = hash.len() == 64
            && hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let format = Format::from_extension(extension)?;
        hex.then(|| Self {
            name: text.to_owned(),
            format,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }

    pub fn format(&self) -> Format {
        self.format
    }

    fn original(&self) -> StorePath {
        StorePath::from(format!("originals/{}", self.name))
    }

    fn variant(&self, width: u32) -> StorePath {
        StorePath::from(format!("variants/{}/{width}.webp", self.name))
    }

    /// Every name in a text (Markdown, a profile's image address), in
    /// order, once each, at most [`MAX_NAMES`].
    pub fn all_in(text: &str) -> Vec<Self> {
        let mut found: Vec<Self> = Vec::new();
        for (at, _) in text.match_indices("/media/") {
            let rest = &text[at + "/media/".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
                .unwrap_or(rest.len());
            if let Some(name) = Self::parse(&rest[..end])
                && !found.contains(&name)
            {
                found.push(name);
                if found.len() == MAX_NAMES {
                    break;
                }
            }
        }
        found
    }
}

/// The bytes of an uploaded image as it was uploaded (its metadata
/// removed), from the file store.
pub async fn original_bytes(app: &App, name: &MediaName) -> Result<Bytes, object_store::Error> {
    app.storage.get(&name.original()).await?.bytes().await
}

/// The most images one post, comment or profile can show as figures (with
/// sizes and smaller copies); more are plain images.
const MAX_NAMES: usize = 100;

/// An image's address on this site, as Markdown refers to it; its smaller
/// copies are below it.
fn address(name: &MediaName) -> String {
    format!("/media/{}", name.as_str())
}

/// Where readers fetch an image (its copies below it): this site's
/// [`address`], or the same path under the CDN of `QUIRE_MEDIA_BASE_URL`,
/// which fetches from this site and keeps what it answers.
fn served_at(settings: &MediaSettings, name: &MediaName) -> String {
    match &settings.base_url {
        Some(base) => format!("{}/{}", base.as_str().trim_end_matches('/'), name.as_str()),
        None => address(name),
    }
}

/// The version stored with the HTML of posts, comments and pages: HTML made
/// before the images moved to (or from) a CDN are made again.
pub fn html_version(settings: &MediaSettings) -> i32 {
    crate::markdown::version_for(settings.base_url.as_ref().map(url::Url::as_str))
}

/// Decoding and resizing take memory in proportion to pixels: at most this
/// much is taken at once by all of them in a process; more wait.
const MEMORY_BUDGET: u64 = 256 * 1024 * 1024;
const MIB: u64 = 1024 * 1024;

/// Runs pixel work on a blocking thread once the memory it needs is free.
async fn with_memory<T: Send + 'static>(
    width: u32,
    height: u32,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    static BUDGET: LazyLock<Arc<Semaphore>> =
        LazyLock::new(|| Arc::new(Semaphore::new((MEMORY_BUDGET / MIB) as usize)));
    let mib = picture::memory_needed(width, height)
        .div_ceil(MIB)
        .clamp(1, MEMORY_BUDGET / MIB) as u32;
    let permit = BUDGET
        .clone()
        .acquire_many_owned(mib)
        .await
        .expect("the budget is never closed");
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))
}

/// An uploaded image as the API and the editor describe it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Upload {
    /// The image's name: the SHA-256 of its bytes and its extension.
    pub key: String,
    /// Where readers fetch it; use it in Markdown as `![alt text](url)`.
    pub url: String,
    pub width: u32,
    pub height: u32,
    pub content_type: String,
    /// The smaller copies (WebP), made in the background; until one is
    /// made, its address serves the original.
    pub variants: Vec<Variant>,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Variant {
    pub width: u32,
    pub url: String,
}

impl Upload {
    fn new(name: &MediaName, width: u32, height: u32, bytes: u64) -> Self {
        let url = address(name);
        Self {
            key: name.as_str().to_owned(),
            variants: picture::widths_for(name.format(), width)
                .map(|w| Variant {
                    width: w,
                    url: format!("{url}/{w}.webp"),
                })
                .collect(),
            url,
            width,
            height,
            content_type: name.format().content_type().to_owned(),
            bytes,
        }
    }

    /// The Markdown the editor inserts: the alt text is for the author to
    /// write, and the editor selects it.
    pub fn markdown(&self) -> String {
        format!("![]({})", self.url)
    }
}

/// A file's name as sent, made safe to show its uploader: no folders, no
/// control or bidirectional-override characters, at most 200 characters.
/// It never reaches the store.
pub fn clean_file_name(sent: Option<&str>, format: Format) -> String {
    let cleaned = shown_file_name(sent.unwrap_or_default());
    if cleaned.is_empty() {
        format!("image.{}", format.extension())
    } else {
        cleaned
    }
}

/// [`clean_file_name`] before it knows the format: empty when nothing of
/// the name is left.
pub fn shown_file_name(sent: &str) -> String {
    let base = sent.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| {
            !c.is_control() && !matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .take(200)
        .collect();
    cleaned.trim().trim_start_matches('.').to_owned()
}

/// Each member's pace of uploads, a part of the `App`: each costs a
/// decode, and nobody should keep the cores busy with them.
#[derive(Clone)]
pub struct Uploads(Arc<RateLimit>);

impl Default for Uploads {
    fn default() -> Self {
        // Thirty at once (a folder of photos), then one every two seconds.
        Self(Arc::new(RateLimit::new(
            30,
            std::time::Duration::from_secs(2),
        )))
    }
}

/// Refuses an upload beyond the member's pace (429).
pub fn check_rate(app: &App, user_id: i64) -> AppResult<()> {
    app.part::<Uploads>().0.check(user_id)
}

/// The next part of a multipart body; a body over the limit is a file too
/// large.
pub async fn next_field<'m>(
    multipart: &'m mut Multipart,
    max_bytes: u64,
) -> AppResult<Option<Field<'m>>> {
    multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, max_bytes))
}

/// A file part's name as sent and its bytes, read until `max_bytes`.
pub async fn read_file(mut field: Field<'_>, max_bytes: u64) -> AppResult<(Option<String>, Bytes)> {
    let file_name = field.file_name().map(str::to_owned);
    let mut bytes = bytes::BytesMut::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| multipart_error(e, max_bytes))?
    {
        if (bytes.len() + chunk.len()) as u64 > max_bytes {
            return Err(AppError::File(FileProblem::TooLarge { max_bytes }));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((file_name, bytes.freeze()))
}

fn multipart_error(error: MultipartError, max_bytes: u64) -> AppError {
    if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        AppError::File(FileProblem::TooLarge { max_bytes })
    } else {
        AppError::BadRequest(error.body_text())
    }
}

/// How large a request carrying one upload may be: the file and the
/// multipart framing around it.
pub fn body_limit(settings: &MediaSettings) -> usize {
    (settings.upload_max_bytes + 64 * 1024) as usize
}

/// Files one of the site's forms may upload at once (several chosen in a
/// file input); more are passed over.
pub const FILES_PER_FORM: usize = 10;

/// How large a post of one of the site's forms with a file input may be:
/// its files, and the site's limit for its other fields.
pub fn form_body_limit(settings: &crate::config::Settings) -> usize {
    body_limit(&settings.media) * FILES_PER_FORM + settings.http.max_body_bytes
}

/// The images a form of the site uploads: its `file` parts, each taken as
/// [`upload`] takes it, until one is refused (the rest are passed over).
pub struct FormUploads {
    pub uploaded: Vec<Upload>,
    /// The file refused (its name as sent, made safe to show) and why: an
    /// [`AppError::File`] or [`AppError::RateLimited`].
    pub refused: Option<(String, AppError)>,
}

impl FormUploads {
    /// Reads the rest of `form`, taking its images for `user_id`; any error
    /// but a refused file's ends it.
    pub async fn take(app: &App, user_id: i64, form: &mut CsrfFormData) -> AppResult<Self> {
        let max = app.settings.media.upload_max_bytes;
        let mut taken = Self {
            uploaded: Vec::new(),
            refused: None,
        };
        while let Some(part) = form.next_part().await? {
            let Part::File(field) = part else { continue };
            // An empty file input still sends a part, with no name and no bytes.
            let name = field.file_name().unwrap_or_default();
            if field.name() != Some("file")
                || name.is_empty()
                || taken.refused.is_some()
                || taken.uploaded.len() == FILES_PER_FORM
            {
                continue;
            }
            let shown = shown_file_name(name);
            let result = async {
                check_rate(app, user_id)?;
                let (file_name, bytes) = read_file(*field, max).await?;
                upload(app, user_id, file_name.as_deref(), bytes).await
            }
            .await;
            match result {
                Ok(upload) => taken.uploaded.push(upload),
                Err(e @ (AppError::File(_) | AppError::RateLimited { .. })) => {
                    taken.refused = Some((shown, e));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(taken)
    }

    /// The images taken, and what to tell beside the file input: why a
    /// file was refused, or that none was chosen.
    pub fn settle(self) -> (Vec<Upload>, Option<(String, AppError)>) {
        let refused = match (self.refused, self.uploaded.is_empty()) {
            (Some(refused), _) => Some(refused),
            (None, true) => Some((String::new(), AppError::File(FileProblem::Missing))),
            (None, false) => None,
        };
        (self.uploaded, refused)
    }
}

/// The status of a form shown again after "Upload images", and the error
/// beside its file input (`file`) when a file was refused.
pub fn upload_outcome(
    refused: Option<(String, AppError)>,
) -> AppResult<(axum::http::StatusCode, Option<FieldErrors>)> {
    Ok(match refused {
        Some((name, e)) => (
            e.status(),
            Some(FieldErrors::single("file", e.upload_problem(name)?)),
        ),
        None => (axum::http::StatusCode::OK, None),
    })
}

/// Puts each uploaded image's Markdown at the end of `text`, a paragraph
/// of its own, for the writer to describe.
pub fn append_markdown(text: &mut String, uploads: &[Upload]) {
    for upload in uploads {
        if !text.is_empty() {
            let kept = text.trim_end_matches(['\r', '\n']);
            let line_ends = text[kept.len()..].matches('\n').count();
            for _ in line_ends..2 {
                text.push('\n');
            }
        }
        text.push_str(&upload.markdown());
        text.push('\n');
    }
}

/// The address a form with images is posted to: `?upload` from its
/// "Upload images" button. The button's name could not say it in the form,
/// whose buttons come after its files: the files would have to be kept
/// until then, to know whether to take them.
#[derive(Deserialize)]
pub struct UploadQuery {
    upload: Option<String>,
}

impl UploadQuery {
    pub fn wants_upload(&self) -> bool {
        self.upload.is_some()
    }
}

/// Takes an upload from `user_id`: checks it, stores it once, records it
/// for them and queues its smaller copies. `bytes` is the whole file, at
/// most `QUIRE_UPLOAD_MAX_BYTES` (the caller stops reading beyond).
pub async fn upload(
    app: &App,
    user_id: i64,
    file_name: Option<&str>,
    bytes: Bytes,
) -> AppResult<Upload> {
    let settings = &app.settings.media;
    let (name, prepared) = prepare(app, bytes).await?;
    let size = prepared.bytes.len() as u64;

    let used = used_bytes(&app.db, user_id, Some(&name)).await?;
    if used + size > settings.quota_bytes {
        return Err(AppError::File(FileProblem::OverQuota {
            used,
            quota: settings.quota_bytes,
        }));
    }

    let (width, height) = (prepared.width, prepared.height);
    let mut tx = store(app, &name, prepared).await?;
    query(
        "INSERT INTO uploads (user_id, name, file_name, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, name) DO NOTHING",
    )
    .bind(user_id)
    .bind(name.as_str())
    .bind(clean_file_name(file_name, name.format()))
    .bind(Timestamp::now())
    .execute(&mut tx)
    .await?;
    tx.commit().await?;
    metrics::counter!("quire_uploads_total").increment(1);
    Ok(Upload::new(&name, width, height, size))
}

/// Takes in an image from another server (a fediverse writer's avatar):
/// checked and made again as an upload is, so pages show only images of
/// this site, but no one's upload. Whatever shows it records its use
/// (`record_uses`) within a day, or housekeeping removes it. Returns its
/// address on this site (`/media/NAME`).
pub async fn adopt(app: &App, bytes: Bytes) -> AppResult<String> {
    let (name, prepared) = prepare(app, bytes).await?;
    store(app, &name, prepared).await?.commit().await?;
    Ok(address(&name))
}

/// Whether the image at a site address (`/media/NAME`) is still kept.
pub async fn is_kept(db: &Db, address: &str) -> AppResult<bool> {
    let Some(name) = MediaName::all_in(address).pop() else {
        return Ok(false);
    };
    let found: Option<String> = query("SELECT name FROM media WHERE name = $1")
        .bind(name.as_str())
        .scalar_optional(db)
        .await?;
    Ok(found.is_some())
}

/// An image checked and made again without what it should not carry
/// (`picture::prepare`), named by what it now is.
async fn prepare(app: &App, bytes: Bytes) -> AppResult<(MediaName, picture::Prepared)> {
    if bytes.is_empty() {
        return Err(AppError::File(FileProblem::Missing));
    }
    if bytes.len() as u64 > app.settings.media.upload_max_bytes {
        return Err(AppError::File(FileProblem::TooLarge {
            max_bytes: app.settings.media.upload_max_bytes,
        }));
    }
    // The header first: a bomb is refused before any memory is taken for it.
    let (_, width, height) = picture::dimensions(&bytes).map_err(AppError::File)?;
    let prepared = with_memory(width, height, move || picture::prepare(&bytes))
        .await
        .map_err(AppError::File)?;
    Ok((MediaName::of(&prepared.bytes, prepared.format), prepared))
}

/// Stores a prepared image once and records it in `media`, queueing its
/// smaller copies the first time; returns the open transaction, for the
/// caller's rows beside it.
async fn store(app: &App, name: &MediaName, prepared: picture::Prepared) -> AppResult<Tx> {
    let size = prepared.bytes.len() as u64;
    let (width, height) = (prepared.width, prepared.height);
    // The object first: a row never names an object that is not there.
    let path = name.original();
    if app.storage.head(&path).await.is_err() {
        app.storage
            .put(&path, Bytes::from(prepared.bytes).into())
            .await
            .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("storing an image")))?;
    }

    let mut tx = app.db.begin().await?;
    let new: Option<String> = query(
        "INSERT INTO media (name, content_type, bytes, width, height, created_at, touched_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (name) DO UPDATE SET touched_at = excluded.touched_at
         RETURNING variants",
    )
    .bind(name.as_str())
    .bind(name.format().content_type())
    .bind(size as i64)
    .bind(width as i64)
    .bind(height as i64)
    .bind(Timestamp::now())
    .scalar_optional(&mut tx)
    .await?;
    let wants_variants = picture::widths_for(name.format(), width).next().is_some();
    if wants_variants && new.is_some_and(|made| made.is_empty()) {
        jobs::enqueue(
            &mut tx,
            &MakeVariants {
                name: name.as_str().to_owned(),
            }
            .now()
            .dedup(format!("variants:{}", name.as_str())),
        )
        .await?;
    }
    Ok(tx)
}

/// Makes an uploaded image `user_id`'s profile picture: its 480-pixel
/// copy when it is wider (the original until the copy is made), at the
/// site's public address, as API clients expect a URL. Returns the address.
pub async fn set_avatar(app: &App, user_id: i64, upload: &Upload) -> AppResult<String> {
    let settings = &app.settings.media;
    let name = MediaName::parse(&upload.key).expect("an upload's key is a media name");
    let smallest = upload.variants.first().map(|v| v.width);
    let path = served_at(settings, &name);
    let path = match smallest {
        Some(width) => format!("{path}/{width}.webp"),
        None => path,
    };
    // Absolute: API clients show it from wherever they run.
    let url = match settings.base_url {
        Some(_) => path,
        None => app
            .settings
            .http
            .absolute(&path)
            .map_err(|e| AppError::Internal(e.into()))?
            .to_string(),
    };
    let mut tx = app.db.begin().await?;
    crate::features::accounts::set_image(&mut tx, user_id, &url).await?;
    // Replaces the picture used before, which housekeeping may then remove.
    record_uses(&mut tx, Use::Avatar(user_id), &address(&name)).await?;
    tx.commit().await?;
    Ok(url)
}

/// The bytes of the images `user_id` has uploaded, but for `except` (an
/// image they upload again costs nothing more).
pub async fn used_bytes(db: &Db, user_id: i64, except: Option<&MediaName>) -> AppResult<u64> {
    let used: i64 = query(
        "SELECT CAST(COALESCE(SUM(m.bytes), 0) AS BIGINT) FROM uploads u JOIN media m ON m.name = u.name
         WHERE u.user_id = $1 AND u.name <> $2",
    )
    .bind(user_id)
    .bind(except.map_or("", MediaName::as_str))
    .scalar(db)
    .await?;
    Ok(used.max(0) as u64)
}

/// Makes an image's smaller copies; queued with its upload.
#[derive(Debug, Serialize, Deserialize)]
pub struct MakeVariants {
    pub name: String,
}

impl Job for MakeVariants {
    const KIND: &'static str = "media_variants";

    async fn run(self, app: &App) -> anyhow::Result<()> {
        let Some(name) = MediaName::parse(&self.name) else {
            anyhow::bail!("{:?} is not a media name", self.name);
        };
        let Some((width, height)): Option<(i64, i64)> =
            query("SELECT width, height FROM media WHERE name = $1")
                .bind(name.as_str())
                .fetch_optional(&app.db)
                .await?
        else {
            // Removed since: nothing to make.
            return Ok(());
        };
        let original = app.storage.get(&name.original()).await?.bytes().await?;
        let format = name.format();
        let made = with_memory(width as u32, height as u32, move || {
            picture::variants(&original, format)
        })
        .await?;
        let mut widths = Vec::new();
        for (width, bytes) in made {
            app.storage
                .put(&name.variant(width), Bytes::from(bytes).into())
                .await?;
            widths.push(width);
        }
        widths.sort_unstable();
        let list: Vec<String> = widths.iter().map(u32::to_string).collect();
        query("UPDATE media SET variants = $1 WHERE name = $2")
            .bind(list.join(","))
            .bind(name.as_str())
            .execute(&app.db)
            .await?;
        tracing::info!(name = name.as_str(), ?widths, "image variants made");
        Ok(())
    }
}

/// What uses an image.
#[derive(Debug, Clone, Copy)]
pub enum Use {
    Post(i64),
    Comment(i64),
    /// A member's profile picture.
    Avatar(i64),
    /// A standalone page of the site (About, Now…).
    Page(i64),
}

impl Use {
    fn column(self) -> (&'static str, i64) {
        match self {
            Use::Post(id) => ("post_id", id),
            Use::Comment(id) => ("comment_id", id),
            Use::Avatar(id) => ("user_id", id),
            Use::Page(id) => ("page_id", id),
        }
    }
}

/// Records which uploaded images `text` uses, replacing what the same post,
/// comment or profile used before: call it in the transaction that writes
/// the text. Names of images never uploaded here are ignored.
pub async fn record_uses(tx: &mut Tx, user: Use, text: &str) -> Result<(), sqlx::Error> {
    let (column, id) = user.column();
    Query::assembled(format!("DELETE FROM media_uses WHERE {column} = $1"))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let names = MediaName::all_in(text);
    if names.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO media_uses (name, {column}) SELECT name, $1 FROM media WHERE name IN ({})",
        db::placeholders(2, names.len())
    );
    Query::assembled(sql)
        .bind(id)
        .bind_all(names.iter().map(|n| n.as_str().to_owned()))
        .execute(tx)
        .await?;
    Ok(())
}

/// The sizes and smaller copies of the uploaded images a Markdown source
/// shows, for the renderer to lay out (`markdown::Figures`).
pub async fn figures(app: &App, source: &str) -> Result<Figures, sqlx::Error> {
    let names = MediaName::all_in(source);
    let mut figures = Figures::default();
    if names.is_empty() {
        return Ok(figures);
    }
    let sql = format!(
        "SELECT name, width, height FROM media WHERE name IN ({})",
        db::placeholders(1, names.len())
    );
    let rows: Vec<(String, i64, i64)> = Query::assembled(sql)
        .bind_all(names.iter().map(|n| n.as_str().to_owned()))
        .fetch_all(&app.db)
        .await?;
    for (text, width, height) in rows {
        let Some(name) = MediaName::parse(&text) else {
            continue;
        };
        let url = served_at(&app.settings.media, &name);
        let (width, height) = (width as u32, height as u32);
        let mut sources: Vec<(String, u32)> = picture::widths_for(name.format(), width)
            .map(|w| (format!("{url}/{w}.webp"), w))
            .collect();
        if !sources.is_empty() {
            sources.push((url.clone(), width));
        }
        figures.insert(
            format!("/media/{text}"),
            Figure {
                src: url,
                width,
                height,
                sources,
            },
        );
    }
    Ok(figures)
}

/// One of an author's uploads, for their media page.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Listed {
    pub name: String,
    pub file_name: String,
    pub bytes: i64,
    pub width: i64,
    pub height: i64,
    pub created_at: Timestamp,
    /// Where it is used; empty when unused.
    #[sqlx(skip)]
    pub uses: Vec<UsedIn>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UsedIn {
    pub what: &'static str,
    pub title: String,
    pub href: String,
}

/// A use of one of an author's images: a post's, a comment's (on the post
/// with `comment_slug`), a page's or, with none, their profile picture's.
#[derive(sqlx::FromRow)]
struct UseRow {
    name: String,
    slug: Option<String>,
    title: Option<String>,
    comment: Option<i64>,
    comment_slug: Option<String>,
    page_slug: Option<String>,
    page_title: Option<String>,
}

/// Everything `user_id` uploaded, newest first, with where each is used.
pub async fn list(db: &Db, user_id: i64) -> AppResult<Vec<Listed>> {
    let mut listed: Vec<Listed> = query(
        "SELECT u.name, u.file_name, m.bytes, m.width, m.height, u.created_at
         FROM uploads u JOIN media m ON m.name = u.name
         WHERE u.user_id = $1 ORDER BY u.created_at DESC, u.id DESC",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?;
    let uses: Vec<UseRow> = query(
        "SELECT mu.name, p.slug, p.title, c.id AS comment, cp.slug AS comment_slug,
                pg.slug AS page_slug, pg.title AS page_title
         FROM media_uses mu
         JOIN uploads u ON u.name = mu.name AND u.user_id = $1
         LEFT JOIN posts p ON p.id = mu.post_id
         LEFT JOIN comments c ON c.id = mu.comment_id
         LEFT JOIN posts cp ON cp.id = c.post_id
         LEFT JOIN pages pg ON pg.id = mu.page_id
         ORDER BY mu.name",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?;
    let mut by_name: BTreeMap<String, Vec<UsedIn>> = BTreeMap::new();
    for row in uses {
        let used = match (
            row.slug,
            row.title,
            row.comment,
            row.comment_slug,
            row.page_slug,
            row.page_title,
        ) {
            (Some(slug), Some(title), ..) => UsedIn {
                what: "post",
                href: format!("/posts/{slug}"),
                title,
            },
            (_, _, Some(id), Some(slug), ..) => UsedIn {
                what: "comment",
                href: format!("/posts/{slug}#comment-{id}"),
                title: format!("a comment on /posts/{slug}"),
            },
            (.., Some(slug), Some(title)) => UsedIn {
                what: "page",
                href: format!("/{slug}"),
                title,
            },
            _ => UsedIn {
                what: "profile",
                href: "/settings".into(),
                title: "your profile picture".into(),
            },
        };
        by_name.entry(row.name).or_default().push(used);
    }
    for item in &mut listed {
        item.uses = by_name.remove(&item.name).unwrap_or_default();
    }
    Ok(listed)
}

/// Removes `user_id`'s upload of `name` when nothing uses it; says whether
/// it did. The object goes with the next housekeeping if no one else
/// uploaded it.
pub async fn delete_unused(db: &Db, user_id: i64, name: &MediaName) -> AppResult<bool> {
    let removed = query(
        "DELETE FROM uploads WHERE user_id = $1 AND name = $2
         AND NOT EXISTS (SELECT 1 FROM media_uses mu WHERE mu.name = uploads.name)",
    )
    .bind(user_id)
    .bind(name.as_str())
    .execute(db)
    .await?;
    Ok(removed > 0)
}

/// What housekeeping removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub uploads: u64,
    pub objects: u64,
}

/// How long an upload may stay unused before housekeeping removes it: a
/// draft being written keeps its images for a day before it is saved.
const UNUSED_FOR: time::Duration = time::Duration::days(1);

/// Removes uploads nothing has used for a day, then every image no one has
/// uploaded or uses (its object, its copies and its row). An image
/// uploaded again meanwhile is left: its row is only deleted while it has
/// not been touched for a day.
pub async fn purge_unused(app: &App, now: Timestamp) -> anyhow::Result<Purged> {
    let before = now - UNUSED_FOR;
    let uploads = query(
        "DELETE FROM uploads WHERE created_at < $1
         AND NOT EXISTS (SELECT 1 FROM media_uses mu WHERE mu.name = uploads.name)",
    )
    .bind(before)
    .execute(&app.db)
    .await?;
    let orphans: Vec<String> = query(
        "SELECT name FROM media m WHERE touched_at < $1
         AND NOT EXISTS (SELECT 1 FROM uploads u WHERE u.name = m.name)
         AND NOT EXISTS (SELECT 1 FROM media_uses mu WHERE mu.name = m.name)",
    )
    .bind(before)
    .scalars(&app.db)
    .await?;
    let mut objects = 0;
    for text in orphans {
        let Some(name) = MediaName::parse(&text) else {
            continue;
        };
        let gone = query(
            "DELETE FROM media WHERE name = $1 AND touched_at < $2
             AND NOT EXISTS (SELECT 1 FROM uploads u WHERE u.name = media.name)
             AND NOT EXISTS (SELECT 1 FROM media_uses mu WHERE mu.name = media.name)",
        )
        .bind(name.as_str())
        .bind(before)
        .execute(&app.db)
        .await?;
        if gone == 0 {
            continue;
        }
        remove_objects(app.storage.as_ref(), &name).await?;
        objects += 1;
    }
    Ok(Purged { uploads, objects })
}

async fn remove_objects(store: &dyn ObjectStore, name: &MediaName) -> anyhow::Result<()> {
    let mut paths = vec![name.original()];
    paths.extend(picture::WIDTHS.iter().map(|w| name.variant(*w)));
    for path in paths {
        match store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A deleted account's profile picture is no longer used, and what it
/// uploaded but nothing uses goes now rather than in a day. Idempotent.
pub async fn forget_media_of_deleted_account(
    app: App,
    event: crate::features::accounts::AccountDeleted,
) -> anyhow::Result<()> {
    query("DELETE FROM media_uses WHERE user_id = $1")
        .bind(event.user_id)
        .execute(&app.db)
        .await?;
    query(
        "DELETE FROM uploads WHERE user_id = $1
         AND NOT EXISTS (SELECT 1 FROM media_uses mu WHERE mu.name = uploads.name)",
    )
    .bind(event.user_id)
    .execute(&app.db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn names_are_a_hash_and_an_accepted_extension() {
        assert!(MediaName::parse(&format!("{HASH}.jpg")).is_some());
        assert!(MediaName::parse(&format!("{HASH}.svg")).is_none());
        assert!(MediaName::parse(&format!("{}.png", HASH.to_uppercase())).is_none());
        assert!(MediaName::parse(&format!("../{HASH}.png")).is_none());
        assert!(MediaName::parse(&format!("{HASH}.png.html")).is_none());
        assert!(MediaName::parse("abc.png").is_none());
    }

    #[test]
    fn names_are_found_in_markdown() {
        let text = format!(
            "![a](/media/{HASH}.png) and ![b](/media/{HASH}.png \"t\") and /media/nothing.png and ![c](https://cdn.example/media/{HASH}.webp/480.webp)"
        );
        let found: Vec<String> = MediaName::all_in(&text)
            .iter()
            .map(|n| n.as_str().to_owned())
            .collect();
        assert_eq!(found, [format!("{HASH}.png"), format!("{HASH}.webp")]);
    }

    #[test]
    fn file_names_are_shown_safely() {
        assert_eq!(
            clean_file_name(Some("../../etc/passwd"), Format::Png),
            "passwd"
        );
        assert_eq!(
            clean_file_name(Some("a\u{0}b\u{202e}gnp.exe"), Format::Png),
            "abgnp.exe"
        );
        assert_eq!(
            clean_file_name(Some("C:\\photos\\cat.jpg"), Format::Jpeg),
            "cat.jpg"
        );
        assert_eq!(clean_file_name(None, Format::Gif), "image.gif");
        assert_eq!(clean_file_name(Some("..."), Format::Webp), "image.webp");
    }
}
