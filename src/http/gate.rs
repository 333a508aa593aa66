//! The maintenance gate, for the site and the API alike: what the switch
//! (`crate::maintenance`) means for a request.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api::ApiError;
use super::caller::Caller;
use super::pages::PageCtx;
use crate::app::App;
use crate::maintenance::RETRY_AFTER_SECS;

/// How the gate answers: a page in the site's look, or the API's error shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renderer {
    Page,
    Json,
}

/// The one maintenance gate, for the site and the API: while the switch is
/// on, only administrators get past it (found by the layer before it, as
/// the [`Caller`]); everyone else gets 503 with `Retry-After`. Anyone may
/// reach the sign-in page, to sign in as an administrator.
pub async fn gate(
    State((app, renderer)): State<(App, Renderer)>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(down) = app
        .maintenance
        .for_request(&app.db, request.extensions_mut())
        .await
    else {
        return next.run(request).await;
    };
    let admin = Caller::of(request.extensions()).is_some_and(|c| c.admin);
    let sign_in =
        renderer == Renderer::Page && ["/login", "/logout"].contains(&request.uri().path());
    if admin || sign_in {
        return next.run(request).await;
    }
    let mut response = match renderer {
        Renderer::Json => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "maintenance",
            &down.message,
        )
        .into_response(),
        Renderer::Page => {
            let (mut parts, _) = request.into_parts();
            match PageCtx::from_request_parts(&mut parts, &app).await {
                Ok(ctx) => ctx.render_status(
                    &app,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "maintenance.html",
                    minijinja::context! { message => down.message.clone() },
                ),
                Err(e) => e.into_response(),
            }
        }
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}
