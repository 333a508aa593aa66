//! The whole site as an archive (`crate::archive`, the format of
//! `quire export`), asked for through the JSON API by the owner or an
//! administrator: `POST /api/exports` queues a job that writes it while
//! the site serves, `GET /api/exports/{id}` says how it is going, and
//! `GET /api/exports/{id}/archive` downloads it once done. Archives wait
//! in the file store (`storage::scratch`: any replica can serve them, and
//! no backup or archive holds them) for a day; asking for a new one
//! removes those older than that.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStoreExt, WriteMultipart};
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use tokio::io::AsyncReadExt;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::App;
use crate::db::{Db, Timestamp, query};
use crate::error::{AppError, AppResult, Thing};
use crate::features::accounts::extract::ApiUser;
use crate::http::api::ApiError;
use crate::jobs::{self, Job};

/// How long an archive is kept for its download.
const KEPT_FOR: time::Duration = time::Duration::days(1);

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(status))
        .routes(routes!(archive))
}

fn archive_path(id: i64) -> StorePath {
    crate::storage::scratch("exports", &format!("{id}.tar.gz"))
}

#[derive(FromRow)]
struct ExportRow {
    id: i64,
    state: String,
    bytes: Option<i64>,
    error: Option<String>,
    created_at: Timestamp,
    finished_at: Option<Timestamp>,
}

/// An archive of the site, asked for.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportJson {
    id: i64,
    /// `waiting`, `running`, `done`, `failed`, or `expired` (its archive
    /// removed, a day after it was made).
    state: String,
    /// The archive's size, once done.
    bytes: Option<i64>,
    /// Why it failed.
    error: Option<String>,
    created_at: String,
    finished_at: Option<String>,
    /// Where to download it, once done.
    download: Option<String>,
}

impl From<ExportRow> for ExportJson {
    fn from(row: ExportRow) -> Self {
        Self {
            download: (row.state == "done").then(|| format!("/api/exports/{}/archive", row.id)),
            id: row.id,
            state: row.state,
            bytes: row.bytes,
            error: row.error,
            created_at: row.created_at.iso_millis(),
            finished_at: row.finished_at.map(Timestamp::iso_millis),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ExportResponse {
    export: ExportJson,
}

/// The site's data is the owner's and the administrators' to take.
fn allowed(caller: &ApiUser) -> Result<(), AppError> {
    if caller.user.is_admin() {
        Ok(())
    } else {
        Err(AppError::Forbidden(Thing::Job))
    }
}

async fn find(db: &Db, id: &str) -> Result<ExportRow, AppError> {
    let id: i64 = id.parse().map_err(|_| AppError::NotFound(Thing::Job))?;
    query("SELECT id, state, bytes, error, created_at, finished_at FROM site_exports WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or(AppError::NotFound(Thing::Job))
}

/// Start an archive of the whole site (the owner's or an administrator's):
/// every table and image, in the format of `quire export`
/// (docs/archive.md), written by a background job while the site serves.
#[utoipa::path(post, path = "/exports", tag = "Exports", security(("Token" = [])),
    responses((status = 202, body = ExportResponse, description = "Queued: follow it at /exports/{id}"),
        (status = 401, description = "No or bad token"), (status = 403, description = "Not the owner or an administrator")))]
pub async fn start(
    State(app): State<App>,
    caller: ApiUser,
) -> Result<(StatusCode, Json<ExportResponse>), ApiError> {
    allowed(&caller)?;
    let id = queue(&app, caller.user.id).await?;
    let export = find(&app.db, &id.to_string()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ExportResponse {
            export: export.into(),
        }),
    ))
}

/// How an archive is going; once done, where to download it.
#[utoipa::path(get, path = "/exports/{id}", tag = "Exports", params(("id" = i64, Path)), security(("Token" = [])),
    responses((status = 200, body = ExportResponse), (status = 401, description = "No or bad token"),
        (status = 403, description = "Not the owner or an administrator"), (status = 404, description = "No such export")))]
pub async fn status(
    State(app): State<App>,
    caller: ApiUser,
    Path(id): Path<String>,
) -> Result<Json<ExportResponse>, ApiError> {
    allowed(&caller)?;
    let export = find(&app.db, &id).await?;
    Ok(Json(ExportResponse {
        export: export.into(),
    }))
}

/// Download a finished archive (`application/gzip`: a tar, docs/archive.md).
#[utoipa::path(get, path = "/exports/{id}/archive", tag = "Exports", params(("id" = i64, Path)), security(("Token" = [])),
    responses((status = 200, description = "The archive", content_type = "application/gzip"),
        (status = 401, description = "No or bad token"), (status = 403, description = "Not the owner or an administrator"),
        (status = 404, description = "No such export, not done yet, or expired")))]
pub async fn archive(
    State(app): State<App>,
    caller: ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    allowed(&caller)?;
    let export = find(&app.db, &id).await?;
    if export.state != "done" {
        return Err(AppError::NotFound(Thing::Job).into());
    }
    let found = app
        .storage
        .get(&archive_path(export.id))
        .await
        .map_err(|e| AppError::Internal(anyhow::Error::new(e).context("reading an archive")))?;
    let size = found.meta.size;
    let body = Body::from_stream(found.into_stream().map_err(std::io::Error::other));
    Ok((
        [
            (header::CONTENT_TYPE, "application/gzip".to_owned()),
            (header::CONTENT_LENGTH, size.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"quire-site-{}.tar.gz\"", export.id),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

/// Records the export asked for by `user_id` and queues its job (the old
/// archives removed first).
async fn queue(app: &App, user_id: i64) -> AppResult<i64> {
    expire_old(app).await?;
    let mut tx = app.db.begin().await?;
    let id: i64 =
        query("INSERT INTO site_exports (user_id, created_at) VALUES ($1, $2) RETURNING id")
            .bind(user_id)
            .bind(Timestamp::now())
            .scalar(&mut tx)
            .await?;
    jobs::enqueue(&mut tx, &ExportSite { export: id }.now()).await?;
    tx.commit().await?;
    Ok(id)
}

/// Removes the archives made more than a day ago.
async fn expire_old(app: &App) -> Result<(), AppError> {
    let before = Timestamp::from_datetime(Timestamp::now().as_datetime() - KEPT_FOR);
    let old: Vec<i64> =
        query("SELECT id FROM site_exports WHERE state = 'done' AND finished_at < $1")
            .bind(before)
            .scalars(&app.db)
            .await?;
    for id in old {
        match app.storage.delete(&archive_path(id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(AppError::Internal(anyhow::Error::new(e))),
        }
        query("UPDATE site_exports SET state = 'expired' WHERE id = $1")
            .bind(id)
            .execute(&app.db)
            .await?;
    }
    Ok(())
}

/// Writes the site's archive and keeps it in the file store.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExportSite {
    pub export: i64,
}

impl Job for ExportSite {
    const KIND: &'static str = "export_site";

    async fn run(self, app: &App) -> anyhow::Result<()> {
        let state: Option<String> = query("SELECT state FROM site_exports WHERE id = $1")
            .bind(self.export)
            .scalar_optional(&app.db)
            .await?;
        if !matches!(state.as_deref(), Some("waiting" | "running")) {
            return Ok(());
        }
        query("UPDATE site_exports SET state = 'running' WHERE id = $1")
            .bind(self.export)
            .execute(&app.db)
            .await?;
        let (state, bytes, error) = match write(app, self.export).await {
            Ok(bytes) => ("done", Some(bytes as i64), None),
            Err(e) => ("failed", None, Some(format!("{e:#}"))),
        };
        query(
            "UPDATE site_exports SET state = $1, bytes = $2, error = $3, finished_at = $4
             WHERE id = $5",
        )
        .bind(state)
        .bind(bytes)
        .bind(error)
        .bind(Timestamp::now())
        .bind(self.export)
        .execute(&app.db)
        .await?;
        Ok(())
    }
}

/// The archive, written to a scratch folder, then into the store in
/// parts (it holds every image: it may not fit in memory). Its size.
async fn write(app: &App, id: i64) -> anyhow::Result<u64> {
    let scratch = tempfile::tempdir()?;
    let file = scratch.path().join("site.tar.gz");
    crate::archive::export(&app.db, &*app.storage, &file).await?;
    let upload = app.storage.put_multipart(&archive_path(id)).await?;
    let mut writer = WriteMultipart::new(upload);
    let mut reader = tokio::fs::File::open(&file).await?;
    let mut buffer = vec![0; 8 << 20];
    let mut total = 0;
    loop {
        let read = reader.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        writer.wait_for_capacity(2).await?;
        writer.write(&buffer[..read]);
        total += read as u64;
    }
    writer.finish().await?;
    Ok(total)
}
