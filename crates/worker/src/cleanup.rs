//! Scheduled cleanup of finished deliveries, so the queue's tables stay small.
//!
//! Every [`CleanupConfig::every`] (and once at start), [`run`] deletes delivered rows older than
//! [`CleanupConfig::keep_done`], permanently failed ones older than
//! [`CleanupConfig::keep_failed`], and outgoing activities older than `keep_done` that have no
//! delivery left (except `Follow`s, which a peer may still accept by id). Pending deliveries
//! are never touched. Deletes go in batches of [`CleanupConfig::batch`] rows and skip rows
//! another cleaner holds, so every worker process may run one.

use canopy_db::queue::{self, Finished};
use canopy_db::{DbError, PgPool};
use std::time::Duration;
use tokio::sync::watch;

/// When and what the cleanup deletes.
#[derive(Debug, Clone)]
pub struct CleanupConfig {
    /// Time between two cleanups.
    pub every: Duration,
    /// How long delivered rows (and activities with nothing left to deliver) are kept.
    pub keep_done: Duration,
    /// How long permanently failed deliveries are kept, for operators to look at.
    pub keep_failed: Duration,
    /// Most rows one delete statement removes.
    pub batch: i64,
}

impl Default for CleanupConfig {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(10 * 60),
            keep_done: Duration::from_secs(24 * 3600),
            keep_failed: Duration::from_secs(14 * 24 * 3600),
            batch: 1000,
        }
    }
}

/// What one cleanup deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub done: u64,
    pub failed: u64,
    pub activities: u64,
}

/// Most batches of one kind in one cleanup; what is left waits for the next one.
const MAX_BATCHES: u32 = 10_000;

/// Clean up at start and then every `config.every` until `shutdown` turns true (or its sender
/// is dropped). A failed cleanup is logged and tried again next time.
pub async fn run(pool: PgPool, config: CleanupConfig, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            break;
        }
        match once(&pool, &config, &shutdown).await {
            Ok(removed) if removed != Removed::default() => tracing::info!(
                done = removed.done,
                failed = removed.failed,
                activities = removed.activities,
                "delivery cleanup removed finished rows"
            ),
            Ok(_) => tracing::debug!("delivery cleanup found nothing to remove"),
            Err(e) => tracing::warn!(error = %e, "delivery cleanup failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(config.every) => {}
            changed = shutdown.changed() => if changed.is_err() { break },
        }
    }
}

/// One cleanup: every batch that is due, stopping early (between batches) on shutdown.
pub async fn once(
    pool: &PgPool,
    config: &CleanupConfig,
    shutdown: &watch::Receiver<bool>,
) -> Result<Removed, DbError> {
    let done = batches(config.batch, shutdown, || {
        queue::delete_finished(pool, Finished::Done, config.keep_done, config.batch)
    })
    .await?;
    let failed = batches(config.batch, shutdown, || {
        queue::delete_finished(pool, Finished::Failed, config.keep_failed, config.batch)
    })
    .await?;
    let activities = batches(config.batch, shutdown, || {
        queue::delete_delivered_activities(pool, config.keep_done, config.batch)
    })
    .await?;
    Ok(Removed {
        done,
        failed,
        activities,
    })
}

/// Run `delete` until it removes less than a full batch; returns the total removed.
async fn batches<F, Fut>(
    batch: i64,
    shutdown: &watch::Receiver<bool>,
    mut delete: F,
) -> Result<u64, DbError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, DbError>>,
{
    let full = u64::try_from(batch).unwrap_or(0).max(1);
    let mut total = 0;
    for _ in 0..MAX_BATCHES {
        let n = delete().await?;
        total += n;
        if n < full || *shutdown.borrow() {
            break;
        }
    }
    Ok(total)
}
