//! What the JSON API shares: its error shape, its JSON body extractor, CORS,
//! and the OpenAPI document built from the features' handlers. Tokens are
//! the accounts feature's business (`accounts::extract`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::app::App;
use std::collections::BTreeMap;

use crate::db::Trouble;
use crate::error::{AppError, FieldErrors};

/// An error in the RealWorld shape: `{"errors": {"field": ["message"]}}`.
/// This is where the JSON API puts meanings into words.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    errors: BTreeMap<&'static str, Vec<String>>,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, field: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            errors: BTreeMap::from([(field, vec![message.into()])]),
            retry_after: None,
        }
    }

    fn fields(status: StatusCode, errors: &FieldErrors) -> Self {
        Self {
            status,
            errors: errors
                .iter()
                .map(|(field, problems)| (field, problems.iter().map(|p| p.to_string()).collect()))
                .collect(),
            retry_after: None,
        }
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        error.log();
        let retry_after = error.retry_after_secs();
        match error {
            AppError::NotFound(thing) => {
                Self::new(StatusCode::NOT_FOUND, thing.api_name(), "not found")
            }
            AppError::Forbidden(thing) => {
                Self::new(StatusCode::FORBIDDEN, thing.api_name(), "forbidden")
            }
            AppError::Csrf => Self::new(StatusCode::FORBIDDEN, "request", "forbidden"),
            AppError::Unauthorized => Self::new(StatusCode::UNAUTHORIZED, "token", "is missing"),
            AppError::BadCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, "credentials", "invalid")
            }
            // A value someone else already has is a conflict; any other
            // problem, unprocessable.
            AppError::Validation(errors) if errors.any_taken() => {
                Self::fields(StatusCode::CONFLICT, &errors)
            }
            AppError::Validation(errors) => Self::fields(StatusCode::UNPROCESSABLE_ENTITY, &errors),
            AppError::BadRequest(message) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "body", message)
            }
            AppError::PayloadTooLarge => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "body", "is too large")
            }
            AppError::File(problem) => Self::new(problem.status(), "file", problem.to_string()),
            AppError::RateLimited { .. } => Self {
                retry_after,
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "credentials",
                    "too many attempts; try again later",
                )
            },
            AppError::Unavailable(trouble, _) => Self {
                retry_after,
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server",
                    match trouble {
                        Trouble::Unreachable => "cannot reach its database; try again shortly",
                        Trouble::Full => "cannot save anything: its storage is full",
                    },
                )
            },
            AppError::Internal(_) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server",
                "internal error",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "errors": self.errors })),
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A JSON request body: 415 without a JSON content type, 413 when too large,
/// 422 with serde's explanation when it does not fit the expected shape.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "body",
                "must be JSON, sent with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::from(AppError::PayloadTooLarge)
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "body", rejection.body_text())
            }
        })?;
        let invalid = |e: serde_json::Error| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "body",
                format!("is invalid: {e}"),
            )
        };
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(invalid)?;
        if holds_control_character(&value) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "body",
                super::extract::CONTROL_CHARACTER,
            ));
        }
        serde_json::from_value(value).map(ApiJson).map_err(invalid)
    }
}

/// Whether any string of a JSON document, or any key, holds a control
/// character (see `extract::has_control_character`).
fn holds_control_character(value: &serde_json::Value) -> bool {
    use super::extract::has_control_character;
    match value {
        serde_json::Value::String(s) => has_control_character(s),
        serde_json::Value::Array(items) => items.iter().any(holds_control_character),
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(k, v)| has_control_character(k) || holds_control_character(v)),
        _ => false,
    }
}

/// For the API: an address with a control character is refused, in the
/// API's error shape, as the 422 every operation with parameters documents.
pub async fn refuse_control_characters(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if super::extract::uri_has_control_character(request.uri()) {
        return ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "request",
            format!("the address {}", super::extract::CONTROL_CHARACTER),
        )
        .into_response();
    }
    next.run(request).await
}

/// Whether a Content-Type names JSON (`application/json`, `…+json`).
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// With `#[serde(default, deserialize_with = "present")]`, tells a field
/// sent as `null` (`Some(None)`) from one not sent at all (`None`).
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A query string: 422 in the error shape when it does not parse.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "query",
                    format!("is invalid: {e}"),
                )
            })
    }
}

/// Every error answer: messages by field.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Only its schema is used; ApiError writes the JSON.
struct ErrorResponse {
    errors: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Quire API", description = "The RealWorld (Conduit) API over Quire's posts, comments, likes and follows."),
    components(schemas(ErrorResponse)),
    modifiers(&TokenScheme),
    tags((name = "User and Authentication"), (name = "Profile"), (name = "Articles"), (name = "Comments"), (name = "Favorites"), (name = "Tags"), (name = "Visitors"), (name = "Exports", description = "The whole site as an archive, for the owner"), (name = "Newsletter", description = "Getting new posts by email"))
)]
struct ApiDoc;

struct TokenScheme;

impl Modify for TokenScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "Token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Token <jwt>`, as returned by registration or login",
            ))),
        );
    }
}

/// Documents, once for all operations, the error answers the shared
/// extractors give: 413, 415 and 422 for a JSON body, 422 for a query
/// string, 401 for a token; and gives every error the error shape.
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorResponse")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let responses = &mut operation.responses.responses;
                let mut add = |status: &str, description: &str| {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| RefOr::T(error(description)));
                };
                if operation.request_body.is_some() {
                    add("413", "The body is larger than the server accepts");
                    add("415", "The body is not sent as application/json");
                    add("422", "The body is not valid JSON of the expected shape");
                }
                if operation.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                    add("422", "A parameter is not valid");
                }
                if operation.security.is_some() {
                    add("401", "No token, or one that is invalid or expired");
                } else {
                    add("401", "A token was sent but is invalid or expired");
                }
                for (status, response) in responses.iter_mut() {
                    if (status.starts_with('4') || status.starts_with('5'))
                        && let RefOr::T(response) = response
                        && response.content.is_empty()
                    {
                        *response = error(&response.description);
                    }
                }
            }
        }
    }
}

/// The features' API routes, with the OpenAPI document generated from the
/// same registrations, so the two cannot drift apart.
/// The assembly adds, around it, the layer that finds the caller from
/// their token (the gate lets administrators through) and [`cors`].
pub fn router(state: &App, routes: OpenApiRouter<App>) -> axum::Router<App> {
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes)
        .split_for_parts();
    let mut openapi = openapi;
    // After the routes are in: `with_openapi` ran the derive's modifiers
    // on a document that had no paths yet.
    ErrorResponses.modify(&mut openapi);
    openapi.servers = Some(vec![utoipa::openapi::Server::new("/api")]);
    let document = std::sync::Arc::new(openapi);
    router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let document = document.clone();
                async move { Json(document.as_ref().clone()) }
            }),
        )
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "route", "not found") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method",
                "is not allowed on this route",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            (state.clone(), super::gate::Renderer::Json),
            super::gate::gate,
        ))
        .layer(axum::middleware::from_fn(refuse_control_characters))
}

/// Cross-origin access for the configured origins only (none by default),
/// so a RealWorld frontend served elsewhere can call the API.
pub fn cors(origins: &[HeaderValue]) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(std::time::Duration::from_secs(3600))
}
