//! The file token store: one file per user under a directory, named by a keyed hash of the
//! user id, holding the sealed record. Writes go to an owner-only temp file that is fsynced and
//! renamed into place, so a reader sees the old or the new record, never a torn one, even after
//! `kill -9`. A per-user lock file taken with `flock` serializes writers across threads (each
//! call opens its own descriptor) and across processes (nginx workers).
//!
//! Reads sit on the per-request path, so opened records are cached per process. A cached copy
//! is current while the user's counter in the shared generation table (see `generations`) is
//! unchanged: every write through any process bumps it. Files changed behind the store's back
//! are caught by a `lstat` at least every `RECHECK_AFTER`: a file is never changed in place,
//! only replaced by rename, so the same inode, size and modification time mean the same content.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use super::generations::{self, Generations};
use super::{open_record, seal_record, StoreError, TokenRecord, TokenStore, Update};
use crate::cache::BoundedCache;
use crate::crypto::{self, Keys};

/// Larger files are refused before reading: no record comes close.
const MAX_FILE_SIZE: u64 = 1 << 20;

/// How long a cached record is trusted on its generation alone before its file is checked.
const RECHECK_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

pub struct FileStore {
    dir: PathBuf,
    keys: Keys,
    /// Records by user id.
    cache: BoundedCache<Cached>,
    /// `None` when the table cannot be mapped: every read then checks the file.
    generations: Option<Generations>,
    recheck_after: std::time::Duration,
    markers: Markers,
}

/// A record as read, with the identity of the file it came from, the generation it was read
/// at, and when its file was last checked.
struct Cached {
    /// The user's slot in the generation table.
    slot: usize,
    stamp: Stamp,
    generation: u64,
    checked: std::time::Instant,
    record: Arc<TokenRecord>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i64,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        }
    }
}

impl FileStore {
    /// Opens (and creates, owner-only) the store directory, with the default cache size.
    pub fn open(dir: &Path, keys: Keys) -> std::io::Result<FileStore> {
        let budget =
            crate::cache::Budget::of((crate::config::DEFAULT_CACHE_MEGABYTES as usize) << 20);
        Self::open_with(dir, keys, budget.records, &crate::logger::Logger::silent())
    }

    /// Opens the store with a cache of `cache_bytes`, logging what it cannot do to `log`.
    pub fn open_with(
        dir: &Path,
        keys: Keys,
        cache_bytes: usize,
        _log: &crate::logger::Logger,
    ) -> std::io::Result<FileStore> {
        fs::create_dir_all(dir)?;
        let meta = fs::symlink_metadata(dir)?;
        if !meta.is_dir() {
            return Err(std::io::Error::other(format!(
                "{} is not a directory",
                dir.display()
            )));
        }
        if meta.uid() == unsafe { libc::geteuid() } {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
        Ok(FileStore {
            generations: Generations::open(&dir.join(".generations")).ok(),
            dir: dir.to_owned(),
            keys,
            cache: BoundedCache::new(cache_bytes, |c: &Cached| c.record.approx_bytes()),
            recheck_after: RECHECK_AFTER,
            markers: Markers::default(),
        })
    }

    fn path_for(&self, user: &str) -> PathBuf {
        self.dir
            .join(format!("{}.tok", self.keys.store_file_name(user)))
    }

    /// Where the entry lived under previous encryption keys (key rotation).
    fn previous_paths_for(&self, user: &str) -> Vec<PathBuf> {
        self.keys
            .previous_store_file_names(user)
            .into_iter()
            .map(|name| self.dir.join(format!("{name}.tok")))
            .collect()
    }

    /// An entry written before a key rotation, under its old name; it is moved to the current
    /// name by the next write.
    fn read_previous(&self, user: &str) -> Result<Option<Arc<TokenRecord>>, StoreError> {
        for path in self.previous_paths_for(user) {
            if let Some((record, _)) = self.read_file(user, &path)? {
                return Ok(Some(Arc::new(record)));
            }
        }
        Ok(None)
    }

    fn lock_path_for(&self, user: &str) -> PathBuf {
        self.dir
            .join(format!("{}.lock", self.keys.store_file_name(user)))
    }

    /// The record, from the cache when nothing was written since it was read.
    fn read_cached(&self, user: &str) -> Result<Option<Arc<TokenRecord>>, StoreError> {
        let now = std::time::Instant::now();
        // The fast path: no file name to compute, no system call. The generation is read
        // before anything else: a write that lands after this is seen next time.
        if let Some(g) = &self.generations {
            if let Some(c) = self.cache.lock().get(user) {
                if c.generation == g.current(c.slot)
                    && now.duration_since(c.checked) < self.recheck_after
                {
                    return Ok(Some(Arc::clone(&c.record)));
                }
            }
        }
        let path = self.path_for(user);
        let slot = Self::slot(&path);
        let generation = self.generations.as_ref().map_or(0, |g| g.current(slot));
        let stamp = match fs::symlink_metadata(&path) {
            Ok(meta) => Stamp::of(&meta),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.cache.lock().remove(user);
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(mut c) = self.cache.lock().get_mut(user) {
            if c.stamp == stamp {
                c.generation = generation;
                c.checked = now;
                return Ok(Some(Arc::clone(&c.record)));
            }
        }
        let Some((record, stamp)) = self.read_file(user, &path)? else {
            return Ok(None);
        };
        let record = Arc::new(record);
        self.cache.insert(
            user.to_owned(),
            Cached {
                slot,
                stamp,
                generation,
                checked: now,
                record: Arc::clone(&record),
            },
        );
        Ok(Some(record))
    }

    /// Tells every process that `path` changed.
    fn bump(&self, path: &Path) {
        if let Some(g) = &self.generations {
            g.bump(Self::slot(path));
        }
    }

    fn slot(path: &Path) -> usize {
        generations::slot_of(&path.file_name().unwrap_or_default().to_string_lossy())
    }

    fn read(&self, user: &str) -> Result<Option<TokenRecord>, StoreError> {
        let path = self.path_for(user);
        Ok(self.read_file(user, &path)?.map(|(record, _)| record))
    }

    fn read_file(
        &self,
        user: &str,
        path: &Path,
    ) -> Result<Option<(TokenRecord, Stamp)>, StoreError> {
        let mut file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(StoreError::Corrupt("entry is a symbolic link".into()))
            }
            Err(e) => return Err(e.into()),
        };
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(StoreError::Corrupt("entry is not a regular file".into()));
        }
        if meta.len() > MAX_FILE_SIZE {
            return Err(StoreError::Corrupt(format!(
                "entry is {} bytes",
                meta.len()
            )));
        }
        let mut sealed = Vec::with_capacity(meta.len() as usize);
        (&mut file)
            .take(MAX_FILE_SIZE + 1)
            .read_to_end(&mut sealed)?;
        let record = open_record(&self.keys, user, &sealed)?;
        Ok(Some((record, Stamp::of(&meta))))
    }

    fn write(&self, user: &str, record: &TokenRecord) -> Result<(), StoreError> {
        let sealed = seal_record(&self.keys, user, record);
        let tmp = self.dir.join(format!(".tmp-{}", crypto::random_token(12)));
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp)?;
            f.write_all(&sealed)?;
            stamp_uniquely(&f)?;
            f.sync_all()?;
            let path = self.path_for(user);
            fs::rename(&tmp, &path)?;
            self.bump(&path);
            self.remove_previous(user);
            // The rename is durable once the directory is synced.
            File::open(&self.dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(StoreError::from)
    }

    /// Removes the entry's files under previous keys' names, once it lives under the current one.
    fn remove_previous(&self, user: &str) {
        for old in self.previous_paths_for(user) {
            if fs::remove_file(&old).is_ok() {
                self.bump(&old);
            }
        }
    }

    fn remove(&self, user: &str) -> Result<(), StoreError> {
        self.remove_previous(user);
        let path = self.path_for(user);
        let removed = fs::remove_file(&path);
        self.bump(&path);
        match removed {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Holds the user's lock (exclusive `flock`) while `f` runs.
    fn locked<T>(
        &self,
        user: &str,
        f: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.lock_path_for(user))?;
        loop {
            // SAFETY: flock on a descriptor we own; the lock is released when `lock` closes.
            if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } == 0 {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err.into());
            }
        }
        let result = f();
        drop(lock);
        result
    }
}

/// Sets a file's modification time (seconds and nanoseconds).
fn set_mtime(f: &File, secs: i64, nanos: i64) -> std::io::Result<()> {
    let times = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        libc::timespec {
            tv_sec: secs as libc::time_t,
            tv_nsec: nanos as libc::c_long,
        },
    ];
    // SAFETY: a valid descriptor and a two-element timespec array, as futimens requires.
    if unsafe { libc::futimens(f.as_raw_fd(), times.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Sets the file's modification time to now with random nanoseconds, so that a record that
/// replaces another of the same size in the same clock tick (even on a recycled inode) still
/// gets a different cache stamp.
fn stamp_uniquely(f: &File) -> std::io::Result<()> {
    let mut nanos = [0u8; 4];
    crypto::random_fill(&mut nanos);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    set_mtime(
        f,
        now.as_secs() as i64,
        i64::from(u32::from_le_bytes(nanos) % 1_000_000_000),
    )
}

impl TokenStore for FileStore {
    fn load(&self, user: &str) -> Result<Option<Arc<TokenRecord>>, StoreError> {
        match self.read_cached(user)? {
            None => self.read_previous(user),
            found => Ok(found),
        }
    }

    fn save(&self, user: &str, record: &TokenRecord) -> Result<(), StoreError> {
        self.locked(user, || self.write(user, record))
    }

    fn delete(&self, user: &str) -> Result<(), StoreError> {
        self.locked(user, || self.remove(user))
    }

    fn update(
        &self,
        user: &str,
        change: &mut dyn FnMut(Option<TokenRecord>) -> Update,
    ) -> Result<(), StoreError> {
        self.locked(user, || {
            // An entry that cannot be read is replaced, not merged into.
            let current = match self.read(user).unwrap_or(None) {
                None => self
                    .read_previous(user)
                    .unwrap_or(None)
                    .map(Arc::unwrap_or_clone),
                found => found,
            };
            match change(current) {
                Update::Keep => Ok(()),
                Update::Replace(next) => self.write(user, &next),
                Update::Delete => self.remove(user),
            }
        })
    }

    fn claim_once(&self, key: &str, expires_at: i64) -> Result<bool, StoreError> {
        // Markers live in one folder per minute of expiry: the same value always lands in the
        // same folder, and a whole folder goes once its minute has passed.
        let bucket = expires_at.div_euclid(60);
        let folder = self.dir.join(USED_DIR).join(bucket.to_string());
        if !self.markers.admit(bucket) {
            return Err(StoreError::Io(std::io::Error::other(
                "too many one-time markers this minute",
            )));
        }
        fs::create_dir_all(&folder)?;
        // The marker's name is a keyed hash: the state itself never touches the disk.
        let marker = folder.join(self.keys.store_file_name(&format!("one-time:{key}")));
        let claimed = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&marker)
        {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e.into()),
        };
        self.markers
            .prune_passed(&self.dir.join(USED_DIR), crate::session::now());
        claimed
    }

    fn is_remote(&self) -> bool {
        false
    }
}

/// Where one-time markers live, below the store directory.
const USED_DIR: &str = ".used";

/// One-time markers per process: a bound on how many one minute may take, and the pruning of
/// folders whose minute has passed, which runs on a thread of its own, never on the request.
#[derive(Default)]
struct Markers {
    /// The minute being counted and how many markers it took in this process.
    counted: parking_lot::Mutex<(i64, usize)>,
    /// The newest minute already pruned, and whether a pruning thread is running.
    pruned_until: AtomicI64,
    pruning: Arc<AtomicBool>,
}

/// At most this many logins may complete per minute of expiry in one process; past it, replay
/// protection rests on the in-process table and the provider's one-time codes (logged).
const MAX_MARKERS_PER_MINUTE: usize = 100_000;

impl Markers {
    fn admit(&self, bucket: i64) -> bool {
        let mut counted = self.counted.lock();
        if counted.0 != bucket {
            *counted = (bucket, 0);
        }
        counted.1 += 1;
        counted.1 <= MAX_MARKERS_PER_MINUTE
    }

    /// Removes the folders of minutes that have passed, once a minute at most, off the
    /// caller's thread.
    fn prune_passed(&self, used: &Path, now: i64) {
        let minute = now.div_euclid(60);
        if self.pruned_until.swap(minute, Ordering::Relaxed) == minute
            || self.pruning.swap(true, Ordering::Acquire)
        {
            return;
        }
        let (used, pruning) = (used.to_owned(), Arc::clone(&self.pruning));
        let spawned = std::thread::Builder::new()
            .name("ezauth-prune".into())
            .spawn(move || {
                for entry in fs::read_dir(&used).into_iter().flatten().flatten() {
                    let passed = entry
                        .file_name()
                        .to_str()
                        .and_then(|n| n.parse::<i64>().ok())
                        .is_some_and(|m| m < minute);
                    if passed {
                        let _ = fs::remove_dir_all(entry.path());
                    }
                }
                pruning.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.pruning.store(false, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ezauth-{tag}-{}", crypto::random_token(6)));
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn store(dir: &Path) -> FileStore {
        FileStore::open(dir, Keys::new(&[5u8; 32], &[6u8; 32], &[])).unwrap()
    }

    fn record(token: &str) -> TokenRecord {
        TokenRecord {
            provider_name: "aad".into(),
            user_id: "u@example.test".into(),
            access_token: Some(token.into()),
            ..Default::default()
        }
    }

    #[test]
    fn save_load_delete() {
        let dir = temp_dir("fs1");
        let s = store(&dir);
        assert!(s.load("sid:1").unwrap().is_none());
        s.save("sid:1", &record("a")).unwrap();
        assert_eq!(
            s.load("sid:1").unwrap().unwrap().access_token.as_deref(),
            Some("a")
        );
        let mode = fs::metadata(s.path_for("sid:1"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        s.delete("sid:1").unwrap();
        assert!(s.load("sid:1").unwrap().is_none());
        s.delete("sid:1").unwrap();
    }

    #[test]
    fn tampered_truncated_and_foreign_files_are_refused() {
        let dir = temp_dir("fs2");
        let s = store(&dir);
        s.save("sid:1", &record("a")).unwrap();
        s.save("sid:2", &record("b")).unwrap();
        let p1 = s.path_for("sid:1");
        let good = fs::read(&p1).unwrap();

        let mut flipped = good.clone();
        flipped[20] ^= 0x40;
        fs::write(&p1, &flipped).unwrap();
        assert!(matches!(s.load("sid:1"), Err(StoreError::Corrupt(_))));

        fs::write(&p1, &good[..good.len() / 2]).unwrap();
        assert!(matches!(s.load("sid:1"), Err(StoreError::Corrupt(_))));

        // user 2's file moved onto user 1's name
        fs::copy(s.path_for("sid:2"), &p1).unwrap();
        assert!(matches!(s.load("sid:1"), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn symlinks_and_directories_are_refused() {
        let dir = temp_dir("fs3");
        let s = store(&dir);
        let target = dir.join("elsewhere");
        fs::write(&target, b"x").unwrap();
        std::os::unix::fs::symlink(&target, s.path_for("sid:1")).unwrap();
        assert!(matches!(s.load("sid:1"), Err(StoreError::Corrupt(_))));
        fs::create_dir(s.path_for("sid:2")).unwrap();
        assert!(s.load("sid:2").is_err());
    }

    #[test]
    fn updates_from_many_threads_lose_nothing() {
        let dir = temp_dir("fs4");
        let s = std::sync::Arc::new(store(&dir));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        s.update("sid:c", &mut |cur| {
                            let n: u32 = cur
                                .and_then(|r| r.access_token)
                                .map_or(0, |t| t.parse().unwrap());
                            Update::Replace(Box::new(record(&(n + 1).to_string())))
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let n = s
            .load("sid:c")
            .unwrap()
            .unwrap()
            .access_token
            .clone()
            .unwrap();
        assert_eq!(n, "200");
    }

    #[test]
    fn cached_reads_see_writes_from_another_store_instance() {
        // Two instances stand for two processes (nginx workers) sharing the directory.
        let dir = temp_dir("fs6");
        let (a, b) = (store(&dir), store(&dir));
        a.save("sid:1", &record("one")).unwrap();
        assert_eq!(
            b.load("sid:1").unwrap().unwrap().access_token.as_deref(),
            Some("one")
        );
        a.save("sid:1", &record("two")).unwrap();
        assert_eq!(
            b.load("sid:1").unwrap().unwrap().access_token.as_deref(),
            Some("two")
        );
        a.delete("sid:1").unwrap();
        assert!(b.load("sid:1").unwrap().is_none());
        // A file corrupted behind the store's back is noticed once the recheck interval passed.
        let b = FileStore {
            recheck_after: std::time::Duration::ZERO,
            ..b
        };
        a.save("sid:2", &record("x")).unwrap();
        assert!(b.load("sid:2").unwrap().is_some());
        let p = b.path_for("sid:2");
        let mut bytes = fs::read(&p).unwrap();
        bytes[10] ^= 1;
        fs::write(dir.join("tmp"), &bytes).unwrap();
        fs::rename(dir.join("tmp"), &p).unwrap();
        assert!(b.load("sid:2").is_err());
    }

    #[test]
    fn one_time_claims_hold_across_store_instances() {
        let dir = temp_dir("fs7");
        let (a, b) = (store(&dir), store(&dir));
        let later = crate::session::now() + 300;
        assert!(a.claim_once("state-1", later).unwrap());
        assert!(
            !b.claim_once("state-1", later).unwrap(),
            "a second process sees the claim"
        );
        assert!(!a.claim_once("state-1", later).unwrap());
        assert!(b.claim_once("state-2", later).unwrap());
        let folder = dir.join(USED_DIR).join(later.div_euclid(60).to_string());
        let names: Vec<String> = fs::read_dir(folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2);
        assert!(names.iter().all(|n| !n.contains("state")), "{names:?}");
    }

    #[test]
    fn passed_minutes_of_markers_are_pruned_off_the_request_thread() {
        let dir = temp_dir("fs7b");
        let s = store(&dir);
        let now = crate::session::now();
        for i in 0..50 {
            assert!(s.claim_once(&format!("old-{i}"), now - 600).unwrap());
        }
        let old_folder = dir
            .join(USED_DIR)
            .join((now - 600).div_euclid(60).to_string());
        let settled = || {
            for _ in 0..200 {
                if !s.markers.pruning.load(Ordering::Acquire) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            panic!("the pruning thread did not finish");
        };
        settled();
        // The next claim in a new minute starts the pruning thread; it finishes on its own.
        s.markers.pruned_until.store(0, Ordering::Relaxed);
        assert!(s.claim_once("new", now + 300).unwrap());
        settled();
        assert!(
            !old_folder.exists(),
            "the passed minute's folder was removed"
        );
        assert!(
            !s.claim_once("new", now + 300).unwrap(),
            "live markers stay"
        );
    }

    #[test]
    fn markers_per_minute_are_bounded() {
        let m = Markers::default();
        for _ in 0..MAX_MARKERS_PER_MINUTE {
            assert!(m.admit(7));
        }
        assert!(!m.admit(7));
        assert!(m.admit(8), "a new minute starts a new count");
    }

    #[test]
    fn entries_survive_a_key_rotation_and_move_to_the_new_name() {
        let dir = temp_dir("fs8");
        let old = FileStore::open(&dir, Keys::new(&[1u8; 32], &[2u8; 32], &[])).unwrap();
        old.save("sid:r", &record("before")).unwrap();
        let rotated =
            FileStore::open(&dir, Keys::new(&[7u8; 32], &[2u8; 32], &[vec![1u8; 32]])).unwrap();
        let got = rotated
            .load("sid:r")
            .unwrap()
            .expect("found under the old name");
        assert_eq!(got.access_token.as_deref(), Some("before"));
        rotated
            .update("sid:r", &mut |cur| {
                let mut r = cur.expect("update sees the old entry");
                r.access_token = Some("after".into());
                Update::Replace(Box::new(r))
            })
            .unwrap();
        assert!(!old.path_for("sid:r").exists(), "the old name is gone");
        assert!(rotated.path_for("sid:r").exists());
        // Once rewritten, the entry needs only the new key; a key never configured finds nothing.
        let forgetful = FileStore::open(&dir, Keys::new(&[7u8; 32], &[2u8; 32], &[])).unwrap();
        assert_eq!(
            forgetful
                .load("sid:r")
                .unwrap()
                .unwrap()
                .access_token
                .as_deref(),
            Some("after")
        );
        let lost = FileStore::open(&dir, Keys::new(&[9u8; 32], &[2u8; 32], &[])).unwrap();
        assert!(lost.load("sid:r").unwrap().is_none());
    }

    #[test]
    fn different_users_get_different_unguessable_names() {
        let dir = temp_dir("fs5");
        let s = store(&dir);
        let a = s.path_for("sid:1");
        assert_ne!(a, s.path_for("sid:2"));
        assert!(!a.to_string_lossy().contains("sid"));
    }
}
