//! Listings: the front page (`/posts`), a community's posts and the community list. Thin over
//! `canopy_db::listing`, which the HTML pages call too.

use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::routes::communities::CommunityList;
use crate::routes::posts::PostList;
use crate::views::{CommunityView, PostJson};
use crate::{validate, AppState};
use axum::extract::State;
use canopy_db::listing::{CommunitySort, Scope, Window};
use canopy_db::posts::PostSort;
use serde::Deserialize;
use utoipa::IntoParams;

/// Which communities the front page draws from.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FrontScope {
    #[default]
    All,
    Local,
    Subscribed,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FrontPageParams {
    /// `all` (default: every community this node knows), `local` (communities hosted here) or
    /// `subscribed` (communities the caller follows, accepted; needs a login).
    #[param(value_type = Option<String>)]
    pub scope: Option<FrontScope>,
    /// `hot` (default), `active`, `new`, `top`, `most_comments` or `controversial`.
    #[param(value_type = Option<String>)]
    pub sort: Option<PostSort>,
    /// For `top` only: `day`, `week`, `month`, `year` or `all` (default).
    #[param(value_type = Option<String>)]
    pub window: Option<Window>,
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (same scope, sort and window).
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CommunityPostsParams {
    /// `hot` (default), `active`, `new`, `top`, `most_comments` or `controversial`.
    #[param(value_type = Option<String>)]
    pub sort: Option<PostSort>,
    /// For `top` only: `day`, `week`, `month`, `year` or `all` (default).
    #[param(value_type = Option<String>)]
    pub window: Option<Window>,
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (same sort and window).
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CommunityListParams {
    /// `subscribers` (default), `active` (posts, weighted by a half-life of one week), `new` or
    /// `name`.
    #[param(value_type = Option<String>)]
    pub sort: Option<CommunitySort>,
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (same sort).
    pub cursor: Option<String>,
}

/// The front page: posts across communities, a page at a time. Deleted and removed posts,
/// refused instances' content and what the logged-in caller blocks are left out.
#[utoipa::path(get, path = "/api/v1/posts", tag = "posts", params(FrontPageParams),
    responses((status = 200, body = PostList), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody)))]
pub async fn front_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(params): Query<FrontPageParams>,
) -> ApiResult<Json<PostList>> {
    let limit = validate::page_size("limit", params.limit, 20, 100)?;
    let scope = match params.scope.unwrap_or_default() {
        FrontScope::All => Scope::All,
        FrontScope::Local => Scope::Local,
        FrontScope::Subscribed => Scope::Subscribed(viewer.person().ok_or_else(|| {
            ApiError::unauthorized("the `subscribed` scope needs a logged-in user")
        })?),
    };
    let (rows, next_cursor) = canopy_db::listing::posts(
        &state.db,
        scope,
        params.sort.unwrap_or_default(),
        params.window.unwrap_or_default(),
        params.cursor.as_deref(),
        limit,
        viewer.person(),
    )
    .await?;
    Ok(Json(PostList {
        posts: rows.into_iter().map(PostJson::from).collect(),
        next_cursor,
    }))
}

/// A community's live posts (`name` or `name@host`), a page at a time.
#[utoipa::path(get, path = "/api/v1/communities/{name}/posts", tag = "posts",
    params(("name" = String, Path, description = "`name` or `name@host`"), CommunityPostsParams),
    responses((status = 200, body = PostList), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn community_posts(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(params): Query<CommunityPostsParams>,
) -> ApiResult<Json<PostList>> {
    let limit = validate::page_size("limit", params.limit, 20, 100)?;
    let community = canopy_db::communities::by_name(&state.db, &name).await?;
    let (rows, next_cursor) = canopy_db::listing::posts(
        &state.db,
        Scope::Community(community.id),
        params.sort.unwrap_or_default(),
        params.window.unwrap_or_default(),
        params.cursor.as_deref(),
        limit,
        viewer.person(),
    )
    .await?;
    Ok(Json(PostList {
        posts: rows.into_iter().map(PostJson::from).collect(),
        next_cursor,
    }))
}

/// Communities, a page at a time (without those the logged-in caller blocks).
#[utoipa::path(get, path = "/api/v1/communities", tag = "communities", params(CommunityListParams),
    responses((status = 200, body = CommunityList), (status = 400, body = crate::error::ErrorBody)))]
pub async fn communities(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(params): Query<CommunityListParams>,
) -> ApiResult<Json<CommunityList>> {
    let limit = validate::page_size("limit", params.limit, 20, 100)?;
    let (rows, next_cursor) = canopy_db::listing::communities(
        &state.db,
        params.sort.unwrap_or_default(),
        params.cursor.as_deref(),
        limit,
        viewer.person(),
    )
    .await?;
    let mut communities: Vec<CommunityView> = rows.into_iter().map(CommunityView::from).collect();
    CommunityView::with_subscriptions(&state.db, viewer.person(), &mut communities).await?;
    Ok(Json(CommunityList {
        communities,
        next_cursor,
    }))
}
