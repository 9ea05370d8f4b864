//! The Redis store behind Redis Sentinel, against real processes each test starts (a primary,
//! a replica, sentinels: `tests/support/redis_server.rs`): writes resume after a failover
//! without a restart, and what replication had survives it; a hung or dead sentinel costs a
//! bounded wait, then the next one is asked; a hung primary holds one thread per retry; a
//! sentinel naming a replica is not followed, nor a primary demoted behind the sentinels'
//! back; each side takes its own credentials; the change listener follows the primary; the
//! startup check asks the sentinels. The contract suite runs through Sentinel too
//! (`tests/store_contract.rs`).

mod support;

use std::time::{Duration, Instant};

use ezauth::logger::Logger;
use ezauth::store::breaker::RETRY_AFTER;
use ezauth::store::redis::{RedisBackend, RedisOptions, SentinelOptions};
use ezauth::store::{Cached, Sealed, StoreError, TokenStore};
use support::records::{keys, record, token};
use support::redis_server::{RedisSentinels, RedisServer, MASTER};

fn store(options: RedisOptions) -> Sealed<RedisBackend> {
    Sealed::new(
        RedisBackend::open(options).unwrap(),
        keys(),
        1 << 20,
        &Logger::silent(),
    )
}

/// How soon after the primary is SIGKILLed the store takes writes again: the sentinel deems it
/// down after `DOWN_AFTER` (1 s), promotes the replica (a second or two), then the store's
/// breaker lets a call through within `RETRY_AFTER` (1 s) and it asks the sentinel again.
/// With room for a loaded machine.
const FAILOVER_BOUND: Duration = Duration::from_secs(10);

/// Retries `save` until it succeeds; how long that took.
fn until_saved(s: &Sealed<RedisBackend>, user: &str, value: &str) -> Duration {
    let start = Instant::now();
    while let Err(e) = s.save(user, &record(value)) {
        assert!(
            start.elapsed() < FAILOVER_BOUND,
            "no writes {FAILOVER_BOUND:?} after the failover began: {e}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

#[test]
fn after_a_failover_writes_resume_and_replicated_writes_are_kept() {
    let mut set = RedisSentinels::start(1);
    let s = store(RedisOptions {
        staleness: Duration::ZERO,
        ..set.options()
    });
    for i in 0..20 {
        s.save(&format!("sid:{i}"), &record(&format!("v{i}")))
            .unwrap();
    }
    // Acknowledged by the primary and by the replica: no failover may lose them.
    set.replicated();
    set.primary.kill();
    let took = until_saved(&s, "sid:after", "after");
    eprintln!("writes resumed {took:?} after the primary was killed");
    assert_eq!(
        RedisSentinels::primary_port(&set.sentinels[0]),
        set.replica.port,
        "the replica was promoted"
    );
    assert_eq!(set.replica.replication("role"), "master");
    for i in 0..20 {
        let r = s.load(&format!("sid:{i}")).unwrap().expect("kept");
        assert_eq!(token(&r), format!("v{i}"));
    }
    assert_eq!(token(&s.load("sid:after").unwrap().unwrap()), "after");
    // The same client keeps working: updates and one-time claims land on the new primary.
    s.update("sid:1", &mut |cur| {
        let mut r = cur.unwrap();
        r.access_token = Some("updated".into());
        ezauth::store::Update::Replace(Box::new(r))
    })
    .unwrap();
    let on_new_primary = store(RedisOptions {
        staleness: Duration::ZERO,
        ..set.replica.options()
    });
    assert_eq!(
        token(&on_new_primary.load("sid:1").unwrap().unwrap()),
        "updated"
    );
}

#[test]
fn a_hung_or_dead_sentinel_costs_a_bounded_wait_then_the_next_is_asked() {
    let mut set = RedisSentinels::start(2);
    let (connect, timeout) = (Duration::from_millis(400), Duration::from_millis(400));
    let options = RedisOptions {
        staleness: Duration::ZERO,
        connect_timeout: connect,
        timeout,
        ..set.options()
    };
    // The first sentinel accepts connections but answers nothing.
    set.sentinels[0].freeze(true);
    let s = store(options.clone());
    let start = Instant::now();
    s.save("sid:1", &record("one")).unwrap();
    let took = start.elapsed();
    assert!(took >= connect - Duration::from_millis(50), "{took:?}");
    assert!(
        took < connect + timeout + Duration::from_millis(500),
        "one sentinel's timeouts at most: {took:?}"
    );
    // The primary found is kept: no sentinel is asked again while it answers.
    let start = Instant::now();
    assert_eq!(token(&s.load("sid:1").unwrap().unwrap()), "one");
    assert!(
        start.elapsed() < Duration::from_millis(200),
        "{:?}",
        start.elapsed()
    );
    // nginx -t's check asks the sentinels too, within the same bound.
    let start = Instant::now();
    RedisBackend::open(options.clone()).unwrap().ping().unwrap();
    assert!(start.elapsed() < connect + timeout + Duration::from_millis(500));

    // A sentinel that is gone refuses at once.
    set.sentinels[0].kill();
    let start = Instant::now();
    let t = store(options.clone());
    assert_eq!(token(&t.load("sid:1").unwrap().unwrap()), "one");
    assert!(
        start.elapsed() < Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );

    // With no sentinel at all, a client that knows the primary keeps serving; a new one
    // fails at once, saying why without an address.
    set.sentinels[1].kill();
    assert_eq!(token(&t.load("sid:1").unwrap().unwrap()), "one");
    let start = Instant::now();
    let e = store(options.clone())
        .load("sid:1")
        .expect_err("no sentinel, no primary");
    assert!(matches!(e, StoreError::Io(_)), "{e}");
    let message = e.to_string();
    assert!(
        message.contains("no sentinel named a reachable primary"),
        "{message}"
    );
    assert!(!message.contains("127.0.0.1"), "{message}");
    assert!(
        start.elapsed() < Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_sentinel_naming_a_replica_is_not_followed() {
    let set = RedisSentinels::start(1);
    // A replica (of a primary that is gone) and a sentinel that calls it the primary: a stale
    // view. The replica would answer reads.
    let replica = RedisServer::start_with(&[
        "--replicaof",
        "127.0.0.1",
        &support::redis_server::free_port().to_string(),
    ]);
    assert_eq!(replica.replication("role"), "slave");
    let _: Option<String> = redis::cmd("GET")
        .arg("ezauth:x")
        .query(&mut replica.connection())
        .expect("a replica answers reads");
    let stale = RedisServer::start_sentinel(MASTER, replica.port, Duration::from_secs(60));
    assert_eq!(RedisSentinels::primary_port(&stale), replica.port);
    let through = |sentinels: &[&RedisServer]| {
        let urls: Vec<String> = sentinels.iter().map(|s| s.url()).collect();
        RedisOptions {
            staleness: Duration::ZERO,
            sentinel: Some(SentinelOptions {
                master_name: MASTER.into(),
                urls: urls.join(","),
            }),
            ..set.options()
        }
    };

    // Only the stale sentinel: reads and writes are refused, and so is nginx -t's check.
    let s = store(through(&[&stale]));
    let e = s.load("sid:1").expect_err("not read from a replica");
    assert!(e.to_string().contains("not a primary"), "{e}");
    let e = RedisBackend::open(through(&[&stale]))
        .unwrap()
        .ping()
        .expect_err("refused at startup too");
    assert!(e.contains("not a primary"), "{e}");

    // The stale sentinel first, then a good one: the primary is used.
    let s = store(through(&[&stale, &set.sentinels[0]]));
    s.save("sid:1", &record("on the primary")).unwrap();
    let direct = store(RedisOptions {
        staleness: Duration::ZERO,
        ..set.primary.options()
    });
    assert_eq!(
        token(&direct.load("sid:1").unwrap().unwrap()),
        "on the primary"
    );
}

/// Waits until two listeners are subscribed at `server`.
fn two_listeners(server: &RedisServer, within: Duration) {
    let start = Instant::now();
    while server.subscribers("ezauth:changed") < 2 {
        assert!(start.elapsed() < within, "the listeners are not there");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_change_listener_follows_the_primary_after_a_failover() {
    let mut set = RedisSentinels::start(1);
    let options = RedisOptions {
        staleness: Duration::from_secs(60),
        ..set.options()
    };
    let (a, b) = (store(options.clone()), store(options));
    a.save("sid:1", &record("one")).unwrap();
    assert_eq!(token(&b.load("sid:1").unwrap().unwrap()), "one");
    two_listeners(&set.primary, Duration::from_secs(5));

    set.primary.kill();
    until_saved(&a, "sid:other", "x");
    // Both listeners ask the sentinel again after their connection broke.
    two_listeners(&set.replica, FAILOVER_BOUND);
    assert!(
        matches!(b.cached("sid:1").unwrap(), Cached::Hit(r) if token(&r) == "one"),
        "B's copy is trusted for a minute unless it hears of a change"
    );
    a.save("sid:1", &record("two")).unwrap();
    let written = Instant::now();
    while matches!(b.cached("sid:1").unwrap(), Cached::Hit(_)) {
        assert!(
            written.elapsed() < Duration::from_secs(2),
            "A's write after the failover not heard by B"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(token(&b.load("sid:1").unwrap().unwrap()), "two");
}

#[test]
fn sentinels_and_data_nodes_each_take_their_own_credentials() {
    let set = RedisSentinels::start(1);
    let sentinel = &set.sentinels[0];
    // The least each side needs (README): the sentinel user may only ask for the address.
    let _: () = redis::cmd("ACL")
        .arg(&["SETUSER", "watch", "on", ">w4tch", "-@all"])
        .arg("+sentinel|get-master-addr-by-name")
        .query(&mut sentinel.connection())
        .unwrap();
    let _: () = redis::cmd("ACL")
        .arg(&[
            "SETUSER",
            "ezauth",
            "on",
            ">d4ta",
            "resetkeys",
            "~ezauth:*",
            "resetchannels",
            "&ezauth:changed",
            "-@all",
        ])
        .arg(support::redis_server::STORE_COMMANDS)
        .arg("+role")
        .query(&mut set.primary.connection())
        .unwrap();
    let with = |sentinel_user: &str, data_user: &str| RedisOptions {
        url: format!("redis://{data_user}@{MASTER}"),
        sentinel: Some(SentinelOptions {
            master_name: MASTER.into(),
            urls: format!("redis://{sentinel_user}@127.0.0.1:{}", sentinel.port),
        }),
        ..set.options()
    };
    let s = store(with("watch:w4tch", "ezauth:d4ta"));
    s.save("sid:1", &record("one")).unwrap();
    assert_eq!(token(&s.load("sid:1").unwrap().unwrap()), "one");
    RedisBackend::open(with("watch:w4tch", "ezauth:d4ta"))
        .unwrap()
        .ping()
        .unwrap();
    // A wrong password on either side stops the start (nginx -t), without echoing it.
    let sides = [
        ("watch:wr0ng", "ezauth:d4ta", "sentinel 1: "),
        (
            "watch:w4tch",
            "ezauth:wr0ng",
            "the primary sentinel 1 named: ",
        ),
    ];
    for (sentinel_user, data_user, side) in sides {
        let e = RedisBackend::open(with(sentinel_user, data_user))
            .unwrap()
            .ping()
            .expect_err("refused");
        assert!(
            e.contains(&format!("{side}Password authentication failed")),
            "{e}"
        );
        for secret in ["wr0ng", "w4tch", "d4ta", "127.0.0.1"] {
            assert!(!e.contains(secret), "{e}");
        }
    }
}

#[test]
fn a_primary_demoted_behind_the_sentinels_back_is_left_at_the_next_call() {
    let set = RedisSentinels::start(1);
    // Another primary, which a second sentinel names under the same master name.
    let other = RedisServer::start();
    let names_other = RedisServer::start_sentinel(MASTER, other.port, Duration::from_secs(60));
    let s = store(RedisOptions {
        staleness: Duration::ZERO,
        sentinel: Some(SentinelOptions {
            master_name: MASTER.into(),
            urls: format!("{},{}", set.sentinels[0].url(), names_other.url()),
        }),
        ..set.options()
    });
    s.save("sid:1", &record("one")).unwrap();
    // An operator makes the primary a replica: it answers writes READONLY now, and the first
    // sentinel still names it.
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(other.port)
        .query(&mut set.primary.connection())
        .unwrap();
    assert_eq!(set.primary.replication("role"), "slave");
    // No failed call: the write refused there runs again on the primary the second sentinel
    // names (the first one's is refused by its ROLE).
    s.save("sid:2", &record("two")).unwrap();
    let direct = store(RedisOptions {
        staleness: Duration::ZERO,
        ..other.options()
    });
    assert_eq!(token(&direct.load("sid:2").unwrap().unwrap()), "two");
}

#[test]
fn a_hung_primary_holds_one_thread_per_retry_until_the_failover() {
    let set = RedisSentinels::start(1);
    let (connect, timeout) = (Duration::from_millis(400), Duration::from_millis(400));
    let s = std::sync::Arc::new(store(RedisOptions {
        staleness: Duration::ZERO,
        connect_timeout: connect,
        timeout,
        ..set.options()
    }));
    s.save("sid:1", &record("x")).unwrap();
    set.replicated();
    // Accepts connections, answers nothing; the sentinel fails over after DOWN_AFTER.
    set.primary.freeze(true);
    let run_for = Duration::from_millis(2000);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let s = std::sync::Arc::clone(&s);
            std::thread::spawn(move || {
                let (start, mut calls, mut slow, mut longest) =
                    (Instant::now(), 0, 0, Duration::ZERO);
                while start.elapsed() < run_for {
                    let t = Instant::now();
                    let _ = s.load("sid:1");
                    calls += 1;
                    if t.elapsed() >= timeout / 2 {
                        slow += 1;
                    }
                    longest = longest.max(t.elapsed());
                    std::thread::sleep(Duration::from_millis(5));
                }
                (calls, slow, longest)
            })
        })
        .collect();
    let (mut calls, mut slow, mut longest) = (0, 0, Duration::ZERO);
    for t in threads {
        let (c, s, l) = t.join().unwrap();
        (calls, slow, longest) = (calls + c, slow + s, longest.max(l));
    }
    // One call: the pooled connection's timeout, or the known primary's check, a discovery
    // (one sentinel, whose primary does not answer) and the call.
    let bound = (connect + timeout) * 3 + timeout + Duration::from_millis(500);
    assert!(longest < bound, "a call took {longest:?}");
    // The first four waited together; then one try per RETRY_AFTER.
    let tries = 4 + (run_for.as_millis() / RETRY_AFTER.as_millis()) as usize + 1;
    assert!(slow <= tries, "{slow} of {calls} calls waited");
    assert!(calls > 100, "the others failed fast: {calls}");
    until_saved(&s, "sid:2", "after");
    assert_eq!(token(&s.load("sid:1").unwrap().unwrap()), "x");
}

#[test]
fn the_startup_check_configured_from_json_asks_the_sentinels() {
    let set = RedisSentinels::start(1);
    let idp = support::TestIdp::start();
    let worker = ezauth::store::access::Worker::current();
    let check = |master: &str| {
        let json = support::config(&idp, "{}").replace(
            r#""httpSettings":"#,
            &format!(
                r#""ezauth":{{"tokenStore":{{"redis":{{"urlSettingName":"REDIS_URL",
                   "sentinel":{{"masterName":"{master}","urlsSettingName":"SENTINELS"}}}}}}}},
                   "httpSettings":"#
            ),
        );
        let mut vars = support::env();
        vars.insert("REDIS_URL".into(), format!("redis://{master}"));
        vars.insert("SENTINELS".into(), set.sentinel_urls());
        let settings = ezauth::config::parse(&json, &vars).unwrap_or_else(|e| panic!("{e}"));
        ezauth::store::check_access(settings.token_store.as_ref(), &worker)
    };
    check(MASTER).unwrap();
    let e = check("unknown-master").unwrap_err();
    assert!(
        e.starts_with("ezauth.tokenStore.redis: ") && e.contains("does not know the master name"),
        "{e}"
    );
    assert!(!e.contains("127.0.0.1"), "{e}");
}

/// A sentinel that answers correctly (naming `primary`), but one byte every `pace`: each read
/// comes within any socket timeout, the whole answer long after.
fn trickling_sentinel(primary: u16, pace: Duration) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut request = [0u8; 512];
                let _ = conn.read(&mut request);
                let host = "127.0.0.1";
                let port = primary.to_string();
                let answer = format!(
                    "*2\r\n${}\r\n{host}\r\n${}\r\n{port}\r\n",
                    host.len(),
                    port.len()
                );
                for byte in answer.bytes() {
                    std::thread::sleep(pace);
                    if conn.write_all(&[byte]).is_err() {
                        return;
                    }
                }
                // Held open, as a slow sentinel would.
                std::thread::sleep(Duration::from_secs(30));
            });
        }
    });
    port
}

#[test]
fn a_sentinel_that_trickles_its_answer_holds_no_call_past_the_timeouts() {
    let primary = RedisServer::start();
    let timeout = Duration::from_millis(300);
    // About 40 bytes at 100 ms: 4 s for the whole answer, each byte well within the timeout.
    let sentinel = trickling_sentinel(primary.port, Duration::from_millis(100));
    let options = RedisOptions {
        staleness: Duration::ZERO,
        connect_timeout: timeout,
        timeout,
        sentinel: Some(SentinelOptions {
            master_name: MASTER.into(),
            urls: format!("redis://127.0.0.1:{sentinel}"),
        }),
        ..support::redis_server::options(format!("redis://{MASTER}"))
    };
    let s = std::sync::Arc::new(store(options));
    let start = Instant::now();
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let s = std::sync::Arc::clone(&s);
            std::thread::spawn(move || {
                let t = Instant::now();
                let result = s.load("sid:1");
                (t.elapsed(), result.is_err())
            })
        })
        .collect();
    for caller in callers {
        let (took, failed) = caller.join().unwrap();
        assert!(failed, "no primary known yet");
        assert!(
            took < (timeout * 2) * 2 + Duration::from_millis(300),
            "a call waited {took:?} on a trickling sentinel"
        );
    }
    // The asking goes on by itself; once the answer is in, calls use the primary.
    let mut waited = RETRY_AFTER;
    loop {
        std::thread::sleep(waited);
        if s.save("sid:1", &record("through a slow sentinel")).is_ok() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "never found");
        waited = Duration::from_millis(200);
    }
    assert_eq!(
        token(&s.load("sid:1").unwrap().unwrap()),
        "through a slow sentinel"
    );
}
