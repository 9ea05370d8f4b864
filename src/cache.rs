//! The per-process caches on the per-request path (opened sessions, rendered token headers,
//! token records) share one shape: a map by string key behind an uncontended lock, bounded so
//! that a burst of distinct users cannot grow it without limit (past the bound it starts over).

use std::collections::HashMap;

use parking_lot::{Mutex, MutexGuard};

/// Entries a cache holds before it starts over.
const MAX_ENTRIES: usize = 4096;

pub struct BoundedCache<V> {
    map: Mutex<HashMap<String, V>>,
}

impl<V> Default for BoundedCache<V> {
    fn default() -> Self {
        BoundedCache {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<V> BoundedCache<V> {
    /// The map, locked, for lookups and in-place updates.
    pub fn lock(&self) -> MutexGuard<'_, HashMap<String, V>> {
        self.map.lock()
    }

    pub fn insert(&self, key: String, value: V) {
        let mut map = self.map.lock();
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_cache_starts_over() {
        let c = BoundedCache::default();
        for i in 0..MAX_ENTRIES {
            c.insert(i.to_string(), i);
        }
        assert_eq!(c.lock().len(), MAX_ENTRIES);
        c.insert("one more".into(), 0);
        assert_eq!(c.lock().len(), 1);
    }
}
