//! Each token store's read and write at many users: N users' records are written first
//! (`EZAUTH_BENCH_USERS`, comma-separated, default 10000), then criterion times a read of a
//! random user's record (nothing cached: the backend's read and the opening of the seal) and a
//! write of a random user's record (lock, write, release), against the file store (on
//! `EZAUTH_BENCH_DIR`, default /dev/shm), a local `redis-server` and Azurite (in memory; the
//! npm `azurite` of tests/e2e, `npm ci` there first), each started here on a loopback port.
//! `EZAUTH_BENCH_STORES` picks some of `file,redis,blob`.
//!
//!   EZAUTH_BENCH_USERS=10000,1000000 EZAUTH_BENCH_STORES=file,redis cargo bench --bench store_scale
//!
//! The file and Redis stores are filled through the store (lock, write, release, eight
//! threads). Azurite is filled with raw Put Blob requests on 32 threads, without the lease
//! (nobody else uses the container): the same blobs, named and sealed as the store names and
//! seals them, one request per record instead of the lock's four or five; three are read back
//! through the store before timing. Azurite finds a blob by scanning its metadata (LokiJS,
//! indexed here by the account name only, which all blobs share), so each of its requests costs
//! time in proportion to the blobs in the container: 10,000 users fill in minutes, 100,000
//! would take hours, and its read and write times grow with the users, which Azure's need not
//! (bench/README.md). `NODE_OPTIONS` reaches its node process (its heap is not the limit).
//!
//! `EZAUTH_BENCH_MIGRATE=N` instead times `ezauth store migrate`'s copy (the library function
//! the command runs) of N users file → Redis → Azure Blob, in records per second.
//!
//! The file store's read must not grow with the number of users (one open of a file named by
//! a hash in one directory); Redis' neither (one GET); Azure's costs whatever the service's do.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use ezauth::crypto::Keys;
use ezauth::logger::Logger;
use ezauth::store::admin::migrate::{self, Options, Progress};
use ezauth::store::admin::Entries;
use ezauth::store::blob::{self, BlobBackend, BlobOptions, ContainerUrl};
use ezauth::store::envelope;
use ezauth::store::file::FileBackend;
use ezauth::store::redis::RedisBackend;
use ezauth::store::{Backend, Sealed, TokenRecord, TokenStore};

// The tests' own launchers; the bench uses part of them.
#[allow(dead_code)]
#[path = "../tests/support/azurite.rs"]
mod azurite;
#[allow(dead_code)]
#[path = "../tests/support/redis_server.rs"]
mod redis_server;

/// Where the file store (and a Redis cluster's files) go.
fn scratch(name: &str) -> PathBuf {
    let base = std::env::var_os("EZAUTH_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/dev/shm"));
    let dir = base.join(format!("ezauth-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn keys() -> Keys {
    Keys::new(&[5u8; 32], &[6u8; 32], &[])
}

/// User `i`'s record: the size a typical OpenID Connect sign-in leaves.
fn record(i: usize) -> TokenRecord {
    TokenRecord {
        provider_name: "aad".into(),
        user_id: format!("user-{i}@example.com"),
        access_token: Some(format!("{i:08}{}", "a".repeat(1400))),
        id_token: Some(format!("{i:08}{}", "i".repeat(1200))),
        refresh_token: Some(format!("{i:08}{}", "r".repeat(800))),
        expires_on: Some("2030-01-01T12:00:00.0000000Z".into()),
        ..Default::default()
    }
}

fn user(i: usize) -> String {
    format!("sid:{i:032x}")
}

/// Writes users `0..n` on eight threads (remote stores wait on round trips), printing the rate.
fn fill(store: &dyn TokenStore, n: usize, what: &str) {
    let next = AtomicUsize::new(0);
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                store.save(&user(i), &record(i)).unwrap();
            });
        }
    });
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "{what}: {n} users written in {secs:.1} s ({:.0} records/s)",
        n as f64 / secs
    );
}

/// xorshift: random users without a crate, the same sequence every run.
fn random_users(n: usize) -> impl FnMut() -> String {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        user((x % n as u64) as usize)
    }
}

/// A store with no record cache: every read goes to the backend.
fn uncached<B: Backend>(backend: B) -> Sealed<B> {
    Sealed::new(backend, keys(), 0, &Logger::silent())
}

/// Writes users `0..n`'s record blobs into the container of `sas_url` with raw Put Blob
/// requests on 32 threads: the bytes `store` would write (sealed under the entry's name, as
/// its owner's), without its lease, which only serializes writers of one user. Prints the
/// progress as it goes (where a fill too slow to wait for was stopped) and the rate.
fn fill_blob(store: &Sealed<BlobBackend>, sas_url: &str, n: usize) {
    let (base, sas) = sas_url.split_once('?').expect("a SAS URL");
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .max_idle_connections_per_host(64)
        .build();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let every = (n / 100).clamp(1_000, 10_000);
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..32 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let user = user(i);
                let name = store.name(&user);
                let bytes = envelope::seal(store.keys(), &name, &user, &record(i));
                let url = format!("{base}/{}?{sas}", blob::record_blob(&name));
                let r = agent
                    .put(&url)
                    .set("x-ms-version", blob::API_VERSION)
                    .set("x-ms-blob-type", "BlockBlob")
                    .set("Content-Type", "application/octet-stream")
                    .send_bytes(&bytes)
                    .unwrap_or_else(|e| panic!("Put Blob of user {i}: {e}"));
                assert_eq!(r.status(), 201, "Put Blob of user {i}");
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                if d.is_multiple_of(every) {
                    let secs = t.elapsed().as_secs_f64();
                    eprintln!("  {d} written in {secs:.0} s ({:.0}/s)", d as f64 / secs);
                }
            });
        }
    });
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "azure blob (azurite): {n} users written raw in {secs:.1} s ({:.0} records/s)",
        n as f64 / secs
    );
    for i in [0, n / 2, n - 1] {
        let got = store.load(&user(i)).unwrap().expect("a record");
        assert_eq!(*got, record(i), "user {i} read back");
    }
}

fn measure(c: &mut Criterion, what: &str, store: &dyn TokenStore, n: usize) {
    let mut g = c.benchmark_group(format!("{what}, {n} users"));
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    let mut pick = random_users(n);
    g.bench_function("read a random user (uncached)", |b| {
        b.iter(|| black_box(store.load(&pick()).unwrap().unwrap()))
    });
    let mut pick = random_users(n);
    let mut i = 0;
    g.bench_function("write a random user", |b| {
        b.iter(|| {
            i += 1;
            store.save(&pick(), &record(i)).unwrap()
        })
    });
    g.finish();
}

/// Times the migration of `n` users file → Redis → Azure Blob, printing each leg's rate.
fn migration(n: usize) {
    let dir = scratch("migrate");
    let file = uncached(FileBackend::open(&dir, &Logger::silent()).unwrap());
    fill(&file, n, "file");
    let server = redis_server::RedisServer::start();
    let redis = uncached(RedisBackend::open(server.options()).unwrap());
    let azurite = azurite::Azurite::start();
    let url = ContainerUrl::parse(&azurite.container("migrate", "rwdl")).unwrap();
    let options = BlobOptions::for_http_timeout(Duration::from_secs(5));
    let blob = uncached(BlobBackend::open(url, options, &Logger::silent()));
    let legs: [(&str, &dyn Entries, &dyn Entries); 2] = [
        ("file -> redis", &file, &redis),
        ("redis -> azure blob (azurite)", &redis, &blob),
    ];
    for (what, from, to) in legs {
        let mut sink = std::io::sink();
        let mut progress = Progress::new(&mut sink, false);
        let no_journal = Options {
            journal: None,
            limit: None,
        };
        let t = Instant::now();
        let summary = migrate::migrate(from, to, &no_journal, &mut progress).unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(summary.copied, n, "{what}: {summary:?}");
        eprintln!(
            "migrate {what}: {n} records in {secs:.1} s ({:.0} records/s, each read back)",
            n as f64 / secs
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn bench(c: &mut Criterion) {
    if let Ok(n) = std::env::var("EZAUTH_BENCH_MIGRATE") {
        return migration(n.parse().expect("EZAUTH_BENCH_MIGRATE: a number of users"));
    }
    let counts: Vec<usize> = std::env::var("EZAUTH_BENCH_USERS")
        .unwrap_or_else(|_| "10000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("EZAUTH_BENCH_USERS: numbers"))
        .collect();
    let stores = std::env::var("EZAUTH_BENCH_STORES").unwrap_or_else(|_| "file,redis,blob".into());
    for &n in &counts {
        for kind in stores.split(',') {
            match kind.trim() {
                "file" => {
                    let dir = scratch("scale");
                    let store = uncached(FileBackend::open(&dir, &Logger::silent()).unwrap());
                    fill(&store, n, "file");
                    measure(c, "file", &store, n);
                    let _ = std::fs::remove_dir_all(&dir);
                }
                "redis" => {
                    let server = redis_server::RedisServer::start();
                    let store = uncached(RedisBackend::open(server.options()).unwrap());
                    fill(&store, n, "redis");
                    measure(c, "redis", &store, n);
                }
                "blob" => {
                    let azurite = azurite::Azurite::start();
                    let sas_url = azurite.container("scale", "rwdl");
                    let url = ContainerUrl::parse(&sas_url).unwrap();
                    let options = BlobOptions::for_http_timeout(Duration::from_secs(5));
                    let store = uncached(BlobBackend::open(url, options, &Logger::silent()));
                    fill_blob(&store, &sas_url, n);
                    measure(c, "azure blob (azurite)", &store, n);
                }
                other => panic!("EZAUTH_BENCH_STORES: no store {other}"),
            }
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
