//! The OpenID Connect provider against a small provider on loopback: no lock is held across a
//! fetch, so a slow key endpoint never delays a cache-only (event-loop) check.

mod support;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ezauth::http::Outcome;
use ezauth::providers::oidc::OidcProvider;
use ezauth::providers::outbound::Http;
use ezauth::providers::{Network, Provider, ProviderError};
use serde_json::json;
use support::*;

/// The fetch takes this long; a cache-only call must come back well before.
const SLOW: Duration = Duration::from_secs(3);
const PROMPT: Duration = Duration::from_millis(500);

fn provider(idp: &TestIdp) -> Arc<OidcProvider> {
    let settings = ezauth::config::parse(&config(idp, "{}"), &env()).unwrap();
    let http = Arc::new(Http::new(Duration::from_secs(2), Duration::from_secs(10)));
    Arc::new(OidcProvider::new(settings.providers[0].clone(), http))
}

#[test]
fn a_cache_only_check_does_not_wait_for_a_first_key_fetch() {
    let idp = TestIdp::start();
    idp.behavior.lock().unwrap().jwks_delay = SLOW;
    let p = provider(&idp);
    p.issuer(Network::Allowed).unwrap(); // discovery is cached; the keys are not
    let token = idp.mint(json!({}));

    let fetcher = {
        let (p, token) = (p.clone(), token.clone());
        thread::spawn(move || p.validate_token(&token, Network::Allowed))
    };
    idp.wait_for("GET /keys", 1);
    let started = Instant::now();
    let r = p.validate_token(&token, Network::CacheOnly);
    let took = started.elapsed();
    assert!(
        took < PROMPT,
        "a cache-only check waited {took:?} for a key fetch"
    );
    assert!(
        matches!(r, Err(ProviderError::NeedsNetwork)),
        "{:?}",
        r.err()
    );
    assert!(fetcher.join().unwrap().is_ok(), "the blocking fetch works");
    // And now the keys are cached: the cache-only path validates.
    assert!(p.validate_token(&token, Network::CacheOnly).is_ok());
}

#[test]
fn a_cache_only_check_does_not_wait_for_a_key_refetch() {
    let idp = TestIdp::start();
    let p = Arc::new(
        Arc::try_unwrap(provider(&idp))
            .ok()
            .unwrap()
            .with_jwks_refetch_interval(Duration::ZERO),
    );
    let good = idp.mint(json!({}));
    assert!(p.validate_token(&good, Network::Allowed).is_ok()); // keys cached
    idp.behavior.lock().unwrap().jwks_delay = SLOW;
    // A token naming a key we do not know starts a (slow) re-fetch in a blocking step...
    let unknown = sign_rs256(&idp.key, "rotated-key", &idp.claims(json!({})));
    let fetcher = {
        let p = p.clone();
        thread::spawn(move || p.validate_token(&unknown, Network::Allowed))
    };
    idp.wait_for("GET /keys", 2);
    // ...while a token signed with a known key is checked from the cache, at once.
    let started = Instant::now();
    let r = p.validate_token(&good, Network::CacheOnly);
    let took = started.elapsed();
    assert!(
        took < PROMPT,
        "a cache-only check waited {took:?} for a key fetch"
    );
    assert!(r.is_ok(), "{:?}", r.err());
    assert!(matches!(
        fetcher.join().unwrap(),
        Err(ProviderError::Rejected(_))
    ));
}

#[test]
fn the_non_blocking_path_never_fetches_keys() {
    let idp = TestIdp::start();
    let p = provider(&idp);
    p.issuer(Network::Allowed).unwrap();
    let token = idp.mint(json!({}));
    assert!(matches!(
        p.validate_token(&token, Network::CacheOnly),
        Err(ProviderError::NeedsNetwork)
    ));
    assert_eq!(idp.count("GET /keys"), 0, "{:?}", idp.requests());
}

/// The audit's case through the pipeline: a bearer token in a blocking step waits on a slow key
/// endpoint; requests on the event loop meanwhile (anonymous, or bearer) are answered at once:
/// the bearer one is handed to a blocking step instead of waiting for the fetch.
#[test]
fn a_slow_key_fetch_delays_no_other_request() {
    let idp = TestIdp::start();
    let m = Arc::new(module(&idp, "{}", Captured::default().logger()));
    // A login start caches the discovery document, not the keys.
    let r = finished(run(&m, "GET", "/.auth/login/idp", &[], b""));
    assert_eq!(r.status, 302);
    idp.behavior.lock().unwrap().jwks_delay = SLOW;
    let bearer = format!("Bearer {}", idp.mint(json!({})));
    let slow = {
        let (m, bearer) = (m.clone(), bearer.clone());
        thread::spawn(move || run(&m, "GET", "/app", &[("Authorization", &bearer)], b""))
    };
    idp.wait_for("GET /keys", 1);
    for (headers, blocking) in [
        (vec![], false),
        (vec![("Authorization", bearer.as_str())], true),
    ] {
        let req = ezauth::http::Request {
            method: "GET",
            target: "/app",
            scheme: "http",
            host: "app.example",
            client_addr: "127.0.0.1",
            headers,
            body: b"",
        };
        let started = Instant::now();
        let o = m.begin_request(&req);
        let took = started.elapsed();
        assert!(took < PROMPT, "a request on the event loop waited {took:?}");
        if blocking {
            assert!(matches!(o, Outcome::Blocking(_)), "{o:?}");
        } else {
            assert!(matches!(o, Outcome::Continue(_)), "{o:?}");
        }
    }
    assert!(matches!(slow.join().unwrap(), Outcome::Continue(_)));
}
