//! Metrics for operators, in Prometheus' text format. Every crate records through the `metrics`
//! facade (counters where things happen: the inbox, the worker, the rate limits); this module
//! installs the Prometheus recorder once per process, times HTTP requests by route, samples
//! what only the database knows (queue depth and age, instance states) and the connection pool,
//! and serves `GET /metrics` on its own listener (`metrics_bind`), never on the public router.
//!
//! Names:
//! - `canopy_http_request_duration_seconds{method, route, status}` (histogram; `route` is the
//!   matched route pattern, e.g. `/api/v1/posts/{id}`, never the raw path)
//! - `canopy_inbox_activities_total{outcome, reason}`: `accepted`, `duplicate`, or `refused`
//!   with the error code as reason (`bad_signature`, `forbidden`, `instance_refused`, …)
//! - `canopy_deliveries_total{outcome}`: `done`, `retry`, `unauthorized`, `failed`, `gone`,
//!   `dropped`
//! - `canopy_rate_limit_refusals_total{limit}`
//! - `canopy_delivery_queue_pending`, `canopy_delivery_queue_oldest_pending_seconds`
//! - `canopy_instances{state}`: remote instances by `ok`, `unreachable` or `blocked`
//! - `canopy_db_pool_connections{state}`: `size` (open) and `idle`

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use canopy_db::PgPool;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// How often the database-side figures are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Bucket bounds of the latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The recorder could not be installed (another recorder is in place).
#[derive(Debug, thiserror::Error)]
#[error("installing the metrics recorder: {0}")]
pub struct InstallError(String);

/// Install the Prometheus recorder for this process (once; later calls return the same
/// handle).
pub fn install() -> Result<PrometheusHandle, InstallError> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets(&LATENCY_BUCKETS)
        .map_err(|e| InstallError(e.to_string()))?
        .install_recorder()
        .map_err(|e| InstallError(e.to_string()))?;
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// The router of the metrics listener: `GET /metrics`.
pub fn router(handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(handle)
}

async fn render(State(handle): State<PrometheusHandle>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// Serve the metrics on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(handle))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Middleware (a route layer, so the matched route is known) timing each request.
pub async fn track_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    metrics::histogram!(
        "canopy_http_request_duration_seconds",
        "method" => method,
        "route" => route,
        "status" => response.status().as_u16().to_string(),
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// Sample the database-side figures and the pool every `every` (and run the recorder's
/// upkeep), until the task is aborted.
pub fn sample(
    db: PgPool,
    handle: PrometheusHandle,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            handle.run_upkeep();
            metrics::gauge!("canopy_db_pool_connections", "state" => "size")
                .set(f64::from(db.size()));
            metrics::gauge!("canopy_db_pool_connections", "state" => "idle")
                .set(db.num_idle() as f64);
            match canopy_db::queue::depth(&db).await {
                Ok(depth) => {
                    metrics::gauge!("canopy_delivery_queue_pending").set(depth.pending as f64);
                    metrics::gauge!("canopy_delivery_queue_oldest_pending_seconds")
                        .set(depth.oldest_pending_age_secs);
                }
                Err(e) => tracing::warn!(error = %e, "could not sample the delivery queue"),
            }
            match canopy_db::governance::states(&db).await {
                Ok(states) => {
                    for (state, n) in [
                        ("ok", states.ok),
                        ("unreachable", states.unreachable),
                        ("blocked", states.blocked),
                    ] {
                        metrics::gauge!("canopy_instances", "state" => state).set(n as f64);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not sample the instance states"),
            }
        }
    })
}
