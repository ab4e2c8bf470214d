//! Endpoints for instance administrators: the delivery queue per remote instance.

use crate::auth::Admin;
use crate::error::ApiResult;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use canopy_db::{DbError, PgPool};
use chrono::{DateTime, Utc};
use serde::Serialize;
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
