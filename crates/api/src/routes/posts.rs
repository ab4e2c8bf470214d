//! Posts: create, get, list by community, edit, delete, vote.

use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::limits::Writer;
use crate::views::{PostJson, VoteResult};
use crate::{validate, AppState};
use axum::extract::State;
use axum::http::StatusCode;
use canopy_core::{limits, CommunityId, PostId};
use canopy_db::posts::NewPost;
use canopy_federation::outgoing::{self, Content};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePost {
    pub community_id: i64,
    pub title: String,
    /// Markdown.
    pub body: Option<String>,
    /// An http(s) link the post is about.
    pub url: Option<String>,
}

/// Fields to change; absent fields stay as they are, an empty `body` or `url` removes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditPost {
    pub title: Option<String>,
    pub body: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Vote {
    /// 1 up, -1 down, 0 clears the vote.
    pub score: i16,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostList {
    pub posts: Vec<PostJson>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn optional_text(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// Create a post in a community.
#[utoipa::path(post, path = "/api/v1/posts", tag = "posts", request_body = CreatePost,
    security(("bearer" = [])),
    responses((status = 201, body = PostJson), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Writer(user): Writer,
    Json(req): Json<CreatePost>,
) -> ApiResult<(StatusCode, Json<PostJson>)> {
    let title = validate::title("title", &req.title)?;
    let body = optional_text(req.body);
    let url = optional_text(req.url);
    if let Some(b) = &body {
        validate::markdown("body", b, limits::MAX_POST_BODY_BYTES, false)?;
    }
    if let Some(u) = &url {
        validate::link("url", u)?;
    }
    let community = canopy_db::communities::by_id(&state.db, CommunityId(req.community_id)).await?;
    if community.deleted || community.removed {
        return Err(ApiError::not_found("community"));
    }
    crate::routes::bans::refuse_banned(&state, user.person_id, Some(community.id)).await?;
    if community.posting_restricted_to_mods
        && !canopy_db::communities::may_post(&state.db, community.id, user.person_id).await?
    {
        return Err(ApiError::forbidden(
            "only the moderators of this community may start posts in it",
        ));
    }
    let mentions = match &body {
        Some(b) => crate::routes::notifications::resolve_mentions(&state, b).await,
        None => Vec::new(),
    };
    let body_html = body
        .as_deref()
        .map(|b| crate::routes::notifications::render(b, &mentions));
    let mut tx = state.db.begin().await.map_err(canopy_db::DbError::from)?;
    let id = canopy_db::posts::create(
        &mut tx,
        &NewPost {
            community_id: community.id,
            creator_id: user.person_id,
            title,
            url: url.as_deref(),
            body: body.as_deref(),
            body_html: body_html.as_deref(),
            local: true,
            ap_id: None,
            ap_id_prefix: &state.base.post_prefix(),
            published: None,
            updated: None,
        },
    )
    .await?;
    crate::routes::notifications::record_mentions(&mut tx, &mentions, id, None, user.person_id)
        .await?;
    outgoing::created(&mut tx, &state.base, Content::Post(id)).await?;
    tx.commit().await.map_err(canopy_db::DbError::from)?;
    tracing::info!(post_id = %id, community_id = %community.id, "post created");
    let view = canopy_db::posts::view(&state.db, id, Some(user.person_id)).await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// One post.
#[utoipa::path(get, path = "/api/v1/posts/{id}", tag = "posts", params(("id" = i64, Path)),
    responses((status = 200, body = PostJson), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> ApiResult<Json<PostJson>> {
    let view = canopy_db::posts::view(&state.db, PostId(id), viewer.person()).await?;
    Ok(Json(view.into()))
}

/// Edit a post (its creator only).
#[utoipa::path(patch, path = "/api/v1/posts/{id}", tag = "posts", params(("id" = i64, Path)),
    request_body = EditPost, security(("bearer" = [])),
    responses((status = 200, body = PostJson), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn edit(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(id): Path<i64>,
    Json(req): Json<EditPost>,
) -> ApiResult<Json<PostJson>> {
    let current = canopy_db::posts::view(&state.db, PostId(id), None).await?;
    if current.creator_id != user.person_id {
        return Err(ApiError::forbidden("only the creator can edit a post"));
    }
    if current.deleted || current.removed {
        return Err(ApiError::conflict("the post is deleted"));
    }
    let title = match &req.title {
        Some(t) => validate::title("title", t)?.to_string(),
        None => current.title.clone(),
    };
    let body = match req.body {
        Some(b) => optional_text(Some(b)),
        None => current.body.clone(),
    };
    let url = match req.url {
        Some(u) => optional_text(Some(u)),
        None => current.url.clone(),
    };
    if let Some(b) = &body {
        validate::markdown("body", b, limits::MAX_POST_BODY_BYTES, false)?;
    }
    if let Some(u) = &url {
        validate::link("url", u)?;
    }
    let mentions = match &body {
        Some(b) => crate::routes::notifications::resolve_mentions(&state, b).await,
        None => Vec::new(),
    };
    let body_html = body
        .as_deref()
        .map(|b| crate::routes::notifications::render(b, &mentions));
    let mut tx = state.db.begin().await.map_err(canopy_db::DbError::from)?;
    canopy_db::posts::update(
        &mut tx,
        current.id,
        &title,
        url.as_deref(),
        body.as_deref(),
        body_html.as_deref(),
    )
    .await?;
    crate::routes::notifications::record_mentions(
        &mut tx,
        &mentions,
        current.id,
        None,
        user.person_id,
    )
    .await?;
    outgoing::updated(&mut tx, &state.base, Content::Post(current.id)).await?;
    tx.commit().await.map_err(canopy_db::DbError::from)?;
    let view = canopy_db::posts::view(&state.db, current.id, Some(user.person_id)).await?;
    Ok(Json(view.into()))
}

/// Delete a post (its creator or an admin). Its comments stay readable.
#[utoipa::path(delete, path = "/api/v1/posts/{id}", tag = "posts", params(("id" = i64, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let current = canopy_db::posts::view(&state.db, PostId(id), None).await?;
    if current.creator_id != user.person_id && !user.is_admin {
        return Err(ApiError::forbidden(
            "only the creator or an admin can delete a post",
        ));
    }
    if current.deleted {
        return Err(ApiError::conflict("the post is already deleted"));
    }
    let mut tx = state.db.begin().await.map_err(canopy_db::DbError::from)?;
    canopy_db::posts::delete(&mut tx, current.id).await?;
    outgoing::deleted(&mut tx, &state.base, Content::Post(current.id)).await?;
    tx.commit().await.map_err(canopy_db::DbError::from)?;
    tracing::info!(post_id = %current.id, "post deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Vote on a post: 1 up, -1 down, 0 clears.
///
/// The author starts with an upvote of their own (score 1), which they can clear or turn into
/// a downvote like any vote.
#[utoipa::path(post, path = "/api/v1/posts/{id}/vote", tag = "posts", params(("id" = i64, Path)),
    request_body = Vote, security(("bearer" = [])),
    responses((status = 200, body = VoteResult), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn vote(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(id): Path<i64>,
    Json(req): Json<Vote>,
) -> ApiResult<Json<VoteResult>> {
    let score = validate::vote(req.score)?;
    let current = canopy_db::posts::view(&state.db, PostId(id), None).await?;
    if current.deleted || current.removed {
        return Err(ApiError::conflict("the post is deleted"));
    }
    crate::routes::bans::refuse_banned(&state, user.person_id, Some(current.community_id)).await?;
    let voter = canopy_db::actors::person_by_id(&state.db, user.person_id).await?;
    let mut tx = state.db.begin().await.map_err(canopy_db::DbError::from)?;
    let tally = canopy_db::votes::vote_post_in(&mut tx, current.id, user.person_id, score).await?;
    outgoing::voted(
        &mut tx,
        &state.base,
        Content::Post(current.id),
        &voter,
        score,
    )
    .await?;
    tx.commit().await.map_err(canopy_db::DbError::from)?;
    Ok(Json(VoteResult {
        score: tally.score,
        upvotes: tally.upvotes,
        downvotes: tally.downvotes,
        my_vote: score,
    }))
}
