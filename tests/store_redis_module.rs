//! The module configured with `ezauth.tokenStore.redis`, against a real `redis-server`: the
//! startup check reaches it, sign-ins are kept there and read in the blocking step, another
//! node (module) serves them, and an outage is survived and recovered from.

mod support;

use ezauth::pipeline::Module;
use ezauth::store::access::Worker;
use support::redis_server::RedisServer;
use support::*;

/// A module on `idp` whose token store is the Redis at `server`, trusting cached records for
/// `staleness` seconds.
fn node(idp: &TestIdp, server: &RedisServer, staleness: f64, log: &Captured) -> Module {
    node_at(idp, &server.url(), staleness, log)
}

fn node_at(idp: &TestIdp, url: &str, staleness: f64, log: &Captured) -> Module {
    let json = config(idp, "{}").replace(
        r#""httpSettings":"#,
        &format!(
            r#""ezauth":{{"tokenStore":{{"redis":{{"urlSettingName":"REDIS_URL",
               "timeoutSeconds":1,"connectTimeoutSeconds":1,"stalenessSeconds":{staleness}}}}}}},
               "httpSettings":"#
        ),
    );
    let mut env = env();
    env.insert("REDIS_URL".into(), url.into());
    let settings = ezauth::config::parse(&json, &env).unwrap_or_else(|e| panic!("{e}"));
    Module::new(settings, log.logger()).unwrap()
}

#[test]
fn the_startup_check_reaches_redis() {
    let mut server = RedisServer::start();
    let idp = TestIdp::start();
    let m = node(&idp, &server, 1.0, &Captured::default());
    m.check_store(&Worker::current()).unwrap();
    // Loading and checking (what the nginx master does before it forks) start no listener
    // thread and leave no connection: those belong to the processes that serve.
    let mut admin = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        // The check's own connection may take a moment to be seen closed.
        let clients: String = redis::cmd("CLIENT").arg("LIST").query(&mut admin).unwrap();
        if clients.lines().count() == 1 {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "only this one: {clients}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    server.kill();
    let e = m.check_store(&Worker::current()).unwrap_err();
    assert!(
        e.contains("ezauth.tokenStore.redis: Redis did not answer PING"),
        "{e}"
    );
}

#[test]
fn a_sign_in_on_one_node_is_served_by_another_and_a_logout_holds_on_both() {
    let server = RedisServer::start();
    let idp = TestIdp::start();
    let log = Captured::default();
    let (a, b) = (
        node(&idp, &server, 0.0, &log),
        node(&idp, &server, 0.0, &log),
    );
    let cookie = signed_in(&a, &idp);
    let auth = [("Cookie", cookie.as_str())];
    for m in [&a, &b] {
        let (blocked, outcome) = two_steps(m, "/page", &auth);
        assert!(blocked, "a remote read never happens on the event loop");
        let f = forwarded(outcome);
        assert_eq!(
            set_header(&f, "X-MS-TOKEN-IDP-ACCESS-TOKEN").as_deref(),
            Some("the-access-token"),
            "{}",
            log.text()
        );
    }
    let r = finished(run(&a, "GET", "/.auth/logout", &auth, b""));
    assert!(r.status < 400, "{}", r.status);
    let (_, outcome) = two_steps(&b, "/.auth/me", &auth);
    assert_eq!(
        finished(outcome).status,
        401,
        "signed out on the other node too"
    );
}

#[test]
fn an_outage_keeps_requests_going_and_ends_by_itself() {
    let mut server = RedisServer::start();
    let idp = TestIdp::start();
    let log = Captured::default();
    let m = node(&idp, &server, 0.0, &log);
    let cookie = signed_in(&m, &idp);
    let auth = [("Cookie", cookie.as_str())];
    server.kill();
    let (_, outcome) = two_steps(&m, "/page", &auth);
    let f = forwarded(outcome);
    assert!(
        set_header(&f, "X-MS-CLIENT-PRINCIPAL-NAME").is_some(),
        "the identity, from the cookie: {f:?}"
    );
    assert!(
        set_header(&f, "X-MS-TOKEN-IDP-ACCESS-TOKEN").is_none(),
        "no tokens could be read: {f:?}"
    );
    log.says("redis");
    // Routes that need the store answer that it is not available: /.auth/me too, whose 200
    // without tokens would read as "none stored".
    let r = finished(run(&m, "GET", "/.auth/refresh", &auth, b""));
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    let (_, me) = two_steps(&m, "/.auth/me", &auth);
    let me = finished(me);
    assert_eq!(me.status, 503, "{}", String::from_utf8_lossy(&me.body));
    log.says("token store is unavailable");
    server.restart();
    // Failures pause calls for a while (a circuit breaker); then the node finds Redis again.
    std::thread::sleep(ezauth::store::breaker::RETRY_AFTER);
    // Redis restarted empty (nothing persisted): the session goes on, without stored tokens.
    let (_, outcome) = two_steps(&m, "/page", &auth);
    forwarded(outcome);
    let (_, me) = two_steps(&m, "/.auth/me", &auth);
    assert_eq!(finished(me).status, 200, "the store answers again");
    let cookie = signed_in(&m, &idp);
    let (_, outcome) = two_steps(&m, "/page", &[("Cookie", cookie.as_str())]);
    assert_eq!(
        set_header(&forwarded(outcome), "X-MS-TOKEN-IDP-ACCESS-TOKEN").as_deref(),
        Some("the-access-token")
    );
}

#[test]
fn an_acl_user_with_only_the_store_s_keys_channel_and_commands_is_enough() {
    let server = RedisServer::start();
    let mut admin = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("app")
        .arg("on")
        .arg(">s3cret")
        .arg("resetkeys")
        .arg("~ezauth:*")
        .arg("resetchannels")
        .arg("&ezauth:changed")
        .arg("-@all")
        .arg(support::redis_server::STORE_COMMANDS)
        .query(&mut admin)
        .unwrap();
    let url = |password: &str| format!("redis://app:{password}@127.0.0.1:{}", server.port);
    let idp = TestIdp::start();
    let log = Captured::default();

    let wrong = node_at(&idp, &url("wrong"), 0.0, &log);
    let e = wrong.check_store(&Worker::current()).unwrap_err();
    assert!(e.contains("Password authentication failed"), "{e}");
    assert!(!e.contains("wrong@"), "the URL is not echoed: {e}");

    let (a, b) = (
        node_at(&idp, &url("s3cret"), 0.0, &log),
        node_at(&idp, &url("s3cret"), 0.0, &log),
    );
    a.check_store(&Worker::current()).unwrap();
    let cookie = signed_in(&a, &idp);
    let (_, outcome) = two_steps(&b, "/page", &[("Cookie", cookie.as_str())]);
    assert_eq!(
        set_header(&forwarded(outcome), "X-MS-TOKEN-IDP-ACCESS-TOKEN").as_deref(),
        Some("the-access-token"),
        "{}",
        log.text()
    );
    // A logout takes the lock and writes the revocation through the fenced script.
    let r = finished(run(
        &b,
        "GET",
        "/.auth/logout",
        &[("Cookie", cookie.as_str())],
        b"",
    ));
    assert!(r.status < 400, "{}: {}", r.status, log.text());
    let (_, outcome) = two_steps(&a, "/.auth/me", &[("Cookie", cookie.as_str())]);
    assert_eq!(finished(outcome).status, 401);
    let start = std::time::Instant::now();
    loop {
        let (_, listeners): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("ezauth:changed")
            .query(&mut admin)
            .unwrap();
        if listeners == 2 {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(3),
            "both nodes' listeners subscribe: {}",
            log.text()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Overwrites every record key (`ezauth:{<name>}`) in `server` with `value`, as someone with
/// write access to Redis (not the keys) could.
fn overwrite_records(server: &RedisServer, value: &[u8]) -> usize {
    let mut c = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("ezauth:{*").query(&mut c).unwrap();
    for k in &keys {
        let _: () = redis::cmd("SET").arg(k).arg(value).query(&mut c).unwrap();
    }
    keys.len()
}

#[test]
fn a_session_whose_record_does_not_open_is_refused_not_trusted() {
    let server = RedisServer::start();
    let idp = TestIdp::start();
    let log = Captured::default();
    let m = node(&idp, &server, 0.0, &log);
    // Signed out, then the record (which holds the sign-out mark) replaced with garbage,
    // truncated or oversized: the cookie must stay refused, not come back as "no mark".
    for (i, garbage) in [
        b"garbage".to_vec(),
        vec![2u8; 40],
        vec![b'x'; (1 << 20) + 1],
    ]
    .into_iter()
    .enumerate()
    {
        let cookie = signed_in(&m, &idp);
        let auth = [("Cookie", cookie.as_str())];
        let r = finished(run(&m, "GET", "/.auth/logout", &auth, b""));
        assert!(r.status < 400, "{}", r.status);
        assert!(overwrite_records(&server, &garbage) >= 1);
        let (_, outcome) = two_steps(&m, "/.auth/me", &auth);
        assert_eq!(
            finished(outcome).status,
            401,
            "garbage {i}: still signed out"
        );
        log.says("token store entry is unreadable");
    }
    // A live session whose record was tampered with is refused too (it cannot be told from a
    // signed-out one); signing in again replaces the entry.
    let cookie = signed_in(&m, &idp);
    overwrite_records(&server, b"tampered");
    let (_, outcome) = two_steps(&m, "/.auth/me", &[("Cookie", cookie.as_str())]);
    assert_eq!(finished(outcome).status, 401);
    let again = signed_in(&m, &idp);
    let (_, outcome) = two_steps(&m, "/page", &[("Cookie", again.as_str())]);
    assert_eq!(
        set_header(&forwarded(outcome), "X-MS-TOKEN-IDP-ACCESS-TOKEN").as_deref(),
        Some("the-access-token")
    );
}
