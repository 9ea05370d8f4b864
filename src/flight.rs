//! Single flight per key: while one thread does a piece of work for a key (a user's refresh),
//! others asking for the same key wait for its result instead of queueing to do it again, and
//! only a few may wait. A host's blocking pool is small; one user must not fill it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// Work in progress for one key, and its result once there.
struct Flight<T> {
    result: Mutex<Option<T>>,
    done: Condvar,
}

/// A flight in progress and how many callers wait for it.
type Waited<T> = (Arc<Flight<T>>, usize);

/// Per-key single flight with a bound on waiters per key.
pub struct SingleFlight<T> {
    flights: Mutex<HashMap<String, Waited<T>>>,
    max_waiters: usize,
}

/// Why a caller got no result.
#[derive(Debug, PartialEq, Eq)]
pub enum Busy {
    /// Enough callers already wait for this key.
    TooManyWaiting,
    /// The work in flight took longer than the caller would wait.
    TimedOut,
}

impl<T: Clone> SingleFlight<T> {
    pub fn new(max_waiters: usize) -> Self {
        SingleFlight {
            flights: Mutex::new(HashMap::new()),
            max_waiters,
        }
    }

    /// Runs `work` for `key`, or, when it is already running, waits up to `wait` for that
    /// run's result. No lock is held while `work` runs or while a caller waits.
    pub fn run(&self, key: &str, wait: Duration, work: impl FnOnce() -> T) -> Result<T, Busy> {
        let joined = {
            let mut flights = self.flights.lock();
            match flights.get_mut(key) {
                Some((flight, waiting)) => {
                    if *waiting >= self.max_waiters {
                        return Err(Busy::TooManyWaiting);
                    }
                    *waiting += 1;
                    Some(Arc::clone(flight))
                }
                None => {
                    let flight = Arc::new(Flight {
                        result: Mutex::new(None),
                        done: Condvar::new(),
                    });
                    flights.insert(key.to_owned(), (flight, 0));
                    None
                }
            }
        };
        match joined {
            Some(flight) => {
                let mut result = flight.result.lock();
                if result.is_none() {
                    flight.done.wait_for(&mut result, wait);
                }
                result.clone().ok_or(Busy::TimedOut)
            }
            None => {
                // Removed from the map even if `work` panics, so the key never stays busy.
                let landing = Landing { owner: self, key };
                let value = work();
                landing.land(value.clone());
                Ok(value)
            }
        }
    }
}

/// The leader's side: publishes the result and frees the key.
struct Landing<'a, T> {
    owner: &'a SingleFlight<T>,
    key: &'a str,
}

impl<T> Landing<'_, T> {
    fn land(self, value: T) {
        if let Some((flight, _)) = self.owner.flights.lock().get(self.key) {
            *flight.result.lock() = Some(value);
            flight.done.notify_all();
        }
    }
}

impl<T> Drop for Landing<'_, T> {
    fn drop(&mut self) {
        if let Some((flight, _)) = self.owner.flights.lock().remove(self.key) {
            // A panicking leader leaves no result: its waiters wake and time out at once.
            flight.done.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    #[test]
    fn concurrent_callers_share_one_run_and_extra_waiters_are_turned_away() {
        let flights = Arc::new(SingleFlight::<u32>::new(3));
        let runs = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let threads: Vec<_> = (0..10)
            .map(|_| {
                let (flights, runs) = (Arc::clone(&flights), Arc::clone(&runs));
                std::thread::spawn(move || {
                    flights.run("alice", Duration::from_secs(5), || {
                        runs.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(1000));
                        7
                    })
                })
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(runs.load(Ordering::SeqCst), 1, "one run for all callers");
        let served = results.iter().filter(|r| **r == Ok(7)).count();
        let turned_away = results
            .iter()
            .filter(|r| **r == Err(Busy::TooManyWaiting))
            .count();
        assert_eq!((served, turned_away), (4, 6), "{results:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        // The key is free again: the next caller runs the work itself.
        assert_eq!(flights.run("alice", Duration::ZERO, || 8), Ok(8));
    }

    #[test]
    fn other_keys_never_wait() {
        let flights = Arc::new(SingleFlight::<u32>::new(1));
        let f = Arc::clone(&flights);
        let slow = std::thread::spawn(move || {
            f.run("alice", Duration::from_secs(5), || {
                std::thread::sleep(Duration::from_millis(500));
                1
            })
        });
        std::thread::sleep(Duration::from_millis(50));
        let t = Instant::now();
        assert_eq!(flights.run("bob", Duration::from_secs(5), || 2), Ok(2));
        assert!(t.elapsed() < Duration::from_millis(200));
        assert_eq!(slow.join().unwrap(), Ok(1));
    }
}
