//! Errors of the ActivityPub routes. They leave as the API's error shape,
//! `{"error": "<machine_code>", "message": "<human text>"}`, so a client sees one shape everywhere.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use canopy_db::DbError;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RouteError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

impl RouteError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_query", message)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
    pub fn gone(what: &str) -> Self {
        Self::new(StatusCode::GONE, "gone", format!("{what} was deleted"))
    }
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; it has been logged",
        )
    }
}

impl IntoResponse for RouteError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code,
            message: &self.message,
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<DbError> for RouteError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::NotFound(what) => RouteError::not_found(what),
            other => {
                tracing::error!(error = %other, "database error");
                RouteError::internal()
            }
        }
    }
}

/// `Ok(None)` for a row that does not exist, so a handler can look for several.
pub fn optional<T>(found: Result<T, DbError>) -> Result<Option<T>, RouteError> {
    match found {
        Ok(row) => Ok(Some(row)),
        Err(DbError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
