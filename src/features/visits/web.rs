//! Counting views of post pages, and the author's statistics page.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use minijinja::context;
use minijinja::value::Serde;

use crate::app::App;
use crate::error::AppResult;
use crate::features::accounts::extract::SignedIn;
use crate::http::pages::PageCtx;

pub const VISITOR_COOKIE: &str = "quire_visitor";

pub fn routes() -> Router<App> {
    Router::new().route("/stats", get(stats))
}

/// Counts views of published posts: what a page needs of the feature, and
/// nothing of the `App`, so a cached page can keep one for its readers.
#[derive(Clone)]
pub struct ViewCounter {
    recorder: super::Recorder,
    secure_cookies: bool,
}

impl ViewCounter {
    pub fn of(state: &App) -> Self {
        Self {
            recorder: state.part::<super::Visits>().recorder.clone(),
            secure_cookies: state.settings.http.secure_cookies(),
        }
    }

    /// Records a view of a published post (by its id) by this reader
    /// (`viewer`, when signed in), unless they are a robot. Anonymous
    /// readers get a first-party cookie that tells their views apart; the
    /// cookie is returned for the response to set, when new.
    pub fn record(
        &self,
        headers: &HeaderMap,
        viewer: Option<i64>,
        post_id: i64,
    ) -> Option<HeaderValue> {
        let user_agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        if super::is_bot(user_agent) {
            return None;
        }
        let (key, new_cookie) = match (viewer, visitor_cookie(headers)) {
            (Some(id), _) => (format!("user:{id}"), None),
            (None, Some(cookie)) => (format!("anon:{cookie}"), None),
            (None, None) => {
                let id = crate::crypto::random_token(16);
                let secure = if self.secure_cookies { "; Secure" } else { "" };
                let cookie = format!(
                    "{VISITOR_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000{secure}"
                );
                (format!("anon:{id}"), HeaderValue::from_str(&cookie).ok())
            }
        };
        self.recorder.view(post_id, key);
        new_cookie
    }
}

fn visitor_cookie(headers: &HeaderMap) -> Option<String> {
    // Only what `random_token` makes: the value is stored with each view.
    crate::http::pages::cookie(headers, VISITOR_COOKIE).filter(|v| {
        (16..=64).contains(&v.len())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    })
}

async fn stats(
    State(state): State<App>,
    ctx: PageCtx,
    SignedIn(user): SignedIn,
) -> AppResult<Response> {
    let posts = super::stats_for_author(&state.db, user.id).await?;
    let total: i64 = posts.iter().map(|p| p.views).sum();
    Ok(ctx.render(
        &state,
        "stats.html",
        context! { posts => Serde(posts), total },
    ))
}
