//! What a kind of token store has to provide: dumb byte operations on named entries, a lock
//! per user, one-time claims, and a freshness check the cache can ask without I/O. Sealing,
//! binding to the user, key rotation, caching and the read-modify-write logic live once, in
//! [`super::Sealed`], on top of any backend.
//!
//! Names are chosen by that layer, not by the backend: a keyed hash of the user id
//! ([`crate::crypto::Keys::store_file_name`], 32 hex digits). So no backend sees a user id
//! or a login state, an entry's name reveals nothing to whoever can list the store (a
//! directory, a Redis keyspace, a blob container), a client cannot choose a name (no path
//! traversal, no key-pattern tricks), and key rotation (the names under previous keys) is
//! handled once for every backend.

use super::StoreError;

/// A kind of token store: the file store (`file::FileBackend`), later Redis or Azure Blob.
///
/// # The lock contract
///
/// A refresh spends the stored refresh token. A provider that rotates refresh tokens refuses
/// a spent one, and the OAuth 2.0 Security BCP (RFC 9700, section 4.14.2) has it revoke the
/// whole grant when a spent one comes back: the user is signed out of the provider. So a
/// refresh runs **exactly once** per stored refresh token, under the user's lock
/// ([`Backend::lock`]), which [`super::TokenStore::update`] holds while it reads, decides
/// (calling the provider) and writes:
///
/// - **Mutual exclusion across processes and machines**, per user: while a guard is held, no
///   other `lock` of that name (in any nginx worker, on any host sharing the store) returns.
///   The file store holds `flock(LOCK_EX)` on the user's lock file, released when the file
///   closes, so a crashed process never leaves it held. A remote store takes a lease that
///   expires by itself: Redis `SET lock:{name} {fencing token} NX PX {ttl}`, released only by
///   its holder (compare the token, then delete, in one script); Azure Blob a blob lease
///   (Lease Blob, `x-ms-lease-duration`). **The bound**: a lease lasts twice
///   `ezauth.httpTimeoutSeconds` (default 10 s, so 20 s) plus 5 s for the write, which
///   outlasts the longest update (one provider call, bounded by that timeout, then the
///   write), so it does not lapse while a refresh is on the wire. Azure leases last 15 to
///   60 s: a longer update renews its lease (Renew Lease) before it lapses. A crashed holder
///   blocks its user's updates for at most one lease.
/// - **Writes carry the lock**: [`Backend::put`] and [`Backend::delete`] take the guard, so a
///   write outside the lock does not compile, and a remote store sends its proof with the
///   write (Azure: the lease id, which the service checks; Redis: the fencing token, checked
///   in the script that writes). A holder whose lease lapsed has its write refused instead of
///   overwriting its successor's record.
/// - **Read inside the lock**: the update reads the entry with [`Backend::get`] after the
///   lock is taken, never from a cache, so a refresh that waited sees the rotated token
///   instead of spending the old one.
/// - **Write before release**: `put` returns once the entry is durable (renamed into place
///   and the directory synced; `SET` acknowledged; a blob put under the lease), before the
///   guard is dropped.
/// - **Never an optimistic retry**: no compare-and-swap loop (`WATCH`/`MULTI`, ETag
///   `If-Match`) that runs the update again after losing a race: the update calls the
///   provider, and running it twice would spend a rotated refresh token twice. A backend
///   without a lock cannot be a token store.
/// - **Never unlocked**: a backend that cannot get the lock fails with [`StoreError`] (the
///   refresh answers an error); the layer never runs an update without it. A remote store
///   bounds its wait (a few lease lifetimes); the file store waits on `flock`, which a holder
///   keeps for at most one provider call and the kernel releases when the holder dies.
/// - **`claim_once` is atomic** the same way (file: `create_new`; Redis: `SET NX PX` until
///   the value expires; Azure: Put Blob with `If-None-Match: *`), so a replayed login
///   callback loses whichever process it reaches.
///
/// Within one process, `App::refreshes` (a single-flight per user) makes concurrent refreshes
/// of the same user share one run, so the lock is contended across processes only.
pub trait Backend: Send + Sync {
    /// Whether reading is local I/O the host's event loop may wait on (the file store: a
    /// page-cache read). When false, a read the cache cannot answer becomes the host's
    /// blocking step ([`super::Cached::NeedsIo`]).
    const LOCAL: bool;

    /// What the backend knows of an entry it read or wrote, to tell later whether it is still
    /// current (file: the file's stamp and its counter in the shared table; Redis or a blob:
    /// the version or ETag, and when it was read).
    type Version: Clone + Send + Sync;

    /// The user's lock, held until dropped ([`Backend::lock`]).
    type Guard<'a>
    where
        Self: 'a;

    /// Is the entry still as `version` describes it, as far as the backend can tell without
    /// I/O? Asked on every signed-in request (the cache's hit path): no lock, no system call,
    /// no allocation but a blob store's hand-over of a copy to its background revalidation
    /// (once per copy and bound). File: the entry's counter in the shared table is unchanged
    /// and its file was checked less than a second ago; Redis: no change of it was heard and
    /// its time-to-live has not passed; Azure Blob: the service confirmed it less than the
    /// staleness bound ago. False sends the read to [`Backend::get`].
    fn is_current(&self, version: &Self::Version) -> bool;

    /// Would a call to the backend fail at once now (its circuit breaker is open)? Then a
    /// read the cache cannot answer fails on the event loop instead of waiting in the host's
    /// blocking pool behind the calls a hung service holds. A local backend always answers.
    fn refusing(&self) -> bool {
        false
    }

    /// The entry `name`. With `known` (what an earlier read gave), the backend may answer
    /// [`Got::Unchanged`] when the entry is still that one (file: same stamp; Azure:
    /// `If-None-Match` answered 304) instead of its bytes. Refuses an entry it cannot trust
    /// as a whole (a symbolic link, not a file, too large) with [`StoreError::Corrupt`].
    fn get(
        &self,
        name: &str,
        known: Option<&Self::Version>,
    ) -> Result<Got<Self::Version>, StoreError>;

    /// Replaces the entry `name` with `bytes` atomically (a reader sees the old or the new
    /// bytes, never a mix) and durably, under the user's lock; the version written. Not
    /// conditional on a version read earlier: the lock orders writers, and a conditional put
    /// would invite the retry loop the lock contract forbids.
    fn put(
        &self,
        name: &str,
        bytes: &[u8],
        lock: &Self::Guard<'_>,
    ) -> Result<Self::Version, StoreError>;

    /// Removes the entry `name` (none is fine), durably, under the user's lock.
    fn delete(&self, name: &str, lock: &Self::Guard<'_>) -> Result<(), StoreError>;

    /// Takes the lock of the user whose entry is `name`, waiting (bounded) while another
    /// holds it: see the lock contract above.
    fn lock(&self, name: &str) -> Result<Self::Guard<'_>, StoreError>;

    /// Records the one-time value `name` until `expires_at` (Unix seconds): true the first
    /// time, false while it is recorded, atomically across processes and machines.
    fn claim_once(&self, name: &str, expires_at: i64) -> Result<bool, StoreError>;

    /// Up to `limit` names of entries holding a record, from `cursor` on (`None`: from the
    /// start), and the cursor of the next page (`None`: that was the last). For an operator's
    /// tool (`ezauth store`), never on a request's path. Lock and one-time entries are not
    /// listed, nor entries that read as no record (a blob placeholder). A cursor is the
    /// backend's own (a name, a `SCAN` cursor, a List Blobs marker) and stays valid while
    /// entries come and go: an entry present for the whole listing is listed (Redis may list
    /// it twice). The default: a backend that cannot list.
    fn list(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        let _ = (cursor, limit);
        Err(StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "this token store cannot list its entries",
        )))
    }
}

/// One page of [`Backend::list`].
#[derive(Debug, Default)]
pub struct Page {
    pub names: Vec<String>,
    /// Where the next page starts; `None` after the last.
    pub next: Option<String>,
}

/// What [`Backend::get`] found.
pub enum Got<V> {
    /// The entry is the one the `known` version described; here is the fresher version to
    /// keep (its counter and check time read now).
    Unchanged(V),
    Found(Vec<u8>, V),
    /// No entry; the version tells when that may have changed.
    Missing(V),
}
