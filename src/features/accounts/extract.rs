//! Who is asking: the signed-in user, found from the session cookie (the
//! site) or the API token, once per request by a layer of this feature,
//! and handed to handlers by extractors.
//!
//! Each layer also fills the platform's [`Caller`], which is all the page
//! layer and the maintenance gate need to know of an account.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use minijinja::Value;
use tower_sessions::Session;

use super::{User, token};
use crate::app::App;
use crate::error::{AppError, Thing};
use crate::http::api::ApiError;
use crate::http::caller::Caller;
use crate::http::pages::PageCtx;

/// The signed-in user, if any.
#[derive(Clone, Debug, Default)]
pub struct Viewer(pub Option<User>);

impl Viewer {
    pub fn user(&self) -> Option<&User> {
        self.0.as_ref()
    }

    pub fn id(&self) -> Option<i64> {
        self.0.as_ref().map(|u| u.id)
    }
}

fn caller(user: &User, form_token: Option<String>) -> Caller {
    Caller {
        id: user.id,
        admin: user.is_admin(),
        shown: Value::from(minijinja::value::Serde(user)),
        form_token,
    }
}

/// The site's layer: loads the session's user into the request.
pub async fn load_viewer(
    State(app): State<App>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    let viewer = match session_user(&app, &session).await {
        Ok(viewer) => viewer,
        Err(e) => return e.into_response(),
    };
    if let Some(user) = viewer.user() {
        // Signing in gives the session a new id, so the token changes too.
        let form_token = session
            .id()
            .map(|id| crate::crypto::sign(app.secret(), &format!("form:{id}")));
        Caller::note(&mut request, caller(user, form_token));
    }
    request.extensions_mut().insert(viewer);
    next.run(request).await
}

/// The account of the session the cookie names, in one query over the
/// session's `user_id` column, or none while it is kept in memory
/// (`accounts::Sessions`): the session's data is not loaded (its id is
/// what the cookie says until something reads the data), which every
/// signed-in page would otherwise pay for with a query and a JSON parse.
async fn session_user(app: &App, session: &Session) -> Result<Viewer, AppError> {
    let Some(id) = session.id() else {
        return Ok(Viewer(None));
    };
    let user = super::find_by_session(app, &id.to_string()).await?;
    if user.is_none() {
        // Expired, signed out elsewhere, or made up: the cookie goes, so
        // the reader is plainly anonymous again (and served from the cache).
        session
            .flush()
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("clearing the session: {e}")))?;
    }
    Ok(Viewer(user))
}

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        Ok(parts
            .extensions
            .get::<Viewer>()
            .cloned()
            .unwrap_or_default())
    }
}

/// The cookie `app.js` keeps the browser's time zone in (an IANA name).
pub const ZONE_COOKIE: &str = "quire_tz";

/// The zone the reader types and reads times in: their setting when signed
/// in and they chose one, else their browser's (from [`ZONE_COOKIE`]), else
/// UTC (a first page without script).
#[derive(Clone, Debug)]
pub struct ReaderZone(pub crate::zone::Zone);

impl<S: Send + Sync> FromRequestParts<S> for ReaderZone {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        use crate::zone::Zone;
        let viewer = Viewer::from_request_parts(parts, state).await?;
        let chosen = viewer.user().and_then(|u| u.time_zone.as_deref());
        let browser = crate::http::pages::cookie(&parts.headers, ZONE_COOKIE);
        let zone = chosen
            .and_then(Zone::named)
            .or_else(|| browser.as_deref().and_then(Zone::named))
            .unwrap_or_else(Zone::utc);
        Ok(ReaderZone(zone))
    }
}

/// A signed-in user; anyone else is sent to the sign-in page.
#[derive(Clone, Debug)]
pub struct SignedIn(pub User);

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        Viewer::from_request_parts(parts, state)
            .await?
            .0
            .map(SignedIn)
            .ok_or(AppError::Unauthorized)
    }
}

/// A signed-in administrator (or the owner), for the admin pages; anyone
/// else signed in gets 403.
#[derive(Clone, Debug)]
pub struct Admin(pub User);

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let SignedIn(user) = SignedIn::from_request_parts(parts, state).await?;
        if !user.is_admin() {
            return Err(AppError::Forbidden(Thing::Page));
        }
        Ok(Admin(user))
    }
}

/// The signed-in caller of an API route: `Authorization: Token <jwt>`.
#[derive(Debug, Clone)]
pub struct ApiUser {
    pub user: User,
    pub token: token::Token,
}

/// What the API's layer found in the `Authorization` header.
#[derive(Clone)]
enum TokenAuth {
    None,
    // Boxed: requests without a token carry the small variants.
    Valid(Box<ApiUser>),
    Invalid,
}

fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    (scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer"))
        .then_some(token.trim())
}

/// The API's layer: checks the token, if one was sent. A token that does
/// not work is refused by the extractors of the routes that read it, so
/// clients learn it has expired.
pub async fn load_api_user(State(app): State<App>, mut request: Request, next: Next) -> Response {
    let auth = match bearer(&request) {
        None => TokenAuth::None,
        Some(jwt) => match token::authenticate(&app.db, app.secret(), jwt).await {
            Ok((user, token)) => TokenAuth::Valid(Box::new(ApiUser { user, token })),
            Err(AppError::Unauthorized) => TokenAuth::Invalid,
            Err(e) => return ApiError::from(e).into_response(),
        },
    };
    if let TokenAuth::Valid(api_user) = &auth {
        Caller::note(&mut request, caller(&api_user.user, None));
    }
    request.extensions_mut().insert(auth);
    next.run(request).await
}

impl<S: Send + Sync> FromRequestParts<S> for ApiUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match MaybeApiUser::from_request_parts(parts, state).await? {
            MaybeApiUser(Some(user)) => Ok(user),
            MaybeApiUser(None) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "token",
                "is missing",
            )),
        }
    }
}

/// The caller, if a token was sent. A token that was sent but does not work
/// is refused rather than ignored.
pub struct MaybeApiUser(pub Option<ApiUser>);

impl MaybeApiUser {
    pub fn id(&self) -> Option<i64> {
        self.0.as_ref().map(|u| u.user.id)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MaybeApiUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<TokenAuth>() {
            Some(TokenAuth::Valid(user)) => Ok(MaybeApiUser(Some((**user).clone()))),
            Some(TokenAuth::Invalid) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "token",
                "is invalid or expired",
            )),
            Some(TokenAuth::None) => Ok(MaybeApiUser(None)),
            None => {
                Err(AppError::Internal(anyhow::anyhow!("the API's token layer is missing")).into())
            }
        }
    }
}

/// A page's context and who is looking, for handlers that render with
/// both: reads as the [`PageCtx`] it holds.
#[derive(Clone)]
pub struct Page {
    pub ctx: PageCtx,
    pub viewer: Viewer,
}

impl std::ops::Deref for Page {
    type Target = PageCtx;
    fn deref(&self) -> &PageCtx {
        &self.ctx
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        Ok(Page {
            ctx: PageCtx::from_request_parts(parts, state).await?,
            viewer: Viewer::from_request_parts(parts, state).await?,
        })
    }
}
