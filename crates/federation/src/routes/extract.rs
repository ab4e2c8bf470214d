//! Path extractors whose failures are our JSON errors: a segment that cannot name a row is a 404.

use super::error::RouteError;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

/// A row id from the last path segment (`/post/{id}`); anything but a positive integer is 404.
#[derive(Debug, Clone, Copy)]
pub struct RowId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for RowId {
    type Rejection = RouteError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| RouteError::not_found("object"))?;
        match raw.parse::<i64>() {
            Ok(id) if id > 0 => Ok(RowId(id)),
            _ => Err(RouteError::not_found("object")),
        }
    }
}

/// An actor name from the path (`/u/{name}`).
#[derive(Debug, Clone)]
pub struct Name(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Name {
    type Rejection = RouteError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| RouteError::not_found("actor"))?;
        Ok(Name(raw))
    }
}
