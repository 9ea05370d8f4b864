//! Change counters shared by every process that uses one token-store directory, in a small
//! file mapped into memory. A writer bumps a user's counter after it replaces or removes the
//! user's file; a reader whose cached copy was read at the current counter knows, with one
//! memory load instead of a `stat`, that nothing was written through the store since.
//! Users share counters by a hash of their file name, which only costs the odd extra check.
//!
//! The file's blocks are reserved before it is mapped: a page of a sparse file mapped shared is
//! allocated when first touched, and on a full filesystem that touch is a SIGBUS, which kills
//! the host. A store that cannot reserve them runs without a table (every cached read then
//! checks its file).

use std::fs::{self, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use memmap2::{MmapOptions, MmapRaw};
use nix::fcntl::posix_fallocate;
use parking_lot::Mutex;

const SLOTS: usize = 4096;
const SIZE: usize = SLOTS * std::mem::size_of::<u64>();

/// The table's file name in the store directory.
pub const FILE_NAME: &str = ".generations";

pub struct Generations {
    /// SIZE bytes shared read-write with every process mapping the file; unmapped on drop.
    counters: MmapRaw,
    /// The file mapped (device, inode): a store directory removed and made again has another.
    dev: u64,
    ino: u64,
    /// Tells tables of one process apart: counters read from one mean nothing in another.
    epoch: u64,
}

impl Generations {
    /// Maps the counter file at `path`, creating it (owner-only) when `create` and it does not
    /// exist, after reserving its blocks.
    pub fn open(path: &Path, create: bool) -> std::io::Result<Generations> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(std::io::Error::other(
                "the generation file is not a regular file",
            ));
        }
        if meta.len() < SIZE as u64 || meta.blocks() * 512 < SIZE as u64 {
            // Allocates only what is missing, and extends with zeros: processes racing here
            // agree, and a file already reserved needs no free space.
            posix_fallocate(&file, 0, SIZE as libc::off_t)?;
        }
        // A shared read-write mapping of SIZE bytes of a file at least SIZE long with every
        // block allocated; it stays valid after the descriptor is closed.
        let counters = MmapOptions::new().len(SIZE).map_raw(&file)?;
        static EPOCHS: AtomicU64 = AtomicU64::new(1);
        Ok(Generations {
            counters,
            dev: meta.dev(),
            ino: meta.ino(),
            epoch: EPOCHS.fetch_add(1, Ordering::Relaxed),
        })
    }

    fn counter(&self, slot: usize) -> &AtomicU64 {
        let counters = self.counters.as_ptr() as *const AtomicU64;
        // SAFETY: slot % SLOTS < SLOTS, and the mapping holds SLOTS aligned u64s (it starts on
        // a page) for as long as `self`; other processes touch them only atomically too.
        unsafe { &*counters.add(slot % SLOTS) }
    }

    /// The counter of `slot` now; read it before reading the file it guards.
    pub fn current(&self, slot: usize) -> u64 {
        self.counter(slot).load(Ordering::Acquire)
    }

    /// Marks `slot` changed; call after the file it guards was replaced or removed.
    pub fn bump(&self, slot: usize) {
        self.counter(slot).fetch_add(1, Ordering::Release);
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Is `meta` the file this table maps?
    fn is(&self, meta: &fs::Metadata) -> bool {
        meta.dev() == self.dev && meta.ino() == self.ino
    }
}

/// The slot of a store file name (hex digits): its first 16 bits.
pub fn slot_of(file_name: &str) -> usize {
    file_name
        .get(..4)
        .and_then(|h| usize::from_str_radix(h, 16).ok())
        .unwrap_or(0)
}

/// Tables a store may map over its life; past this, the directory's table keeps being replaced
/// behind the store's back, and the store goes on without one.
const MAX_TABLES: usize = 16;

/// The table a store uses now, if any. It is replaced when the file at the table's path is no
/// longer the one mapped (the store directory was removed and made again): writers bump the
/// file at the path, so readers must look there. Replaced tables stay mapped until the store
/// is dropped, since a reader may still hold one; there are at most `MAX_TABLES`.
pub struct Table {
    current: AtomicPtr<Generations>,
    /// Every table mapped; `current` points to one of them (what an `Arc` holds does not move).
    all: Mutex<Vec<std::sync::Arc<Generations>>>,
}

/// What a call to [`Table::refresh`] changed.
#[derive(Debug, PartialEq)]
pub enum Refreshed {
    /// Nothing: the table is the file at the path (or there is nothing to map and nothing
    /// was to be created).
    Same,
    /// A new table is in use.
    Mapped,
    /// No table is in use any more, or still none: why.
    Without(String),
}

impl Table {
    pub fn empty() -> Table {
        Table {
            current: AtomicPtr::new(std::ptr::null_mut()),
            all: Mutex::new(Vec::new()),
        }
    }

    pub fn get(&self) -> Option<&Generations> {
        let p = self.current.load(Ordering::Acquire);
        // SAFETY: a pointer to a table in `all`, which keeps it until `self` is dropped.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// Makes the table the file at `path` (creating it when `create`): one `lstat` when it
    /// already is.
    pub fn refresh(&self, path: &Path, create: bool) -> Refreshed {
        let mut all = self.all.lock();
        match fs::symlink_metadata(path) {
            Ok(meta) if self.get().is_some_and(|g| g.is(&meta)) => return Refreshed::Same,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => {
                return Refreshed::Same
            }
            _ => {}
        }
        let opened = if all.len() >= MAX_TABLES {
            Err(std::io::Error::other("the table was replaced too often"))
        } else {
            Generations::open(path, create)
        };
        match opened {
            Ok(g) => {
                let g = std::sync::Arc::new(g);
                self.current
                    .store(std::sync::Arc::as_ptr(&g) as *mut _, Ordering::Release);
                all.push(g);
                Refreshed::Mapped
            }
            Err(e) => {
                self.current.store(std::ptr::null_mut(), Ordering::Release);
                Refreshed::Without(e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "ezauth-gen-{tag}-{}-{}",
            std::process::id(),
            crate::crypto::random_token(4)
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn two_mappings_of_one_file_see_each_others_bumps() {
        let dir = temp("two");
        let path = dir.join(FILE_NAME);
        let (a, b) = (
            Generations::open(&path, true).unwrap(),
            Generations::open(&path, true).unwrap(),
        );
        let before = b.current(7);
        a.bump(7);
        assert_eq!(b.current(7), before + 1);
        assert_eq!(b.current(8), a.current(8));
        assert_ne!(a.epoch(), b.epoch());
        assert_eq!(slot_of("00ff"), 255);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_file_is_reserved_not_sparse() {
        let dir = temp("reserved");
        let path = dir.join(FILE_NAME);
        // A sparse table, as earlier versions made it, is reserved when opened.
        fs::File::create(&path)
            .unwrap()
            .set_len(SIZE as u64)
            .unwrap();
        assert_eq!(fs::metadata(&path).unwrap().blocks(), 0);
        let _g = Generations::open(&path, false).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert!(
            meta.blocks() * 512 >= SIZE as u64,
            "{} blocks",
            meta.blocks()
        );
        assert_eq!(meta.len(), SIZE as u64);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_table_follows_the_file_at_its_path() {
        let dir = temp("follow");
        let path = dir.join(FILE_NAME);
        let t = Table::empty();
        assert_eq!(t.refresh(&path, false), Refreshed::Same, "nothing to map");
        assert!(t.get().is_none());
        assert_eq!(t.refresh(&path, true), Refreshed::Mapped);
        let first = t.get().unwrap().epoch();
        assert_eq!(t.refresh(&path, true), Refreshed::Same);
        // Removed: readers keep the table they have; a writer makes a new one.
        fs::remove_file(&path).unwrap();
        assert_eq!(t.refresh(&path, false), Refreshed::Same);
        assert_eq!(t.get().unwrap().epoch(), first);
        assert_eq!(t.refresh(&path, true), Refreshed::Mapped);
        assert_ne!(t.get().unwrap().epoch(), first);
        // Replaced by something that cannot be mapped: no table.
        fs::remove_file(&path).unwrap();
        fs::create_dir(&path).unwrap();
        assert!(matches!(t.refresh(&path, false), Refreshed::Without(_)));
        assert!(t.get().is_none());
        fs::remove_dir(&path).unwrap();
        // Replaced over and over: at most MAX_TABLES mappings, then none.
        for _ in 0..MAX_TABLES {
            let _ = fs::remove_file(&path);
            t.refresh(&path, true);
        }
        assert!(t.get().is_none());
        assert_eq!(t.all.lock().len(), MAX_TABLES);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
