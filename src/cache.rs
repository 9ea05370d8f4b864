//! The per-process caches on the per-request path (opened sessions, rendered token headers,
//! token records) share one shape: a map by string key behind an uncontended lock, bounded in
//! bytes so that many distinct users (or a few with huge cookies) cannot grow a worker without
//! limit.
//!
//! Eviction is quick_cache's S3-FIFO (a CLOCK variant): a hit only bumps a small counter in
//! the entry, never relinks a list, so the hit path stays one hash lookup under the lock; a
//! full cache evicts a few entries per insert instead of starting over (which cost one request
//! milliseconds and every user a cache miss, past 4,096 users a process). New entries enter a
//! small probation queue, so a burst of one-time visitors does not flush the regulars.

use parking_lot::{Mutex, MutexGuard};
use quick_cache::{unsync, Weighter};

/// The entries of a cache, as its lock hands them out: `get` (counts as a use), `get_mut`,
/// `peek`, `remove`, `len`, `weight` (bytes).
pub type Entries<V> = unsync::Cache<String, V, ByBytes<V>>;

/// What an entry costs beyond the bytes its value reports: the key's `String`, the map's slot,
/// the eviction policy's bookkeeping.
const ENTRY_OVERHEAD: usize = 64;

/// Weighs an entry as its key's length, the value's own estimate of its bytes (inline and on
/// the heap) and a fixed overhead.
pub struct ByBytes<V> {
    value_bytes: fn(&V) -> usize,
}

impl<V> Clone for ByBytes<V> {
    fn clone(&self) -> Self {
        ByBytes {
            value_bytes: self.value_bytes,
        }
    }
}

impl<V> Weighter<String, V> for ByBytes<V> {
    fn weight(&self, key: &String, value: &V) -> u64 {
        (key.len() + ENTRY_OVERHEAD + std::mem::size_of::<V>() + (self.value_bytes)(value)) as u64
    }
}

pub struct BoundedCache<V> {
    map: Mutex<Entries<V>>,
}

impl<V> BoundedCache<V> {
    /// A cache holding about `max_bytes` of entries, each weighed by `value_bytes` (what the
    /// value holds on the heap; key and fixed costs are added here). An entry larger than the
    /// whole cache is not kept. Zero bytes: nothing is kept.
    pub fn new(max_bytes: usize, value_bytes: fn(&V) -> usize) -> Self {
        // quick_cache sizes its record of recently evicted keys from this estimate.
        let estimated_entries = (max_bytes / 2048).max(16);
        BoundedCache {
            map: Mutex::new(unsync::Cache::with_weighter(
                estimated_entries,
                max_bytes as u64,
                ByBytes { value_bytes },
            )),
        }
    }

    /// The entries, locked, for lookups and in-place updates.
    pub fn lock(&self) -> MutexGuard<'_, Entries<V>> {
        self.map.lock()
    }

    /// Adds or replaces `key`'s entry, evicting others as needed to stay within the bound.
    pub fn insert(&self, key: String, value: V) {
        self.map.lock().insert(key, value);
    }
}

/// How `ezauth.cacheMegabytes` is shared among the caches: so that each holds about as many
/// users as the others for a typical sign-in (a 1.4 KB cookie, 2.5 KB of tokens, 7 claims),
/// which weighs 3.6 KB as an opened session, 6.3 KB as rendered token headers with the record
/// they came from (counted again: the headers may outlive the store's copy), 3.5 KB as a
/// cached record; 13.4 KB in all, so 64 MiB hold about 5,000 such users.
pub struct Budget {
    pub sessions: usize,
    pub token_groups: usize,
    pub records: usize,
}

impl Budget {
    pub fn of(total: usize) -> Budget {
        let percent = total / 100;
        Budget {
            sessions: 27 * percent,
            token_groups: 47 * percent,
            records: 26 * percent,
        }
    }
}

/// Bytes of a list of header name/value pairs (inline pairs and their buffers), for weighers.
pub fn headers_bytes(headers: &[(String, String)]) -> usize {
    headers
        .iter()
        .map(|(n, v)| std::mem::size_of::<(String, String)>() + n.len() + v.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(key: &str, len: usize) -> u64 {
        (key.len() + ENTRY_OVERHEAD + std::mem::size_of::<Vec<u8>>() + len) as u64
    }

    #[test]
    fn hits_return_what_was_stored_and_replacements_replace() {
        let c = BoundedCache::new(1 << 20, Vec::len);
        c.insert("a".into(), vec![1; 10]);
        c.insert("b".into(), vec![2; 20]);
        assert_eq!(c.lock().get("a"), Some(&vec![1; 10]));
        assert_eq!(c.lock().get("b"), Some(&vec![2; 20]));
        assert_eq!(c.lock().get("c"), None);
        c.insert("a".into(), vec![3; 5]);
        assert_eq!(c.lock().get("a"), Some(&vec![3; 5]));
        assert_eq!(c.lock().len(), 2);
        assert_eq!(c.lock().weight(), cost("a", 5) + cost("b", 20));
        // In-place updates are seen by the next lookup, and re-weighed.
        c.lock().get_mut("b").unwrap().push(9);
        assert_eq!(c.lock().get("b").unwrap().len(), 21);
        assert_eq!(c.lock().weight(), cost("a", 5) + cost("b", 21));
        assert!(c.lock().remove("a").is_some());
        assert_eq!(c.lock().get("a"), None);
    }

    #[test]
    fn the_byte_bound_holds_with_huge_entries() {
        let bound = 1 << 20;
        let c = BoundedCache::new(bound, Vec::len);
        // 27 KB, a session cookie with many group claims, 200 times: about 5 MB offered.
        for i in 0..200 {
            c.insert(format!("user-{i}"), vec![0; 27_000]);
            assert!(c.lock().weight() <= bound as u64, "after {i}");
        }
        let kept = c.lock().len();
        assert!(
            (30..=38).contains(&kept),
            "about 1 MiB / 27 KB entries kept: {kept}"
        );
    }

    #[test]
    fn an_entry_larger_than_the_cache_is_not_kept() {
        let c = BoundedCache::new(64 * 1024, Vec::len);
        c.insert("small".into(), vec![0; 100]);
        c.insert("huge".into(), vec![0; 100 * 1024]);
        assert_eq!(c.lock().get("huge"), None);
        assert!(c.lock().get("small").is_some(), "nothing evicted for it");
        // Replacing a kept entry with one too large drops the stale one.
        c.insert("small".into(), vec![0; 100 * 1024]);
        assert_eq!(c.lock().get("small"), None);
        let none = BoundedCache::new(0, Vec::<u8>::len);
        none.insert("x".into(), vec![]);
        assert_eq!(none.lock().len(), 0);
    }

    #[test]
    fn a_full_cache_evicts_by_use_and_never_starts_over() {
        let entry = cost("user-000", 1000) as usize;
        let c = BoundedCache::new(100 * entry, Vec::len);
        let get = |i: usize| c.lock().get(&format!("user-{i:03}")).is_some();
        let add = |i: usize| c.insert(format!("user-{i:03}"), vec![0; 1000]);
        // Fill with 100 users; users 0..20 keep coming back.
        (0..100).for_each(add);
        for _ in 0..3 {
            assert!((0..20).all(get));
        }
        // A burst of 500 one-time visitors: the cache stays full the whole time (no flush),
        // the users in use survive it, and so do the others: a scan does not flush a cache.
        for i in 100..600 {
            add(i);
            assert!(c.lock().len() >= 95, "emptied at {i}: {}", c.lock().len());
            if i % 10 == 0 {
                assert!((0..20).all(get), "at {i}");
            }
        }
        assert!(c.lock().peek("user-050").is_some());
        assert!(
            c.lock().peek("user-100").is_none(),
            "the earliest visitor went first"
        );
        // 200 new users who come back (each seen twice, as a page and its assets are): they
        // take the place of the users who stopped coming, not of those in use.
        for i in 600..800 {
            add(i);
            assert!(get(i));
            if i % 10 == 0 {
                assert!((0..20).all(get), "at {i}");
            }
        }
        let old_idle = (20..100).filter(|&i| c.lock().peek(&format!("user-{i:03}")).is_some());
        assert!(old_idle.count() <= 5, "idle users evicted");
        let new = (700..800).filter(|&i| c.lock().peek(&format!("user-{i:03}")).is_some());
        assert!(new.count() >= 70, "returning users kept (80 places)");
        assert!(c.lock().weight() <= (100 * entry) as u64);
    }
}
