//! Scheduled cleanup, so that the tables that grow with traffic stay bounded.
//!
//! Every [`CleanupConfig::every`] (and once at start), [`run`]:
//! - gives up pending deliveries queued more than [`CleanupConfig::give_up_after`] ago (they fail
//!   for good, as one that fails at its next attempt after that age does in the worker);
//! - deletes delivered rows older than [`CleanupConfig::keep_done`], permanently failed ones
//!   older than [`CleanupConfig::keep_failed`], and outgoing activities older than `keep_done`
//!   that have no delivery left (except `Follow`s, which a peer may still accept by id);
//! - forgets incoming activity ids received more than [`CleanupConfig::keep_received`] ago
//!   (at least [`signatures::REPLAY_WINDOW`], after which a replayed request fails its
//!   signature's date check anyway);
//! - deletes expired sessions.
//!
//! Deletes go in batches of [`CleanupConfig::batch`] rows and skip rows another cleaner holds,
//! so every worker process may run one.

use canopy_db::queue::{self, Finished};
use canopy_db::{sessions, DbError, PgPool};
use canopy_federation::signatures;
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
    /// Pending deliveries queued longer ago than this fail for good.
    pub give_up_after: Duration,
    /// How long incoming activity ids are remembered to refuse replays; at least
    /// [`signatures::REPLAY_WINDOW`] (see [`CleanupConfig::check`]).
    pub keep_received: Duration,
    /// Most rows one delete statement removes.
    pub batch: i64,
}

impl Default for CleanupConfig {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(10 * 60),
            keep_done: Duration::from_secs(24 * 3600),
            keep_failed: Duration::from_secs(14 * 24 * 3600),
            give_up_after: crate::WorkerConfig::default().give_up_after,
            keep_received: Duration::from_secs(2 * 24 * 3600),
            batch: 1000,
        }
    }
}

/// A [`CleanupConfig`] that would let a replay through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "incoming activity ids must be kept at least {min_hours} hours (a signed request stays \
     acceptable that long after it first arrives), not {got_secs} seconds"
)]
pub struct KeepReceivedTooShort {
    pub min_hours: u64,
    pub got_secs: u64,
}

impl CleanupConfig {
    /// Refuse a `keep_received` shorter than [`signatures::REPLAY_WINDOW`]: a captured request
    /// could then be replayed after its id was forgotten and before its date expired.
    pub fn check(&self) -> Result<(), KeepReceivedTooShort> {
        if self.keep_received < signatures::REPLAY_WINDOW {
            return Err(KeepReceivedTooShort {
                min_hours: signatures::REPLAY_WINDOW.as_secs() / 3600,
                got_secs: self.keep_received.as_secs(),
            });
        }
        Ok(())
    }
}

/// What one cleanup deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Pending deliveries given up (they stay, failed, for `keep_failed`).
    pub given_up: u64,
    pub done: u64,
    pub failed: u64,
    pub activities: u64,
    /// Incoming activity ids forgotten.
    pub received: u64,
    pub sessions: u64,
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
                given_up = removed.given_up,
                done = removed.done,
                failed = removed.failed,
                activities = removed.activities,
                received = removed.received,
                sessions = removed.sessions,
                "cleanup removed old rows"
            ),
            Ok(_) => tracing::debug!("cleanup found nothing to remove"),
            Err(e) => tracing::warn!(error = %e, "cleanup failed"),
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
    let reason = crate::give_up_reason(config.give_up_after);
    let given_up = batches(config.batch, shutdown, || {
        queue::give_up_stale(pool, config.give_up_after, &reason, config.batch)
    })
    .await?;
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
    let received = batches(config.batch, shutdown, || {
        queue::delete_received(pool, config.keep_received, config.batch)
    })
    .await?;
    let sessions = batches(config.batch, shutdown, || {
        sessions::delete_expired(pool, config.batch)
    })
    .await?;
    Ok(Removed {
        given_up,
        done,
        failed,
        activities,
        received,
        sessions,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keep_received_must_cover_the_replay_window() {
        let with = |secs| CleanupConfig {
            keep_received: Duration::from_secs(secs),
            ..CleanupConfig::default()
        };
        CleanupConfig::default().check().unwrap();
        with(24 * 3600).check().unwrap();
        let err = with(24 * 3600 - 1).check().unwrap_err();
        assert_eq!(err.min_hours, 24);
        assert!(err.to_string().contains("at least 24 hours"), "{err}");
    }
}
