//! Revalidation ahead of the staleness bound, off the request path. A blob store has no way to
//! hear another node's change, so a cached copy is trusted for `stalenessSeconds` after the
//! service last confirmed it, never longer. Without this, a signed-in user's request that
//! finds its copy at the bound waits in the host's blocking step for a `Get Blob` (a 304 when
//! nothing changed). Here, a copy used in the last quarter of its bound is handed to a few
//! background threads, which ask the service with `If-None-Match` and, on a 304, move the
//! copy's confirmation to when that request was sent. So a user who keeps coming back is
//! served from memory throughout, and the bound stays what it was: no copy is used longer
//! than `stalenessSeconds` after the service last said it was current. A copy whose
//! revalidation fails or finds a change is left to run out, and the next request reads the
//! blob as before.
//!
//! The threads start with the first copy handed over, so in the process that serves requests
//! (an nginx worker), never in one that only opened the store; they end when the store is
//! dropped. The queue is bounded: a copy that finds it full is read as before at its bound.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::blob::Inner;

/// Threads asking the service; each waits on one request at a time.
const THREADS: usize = 4;

/// Copies waiting for a thread; past this, copies are read at their bound as before.
const QUEUE: usize = 4096;

/// What one copy's version shares with the thread revalidating it.
#[derive(Debug)]
pub(super) struct Confirmed {
    /// The record blob's name.
    blob: String,
    /// When the service last said the copy is current, in nanoseconds from [`Ahead`]'s start.
    at: AtomicU64,
    /// Handed to a thread (or past help: its revalidation failed or found a change).
    queued: AtomicBool,
}

struct Job {
    confirmed: Arc<Confirmed>,
    etag: String,
}

pub(super) struct Ahead {
    start: Instant,
    staleness: Duration,
    jobs: OnceLock<SyncSender<Job>>,
}

impl Ahead {
    pub(super) fn new(staleness: Duration) -> Ahead {
        Ahead {
            start: Instant::now(),
            staleness,
            jobs: OnceLock::new(),
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// A copy of `blob` the service confirmed just now.
    pub(super) fn confirmed_now(&self, blob: String) -> Arc<Confirmed> {
        Arc::new(Confirmed {
            blob,
            at: AtomicU64::new(self.now()),
            queued: AtomicBool::new(false),
        })
    }

    /// Is the copy within its bound? One in the last quarter of it, with an ETag to ask
    /// about, is handed to the threads (once). No system call but the first thread start.
    pub(super) fn is_current(
        &self,
        c: &Arc<Confirmed>,
        etag: Option<&str>,
        inner: &Arc<Inner>,
    ) -> bool {
        let age = Duration::from_nanos(self.now().saturating_sub(c.at.load(Ordering::Acquire)));
        if age >= self.staleness {
            return false;
        }
        if age >= self.staleness * 3 / 4 && !c.queued.load(Ordering::Relaxed) {
            if let Some(etag) = etag {
                if !c.queued.swap(true, Ordering::AcqRel) {
                    let job = Job {
                        confirmed: Arc::clone(c),
                        etag: etag.to_owned(),
                    };
                    // Full, or no thread could start: read at the bound as before.
                    let _ = self.sender(inner).try_send(job);
                }
            }
        }
        true
    }

    fn sender(&self, inner: &Arc<Inner>) -> &SyncSender<Job> {
        self.jobs.get_or_init(|| {
            let (send, receive) = mpsc::sync_channel(QUEUE);
            let receive = Arc::new(Mutex::new(receive));
            for _ in 0..THREADS {
                let (shared, receive) = (Arc::clone(inner), Arc::clone(&receive));
                let start = self.start;
                let spawned = std::thread::Builder::new()
                    .name("ezauth-blob-ahead".into())
                    .spawn(move || revalidate(&shared, &receive, start));
                if let Err(e) = spawned {
                    inner.log().warn(format_args!(
                        "token store (blob): cannot start a revalidation thread ({e}): \
                         copies are read again at their bound"
                    ));
                }
            }
            send
        })
    }
}

/// One thread: asks the service about each copy handed over until the store is dropped.
fn revalidate(inner: &Inner, jobs: &Mutex<Receiver<Job>>, start: Instant) {
    loop {
        // The lock is held only while waiting for the next job, never across a request.
        let Ok(job) = jobs.lock().recv() else { return };
        let sent = start.elapsed().as_nanos() as u64;
        if inner.unchanged(&job.confirmed.blob, &job.etag) {
            job.confirmed.at.fetch_max(sent, Ordering::AcqRel);
            job.confirmed.queued.store(false, Ordering::Release);
        }
    }
}
