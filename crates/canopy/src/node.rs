//! The node, composed in one place: the database migrated, the federation side built
//! (`canopy_federation::Federation`), the API given what it needs, one HTTP surface over both,
//! and the delivery worker tasks. `canopy serve`, `canopy worker` and `canopy admin`, the
//! in-process test node and the benchmarks all start from here, so the tests exercise what
//! `serve` serves.

use axum::extract::DefaultBodyLimit;
use axum::Router;
use canopy_api::limits::Limits;
use canopy_api::AppState;
use canopy_db::{DbError, PgPool};
use canopy_federation::urls::PublicBase;
use canopy_federation::{FedContext, Federation, StartError};
use canopy_worker::cleanup::CleanupConfig;
use canopy_worker::WorkerConfig;
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinError, JoinHandle};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

/// Settings of the node that its HTTP surface and federation side read; the binary fills them
/// from the configuration file. The defaults are what `canopy serve` runs with.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The outbound policy: which addresses requests may reach, the host table, timeouts.
    pub outbound: canopy_federation::outbound::Settings,
    /// Registration open or closed, the rate limits of the API and of the inbox, and the
    /// reverse proxies whose forwarding headers are believed.
    pub limits: Limits,
    /// Whether the node federates with every instance not blocked, or only with listed ones;
    /// written to the database at start-up. `None` leaves the database's mode as it is (what
    /// `canopy admin` commands do, so that they never switch a running node's mode).
    pub federation_mode: Option<canopy_federation::governance::FederationMode>,
    /// Thread backfills run in this process with these settings (`serve`); `None`: none run
    /// (`canopy admin` commands, and test nodes unless a test asks for them).
    pub backfill: Option<canopy_federation::backfill::Settings>,
}

impl Options {
    /// These options with `limits` in place of theirs.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}

/// Why the node could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("applying migrations")]
    Migrate(#[source] DbError),
    #[error("setting up federation")]
    Federation(#[source] StartError),
}

/// Apply pending migrations.
pub async fn migrate(db: &PgPool) -> Result<(), NodeError> {
    canopy_db::migrate(db).await.map_err(NodeError::Migrate)
}

/// Migrate, then build the federation side of the node at `base`: all that a delivery worker
/// needs.
pub async fn federation(
    db: &PgPool,
    base: &PublicBase,
    options: &Options,
) -> Result<Federation, NodeError> {
    migrate(db).await?;
    Federation::start(
        db.clone(),
        base.clone(),
        &options.outbound,
        options.limits.inbox,
        options.federation_mode,
    )
    .await
    .map_err(NodeError::Federation)
}

/// A node ready to serve: its federation side and the API built on it.
pub struct Node {
    federation: Federation,
    api: AppState,
}

impl Node {
    /// Migrate `db` and build the node at `base` with `options`.
    pub async fn build(db: PgPool, base: PublicBase, options: Options) -> Result<Self, NodeError> {
        let federation = federation(&db, &base, &options).await?;
        if let Some(settings) = options.backfill.clone() {
            federation.start_backfills(settings);
        }
        let api = AppState::new(federation.clone(), &options.limits);
        Ok(Self { federation, api })
    }

    /// The federation side (its context is what the delivery workers send with).
    pub fn federation(&self) -> &Federation {
        &self.federation
    }

    /// The API's state.
    pub fn api(&self) -> &AppState {
        &self.api
    }

    /// The whole HTTP surface: the REST API under `/api/v1`, the ActivityPub routes and the
    /// inboxes, with the API's answers for unknown routes and methods, the request body cap,
    /// panics caught as 500s, and request tracing. Serve it with connection info (see
    /// [`Node::serve`]): the rate limits count requests by the client's address.
    pub fn router(&self) -> Router {
        // Pages for people answer browsers at the objects' URLs and the friendly paths; peers and
        // API clients never reach them (`canopy_web::for_browsers`).
        let pages = canopy_web::router(self.api.clone())
            .route_layer(axum::middleware::from_fn(crate::telemetry::track_http));
        let machines = Router::new()
            .merge(canopy_api::router(self.api.clone()))
            .merge(self.federation.router())
            .route_layer(axum::middleware::from_fn(crate::telemetry::track_http))
            .fallback(canopy_api::not_found)
            .method_not_allowed_fallback(canopy_api::method_not_allowed);
        // The choice between the two is made before either routes the request (a layer on a
        // router runs after its routing, with the matched path's parameters already taken).
        Router::new()
            .fallback_service(machines)
            .layer(axum::middleware::from_fn_with_state(
                pages,
                canopy_web::for_browsers,
            ))
            .layer(DefaultBodyLimit::max(
                canopy_core::limits::MAX_REQUEST_BODY_BYTES,
            ))
            .layer(CatchPanicLayer::custom(canopy_api::panic_response))
            .layer(TraceLayer::new_for_http())
    }

    /// Serve the node on `listener` until `shutdown` resolves; requests in flight then finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = self
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// A delivery task that panicked.
#[derive(Debug, thiserror::Error)]
#[error("the {task} panicked")]
pub struct TaskPanicked {
    task: &'static str,
    #[source]
    source: JoinError,
}

/// A delivery worker and, unless left out, its cleanup, running until their shutdown channel
/// says stop.
pub struct Tasks {
    worker: JoinHandle<()>,
    cleanup: Option<JoinHandle<()>>,
}

impl Tasks {
    /// Start the worker (and the cleanup, when given its settings) with the context `fed`,
    /// logging the settings they run with.
    pub fn spawn(
        fed: &FedContext,
        worker: WorkerConfig,
        cleanup: Option<CleanupConfig>,
        stopped: watch::Receiver<bool>,
    ) -> Self {
        log_settings(&worker, cleanup.as_ref());
        let cleanup = cleanup.map(|cleanup| {
            tokio::spawn(canopy_worker::cleanup::run(
                fed.db.clone(),
                cleanup,
                stopped.clone(),
            ))
        });
        Self {
            worker: tokio::spawn(canopy_worker::run(fed.clone(), worker, stopped)),
            cleanup,
        }
    }

    /// Wait for the tasks to finish (after the shutdown channel said stop).
    pub async fn join(self) -> Result<(), TaskPanicked> {
        let worker = self.worker.await.map_err(|source| TaskPanicked {
            task: "delivery worker",
            source,
        });
        let cleanup = match self.cleanup {
            Some(cleanup) => cleanup.await.map_err(|source| TaskPanicked {
                task: "delivery cleanup",
                source,
            }),
            None => Ok(()),
        };
        worker.and(cleanup)
    }

    /// Stop the tasks at once, without letting sends finish.
    pub fn abort(&self) {
        self.worker.abort();
        if let Some(cleanup) = &self.cleanup {
            cleanup.abort();
        }
    }
}

/// One line with every setting the worker (and the cleanup) run with.
fn log_settings(worker: &WorkerConfig, cleanup: Option<&CleanupConfig>) {
    let duration = humantime::format_duration;
    match cleanup {
        Some(cleanup) => tracing::info!(
            shard = ?worker.shard,
            batch = worker.batch,
            lease = %duration(worker.lease),
            per_instance_concurrency = worker.per_instance_concurrency,
            retry_base = %duration(worker.retry_base),
            retry_max = %duration(worker.retry_max),
            unreachable_after = %duration(worker.unreachable_after),
            probe_every = %duration(worker.probe_every),
            give_up_after = %duration(worker.give_up_after),
            poll_interval = %duration(worker.poll_interval),
            cleanup_every = %duration(cleanup.every),
            keep_done = %duration(cleanup.keep_done),
            keep_failed = %duration(cleanup.keep_failed),
            keep_received = %duration(cleanup.keep_received),
            "delivery worker settings"
        ),
        None => tracing::info!(
            shard = ?worker.shard,
            batch = worker.batch,
            lease = %duration(worker.lease),
            per_instance_concurrency = worker.per_instance_concurrency,
            retry_base = %duration(worker.retry_base),
            retry_max = %duration(worker.retry_max),
            unreachable_after = %duration(worker.unreachable_after),
            probe_every = %duration(worker.probe_every),
            give_up_after = %duration(worker.give_up_after),
            poll_interval = %duration(worker.poll_interval),
            cleanup = "off",
            "delivery worker settings"
        ),
    }
}
