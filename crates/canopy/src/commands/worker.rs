//! `canopy worker`, and the worker tasks `serve` runs in-process too.

use crate::cli::WorkerArgs;
use crate::config::{HumanDuration, Settings};
use crate::database::Database;
use anyhow::{anyhow, Context};
use canopy_federation::FedContext;
use canopy_worker::cleanup::CleanupConfig;
use canopy_worker::WorkerConfig;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Migrate, then deliver the outbox until SIGINT or SIGTERM: claiming stops, in-flight sends
/// finish, and deliveries claimed but not sent are made due again for the next worker.
pub async fn run(settings: Settings, args: WorkerArgs) -> anyhow::Result<()> {
    let db = Database::open(&settings.config).await?;
    let result = work(&settings, &db, args).await;
    db.close().await?;
    result
}

async fn work(settings: &Settings, db: &Database, args: WorkerArgs) -> anyhow::Result<()> {
    canopy_db::migrate(&db.pool)
        .await
        .context("applying migrations")?;
    let state = canopy_api::AppState::with_options(db.pool.clone(), settings.public_base.clone(), settings.config.options())
        .await
        .map_err(|e| anyhow!("{e}"))
        .context("setting up federation")?;
    let from_file = settings.config.worker();
    let config = WorkerConfig {
        shard: args.shard.map(|s| (s.index, s.count)),
        lease: args
            .lease_secs
            .map_or(from_file.lease, std::time::Duration::from_secs),
        ..from_file
    };
    let (stop, stopped) = watch::channel(false);
    let tasks = Tasks::spawn(
        state.fed.clone(),
        config,
        settings.config.cleanup(),
        stopped,
    );
    super::serve::shutdown_signal().await;
    let _ = stop.send(true);
    tasks.join().await
}

/// A delivery worker and its cleanup, running until their shutdown channel says stop.
pub(crate) struct Tasks {
    worker: JoinHandle<()>,
    cleanup: JoinHandle<()>,
}

impl Tasks {
    /// Start both tasks, logging the settings they run with.
    pub(crate) fn spawn(
        fed: FedContext,
        worker: WorkerConfig,
        cleanup: CleanupConfig,
        stopped: watch::Receiver<bool>,
    ) -> Self {
        tracing::info!(
            shard = ?worker.shard,
            batch = worker.batch,
            lease = %HumanDuration(worker.lease),
            per_instance_concurrency = worker.per_instance_concurrency,
            retry_base = %HumanDuration(worker.retry_base),
            retry_max = %HumanDuration(worker.retry_max),
            unreachable_after = %HumanDuration(worker.unreachable_after),
            probe_every = %HumanDuration(worker.probe_every),
            poll_interval = %HumanDuration(worker.poll_interval),
            cleanup_every = %HumanDuration(cleanup.every),
            keep_done = %HumanDuration(cleanup.keep_done),
            keep_failed = %HumanDuration(cleanup.keep_failed),
            "delivery worker settings"
        );
        let pool = fed.db.clone();
        Self {
            cleanup: tokio::spawn(canopy_worker::cleanup::run(pool, cleanup, stopped.clone())),
            worker: tokio::spawn(canopy_worker::run(fed, worker, stopped)),
        }
    }

    /// Wait for both to finish (after the shutdown channel said stop).
    pub(crate) async fn join(self) -> anyhow::Result<()> {
        let worker = self.worker.await.context("delivery worker panicked");
        let cleanup = self.cleanup.await.context("delivery cleanup panicked");
        worker.and(cleanup)
    }
}
