//! `ezauth store migrate`: copies every entry's sealed bytes from one store to another (file,
//! Redis, Azure Blob, either way), resumable and idempotent, while the site keeps serving.
//!
//! Each entry is copied under the source entry's lock (no refresh of that record runs
//! mid-copy), written under the destination entry's lock, and read back: the bytes must be
//! equal. Nothing is opened to copy it: names and seals depend on the keys only, so both
//! configurations must have the same keys, and entries of any format (legacy ones too) copy
//! as they are.
//!
//! **The journal** (`--journal FILE`: one line `<name> <sha-256 of the bytes copied>` per copy,
//! appended and synced before the copy is written) is what makes a rerun safe while the site
//! moves from one store to the other:
//!
//! - destination already holds the source's bytes: skipped;
//! - destination has no entry: copied (never copied, or a copy a crash stopped after its
//!   journal line);
//! - source changed since (a refresh or sign-in on a node still on the old store) and the
//!   destination still holds what was copied: copied again;
//! - destination changed since the copy, or holds a record this migration never wrote:
//!   **kept**, never overwritten: a node already on the new store wrote it, and it is the
//!   newer record. The source's sign-outs are added to it (both opened, the same owner), so
//!   a logout on a node still on the old store holds on the new one.
//!
//! Without a journal a rerun cannot tell a changed source from a changed destination: every
//! entry whose bytes differ is kept, and only missing ones are copied.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use super::{list_all, Entries};
use crate::clock::{Clock, SystemClock};
use crate::crypto::{hex, sha256};
use crate::store::envelope::{self, Opened};
use crate::store::StoreError;

/// What a migration did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    /// Entries listed at the source.
    pub total: usize,
    pub copied: usize,
    /// Already at the destination, or unchanged since the journal's copy, or gone meanwhile.
    pub skipped: usize,
    /// At the destination, changed since the copy (or never copied by this migration): kept.
    pub kept_newer: usize,
    pub failed: usize,
    /// Stopped by `limit` before the end.
    pub stopped: bool,
}

impl Summary {
    fn done(&self) -> usize {
        self.copied + self.skipped + self.kept_newer + self.failed
    }
}

pub struct Options<'p> {
    pub journal: Option<&'p Path>,
    /// Stop after this many entries (to migrate in slices; a rerun goes on).
    pub limit: Option<usize>,
}

/// Where progress goes (stderr): on a terminal, one line redrawn in place; otherwise a plain
/// line now and then.
pub struct Progress<'w> {
    out: &'w mut dyn Write,
    tty: bool,
    started: Instant,
    drawn: Option<Instant>,
}

impl<'w> Progress<'w> {
    pub fn new(out: &'w mut dyn Write, tty: bool) -> Progress<'w> {
        Progress {
            out,
            tty,
            started: Instant::now(),
            drawn: None,
        }
    }

    fn rate(&self, s: &Summary) -> f64 {
        s.done() as f64 / self.started.elapsed().as_secs_f64().max(1e-3)
    }

    fn line(&self, s: &Summary) -> String {
        format!(
            "migrate: {}/{} entries: {} copied, {} skipped, {} kept newer, {} failed ({:.0} records/s)",
            s.done(),
            s.total,
            s.copied,
            s.skipped,
            s.kept_newer,
            s.failed,
            self.rate(s)
        )
    }

    /// Shows `s` if it is time to (or `now`).
    fn show(&mut self, s: &Summary, now: bool) {
        let every = if self.tty {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(5)
        };
        if !now && self.drawn.is_some_and(|d| d.elapsed() < every) {
            return;
        }
        self.drawn = Some(Instant::now());
        let line = self.line(s);
        // Progress is best effort: a closed stderr does not stop the migration.
        let _ = if self.tty {
            write!(self.out, "\r\x1b[2K{line}")
        } else {
            writeln!(self.out, "{line}")
        };
        let _ = self.out.flush();
    }

    /// A line of its own (a failed entry), above the progress bar.
    fn note(&mut self, text: &str) {
        let _ = if self.tty {
            writeln!(self.out, "\r\x1b[2K{text}")
        } else {
            writeln!(self.out, "{text}")
        };
        self.drawn = None;
    }

    fn finish(&mut self, s: &Summary) {
        self.show(s, true);
        if self.tty {
            let _ = writeln!(self.out);
        }
    }
}

type Digest = [u8; 32];

/// Names and the digest of the bytes last copied, read from and appended to a file.
struct Journal {
    copied: HashMap<String, Digest>,
    file: Option<File>,
}

impl Journal {
    fn open(path: Option<&Path>) -> Result<Journal, String> {
        let Some(path) = path else {
            return Ok(Journal {
                copied: HashMap::new(),
                file: None,
            });
        };
        let shown = path.display();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| format!("journal {shown}: {e}"))?;
        let mut text = String::new();
        (&file)
            .read_to_string(&mut text)
            .map_err(|e| format!("journal {shown}: {e}"))?;
        if !text.is_empty() && !text.ends_with('\n') {
            // A line cut short: what is appended from now on starts on a line of its own.
            (&file)
                .write_all(b"\n")
                .map_err(|e| format!("journal {shown}: {e}"))?;
        }
        let mut copied = HashMap::new();
        for line in text.lines() {
            let parsed = line.split_once(' ').and_then(|(name, digest)| {
                let digest = crate::crypto::hex_decode(digest)?;
                Some((name, <Digest>::try_from(digest.as_slice()).ok()?))
            });
            match parsed {
                Some((name, digest)) => {
                    copied.insert(name.to_owned(), digest);
                }
                // A line cut short by a crash: its entry is looked at again.
                None if cut_short(line) => {}
                None => return Err(format!("journal {shown}: not a migration journal")),
            }
        }
        Ok(Journal {
            copied,
            file: Some(file),
        })
    }

    fn get(&self, name: &str) -> Option<Digest> {
        self.copied.get(name).copied()
    }

    fn record(&mut self, name: &str, digest: Digest) -> Result<(), String> {
        if self.copied.get(name) == Some(&digest) {
            return Ok(());
        }
        if let Some(f) = &mut self.file {
            writeln!(f, "{name} {}", hex(&digest)).map_err(|e| format!("journal: {e}"))?;
        }
        self.copied.insert(name.to_owned(), digest);
        Ok(())
    }

    /// [`Journal::record`], on disk before it returns (the line must outlive a crash of the
    /// write that follows it).
    fn record_durably(&mut self, name: &str, digest: Digest) -> Result<(), String> {
        self.record(name, digest)?;
        match &self.file {
            Some(f) => f.sync_data().map_err(|e| format!("journal: {e}")),
            None => Ok(()),
        }
    }

    fn sync(&self) -> Result<(), String> {
        match &self.file {
            Some(f) => f.sync_all().map_err(|e| format!("journal: {e}")),
            None => Ok(()),
        }
    }
}

/// The start of a journal line (hex digits, one space at most) that did not get its end.
fn cut_short(line: &str) -> bool {
    line.matches(' ').count() <= 1 && line.bytes().all(|b| b == b' ' || b.is_ascii_hexdigit())
}

/// What happened to one entry.
enum Copy {
    Copied,
    /// The destination holds these bytes already.
    There(Digest),
    /// Removed from the source since it was listed.
    Gone,
    KeptNewer,
}

/// Copies every entry of `from` to `to` (see the module's rules).
pub fn migrate(
    from: &dyn Entries,
    to: &dyn Entries,
    options: &Options<'_>,
    progress: &mut Progress<'_>,
) -> Result<Summary, String> {
    if !from.keys().same_store_keys(to.keys()) {
        return Err("the two configurations have different encryption keys \
             (WEBSITE_AUTH_ENCRYPTION_KEY and the previous keys must be the same): entries are \
             named and sealed with them and would not open at the destination"
            .into());
    }
    let mut journal = Journal::open(options.journal)?;
    let names = list_all(from).map_err(|e| format!("listing the source: {e}"))?;
    let mut summary = Summary {
        total: names.len(),
        ..Summary::default()
    };
    for name in &names {
        if options.limit.is_some_and(|l| summary.done() >= l) {
            summary.stopped = true;
            break;
        }
        match copy(from, to, name, &mut journal) {
            Ok(Copy::Copied) => summary.copied += 1,
            Ok(Copy::There(d)) => {
                journal.record(name, d)?;
                summary.skipped += 1;
            }
            Ok(Copy::Gone) => summary.skipped += 1,
            Ok(Copy::KeptNewer) => summary.kept_newer += 1,
            Err(e) => {
                progress.note(&format!("{name}: {e}"));
                summary.failed += 1;
            }
        }
        progress.show(&summary, false);
    }
    journal.sync()?;
    progress.finish(&summary);
    Ok(summary)
}

/// One entry, under the source's lock, then the destination's. The journal gets the copy's
/// line, durably, before the destination is written: a crash between the two leaves a line
/// for bytes that may not have landed, which the next run tells apart by reading the
/// destination (missing: copied again), never a copy without its line (which a rerun would
/// take for a record the site wrote, and keep over a newer source).
fn copy(
    from: &dyn Entries,
    to: &dyn Entries,
    name: &str,
    journal: &mut Journal,
) -> Result<Copy, StoreError> {
    let journaled = journal.get(name);
    let mut outcome = Copy::Gone;
    from.with_lock(name, &mut |source| {
        let Some(bytes) = source.read(name)? else {
            return Ok(()); // Removed since it was listed.
        };
        let digest = sha256(&bytes);
        to.with_lock(name, &mut |destination| {
            let there = destination.read(name)?;
            let write = match (&there, journaled) {
                (Some(t), _) if *t == bytes => {
                    outcome = Copy::There(digest);
                    return Ok(());
                }
                // Never copied, or a copy whose write did not land.
                (None, _) => true,
                // What this migration wrote, since changed at the source only.
                (Some(t), Some(copied)) => sha256(t) == copied,
                // Written at the destination by someone else: the site, already on it.
                (Some(_), None) => false,
            };
            if !write {
                // The destination's tokens are newer, but a sign-out made at the source (a
                // logout on a node still on the old store) must hold on the new one too.
                if let Some(t) = &there {
                    if let Some(merged) = with_marks_of(to.keys(), name, t, &bytes)? {
                        destination.write(name, &merged)?;
                    }
                }
                outcome = Copy::KeptNewer;
                return Ok(());
            }
            journal
                .record_durably(name, digest)
                .map_err(|e| StoreError::Io(std::io::Error::other(e)))?;
            destination.write(name, &bytes)?;
            if destination.read(name)?.as_deref() != Some(bytes.as_slice()) {
                return Err(StoreError::Corrupt(
                    "the copy did not read back the same at the destination".into(),
                ));
            }
            outcome = Copy::Copied;
            Ok(())
        })
    })?;
    Ok(outcome)
}

/// The entry `kept` (sealed bytes) with the sign-outs of `other`, the same user's entry
/// elsewhere, sealed again; `None` when that adds nothing or either entry cannot be opened
/// as one user's (an old-format or unreadable entry is kept as it is).
fn with_marks_of(
    keys: &crate::crypto::Keys,
    name: &str,
    kept: &[u8],
    other: &[u8],
) -> Result<Option<Vec<u8>>, StoreError> {
    let open = |bytes| envelope::open_named(keys, name, bytes).ok();
    let (
        Some(Opened::Owned { owner, mut record }),
        Some(Opened::Owned {
            owner: o,
            record: r,
        }),
    ) = (open(kept), open(other))
    else {
        return Ok(None);
    };
    let now = SystemClock.now();
    if owner != o || !record.revoked.absorb(&r.revoked, now) {
        return Ok(None);
    }
    Ok(Some(envelope::seal(keys, name, &owner, &record)))
}

/// The summary line printed at the end.
pub fn summary_line(s: &Summary) -> String {
    let mut line = format!(
        "copied {}, skipped {}, kept newer {}, failed {} (of {} entries)",
        s.copied, s.skipped, s.kept_newer, s.failed, s.total
    );
    if s.stopped {
        line.push_str(&format!(
            "; stopped after {} entries: run again to go on",
            s.done()
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        Summary {
            total: 10,
            copied: 3,
            skipped: 1,
            ..Summary::default()
        }
    }

    #[test]
    fn a_terminal_gets_one_line_redrawn_in_place() {
        let mut out = Vec::new();
        let mut p = Progress::new(&mut out, true);
        p.show(&summary(), true);
        p.show(&summary(), true);
        p.finish(&summary());
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("\r\x1b[2K").count(), 3, "{text:?}");
        assert_eq!(text.matches('\n').count(), 1, "{text:?}");
        assert!(text.contains("4/10 entries: 3 copied, 1 skipped, 0 kept newer, 0 failed ("));
        assert!(text.contains(" records/s)"));
    }

    #[test]
    fn elsewhere_progress_is_plain_lines() {
        let mut out = Vec::new();
        let mut p = Progress::new(&mut out, false);
        p.show(&summary(), true);
        p.note("abc: refused");
        p.finish(&summary());
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\r') && !text.contains('\x1b'), "{text:?}");
        assert_eq!(text.lines().count(), 3, "{text:?}");
    }

    #[test]
    fn a_journal_line_cut_short_is_ignored_and_the_next_starts_afresh() {
        let path =
            std::env::temp_dir().join(format!("ezauth-journal-{}", crate::crypto::random_token(6)));
        let digest = sha256(b"x");
        std::fs::write(
            &path,
            format!("aa {}\nbb {}", hex(&digest), &hex(&digest)[..9]),
        )
        .unwrap();
        let mut j = Journal::open(Some(&path)).unwrap();
        assert_eq!((j.get("aa"), j.get("bb")), (Some(digest), None));
        j.record("cc", digest).unwrap();
        let j = Journal::open(Some(&path)).unwrap();
        assert_eq!((j.get("aa"), j.get("cc")), (Some(digest), Some(digest)));
        std::fs::write(&path, "not a journal\nat all\n").unwrap();
        assert!(Journal::open(Some(&path)).is_err());
        std::fs::remove_file(&path).unwrap();
    }
}
