//! What the Redis backend adds to the store contract (`tests/store_contract.rs`), against a
//! real `redis-server` each test starts: leases that outlive a vanished holder by no more than
//! their duration, a lapsed holder's writes refused, claims across clients, an outage bounded
//! by the timeouts and recovered from without a restart, and the staleness bound.

mod support;

use std::time::{Duration, Instant};

use ezauth::clock::{Clock, SystemClock};
use ezauth::logger::Logger;
use ezauth::store::breaker::RETRY_AFTER;
use ezauth::store::redis::{RedisBackend, RedisOptions};
use ezauth::store::{Backend, Cached, Got, Sealed, StoreError, TokenStore, Update};
use support::records::{keys, record, token};
use support::redis_server::RedisServer;

fn store(options: RedisOptions) -> Sealed<RedisBackend> {
    Sealed::new(
        RedisBackend::open(options).unwrap(),
        keys(),
        1 << 20,
        &Logger::silent(),
    )
}

/// A name as the shared layer makes them.
const NAME: &str = "0123456789abcdef0123456789abcdef";

fn with_lease(server: &RedisServer, lease: Duration) -> RedisOptions {
    RedisOptions {
        lease,
        ..server.options()
    }
}

#[test]
fn a_vanished_holder_blocks_the_lock_for_one_lease_at_most() {
    let server = RedisServer::start();
    let lease = Duration::from_millis(800);
    let gone = RedisBackend::open(with_lease(&server, lease)).unwrap();
    let taken = Instant::now();
    // The holder dies without releasing: its guard is never dropped, its connections close.
    std::mem::forget(gone.lock(NAME).unwrap());
    drop(gone);
    let next = RedisBackend::open(with_lease(&server, lease)).unwrap();
    let guard = next.lock(NAME).expect("the lease lapses by itself");
    let waited = taken.elapsed();
    assert!(
        waited >= lease - Duration::from_millis(50),
        "not before: {waited:?}"
    );
    assert!(
        waited < lease + Duration::from_millis(500),
        "soon after: {waited:?}"
    );
    next.put(NAME, b"mine", &guard).unwrap();
}

// A holder SIGKILLed with the lock: the store contract (tests/store_contract.rs, `served!`).

/// The writer side of the kill test: runs only when re-executed with EZAUTH_REDIS_WRITER set
/// (the server's URL); increments one user's counter until killed, printing each value once
/// its write is acknowledged.
#[test]
fn writer() {
    let Ok(url) = std::env::var("EZAUTH_REDIS_WRITER") else {
        return;
    };
    let s = store(RedisOptions {
        lease: Duration::from_secs(1),
        ..support::redis_server::options(url)
    });
    loop {
        let mut next = 0;
        s.update("sid:k", &mut |cur| {
            next = cur.map_or(0, |r| token(&r).parse::<u64>().unwrap()) + 1;
            Update::Replace(Box::new(record(&next.to_string())))
        })
        .unwrap();
        println!("acked {next}");
    }
}

#[test]
fn writers_killed_at_random_points_lose_no_acknowledged_write() {
    if std::env::var("EZAUTH_REDIS_WRITER").is_ok() {
        return;
    }
    const WRITERS: usize = 3;
    let server = RedisServer::start();
    let mut acknowledged = 0;
    for round in 0..5 {
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                std::process::Command::new(std::env::current_exe().unwrap())
                    .args(["--exact", "writer", "--nocapture", "--test-threads=1"])
                    .env("EZAUTH_REDIS_WRITER", server.url())
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // A point in the writers' run that nobody chose.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        std::thread::sleep(Duration::from_millis(150 + u64::from(nanos % 250)));
        for mut w in writers {
            w.kill().unwrap(); // SIGKILL, wherever it is
            w.wait().unwrap();
            let mut out = String::new();
            std::io::Read::read_to_string(&mut w.stdout.take().unwrap(), &mut out).unwrap();
            for n in out.split("acked ").skip(1) {
                let n: u64 = n.trim().parse().unwrap();
                acknowledged = acknowledged.max(n);
            }
        }
        let stored = store(server.options())
            .load("sid:k")
            .expect("the record opens")
            .map_or(0, |r| token(&r).parse::<u64>().unwrap());
        assert!(
            stored >= acknowledged,
            "round {round}: {stored} stored, {acknowledged} acknowledged"
        );
        // At most one write per writer landed without its acknowledgement being printed.
        assert!(
            stored <= acknowledged + WRITERS as u64,
            "round {round}: {stored}"
        );
        acknowledged = stored;
    }
    assert!(acknowledged > 0, "the writers wrote");
}

#[test]
fn a_lock_held_longer_than_its_wait_fails_instead_of_running_unlocked() {
    let server = RedisServer::start();
    let lease = Duration::from_millis(300);
    let holder = RedisBackend::open(with_lease(&server, Duration::from_secs(60))).unwrap();
    let _held = holder.lock(NAME).unwrap();
    let waiter = RedisBackend::open(with_lease(&server, lease)).unwrap();
    let start = Instant::now();
    let e = waiter.lock(NAME).err().expect("refused while held");
    assert!(matches!(e, StoreError::Io(_)), "{e}");
    assert!(e.to_string().contains("lock stayed held"), "{e}");
    let waited = start.elapsed();
    let bound = waiter.options().lock_wait();
    assert!(waited >= bound - Duration::from_millis(150), "{waited:?}");
    assert!(waited < bound + Duration::from_millis(500), "{waited:?}");
}

#[test]
fn a_holder_whose_lease_lapsed_cannot_write() {
    let server = RedisServer::start();
    let lease = Duration::from_millis(200);
    let (a, b) = (
        RedisBackend::open(with_lease(&server, lease)).unwrap(),
        RedisBackend::open(with_lease(&server, lease)).unwrap(),
    );
    let late = a.lock(NAME).unwrap();
    std::thread::sleep(lease + Duration::from_millis(100));
    let successor = b.lock(NAME).unwrap();
    b.put(NAME, b"successor's", &successor).unwrap();
    let refused = a.put(NAME, b"late", &late).err().expect("refused");
    assert!(refused.to_string().contains("lapsed"), "{refused}");
    assert!(a.delete(NAME, &late).is_err(), "a delete too");
    // Also under another name than the lock's (a previous key's, removed after a rotation).
    let other = "fedcba9876543210fedcba9876543210";
    assert!(a.delete(other, &late).is_err(), "another name's delete too");
    drop(late);
    // The late holder's release does not free its successor's lock either.
    assert!(b.put(NAME, b"still held", &successor).is_ok());
    match a.get(NAME, None).unwrap() {
        Got::Found(bytes, _) => assert_eq!(bytes, b"still held"),
        _ => panic!("the successor's record is there"),
    }
}

#[test]
fn one_time_claims_hold_across_clients_until_they_expire() {
    let server = RedisServer::start();
    let (a, b) = (store(server.options()), store(server.options()));
    let soon = SystemClock.now() + 1;
    assert!(a.claim_once("state", soon).unwrap());
    assert!(!b.claim_once("state", soon).unwrap());
    std::thread::sleep(Duration::from_millis(2100));
    assert!(
        b.claim_once("state", soon + 600).unwrap(),
        "expired, so free"
    );
    assert!(!a.claim_once("state", soon + 600).unwrap());
    // A value already past its expiry is recorded (briefly): the first claim wins.
    let past = SystemClock.now() - 600;
    assert!(a.claim_once("old", past).unwrap());
    assert!(!b.claim_once("old", past).unwrap());
}

#[test]
fn an_outage_fails_within_the_timeouts_and_ends_without_a_restart() {
    let mut server = RedisServer::start();
    let s = store(RedisOptions {
        staleness: Duration::ZERO,
        ..server.options()
    });
    let timeout = s.backend().options().timeout;
    s.save("sid:1", &record("before")).unwrap();

    // A server that accepts but does not answer: the call ends with its timeout; the calls
    // after it fail at once instead of each waiting for its own.
    server.freeze(true);
    let start = Instant::now();
    let e = s.load("sid:1").expect_err("no answer, no record");
    assert!(matches!(e, StoreError::Io(_)), "{e}");
    let took = start.elapsed();
    assert!(took >= timeout - Duration::from_millis(100), "{took:?}");
    assert!(took < timeout * 2 + Duration::from_millis(500), "{took:?}");
    let start = Instant::now();
    for _ in 0..5 {
        assert!(matches!(s.load("sid:1"), Err(StoreError::Io(_))));
    }
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "{:?}",
        start.elapsed()
    );
    server.freeze(false);

    // A server that is gone: refused at once, reads and writes alike.
    server.kill();
    std::thread::sleep(RETRY_AFTER);
    let start = Instant::now();
    assert!(matches!(s.load("sid:1"), Err(StoreError::Io(_))));
    assert!(matches!(
        s.save("sid:1", &record("lost")),
        Err(StoreError::Io(_))
    ));
    assert!(matches!(
        s.claim_once("x", SystemClock.now() + 60),
        Err(StoreError::Io(_))
    ));
    assert!(start.elapsed() < timeout, "{:?}", start.elapsed());

    // Back on the same port (empty: nothing persisted): the same client works again within
    // RETRY_AFTER.
    server.restart();
    let back = Instant::now();
    while s.load("sid:1").is_err() {
        assert!(
            back.elapsed() < RETRY_AFTER + Duration::from_millis(300),
            "not back"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(s.load("sid:1").unwrap().is_none());
    s.save("sid:1", &record("after")).unwrap();
    assert_eq!(token(&s.load("sid:1").unwrap().unwrap()), "after");
}

#[test]
fn pooled_connections_closed_while_idle_cost_no_failed_call() {
    let mut server = RedisServer::start();
    let s = store(RedisOptions {
        staleness: Duration::ZERO,
        ..server.options()
    });
    s.save("sid:1", &record("kept")).unwrap();
    // What a proxy or a managed service does to idle clients: every connection dropped.
    let mut admin = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let killed: i64 = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "normal", "SKIPME", "yes"])
        .query(&mut admin)
        .unwrap();
    assert!(
        killed >= 1,
        "the store's pooled connection was there to kill"
    );
    assert_eq!(token(&s.load("sid:1").unwrap().unwrap()), "kept");
    s.save("sid:1", &record("again")).unwrap();
    // A restart between two calls, likewise.
    server.kill();
    server.restart();
    assert!(
        s.load("sid:1").unwrap().is_none(),
        "nothing persisted, nothing failed"
    );
    s.save("sid:1", &record("after")).unwrap();
    assert_eq!(token(&s.load("sid:1").unwrap().unwrap()), "after");
}

#[test]
fn a_hung_server_holds_one_thread_per_retry_not_every_caller() {
    let server = RedisServer::start();
    let timeout = Duration::from_millis(400);
    let s = std::sync::Arc::new(store(RedisOptions {
        staleness: Duration::ZERO,
        timeout,
        ..server.options()
    }));
    s.save("sid:1", &record("x")).unwrap();
    server.freeze(true);
    let run_for = Duration::from_millis(2500);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let s = std::sync::Arc::clone(&s);
            std::thread::spawn(move || {
                let (start, mut calls, mut slow) = (Instant::now(), 0, 0);
                while start.elapsed() < run_for {
                    let t = Instant::now();
                    assert!(s.load("sid:1").is_err());
                    calls += 1;
                    if t.elapsed() >= timeout / 2 {
                        slow += 1;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                (calls, slow)
            })
        })
        .collect();
    let (calls, slow) = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .fold((0, 0), |(c, s), (c1, s1)| (c + c1, s + s1));
    // While the breaker refuses, a read the cache cannot answer fails on the event loop, not
    // queued for the blocking pool (where it would only be refused, after the hung calls).
    assert!(s.load("sid:1").is_err());
    assert!(
        matches!(s.cached("sid:2"), Err(StoreError::Io(_))),
        "an uncached user's read while the store is refusing"
    );
    // A client with no connection yet waits no longer: connecting to a hung server sends
    // nothing that waits for an answer (no AUTH here), so the command's timeout is the bound.
    std::thread::sleep(RETRY_AFTER);
    let fresh = store(RedisOptions {
        timeout,
        ..server.options()
    });
    let t = Instant::now();
    assert!(fresh.load("sid:1").is_err());
    assert!(
        t.elapsed() < timeout + Duration::from_millis(300),
        "a first call took {:?}",
        t.elapsed()
    );
    server.freeze(false);
    // The first four waited together; then one try per RETRY_AFTER.
    let tries = 4 + (run_for.as_millis() / RETRY_AFTER.as_millis()) as usize + 1;
    assert!(
        slow <= tries,
        "{slow} of {calls} calls waited for the timeout"
    );
    assert!(calls > 100, "the others failed fast: {calls}");
}

#[test]
fn a_write_that_failed_leaves_the_record_as_it_was() {
    let server = RedisServer::start();
    let lease = Duration::from_millis(200);
    let a = store(with_lease(&server, lease));
    a.save("sid:1", &record("kept")).unwrap();
    // An update whose provider call outlasts the lease: its write is refused, the record stays.
    let result = a.update("sid:1", &mut |cur| {
        std::thread::sleep(lease + Duration::from_millis(100));
        let mut r = cur.unwrap();
        r.access_token = Some("late".into());
        ezauth::store::Update::Replace(Box::new(r))
    });
    assert!(matches!(result, Err(StoreError::Io(_))), "{result:?}");
    let b = store(server.options());
    assert_eq!(token(&b.load("sid:1").unwrap().unwrap()), "kept");
}

/// The sealed bytes of `user`'s entry.
fn raw(s: &Sealed<RedisBackend>, user: &str) -> Vec<u8> {
    match s.backend().get(&s.name(user), None).unwrap() {
        Got::Found(bytes, _) => bytes,
        _ => panic!("no entry for {user}"),
    }
}

/// `SET key value` straight to Redis: a change no node announces.
fn set_raw(server: &RedisServer, key: &str, value: &[u8]) {
    let mut c = server.connection();
    let _: () = redis::cmd("SET").arg(key).arg(value).query(&mut c).unwrap();
}

/// Two stores whose listeners stand: `a` writes, `b` reads.
fn listened(options: RedisOptions) -> (Sealed<RedisBackend>, Sealed<RedisBackend>) {
    let (a, b) = (store(options.clone()), store(options));
    // A first use starts each listener.
    a.save("sid:0", &record("zero")).unwrap();
    b.load("sid:0").unwrap();
    let start = Instant::now();
    while !(a.backend().listening() && b.backend().listening()) {
        assert!(start.elapsed() < Duration::from_secs(5), "no listeners");
        std::thread::sleep(Duration::from_millis(5));
    }
    (a, b)
}

/// A server, and two stores on it whose listeners stand, with the staleness bound `staleness`.
fn listened_at(staleness: Duration) -> (RedisServer, Sealed<RedisBackend>, Sealed<RedisBackend>) {
    let server = RedisServer::start();
    let (a, b) = listened(RedisOptions {
        staleness,
        ..server.options()
    });
    (server, a, b)
}

/// Waits until `cached` asks for Redis again, within `bound` of `since`.
fn until_asked(s: &Sealed<RedisBackend>, since: Instant, bound: Duration) {
    while !matches!(s.cached("sid:1").unwrap(), Cached::NeedsIo) {
        assert!(since.elapsed() <= bound, "still trusted after {bound:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn an_unannounced_change_is_seen_within_the_revalidation_bound() {
    let server = RedisServer::start();
    let (staleness, revalidate) = (Duration::from_millis(200), Duration::from_millis(800));
    let (a, b) = listened(RedisOptions {
        staleness,
        revalidate,
        ..server.options()
    });
    a.save("sid:1", &record("two")).unwrap();
    let two = raw(&a, "sid:1");
    a.save("sid:1", &record("one")).unwrap();
    // A's messages may reach B after B's read, which drops the copy: read until one stays.
    let read = loop {
        assert_eq!(token(&b.load("sid:1").unwrap().unwrap()), "one");
        let read = Instant::now();
        std::thread::sleep(Duration::from_millis(50));
        if matches!(b.cached("sid:1").unwrap(), Cached::Hit(_)) {
            break read;
        }
    };
    set_raw(&server, &format!("ezauth:{{{}}}", b.name("sid:1")), &two);
    // Past the staleness bound the listener vouches for the copy: no call to Redis.
    std::thread::sleep(staleness + Duration::from_millis(100));
    assert!(
        matches!(b.cached("sid:1").unwrap(), Cached::Hit(r) if token(&r) == "one"),
        "served from the cache while the listener stands"
    );
    std::thread::sleep(revalidate.saturating_sub(read.elapsed()));
    assert!(matches!(b.cached("sid:1").unwrap(), Cached::NeedsIo));
    assert_eq!(token(&b.load("sid:1").unwrap().unwrap()), "two");
}

#[test]
fn a_change_made_while_no_listener_stands_is_seen_within_the_staleness_bound() {
    let staleness = Duration::from_millis(300);
    let (server, a, b) = listened_at(staleness);
    a.save("sid:1", &record("one")).unwrap();
    assert_eq!(token(&b.load("sid:1").unwrap().unwrap()), "one");
    let read = Instant::now();
    // The listeners' connections close: a change announced now reaches nobody.
    let mut c = server.connection();
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut c)
        .unwrap();
    while server.subscribers("ezauth:changed") > 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    a.save("sid:1", &record("two")).unwrap();
    until_asked(&b, read, staleness + Duration::from_millis(300));
    assert_eq!(token(&b.load("sid:1").unwrap().unwrap()), "two");
}

#[test]
fn a_server_gone_silent_ends_the_listeners_word_within_two_polls() {
    let staleness = Duration::from_millis(100);
    let (server, _a, b) = listened_at(staleness);
    b.load("sid:1").unwrap();
    // A hung host: the connection stays open and nothing arrives, pings included.
    server.freeze(true);
    let frozen = Instant::now();
    std::thread::sleep(staleness * 2);
    assert!(
        matches!(b.cached("sid:1").unwrap(), Cached::Absent),
        "vouched for until the ping goes unanswered"
    );
    until_asked(&b, frozen, Duration::from_millis(1000 + 300));
    // The unanswered ping ends the subscription too.
    while b.backend().listening() {
        assert!(frozen.elapsed() < Duration::from_millis(1000 + 300));
        std::thread::sleep(Duration::from_millis(10));
    }
    server.freeze(false);
}

#[test]
fn a_change_on_another_node_is_heard_long_before_the_staleness_bound() {
    let server = RedisServer::start();
    let options = RedisOptions {
        staleness: Duration::from_secs(60),
        ..server.options()
    };
    let (a, b) = (store(options.clone()), store(options));
    a.save("sid:1", &record("one")).unwrap();
    assert_eq!(token(&b.load("sid:1").unwrap().unwrap()), "one");
    // Both listeners started with their store's first read or write.
    let start = Instant::now();
    while server.subscribers("ezauth:changed") < 2 {
        assert!(start.elapsed() < Duration::from_secs(5), "no listeners");
        std::thread::sleep(Duration::from_millis(10));
    }
    for (i, change) in ["two", "three", "four"].into_iter().enumerate() {
        a.save("sid:1", &record(change)).unwrap();
        let written = Instant::now();
        while matches!(b.cached("sid:1").unwrap(), Cached::Hit(_)) {
            assert!(
                written.elapsed() < Duration::from_secs(2),
                "change {i} not heard"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(token(&b.load("sid:1").unwrap().unwrap()), change);
        assert!(
            matches!(a.cached("sid:1").unwrap(), Cached::Hit(r) if token(&r) == change),
            "a node's own write is no news to it"
        );
    }
    a.delete("sid:1").unwrap();
    let written = Instant::now();
    while !matches!(b.cached("sid:1").unwrap(), Cached::NeedsIo) {
        assert!(
            written.elapsed() < Duration::from_secs(2),
            "the delete not heard"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(b.load("sid:1").unwrap().is_none(), "a logout too");
    // The listeners end with their stores (an nginx reload frees the old configuration's).
    drop((a, b));
    let dropped = Instant::now();
    while server.subscribers("ezauth:changed") > 0 {
        assert!(dropped.elapsed() < Duration::from_secs(3), "listeners left");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn keys_carry_the_prefix_and_a_hash_tag_and_values_are_sealed() {
    let server = RedisServer::start();
    let s = store(RedisOptions {
        key_prefix: "app1:".into(),
        ..server.options()
    });
    s.save("sid:secret-user", &record("secret-token")).unwrap();
    let name = s.name("sid:secret-user");
    let direct = redis::Client::open(server.url()).unwrap();
    let mut c = direct.get_connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
    assert_eq!(keys, [format!("app1:{{{name}}}")]);
    let value: Vec<u8> = redis::cmd("GET").arg(&keys[0]).query(&mut c).unwrap();
    let text = String::from_utf8_lossy(&value);
    assert!(!text.contains("secret"), "sealed: {text}");
    // An entry that is not a string (someone else's key) reads as untrusted, not as an outage.
    let _: () = redis::cmd("DEL").arg(&keys[0]).query(&mut c).unwrap();
    let _: () = redis::cmd("HSET")
        .arg(&keys[0])
        .arg("f")
        .arg("v")
        .query(&mut c)
        .unwrap();
    let fresh = store(RedisOptions {
        key_prefix: "app1:".into(),
        ..server.options()
    });
    assert!(matches!(
        fresh.load("sid:secret-user"),
        Err(StoreError::Corrupt(_))
    ));
    fresh.sign_in("sid:secret-user", &record("new")).unwrap();
    assert_eq!(
        token(&fresh.load("sid:secret-user").unwrap().unwrap()),
        "new"
    );
}

#[test]
fn a_flood_on_the_channel_does_not_stretch_the_bound() {
    let staleness = Duration::from_millis(300);
    let (server, a, b) = listened_at(staleness);
    a.save("sid:1", &record("one")).unwrap();
    let old = b.load("sid:1").unwrap().unwrap();
    // Someone who may publish floods the channel for three seconds: a change's message waits
    // in line behind the flood.
    let flooding = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flood: Vec<_> = (0..4)
        .map(|_| {
            let (flooding, mut c) = (std::sync::Arc::clone(&flooding), server.connection());
            std::thread::spawn(move || {
                let started = Instant::now();
                while flooding.load(std::sync::atomic::Ordering::Relaxed)
                    && started.elapsed() < Duration::from_secs(3)
                {
                    let mut pipe = redis::pipe();
                    for i in 0..2000 {
                        pipe.cmd("PUBLISH")
                            .arg("ezauth:changed")
                            .arg(format!("flood {i:032x}"))
                            .ignore();
                    }
                    let _: () = pipe.query(&mut c).unwrap();
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    a.save("sid:1", &record("two")).unwrap();
    let changed = Instant::now();
    loop {
        let seen = match b.cached("sid:1").unwrap() {
            Cached::Hit(r) => !std::sync::Arc::ptr_eq(&r, &old),
            _ => token(&b.load("sid:1").unwrap().unwrap()) == "two",
        };
        if seen {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_millis(1000 + 300),
            "the old copy was still trusted {:?} after the change",
            changed.elapsed()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    flooding.store(false, std::sync::atomic::Ordering::Relaxed);
    for f in flood {
        f.join().unwrap();
    }
}
