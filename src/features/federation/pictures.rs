//! Fediverse writers' avatars beside their approved replies. Copied into
//! the site's media store (`media::adopt`, which checks and re-encodes an
//! image as it does an upload) rather than linked: pages load images from
//! this site only (its Content-Security-Policy says so), a reader's browser
//! never tells another server what it reads, and a picture cannot turn into
//! something else after the reply was approved. The copy lives as long as
//! a comment shows it (`comments::set_guest_image` records the use).

use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use url::Url;

use super::Federation;
use crate::app::App;
use crate::db::query;
use crate::error::{AppError, AppResult};
use crate::features::{comments, media};
use crate::jobs::{self, Job};

#[derive(FromRow)]
struct Icon {
    icon_url: Option<String>,
    /// Our copy, and the address it was copied from.
    icon: Option<String>,
    icon_from: Option<String>,
}

async fn icon_of(app: &App, actor_id: i64) -> AppResult<Option<Icon>> {
    Ok(
        query("SELECT icon_url, icon, icon_from FROM remote_actors WHERE id = $1")
            .bind(actor_id)
            .fetch_optional(&app.db)
            .await?,
    )
}

/// A remote actor's picture, as a comment of theirs can show it now.
pub enum Picture {
    /// Our copy of their current avatar.
    Copied(String),
    /// They have none.
    Without,
    /// Not copied yet (or changed, or removed since no comment showed it):
    /// [`copy_later`], once the comment is written, puts it on all theirs.
    ToCopy,
}

impl Picture {
    pub fn shown(&self) -> Option<String> {
        match self {
            Picture::Copied(address) => Some(address.clone()),
            Picture::Without | Picture::ToCopy => None,
        }
    }
}

pub async fn current(app: &App, actor_id: i64) -> AppResult<Picture> {
    match icon_of(app, actor_id).await? {
        Some(icon) => picture_of(app, &icon).await,
        None => Ok(Picture::Without),
    }
}

async fn picture_of(app: &App, icon: &Icon) -> AppResult<Picture> {
    if icon.icon_url == icon.icon_from {
        match &icon.icon {
            Some(copy) if media::is_kept(&app.db, copy).await? => {
                return Ok(Picture::Copied(copy.clone()));
            }
            Some(_) => {}
            None => return Ok(Picture::Without),
        }
    }
    Ok(Picture::ToCopy)
}

/// Queues the copy of the avatar of `actor_id` (their document changed it,
/// or a reply of theirs needs it).
pub async fn copy_later(app: &App, actor_id: i64) -> AppResult<()> {
    // No dedup key: keys outlive their jobs (a week), and a picture may
    // change again within one. A second job finds the copy made.
    jobs::enqueue(&app.db, &CopyPicture { actor_id }.now()).await?;
    Ok(())
}

/// Copies a remote actor's avatar and shows it on their comments.
#[derive(Debug, Serialize, Deserialize)]
pub struct CopyPicture {
    pub actor_id: i64,
}

impl CopyPicture {
    /// Our copy of the picture at `url`; none when it is not one we take.
    async fn copy(&self, app: &App, url: &str) -> anyhow::Result<Option<String>> {
        let Ok(url) = Url::parse(url) else {
            return Ok(None);
        };
        let bytes = match app.part::<Federation>().fetcher.get_image(&url).await {
            Ok(bytes) => bytes,
            // The queue's backoff tries again.
            Err(e) if e.is_temporary() => return Err(e.into()),
            Err(e) => {
                tracing::info!(actor = self.actor_id, error = %e, "avatar not fetched");
                return Ok(None);
            }
        };
        match media::adopt(app, bytes).await {
            Ok(address) => Ok(Some(address)),
            // Not an image we take (too large, not a picture, a bomb):
            // shown without one.
            Err(AppError::File(problem)) => {
                tracing::info!(actor = self.actor_id, ?problem, "avatar refused");
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl Job for CopyPicture {
    const KIND: &'static str = "federation_picture";

    async fn run(self, app: &App) -> anyhow::Result<()> {
        let Some(icon) = icon_of(app, self.actor_id).await? else {
            // The actor is gone, and their comments with them.
            return Ok(());
        };
        let copy = match picture_of(app, &icon).await? {
            // Made by an earlier job: shown on the comments since.
            Picture::Copied(address) => Some(address),
            Picture::Without => None,
            Picture::ToCopy => match icon.icon_url.as_deref() {
                Some(url) => self.copy(app, url).await?,
                None => None,
            },
        };
        let mut tx = app.db.begin().await?;
        query("UPDATE remote_actors SET icon = $1, icon_from = $2 WHERE id = $3")
            .bind(&copy)
            .bind(&icon.icon_url)
            .bind(self.actor_id)
            .execute(&mut tx)
            .await?;
        let shown: Vec<i64> = query(
            "SELECT comment_id FROM remote_replies
             WHERE remote_actor_id = $1 AND comment_id IS NOT NULL",
        )
        .bind(self.actor_id)
        .scalars(&mut tx)
        .await?;
        for comment in shown {
            comments::set_guest_image(&mut tx, comment, copy.as_deref()).await?;
        }
        tx.commit().await?;
        crate::http::cache::site_changed(app);
        Ok(())
    }
}
