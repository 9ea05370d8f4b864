//! The signed-in path with many active users: `on_begin_request` through the C ABI, each
//! request carrying the next of N distinct session cookies (round-robin), every user with a
//! token record in the file store. Shows how per-request cost grows with the number of users
//! a process sees, and whether it falls off a cliff when the caches fill up.
//!
//!   cargo bench --bench active_users
//!   EZAUTH_BENCH_USERS=1,10000,100000 EZAUTH_BENCH_CACHE_MB=1024 cargo bench --bench active_users
//!
//! EZAUTH_BENCH_USERS: the user counts (default 1,10000,100000,1000000); EZAUTH_BENCH_CACHE_MB:
//! `ezauth.cacheMegabytes` (default: not set, the library's default); EZAUTH_BENCH_DIR: where
//! the token store goes (default /dev/shm when present: minting a million records with an
//! fsync each on a disk would take the better part of an hour).
//!
//! Besides criterion's figures, each case prints requests timed one by one (all its users,
//! 200,000 at least): mean, percentiles, slowest, how many took over 1 ms, and the process's
//! RSS growth.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use ezauth::ffi::*;
use ezauth::store::file::FileStore;

#[path = "support/users.rs"]
mod users;

#[path = "support/abi.rs"]
mod abi;

use abi::{header, load, run, ENC, SIGN};

fn run_with_cookie(module: *const ezauth_module, cookie: &str) -> usize {
    let headers = [
        header("Host", "127.0.0.1:8080"),
        header("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"),
        header("Accept", "text/html,application/xhtml+xml"),
        header("Accept-Language", "en-US,en;q=0.9"),
        header("Cookie", cookie),
    ];
    run(module, &headers)
}

/// Puts `cookie` in `buf` as a host has it when it calls the library: just read from the
/// connection, so in the CPU's caches. (Read straight from a list of a million cookies, each
/// request would also pay for fetching its own bytes from memory, which no host does.) What
/// the library keeps per user is not touched here: with many users, that is what is cold.
fn as_received(buf: &mut String, cookie: &str) {
    buf.clear();
    buf.push_str(cookie);
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    let counts: Vec<usize> = std::env::var("EZAUTH_BENCH_USERS")
        .unwrap_or_else(|_| "1,10000,100000,1000000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("EZAUTH_BENCH_USERS: numbers"))
        .collect();
    let cache_mb = std::env::var("EZAUTH_BENCH_CACHE_MB").ok();
    let base = std::env::var("EZAUTH_BENCH_DIR").map_or_else(
        |_| {
            let shm = std::path::Path::new("/dev/shm");
            if shm.is_dir() {
                shm.to_owned()
            } else {
                std::env::temp_dir()
            }
        },
        Into::into,
    );
    let dir = base.join(format!("ezauth-active-users-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("auth.json");
    let ext = cache_mb
        .as_deref()
        .map(|mb| format!(r#","ezauth":{{"cacheMegabytes":{mb}}}"#))
        .unwrap_or_default();
    std::fs::write(
        &config,
        format!(
            r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}},
            "identityProviders":{{"customOpenIdConnectProviders":{{"idp":{{"registration":{{"clientId":"c",
              "openIdConnectConfiguration":{{"wellKnownOpenIdConfiguration":"http://127.0.0.1:9/.well-known/openid-configuration"}}}}}}}}}},
            "login":{{"tokenStore":{{"enabled":true,"fileSystem":{{"directory":"{}"}}}}}},
            "httpSettings":{{"requireHttps":false}}{ext}}}"#,
            dir.join("tokens").display()
        ),
    )
    .unwrap();
    std::env::set_var("WEBSITE_AUTH_ENCRYPTION_KEY", ENC);
    std::env::set_var("WEBSITE_AUTH_SIGNING_KEY", SIGN);
    let settings = ezauth::config::load_file(&config, &ezauth::config::ProcessEnvironment)
        .unwrap_or_else(|e| panic!("{e}"));

    let most = counts.iter().copied().max().unwrap_or(1);
    let t0 = Instant::now();
    let cookies = {
        let store = FileStore::open(&dir.join("tokens"), settings.keys.clone()).unwrap();
        users::mint(&settings, &store, most, &|done| {
            if done > 0 && done.is_multiple_of(100_000) {
                eprintln!("  minted {done} users");
            }
        })
    };
    eprintln!(
        "minted {most} users (record + cookie of ~{} bytes each) in {:.1} s; cacheMegabytes: {}",
        cookies[0].len(),
        t0.elapsed().as_secs_f64(),
        cache_mb.as_deref().unwrap_or("default")
    );

    let path = config.to_str().unwrap().to_owned();
    let mut group = c.benchmark_group("active_users");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for &n in &counts {
        let module = load(&path);
        let rss0 = rss_kib();
        // Every user once: the caches hold what they can keep of them.
        for cookie in &cookies[..n] {
            assert_eq!(
                run_with_cookie(module, cookie),
                8,
                "principal + token headers"
            );
        }
        // Each request timed on its own, over all users and 200,000 requests at least: the
        // stalls criterion's means hide.
        let mut request = String::with_capacity(4096);
        let mut times: Vec<Duration> = cookies[..n]
            .iter()
            .cycle()
            .take(n.max(200_000))
            .map(|cookie| {
                as_received(&mut request, cookie);
                let t = Instant::now();
                black_box(run_with_cookie(module, &request));
                t.elapsed()
            })
            .collect();
        times.sort_unstable();
        let count = times.len();
        let mean = times.iter().sum::<Duration>() / count as u32;
        let at = |q: f64| times[((count as f64 * q) as usize).min(count - 1)].as_secs_f64() * 1e6;
        let over_1ms = times.iter().filter(|t| t.as_micros() > 1000).count();
        eprintln!(
            "{n} users, {count} requests timed one by one: mean {:.2} µs, p99 {:.1} µs, \
             p99.9 {:.1} µs, p99.99 {:.1} µs, slowest {:.1} µs, {over_1ms} over 1 ms; RSS +{} MiB",
            mean.as_secs_f64() * 1e6,
            at(0.99),
            at(0.999),
            at(0.9999),
            times[count - 1].as_secs_f64() * 1e6,
            rss_kib().saturating_sub(rss0) / 1024
        );
        let mut i = 0;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter_batched_ref(
                || {
                    i = if i + 1 == n { 0 } else { i + 1 };
                    let mut request = String::with_capacity(4096);
                    as_received(&mut request, &cookies[i]);
                    request
                },
                |request| black_box(run_with_cookie(module, request)),
                // Small batches: the requests made ready stay in the CPU's caches.
                BatchSize::NumIterations(64),
            )
        });
        unsafe { ezauth_module_free(module) };
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
