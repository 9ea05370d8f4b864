//! The Azure Blob backend against a real Azurite (`support::azurite`), beyond the store
//! contract (`tests/store_contract.rs`): the lease as the lock (lapses after its duration,
//! not before; a lapsed holder's write refused; renewed while held), `If-None-Match` reads,
//! one-time claims across processes, the staleness bound, an outage and its recovery (store
//! and pipeline), a hung or failing (5xx) service held off by the circuit breaker, a SAS
//! without delete permission, and the SAS kept out of logs and errors.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ezauth::clock::{Clock, SystemClock};
use ezauth::http::Outcome;
use ezauth::logger::Logger;
use ezauth::outbound::{HttpClient, HttpRequest, HttpResponse, TransportError, UreqClient};
use ezauth::pipeline::Module;
use ezauth::store::blob::{BlobBackend, BlobOptions, ContainerUrl};
use ezauth::store::breaker::RETRY_AFTER;
use ezauth::store::{Backend, Cached, Got, Sealed, StoreError, TokenStore, Update};
use serde_json::json;
use support::azurite::Azurite;
use support::records::{keys, record};
use support::*;

fn options() -> BlobOptions {
    BlobOptions {
        lease: Duration::from_secs(15),
        hold: Duration::from_secs(15),
        wait: Duration::from_secs(30),
        staleness: Duration::from_millis(500),
        connect_timeout: Duration::from_secs(1),
        timeout: Duration::from_secs(5),
    }
}

/// The real client, remembering each answer's status (or the failure).
struct Recording {
    real: UreqClient,
    statuses: Mutex<Vec<u16>>,
}

impl HttpClient for Recording {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let r = self.real.send(request);
        self.statuses
            .lock()
            .unwrap()
            .push(r.as_ref().map_or(0, |r| r.status));
        r
    }
}

fn recording() -> Arc<Recording> {
    Arc::new(Recording {
        real: UreqClient::new(Duration::from_secs(1), Duration::from_secs(5)),
        statuses: Mutex::new(Vec::new()),
    })
}

/// A store over `url` whose every answer is remembered.
fn recorded(url: &str) -> (Sealed<BlobBackend>, Arc<Recording>) {
    let http = recording();
    let store = Sealed::new(
        BlobBackend::with_client(
            ContainerUrl::parse(url).unwrap(),
            options(),
            http.clone(),
            &Logger::silent(),
        ),
        keys(),
        1 << 20,
        &Logger::silent(),
    );
    (store, http)
}

fn backend(url: &str, options: BlobOptions, log: &Logger) -> BlobBackend {
    BlobBackend::open(ContainerUrl::parse(url).unwrap(), options, log)
}

fn store(url: &str, options: BlobOptions, log: &Logger) -> Sealed<BlobBackend> {
    Sealed::new(backend(url, options, log), keys(), 1 << 20, log)
}

fn token(store: &impl TokenStore, user: &str) -> Option<String> {
    store
        .load(user)
        .unwrap()
        .and_then(|r| r.access_token.clone())
}

#[test]
fn a_lease_lapses_after_its_duration_not_before_and_the_lapsed_holders_write_is_refused() {
    let azurite = Azurite::start();
    let url = azurite.container("lease", "rwdl");
    let (a, b) = (
        backend(&url, options(), &Logger::silent()),
        backend(&url, options(), &Logger::silent()),
    );
    let name = "0123456789abcdef0123456789abcdef";

    // A takes the lock and stops answering (it never releases: a process gone).
    let held = a.lock(name).unwrap();
    let taken = Instant::now();
    a.put(name, b"from a", &held).unwrap();
    let impatient = backend(
        &url,
        BlobOptions {
            wait: Duration::from_secs(5),
            ..options()
        },
        &Logger::silent(),
    );
    assert!(impatient.lock(name).is_err(), "taken while A's lease runs");
    assert!(taken.elapsed() < Duration::from_secs(14));

    // B waits and gets it once the lease has run out, not before.
    let b_lock = b.lock(name).unwrap();
    let waited = taken.elapsed();
    assert!(
        waited >= Duration::from_millis(14_500) && waited < Duration::from_secs(20),
        "B got the lock {waited:?} after A took it; the lease lasts 15 s"
    );
    b.put(name, b"from b", &b_lock).unwrap();

    // A wakes up and writes with its lapsed lease: the service refuses it.
    let e = a.put(name, b"late a", &held).unwrap_err();
    assert!(e.to_string().contains("lease"), "{e}");
    assert!(a.delete(name, &held).is_err(), "nor may it delete");
    drop(held);
    match a.get(name, None).unwrap() {
        Got::Found(bytes, _) => assert_eq!(bytes, b"from b"),
        _ => panic!("B's record is gone"),
    }
    // A's late release did not free B's lease.
    assert!(impatient.lock(name).is_err(), "B still holds the lock");
    drop(b_lock);
    drop(impatient.lock(name).unwrap());
}

#[test]
fn a_holder_that_may_hold_longer_than_a_lease_renews_it() {
    let azurite = Azurite::start();
    let url = azurite.container("renew", "rwdl");
    let long = BlobOptions {
        hold: Duration::from_secs(45),
        ..options()
    };
    let a = backend(&url, long, &Logger::silent());
    let other = backend(
        &url,
        BlobOptions {
            wait: Duration::from_secs(2),
            ..options()
        },
        &Logger::silent(),
    );
    let name = "11111111111111111111111111111111";
    let held = a.lock(name).unwrap();
    std::thread::sleep(Duration::from_secs(20));
    assert!(other.lock(name).is_err(), "the renewed lease is still A's");
    a.put(name, b"after 20 s", &held).unwrap();
    drop(held);
    drop(other.lock(name).unwrap());
}

#[test]
fn an_unchanged_record_is_read_again_with_if_none_match_and_costs_a_304() {
    let azurite = Azurite::start();
    let url = azurite.container("etag", "rwdl");
    let (reader, http) = recorded(&url);
    let writer = store(&url, options(), &Logger::silent());
    writer.save("sid:1", &record("one")).unwrap();

    let first = reader.load("sid:1").unwrap().unwrap();
    assert_eq!(http.statuses.lock().unwrap().last(), Some(&200));
    std::thread::sleep(options().staleness);
    assert!(matches!(reader.cached("sid:1").unwrap(), Cached::NeedsIo));
    let again = reader.load("sid:1").unwrap().unwrap();
    assert_eq!(http.statuses.lock().unwrap().last(), Some(&304));
    assert!(Arc::ptr_eq(&first, &again), "the cached record, confirmed");

    writer.save("sid:1", &record("two")).unwrap();
    std::thread::sleep(options().staleness);
    assert_eq!(token(&reader, "sid:1").as_deref(), Some("two"));
    assert_eq!(http.statuses.lock().unwrap().last(), Some(&200));
}

#[test]
fn a_change_on_another_node_is_seen_within_the_staleness_bound() {
    let azurite = Azurite::start();
    let url = azurite.container("stale", "rwdl");
    let (a, b) = (
        store(&url, options(), &Logger::silent()),
        store(&url, options(), &Logger::silent()),
    );
    a.save("sid:1", &record("one")).unwrap();
    assert_eq!(token(&b, "sid:1").as_deref(), Some("one"));
    a.update("sid:1", &mut |_| Update::Replace(Box::new(record("two"))))
        .unwrap();
    let changed = Instant::now();
    // Within the bound B may answer from its cache (no I/O on the event loop); past it, it
    // reads again and sees the change.
    let seen = loop {
        match b.cached("sid:1").unwrap() {
            Cached::Hit(r) if r.access_token.as_deref() == Some("two") => break changed.elapsed(),
            Cached::Hit(_) => {}
            Cached::NeedsIo => {
                b.load("sid:1").unwrap();
            }
            Cached::Absent => panic!("the record vanished"),
        }
        assert!(changed.elapsed() < Duration::from_secs(5), "never seen");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        seen <= options().staleness + Duration::from_millis(300),
        "seen after {seen:?}"
    );
}

#[test]
fn a_copy_in_use_is_confirmed_in_the_background_and_its_requests_never_wait() {
    let mut azurite = Azurite::start();
    let url = azurite.container("ahead", "rwdl");
    let (reader, http) = recorded(&url);
    store(&url, options(), &Logger::silent())
        .save("sid:1", &record("one"))
        .unwrap();
    let first = reader.load("sid:1").unwrap().unwrap();
    // A user who keeps coming back, for four staleness bounds.
    let start = Instant::now();
    while start.elapsed() < options().staleness * 4 {
        match reader.cached("sid:1").unwrap() {
            Cached::Hit(r) => assert!(Arc::ptr_eq(&r, &first), "the same copy"),
            _ => panic!("waited for the service after {:?}", start.elapsed()),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let confirmations = http
        .statuses
        .lock()
        .unwrap()
        .iter()
        .filter(|s| **s == 304)
        .count();
    assert!(
        (3..=8).contains(&confirmations),
        "about one 304 per bound, not one per request: {confirmations}"
    );

    // With the service gone the copy runs out at its bound, as any other (then the read
    // needs the service, or fails at once while the breaker refuses).
    azurite.stop();
    let stopped = Instant::now();
    while matches!(reader.cached("sid:1"), Ok(Cached::Hit(_))) {
        assert!(
            stopped.elapsed() <= options().staleness + Duration::from_millis(100),
            "trusted past the bound without the service"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn one_time_values_are_claimed_once_across_processes_and_expired_claims_are_taken_over() {
    let azurite = Azurite::start();
    let url = azurite.container("once", "rwl");
    let a = store(&url, options(), &Logger::silent());
    let b = store(&url, options(), &Logger::silent());
    let now = SystemClock.now();
    assert!(a.claim_once("state-1", now + 300).unwrap());
    assert!(!b.claim_once("state-1", now + 300).unwrap());
    assert!(!a.claim_once("state-1", now + 300).unwrap());

    // An expired claim is taken over, by exactly one of many concurrent takers.
    assert!(a.claim_once("state-2", now - 1).unwrap());
    let stores = [Arc::new(a), Arc::new(b)];
    let won = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (s, won) = (Arc::clone(&stores[i % 2]), Arc::clone(&won));
            std::thread::spawn(move || {
                if s.claim_once("state-2", now + 300).unwrap() {
                    won.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(won.load(Ordering::SeqCst), 1);
    assert!(!stores[1].claim_once("state-2", now + 300).unwrap());
}

#[test]
fn an_outage_fails_fast_and_the_store_recovers_by_itself() {
    let mut azurite = Azurite::start();
    let url = azurite.container("outage", "rwdl");
    let s = store(&url, options(), &Logger::silent());
    s.save("sid:1", &record("one")).unwrap();

    azurite.stop();
    std::thread::sleep(options().staleness);
    let t = Instant::now();
    assert!(s.load("sid:1").is_err(), "a read with the service down");
    assert!(s.save("sid:1", &record("two")).is_err());
    assert!(s.claim_once("state", SystemClock.now() + 60).is_err());
    let took = t.elapsed();
    assert!(took < Duration::from_secs(2), "failing took {took:?}");

    azurite.restart();
    azurite.create_container("outage");
    let back = Instant::now();
    let recovered = loop {
        if s.save("sid:1", &record("three")).is_ok() {
            break back.elapsed();
        }
        assert!(back.elapsed() < Duration::from_secs(10), "never recovered");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(recovered <= RETRY_AFTER + Duration::from_millis(500));
    assert_eq!(token(&s, "sid:1").as_deref(), Some("three"));
}

/// The security review's F1: with the service hung (SIGSTOP: connections accepted, nothing
/// answered), every caller waited out its timeout, piling up the host's blocking threads: the
/// breaker's window was counted from the start of the timed-out call, so it had passed by
/// the time the call failed.
#[test]
fn a_hung_service_holds_one_thread_per_retry_not_every_caller() {
    let azurite = Azurite::start();
    let url = azurite.container("hung", "rwdl");
    let timeout = Duration::from_secs(2);
    let s = Arc::new(store(
        &url,
        BlobOptions {
            timeout,
            ..options()
        },
        &Logger::silent(),
    ));
    s.save("sid:kept", &record("kept")).unwrap();
    azurite.freeze(true);

    // The first caller finds the service hung: it waits out its timeout.
    let t = Instant::now();
    let e = s.load("sid:first").expect_err("no answer, no record");
    assert!(matches!(e, StoreError::Io(_)), "{e}");
    assert!(
        t.elapsed() >= timeout - Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );

    // Then a thread pool's worth of signed-in requests, each for a user not cached, for one
    // timeout: one of them tries the service again after RETRY_AFTER, the rest fail at once.
    let (threads, run_for) = (16, timeout);
    let barrier = Arc::new(std::sync::Barrier::new(threads));
    let start = Instant::now();
    let callers: Vec<_> = (0..threads)
        .map(|n| {
            let (s, barrier) = (Arc::clone(&s), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let (begun, mut calls, mut slow) = (Instant::now(), 0, 0);
                while begun.elapsed() < run_for {
                    let t = Instant::now();
                    let e = s
                        .load(&format!("sid:{n}:{calls}"))
                        .expect_err("no answer, no record");
                    calls += 1;
                    if t.elapsed() > Duration::from_secs(1) {
                        slow += 1;
                    } else {
                        assert!(
                            e.to_string().contains("unreachable within the last"),
                            "a fast failure names the outage: {e}"
                        );
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                (calls, slow)
            })
        })
        .collect();
    let (calls, slow) = callers
        .into_iter()
        .map(|t| t.join().unwrap())
        .fold((0, 0), |(c, s), (c1, s1)| (c + c1, s + s1));
    let took = start.elapsed();
    assert!(slow <= 2, "{slow} of {calls} calls waited for the timeout");
    assert!(calls > 16 * 20, "the others failed fast: {calls}");
    assert!(
        took < run_for + timeout + Duration::from_millis(500),
        "the callers took {took:?}"
    );

    // Answering again: the next try, within RETRY_AFTER, gets the record.
    azurite.freeze(false);
    let back = Instant::now();
    let kept = loop {
        match s.load("sid:kept") {
            Ok(r) => break r,
            Err(e) => assert!(
                back.elapsed() < RETRY_AFTER + Duration::from_millis(500),
                "not back: {e}"
            ),
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        kept.and_then(|r| r.access_token.clone()).as_deref(),
        Some("kept")
    );
}

/// A service that answers every request with one status, counting the requests.
struct Answering {
    status: Mutex<u16>,
    sent: AtomicUsize,
}

impl HttpClient for Answering {
    fn send(&self, _: &HttpRequest) -> Result<HttpResponse, TransportError> {
        self.sent.fetch_add(1, Ordering::SeqCst);
        Ok(HttpResponse {
            status: *self.status.lock().unwrap(),
            headers: vec![("x-ms-error-code".into(), "Whatever".into())],
            body: Vec::new(),
        })
    }
}

#[test]
fn a_5xx_opens_the_circuit_breaker_and_a_4xx_does_not() {
    let service = Arc::new(Answering {
        status: Mutex::new(403),
        sent: AtomicUsize::new(0),
    });
    let b = BlobBackend::with_client(
        ContainerUrl::parse("https://acct.blob.core.windows.net/tokens?sig=c2VjcmV0").unwrap(),
        options(),
        Arc::clone(&service) as Arc<dyn HttpClient>,
        &Logger::silent(),
    );
    let sent = || service.sent.load(Ordering::SeqCst);
    // Refused: the service works, the next call goes to it.
    for n in 1..=2 {
        assert!(b.get("ab", None).is_err());
        assert_eq!(sent(), n);
    }
    // Failing (or throttling): the calls after it fail at once, without a request.
    *service.status.lock().unwrap() = 503;
    assert!(b.get("ab", None).is_err());
    assert_eq!(sent(), 3);
    let e = b.get("ab", None).err().expect("failed fast");
    assert!(e.to_string().contains("unreachable within the last"), "{e}");
    assert_eq!(sent(), 3);
    // After the window, one try; an answer (a refusal too) closes the breaker.
    *service.status.lock().unwrap() = 403;
    std::thread::sleep(RETRY_AFTER + Duration::from_millis(20));
    for n in 4..=5 {
        assert!(b.get("ab", None).is_err());
        assert_eq!(sent(), n);
    }
}

#[test]
fn without_delete_permission_deletes_write_tombstones_and_logout_still_signs_out() {
    let azurite = Azurite::start();
    let url = azurite.container("nodelete", "rwl");
    let log = Captured::default();
    let s = store(&url, options(), &log.logger());
    s.save("sid:1", &record("one")).unwrap();
    s.delete("sid:1").unwrap();
    assert_eq!(token(&s, "sid:1"), None);
    let fresh = store(&url, options(), &Logger::silent());
    assert!(fresh.load("sid:1").unwrap().is_none(), "another process");
    s.save("sid:2", &record("two")).unwrap();
    s.delete("sid:2").unwrap();
    s.delete("sid:never").unwrap();
    let warned = log
        .lines()
        .iter()
        .filter(|(_, m)| m.contains("no delete permission"))
        .count();
    assert_eq!(warned, 1, "{}", log.text());

    // Through the module, configured as on App Service: the SAS URL in the v1 variable.
    let idp = TestIdp::start();
    let mut vars = env();
    vars.insert("WEBSITE_AUTH_TOKEN_CONTAINER_SASURL".into(), url.clone());
    let settings = ezauth::config::parse(&config(&idp, "{}"), &vars).unwrap();
    assert!(matches!(
        settings.token_store,
        Some(ezauth::config::StoreSettings::Blob { .. })
    ));
    let node_a = Module::new(settings.clone(), Logger::silent()).unwrap();
    let node_b = Module::new(settings, Logger::silent()).unwrap();
    let r = through_provider(
        &node_a,
        &idp,
        "",
        json!({}),
        json!({"access_token": "the-access-token"}),
    );
    let cookie = session_cookie(&r);
    let auth = [("Cookie", cookie.as_str())];
    for node in [&node_a, &node_b] {
        let (_, o) = two_steps(node, "/page", &auth);
        assert!(principal(&o).is_some(), "signed in: {o:?}");
    }
    let o = run(&node_a, "GET", "/.auth/logout", &auth, b"");
    assert!(
        matches!(&o, Outcome::Finish(r) if r.status == 302),
        "logout: {o:?}"
    );
    let (_, o) = two_steps(&node_a, "/page", &auth);
    assert!(
        principal(&o).is_none(),
        "signed out at once where it signed out: {o:?}"
    );
    // The other node sees it once its copy is stale (the configured store's bound).
    std::thread::sleep(BlobOptions::for_http_timeout(Duration::from_secs(10)).staleness);
    for node in [&node_a, &node_b] {
        let (_, o) = two_steps(node, "/page", &auth);
        assert!(principal(&o).is_none(), "signed out everywhere: {o:?}");
    }
}

fn principal(o: &Outcome) -> Option<String> {
    match o {
        Outcome::Continue(f) => f
            .set
            .iter()
            .flat_map(|g| g.iter())
            .find(|(n, _)| n.eq_ignore_ascii_case("X-MS-CLIENT-PRINCIPAL-ID"))
            .map(|(_, v)| v.clone()),
        _ => None,
    }
}

#[test]
fn the_sas_never_reaches_a_log_line_or_an_error() {
    let mut azurite = Azurite::start();
    let url = azurite.container("secret", "rwl");
    let sig = url.split("sig=").nth(1).unwrap().to_owned();
    let log = Captured::default();
    let s = store(&url, options(), &log.logger());
    let mut errors = Vec::new();
    s.save("sid:1", &record("one")).unwrap();
    s.delete("sid:1").unwrap();
    // A SAS the service refuses: a wrong signature, a missing container.
    let forged = url.replace(&sig, "Zm9yZ2VkLXNpZ25hdHVyZQ%3D%3D");
    let bad = store(&forged, options(), &log.logger());
    errors.push(bad.load("sid:1").unwrap_err().to_string());
    errors.push(bad.save("sid:1", &record("x")).unwrap_err().to_string());
    let missing = url.replace("/secret?", "/nosuchcontainer?");
    errors.push(
        backend(&missing, options(), &Logger::silent())
            .check()
            .unwrap_err(),
    );
    assert!(errors[2].contains("List Blobs"), "{}", errors[2]);
    backend(&url, options(), &Logger::silent()).check().unwrap();
    // The service gone.
    azurite.stop();
    std::thread::sleep(options().staleness);
    errors.push(s.load("sid:1").unwrap_err().to_string());
    let s2 = store(&url, options(), &log.logger());
    errors.push(s2.save("sid:2", &record("x")).unwrap_err().to_string());
    for e in &errors {
        assert!(!e.contains(&sig) && !e.contains("sig="), "{e}");
    }
    assert!(errors[0].contains("403"), "{}", errors[0]);
    let text = log.text();
    assert!(!text.is_empty());
    assert!(!text.contains(&sig) && !text.contains("sig="), "{text}");
}

#[test]
fn with_the_store_down_signed_in_requests_reach_the_app_and_token_routes_answer_503() {
    let mut azurite = Azurite::start();
    let url = azurite.container("down", "rwdl");
    let idp = TestIdp::start();
    let mut vars = env();
    vars.insert("TOKENS_SAS".into(), url.clone());
    let mut doc: serde_json::Value = serde_json::from_str(&config(&idp, "{}")).unwrap();
    doc["login"]["tokenStore"] =
        json!({"enabled": true, "azureBlobStorage": {"sasUrlSettingName": "TOKENS_SAS"}});
    let settings = ezauth::config::parse(&doc.to_string(), &vars).unwrap();
    let log = Captured::default();
    let m = Module::new(settings, log.logger()).unwrap();
    let r = through_provider(
        &m,
        &idp,
        "",
        json!({}),
        json!({"access_token": "the-access-token"}),
    );
    let cookie = session_cookie(&r);
    let auth = [("Cookie", cookie.as_str())];

    azurite.stop();
    std::thread::sleep(BlobOptions::for_http_timeout(Duration::from_secs(10)).staleness);
    let t = Instant::now();
    let (blocked, o) = two_steps(&m, "/page", &auth);
    assert!(blocked, "the read happens in the blocking step");
    assert_eq!(principal(&o).as_deref(), Some("user-1"), "{o:?}");
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    log.says("unavailable");
    for route in ["/.auth/refresh", "/.auth/logout"] {
        let r = finished(run(&m, "GET", route, &auth, b""));
        assert_eq!(r.status, 503, "{route}: {}", log.text());
    }

    azurite.restart();
    azurite.create_container("down");
    std::thread::sleep(RETRY_AFTER);
    // In memory, the restarted service lost the record: the session stands, without tokens,
    // and logout works again.
    let (_, o) = two_steps(&m, "/page", &auth);
    assert!(principal(&o).is_some());
    let r = finished(run(&m, "GET", "/.auth/logout", &auth, b""));
    assert_eq!(r.status, 302, "{}", log.text());
}

/// A provider that rotates refresh tokens and refuses a spent one (RFC 9700 4.14.2), in front
/// of the scripted provider (which answers the sign-in).
struct Rotating {
    scripted: Arc<support::scripted::ScriptedIdp>,
    /// The one refresh token the provider would redeem now, and every one redeemed so far.
    state: Mutex<(String, Vec<String>)>,
}

impl HttpClient for Rotating {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let form: std::collections::HashMap<String, String> =
            form_urlencoded::parse(&request.body).into_owned().collect();
        if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
            return self.scripted.send(request);
        }
        let presented = form["refresh_token"].clone();
        let mut state = self.state.lock().unwrap();
        state.1.push(presented.clone());
        let (status, body) = if presented == state.0 {
            let next = format!("refresh-{}", state.1.len() + 1);
            state.0 = next.clone();
            // A provider call takes a while: others wait on the lease meanwhile.
            std::thread::sleep(Duration::from_millis(50));
            (
                200,
                json!({"access_token": format!("access-{}", state.1.len() + 1),
                    "refresh_token": next, "expires_in": 3600, "token_type": "Bearer"}),
            )
        } else {
            (400, json!({"error": "invalid_grant"}))
        };
        Ok(HttpResponse {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        })
    }
}

#[test]
fn concurrent_refreshes_on_two_nodes_never_spend_a_rotated_refresh_token_twice() {
    let azurite = Azurite::start();
    let url = azurite.container("refresh", "rwl");
    let scripted = support::scripted::ScriptedIdp::new();
    let provider = Arc::new(Rotating {
        scripted: scripted.clone(),
        state: Mutex::new(("refresh-1".into(), Vec::new())),
    });
    let mut vars = env();
    vars.insert("WEBSITE_AUTH_TOKEN_CONTAINER_SASURL".into(), url.clone());
    let settings = ezauth::config::parse(&support::scripted::config("{}"), &vars).unwrap();
    let node = |log: &Logger| {
        let store =
            ezauth::store::open(settings.token_store.as_ref(), &settings.keys, 1 << 20, log)
                .unwrap();
        Module::from_app(ezauth::app::App::from_parts(
            settings.clone(),
            provider.clone(),
            store,
            log.clone(),
            Arc::new(SystemClock),
        ))
    };
    let log = Captured::default();
    let nodes = [Arc::new(node(&log.logger())), Arc::new(node(&log.logger()))];
    let cookie = support::scripted::sign_in(&nodes[0], &scripted, Some("refresh-1"));

    let threads: Vec<_> = (0..16)
        .map(|i| {
            let (m, cookie) = (Arc::clone(&nodes[i % 2]), cookie.clone());
            std::thread::spawn(move || refresh_by_cookie(&m, &cookie).status)
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        statuses.iter().all(|s| *s == 200),
        "{statuses:?}\n{}",
        log.text()
    );

    let (current, presented) = provider.state.lock().unwrap().clone();
    let mut distinct = presented.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        presented.len(),
        "spent twice: {presented:?}"
    );
    // Each node's concurrent callers share one run; the node that takes the lease second
    // finds the tokens its callers saw already refreshed, and uses them: one provider call.
    assert_eq!(presented, ["refresh-1"], "{presented:?}");
    let reader = Sealed::new(
        backend(&url, options(), &Logger::silent()),
        settings.keys.clone(),
        1 << 20,
        &Logger::silent(),
    );
    let value = cookie.split_once('=').unwrap().1;
    let sid =
        ezauth::session::open_cookie(value, &settings.keys, &settings.app_id, SystemClock.now())
            .unwrap()
            .principal
            .sid;
    let stored = reader.load(&sid).unwrap().unwrap();
    assert_eq!(stored.refresh_token.as_deref(), Some(current.as_str()));
}

#[test]
fn the_startup_check_lists_the_container_and_names_the_setting_when_it_cannot() {
    let azurite = Azurite::start();
    let url = azurite.container("startup", "rwl");
    let idp = TestIdp::start();
    let worker = ezauth::store::access::Worker::current();
    let check = |sas: &str| {
        let mut vars = env();
        vars.insert("WEBSITE_AUTH_TOKEN_CONTAINER_SASURL".into(), sas.to_owned());
        let settings = ezauth::config::parse(&config(&idp, "{}"), &vars).unwrap();
        ezauth::store::check_access(settings.token_store.as_ref(), &worker)
    };
    check(&url).unwrap();
    for (bad, says) in [
        (azurite.sas_url("missing", "rwl"), "404 ContainerNotFound"),
        (azurite.sas_url("startup", "rw"), "403"),
        (url.replace("sig=", "sig=x"), "403"),
    ] {
        let e = check(&bad).unwrap_err();
        assert!(
            e.contains("WEBSITE_AUTH_TOKEN_CONTAINER_SASURL") && e.contains(says),
            "{e}"
        );
        assert!(!e.contains("sig="), "{e}");
    }
}
