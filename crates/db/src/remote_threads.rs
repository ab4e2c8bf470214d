//! The sync state of remote threads (`remote_thread`): where a remote post's home serves its
//! thread, how many comments the home counts, when the thread was last synced, and a claim so
//! that one thread is synced by one task at a time across every process sharing the database.

use crate::DbError;
use canopy_core::{CommunityId, PostId};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::collections::HashSet;
use std::time::Duration;

/// A post and what is known about its thread.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ThreadState {
    pub post_id: PostId,
    pub ap_id: String,
    pub local: bool,
    pub community_id: CommunityId,
    pub context_url: Option<String>,
    pub replies_url: Option<String>,
    pub remote_comment_count: Option<i32>,
    pub synced_at: Option<DateTime<Utc>>,
}

fn interval(d: Duration) -> sqlx::postgres::types::PgInterval {
    sqlx::postgres::types::PgInterval {
        months: 0,
        days: 0,
        microseconds: i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
    }
}

/// Record where a remote post's home serves its thread (in the transaction storing the post).
pub async fn record(
    conn: &mut PgConnection,
    post: PostId,
    context_url: Option<&str>,
    replies_url: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO remote_thread (post_id, context_url, replies_url) VALUES ($1, $2, $3)
         ON CONFLICT (post_id) DO UPDATE
            SET context_url = coalesce(EXCLUDED.context_url, remote_thread.context_url),
                replies_url = coalesce(EXCLUDED.replies_url, remote_thread.replies_url)",
    )
    .bind(post)
    .bind(context_url)
    .bind(replies_url)
    .execute(conn)
    .await?;
    Ok(())
}

/// The post `post` and its thread's state (no state yet: all `None`).
pub async fn state(pool: &PgPool, post: PostId) -> Result<ThreadState, DbError> {
    sqlx::query_as(
        "SELECT p.id AS post_id, p.ap_id, p.local, p.community_id, r.context_url, r.replies_url,
                r.remote_comment_count, r.synced_at
         FROM post p LEFT JOIN remote_thread r ON r.post_id = p.id
         WHERE p.id = $1",
    )
    .bind(post)
    .fetch_optional(pool)
    .await?
    .ok_or(DbError::NotFound("post"))
}

/// Claim the remote post `post`'s thread for a sync for at most `hold`. Refused (`false`) while
/// another claim holds, and, with `stale_after`, when the thread was synced more recently than
/// that. Local posts are never claimed.
pub async fn claim(
    pool: &PgPool,
    post: PostId,
    hold: Duration,
    stale_after: Option<Duration>,
) -> Result<bool, DbError> {
    let claimed: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO remote_thread (post_id, claimed_until)
         SELECT id, now() + $2 FROM post WHERE id = $1 AND NOT local
         ON CONFLICT (post_id) DO UPDATE SET claimed_until = EXCLUDED.claimed_until
         WHERE (remote_thread.claimed_until IS NULL OR remote_thread.claimed_until < now())
           AND ($3::interval IS NULL OR remote_thread.synced_at IS NULL
                OR remote_thread.synced_at < now() - $3::interval)
         RETURNING post_id",
    )
    .bind(post)
    .bind(interval(hold))
    .bind(stale_after.map(interval))
    .fetch_optional(pool)
    .await?;
    Ok(claimed.is_some())
}

/// A sync of `post`'s thread ended: record when, the home's comment count when it said one, and
/// release the claim.
pub async fn finish(
    pool: &PgPool,
    post: PostId,
    remote_comment_count: Option<i32>,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO remote_thread (post_id, remote_comment_count, synced_at) VALUES ($1, $2, now())
         ON CONFLICT (post_id) DO UPDATE
            SET synced_at = now(), claimed_until = NULL,
                remote_comment_count = coalesce($2, remote_thread.remote_comment_count)",
    )
    .bind(post)
    .bind(remote_comment_count)
    .execute(pool)
    .await?;
    Ok(())
}

/// Which of `ap_ids` name a stored post or comment.
pub async fn known(pool: &PgPool, ap_ids: &[String]) -> Result<HashSet<String>, DbError> {
    if ap_ids.is_empty() {
        return Ok(HashSet::new());
    }
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT ap_id FROM comment WHERE ap_id = ANY($1)
         UNION ALL
         SELECT ap_id FROM post WHERE ap_id = ANY($1)",
    )
    .bind(ap_ids)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(a,)| a).collect())
}

/// Remote posts published within `active_within` whose thread was not synced in the last
/// `resync_every` (never synced first), and not claimed now: at most `limit`.
pub async fn due(
    pool: &PgPool,
    active_within: Duration,
    resync_every: Duration,
    limit: i64,
) -> Result<Vec<PostId>, DbError> {
    let rows: Vec<(PostId,)> = sqlx::query_as(
        "SELECT p.id FROM post p LEFT JOIN remote_thread r ON r.post_id = p.id
         WHERE NOT p.local AND NOT p.deleted AND NOT p.removed
           AND p.published > now() - $1::interval
           AND (r.synced_at IS NULL OR r.synced_at < now() - $2::interval)
           AND (r.claimed_until IS NULL OR r.claimed_until < now())
         ORDER BY r.synced_at NULLS FIRST, p.published DESC
         LIMIT $3",
    )
    .bind(interval(active_within))
    .bind(interval(resync_every))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(p,)| p).collect())
}

/// The latest `limit` live posts of a community, newest first (what a community resync visits).
pub async fn recent_posts_of(
    pool: &PgPool,
    community: CommunityId,
    limit: i64,
) -> Result<Vec<PostId>, DbError> {
    let rows: Vec<(PostId,)> = sqlx::query_as(
        "SELECT id FROM post WHERE community_id = $1 AND NOT deleted AND NOT removed
         ORDER BY published DESC, id DESC LIMIT $2",
    )
    .bind(community)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(p,)| p).collect())
}
