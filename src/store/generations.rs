//! Change counters shared by every process that uses one token-store directory, in a small
//! file mapped into memory. A writer bumps a user's counter after it replaces or removes the
//! user's file; a reader whose cached copy was read at the current counter knows, with one
//! memory load instead of a `stat`, that nothing was written through the store since.
//! Users share counters by a hash of their file name, which only costs the odd extra check.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

const SLOTS: usize = 4096;
const SIZE: usize = SLOTS * std::mem::size_of::<u64>();

pub struct Generations {
    counters: *const AtomicU64,
    _file: File,
}

// SAFETY: the mapping is only accessed through atomics, and lives as long as the value.
unsafe impl Send for Generations {}
unsafe impl Sync for Generations {}

impl Generations {
    /// Maps the counter file at `path`, creating it (owner-only) when it does not exist.
    pub fn open(path: &Path) -> std::io::Result<Generations> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(std::io::Error::other(
                "the generation file is not a regular file",
            ));
        }
        if meta.len() < SIZE as u64 {
            // Extending with zeros is idempotent, so processes racing here agree.
            file.set_len(SIZE as u64)?;
        }
        // SAFETY: a shared read-write mapping of SIZE bytes of a file we hold open, which is at
        // least SIZE long; it is unmapped in Drop.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Generations {
            counters: ptr as *const AtomicU64,
            _file: file,
        })
    }

    fn counter(&self, slot: usize) -> &AtomicU64 {
        // SAFETY: slot < SLOTS, the mapping holds SLOTS aligned u64s (page-aligned start).
        unsafe { &*self.counters.add(slot % SLOTS) }
    }

    /// The counter of `slot` now; read it before reading the file it guards.
    pub fn current(&self, slot: usize) -> u64 {
        self.counter(slot).load(Ordering::Acquire)
    }

    /// Marks `slot` changed; call after the file it guards was replaced or removed.
    pub fn bump(&self, slot: usize) {
        self.counter(slot).fetch_add(1, Ordering::Release);
    }
}

impl Drop for Generations {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `open`, unmapped once.
        unsafe { libc::munmap(self.counters as *mut libc::c_void, SIZE) };
    }
}

/// The slot of a store file name (hex digits): its first 16 bits.
pub fn slot_of(file_name: &str) -> usize {
    file_name
        .get(..4)
        .and_then(|h| usize::from_str_radix(h, 16).ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_mappings_of_one_file_see_each_others_bumps() {
        let dir = std::env::temp_dir().join(format!("ezauth-gen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".generations");
        let (a, b) = (
            Generations::open(&path).unwrap(),
            Generations::open(&path).unwrap(),
        );
        let before = b.current(7);
        a.bump(7);
        assert_eq!(b.current(7), before + 1);
        assert_eq!(b.current(8), a.current(8));
        assert_eq!(slot_of("00ff"), 255);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
