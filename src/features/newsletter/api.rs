//! The newsletter in the JSON API: asking to subscribe, as the form does.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Budget;
use super::subscribers::{self, Asked};
use crate::app::App;
use crate::features::accounts::extract::MaybeApiUser;
use crate::http::api::{ApiError, ApiJson};
use crate::http::cache::PagesUnchanged;
use crate::http::extract::ClientIp;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(subscribe))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SubscribeRequest {
    subscription: NewSubscription,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewSubscription {
    email: String,
    /// An author's username, for their posts only; absent for every post.
    author: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscribeResponse {
    /// `confirm`: a confirmation email is on its way (the same answer
    /// whatever the address); `subscribed`: the caller's own address,
    /// which their account confirmed.
    status: &'static str,
}

/// Asks to get new posts by email. Double opt-in: nothing is sent before
/// the link in the confirmation email is followed; the answer is the same
/// whether or not the address was subscribed. A signed-in caller's own
/// address is subscribed at once.
#[utoipa::path(post, path = "/newsletter/subscriptions", tag = "Newsletter",
    request_body = SubscribeRequest,
    responses((status = 202, body = SubscribeResponse),
              (status = 422, description = "Not an email address, or no such author"),
              (status = 429, description = "Too many requests from this address")))]
pub async fn subscribe(
    State(app): State<App>,
    ClientIp(client): ClientIp,
    caller: MaybeApiUser,
    ApiJson(request): ApiJson<SubscribeRequest>,
) -> Result<
    (
        StatusCode,
        Extension<PagesUnchanged>,
        Json<SubscribeResponse>,
    ),
    ApiError,
> {
    app.part::<Budget>().check(client)?;
    let NewSubscription { email, author } = request.subscription;
    let member = caller.0.as_ref().and_then(|c| c.user.email.as_deref());
    let status = match subscribers::ask(&app, &email, author.as_deref(), member).await? {
        Asked::ToConfirm => "confirm",
        Asked::Subscribed => "subscribed",
    };
    Ok((
        StatusCode::ACCEPTED,
        Extension(PagesUnchanged),
        Json(SubscribeResponse { status }),
    ))
}
