//! Personal blocks: a logged-in user hides a person or a community from what they are shown.
//! A blocked person's posts leave the user's community post lists and their comments leave the
//! user's trees (one with replies stays as a blanked placeholder, `blocked: true`, so the
//! thread keeps its shape); a blocked community leaves the user's community list. Nothing is
//! sent to anyone, and the blocked person is not told. See docs/MODERATION.md.

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::views::handle;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use canopy_db::blocks::{self as db_blocks, Blocked, Target};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// A blocked person or community.
#[derive(Debug, Serialize, ToSchema)]
pub struct BlockedJson {
    /// `name` when local, `name@host` when remote.
    pub handle: String,
    pub ap_id: String,
    pub created_at: DateTime<Utc>,
}

impl From<Blocked> for BlockedJson {
    fn from(b: Blocked) -> Self {
        Self {
            handle: handle(&b.name, b.local, &b.authority),
            ap_id: b.ap_id,
            created_at: b.created_at,
        }
    }
}

/// What the logged-in user blocks, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct BlockList {
    pub people: Vec<BlockedJson>,
    pub communities: Vec<BlockedJson>,
}

/// The people and communities the logged-in user blocks.
#[utoipa::path(get, path = "/api/v1/me/blocks", tag = "blocks", security(("bearer" = [])),
    responses((status = 200, body = BlockList), (status = 401, body = crate::error::ErrorBody)))]
pub async fn list(State(state): State<AppState>, Auth(user): Auth) -> ApiResult<Json<BlockList>> {
    let people = db_blocks::people(&state.db, user.person_id).await?;
    let communities = db_blocks::communities(&state.db, user.person_id).await?;
    Ok(Json(BlockList {
        people: people.into_iter().map(BlockedJson::from).collect(),
        communities: communities.into_iter().map(BlockedJson::from).collect(),
    }))
}

async fn person_target(
    state: &AppState,
    user: &crate::auth::Auth,
    name: &str,
) -> ApiResult<Target> {
    let person = canopy_db::people::by_handle(&state.db, name.trim()).await?;
    if person.id == user.0.person_id {
        return Err(ApiError::invalid("you cannot block yourself"));
    }
    Ok(Target::Person(person.id))
}

async fn community_target(state: &AppState, name: &str) -> ApiResult<Target> {
    let community = canopy_db::communities::by_name(&state.db, name.trim()).await?;
    Ok(Target::Community(community.id))
}

async fn unblock(
    state: &AppState,
    user: &crate::auth::Auth,
    target: Target,
) -> ApiResult<StatusCode> {
    if !db_blocks::unblock(&state.db, user.0.person_id, target).await? {
        return Err(ApiError::conflict("it is not blocked"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Block a person (`name` or `name@host`); blocking again changes nothing.
#[utoipa::path(put, path = "/api/v1/me/blocks/people/{person}", tag = "blocks",
    params(("person" = String, Path, description = "`name` or `name@host`")),
    security(("bearer" = [])),
    responses((status = 204), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn block_person(
    State(state): State<AppState>,
    user: Auth,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let target = person_target(&state, &user, &name).await?;
    db_blocks::block(&state.db, user.0.person_id, target).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unblock a person.
#[utoipa::path(delete, path = "/api/v1/me/blocks/people/{person}", tag = "blocks",
    params(("person" = String, Path, description = "`name` or `name@host`")),
    security(("bearer" = [])),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn unblock_person(
    State(state): State<AppState>,
    user: Auth,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let target = person_target(&state, &user, &name).await?;
    unblock(&state, &user, target).await
}

/// Block a community (`name` or `name@host`); blocking again changes nothing.
#[utoipa::path(put, path = "/api/v1/me/blocks/communities/{name}", tag = "blocks",
    params(("name" = String, Path, description = "`name` or `name@host`")),
    security(("bearer" = [])),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn block_community(
    State(state): State<AppState>,
    user: Auth,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let target = community_target(&state, &name).await?;
    db_blocks::block(&state.db, user.0.person_id, target).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unblock a community.
#[utoipa::path(delete, path = "/api/v1/me/blocks/communities/{name}", tag = "blocks",
    params(("name" = String, Path, description = "`name` or `name@host`")),
    security(("bearer" = [])),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn unblock_community(
    State(state): State<AppState>,
    user: Auth,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let target = community_target(&state, &name).await?;
    unblock(&state, &user, target).await
}
