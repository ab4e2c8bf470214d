//! A simple sender that drains the outbox from inside `serve`: claims due deliveries under a
//! lease, signs each POST (draft-cavage, aws-lc-rs), sends them concurrently, and records the
//! outcome. Network errors, 5xx, 408 and 429 are retried with exponential backoff; other 4xx
//! are permanent. The delivery worker issue replaces this with per-instance queues.

use crate::signatures::{self, PrivateKey};
use crate::FedContext;
use canopy_db::outbox::{self, DueDelivery};
use chrono::Utc;
use std::time::{Duration, SystemTime};
use tokio::task::JoinSet;

/// Deliveries claimed per round.
const BATCH: i64 = 64;
/// How long a claim lasts before another sender may take the delivery.
const LEASE: Duration = Duration::from_secs(120);
/// Pause when nothing is due.
const IDLE: Duration = Duration::from_millis(100);

/// Run the sender until the task is aborted.
pub fn spawn(ctx: FedContext) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match run_once(&ctx).await {
                Ok(0) => tokio::time::sleep(IDLE).await,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "outbox sender round failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    })
}

/// Claim and send one batch; returns how many deliveries it handled.
pub async fn run_once(ctx: &FedContext) -> Result<usize, canopy_db::DbError> {
    let due = outbox::claim_due(&ctx.db, BATCH, LEASE).await?;
    let n = due.len();
    let mut set = JoinSet::new();
    for d in due {
        let ctx = ctx.clone();
        set.spawn(async move { deliver(&ctx, d).await });
    }
    while let Some(r) = set.join_next().await {
        if let Err(e) = r {
            tracing::error!(error = %e, "delivery task panicked");
        }
    }
    Ok(n)
}

enum Outcome {
    Done,
    Retry(String),
    Failed(String),
}

async fn deliver(ctx: &FedContext, d: DueDelivery) {
    let outcome = attempt(ctx, &d).await;
    let result = match &outcome {
        Outcome::Done => outbox::mark_done(&ctx.db, d.id).await,
        Outcome::Failed(e) => {
            tracing::info!(delivery = d.id, inbox = %d.inbox_url, error = %e, "delivery refused");
            outbox::mark_failed(&ctx.db, d.id, e).await
        }
        Outcome::Retry(e) => {
            let wait = backoff(d.attempts);
            tracing::debug!(delivery = d.id, inbox = %d.inbox_url, error = %e, wait_s = wait.as_secs(), "delivery will be retried");
            let next = Utc::now()
                + chrono::Duration::from_std(wait).unwrap_or_else(|_| chrono::Duration::hours(1));
            outbox::mark_retry(&ctx.db, d.id, e, next).await
        }
    };
    if let Err(e) = result {
        tracing::warn!(delivery = d.id, error = %e, "could not record delivery outcome");
    }
}

/// 2^attempts seconds, at most an hour.
fn backoff(attempts: i32) -> Duration {
    Duration::from_secs(1u64 << attempts.clamp(0, 12) as u32).min(Duration::from_secs(3600))
}

async fn attempt(ctx: &FedContext, d: &DueDelivery) -> Outcome {
    let Some(pem) = &d.private_key_pem else {
        return Outcome::Failed("the signing actor has no private key".into());
    };
    let key = match PrivateKey::from_pem(pem) {
        Ok(k) => k,
        Err(e) => return Outcome::Failed(format!("private key: {e}")),
    };
    let url = match url::Url::parse(&d.inbox_url) {
        Ok(u) => u,
        Err(e) => return Outcome::Failed(format!("inbox URL: {e}")),
    };
    let body = match serde_json::to_vec(&d.payload) {
        Ok(b) => b,
        Err(e) => return Outcome::Failed(format!("payload: {e}")),
    };
    let key_id = format!("{}#main-key", d.actor_ap_id);
    let headers = match signatures::sign_post(&key, &key_id, &url, &body, SystemTime::now()) {
        Ok(h) => h,
        Err(e) => return Outcome::Failed(format!("signing: {e}")),
    };
    let response = ctx
        .http
        .post(url)
        .headers(headers)
        .header("content-type", "application/activity+json")
        .body(body)
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    match response {
        Ok(r) if r.status().is_success() => Outcome::Done,
        Ok(r) => {
            let status = r.status();
            let text: String = r
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect();
            let msg = format!("{status}: {text}");
            if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
                Outcome::Retry(msg)
            } else {
                Outcome::Failed(msg)
            }
        }
        Err(e) => Outcome::Retry(e.to_string()),
    }
}
