//! One delivery: sign, POST, classify the answer, record the outcome and the instance's health.

use crate::WorkerConfig;
use canopy_db::delivery::{self, DueDelivery};
use canopy_federation::outbound;
use canopy_federation::signatures::{self, PrivateKey};
use canopy_federation::FedContext;
use chrono::Utc;
use rand::Rng;
use reqwest::StatusCode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Most parsed keys kept; past it the cache starts over (a node has few actors that send).
const MAX_KEYS: usize = 4096;

/// Attempts a delivery answered with 401 Unauthorized gets; a 401 on this attempt (or a later
/// one) fails it for good. A 401 usually means the receiver could not verify our signature with
/// the key it holds for the sender: one it cached before the key changed, or none because our
/// actor document could not be fetched just then. Both can heal, so a 401 is retried a few times
/// before it counts as a refusal.
const UNAUTHORIZED_ATTEMPTS: i32 = 4;

/// Doublings added to the backoff of a retry after a 401: the receiver's cached key has to
/// expire or be refetched, which takes longer than a brief outage (32 s, then about 1 and 2
/// minutes with the default `retry_base` of 1 s).
const UNAUTHORIZED_EXTRA_DOUBLINGS: i32 = 5;

/// Signing keys parsed once per actor. Parsing a PEM RSA key (with aws-lc-rs's key checks) costs
/// more than signing with it — about 0.9 ms against 0.5 ms on the benchmark machine — and a
/// fan-out signs with one key for every follower instance.
#[derive(Default)]
pub(crate) struct Keys {
    by_actor: Mutex<HashMap<String, Arc<ParsedKey>>>,
}

struct ParsedKey {
    /// The PEM it was parsed from: a changed key in the database is parsed again.
    pem: String,
    key: PrivateKey,
}

impl Keys {
    fn get(&self, actor: &str, pem: &str) -> Result<Arc<ParsedKey>, signatures::SignatureError> {
        let lock = || self.by_actor.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(parsed) = lock().get(actor).filter(|k| k.pem == pem) {
            return Ok(parsed.clone());
        }
        let parsed = Arc::new(ParsedKey {
            pem: pem.to_owned(),
            key: PrivateKey::from_pem(pem)?,
        });
        let mut keys = lock();
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.insert(actor.to_owned(), parsed.clone());
        Ok(parsed)
    }
}

#[derive(Debug)]
enum Outcome {
    Done,
    /// Retry later; the receiver may have said when (`Retry-After`).
    Retry(String, Option<Duration>),
    /// The receiver answered but refused our signature (401): retry after a longer wait, while
    /// the instance counts as reachable.
    Unauthorized(String),
    /// A permanent refusal (other 4xx, or nothing we could send).
    Failed(String),
    /// 410 Gone: the inbox no longer exists.
    Gone(String),
    /// The instance policy refuses the receiver's instance (blocked, or not on the allow-list):
    /// the delivery fails for good without an attempt, and the instance's health is untouched.
    Dropped(String),
}

/// Send `d` and record what happened.
pub(crate) async fn deliver(ctx: &FedContext, config: &WorkerConfig, keys: &Keys, d: DueDelivery) {
    let outcome = attempt(ctx, keys, &d).await;
    let name = match &outcome {
        Outcome::Done => "done",
        Outcome::Retry(..) => "retry",
        Outcome::Unauthorized(_) => "unauthorized",
        Outcome::Failed(_) => "failed",
        Outcome::Gone(_) => "gone",
        Outcome::Dropped(_) => "dropped",
    };
    metrics::counter!("canopy_deliveries_total", "outcome" => name).increment(1);
    if let Err(e) = record(ctx, config, &d, outcome).await {
        tracing::warn!(delivery = d.id, error = %e, "could not record delivery outcome; the lease will expire and it is sent again");
    }
}

async fn record(
    ctx: &FedContext,
    config: &WorkerConfig,
    d: &DueDelivery,
    outcome: Outcome,
) -> Result<(), canopy_db::DbError> {
    let pool = &ctx.db;
    match outcome {
        Outcome::Done => {
            delivery::mark_done(pool, d.id, &d.authority).await?;
            tracing::debug!(delivery = d.id, inbox = %d.inbox_url, attempts = d.attempts, "delivered");
        }
        Outcome::Failed(error) => {
            tracing::info!(delivery = d.id, inbox = %d.inbox_url, error = %error, "delivery refused");
            delivery::mark_failed(pool, d.id, &error).await?;
            delivery::instance_answered(pool, &d.authority).await?;
        }
        Outcome::Dropped(error) => {
            tracing::info!(delivery = d.id, inbox = %d.inbox_url, error = %error, "delivery dropped");
            delivery::give_up(pool, d.id, &error).await?;
        }
        Outcome::Gone(error) => {
            let removed = delivery::remove_followers_at(pool, &d.inbox_url).await?;
            tracing::info!(delivery = d.id, inbox = %d.inbox_url, removed, "inbox gone; its followers are removed");
            delivery::mark_failed(pool, d.id, &error).await?;
            delivery::instance_answered(pool, &d.authority).await?;
        }
        Outcome::Unauthorized(error) => {
            let wait = backoff(
                config,
                d.attempts.saturating_add(UNAUTHORIZED_EXTRA_DOUBLINGS),
                rand::thread_rng().gen(),
            );
            let next = Utc::now()
                + chrono::Duration::from_std(wait).unwrap_or_else(|_| chrono::Duration::hours(1));
            delivery::mark_refused(pool, d.id, &error, next).await?;
            delivery::instance_answered(pool, &d.authority).await?;
            tracing::info!(delivery = d.id, inbox = %d.inbox_url, error = %error, attempts = d.attempts,
                wait_ms = wait.as_millis() as u64, "signature refused; the delivery will be retried");
        }
        Outcome::Retry(error, retry_after) => {
            // Retried, or given up when queued too long; either way the attempt failed like any
            // other and counts for the instance's health.
            let retry_in = if queued_too_long(config, d, Utc::now()) {
                let reason = format!(
                    "{}; last error: {error}",
                    crate::give_up_reason(config.give_up_after)
                );
                delivery::give_up(pool, d.id, &reason).await?;
                None
            } else {
                let wait = retry_after
                    .map(|w| w.min(config.retry_max))
                    .unwrap_or_else(|| backoff(config, d.attempts, rand::thread_rng().gen()));
                let next = Utc::now()
                    + chrono::Duration::from_std(wait)
                        .unwrap_or_else(|_| chrono::Duration::hours(1));
                delivery::mark_retry(pool, d.id, &error, next).await?;
                Some(wait)
            };
            let unreachable = delivery::instance_failed(
                pool,
                &d.authority,
                &error,
                config.unreachable_after,
                config.probe_every,
            )
            .await?;
            match retry_in {
                Some(wait) => {
                    tracing::debug!(delivery = d.id, inbox = %d.inbox_url, error = %error,
                        attempts = d.attempts, wait_ms = wait.as_millis() as u64, unreachable,
                        "delivery will be retried");
                }
                None => {
                    tracing::info!(delivery = d.id, inbox = %d.inbox_url, error = %error,
                        attempts = d.attempts, queued_at = %d.queued_at, unreachable,
                        "delivery given up: it kept failing for too long");
                }
            }
        }
    }
    Ok(())
}

/// Whether `d`, whose attempt just failed, was queued longer than
/// [`WorkerConfig::give_up_after`] before `now`: then it is not retried again.
fn queued_too_long(config: &WorkerConfig, d: &DueDelivery, now: chrono::DateTime<Utc>) -> bool {
    chrono::Duration::from_std(config.give_up_after)
        .is_ok_and(|limit| now.signed_duration_since(d.queued_at) > limit)
}

/// `retry_base * 2^(attempts-1)` with ±20% jitter (`jitter` in `[0, 1)`), at most `retry_max`.
fn backoff(config: &WorkerConfig, attempts: i32, jitter: f64) -> Duration {
    let doublings = attempts.saturating_sub(1).clamp(0, 30);
    let plain = config.retry_base.as_secs_f64() * f64::from(1u32 << doublings);
    let jittered = plain * (0.8 + 0.4 * jitter);
    Duration::try_from_secs_f64(jittered)
        .unwrap_or(config.retry_max)
        .min(config.retry_max)
}

/// `Retry-After` as seconds or an HTTP date, as a wait from `now`.
fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

async fn attempt(ctx: &FedContext, keys: &Keys, d: &DueDelivery) -> Outcome {
    let Some(pem) = &d.private_key_pem else {
        return Outcome::Failed("the signing actor has no private key".into());
    };
    let key = match keys.get(&d.actor_ap_id, pem) {
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
    let headers = match signatures::sign_post(&key.key, &key_id, &url, &body, SystemTime::now()) {
        Ok(h) => h,
        Err(e) => return Outcome::Failed(format!("signing: {e}")),
    };
    let response = match ctx.http.deliver(url, headers, body).await {
        Ok(r) => r,
        Err(e) if e.governed().is_some() => return Outcome::Dropped(e.to_string()),
        // The outbound policy refuses the inbox: no retry will change that.
        Err(e) if e.is_refused() => return Outcome::Failed(e.to_string()),
        Err(e) => return Outcome::Retry(e.to_string(), None),
    };
    let status = response.status();
    if status.is_success() {
        return Outcome::Done;
    }
    let wait = matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    )
    .then(|| response.headers().get(reqwest::header::RETRY_AFTER))
    .flatten()
    .and_then(|v| v.to_str().ok())
    .and_then(|v| retry_after(v, SystemTime::now()));
    let text: String = outbound::error_text(response)
        .await
        .chars()
        .take(300)
        .collect();
    let message = format!("{status}: {text}");
    classify(status, d.attempts, message, wait)
}

/// What a non-success `status` on the delivery's `attempts`-th attempt means.
fn classify(status: StatusCode, attempts: i32, message: String, wait: Option<Duration>) -> Outcome {
    if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        Outcome::Retry(message, wait)
    } else if status == StatusCode::UNAUTHORIZED && attempts < UNAUTHORIZED_ATTEMPTS {
        Outcome::Unauthorized(message)
    } else if status == StatusCode::GONE {
        Outcome::Gone(message)
    } else {
        Outcome::Failed(message)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let config = WorkerConfig {
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(10),
            ..WorkerConfig::default()
        };
        assert_eq!(backoff(&config, 1, 0.5), Duration::from_secs(1));
        assert_eq!(backoff(&config, 3, 0.5), Duration::from_secs(4));
        assert_eq!(backoff(&config, 1, 0.0), Duration::from_millis(800));
        assert!(backoff(&config, 1, 0.999) < Duration::from_millis(1200));
        assert_eq!(backoff(&config, 20, 0.5), Duration::from_secs(10));
        assert_eq!(backoff(&config, 1000, 0.5), Duration::from_secs(10));
    }

    #[test]
    fn a_401_is_retried_until_the_fourth_attempt_and_then_fails() {
        let unauthorized = |attempts| {
            classify(
                StatusCode::UNAUTHORIZED,
                attempts,
                "401 Unauthorized: Failed to verify the request signature.".into(),
                None,
            )
        };
        for attempts in 1..UNAUTHORIZED_ATTEMPTS {
            assert!(
                matches!(unauthorized(attempts), Outcome::Unauthorized(_)),
                "attempt {attempts}"
            );
        }
        assert!(matches!(
            unauthorized(UNAUTHORIZED_ATTEMPTS),
            Outcome::Failed(_)
        ));
        assert!(matches!(unauthorized(50), Outcome::Failed(_)));
        // Other refusals stay permanent at once; server errors stay retried.
        for status in [StatusCode::FORBIDDEN, StatusCode::BAD_REQUEST] {
            assert!(matches!(
                classify(status, 1, String::new(), None),
                Outcome::Failed(_)
            ));
        }
        assert!(matches!(
            classify(StatusCode::GONE, 1, String::new(), None),
            Outcome::Gone(_)
        ));
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, 50, String::new(), None),
            Outcome::Retry(..)
        ));
    }

    #[test]
    fn a_failed_attempt_gives_up_only_past_the_give_up_age() {
        let config = WorkerConfig::default();
        let now = Utc::now();
        let queued = |ago: chrono::Duration| DueDelivery {
            id: 1,
            inbox_url: "https://remote.example/inbox".into(),
            authority: "remote.example".into(),
            attempts: 3,
            queued_at: now - ago,
            payload: serde_json::Value::Null,
            actor_ap_id: "https://local.example/u/a".into(),
            private_key_pem: None,
        };
        let week = chrono::Duration::days(7);
        assert!(!queued_too_long(
            &config,
            &queued(chrono::Duration::days(6)),
            now
        ));
        assert!(!queued_too_long(&config, &queued(week), now));
        assert!(queued_too_long(
            &config,
            &queued(week + chrono::Duration::seconds(1)),
            now
        ));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(retry_after(&later, now), Some(Duration::from_secs(30)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", now), None);
    }
}
