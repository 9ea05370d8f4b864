//! What `ezauth store` does to a configured token store, as functions the command line (and
//! the tests) call: list, show, remove, purge, rekey ([`commands`]) and migrate ([`migrate`]).
//! An operator's tool, never on a request's path: it lists entries, reads their sealed bytes
//! and writes them under the users' locks, so it works beside the serving nodes.
//!
//! Entries are found by listing ([`Entries::list`]) and opened by name
//! ([`super::envelope::open_named`]): an entry names its owner inside, so no user id is
//! needed. Entries written before that (legacy) open only for their user id: they are listed
//! as "owner unknown", migrated as bytes, and skipped by rekey and purge.

pub mod commands;
pub mod migrate;

use std::path::Path;

use super::backend::{Backend, Got, Page};
use super::envelope::{self, Opened};
use super::{Sealed, StoreError, TokenRecord, TokenStore};
use crate::config::{Settings, StoreSettings};
use crate::crypto::Keys;
use crate::logger::Logger;

/// A token store with the operator's access to its entries by name. Every [`super::Sealed`]
/// store is one ([`super::open_entries`]).
pub trait Entries: TokenStore {
    /// The keys the store names and seals entries with.
    fn keys(&self) -> &Keys;
    /// A page of entry names ([`Backend::list`]).
    fn list(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError>;
    /// The entry's sealed bytes, `None` without one.
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Runs `f` holding the lock of entry `lock` (the lock a user's refresh takes: see the lock
    /// contract on [`Backend`]); `f` reads and writes entries through the held lock.
    fn with_lock(
        &self,
        lock: &str,
        f: &mut dyn FnMut(&dyn Locked) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// Entries reached through a held lock.
pub trait Locked {
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Replaces the entry's bytes (durably, before the lock is released).
    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError>;
    fn remove(&self, name: &str) -> Result<(), StoreError>;
}

fn bytes_of<V>(got: Got<V>) -> Option<Vec<u8>> {
    match got {
        Got::Found(bytes, _) => Some(bytes),
        Got::Missing(_) | Got::Unchanged(_) => None,
    }
}

impl<B: Backend> Entries for Sealed<B> {
    fn keys(&self) -> &Keys {
        Sealed::keys(self)
    }

    fn list(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        self.backend().list(cursor, limit)
    }

    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.backend().get(name, None).map(bytes_of)
    }

    fn with_lock(
        &self,
        lock: &str,
        f: &mut dyn FnMut(&dyn Locked) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let backend = self.backend();
        let guard = backend.lock(lock)?;
        f(&Held {
            backend,
            guard: &guard,
        })
    }
}

struct Held<'g, 'b, B: Backend> {
    backend: &'b B,
    guard: &'g B::Guard<'b>,
}

impl<B: Backend> Locked for Held<'_, '_, B> {
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.backend.get(name, None).map(bytes_of)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.backend.put(name, bytes, self.guard).map(drop)
    }

    fn remove(&self, name: &str) -> Result<(), StoreError> {
        self.backend.delete(name, self.guard)
    }
}

/// A configuration's settings and its store, opened for `ezauth store`.
pub struct Loaded {
    pub settings: Settings,
    pub store: Box<dyn Entries>,
}

/// Loads `config` as `ezauth check-config` and the hosts do (its secrets and settings from
/// this process's environment) and opens its token store. Warnings go to `log`.
pub fn load(config: &Path, log: &Logger) -> Result<Loaded, String> {
    let shown = config.display();
    let settings = crate::config::load_file(config, &crate::config::ProcessEnvironment)
        .map_err(|e| format!("{shown}: {e}"))?;
    for w in &settings.warnings {
        log.warn(format_args!("{shown}: {w}"));
    }
    // A small cache: the tool reads each record about once.
    let store = super::open_entries(settings.token_store.as_ref(), &settings.keys, 1 << 20, log)
        .map_err(|e| format!("{shown}: {e}"))?
        .ok_or_else(|| format!("{shown}: no token store is configured (login.tokenStore)"))?;
    Ok(Loaded { settings, store })
}

impl Loaded {
    /// Refuses to change a file store from another user than the directory's owner (the
    /// workers' user): a record, lock file or shared table made by root would be owner-only
    /// root's, and the workers could not use it.
    pub fn check_writer(&self) -> Result<(), String> {
        use std::os::unix::fs::MetadataExt;
        let Some(StoreSettings::File { directory }) = &self.settings.token_store else {
            return Ok(());
        };
        let me = nix::unistd::geteuid();
        match std::fs::metadata(directory) {
            Ok(meta) if meta.uid() != me.as_raw() => {
                let owner = nix::unistd::User::from_uid(meta.uid().into())
                    .ok()
                    .flatten()
                    .map_or_else(|| format!("uid {}", meta.uid()), |u| u.name);
                Err(format!(
                    "the token directory {} belongs to {owner}: run this as {owner} \
                     (sudo -u {owner} ezauth store ...), so the files it makes stay usable by \
                     the workers",
                    directory.display()
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Every entry name, in listing order, each once (Redis may list one twice).
pub fn list_all(store: &dyn Entries) -> Result<Vec<String>, StoreError> {
    let mut seen = std::collections::HashSet::new();
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.list(cursor.as_deref(), 1000)?;
        names.extend(page.names.into_iter().filter(|n| seen.insert(n.clone())));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(names),
        }
    }
}

/// What an entry found by listing holds.
pub enum Found {
    Owned {
        owner: String,
        record: Box<TokenRecord>,
        /// Under the current key's name (else a previous key's: `rekey` moves it).
        current: bool,
    },
    /// Written before entries named their owner.
    Legacy,
    /// Does not open (tampered, foreign, sealed with a key this configuration lacks).
    Unreadable(String),
}

impl Found {
    /// Opens the entry `name` whose bytes are `sealed`.
    pub fn open(keys: &Keys, name: &str, sealed: &[u8]) -> Found {
        match envelope::open_named(keys, name, sealed) {
            Ok(Opened::Owned { owner, record }) => Found::Owned {
                current: keys.store_file_name(&owner) == name,
                owner,
                record,
            },
            Ok(Opened::Legacy) => Found::Legacy,
            Err(e) => Found::Unreadable(e.to_string()),
        }
    }
}

/// How `ls` describes an entry the tool cannot open for lack of its user id.
pub const LEGACY_NOTE: &str =
    "owner unknown (written by an older version; rewritten at the user's next sign-in or refresh)";
