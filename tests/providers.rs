//! The OpenID Connect provider against a small provider on loopback: no lock is held across a
//! fetch, so a slow key endpoint never delays a cache-only (event-loop) check.

mod support;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ezauth::clock::SystemClock;
use ezauth::http::Outcome;
use ezauth::io::Io;
use ezauth::outbound::{HttpClient, UreqClient};
use ezauth::providers::oidc::OidcProvider;
use ezauth::providers::{Bearer, Identity, Provider, ProviderError};
use serde_json::json;
use support::*;

/// The fetch takes this long; a cache-only call must come back well before.
const SLOW: Duration = Duration::from_secs(3);
const PROMPT: Duration = Duration::from_millis(500);

fn provider(idp: &TestIdp) -> Arc<OidcProvider> {
    let settings = ezauth::config::parse(&config(idp, "{}"), &env()).unwrap();
    let http: Arc<dyn HttpClient> = Arc::new(UreqClient::new(
        Duration::from_secs(2),
        Duration::from_secs(10),
    ));
    Arc::new(OidcProvider::new(
        settings.providers[0].clone(),
        http,
        Arc::new(SystemClock),
    ))
}

/// A client-directed login's check of an id_token.
fn client_token(p: &OidcProvider, token: &str, io: Io) -> Result<Identity, ProviderError> {
    p.validate_client_token(&[("id_token", token)], io)
}

/// Asking whether a JWT of some issuer is the provider's reads (and caches) its discovery.
fn cache_discovery(p: &OidcProvider) {
    let bearer = Bearer {
        token: "",
        issuer: Some("https://elsewhere.example"),
    };
    assert!(!p.accepts_bearer(&bearer, Io::Allowed).unwrap());
}

#[test]
fn a_cache_only_check_does_not_wait_for_a_first_key_fetch() {
    let idp = TestIdp::start();
    idp.behavior.lock().unwrap().jwks_delay = SLOW;
    let p = provider(&idp);
    cache_discovery(&p); // discovery is cached; the keys are not
    let token = idp.mint(json!({}));

    let fetcher = {
        let (p, token) = (p.clone(), token.clone());
        thread::spawn(move || client_token(&p, &token, Io::Allowed))
    };
    idp.wait_for("GET /keys", 1);
    let started = Instant::now();
    let r = client_token(&p, &token, Io::CacheOnly);
    let took = started.elapsed();
    assert!(
        took < PROMPT,
        "a cache-only check waited {took:?} for a key fetch"
    );
    assert!(matches!(r, Err(ProviderError::NeedsIo)), "{:?}", r.err());
    assert!(fetcher.join().unwrap().is_ok(), "the blocking fetch works");
    // And now the keys are cached: the cache-only path validates.
    assert!(client_token(&p, &token, Io::CacheOnly).is_ok());
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
    assert!(client_token(&p, &good, Io::Allowed).is_ok()); // keys cached
    idp.behavior.lock().unwrap().jwks_delay = SLOW;
    // A token naming a key we do not know starts a (slow) re-fetch in a blocking step...
    let unknown = sign_rs256(&idp.key, "rotated-key", &idp.claims(json!({})));
    let fetcher = {
        let p = p.clone();
        thread::spawn(move || client_token(&p, &unknown, Io::Allowed))
    };
    idp.wait_for("GET /keys", 2);
    // ...while a token signed with a known key is checked from the cache, at once.
    let started = Instant::now();
    let r = client_token(&p, &good, Io::CacheOnly);
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
    cache_discovery(&p);
    let token = idp.mint(json!({}));
    assert!(matches!(
        client_token(&p, &token, Io::CacheOnly),
        Err(ProviderError::NeedsIo)
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
    let bearer = format!("Bearer {}", idp.mint(json!({"scp": "user_impersonation"})));
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

fn config_error(json: &str) -> ezauth::config::ConfigError {
    match ezauth::config::parse(json, &env()) {
        Ok(_) => panic!("accepted: {json}"),
        Err(e) => e,
    }
}

fn custom(oc: &str) -> String {
    format!(
        r#"{{"identityProviders":{{"customOpenIdConnectProviders":{{"idp":{{
            "registration":{{"clientId":"c","openIdConnectConfiguration":{oc}}}}}}}}}}}"#
    )
}

#[test]
fn plain_http_endpoints_are_refused_in_the_configuration() {
    let base = "identityProviders.customOpenIdConnectProviders.idp.registration.openIdConnectConfiguration";
    let e = config_error(&custom(
        r#"{"wellKnownOpenIdConfiguration":"http://idp.example/.well-known/openid-configuration"}"#,
    ));
    assert_eq!(
        e.path,
        format!("{base}.wellKnownOpenIdConfiguration"),
        "{e}"
    );
    assert!(e.message.contains("https"), "{e}");
    for (field, oc) in [
        (
            "tokenEndpoint",
            r#"{"authorizationEndpoint":"https://idp.example/a","tokenEndpoint":"http://idp.example/t","certificationUri":"https://idp.example/k","issuer":"https://idp.example"}"#,
        ),
        (
            "certificationUri",
            r#"{"authorizationEndpoint":"https://idp.example/a","tokenEndpoint":"https://idp.example/t","certificationUri":"http://10.1.2.3/k","issuer":"https://idp.example"}"#,
        ),
        (
            "authorizationEndpoint",
            r#"{"authorizationEndpoint":"http://idp.example/a","tokenEndpoint":"https://idp.example/t","certificationUri":"https://idp.example/k","issuer":"https://idp.example"}"#,
        ),
    ] {
        let e = config_error(&custom(oc));
        assert_eq!(e.path, format!("{base}.{field}"), "{e}");
        assert!(e.message.contains("https"), "{e}");
    }
    let e = config_error(
        r#"{"identityProviders":{"azureActiveDirectory":{"registration":{
            "openIdIssuer":"http://login.example/tenant/v2.0","clientId":"c"}}}}"#,
    );
    assert_eq!(
        e.path,
        "identityProviders.azureActiveDirectory.registration.openIdIssuer"
    );
    // Loopback hosts may use plain http (tests, local development).
    for host in ["127.0.0.1:9", "localhost:9", "[::1]:9", "127.9.9.9"] {
        let json = custom(&format!(
            r#"{{"wellKnownOpenIdConfiguration":"http://{host}/.well-known/openid-configuration"}}"#
        ));
        assert!(ezauth::config::parse(&json, &env()).is_ok(), "{host}");
    }
}

#[test]
fn a_discovery_url_of_another_form_needs_the_issuer_configured() {
    let e = config_error(&custom(
        r#"{"wellKnownOpenIdConfiguration":"https://idp.example/b2c/v2.0/.well-known/openid-configuration?p=B2C_1_signin"}"#,
    ));
    assert!(e.path.ends_with("wellKnownOpenIdConfiguration"), "{e}");
    assert!(e.message.contains("issuer"), "{e}");
    assert!(ezauth::config::parse(
        &custom(
            r#"{"wellKnownOpenIdConfiguration":"https://idp.example/b2c/v2.0/.well-known/openid-configuration?p=B2C_1_signin",
                "issuer":"https://idp.example/tenant-id/v2.0/"}"#
        ),
        &env()
    )
    .is_ok());
}

#[test]
fn a_configured_issuer_is_the_one_discovery_must_name() {
    // Azure AD: `openIdIssuer` as written (with its trailing slash, as v1 issuers have it).
    let idp = TestIdp::start();
    let with_slash = format!("{}/", idp.issuer);
    idp.behavior.lock().unwrap().discovery_issuer = Some(with_slash.clone());
    let json = format!(
        r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}},
        "identityProviders":{{"azureActiveDirectory":{{"registration":{{
            "openIdIssuer":"{with_slash}","clientId":"{CLIENT_ID}"}}}}}},
        "httpSettings":{{"requireHttps":false}}}}"#
    );
    let settings = ezauth::config::parse(&json, &env()).unwrap();
    let m = ezauth::pipeline::Module::new(settings, ezauth::logger::Logger::silent()).unwrap();
    let r = finished(run(&m, "GET", "/.auth/login/aad", &[], b""));
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
}

#[test]
fn a_token_signed_with_a_short_rsa_key_is_refused() {
    let idp = TestIdp::start();
    let weak = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(1024).unwrap()).unwrap();
    idp.behavior.lock().unwrap().jwks = jwks_of(&weak, "weak");
    let p = provider(&idp);
    let token = sign_rs256(&weak, "weak", &idp.claims(json!({})));
    match client_token(&p, &token, Io::Allowed) {
        Err(ProviderError::Rejected(why)) => assert!(why.contains("1024"), "{why}"),
        other => panic!("{:?}", other.map(|i| i.subject)),
    }
}
