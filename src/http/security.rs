//! The security headers every response carries: a Content-Security-Policy
//! that allows scripts, styles and fonts from the site only (so an injected
//! script cannot run, even past the sanitizer) and no framing unless
//! configured, `nosniff`, a referrer policy, a permissions policy, and HSTS
//! when the site is served over https.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::config::HttpSettings;

/// The headers, made once from the settings.
pub struct SecurityHeaders(Vec<(HeaderName, HeaderValue)>);

impl SecurityHeaders {
    pub fn new(http: &HttpSettings) -> Arc<Self> {
        // Images may come from anywhere: posts show images by their URL.
        let csp = format!(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src * data:; \
             font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'self'; \
             object-src 'none'; frame-ancestors {}",
            http.frame_ancestors
        );
        let mut headers = vec![
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_str(&csp).expect("checked when the setting was parsed"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("strict-origin-when-cross-origin"),
            ),
            (
                HeaderName::from_static("permissions-policy"),
                HeaderValue::from_static(
                    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
                ),
            ),
        ];
        if http.secure_cookies() {
            headers.push((
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=31536000"),
            ));
        }
        Arc::new(Self(headers))
    }
}

/// Adds the headers a response does not set itself.
pub async fn add(
    State(headers): State<Arc<SecurityHeaders>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    for (name, value) in &headers.0 {
        if !response.headers().contains_key(name) {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response
}
