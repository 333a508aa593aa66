//! `/api/users`, `/api/user` and `/api/profiles`: the RealWorld account routes.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::AppendHeaders;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::limits::Limits;
use super::{NewAccount, NewAddress, Profile, ProfileChanges, SignInFrom, User, device, token};
use crate::app::App;
use crate::error::{FieldErrors, Problem};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(register))
        .routes(routes!(current_user, update_user))
        .routes(routes!(profile))
        .routes(routes!(follow, unfollow))
}
use super::extract::{ApiUser, MaybeApiUser};
use crate::http::api::{ApiError, ApiJson};
use crate::http::extract::ClientIp;

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    user: LoginUser,
}

#[derive(Deserialize, ToSchema)]
struct LoginUser {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
    user: RegisterUser,
}

#[derive(Deserialize, ToSchema)]
struct RegisterUser {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateUserRequest {
    user: UpdateUser,
}

/// Absent fields stay as they are; `null` clears `bio` and `image` and is
/// refused for the others.
#[derive(Deserialize, ToSchema)]
struct UpdateUser {
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<String>)]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<String>)]
    username: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<String>)]
    password: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<String>)]
    bio: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::api::present")]
    #[schema(value_type = Option<String>)]
    image: Option<Option<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    user: UserJson,
}

#[derive(Serialize, ToSchema)]
struct UserJson {
    email: String,
    token: String,
    username: String,
    bio: Option<String>,
    image: Option<String>,
}

impl UserResponse {
    fn new(user: User, token: &token::Token) -> Json<Self> {
        Json(Self {
            user: UserJson {
                email: user.email.unwrap_or_default(),
                token: token.jwt.clone(),
                username: user.username,
                bio: user.bio,
                image: user.image,
            },
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProfileResponse {
    profile: ProfileJson,
}

/// An author or profile as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct ProfileJson {
    pub username: String,
    pub bio: Option<String>,
    pub image: Option<String>,
    pub following: bool,
}

impl From<Profile> for ProfileJson {
    fn from(p: Profile) -> Self {
        Self {
            username: p.username,
            bio: p.bio,
            image: p.image,
            following: p.following,
        }
    }
}

fn required(errors: &mut FieldErrors, field: &'static str, value: &Option<String>) {
    if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
        errors.add(field, Problem::Blank);
    }
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/users/login", tag = "User and Authentication",
    request_body = LoginRequest,
    responses((status = 200, body = UserResponse), (status = 401, description = "Wrong credentials"), (status = 422, description = "Missing fields"), (status = 429, description = "Too many failed sign-ins: wait for Retry-After seconds")))]
pub async fn login(
    State(state): State<App>,
    headers: HeaderMap,
    ClientIp(client): ClientIp,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<(KnownDevice, Json<UserResponse>), ApiError> {
    let mut errors = FieldErrors::new();
    required(&mut errors, "email", &request.user.email);
    required(&mut errors, "password", &request.user.password);
    errors.into_result()?;
    let (email, password) = (
        request.user.email.unwrap_or_default(),
        request.user.password.unwrap_or_default(),
    );
    let from = SignInFrom {
        client,
        known_account: device::known_account(&headers, state.secret()),
    };
    let user = super::authenticate(&state.db, &email, &password, from).await?;
    let token = token::issue(&state.db, state.secret(), &user).await?;
    let known = AppendHeaders([(header::SET_COOKIE, device::cookie(&state, user.id))]);
    Ok((known, UserResponse::new(user, &token)))
}

/// The cookie that makes a client a known device of the account it signed
/// in to, for clients that keep cookies.
type KnownDevice = AppendHeaders<[(header::HeaderName, axum::http::HeaderValue); 1]>;

/// Register a new account.
#[utoipa::path(post, path = "/users", tag = "User and Authentication",
    request_body = RegisterRequest,
    responses((status = 201, body = UserResponse), (status = 409, description = "Username or email taken"), (status = 422, description = "Invalid fields"), (status = 429, description = "Too many registrations from this address: wait for Retry-After seconds")))]
pub async fn register(
    State(state): State<App>,
    ClientIp(client): ClientIp,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    state.part::<Limits>().registration(client)?;
    let account = NewAccount {
        username: request.user.username.unwrap_or_default(),
        email: request.user.email.unwrap_or_default(),
        password: request.user.password.unwrap_or_default(),
        invite: None,
    };
    let user = super::register(&state.db, state.settings.site.registration, &account).await?;
    let token = token::issue(&state.db, state.secret(), &user).await?;
    Ok((StatusCode::CREATED, UserResponse::new(user, &token)))
}

/// The signed-in user.
#[utoipa::path(get, path = "/user", tag = "User and Authentication",
    security(("Token" = [])),
    responses((status = 200, body = UserResponse), (status = 401, description = "No or bad token")))]
pub async fn current_user(caller: ApiUser) -> Json<UserResponse> {
    UserResponse::new(caller.user, &caller.token)
}

/// Update the signed-in user.
#[utoipa::path(put, path = "/user", tag = "User and Authentication",
    security(("Token" = [])), request_body = UpdateUserRequest,
    responses((status = 200, body = UserResponse), (status = 401, description = "No or bad token"), (status = 409, description = "Username or email taken"), (status = 422, description = "Invalid fields"), (status = 429, description = "Too many changes of address from this address: wait for Retry-After seconds")))]
pub async fn update_user(
    State(state): State<App>,
    caller: ApiUser,
    ClientIp(client): ClientIp,
    ApiJson(request): ApiJson<UpdateUserRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    let u = request.user;
    // `null` for a required field is the same mistake as an empty one.
    let blank_if_null = |field: Option<Option<String>>| field.map(Option::unwrap_or_default);
    let changes = ProfileChanges {
        username: blank_if_null(u.username),
        email: blank_if_null(u.email),
        bio: blank_if_null(u.bio),
        image: blank_if_null(u.image),
    };
    let password = blank_if_null(u.password);
    // Check the new password before changing anything, so a refused
    // request changes nothing.
    if let Some(password) = &password {
        super::domain::Password::parse(password)
            .map_err(|m| crate::error::AppError::from(FieldErrors::single("password", m)))?;
    }
    // The answer tells whether another account has the new address.
    if changes.new_address(&caller.user).is_some() {
        state.part::<Limits>().address_change(client)?;
    }
    let mut user = super::update_profile(&state.db, &caller.user, &changes, NewAddress::AtOnce)
        .await?
        .user;
    if let Some(password) = password {
        super::set_password(
            &state.db,
            &user,
            &password,
            "password",
            Some(&caller.token.session_id),
        )
        .await?;
        user = super::find(&state.db, user.id)
            .await?
            .ok_or(crate::error::AppError::NotFound(
                crate::error::Thing::Profile,
            ))?;
    }
    Ok(UserResponse::new(user, &caller.token))
}

/// A profile.
#[utoipa::path(get, path = "/profiles/{username}", tag = "Profile",
    params(("username" = String, Path)),
    responses((status = 200, body = ProfileResponse), (status = 404, description = "No such user")))]
pub async fn profile(
    State(state): State<App>,
    caller: MaybeApiUser,
    Path(username): Path<String>,
) -> Result<Json<ProfileResponse>, ApiError> {
    let profile = super::profile(&state.db, &username, caller.id()).await?;
    Ok(Json(ProfileResponse {
        profile: profile.into(),
    }))
}

/// Follow a user.
#[utoipa::path(post, path = "/profiles/{username}/follow", tag = "Profile",
    security(("Token" = [])), params(("username" = String, Path)),
    responses((status = 200, body = ProfileResponse), (status = 401, description = "No or bad token"), (status = 404, description = "No such user")))]
pub async fn follow(
    State(state): State<App>,
    caller: ApiUser,
    Path(username): Path<String>,
) -> Result<Json<ProfileResponse>, ApiError> {
    let profile = super::set_following(&state.db, &caller.user, &username, true).await?;
    Ok(Json(ProfileResponse {
        profile: profile.into(),
    }))
}

/// Unfollow a user.
#[utoipa::path(delete, path = "/profiles/{username}/follow", tag = "Profile",
    security(("Token" = [])), params(("username" = String, Path)),
    responses((status = 200, body = ProfileResponse), (status = 401, description = "No or bad token"), (status = 404, description = "No such user")))]
pub async fn unfollow(
    State(state): State<App>,
    caller: ApiUser,
    Path(username): Path<String>,
) -> Result<Json<ProfileResponse>, ApiError> {
    let profile = super::set_following(&state.db, &caller.user, &username, false).await?;
    Ok(Json(ProfileResponse {
        profile: profile.into(),
    }))
}
