//! What every HTML page shares: the context middleware (the anti-forgery
//! cookie, error pages in the site's look) and rendering.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::value::Serde;
use minijinja::{Value, context};
use serde::Serialize;

use super::caller::Caller;
use super::extract::CsrfToken;
use super::nav::Nav;
use crate::app::App;
use crate::error::{AppError, AppResult, ErrorPage, FieldErrors, Thing};

const CSRF_COOKIE: &str = "quire_csrf";
/// The session's cookie: a reader without one is anonymous.
pub const SESSION_COOKIE: &str = "quire_session";

/// Puts the anti-forgery token into the request, and turns error responses
/// into pages. Who is signed in was found by the layer before this one
/// ([`Caller`]).
pub async fn page_context(State(state): State<App>, mut request: Request, next: Next) -> Response {
    let existing =
        cookie(request.headers(), CSRF_COOKIE).filter(|t| t.len() >= 20 && t.len() <= 64);
    let caller = Caller::of(request.extensions()).cloned();
    // Signed in, forms need the token bound to the session; the cookie
    // follows it so that scripts reading it keep working.
    let token = caller
        .as_ref()
        .and_then(|c| c.form_token.clone())
        .or_else(|| existing.clone())
        .unwrap_or_else(|| crate::crypto::random_token(24));
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_else(|| "/".into());
    // After signing in, a form's visitor goes back to the page the form was
    // on (its action only answers POST); a page's visitor to the page.
    let return_to = if request.method() == axum::http::Method::GET {
        path.clone()
    } else {
        request
            .headers()
            .get(header::REFERER)
            .and_then(|r| r.to_str().ok())
            .and_then(|r| url::Url::parse(r).ok())
            .filter(|r| same_host(r, &request))
            .map(|r| safe_next(Some(&r[url::Position::BeforePath..])))
            .unwrap_or_else(|| "/".into())
    };
    let script = wants_json(request.headers());
    let nav = Nav::of(request.extensions());
    request.extensions_mut().insert(CsrfToken(token.clone()));

    let mut response = next.run(request).await;

    if existing.as_ref() != Some(&token) {
        let secure = if state.settings.http.secure_cookies() {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!(
            "{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000{secure}"
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    // A signed-in page must not come back from the browser's cache (the
    // Back button after signing out would show it again).
    if caller.is_some() && !response.headers().contains_key(header::CACHE_CONTROL) {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
    }
    // A page's script reads an error's words itself (the plain message),
    // and cannot follow a sign-in page.
    if script {
        return response;
    }
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED {
        // `why`: the sign-in page says the page asked for it.
        return Redirect::to(&format!(
            "/login?next={}&why=members",
            urlencode(&return_to)
        ))
        .into_response();
    }
    if status.is_client_error() || status.is_server_error() {
        let is_html = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
        if !is_html {
            let message = match response.extensions().get::<ErrorPage>() {
                Some(page) => page.message.clone(),
                None => AppError::from_status(status).public_message(),
            };
            let ctx = PageCtx {
                caller,
                csrf: CsrfToken(token),
                path,
                nav,
            };
            let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
            let mut page = ctx
                .render_status(
                    &state,
                    status,
                    "error.html",
                    context! { status => status.as_u16(), message },
                )
                .into_response();
            if let Some(retry_after) = retry_after {
                page.headers_mut().insert(header::RETRY_AFTER, retry_after);
            }
            return page;
        }
    }
    response
}

/// Whether the request comes from one of the site's scripts asking for
/// JSON (`Accept: application/json`) rather than from a browser asking for a
/// page.
pub fn wants_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// Whether a URL points at the host this request was sent to.
fn same_host(url: &url::Url, request: &Request) -> bool {
    let Some(host) = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
    else {
        return false;
    };
    let authority = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => return false,
    };
    authority.eq_ignore_ascii_case(host)
}

/// The value of a request cookie.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

pub fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The router's fallback: the 404 page.
pub async fn not_found() -> AppError {
    AppError::NotFound(Thing::Page)
}

/// What a handler needs to render a page: who is looking, the token for
/// its forms, where they are (for "sign in and come back"), and the
/// header's links.
#[derive(Clone)]
pub struct PageCtx {
    pub caller: Option<Caller>,
    pub csrf: CsrfToken,
    pub path: String,
    pub nav: Nav,
}

impl<S: Send + Sync> FromRequestParts<S> for PageCtx {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        Ok(Self {
            caller: Caller::of(&parts.extensions).cloned(),
            csrf: CsrfToken::from_request_parts(parts, state).await?,
            path: parts
                .uri
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            nav: Nav::of(&parts.extensions),
        })
    }
}

#[derive(Serialize)]
struct Common<'a> {
    site_title: &'a str,
    user: Option<&'a Value>,
    csrf_token: &'a str,
    path: &'a str,
    /// The site's public root (`https://blog.example/`), for absolute
    /// addresses in metadata.
    root: String,
    /// This page's canonical address: the public root and the path, with
    /// only the query that picks a page of a list.
    url: String,
    registration: crate::config::Registration,
    /// ActivityPub is on: the header links to the fediverse page.
    federation: bool,
    version: &'static str,
    /// The header's links after the site's name.
    nav: &'a Nav,
}

/// `path` (with its query) as its canonical address under `root`.
fn canonical(root: &url::Url, path: &str) -> String {
    let Ok(mut url) = root.join(path.trim_start_matches('/')) else {
        return root.to_string();
    };
    let page: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(name, _)| name == "page")
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    url.set_query(None);
    if !page.is_empty() {
        url.query_pairs_mut().extend_pairs(page);
    }
    url.to_string()
}

impl PageCtx {
    /// What a form's handler answers when its action failed: field errors
    /// show the form again (422), with the context `with` makes of them;
    /// any other error goes on.
    pub fn form_again(
        &self,
        state: &App,
        template: &str,
        error: AppError,
        with: impl FnOnce(FieldErrors) -> Value,
    ) -> AppResult<Response> {
        match error {
            AppError::Validation(errors) => Ok(self.render_status(
                state,
                StatusCode::UNPROCESSABLE_ENTITY,
                template,
                with(errors),
            )),
            other => Err(other),
        }
    }

    pub fn render(&self, state: &App, template: &str, extra: Value) -> Response {
        self.render_status(state, StatusCode::OK, template, extra)
    }

    pub fn render_status(
        &self,
        state: &App,
        status: StatusCode,
        template: &str,
        extra: Value,
    ) -> Response {
        let root = state.settings.http.public_url();
        let common = Common {
            site_title: &state.settings.site.title,
            user: self.caller.as_ref().map(|c| &c.shown),
            csrf_token: &self.csrf.0,
            path: &self.path,
            url: canonical(&root, &self.path),
            root: root.to_string(),
            registration: state.settings.site.registration,
            federation: state.settings.federation.enabled,
            version: env!("CARGO_PKG_VERSION"),
            nav: &self.nav,
        };
        match state
            .templates
            .render(template, context! { page => Serde(common), ..extra })
        {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = ?e, template, "rendering a template failed");
                let mut response = (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Html("<!doctype html><title>Error</title><h1>Something went wrong</h1>"),
                )
                    .into_response();
                response.extensions_mut().insert(ErrorPage {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    message: "template error".into(),
                });
                response
            }
        }
    }
}

/// Where to go after signing in: only a path on this site, never elsewhere.
/// Browsers drop tabs and newlines from URLs and read `\\` as `/`, so a path
/// must be plain visible ASCII without `\\`, and not start with `//`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(next)
            if next.starts_with('/')
                && !next.starts_with("//")
                && next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            next.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// A "see other" redirect, the answer to a successful form post.
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}
