//! The delivery worker: turns the outbox's pending deliveries into signed POSTs.
//!
//! [`run`] claims due deliveries under a lease (see [`canopy_db::delivery`]), sends them in
//! parallel with at most [`WorkerConfig::per_instance_concurrency`] in flight per instance,
//! and records each outcome: done; retried with exponential backoff and jitter (network
//! errors, 5xx, 408, 429, honouring `Retry-After`; a 401, whose cause may be a stale copy of
//! our key at the receiver, after longer waits and only until the fourth attempt); failed for
//! good (other 4xx; a 410 Gone also removes the followers at that inbox). An instance that keeps failing for longer than
//! [`WorkerConfig::unreachable_after`] is unreachable: its deliveries wait and it is probed
//! once per [`WorkerConfig::probe_every`] until it answers again. A delivery that still fails
//! [`WorkerConfig::give_up_after`] after it was queued fails for good.
//!
//! [`cleanup::run`] is a separate task that keeps the tables that grow with traffic small:
//! finished deliveries, stale ones, received activity ids and expired sessions.

pub mod cleanup;
mod send;

use canopy_db::delivery::{self, ClaimFilter, DueDelivery};
use canopy_federation::FedContext;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// How a worker claims, sends and retries.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Most deliveries claimed (and in flight) at once.
    pub batch: usize,
    /// How long a claim lasts before another worker may take the delivery.
    pub lease: Duration,
    /// Most deliveries in flight to one instance. An instance whose answers take `t` gets at
    /// most `per_instance_concurrency / t` deliveries per second: 16 at 200 ms is 80/s.
    pub per_instance_concurrency: usize,
    /// Wait before the first retry; it doubles with each attempt.
    pub retry_base: Duration,
    /// Longest wait between attempts.
    pub retry_max: Duration,
    /// Failing without a break for this long makes an instance unreachable.
    pub unreachable_after: Duration,
    /// How often an unreachable instance is probed with one delivery.
    pub probe_every: Duration,
    /// A delivery still failing this long after it was queued fails for good (at its next
    /// failed attempt, or by the cleanup if it is not tried in time).
    pub give_up_after: Duration,
    /// How long to wait before looking again when nothing is due.
    pub poll_interval: Duration,
    /// `(i, n)`: only instances with `abs(hashtext(authority)) % n = i`.
    pub shard: Option<(u32, u32)>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            batch: 64,
            lease: Duration::from_secs(120),
            per_instance_concurrency: 16,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(3600),
            unreachable_after: Duration::from_secs(3 * 24 * 3600),
            probe_every: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(7 * 24 * 3600),
            poll_interval: Duration::from_millis(100),
            shard: None,
        }
    }
}

/// The `last_error` of a delivery given up after `age`, e.g. `gave up: not delivered within 7
/// days of being queued`.
pub(crate) fn give_up_reason(age: Duration) -> String {
    let plural = |n: u64, unit: &str| match n {
        1 => format!("1 {unit}"),
        n => format!("{n} {unit}s"),
    };
    let age = match age.as_secs() {
        s if s > 0 && s % 86_400 == 0 => plural(s / 86_400, "day"),
        s if s > 0 && s % 3_600 == 0 => plural(s / 3_600, "hour"),
        s if s > 0 && s % 60 == 0 => plural(s / 60, "minute"),
        s => plural(s, "second"),
    };
    format!("gave up: not delivered within {age} of being queued")
}

/// What the worker shares with its delivery tasks.
struct Shared {
    ctx: FedContext,
    config: WorkerConfig,
    shutdown: watch::Receiver<bool>,
    /// Deliveries claimed but never sent because shutdown came first.
    unsent: Mutex<Vec<i64>>,
    /// Signing keys, parsed once per actor.
    keys: send::Keys,
}

/// Deliver until `shutdown` turns true (or its sender is dropped); then stop claiming, let
/// in-flight sends finish, and make claimed-but-unsent deliveries due again.
pub async fn run(ctx: FedContext, config: WorkerConfig, mut shutdown: watch::Receiver<bool>) {
    let shared = Arc::new(Shared {
        ctx,
        config,
        shutdown: shutdown.clone(),
        unsent: Mutex::new(Vec::new()),
        keys: send::Keys::default(),
    });
    let config = &shared.config;
    let mut tasks: JoinSet<String> = JoinSet::new();
    // Claimed and not finished, per authority; and the permits that bound the sends.
    let mut claimed: HashMap<String, usize> = HashMap::new();
    let mut limits: HashMap<String, Arc<Semaphore>> = HashMap::new();
    tracing::info!(shard = ?config.shard, "delivery worker started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        while let Some(joined) = tasks.try_join_next() {
            finished(joined, &mut claimed);
        }
        let room = config.batch.saturating_sub(tasks.len());
        let mut got = 0;
        if room > 0 {
            let skip: Vec<String> = claimed
                .iter()
                .filter(|(_, n)| **n >= config.per_instance_concurrency)
                .map(|(a, _)| a.clone())
                .collect();
            let filter = ClaimFilter {
                shard: config.shard,
                skip: &skip,
                per_authority: config.per_instance_concurrency,
            };
            match claim(&shared, room, &filter).await {
                Ok(due) => {
                    got = due.len();
                    for d in due {
                        *claimed.entry(d.authority.clone()).or_default() += 1;
                        let limit = limits
                            .entry(d.authority.clone())
                            .or_insert_with(|| {
                                Arc::new(Semaphore::new(config.per_instance_concurrency))
                            })
                            .clone();
                        let shared = shared.clone();
                        tasks.spawn(async move {
                            let authority = d.authority.clone();
                            send_when_allowed(&shared, limit, d).await;
                            authority
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming deliveries failed"),
            }
        }
        if got > 0 && tasks.len() < config.batch {
            continue;
        }
        // Nothing due or no room: wait for a send to finish (it may free room or unblock the
        // next delivery about its object), the poll interval, or shutdown.
        tokio::select! {
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => finished(joined, &mut claimed),
            () = tokio::time::sleep(config.poll_interval) => {}
            changed = shutdown.changed() => if changed.is_err() { break },
        }
        // Forget idle instances so the maps stay small.
        claimed.retain(|_, n| *n > 0);
        limits.retain(|a, _| claimed.contains_key(a));
    }
    tracing::info!(in_flight = tasks.len(), "delivery worker stopping");
    while let Some(joined) = tasks.join_next().await {
        finished(joined, &mut claimed);
    }
    let unsent = std::mem::take(&mut *shared.unsent.lock().unwrap_or_else(|p| p.into_inner()));
    if !unsent.is_empty() {
        if let Err(e) = delivery::release(&shared.ctx.db, &unsent).await {
            tracing::warn!(error = %e, count = unsent.len(), "could not release unsent deliveries; their lease will expire");
        }
    }
    tracing::info!(released = unsent.len(), "delivery worker stopped");
}

fn finished(joined: Result<String, tokio::task::JoinError>, claimed: &mut HashMap<String, usize>) {
    match joined {
        Ok(authority) => {
            if let Some(n) = claimed.get_mut(&authority) {
                *n = n.saturating_sub(1);
            }
        }
        // A panicked task's delivery stays leased and is retried when the lease expires; its
        // count is not released, which only makes this worker more careful with that instance.
        Err(e) => tracing::error!(error = %e, "delivery task panicked"),
    }
}

/// Probes for unreachable instances first, then due deliveries to reachable ones.
async fn claim(
    shared: &Shared,
    room: usize,
    filter: &ClaimFilter<'_>,
) -> Result<Vec<DueDelivery>, canopy_db::DbError> {
    let config = &shared.config;
    let pool = &shared.ctx.db;
    let mut due = delivery::claim_probes(pool, config.lease, config.probe_every, filter).await?;
    let left = room.saturating_sub(due.len());
    if left > 0 {
        let limit = i64::try_from(left).unwrap_or(i64::MAX);
        due.extend(delivery::claim(pool, limit, config.lease, filter).await?);
    }
    Ok(due)
}

/// Wait for a per-instance permit, then send; on shutdown before the permit, leave the
/// delivery unsent so that it is released.
async fn send_when_allowed(shared: &Shared, limit: Arc<Semaphore>, d: DueDelivery) {
    let mut shutdown = shared.shutdown.clone();
    let permit = tokio::select! {
        permit = limit.acquire_owned() => permit,
        _ = shutdown.wait_for(|stop| *stop) => {
            shared.unsent.lock().unwrap_or_else(|p| p.into_inner()).push(d.id);
            return;
        }
    };
    let Ok(_permit) = permit else { return };
    if *shutdown.borrow() {
        shared
            .unsent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(d.id);
        return;
    }
    send::deliver(&shared.ctx, &shared.config, &shared.keys, d).await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_give_up_reason_names_the_age_in_words() {
        let reason = |secs| give_up_reason(Duration::from_secs(secs));
        assert_eq!(
            reason(7 * 86_400),
            "gave up: not delivered within 7 days of being queued"
        );
        assert!(reason(86_400).contains("within 1 day "));
        assert!(reason(36 * 3_600).contains("within 36 hours "));
        assert!(reason(90).contains("within 90 seconds "));
    }
}
