//! Instance governance: blocked instances, the allow-list and its mode, and the generation
//! counter every change bumps so that each process reloads its copy of the policy.
//!
//! Content of a refused instance stays stored but is hidden from listings and trees: the
//! predicates below test the `blocked`/`allowed` flags on the instance rows those queries join
//! anyway, and short-circuit on a value computed once per query when nothing is refused.

use crate::DbError;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// The SQL test that the instance row aliased `i` is refused (blocked, or unlisted in
/// allow-list mode). `pol` must be `federation_policy` in the query.
fn refused(i: &str) -> String {
    format!("({i}.blocked OR (pol.allowlist AND NOT {i}.allowed AND NOT {i}.is_local))")
}

/// True (computed once per query) when no instance is refused at all: the common case, in
/// which the per-row tests are skipped.
const NOTHING_REFUSED: &str =
    "(SELECT NOT p.allowlist AND NOT EXISTS (SELECT 1 FROM instance b WHERE b.blocked)
      FROM federation_policy p)";

/// A condition on a post row joined with its community's instance `ci` and its author's
/// instance `ui`: true when neither is refused.
pub(crate) fn post_visible() -> String {
    format!(
        "({NOTHING_REFUSED} OR NOT EXISTS (SELECT 1 FROM federation_policy pol
             WHERE {} OR {}))",
        refused("ci"),
        refused("ui")
    )
}

/// A condition on an instance row aliased `i` (a community's, in the community list): true when
/// it is not refused.
pub(crate) fn instance_visible(i: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM federation_policy pol WHERE {})",
        refused(i)
    )
}

/// A condition on a comment row aliased `x`: true when its author's instance is not refused.
/// Tested inside the keyset scan (before its LIMIT), so pages stay full.
pub(crate) fn comment_visible(x: &str) -> String {
    format!(
        "({NOTHING_REFUSED} OR NOT EXISTS (SELECT 1 FROM person hp
             JOIN instance hi ON hi.id = hp.instance_id
             CROSS JOIN federation_policy pol
             WHERE hp.id = {x}.creator_id AND {}))",
        refused("hi")
    )
}

/// The policy as stored: the mode, the blocked and the listed instances, and its generation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub generation: i64,
    pub allowlist: bool,
    /// Blocked authorities with the reason given.
    pub blocked: Vec<(String, Option<String>)>,
    /// Authorities on the allow-list.
    pub allowed: Vec<String>,
}

/// The policy's generation: it changes whenever the policy does.
pub async fn generation(pool: &PgPool) -> Result<i64, DbError> {
    let (g,): (i64,) = sqlx::query_as("SELECT generation FROM federation_policy")
        .fetch_one(pool)
        .await?;
    Ok(g)
}

/// The whole policy, read in one snapshot.
pub async fn policy(pool: &PgPool) -> Result<Policy, DbError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let (generation, allowlist): (i64, bool) =
        sqlx::query_as("SELECT generation, allowlist FROM federation_policy")
            .fetch_one(&mut *tx)
            .await?;
    let blocked: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT authority, block_reason FROM instance WHERE blocked")
            .fetch_all(&mut *tx)
            .await?;
    let allowed: Vec<(String,)> = sqlx::query_as("SELECT authority FROM instance WHERE allowed")
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Policy {
        generation,
        allowlist,
        blocked,
        allowed: allowed.into_iter().map(|(a,)| a).collect(),
    })
}

/// Mark the policy changed, so every process reloads it (site bans live in it too).
pub(crate) async fn bump(conn: &mut PgConnection) -> Result<(), DbError> {
    sqlx::query("UPDATE federation_policy SET generation = generation + 1")
        .execute(conn)
        .await?;
    Ok(())
}

/// Set the mode (`allowlist` true: federate only with listed instances). Bumps the generation
/// only when the mode changes.
pub async fn set_allowlist(pool: &PgPool, allowlist: bool) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE federation_policy SET allowlist = $1, generation = generation + 1
         WHERE allowlist <> $1",
    )
    .bind(allowlist)
    .execute(pool)
    .await?;
    Ok(())
}

/// What blocking an instance changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockOutcome {
    /// Pending deliveries to it, now failed for good.
    pub deliveries_dropped: u64,
    /// Follows of local communities and local people by its actors, now removed.
    pub follows_ended: u64,
}

/// Block the instance at `authority` (created when unknown), or change its reason. In one
/// transaction: pending deliveries to it fail for good with the reason, the follows its actors
/// have of local communities and people end, and the generation is bumped. The local instance
/// cannot be blocked (`Conflict`).
pub async fn block(
    pool: &PgPool,
    authority: &str,
    reason: Option<&str>,
) -> Result<BlockOutcome, DbError> {
    let mut tx = pool.begin().await?;
    let local: Option<(bool,)> =
        sqlx::query_as("SELECT is_local FROM instance WHERE authority = lower($1)")
            .bind(authority)
            .fetch_optional(&mut *tx)
            .await?;
    if local.is_some_and(|(l,)| l) {
        return Err(DbError::Conflict(
            "the local instance cannot be blocked; a block",
        ));
    }
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO instance (authority, blocked, block_reason, blocked_at)
         VALUES (lower($1), true, $2, now())
         ON CONFLICT (authority) DO UPDATE
         SET blocked = true, block_reason = $2,
             blocked_at = CASE WHEN instance.blocked THEN instance.blocked_at ELSE now() END
         RETURNING id",
    )
    .bind(authority)
    .bind(reason)
    .fetch_one(&mut *tx)
    .await?;
    let error = match reason {
        Some(r) => format!("instance {authority} is blocked: {r}"),
        None => format!("instance {authority} is blocked"),
    };
    let deliveries_dropped = sqlx::query(
        "UPDATE delivery SET state = 'failed', last_error = $2, finished_at = now()
         WHERE state = 'pending' AND authority = lower($1)",
    )
    .bind(authority)
    .bind(&error)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let members = "SELECT id FROM person WHERE instance_id = $1";
    let communities = sqlx::query(&format!(
        "DELETE FROM community_follow f USING community c
         WHERE c.id = f.community_id AND c.local AND f.person_id IN ({members})"
    ))
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let people = sqlx::query(&format!(
        "DELETE FROM person_follow f USING person t
         WHERE t.id = f.target_id AND t.local AND f.follower_id IN ({members})"
    ))
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    bump(&mut tx).await?;
    tx.commit().await?;
    Ok(BlockOutcome {
        deliveries_dropped,
        follows_ended: communities + people,
    })
}

/// Lift the block of `authority`. False when it was not blocked.
pub async fn unblock(pool: &PgPool, authority: &str) -> Result<bool, DbError> {
    let mut tx = pool.begin().await?;
    let changed = sqlx::query(
        "UPDATE instance SET blocked = false, block_reason = NULL, blocked_at = NULL
         WHERE authority = lower($1) AND blocked",
    )
    .bind(authority)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    if changed {
        bump(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(changed)
}

/// Put `authority` on the allow-list (or take it off). False when nothing changed.
pub async fn set_allowed(pool: &PgPool, authority: &str, allowed: bool) -> Result<bool, DbError> {
    let mut tx = pool.begin().await?;
    let changed = if allowed {
        sqlx::query(
            "INSERT INTO instance (authority, allowed) VALUES (lower($1), true)
             ON CONFLICT (authority) DO UPDATE SET allowed = true WHERE NOT instance.allowed",
        )
        .bind(authority)
        .execute(&mut *tx)
        .await?
        .rows_affected()
    } else {
        sqlx::query("UPDATE instance SET allowed = false WHERE authority = lower($1) AND allowed")
            .bind(authority)
            .execute(&mut *tx)
            .await?
            .rows_affected()
    } > 0;
    if changed {
        bump(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(changed)
}

/// One known instance as administrators see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InstanceSummary {
    pub authority: String,
    pub is_local: bool,
    pub software: Option<String>,
    pub version: Option<String>,
    /// `ok` or `unreachable`.
    pub delivery_state: String,
    pub pending_deliveries: i64,
    pub persons: i64,
    pub communities: i64,
    pub posts: i64,
    pub comments: i64,
    pub blocked: bool,
    pub block_reason: Option<String>,
    pub blocked_at: Option<DateTime<Utc>>,
    pub allowed: bool,
    pub first_seen_at: DateTime<Utc>,
}

/// Every known instance, the local one first, then by authority.
pub async fn list(pool: &PgPool) -> Result<Vec<InstanceSummary>, DbError> {
    Ok(sqlx::query_as(
        "WITH persons AS (SELECT instance_id, count(*) AS n FROM person GROUP BY instance_id),
              communities AS (SELECT instance_id, count(*) AS n FROM community GROUP BY instance_id),
              posts AS (SELECT u.instance_id, count(*) AS n FROM post p
                        JOIN person u ON u.id = p.creator_id GROUP BY u.instance_id),
              comments AS (SELECT u.instance_id, count(*) AS n FROM comment c
                           JOIN person u ON u.id = c.creator_id GROUP BY u.instance_id),
              pending AS (SELECT authority, count(*) AS n FROM delivery
                          WHERE state = 'pending' GROUP BY authority)
         SELECT i.authority, i.is_local, i.software, i.version, i.delivery_state,
                coalesce(d.n, 0) AS pending_deliveries,
                coalesce(pe.n, 0) AS persons, coalesce(co.n, 0) AS communities,
                coalesce(po.n, 0) AS posts, coalesce(cm.n, 0) AS comments,
                i.blocked, i.block_reason, i.blocked_at, i.allowed,
                i.created_at AS first_seen_at
         FROM instance i
         LEFT JOIN persons pe ON pe.instance_id = i.id
         LEFT JOIN communities co ON co.instance_id = i.id
         LEFT JOIN posts po ON po.instance_id = i.id
         LEFT JOIN comments cm ON cm.instance_id = i.id
         LEFT JOIN pending d ON d.authority = i.authority
         ORDER BY i.is_local DESC, i.authority",
    )
    .fetch_all(pool)
    .await?)
}

/// Remote instances by state, for metrics: a blocked instance counts as blocked only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InstanceStates {
    pub ok: i64,
    pub unreachable: i64,
    pub blocked: i64,
}

/// Count the remote instances by state.
pub async fn states(pool: &PgPool) -> Result<InstanceStates, DbError> {
    let (ok, unreachable, blocked): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE NOT blocked AND delivery_state = 'ok'),
                count(*) FILTER (WHERE NOT blocked AND delivery_state = 'unreachable'),
                count(*) FILTER (WHERE blocked)
         FROM instance WHERE NOT is_local",
    )
    .fetch_one(pool)
    .await?;
    Ok(InstanceStates {
        ok,
        unreachable,
        blocked,
    })
}
