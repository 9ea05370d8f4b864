//! A remote token store's stand-in (Redis, a blob store) as a [`Backend`] under the shared
//! layer: entries in memory, each with a version (an ETag), a lease per user with a fencing
//! token, one-time claims until their expiry. A client's cached versions stay current until
//! the test calls [`Service::forget`], as a time-to-live or another process's write would end
//! them; every read that reaches the service is counted.

use ezauth::clock::Clock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ezauth::store::{Backend, Got, StoreError};

/// How long `lock` waits for a lease before it fails (never runs unlocked).
const LEASE_WAIT: Duration = Duration::from_secs(10);

/// The service every client (process) shares.
#[derive(Default)]
pub struct Service {
    /// Bytes by name, with the version (ETag) they were written at.
    entries: Mutex<HashMap<String, (Vec<u8>, u64)>>,
    /// Leases by name: the fencing token of the holder.
    leases: Mutex<HashMap<String, u64>>,
    released: Condvar,
    /// One-time values and when they expire (Unix seconds).
    claims: Mutex<HashMap<String, i64>>,
    /// Versions and fencing tokens, never reused.
    next: AtomicU64,
    /// Versions read before the last `forget` are not current.
    epoch: AtomicU64,
    /// Reads that reached the service.
    pub gets: AtomicUsize,
}

impl Service {
    /// Every client's cached versions stop being current (their time-to-live passed).
    pub fn forget(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    pub fn gets(&self) -> usize {
        self.gets.load(Ordering::SeqCst)
    }

    /// How many entries the service holds.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }

    fn version(&self) -> u64 {
        self.next.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// One client (one process) of the service.
pub struct Remote(pub Arc<Service>);

#[derive(Clone)]
pub struct RemoteVersion {
    etag: u64,
    epoch: u64,
}

/// A held lease; released (if still this holder's) when dropped.
pub struct Lease<'a> {
    service: &'a Service,
    name: String,
    token: u64,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let mut leases = self.service.leases.lock().unwrap();
        if leases.get(&self.name) == Some(&self.token) {
            leases.remove(&self.name);
        }
        self.service.released.notify_all();
    }
}

impl Remote {
    fn version(&self, etag: u64) -> RemoteVersion {
        RemoteVersion {
            etag,
            epoch: self.0.epoch.load(Ordering::SeqCst),
        }
    }

    /// The fencing check a remote store makes with every write: the lease is still held by
    /// the one writing.
    fn fenced(&self, lease: &Lease<'_>) -> Result<(), StoreError> {
        match self.0.leases.lock().unwrap().get(&lease.name) {
            Some(t) if *t == lease.token => Ok(()),
            _ => Err(StoreError::Io(std::io::Error::other(
                "the lease was lost: write refused",
            ))),
        }
    }
}

impl Backend for Remote {
    const LOCAL: bool = false;
    type Version = RemoteVersion;
    type Guard<'a> = Lease<'a>;

    fn is_current(&self, v: &RemoteVersion) -> bool {
        v.epoch == self.0.epoch.load(Ordering::SeqCst)
    }

    fn get(
        &self,
        name: &str,
        known: Option<&RemoteVersion>,
    ) -> Result<Got<RemoteVersion>, StoreError> {
        self.0.gets.fetch_add(1, Ordering::SeqCst);
        Ok(match self.0.entries.lock().unwrap().get(name) {
            Some((_, etag)) if known.is_some_and(|k| k.etag == *etag) => {
                Got::Unchanged(self.version(*etag))
            }
            Some((bytes, etag)) => Got::Found(bytes.clone(), self.version(*etag)),
            None => Got::Missing(self.version(0)),
        })
    }

    fn put(
        &self,
        name: &str,
        bytes: &[u8],
        lease: &Lease<'_>,
    ) -> Result<RemoteVersion, StoreError> {
        self.fenced(lease)?;
        let etag = self.0.version();
        self.0
            .entries
            .lock()
            .unwrap()
            .insert(name.to_owned(), (bytes.to_vec(), etag));
        Ok(self.version(etag))
    }

    fn delete(&self, name: &str, lease: &Lease<'_>) -> Result<(), StoreError> {
        self.fenced(lease)?;
        self.0.entries.lock().unwrap().remove(name);
        Ok(())
    }

    fn lock(&self, name: &str) -> Result<Lease<'_>, StoreError> {
        let deadline = Instant::now() + LEASE_WAIT;
        let mut leases = self.0.leases.lock().unwrap();
        while leases.contains_key(name) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StoreError::Io(std::io::Error::other(
                    "the user's lease stayed taken",
                )));
            }
            leases = self.0.released.wait_timeout(leases, left).unwrap().0;
        }
        let token = self.0.version();
        leases.insert(name.to_owned(), token);
        Ok(Lease {
            service: &self.0,
            name: name.to_owned(),
            token,
        })
    }

    fn claim_once(&self, name: &str, expires_at: i64) -> Result<bool, StoreError> {
        let now = ezauth::clock::SystemClock.now();
        let mut claims = self.0.claims.lock().unwrap();
        if claims.get(name).is_some_and(|exp| *exp > now) {
            return Ok(false);
        }
        claims.insert(name.to_owned(), expires_at);
        Ok(true)
    }
}
