//! Bounds on the fetching an outsider can make this node do (no amplification).
//!
//! - **Key refetches**: a signature that fails with a stored key may mean the actor rotated its
//!   key, so the actor is fetched again; an unknown actor is fetched to learn its key. When the
//!   fetched key does not verify either, the actor is not fetched again for its key for
//!   [`KEY_REFETCH_EVERY`]: a flood of requests with well-formed but false signatures costs one
//!   fetch per actor per interval, not one per request.
//! - **Circuit breaker**: after [`BREAKER_FAILURES`] fetches from one authority fail in a row
//!   (no answer, a timeout, a server error, a body that is not a document), fetches from it are
//!   refused without a connection for [`BREAKER_OPEN`], then one is let through to try again.
//!
//! Both live in this process's memory: several `serve` processes each keep their own, which
//! multiplies the bound by the number of processes and nothing more.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Least time between two key refetches of one actor.
pub const KEY_REFETCH_EVERY: Duration = Duration::from_secs(60);
/// Failed fetches in a row that open the breaker of an authority.
pub const BREAKER_FAILURES: u32 = 5;
/// How long an open breaker refuses fetches before letting one through.
pub const BREAKER_OPEN: Duration = Duration::from_secs(60);
/// Most actors and authorities remembered; past it, entries older than their interval go first,
/// then everything (the bounds start over, which only ever allows one more fetch).
const MAX_ENTRIES: usize = 50_000;
/// Most failed keys remembered (each up to the 16 KiB a remote key may have).
const MAX_FAILED_KEYS: usize = 10_000;

#[derive(Debug, Default)]
struct HostState {
    failures: u32,
    open_until: Option<Instant>,
}

/// The fetch bounds of one process (see the module documentation).
#[derive(Debug, Default)]
pub struct FetchGuard {
    /// Actors whose freshly fetched key failed, with when and that key.
    refetched: Mutex<HashMap<String, (Instant, String)>>,
    hosts: Mutex<HashMap<String, HostState>>,
}

/// Why a fetch was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "fetches from {authority} are paused for {wait_secs} s: its last {failures} fetches failed"
)]
pub struct BreakerOpen {
    pub authority: String,
    pub failures: u32,
    pub wait_secs: u64,
}

impl FetchGuard {
    /// The key (PEM) of `actor` that was freshly fetched and failed to verify a request less than
    /// [`KEY_REFETCH_EVERY`] ago: it is not fetched again meanwhile, and requests are checked
    /// against this copy.
    pub fn recently_failed_key(&self, actor: &str) -> Option<String> {
        let map = self.refetched.lock().unwrap_or_else(|p| p.into_inner());
        map.get(actor)
            .filter(|(at, _)| at.elapsed() < KEY_REFETCH_EVERY)
            .map(|(_, pem)| pem.clone())
    }

    /// Record that `pem`, freshly fetched as the key of `actor`, did not verify a request.
    pub fn key_failed(&self, actor: &str, pem: &str) {
        let mut map = self.refetched.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if map.len() >= MAX_FAILED_KEYS {
            map.retain(|_, (at, _)| now.duration_since(*at) < KEY_REFETCH_EVERY);
            if map.len() >= MAX_FAILED_KEYS {
                map.clear();
            }
        }
        map.insert(actor.to_owned(), (now, pem.to_owned()));
    }

    /// Refuse a fetch from `authority` while its breaker is open.
    pub fn before_fetch(&self, authority: &str) -> Result<(), BreakerOpen> {
        let hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        match hosts.get(authority) {
            Some(HostState {
                failures,
                open_until: Some(until),
            }) if Instant::now() < *until => Err(BreakerOpen {
                authority: authority.to_owned(),
                failures: *failures,
                wait_secs: until.saturating_duration_since(Instant::now()).as_secs() + 1,
            }),
            _ => Ok(()),
        }
    }

    /// Record how a fetch from `authority` went: `true` when the host answered usefully
    /// (including "not found"), `false` when it failed.
    pub fn after_fetch(&self, authority: &str, answered: bool) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        if answered {
            hosts.remove(authority);
            return;
        }
        if hosts.len() >= MAX_ENTRIES && !hosts.contains_key(authority) {
            hosts.clear();
        }
        let state = hosts.entry(authority.to_owned()).or_default();
        state.failures = state.failures.saturating_add(1);
        if state.failures >= BREAKER_FAILURES {
            state.open_until = Some(Instant::now() + BREAKER_OPEN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_key_is_not_fetched_again_within_the_interval() {
        let g = FetchGuard::default();
        assert!(g.recently_failed_key("https://a.example/u/x").is_none());
        g.key_failed("https://a.example/u/x", "pem");
        assert_eq!(
            g.recently_failed_key("https://a.example/u/x").as_deref(),
            Some("pem")
        );
        assert!(g.recently_failed_key("https://a.example/u/y").is_none());
    }

    #[test]
    fn the_breaker_opens_after_failures_in_a_row_and_an_answer_closes_it() {
        let g = FetchGuard::default();
        for _ in 0..BREAKER_FAILURES - 1 {
            g.after_fetch("a.example", false);
        }
        assert!(g.before_fetch("a.example").is_ok());
        g.after_fetch("a.example", true);
        for _ in 0..BREAKER_FAILURES {
            g.after_fetch("a.example", false);
        }
        let open = g.before_fetch("a.example").unwrap_err();
        assert_eq!(open.failures, BREAKER_FAILURES);
        assert!(g.before_fetch("b.example").is_ok());
        assert!(g.before_fetch("a.example:8443").is_ok());
    }
}
