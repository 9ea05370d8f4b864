//! Same-origin redirect targets are kept whatever their query or fragment holds (issue 7,
//! item 8), through the whole round trip: the login's `post_login_redirect_uri` sealed into the
//! state and written into the callback's `Location` unchanged, the original URL of a request
//! sent to the login page, and `post_logout_redirect_uri`. The path part is still judged in
//! every form, so what a browser resolves from `Location` stays on the origin.

mod support;

use ezauth::http::Outcome;
use ezauth::pipeline::Module;
use serde_json::json;
use support::*;

/// Targets whose path is same-origin and whose query or fragment holds a URL (raw, encoded,
/// scheme-relative, backslashed when encoded): each must come back as given.
const KEPT: &[&str] = &[
    "/app?returnUrl=https://x.example/",
    "/app?returnUrl=https%3A%2F%2Fx.example%2F",
    "/a?next=//evil.example",
    "/a?next=///evil.example/",
    "/a?u=http%3A%2F%2Fx",
    "/a?u=%2F%2Fevil.example",
    "/a?u=%5C%5Cevil.example",
    "/a?u=%0D%0ASet-Cookie:%20x=1",
    "/a#https://x.example",
    "/a#//evil.example",
    "/#/route?next=https://x.example/",
    "/a?x=javascript:alert(1)",
    "/a?@evil.example",
    "/a/b?c=d?e#f#g",
    "/redirect?url=//example.com&next=//example.com",
];

/// Targets whose path part would take a browser (or a decoding layer) elsewhere, whatever the
/// query says: still 400.
const REFUSED: &[&str] = &[
    "//evil.example?next=/a",
    "/%2F%2Fevil.example?next=/a",
    "/%2f/evil.example#/a",
    "/%5Cevil.example?x=/a",
    "/a/..//evil.example?x",
    "/https:evil.example?x=/",
    "/a%0d%0a?x",
    "/a\tb?x",
    "/a\\b?x",
    "/a?x=\\evil.example",
    "https://evil.example?@app.example/",
    "https://evil.example#@app.example/",
    "https://evil.example/?next=http://app.example/",
];

fn app(idp: &TestIdp) -> Module {
    module(idp, "{}", Captured::default().logger())
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn a_kept_target_survives_the_login_round_trip_unchanged() {
    let idp = TestIdp::start();
    let m = app(&idp);
    for target in KEPT {
        for name in ["post_login_redirect_uri", "post_login_redirect_url"] {
            let query = format!("{name}={}", encode(target));
            let r = through_provider(&m, &idp, &query, json!({}), json!({}));
            assert_eq!(r.status, 302, "{target}");
            assert_eq!(header(&r, "Location"), Some(*target), "{name}={target}");
        }
    }
}

#[test]
fn a_refused_target_is_400_before_the_provider_is_asked() {
    let idp = TestIdp::start();
    let m = app(&idp);
    for target in REFUSED {
        let query = format!("post_login_redirect_uri={}", encode(target));
        let r = finished(run(
            &m,
            "GET",
            &format!("/.auth/login/idp?{query}"),
            &[],
            b"",
        ));
        assert_eq!(r.status, 400, "{target:?}");
        let query = format!("post_logout_redirect_uri={}", encode(target));
        let r = finished(run(&m, "GET", &format!("/.auth/logout?{query}"), &[], b""));
        assert_eq!(r.status, 400, "logout {target:?}");
    }
}

#[test]
fn logout_keeps_the_target_too() {
    let idp = TestIdp::start();
    let m = app(&idp);
    for target in KEPT {
        let query = format!("post_logout_redirect_uri={}", encode(target));
        let r = finished(run(&m, "GET", &format!("/.auth/logout?{query}"), &[], b""));
        assert_eq!(r.status, 302, "{target}");
        assert_eq!(header(&r, "Location"), Some(*target), "{target}");
    }
}

#[test]
fn the_login_page_brings_the_browser_back_to_the_url_it_asked_for() {
    let idp = TestIdp::start();
    let config = config(&idp, "{}").replace(
        r#""unauthenticatedClientAction":"AllowAnonymous""#,
        r#""unauthenticatedClientAction":"RedirectToLoginPage","redirectToProvider":"idp""#,
    );
    let settings = ezauth::config::parse(&config, &env()).unwrap();
    let m = Module::new(settings, Captured::default().logger()).unwrap();
    for target in [
        "/app?returnUrl=https://x.example/",
        "/a?next=//evil.example",
        "/a?u=http%3A%2F%2Fx",
    ] {
        let r = finished(run(&m, "GET", target, &[], b""));
        assert_eq!(r.status, 302, "{target}");
        let state_cookie = header(&r, "Set-Cookie").unwrap().split(';').next().unwrap();
        let location = url::Url::parse(header(&r, "Location").unwrap()).unwrap();
        let state = location
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        let nonce = location
            .query_pairs()
            .find(|(k, _)| k == "nonce")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        idp.behavior.lock().unwrap().token_response = json!({
            "id_token": idp.mint(json!({"nonce": nonce})), "expires_in": 3600,
            "token_type": "Bearer"});
        let back = finished(run(
            &m,
            "GET",
            &format!("/.auth/login/idp/callback?code=c&state={state}"),
            &[("Cookie", state_cookie)],
            b"",
        ));
        assert_eq!(header(&back, "Location"), Some(target), "{target}");
    }
    // A target that reads as another host still falls back to the root.
    let r = finished(run(&m, "GET", "//evil.example/?x=1", &[], b""));
    assert!(matches!(r.status, 302 | 400), "{}", r.status);
    let Outcome::Finish(_) = run(&m, "GET", "/ok", &[], b"") else {
        panic!("an anonymous request to a protected path is answered");
    };
}
