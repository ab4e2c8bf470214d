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
