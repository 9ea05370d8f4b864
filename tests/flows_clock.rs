//! Time on the request path, by the app's clock (a `ManualClock` the tests move, so nothing
//! waits): a session past its lifetime is anonymous, the refresh route's extension window
//! (`tokenRefreshExtensionHours`) opens and closes, a login state expires, a provider's token
//! expires, and a token naming an unknown key re-fetches the keys once the interval passed.

mod support;

use std::sync::Arc;

use ezauth::clock::{Clock, ManualClock};
use ezauth::http::Outcome;
use ezauth::pipeline::Module;
use serde_json::json;
use support::scripted::{self, Answer, MemoryStore, ScriptedIdp};
use support::*;

const HOUR: i64 = 3600;

/// Sessions of one hour, a refresh window of two, login states of five minutes.
fn module(idp: &Arc<ScriptedIdp>, log: &Captured) -> (Module, Arc<MemoryStore>, Arc<ManualClock>) {
    let json = scripted::config("{}").replace(
        r#""tokenStore":{"enabled":true"#,
        r#""cookieExpiration":{"convention":"FixedTime","timeToExpiration":"01:00:00"},
           "nonce":{"nonceExpirationInterval":"00:05:00"},
           "tokenStore":{"tokenRefreshExtensionHours":2.0,"enabled":true"#,
    );
    let clock = Arc::new(ManualClock::starting_now());
    let (m, store) = scripted::module_on(idp, &json, log.logger(), clock.clone());
    (m, store, clock)
}

fn status(m: &Module, target: &str, cookie: &str) -> u16 {
    finished(run(m, "GET", target, &[("Cookie", cookie)], b"")).status
}

#[test]
fn a_session_cookie_past_its_lifetime_is_refused() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, _, clock) = module(&idp, &log);
    let cookie = scripted::sign_in(&m, &idp, None);
    let started = clock.now();
    clock.set(started + HOUR - 1);
    assert_eq!(status(&m, "/.auth/me", &cookie), 200, "{}", log.text());
    clock.set(started + HOUR);
    assert_eq!(status(&m, "/.auth/me", &cookie), 401, "{}", log.text());
    // Past the refresh window too: the cookie is cleared, with a line that says why.
    clock.set(started + 3 * HOUR);
    let r = finished(run(&m, "GET", "/.auth/me", &[("Cookie", &cookie)], b""));
    assert_eq!(r.status, 401);
    log.says("session expired at");
}

#[test]
fn the_refresh_window_opens_at_expiry_and_closes_after_the_extension_hours() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store, clock) = module(&idp, &log);
    let cookie = scripted::sign_in(&m, &idp, Some("refresh-1"));
    let started = clock.now();
    idp.token_answer(Answer::Json(
        200,
        json!({"access_token": "access-2", "refresh_token": "refresh-2"}),
    ));
    // Expired an hour and a half ago by the session, inside the two-hour window: anonymous
    // everywhere but /.auth/refresh, which renews it.
    clock.set(started + HOUR + 90 * 60);
    assert_eq!(status(&m, "/.auth/me", &cookie), 401);
    let r = refresh_by_cookie(&m, &cookie);
    assert_eq!(r.status, 200, "{}", log.text());
    assert_eq!(store.only().refresh_token.as_deref(), Some("refresh-2"));
    let renewed = session_cookie(&r);
    assert_eq!(status(&m, "/.auth/me", &renewed), 200);
    // The old cookie, past the window: nobody, and the provider is not asked.
    clock.set(started + 3 * HOUR + 1);
    let calls = idp.count("POST /token");
    assert_eq!(status(&m, "/.auth/refresh", &cookie), 401, "{}", log.text());
    assert_eq!(idp.count("POST /token"), calls);
    assert_eq!(store.only().refresh_token.as_deref(), Some("refresh-2"));
}

#[test]
fn a_login_state_expires() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store, clock) = module(&idp, &log);
    let (state, nonce, cookie) = scripted::start_login(&m);
    idp.token_answer(scripted::token_answer(&idp, &nonce, json!({}), json!({})));
    clock.advance(5 * 60);
    let r = scripted::callback(&m, &state, &cookie);
    assert_eq!(r.status, 400, "{}", log.text());
    log.says("callback: login state expired");
    assert_eq!(idp.count("POST /token"), 0);
    assert!(store.records().is_empty());
}

#[test]
fn a_provider_s_token_expires_by_the_app_s_clock() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store, clock) = module(&idp, &log);
    let token = idp.mint(json!({})); // valid for an hour from now
    clock.advance(HOUR + 5 * 60 + 1); // past exp and the five minutes of skew
    let r = finished(run(
        &m,
        "POST",
        "/.auth/login/idp",
        &[],
        json!({ "id_token": token }).to_string().as_bytes(),
    ));
    assert_eq!(r.status, 401, "{}", log.text());
    log.says("token expired at");
    assert!(store.records().is_empty());
}

#[test]
fn a_token_naming_an_unknown_key_refetches_the_keys_once_the_interval_passed() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, _, clock) = module(&idp, &log);
    let post = |token: &str| {
        finished(run(
            &m,
            "POST",
            "/.auth/login/idp",
            &[],
            json!({ "id_token": token }).to_string().as_bytes(),
        ))
        .status
    };
    assert_eq!(post(&idp.mint(json!({}))), 200, "{}", log.text());
    assert_eq!(idp.count("GET /keys"), 1);
    // The provider rolls over to a new key and publishes it.
    let rotated = scripted::another_key();
    idp.jwks(jwks_of(&rotated, "key-2"));
    let token = sign_rs256(&rotated, "key-2", &idp.claims(json!({})));
    clock.advance(10);
    assert_eq!(post(&token), 401, "{}", log.text());
    assert_eq!(idp.count("GET /keys"), 1, "re-fetched within the interval");
    clock.advance(30);
    assert_eq!(post(&token), 200, "{}", log.text());
    assert_eq!(idp.count("GET /keys"), 2);
}

#[test]
fn a_bearer_token_is_checked_against_the_app_s_clock() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, _, clock) = module(&idp, &log);
    let token = idp.mint(json!({"scp": "user_impersonation"}));
    let get = || {
        run(
            &m,
            "GET",
            "/app",
            &[("Authorization", &format!("Bearer {token}"))],
            b"",
        )
    };
    assert!(matches!(get(), Outcome::Continue(_)));
    clock.advance(2 * HOUR);
    assert_eq!(finished(get()).status, 401);
    log.says("token expired at");
}
