//! `canopy worker`.

use crate::cli::WorkerArgs;
use crate::config::Settings;
use crate::database::Database;
use canopy::node::{self, Tasks};
use canopy_worker::WorkerConfig;
use tokio::sync::watch;

/// Migrate, then deliver the outbox until SIGINT or SIGTERM: claiming stops, in-flight sends
/// finish, and deliveries claimed but not sent are made due again for the next worker.
pub async fn run(settings: Settings, args: WorkerArgs) -> anyhow::Result<()> {
    let db = Database::open(&settings.config).await?;
    let result = work(&settings, &db, args).await;
    db.close().await?;
    result
}

async fn work(settings: &Settings, db: &Database, args: WorkerArgs) -> anyhow::Result<()> {
    // The federation side only: a worker serves no HTTP and needs no API.
    let federation =
        node::federation(&db.pool, &settings.public_base, &settings.config.options()).await?;
    let from_file = settings.config.worker();
    let config = WorkerConfig {
        shard: args.shard.map(|s| (s.index, s.count)),
        lease: args
            .lease_secs
            .map_or(from_file.lease, std::time::Duration::from_secs),
        ..from_file
    };
    let _metrics = super::serve::start_metrics(settings, &db.pool, std::future::pending()).await?;
    let (stop, stopped) = watch::channel(false);
    let tasks = Tasks::spawn(
        federation.context(),
        config,
        Some(settings.config.cleanup()),
        stopped,
    );
    super::serve::shutdown_signal().await;
    let _ = stop.send(true);
    Ok(tasks.join().await?)
}
