//! Why an incoming request or activity was refused, mapped to an HTTP status in one place.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use canopy_db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum FedError {
    /// Malformed or unacceptable input: 400.
    #[error("{0}")]
    BadRequest(String),
    /// Missing or invalid signature, or a signer that is not the activity's actor: 401.
    #[error("{0}")]
    Unauthorized(String),
    /// The request's signature failed a check (typed, so callers decide on the kind): 401.
    #[error("{0}")]
    BadSignature(#[from] crate::signatures::SignatureError),
    /// Well-formed but not allowed (spoofed ids, acting on someone else's content): 403.
    #[error("{0}")]
    Forbidden(String),
    /// The sender's instance is blocked, or not on the allow-list: 403.
    #[error("{0}")]
    InstanceRefused(#[from] crate::governance::Refused),
    /// The named local object does not exist: 404.
    #[error("{0}")]
    NotFound(String),
    /// A remote object the activity depends on could not be fetched or was unusable: 422.
    #[error("{0}")]
    Unresolvable(String),
    /// A request to another server failed or was refused by the outbound policy: 422.
    #[error("{context}: {source}")]
    Outbound {
        context: String,
        #[source]
        source: Box<crate::outbound::OutboundError>,
    },
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    /// The sending instance is over its rate limit: 429 with `Retry-After` (seconds).
    #[error("too many activities from {instance}; try again in {retry_after} s")]
    RateLimited { instance: String, retry_after: u64 },
    #[error("internal error")]
    Internal(String),
}

impl FedError {
    pub fn status(&self) -> StatusCode {
        match self {
            FedError::BadRequest(_) => StatusCode::BAD_REQUEST,
            FedError::Unauthorized(_) | FedError::BadSignature(_) => StatusCode::UNAUTHORIZED,
            FedError::Forbidden(_) | FedError::InstanceRefused(_) => StatusCode::FORBIDDEN,
            FedError::NotFound(_) => StatusCode::NOT_FOUND,
            FedError::Unresolvable(_) | FedError::Outbound { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            FedError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            FedError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            FedError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine code of the error (the `error` of the answer's body, and the
    /// `reason` label of `canopy_inbox_activities_total`).
    pub fn code(&self) -> &'static str {
        match self {
            FedError::BadRequest(_) => "invalid_activity",
            FedError::Unauthorized(_) | FedError::BadSignature(_) => "bad_signature",
            FedError::Forbidden(_) => "forbidden",
            FedError::InstanceRefused(_) => "instance_refused",
            FedError::NotFound(_) => "not_found",
            FedError::Unresolvable(_) | FedError::Outbound { .. } => "unresolvable",
            FedError::TooLarge(_) => "body_too_large",
            FedError::RateLimited { .. } => "rate_limited",
            FedError::Internal(_) => "internal",
        }
    }

    pub fn bad(msg: impl Into<String>) -> Self {
        FedError::BadRequest(msg.into())
    }
    pub fn forbidden(msg: impl Into<String>) -> Self {
        FedError::Forbidden(msg.into())
    }
    pub fn outbound(context: impl Into<String>, source: crate::outbound::OutboundError) -> Self {
        FedError::Outbound {
            context: context.into(),
            source: Box::new(source),
        }
    }
}

impl From<DbError> for FedError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound(what) => FedError::NotFound(format!("{what} not found")),
            DbError::Conflict(what) => FedError::Forbidden(format!("{what} already exists")),
            DbError::BadCursor(why) => FedError::BadRequest(why.to_string()),
            other => FedError::Internal(other.to_string()),
        }
    }
}

impl From<sqlx::Error> for FedError {
    fn from(e: sqlx::Error) -> Self {
        FedError::Internal(e.to_string())
    }
}

impl IntoResponse for FedError {
    fn into_response(self) -> Response {
        if let FedError::Internal(detail) = &self {
            tracing::error!(error = %detail, "federation request failed");
        }
        let body = serde_json::json!({"error": self.code(), "message": self.to_string()});
        let mut response = (self.status(), axum::Json(body)).into_response();
        if let FedError::RateLimited { retry_after, .. } = self {
            response.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from(retry_after),
            );
        }
        response
    }
}
