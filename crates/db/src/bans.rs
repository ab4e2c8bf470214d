//! Bans: a person kept out of one community (by its moderators) or out of this whole node (by
//! its admins, or, for a remote person, by their own instance). A ban may end at `expires`; an
//! expired ban simply stops applying (every check compares with `now()`), so no job clears it.

use crate::DbError;
use canopy_core::{CommentId, CommunityId, PersonId, PostId};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// Where a ban applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Community(CommunityId),
    Site,
}

/// A ban in force.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Ban {
    pub person_id: PersonId,
    pub person_ap_id: String,
    pub person_name: String,
    pub person_authority: String,
    pub person_local: bool,
    pub reason: Option<String>,
    pub expires: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A ban, as SQL: in force when it has no end or its end is still ahead.
const IN_FORCE: &str = "(b.expires IS NULL OR b.expires > now())";

/// Ban `person` from `scope` (replacing an earlier ban of theirs there). Returns whether a ban
/// was not in force before.
pub async fn ban(
    conn: &mut PgConnection,
    scope: Scope,
    person: PersonId,
    reason: Option<&str>,
    expires: Option<DateTime<Utc>>,
    by: Option<PersonId>,
) -> Result<bool, DbError> {
    let was = in_force_in(conn, scope, person).await?;
    match scope {
        Scope::Community(c) => {
            sqlx::query(
                "INSERT INTO community_ban (community_id, person_id, reason, expires, banned_by)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (community_id, person_id) DO UPDATE
                 SET reason = EXCLUDED.reason, expires = EXCLUDED.expires,
                     banned_by = EXCLUDED.banned_by, created_at = now()",
            )
            .bind(c)
            .bind(person)
            .bind(reason)
            .bind(expires)
            .bind(by)
            .execute(&mut *conn)
            .await?;
        }
        Scope::Site => {
            sqlx::query(
                "INSERT INTO site_ban (person_id, reason, expires, banned_by)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (person_id) DO UPDATE
                 SET reason = EXCLUDED.reason, expires = EXCLUDED.expires,
                     banned_by = EXCLUDED.banned_by, created_at = now()",
            )
            .bind(person)
            .bind(reason)
            .bind(expires)
            .bind(by)
            .execute(&mut *conn)
            .await?;
        }
    }
    if scope == Scope::Site {
        crate::governance::bump(conn).await?;
    }
    Ok(!was)
}

/// Lift `person`'s ban from `scope` (in force or expired). Returns whether there was one.
pub async fn unban(
    conn: &mut PgConnection,
    scope: Scope,
    person: PersonId,
) -> Result<bool, DbError> {
    let done = match scope {
        Scope::Community(c) => {
            sqlx::query("DELETE FROM community_ban WHERE community_id = $1 AND person_id = $2")
                .bind(c)
                .bind(person)
                .execute(&mut *conn)
                .await?
        }
        Scope::Site => {
            sqlx::query("DELETE FROM site_ban WHERE person_id = $1")
                .bind(person)
                .execute(&mut *conn)
                .await?
        }
    };
    if scope == Scope::Site {
        crate::governance::bump(conn).await?;
    }
    Ok(done.rows_affected() > 0)
}

async fn in_force_in(
    conn: &mut PgConnection,
    scope: Scope,
    person: PersonId,
) -> Result<bool, DbError> {
    let (yes,): (bool,) = match scope {
        Scope::Community(c) => {
            sqlx::query_as(&format!(
                "SELECT EXISTS (SELECT 1 FROM community_ban b
                                WHERE b.community_id = $1 AND b.person_id = $2 AND {IN_FORCE})"
            ))
            .bind(c)
            .bind(person)
            .fetch_one(&mut *conn)
            .await?
        }
        Scope::Site => {
            sqlx::query_as(&format!(
                "SELECT EXISTS (SELECT 1 FROM site_ban b WHERE b.person_id = $1 AND {IN_FORCE})"
            ))
            .bind(person)
            .fetch_one(&mut *conn)
            .await?
        }
    };
    Ok(yes)
}

/// The bans in force in `scope`, newest first.
pub async fn list(pool: &PgPool, scope: Scope) -> Result<Vec<Ban>, DbError> {
    let (table, filter) = match scope {
        Scope::Community(_) => ("community_ban", "b.community_id = $1"),
        Scope::Site => ("site_ban", "$1::bigint IS NULL"),
    };
    let community = match scope {
        Scope::Community(c) => Some(c),
        Scope::Site => None,
    };
    Ok(sqlx::query_as(&format!(
        "SELECT p.id AS person_id, p.ap_id AS person_ap_id, p.name AS person_name,
                i.authority AS person_authority, p.local AS person_local, b.reason, b.expires,
                b.created_at
         FROM {table} b JOIN person p ON p.id = b.person_id JOIN instance i ON i.id = p.instance_id
         WHERE {filter} AND {IN_FORCE}
         ORDER BY b.created_at DESC, p.id DESC"
    ))
    .bind(community)
    .fetch_all(pool)
    .await?)
}

/// Why `person` may not act in `community` (or, with `None`, anywhere on this node): the reason
/// of the site ban or community ban in force, if any. One statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Site { reason: Option<String> },
    Community { reason: Option<String> },
}

/// The ban in force that keeps `person` out of `community` (a site ban first), if any.
pub async fn refusal(
    pool: &PgPool,
    person: PersonId,
    community: Option<CommunityId>,
) -> Result<Option<Refusal>, DbError> {
    let row: Option<(bool, Option<String>)> = sqlx::query_as(&format!(
        "SELECT true, b.reason FROM site_ban b WHERE b.person_id = $1 AND {IN_FORCE}
         UNION ALL
         SELECT false, b.reason FROM community_ban b
         WHERE b.person_id = $1 AND b.community_id = $2 AND {IN_FORCE}
         ORDER BY 1 DESC LIMIT 1"
    ))
    .bind(person)
    .bind(community)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(site, reason)| match site {
        true => Refusal::Site { reason },
        false => Refusal::Community { reason },
    }))
}

/// [`refusal`] for the author of a remote activity, named by ActivityPub id, in the community of
/// the post or comment `content_ap_id` (a vote's target). One statement.
pub async fn refusal_by_ap_id(
    pool: &PgPool,
    person_ap_id: &str,
    content_ap_id: &str,
) -> Result<Option<Refusal>, DbError> {
    let row: Option<(bool, Option<String>)> = sqlx::query_as(&format!(
        "WITH who AS (SELECT id FROM person WHERE ap_id = $1),
              place AS (SELECT p.community_id FROM post p WHERE p.ap_id = $2
                        UNION ALL
                        SELECT p.community_id FROM comment c JOIN post p ON p.id = c.post_id
                        WHERE c.ap_id = $2)
         SELECT true, b.reason FROM site_ban b JOIN who ON who.id = b.person_id WHERE {IN_FORCE}
         UNION ALL
         SELECT false, b.reason FROM community_ban b JOIN who ON who.id = b.person_id
         WHERE b.community_id IN (SELECT community_id FROM place) AND {IN_FORCE}
         ORDER BY 1 DESC LIMIT 1"
    ))
    .bind(person_ap_id)
    .bind(content_ap_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(site, reason)| match site {
        true => Refusal::Site { reason },
        false => Refusal::Community { reason },
    }))
}

/// The SQL condition "the person `person_ap_id` (a text expression) is banned from the
/// community `community` (an expression) or from this node", for folding into a query that
/// reads the community anyway (see [`crate::content::reply_target`]).
pub(crate) fn banned_sql(person_ap_id: &str, community: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM person bp
                 LEFT JOIN community_ban b ON b.person_id = bp.id AND b.community_id = {community}
                     AND {IN_FORCE}
                 LEFT JOIN site_ban s ON s.person_id = bp.id
                     AND (s.expires IS NULL OR s.expires > now())
                 WHERE bp.ap_id = {person_ap_id}
                   AND (b.person_id IS NOT NULL OR s.person_id IS NOT NULL))"
    )
}

/// The remote people banned from this whole node with the end of their ban (for the inbox's
/// in-memory check).
pub async fn site_banned_remote(
    pool: &PgPool,
) -> Result<Vec<(String, Option<DateTime<Utc>>)>, DbError> {
    Ok(sqlx::query_as(&format!(
        "SELECT p.ap_id, b.expires FROM site_ban b JOIN person p ON p.id = b.person_id
         WHERE NOT p.local AND {IN_FORCE}"
    ))
    .fetch_all(pool)
    .await?)
}

/// What removing a person's content took away, for the moderation log.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct Removed {
    pub community_id: CommunityId,
    pub post_id: PostId,
    /// `None`: the post itself.
    pub comment_id: Option<CommentId>,
}

/// Mark removed every live post and comment of `person` in `community` (with `None`: everywhere
/// on this node). Returns what changed.
pub async fn remove_content(
    conn: &mut PgConnection,
    person: PersonId,
    community: Option<CommunityId>,
) -> Result<Vec<Removed>, DbError> {
    let mut posts: Vec<Removed> = sqlx::query_as(
        "UPDATE post p SET removed = true
         WHERE p.creator_id = $1 AND NOT p.removed
           AND ($2::bigint IS NULL OR p.community_id = $2)
         RETURNING p.community_id, p.id AS post_id, NULL::bigint AS comment_id",
    )
    .bind(person)
    .bind(community)
    .fetch_all(&mut *conn)
    .await?;
    let comments: Vec<Removed> = sqlx::query_as(
        "UPDATE comment c SET removed = true FROM post p
         WHERE p.id = c.post_id AND c.creator_id = $1 AND NOT c.removed
           AND ($2::bigint IS NULL OR p.community_id = $2)
         RETURNING p.community_id, c.post_id, c.id AS comment_id",
    )
    .bind(person)
    .bind(community)
    .fetch_all(&mut *conn)
    .await?;
    posts.extend(comments);
    Ok(posts)
}

/// Where a site ban of a local user is sent: the shared inbox (else the inbox) of every remote
/// follower of a local community, once each.
pub async fn site_ban_inboxes(conn: &mut PgConnection) -> Result<Vec<String>, DbError> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT coalesce(p.shared_inbox_url, p.inbox_url)
         FROM community_follow f JOIN person p ON p.id = f.person_id
         JOIN community c ON c.id = f.community_id
         WHERE c.local AND NOT f.pending AND NOT p.local",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|(i,)| i).collect())
}

/// Record a site ban (`ban`) or its lifting of `target_ap_id` by `moderator` in the moderation
/// log, in the caller's transaction: an entry without a community.
pub async fn record_site(
    conn: &mut PgConnection,
    ban: bool,
    moderator: PersonId,
    target_ap_id: &str,
    reason: Option<&str>,
    until: Option<DateTime<Utc>>,
    local: bool,
) -> Result<(), DbError> {
    let action = if ban {
        crate::moderation::Action::BanPerson
    } else {
        crate::moderation::Action::UnbanPerson
    };
    sqlx::query(
        "INSERT INTO mod_log (action, moderator_id, community_id, target_ap_id, reason, until, local)
         VALUES ($1, $2, NULL, $3, $4, $5, $6)",
    )
    .bind(action.as_str())
    .bind(moderator)
    .bind(target_ap_id)
    .bind(reason.filter(|r| !r.is_empty()))
    .bind(until)
    .bind(local)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
