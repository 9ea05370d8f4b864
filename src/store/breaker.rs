//! The remote stores' circuit breaker (Redis, Azure Blob): after a call could not reach the
//! service (refused, timed out, broken, or the service said it is failing), calls fail at once
//! for [`RETRY_AFTER`], measured from the end of the failed call, instead of each waiting out
//! its own timeout; then one caller tries again while the others keep failing fast until it
//! has its answer. So a dead or hung store holds one blocking-pool thread per retry, not one
//! per request, and the pool keeps serving everything else. Lock-free: atomics only.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long calls fail at once after a failed one, before one call tries again.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

pub struct Breaker {
    /// Until when (ms since `opened`) calls fail fast; 0 while the service answers.
    down_until: AtomicU64,
    opened: Instant,
    /// The longest one call can take: how long a try holds the others off. Should its caller
    /// never record the result, the breaker admits another try after this (and the window).
    longest_call: Duration,
}

impl Breaker {
    /// A closed breaker for calls that take at most `longest_call` (the timeouts' sum).
    pub fn new(longest_call: Duration) -> Breaker {
        Breaker {
            down_until: AtomicU64::new(0),
            opened: Instant::now(),
            longest_call,
        }
    }

    fn now_ms(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    /// May a call go to the service now? Yes while it answers; after a failure, no until
    /// [`RETRY_AFTER`] has passed, then yes for the one caller that claims the next try
    /// (which holds the others off until it records its result).
    pub fn admit(&self) -> bool {
        let until = self.down_until.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        let now = self.now_ms();
        now >= until
            && self
                .down_until
                .compare_exchange(
                    until,
                    now + (self.longest_call + RETRY_AFTER).as_millis() as u64,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    /// The outcome of an admitted call: `answered` closes the breaker; a failure opens it for
    /// [`RETRY_AFTER`] from now, after the call ended (a call that timed out took its whole
    /// timeout: a window counted from its start would be over already).
    pub fn record(&self, answered: bool) {
        if answered {
            if self.down_until.load(Ordering::Relaxed) != 0 {
                self.down_until.store(0, Ordering::Release);
            }
        } else {
            let until = self.now_ms() + RETRY_AFTER.as_millis() as u64;
            self.down_until.store(until.max(1), Ordering::Release);
        }
    }

    /// Would a call fail at once now (the window after a failure, or another caller's try
    /// in flight)? Asked on the event loop, so a request whose read would only be refused is
    /// not queued behind the blocking pool's hung calls. Takes no try.
    pub fn refusing(&self) -> bool {
        let until = self.down_until.load(Ordering::Acquire);
        until != 0 && self.now_ms() < until
    }

    /// The error of a call [`Breaker::admit`] refused.
    pub fn refused(&self) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::NotConnected,
            format!("unreachable within the last {RETRY_AFTER:?}; not tried again yet"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Past the window, with a little slack for a loaded machine's clock reads.
    fn after_the_window() {
        std::thread::sleep(RETRY_AFTER + Duration::from_millis(20));
    }

    #[test]
    fn a_failure_opens_the_window_from_its_end_then_one_caller_tries_again() {
        let b = Breaker::new(Duration::from_secs(5));
        assert!(b.admit() && b.admit(), "closed: everyone");
        b.record(false);
        assert!(!b.admit(), "open right after the failure");
        after_the_window();
        assert!(b.admit(), "the window passed: one try");
        assert!(!b.admit() && !b.admit(), "the others wait for its answer");
        b.record(true);
        assert!(b.admit() && b.admit(), "answered: closed again");
    }

    #[test]
    fn it_says_it_is_refusing_while_calls_would_fail_at_once() {
        let b = Breaker::new(Duration::from_secs(5));
        assert!(!b.refusing(), "closed");
        b.record(false);
        assert!(b.refusing(), "open");
        after_the_window();
        assert!(!b.refusing(), "a try is due");
        assert!(!b.refusing(), "asking takes no try");
        assert!(b.admit());
        assert!(b.refusing(), "another caller's try in flight");
        b.record(true);
        assert!(!b.refusing());
    }

    #[test]
    fn a_try_whose_result_never_comes_lets_another_try_after_the_longest_call() {
        let b = Breaker::new(Duration::ZERO);
        b.record(false);
        after_the_window();
        assert!(b.admit());
        assert!(!b.admit());
        after_the_window();
        assert!(b.admit(), "the try's bound passed without its result");
    }
}
