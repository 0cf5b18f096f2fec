//! In-memory views of the store for the hot paths, so a token request, an
//! introspection or an admin call does not wait on a database round trip or
//! pay argon2 each time:
//!
//! - applications (`clients`), kept `CLIENT_TTL` seconds: a change made on
//!   another instance (a removed application) takes effect within it; a
//!   rotated secret, once the revocation feed carries it (see `clients`);
//! - revocations (`revocations`: access tokens by `jti`, families by id),
//!   refreshed from the store's revocation feed at most `REVOCATION_POLL`
//!   seconds apart. A revocation made on this instance applies at once; one
//!   made on another instance within that poll;
//! - what admin authentication verified lately (`authn`);
//! - the Vault-compatible API's LIST answers (`vault_lists`), by the
//!   generation of the methods they were built from.
//!
//! None holds state that matters: each rebuilds from the store. Each is
//! bounded, so a flood of new keys costs work, never memory.

mod authn;
mod clients;
mod revocations;
mod vault_lists;

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use signet_core::clock::UnixTime;

pub use authn::{Authn, LogLine, VerifiedPassword, VerifiedToken};
pub use clients::{CLIENT_TTL, Clients};
pub use revocations::{FeedStatus, REVOCATION_POLL, Revocations};
pub use vault_lists::ListCache;

/// A bounded map whose entries stand for a while. An entry is good from
/// when it was put in until its `until`, and not before: a clock set back
/// does not stretch it. Full, the map drops what has run out, then
/// everything, so it never grows past `max`.
pub struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, Entry<V>>>,
    max: usize,
}

struct Entry<V> {
    value: V,
    from: UnixTime,
    until: UnixTime,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(max: usize) -> TtlCache<K, V> {
        TtlCache { entries: Mutex::new(HashMap::new()), max }
    }

    /// The value put in for `key`, while it stands at `now`.
    pub fn get(&self, key: &K, now: UnixTime) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        entries.get(key).filter(|e| (e.from..e.until).contains(&now)).map(|e| e.value.clone())
    }

    /// Whether `key` stands at `now`.
    pub fn contains(&self, key: &K, now: UnixTime) -> bool {
        self.holds(key, now, |_| true)
    }

    /// Whether `key` stands at `now` with a value `test` accepts, looked at
    /// in place rather than cloned.
    pub fn holds(&self, key: &K, now: UnixTime, test: impl FnOnce(&V) -> bool) -> bool {
        let Ok(entries) = self.entries.lock() else { return false };
        entries.get(key).is_some_and(|e| (e.from..e.until).contains(&now) && test(&e.value))
    }

    /// Puts `value` in for `key`, good from `now` until `until`.
    pub fn insert(&self, key: K, value: V, now: UnixTime, until: UnixTime) {
        let Ok(mut entries) = self.entries.lock() else { return };
        if entries.len() >= self.max && !entries.contains_key(&key) {
            entries.retain(|_, e| e.until > now);
            if entries.len() >= self.max {
                entries.clear();
            }
        }
        entries.insert(key, Entry { value, from: now, until });
    }

    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TtlCache;

    #[test]
    fn an_entry_stands_from_its_insertion_until_its_end() {
        let cache = TtlCache::new(4);
        cache.insert("k", 1, 100, 110);
        assert_eq!(cache.get(&"k", 100), Some(1));
        assert_eq!(cache.get(&"k", 109), Some(1));
        assert_eq!(cache.get(&"k", 110), None, "run out");
        assert_eq!(cache.get(&"k", 99), None, "a clock set back does not stretch it");
        assert!(cache.contains(&"k", 105) && !cache.contains(&"other", 105));
        assert!(cache.holds(&"k", 105, |v| *v == 1) && !cache.holds(&"k", 105, |v| *v == 2));
        assert!(!cache.holds(&"k", 110, |_| true), "run out, whatever the value");
        cache.clear();
        assert_eq!(cache.get(&"k", 105), None);
    }

    #[test]
    fn a_full_cache_drops_what_ran_out_then_everything() {
        let cache = TtlCache::new(2);
        cache.insert(1, "old", 0, 10);
        cache.insert(2, "live", 0, 100);
        cache.insert(3, "new", 50, 100);
        assert_eq!(cache.get(&1, 50), None);
        assert_eq!((cache.get(&2, 50), cache.get(&3, 50)), (Some("live"), Some("new")));
        // Full of live entries: a new key empties it rather than grow it.
        cache.insert(4, "newer", 50, 100);
        assert_eq!((cache.get(&2, 50), cache.get(&3, 50), cache.get(&4, 50)), (None, None, Some("newer")));
        // A key already held is replaced in place.
        cache.insert(4, "again", 50, 100);
        assert_eq!(cache.get(&4, 50), Some("again"));
    }
}
