//! Saved posts and comments of the logged-in user.

use crate::auth::Auth;
use crate::error::ApiResult;
use crate::extract::{Json, Path, Query};
use crate::limits::Writer;
use crate::views::{CommentJson, PostJson};
use crate::{validate, AppState};
use axum::extract::State;
use axum::http::StatusCode;
use canopy_core::{CommentId, PostId};
use canopy_db::saved::{self as db, Item, SavedView};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A saved post or comment; exactly one of `post` and `comment` is set.
#[derive(Debug, Serialize, ToSchema)]
pub struct SavedJson {
    /// `post` or `comment`.
    pub kind: &'static str,
    pub saved_at: DateTime<Utc>,
    pub post: Option<PostJson>,
    pub comment: Option<CommentJson>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SavedList {
    /// Newest saved first.
    pub items: Vec<SavedJson>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

async fn set(state: &AppState, user: &Writer, item: Item, save: bool) -> ApiResult<StatusCode> {
    if save {
        db::save(&state.db, user.0.person_id, item).await?;
    } else {
        db::unsave(&state.db, user.0.person_id, item).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Save a post (idempotent).
#[utoipa::path(put, path = "/api/v1/posts/{id}/save", tag = "saved", params(("id" = i64, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn save_post(
    State(state): State<AppState>,
    user: Writer,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    set(&state, &user, Item::Post(PostId(id)), true).await
}

/// Forget a saved post (idempotent).
#[utoipa::path(delete, path = "/api/v1/posts/{id}/save", tag = "saved", params(("id" = i64, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn unsave_post(
    State(state): State<AppState>,
    user: Writer,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    set(&state, &user, Item::Post(PostId(id)), false).await
}

/// Save a comment (idempotent).
#[utoipa::path(put, path = "/api/v1/comments/{id}/save", tag = "saved", params(("id" = i64, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn save_comment(
    State(state): State<AppState>,
    user: Writer,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    set(&state, &user, Item::Comment(CommentId(id)), true).await
}

/// Forget a saved comment (idempotent).
#[utoipa::path(delete, path = "/api/v1/comments/{id}/save", tag = "saved", params(("id" = i64, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn unsave_comment(
    State(state): State<AppState>,
    user: Writer,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    set(&state, &user, Item::Comment(CommentId(id)), false).await
}

/// The logged-in user's saved posts and comments, newest saved first.
#[utoipa::path(get, path = "/api/v1/me/saved", tag = "saved", params(ListParams),
    security(("bearer" = [])),
    responses((status = 200, body = SavedList), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(user): Auth,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<SavedList>> {
    let limit = validate::page_size("limit", params.limit, 20, 100)?;
    let (rows, next_cursor) =
        db::list(&state.db, user.person_id, params.cursor.as_deref(), limit).await?;
    let items = rows
        .into_iter()
        .map(|s| match s.item {
            SavedView::Post(p) => SavedJson {
                kind: "post",
                saved_at: s.saved_at,
                post: Some((*p).into()),
                comment: None,
            },
            SavedView::Comment(c) => SavedJson {
                kind: "comment",
                saved_at: s.saved_at,
                post: None,
                comment: Some((*c).into()),
            },
        })
        .collect();
    Ok(Json(SavedList { items, next_cursor }))
}
