//! Rate limits: the setting (`count/period`, or `off`) and a limiter keyed by whatever is
//! limited (a client address, an account, a remote instance).
//!
//! Counting is governor's GCRA: a limit of `count/period` lets `count` events through at once
//! and gives one back every `period / count`, so it holds `count` per `period` on average and
//! never lets a burst larger than `count` through. The state of each key lives in a small
//! store of ours (a [`DashMap`] of theoretical arrival times), which adds the one thing
//! governor's own stores lack: giving an event back ([`KeyedLimiter::refund`]), so that a log-in
//! can be counted before its password is checked and forgiven when it succeeds.

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::nanos::Nanos;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::state::StateStore;
use governor::{Quota, RateLimiter};
use std::fmt;
use std::hash::Hash;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How many events a key may cause: `count` per `period`, or no limit at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Nothing is counted.
    Off,
    /// A burst of up to `count`, then one more every `period / count`.
    Rate { count: NonZeroU32, period: Duration },
}

impl Limit {
    /// `count` per `period`; a count of zero or an empty period means [`Limit::Off`].
    pub fn per(count: u32, period: Duration) -> Self {
        match NonZeroU32::new(count) {
            Some(count) if !period.is_zero() => Limit::Rate { count, period },
            _ => Limit::Off,
        }
    }

    fn quota(self) -> Option<Quota> {
        let Limit::Rate { count, period } = self else {
            return None;
        };
        let interval = (period / count.get()).max(Duration::from_nanos(1));
        Quota::with_period(interval).map(|q| q.allow_burst(count))
    }
}

/// Why a [`Limit`] setting does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a rate limit: write a count and a period such as \"10/1m\" or \"2000/10s\", or \"off\"")]
pub struct BadLimit(pub String);

impl FromStr for Limit {
    type Err = BadLimit;

    fn from_str(text: &str) -> Result<Self, BadLimit> {
        let bad = || BadLimit(text.to_string());
        if text.trim().eq_ignore_ascii_case("off") {
            return Ok(Limit::Off);
        }
        let (count, period) = text.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let period = humantime::parse_duration(period.trim()).map_err(|_| bad())?;
        match Limit::per(count, period) {
            Limit::Off => Err(bad()),
            limit => Ok(limit),
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Off => f.write_str("off"),
            Limit::Rate { count, period } => {
                write!(f, "{count}/{}", humantime::format_duration(*period))
            }
        }
    }
}

impl serde::Serialize for Limit {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Limit {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A refusal: the key has used up its limit for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// How long until the key may cause one more event.
    pub retry_after: Duration,
}

impl Refused {
    /// [`Refused::retry_after`] in whole seconds, rounded up and at least 1, as the
    /// `Retry-After` header carries it.
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs();
        let secs = if self.retry_after.subsec_nanos() > 0 {
            secs + 1
        } else {
            secs
        };
        secs.max(1)
    }
}

/// Keys that have not been seen for a while are dropped after this many new keys (or after
/// as many new keys as were kept by the last sweep, whichever is more), so the memory a
/// limiter holds follows the number of keys that are active, not of all keys ever seen.
const SWEEP_AFTER_NEW_KEYS: usize = 4096;

/// A limiter with one [`Limit`] and a separate count per key.
pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    inner: Option<Inner<K>>,
}

struct Inner<K: Hash + Eq + Clone> {
    limiter: RateLimiter<K, Store<K>, DefaultClock>,
    store: Store<K>,
    /// The time one event is worth in the store (`period / count`).
    cell: u64,
    /// Keys kept by the last sweep.
    kept: AtomicUsize,
}

impl<K: Hash + Eq + Clone> fmt::Debug for KeyedLimiter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.inner.as_ref().map(|i| i.store.map.len());
        f.debug_struct("KeyedLimiter").field("keys", &keys).finish()
    }
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// A limiter enforcing `limit` for each key ([`Limit::Off`] lets everything through).
    pub fn new(limit: Limit) -> Self {
        let inner = limit.quota().map(|quota| {
            let store = Store::default();
            Inner {
                limiter: RateLimiter::new(quota, store.clone(), DefaultClock::default()),
                store,
                cell: Nanos::from(quota.replenish_interval()).as_u64(),
                kept: AtomicUsize::new(0),
            }
        });
        Self { inner }
    }

    /// Count one event for `key`, or refuse it (counting nothing) when the key is over its
    /// limit.
    pub fn check(&self, key: &K) -> Result<(), Refused> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let result = inner.limiter.check_key(key).map_err(|not_until| Refused {
            retry_after: not_until.wait_time_from(inner.limiter.clock().now()),
        });
        inner.sweep_if_due();
        result
    }

    /// Give back one event counted for `key` by [`KeyedLimiter::check`].
    pub fn refund(&self, key: &K) {
        if let Some(inner) = &self.inner {
            if let Some(mut tat) = inner.store.map.get_mut(key) {
                *tat = tat.saturating_sub(inner.cell);
            }
        }
    }

    /// Keys currently held in memory.
    pub fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, |i| i.store.map.len())
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Hash + Eq + Clone> Inner<K> {
    fn sweep_if_due(&self) {
        let due = SWEEP_AFTER_NEW_KEYS.max(self.kept.load(Ordering::Relaxed));
        if self.store.inserted.load(Ordering::Relaxed) < due {
            return;
        }
        self.store.inserted.store(0, Ordering::Relaxed);
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        self.kept.store(self.store.map.len(), Ordering::Relaxed);
    }
}

/// governor's state per key: the theoretical arrival time of the next event, in nanoseconds
/// since the limiter started. Shared by the limiter and by [`KeyedLimiter::refund`].
struct Store<K: Hash + Eq> {
    map: Arc<DashMap<K, u64>>,
    /// Keys added since the last sweep.
    inserted: Arc<AtomicUsize>,
}

impl<K: Hash + Eq> Clone for Store<K> {
    fn clone(&self) -> Self {
        Self {
            map: self.map.clone(),
            inserted: self.inserted.clone(),
        }
    }
}

impl<K: Hash + Eq> Default for Store<K> {
    fn default() -> Self {
        Self {
            map: Arc::default(),
            inserted: Arc::default(),
        }
    }
}

impl<K: Hash + Eq + Clone> StateStore for Store<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        // The shard's lock is held from reading to writing, so two checks of one key never
        // both use the same room. A new key starts at 0, which governor reads as "no events
        // yet", as it does a missing key.
        let mut tat = match self.map.get_mut(key) {
            Some(tat) => tat,
            None => {
                self.inserted.fetch_add(1, Ordering::Relaxed);
                self.map.entry(key.clone()).or_insert(0)
            }
        };
        let (outcome, next) = f(Some(Nanos::new(*tat)))?;
        *tat = next.as_u64();
        Ok(outcome)
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for Store<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        let below = drop_below.as_u64();
        self.map.retain(|_, tat| *tat > below);
    }

    fn shrink_to_fit(&self) {
        self.map.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_print_back() {
        for (text, printed) in [
            ("10/1m", "10/1m"),
            (" 2000 / 10s ", "2000/10s"),
            ("10/60s", "10/1m"),
            ("3/1h 30m", "3/1h 30m"),
            ("off", "off"),
            ("OFF", "off"),
        ] {
            let limit: Limit = text.parse().unwrap();
            assert_eq!(limit.to_string(), printed, "{text}");
            assert_eq!(printed.parse::<Limit>().unwrap(), limit, "{text}");
        }
        for bad in [
            "", "10", "0/1m", "10/0s", "-1/1m", "10/soon", "ten/1m", "10/1m/2",
        ] {
            assert!(bad.parse::<Limit>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn a_burst_of_count_passes_and_the_next_is_refused_with_a_wait() {
        let limiter = KeyedLimiter::new(Limit::per(3, Duration::from_secs(60)));
        for _ in 0..3 {
            limiter.check(&"a").unwrap();
        }
        let refused = limiter.check(&"a").unwrap_err();
        // One event comes back every 20 s.
        assert!(
            refused.retry_after > Duration::from_secs(19)
                && refused.retry_after <= Duration::from_secs(20),
            "{refused:?}"
        );
        assert_eq!(refused.retry_after_secs(), 20);
        // Other keys are counted apart.
        limiter.check(&"b").unwrap();
    }

    #[test]
    fn a_refund_gives_one_event_back_and_no_more() {
        let limiter = KeyedLimiter::new(Limit::per(2, Duration::from_secs(3600)));
        limiter.check(&1).unwrap();
        limiter.check(&1).unwrap();
        limiter.refund(&1);
        limiter.check(&1).unwrap();
        assert!(limiter.check(&1).is_err());
        // Refunding a key that has room, or that was never seen, gives nothing extra.
        let fresh = KeyedLimiter::new(Limit::per(2, Duration::from_secs(3600)));
        fresh.refund(&7);
        fresh.check(&7).unwrap();
        fresh.refund(&7);
        fresh.refund(&7);
        fresh.check(&7).unwrap();
        fresh.check(&7).unwrap();
        assert!(fresh.check(&7).is_err());
    }

    #[test]
    fn off_counts_nothing() {
        let limiter = KeyedLimiter::new(Limit::Off);
        for _ in 0..10_000 {
            limiter.check(&"x").unwrap();
        }
        assert!(limiter.is_empty());
    }

    #[test]
    fn idle_keys_are_swept_so_memory_follows_the_active_keys() {
        // One event per key, refilled after 1 ns: every key is idle again at once.
        let limiter = KeyedLimiter::new(Limit::per(1, Duration::from_nanos(1)));
        for key in 0..(3 * SWEEP_AFTER_NEW_KEYS) {
            limiter.check(&key).unwrap();
        }
        assert!(limiter.len() <= SWEEP_AFTER_NEW_KEYS, "{}", limiter.len());
        // Keys that are still limited are kept.
        let busy = KeyedLimiter::new(Limit::per(1, Duration::from_secs(3600)));
        for key in 0..(SWEEP_AFTER_NEW_KEYS + 1) {
            busy.check(&key).unwrap();
        }
        assert_eq!(busy.len(), SWEEP_AFTER_NEW_KEYS + 1);
        assert!(busy.check(&0).is_err());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let r = |ms| Refused {
            retry_after: Duration::from_millis(ms),
        };
        assert_eq!(r(0).retry_after_secs(), 1);
        assert_eq!(r(1).retry_after_secs(), 1);
        assert_eq!(r(1000).retry_after_secs(), 1);
        assert_eq!(r(1001).retry_after_secs(), 2);
    }
}
