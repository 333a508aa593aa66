//! The error type of the application layer, and what each case means over HTTP.
//!
//! Features return [`AppError`]; the HTML site turns it into an error page
//! (see `http::pages`), the JSON API into its own error shape. Meanings are
//! variants, never inferred from text: what was not found or not allowed is
//! a [`Thing`], what is wrong with a field a [`Problem`], and both become
//! words only when a page or a JSON body is written. Internal causes are
//! logged with their whole chain and never shown to users.

use std::collections::BTreeMap;
use std::fmt;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::db::Trouble;

pub type AppResult<T> = Result<T, AppError>;

/// What a request named: the JSON API says which in its errors
/// (`{"errors": {"article": ["not found"]}}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thing {
    /// A page or route of the site.
    Page,
    Post,
    Comment,
    /// An author's public profile.
    Profile,
    /// A link sent by email (password reset), unknown, used or expired.
    Link,
    Job,
}

impl Thing {
    /// Its name in the JSON API (RealWorld calls posts articles).
    pub fn api_name(self) -> &'static str {
        match self {
            Thing::Page => "request",
            Thing::Post => "article",
            Thing::Comment => "comment",
            Thing::Profile => "profile",
            Thing::Link => "link",
            Thing::Job => "job",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0:?} not found")]
    NotFound(Thing),
    #[error("{0:?} forbidden")]
    Forbidden(Thing),
    #[error("sign-in required")]
    Unauthorized,
    /// A sign-in whose login or password is wrong (which, is not said).
    #[error("bad credentials")]
    BadCredentials,
    #[error("invalid input: {0:?}")]
    Validation(FieldErrors),
    #[error("the form has expired")]
    Csrf,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("request body too large")]
    PayloadTooLarge,
    /// An uploaded file refused for what it is (its size, type or content).
    #[error("file refused: {0}")]
    File(FileProblem),
    #[error("too many attempts")]
    RateLimited { retry_after_secs: u64 },
    /// The database cannot be used just now (see [`crate::db::Trouble`]):
    /// a 503 the client may retry, not a fault in the request or the code.
    #[error("the database is unavailable: {1}")]
    Unavailable(crate::db::Trouble, #[source] std::sync::Arc<sqlx::Error>),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        match crate::db::trouble(&error) {
            Some(trouble) => AppError::Unavailable(trouble, std::sync::Arc::new(error)),
            None => AppError::Internal(error.into()),
        }
    }
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Forbidden(_) | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::Unauthorized | AppError::BadCredentials => StatusCode::UNAUTHORIZED,
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::File(problem) => problem.status(),
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(..) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error a bare status stands for (from the router or an extractor).
    pub fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            404 => AppError::NotFound(Thing::Page),
            405 => AppError::BadRequest("this address does not accept that kind of request".into()),
            403 => AppError::Forbidden(Thing::Page),
            413 => AppError::PayloadTooLarge,
            s if s < 500 => AppError::BadRequest(status.canonical_reason().unwrap_or("").into()),
            _ => AppError::Internal(anyhow::anyhow!("status {status}")),
        }
    }

    /// Logs what an operator should know of it: the server's faults, not
    /// the client's. Called once, where the error becomes a response.
    pub fn log(&self) {
        match self {
            AppError::Internal(cause) => tracing::error!(error = ?cause, "request failed"),
            // An operator must act, but one full disk is not a thousand
            // errors for the error tracker.
            AppError::Unavailable(Trouble::Full, cause) => {
                tracing::warn!(error = %cause, "request failed: the database cannot write");
            }
            // The outage breaker (`db`) says when the database goes and comes back.
            AppError::Unavailable(Trouble::Unreachable, cause) => {
                tracing::debug!(error = %cause, "request failed: the database is unreachable");
            }
            _ => {}
        }
    }

    /// When the client may try again, for the `Retry-After` header.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            AppError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            AppError::Unavailable(Trouble::Unreachable, _) => Some(2),
            AppError::Unavailable(Trouble::Full, _) => Some(60),
            _ => None,
        }
    }

    /// An upload's refusal as a form shows it beside its file input: what
    /// is wrong with the file named `file_name` (as sent, made safe to
    /// show), or how long to wait. Any other error is no field's.
    pub fn upload_problem(self, file_name: String) -> Result<Problem, AppError> {
        match self {
            AppError::File(problem) => Ok(Problem::FileRefused {
                name: file_name,
                problem,
            }),
            AppError::RateLimited { retry_after_secs } => Ok(Problem::UploadTooSoon {
                name: file_name,
                retry_after_secs,
            }),
            other => Err(other),
        }
    }

    /// What a user may be told.
    pub fn public_message(&self) -> String {
        match self {
            AppError::NotFound(_) => "We could not find that page.".into(),
            AppError::Forbidden(_) => "You are not allowed to do that.".into(),
            AppError::Unauthorized => "Please sign in first.".into(),
            AppError::BadCredentials => "The login or the password is wrong.".into(),
            AppError::Validation(errors) => errors.summary(),
            AppError::Csrf => {
                "This form has expired or did not come from this site. Go back, reload the page and try again."
                    .into()
            }
            AppError::BadRequest(reason) => format!("The request could not be read: {reason}"),
            AppError::PayloadTooLarge => "That is more than we accept in one request.".into(),
            AppError::File(problem) => format!("The file {problem}."),
            AppError::RateLimited { retry_after_secs } => {
                format!("Too many attempts. Try again in {}.", wait(*retry_after_secs))
            }
            AppError::Unavailable(Trouble::Unreachable, _) => {
                "The site cannot reach its database just now. Try again in a moment.".into()
            }
            AppError::Unavailable(Trouble::Full, _) => {
                "The site cannot save anything just now: its storage is full. Nothing you sent was saved; try again later."
                    .into()
            }
            AppError::Internal(_) => "Something went wrong on our side. It has been logged.".into(),
        }
    }
}

/// A wait in words: waits run from a second (sign-in backoff) to many
/// minutes.
fn wait(secs: u64) -> String {
    match secs {
        0 | 1 => "a second".to_owned(),
        secs @ 2..60 => format!("{secs} seconds"),
        60 => "a minute".to_owned(),
        secs => format!("{} minutes", secs.div_ceil(60)),
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
        self.log();
        let status = self.status();
        let message = self.public_message();
        let mut response = (status, message.clone()).into_response();
        if let Some(retry_after_secs) = self.retry_after_secs() {
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

/// What is wrong with the value of one field. The words for it are written
/// by [`fmt::Display`], when a form or a JSON error is rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Empty, or only spaces.
    Blank,
    TooShort {
        min: usize,
    },
    TooLong {
        max: usize,
    },
    /// A list (tags) with more than `max` items.
    TooMany {
        max: usize,
    },
    /// A list whose items may each be at most `max` characters.
    ItemTooLong {
        max: usize,
    },
    /// Already used: by another account, for instance. The API answers 409.
    Taken,
    /// Not of the accepted form; says which form is.
    Format(&'static str),
    /// A rule of the site refuses it; says which.
    Refused(&'static str),
    /// An uploaded file refused for what it is; `name` is its name as sent,
    /// made safe to show (empty when there was none).
    FileRefused {
        name: String,
        problem: FileProblem,
    },
    /// Why, in words known only when it happened (another server's
    /// answer, say).
    Explained(String),
    /// An uploaded file not taken because its uploader sent too many at
    /// once.
    UploadTooSoon {
        name: String,
        retry_after_secs: u64,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Blank => f.write_str("can't be blank"),
            Problem::TooShort { min } => write!(f, "is too short (at least {min} characters)"),
            Problem::TooLong { max } => write!(f, "is too long (at most {max} characters)"),
            Problem::TooMany { max } => write!(f, "are too many (at most {max})"),
            Problem::ItemTooLong { max } => write!(f, "must each be at most {max} characters"),
            Problem::Taken => f.write_str("has already been taken"),
            Problem::Format(rule) | Problem::Refused(rule) => f.write_str(rule),
            Problem::Explained(why) => f.write_str(why),
            // After the field's name: "File “cat.png” is too large …".
            Problem::FileRefused { name, problem } => write!(f, "{}{problem}", quoted(name)),
            Problem::UploadTooSoon {
                name,
                retry_after_secs,
            } => write!(
                f,
                "{}was not uploaded: too many uploads at once; try again in {}",
                quoted(name),
                wait(*retry_after_secs)
            ),
        }
    }
}

/// A file's name in quotes and a space, or nothing when it has none.
fn quoted(name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!("“{name}” ")
    }
}

/// Written as its words: only the HTML and JSON layers serialise errors.
impl Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Why an uploaded file was refused. Each has its status: too large is 413,
/// a type not accepted 415, content that cannot be used 422.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileProblem {
    /// No file was sent.
    Missing,
    TooLarge {
        max_bytes: u64,
    },
    /// The uploader's quota would be exceeded.
    OverQuota {
        used: u64,
        quota: u64,
    },
    /// Not JPEG, PNG, GIF or WebP, judged by its bytes.
    UnsupportedType,
    /// More pixels than may be decoded (a decompression bomb, or a huge scan).
    TooManyPixels {
        max_pixels: u64,
    },
    /// Truncated or corrupt.
    Unreadable,
}

impl FileProblem {
    pub fn status(self) -> StatusCode {
        match self {
            FileProblem::TooLarge { .. } | FileProblem::OverQuota { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            FileProblem::UnsupportedType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            FileProblem::Missing | FileProblem::TooManyPixels { .. } | FileProblem::Unreadable => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
        }
    }
}

/// Sizes as people read them: `10 MiB`, `512 KiB`, `900 bytes`.
pub fn human_bytes(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const GIB: u64 = 1024 * MIB;
    match bytes {
        b if b >= GIB => format!("{:.1} GiB", b as f64 / GIB as f64).replace(".0 ", " "),
        b if b >= MIB => format!("{:.1} MiB", b as f64 / MIB as f64).replace(".0 ", " "),
        b if b >= KIB => format!("{} KiB", b.div_ceil(KIB)),
        b => format!("{b} bytes"),
    }
}

/// The words after "The file": what is wrong and what would be accepted.
impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileProblem::Missing => f.write_str("is missing: choose an image to upload"),
            FileProblem::TooLarge { max_bytes } => {
                write!(f, "is too large (at most {})", human_bytes(*max_bytes))
            }
            FileProblem::OverQuota { used, quota } => write!(
                f,
                "does not fit in your storage: {} of {} used; delete unused images from your media page",
                human_bytes(*used),
                human_bytes(*quota)
            ),
            FileProblem::UnsupportedType => {
                f.write_str("is not an image we accept: upload a JPEG, PNG, GIF or WebP image")
            }
            FileProblem::TooManyPixels { max_pixels } => write!(
                f,
                "has too many pixels (at most {} megapixels)",
                max_pixels / 1_000_000
            ),
            FileProblem::Unreadable => {
                f.write_str("could not be read as an image: it may be truncated or damaged")
            }
        }
    }
}

/// Problems by field name, for forms and for the API's error shape.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct FieldErrors(BTreeMap<&'static str, Vec<Problem>>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: &'static str, problem: Problem) -> Self {
        let mut errors = Self::new();
        errors.add(field, problem);
        errors
    }

    pub fn add(&mut self, field: &'static str, problem: Problem) {
        self.0.entry(field).or_default().push(problem);
    }

    /// Records the problem of a parse, keeping the value when it succeeded.
    pub fn check<T>(&mut self, field: &'static str, result: Result<T, Problem>) -> Option<T> {
        result.map_err(|problem| self.add(field, problem)).ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Vec<Problem>)> {
        self.0.iter().map(|(k, v)| (*k, v))
    }

    /// Whether any field's value is already taken (a conflict).
    pub fn any_taken(&self) -> bool {
        self.0.values().flatten().any(|p| *p == Problem::Taken)
    }

    pub fn into_result(self) -> AppResult<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(self))
        }
    }

    /// One line: "field problem; field problem".
    pub fn summary(&self) -> String {
        self.0
            .iter()
            .flat_map(|(field, problems)| problems.iter().map(move |p| format!("{field} {p}")))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl From<FieldErrors> for AppError {
    fn from(errors: FieldErrors) -> Self {
        AppError::Validation(errors)
    }
}
