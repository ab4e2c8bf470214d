//! Accounts and sessions: register, log in, log out, who am I, and public user profiles.

use crate::auth::{self, Auth};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::limits::{ClientAddr, Registration};
use crate::validate;
pub use crate::views::UserView;
use crate::AppState;
use axum::http::{HeaderMap, StatusCode};
use canopy_db::people::NewLocalUser;
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How long a session lasts after log-in.
const SESSION_DAYS: i64 = 90;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 1–32 characters of a-z, 0-9 and _.
    pub name: String,
    /// 8–256 characters.
    pub password: String,
    pub display_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub name: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: chrono::DateTime<Utc>,
    pub user: UserView,
}

/// Create a local account and its actor (with a fresh RSA key pair). Used by the API and by
/// `canopy admin create-user`.
pub async fn create_account(
    state: &AppState,
    name: &str,
    password: &str,
    display_name: Option<&str>,
    admin: bool,
) -> Result<UserView, ApiError> {
    validate::name("name", name)?;
    validate::password(password)?;
    let display_name = display_name
        .map(|d| validate::title("display_name", d))
        .transpose()?;
    let hash = auth::hash_password(password.to_string()).await?;
    let keys = tokio::task::spawn_blocking(canopy_federation::keys::generate_actor_keys)
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| {
            tracing::error!(error = %e, "actor key generation failed");
            ApiError::internal()
        })?;
    let ap_id = state.base.person(name);
    let inbox = format!("{ap_id}/inbox");
    let person = canopy_db::people::create_local_user(
        &state.db,
        &NewLocalUser {
            instance_id: state.instance_id,
            name,
            display_name,
            ap_id: &ap_id,
            inbox_url: &inbox,
            shared_inbox_url: &state.base.shared_inbox(),
            public_key_pem: &keys.public_key_pem,
            private_key_pem: &keys.private_key_pem,
            password_hash: &hash,
            is_admin: admin,
        },
    )
    .await
    .map_err(|e| match e {
        canopy_db::DbError::Conflict(_) => {
            ApiError::conflict(format!("the name `{name}` is taken"))
        }
        other => other.into(),
    })?;
    tracing::info!(person_id = %person.id, name, "account created");
    Ok(person.into())
}

/// Register a new local account (unless the node's `registration` setting is `closed`).
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = RegisterRequest,
    responses((status = 201, body = UserView), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn register(
    state: axum::extract::State<AppState>,
    client: ClientAddr,
    Json(req): Json<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    if state.limits.registration == Registration::Closed {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "registration_closed",
            "this server does not take new accounts; its administrators create them",
        ));
    }
    state.limits.registration_attempt(client)?;
    let user = create_account(
        &state,
        &req.name,
        &req.password,
        req.display_name.as_deref(),
        false,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Check a name and password (counted by the login limits) and open a session: the new token,
/// when it expires and whose it is. The API's login and the web login page both sign in here.
pub async fn sign_in(
    state: &AppState,
    client: ClientAddr,
    name: &str,
    password: String,
) -> ApiResult<(String, chrono::DateTime<Utc>, canopy_core::PersonId)> {
    // Counted before the password is checked, so that guesses sent in parallel count too.
    let attempt = state.limits.login_attempt(client, name)?;
    let stored = canopy_db::people::password_hash(&state.db, name).await?;
    let (person_id, hash) = match stored {
        Some((id, hash)) => (Some(id), Some(hash)),
        None => (None, None),
    };
    let ok = auth::verify_password(password, hash).await?;
    let person_id = match (ok, person_id) {
        (true, Some(id)) => {
            attempt.succeeded();
            id
        }
        _ => {
            attempt.failed();
            return Err(ApiError::unauthorized("wrong name or password"));
        }
    };
    let token = auth::new_token();
    let expires_at = Utc::now() + Duration::days(SESSION_DAYS);
    canopy_db::sessions::create(&state.db, &auth::token_hash(&token), person_id, expires_at)
        .await?;
    Ok((token, expires_at, person_id))
}

/// Log in with name and password; returns a bearer token.
///
/// Failed log-ins are limited per client address and per account name; past the limit every attempt is refused with 429,
/// without looking at the password, until the limit allows one again.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "accounts", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn login(
    state: axum::extract::State<AppState>,
    client: ClientAddr,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let (token, expires_at, person_id) = sign_in(&state, client, &req.name, req.password).await?;
    let user = canopy_db::people::by_id(&state.db, person_id).await?;
    Ok(Json(LoginResponse {
        token,
        expires_at,
        user: user.into(),
    }))
}

/// End the session of the token sent with this request.
#[utoipa::path(delete, path = "/api/v1/sessions/current", tag = "accounts",
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = crate::error::ErrorBody)))]
pub async fn logout(
    state: axum::extract::State<AppState>,
    _auth: Auth,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    // `Auth` already checked that the header holds a valid bearer token.
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, t)| t.trim())
        .unwrap_or_default();
    canopy_db::sessions::delete(&state.db, &auth::token_hash(token)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's public profile: a local user by `name`, a remote one this node knows by
/// `name@host`.
#[utoipa::path(get, path = "/api/v1/users/{name}", tag = "accounts",
    params(("name" = String, Path, description = "`name` or `name@host`")),
    responses((status = 200, body = UserView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_user(
    state: axum::extract::State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<UserView>> {
    let person = canopy_db::people::by_handle(&state.db, &name).await?;
    Ok(Json(person.into()))
}
