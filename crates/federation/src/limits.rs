//! The inbox's rate limit per remote instance.
//!
//! An activity counts against the instance (authority: host and port) of its actor, once its
//! signature has been verified: an unverified sender could otherwise spend another
//! instance's allowance. A refusal is `429 Too Many Requests` with `Retry-After`, which
//! Mastodon, Lemmy and Canopy's own worker treat as "try again later", so nothing is lost.

use crate::error::FedError;
use canopy_core::authority;
use canopy_core::rate_limit::{KeyedLimiter, Limit};
use url::Url;

/// Counts incoming activities per sending instance.
#[derive(Debug)]
pub struct InboxLimiter {
    per_instance: KeyedLimiter<String>,
}

impl InboxLimiter {
    /// A limiter allowing `limit` activities per remote instance.
    pub fn new(limit: Limit) -> Self {
        Self {
            per_instance: KeyedLimiter::new(limit),
        }
    }

    /// Count one verified activity of `actor`, or refuse it when the actor's instance has sent
    /// more than its limit.
    pub fn admit(&self, actor: &Url) -> Result<(), FedError> {
        let instance = authority(actor);
        self.per_instance.check(&instance).map_err(|refused| {
            tracing::debug!(%instance, retry_after_ms = refused.retry_after.as_millis() as u64,
                    "inbox rate limit reached");
            metrics::counter!("canopy_rate_limit_refusals_total", "limit" => "inbox").increment(1);
            FedError::RateLimited {
                instance,
                retry_after: refused.retry_after_secs(),
            }
        })
    }
}
