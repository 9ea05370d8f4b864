//! The token store's operations against a local `redis-server` (started here on a free
//! loopback port, nothing persisted), beside the file store on the same machine: what a
//! signed-in request costs when its record is cached, when it must be read, and what a write
//! under the lock costs.
//!
//!   cargo bench --bench store_redis
//!
//! `EZAUTH_BENCH_STALENESS=1` instead measures how late another node sees a change: 200
//! changes announced by pub/sub, and how long a copy stays trusted after the server goes
//! silent (SIGSTOP), with the default bounds (staleness 1 s, revalidation 60 s).
//!
//! EZAUTH_BENCH_DIR: where the file store goes (default /dev/shm when present).

use std::hint::black_box;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use ezauth::crypto::Keys;
use ezauth::logger::Logger;
use ezauth::store::file::FileStore;
use ezauth::store::redis::{RedisBackend, RedisOptions};
use ezauth::store::{Backend, Sealed, TokenRecord, TokenStore};

/// The `redis-server` of the run, killed at the end.
struct Server(Child, u16);

impl Server {
    fn start() -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Server(child, port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn keys() -> Keys {
    Keys::new(&[5u8; 32], &[6u8; 32], &[])
}

/// A record of the size a typical OpenID Connect sign-in leaves (id, access and refresh tokens).
fn record() -> TokenRecord {
    TokenRecord {
        provider_name: "aad".into(),
        user_id: "someone@example.com".into(),
        access_token: Some("a".repeat(1400)),
        id_token: Some("i".repeat(1200)),
        refresh_token: Some("r".repeat(800)),
        expires_on: Some("2026-12-01T12:00:00.0000000Z".into()),
        ..Default::default()
    }
}

fn redis(server: &Server, staleness: Duration) -> Sealed<RedisBackend> {
    redis_with(server, staleness, staleness)
}

fn redis_with(server: &Server, staleness: Duration, revalidate: Duration) -> Sealed<RedisBackend> {
    let options = RedisOptions {
        url: format!("redis://127.0.0.1:{}", server.1),
        cluster: false,
        sentinel: None,
        key_prefix: "ezauth:".into(),
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(2),
        staleness,
        revalidate,
        lease: Duration::from_secs(25),
    };
    Sealed::new(
        RedisBackend::open(options).unwrap(),
        keys(),
        64 << 20,
        &Logger::silent(),
    )
}

/// Waits until `s` no longer answers `sid:1` from its copy `old`; how long that took.
fn until_not(s: &Sealed<RedisBackend>, old: &std::sync::Arc<TokenRecord>) -> Duration {
    let start = Instant::now();
    loop {
        match s.cached("sid:1").unwrap() {
            ezauth::store::Cached::Hit(r) if std::sync::Arc::ptr_eq(&r, old) => {}
            _ => return start.elapsed(),
        }
        assert!(start.elapsed() < Duration::from_secs(120), "never");
        std::thread::sleep(Duration::from_micros(100));
    }
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() - 1) * p / 100]
}

/// How late node B sees node A's changes (see the module doc).
fn staleness() {
    let server = Server::start();
    let (a, b) = (
        redis_with(&server, Duration::from_secs(1), Duration::from_secs(60)),
        redis_with(&server, Duration::from_secs(1), Duration::from_secs(60)),
    );
    let mut r = record();
    a.save("sid:1", &r).unwrap();
    b.load("sid:1").unwrap();
    while !(a.backend().listening() && b.backend().listening()) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut seen = Vec::new();
    for i in 0..200 {
        b.load("sid:1").unwrap();
        let old = b.load("sid:1").unwrap().unwrap();
        r.access_token = Some(format!("{i}{}", "a".repeat(1400)));
        a.save("sid:1", &r).unwrap();
        seen.push(until_not(&b, &old));
    }
    seen.sort();
    eprintln!(
        "announced change seen by the other node after the write returned: median {:?}, \
         p99 {:?}, max {:?} (200 changes)",
        percentile(&seen, 50),
        percentile(&seen, 99),
        seen[seen.len() - 1]
    );
    let mut silent = Vec::new();
    for _ in 0..5 {
        let old = b.load("sid:1").unwrap().unwrap();
        // Past the staleness bound only the listener vouches for the copy.
        std::thread::sleep(Duration::from_millis(1100));
        let pid = server.0.id().to_string();
        let signal = |s: &str| {
            Command::new("kill").args([s, &pid]).status().unwrap();
        };
        signal("-STOP");
        let trusted = until_not(&b, &old);
        signal("-CONT");
        silent.push(trusted);
        while !b.backend().listening() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    silent.sort();
    eprintln!(
        "copy trusted after the server went silent: min {:?}, max {:?} (5 times)",
        silent[0],
        silent[silent.len() - 1]
    );
}

fn bench(c: &mut Criterion) {
    if std::env::var_os("EZAUTH_BENCH_STALENESS").is_some() {
        return staleness();
    }
    let server = Server::start();
    let base = std::env::var_os("EZAUTH_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            let shm = std::path::Path::new("/dev/shm");
            if shm.is_dir() {
                shm.to_owned()
            } else {
                std::env::temp_dir()
            }
        });
    let dir = base.join(format!("ezauth-bench-store-{}", std::process::id()));
    let file = FileStore::open(&dir, keys()).unwrap();
    let cached = redis(&server, Duration::from_secs(3600));
    let uncached = redis(&server, Duration::ZERO);
    let r = record();
    for s in [&file as &dyn TokenStore, &cached, &uncached] {
        s.save("sid:bench", &r).unwrap();
        assert!(s.load("sid:bench").unwrap().is_some());
    }

    let mut g = c.benchmark_group("store");
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("file: cached (event loop)", |b| {
        b.iter(|| black_box(file.cached("sid:bench").unwrap()))
    });
    g.bench_function("redis: cached (event loop)", |b| {
        b.iter(|| black_box(cached.cached("sid:bench").unwrap()))
    });
    g.bench_function("redis: load, unchanged (GET, digest)", |b| {
        b.iter(|| black_box(uncached.load("sid:bench").unwrap()))
    });
    let name = uncached.name("sid:bench");
    g.bench_function("redis: backend get (GET of the sealed bytes)", |b| {
        b.iter(|| black_box(uncached.backend().get(&name, None).unwrap()))
    });
    g.bench_function("file: save (lock, write, fsync, rename)", |b| {
        b.iter(|| file.save("sid:bench", &r).unwrap())
    });
    g.bench_function("redis: save (SET NX PX, fenced SET, release)", |b| {
        b.iter(|| cached.save("sid:bench", &r).unwrap())
    });
    g.bench_function("redis: claim_once (SET NX EXAT)", |b| {
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            cached
                .claim_once(&format!("state-{n}"), 4_000_000_000)
                .unwrap()
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
