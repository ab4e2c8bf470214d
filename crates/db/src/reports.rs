//! Reports: a person asks the moderators of a community (and the node's administrators) to look
//! at a post or a comment, or asks the administrators to look at an account. Made here or
//! received as a `Flag`; listed for those who may act on them, newest first; resolved and
//! reopened.
//!
//! A reporter has at most one open report per item (`report_open_once`): reporting the same
//! item again while the first report is open updates its reason instead of adding a row.

use crate::cursor;
use crate::DbError;
use canopy_core::{CommentId, CommunityId, PersonId, PostId, ReportId};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// A post or comment as a report needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Reportable {
    pub post_id: PostId,
    pub comment_id: Option<CommentId>,
    pub ap_id: String,
    pub community_id: CommunityId,
    pub creator_ap_id: String,
    pub deleted: bool,
    pub removed: bool,
}

/// The post `post` (`comment` `None`) or the comment `comment`, for reporting it.
pub async fn reportable(
    pool: &PgPool,
    post: Option<PostId>,
    comment: Option<CommentId>,
) -> Result<Reportable, DbError> {
    match comment {
        Some(c) => sqlx::query_as(
            "SELECT c.post_id, c.id AS comment_id, c.ap_id, p.community_id,
                    u.ap_id AS creator_ap_id, c.deleted, c.removed
             FROM comment c JOIN post p ON p.id = c.post_id JOIN person u ON u.id = c.creator_id
             WHERE c.id = $1",
        )
        .bind(c)
        .fetch_optional(pool)
        .await?
        .ok_or(DbError::NotFound("comment")),
        None => sqlx::query_as(
            "SELECT p.id AS post_id, NULL::bigint AS comment_id, p.ap_id, p.community_id,
                    u.ap_id AS creator_ap_id, p.deleted, p.removed
             FROM post p JOIN person u ON u.id = p.creator_id
             WHERE p.id = $1",
        )
        .bind(post)
        .fetch_optional(pool)
        .await?
        .ok_or(DbError::NotFound("post")),
    }
}

/// A report to store (or, when the reporter has one open about the same item, to update).
#[derive(Debug)]
pub struct NewReport<'a> {
    /// The `Flag`'s ActivityPub id.
    pub ap_id: &'a str,
    pub reporter: PersonId,
    /// The content's community; `None` for a report about an account.
    pub community: Option<CommunityId>,
    pub post: Option<PostId>,
    pub comment: Option<CommentId>,
    /// What is reported, by ActivityPub id.
    pub object_ap_id: &'a str,
    /// Whom it is about (the content's author, or the account).
    pub person_ap_id: &'a str,
    pub reason: &'a str,
    pub local: bool,
    /// Send a `Resolve` back to the reporter when it is resolved here.
    pub answer_resolve: bool,
}

/// Store `r`, or update the reason (and `Flag` id) of the reporter's open report about the same
/// item. Returns the report's id and whether it is new.
pub async fn upsert(
    conn: &mut PgConnection,
    r: &NewReport<'_>,
) -> Result<(ReportId, bool), DbError> {
    let row: (ReportId, bool) = sqlx::query_as(
        "INSERT INTO report (ap_id, reporter_id, community_id, post_id, comment_id, object_ap_id,
                             person_ap_id, reason, local, answer_resolve)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (reporter_id, object_ap_id) WHERE NOT resolved
         DO UPDATE SET reason = EXCLUDED.reason, ap_id = EXCLUDED.ap_id, updated_at = now()
         RETURNING id, (xmax = 0) AS created",
    )
    .bind(r.ap_id)
    .bind(r.reporter)
    .bind(r.community)
    .bind(r.post)
    .bind(r.comment)
    .bind(r.object_ap_id)
    .bind(r.person_ap_id)
    .bind(r.reason)
    .bind(r.local)
    .bind(r.answer_resolve)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row)
}

/// A report with who made it, where, and who resolved it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Report {
    pub id: ReportId,
    pub ap_id: String,
    pub reporter_id: PersonId,
    pub reporter_ap_id: String,
    pub reporter_name: String,
    pub reporter_local: bool,
    pub reporter_authority: String,
    pub community_id: Option<CommunityId>,
    pub community_name: Option<String>,
    pub community_local: Option<bool>,
    pub community_authority: Option<String>,
    pub post_id: Option<PostId>,
    pub comment_id: Option<CommentId>,
    pub object_ap_id: String,
    pub person_ap_id: String,
    pub reason: String,
    pub local: bool,
    pub answer_resolve: bool,
    pub resolved: bool,
    pub resolver_ap_id: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// [`Report`]; append a `WHERE`.
const REPORT: &str = "SELECT r.id, r.ap_id, r.reporter_id, rp.ap_id AS reporter_ap_id,
        rp.name AS reporter_name, rp.local AS reporter_local, ri.authority AS reporter_authority,
        r.community_id, c.name AS community_name, c.local AS community_local,
        ci.authority AS community_authority, r.post_id, r.comment_id, r.object_ap_id,
        r.person_ap_id, r.reason, r.local, r.answer_resolve, r.resolved,
        sp.ap_id AS resolver_ap_id, r.resolved_at, r.created_at, r.updated_at
    FROM report r
    JOIN person rp ON rp.id = r.reporter_id JOIN instance ri ON ri.id = rp.instance_id
    LEFT JOIN community c ON c.id = r.community_id
    LEFT JOIN instance ci ON ci.id = c.instance_id
    LEFT JOIN person sp ON sp.id = r.resolver_id";

/// The report `id`.
pub async fn by_id(pool: &PgPool, id: ReportId) -> Result<Report, DbError> {
    sqlx::query_as(&format!("{REPORT} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(DbError::NotFound("report"))
}

/// The first report stored from the `Flag` `ap_id`, if any.
pub async fn by_ap_id(pool: &PgPool, ap_id: &str) -> Result<Option<Report>, DbError> {
    Ok(sqlx::query_as(&format!(
        "{REPORT} WHERE r.ap_id = $1 ORDER BY r.id LIMIT 1"
    ))
    .bind(ap_id)
    .fetch_optional(pool)
    .await?)
}

/// Resolve (`resolved`) or reopen the report `id`; `resolver` is who resolved it. Returns
/// whether it changed. Reopening a report whose reporter has since reported the same item again
/// (an open report exists) is a `Conflict`.
pub async fn set_resolved(
    conn: &mut PgConnection,
    id: ReportId,
    resolver: Option<PersonId>,
    resolved: bool,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE report SET resolved = $2,
                resolver_id = CASE WHEN $2 THEN $3 END,
                resolved_at = CASE WHEN $2 THEN now() END,
                updated_at = now()
         WHERE id = $1 AND resolved <> $2",
    )
    .bind(id)
    .bind(resolved)
    .bind(resolver)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        DbError::conflict_on(e, "an open report by the same person about the same item")
    })?;
    Ok(done.rows_affected() > 0)
}

/// The open reports a received `Resolve` names: those stored from the `Flag` `flag_ap_id` in
/// `community`, or else the open report of the person `reporter_ap_id` about `object_ap_id` in
/// `community` (Lemmy names a report by its content and reporter).
pub async fn open_for_resolve(
    pool: &PgPool,
    community: CommunityId,
    flag_ap_id: Option<&str>,
    reporter_ap_id: Option<&str>,
    object_ap_id: &str,
) -> Result<Vec<Report>, DbError> {
    let by_flag: Vec<Report> = match flag_ap_id {
        Some(flag) => {
            sqlx::query_as(&format!(
                "{REPORT} WHERE r.ap_id = $1 AND r.community_id = $2 AND NOT r.resolved
                 ORDER BY r.id"
            ))
            .bind(flag)
            .bind(community)
            .fetch_all(pool)
            .await?
        }
        None => vec![],
    };
    if !by_flag.is_empty() {
        return Ok(by_flag);
    }
    let Some(reporter) = reporter_ap_id else {
        return Ok(vec![]);
    };
    Ok(sqlx::query_as(&format!(
        "{REPORT} WHERE rp.ap_id = $1 AND r.object_ap_id = $2 AND r.community_id = $3
             AND NOT r.resolved"
    ))
    .bind(reporter)
    .bind(object_ap_id)
    .bind(community)
    .fetch_all(pool)
    .await?)
}

/// The inboxes (shared ones where known) of the people on other servers who moderate the local
/// community `community`: reports about its content are forwarded there.
pub async fn remote_moderator_inboxes(
    conn: &mut PgConnection,
    community: CommunityId,
) -> Result<Vec<String>, DbError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT coalesce(p.shared_inbox_url, p.inbox_url)
         FROM community_moderator m JOIN person p ON p.id = m.person_id
         JOIN community c ON c.id = m.community_id
         WHERE m.community_id = $1 AND c.local AND NOT p.local
         ORDER BY 1",
    )
    .bind(community)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|(i,)| i).collect())
}

/// Which reports a list shows by their state.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum State {
    #[default]
    Open,
    Resolved,
    All,
}

impl State {
    fn resolved(self) -> Option<bool> {
        match self {
            State::Open => Some(false),
            State::Resolved => Some(true),
            State::All => None,
        }
    }

    fn code(self) -> u8 {
        match self {
            State::Open => 0,
            State::Resolved => 1,
            State::All => 2,
        }
    }
}

/// Which reports a page shows.
#[derive(Debug, Default, Clone, Copy)]
pub struct Filter {
    pub community: Option<CommunityId>,
    pub state: State,
}

/// Whose reports: every report (an administrator), or those about content of the communities
/// `PersonId` moderates.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    All,
    ModeratedBy(PersonId),
}

/// The communities `person` moderates (local ones by this node's list, remote ones by their
/// home's list).
const MODERATED_BY: &str = "SELECT m.community_id FROM community_moderator m
        JOIN community mc ON mc.id = m.community_id WHERE m.person_id = $1 AND mc.local
    UNION ALL
    SELECT rm.community_id FROM community_remote_moderator rm
        JOIN community mc ON mc.id = rm.community_id JOIN person mp ON mp.ap_id = rm.ap_id
        WHERE mp.id = $1 AND NOT mc.local";

/// Whether `person` moderates any community.
pub async fn moderates_any(pool: &PgPool, person: PersonId) -> Result<bool, DbError> {
    let (yes,): (bool,) = sqlx::query_as(&format!("SELECT EXISTS ({MODERATED_BY})"))
        .bind(person)
        .fetch_one(pool)
        .await?;
    Ok(yes)
}

/// Where a page of reports ended (newest first, by id).
#[derive(serde::Serialize, serde::Deserialize)]
struct ReportCursor {
    #[serde(rename = "c")]
    community: Option<i64>,
    #[serde(rename = "s")]
    state: u8,
    #[serde(rename = "id")]
    before: i64,
}

/// A page of reports, newest first; the cursor must come from an earlier page with the same
/// filter.
pub async fn list(
    pool: &PgPool,
    filter: Filter,
    scope: Scope,
    cursor: Option<&str>,
    limit: i64,
) -> Result<(Vec<Report>, Option<String>), DbError> {
    let before = match cursor {
        Some(raw) => {
            let c: ReportCursor = cursor::decode(raw)?;
            if c.community != filter.community.map(|c| c.0) || c.state != filter.state.code() {
                return Err(DbError::BadCursor("cursor belongs to another filter"));
            }
            Some(c.before)
        }
        None => None,
    };
    let moderator = match scope {
        Scope::All => None,
        Scope::ModeratedBy(p) => Some(p),
    };
    let rows: Vec<Report> = sqlx::query_as(&format!(
        "{REPORT}
         WHERE ($2::bigint IS NULL OR r.community_id = $2)
           AND ($3::boolean IS NULL OR r.resolved = $3)
           AND ($4::bigint IS NULL OR r.id < $4)
           AND ($1::bigint IS NULL OR r.community_id IN ({MODERATED_BY}))
         ORDER BY r.id DESC
         LIMIT $5"
    ))
    .bind(moderator)
    .bind(filter.community)
    .bind(filter.state.resolved())
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let next = match rows.last() {
        Some(last) if rows.len() as i64 == limit => Some(cursor::encode(&ReportCursor {
            community: filter.community.map(|c| c.0),
            state: filter.state.code(),
            before: last.id.0,
        })),
        _ => None,
    };
    Ok((rows, next))
}
