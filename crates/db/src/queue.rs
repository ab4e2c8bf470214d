//! The delivery queue as operators see it (per instance), and the cleanup that keeps the
//! tables that grow with traffic small: `delivery`, `outbox_activity` and `received_activity`.
//!
//! Counting: a failure is a failed attempt, retried or not, counted by the worker when it
//! records it ([`crate::delivery::mark_failed`], [`crate::delivery::instance_failed`]). A
//! success is a delivered row; the rows still in `delivery` are counted when read, and the
//! cleanup adds the ones it deletes to `instance.deliveries_succeeded` in the same statement,
//! so the figure neither drops nor double-counts, and a success never writes the instance row.
//!
//! Cleanup deletes in batches of a bounded size, each its own statement, and skips rows another
//! cleaner has locked, so several workers may clean at once and a large backlog never holds
//! long locks.

use crate::DbError;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::time::Duration;

/// The delivery queue of one remote instance.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InstanceQueue {
    pub authority: String,
    /// `ok` or `unreachable`.
    pub delivery_state: String,
    /// Deliveries waiting to be sent (due, leased or waiting for a retry).
    pub pending: i64,
    /// When the oldest pending delivery was queued.
    pub oldest_pending_at: Option<DateTime<Utc>>,
    /// Whole seconds since then.
    pub oldest_pending_age_secs: Option<i64>,
    /// Deliveries delivered.
    pub succeeded: i64,
    /// Failed attempts: retried ones and permanent refusals.
    pub failed: i64,
    pub last_error: Option<String>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    /// Start of the current failure streak, if the last attempt failed.
    pub failing_since: Option<DateTime<Utc>>,
    /// When an unreachable instance is tried next.
    pub next_probe_at: Option<DateTime<Utc>>,
}

/// Every remote instance that has deliveries or has been delivered to: most pending first,
/// then by authority.
pub async fn by_instance(pool: &PgPool) -> Result<Vec<InstanceQueue>, DbError> {
    Ok(sqlx::query_as(
        "WITH q AS (
             SELECT authority,
                    count(*) FILTER (WHERE state = 'pending') AS pending,
                    min(created_at) FILTER (WHERE state = 'pending') AS oldest_pending_at,
                    count(*) FILTER (WHERE state = 'done') AS done
             FROM delivery GROUP BY authority
         ), i AS (
             SELECT * FROM instance
             WHERE NOT is_local AND (last_success_at IS NOT NULL OR last_failure_at IS NOT NULL
                                     OR deliveries_succeeded > 0 OR deliveries_failed > 0)
         )
         SELECT coalesce(q.authority, i.authority) AS authority,
                coalesce(i.delivery_state, 'ok') AS delivery_state,
                coalesce(q.pending, 0) AS pending,
                q.oldest_pending_at,
                floor(extract(epoch FROM now() - q.oldest_pending_at))::bigint AS oldest_pending_age_secs,
                coalesce(i.deliveries_succeeded, 0) + coalesce(q.done, 0) AS succeeded,
                coalesce(i.deliveries_failed, 0) AS failed,
                i.last_error, i.last_success_at, i.last_failure_at, i.failing_since, i.next_probe_at
         FROM q FULL JOIN i ON i.authority = q.authority
         ORDER BY pending DESC, authority",
    )
    .fetch_all(pool)
    .await?)
}

/// A finished delivery's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    Done,
    Failed,
}

impl Finished {
    fn as_str(self) -> &'static str {
        match self {
            Finished::Done => "done",
            Finished::Failed => "failed",
        }
    }
}

/// Delete up to `limit` deliveries in state `state` that finished more than `older_than` ago,
/// oldest first, adding deleted successes to their instance's count. Returns how many went.
pub async fn delete_finished(
    pool: &PgPool,
    state: Finished,
    older_than: Duration,
    limit: i64,
) -> Result<u64, DbError> {
    let (n,): (i64,) = sqlx::query_as(
        "WITH gone AS (
             DELETE FROM delivery WHERE id IN (
                 SELECT id FROM delivery
                 WHERE state = $1 AND finished_at < now() - make_interval(secs => $2)
                 ORDER BY finished_at LIMIT $3
                 FOR UPDATE SKIP LOCKED)
             RETURNING authority, state
         ), counted AS (
             INSERT INTO instance (authority, deliveries_succeeded)
             SELECT authority, count(*) FROM gone WHERE state = 'done'
             GROUP BY authority ORDER BY authority
             ON CONFLICT (authority) DO UPDATE
             SET deliveries_succeeded = instance.deliveries_succeeded + EXCLUDED.deliveries_succeeded
         )
         SELECT count(*) FROM gone",
    )
    .bind(state.as_str())
    .bind(older_than.as_secs_f64())
    .bind(limit)
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Delete up to `limit` outgoing activities queued more than `older_than` ago that have no
/// delivery left, oldest first. `Follow` activities stay: a peer may accept one later by
/// naming its id, and the node then reads it back ([`crate::outbox::sent_payload`]). Returns
/// how many went.
pub async fn delete_delivered_activities(
    pool: &PgPool,
    older_than: Duration,
    limit: i64,
) -> Result<u64, DbError> {
    let done = sqlx::query(
        "DELETE FROM outbox_activity WHERE id IN (
             SELECT a.id FROM outbox_activity a
             WHERE a.created_at < now() - make_interval(secs => $1) AND a.kind <> 'Follow'
               AND NOT EXISTS (SELECT 1 FROM delivery d WHERE d.activity_id = a.id)
             ORDER BY a.created_at LIMIT $2
             FOR UPDATE SKIP LOCKED)",
    )
    .bind(older_than.as_secs_f64())
    .bind(limit)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Give up, in one batch of at most `limit`, on pending deliveries queued more than
/// `older_than` ago: they fail for good with `reason` as their `last_error`, followed by the
/// last attempt's error if there was one. Unlike a refusal this counts no failed attempt: it is
/// how the backlog of an unreachable instance, which is only probed now and then, is given up
/// without being sent. Returns how many were given up.
pub async fn give_up_stale(
    pool: &PgPool,
    older_than: Duration,
    reason: &str,
    limit: i64,
) -> Result<u64, DbError> {
    let done = sqlx::query(
        "UPDATE delivery SET state = 'failed', finished_at = now(),
             last_error = $3 || coalesce('; last error: ' || last_error, '')
         WHERE id IN (
             SELECT id FROM delivery
             WHERE state = 'pending' AND created_at < now() - make_interval(secs => $1)
             LIMIT $2
             FOR UPDATE SKIP LOCKED)",
    )
    .bind(older_than.as_secs_f64())
    .bind(limit)
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Forget, in one batch of at most `limit`, incoming activity ids received more than
/// `older_than` ago (oldest first). Their de-duplication is then left to the signature's date
/// window, which refuses a replayed request long before (see the inbox). Returns how many went.
pub async fn delete_received(
    pool: &PgPool,
    older_than: Duration,
    limit: i64,
) -> Result<u64, DbError> {
    let done = sqlx::query(
        "DELETE FROM received_activity WHERE ap_id IN (
             SELECT ap_id FROM received_activity
             WHERE received_at < now() - make_interval(secs => $1)
             ORDER BY received_at LIMIT $2
             FOR UPDATE SKIP LOCKED)",
    )
    .bind(older_than.as_secs_f64())
    .bind(limit)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// The delivery queue in two figures, for metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueDepth {
    /// Pending deliveries.
    pub pending: i64,
    /// Seconds since the oldest pending delivery was queued (0 when none is).
    pub oldest_pending_age_secs: f64,
}

/// Pending deliveries and the age of the oldest.
pub async fn depth(pool: &PgPool) -> Result<QueueDepth, DbError> {
    let (pending, oldest_pending_age_secs): (i64, f64) = sqlx::query_as(
        "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
         FROM delivery WHERE state = 'pending'",
    )
    .fetch_one(pool)
    .await?;
    Ok(QueueDepth {
        pending,
        oldest_pending_age_secs,
    })
}
