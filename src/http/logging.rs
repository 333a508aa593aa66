//! One log line per request — request id, method, route template, status,
//! latency, user id — and the `X-Request-Id` header that ties a client's
//! report, the logs and the response together.
//!
//! The route is the template (`/posts/{slug}`), never the path: paths can
//! hold secrets (password reset links), query strings more so.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Response};
use axum::middleware::Next;
use opentelemetry::trace::TraceContextExt;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, OnResponse, TraceLayer};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Keeps a well-formed incoming `X-Request-Id` (from a proxy or a client)
/// and makes one otherwise; a malformed one is replaced rather than logged.
pub async fn request_id(mut request: Request) -> Request {
    let valid = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|id| {
            (1..=128).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        });
    if !valid {
        let id = HeaderValue::from_str(&crate::crypto::random_token(12))
            .expect("URL-safe base64 is a header value");
        request.headers_mut().insert(REQUEST_ID, id);
    }
    if let Some(id) = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
    {
        sentry::configure_scope(|scope| scope.set_tag("request_id", id));
    }
    request
}

#[derive(Clone, Copy)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", |p| p.as_str());
        let id = request
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        let span = tracing::info_span!(
            "request",
            request_id = %id,
            method = %request.method(),
            route,
            // For OpenTelemetry: the span's name and kind, as its HTTP
            // conventions name them.
            otel.name = %format_args!("{} {route}", request.method()),
            otel.kind = "server",
        );
        // Continue the caller's trace when it sent a `traceparent`.
        let caller = crate::telemetry::incoming_context(request.headers());
        if caller.has_active_span() {
            // Fails only when tracing is off, and then there is nothing to join.
            let _ = span.set_parent(caller);
        }
        span
    }
}

#[derive(Clone, Copy)]
pub struct LogResponse;

impl<B> OnResponse<B> for LogResponse {
    fn on_response(self, response: &Response<B>, latency: Duration, span: &Span) {
        let status = response.status().as_u16();
        span.set_attribute("http.response.status_code", i64::from(status));
        if status >= 500 && status != 503 {
            span.set_status(opentelemetry::trace::Status::error(""));
        }
        let latency_ms = latency.as_secs_f64() * 1000.0;
        let user_id = response.extensions().get::<SignedInUser>().map(|u| u.0);
        // With tracing on, the line names its trace: from a log search
        // straight to the trace, and back.
        let context = span.context();
        let trace = context.span().span_context().clone();
        let trace_id = trace.is_sampled().then(|| trace.trace_id().to_string());
        match status {
            // Only sent on purpose (maintenance), so not an error (nor an
            // error in its trace, above).
            503 => tracing::warn!(status, latency_ms, user_id, trace_id, "request"),
            500.. => tracing::error!(status, latency_ms, user_id, trace_id, "request"),
            _ => tracing::info!(status, latency_ms, user_id, trace_id, "request"),
        }
    }
}

/// Where whoever authenticates the request (the page context, the API's
/// token extractor) notes the user, for the request's log line. (Recording
/// into the span would be simpler, but JSON logs show only the fields a span
/// was created with.)
#[derive(Clone, Default)]
pub struct UserSlot(Arc<OnceLock<i64>>);

#[derive(Clone, Copy)]
struct SignedInUser(i64);

/// Notes who made the request, if the request came through [`user_slot`].
pub fn note_user(extensions: &axum::http::Extensions, user_id: i64) {
    if let Some(slot) = extensions.get::<UserSlot>() {
        let _ = slot.0.set(user_id);
    }
}

/// Gives the request a [`UserSlot`] and hands what was noted in it to the
/// log line (inside the trace layer, which sees only the response).
pub async fn user_slot(mut request: Request, next: Next) -> axum::response::Response {
    let slot = UserSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    if let Some(id) = slot.0.get() {
        response.extensions_mut().insert(SignedInUser(*id));
    }
    response
}

/// The request's span and its one log line.
pub fn trace_layer()
-> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RequestSpan, (), LogResponse, (), (), ()> {
    TraceLayer::new_for_http()
        .make_span_with(RequestSpan)
        .on_request(())
        .on_response(LogResponse)
        .on_body_chunk(())
        .on_eos(())
        .on_failure(())
}
