//! Request extractors shared by the site's handlers. Who is signed in is
//! the accounts feature's business (`accounts::extract`).

use std::net::{IpAddr, SocketAddr};

use axum::body::{Body, Bytes};
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Multipart, Request};
use axum::http::header;
use axum::http::request::Parts;
use bytes::BytesMut;
use futures_util::StreamExt;
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
        let expected = expected_token(&req, state)?;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            match rejection.status().as_u16() {
                413 => AppError::PayloadTooLarge,
                _ => AppError::BadRequest(rejection.body_text()),
            }
        })?;
        checked_fields(&bytes, expected)?;
        read_form(&bytes).map(CsrfForm)
    }
}

/// The token a form posted here must carry; refused (as [`AppError::Csrf`])
/// when the browser says another site posted it.
fn expected_token(req: &Request, state: &App) -> Result<Option<CsrfToken>, AppError> {
    if !same_origin(req.headers(), &state.settings.http.public_url()) {
        return Err(AppError::Csrf);
    }
    Ok(req.extensions().get::<CsrfToken>().cloned())
}

fn check_token(expected: Option<CsrfToken>, submitted: Option<&str>) -> Result<(), AppError> {
    match (expected, submitted) {
        (Some(CsrfToken(expected)), Some(submitted))
            if constant_time_eq(expected.as_bytes(), submitted.as_bytes()) =>
        {
            Ok(())
        }
        _ => Err(AppError::Csrf),
    }
}

/// A url-encoded body's fields, refused when one holds a control
/// character or the token is not the visitor's.
fn checked_fields(
    bytes: &[u8],
    expected: Option<CsrfToken>,
) -> Result<Vec<(String, String)>, AppError> {
    let fields: Vec<(String, String)> =
        serde_urlencoded::from_bytes(bytes).map_err(|e| AppError::BadRequest(e.to_string()))?;
    refuse_control_characters_in(&fields)?;
    let submitted = fields
        .iter()
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v.as_str());
    check_token(expected, submitted)?;
    Ok(fields)
}

fn refuse_control_characters_in(fields: &[(String, String)]) -> Result<(), AppError> {
    match fields
        .iter()
        .find(|(k, v)| has_control_character(k) || has_control_character(v))
    {
        Some((name, _)) => Err(AppError::BadRequest(format!(
            "the field {name:?} {CONTROL_CHARACTER}"
        ))),
        None => Ok(()),
    }
}

fn read_form<T: DeserializeOwned>(encoded: &[u8]) -> Result<T, AppError> {
    serde_urlencoded::from_bytes(encoded)
        .map_err(|e| AppError::BadRequest(format!("the form could not be read: {e}")))
}

/// A form from this site that may carry files: multipart from a page
/// whose form has a file input, url-encoded from a client (or a page from
/// before the form had one). Its text fields get [`CsrfForm`]'s checks and
/// its limit (`QUIRE_MAX_BODY_BYTES`) whichever way they come; its files
/// come to the handler one by one ([`CsrfFormData::next_part`]), in the
/// order of the page, to take or pass over as they stream in, so that no
/// file is held in memory for longer than its handler reads it. The
/// route's `DefaultBodyLimit` must allow for the files.
///
/// In multipart, the token is the form's first field (browsers send fields
/// in the order of the page, so the template puts it first): nothing a
/// forged form sends is read before it is refused.
pub struct CsrfFormData {
    multipart: Option<Multipart>,
    fields: Vec<(String, String)>,
    /// What the multipart text fields may still take of the limit.
    text_left: usize,
}

/// A part of a [`CsrfFormData`], in the order of the page.
pub enum Part<'m> {
    /// A text field, kept for [`CsrfFormData::fields`].
    Text,
    /// A file input's file, with an empty name when none was chosen.
    File(Box<Field<'m>>),
}

impl FromRequest<App> for CsrfFormData {
    type Rejection = AppError;
    async fn from_request(req: Request, state: &App) -> Result<Self, AppError> {
        let expected = expected_token(&req, state)?;
        let max = state.settings.http.max_body_bytes;
        let multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("multipart/")
            });
        if !multipart {
            // The route's limit is the files'; a form without any has the
            // site's.
            let bytes = read_body(req.into_body(), max).await?;
            return Ok(Self {
                fields: checked_fields(&bytes, expected)?,
                multipart: None,
                text_left: 0,
            });
        }
        let mut multipart = Multipart::from_request(req, state)
            .await
            .map_err(|rejection| AppError::BadRequest(rejection.body_text()))?;
        let mut text_left = max;
        let field = multipart
            .next_field()
            .await
            .map_err(body_error)?
            .ok_or(AppError::Csrf)?;
        if field.name() != Some(CSRF_FIELD) {
            return Err(AppError::Csrf);
        }
        let submitted = read_text(field, &mut text_left).await?;
        check_token(expected, Some(&submitted))?;
        Ok(Self {
            multipart: Some(multipart),
            fields: Vec::new(),
            text_left,
        })
    }
}

impl CsrfFormData {
    /// The next part of the form; a text field is read and kept.
    pub async fn next_part(&mut self) -> Result<Option<Part<'_>>, AppError> {
        let Some(multipart) = self.multipart.as_mut() else {
            return Ok(None);
        };
        let Some(field) = multipart.next_field().await.map_err(body_error)? else {
            return Ok(None);
        };
        if field.file_name().is_some() {
            return Ok(Some(Part::File(Box::new(field))));
        }
        let name = field.name().unwrap_or_default().to_owned();
        let value = read_text(field, &mut self.text_left).await?;
        self.fields.push((name, value));
        Ok(Some(Part::Text))
    }

    /// The text fields, once the parts the handler did not read are passed
    /// over (files included).
    pub async fn fields<T: DeserializeOwned>(mut self) -> Result<T, AppError> {
        while self.next_part().await?.is_some() {}
        refuse_control_characters_in(&self.fields)?;
        let encoded = serde_urlencoded::to_string(&self.fields)
            .map_err(|e| AppError::BadRequest(e.to_string()))?;
        read_form(encoded.as_bytes())
    }
}

/// A body read whole, refused beyond `max` bytes.
async fn read_body(body: Body, max: usize) -> Result<Bytes, AppError> {
    let mut stream = body.into_data_stream();
    let mut bytes = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| AppError::BadRequest(e.to_string()))?;
        if bytes.len() + chunk.len() > max {
            return Err(AppError::PayloadTooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes.freeze())
}

/// A multipart text field, taking its bytes from what `left` allows.
async fn read_text(mut field: Field<'_>, left: &mut usize) -> Result<String, AppError> {
    let mut value = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(body_error)? {
        *left = left
            .checked_sub(chunk.len())
            .ok_or(AppError::PayloadTooLarge)?;
        value.extend_from_slice(&chunk);
    }
    String::from_utf8(value).map_err(|_| {
        AppError::BadRequest(format!(
            "the field {:?} is not UTF-8 text",
            field.name().unwrap_or_default()
        ))
    })
}

fn body_error(error: MultipartError) -> AppError {
    match error.status().as_u16() {
        413 => AppError::PayloadTooLarge,
        _ => AppError::BadRequest(error.body_text()),
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
