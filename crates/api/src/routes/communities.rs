//! Communities: create, get by name, list.

use crate::auth::Auth;
use crate::error::ApiResult;
use crate::extract::{Json, Path, Query};
use crate::views::CommunityView;
use crate::{validate, AppState};
use axum::extract::State;
use axum::http::StatusCode;
use canopy_core::{content, limits};
use canopy_db::communities::NewLocalCommunity;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCommunity {
    /// 1–32 characters of a-z, 0-9 and _; part of the community's URL.
    pub name: String,
    pub title: String,
    /// Markdown.
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommunityList {
    pub communities: Vec<CommunityView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Create a local community; the creator becomes its moderator.
#[utoipa::path(post, path = "/api/v1/communities", tag = "communities", request_body = CreateCommunity,
    security(("bearer" = [])),
    responses((status = 201, body = CommunityView), (status = 400, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(user): Auth,
    Json(req): Json<CreateCommunity>,
) -> ApiResult<(StatusCode, Json<CommunityView>)> {
    validate::name("name", &req.name)?;
    let title = validate::title("title", &req.title)?;
    if let Some(d) = &req.description {
        validate::markdown("description", d, limits::MAX_SUMMARY_BYTES, false)?;
    }
    let description_html = req.description.as_deref().map(content::markdown_to_html);
    let keys = tokio::task::spawn_blocking(canopy_federation::keys::generate_actor_keys)
        .await
        .map_err(|_| crate::error::ApiError::internal())?
        .map_err(|_| crate::error::ApiError::internal())?;
    let ap_id = state.base.community(&req.name);
    let community = canopy_db::communities::create_local(
        &state.db,
        &NewLocalCommunity {
            instance_id: state.instance_id,
            name: &req.name,
            title,
            description: req.description.as_deref(),
            description_html: description_html.as_deref(),
            ap_id: &ap_id,
            inbox_url: &format!("{ap_id}/inbox"),
            shared_inbox_url: &state.base.shared_inbox(),
            followers_url: &format!("{ap_id}/followers"),
            public_key_pem: &keys.public_key_pem,
            private_key_pem: &keys.private_key_pem,
            creator_id: user.person_id,
        },
    )
    .await
    .map_err(|e| match e {
        canopy_db::DbError::Conflict(_) => {
            crate::error::ApiError::conflict(format!("a community named `{}` exists", req.name))
        }
        other => other.into(),
    })?;
    tracing::info!(community_id = %community.id, name = %community.name, "community created");
    Ok((StatusCode::CREATED, Json(community.into())))
}

/// A community by name: `name` for a local one, `name@host` for a remote one.
#[utoipa::path(get, path = "/api/v1/communities/{name}", tag = "communities",
    params(("name" = String, Path, description = "`name` or `name@host`")),
    responses((status = 200, body = CommunityView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<CommunityView>> {
    let community = canopy_db::communities::by_name(&state.db, &name).await?;
    Ok(Json(community.into()))
}

/// All communities by name, a page at a time.
#[utoipa::path(get, path = "/api/v1/communities", tag = "communities", params(ListParams),
    responses((status = 200, body = CommunityList), (status = 400, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<CommunityList>> {
    let limit = validate::page_size("limit", params.limit, 20, 100)?;
    let (rows, next_cursor) =
        canopy_db::communities::list(&state.db, params.cursor.as_deref(), limit).await?;
    Ok(Json(CommunityList {
        communities: rows.into_iter().map(CommunityView::from).collect(),
        next_cursor,
    }))
}
