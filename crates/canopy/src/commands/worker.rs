//! `canopy worker`.

use crate::cli::WorkerArgs;
use crate::config::Settings;
use crate::database::Database;
use anyhow::{anyhow, Context};

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
    let state = canopy_api::AppState::new(db.pool.clone(), settings.public_base.clone())
        .await
        .map_err(|e| anyhow!("{e}"))
        .context("setting up federation")?;
    let defaults = canopy_worker::WorkerConfig::default();
    let config = canopy_worker::WorkerConfig {
        shard: args.shard.map(|s| (s.index, s.count)),
        lease: args
            .lease_secs
            .map_or(defaults.lease, std::time::Duration::from_secs),
        ..defaults
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(canopy_worker::run(state.fed.clone(), config, stopped));
    super::serve::shutdown_signal().await;
    let _ = stop.send(true);
    worker.await.context("delivery worker panicked")?;
    Ok(())
}
