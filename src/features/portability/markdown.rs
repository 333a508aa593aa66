//! `GET /settings/export/posts.zip`: an author's posts as Markdown files
//! with front matter, and the images they show, in a zip laid out as a
//! Jekyll site (`_posts/2019-05-12-slug.md`, `_drafts/slug.md`,
//! `assets/images/NAME`): it opens in Jekyll, in any editor, and comes
//! back whole through `quire import --from markdown` (or the owner's
//! upload) on this or another Quire site.
//!
//! The zip is written to a temporary file and sent from it, so that an
//! author with gigabytes of images costs disk, not memory. Images are
//! stored as they are (already compressed); the Markdown is deflated.

use std::io::{Seek, Write};

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

use super::PostData;
use crate::app::App;
use crate::db::Timestamp;
use crate::error::AppResult;
use crate::features::accounts::extract::SignedIn;
use crate::features::media::{self, MediaName};

pub async fn download(State(app): State<App>, SignedIn(user): SignedIn) -> AppResult<Response> {
    let posts = super::posts_of(&app, &user).await?;
    let file = tempfile::tempfile().map_err(anyhow::Error::from)?;
    let mut zip = zip::ZipWriter::new(file);
    let text = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    let image = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    let mut written: Vec<MediaName> = Vec::new();
    for post in &posts {
        // Small writes to a local file, done here rather than on a
        // blocking thread: each is a post's text or one image's bytes.
        zip.start_file(path_of(post), text)
            .and_then(|()| Ok(zip.write_all(file_text(post).as_bytes())?))
            .map_err(anyhow::Error::from)?;
        for name in MediaName::all_in(&post.body) {
            if written.contains(&name) {
                continue;
            }
            match media::original_bytes(&app, &name).await {
                Ok(bytes) => {
                    zip.start_file(format!("assets/images/{}", name.as_str()), image)
                        .and_then(|()| Ok(zip.write_all(&bytes)?))
                        .map_err(anyhow::Error::from)?;
                }
                // A post that shows an image the store lost still comes
                // with its text.
                Err(e) => {
                    tracing::warn!(error = %e, image = name.as_str(), "an image to export is missing")
                }
            }
            written.push(name);
        }
    }
    let mut file = zip.finish().map_err(anyhow::Error::from)?;
    let size = file.stream_position().map_err(anyhow::Error::from)?;
    file.rewind().map_err(anyhow::Error::from)?;
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
    let file_name = format!(
        "quire-{}-posts-{}.zip",
        user.username,
        &Timestamp::now().rfc3339()[..10]
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (header::CONTENT_LENGTH, size.to_string()),
            (
                header::CONTENT_DISPOSITION,
                // The username is letters, digits and a few safe marks.
                format!("attachment; filename=\"{file_name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Where a post goes: Jekyll's places for posts and drafts.
fn path_of(post: &PostData) -> String {
    match post.published_at {
        Some(at) if post.status == "published" => {
            format!("_posts/{}-{}.md", &at.rfc3339()[..10], post.slug)
        }
        _ => format!("_drafts/{}.md", post.slug),
    }
}

/// The post as a Markdown file: YAML front matter (strings as JSON
/// writes them, which YAML reads as the same strings), then the text,
/// its images pointing into the zip.
fn file_text(post: &PostData) -> String {
    let quoted = |text: &str| serde_json::Value::from(text).to_string();
    let mut front = format!(
        "---\ntitle: {}\nslug: {}\n",
        quoted(&post.title),
        quoted(&post.slug)
    );
    match post.published_at {
        Some(at) if post.status == "published" => {
            front.push_str(&format!("date: {}\n", at.rfc3339()));
        }
        _ => {
            front.push_str(&format!(
                "date: {}\ndraft: true\n",
                post.created_at.rfc3339()
            ));
        }
    }
    if !post.description.is_empty() {
        front.push_str(&format!("description: {}\n", quoted(&post.description)));
    }
    if !post.tags.is_empty() {
        let tags: Vec<String> = post.tags.iter().map(|t| quoted(t)).collect();
        front.push_str(&format!("tags: [{}]\n", tags.join(", ")));
    }
    front.push_str("---\n\n");
    front + &post.body.replace("/media/", "/assets/images/")
}
