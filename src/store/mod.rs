//! The token store: one sealed record per signed-in user identity, holding the provider's
//! tokens and the user's claims. A kind of store is a [`Backend`] (dumb byte operations, a
//! lock, one-time claims); [`Sealed`] turns any backend into a [`TokenStore`], with the
//! record format (sealed JSON, bound to its user), key rotation and the record cache shared.

pub mod access;
pub mod admin;
pub mod backend;
pub mod blob;
mod blob_ahead;
pub mod breaker;
pub mod envelope;
pub mod file;
mod generations;
pub mod redis;
mod redis_changes;
pub mod redis_sentinel;
mod sealed;

pub use backend::{Backend, Got, Page};
pub use sealed::Sealed;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, StoreSettings};
use crate::crypto::Keys;
use crate::logger::Logger;

/// The configured token store, `None` without one: the one place that knows the store kinds,
/// so a new kind is a backend file plus an arm here. `cache_bytes` bounds the records it keeps
/// in memory. Errors name the setting that caused them, as config errors do.
pub fn open(
    settings: Option<&StoreSettings>,
    keys: &Keys,
    cache_bytes: usize,
    log: &Logger,
) -> Result<Option<Box<dyn TokenStore>>, ConfigError> {
    let store = open_entries(settings, keys, cache_bytes, log)?;
    Ok(store.map(|s| s as Box<dyn TokenStore>))
}

/// The configured store as [`open`] makes it, with the operator's access to its entries
/// (listing, raw bytes under a lock: [`admin::Entries`]) that `ezauth store` needs.
pub fn open_entries(
    settings: Option<&StoreSettings>,
    keys: &Keys,
    cache_bytes: usize,
    log: &Logger,
) -> Result<Option<Box<dyn admin::Entries>>, ConfigError> {
    let Some(settings) = settings else {
        return Ok(None);
    };
    fn sealed<B: Backend + 'static>(
        backend: B,
        keys: &Keys,
        cache_bytes: usize,
        log: &Logger,
    ) -> Option<Box<dyn admin::Entries>> {
        Some(Box::new(Sealed::new(
            backend,
            keys.clone(),
            cache_bytes,
            log,
        )))
    }
    match settings {
        StoreSettings::File { directory } => match file::FileBackend::open(directory, log) {
            Ok(backend) => Ok(sealed(backend, keys, cache_bytes, log)),
            Err(e) => Err(ConfigError {
                path: "login.tokenStore.fileSystem.directory".into(),
                message: format!("cannot use {}: {e}", directory.display()),
                unreadable: false,
            }),
        },
        StoreSettings::Blob {
            container,
            http_timeout,
            staleness,
            ..
        } => {
            let options = blob::BlobOptions {
                staleness: *staleness,
                ..blob::BlobOptions::for_http_timeout(*http_timeout)
            };
            let backend = blob::BlobBackend::open(container.clone(), options, log);
            Ok(sealed(backend, keys, cache_bytes, log))
        }
        StoreSettings::Redis(options) => {
            match redis::RedisBackend::open_with_log(options.clone(), log) {
                Ok(backend) => Ok(sealed(backend, keys, cache_bytes, log)),
                Err(e) => Err(ConfigError {
                    path: "ezauth.tokenStore.redis.urlSettingName".into(),
                    message: e,
                    unreadable: false,
                }),
            }
        }
    }
}

/// Can `worker` (the user the host's workers run as) use the configured store? Asked at
/// startup (`nginx -t`, `ezauth check-config`): stores make their files or connections
/// lazily, in the processes that use them. The other place that knows the store kinds.
/// A remote store is asked once whether it is there and accepts the credentials.
pub fn check_access(
    settings: Option<&StoreSettings>,
    worker: &access::Worker,
) -> Result<(), String> {
    match settings {
        Some(StoreSettings::File { directory }) => access::check_directory(directory, worker),
        // The workers reach the same service: one List Blobs with the SAS tells.
        Some(StoreSettings::Blob {
            container, setting, ..
        }) => blob::BlobBackend::open(
            container.clone(),
            blob::BlobOptions::for_http_timeout(std::time::Duration::from_secs(5)),
            &Logger::silent(),
        )
        .check()
        .map_err(|e| format!("the Azure Blob token store ({setting}): {e}")),
        // One PING, from the checking process (its connection is closed at once): a wrong
        // URL, password or TLS setup, or an unreachable server, stops `nginx -t` and
        // `ezauth check-config` with the reason. The worker's user does not matter here.
        Some(StoreSettings::Redis(options)) => redis::RedisBackend::open(options.clone())
            .and_then(|backend| backend.ping())
            .map_err(|e| format!("ezauth.tokenStore.redis: {e}")),
        None => Ok(()),
    }
}

/// One claim as `/.auth/me` and `X-MS-CLIENT-PRINCIPAL` show it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Claim {
    pub typ: String,
    pub val: String,
}

impl Claim {
    pub fn new(typ: &str, val: &str) -> Claim {
        Claim {
            typ: typ.into(),
            val: val.into(),
        }
    }
}

/// What the store keeps for one user identity; field names are those of `/.auth/me`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct TokenRecord {
    pub provider_name: String,
    /// The provider-level user name (e-mail, preferred username), as App Service reports it.
    pub user_id: String,
    pub user_claims: Vec<Claim>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub access_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub access_token_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub authentication_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub refresh_token: Option<String>,
    /// ISO-8601 UTC with 7 fractional digits, as App Service writes it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expires_on: Option<String>,
    /// Signed-out sessions of this user (not shown by `/.auth/me`).
    #[serde(skip_serializing_if = "Revocations::is_empty", default)]
    pub revoked: Revocations,
    /// When a refresh last stored these tokens (Unix seconds; not shown by `/.auth/me`): a
    /// refresh asked for just after needs no provider call.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub refreshed_at: i64,
}

/// Which of a user's sessions were signed out: each cookie and session token names its
/// session, and logout revokes the one presented, or every session issued so far.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Revocations {
    /// Sessions issued at or before this time (Unix seconds) are signed out ("everywhere").
    #[serde(skip_serializing_if = "is_zero", default)]
    pub issued_until: i64,
    /// Revoked session ids, each with the time after which it cannot be presented anyway.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub sessions: Vec<(String, i64)>,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// Bound on remembered revocations per user; past it, the user is signed out everywhere
/// instead (one list entry per logout, so only a user with this many live sessions sees it).
const MAX_REVOKED: usize = 1000;

impl Revocations {
    pub fn is_empty(&self) -> bool {
        self.issued_until == 0 && self.sessions.is_empty()
    }

    /// Is the session `id`, issued at `iat`, signed out?
    pub fn revokes(&self, id: &str, iat: i64) -> bool {
        iat <= self.issued_until || self.sessions.iter().any(|(s, _)| s == id)
    }

    /// Signs out session `id`, which cannot be presented after `until`; forgets revocations
    /// that no longer matter at `now`.
    pub fn revoke(&mut self, id: &str, until: i64, now: i64) {
        self.sessions.retain(|(_, u)| *u > now);
        if self.sessions.len() >= MAX_REVOKED {
            self.revoke_all(now);
            return;
        }
        self.sessions.push((id.to_owned(), until));
    }

    /// Takes in `other`'s sign-outs as well (the same user's marks kept elsewhere): true
    /// when that signs out more than before.
    pub fn absorb(&mut self, other: &Revocations, now: i64) -> bool {
        let mut more = other.issued_until > self.issued_until;
        self.issued_until = self.issued_until.max(other.issued_until);
        for (id, until) in &other.sessions {
            if *until > now && !self.revokes(id, i64::MAX) {
                self.revoke(id, *until, now);
                more = true;
            }
        }
        more
    }

    /// Signs out every session issued until `now`.
    pub fn revoke_all(&mut self, now: i64) {
        self.issued_until = self.issued_until.max(now);
        self.sessions.clear();
    }
}

impl TokenRecord {
    /// About how many bytes the record holds (inline and on the heap), for caches' byte bounds.
    pub fn approx_bytes(&self) -> usize {
        let strings = [&self.provider_name, &self.user_id].map(|s| s.len());
        let tokens = [
            &self.access_token,
            &self.access_token_secret,
            &self.authentication_token,
            &self.id_token,
            &self.refresh_token,
            &self.expires_on,
        ]
        .map(|t| t.as_ref().map_or(0, String::len));
        std::mem::size_of::<TokenRecord>()
            + strings.iter().chain(&tokens).sum::<usize>()
            + self
                .user_claims
                .iter()
                .map(|c| std::mem::size_of::<Claim>() + c.typ.len() + c.val.len())
                .sum::<usize>()
            + self
                .revoked
                .sessions
                .iter()
                .map(|(id, _)| std::mem::size_of::<(String, i64)>() + id.len())
                .sum::<usize>()
    }

    /// What must outlive the record's identity and tokens: its sign-out marks, alone (as a
    /// logout leaves them), or `None` when it has none. Removing a record that has marks would
    /// let its signed-out (perhaps stolen) sessions in again.
    pub fn marks_only(&self) -> Option<TokenRecord> {
        (!self.revoked.is_empty()).then(|| TokenRecord {
            revoked: self.revoked.clone(),
            ..TokenRecord::default()
        })
    }

    /// The token fields that become `X-MS-TOKEN-{PROVIDER}-{TYPE}` headers, in a fixed order.
    pub fn token_fields(&self) -> [(&'static str, Option<&str>); 6] {
        [
            ("ACCESS-TOKEN", self.access_token.as_deref()),
            ("ACCESS-TOKEN-SECRET", self.access_token_secret.as_deref()),
            ("AUTHENTICATION-TOKEN", self.authentication_token.as_deref()),
            ("EXPIRES-ON", self.expires_on.as_deref()),
            ("ID-TOKEN", self.id_token.as_deref()),
            ("REFRESH-TOKEN", self.refresh_token.as_deref()),
        ]
    }
}

#[derive(Debug)]
pub enum StoreError {
    Io(std::io::Error),
    /// The entry exists but cannot be trusted (tampered, truncated, foreign, not a file).
    Corrupt(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Io(e) => write!(f, "token store I/O error: {e}"),
            StoreError::Corrupt(why) => write!(f, "token store entry refused: {why}"),
        }
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e)
    }
}

/// What a read-modify-write decides.
pub enum Update {
    /// Leave the entry exactly as it is (nothing is written).
    Keep,
    Replace(Box<TokenRecord>),
    /// Remove the entry (under every name it may have).
    Remove,
}

/// What a store knows of a record without waiting on another service: what the host's event
/// loop may use ([`TokenStore::cached`]).
#[derive(Debug, Clone)]
pub enum Cached {
    Hit(Arc<TokenRecord>),
    /// The user has no record (or an unusable one, which reads as none).
    Absent,
    /// Only a remote read can tell: the caller stops and reads in the host's blocking step.
    NeedsIo,
}

/// A store of token records keyed by the user's `sid:...` id. Every method but
/// [`TokenStore::cached`] may block (on a lock, a remote service); the pipeline calls them in
/// the host's blocking step only ([`crate::io::Io::Allowed`]).
///
/// Every store is [`Sealed`] over a [`Backend`]; [`TokenStore::update`] keeps the lock
/// contract written down on [`Backend`]: a refresh runs exactly once per stored refresh
/// token, under the user's lock, never retried optimistically.
pub trait TokenStore: Send + Sync {
    /// The record as far as the store knows it without waiting on another service: what the
    /// host's event loop may ask (revocations, token headers, the `X-ZUMO-AUTH` principal,
    /// `/.auth/me`). A local store (the file store) reads its local disk here when its cache
    /// misses, as cheap as a page-cache read, and never answers [`Cached::NeedsIo`]; a remote
    /// store answers from its cache or [`Cached::NeedsIo`], and the request continues in the
    /// blocking step, which calls [`TokenStore::load`].
    fn cached(&self, user: &str) -> Result<Cached, StoreError>;
    /// The record, `Ok(None)` if there is none. Shared: stores may hand out the same record to
    /// many requests while it is unchanged (callers compare with `Arc::ptr_eq` to reuse work).
    fn load(&self, user: &str) -> Result<Option<Arc<TokenRecord>>, StoreError>;
    /// Replaces the record atomically.
    fn save(&self, user: &str, record: &TokenRecord) -> Result<(), StoreError>;
    fn delete(&self, user: &str) -> Result<(), StoreError>;
    /// Read-modify-write under the store's lock for that user (across threads and processes):
    /// `change` sees the current record and decides. While it runs, no other writer of this
    /// user's entry can start, which makes refreshes single-flight.
    fn update(
        &self,
        user: &str,
        change: &mut dyn FnMut(Option<TokenRecord>) -> Update,
    ) -> Result<(), StoreError>;
    /// Stores a new sign-in's record: its tokens and claims replace the old ones, the user's
    /// session revocations are kept (a new sign-in must not bring signed-out sessions back).
    fn sign_in(&self, user: &str, record: &TokenRecord) -> Result<(), StoreError> {
        self.update(user, &mut |current| {
            let mut next = record.clone();
            next.revoked = current.map(|c| c.revoked).unwrap_or_default();
            Update::Replace(Box::new(next))
        })
    }
    /// Records that a one-time value (a login state) was used, until `expires_at` (Unix
    /// seconds); false when it already was. Holds across processes and threads, so a replayed
    /// callback is refused whichever nginx worker it reaches.
    fn claim_once(&self, key: &str, expires_at: i64) -> Result<bool, StoreError>;

    /// Counts this store's backend operations and cache lookups into `metrics` from now on
    /// (called once, when the app is made). A store without a backend counts nothing.
    fn measure(&self, _metrics: &Arc<crate::metrics::Metrics>) {}
}

/// Formats Unix seconds as App Service writes `expires_on`: `2021-06-08T15:35:58.0000000Z`.
/// Times outside the years 1 to 9999 (which ISO 8601's four-digit year cannot write; only a
/// provider's nonsense gets there) are written as the nearest end of that range.
pub fn format_expires_on(unix: i64) -> String {
    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
    const RANGE: (i64, i64) = (-62_135_596_800, 253_402_300_799);
    let t = time::OffsetDateTime::from_unix_timestamp(unix.clamp(RANGE.0, RANGE.1))
        .expect("clamped into the range every build of `time` represents");
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.0000000Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Reads `expires_on` back as Unix seconds (any RFC 3339 time: what [`format_expires_on`]
/// writes, and what a record from elsewhere may hold); `None` when it is not one.
pub fn parse_expires_on(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small record whose access token is `token` (the store modules' unit tests share it).
    pub fn record(token: &str) -> TokenRecord {
        TokenRecord {
            provider_name: "aad".into(),
            user_id: "u@example.test".into(),
            access_token: Some(token.into()),
            ..Default::default()
        }
    }

    #[test]
    fn expires_on_reads_back() {
        for t in [0, 1623166558, 951782400, -1, 4107542399] {
            assert_eq!(parse_expires_on(&format_expires_on(t)), Some(t), "{t}");
        }
        assert_eq!(
            parse_expires_on("2021-06-08T17:35:58.5+02:00"),
            Some(1623166558)
        );
        for bad in ["", "tomorrow", "1623166558", "2021-06-08 15:35:58"] {
            assert_eq!(parse_expires_on(bad), None, "{bad}");
        }
    }

    #[test]
    fn expires_on_format() {
        assert_eq!(format_expires_on(0), "1970-01-01T00:00:00.0000000Z");
        assert_eq!(
            format_expires_on(1623166558),
            "2021-06-08T15:35:58.0000000Z"
        );
        assert_eq!(format_expires_on(951782400), "2000-02-29T00:00:00.0000000Z");
        assert_eq!(format_expires_on(-1), "1969-12-31T23:59:59.0000000Z");
        assert_eq!(
            format_expires_on(4107542399),
            "2100-02-28T23:59:59.0000000Z"
        );
        assert_eq!(format_expires_on(i64::MAX), "9999-12-31T23:59:59.0000000Z");
        assert_eq!(format_expires_on(i64::MIN), "0001-01-01T00:00:00.0000000Z");
    }
}
