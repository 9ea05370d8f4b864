//! The Redis backend (Valkey too): one string key per user holding the sealed record, a lease
//! key per user for the lock, a key per one-time value. Through the `redis` crate's blocking
//! client, standalone, Redis Cluster or behind Redis Sentinel (`redis_sentinel.rs`), plain or
//! TLS (`rediss://`, on OpenSSL through native-tls).
//!
//! Keys, each with the entry's name as a hash tag so a cluster keeps a user's keys in one slot
//! (the write script reads the lease and writes the record atomically):
//! `{prefix}{name}` (record), `{prefix}lock:{name}` (lease), `{prefix}once:{name}` (claim).
//!
//! Nothing here runs on the event loop: the backend is not local, so a cache miss becomes the
//! host's blocking step. Connections are made lazily, in the process that uses them (never in
//! the nginx master, which opens the store), and reused through a small pool: a connection is
//! taken out for one call and put back after it, so no lock is held while talking to Redis.
//! Every call is bounded by the connect and response timeouts; a connection that timed out or
//! broke is dropped, and the next call connects again, so the store recovers by itself when
//! Redis returns. After a failure the circuit breaker (`breaker.rs`) fails calls at once.
//! A write is one script (check the lease, `SET` or `DEL`, publish): it lands whole or not.
//!
//! A cached record is dropped as soon as another node's write of it is heard by pub/sub
//! (`Changes`, `redis_changes.rs`). It is trusted for `stalenessSeconds` in any case, and for
//! up to `revalidateSeconds` while the subscription that stood when it was read stands still
//! (every change a node makes through ezauth is heard then; what the longer bound covers is a
//! change made in Redis behind ezauth's back). So a signed-in user's requests need no call to
//! Redis while nothing changes, and a change is still seen at once. A cluster, and a store
//! behind Sentinel, keep to `stalenessSeconds`: a cluster's nodes pass messages on among
//! themselves, and after a failover the listener may still stand on a node that writes no
//! longer reach; a message lost there would not end the listener's epoch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::{ConnectionLike, RedisError, RedisResult};

use super::backend::{Backend, Got, Page};
use super::breaker::Breaker;
use super::redis_changes::{self, Changes};
pub use super::redis_sentinel::SentinelOptions;
use super::redis_sentinel::{self, Sentinels};
use super::StoreError;
use crate::crypto;
use crate::logger::Logger;

/// Larger values are refused before use: no record comes close (as the file store's bound).
const MAX_VALUE_SIZE: usize = 1 << 20;

/// Idle connections kept per process; more are made when more threads need one at once, and
/// closed after use.
const MAX_IDLE: usize = 8;

/// Longest pause between two attempts to take a held lock.
const MAX_LOCK_PAUSE: Duration = Duration::from_millis(100);

/// Writes `ARGV[4]` to `KEYS[1]` only while the lease `KEYS[2]` holds this holder's fencing
/// token `ARGV[1]`: a holder whose lease lapsed is refused instead of overwriting its
/// successor's record. Then tells the other nodes (`ARGV[3]` on channel `ARGV[2]`; best
/// effort: an ACL without the channel does not fail the write).
const PUT: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('EZAUTH_LEASE_LOST the lock lease lapsed before the write')
end
redis.call('SET', KEYS[1], ARGV[4])
pcall(redis.call, 'PUBLISH', ARGV[2], ARGV[3])
return 1";

/// Deletes `KEYS[1]` under the same condition as [`PUT`], and says so the same way.
const DELETE: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('EZAUTH_LEASE_LOST the lock lease lapsed before the write')
end
redis.call('DEL', KEYS[1])
pcall(redis.call, 'PUBLISH', ARGV[2], ARGV[3])
return 1";

/// Releases the lease `KEYS[1]` if it still holds this holder's token (else it lapsed and may
/// be another's now).
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// Where the store is and how to reach it (`ezauth.tokenStore.redis`, resolved).
#[derive(Clone)]
pub struct RedisOptions {
    /// `redis://[user:pass@]host:port[/db]` or `rediss://...`; for a cluster, the seed nodes,
    /// comma-separated. Holds the password: never logged or shown.
    pub url: String,
    pub cluster: bool,
    /// The primary is the one these sentinels name; the URL then gives the data nodes'
    /// credentials, database and TLS, and names the master as its host.
    pub sentinel: Option<SentinelOptions>,
    pub key_prefix: String,
    pub connect_timeout: Duration,
    /// Bound on each command's answer.
    pub timeout: Duration,
    /// How long a cached record is trusted without asking Redis when no listener vouches for
    /// it: the bound on seeing another node's change when its announcement may be lost.
    pub staleness: Duration,
    /// How long a cached record is trusted while the listener that stood when it was read
    /// stands still (at least `staleness`): the bound on seeing a change no node announced.
    pub revalidate: Duration,
    /// How long a lock lease lasts (the lock contract's bound: 2 × httpTimeout + 5 s).
    pub lease: Duration,
}

impl RedisOptions {
    /// How long `lock` waits for a held lease: two leases. A crashed holder's lease lapses
    /// within one; the second covers a live holder that took it just before.
    pub fn lock_wait(&self) -> Duration {
        self.lease * 2
    }
}

impl std::fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &"(secret)")
            .field("cluster", &self.cluster)
            .field("sentinel", &self.sentinel)
            .field("key_prefix", &self.key_prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("staleness", &self.staleness)
            .field("revalidate", &self.revalidate)
            .field("lease", &self.lease)
            .finish()
    }
}

enum Target {
    Single(redis::Client),
    Cluster(redis::cluster::ClusterClient),
    Sentinel(Arc<Sentinels>),
}

type Conn = Box<dyn ConnectionLike + Send>;

/// A connection and the epoch of the node it reaches: with Sentinel, one made before the
/// primary was last forgotten goes to a node no longer trusted, and is not reused. Always 0
/// otherwise.
struct Pooled {
    epoch: u64,
    conn: Conn,
}

pub struct RedisBackend {
    target: Target,
    options: RedisOptions,
    idle: Mutex<Vec<Pooled>>,
    /// Opened by a call that did not get Redis's answer ([`answered`]).
    breaker: Breaker,
    /// Other nodes' writes, heard by pub/sub.
    changes: Changes,
    /// The first URL's connection settings (credentials, TLS), for reaching each node of a
    /// cluster by itself (listing scans every primary).
    seed: redis::ConnectionInfo,
}

/// What a read or write saw of an entry: a digest of its bytes (none: no entry), when, and
/// what `Changes` said before: the entry's change counter and the listener's epoch.
#[derive(Clone)]
pub struct RedisVersion {
    digest: Option<[u8; 16]>,
    at: Instant,
    slot: u16,
    generation: u64,
    /// The epoch of the subscription standing before the entry was read or written, if any.
    epoch: Option<u64>,
}

/// What `Changes` said before a read or write: see [`RedisVersion`].
struct Heard {
    slot: u16,
    generation: u64,
    epoch: Option<u64>,
}

/// A held lease; released (if still this holder's) when dropped.
pub struct RedisLock<'a> {
    backend: &'a RedisBackend,
    /// The name of the entry whose lock this is.
    name: String,
    key: String,
    token: String,
}

impl Drop for RedisLock<'_> {
    fn drop(&mut self) {
        // Best effort: a lease that cannot be released now lapses by itself.
        let _ = self.backend.call(|c| {
            redis::cmd("EVAL")
                .arg(RELEASE)
                .arg(1)
                .arg(&self.key)
                .arg(&self.token)
                .query::<i64>(c)
        });
    }
}

/// Did the exchange complete: a success, or an error Redis itself answered (a script's
/// refusal, a wrong type)? Not: a timeout, a refused or broken connection.
fn answered<T>(result: &RedisResult<T>) -> bool {
    match result {
        Ok(_) => true,
        Err(e) => {
            !(e.is_io_error()
                || e.is_timeout()
                || e.is_connection_dropped()
                || e.is_connection_refusal()
                || e.is_unrecoverable_error())
        }
    }
}

/// Was the connection closed under us (reset, broken pipe, end of stream), rather than
/// slow? Then the request most likely never reached a server (an idle connection closed), and
/// running it again is safe: writes are fenced or idempotent, and a lease or claim that did
/// land reads as taken, which errs on the safe side.
fn closed(e: &RedisError) -> bool {
    !e.is_timeout() && (e.is_connection_dropped() || e.is_io_error())
}

/// A Redis failure as the store reports it; the message never carries the URL.
/// A name the layer makes: a keyed hash in hex.
fn is_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `text` matched literally by a `SCAN MATCH` pattern.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `info` without the `CLIENT SETINFO` the crate sends after connecting by default: it is
/// only informative, the least-privilege ACL (README) does not allow it, and waiting for its
/// answer from a hung server would add the connect timeout to the command's.
pub(super) fn quiet(info: redis::ConnectionInfo) -> redis::ConnectionInfo {
    let settings = info.redis_settings().clone().set_skip_set_lib_name();
    info.set_redis_settings(settings)
}

fn io_error(e: RedisError) -> StoreError {
    StoreError::Io(std::io::Error::other(format!("redis: {e}")))
}

fn digest(bytes: &[u8]) -> [u8; 16] {
    let d = openssl::sha::sha256(bytes);
    let mut out = [0; 16];
    out.copy_from_slice(&d[..16]);
    out
}

impl RedisBackend {
    /// Checks the URL and prepares the client; connects nobody (see the module doc).
    pub fn open(options: RedisOptions) -> Result<RedisBackend, String> {
        Self::open_with_log(options, &Logger::silent())
    }

    /// [`RedisBackend::open`], logging what goes wrong in the background to `log`.
    pub fn open_with_log(options: RedisOptions, log: &Logger) -> Result<RedisBackend, String> {
        let urls: Vec<&str> = options.url.split(',').map(str::trim).collect();
        // The crate reads `rediss://host#insecure` as "accept any certificate": never here.
        if urls.iter().any(|u| u.contains('#')) {
            return Err(
                "a URL fragment (#insecure turns certificate checks off) is refused".into(),
            );
        }
        if let Some(sentinel) = &options.sentinel {
            if options.cluster {
                return Err("sentinel and \"cluster\": true cannot be combined".into());
            }
            redis_sentinel::check_data_url(&options.url, &sentinel.master_name)?;
        }
        if urls.len() > 1 && !options.cluster {
            return Err("several URLs need \"cluster\": true".into());
        }
        let bad = |e: RedisError| format!("not a usable Redis URL ({:?})", e.kind());
        let infos = urls
            .iter()
            .map(|u| redis::IntoConnectionInfo::into_connection_info(*u).map(quiet))
            .collect::<RedisResult<Vec<_>>>()
            .map_err(bad)?;
        // One client per node: the subscriber's (a cluster's nodes each take SUBSCRIBE).
        let nodes = infos
            .iter()
            .map(|i| redis::Client::open(i.clone()))
            .collect::<RedisResult<Vec<_>>>()
            .map_err(bad)?;
        let target = if let Some(sentinel) = &options.sentinel {
            Target::Sentinel(Arc::new(Sentinels::open(
                nodes[0].get_connection_info().clone(),
                sentinel,
                options.connect_timeout,
                options.timeout,
            )?))
        } else if options.cluster {
            redis::cluster::ClusterClient::builder(infos)
                .connection_timeout(options.connect_timeout)
                .response_timeout(options.timeout)
                // Redirections and a topology change; a node that is down fails the call.
                .retries(2)
                .min_retry_wait(10)
                .max_retry_wait(100)
                .build()
                .map(Target::Cluster)
                .map_err(bad)?
        } else {
            Target::Single(nodes[0].clone())
        };
        let seed = nodes[0].get_connection_info().clone();
        let (subscribe_to, longest_call) = match &target {
            Target::Sentinel(sentinels) => {
                let sentinels = Arc::clone(sentinels);
                // A pooled connection's answer, the known primary's check, a discovery and
                // the call on its find.
                let longest =
                    sentinels.longest_discovery() + options.connect_timeout + options.timeout * 3;
                let nodes: redis_changes::Nodes = Arc::new(move || sentinels.find_primary());
                (nodes, longest)
            }
            _ => (
                redis_changes::in_turn(nodes),
                options.connect_timeout + options.timeout,
            ),
        };
        let changes = Changes::new(
            subscribe_to,
            format!("{}changed", options.key_prefix),
            options.connect_timeout,
            log.clone(),
        );
        Ok(RedisBackend {
            target,
            breaker: Breaker::new(longest_call),
            options,
            idle: Mutex::new(Vec::new()),
            changes,
            seed,
        })
    }

    pub fn options(&self) -> &RedisOptions {
        &self.options
    }

    fn connect(&self) -> RedisResult<Pooled> {
        let o = &self.options;
        let (epoch, conn): (u64, Conn) = match &self.target {
            Target::Single(client) => {
                let c = client.get_connection_with_timeout(o.connect_timeout)?;
                c.set_read_timeout(Some(o.timeout))?;
                c.set_write_timeout(Some(o.timeout))?;
                (0, Box::new(c))
            }
            Target::Cluster(client) => (0, Box::new(client.get_connection()?)),
            Target::Sentinel(sentinels) => {
                let (epoch, c) = sentinels.connect()?;
                (epoch, Box::new(c))
            }
        };
        Ok(Pooled { epoch, conn })
    }

    /// The epoch pooled connections must have to be reused.
    fn epoch(&self) -> u64 {
        match &self.target {
            Target::Sentinel(sentinels) => sentinels.epoch(),
            _ => 0,
        }
    }

    /// With Sentinel: the primary behind `epoch` failed or answered `READONLY` (it was
    /// demoted); it is forgotten, and the next connection asks the sentinels again.
    fn lost_primary(&self, epoch: u64) {
        if let Target::Sentinel(sentinels) = &self.target {
            sentinels.forget(epoch);
            self.idle.lock().clear();
        }
    }

    /// Did a primary answer as a replica (`READONLY`)? With Sentinel: a failover happened.
    fn demoted(&self, e: &RedisError) -> bool {
        matches!(self.target, Target::Sentinel(_)) && e.code() == Some("READONLY")
    }

    /// After an exchange with the node of `epoch`: forgets it if it did not answer, or
    /// answered as a replica.
    fn judge<T>(&self, epoch: u64, result: &RedisResult<T>) {
        if !answered(result) || result.as_ref().err().is_some_and(|e| self.demoted(e)) {
            self.lost_primary(epoch);
        }
    }

    /// Runs `f` on a pooled connection (or a new one). A connection comes back to the pool
    /// only when the exchange completed (a success or an error Redis answered): one that timed
    /// out may still have an answer on its way, and a broken one is useless. A pooled
    /// connection found closed (the server restarted, or a proxy dropped it while idle, as
    /// managed services do after minutes) is not an outage: the pool is emptied and `f` runs
    /// once more on a new connection. With Sentinel, so is one to a primary that was demoted
    /// (`READONLY`: the command did not run), and the sentinels are asked for the new one.
    fn call<T>(&self, f: impl Fn(&mut dyn ConnectionLike) -> RedisResult<T>) -> RedisResult<T> {
        if !self.breaker.admit() {
            return Err(self.breaker.refused().into());
        }
        let fresh = || {
            // A known primary that fails its check is replaced by `Sentinels::connect` itself.
            let conn = self.connect()?;
            let epoch = conn.epoch;
            let result = self.exchange(conn, &f);
            self.judge(epoch, &result);
            result
        };
        let result = match self.pooled() {
            Some(conn) => {
                let epoch = conn.epoch;
                match self.exchange(conn, &f) {
                    Err(e) if closed(&e) || self.demoted(&e) => {
                        self.idle.lock().clear();
                        self.lost_primary(epoch);
                        fresh()
                    }
                    other => {
                        self.judge(epoch, &other);
                        other
                    }
                }
            }
            None => fresh(),
        };
        self.breaker.record(answered(&result));
        result
    }

    /// An idle connection of the current epoch (older ones are dropped).
    fn pooled(&self) -> Option<Pooled> {
        let epoch = self.epoch();
        let mut idle = self.idle.lock();
        while let Some(p) = idle.pop() {
            if p.epoch == epoch {
                return Some(p);
            }
        }
        None
    }

    /// `f` on `conn`, which goes back to the pool if the exchange completed (and its node is
    /// still trusted).
    fn exchange<T>(
        &self,
        mut pooled: Pooled,
        f: &impl Fn(&mut dyn ConnectionLike) -> RedisResult<T>,
    ) -> RedisResult<T> {
        let result = f(pooled.conn.as_mut());
        if answered(&result)
            && !result.as_ref().err().is_some_and(|e| self.demoted(e))
            && pooled.conn.is_open()
            && pooled.epoch == self.epoch()
        {
            let mut idle = self.idle.lock();
            if idle.len() < MAX_IDLE {
                idle.push(pooled);
            }
        }
        result
    }

    fn key(&self, kind: &str, name: &str) -> String {
        debug_assert!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{name:?} is not a name the layer makes"
        );
        format!("{}{kind}{{{name}}}", self.options.key_prefix)
    }

    /// The entry's change counter and the listener's epoch, read before a read or write of
    /// it (a change heard meanwhile makes the version stale at once).
    fn heard(&self, name: &str) -> Heard {
        self.changes.start();
        let slot = Changes::slot(name);
        Heard {
            slot: slot as u16,
            generation: self.changes.generation(slot),
            epoch: self.changes.listening(),
        }
    }

    fn version(&self, digest: Option<[u8; 16]>, heard: Heard) -> RedisVersion {
        RedisVersion {
            digest,
            at: Instant::now(),
            slot: heard.slot,
            generation: heard.generation,
            epoch: heard.epoch,
        }
    }

    /// How long a copy read while the listener stood may be trusted while it stands still.
    fn listened_trust(&self) -> Duration {
        let one_node = !self.options.cluster && self.options.sentinel.is_none();
        match !one_node || self.options.staleness.is_zero() {
            true => self.options.staleness,
            false => self.options.revalidate.max(self.options.staleness),
        }
    }

    /// Does the listener's subscription stand now (other nodes' changes are heard)?
    pub fn listening(&self) -> bool {
        self.changes.listening().is_some()
    }

    /// One round trip: is Redis there and does it accept our credentials? For startup checks.
    pub fn ping(&self) -> Result<(), String> {
        self.call(|c| redis::cmd("PING").query::<String>(c))
            .map(drop)
            .map_err(|e| format!("Redis did not answer PING: {e}"))
    }

    /// A cluster's primaries (from `CLUSTER NODES`, in address order), each reached with the
    /// first URL's credentials and TLS settings.
    fn primaries(&self) -> Result<Vec<Option<redis::ConnectionInfo>>, StoreError> {
        let nodes: String = self
            .call(|c| redis::cmd("CLUSTER").arg("NODES").query(c))
            .map_err(io_error)?;
        let mut addresses: Vec<(String, u16)> = nodes
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                let flags = fields.get(2)?;
                let primary = flags.split(',').any(|f| f == "master")
                    && !flags.split(',').any(|f| f == "fail" || f == "noaddr");
                let address = fields.get(1)?.split(['@', ',']).next()?;
                let (host, port) = address.rsplit_once(':')?;
                primary.then(|| Some((host.to_owned(), port.parse().ok()?)))?
            })
            .collect();
        addresses.sort();
        Ok(addresses
            .into_iter()
            .map(|(host, port)| {
                let addr = match self.seed.addr() {
                    redis::ConnectionAddr::TcpTls {
                        insecure,
                        tls_params,
                        ..
                    } => redis::ConnectionAddr::TcpTls {
                        host,
                        port,
                        insecure: *insecure,
                        tls_params: tls_params.clone(),
                    },
                    _ => redis::ConnectionAddr::Tcp(host, port),
                };
                Some(self.seed.clone().set_addr(addr))
            })
            .collect())
    }

    /// `f` on a connection of its own to one node (an operator's listing: not pooled).
    fn on_node<T>(
        &self,
        info: &redis::ConnectionInfo,
        f: impl FnOnce(&mut dyn ConnectionLike) -> RedisResult<T>,
    ) -> RedisResult<T> {
        let client = redis::Client::open(info.clone())?;
        let mut c = client.get_connection_with_timeout(self.options.connect_timeout)?;
        c.set_read_timeout(Some(self.options.timeout))?;
        c.set_write_timeout(Some(self.options.timeout))?;
        f(&mut c)
    }

    /// Runs a write script under `lock`: refused when the lease is no longer this holder's.
    fn fenced_write(
        &self,
        script: &str,
        name: &str,
        value: Option<&[u8]>,
        lock: &RedisLock<'_>,
    ) -> Result<(), StoreError> {
        let key = self.key("", name);
        let lease_lost = || {
            StoreError::Io(std::io::Error::other(
                "redis: the lock lease lapsed before the write: write refused",
            ))
        };
        if name != lock.name {
            // An entry under another name than the lock's: a previous key's name, removed
            // after a key rotation. In a cluster it may sit in another slot than the lease,
            // and one script cannot touch both: the lease is checked, then the entry written.
            // The layer writes under current names only, so nothing slips in between.
            let holder: Option<String> = self
                .call(|c| redis::cmd("GET").arg(&lock.key).query(c))
                .map_err(io_error)?;
            if holder.as_deref() != Some(lock.token.as_str()) {
                return Err(lease_lost());
            }
            let cmd = match value {
                Some(v) => redis::cmd("SET").arg(&key).arg(v).to_owned(),
                None => redis::cmd("DEL").arg(&key).to_owned(),
            };
            self.call(|c| cmd.query::<()>(c)).map_err(io_error)?;
            // Best effort, as in the scripts.
            let _ = self.call(|c| {
                redis::cmd("PUBLISH")
                    .arg(self.changes.channel())
                    .arg(self.changes.message(name))
                    .query::<i64>(c)
            });
            return Ok(());
        }
        self.call(|c| {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(script)
                .arg(2)
                .arg(&key)
                .arg(&lock.key)
                .arg(&lock.token)
                .arg(self.changes.channel())
                .arg(self.changes.message(name));
            if let Some(v) = value {
                cmd.arg(v);
            }
            cmd.query::<i64>(c)
        })
        .map(drop)
        .map_err(|e| match e.code() {
            Some("EZAUTH_LEASE_LOST") => lease_lost(),
            _ => io_error(e),
        })
    }
}

impl Backend for RedisBackend {
    const LOCAL: bool = false;
    type Version = RedisVersion;
    type Guard<'a> = RedisLock<'a>;

    fn refusing(&self) -> bool {
        self.breaker.refusing()
    }

    /// Current while no change of the entry was heard since (`Changes`), and younger than the
    /// staleness bound, or than the revalidation bound while the listener that stood at the
    /// read stands still. `Instant::elapsed` reads the vDSO clock: no system call.
    fn is_current(&self, v: &RedisVersion) -> bool {
        if self.changes.generation(usize::from(v.slot)) != v.generation {
            return false;
        }
        let age = v.at.elapsed();
        age < self.options.staleness
            || (age < self.listened_trust()
                && v.epoch.is_some_and(|e| self.changes.still_listening(e)))
    }

    fn get(
        &self,
        name: &str,
        known: Option<&RedisVersion>,
    ) -> Result<Got<RedisVersion>, StoreError> {
        let key = self.key("", name);
        let heard = self.heard(name);
        // At most one byte past the bound is fetched: a value planted to be huge is refused
        // without being read whole. A missing key reads as empty, as no record ever is.
        let bytes: Vec<u8> = self
            .call(|c| {
                redis::cmd("GETRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(MAX_VALUE_SIZE)
                    .query(c)
            })
            .map_err(|e| match e.code() {
                Some("WRONGTYPE") => StoreError::Corrupt("entry is not a string".into()),
                _ => io_error(e),
            })?;
        if bytes.is_empty() {
            return Ok(Got::Missing(self.version(None, heard)));
        }
        if bytes.len() > MAX_VALUE_SIZE {
            return Err(StoreError::Corrupt(format!(
                "entry is larger than {MAX_VALUE_SIZE} bytes"
            )));
        }
        let d = digest(&bytes);
        let version = self.version(Some(d), heard);
        if known.is_some_and(|k| k.digest == Some(d)) {
            return Ok(Got::Unchanged(version));
        }
        Ok(Got::Found(bytes, version))
    }

    fn put(
        &self,
        name: &str,
        bytes: &[u8],
        lock: &RedisLock<'_>,
    ) -> Result<RedisVersion, StoreError> {
        let heard = self.heard(name);
        self.fenced_write(PUT, name, Some(bytes), lock)?;
        Ok(self.version(Some(digest(bytes)), heard))
    }

    fn delete(&self, name: &str, lock: &RedisLock<'_>) -> Result<(), StoreError> {
        self.fenced_write(DELETE, name, None, lock)
    }

    /// `SET lock NX PX lease` with a random fencing token, retried with growing pauses until
    /// [`RedisOptions::lock_wait`] has passed.
    fn lock(&self, name: &str) -> Result<RedisLock<'_>, StoreError> {
        let key = self.key("lock:", name);
        let token = crypto::random_token(16);
        let lease_ms = self.options.lease.as_millis().max(1) as u64;
        let deadline = Instant::now() + self.options.lock_wait();
        let mut pause = Duration::from_millis(2);
        loop {
            let taken: Option<String> = self
                .call(|c| {
                    redis::cmd("SET")
                        .arg(&key)
                        .arg(&token)
                        .arg("NX")
                        .arg("PX")
                        .arg(lease_ms)
                        .query(c)
                })
                .map_err(io_error)?;
            if taken.is_some() {
                return Ok(RedisLock {
                    backend: self,
                    name: name.to_owned(),
                    key,
                    token,
                });
            }
            if Instant::now() + pause >= deadline {
                return Err(StoreError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "redis: the user's lock stayed held for {:?}",
                        self.options.lock_wait()
                    ),
                )));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(MAX_LOCK_PAUSE);
        }
    }

    /// `SCAN MATCH {prefix}{*}`: records only (lock and one-time keys have another shape);
    /// in a cluster, each primary in turn. `SCAN`'s `COUNT` is a hint, so names past `limit`
    /// ride in the cursor to the next page: `<node>.<scan cursor>|<names,…>` (`end|…` once
    /// every node is scanned).
    fn list(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        let bad = || {
            StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "redis: not a listing cursor of this store",
            ))
        };
        let (mut at, mut names): (Option<(usize, u64)>, Vec<String>) = match cursor {
            None => (Some((0, 0)), Vec::new()),
            Some(c) => {
                let (at, carried) = c.split_once('|').ok_or_else(bad)?;
                let at = match at.split_once('.') {
                    None if at == "end" => None,
                    None => return Err(bad()),
                    Some((node, scan)) => Some((
                        node.parse().map_err(|_| bad())?,
                        scan.parse().map_err(|_| bad())?,
                    )),
                };
                let carried: Vec<String> = carried
                    .split(',')
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .collect();
                if !carried.iter().all(|n| is_name(n)) {
                    return Err(bad());
                }
                (at, carried)
            }
        };
        let nodes = match self.options.cluster {
            true => self.primaries()?,
            false => vec![None],
        };
        let prefix = &self.options.key_prefix;
        let pattern = format!("{}{{*}}", glob_escape(prefix));
        while names.len() < limit {
            let Some((node, scan)) = at else { break };
            let target = nodes.get(node).ok_or_else(|| {
                io_error(RedisError::from(std::io::Error::other(
                    "the cluster's primaries changed during the listing: start again",
                )))
            })?;
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(scan)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(limit.max(10));
            let (next, keys): (u64, Vec<Vec<u8>>) = match target {
                None => self.call(|c| cmd.query(c)),
                Some(info) => self.on_node(info, |c| cmd.query(c)),
            }
            .map_err(io_error)?;
            names.extend(keys.iter().filter_map(|k| {
                let name = std::str::from_utf8(k)
                    .ok()?
                    .strip_prefix(prefix.as_str())?
                    .strip_prefix('{')?
                    .strip_suffix('}')?;
                is_name(name).then(|| name.to_owned())
            }));
            at = match next {
                0 if node + 1 < nodes.len() => Some((node + 1, 0)),
                0 => None,
                next => Some((node, next)),
            };
        }
        let carried = names.split_off(limit.min(names.len()));
        let next = (at.is_some() || !carried.is_empty()).then(|| {
            let at = at.map_or_else(|| "end".to_owned(), |(n, c)| format!("{n}.{c}"));
            format!("{at}|{}", carried.join(","))
        });
        Ok(Page { names, next })
    }

    /// `SET once NX EXAT expires_at`: atomic across every client of the server.
    fn claim_once(&self, name: &str, expires_at: i64) -> Result<bool, StoreError> {
        let key = self.key("once:", name);
        // A value already past its expiry is recorded for a second (EXAT must lie ahead).
        let now = crate::clock::Clock::now(&crate::clock::SystemClock);
        let until = expires_at.max(now + 1);
        let set: Option<String> = self
            .call(|c| {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(1)
                    .arg("NX")
                    .arg("EXAT")
                    .arg(until)
                    .query(c)
            })
            .map_err(io_error)?;
        Ok(set.is_some())
    }
}
