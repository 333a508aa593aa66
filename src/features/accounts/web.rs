//! The account pages: sign in and out, register, settings, invites.

use axum::Router;
use axum::extract::Path;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::context;
use minijinja::value::Serde;
use serde::Deserialize;
use tower_sessions::Session;

use super::extract::{Admin, SignedIn};
use super::limits::Limits;
use super::session_store::USER_ID_KEY;
use super::signup::{self, SignUp};
use super::{NewAccount, NewAddress, ProfileChanges, SignInFrom, User, address, device};
use crate::app::App;
use crate::error::{AppError, AppResult, FieldErrors, Problem, Thing};
use crate::http::extract::{ClientIp, CsrfForm, NoFields};
use crate::http::pages::{PageCtx, safe_next, see_other};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/register", get(register_page).post(register))
        .route(CONFIRM_ROUTE, get(confirm_page).post(confirm))
        .route(ADDRESS_ROUTE, get(address_page).post(confirm_address))
        .route("/logout", post(logout))
        .route("/settings", get(settings_page).post(update_settings))
        .route("/settings/password", post(change_password))
        .route("/settings/delete", get(delete_page).post(delete_account))
        .route("/admin/invites", get(invites_page).post(create_invite))
        .route("/settings/notifications", post(update_notifications))
        .route("/settings/time-zone", post(update_time_zone))
        .route("/password/forgot", get(forgot_page).post(forgot))
        .route(RESET_ROUTE, get(reset_page).post(reset))
        .route(
            UNSUBSCRIBE_ROUTE,
            get(unsubscribe).post(change_subscription),
        )
}

pub const CONFIRM_ROUTE: &str = "/register/confirm/{token}";
pub const ADDRESS_ROUTE: &str = "/settings/email/{token}";
pub const RESET_ROUTE: &str = "/password/reset/{token}";
pub const UNSUBSCRIBE_ROUTE: &str = "/unsubscribe/{user_id}/{token}";

#[derive(Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
    /// `members`: sent here by a page for signed-in members.
    why: Option<String>,
}

#[derive(Deserialize, Default)]
struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

async fn login_page(
    State(state): State<App>,
    ctx: PageCtx,
    Query(q): Query<NextQuery>,
) -> Response {
    if ctx.caller.is_some() {
        return see_other("/");
    }
    ctx.render(
        &state,
        "login.html",
        context! {
            next => safe_next(q.next.as_deref()),
            members_only => q.why.as_deref() == Some("members"),
        },
    )
}

async fn login(
    State(state): State<App>,
    ctx: PageCtx,
    session: Session,
    headers: HeaderMap,
    ClientIp(client): ClientIp,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> AppResult<Response> {
    let next = safe_next(form.next.as_deref());
    let from = SignInFrom {
        client,
        known_account: device::known_account(&headers, state.secret()),
    };
    match super::authenticate(&state.db, &form.login, &form.password, from).await {
        Ok(user) => sign_in(&state, &session, &user, &next).await,
        Err(AppError::BadCredentials) => Ok(ctx.render_status(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "login.html",
            context! { next, login => form.login, bad_credentials => true },
        )),
        Err(e) => ctx.form_again(&state, "login.html", e, |errors| {
            context! { next, login => form.login, errors => Serde(errors) }
        }),
    }
}

/// Starts a signed-in session under a new id, so an id planted before
/// sign-in (session fixation) is worth nothing after, and goes on to
/// `next`. The browser becomes a known device of the account.
async fn sign_in(state: &App, session: &Session, user: &User, next: &str) -> AppResult<Response> {
    let failed =
        |e: tower_sessions::session::Error| AppError::Internal(anyhow::anyhow!("session: {e}"));
    session.cycle_id().await.map_err(failed)?;
    session.insert(USER_ID_KEY, user.id).await.map_err(failed)?;
    let mut response = see_other(next);
    response
        .headers_mut()
        .append(header::SET_COOKIE, device::cookie(state, user.id));
    Ok(response)
}

async fn register_page(State(state): State<App>, ctx: PageCtx) -> Response {
    if ctx.caller.is_some() {
        return see_other("/");
    }
    ctx.render(&state, "register.html", context! {})
}

/// The first account is made and signed in at once; any other registration
/// gets the same answer whether or not an account has the address.
async fn register(
    State(state): State<App>,
    ctx: PageCtx,
    session: Session,
    ClientIp(client): ClientIp,
    CsrfForm(form): CsrfForm<NewAccount>,
) -> AppResult<Response> {
    state.part::<Limits>().registration(client)?;
    match signup::sign_up(&state.db, state.settings.site.registration, &form).await {
        Ok(SignUp::Owner(user)) => sign_in(&state, &session, &user, "/").await,
        Ok(SignUp::Confirming(email)) => Ok(ctx.render(
            &state,
            "register.html",
            context! {
                sent => true,
                email => email.as_str(),
                hours => signup::LINK_LIFETIME.whole_hours(),
            },
        )),
        Err(e) => ctx.form_again(&state, "register.html", e, |errors| {
            context! { form => context! { username => form.username, email => form.email, invite => form.invite }, errors => Serde(errors) }
        }),
    }
}

fn invalid_confirm_link(state: &App, ctx: &PageCtx) -> Response {
    ctx.render_status(
        state,
        StatusCode::NOT_FOUND,
        "register_confirm.html",
        context! { invalid_link => true, hours => signup::LINK_LIFETIME.whole_hours() },
    )
}

/// The emailed link shows what it would make and a button: a mail
/// program that fetches links to scan them makes no account and signs
/// nobody in.
async fn confirm_page(
    State(state): State<App>,
    ctx: PageCtx,
    Path(token): Path<String>,
) -> AppResult<Response> {
    match signup::check(&state.db, &token).await {
        Ok(pending) => Ok(ctx.render(
            &state,
            "register_confirm.html",
            context! { token, pending => Serde(pending) },
        )),
        Err(AppError::NotFound(_)) => Ok(invalid_confirm_link(&state, &ctx)),
        Err(e) => Err(e),
    }
}

async fn confirm(
    State(state): State<App>,
    ctx: PageCtx,
    session: Session,
    Path(token): Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> AppResult<Response> {
    match signup::confirm(&state.db, &token).await {
        Ok(user) => sign_in(&state, &session, &user, "/").await,
        // Someone took the name (or the address, or the invite) since.
        Err(AppError::Validation(errors)) => Ok(ctx.render_status(
            &state,
            StatusCode::CONFLICT,
            "register_confirm.html",
            context! { errors => Serde(errors) },
        )),
        Err(AppError::NotFound(_)) => Ok(invalid_confirm_link(&state, &ctx)),
        Err(e) => Err(e),
    }
}

async fn logout(session: Session, CsrfForm(_): CsrfForm<NoFields>) -> AppResult<Response> {
    session
        .flush()
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("session: {e}")))?;
    Ok(see_other("/"))
}

async fn settings_page(
    State(state): State<App>,
    ctx: PageCtx,
    SignedIn(user): SignedIn,
) -> Response {
    ctx.render(
        &state,
        "settings.html",
        context! { form => Serde(user), saved => false },
    )
}

/// A new address changes when the link sent to it is followed, and the
/// answer is the same whether or not another account has it.
async fn update_settings(
    State(state): State<App>,
    ctx: PageCtx,
    SignedIn(user): SignedIn,
    ClientIp(client): ClientIp,
    CsrfForm(form): CsrfForm<ProfileChanges>,
) -> AppResult<Response> {
    if form.new_address(&user).is_some() {
        state.part::<Limits>().address_change(client)?;
    }
    match super::update_profile(&state.db, &user, &form, NewAddress::Confirmed).await {
        Ok(updated) => Ok(ctx.render(
            &state,
            "settings.html",
            context! {
                form => Serde(updated.user),
                saved => true,
                confirming => updated.confirming.as_ref().map(|email| email.as_str()),
                hours => address::LINK_LIFETIME.whole_hours(),
            },
        )),
        Err(e) => ctx.form_again(&state, "settings.html", e, |errors| {
            context! { form => Serde(form), errors => Serde(errors) }
        }),
    }
}

fn invalid_address_link(state: &App, ctx: &PageCtx) -> Response {
    ctx.render_status(
        state,
        StatusCode::NOT_FOUND,
        "address_confirm.html",
        context! { invalid_link => true, hours => address::LINK_LIFETIME.whole_hours() },
    )
}

/// Like the registration link, it shows a button rather than acting when
/// fetched. It needs no sign-in: it reaches only the new address, and the
/// change was asked for from the account.
async fn address_page(
    State(state): State<App>,
    ctx: PageCtx,
    Path(token): Path<String>,
) -> AppResult<Response> {
    match address::check(&state.db, &token).await {
        Ok(pending) => Ok(ctx.render(
            &state,
            "address_confirm.html",
            context! { token, pending => Serde(pending) },
        )),
        Err(AppError::NotFound(_)) => Ok(invalid_address_link(&state, &ctx)),
        Err(e) => Err(e),
    }
}

async fn confirm_address(
    State(state): State<App>,
    ctx: PageCtx,
    Path(token): Path<String>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> AppResult<Response> {
    match address::confirm(&state.db, &token).await {
        Ok(user) => Ok(ctx.render(
            &state,
            "address_confirm.html",
            context! { changed => user.email },
        )),
        // Another account got the address since.
        Err(AppError::Validation(errors)) => Ok(ctx.render_status(
            &state,
            StatusCode::CONFLICT,
            "address_confirm.html",
            context! { errors => Serde(errors) },
        )),
        Err(AppError::NotFound(_)) => Ok(invalid_address_link(&state, &ctx)),
        Err(e) => Err(e),
    }
}

#[derive(Deserialize, Default)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

async fn change_password(
    State(state): State<App>,
    ctx: PageCtx,
    session: Session,
    SignedIn(user): SignedIn,
    ClientIp(client): ClientIp,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> AppResult<Response> {
    state.part::<Limits>().password_check(client)?;
    let current_session = session.id().map(|id| id.to_string());
    match super::change_password(
        &state.db,
        &user,
        &form.current_password,
        &form.new_password,
        current_session.as_deref(),
    )
    .await
    {
        Ok(()) => Ok(ctx.render(
            &state,
            "settings.html",
            context! { form => Serde(user), password_changed => true },
        )),
        Err(e) => ctx.form_again(&state, "settings.html", e, |password_errors| {
            context! { form => Serde(user), password_errors => Serde(password_errors) }
        }),
    }
}

async fn delete_page(State(state): State<App>, ctx: PageCtx, SignedIn(_): SignedIn) -> Response {
    ctx.render(&state, "delete_account.html", context! {})
}

#[derive(Deserialize, Default)]
struct DeleteForm {
    #[serde(default)]
    password: String,
}

async fn delete_account(
    State(state): State<App>,
    ctx: PageCtx,
    session: Session,
    SignedIn(user): SignedIn,
    ClientIp(client): ClientIp,
    CsrfForm(form): CsrfForm<DeleteForm>,
) -> AppResult<Response> {
    state.part::<Limits>().password_check(client)?;
    match super::delete_account(&state.db, &user, &form.password).await {
        Ok(()) => {
            session
                .flush()
                .await
                .map_err(|e| AppError::Internal(anyhow::anyhow!("session: {e}")))?;
            Ok(see_other("/"))
        }
        Err(e) => ctx.form_again(&state, "delete_account.html", e, |errors| {
            context! { errors => Serde(errors) }
        }),
    }
}

async fn invites_page(
    State(state): State<App>,
    ctx: PageCtx,
    Admin(user): Admin,
) -> AppResult<Response> {
    let invites = super::list_invites(&state.db, &user).await?;
    Ok(ctx.render(
        &state,
        "invites.html",
        context! { invites => Serde(invites) },
    ))
}

async fn create_invite(
    State(state): State<App>,
    ctx: PageCtx,
    SignedIn(user): SignedIn,
    CsrfForm(_): CsrfForm<NoFields>,
) -> AppResult<Response> {
    let code = super::create_invite(&state.db, &user).await?;
    let invites = super::list_invites(&state.db, &user).await?;
    Ok(ctx.render(
        &state,
        "invites.html",
        context! { invites => Serde(invites), created => code },
    ))
}

#[derive(Deserialize, Default)]
struct NotificationsForm {
    /// A checkbox: present when ticked.
    notify_replies: Option<String>,
}

async fn update_notifications(
    State(state): State<App>,
    ctx: PageCtx,
    SignedIn(user): SignedIn,
    CsrfForm(form): CsrfForm<NotificationsForm>,
) -> AppResult<Response> {
    let on = form.notify_replies.is_some();
    super::set_notify_replies(&state.db, user.id, on).await?;
    Ok(ctx.render(
        &state,
        "settings.html",
        context! { form => Serde(user), notify_replies => on, notifications_saved => true },
    ))
}

#[derive(Deserialize, Default)]
struct TimeZoneForm {
    /// An IANA name; empty: the browser's.
    #[serde(default)]
    time_zone: String,
}

async fn update_time_zone(
    State(state): State<App>,
    ctx: PageCtx,
    SignedIn(user): SignedIn,
    CsrfForm(form): CsrfForm<TimeZoneForm>,
) -> AppResult<Response> {
    let chosen = form.time_zone.trim();
    let zone = if chosen.is_empty() {
        None
    } else {
        match crate::zone::Zone::named(chosen) {
            Some(zone) => Some(zone),
            None => {
                let errors = FieldErrors::single(
                    "time_zone",
                    Problem::Format("must be a time zone from the list, like Europe/Paris"),
                );
                return ctx.form_again(&state, "settings.html", AppError::Validation(errors), |errors| {
                    context! { form => Serde(&user), time_zone => chosen, time_zone_errors => Serde(errors) }
                });
            }
        }
    };
    super::set_time_zone(&state.db, user.id, zone.as_ref()).await?;
    Ok(ctx.render(
        &state,
        "settings.html",
        context! { form => Serde(&user), time_zone => zone.as_ref().map(|z| z.name()).unwrap_or_default(), time_zone_saved => true },
    ))
}

#[derive(Deserialize, Default)]
struct ForgotForm {
    #[serde(default)]
    email: String,
}

async fn forgot_page(State(state): State<App>, ctx: PageCtx) -> Response {
    ctx.render(&state, "forgot_password.html", context! {})
}

/// The same answer whether or not an account has the address.
async fn forgot(
    State(state): State<App>,
    ctx: PageCtx,
    ClientIp(client): ClientIp,
    CsrfForm(form): CsrfForm<ForgotForm>,
) -> AppResult<Response> {
    state.part::<Limits>().password_reset(client)?;
    let minutes = super::reset::LINK_LIFETIME.whole_minutes();
    match super::reset::request(&state.db, &form.email).await {
        Ok(()) => Ok(ctx.render(
            &state,
            "forgot_password.html",
            context! { sent => true, email => form.email.trim(), minutes },
        )),
        Err(e) => ctx.form_again(&state, "forgot_password.html", e, |errors| {
            context! { email => form.email, errors => Serde(errors) }
        }),
    }
}

fn invalid_reset_link(state: &App, ctx: &PageCtx) -> Response {
    ctx.render_status(
        state,
        StatusCode::NOT_FOUND,
        "reset_password.html",
        context! { invalid_link => true, minutes => super::reset::LINK_LIFETIME.whole_minutes() },
    )
}

async fn reset_page(
    State(state): State<App>,
    ctx: PageCtx,
    Path(token): Path<String>,
) -> AppResult<Response> {
    match super::reset::check(&state.db, &token).await {
        Ok(user) => Ok(ctx.render(
            &state,
            "reset_password.html",
            context! { token, username => user.username },
        )),
        Err(AppError::NotFound(_)) => Ok(invalid_reset_link(&state, &ctx)),
        Err(e) => Err(e),
    }
}

#[derive(Deserialize, Default)]
struct ResetForm {
    #[serde(default)]
    password: String,
}

async fn reset(
    State(state): State<App>,
    ctx: PageCtx,
    Path(token): Path<String>,
    CsrfForm(form): CsrfForm<ResetForm>,
) -> AppResult<Response> {
    match super::reset::reset_password(&state.db, &token, &form.password).await {
        Ok(user) => Ok(ctx.render(
            &state,
            "login.html",
            context! {
                login => user.username,
                next => "/",
                notice => "Your password is changed, and every session of your account was signed out. Sign in with the new password.",
            },
        )),
        Err(AppError::Validation(errors)) => {
            let user = super::reset::check(&state.db, &token).await?;
            Ok(ctx.render_status(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                "reset_password.html",
                context! { token, username => user.username, errors => Serde(errors) },
            ))
        }
        Err(AppError::NotFound(_)) => Ok(invalid_reset_link(&state, &ctx)),
        Err(e) => Err(e),
    }
}

/// The link in reply emails: one click turns them off, no sign-in needed
/// (the link is signed with the site key). The page offers the way back.
async fn unsubscribe(
    State(state): State<App>,
    ctx: PageCtx,
    Path((user_id, token)): Path<(i64, String)>,
) -> AppResult<Response> {
    set_subscription(&state, &ctx, user_id, &token, false).await
}

#[derive(Deserialize, Default)]
struct SubscriptionForm {
    resubscribe: Option<String>,
}

/// POST to the same link: mail clients' one-click unsubscribe (RFC 8058),
/// or the page's button. No CSRF token: the signed link is the authority,
/// and all it can do is change this one preference.
async fn change_subscription(
    State(state): State<App>,
    ctx: PageCtx,
    Path((user_id, token)): Path<(i64, String)>,
    axum::Form(form): axum::Form<SubscriptionForm>,
) -> AppResult<Response> {
    set_subscription(&state, &ctx, user_id, &token, form.resubscribe.is_some()).await
}

async fn set_subscription(
    state: &App,
    ctx: &PageCtx,
    user_id: i64,
    token: &str,
    on: bool,
) -> AppResult<Response> {
    if !super::check_unsubscribe_token(state.secret(), user_id, token) {
        return Err(AppError::NotFound(Thing::Link));
    }
    super::set_notify_replies(&state.db, user_id, on).await?;
    Ok(ctx.render(
        state,
        "unsubscribe.html",
        context! { subscribed => on, action => format!("/unsubscribe/{user_id}/{token}") },
    ))
}
