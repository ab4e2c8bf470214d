//! Bearer-token authentication and password hashing.
//!
//! A log-in returns a random 256-bit token; only its SHA-256 is stored, so a leaked database
//! does not leak sessions. Passwords are hashed with argon2id on the blocking pool.

use crate::error::ApiError;
use crate::AppState;
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use canopy_db::sessions::SessionUser;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// A new random session token, as given to the client.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database stores for a token.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(|e| {
        tracing::error!(error = %e, "password hashing failed");
        ApiError::internal()
    })
}

/// Check `password` against a stored hash; `None` runs a check against a dummy hash so that an
/// unknown name takes as long as a wrong password.
pub async fn verify_password(password: String, stored: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| dummy_hash().to_string());
        let ok = PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        known && ok
    })
    .await
    .map_err(|_| ApiError::internal())
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"not a real password", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// The bearer token of a request, if it sent one. A malformed header is an error.
fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("Authorization header is not ASCII"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(ApiError::unauthorized(
            "Authorization header must be `Bearer <token>`",
        )),
    }
}

async fn session(state: &AppState, token: &str) -> Result<SessionUser, ApiError> {
    canopy_db::sessions::lookup(&state.db, &token_hash(token))
        .await?
        .ok_or_else(|| ApiError::unauthorized("token is invalid or expired; log in again"))
}

/// A request from a logged-in user. Without a valid token the request is refused with 401.
#[derive(Debug, Clone)]
pub struct Auth(pub SessionUser);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match bearer(parts)? {
            Some(token) => Ok(Auth(session(state, token).await?)),
            None => Err(ApiError::unauthorized(
                "this needs a bearer token; log in first",
            )),
        }
    }
}

/// The user behind a request when it sent a token, or `None` for anonymous reads.
/// A token that is sent but invalid is still refused.
#[derive(Debug, Clone)]
pub struct Viewer(pub Option<SessionUser>);

impl Viewer {
    pub fn person(&self) -> Option<canopy_core::PersonId> {
        self.0.as_ref().map(|u| u.person_id)
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match bearer(parts)? {
            Some(token) => Ok(Viewer(Some(session(state, token).await?))),
            None => Ok(Viewer(None)),
        }
    }
}

/// A request from a logged-in instance administrator: 401 without a valid token, 403 for
/// anyone else.
#[derive(Debug, Clone)]
pub struct Admin(pub SessionUser);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Auth(user) = Auth::from_request_parts(parts, state).await?;
        if !user.is_admin {
            return Err(ApiError::forbidden("this is for instance administrators"));
        }
        Ok(Admin(user))
    }
}
