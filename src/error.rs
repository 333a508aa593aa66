//! The error type of the application layer, and what each case means over HTTP.
//!
//! Features return [`AppError`]; the HTML site turns it into an error page
//! (see `http::pages`), the JSON API into its own error shape. Internal causes
//! are logged with their whole chain and never shown to users.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub type AppResult<T> = Result<T, AppError>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("sign-in required")]
    Unauthorized,
    #[error("invalid input: {0:?}")]
    Validation(FieldErrors),
    #[error("the form has expired")]
    Csrf,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("too many attempts")]
    RateLimited { retry_after_secs: u64 },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        AppError::Internal(error.into())
    }
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Forbidden | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error a bare status stands for (from the router or an extractor).
    pub fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            404 => AppError::NotFound,
            405 => AppError::BadRequest("this address does not accept that kind of request".into()),
            403 => AppError::Forbidden,
            413 => AppError::PayloadTooLarge,
            s if s < 500 => AppError::BadRequest(status.canonical_reason().unwrap_or("").into()),
            _ => AppError::Internal(anyhow::anyhow!("status {status}")),
        }
    }

    /// What a user may be told.
    pub fn public_message(&self) -> String {
        match self {
            AppError::NotFound => "We could not find that page.".into(),
            AppError::Forbidden => "You are not allowed to do that.".into(),
            AppError::Unauthorized => "Please sign in first.".into(),
            AppError::Validation(errors) => errors.summary(),
            AppError::Csrf => {
                "This form has expired or did not come from this site. Go back, reload the page and try again."
                    .into()
            }
            AppError::BadRequest(reason) => format!("The request could not be read: {reason}"),
            AppError::PayloadTooLarge => "That is more than we accept in one request.".into(),
            AppError::RateLimited { retry_after_secs } => format!(
                "Too many attempts. Try again in {} minutes.",
                retry_after_secs.div_ceil(60)
            ),
            AppError::Internal(_) => "Something went wrong on our side. It has been logged.".into(),
        }
    }
}

/// Marks an error response so the page layer can render it in the site's look.
#[derive(Clone, Debug)]
pub struct ErrorPage {
    pub status: StatusCode,
    pub message: String,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(cause) = &self {
            tracing::error!(error = ?cause, "request failed");
        }
        let status = self.status();
        let message = self.public_message();
        let mut response = (status, message.clone()).into_response();
        if let AppError::RateLimited { retry_after_secs } = self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                retry_after_secs
                    .to_string()
                    .parse()
                    .expect("digits are a header value"),
            );
        }
        response
            .extensions_mut()
            .insert(ErrorPage { status, message });
        response
    }
}

/// Messages by field name, for forms and for the API's error shape.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct FieldErrors(BTreeMap<&'static str, Vec<String>>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: &'static str, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_default().push(message.into());
    }

    /// Records the error of a parse, keeping the value when it succeeded.
    pub fn check<T>(&mut self, field: &'static str, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.add(field, message)).ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, field: &str) -> Option<&Vec<String>> {
        self.0.get(field)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Vec<String>)> {
        self.0.iter().map(|(k, v)| (*k, v))
    }

    pub fn into_result(self) -> AppResult<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(self))
        }
    }

    fn summary(&self) -> String {
        self.0
            .iter()
            .flat_map(|(field, messages)| messages.iter().map(move |m| format!("{field} {m}")))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl From<FieldErrors> for AppError {
    fn from(errors: FieldErrors) -> Self {
        AppError::Validation(errors)
    }
}
