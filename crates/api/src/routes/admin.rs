//! Endpoints for instance administrators: the delivery queue per remote instance, and the
//! instance policy (blocks, the allow-list) with the list of known instances.

use crate::auth::Admin;
use crate::error::{ApiError, ApiResult};
use crate::extract::Path;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use canopy_db::{DbError, PgPool};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The delivery queue: totals and one entry per remote instance.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueReport {
    /// Pending deliveries to all instances.
    pub pending: i64,
    /// Every remote instance that has deliveries or has been delivered to, most pending first
    /// (then by authority).
    pub instances: Vec<InstanceQueue>,
}

/// How deliveries to one remote instance stand.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceQueue {
    /// Host and port, e.g. `lemmy.example` or `localhost:8537`.
    pub authority: String,
    /// `ok`, or `unreachable` (failing for longer than the worker's `unreachable_after`: its
    /// deliveries wait, and one is tried at `next_probe_at`).
    pub state: String,
    /// Deliveries waiting to be sent: due, in flight, or waiting for a retry.
    pub pending: i64,
    /// When the oldest pending delivery was queued.
    pub oldest_pending_at: Option<DateTime<Utc>>,
    /// Whole seconds since `oldest_pending_at`.
    pub oldest_pending_age_secs: Option<i64>,
    /// Deliveries the instance accepted.
    pub succeeded: i64,
    /// Failed attempts: each retried failure (network error, 5xx, 408, 429) and each
    /// permanent refusal counts once.
    pub failed: i64,
    /// The most recent failure's error.
    pub last_error: Option<String>,
    /// The last time the instance answered (a refusal is an answer too).
    pub last_success_at: Option<DateTime<Utc>>,
    /// The last failed attempt.
    pub last_failure_at: Option<DateTime<Utc>>,
    /// Start of the current failure streak; null once the instance answers again.
    pub failing_since: Option<DateTime<Utc>>,
    /// When an unreachable instance is tried next.
    pub next_probe_at: Option<DateTime<Utc>>,
}

impl From<canopy_db::queue::InstanceQueue> for InstanceQueue {
    fn from(q: canopy_db::queue::InstanceQueue) -> Self {
        Self {
            authority: q.authority,
            state: q.delivery_state,
            pending: q.pending,
            oldest_pending_at: q.oldest_pending_at,
            oldest_pending_age_secs: q.oldest_pending_age_secs,
            succeeded: q.succeeded,
            failed: q.failed,
            last_error: q.last_error,
            last_success_at: q.last_success_at,
            last_failure_at: q.last_failure_at,
            failing_since: q.failing_since,
            next_probe_at: q.next_probe_at,
        }
    }
}

/// The queue report, as the endpoint and `canopy admin queue` show it.
pub async fn queue_report(pool: &PgPool) -> Result<QueueReport, DbError> {
    let instances: Vec<InstanceQueue> = canopy_db::queue::by_instance(pool)
        .await?
        .into_iter()
        .map(InstanceQueue::from)
        .collect();
    Ok(QueueReport {
        pending: instances.iter().map(|i| i.pending).sum(),
        instances,
    })
}

/// The outgoing delivery queue per remote instance: depth, age of the oldest pending delivery,
/// successes, failures, last error and state. For administrators.
#[utoipa::path(get, path = "/api/v1/admin/queue", tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, body = QueueReport), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
pub async fn queue(State(state): State<AppState>, _admin: Admin) -> ApiResult<Json<QueueReport>> {
    Ok(Json(queue_report(&state.db).await?))
}

/// Every instance this node knows, and the federation mode.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstancesReport {
    /// `open` (every instance not blocked federates) or `allowlist` (only listed ones do).
    pub federation_mode: String,
    /// The local instance first, then by authority.
    pub instances: Vec<InstanceInfo>,
}

/// One known instance.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceInfo {
    /// Host and port, e.g. `lemmy.example` or `localhost:8537`.
    pub authority: String,
    /// This node itself.
    pub is_local: bool,
    /// The software it runs, from its NodeInfo, when known.
    pub software: Option<String>,
    pub version: Option<String>,
    /// `ok` or `unreachable` (see `GET /api/v1/admin/queue`).
    pub delivery_state: String,
    /// Deliveries to it waiting to be sent.
    pub pending_deliveries: i64,
    /// People, communities, posts and comments known from it (posts and comments by its people).
    pub persons: i64,
    pub communities: i64,
    pub posts: i64,
    pub comments: i64,
    /// Blocked by an administrator: nothing is received from, fetched from or sent to it, and
    /// its content is hidden.
    pub blocked: bool,
    pub block_reason: Option<String>,
    pub blocked_at: Option<DateTime<Utc>>,
    /// On the allow-list (what counts in `allowlist` mode).
    pub allowed: bool,
    /// Whether this node federates with it now: not blocked, and listed in `allowlist` mode.
    pub federates: bool,
    pub first_seen_at: DateTime<Utc>,
}

/// The instance list, as the endpoint and `canopy admin instance list` show it.
pub async fn instances_report(pool: &PgPool) -> Result<InstancesReport, DbError> {
    let allowlist = canopy_db::governance::policy(pool).await?.allowlist;
    let instances = canopy_db::governance::list(pool)
        .await?
        .into_iter()
        .map(|i| InstanceInfo {
            federates: i.is_local || (!i.blocked && (!allowlist || i.allowed)),
            authority: i.authority,
            is_local: i.is_local,
            software: i.software,
            version: i.version,
            delivery_state: i.delivery_state,
            pending_deliveries: i.pending_deliveries,
            persons: i.persons,
            communities: i.communities,
            posts: i.posts,
            comments: i.comments,
            blocked: i.blocked,
            block_reason: i.block_reason,
            blocked_at: i.blocked_at,
            allowed: i.allowed,
            first_seen_at: i.first_seen_at,
        })
        .collect();
    Ok(InstancesReport {
        federation_mode: if allowlist { "allowlist" } else { "open" }.into(),
        instances,
    })
}

/// The instance key of what an administrator typed, or 400.
pub fn parse_host(host: &str) -> Result<String, ApiError> {
    canopy_core::parse_authority(host).ok_or_else(|| {
        ApiError::invalid(format!(
            "{host:?} is not an instance: give its host, with :port when not the default"
        ))
    })
}

/// Why an instance was blocked.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    /// Shown to administrators and in the refusals the node gives.
    pub reason: Option<String>,
}

/// What a change of the instance policy did.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyChange {
    /// The instance, as keyed (lower case; a default port dropped).
    pub authority: String,
    /// False when the instance was already in the state asked for.
    pub changed: bool,
    /// Pending deliveries to it that were dropped (failed for good with the block's reason).
    pub deliveries_dropped: u64,
    /// Follows of local communities and people by its actors that ended.
    pub follows_ended: u64,
}

/// Longest block reason, in characters.
pub const MAX_REASON_CHARS: usize = 1000;

/// Block `host` with `reason`: see [`canopy_db::governance::block`].
pub async fn block_instance(
    pool: &PgPool,
    host: &str,
    reason: Option<&str>,
) -> Result<PolicyChange, ApiError> {
    let authority = parse_host(host)?;
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if reason.is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
        return Err(ApiError::invalid(format!(
            "the reason is longer than {MAX_REASON_CHARS} characters"
        )));
    }
    let outcome = canopy_db::governance::block(pool, &authority, reason)
        .await
        .map_err(|e| match e {
            DbError::Conflict(_) => {
                ApiError::conflict("this node's own instance cannot be blocked")
            }
            other => other.into(),
        })?;
    Ok(PolicyChange {
        authority,
        changed: true,
        deliveries_dropped: outcome.deliveries_dropped,
        follows_ended: outcome.follows_ended,
    })
}

/// Lift the block of `host`.
pub async fn unblock_instance(pool: &PgPool, host: &str) -> Result<PolicyChange, ApiError> {
    let authority = parse_host(host)?;
    let changed = canopy_db::governance::unblock(pool, &authority).await?;
    Ok(PolicyChange {
        authority,
        changed,
        deliveries_dropped: 0,
        follows_ended: 0,
    })
}

/// Put `host` on the allow-list, or take it off.
pub async fn set_allowed(
    pool: &PgPool,
    host: &str,
    allowed: bool,
) -> Result<PolicyChange, ApiError> {
    let authority = parse_host(host)?;
    let changed = canopy_db::governance::set_allowed(pool, &authority, allowed).await?;
    Ok(PolicyChange {
        authority,
        changed,
        deliveries_dropped: 0,
        follows_ended: 0,
    })
}

/// Apply a change at once in this process (the others pick it up within a second).
async fn applied(state: &AppState, change: PolicyChange) -> ApiResult<Json<PolicyChange>> {
    state.federation.context().governance.reload().await?;
    Ok(Json(change))
}

/// Every instance this node knows: software and version (from NodeInfo), delivery state,
/// pending deliveries, people, communities, posts and comments known from it, and whether it
/// is blocked (with the reason) or listed. For administrators.
#[utoipa::path(get, path = "/api/v1/admin/instances", tag = "admin",
    security(("bearer" = [])),
    responses((status = 200, body = InstancesReport), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody)))]
pub async fn instances(
    State(state): State<AppState>,
    _admin: Admin,
) -> ApiResult<Json<InstancesReport>> {
    Ok(Json(instances_report(&state.db).await?))
}

/// Block an instance (or change the reason of its block). From then on its activities are
/// refused (403), nothing is fetched from or delivered to it, pending deliveries to it are
/// dropped (failed for good with the reason), its actors' follows of local communities and
/// people end, and its content is hidden from listings and trees. Applies to every process
/// sharing the database within seconds. For administrators.
#[utoipa::path(put, path = "/api/v1/admin/instances/{host}/block", tag = "admin",
    security(("bearer" = [])),
    params(("host" = String, Path, description = "The instance's host, with :port when not the default")),
    request_body = BlockRequest,
    responses((status = 200, body = PolicyChange), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody, description = "this node's own instance")))]
pub async fn block(
    State(state): State<AppState>,
    _admin: Admin,
    Path(host): Path<String>,
    crate::extract::Json(request): crate::extract::Json<BlockRequest>,
) -> ApiResult<Json<PolicyChange>> {
    let change = block_instance(&state.db, &host, request.reason.as_deref()).await?;
    tracing::info!(instance = %change.authority, reason = ?request.reason, "instance blocked");
    applied(&state, change).await
}

/// Lift an instance's block. Follows that ended stay ended; content is shown again. For
/// administrators.
#[utoipa::path(delete, path = "/api/v1/admin/instances/{host}/block", tag = "admin",
    security(("bearer" = [])),
    params(("host" = String, Path, description = "The instance's host, with :port when not the default")),
    responses((status = 200, body = PolicyChange), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn unblock(
    State(state): State<AppState>,
    _admin: Admin,
    Path(host): Path<String>,
) -> ApiResult<Json<PolicyChange>> {
    let change = unblock_instance(&state.db, &host).await?;
    tracing::info!(instance = %change.authority, changed = change.changed, "instance unblocked");
    applied(&state, change).await
}

/// Put an instance on the allow-list (what federates in `allowlist` mode). For administrators.
#[utoipa::path(put, path = "/api/v1/admin/instances/{host}/allow", tag = "admin",
    security(("bearer" = [])),
    params(("host" = String, Path, description = "The instance's host, with :port when not the default")),
    responses((status = 200, body = PolicyChange), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn allow(
    State(state): State<AppState>,
    _admin: Admin,
    Path(host): Path<String>,
) -> ApiResult<Json<PolicyChange>> {
    let change = set_allowed(&state.db, &host, true).await?;
    applied(&state, change).await
}

/// Take an instance off the allow-list. For administrators.
#[utoipa::path(delete, path = "/api/v1/admin/instances/{host}/allow", tag = "admin",
    security(("bearer" = [])),
    params(("host" = String, Path, description = "The instance's host, with :port when not the default")),
    responses((status = 200, body = PolicyChange), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub async fn disallow(
    State(state): State<AppState>,
    _admin: Admin,
    Path(host): Path<String>,
) -> ApiResult<Json<PolicyChange>> {
    let change = set_allowed(&state.db, &host, false).await?;
    applied(&state, change).await
}

/// What to resync: a post's, a comment's or a community's URL.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResyncRequest {
    pub url: String,
}

/// What one thread's sync did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ThreadSync {
    pub post_id: i64,
    /// Where the thread was read from: `local` (nothing to do), `context` (its FEP-7888
    /// collection), `replies` (walked from the post down), `lemmy_api` (a Lemmy's public read
    /// API listed its comments), `none` (its home serves nothing readable).
    pub source: String,
    /// Items the thread's collections listed (the post included).
    pub listed: usize,
    pub posts_added: usize,
    pub comments_added: usize,
    /// Known items whose newer text was taken.
    pub updated: usize,
    /// Known items their home says are deleted.
    pub deleted: usize,
    /// Listed items already stored here.
    pub known: usize,
    /// Items that could not be fetched or stored.
    pub failed: usize,
    /// Requests made (collection pages and items).
    pub requests: u32,
    pub elapsed_ms: u64,
    /// Why the sync stopped early (`items`, `requests`, `time`, `bad_collection`), if it did.
    pub stopped: Option<String>,
    /// How many comments the thread's home counts, when it said.
    pub remote_comments: Option<i64>,
}

/// The threads a resync visited.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResyncReport {
    /// Posts and comments added over every thread.
    pub added: usize,
    pub threads: Vec<ThreadSync>,
}

impl From<canopy_federation::backfill::Resync> for ResyncReport {
    fn from(r: canopy_federation::backfill::Resync) -> Self {
        use canopy_federation::backfill::{Source, Stop};
        Self {
            added: r.added(),
            threads: r
                .threads
                .into_iter()
                .map(|(post, t)| ThreadSync {
                    post_id: post.0,
                    source: match t.source {
                        Source::Local => "local",
                        Source::Context => "context",
                        Source::Replies => "replies",
                        Source::LemmyApi => "lemmy_api",
                        Source::None => "none",
                    }
                    .into(),
                    listed: t.listed,
                    posts_added: t.posts_added,
                    comments_added: t.comments_added,
                    updated: t.updated,
                    deleted: t.deleted,
                    known: t.known,
                    failed: t.failed,
                    requests: t.requests,
                    elapsed_ms: u64::try_from(t.elapsed.as_millis()).unwrap_or(u64::MAX),
                    stopped: t.stopped.map(|s| {
                        match s {
                            Stop::Items => "items",
                            Stop::Requests => "requests",
                            Stop::Time => "time",
                            Stop::BadCollection => "bad_collection",
                        }
                        .into()
                    }),
                    remote_comments: t.remote_comments,
                })
                .collect(),
        }
    }
}

/// Resync at once what a URL names with its home: a remote post's thread, a remote comment's
/// thread, or a remote community's latest threads (an unknown URL is fetched first). Every
/// missing item is fetched from its own id; known ones are read again for edits and deletions.
/// Bounded like every backfill (`backfill_*` settings). For administrators.
#[utoipa::path(post, path = "/api/v1/admin/resync", tag = "admin",
    security(("bearer" = [])),
    request_body = ResyncRequest,
    responses((status = 200, body = ResyncReport), (status = 400, body = crate::error::ErrorBody),
              (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)))]
pub async fn resync(
    State(state): State<AppState>,
    _admin: Admin,
    crate::extract::Json(request): crate::extract::Json<ResyncRequest>,
) -> ApiResult<Json<ResyncReport>> {
    let url = url::Url::parse(request.url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| ApiError::invalid("`url` is not an http(s) URL"))?;
    let settings = state
        .federation
        .context()
        .backfill
        .settings()
        .cloned()
        .unwrap_or_default();
    let hosts = canopy_federation::backfill::HostLimits::new(settings.per_host);
    let data = state.fed_data();
    let done = canopy_federation::backfill::resync_url(&url, &data, &settings, &hosts).await?;
    tracing::info!(%url, added = done.added(), "resync");
    Ok(Json(done.into()))
}
