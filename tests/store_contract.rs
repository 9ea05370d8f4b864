//! What every token store promises, run over each backend under the shared layer: the file
//! backend, the Azure Blob backend (against a real Azurite, `support::azurite`), the remote
//! stand-in (`support::remote`) and Redis (a real `redis-server` per test, standalone and a
//! three-node cluster, `support::redis_server`). Two clients of one backend stand for two
//! processes sharing the store. What needs a real service and another process runs over the
//! file store, Redis and Azure Blob alike (`served!`): a holder SIGKILLed with the lock, an
//! outage and recovery, another process's change seen within the staleness bound.

mod support;

use ezauth::clock::Clock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ezauth::crypto::Keys;
use ezauth::logger::Logger;
use ezauth::store::blob::{BlobBackend, BlobOptions, ContainerUrl};
use ezauth::store::file::FileBackend;
use ezauth::store::redis::{RedisBackend, RedisOptions};
use ezauth::store::{Backend, Cached, Got, Sealed, StoreError, TokenStore, Update};
use support::azurite::Azurite;
use support::records::{keys, record, token};
use support::redis_server::{RedisCluster, RedisSentinels, RedisServer};
use support::remote::{Remote, Service};
use support::scratch;

/// A client (process) of the backend `connect` opens, with `keys`.
fn client<B: Backend>(connect: &impl Fn() -> B, keys: Keys) -> Sealed<B> {
    Sealed::new(connect(), keys, 1 << 20, &Logger::silent())
}

/// Replaces the bytes of `user`'s entry as someone with access to the backend could (under
/// the lock, so nothing else writes meanwhile).
fn rewrite<B: Backend>(store: &Sealed<B>, user: &str, change: impl FnOnce(Vec<u8>) -> Vec<u8>) {
    let name = store.name(user);
    let lock = store.backend().lock(&name).unwrap();
    let Got::Found(bytes, _) = store.backend().get(&name, None).unwrap() else {
        panic!("no entry for {user}")
    };
    store.backend().put(&name, &change(bytes), &lock).unwrap();
}

fn raw<B: Backend>(store: &Sealed<B>, user: &str) -> Vec<u8> {
    match store.backend().get(&store.name(user), None).unwrap() {
        Got::Found(bytes, _) => bytes,
        _ => panic!("no entry for {user}"),
    }
}

fn save_load_delete<B: Backend>(connect: impl Fn() -> B) {
    let a = client(&connect, keys());
    assert!(a.load("sid:1").unwrap().is_none());
    a.save("sid:1", &record("one")).unwrap();
    assert_eq!(token(&a.load("sid:1").unwrap().unwrap()), "one");
    let b = client(&connect, keys());
    assert_eq!(
        token(&b.load("sid:1").unwrap().unwrap()),
        "one",
        "another process reads it"
    );
    assert!(
        b.load("sid:2").unwrap().is_none(),
        "another user has no record"
    );
    a.save("sid:1", &record("two")).unwrap();
    assert_eq!(token(&a.load("sid:1").unwrap().unwrap()), "two");
    a.delete("sid:1").unwrap();
    assert!(a.load("sid:1").unwrap().is_none());
    assert!(client(&connect, keys()).load("sid:1").unwrap().is_none());
    a.delete("sid:1").unwrap();
}

fn tampered_and_foreign_entries_are_refused<B: Backend>(connect: impl Fn() -> B) {
    let a = client(&connect, keys());
    a.save("sid:1", &record("one")).unwrap();
    a.save("sid:2", &record("two")).unwrap();
    let good = raw(&a, "sid:1");
    let corrupt = |s: &Sealed<B>| matches!(s.load("sid:1"), Err(StoreError::Corrupt(_)));

    rewrite(&a, "sid:1", |mut b| {
        b[20] ^= 0x40;
        b
    });
    assert!(corrupt(&client(&connect, keys())), "a flipped bit");
    rewrite(&a, "sid:1", |_| good[..good.len() / 2].to_vec());
    assert!(corrupt(&client(&connect, keys())), "truncated");
    // User 2's entry moved onto user 1's name: sealed for user 2, it does not open as 1's.
    let foreign = raw(&a, "sid:2");
    rewrite(&a, "sid:1", |_| foreign);
    assert!(corrupt(&client(&connect, keys())), "another user's entry");
    let stranger = Keys::new(&[9u8; 32], &[6u8; 32], &[]);
    assert!(
        client(&connect, stranger).load("sid:2").unwrap().is_none(),
        "another key neither finds nor opens it"
    );

    // A sign-in replaces an entry that cannot be trusted.
    let c = client(&connect, keys());
    c.sign_in("sid:1", &record("fresh")).unwrap();
    assert_eq!(token(&c.load("sid:1").unwrap().unwrap()), "fresh");
    assert_eq!(token(&c.load("sid:2").unwrap().unwrap()), "two");
}

fn concurrent_updates_lose_nothing<B: Backend + 'static>(connect: impl Fn() -> B) {
    // Two processes, four threads each, all updating one user.
    let stores = [
        Arc::new(client(&connect, keys())),
        Arc::new(client(&connect, keys())),
    ];
    let inside = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (s, inside) = (Arc::clone(&stores[i % 2]), Arc::clone(&inside));
            std::thread::spawn(move || {
                for _ in 0..25 {
                    s.update("sid:c", &mut |cur| {
                        assert!(!inside.swap(true, Ordering::SeqCst), "two holders");
                        std::thread::yield_now();
                        inside.store(false, Ordering::SeqCst);
                        let n: u32 = cur.map_or(0, |r| token(&r).parse().unwrap());
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
    let last = client(&connect, keys()).load("sid:c").unwrap().unwrap();
    assert_eq!(token(&last), "200");
}

fn claim_once_holds_once<B: Backend>(connect: impl Fn() -> B) {
    let (a, b) = (client(&connect, keys()), client(&connect, keys()));
    let later = ezauth::clock::SystemClock.now() + 300;
    assert!(a.claim_once("state-1", later).unwrap());
    assert!(
        !b.claim_once("state-1", later).unwrap(),
        "another process sees the claim"
    );
    assert!(!a.claim_once("state-1", later).unwrap());
    assert!(b.claim_once("state-2", later).unwrap());
}

fn cached_answers_what_it_knows_without_waiting<B: Backend>(connect: impl Fn() -> B) {
    let a = client(&connect, keys());
    a.save("sid:1", &record("one")).unwrap();
    assert!(
        matches!(a.cached("sid:1").unwrap(), Cached::Hit(r) if token(&r) == "one"),
        "what this process wrote is cached"
    );
    let b = client(&connect, keys());
    let first = b.cached("sid:1").unwrap();
    let absent = b.cached("sid:2").unwrap();
    if B::LOCAL {
        assert!(matches!(first, Cached::Hit(_)), "{first:?}");
        assert!(matches!(absent, Cached::Absent), "{absent:?}");
    } else {
        assert!(
            matches!(first, Cached::NeedsIo),
            "a miss needs I/O: {first:?}"
        );
        assert!(matches!(absent, Cached::NeedsIo), "{absent:?}");
        assert!(b.load("sid:1").unwrap().is_some());
        assert!(b.load("sid:2").unwrap().is_none());
    }
    assert!(matches!(b.cached("sid:1").unwrap(), Cached::Hit(r) if token(&r) == "one"));
    assert!(
        matches!(b.cached("sid:2").unwrap(), Cached::Absent),
        "a known absence"
    );
}

fn sign_in_keeps_revocations<B: Backend>(connect: impl Fn() -> B) {
    let a = client(&connect, keys());
    let mut first = record("one");
    first.revoked.revoke("session-1", i64::MAX / 2, 0);
    a.save("sid:1", &first).unwrap();
    a.sign_in("sid:1", &record("two")).unwrap();
    let now = client(&connect, keys()).load("sid:1").unwrap().unwrap();
    assert_eq!(token(&now), "two");
    assert!(now.revoked.revokes("session-1", 1), "{:?}", now.revoked);
}

fn entries_move_to_the_new_name_after_a_key_rotation<B: Backend>(connect: impl Fn() -> B) {
    let old_keys = Keys::new(&[1u8; 32], &[2u8; 32], &[]);
    let old = client(&connect, old_keys);
    old.save("sid:r", &record("before")).unwrap();
    let rotated = client(
        &connect,
        Keys::new(&[7u8; 32], &[2u8; 32], &[vec![1u8; 32]]),
    );
    assert_ne!(rotated.name("sid:r"), old.name("sid:r"));
    for read in 0..2 {
        let found = rotated.load("sid:r").unwrap();
        assert_eq!(token(&found.unwrap()), "before", "read {read}");
    }
    rotated
        .update("sid:r", &mut |cur| {
            let mut r = cur.expect("update sees the old entry");
            r.access_token = Some("after".into());
            Update::Replace(Box::new(r))
        })
        .unwrap();
    let old_name = old.name("sid:r");
    assert!(
        matches!(old.backend().get(&old_name, None), Ok(Got::Missing(_))),
        "the old name is gone"
    );
    // Once rewritten, the entry needs only the new key; a key never configured finds nothing.
    let forgetful = client(&connect, Keys::new(&[7u8; 32], &[2u8; 32], &[]));
    assert_eq!(token(&forgetful.load("sid:r").unwrap().unwrap()), "after");
    let stranger = client(&connect, Keys::new(&[9u8; 32], &[2u8; 32], &[]));
    assert!(stranger.load("sid:r").unwrap().is_none());
}

fn file() -> impl Fn() -> FileBackend {
    let dir = scratch("contract");
    move || FileBackend::open(&dir, &Logger::silent()).unwrap()
}

fn remote() -> impl Fn() -> Remote {
    let service = Arc::new(Service::default());
    move || Remote(Arc::clone(&service))
}

fn blob() -> impl Fn() -> BlobBackend {
    let azurite = Arc::new(Azurite::start());
    let url = ContainerUrl::parse(&azurite.container("contract", "rwdl")).unwrap();
    let options = BlobOptions::for_http_timeout(std::time::Duration::from_secs(5));
    move || {
        let _running = &azurite;
        BlobBackend::open(url.clone(), options.clone(), &Logger::silent())
    }
}

/// Clients of a fresh `redis-server`, which lives as long as the closure.
fn redis() -> impl Fn() -> RedisBackend {
    let server = RedisServer::start();
    move || RedisBackend::open(server.options()).unwrap()
}

/// Clients of a fresh three-node Redis Cluster.
fn redis_cluster() -> impl Fn() -> RedisBackend {
    let cluster = RedisCluster::start();
    move || RedisBackend::open(cluster.options()).unwrap()
}

/// Clients that find the primary of a fresh primary, replica and sentinel through the sentinel.
fn redis_sentinel() -> impl Fn() -> RedisBackend {
    let set = RedisSentinels::start(1);
    move || RedisBackend::open(set.options()).unwrap()
}

/// `Backend::list` (for `ezauth store`) pages through the records, each once, and nothing
/// else: not a held lock's entry (a blob placeholder), a one-time claim or a removed record.
fn listing_pages_records_only<B: Backend>(connect: impl Fn() -> B) {
    let a = client(&connect, keys());
    let users: Vec<String> = (0..7).map(|i| format!("sid:{i}")).collect();
    for u in &users {
        a.save(u, &record(u)).unwrap();
    }
    a.save("sid:gone", &record("gone")).unwrap();
    a.delete("sid:gone").unwrap();
    let now = ezauth::clock::SystemClock.now();
    assert!(a.claim_once("state-1", now + 60).unwrap());
    let held = a.name("sid:nobody");
    let _lock = a.backend().lock(&held).unwrap();
    let (mut listed, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let page = a.backend().list(cursor.as_deref(), 3).unwrap();
        assert!(page.names.len() <= 3, "{:?}", page.names);
        listed.extend(page.names);
        pages += 1;
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    listed.sort();
    let mut expected: Vec<String> = users.iter().map(|u| a.name(u)).collect();
    expected.sort();
    assert_eq!(listed, expected);
    assert!(pages >= 3, "{pages} pages of at most 3 for 7 records");
}

#[test]
fn file_backend_lists_records_only() {
    listing_pages_records_only(file())
}

#[test]
fn blob_backend_lists_records_only() {
    listing_pages_records_only(blob())
}

#[test]
fn redis_backend_lists_records_only() {
    listing_pages_records_only(redis())
}

#[test]
fn redis_cluster_backend_lists_records_only() {
    listing_pages_records_only(redis_cluster())
}

#[test]
fn redis_sentinel_backend_lists_records_only() {
    listing_pages_records_only(redis_sentinel())
}

/// Every contract over one backend, in a module named after it; `$connect` opens a client.
macro_rules! contract {
    ($backend:ident, $connect:expr) => {
        mod $backend {
            use super::*;
            #[test]
            fn save_load_delete() {
                super::save_load_delete($connect)
            }
            #[test]
            fn tampered_and_foreign_entries_are_refused() {
                super::tampered_and_foreign_entries_are_refused($connect)
            }
            #[test]
            fn concurrent_updates_lose_nothing() {
                super::concurrent_updates_lose_nothing($connect)
            }
            #[test]
            fn claim_once_holds_once() {
                super::claim_once_holds_once($connect)
            }
            #[test]
            fn cached_answers_what_it_knows_without_waiting() {
                super::cached_answers_what_it_knows_without_waiting($connect)
            }
            #[test]
            fn sign_in_keeps_revocations() {
                super::sign_in_keeps_revocations($connect)
            }
            #[test]
            fn entries_move_to_the_new_name_after_a_key_rotation() {
                super::entries_move_to_the_new_name_after_a_key_rotation($connect)
            }
            #[test]
            fn oversized_entries_are_refused() {
                super::oversized_entries_are_refused($connect)
            }
        }
    };
}

contract!(file_backend, file());
contract!(remote_backend, remote());
contract!(blob_backend, blob());
contract!(redis_backend, redis());
contract!(redis_cluster_backend, redis_cluster());
contract!(redis_sentinel_backend, redis_sentinel());

/// Entries over the backends' 1 MiB bound (a record is a few KB) are refused when read, as
/// corrupt, instead of being loaded into memory; a new write replaces them.
fn oversized_entries_are_refused<B: Backend>(connect: impl Fn() -> B) {
    let a = client(&connect, keys());
    a.save("sid:big", &record("small")).unwrap();
    rewrite(&a, "sid:big", |_| vec![b'x'; (1 << 20) + 1]);
    let b = client(&connect, keys());
    let read = b.load("sid:big");
    assert!(
        matches!(read, Err(StoreError::Corrupt(_))),
        "an oversized entry is refused: {read:?}"
    );
    b.save("sid:big", &record("again")).unwrap();
    assert_eq!(token(&b.load("sid:big").unwrap().unwrap()), "again");
}

// -- What takes more than two clients in one process: another process killed while it holds
// -- a lock, the store going away and coming back, another process's change seen in time.

/// One backend's service as the process-level contracts drive it.
trait Served {
    type B: Backend;
    /// A client in this process.
    fn client(&self) -> Self::B;
    /// How a re-executed test process finds the same store ([`holder`]).
    fn spec(&self) -> String;
    /// The longest a lock stays held after its holder was SIGKILLed.
    fn lock_bound(&self) -> Duration;
    /// Makes the store unreachable (an outage) and reachable again (services kept in memory
    /// come back empty).
    fn stop(&mut self);
    fn start(&mut self);
    /// The longest another process's change may go unseen by a client that cached the entry.
    fn staleness(&self) -> Duration;
}

const HELD: &str = "0123456789abcdef0123456789abcdef";

/// A short lease for Redis holders (Azure's shortest is 15 s).
const REDIS_LEASE: Duration = Duration::from_millis(1500);

struct FileService(std::path::PathBuf);

impl Served for FileService {
    type B = FileBackend;
    fn client(&self) -> FileBackend {
        FileBackend::open(&self.0, &Logger::silent()).unwrap()
    }
    fn spec(&self) -> String {
        format!("file {}", self.0.display())
    }
    /// `flock` is released by the kernel when the holder dies.
    fn lock_bound(&self) -> Duration {
        Duration::ZERO
    }
    /// The directory becomes unusable: something else is in its place. (A directory that is
    /// simply missing is an empty store, which the next write makes again.)
    fn stop(&mut self) {
        std::fs::rename(&self.0, self.0.with_extension("away")).unwrap();
        std::fs::write(&self.0, b"not a directory").unwrap();
    }
    fn start(&mut self) {
        std::fs::remove_file(&self.0).unwrap();
        std::fs::rename(self.0.with_extension("away"), &self.0).unwrap();
    }
    /// Writes through the store bump the shared counter table: seen at once.
    fn staleness(&self) -> Duration {
        Duration::ZERO
    }
}

struct RedisService(RedisServer);

impl Served for RedisService {
    type B = RedisBackend;
    fn client(&self) -> RedisBackend {
        RedisBackend::open(self.0.options()).unwrap()
    }
    fn spec(&self) -> String {
        format!("redis {}", self.0.url())
    }
    fn lock_bound(&self) -> Duration {
        REDIS_LEASE
    }
    fn stop(&mut self) {
        self.0.kill();
    }
    fn start(&mut self) {
        self.0.restart();
    }
    fn staleness(&self) -> Duration {
        self.0.options().staleness
    }
}

struct BlobService(Azurite);

impl BlobService {
    fn url(&self) -> String {
        self.0.sas_url("contract", "rwdl")
    }
}

impl Served for BlobService {
    type B = BlobBackend;
    fn client(&self) -> BlobBackend {
        let options = BlobOptions::for_http_timeout(Duration::from_secs(5));
        BlobBackend::open(
            ContainerUrl::parse(&self.url()).unwrap(),
            options,
            &Logger::silent(),
        )
    }
    fn spec(&self) -> String {
        format!("blob {}", self.url())
    }
    /// A holder's lease: Azure's shortest, 15 s.
    fn lock_bound(&self) -> Duration {
        Duration::from_secs(15)
    }
    fn stop(&mut self) {
        self.0.stop();
    }
    fn start(&mut self) {
        self.0.restart();
        self.0.create_container("contract");
    }
    fn staleness(&self) -> Duration {
        BlobOptions::for_http_timeout(Duration::from_secs(5)).staleness
    }
}

fn file_service() -> FileService {
    FileService(scratch("contract-served"))
}

fn redis_service() -> RedisService {
    RedisService(RedisServer::start())
}

fn blob_service() -> BlobService {
    let azurite = Azurite::start();
    azurite.create_container("contract");
    BlobService(azurite)
}

/// The holder side of the killed-holder contract: runs only when re-executed with
/// EZAUTH_CONTRACT_HOLDER set (a [`Served::spec`]); takes the lock of [`HELD`], says so, and
/// waits to be killed.
#[test]
fn holder() {
    let Ok(spec) = std::env::var("EZAUTH_CONTRACT_HOLDER") else {
        return;
    };
    let (kind, at) = spec.split_once(' ').unwrap();
    fn hold<B: Backend>(backend: B) {
        let _held = backend.lock(HELD).unwrap();
        println!("locked");
        std::thread::sleep(Duration::from_secs(60));
    }
    match kind {
        "file" => hold(FileBackend::open(std::path::Path::new(at), &Logger::silent()).unwrap()),
        "redis" => hold(
            RedisBackend::open(RedisOptions {
                lease: REDIS_LEASE,
                ..support::redis_server::options(at.to_owned())
            })
            .unwrap(),
        ),
        "blob" => hold(BlobBackend::open(
            ContainerUrl::parse(at).unwrap(),
            BlobOptions::for_http_timeout(Duration::from_secs(5)),
            &Logger::silent(),
        )),
        other => panic!("no such backend: {other}"),
    }
}

/// A process SIGKILLed while it holds a user's lock (no release, no clean close) blocks that
/// user's updates for the backend's bound at most; then the next holder takes it and writes.
fn a_killed_holder_blocks_the_lock_for_its_bound_at_most(service: impl Served) {
    let backend = service.client();
    if let Ok(lock) = backend.lock(HELD) {
        // The entry exists before (Azure leases a blob that exists).
        backend.put(HELD, b"before", &lock).unwrap();
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "holder", "--nocapture", "--test-threads=1"])
        .env("EZAUTH_CONTRACT_HOLDER", service.spec())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let locked = std::io::BufRead::lines(out)
        .map(Result::unwrap)
        .any(|line| line.ends_with("locked"));
    assert!(locked, "the holder did not take the lock");
    let killed = Instant::now();
    child.kill().unwrap();
    child.wait().unwrap();
    let guard = backend.lock(HELD).expect("the lock is free again");
    let waited = killed.elapsed();
    // It was held (a lease lasts its time), and no longer than the bound.
    assert!(
        waited + Duration::from_millis(1000) >= service.lock_bound(),
        "free after {waited:?}, before the bound {:?}",
        service.lock_bound()
    );
    assert!(
        waited <= service.lock_bound() + Duration::from_millis(1500),
        "held {waited:?} after the holder died; the bound is {:?}",
        service.lock_bound()
    );
    backend.put(HELD, b"after", &guard).unwrap();
}

/// With the store gone, reads and writes fail with an error (never a record said to be
/// absent: a read error is not "signed out" nor "no tokens"), each within the timeouts; when
/// it is back, the same client works again without being reopened.
fn an_outage_fails_cleanly_and_ends_without_a_new_client(mut service: impl Served) {
    let a = client(&|| service.client(), keys());
    a.save("sid:1", &record("one")).unwrap();
    // Another process, which has not read the entry yet.
    let fresh = client(&|| service.client(), keys());
    service.stop();
    for attempt in 0..3 {
        let t = Instant::now();
        let read = fresh.load("sid:1");
        assert!(read.is_err(), "read {attempt} during the outage: {read:?}");
        assert!(a.save("sid:2", &record("two")).is_err(), "write {attempt}");
        assert!(
            t.elapsed() < Duration::from_secs(12),
            "bounded: {:?}",
            t.elapsed()
        );
    }
    service.start();
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        match a.save("sid:3", &record("three")) {
            Ok(()) => break,
            Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("the store did not come back for this client: {e}"),
        }
    }
    assert_eq!(token(&fresh.load("sid:3").unwrap().unwrap()), "three");
}

/// A client that cached an entry sees another process's change of it within the backend's
/// staleness bound, reading as a host does (the cache, then the backend when it must).
fn a_change_elsewhere_is_seen_within_the_staleness_bound(service: impl Served) {
    let a = client(&|| service.client(), keys());
    let b = client(&|| service.client(), keys());
    a.save("sid:1", &record("one")).unwrap();
    assert_eq!(token(&b.load("sid:1").unwrap().unwrap()), "one");
    a.save("sid:1", &record("two")).unwrap();
    let changed = Instant::now();
    let seen = |s: &Sealed<_>| match s.cached("sid:1").unwrap() {
        Cached::Hit(r) => token(&r) == "two",
        Cached::NeedsIo => token(&s.load("sid:1").unwrap().unwrap()) == "two",
        Cached::Absent => panic!("the entry is there"),
    };
    while !seen(&b) {
        assert!(
            changed.elapsed() <= service.staleness() + Duration::from_millis(500),
            "not seen within {:?}",
            service.staleness()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The process-level contracts over one service, in a module named after it.
macro_rules! served {
    ($backend:ident, $service:expr) => {
        mod $backend {
            use super::*;
            #[test]
            fn a_killed_holder_blocks_the_lock_for_its_bound_at_most() {
                super::a_killed_holder_blocks_the_lock_for_its_bound_at_most($service)
            }
            #[test]
            fn an_outage_fails_cleanly_and_ends_without_a_new_client() {
                super::an_outage_fails_cleanly_and_ends_without_a_new_client($service)
            }
            #[test]
            fn a_change_elsewhere_is_seen_within_the_staleness_bound() {
                super::a_change_elsewhere_is_seen_within_the_staleness_bound($service)
            }
        }
    };
}

served!(file_service, file_service());
served!(redis_service, redis_service());
served!(blob_service, blob_service());
