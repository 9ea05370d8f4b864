//! Redeemed one-time values (login states) in this process, until they expire: a replayed
//! callback is refused even when the browser still holds the state cookie. Bounded in count,
//! and forgetting is amortized O(1): values leave in the order they came, and states expire in
//! roughly that order (each lives one nonce lifetime from its login).

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;

pub struct UsedOnce {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Default)]
struct Inner {
    expiry: HashMap<String, i64>,
    order: VecDeque<String>,
}

impl UsedOnce {
    pub fn new(capacity: usize) -> Self {
        UsedOnce {
            inner: Mutex::new(Inner::default()),
            capacity,
        }
    }

    /// Marks `value` used until `exp`; false when it already was. At capacity the oldest
    /// value is forgotten early (the store's markers and the provider's one-time codes still
    /// refuse its replay).
    pub fn first_use(&self, value: &str, exp: i64, now: i64) -> bool {
        let mut inner = self.inner.lock();
        while let Some(oldest) = inner.order.front() {
            let expired = inner.expiry.get(oldest).is_none_or(|e| *e <= now);
            if !expired && inner.order.len() < self.capacity {
                break;
            }
            if let Some(gone) = inner.order.pop_front() {
                inner.expiry.remove(&gone);
            }
        }
        if inner.expiry.contains_key(value) {
            return false;
        }
        inner.expiry.insert(value.to_owned(), exp);
        inner.order.push_back(value.to_owned());
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_used_once_until_it_expires() {
        let used = UsedOnce::new(10);
        assert!(used.first_use("a", 100, 0));
        assert!(!used.first_use("a", 100, 50));
        // Expired values are forgotten as newer ones arrive.
        assert!(used.first_use("b", 300, 150));
        assert_eq!(used.len(), 1);
        assert!(used.first_use("a", 400, 150));
    }

    #[test]
    fn a_flood_stays_within_capacity() {
        let used = UsedOnce::new(1000);
        for i in 0..200_000 {
            assert!(used.first_use(&format!("s{i}"), 1_000_000, 0));
        }
        assert_eq!(used.len(), 1000);
        assert!(
            !used.first_use("s199999", 1_000_000, 0),
            "recent values are kept"
        );
    }
}
