//! Community moderation: remove and restore posts and comments, lock, unlock, feature and
//! unfeature posts, add and remove moderators, and the public moderation log. Moderators of the content's community and
//! the node's admins may act; everyone else gets 403, and an unknown target 404, with nothing
//! changed. See docs/MODERATION.md.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::limits::Writer;
use crate::views::{CommentJson, ModLogEntry, PostJson};
use crate::{validate, AppState};
use axum::extract::State;
use canopy_core::{limits, CommentId, CommunityId, PostId};
use canopy_db::actors::PersonActor;
use canopy_db::moderation::{self as db_moderation, Action, NewEntry};
use canopy_db::sessions::SessionUser;
use canopy_federation::outgoing::{self, Content, Moderation};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Why a moderator acts; shown in the moderation log and sent with the activity.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// Up to 1,000 characters; may be left out (send `{}`).
    pub reason: Option<String>,
}

pub(crate) fn reason(r: &Reason) -> ApiResult<Option<&str>> {
    let Some(text) = r.reason.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > limits::MAX_REASON_CHARS {
        return Err(ApiError::invalid(format!(
            "`reason` is longer than {} characters",
            limits::MAX_REASON_CHARS
        )));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::invalid("`reason` contains control characters"));
    }
    Ok(Some(text))
}

/// Who acts, when they may moderate `community`: a moderator of it (as its home lists them) or
/// an admin of this node. Also whether the action federates: an admin who is not a moderator of
/// a remote community acts on this node only (its home would refuse the activity).
pub(crate) struct Moderator {
    pub(crate) person: PersonActor,
    pub(crate) federates: bool,
}

pub(crate) async fn moderator_of(
    state: &AppState,
    user: &SessionUser,
    community: CommunityId,
) -> ApiResult<Moderator> {
    let person = canopy_db::actors::person_by_id(&state.db, user.person_id).await?;
    let listed = db_moderation::is_moderator(&state.db, community, &person.ap_id).await?;
    if !listed && !user.is_admin {
        return Err(ApiError::forbidden(
            "only a moderator of the community or an admin may do this",
        ));
    }
    let community_local = canopy_db::actors::community_by_id(&state.db, community)
        .await?
        .local;
    Ok(Moderator {
        person,
        federates: listed || community_local,
    })
}

/// Remove (`remove`) or restore the post `post` or the comment `comment`, log it and send it.
#[allow(clippy::too_many_arguments)]
async fn set_removed(
    state: &AppState,
    m: &Moderator,
    community: CommunityId,
    post: PostId,
    comment: Option<CommentId>,
    remove: bool,
    why: Option<&str>,
) -> ApiResult<()> {
    let mut tx = state.db.begin().await.map_err(canopy_db::DbError::from)?;
    db_moderation::set_removed(&mut tx, post, comment, remove).await?;
    db_moderation::record(
        &mut tx,
        &NewEntry {
            action: Action::removal(comment.is_some(), remove),
            moderator: m.person.id,
            community,
            post: Some(post),
            comment,
            target_ap_id: None,
            reason: why,
            until: None,
            local: true,
        },
    )
    .await?;
    if m.federates {
        let what = match comment {
            Some(c) => Content::Comment(c),
            None => Content::Post(post),
        };
        let action = if remove {
            Moderation::Remove { reason: why }
        } else {
            Moderation::Restore { reason: why }
        };
        outgoing::moderated(&mut tx, &state.base, what, &m.person, action).await?;
    }
    tx.commit().await.map_err(canopy_db::DbError::from)?;
    tracing::info!(post_id = %post, comment_id = ?comment.map(|c| c.0), remove, moderator = %m.person.id, "content moderated");
    Ok(())
}

/// Remove a post (moderators of its community and admins). Its author's deletion is separate.
#[utoipa::path(post, path = "/api/v1/posts/{id}/remove", tag = "moderation",
    params(("id" = i64, Path)), request_body = Reason, security(("bearer" = [])),
    responses((status = 200, body = PostJson), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn remove_post(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(id): Path<i64>,
    Json(req): Json<Reason>,
) -> ApiResult<Json<PostJson>> {
    let why = reason(&req)?;
    let post = canopy_db::posts::view(&state.db, PostId(id), None).await?;
    let m = moderator_of(&state, &user, post.community_id).await?;
    if post.removed {
        return Err(ApiError::conflict("the post is already removed"));
    }
    set_removed(&state, &m, post.community_id, post.id, None, true, why).await?;
    let view = canopy_db::posts::view(&state.db, post.id, Some(user.person_id)).await?;
    Ok(Json(view.into()))
}

/// Restore a post: a removed one (moderators and admins), else a deleted one (its author).
#[utoipa::path(post, path = "/api/v1/posts/{id}/restore", tag = "moderation",
    params(("id" = i64, Path)), request_body = Reason, security(("bearer" = [])),
    responses((status = 200, body = PostJson), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn restore_post(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(id): Path<i64>,
    Json(req): Json<Reason>,
) -> ApiResult<Json<PostJson>> {
    let why = reason(&req)?;
    let post = canopy_db::posts::view(&state.db, PostId(id), None).await?;
    if post.removed {
        let m = moderator_of(&state, &user, post.community_id).await?;
        set_removed(&state, &m, post.community_id, post.id, None, false, why).await?;
    } else if post.deleted {
        undelete(&state, &user, post.creator_id, post.id, None).await?;
    } else {
        // Neither: still tell a non-moderator no before saying there is nothing to restore.
        moderator_of(&state, &user, post.community_id).await?;
        return Err(ApiError::conflict(
            "the post is neither removed nor deleted",
        ));
    }
    let view = canopy_db::posts::view(&state.db, post.id, Some(user.person_id)).await?;
    Ok(Json(view.into()))
}

/// The author takes back their own deletion (sent as `Undo(Delete)`).
async fn undelete(
    state: &AppState,
    user: &SessionUser,
    creator: canopy_core::PersonId,
    post: PostId,
    comment: Option<CommentId>,
) -> ApiResult<()> {
    if creator != user.person_id {
        return Err(ApiError::forbidden(
            "only its author can restore deleted content",
        ));
    }
    let mut tx = state.db.begin().await.map_err(canopy_db::DbError::from)?;
    db_moderation::undelete(&mut tx, post, comment).await?;
    let what = match comment {
        Some(c) => Content::Comment(c),
        None => Content::Post(post),
    };
    outgoing::undeleted(&mut tx, &state.base, what).await?;
    tx.commit().await.map_err(canopy_db::DbError::from)?;
    Ok(())
}

/// What a moderator switches on a post.
#[derive(Debug, Clone, Copy)]
enum Flag {
    Locked,
    Featured,
}

/// Switch `flag` on (`on`) or off for a post, log it and send it.
async fn set_flag(
    state: &AppState,
    user: &SessionUser,
    id: i64,
    flag: Flag,
    on: bool,
    req: &Reason,
) -> ApiResult<Json<PostJson>> {
    let why = reason(req)?;
    let post = canopy_db::posts::view(&state.db, PostId(id), None).await?;
    let m = moderator_of(state, user, post.community_id).await?;
    let (current, action, already) = match (flag, on) {
        (Flag::Locked, true) => (post.locked, Action::LockPost, "the post is already locked"),
        (Flag::Locked, false) => (post.locked, Action::UnlockPost, "the post is not locked"),
        (Flag::Featured, true) => (
            post.featured,
            Action::FeaturePost,
            "the post is already featured",
        ),
        (Flag::Featured, false) => (
            post.featured,
            Action::UnfeaturePost,
            "the post is not featured",
        ),
    };
    if current == on {
        return Err(ApiError::conflict(already));
    }
    if matches!(flag, Flag::Featured) && on && (post.deleted || post.removed) {
        return Err(ApiError::conflict(
            "a deleted or removed post is not featured",
        ));
    }
    let mut tx = state.db.begin().await.map_err(canopy_db::DbError::from)?;
    match flag {
        Flag::Locked => db_moderation::set_locked(&mut tx, post.id, on).await?,
        Flag::Featured => db_moderation::set_featured(&mut tx, post.id, on).await?,
    };
    db_moderation::record(
        &mut tx,
        &NewEntry {
            action,
            moderator: m.person.id,
            community: post.community_id,
            post: Some(post.id),
            comment: None,
            target_ap_id: None,
            reason: why,
            until: None,
            local: true,
        },
    )
    .await?;
    if m.federates {
        match flag {
            Flag::Locked => {
                let action = if on {
                    Moderation::Lock { reason: why }
                } else {
                    Moderation::Unlock
                };
                outgoing::moderated(
                    &mut tx,
                    &state.base,
                    Content::Post(post.id),
                    &m.person,
                    action,
                )
                .await?;
            }
            Flag::Featured => {
                outgoing::featured_changed(&mut tx, &state.base, post.id, &m.person, on).await?;
            }
        }
    }
    tx.commit().await.map_err(canopy_db::DbError::from)?;
    let view = canopy_db::posts::view(&state.db, post.id, Some(user.person_id)).await?;
    Ok(Json(view.into()))
}

/// Feature a post in its community (served in the community's `featured` collection).
#[utoipa::path(post, path = "/api/v1/posts/{id}/feature", tag = "moderation",
    params(("id" = i64, Path)), request_body = Reason, security(("bearer" = [])),
    responses((status = 200, body = PostJson), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn feature_post(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(id): Path<i64>,
    Json(req): Json<Reason>,
) -> ApiResult<Json<PostJson>> {
    set_flag(&state, &user, id, Flag::Featured, true, &req).await
}

/// Stop featuring a post.
#[utoipa::path(post, path = "/api/v1/posts/{id}/unfeature", tag = "moderation",
    params(("id" = i64, Path)), request_body = Reason, security(("bearer" = [])),
    responses((status = 200, body = PostJson), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn unfeature_post(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(id): Path<i64>,
    Json(req): Json<Reason>,
) -> ApiResult<Json<PostJson>> {
    set_flag(&state, &user, id, Flag::Featured, false, &req).await
}

/// Lock a post: no new comments, here or from other servers.
#[utoipa::path(post, path = "/api/v1/posts/{id}/lock", tag = "moderation",
    params(("id" = i64, Path)), request_body = Reason, security(("bearer" = [])),
    responses((status = 200, body = PostJson), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn lock_post(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(id): Path<i64>,
    Json(req): Json<Reason>,
) -> ApiResult<Json<PostJson>> {
    set_flag(&state, &user, id, Flag::Locked, true, &req).await
}

/// Unlock a locked post.
#[utoipa::path(post, path = "/api/v1/posts/{id}/unlock", tag = "moderation",
    params(("id" = i64, Path)), request_body = Reason, security(("bearer" = [])),
    responses((status = 200, body = PostJson), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn unlock_post(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(id): Path<i64>,
    Json(req): Json<Reason>,
) -> ApiResult<Json<PostJson>> {
    set_flag(&state, &user, id, Flag::Locked, false, &req).await
}

/// Remove a comment (moderators of its community and admins). It stays in the tree, blanked.
#[utoipa::path(post, path = "/api/v1/comments/{id}/remove", tag = "moderation",
    params(("id" = i64, Path)), request_body = Reason, security(("bearer" = [])),
    responses((status = 200, body = CommentJson), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn remove_comment(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(id): Path<i64>,
    Json(req): Json<Reason>,
) -> ApiResult<Json<CommentJson>> {
    let why = reason(&req)?;
    let head = canopy_db::comments::head(&state.db, CommentId(id)).await?;
    let post = canopy_db::posts::view(&state.db, head.post_id, None).await?;
    let m = moderator_of(&state, &user, post.community_id).await?;
    if head.removed {
        return Err(ApiError::conflict("the comment is already removed"));
    }
    set_removed(
        &state,
        &m,
        post.community_id,
        post.id,
        Some(head.id),
        true,
        why,
    )
    .await?;
    let view = canopy_db::comments::view(&state.db, head.id, Some(user.person_id)).await?;
    Ok(Json(view.into()))
}

/// Restore a comment: a removed one (moderators and admins), else a deleted one (its author).
#[utoipa::path(post, path = "/api/v1/comments/{id}/restore", tag = "moderation",
    params(("id" = i64, Path)), request_body = Reason, security(("bearer" = [])),
    responses((status = 200, body = CommentJson), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn restore_comment(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(id): Path<i64>,
    Json(req): Json<Reason>,
) -> ApiResult<Json<CommentJson>> {
    let why = reason(&req)?;
    let head = canopy_db::comments::head(&state.db, CommentId(id)).await?;
    let post = canopy_db::posts::view(&state.db, head.post_id, None).await?;
    if head.removed {
        let m = moderator_of(&state, &user, post.community_id).await?;
        set_removed(
            &state,
            &m,
            post.community_id,
            post.id,
            Some(head.id),
            false,
            why,
        )
        .await?;
    } else if head.deleted {
        undelete(&state, &user, head.creator_id, post.id, Some(head.id)).await?;
    } else {
        moderator_of(&state, &user, post.community_id).await?;
        return Err(ApiError::conflict(
            "the comment is neither removed nor deleted",
        ));
    }
    let view = canopy_db::comments::view(&state.db, head.id, Some(user.person_id)).await?;
    Ok(Json(view.into()))
}

/// A community's moderators.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModeratorList {
    /// Their ActivityPub ids, as the community's home lists them.
    pub moderators: Vec<String>,
}

/// Whom to make (or stop being) a moderator.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModeratorRequest {
    /// A local user's `name`, or `name@host` of a remote person this node knows.
    pub person: String,
}

/// A community's moderators (`name` or `name@host`).
#[utoipa::path(get, path = "/api/v1/communities/{name}/moderators", tag = "moderation",
    params(("name" = String, Path, description = "`name` or `name@host`")),
    responses((status = 200, body = ModeratorList), (status = 404, body = crate::error::ErrorBody)))]
pub async fn moderators(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<ModeratorList>> {
    let community = canopy_db::communities::by_name(&state.db, &name).await?;
    Ok(Json(ModeratorList {
        moderators: db_moderation::moderators(&state.db, community.id).await?,
    }))
}

/// Make someone a moderator of a local community (its moderators and admins).
#[utoipa::path(post, path = "/api/v1/communities/{name}/moderators", tag = "moderation",
    params(("name" = String, Path, description = "`name` or `name@host`")),
    request_body = ModeratorRequest, security(("bearer" = [])),
    responses((status = 200, body = ModeratorList), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn add_moderator(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(name): Path<String>,
    Json(req): Json<ModeratorRequest>,
) -> ApiResult<Json<ModeratorList>> {
    change_moderator(&state, &user, &name, &req, true).await
}

/// Stop someone moderating a local community (its moderators and admins).
#[utoipa::path(delete, path = "/api/v1/communities/{name}/moderators", tag = "moderation",
    params(("name" = String, Path, description = "`name` or `name@host`")),
    request_body = ModeratorRequest, security(("bearer" = [])),
    responses((status = 200, body = ModeratorList), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn remove_moderator(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(name): Path<String>,
    Json(req): Json<ModeratorRequest>,
) -> ApiResult<Json<ModeratorList>> {
    change_moderator(&state, &user, &name, &req, false).await
}

async fn change_moderator(
    state: &AppState,
    user: &SessionUser,
    name: &str,
    req: &ModeratorRequest,
    add: bool,
) -> ApiResult<Json<ModeratorList>> {
    let community = canopy_db::communities::by_name(&state.db, name).await?;
    let m = moderator_of(state, user, community.id).await?;
    let person = canopy_db::people::by_handle(&state.db, req.person.trim()).await?;
    let row = canopy_db::actors::community_by_id(&state.db, community.id).await?;
    let mut tx = state.db.begin().await.map_err(canopy_db::DbError::from)?;
    let changed = match (row.local, add) {
        (true, true) => db_moderation::add_moderator(&mut tx, community.id, person.id).await?,
        (true, false) => db_moderation::remove_moderator(&mut tx, community.id, person.id).await?,
        // A remote community's list is its home's: sent there, changed here when it relays it.
        (false, _) => {
            let listed =
                db_moderation::is_moderator(&state.db, community.id, &person.ap_id).await?;
            listed != add
        }
    };
    if !changed {
        return Err(ApiError::conflict(if add {
            "they are a moderator already"
        } else {
            "they are not a moderator"
        }));
    }
    db_moderation::record(
        &mut tx,
        &NewEntry {
            action: if add {
                Action::AddModerator
            } else {
                Action::RemoveModerator
            },
            moderator: m.person.id,
            community: community.id,
            post: None,
            comment: None,
            target_ap_id: Some(&person.ap_id),
            reason: None,
            until: None,
            local: true,
        },
    )
    .await?;
    if m.federates {
        outgoing::moderator_changed(&mut tx, &state.base, &row, &m.person, &person.ap_id, add)
            .await?;
    }
    tx.commit().await.map_err(canopy_db::DbError::from)?;
    Ok(Json(ModeratorList {
        moderators: db_moderation::moderators(&state.db, community.id).await?,
    }))
}

/// New settings of a local community; a field left out keeps its value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditCommunity {
    /// 1–200 characters.
    pub title: Option<String>,
    /// Markdown; an empty string clears it.
    pub description: Option<String>,
    /// Only moderators (and admins) may start posts; anyone may still comment.
    pub posting_restricted_to_mods: Option<bool>,
}

/// Change a local community's title, description or posting restriction (its moderators and
/// admins). Sent to its followers as `Update` of the Group and logged as `update_community`. A
/// remote community's settings are changed on its home server (409 here).
#[utoipa::path(patch, path = "/api/v1/communities/{name}", tag = "moderation",
    params(("name" = String, Path, description = "`name` of a local community")),
    request_body = EditCommunity, security(("bearer" = [])),
    responses((status = 200, body = crate::views::CommunityView),
              (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn edit_community(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(name): Path<String>,
    Json(req): Json<EditCommunity>,
) -> ApiResult<Json<crate::views::CommunityView>> {
    let community = canopy_db::communities::by_name(&state.db, &name).await?;
    let m = moderator_of(&state, &user, community.id).await?;
    if !community.local {
        return Err(ApiError::conflict(
            "the settings of a remote community are changed on its home server",
        ));
    }
    let title = match &req.title {
        Some(t) => validate::title("title", t)?,
        None => community.title.as_str(),
    };
    let description = match &req.description {
        Some(d) if d.trim().is_empty() => None,
        Some(d) => {
            validate::markdown("description", d, limits::MAX_SUMMARY_BYTES, false)?;
            Some(d.as_str())
        }
        None => community.description.as_deref(),
    };
    let description_html = description.map(canopy_core::content::markdown_to_html);
    let settings = canopy_db::communities::Settings {
        title,
        description,
        description_html: description_html.as_deref(),
        posting_restricted_to_mods: req
            .posting_restricted_to_mods
            .unwrap_or(community.posting_restricted_to_mods),
    };
    let mut tx = state.db.begin().await.map_err(canopy_db::DbError::from)?;
    if canopy_db::communities::update_settings(&mut tx, community.id, &settings).await? {
        db_moderation::record(
            &mut tx,
            &NewEntry {
                action: Action::UpdateCommunity,
                moderator: m.person.id,
                community: community.id,
                post: None,
                comment: None,
                target_ap_id: None,
                reason: None,
                until: None,
                local: true,
            },
        )
        .await?;
        outgoing::community_updated(&mut tx, &state.base, community.id, &m.person).await?;
    }
    tx.commit().await.map_err(canopy_db::DbError::from)?;
    let view = canopy_db::communities::by_id(&state.db, community.id).await?;
    Ok(Json(view.into()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ModLogParams {
    /// Only this community (`name` or `name@host`).
    pub community: Option<String>,
    /// Only this moderator (`name` or `name@host`).
    pub moderator: Option<String>,
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (same filters).
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModLog {
    pub entries: Vec<ModLogEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The public moderation log, newest first: every action taken here or received.
#[utoipa::path(get, path = "/api/v1/modlog", tag = "moderation", params(ModLogParams),
    responses((status = 200, body = ModLog), (status = 400, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn modlog(
    State(state): State<AppState>,
    Query(params): Query<ModLogParams>,
) -> ApiResult<Json<ModLog>> {
    let limit = validate::page_size("limit", params.limit, 20, 100)?;
    let community = match params.community.as_deref() {
        Some(name) => Some(canopy_db::communities::by_name(&state.db, name).await?.id),
        None => None,
    };
    let moderator = match params.moderator.as_deref() {
        Some(handle) => Some(canopy_db::people::by_handle(&state.db, handle).await?.id),
        None => None,
    };
    let filter = db_moderation::Filter {
        community,
        moderator,
    };
    let (rows, next_cursor) =
        db_moderation::log(&state.db, filter, params.cursor.as_deref(), limit).await?;
    Ok(Json(ModLog {
        entries: rows.into_iter().map(ModLogEntry::from).collect(),
        next_cursor,
    }))
}
