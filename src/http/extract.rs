//! Request extractors shared by the site's handlers. Who is signed in is
//! the accounts feature's business (`accounts::extract`).

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::app::App;
use crate::error::AppError;

/// The visitor's anti-forgery token, as set in their `quire_csrf` cookie.
#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        parts
            .extensions
            .get::<CsrfToken>()
            .cloned()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("page_context layer missing")))
    }
}

/// The form field that carries the anti-forgery token.
pub const CSRF_FIELD: &str = "csrf_token";

/// A url-encoded form whose `csrf_token` field matches the visitor's cookie
/// (the double-submit pattern): a page on another site can make a browser
/// post a form here, but cannot read the cookie to put in the form.
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<App> for CsrfForm<T> {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &App) -> Result<Self, AppError> {
        if !same_origin(req.headers(), &state.settings.http.public_url()) {
            return Err(AppError::Csrf);
        }
        let expected = req.extensions().get::<CsrfToken>().cloned();
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            match rejection.status().as_u16() {
                413 => AppError::PayloadTooLarge,
                _ => AppError::BadRequest(rejection.body_text()),
            }
        })?;
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| AppError::BadRequest(e.to_string()))?;
        if let Some((name, _)) = fields
            .iter()
            .find(|(k, v)| has_control_character(k) || has_control_character(v))
        {
            return Err(AppError::BadRequest(format!(
                "the field {name:?} {CONTROL_CHARACTER}"
            )));
        }
        let submitted = fields
            .iter()
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.as_bytes());
        match (expected, submitted) {
            (Some(CsrfToken(expected)), Some(submitted))
                if constant_time_eq(expected.as_bytes(), submitted) => {}
            _ => return Err(AppError::Csrf),
        }
        serde_urlencoded::from_bytes(&bytes)
            .map(CsrfForm)
            .map_err(|e| AppError::BadRequest(format!("the form could not be read: {e}")))
    }
}

/// A multipart form from this site (a file upload): the same checks as
/// [`CsrfForm`], with the token as the form's first field (browsers send
/// fields in the order of the page, so the template puts it first).
pub struct CsrfMultipart(pub axum::extract::Multipart);

impl FromRequest<App> for CsrfMultipart {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &App) -> Result<Self, AppError> {
        if !same_origin(req.headers(), &state.settings.http.public_url()) {
            return Err(AppError::Csrf);
        }
        let expected = req.extensions().get::<CsrfToken>().cloned();
        let mut multipart = axum::extract::Multipart::from_request(req, state)
            .await
            .map_err(|rejection| AppError::BadRequest(rejection.body_text()))?;
        let field = multipart
            .next_field()
            .await
            .map_err(|e| AppError::BadRequest(e.body_text()))?
            .ok_or(AppError::Csrf)?;
        if field.name() != Some(CSRF_FIELD) {
            return Err(AppError::Csrf);
        }
        let submitted = field
            .text()
            .await
            .map_err(|e| AppError::BadRequest(e.body_text()))?;
        match expected {
            Some(CsrfToken(expected))
                if constant_time_eq(expected.as_bytes(), submitted.as_bytes()) =>
            {
                Ok(CsrfMultipart(multipart))
            }
            _ => Err(AppError::Csrf),
        }
    }
}

/// Whether text holds a control character other than tab, line feed and
/// carriage return: NUL (which PostgreSQL refuses to store, with an error
/// that would be a 500) and the rest, which no form or client has reason
/// to send. Every way input comes in — the address, forms, JSON bodies —
/// is checked with this at the edge, so no feature sees them.
pub fn has_control_character(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r') && (c as u32) < 0x80)
}

/// What to tell a client that sent one.
pub const CONTROL_CHARACTER: &str = "contains a control character (such as NUL); remove it";

/// Whether the request's path or query string, decoded, holds a control
/// character (the same ones as [`has_control_character`], all ASCII, so
/// the decoded bytes are enough: nothing is allocated on this path of
/// every request).
pub fn uri_has_control_character(uri: &axum::http::Uri) -> bool {
    let control = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .any(|b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f)
    };
    control(uri.path()) || uri.query().is_some_and(control)
}

/// For the site: an address with a control character is refused (400),
/// before any route reads it.
pub async fn refuse_control_characters(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri_has_control_character(request.uri()) {
        return AppError::BadRequest(format!("the address {CONTROL_CHARACTER}")).into_response();
    }
    next.run(request).await
}

/// Whether a form post comes from this site, as far as the browser says:
/// a second line behind the token. Browsers send `Origin` with every POST
/// and `Sec-Fetch-Site` too; a post from another site names that site (or
/// `null`), and is refused. Without either header (a non-browser client),
/// the token alone decides.
fn same_origin(headers: &axum::http::HeaderMap, public_url: &url::Url) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site") == Some("cross-site") {
        return false;
    }
    let Some(origin) = header("origin") else {
        return true;
    };
    let Ok(origin) = url::Url::parse(origin) else {
        // `null`: a sandboxed frame, a redirect from elsewhere.
        return false;
    };
    let authority = match (origin.host_str(), origin.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => return false,
    };
    header("host").is_some_and(|host| host.eq_ignore_ascii_case(&authority))
        || origin.origin() == public_url.origin()
}

/// For forms whose only field is the anti-forgery token (buttons that act).
#[derive(serde::Deserialize)]
pub struct NoFields {}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The client's address: the connection's, or behind proxies listed in
/// `QUIRE_TRUSTED_PROXIES`, the nearest address in `X-Forwarded-For` that
/// is not one of them. Each proxy appends the address it saw, so what a
/// client writes into the header itself stays to the left and is skipped.
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<App> for ClientIp {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, AppError> {
        let ConnectInfo(addr) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .cloned()
            .ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("server started without connect info"))
            })?;
        let trusted = &app.settings.http.trusted_proxies;
        let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
        if !is_trusted(&addr.ip()) {
            return Ok(ClientIp(addr.ip()));
        }
        let forwarded: Vec<IpAddr> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map_while(|hop| hop.trim().parse().ok())
            .collect();
        Ok(ClientIp(
            forwarded
                .iter()
                .rev()
                .find(|ip| !is_trusted(ip))
                .copied()
                .unwrap_or(addr.ip()),
        ))
    }
}
