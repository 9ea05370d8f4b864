//! The file backend: one file per user under a directory, named by the entry's name (a keyed
//! hash of the user id, chosen by the shared layer), holding the sealed record. Writes go to
//! an owner-only temp file that is fsynced and renamed into place, and the directory is
//! fsynced after every rename and unlink, so a reader sees the old or the new record, never a
//! torn one, even after `kill -9`, and a power cut cannot bring back a removed record. A
//! per-user lock file taken with `flock` serializes writers across threads (each call opens
//! its own descriptor) and across processes (nginx workers); it is unlinked by its holder when
//! done, so lock files do not pile up.
//!
//! Reads sit on the per-request path: the shared layer caches opened records, and asks this
//! backend whether a copy is current. It is while the user's counter in the shared generation
//! table (see `generations`) is unchanged: every write through any process bumps it. Files
//! changed behind the store's back are caught by a `lstat` at least every `RECHECK_AFTER`: a
//! file is never changed in place, only replaced by rename, so the same inode, size and
//! modification time mean the same content.
//!
//! Faults: without the table (a full or read-only disk) every cached read checks its file; a
//! read-only directory serves reads and fails writes; a removed directory is made again,
//! owner-only, with its table; temp files of killed writers and unused lock files are swept.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::stat::futimens;
use nix::sys::time::TimeSpec;
use nix::unistd::geteuid;

use super::backend::{Backend, Got, Page};
use super::generations::{self, Refreshed, Table};
use super::{Sealed, StoreError};
use crate::clock::{Clock, SystemClock};
use crate::crypto::{self, Keys};
use crate::logger::Logger;

/// Larger files are refused before reading: no record comes close.
const MAX_FILE_SIZE: u64 = 1 << 20;

/// How long a cached record is trusted on its generation alone before its file is checked.
const RECHECK_AFTER: Duration = Duration::from_secs(1);

/// How often a reader checks that the table it maps is still the directory's.
const TABLE_CHECK_MS: u64 = 1000;

/// A temp file older than this belongs to a writer that died: writers keep one for the few
/// milliseconds of a write and fsync.
const STALE_TEMP_AFTER: Duration = Duration::from_secs(600);

/// How often each process sweeps the directory (temp files, unused lock files), at most.
const SWEEP_EVERY_SECS: i64 = 600;

/// Bound on attempts to take a lock whose file its previous holder removed meanwhile.
const LOCK_ATTEMPTS: usize = 1000;

pub(super) const TEMP_PREFIX: &str = ".tmp-";
const LOCK_SUFFIX: &str = ".lock";
const RECORD_SUFFIX: &str = ".tok";

/// The file token store: the shared layer over the file backend.
pub type FileStore = Sealed<FileBackend>;

pub struct FileBackend {
    dir: PathBuf,
    /// The shared generation table; none when it cannot be mapped (every read then checks the
    /// file).
    table: Table,
    /// When a reader last checked that `table` is still the directory's (ms since `opened`).
    table_checked_ms: AtomicU64,
    /// Whether this process has tried to map the table yet (it does at its first use).
    table_tried: AtomicBool,
    opened: Instant,
    recheck_after: Duration,
    markers: Markers,
    sweeper: Sweeper,
    log: Logger,
    /// Directory fsyncs made (tests check that removals are made durable).
    #[cfg(test)]
    dir_syncs: std::sync::atomic::AtomicUsize,
}

/// What a read or write saw of a user's file: the file's identity (none: there was no file),
/// the table and generation it was read at, and when the file was last checked.
#[derive(Clone, Copy)]
pub struct FileVersion {
    /// The user's slot in the generation table.
    slot: usize,
    stamp: Option<Stamp>,
    epoch: u64,
    generation: u64,
    /// When the file was last checked; none: at the next read (a version this process wrote,
    /// whose file may be changed behind the store's back before anyone reads it).
    checked: Option<Instant>,
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

/// What a sweep removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub temp_files: usize,
    pub lock_files: usize,
}

/// Creates the store directory, owner-only, and any missing parent (as `mkdir -p` would, but
/// never writable by others: nginx runs with umask 0, and a parent others can write lets them
/// swap the store directory).
fn make_dir(dir: &Path) -> std::io::Result<()> {
    if let Some(parent) = dir.parent() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)?;
    }
    match DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

impl Sealed<FileBackend> {
    /// Opens the store directory, with the default cache size (see `open_with`).
    pub fn open(dir: &Path, keys: Keys) -> std::io::Result<FileStore> {
        let default = (crate::config::DEFAULT_CACHE_MEGABYTES as usize) << 20;
        let budget = crate::cache::Budget::of(default);
        Self::open_with(dir, keys, budget.records, &Logger::silent())
    }

    /// Opens the store directory (see [`FileBackend::open`]), with a cache of `cache_bytes`.
    pub fn open_with(
        dir: &Path,
        keys: Keys,
        cache_bytes: usize,
        log: &Logger,
    ) -> std::io::Result<FileStore> {
        Ok(Sealed::new(
            FileBackend::open(dir, log)?,
            keys,
            cache_bytes,
            log,
        ))
    }

    /// See [`FileBackend::sweep`].
    pub fn sweep(&self) -> Swept {
        self.backend().sweep()
    }
}

impl FileBackend {
    /// Opens the store directory, logging to `log` what it cannot do. Nothing is created
    /// here: the directory (owner-only), the shared table and every other file are made by the
    /// process that first uses them. A store is opened where the configuration is loaded,
    /// which may be another user than the one that uses it (the nginx master, root, for
    /// workers running as `www-data`): a file made here would belong to the wrong user.
    /// `access::check_directory` tells beforehand whether that user can. Only a path that
    /// exists and is not a directory is an error: on a read-only or full disk the store serves
    /// reads.
    pub fn open(dir: &Path, log: &Logger) -> std::io::Result<FileBackend> {
        match fs::symlink_metadata(dir) {
            Ok(meta) if !meta.is_dir() => {
                return Err(std::io::Error::other(format!(
                    "{} is not a directory",
                    dir.display()
                )));
            }
            Ok(meta) if meta.uid() == geteuid().as_raw() && meta.mode() & 0o077 != 0 => {
                // Owner-only, keeping the owner's bits (a directory made read-only stays so).
                let owner_only = fs::Permissions::from_mode(meta.mode() & 0o700);
                if let Err(e) = fs::set_permissions(dir, owner_only) {
                    log.warn(format_args!(
                        "token store {}: cannot make the directory owner-only: {e}",
                        dir.display()
                    ));
                }
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(FileBackend {
            dir: dir.to_owned(),
            table: Table::empty(),
            table_checked_ms: AtomicU64::new(0),
            table_tried: AtomicBool::new(false),
            opened: Instant::now(),
            recheck_after: RECHECK_AFTER,
            markers: Markers::default(),
            sweeper: Sweeper::default(),
            log: log.clone(),
            #[cfg(test)]
            dir_syncs: Default::default(),
        })
    }

    fn without_table(&self, why: &str) {
        self.log.warn(format_args!(
            "token store {}: running without the shared change table ({why}): every cached \
             read checks its file",
            self.dir.display()
        ));
    }

    fn table_path(&self) -> PathBuf {
        self.dir.join(generations::FILE_NAME)
    }

    /// Makes the table the directory's current one (creating it for a writer, who bumps it
    /// next), logging when the store has to go on without one.
    fn refresh_table(&self, create: bool) {
        let had = self.table.get().is_some();
        let first = !self.table_tried.swap(true, Ordering::Relaxed);
        if let Refreshed::Without(why) = self.table.refresh(&self.table_path(), create) {
            if had || first {
                self.without_table(&why);
            }
        }
    }

    /// Readers map the table at their process's first read, then check it at most once a
    /// `TABLE_CHECK_MS` per process, off the fast path.
    fn check_table(&self, now: Instant) {
        if !self.table_tried.load(Ordering::Relaxed) {
            self.refresh_table(false);
            return;
        }
        let ms = now.duration_since(self.opened).as_millis() as u64;
        let last = self.table_checked_ms.load(Ordering::Relaxed);
        if ms.saturating_sub(last) >= TABLE_CHECK_MS
            && self
                .table_checked_ms
                .compare_exchange(last, ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.refresh_table(false);
        }
    }

    /// Makes the store directory again (owner-only) after it was removed, with its table.
    fn remake_dir(&self) -> std::io::Result<()> {
        make_dir(&self.dir)?;
        self.log.warn(format_args!(
            "token store {}: the directory was missing; made it again",
            self.dir.display()
        ));
        self.refresh_table(true);
        Ok(())
    }

    /// The file of the entry `name`.
    fn path_of(&self, name: &str) -> PathBuf {
        debug_assert!(is_hash(name), "{name:?} is not a name the layer makes");
        self.dir.join(format!("{name}{RECORD_SUFFIX}"))
    }

    fn lock_path_of(&self, name: &str) -> PathBuf {
        debug_assert!(is_hash(name), "{name:?} is not a name the layer makes");
        self.dir.join(format!("{name}{LOCK_SUFFIX}"))
    }

    /// The version of `slot` as of now, for a file with `stamp`. The generation is read
    /// before the file is: a write that lands after this is seen next time.
    fn version(&self, slot: usize, stamp: Option<Stamp>, now: Option<Instant>) -> FileVersion {
        let (epoch, generation) = self
            .table
            .get()
            .map_or((0, 0), |g| (g.epoch(), g.current(slot)));
        FileVersion {
            slot,
            stamp,
            epoch,
            generation,
            checked: now,
        }
    }

    /// Tells every process that the entry `name` changed: bumps its counter in the directory's
    /// table (mapping the table first if the directory has a new one).
    fn bump(&self, name: &str) {
        self.refresh_table(true);
        if let Some(g) = self.table.get() {
            g.bump(generations::slot_of(name));
        }
    }

    /// The file's bytes and stamp, `None` when there is no file.
    fn read_file(&self, path: &Path) -> Result<Option<(Vec<u8>, Stamp)>, StoreError> {
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
        Ok(Some((sealed, Stamp::of(&meta))))
    }

    /// A new owner-only temp file in the directory (made again if it was removed).
    fn create_temp(&self) -> std::io::Result<(PathBuf, File)> {
        let create = || {
            let tmp = self
                .dir
                .join(format!("{TEMP_PREFIX}{}", crypto::random_token(12)));
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp)
                .map(|f| (tmp, f))
        };
        match create() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.remake_dir()?;
                create()
            }
            other => other,
        }
    }

    fn sync_dir(&self) -> std::io::Result<()> {
        #[cfg(test)]
        self.dir_syncs.fetch_add(1, Ordering::Relaxed);
        File::open(&self.dir)?.sync_all()
    }

    /// Takes the user's lock: an exclusive `flock` on the entry's lock file, which the holder
    /// unlinks when done ([`FileLock`]'s drop). A waiter that then gets the lock of the
    /// unlinked file finds that the path no longer names it, and starts over with the path's
    /// new file.
    fn take_lock(&self, name: &str) -> Result<FileLock, StoreError> {
        let path = self.lock_path_of(name);
        let mut attempts = 0;
        loop {
            attempts += 1;
            if attempts > LOCK_ATTEMPTS {
                return Err(StoreError::Io(std::io::Error::other(
                    "the lock file kept being replaced",
                )));
            }
            let open = || {
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
            };
            let file = match open() {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.remake_dir()?;
                    open()?
                }
                other => other?,
            };
            lock_exclusive(&file)?;
            if names(&path, &file)? {
                return Ok(FileLock { path, _file: file });
            }
        }
    }

    /// Removes temp files that writers killed mid-write left (older than `STALE_TEMP_AFTER`)
    /// and lock files nobody holds (a process killed while holding one, earlier versions).
    pub fn sweep(&self) -> Swept {
        sweep_dir(&self.dir, std::time::SystemTime::now())
    }

    /// Starts a sweep on a thread of its own when one is due (once per `SWEEP_EVERY_SECS` per
    /// process, the first at the first write): never on the request's thread.
    fn maybe_sweep(&self) {
        let now = SystemClock.now();
        let due = self.sweeper.due.load(Ordering::Relaxed);
        if now < due
            || self
                .sweeper
                .due
                .compare_exchange(
                    due,
                    now + SWEEP_EVERY_SECS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
            || self.sweeper.running.swap(true, Ordering::Acquire)
        {
            return;
        }
        let (dir, log, running) = (
            self.dir.clone(),
            self.log.clone(),
            Arc::clone(&self.sweeper.running),
        );
        let spawned = std::thread::Builder::new()
            .name("ezauth-sweep".into())
            .spawn(move || {
                let swept = sweep_dir(&dir, std::time::SystemTime::now());
                if swept != Swept::default() {
                    log.info(format_args!(
                        "token store {}: removed {} temp files of interrupted writes and {} \
                         unused lock files",
                        dir.display(),
                        swept.temp_files,
                        swept.lock_files
                    ));
                }
                running.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.sweeper.running.store(false, Ordering::Release);
        }
    }
}

/// When the next sweep is due (Unix seconds), and whether one is running.
#[derive(Default)]
struct Sweeper {
    due: AtomicI64,
    running: Arc<AtomicBool>,
}

/// Names come from the shared layer, a keyed hash in hex: never a path, never a dot file.
fn is_hash(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Takes `f`'s exclusive lock (`flock(LOCK_EX)`, std's `File::lock`), waiting, and retried
/// when a signal interrupts the wait (nginx installs its handlers without `SA_RESTART`). The
/// lock is released when the file closes.
fn lock_exclusive(f: &File) -> std::io::Result<()> {
    loop {
        match f.lock() {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Does `path` still name the file `f` has open?
fn names(path: &Path, f: &File) -> std::io::Result<bool> {
    let held = f.metadata()?;
    match fs::symlink_metadata(path) {
        Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn sweep_dir(dir: &Path, now: std::time::SystemTime) -> Swept {
    let mut swept = Swept::default();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        if name.starts_with(TEMP_PREFIX) {
            let stale = fs::symlink_metadata(&path).is_ok_and(|m| {
                m.is_file()
                    && m.modified()
                        .ok()
                        .and_then(|t| now.duration_since(t).ok())
                        .is_some_and(|age| age > STALE_TEMP_AFTER)
            });
            if stale && fs::remove_file(&path).is_ok() {
                swept.temp_files += 1;
            }
        } else if name.ends_with(LOCK_SUFFIX) && remove_unused_lock(&path) {
            swept.lock_files += 1;
        }
    }
    swept
}

/// Removes a lock file if nobody holds its lock, the way a holder does: lock it (without
/// waiting), check the path still names it, unlink it while holding the lock.
fn remove_unused_lock(path: &Path) -> bool {
    let Ok(f) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    else {
        return false;
    };
    f.try_lock().is_ok() && names(path, &f).unwrap_or(false) && fs::remove_file(path).is_ok()
}

/// Sets a file's modification time (seconds and nanoseconds).
fn set_mtime(f: &File, secs: i64, nanos: i64) -> std::io::Result<()> {
    // The access time becomes now, as before; std's `File::set_times` would leave it alone.
    futimens(
        f,
        &TimeSpec::UTIME_NOW,
        &TimeSpec::new(secs as _, nanos as _),
    )?;
    Ok(())
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

/// The user's lock (`FileBackend::take_lock`): held while the file is open; its holder
/// unlinks the file first, so nobody else holds this file's lock and thinks it valid.
pub struct FileLock {
    path: PathBuf,
    /// Holds the `flock`; closed (releasing it) after `drop` unlinked the path.
    _file: File,
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

impl Backend for FileBackend {
    /// The disk is this machine's: a read is a page-cache read in the common case.
    const LOCAL: bool = true;

    type Version = FileVersion;
    type Guard<'a> = FileLock;

    fn is_current(&self, v: &FileVersion) -> bool {
        // Reads the table's counter only: no file name to compute, no system call.
        self.table.get().is_some_and(|g| {
            v.epoch == g.epoch()
                && v.generation == g.current(v.slot)
                && v.checked.is_some_and(|c| c.elapsed() < self.recheck_after)
        })
    }

    fn get(&self, name: &str, known: Option<&FileVersion>) -> Result<Got<FileVersion>, StoreError> {
        let now = Instant::now();
        self.check_table(now);
        let slot = generations::slot_of(name);
        let version = self.version(slot, None, Some(now));
        let path = self.path_of(name);
        if let Some(known) = known {
            match fs::symlink_metadata(&path) {
                Ok(meta) if known.stamp == Some(Stamp::of(&meta)) => {
                    return Ok(Got::Unchanged(FileVersion {
                        stamp: known.stamp,
                        ..version
                    }))
                }
                Ok(_) => {}
                // Still no file: the known absence stands.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && known.stamp.is_none() => {
                    return Ok(Got::Unchanged(version))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(Got::Missing(version))
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(match self.read_file(&path)? {
            Some((bytes, stamp)) => Got::Found(
                bytes,
                FileVersion {
                    stamp: Some(stamp),
                    ..version
                },
            ),
            None => Got::Missing(version),
        })
    }

    fn put(&self, name: &str, bytes: &[u8], _lock: &FileLock) -> Result<FileVersion, StoreError> {
        let (tmp, mut f) = self.create_temp()?;
        let result = (|| -> std::io::Result<FileVersion> {
            f.write_all(bytes)?;
            stamp_uniquely(&f)?;
            f.sync_all()?;
            let stamp = Stamp::of(&f.metadata()?);
            fs::rename(&tmp, self.path_of(name))?;
            self.bump(name);
            // Read after this write's bump: any later write bumps again.
            let version = self.version(generations::slot_of(name), Some(stamp), None);
            // The rename is durable once the directory is synced.
            self.sync_dir()?;
            Ok(version)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        self.maybe_sweep();
        result.map_err(StoreError::from)
    }

    fn delete(&self, name: &str, _lock: &FileLock) -> Result<(), StoreError> {
        let removed = fs::remove_file(self.path_of(name));
        self.bump(name);
        self.maybe_sweep();
        match removed {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
            // The unlink is durable once the directory is synced: a power cut must not bring
            // back the tokens of a user who signed out.
            Ok(()) => self.sync_dir().map_err(StoreError::from),
        }
    }

    fn lock(&self, name: &str) -> Result<FileLock, StoreError> {
        self.take_lock(name)
    }

    /// The directory's record files, in name order; the cursor is the last name listed. Each
    /// page reads the whole directory (a `readdir` offset does not survive between calls).
    fn list(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Page::default()),
            Err(e) => return Err(e.into()),
        };
        let mut names = Vec::new();
        for entry in entries {
            let file = entry?.file_name();
            let Some(name) = file.to_str().and_then(|f| f.strip_suffix(RECORD_SUFFIX)) else {
                continue;
            };
            if is_hash(name) && cursor.is_none_or(|c| name > c) {
                names.push(name.to_owned());
            }
        }
        names.sort_unstable();
        let more = names.len() > limit;
        names.truncate(limit);
        let next = if more { names.last().cloned() } else { None };
        Ok(Page { names, next })
    }

    fn claim_once(&self, name: &str, expires_at: i64) -> Result<bool, StoreError> {
        // Markers live in one folder per minute of expiry: the same value always lands in the
        // same folder, and a whole folder goes once its minute has passed.
        let bucket = expires_at.div_euclid(60);
        let folder = self.dir.join(USED_DIR).join(bucket.to_string());
        if !self.markers.admit(bucket) {
            return Err(StoreError::Io(std::io::Error::other(
                "too many one-time markers this minute",
            )));
        }
        if !self.dir.is_dir() {
            self.remake_dir()?;
        }
        let marker = folder.join(name);
        let create = || {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&folder)?;
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&marker)
        };
        // Another process's pruning may remove a folder whose minute just passed between the
        // two steps: once more, then it is an error.
        let opened = match create() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(),
            other => other,
        };
        let claimed = match opened {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e.into()),
        };
        self.markers
            .prune_passed(&self.dir.join(USED_DIR), SystemClock.now());
        claimed
    }
}

/// Where one-time markers live, below the store directory.
pub(super) const USED_DIR: &str = ".used";

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
    use crate::store::tests::record;
    use crate::store::{TokenStore, Update};

    pub(crate) fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ezauth-{tag}-{}", crypto::random_token(6)));
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn keys() -> Keys {
        Keys::new(&[5u8; 32], &[6u8; 32], &[])
    }

    fn store(dir: &Path) -> FileStore {
        FileStore::open(dir, keys()).unwrap()
    }

    /// The file of `user`'s record.
    fn path_for(s: &FileStore, user: &str) -> PathBuf {
        s.backend().path_of(&s.name(user))
    }

    fn lock_path_for(s: &FileStore, user: &str) -> PathBuf {
        s.backend().lock_path_of(&s.name(user))
    }

    #[test]
    fn an_apps_keys_find_an_entry_named_before_apps_were_told_apart_and_move_it() {
        let dir = temp_dir("fs-scope");
        let before = store(&dir);
        before.save("sid:1", &record("old")).unwrap();
        let old_path = path_for(&before, "sid:1");
        let app = FileStore::open(&dir, keys().for_app("app-1")).unwrap();
        assert_ne!(path_for(&app, "sid:1"), old_path, "the app's own name");
        assert_eq!(
            app.load("sid:1").unwrap().unwrap().access_token.as_deref(),
            Some("old")
        );
        app.update("sid:1", &mut |r| {
            let mut r = r.expect("found under the name from before");
            r.access_token = Some("new".into());
            Update::Replace(Box::new(r))
        })
        .unwrap();
        assert!(!old_path.exists(), "moved by the write");
        assert_eq!(
            app.load("sid:1").unwrap().unwrap().access_token.as_deref(),
            Some("new")
        );
        // Another app with the same keys has entries of its own.
        let other = FileStore::open(&dir, keys().for_app("app-2")).unwrap();
        assert!(other.load("sid:1").unwrap().is_none());
        // An entry a node of the earlier version writes meanwhile (a rolling upgrade) is found
        // though the absence was known: it is checked again after a second.
        assert!(other.load("sid:2").unwrap().is_none());
        before.save("sid:2", &record("from an old node")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(
            other
                .load("sid:2")
                .unwrap()
                .unwrap()
                .access_token
                .as_deref(),
            Some("from an old node")
        );
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
        let mode = fs::metadata(path_for(&s, "sid:1"))
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
        let p1 = path_for(&s, "sid:1");
        let good = fs::read(&p1).unwrap();

        let mut flipped = good.clone();
        flipped[20] ^= 0x40;
        fs::write(&p1, &flipped).unwrap();
        assert!(matches!(s.load("sid:1"), Err(StoreError::Corrupt(_))));

        fs::write(&p1, &good[..good.len() / 2]).unwrap();
        assert!(matches!(s.load("sid:1"), Err(StoreError::Corrupt(_))));

        // user 2's file moved onto user 1's name
        fs::copy(path_for(&s, "sid:2"), &p1).unwrap();
        assert!(matches!(s.load("sid:1"), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn legacy_entries_open_and_are_rewritten_owned_at_the_next_write() {
        let dir = temp_dir("fs-legacy");
        let s = store(&dir);
        // As the module wrote records before entries named their owner.
        let plain = serde_json::to_vec(&record("old")).unwrap();
        let legacy = keys().seal(crypto::Purpose::TokenStore, b"sid:1", &plain);
        fs::write(path_for(&s, "sid:1"), &legacy).unwrap();
        assert_eq!(
            s.load("sid:1").unwrap().unwrap().access_token.as_deref(),
            Some("old")
        );
        let name = s.name("sid:1");
        assert!(matches!(
            super::super::envelope::open_named(&keys(), &name, &legacy).unwrap(),
            super::super::envelope::Opened::Legacy
        ));
        s.update("sid:1", &mut |r| {
            let mut r = r.unwrap();
            r.access_token = Some("new".into());
            crate::store::Update::Replace(Box::new(r))
        })
        .unwrap();
        let written = fs::read(path_for(&s, "sid:1")).unwrap();
        match super::super::envelope::open_named(&keys(), &name, &written).unwrap() {
            super::super::envelope::Opened::Owned { owner, record } => {
                assert_eq!(
                    (owner.as_str(), record.access_token.as_deref()),
                    ("sid:1", Some("new"))
                );
            }
            super::super::envelope::Opened::Legacy => panic!("rewritten as legacy"),
        }
        // A legacy entry of another user, moved onto this name, does not open.
        let foreign = keys().seal(crypto::Purpose::TokenStore, b"sid:2", &plain);
        fs::write(path_for(&s, "sid:1"), &foreign).unwrap();
        assert!(matches!(s.load("sid:1"), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn symlinks_and_directories_are_refused() {
        let dir = temp_dir("fs3");
        let s = store(&dir);
        let target = dir.join("elsewhere");
        fs::write(&target, b"x").unwrap();
        std::os::unix::fs::symlink(&target, path_for(&s, "sid:1")).unwrap();
        assert!(matches!(s.load("sid:1"), Err(StoreError::Corrupt(_))));
        fs::create_dir(path_for(&s, "sid:2")).unwrap();
        assert!(s.load("sid:2").is_err());
    }

    #[test]
    fn updates_from_many_threads_lose_nothing() {
        let dir = temp_dir("fs4");
        let s = std::sync::Arc::new(store(&dir));
        let inside = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (s, inside) = (s.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        s.update("sid:c", &mut |cur| {
                            // Lock files come and go: still one holder at a time.
                            assert!(!inside.swap(true, Ordering::SeqCst), "two holders");
                            std::thread::yield_now();
                            inside.store(false, Ordering::SeqCst);
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
        assert_eq!(files(&dir, LOCK_SUFFIX), Vec::<String>::new());
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
        let b = Sealed::new(
            FileBackend {
                recheck_after: Duration::ZERO,
                ..FileBackend::open(&dir, &Logger::silent()).unwrap()
            },
            keys(),
            1 << 20,
            &Logger::silent(),
        );
        a.save("sid:2", &record("x")).unwrap();
        assert!(b.load("sid:2").unwrap().is_some());
        let p = path_for(&b, "sid:2");
        let mut bytes = fs::read(&p).unwrap();
        bytes[10] ^= 1;
        fs::write(dir.join("tmp"), &bytes).unwrap();
        fs::rename(dir.join("tmp"), &p).unwrap();
        assert!(b.load("sid:2").is_err());
    }

    /// (That a claim holds once across processes is the store contract's,
    /// `tests/store_contract.rs`; here: where the file backend keeps its markers.)
    #[test]
    fn one_time_claims_are_unnamed_markers_in_their_minute_s_folder() {
        let dir = temp_dir("fs7");
        let s = store(&dir);
        let later = SystemClock.now() + 300;
        assert!(s.claim_once("state-1", later).unwrap());
        assert!(s.claim_once("state-2", later).unwrap());
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
        let now = SystemClock.now();
        for i in 0..50 {
            assert!(s.claim_once(&format!("old-{i}"), now - 600).unwrap());
        }
        let old_folder = dir
            .join(USED_DIR)
            .join((now - 600).div_euclid(60).to_string());
        let settled = || {
            // Generous: a loaded machine may run the thread late; it must end, not be fast.
            for _ in 0..3000 {
                if !s.backend().markers.pruning.load(Ordering::Acquire) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            panic!("the pruning thread did not finish");
        };
        settled();
        // The next claim in a new minute starts the pruning thread; it finishes on its own.
        s.backend().markers.pruned_until.store(0, Ordering::Relaxed);
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
    fn different_users_get_different_unguessable_names() {
        let dir = temp_dir("fs5");
        let s = store(&dir);
        let a = path_for(&s, "sid:1");
        assert_ne!(a, path_for(&s, "sid:2"));
        assert!(!a.to_string_lossy().contains("sid"));
    }

    /// Names in `dir` that contain `part`.
    fn files(dir: &Path, part: &str) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(part))
            .collect();
        names.sort();
        names
    }

    fn backdate(path: &Path, by: Duration) {
        let f = File::options().write(true).open(path).unwrap();
        let then = std::time::SystemTime::now() - by;
        let secs = then
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        set_mtime(&f, secs as i64, 0).unwrap();
    }

    #[test]
    fn lock_files_do_not_outlive_their_holder() {
        let dir = temp_dir("locks");
        let s = store(&dir);
        for i in 0..50 {
            let user = format!("sid:{i}");
            s.sign_in(&user, &record("a")).unwrap();
            s.update(&user, &mut |_| Update::Keep).unwrap();
            if i % 2 == 0 {
                s.delete(&user).unwrap();
            }
        }
        assert_eq!(files(&dir, LOCK_SUFFIX), Vec::<String>::new());
        assert_eq!(files(&dir, TEMP_PREFIX), Vec::<String>::new());
        assert_eq!(
            files(&dir, ".tok").len(),
            25,
            "the signed-in users' records"
        );
    }

    #[test]
    fn a_waiter_on_a_lock_file_its_holder_removed_takes_the_new_one() {
        let dir = temp_dir("relock");
        let s = Arc::new(store(&dir));
        let path = lock_path_for(&s, "sid:w");
        // A waiter that opened the file before its holder removed it.
        let stale = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .unwrap();
        lock_exclusive(&stale).unwrap();
        fs::remove_file(&path).unwrap();
        // The lock of the removed file does not hold anyone up, nor count as the user's lock.
        s.save("sid:w", &record("1")).unwrap();
        assert!(!names(&path, &stale).unwrap());
        // A holder of the path's file does hold the next one up.
        let (tx, rx) = std::sync::mpsc::channel();
        let (s2, entered) = (s.clone(), Arc::new(AtomicBool::new(false)));
        let entered2 = entered.clone();
        let holder = std::thread::spawn(move || {
            s2.update("sid:w", &mut |_| {
                tx.send(()).unwrap();
                // Held until the main thread has tried, and failed, to take the lock.
                while !entered2.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
                Update::Keep
            })
            .unwrap();
        });
        rx.recv().unwrap();
        let f = OpenOptions::new().read(true).open(&path).unwrap();
        assert!(f.try_lock().is_err(), "the path's file is locked");
        entered.store(true, Ordering::SeqCst);
        holder.join().unwrap();
        assert!(!path.exists(), "the holder removed it");
    }

    /// Waits (bounded, generously: a loaded machine runs threads late) until no background
    /// sweep runs.
    fn sweep_settled(s: &FileStore) {
        for _ in 0..3000 {
            if !s.backend().sweeper.running.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the sweep thread did not finish");
    }

    #[test]
    fn the_sweep_removes_stale_temp_files_and_unused_locks_only() {
        let dir = temp_dir("sweep");
        let s = store(&dir);
        s.save("sid:1", &record("kept")).unwrap();
        // The first write started a background sweep: it must not take this test's files.
        sweep_settled(&s);
        for name in [".tmp-old", ".tmp-new", "a.lock", "b.lock"] {
            fs::write(dir.join(name), b"x").unwrap();
        }
        backdate(&dir.join(".tmp-old"), Duration::from_secs(3600));
        // A little younger than the limit: a writer may still be at it.
        backdate(
            &dir.join(".tmp-new"),
            STALE_TEMP_AFTER - Duration::from_secs(60),
        );
        let held = File::open(dir.join("b.lock")).unwrap();
        lock_exclusive(&held).unwrap();
        assert_eq!(
            s.sweep(),
            Swept {
                temp_files: 1,
                lock_files: 1
            }
        );
        assert_eq!(files(&dir, TEMP_PREFIX), [".tmp-new"]);
        assert_eq!(files(&dir, LOCK_SUFFIX), ["b.lock"], "a held lock stays");
        assert_eq!(
            s.load("sid:1").unwrap().unwrap().access_token.as_deref(),
            Some("kept")
        );
        drop(held);
        assert_eq!(s.sweep().lock_files, 1);
    }

    #[test]
    fn writes_start_a_sweep_off_the_request_thread_once_in_a_while() {
        let dir = temp_dir("sweep-bg");
        let s = store(&dir);
        let settled = || sweep_settled(&s);
        fs::write(dir.join(".tmp-dead-1"), b"x").unwrap();
        backdate(&dir.join(".tmp-dead-1"), Duration::from_secs(3600));
        s.save("sid:1", &record("a")).unwrap();
        settled();
        assert_eq!(files(&dir, TEMP_PREFIX), Vec::<String>::new());
        // The next sweep is due in SWEEP_EVERY_SECS: writes meanwhile start none.
        fs::write(dir.join(".tmp-dead-2"), b"x").unwrap();
        backdate(&dir.join(".tmp-dead-2"), Duration::from_secs(3600));
        s.save("sid:1", &record("b")).unwrap();
        settled();
        assert_eq!(files(&dir, TEMP_PREFIX), [".tmp-dead-2"]);
        s.backend().sweeper.due.store(0, Ordering::Relaxed);
        s.delete("sid:1").unwrap();
        settled();
        assert_eq!(files(&dir, TEMP_PREFIX), Vec::<String>::new());
    }

    #[test]
    fn removals_are_made_durable() {
        let dir = temp_dir("durable");
        let s = store(&dir);
        s.save("sid:1", &record("a")).unwrap();
        let syncs = || s.backend().dir_syncs.load(Ordering::Relaxed);
        let before = syncs();
        s.delete("sid:1").unwrap();
        assert_eq!(syncs(), before + 1, "delete syncs the directory");
        assert!(s.load("sid:1").unwrap().is_none());
    }

    #[test]
    fn a_removed_directory_is_made_again_owner_only_with_its_table() {
        let parent = temp_dir("remade");
        let dir = parent.join("tokens");
        let (a, b) = (store(&dir), store(&dir));
        assert!(!dir.exists(), "opening a store makes nothing");
        a.save("sid:1", &record("one")).unwrap();
        assert!(b.load("sid:1").unwrap().is_some(), "b maps the table");
        fs::remove_dir_all(&dir).unwrap();
        a.save("sid:2", &record("two")).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        let table = fs::metadata(dir.join(generations::FILE_NAME)).unwrap();
        assert!(table.blocks() * 512 >= 32768, "the table is back, reserved");
        // The other process follows the new table once it checks (at most once a second),
        // and sees the next write at once, not a second later.
        let before = b.backend().table.get().unwrap().epoch();
        b.backend()
            .check_table(b.backend().opened + Duration::from_millis(2 * TABLE_CHECK_MS));
        assert_ne!(
            b.backend().table.get().unwrap().epoch(),
            before,
            "b maps the new table"
        );
        assert_eq!(
            b.load("sid:2").unwrap().unwrap().access_token.as_deref(),
            Some("two")
        );
        a.save("sid:2", &record("three")).unwrap();
        assert_eq!(
            b.load("sid:2").unwrap().unwrap().access_token.as_deref(),
            Some("three")
        );
        // A one-time marker (a login callback) makes the directory again, owner-only too.
        fs::remove_dir_all(&dir).unwrap();
        assert!(a.claim_once("state", SystemClock.now() + 300).unwrap());
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(USED_DIR)), 0o700);
        assert!(dir.join(generations::FILE_NAME).exists());
    }

    /// Runs `f` on a thread that cannot read a root-owned, owner-only file: as root, with the
    /// filesystem user id of `nobody` (per thread: no other test is affected).
    fn as_nobody_if_root<T: Send>(f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    if geteuid().is_root() {
                        nix::unistd::setfsuid(nix::unistd::Uid::from_raw(65534));
                    }
                    f()
                })
                .join()
                .unwrap()
        })
    }

    #[test]
    fn an_unreadable_record_fails_the_update_and_is_left_alone() {
        // On a tmpfs when it can be had: this machine's root filesystem lets no user but root
        // create files, even in a directory of their own (the lock file).
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            let d = shm.join(format!("ezauth-unreadable-{}", crypto::random_token(6)));
            fs::create_dir_all(&d).unwrap();
            d
        } else {
            temp_dir("unreadable")
        };
        let s = store(&dir);
        s.save("sid:1", &record("mine")).unwrap();
        let path = path_for(&s, "sid:1");
        let good = fs::read(&path).unwrap();
        if geteuid().is_root() {
            // The directory is nobody's (who can lock and write), the record root's alone.
            std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        } else {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();
        }
        let (updated, signed_in, changed) = as_nobody_if_root(|| {
            let mut called = false;
            let updated = s.update("sid:1", &mut |_| {
                called = true;
                Update::Keep
            });
            (updated, s.sign_in("sid:1", &record("other")), called)
        });
        assert!(
            matches!(updated, Err(StoreError::Io(ref e)) if e.kind() == std::io::ErrorKind::PermissionDenied),
            "{updated:?}"
        );
        assert!(matches!(signed_in, Err(StoreError::Io(_))), "{signed_in:?}");
        assert!(!changed, "nothing decided on a record that was not read");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(fs::read(&path).unwrap(), good, "left as it was");
        // A record that reads but cannot be trusted is replaced, as before.
        let mut bad = good.clone();
        bad[20] ^= 1;
        fs::write(&path, &bad).unwrap();
        s.sign_in("sid:1", &record("new")).unwrap();
        assert_eq!(
            s.load("sid:1").unwrap().unwrap().access_token.as_deref(),
            Some("new")
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
