//! The one place where errors become HTTP responses. Every error, including axum's own
//! rejections of malformed JSON, paths and queries, leaves as
//! `{"error": "<machine_code>", "message": "<human text>"}` with a 4xx or 5xx status.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use canopy_db::DbError;
use serde::Serialize;
use utoipa::ToSchema;

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `not_found`, `invalid_input`.
    pub error: &'static str,
    /// What went wrong, for a person.
    pub message: String,
}

/// An error a handler returns: a status, a stable code and a message.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds to wait before trying again, sent as `Retry-After` (with 429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_input", message)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    /// 429 `rate_limited`, telling the client to wait `retry_after` seconds.
    pub fn rate_limited(message: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
        }
    }
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; it has been logged",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            message: self.message,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::NotFound(what) => ApiError::not_found(what),
            DbError::Conflict(what) => ApiError::conflict(format!("{what} already exists")),
            DbError::BadCursor(why) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_cursor",
                format!("bad cursor: {why}"),
            ),
            other => {
                tracing::error!(error = %other, "database error");
                ApiError::internal()
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let code = match &rejection {
            JsonRejection::JsonSyntaxError(_) => "invalid_json",
            JsonRejection::JsonDataError(_) => "invalid_body",
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
            _ => "invalid_body",
        };
        ApiError::new(rejection.status(), code, rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        // A path segment of the wrong type (`/posts/abc`) names nothing that exists.
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_path",
            rejection.body_text(),
        )
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            rejection.body_text(),
        )
    }
}

impl From<canopy_federation::FedError> for ApiError {
    fn from(err: canopy_federation::FedError) -> Self {
        use canopy_federation::FedError as F;
        match err {
            F::BadRequest(m) => ApiError::invalid(m),
            F::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not_found", m),
            F::Unresolvable(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unresolvable", m)
            }
            F::Outbound { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unresolvable",
                err.to_string(),
            ),
            F::Forbidden(m) | F::Unauthorized(m) => ApiError::forbidden(m),
            F::BadSignature(e) => ApiError::forbidden(e.to_string()),
            F::InstanceRefused(e) => ApiError::forbidden(e.to_string()),
            F::TooLarge(_) => ApiError::invalid(err_text(&F::TooLarge(0))),
            F::RateLimited { retry_after, .. } => {
                ApiError::rate_limited(err.to_string(), retry_after)
            }
            F::Internal(m) => {
                tracing::error!(error = %m, "federation error");
                ApiError::internal()
            }
        }
    }
}

fn err_text(e: &canopy_federation::FedError) -> String {
    e.to_string()
}

/// Handlers return this.
pub type ApiResult<T> = Result<T, ApiError>;
