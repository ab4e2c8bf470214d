//! Notifications of the logged-in user: replies to their posts and comments, and mentions of
//! them (local or arriving from other servers), newest first, with read marks.

use crate::auth::Auth;
use crate::error::ApiResult;
use crate::extract::{Json, Path, Query};
use crate::views::CreatorView;
use crate::{validate, AppState};
use axum::extract::State;
use axum::http::StatusCode;
use canopy_db::notifications::{self as db, Notification};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only unread notifications.
    pub unread: Option<bool>,
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Something that happened to the user.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationJson {
    pub id: i64,
    /// `reply` (to the user's post or comment) or `mention` (of the user).
    pub kind: String,
    pub read: bool,
    pub created_at: DateTime<Utc>,
    pub post_id: i64,
    pub post_title: String,
    /// The reply or the comment with the mention; absent when the mention is in the post itself.
    pub comment_id: Option<i64>,
    /// The ActivityPub id (a link) of the comment, or of the post.
    pub ap_id: String,
    /// Its text, markdown and sanitised HTML.
    pub content: Option<String>,
    pub content_html: Option<String>,
    /// Who wrote it.
    pub creator: CreatorView,
}

impl From<Notification> for NotificationJson {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id,
            kind: n.kind,
            read: n.read,
            created_at: n.created_at,
            post_id: n.post_id.0,
            post_title: n.post_title,
            comment_id: n.comment_id.map(|c| c.0),
            ap_id: n.item_ap_id,
            content: n.content,
            content_html: n.content_html,
            creator: CreatorView::new(
                n.actor_id,
                n.actor_name,
                n.actor_display_name,
                n.actor_local,
                &n.actor_authority,
            ),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationList {
    pub notifications: Vec<NotificationJson>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnreadCount {
    pub unread: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarkedRead {
    /// How many notifications were unread.
    pub marked: u64,
}

/// The logged-in user's notifications, newest first. Items deleted or removed since, and
/// authors the user blocks or whose instance is refused, are left out.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", params(ListParams),
    security(("bearer" = [])),
    responses((status = 200, body = NotificationList), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(user): Auth,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<NotificationList>> {
    let limit = validate::page_size("limit", params.limit, 20, 100)?;
    let (rows, next_cursor) = db::list(
        &state.db,
        user.person_id,
        params.unread.unwrap_or(false),
        params.cursor.as_deref(),
        limit,
    )
    .await?;
    Ok(Json(NotificationList {
        notifications: rows.into_iter().map(NotificationJson::from).collect(),
        next_cursor,
    }))
}

/// How many of the logged-in user's notifications are unread.
#[utoipa::path(get, path = "/api/v1/notifications/count", tag = "notifications",
    security(("bearer" = [])),
    responses((status = 200, body = UnreadCount), (status = 401, body = crate::error::ErrorBody)))]
pub async fn count(
    State(state): State<AppState>,
    Auth(user): Auth,
) -> ApiResult<Json<UnreadCount>> {
    let unread = db::unread_count(&state.db, user.person_id).await?;
    Ok(Json(UnreadCount { unread }))
}

/// Mark one notification read (idempotent).
#[utoipa::path(put, path = "/api/v1/notifications/{id}/read", tag = "notifications",
    params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn mark_read(
    State(state): State<AppState>,
    Auth(user): Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    db::mark(&state.db, user.person_id, id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mark one notification unread again (idempotent).
#[utoipa::path(delete, path = "/api/v1/notifications/{id}/read", tag = "notifications",
    params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn mark_unread(
    State(state): State<AppState>,
    Auth(user): Auth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    db::mark(&state.db, user.person_id, id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mark all of the logged-in user's notifications read.
#[utoipa::path(post, path = "/api/v1/notifications/mark_all_read", tag = "notifications",
    security(("bearer" = [])),
    responses((status = 200, body = MarkedRead), (status = 401, body = crate::error::ErrorBody)))]
pub async fn mark_all_read(
    State(state): State<AppState>,
    Auth(user): Auth,
) -> ApiResult<Json<MarkedRead>> {
    let marked = db::mark_all_read(&state.db, user.person_id).await?;
    Ok(Json(MarkedRead { marked }))
}

/// The mentions in `markdown` that name known people (local users, or people of other
/// servers found through WebFinger; at most `canopy_federation::mentions::MAX_MENTIONS`).
pub async fn resolve_mentions(
    state: &AppState,
    markdown: &str,
) -> Vec<canopy_federation::mentions::Resolved> {
    canopy_federation::mentions::resolve(markdown, &state.fed_data()).await
}

/// `markdown` as sanitised HTML, each resolved mention a link to the person.
pub fn render(markdown: &str, mentions: &[canopy_federation::mentions::Resolved]) -> String {
    canopy_core::content::markdown_to_html(&canopy_federation::mentions::linkify(
        markdown, mentions,
    ))
}

/// Store who the post (or comment) mentions, for its Mention tags and addressing, in the
/// caller's transaction, and notify the local people mentioned: on creation all of them, on an
/// edit those it mentions for the first time (nobody is notified twice of one item).
pub async fn record_mentions(
    conn: &mut canopy_db::PgConnection,
    mentions: &[canopy_federation::mentions::Resolved],
    post: canopy_core::PostId,
    comment: Option<canopy_core::CommentId>,
    author: canopy_core::PersonId,
) -> Result<(), crate::error::ApiError> {
    let hrefs: Vec<String> = mentions.iter().map(|m| m.href.clone()).collect();
    let names: Vec<String> = mentions.iter().map(|m| m.name.clone()).collect();
    canopy_db::notifications::set_mentions(&mut *conn, post, comment, &hrefs, &names).await?;
    let local: Vec<canopy_core::PersonId> = mentions.iter().filter_map(|m| m.local).collect();
    if !local.is_empty() {
        canopy_db::notifications::mentions(&mut *conn, post, comment, author, &local).await?;
    }
    Ok(())
}
