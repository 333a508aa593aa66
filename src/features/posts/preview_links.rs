//! Preview links: the author of a draft or a scheduled post shares a secret
//! address (`/p/TOKEN`) with readers who need no account — an editor, a
//! friend checking the draft. The token is random (256 bits) and stored
//! with the post, so the author can show it again, make a new one (the old
//! one stops working) or revoke it. Once the post is published the link
//! leads to it. A preview is never indexed, cached or counted as a view.

use crate::app::App;
use crate::db::query;
use crate::error::{AppError, AppResult, Thing};

use super::{Post, PostState};

/// Bytes of randomness in a token: 43 characters in the address.
const TOKEN_BYTES: usize = 32;

/// The post's current preview token, if it has one.
pub async fn token(app: &App, post: &Post) -> AppResult<Option<String>> {
    Ok(query("SELECT preview_token FROM posts WHERE id = $1")
        .bind(post.id)
        .scalar::<Option<String>>(&app.db)
        .await?)
}

/// Gives the post a new preview token, replacing (and so revoking) the
/// one it had. Only for posts not yet published: a published post has its
/// own address.
pub async fn renew(app: &App, post: &Post) -> AppResult<String> {
    if post.state() == PostState::Published {
        return Err(AppError::Forbidden(Thing::Post));
    }
    let token = crate::crypto::random_token(TOKEN_BYTES);
    query("UPDATE posts SET preview_token = $1 WHERE id = $2")
        .bind(&token)
        .bind(post.id)
        .execute(&app.db)
        .await?;
    Ok(token)
}

/// Stops the post's preview link from working.
pub async fn revoke(app: &App, post: &Post) -> AppResult<()> {
    query("UPDATE posts SET preview_token = NULL WHERE id = $1")
        .bind(post.id)
        .execute(&app.db)
        .await?;
    Ok(())
}

/// The post a preview token names, whoever asks: knowing the token is the
/// permission. `NotFound(Link)` for a token that is unknown or revoked.
pub async fn find(app: &App, token: &str) -> AppResult<Post> {
    // Anything that cannot be a token is not looked up.
    let well_formed = token.len() <= 64
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(AppError::NotFound(Thing::Link));
    }
    let found: Option<(i64, String)> =
        query("SELECT author_id, slug FROM posts WHERE preview_token = $1")
            .bind(token)
            .fetch_optional(&app.db)
            .await?;
    let (author_id, slug) = found.ok_or(AppError::NotFound(Thing::Link))?;
    // Read as its author would, so a draft is found.
    super::find(app, &slug, Some(author_id)).await
}
