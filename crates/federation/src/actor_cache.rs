//! Remote actors recently seen by this process, so that a sender's activities in quick
//! succession do not each read its row (and key) from the database.
//!
//! Entries live for [`ActorCache::TTL`]. Every store of an actor in this process (a fetch, a
//! refresh after a failed signature, an `Update` of the actor) replaces its entry; a change made
//! by another process is seen once the entry expires, and a key rotated meanwhile is still caught
//! by the inbox's refetch when a signature fails. Only remote actors are cached.
//!
//! Beside the actors, the cache keeps their public keys parsed (by PEM text, so a rotated key
//! is simply another entry): checking a signature then costs the RSA operation only.

use crate::fetch::Actor;
use crate::signatures::{PublicKey, SignatureError};
use canopy_db::actors::ActorRow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A small time-bounded map from actor id to actor, bounded by entry count and by the
/// approximate bytes its entries hold (see [`approx_bytes`]).
#[derive(Debug)]
pub struct ActorCache {
    entries: Mutex<Entries>,
    keys: Mutex<Keys>,
    capacity: usize,
    max_bytes: usize,
}

/// Parsed public keys by their PEM text, bounded like the entries (count and PEM bytes).
#[derive(Default)]
struct Keys {
    by_pem: HashMap<String, Arc<PublicKey>>,
    bytes: usize,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Keys({} parsed, {} bytes)",
            self.by_pem.len(),
            self.bytes
        )
    }
}

#[derive(Debug, Default)]
struct Entries {
    by_id: HashMap<String, Entry>,
    /// Sum of the entries' [`approx_bytes`].
    bytes: usize,
}

#[derive(Debug)]
struct Entry {
    stored_at: Instant,
    bytes: usize,
    actor: Actor,
}

impl Default for ActorCache {
    fn default() -> Self {
        Self::with_limits(Self::CAPACITY, Self::MAX_BYTES)
    }
}

impl ActorCache {
    /// How long an entry is used before the database is read again.
    pub const TTL: Duration = Duration::from_secs(60);
    /// Most entries kept.
    pub const CAPACITY: usize = 10_000;
    /// Most bytes the entries hold together, approximately. An ordinary actor takes 1 to 2 KiB
    /// (most of it the key), so this only binds when actors are unusually large.
    pub const MAX_BYTES: usize = 32 * 1024 * 1024;

    /// A cache of at most `capacity` entries and about `max_bytes` bytes. When a new entry does
    /// not fit, expired entries go first, then everything; an entry larger than `max_bytes`
    /// on its own is not cached.
    pub fn with_limits(capacity: usize, max_bytes: usize) -> Self {
        Self {
            entries: Mutex::default(),
            keys: Mutex::default(),
            capacity,
            max_bytes,
        }
    }

    /// The cached actor `ap_id`, if it was stored less than [`Self::TTL`] ago.
    pub fn get(&self, ap_id: &str) -> Option<Actor> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .by_id
            .get(ap_id)
            .filter(|e| e.stored_at.elapsed() < Self::TTL)
            .map(|e| e.actor.clone())
    }

    /// Drop the entry of `ap_id`, so that its next use reads the database.
    pub fn forget(&self, ap_id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(ap_id);
    }

    /// Remember `actor` (a remote one; local actors are not cached).
    pub fn put(&self, actor: &Actor) {
        if actor.local() {
            return;
        }
        let bytes = approx_bytes(actor);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(actor.ap_id());
        if bytes > self.max_bytes {
            return;
        }
        let fits = |e: &Entries| e.by_id.len() < self.capacity && e.bytes + bytes <= self.max_bytes;
        if !fits(&entries) {
            entries.retain_fresh();
            if !fits(&entries) {
                *entries = Entries::default();
            }
        }
        entries.bytes += bytes;
        entries.by_id.insert(
            actor.ap_id().to_string(),
            Entry {
                stored_at: Instant::now(),
                bytes,
                actor: actor.clone(),
            },
        );
    }

    /// The key `pem` parsed, from the cache or parsed now (and then kept). A PEM that does not
    /// parse is not kept.
    pub fn parsed_key(&self, pem: &str) -> Result<Arc<PublicKey>, SignatureError> {
        if let Some(key) = self.lock_keys().by_pem.get(pem) {
            return Ok(key.clone());
        }
        let key = Arc::new(PublicKey::from_pem(pem)?);
        let bytes = pem.len() + KEY_OVERHEAD;
        let mut keys = self.lock_keys();
        if bytes <= self.max_bytes {
            if keys.by_pem.len() >= self.capacity || keys.bytes + bytes > self.max_bytes {
                // Keys of actors still sending are parsed again on their next activity.
                *keys = Keys::default();
            }
            if keys.by_pem.insert(pem.to_owned(), key.clone()).is_none() {
                keys.bytes += bytes;
            }
        }
        Ok(key)
    }

    fn lock_keys(&self) -> std::sync::MutexGuard<'_, Keys> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Parsed keys and the approximate bytes they hold now.
    pub fn key_usage(&self) -> (usize, usize) {
        let keys = self.lock_keys();
        (keys.by_pem.len(), keys.bytes)
    }

    /// Entries and approximate bytes held now.
    pub fn usage(&self) -> (usize, usize) {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        (entries.by_id.len(), entries.bytes)
    }
}

impl Entries {
    fn remove(&mut self, ap_id: &str) {
        if let Some(old) = self.by_id.remove(ap_id) {
            self.bytes -= old.bytes;
        }
    }

    fn retain_fresh(&mut self) {
        self.by_id
            .retain(|_, e| e.stored_at.elapsed() < ActorCache::TTL);
        self.bytes = self.by_id.values().map(|e| e.bytes).sum();
    }
}

/// Bytes counted for a parsed key besides its PEM text: the parsed key (about the size of the
/// DER it came from) and the map's overhead, generously.
const KEY_OVERHEAD: usize = 1024;

/// About how many bytes `actor` takes in the cache: its strings (key, names, URLs) plus a
/// fixed amount for the entry and the map.
pub fn approx_bytes(actor: &Actor) -> usize {
    /// The row's fixed part, the entry and the map's overhead, generously.
    const OVERHEAD: usize = 256;
    OVERHEAD
        + match actor {
            Actor::Person(row) => string_bytes(row),
            Actor::Community(row) => string_bytes(row),
        }
}

/// The bytes of a row's strings.
fn string_bytes<Id>(row: &ActorRow<Id>) -> usize {
    // The id twice: once in the row, once as the key.
    let strings = [
        row.ap_id.len() * 2,
        row.name.len(),
        row.inbox_url.len(),
        row.shared_inbox_url.as_ref().map_or(0, String::len),
        row.public_key_pem.len(),
        row.private_key_pem.as_ref().map_or(0, String::len),
        row.authority.len(),
    ];
    strings.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_core::PersonId;

    fn person(ap_id: &str, local: bool, key: &str) -> Actor {
        Actor::Person(ActorRow {
            id: PersonId(1),
            ap_id: ap_id.into(),
            name: "a".into(),
            local,
            inbox_url: format!("{ap_id}/inbox"),
            shared_inbox_url: None,
            public_key_pem: key.into(),
            private_key_pem: None,
            authority: "remote.example".into(),
            last_refreshed_at: chrono::Utc::now(),
            deleted: false,
        })
    }

    #[test]
    fn a_stored_actor_replaces_the_cached_one() {
        let cache = ActorCache::default();
        cache.put(&person("https://remote.example/u/a", false, "old"));
        cache.put(&person("https://remote.example/u/a", false, "new"));
        let got = cache.get("https://remote.example/u/a").unwrap();
        assert_eq!(got.public_key_pem(), "new");
        assert!(cache.get("https://remote.example/u/b").is_none());
        cache.forget("https://remote.example/u/a");
        assert!(cache.get("https://remote.example/u/a").is_none());
    }

    #[test]
    fn local_actors_are_not_cached() {
        let cache = ActorCache::default();
        cache.put(&person("https://here.example/u/me", true, "k"));
        assert!(cache.get("https://here.example/u/me").is_none());
    }

    #[test]
    fn a_full_cache_makes_room() {
        let cache = ActorCache::default();
        for i in 0..ActorCache::CAPACITY + 5 {
            cache.put(&person(
                &format!("https://remote.example/u/{i}"),
                false,
                "k",
            ));
        }
        let (len, _) = cache.usage();
        assert!(len <= ActorCache::CAPACITY, "{len} entries");
        assert!(cache
            .get(&format!(
                "https://remote.example/u/{}",
                ActorCache::CAPACITY + 4
            ))
            .is_some());
    }

    #[test]
    fn the_cache_is_bounded_by_bytes_not_only_by_count() {
        // Room for many entries by count, but only about four of 16 KiB keys by bytes.
        let cache = ActorCache::with_limits(1000, 70 * 1024);
        let big_key = "k".repeat(16 * 1024);
        let mut bytes_seen = 0;
        for i in 0..50 {
            let actor = person(&format!("https://remote.example/u/{i}"), false, &big_key);
            bytes_seen += approx_bytes(&actor);
            cache.put(&actor);
            let (len, bytes) = cache.usage();
            assert!(bytes <= 70 * 1024, "{bytes} bytes in {len} entries");
            assert!(len <= 4, "{len} entries");
        }
        assert!(bytes_seen > 50 * 16 * 1024);
        // The newest entry is always kept.
        assert!(cache.get("https://remote.example/u/49").is_some());

        // Replacing an entry counts its bytes once.
        let cache = ActorCache::with_limits(1000, 70 * 1024);
        for _ in 0..10 {
            cache.put(&person("https://remote.example/u/a", false, &big_key));
        }
        let (len, bytes) = cache.usage();
        assert_eq!(len, 1);
        assert_eq!(
            bytes,
            approx_bytes(&person("https://remote.example/u/a", false, &big_key))
        );
        cache.forget("https://remote.example/u/a");
        assert_eq!(cache.usage(), (0, 0));

        // An actor larger than the whole budget is not cached (and evicts nothing).
        cache.put(&person("https://remote.example/u/b", false, "k"));
        let huge = "k".repeat(80 * 1024);
        cache.put(&person("https://remote.example/u/huge", false, &huge));
        assert!(cache.get("https://remote.example/u/huge").is_none());
        assert!(cache.get("https://remote.example/u/b").is_some());
    }

    #[test]
    fn keys_are_parsed_once_and_bounded() {
        let new_pem = || crate::keys::generate_actor_keys().unwrap().public_key_pem;
        let pem = new_pem();
        let cache = ActorCache::with_limits(2, 64 * 1024);
        let first = cache.parsed_key(&pem).unwrap();
        let again = cache.parsed_key(&pem).unwrap();
        assert!(Arc::ptr_eq(&first, &again), "the second use parses nothing");
        assert_eq!(cache.key_usage(), (1, pem.len() + KEY_OVERHEAD));
        // Not a key: an error, and nothing kept.
        assert!(cache.parsed_key("not a key").is_err());
        assert_eq!(cache.key_usage().0, 1);
        // Past the count bound, the map starts over.
        cache.parsed_key(&new_pem()).unwrap();
        cache.parsed_key(&new_pem()).unwrap();
        assert!(cache.key_usage().0 <= 2);
        // A cache too small for any key still answers.
        let tiny = ActorCache::with_limits(10, 100);
        tiny.parsed_key(&pem).unwrap();
        assert_eq!(tiny.key_usage(), (0, 0));
    }

    #[test]
    fn the_size_estimate_grows_with_every_field() {
        let small = person("https://remote.example/u/a", false, "k");
        let base = approx_bytes(&small);
        let Actor::Person(small) = small else {
            unreachable!("person() makes a person")
        };
        let mut longer = small.clone();
        longer.public_key_pem = "k".repeat(1001);
        assert_eq!(approx_bytes(&Actor::Person(longer)), base + 1000);
        let mut longer = small.clone();
        longer.shared_inbox_url = Some("x".repeat(300));
        assert_eq!(approx_bytes(&Actor::Person(longer)), base + 300);
        let mut longer = small.clone();
        longer.name = "n".repeat(101);
        assert_eq!(approx_bytes(&Actor::Person(longer)), base + 100);
    }
}
