//! The newsletter's pages: the subscribe form (in every page's footer and
//! on author pages, and alone at `/newsletter`), the links of its emails
//! (confirm, manage, unsubscribe), and the owner's view.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minijinja::context;
use minijinja::value::Serde;
use serde::Deserialize;

use super::Budget;
use super::subscribers::{self, Asked, Audience, Consent, Link};
use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::features::accounts::domain::Email;
use crate::features::accounts::extract::Viewer;
use crate::http::extract::ClientIp;
use crate::http::pages::PageCtx;

pub const CONFIRM_ROUTE: &str = "/newsletter/confirm/{id}/{token}";
pub const MANAGE_ROUTE: &str = "/newsletter/manage/{id}/{token}";
pub const UNSUBSCRIBE_ROUTE: &str = "/newsletter/unsubscribe/{id}/{token}";

pub fn routes() -> Router<App> {
    Router::new()
        .route("/newsletter", get(form_page).post(subscribe))
        .route(CONFIRM_ROUTE, get(confirm_page).post(confirm))
        .route(MANAGE_ROUTE, get(manage_page).post(manage))
        .route(UNSUBSCRIBE_ROUTE, get(unsubscribe_page).post(unsubscribe))
}

/// The subscribe form, as every page's footer and author pages send it.
/// No CSRF token: it is on pages shared between readers, and all it can do
/// is send a confirmation email (at most one an hour to an address).
#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub struct SubscribeForm {
    #[serde(default)]
    email: String,
    /// An author's username; empty for every post.
    #[serde(default)]
    author: String,
    /// Hidden from people; a bot that fills every field fills it.
    #[serde(default)]
    website: String,
}

async fn form_page(State(app): State<App>, ctx: PageCtx) -> AppResult<Response> {
    let authors = subscribers::authors(&app.db).await?;
    Ok(ctx.render(
        &app,
        "newsletter.html",
        context! { authors => Serde(authors), form => Serde(SubscribeForm::default()) },
    ))
}

async fn subscribe(
    State(app): State<App>,
    ctx: PageCtx,
    ClientIp(client): ClientIp,
    Viewer(user): Viewer,
    axum::Form(form): axum::Form<SubscribeForm>,
) -> AppResult<Response> {
    app.part::<Budget>().check(client)?;
    // A bot: answered as anyone, nothing done.
    if !form.website.is_empty() {
        return Ok(ctx.render(&app, "newsletter_done.html", context! { asked => true }));
    }
    let member = user.as_ref().and_then(|u| u.email.as_deref());
    match subscribers::ask(&app, &form.email, Some(&form.author), member).await {
        Ok(Asked::Subscribed) => Ok(ctx.render(
            &app,
            "newsletter_done.html",
            context! { subscribed => true },
        )),
        Ok(Asked::ToConfirm) => {
            Ok(ctx.render(&app, "newsletter_done.html", context! { asked => true }))
        }
        Err(AppError::Validation(errors)) => {
            let authors = subscribers::authors(&app.db).await?;
            Ok(ctx.render_status(
                &app,
                StatusCode::UNPROCESSABLE_ENTITY,
                "newsletter.html",
                context! {
                    authors => Serde(authors),
                    form => Serde(&form),
                    errors => Serde(errors),
                },
            ))
        }
        Err(e) => Err(e),
    }
}

async fn confirm_page(
    State(app): State<App>,
    ctx: PageCtx,
    Path((id, token)): Path<(i64, String)>,
) -> AppResult<Response> {
    let subscriber = subscribers::by_link(&app, Link::Confirm, id, &token).await?;
    let audiences = subscribers::audience_names(&app, id).await?;
    Ok(ctx.render(
        &app,
        "newsletter_confirm.html",
        context! {
            email => subscriber.email,
            confirmed => subscriber.state != "pending",
            audiences,
            action => format!("/newsletter/confirm/{id}/{token}"),
        },
    ))
}

/// The confirmation is a button on the link's page, not the link itself:
/// mail scanners that open links do not subscribe anyone.
async fn confirm(
    State(app): State<App>,
    ctx: PageCtx,
    Path((id, token)): Path<(i64, String)>,
) -> AppResult<Response> {
    let subscriber = subscribers::by_link(&app, Link::Confirm, id, &token).await?;
    subscribers::confirm(&app.db, subscriber.id).await?;
    let links = subscribers::links(&app, id, &subscriber.email)?;
    Ok(ctx.render(
        &app,
        "newsletter_done.html",
        context! { confirmed => true, manage_link => links.manage.path() },
    ))
}

async fn manage_page(
    State(app): State<App>,
    ctx: PageCtx,
    Path((id, token)): Path<(i64, String)>,
) -> AppResult<Response> {
    let subscriber = subscribers::by_link(&app, Link::Manage, id, &token).await?;
    render_manage(&app, &ctx, &subscriber, &token, None).await
}

async fn render_manage(
    app: &App,
    ctx: &PageCtx,
    subscriber: &subscribers::Subscriber,
    token: &str,
    done: Option<&str>,
) -> AppResult<Response> {
    let chosen = subscribers::audiences(&app.db, subscriber.id).await?;
    let authors = subscribers::authors(&app.db).await?;
    let id = subscriber.id;
    Ok(ctx.render(
        app,
        "newsletter_manage.html",
        context! {
            email => subscriber.email.clone(),
            state => subscriber.state.clone(),
            blog => chosen.contains(&Audience::Blog),
            chosen_authors => chosen.iter().filter_map(|a| a.author_id()).collect::<Vec<_>>(),
            authors => Serde(authors),
            action => format!("/newsletter/manage/{id}/{token}"),
            unsubscribe_action => format!("/newsletter/unsubscribe/{id}/{token}"),
            done,
        },
    ))
}

/// The manage page's form: `blog` ticked, and each ticked author's id.
/// Read from the raw body: a form repeats `author` once per box.
async fn manage(
    State(app): State<App>,
    ctx: PageCtx,
    Path((id, token)): Path<(i64, String)>,
    body: String,
) -> AppResult<Response> {
    let subscriber = subscribers::by_link(&app, Link::Manage, id, &token).await?;
    let mut chosen = Vec::new();
    for (name, value) in url::form_urlencoded::parse(body.as_bytes()) {
        match (name.as_ref(), value.parse::<i64>()) {
            ("blog", _) => chosen.push(Audience::Blog),
            ("author", Ok(author)) => chosen.push(Audience::Author(author)),
            _ => {}
        }
    }
    let known: Vec<i64> = subscribers::authors(&app.db)
        .await?
        .into_iter()
        .map(|a| a.id)
        .collect();
    chosen.retain(|a| a.author_id().is_none_or(|id| known.contains(&id)));
    if subscriber.state == "unsubscribed" && !chosen.is_empty() {
        // Back from having left: as any request, confirmed by email first.
        let email = Email::parse(&subscriber.email)
            .map_err(|_| AppError::NotFound(crate::error::Thing::Link))?;
        for audience in &chosen {
            subscribers::request(&app, &email, *audience, Consent::Asked).await?;
        }
    } else {
        subscribers::set_audiences(&app.db, id, &chosen).await?;
    }
    let subscriber = subscribers::find(&app.db, id).await?;
    let done = match subscriber.state.as_str() {
        "unsubscribed" => "Unsubscribed: nothing more will be sent to you.",
        "pending" => "Check your inbox: a link confirms it.",
        _ => "Saved.",
    };
    render_manage(&app, &ctx, &subscriber, &token, Some(done)).await
}

async fn unsubscribe_page(
    State(app): State<App>,
    ctx: PageCtx,
    Path((id, token)): Path<(i64, String)>,
) -> AppResult<Response> {
    let subscriber = subscribers::by_link(&app, Link::Manage, id, &token).await?;
    Ok(ctx.render(
        &app,
        "newsletter_unsubscribe.html",
        context! {
            email => subscriber.email,
            left => subscriber.state == "unsubscribed",
            action => format!("/newsletter/unsubscribe/{id}/{token}"),
            manage_link => format!("/newsletter/manage/{id}/{token}"),
        },
    ))
}

/// Mail clients' one-click unsubscribe (RFC 8058: a POST of
/// `List-Unsubscribe=One-Click`, no cookie, no token but the link's), and
/// the page's button.
async fn unsubscribe(
    State(app): State<App>,
    ctx: PageCtx,
    headers: HeaderMap,
    Path((id, token)): Path<(i64, String)>,
) -> AppResult<Response> {
    let subscriber = subscribers::by_link(&app, Link::Manage, id, &token).await?;
    subscribers::unsubscribe(&app.db, subscriber.id).await?;
    tracing::info!(subscriber = id, "newsletter: unsubscribed");
    let from_a_page = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if !from_a_page {
        return Ok((StatusCode::OK, "Unsubscribed.").into_response());
    }
    Ok(ctx.render(
        &app,
        "newsletter_unsubscribe.html",
        context! {
            email => subscriber.email,
            left => true,
            manage_link => format!("/newsletter/manage/{id}/{token}"),
        },
    ))
}
