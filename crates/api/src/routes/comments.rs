//! Comments and comment trees: create, get with ancestors, edit, delete, vote, and the paged
//! tree read.

use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::limits::Writer;
use crate::routes::posts::Vote;
use crate::views::{CommentJson, CommentNode, VoteResult};
use crate::{validate, AppState};
use axum::extract::State;
use axum::http::StatusCode;
use canopy_core::{limits, CommentId, PostId};
use canopy_db::comments::NewComment;
use canopy_db::tree::{CommentSort, TreeCursor, TreeRequest};
use canopy_federation::outgoing::{self, Content};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateComment {
    pub post_id: i64,
    /// The comment this replies to; absent for a top-level comment.
    pub parent_id: Option<i64>,
    /// Markdown.
    pub content: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditComment {
    /// Markdown.
    pub content: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommentWithAncestors {
    pub comment: CommentJson,
    /// From the top-level comment down to the parent.
    pub ancestors: Vec<CommentJson>,
}

/// Shape of one page of a comment tree.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TreeParams {
    /// hot (default), top, new, old or controversial. Taken from `cursor` when one is given.
    #[param(value_type = Option<String>)]
    pub sort: Option<CommentSort>,
    /// Comments of the first level of the page, 1–500 (default 50).
    pub limit: Option<i64>,
    /// Levels in the page, counting the first as 1: 1–100 (default 6).
    pub max_depth: Option<i64>,
    /// Replies of one comment per level, 1–500 (default 10).
    pub replies_per_comment: Option<i64>,
    /// Comments in the whole page, 1–2000 (default 300).
    pub max_comments: Option<i64>,
    /// A `next_cursor` or a `more_replies.cursor` from an earlier page of this post.
    pub cursor: Option<String>,
}

/// One page of a comment tree.
#[derive(Debug, Serialize, ToSchema)]
pub struct TreeResponse {
    pub post_id: i64,
    /// Whose replies the first level lists: absent for top-level comments.
    pub parent_id: Option<i64>,
    #[schema(value_type = String)]
    pub sort: CommentSort,
    pub comments: Vec<CommentNode>,
    /// Continues the first level after this page; absent when it is complete.
    pub next_cursor: Option<String>,
    /// Comments in this page at every level.
    pub total: usize,
}

/// Comment on a post or reply to a comment.
#[utoipa::path(post, path = "/api/v1/comments", tag = "comments", request_body = CreateComment,
    security(("bearer" = [])),
    responses((status = 201, body = CommentJson), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Writer(user): Writer,
    Json(req): Json<CreateComment>,
) -> ApiResult<(StatusCode, Json<CommentJson>)> {
    validate::markdown(
        "content",
        &req.content,
        limits::MAX_COMMENT_BODY_BYTES,
        true,
    )?;
    let post = canopy_db::posts::view(&state.db, PostId(req.post_id), None).await?;
    if post.deleted || post.removed {
        return Err(ApiError::conflict(
            "the post is deleted; it takes no new comments",
        ));
    }
    if post.locked {
        return Err(ApiError::forbidden("the post is locked"));
    }
    crate::routes::bans::refuse_banned(&state, user.person_id, Some(post.community_id)).await?;
    if let Some(parent_id) = req.parent_id {
        let parent = canopy_db::comments::head(&state.db, CommentId(parent_id))
            .await
            .map_err(|_| ApiError::not_found("parent comment"))?;
        if parent.post_id != post.id {
            return Err(ApiError::invalid(
                "`parent_id` is a comment of another post",
            ));
        }
        if parent.deleted || parent.removed {
            return Err(ApiError::conflict(
                "the parent comment is deleted; it takes no replies",
            ));
        }
    }
    let mentions = crate::routes::notifications::resolve_mentions(&state, &req.content).await;
    let html = crate::routes::notifications::render(&req.content, &mentions);
    let mut tx = state.db.begin().await.map_err(canopy_db::DbError::from)?;
    let id = canopy_db::comments::create(
        &mut tx,
        &NewComment {
            post_id: post.id,
            parent_id: req.parent_id.map(CommentId),
            creator_id: user.person_id,
            content: &req.content,
            content_html: &html,
            local: true,
            ap_id: None,
            ap_id_prefix: &state.base.comment_prefix(),
            published: None,
            updated: None,
        },
    )
    .await?;
    // The reply's notification was written by the insert (a trigger): a reply that also
    // mentions its parent's author stays one notification.
    crate::routes::notifications::record_mentions(
        &mut tx,
        &mentions,
        post.id,
        Some(id),
        user.person_id,
    )
    .await?;
    outgoing::created(&mut tx, &state.base, Content::Comment(id)).await?;
    tx.commit().await.map_err(canopy_db::DbError::from)?;
    tracing::debug!(comment_id = %id, post_id = %post.id, "comment created");
    let view = canopy_db::comments::view(&state.db, id, Some(user.person_id)).await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// One comment with its ancestors.
#[utoipa::path(get, path = "/api/v1/comments/{id}", tag = "comments", params(("id" = i64, Path)),
    responses((status = 200, body = CommentWithAncestors), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> ApiResult<Json<CommentWithAncestors>> {
    let comment = canopy_db::comments::view(&state.db, CommentId(id), viewer.person()).await?;
    let ancestors = canopy_db::comments::ancestors(&state.db, &comment, viewer.person()).await?;
    Ok(Json(CommentWithAncestors {
        comment: comment.into(),
        ancestors: ancestors.into_iter().map(CommentJson::from).collect(),
    }))
}

/// Edit a comment (its creator only).
#[utoipa::path(patch, path = "/api/v1/comments/{id}", tag = "comments", params(("id" = i64, Path)),
    request_body = EditComment, security(("bearer" = [])),
    responses((status = 200, body = CommentJson), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn edit(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(id): Path<i64>,
    Json(req): Json<EditComment>,
) -> ApiResult<Json<CommentJson>> {
    validate::markdown(
        "content",
        &req.content,
        limits::MAX_COMMENT_BODY_BYTES,
        true,
    )?;
    let head = canopy_db::comments::head(&state.db, CommentId(id)).await?;
    if head.creator_id != user.person_id {
        return Err(ApiError::forbidden("only the creator can edit a comment"));
    }
    if head.deleted || head.removed {
        return Err(ApiError::conflict("the comment is deleted"));
    }
    let mentions = crate::routes::notifications::resolve_mentions(&state, &req.content).await;
    let html = crate::routes::notifications::render(&req.content, &mentions);
    let mut tx = state.db.begin().await.map_err(canopy_db::DbError::from)?;
    canopy_db::comments::update(&mut tx, head.id, &req.content, &html).await?;
    crate::routes::notifications::record_mentions(
        &mut tx,
        &mentions,
        head.post_id,
        Some(head.id),
        user.person_id,
    )
    .await?;
    outgoing::updated(&mut tx, &state.base, Content::Comment(head.id)).await?;
    tx.commit().await.map_err(canopy_db::DbError::from)?;
    let view = canopy_db::comments::view(&state.db, head.id, Some(user.person_id)).await?;
    Ok(Json(view.into()))
}

/// Delete a comment (its creator or an admin). It stays in the tree as a placeholder.
#[utoipa::path(delete, path = "/api/v1/comments/{id}", tag = "comments", params(("id" = i64, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let head = canopy_db::comments::head(&state.db, CommentId(id)).await?;
    if head.creator_id != user.person_id && !user.is_admin {
        return Err(ApiError::forbidden(
            "only the creator or an admin can delete a comment",
        ));
    }
    if head.deleted {
        return Err(ApiError::conflict("the comment is already deleted"));
    }
    let mut tx = state.db.begin().await.map_err(canopy_db::DbError::from)?;
    canopy_db::comments::delete(&mut tx, head.id).await?;
    outgoing::deleted(&mut tx, &state.base, Content::Comment(head.id)).await?;
    tx.commit().await.map_err(canopy_db::DbError::from)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Vote on a comment: 1 up, -1 down, 0 clears.
///
/// The author starts with an upvote of their own (score 1), which they can clear or turn into
/// a downvote like any vote.
#[utoipa::path(post, path = "/api/v1/comments/{id}/vote", tag = "comments", params(("id" = i64, Path)),
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
    let head = canopy_db::comments::head(&state.db, CommentId(id)).await?;
    if head.deleted || head.removed {
        return Err(ApiError::conflict("the comment is deleted"));
    }
    let post = canopy_db::posts::view(&state.db, head.post_id, None).await?;
    crate::routes::bans::refuse_banned(&state, user.person_id, Some(post.community_id)).await?;
    let voter = canopy_db::actors::person_by_id(&state.db, user.person_id).await?;
    let mut tx = state.db.begin().await.map_err(canopy_db::DbError::from)?;
    let tally = canopy_db::votes::vote_comment_in(&mut tx, head.id, user.person_id, score).await?;
    outgoing::voted(
        &mut tx,
        &state.base,
        Content::Comment(head.id),
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

/// Turn query parameters into a tree request for `post`, starting at `parent` unless the cursor
/// says where to continue.
fn tree_request(
    post: PostId,
    parent: Option<CommentId>,
    params: TreeParams,
    viewer: &Viewer,
) -> Result<TreeRequest, ApiError> {
    let limit = validate::page_size("limit", params.limit, 50, 500)?;
    let max_depth = validate::page_size("max_depth", params.max_depth, 6, 100)?;
    let replies_per_comment =
        validate::page_size("replies_per_comment", params.replies_per_comment, 10, 500)?;
    let max_comments = validate::page_size("max_comments", params.max_comments, 300, 2000)?;
    let (parent, sort, after) = match params.cursor {
        Some(raw) => TreeCursor::continuing(&raw, post, parent, params.sort)?,
        None => (parent, params.sort.unwrap_or_default(), None),
    };
    Ok(TreeRequest {
        post,
        parent,
        sort,
        after,
        limit,
        max_depth: u32::try_from(max_depth).unwrap_or(6),
        replies_per_comment,
        max_comments,
        viewer: viewer.person(),
    })
}

async fn read_tree(state: &AppState, req: TreeRequest) -> ApiResult<Json<TreeResponse>> {
    let page = canopy_db::tree::page(&state.db, &req).await?;
    Ok(Json(TreeResponse {
        post_id: req.post.0,
        parent_id: req.parent.map(|p| p.0),
        sort: req.sort,
        comments: page.comments.into_iter().map(CommentNode::from).collect(),
        next_cursor: page.next_cursor,
        total: page.total,
    }))
}

/// The comment tree of a post, one page at a time: nested comments, each with the replies the
/// page includes and, where some were left out, how many and the cursor that lists them.
/// Every comment of a thread of any size is reachable by following cursors.
#[utoipa::path(get, path = "/api/v1/posts/{id}/comments", tag = "comments",
    params(("id" = i64, Path), TreeParams),
    responses((status = 200, body = TreeResponse), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn tree(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(params): Query<TreeParams>,
) -> ApiResult<Json<TreeResponse>> {
    let post = canopy_db::posts::view(&state.db, PostId(id), None).await?;
    let req = tree_request(post.id, None, params, &viewer)?;
    resync_if_stale(&state, &post);
    read_tree(&state, req).await
}

/// A read of a remote thread not synced for longer than the staleness setting asks for a resync
/// in the background; the read itself answers with what is stored.
pub fn resync_if_stale(state: &AppState, post: &canopy_db::posts::PostView) {
    let backfill = &state.federation.context().backfill;
    let Some(settings) = backfill.settings() else {
        return;
    };
    let stale = post.thread_synced_at.is_none_or(|at| {
        chrono::Utc::now()
            .signed_duration_since(at)
            .to_std()
            .unwrap_or_default()
            > settings.stale_after
    });
    if !post.local && stale {
        backfill.request(post.id, canopy_federation::backfill::Reason::Read);
    }
}

/// The replies of one comment as a tree page (same parameters as the post tree).
#[utoipa::path(get, path = "/api/v1/comments/{id}/replies", tag = "comments",
    params(("id" = i64, Path), TreeParams),
    responses((status = 200, body = TreeResponse), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn replies(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(params): Query<TreeParams>,
) -> ApiResult<Json<TreeResponse>> {
    let head = canopy_db::comments::head(&state.db, CommentId(id)).await?;
    let req = tree_request(head.post_id, Some(head.id), params, &viewer)?;
    read_tree(&state, req).await
}
