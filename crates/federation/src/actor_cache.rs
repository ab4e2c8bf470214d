//! Remote actors recently seen by this process, so that a sender's activities in quick
//! succession do not each read its row (and key) from the database.
//!
//! Entries live for [`ActorCache::TTL`]. Every store of an actor in this process (a fetch, a
//! refresh after a failed signature, an `Update` of the actor) replaces its entry; a change made
//! by another process is seen once the entry expires, and a key rotated meanwhile is still caught
//! by the inbox's refetch when a signature fails. Only remote actors are cached.

use crate::fetch::Actor;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A small time-bounded map from actor id to actor.
#[derive(Debug, Default)]
pub struct ActorCache {
    entries: Mutex<HashMap<String, (Instant, Actor)>>,
}

impl ActorCache {
    /// How long an entry is used before the database is read again.
    pub const TTL: Duration = Duration::from_secs(60);
    /// Most entries kept; when full, expired entries go first, then everything.
    pub const CAPACITY: usize = 10_000;

    /// The cached actor `ap_id`, if it was stored less than [`Self::TTL`] ago.
    pub fn get(&self, ap_id: &str) -> Option<Actor> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(ap_id)
            .filter(|(at, _)| at.elapsed() < Self::TTL)
            .map(|(_, a)| a.clone())
    }

    /// Drop the entry of `ap_id`, so that its next use reads the database.
    pub fn forget(&self, ap_id: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(ap_id);
    }

    /// Remember `actor` (a remote one; local actors are not cached).
    pub fn put(&self, actor: &Actor) {
        let row = actor.row();
        if row.local {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= Self::CAPACITY && !entries.contains_key(&row.ap_id) {
            entries.retain(|_, (at, _)| at.elapsed() < Self::TTL);
            if entries.len() >= Self::CAPACITY {
                entries.clear();
            }
        }
        entries.insert(row.ap_id.clone(), (Instant::now(), actor.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_db::remote::ActorRow;

    fn person(ap_id: &str, local: bool, key: &str) -> Actor {
        Actor::Person(ActorRow {
            id: 1,
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
        assert_eq!(got.row().public_key_pem, "new");
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
        let len = cache.entries.lock().unwrap().len();
        assert!(len <= ActorCache::CAPACITY, "{len} entries");
        assert!(cache
            .get(&format!(
                "https://remote.example/u/{}",
                ActorCache::CAPACITY + 4
            ))
            .is_some());
    }
}
