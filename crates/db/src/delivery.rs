//! The delivery worker's queries: claiming due deliveries under a lease, recording outcomes,
//! and each instance's delivery health.
//!
//! A claim pushes `next_attempt_at` past the lease under `FOR UPDATE SKIP LOCKED`, so several
//! workers never send one delivery at once and a worker that dies leaves its rows due again.
//! A delivery is claimable only when no pending delivery of an earlier activity about the same
//! object to the same instance exists (in flight or waiting for a retry), which keeps per-object
//! order while deliveries about other objects overtake one that keeps failing. The deliveries
//! of one activity to several inboxes of an instance need no order among themselves and go out
//! in parallel. One claim takes at most [`ClaimFilter::per_authority`] deliveries to an
//! instance, so that a slow instance's backlog does not fill a worker's batch while other
//! instances wait.

use crate::DbError;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::time::Duration;

/// Which deliveries a worker may claim.
#[derive(Debug, Clone, Default)]
pub struct ClaimFilter<'a> {
    /// `(i, n)`: only authorities with `abs(hashtext(authority)) % n = i`.
    pub shard: Option<(u32, u32)>,
    /// Authorities this worker has no room for right now.
    pub skip: &'a [String],
    /// Most deliveries to one authority in one claim (0: no limit). A worker that can send only
    /// so many at once to an instance would otherwise fill its batch with one slow instance's
    /// backlog, waiting for permits while other instances' deliveries stay unclaimed.
    pub per_authority: usize,
}

/// A claimed delivery with what it takes to sign and send it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueDelivery {
    pub id: i64,
    pub inbox_url: String,
    pub authority: String,
    /// Attempts including this one.
    pub attempts: i32,
    /// When the delivery was queued.
    pub queued_at: DateTime<Utc>,
    pub payload: serde_json::Value,
    pub actor_ap_id: String,
    pub private_key_pem: Option<String>,
}

const CLAIM: &str = "
WITH candidate AS (
    SELECT d.id, d.authority, d.next_attempt_at FROM delivery d
    LEFT JOIN instance i ON i.authority = d.authority
    WHERE d.state = 'pending' AND d.next_attempt_at <= now()
      AND ($3::bigint IS NULL OR abs(hashtext(d.authority)::bigint) % $3 = $4)
      AND NOT (d.authority = ANY($5::text[]))
      AND (CASE WHEN $6::text IS NULL
                THEN i.delivery_state IS DISTINCT FROM 'unreachable'
                ELSE d.authority = $6 END)
      AND NOT EXISTS (
          SELECT 1 FROM delivery e
          WHERE e.state = 'pending' AND e.authority = d.authority
            AND e.object_ap_id = d.object_ap_id AND e.id < d.id
            AND e.activity_id <> d.activity_id)
    ORDER BY d.next_attempt_at, d.id
    LIMIT $1
    FOR UPDATE OF d SKIP LOCKED
), due AS (
    -- Candidates past the per-authority limit are left alone (their row locks end with the
    -- statement); the next claim skips an authority that is full.
    SELECT id FROM (
        SELECT id, row_number() OVER (PARTITION BY authority ORDER BY next_attempt_at, id) AS nth
        FROM candidate) c
    WHERE nth <= $7
), claimed AS (
    UPDATE delivery d SET next_attempt_at = now() + make_interval(secs => $2), attempts = d.attempts + 1
    FROM due WHERE d.id = due.id
    RETURNING d.id, d.activity_id, d.inbox_url, d.authority, d.attempts, d.created_at
)
SELECT c.id, c.inbox_url, c.authority, c.attempts, c.created_at AS queued_at, a.payload, a.actor_ap_id,
       coalesce(p.private_key_pem, cm.private_key_pem) AS private_key_pem
FROM claimed c
JOIN outbox_activity a ON a.id = c.activity_id
LEFT JOIN person p ON p.id = a.person_id
LEFT JOIN community cm ON cm.id = a.community_id
ORDER BY c.id";

/// Claim up to `limit` due deliveries to reachable instances for `lease`: other workers skip
/// them until it expires.
pub async fn claim(
    pool: &PgPool,
    limit: i64,
    lease: Duration,
    filter: &ClaimFilter<'_>,
) -> Result<Vec<DueDelivery>, DbError> {
    claim_where(pool, limit, lease, filter, None).await
}

async fn claim_where(
    pool: &PgPool,
    limit: i64,
    lease: Duration,
    filter: &ClaimFilter<'_>,
    authority: Option<&str>,
) -> Result<Vec<DueDelivery>, DbError> {
    let (shard_i, shard_n) = match filter.shard {
        Some((i, n)) => (Some(i64::from(i)), Some(i64::from(n))),
        None => (None, None),
    };
    Ok(sqlx::query_as(CLAIM)
        .bind(limit)
        .bind(lease.as_secs_f64())
        .bind(shard_n)
        .bind(shard_i)
        .bind(filter.skip)
        .bind(authority)
        .bind(match filter.per_authority {
            0 => i64::MAX,
            n => i64::try_from(n).unwrap_or(i64::MAX),
        })
        .fetch_all(pool)
        .await?)
}

/// Claim one probe delivery for each unreachable instance whose probe is due (and reserve its
/// next probe `probe_every` from now), so an unreachable instance gets one attempt per period.
pub async fn claim_probes(
    pool: &PgPool,
    lease: Duration,
    probe_every: Duration,
    filter: &ClaimFilter<'_>,
) -> Result<Vec<DueDelivery>, DbError> {
    let (shard_i, shard_n) = match filter.shard {
        Some((i, n)) => (Some(i64::from(i)), Some(i64::from(n))),
        None => (None, None),
    };
    let authorities: Vec<(String,)> = sqlx::query_as(
        "UPDATE instance i SET next_probe_at = now() + make_interval(secs => $1)
         WHERE i.delivery_state = 'unreachable' AND i.next_probe_at <= now()
           AND ($2::bigint IS NULL OR abs(hashtext(i.authority)::bigint) % $2 = $3)
           AND NOT (i.authority = ANY($4::text[]))
           AND EXISTS (SELECT 1 FROM delivery d WHERE d.authority = i.authority
                       AND d.state = 'pending' AND d.next_attempt_at <= now())
         RETURNING i.authority",
    )
    .bind(probe_every.as_secs_f64())
    .bind(shard_n)
    .bind(shard_i)
    .bind(filter.skip)
    .fetch_all(pool)
    .await?;
    let mut probes = Vec::new();
    for (authority,) in authorities {
        probes.extend(claim_where(pool, 1, lease, filter, Some(&authority)).await?);
    }
    Ok(probes)
}

/// The receiver at `authority` took delivery `id`: the delivery is done and the instance
/// answered (see [`instance_answered`]), in one statement, so that the commonest outcome costs
/// one round trip.
pub async fn mark_done(pool: &PgPool, id: i64, authority: &str) -> Result<(), DbError> {
    sqlx::query(&format!(
        "WITH done AS (
             UPDATE delivery SET state = 'done', finished_at = now(), last_error = NULL WHERE id = $2
         )
         {INSTANCE_ANSWERED}"
    ))
    .bind(authority)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Schedule another attempt at `next_at`.
pub async fn mark_retry(
    pool: &PgPool,
    id: i64,
    error: &str,
    next_at: DateTime<Utc>,
) -> Result<(), DbError> {
    sqlx::query("UPDATE delivery SET next_attempt_at = $2, last_error = $3 WHERE id = $1")
        .bind(id)
        .bind(next_at)
        .bind(error)
        .execute(pool)
        .await?;
    Ok(())
}

/// The receiver refused the delivery, but may take it later (a 401: it could not verify our
/// signature with the key it had): schedule another attempt at `next_at`. Like a permanent
/// refusal it counts as one failure of its instance and becomes the instance's last error; it
/// starts no failure streak, since the instance answered.
pub async fn mark_refused(
    pool: &PgPool,
    id: i64,
    error: &str,
    next_at: DateTime<Utc>,
) -> Result<(), DbError> {
    sqlx::query(
        "WITH d AS (
             UPDATE delivery SET next_attempt_at = $3, last_error = $2
             WHERE id = $1 RETURNING authority)
         INSERT INTO instance (authority, last_failure_at, last_error, deliveries_failed)
         SELECT authority, now(), $2, 1 FROM d
         ON CONFLICT (authority) DO UPDATE
         SET last_failure_at = now(), last_error = $2,
             deliveries_failed = instance.deliveries_failed + 1",
    )
    .bind(id)
    .bind(error)
    .bind(next_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Give up on a delivery (a permanent refusal by the receiver); it counts as one failure of
/// its instance and becomes the instance's last error.
pub async fn mark_failed(pool: &PgPool, id: i64, error: &str) -> Result<(), DbError> {
    sqlx::query(
        "WITH d AS (
             UPDATE delivery SET state = 'failed', finished_at = now(), last_error = $2
             WHERE id = $1 RETURNING authority)
         INSERT INTO instance (authority, last_failure_at, last_error, deliveries_failed)
         SELECT authority, now(), $2, 1 FROM d
         ON CONFLICT (authority) DO UPDATE
         SET last_failure_at = now(), last_error = $2,
             deliveries_failed = instance.deliveries_failed + 1",
    )
    .bind(id)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Give up on a delivery that kept failing for too long: it fails for good with `error`.
/// Only the delivery changes; the attempt that failed is recorded on its instance by the
/// caller, as any retryable failure is ([`instance_failed`]).
pub async fn give_up(pool: &PgPool, id: i64, error: &str) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE delivery SET state = 'failed', finished_at = now(), last_error = $2 WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Make claimed but unsent deliveries due again at once (on shutdown), not counting the claim
/// as an attempt.
pub async fn release(pool: &PgPool, ids: &[i64]) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE delivery SET next_attempt_at = now(), attempts = greatest(attempts - 1, 0)
         WHERE id = ANY($1) AND state = 'pending'",
    )
    .bind(ids)
    .execute(pool)
    .await?;
    Ok(())
}

/// A 410 Gone from `inbox_url`: remove the remote followers (of communities and of people)
/// whose inbox or shared inbox it is. Returns how many follows were removed.
pub async fn remove_followers_at(pool: &PgPool, inbox_url: &str) -> Result<u64, DbError> {
    let mut tx = pool.begin().await?;
    let gone =
        "SELECT id FROM person WHERE NOT local AND (inbox_url = $1 OR shared_inbox_url = $1)";
    let communities = sqlx::query(&format!(
        "DELETE FROM community_follow WHERE person_id IN ({gone})"
    ))
    .bind(inbox_url)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let people = sqlx::query(&format!(
        "DELETE FROM person_follow WHERE follower_id IN ({gone})"
    ))
    .bind(inbox_url)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(communities + people)
}

/// Record that the instance `$1` answered. Only writes when something changes or the success
/// time is a second old, so that a fast stream of successes to one instance does not queue on
/// its row.
const INSTANCE_ANSWERED: &str = "
    INSERT INTO instance (authority, last_success_at) VALUES ($1, now())
    ON CONFLICT (authority) DO UPDATE
    SET delivery_state = 'ok', failing_since = NULL, next_probe_at = NULL, last_success_at = now()
    WHERE instance.delivery_state <> 'ok' OR instance.failing_since IS NOT NULL
       OR instance.last_success_at IS NULL OR instance.last_success_at < now() - interval '1 second'";

/// The instance answered: it is reachable (revives an unreachable one).
pub async fn instance_answered(pool: &PgPool, authority: &str) -> Result<(), DbError> {
    sqlx::query(INSTANCE_ANSWERED)
        .bind(authority)
        .execute(pool)
        .await?;
    Ok(())
}

/// A retryable failure: count it, start or continue the instance's failure streak, and mark
/// it unreachable once the streak is longer than `unreachable_after` (first probe
/// `probe_every` later). Returns whether the instance is now unreachable.
pub async fn instance_failed(
    pool: &PgPool,
    authority: &str,
    error: &str,
    unreachable_after: Duration,
    probe_every: Duration,
) -> Result<bool, DbError> {
    let (state,): (String,) = sqlx::query_as(
        "INSERT INTO instance (authority, failing_since, last_failure_at, last_error, deliveries_failed)
         VALUES ($1, now(), now(), $2, 1)
         ON CONFLICT (authority) DO UPDATE
         SET failing_since = coalesce(instance.failing_since, now()),
             last_failure_at = now(),
             last_error = $2,
             deliveries_failed = instance.deliveries_failed + 1,
             delivery_state = CASE
                 WHEN instance.failing_since < now() - make_interval(secs => $3) THEN 'unreachable'
                 ELSE instance.delivery_state END,
             next_probe_at = CASE
                 WHEN instance.delivery_state = 'ok'
                      AND instance.failing_since < now() - make_interval(secs => $3)
                 THEN now() + make_interval(secs => $4)
                 ELSE instance.next_probe_at END
         RETURNING delivery_state",
    )
    .bind(authority)
    .bind(error)
    .bind(unreachable_after.as_secs_f64())
    .bind(probe_every.as_secs_f64())
    .fetch_one(pool)
    .await?;
    Ok(state == "unreachable")
}

/// An instance's delivery health.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InstanceHealth {
    pub authority: String,
    pub delivery_state: String,
    pub failing_since: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub next_probe_at: Option<DateTime<Utc>>,
}

/// The delivery health of `authority`, if this node knows the instance.
pub async fn instance_health(
    pool: &PgPool,
    authority: &str,
) -> Result<Option<InstanceHealth>, DbError> {
    Ok(sqlx::query_as(
        "SELECT authority, delivery_state, failing_since, last_success_at, last_failure_at,
                last_error, next_probe_at
         FROM instance WHERE authority = $1",
    )
    .bind(authority)
    .fetch_optional(pool)
    .await?)
}

/// A delivery's state and attempts, for tests and operators.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryStatus {
    pub id: i64,
    pub inbox_url: String,
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// Every delivery of the activity `ap_id`.
pub async fn of_activity(pool: &PgPool, ap_id: &str) -> Result<Vec<DeliveryStatus>, DbError> {
    Ok(sqlx::query_as(
        "SELECT d.id, d.inbox_url, d.state, d.attempts, d.last_error
         FROM delivery d JOIN outbox_activity a ON a.id = d.activity_id
         WHERE a.ap_id = $1 ORDER BY d.id",
    )
    .bind(ap_id)
    .fetch_all(pool)
    .await?)
}
