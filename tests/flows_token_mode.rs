//! Token-mode logins (`session_mode=token`, the Mobile Apps SDKs) that fail end at
//! `/.auth/login/done#error=<message>` (or the allowed external URL the login named), where
//! the SDKs look for them, not on an error page; each failure is still logged. A callback
//! whose login state does not open has no token mode to read: it keeps its 400.

mod support;

use std::sync::Arc;

use ezauth::clock::ManualClock;
use serde_json::json;
use support::scripted::{self, Answer, ScriptedIdp};
use support::*;

fn start(m: &ezauth::pipeline::Module, query: &str) -> (String, String, String) {
    let r = finished(run(
        m,
        "GET",
        &format!("/.auth/login/idp?{query}"),
        &[],
        b"",
    ));
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
    login_started(&r)
}

fn callback_with(
    m: &ezauth::pipeline::Module,
    query: &str,
    cookie: &str,
) -> ezauth::http::Response {
    finished(run(
        m,
        "GET",
        &format!("/.auth/login/idp/callback?{query}"),
        &[("Cookie", cookie)],
        b"",
    ))
}

/// The message of a `#error=` landing at `base`, percent-decoded as the SDKs do.
fn error_at(r: &ezauth::http::Response, base: &str) -> String {
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
    let location = header(r, "Location").unwrap();
    let encoded = location
        .strip_prefix(&format!("{base}#error="))
        .unwrap_or_else(|| panic!("not an #error= landing at {base}: {location}"));
    assert!(
        !encoded.contains(' ') && !encoded.contains('+'),
        "{encoded}"
    );
    percent_encoding_decode(encoded)
}

fn percent_encoding_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("m={s}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned()
}

fn clears_the_login_state(r: &ezauth::http::Response) {
    assert!(
        r.headers
            .iter()
            .any(|(n, v)| n == "Set-Cookie" && v.contains("Max-Age=0")),
        "{:?}",
        r.headers
    );
}

#[test]
fn a_provider_refusal_in_token_mode_ends_at_done_with_the_error() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store) = scripted::module(&idp, "{}", log.logger());
    let (state, _, cookie) = start(&m, "session_mode=token");
    let r = callback_with(&m, &format!("state={state}&error=access_denied"), &cookie);
    let message = error_at(&r, "/.auth/login/done");
    assert!(message.contains("access_denied"), "{message}");
    clears_the_login_state(&r);
    log.says("provider idp reported \"access_denied\"");
    assert!(store.records().is_empty());
    assert_eq!(idp.count("POST /token"), 0);

    // The same refusal in a browser (cookie) login keeps its error page.
    let (state, _, cookie) = start(&m, "");
    let r = callback_with(&m, &format!("state={state}&error=access_denied"), &cookie);
    assert_eq!(r.status, 401);
}

#[test]
fn an_allowed_external_landing_gets_the_error_there() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let config = scripted::config("{}").replace(
        r#""login":{"tokenStore""#,
        r#""login":{"allowedExternalRedirectUrls":["https://client.example/cb"],"tokenStore""#,
    );
    let clock = Arc::new(ezauth::clock::SystemClock);
    let (m, _) = scripted::module_on(&idp, &config, log.logger(), clock);
    let (state, _, cookie) = start(
        &m,
        "session_mode=token&post_login_redirect_uri=https%3A%2F%2Fclient.example%2Fcb",
    );
    let r = callback_with(&m, &format!("state={state}&error=access_denied"), &cookie);
    error_at(&r, "https://client.example/cb");
}

#[test]
fn an_expired_replayed_or_mismatched_token_mode_state_ends_at_done_with_the_error() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let clock = Arc::new(ManualClock::starting_now());
    let (m, store) =
        scripted::module_on(&idp, &scripted::config("{}"), log.logger(), clock.clone());

    // expired
    let (state, _, cookie) = start(&m, "session_mode=token");
    clock.advance(3600);
    let r = callback_with(&m, &format!("code=c&state={state}"), &cookie);
    assert!(error_at(&r, "/.auth/login/done").contains("took too long"));
    log.says("callback: login state expired");

    // replayed: the first callback signs in, the second lands with the error
    let (state, nonce, cookie) = start(&m, "session_mode=token");
    idp.token_answer(scripted::token_answer(&idp, &nonce, json!({}), json!({})));
    let r = callback_with(&m, &format!("code=c&state={state}"), &cookie);
    assert!(header(&r, "Location")
        .unwrap()
        .starts_with("/.auth/login/done#token="));
    let r = callback_with(&m, &format!("code=c&state={state}"), &cookie);
    assert!(error_at(&r, "/.auth/login/done").contains("already used"));
    log.says("state already used (replay)");

    // the cookie of one token-mode login with the state of another
    let (_, _, cookie) = start(&m, "session_mode=token");
    let (other, _, _) = start(&m, "session_mode=token");
    let name = cookie.split_once('=').unwrap().0;
    let value = cookie.split_once('=').unwrap().1;
    let planted = format!("{}{}={value}", &name[..name.len() - 16], &other[..16]);
    let r = callback_with(&m, &format!("code=c&state={other}"), &planted);
    assert!(error_at(&r, "/.auth/login/done").contains("mismatch"));
    log.says("state does not match the login");
    assert_eq!(store.records().len(), 1, "only the one good sign-in");
}

#[test]
fn a_provider_failure_in_token_mode_ends_at_done_with_the_error() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store) = scripted::module(&idp, "{}", log.logger());
    let (state, _, cookie) = start(&m, "session_mode=token");
    idp.token_answer(Answer::Json(400, json!({"error": "invalid_grant"})));
    let r = callback_with(&m, &format!("code=c&state={state}"), &cookie);
    error_at(&r, "/.auth/login/done");
    log.says("callback with idp failed");
    assert!(store.records().is_empty());
}

/// Without a login state that opens there is no token mode to read (the client may be a
/// browser that must see why): 400, as before.
#[test]
fn a_state_that_does_not_open_keeps_its_400() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, _) = scripted::module(&idp, "{}", log.logger());
    let (state, _, cookie) = start(&m, "session_mode=token");
    let r = callback_with(&m, &format!("state={state}&error=access_denied"), "");
    assert_eq!(r.status, 400);
    let name = cookie.split_once('=').unwrap().0;
    let r = callback_with(
        &m,
        &format!("state={state}&error=access_denied"),
        &format!("{name}=garbage"),
    );
    assert_eq!(r.status, 400);
    log.says("no login state matches");
}
