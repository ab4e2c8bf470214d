//! Follows of communities (which may wait for the community's Accept) and of people, and where
//! a community's remote followers are delivered to.

use crate::DbError;
use canopy_core::{CommunityId, PersonId};
use sqlx::{PgConnection, PgPool};

/// Record that `person` follows `community` (accepted unless `pending`).
pub async fn follow_community(
    conn: &mut PgConnection,
    community: CommunityId,
    person: PersonId,
    pending: bool,
    activity_ap_id: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO community_follow (community_id, person_id, pending, ap_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (community_id, person_id) DO UPDATE SET pending = EXCLUDED.pending,
             ap_id = coalesce(EXCLUDED.ap_id, community_follow.ap_id)",
    )
    .bind(community)
    .bind(person)
    .bind(pending)
    .bind(activity_ap_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The community accepted `person`'s follow.
pub async fn accept_community_follow(
    pool: &PgPool,
    community: CommunityId,
    person: PersonId,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE community_follow SET pending = false WHERE community_id = $1 AND person_id = $2 AND pending",
    )
    .bind(community)
    .bind(person)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn unfollow_community(
    conn: &mut PgConnection,
    community: CommunityId,
    person: PersonId,
) -> Result<bool, DbError> {
    let done =
        sqlx::query("DELETE FROM community_follow WHERE community_id = $1 AND person_id = $2")
            .bind(community)
            .bind(person)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn follow_person(
    conn: &mut PgConnection,
    target: PersonId,
    follower: PersonId,
    activity_ap_id: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO person_follow (target_id, follower_id, pending, ap_id) VALUES ($1, $2, false, $3)
         ON CONFLICT (target_id, follower_id) DO UPDATE SET pending = false",
    )
    .bind(target)
    .bind(follower)
    .bind(activity_ap_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn unfollow_person(
    conn: &mut PgConnection,
    target: PersonId,
    follower: PersonId,
) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM person_follow WHERE target_id = $1 AND follower_id = $2")
        .bind(target)
        .bind(follower)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// A follower inbox with the software its instance runs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FollowerInbox {
    pub inbox: String,
    pub software: Option<String>,
}

/// Where to deliver to a community's remote followers: each instance's shared inbox when it has
/// one, else the follower's own inbox, once each, with the instance's software (to pick the
/// dialect to speak).
pub async fn community_follower_inboxes_by_software(
    conn: &mut PgConnection,
    community: CommunityId,
) -> Result<Vec<FollowerInbox>, DbError> {
    Ok(sqlx::query_as(
        "SELECT DISTINCT coalesce(p.shared_inbox_url, p.inbox_url) AS inbox, i.software
         FROM community_follow f JOIN person p ON p.id = f.person_id JOIN instance i ON i.id = p.instance_id
         WHERE f.community_id = $1 AND NOT f.pending AND NOT p.local",
    )
    .bind(community)
    .fetch_all(&mut *conn)
    .await?)
}

/// A local user's follow of a community as that user sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Subscription {
    None,
    /// Sent to a remote community, not accepted yet.
    Pending,
    Accepted,
}

/// What [`request_community_follow`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowRequest {
    /// A new follow: accepted at once (`pending` false: a local community) or waiting for the
    /// community's Accept, in which case a Follow is to be sent.
    New { pending: bool },
    /// Still pending after [`FOLLOW_RESEND_AFTER_SECS`]: a Follow is to be sent again.
    Resend,
    /// Already accepted, or pending and requested recently: nothing to send.
    Unchanged { pending: bool },
}

/// A pending follow's Follow is sent again when the user follows again after this long.
pub const FOLLOW_RESEND_AFTER_SECS: i64 = 3600;

/// `person` asks to follow `community` (`pending` for a remote one, whose Accept is awaited).
/// Idempotent: an accepted follow stays accepted, and a pending one is touched only when its
/// Follow went out more than [`FOLLOW_RESEND_AFTER_SECS`] ago. One statement.
pub async fn request_community_follow(
    conn: &mut PgConnection,
    community: CommunityId,
    person: PersonId,
    pending: bool,
) -> Result<FollowRequest, DbError> {
    let row: Option<(bool, bool)> = sqlx::query_as(
        "INSERT INTO community_follow (community_id, person_id, pending) VALUES ($1, $2, $3)
         ON CONFLICT (community_id, person_id) DO UPDATE SET requested_at = now()
             WHERE community_follow.pending
               AND community_follow.requested_at < now() - make_interval(secs => $4)
         RETURNING pending, (xmax = 0) AS inserted",
    )
    .bind(community)
    .bind(person)
    .bind(pending)
    .bind(FOLLOW_RESEND_AFTER_SECS as f64)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some((pending, true)) => FollowRequest::New { pending },
        Some((_, false)) => FollowRequest::Resend,
        None => {
            let (pending,): (bool,) = sqlx::query_as(
                "SELECT pending FROM community_follow WHERE community_id = $1 AND person_id = $2",
            )
            .bind(community)
            .bind(person)
            .fetch_one(&mut *conn)
            .await?;
            FollowRequest::Unchanged { pending }
        }
    })
}

/// How `person` follows each of `communities` (one statement for a page of communities).
pub async fn subscriptions(
    pool: &PgPool,
    person: PersonId,
    communities: &[CommunityId],
) -> Result<std::collections::HashMap<CommunityId, Subscription>, DbError> {
    let ids: Vec<i64> = communities.iter().map(|c| c.0).collect();
    let rows: Vec<(i64, bool)> = sqlx::query_as(
        "SELECT community_id, pending FROM community_follow
         WHERE person_id = $1 AND community_id = ANY($2)",
    )
    .bind(person)
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, pending)| {
            let s = if pending {
                Subscription::Pending
            } else {
                Subscription::Accepted
            };
            (CommunityId(id), s)
        })
        .collect())
}

/// A community `person` follows, with the state of the follow.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Subscribed {
    #[sqlx(flatten)]
    pub community: crate::communities::Community,
    pub pending: bool,
}

/// Where a page of a user's subscriptions ended.
#[derive(serde::Serialize, serde::Deserialize)]
struct SubscriptionCursor {
    name: String,
    id: i64,
}

/// The communities `person` follows (pending ones included), by name then id, `limit` after
/// the cursor; returns the page and the next page's cursor when there may be one.
pub async fn subscribed(
    pool: &PgPool,
    person: PersonId,
    cursor: Option<&str>,
    limit: i64,
) -> Result<(Vec<Subscribed>, Option<String>), DbError> {
    let after: Option<SubscriptionCursor> = cursor.map(crate::cursor::decode).transpose()?;
    let rows: Vec<Subscribed> = sqlx::query_as(&format!(
        "SELECT {columns}, f.pending
         FROM community_follow f JOIN community c ON c.id = f.community_id
         JOIN instance i ON i.id = c.instance_id
         WHERE f.person_id = $1
           AND ($2::text IS NULL OR (lower(c.name), c.id) > (lower($2), $3))
         ORDER BY lower(c.name), c.id
         LIMIT $4",
        columns = crate::communities::COLUMNS
    ))
    .bind(person)
    .bind(after.as_ref().map(|a| a.name.as_str()))
    .bind(after.as_ref().map(|a| a.id).unwrap_or(0))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let next = match rows.last() {
        Some(last) if rows.len() as i64 == limit => {
            Some(crate::cursor::encode(&SubscriptionCursor {
                name: last.community.name.clone(),
                id: last.community.id.0,
            }))
        }
        _ => None,
    };
    Ok((rows, next))
}
