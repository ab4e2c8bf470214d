//! Reports: anyone logged in reports a post or a comment with a reason; the moderators of its
//! community (and the node's admins, for every community and for reports about accounts) list
//! them and resolve or reopen them. Everyone else gets 403, an unknown report or content 404,
//! with nothing changed. See docs/MODERATION.md (section *Reports*).

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Path, Query};
use crate::limits::Writer;
use crate::views::handle;
use crate::{validate, AppState};
use axum::extract::State;
use axum::http::StatusCode;
use canopy_core::{limits, CommentId, PostId, ReportId};
use canopy_db::actors::PersonActor;
use canopy_db::moderation::{self as db_moderation, Action, NewEntry};
use canopy_db::reports::{self as db_reports, NewReport, Report, Scope, State as ReportState};
use canopy_db::sessions::SessionUser;
use canopy_federation::outgoing::reports::{self as outgoing, FlagOf};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Why something is reported.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// 1–1,000 characters, shown to the moderators (and sent to the community's home when it
    /// is on another server).
    pub reason: String,
}

fn report_reason(r: &ReportRequest) -> ApiResult<&str> {
    let text = r.reason.trim();
    if text.is_empty() {
        return Err(ApiError::invalid("`reason` must not be empty"));
    }
    if text.chars().count() > limits::MAX_REASON_CHARS {
        return Err(ApiError::invalid(format!(
            "`reason` is longer than {} characters",
            limits::MAX_REASON_CHARS
        )));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::invalid("`reason` contains control characters"));
    }
    Ok(text)
}

/// A report, as its moderators (and its reporter) see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportJson {
    pub id: i64,
    /// `open` or `resolved`.
    pub state: &'static str,
    pub reason: String,
    /// Who reported: `name` for a local user, `name@host` for a remote person (for a Mastodon
    /// report, its instance actor).
    pub reporter: String,
    /// The reporter's ActivityPub id.
    pub reporter_ap_id: String,
    /// The reported content's community (`name` or `name@host`); absent for a report about an
    /// account, which only admins see.
    pub community: Option<String>,
    pub post_id: Option<i64>,
    pub comment_id: Option<i64>,
    /// What is reported (the post, comment or account), by ActivityPub id.
    pub object_ap_id: String,
    /// Whom it is about (the content's author, or the account), by ActivityPub id.
    pub person_ap_id: String,
    /// Made on this node (true) or received from another server.
    pub local: bool,
    /// Who resolved it, by ActivityPub id (absent while open).
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Changed last: reported again (a new reason), resolved or reopened.
    pub updated_at: DateTime<Utc>,
}

impl From<Report> for ReportJson {
    fn from(r: Report) -> Self {
        let community = match (&r.community_name, r.community_local, &r.community_authority) {
            (Some(name), Some(local), Some(authority)) => Some(handle(name, local, authority)),
            _ => None,
        };
        Self {
            id: r.id.0,
            state: if r.resolved { "resolved" } else { "open" },
            reporter: handle(&r.reporter_name, r.reporter_local, &r.reporter_authority),
            reporter_ap_id: r.reporter_ap_id,
            community,
            post_id: r.post_id.map(|p| p.0),
            comment_id: r.comment_id.map(|c| c.0),
            object_ap_id: r.object_ap_id,
            person_ap_id: r.person_ap_id,
            reason: r.reason,
            local: r.local,
            resolved_by: r.resolver_ap_id,
            resolved_at: r.resolved_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Report the post `post` or the comment `comment` (201 new, 200 an open one updated).
async fn report(
    state: &AppState,
    user: &SessionUser,
    post: Option<PostId>,
    comment: Option<CommentId>,
    req: &ReportRequest,
) -> ApiResult<(StatusCode, Json<ReportJson>)> {
    let reason = report_reason(req)?;
    let item = db_reports::reportable(&state.db, post, comment).await?;
    if item.deleted || item.removed {
        return Err(ApiError::conflict(
            "deleted or removed content cannot be reported",
        ));
    }
    // Someone banned from the community (or the node) reports nothing there, as Lemmy has it.
    crate::routes::bans::refuse_banned(state, user.person_id, Some(item.community_id)).await?;
    let reporter = canopy_db::actors::person_by_id(&state.db, user.person_id).await?;
    let community = canopy_db::actors::community_by_id(&state.db, item.community_id).await?;
    let flag_id = outgoing::flag_id(&state.base);
    let mut tx = state.db.begin().await.map_err(canopy_db::DbError::from)?;
    let (id, created) = db_reports::upsert(
        &mut tx,
        &NewReport {
            ap_id: &flag_id,
            reporter: reporter.id,
            community: Some(item.community_id),
            post: Some(item.post_id),
            comment: item.comment_id,
            object_ap_id: &item.ap_id,
            person_ap_id: &item.creator_ap_id,
            reason,
            local: true,
            answer_resolve: false,
        },
    )
    .await?;
    let flag = FlagOf {
        id: &flag_id,
        reporter: &reporter.ap_id,
        community: &community.ap_id,
        object: &item.ap_id,
        reason,
    };
    if community.local {
        // Its moderators on other servers see it there.
        outgoing::to_moderators(
            &mut tx,
            &state.base,
            &community,
            &flag.json(),
            &item.ap_id,
            &[],
        )
        .await?;
    } else {
        // A remote community's moderators live at its home: the report goes there.
        outgoing::reported(&mut tx, &reporter, &community, flag).await?;
    }
    tx.commit().await.map_err(canopy_db::DbError::from)?;
    tracing::info!(report = %id, reporter = %reporter.id, object = %item.ap_id, created, "content reported");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(db_reports::by_id(&state.db, id).await?.into())))
}

/// Report a post to its community's moderators. Reporting it again while the report is open
/// updates its reason (200).
#[utoipa::path(post, path = "/api/v1/posts/{id}/report", tag = "reports",
    params(("id" = i64, Path)), request_body = ReportRequest, security(("bearer" = [])),
    responses((status = 201, body = ReportJson), (status = 200, body = ReportJson),
              (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn report_post(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(id): Path<i64>,
    Json(req): Json<ReportRequest>,
) -> ApiResult<(StatusCode, Json<ReportJson>)> {
    report(&state, &user, Some(PostId(id)), None, &req).await
}

/// Report a comment to its community's moderators. Reporting it again while the report is
/// open updates its reason (200).
#[utoipa::path(post, path = "/api/v1/comments/{id}/report", tag = "reports",
    params(("id" = i64, Path)), request_body = ReportRequest, security(("bearer" = [])),
    responses((status = 201, body = ReportJson), (status = 200, body = ReportJson),
              (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn report_comment(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(id): Path<i64>,
    Json(req): Json<ReportRequest>,
) -> ApiResult<(StatusCode, Json<ReportJson>)> {
    report(&state, &user, None, Some(CommentId(id)), &req).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// Only this community (`name` or `name@host`).
    pub community: Option<String>,
    /// `open` (the default), `resolved` or `all`.
    pub state: Option<String>,
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (same filters).
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReportList {
    pub reports: Vec<ReportJson>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Reports for the caller to handle, newest first: about content of the communities they
/// moderate, or every report (accounts too) for an admin.
#[utoipa::path(get, path = "/api/v1/reports", tag = "reports", params(ReportParams),
    security(("bearer" = [])),
    responses((status = 200, body = ReportList), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(user): Auth,
    Query(params): Query<ReportParams>,
) -> ApiResult<Json<ReportList>> {
    let limit = validate::page_size("limit", params.limit, 20, 100)?;
    let report_state = match params.state.as_deref() {
        None | Some("open") => ReportState::Open,
        Some("resolved") => ReportState::Resolved,
        Some("all") => ReportState::All,
        Some(_) => return Err(ApiError::invalid("`state` is `open`, `resolved` or `all`")),
    };
    let person = canopy_db::actors::person_by_id(&state.db, user.person_id).await?;
    let community = match params.community.as_deref() {
        Some(name) => {
            let c = canopy_db::communities::by_name(&state.db, name).await?;
            if !user.is_admin
                && !db_moderation::is_moderator(&state.db, c.id, &person.ap_id).await?
            {
                return Err(ApiError::forbidden(
                    "only a moderator of the community or an admin sees its reports",
                ));
            }
            Some(c.id)
        }
        None => {
            if !user.is_admin && !db_reports::moderates_any(&state.db, person.id).await? {
                return Err(ApiError::forbidden(
                    "reports are for the moderators of a community and for admins",
                ));
            }
            None
        }
    };
    let scope = if user.is_admin {
        Scope::All
    } else {
        Scope::ModeratedBy(person.id)
    };
    let filter = db_reports::Filter {
        community,
        state: report_state,
    };
    let (rows, next_cursor) =
        db_reports::list(&state.db, filter, scope, params.cursor.as_deref(), limit).await?;
    Ok(Json(ReportList {
        reports: rows.into_iter().map(ReportJson::from).collect(),
        next_cursor,
    }))
}

/// The caller, when they may act on `report`: a moderator of its community, or an admin (the
/// only ones for a report about an account). Also whether they are listed as a moderator.
async fn handler_of(
    state: &AppState,
    user: &SessionUser,
    report: &Report,
) -> ApiResult<(PersonActor, bool)> {
    let person = canopy_db::actors::person_by_id(&state.db, user.person_id).await?;
    let listed = match report.community_id {
        Some(c) => db_moderation::is_moderator(&state.db, c, &person.ap_id).await?,
        None => false,
    };
    if !listed && !user.is_admin {
        return Err(ApiError::forbidden(match report.community_id {
            Some(_) => "only a moderator of the community or an admin may do this",
            None => "a report about an account is for the node's admins",
        }));
    }
    Ok((person, listed))
}

/// Resolve (`resolve`) or reopen a report, log it and, when resolving, answer other servers.
async fn set_resolved(
    state: &AppState,
    user: &SessionUser,
    id: i64,
    resolve: bool,
) -> ApiResult<Json<ReportJson>> {
    let report = db_reports::by_id(&state.db, ReportId(id)).await?;
    let (person, listed) = handler_of(state, user, &report).await?;
    if report.resolved == resolve {
        return Err(ApiError::conflict(if resolve {
            "the report is already resolved"
        } else {
            "the report is open"
        }));
    }
    let mut tx = state.db.begin().await.map_err(canopy_db::DbError::from)?;
    db_reports::set_resolved(&mut tx, report.id, Some(person.id), resolve).await?;
    if let Some(community_id) = report.community_id {
        db_moderation::record(
            &mut tx,
            &NewEntry {
                action: if resolve {
                    Action::ResolveReport
                } else {
                    Action::ReopenReport
                },
                moderator: person.id,
                community: community_id,
                post: report.post_id,
                comment: report.comment_id,
                target_ap_id: None,
                reason: None,
                until: None,
                local: true,
            },
        )
        .await?;
        if resolve {
            let community = canopy_db::actors::community_by_id(&state.db, community_id).await?;
            let flag = FlagOf {
                id: &report.ap_id,
                reporter: &report.reporter_ap_id,
                community: &community.ap_id,
                object: &report.object_ap_id,
                reason: &report.reason,
            };
            // Tell the reporter's server when it speaks Lemmy's reports, or the remote
            // community when its home lists the resolver as a moderator; a local community
            // also tells its moderators on other servers.
            let inbox = if community.local && report.answer_resolve {
                let reporter =
                    canopy_db::actors::person_by_id(&state.db, report.reporter_id).await?;
                (!reporter.local).then(|| reporter.shared_inbox_url.unwrap_or(reporter.inbox_url))
            } else if !community.local && listed {
                Some(community.inbox_url.clone())
            } else {
                None
            };
            let activity =
                outgoing::resolved(&mut tx, &state.base, &person, flag, inbox.as_deref()).await?;
            let sent_to: Vec<String> = inbox
                .iter()
                .filter_map(|i| outgoing::authority_of(i))
                .collect();
            let except: Vec<&str> = sent_to.iter().map(String::as_str).collect();
            outgoing::to_moderators(
                &mut tx,
                &state.base,
                &community,
                &activity,
                &report.object_ap_id,
                &except,
            )
            .await?;
        }
    }
    tx.commit().await.map_err(canopy_db::DbError::from)?;
    tracing::info!(report = %report.id, by = %person.id, resolve, "report handled");
    Ok(Json(db_reports::by_id(&state.db, report.id).await?.into()))
}

/// Resolve a report (moderators of its community, admins). Recorded in the moderation log.
#[utoipa::path(post, path = "/api/v1/reports/{id}/resolve", tag = "reports",
    params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = ReportJson), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn resolve(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(id): Path<i64>,
) -> ApiResult<Json<ReportJson>> {
    set_resolved(&state, &user, id, true).await
}

/// Reopen a resolved report (moderators of its community, admins). Recorded in the
/// moderation log; 409 when its reporter has reported the same item again since.
#[utoipa::path(post, path = "/api/v1/reports/{id}/reopen", tag = "reports",
    params(("id" = i64, Path)), security(("bearer" = [])),
    responses((status = 200, body = ReportJson), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn reopen(
    State(state): State<AppState>,
    Writer(user): Writer,
    Path(id): Path<i64>,
) -> ApiResult<Json<ReportJson>> {
    set_resolved(&state, &user, id, false).await
}
