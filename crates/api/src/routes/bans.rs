//! Bans: a community's moderators (and the node's admins) ban a person from the community; the
//! node's admins ban a person from the whole node. Either may end at `expires` and may remove the
//! person's content (`remove_data`). A banned person's new posts, comments and votes are refused
//! with 403 and the ban's reason. See docs/MODERATION.md.

use crate::auth::{Admin, Auth};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path};
use crate::limits::Writer;
use crate::routes::moderation::{moderator_of, reason, Reason};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use canopy_core::{CommunityId, PersonId};
use canopy_db::actors::PersonActor;
use canopy_db::bans::{self as db_bans, Ban, Refusal, Removed, Scope};
use canopy_db::moderation::{self as db_moderation, Action, NewEntry};
use canopy_db::PgPool;
use canopy_federation::outgoing::{self, BanTerms};
use canopy_federation::urls::PublicBase;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;

/// Whom to ban, why, until when, and whether their content goes too.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BanRequest {
    /// A local user's `name`, or `name@host` of a remote person this node knows.
    pub person: String,
    /// Up to 1,000 characters; shown in the moderation log and to the person when refused.
    pub reason: Option<String>,
    /// When the ban ends (RFC 3339, in the future); absent: it does not end by itself.
    pub expires: Option<DateTime<Utc>>,
    /// Also remove their posts and comments (in the community; for a site ban, everywhere here).
    #[serde(default)]
    pub remove_data: bool,
}

/// A ban in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct BanJson {
    /// `name` for a local user, `name@host` for a remote person.
    pub person: String,
    pub person_ap_id: String,
    pub reason: Option<String>,
    /// When it ends; absent: it does not end by itself.
    pub expires: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<Ban> for BanJson {
    fn from(b: Ban) -> Self {
        Self {
            person: crate::views::handle(&b.person_name, b.person_local, &b.person_authority),
            person_ap_id: b.person_ap_id,
            reason: b.reason,
            expires: b.expires,
            created_at: b.created_at,
        }
    }
}

/// The bans in force, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct BanList {
    pub bans: Vec<BanJson>,
}

/// Checked input of a ban: the reason and the end.
fn terms(req: &BanRequest) -> ApiResult<(Option<String>, Option<DateTime<Utc>>)> {
    let why = reason(&Reason {
        reason: req.reason.clone(),
    })?
    .map(str::to_string);
    if let Some(end) = req.expires {
        if end <= Utc::now() {
            return Err(ApiError::invalid("`expires` is not in the future"));
        }
    }
    Ok((why, req.expires))
}

/// The person a request names, as an actor; never the one acting, and never an admin unless an
/// admin acts (a community's moderators do not ban the node's admins).
async fn target(
    db: &PgPool,
    handle: &str,
    acting: PersonId,
    acting_is_admin: bool,
) -> ApiResult<PersonActor> {
    let person = canopy_db::people::by_handle(db, handle.trim()).await?;
    if person.id == acting {
        return Err(ApiError::invalid("you cannot ban yourself"));
    }
    if person.is_admin && !acting_is_admin {
        return Err(ApiError::forbidden(
            "a moderator cannot ban an admin of this node",
        ));
    }
    Ok(canopy_db::actors::person_by_id(db, person.id).await?)
}

/// Log the removals `removed` made by a ban's `remove_data`.
async fn log_removals(
    conn: &mut PgConnection,
    removed: &[Removed],
    moderator: PersonId,
    why: Option<&str>,
) -> ApiResult<()> {
    for r in removed {
        db_moderation::record(
            conn,
            &NewEntry {
                action: Action::removal(r.comment_id.is_some(), true),
                moderator,
                community: r.community_id,
                post: Some(r.post_id),
                comment: r.comment_id,
                target_ap_id: None,
                reason: why,
                until: None,
                local: true,
            },
        )
        .await?;
    }
    Ok(())
}

/// 403 when a ban keeps `person` out of `community` (with `None`: out of this node), with the
/// ban's reason. Every write a banned person could make asks this first.
pub async fn refuse_banned(
    state: &AppState,
    person: PersonId,
    community: Option<CommunityId>,
) -> ApiResult<()> {
    let why = |r: Option<String>| r.map(|r| format!(": {r}")).unwrap_or_default();
    match db_bans::refusal(&state.db, person, community).await? {
        None => Ok(()),
        Some(Refusal::Site { reason }) => Err(ApiError::forbidden(format!(
            "you are banned from this node{}",
            why(reason)
        ))),
        Some(Refusal::Community { reason }) => Err(ApiError::forbidden(format!(
            "you are banned from this community{}",
            why(reason)
        ))),
    }
}

/// The bans in force in a community (its moderators and admins).
#[utoipa::path(get, path = "/api/v1/communities/{name}/bans", tag = "moderation",
    params(("name" = String, Path, description = "`name` or `name@host`")),
    security(("bearer" = [])),
    responses((status = 200, body = BanList), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn community_bans(
    State(state): State<AppState>,
    Auth(user): Auth,
    Path(name): Path<String>,
) -> ApiResult<Json<BanList>> {
    let community = canopy_db::communities::by_name(&state.db, &name).await?;
    moderator_of(&state, &user, community.id).await?;
    let bans = db_bans::list(&state.db, Scope::Community(community.id)).await?;
    Ok(Json(BanList {
        bans: bans.into_iter().map(BanJson::from).collect(),
    }))
}

/// Ban a person from a community (its moderators and admins). Banning again replaces the
/// earlier ban's reason and end.
#[utoipa::path(post, path = "/api/v1/communities/{name}/bans", tag = "moderation",
    params(("name" = String, Path, description = "`name` or `name@host`")),
    request_body = BanRequest, security(("bearer" = [])),
    responses((status = 200, body = BanJson), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn ban_from_community(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(name): Path<String>,
    Json(req): Json<BanRequest>,
) -> ApiResult<Json<BanJson>> {
    let community = canopy_db::communities::by_name(&state.db, &name).await?;
    let m = moderator_of(&state, &user, community.id).await?;
    let (why, expires) = terms(&req)?;
    let person = target(&state.db, &req.person, user.person_id, user.is_admin).await?;
    let row = canopy_db::actors::community_by_id(&state.db, community.id).await?;
    let scope = Scope::Community(community.id);
    let mut tx = state.db.begin().await.map_err(canopy_db::DbError::from)?;
    db_bans::ban(
        &mut tx,
        scope,
        person.id,
        why.as_deref(),
        expires,
        Some(m.person.id),
    )
    .await?;
    db_moderation::record(
        &mut tx,
        &NewEntry {
            action: Action::BanPerson,
            moderator: m.person.id,
            community: community.id,
            post: None,
            comment: None,
            target_ap_id: Some(&person.ap_id),
            reason: why.as_deref(),
            until: expires,
            local: true,
        },
    )
    .await?;
    if req.remove_data {
        let removed = db_bans::remove_content(&mut tx, person.id, Some(community.id)).await?;
        log_removals(&mut tx, &removed, m.person.id, why.as_deref()).await?;
    }
    if m.federates {
        let terms = BanTerms {
            reason: why.as_deref(),
            expires,
            remove_data: req.remove_data,
        };
        outgoing::banned_from_community(
            &mut tx,
            &state.base,
            &row,
            &m.person,
            &person,
            terms,
            false,
        )
        .await?;
    }
    tx.commit().await.map_err(canopy_db::DbError::from)?;
    tracing::info!(community_id = %community.id, person_id = %person.id, moderator = %m.person.id, "person banned from community");
    ban_view(&state, scope, person.id).await
}

/// The ban in force of `person` in `scope`, as the API shows it.
async fn ban_view(state: &AppState, scope: Scope, person: PersonId) -> ApiResult<Json<BanJson>> {
    db_bans::list(&state.db, scope)
        .await?
        .into_iter()
        .find(|b| b.person_id == person)
        .map(|b| Json(b.into()))
        .ok_or_else(|| ApiError::not_found("ban"))
}

/// Lift a person's ban from a community (its moderators and admins).
#[utoipa::path(delete, path = "/api/v1/communities/{name}/bans/{person}", tag = "moderation",
    params(("name" = String, Path, description = "`name` or `name@host`"),
           ("person" = String, Path, description = "`name` or `name@host`")),
    security(("bearer" = [])),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn unban_from_community(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path((name, handle)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let community = canopy_db::communities::by_name(&state.db, &name).await?;
    let m = moderator_of(&state, &user, community.id).await?;
    let person = canopy_db::people::by_handle(&state.db, handle.trim()).await?;
    let person = canopy_db::actors::person_by_id(&state.db, person.id).await?;
    let row = canopy_db::actors::community_by_id(&state.db, community.id).await?;
    let mut tx = state.db.begin().await.map_err(canopy_db::DbError::from)?;
    if !db_bans::unban(&mut tx, Scope::Community(community.id), person.id).await? {
        return Err(ApiError::conflict("they are not banned from the community"));
    }
    db_moderation::record(
        &mut tx,
        &NewEntry {
            action: Action::UnbanPerson,
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
        let terms = BanTerms {
            reason: None,
            expires: None,
            remove_data: false,
        };
        outgoing::banned_from_community(
            &mut tx,
            &state.base,
            &row,
            &m.person,
            &person,
            terms,
            true,
        )
        .await?;
    }
    tx.commit().await.map_err(canopy_db::DbError::from)?;
    tracing::info!(community_id = %community.id, person_id = %person.id, moderator = %m.person.id, "person unbanned from community");
    Ok(StatusCode::NO_CONTENT)
}

/// The site bans in force (admins).
#[utoipa::path(get, path = "/api/v1/admin/bans", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = BanList), (status = 403, body = crate::error::ErrorBody)))]
pub async fn site_bans(State(state): State<AppState>, _admin: Admin) -> ApiResult<Json<BanList>> {
    let bans = db_bans::list(&state.db, Scope::Site).await?;
    Ok(Json(BanList {
        bans: bans.into_iter().map(BanJson::from).collect(),
    }))
}

/// Ban a person from this node (admins): a local user can no longer post, comment, vote or
/// create communities; a remote person's activities are refused. A local user's ban is sent to
/// the instances following this node's communities.
#[utoipa::path(post, path = "/api/v1/admin/bans", tag = "admin", request_body = BanRequest,
    security(("bearer" = [])),
    responses((status = 200, body = BanJson), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn site_ban(
    State(state): State<AppState>,
    Admin(user): Admin,
    Json(req): Json<BanRequest>,
) -> ApiResult<Json<BanJson>> {
    let admin = canopy_db::actors::person_by_id(&state.db, user.person_id).await?;
    ban_site(&state.db, &state.base, &admin, &req).await?;
    let person = canopy_db::people::by_handle(&state.db, req.person.trim()).await?;
    ban_view(&state, Scope::Site, person.id).await
}

/// The admin a `canopy admin ban` acts as: the local admin `name`, or the longest-standing one.
pub async fn acting_admin(db: &PgPool, name: Option<&str>) -> ApiResult<PersonActor> {
    let person = match name {
        Some(n) => canopy_db::people::local_by_name(db, n).await?,
        None => canopy_db::people::first_admin(db)
            .await?
            .ok_or_else(|| ApiError::invalid("this node has no admin account to act as"))?,
    };
    if !person.is_admin {
        return Err(ApiError::forbidden(format!(
            "{} is not an admin",
            person.name
        )));
    }
    Ok(canopy_db::actors::person_by_id(db, person.id).await?)
}

/// Ban the person `req` names from this node for `admin`, in one transaction with the removal
/// of their content (when asked), its log and its activity. Shared by the API and the CLI.
pub async fn ban_site(
    db: &PgPool,
    base: &PublicBase,
    admin: &PersonActor,
    req: &BanRequest,
) -> ApiResult<()> {
    let (why, expires) = terms(req)?;
    let person = target(db, &req.person, admin.id, true).await?;
    let terms = BanTerms {
        reason: why.as_deref(),
        expires,
        remove_data: req.remove_data,
    };
    let mut tx = db.begin().await.map_err(canopy_db::DbError::from)?;
    db_bans::ban(
        &mut tx,
        Scope::Site,
        person.id,
        terms.reason,
        terms.expires,
        Some(admin.id),
    )
    .await?;
    db_bans::record_site(
        &mut tx,
        true,
        admin.id,
        &person.ap_id,
        terms.reason,
        terms.expires,
        true,
    )
    .await?;
    if terms.remove_data {
        let removed = db_bans::remove_content(&mut tx, person.id, None).await?;
        log_removals(&mut tx, &removed, admin.id, terms.reason).await?;
    }
    if person.local {
        outgoing::banned_from_site(&mut tx, base, admin, &person, terms, false).await?;
    }
    tx.commit().await.map_err(canopy_db::DbError::from)?;
    tracing::info!(person_id = %person.id, admin = %admin.id, "person banned from the site");
    Ok(())
}

/// Lift the site ban of the person `handle` for `admin`. Returns whether one was in force.
pub async fn unban_site(
    db: &PgPool,
    base: &PublicBase,
    admin: &PersonActor,
    handle: &str,
) -> ApiResult<bool> {
    let person = canopy_db::people::by_handle(db, handle.trim()).await?;
    let person = canopy_db::actors::person_by_id(db, person.id).await?;
    let mut tx = db.begin().await.map_err(canopy_db::DbError::from)?;
    if !db_bans::unban(&mut tx, Scope::Site, person.id).await? {
        return Ok(false);
    }
    db_bans::record_site(&mut tx, false, admin.id, &person.ap_id, None, None, true).await?;
    if person.local {
        let terms = BanTerms {
            reason: None,
            expires: None,
            remove_data: false,
        };
        outgoing::banned_from_site(&mut tx, base, admin, &person, terms, true).await?;
    }
    tx.commit().await.map_err(canopy_db::DbError::from)?;
    tracing::info!(person_id = %person.id, admin = %admin.id, "person unbanned from the site");
    Ok(true)
}

/// Lift a person's ban from this node (admins).
#[utoipa::path(delete, path = "/api/v1/admin/bans/{person}", tag = "admin",
    params(("person" = String, Path, description = "`name` or `name@host`")),
    security(("bearer" = [])),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn site_unban(
    State(state): State<AppState>,
    Admin(user): Admin,
    Path(handle): Path<String>,
) -> ApiResult<StatusCode> {
    let admin = canopy_db::actors::person_by_id(&state.db, user.person_id).await?;
    if !unban_site(&state.db, &state.base, &admin, &handle).await? {
        return Err(ApiError::conflict("they are not banned from this node"));
    }
    Ok(StatusCode::NO_CONTENT)
}
