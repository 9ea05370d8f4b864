//! The token store every backend shares: records sealed for their user, names hidden by a
//! keyed hash, key rotation, the per-process record cache, and the read-modify-write under
//! the user's lock. A backend ([`Backend`]) only moves bytes.
//!
//! A record is sealed with AES-GCM under its entry's name and names its owner inside
//! ([`super::envelope`]), so an entry copied to another user's name does not open. Under a
//! key rotation an entry is looked up under the current key's name, then under each previous
//! key's name (oldest last), and moved to the current name by its next write.
//!
//! Reads sit on the per-request path, so opened records (and known absences) are cached per
//! process, bounded in bytes. A cached copy is used while the backend says its version is
//! current ([`Backend::is_current`], no I/O); otherwise the backend is asked again, which a
//! local backend may do on the event loop and a remote one only in the host's blocking step.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::backend::{Backend, Got};
use super::envelope;
use super::{Cached, StoreError, TokenRecord, TokenStore, Update};
use crate::cache::BoundedCache;
use crate::crypto::Keys;
use crate::logger::Logger;
use crate::metrics::{Metrics, StoreOp};

pub struct Sealed<B: Backend> {
    backend: B,
    keys: Keys,
    /// Records (or their absence) by user id, each with the backend's version of it.
    cache: BoundedCache<Entry<B::Version>>,
    log: Logger,
    /// Where backend operations and cache lookups are counted, once the app says.
    metrics: OnceLock<Arc<Metrics>>,
}

/// How long a known absence is trusted where the user's entry may also sit under a name from
/// before (a previous key's, or from before entries were named for the app): a write under
/// such a name does not touch the current name's version.
const PREVIOUS_NAMES_RECHECK: Duration = Duration::from_secs(1);

struct Entry<V> {
    /// The entry's name (a keyed hash: kept, not computed again at each check).
    name: String,
    version: V,
    /// When the names from before were found empty too, for an absence that depends on them.
    previous_checked: Option<Instant>,
    /// `None`: the user has no entry.
    record: Option<Arc<TokenRecord>>,
    /// What the entry holds on the heap, for the cache's byte bound.
    bytes: usize,
}

impl<V> Entry<V> {
    fn answer(&self) -> Cached {
        match &self.record {
            Some(r) => Cached::Hit(Arc::clone(r)),
            None => Cached::Absent,
        }
    }
}

impl<B: Backend> Sealed<B> {
    /// The store over `backend`, sealing with `keys`, caching up to `cache_bytes` of records.
    pub fn new(backend: B, keys: Keys, cache_bytes: usize, log: &Logger) -> Sealed<B> {
        Sealed {
            backend,
            keys,
            cache: BoundedCache::new(cache_bytes, |e: &Entry<B::Version>| e.bytes),
            log: log.clone(),
            metrics: OnceLock::new(),
        }
    }

    /// Runs one backend operation, counted and timed when metrics are on.
    fn op<T>(
        &self,
        op: StoreOp,
        run: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self.metrics.get() {
            Some(m) => m.store_op(op, run),
            None => run(),
        }
    }

    fn cache_lookup(&self, hit: bool) {
        if let Some(m) = self.metrics.get() {
            m.cache_lookup(hit);
        }
    }

    /// The backend, for what is its own (the file store's sweep) and for tests.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The keys entries are named and sealed with.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Removes `user`'s entry `name` and its names under previous keys, holding `lock`.
    fn remove(&self, user: &str, name: &str, lock: &B::Guard<'_>) -> Result<(), StoreError> {
        let removed = self
            .keys
            .previous_store_file_names(user)
            .iter()
            .map(String::as_str)
            .chain([name])
            .try_for_each(|n| self.op(StoreOp::Delete, || self.backend.delete(n, lock)));
        // After the deletes: a copy a concurrent read cached meanwhile goes too.
        self.cache.lock().remove(user);
        removed
    }

    /// The name of `user`'s entry under the current key.
    pub fn name(&self, user: &str) -> String {
        self.keys.store_file_name(user)
    }

    /// The record as far as reading allows: from the cache while its version is current, else
    /// from the backend when `io` (or when the backend is local), else [`Cached::NeedsIo`].
    fn read(&self, user: &str, io: bool) -> Result<Cached, StoreError> {
        // The hit path: one lookup and the backend's check, no allocation, no system call.
        let known = {
            let cache = self.cache.lock();
            match cache.get(user) {
                Some(e)
                    if self.backend.is_current(&e.version)
                        && e.previous_checked
                            .is_none_or(|t| t.elapsed() < PREVIOUS_NAMES_RECHECK) =>
                {
                    self.cache_lookup(true);
                    return Ok(e.answer());
                }
                Some(e) => Some((e.name.clone(), e.version.clone(), e.record.clone())),
                None => None,
            }
        };
        if !io && !B::LOCAL {
            if self.backend.refusing() {
                return Err(StoreError::Io(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "the token store failed within the last second; not tried again yet",
                )));
            }
            return Ok(Cached::NeedsIo);
        }
        // Counted where the backend is asked (a remote store's miss on the event loop is
        // counted once, in the blocking step that reads it).
        self.cache_lookup(false);
        let (name, version, record) = match known {
            Some((name, version, record)) => (name, Some(version), record),
            None => (self.name(user), None, None),
        };
        let got = self
            .op(StoreOp::Get, || self.backend.get(&name, version.as_ref()))
            .inspect_err(|_| {
                self.cache.lock().remove(user);
            })?;
        // An absence that depends on the names from before too: checked there again.
        let got = match got {
            Got::Unchanged(fresh)
                if record.is_none() && !self.keys.previous_store_file_names(user).is_empty() =>
            {
                Got::Missing(fresh)
            }
            got => got,
        };
        match got {
            Got::Unchanged(fresh) => {
                // Keeps the fresher version unless another thread replaced the entry meanwhile.
                if let Some(mut e) = self.cache.lock().get_mut(user) {
                    if same(&e.record, &record) {
                        e.version = fresh;
                    }
                }
                Ok(record.map_or(Cached::Absent, Cached::Hit))
            }
            Got::Found(sealed, version) => {
                let record = match envelope::open_for(&self.keys, &name, user, &sealed) {
                    Ok(r) => Arc::new(r),
                    Err(e) => {
                        self.cache.lock().remove(user);
                        return Err(e);
                    }
                };
                self.remember(user, name, version, Some(Arc::clone(&record)));
                Ok(Cached::Hit(record))
            }
            Got::Missing(version) => {
                let previous = self.keys.previous_store_file_names(user);
                if previous.is_empty() {
                    self.remember(user, name, version, None);
                    return Ok(Cached::Absent);
                }
                // An entry under a name from before is read each time until a write moves it
                // (a change there does not touch the current name's version); none there
                // either is an absence trusted for a short while.
                let checked = Instant::now();
                self.cache.lock().remove(user);
                match self.read_previous(user, &previous)? {
                    Some(r) => Ok(Cached::Hit(Arc::new(r))),
                    None => {
                        self.remember(user, name, version, None);
                        if let Some(mut e) = self.cache.lock().get_mut(user) {
                            e.previous_checked = Some(checked);
                        }
                        Ok(Cached::Absent)
                    }
                }
            }
        }
    }

    fn remember(
        &self,
        user: &str,
        name: String,
        version: B::Version,
        record: Option<Arc<TokenRecord>>,
    ) {
        let bytes = name.len() + record.as_ref().map_or(0, |r| r.approx_bytes());
        self.cache.insert(
            user.to_owned(),
            Entry {
                name,
                version,
                previous_checked: None,
                record,
                bytes,
            },
        );
    }

    /// An entry written before a key rotation, under an old name; the next write moves it.
    fn read_previous(
        &self,
        user: &str,
        previous: &[String],
    ) -> Result<Option<TokenRecord>, StoreError> {
        for name in previous {
            if let Got::Found(sealed, _) = self.op(StoreOp::Get, || self.backend.get(name, None))? {
                return envelope::open_for(&self.keys, name, user, &sealed).map(Some);
            }
        }
        Ok(None)
    }

    /// The current record for a read-modify-write, read from the backend (never the cache)
    /// under the lock. One that cannot be trusted (tampered, foreign) is replaced; one that
    /// cannot be read (I/O, permissions) fails the update: a write over it could bring
    /// signed-out sessions back, and "sign in again" would not help.
    fn read_for_update(&self, user: &str, name: &str) -> Result<Option<TokenRecord>, StoreError> {
        let trusted = |r| match r {
            Err(StoreError::Corrupt(why)) => {
                self.log.warn(format_args!(
                    "token store: replacing the entry of {user}: {why}"
                ));
                Ok(None)
            }
            other => other,
        };
        let current = match self.op(StoreOp::Get, || self.backend.get(name, None)) {
            Ok(Got::Found(sealed, _)) => {
                envelope::open_for(&self.keys, name, user, &sealed).map(Some)
            }
            Ok(Got::Missing(_) | Got::Unchanged(_)) => Ok(None),
            Err(e) => Err(e),
        };
        match trusted(current)? {
            Some(record) => Ok(Some(record)),
            None => trusted(self.read_previous(user, &self.keys.previous_store_file_names(user))),
        }
    }

    /// Writes `record` as the user's entry under the held lock, removes the entry's old names
    /// (key rotation), and caches what was written.
    fn write(
        &self,
        user: &str,
        name: String,
        record: TokenRecord,
        lock: &B::Guard<'_>,
    ) -> Result<(), StoreError> {
        self.cache.lock().remove(user);
        let version = self.op(StoreOp::Put, || {
            self.backend.put(
                &name,
                &envelope::seal(&self.keys, &name, user, &record),
                lock,
            )
        })?;
        for old in self.keys.previous_store_file_names(user) {
            // The record is stored: an old name left behind is found only after the current
            // one, and goes with the next write or the user's delete.
            let _ = self.op(StoreOp::Delete, || self.backend.delete(&old, lock));
        }
        self.remember(user, name, version, Some(Arc::new(record)));
        Ok(())
    }
}

/// Are both the same record (the same allocation), or both none?
fn same(a: &Option<Arc<TokenRecord>>, b: &Option<Arc<TokenRecord>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

impl<B: Backend> TokenStore for Sealed<B> {
    /// A local backend reads its disk here when the cache cannot answer (as cheap as a
    /// page-cache read) and never answers [`Cached::NeedsIo`]; a remote one does.
    fn cached(&self, user: &str) -> Result<Cached, StoreError> {
        self.read(user, false)
    }

    fn load(&self, user: &str) -> Result<Option<Arc<TokenRecord>>, StoreError> {
        Ok(match self.read(user, true)? {
            Cached::Hit(r) => Some(r),
            Cached::Absent | Cached::NeedsIo => None,
        })
    }

    fn save(&self, user: &str, record: &TokenRecord) -> Result<(), StoreError> {
        let name = self.name(user);
        let lock = self.op(StoreOp::Lock, || self.backend.lock(&name))?;
        self.write(user, name, record.clone(), &lock)
    }

    fn delete(&self, user: &str) -> Result<(), StoreError> {
        let name = self.name(user);
        let lock = self.op(StoreOp::Lock, || self.backend.lock(&name))?;
        self.remove(user, &name, &lock)
    }

    fn update(
        &self,
        user: &str,
        change: &mut dyn FnMut(Option<TokenRecord>) -> Update,
    ) -> Result<(), StoreError> {
        let name = self.name(user);
        let lock = self.op(StoreOp::Lock, || self.backend.lock(&name))?;
        let current = self.read_for_update(user, &name)?;
        match change(current) {
            Update::Keep => Ok(()),
            Update::Replace(next) => self.write(user, name, *next, &lock),
            Update::Remove => self.remove(user, &name, &lock),
        }
    }

    fn claim_once(&self, key: &str, expires_at: i64) -> Result<bool, StoreError> {
        // A keyed hash: the state itself never reaches the backend.
        let name = self.keys.store_file_name(&format!("one-time:{key}"));
        self.op(StoreOp::Claim, || {
            self.backend.claim_once(&name, expires_at)
        })
    }

    fn measure(&self, metrics: &Arc<Metrics>) {
        let _ = self.metrics.set(Arc::clone(metrics));
    }
}
