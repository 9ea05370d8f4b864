//! Cookie tossing (the second audit, item 3) through the pipeline: a sibling subdomain plants
//! session cookies with `Domain=` (and any `Path`). A junk part never fails a good session; two
//! different sessions are refused, never guessed; every clearing also names the planted
//! variants; a sign-in that did not stick ends on an error page, not in a redirect loop; and
//! with `ezauth.cookies.hostPrefix` the cookies are `__Host-` and unprefixed ones are ignored.

mod support;

use ezauth::http::{Outcome, Request, Response};
use ezauth::logger::Level;
use ezauth::pipeline::Module;
use serde_json::json;
use support::*;

const HOST: &str = "app.example.com";

/// A module that sends anonymous browsers to the provider; `extra` is appended to the config.
fn app(idp: &TestIdp, https: bool, extra: &str, log: &Captured) -> Module {
    let config = config(idp, "{}")
        .replace(
            r#""unauthenticatedClientAction":"AllowAnonymous""#,
            r#""unauthenticatedClientAction":"RedirectToLoginPage","redirectToProvider":"idp""#,
        )
        .replace(
            r#""requireHttps":false}"#,
            &format!(r#""requireHttps":{https}}}{extra}"#),
        );
    let settings = ezauth::config::parse(&config, &env()).unwrap_or_else(|e| panic!("{e}"));
    Module::new(settings, log.logger()).unwrap()
}

/// One request to `HOST` (https or not), blocking steps inline.
fn at(m: &Module, https: bool, target: &str, headers: &[(&str, &str)]) -> Outcome {
    let req = Request {
        method: "GET",
        target,
        scheme: if https { "https" } else { "http" },
        host: HOST,
        client_addr: "127.0.0.1",
        headers: headers.to_vec(),
        body: b"",
    };
    match m.begin_request(&req) {
        Outcome::Blocking(owned) => m.run_blocking(&owned),
        other => other,
    }
}

fn set_cookies(headers: &[(String, String)]) -> Vec<String> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Set-Cookie"))
        .map(|(_, v)| v.clone())
        .collect()
}

/// `name=value` of each Set-Cookie that stores a value (not a deletion).
fn stored(headers: &[(String, String)]) -> Vec<String> {
    set_cookies(headers)
        .iter()
        .filter(|c| !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .collect()
}

/// `(name, Domain, Path)` of each deletion.
fn deletions(headers: &[(String, String)]) -> Vec<(String, Option<String>, String)> {
    set_cookies(headers)
        .iter()
        .filter(|c| c.contains("Max-Age=0"))
        .map(|c| {
            let mut parts = c.split("; ");
            let name = parts.next().unwrap().trim_end_matches('=').to_owned();
            let mut domain = None;
            let mut path = String::new();
            for p in parts {
                if let Some(d) = p.strip_prefix("Domain=") {
                    domain = Some(d.to_owned());
                }
                if let Some(v) = p.strip_prefix("Path=") {
                    path = v.to_owned();
                }
            }
            (name, domain, path)
        })
        .collect()
}

fn del(name: &str, domain: Option<&str>, path: &str) -> (String, Option<String>, String) {
    (name.to_owned(), domain.map(str::to_owned), path.to_owned())
}

/// Signs `sub` in through the browser flow; returns the Set-Cookie values of the callback.
fn sign_in(m: &Module, idp: &TestIdp, https: bool, sub: &str, cookies: &str) -> Response {
    let r = finished(at(
        m,
        https,
        "/.auth/login/idp?post_login_redirect_uri=/app",
        &[],
    ));
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
    let location = url::Url::parse(header(&r, "Location").unwrap()).unwrap();
    let q = |name: &str| {
        location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let state_cookie = header(&r, "Set-Cookie").unwrap().split(';').next().unwrap();
    let id_token = idp.mint(json!({ "nonce": q("nonce"), "sub": sub, "name": sub }));
    idp.behavior.lock().unwrap().token_response = json!({
        "id_token": id_token, "access_token": "access-0123456789", "expires_in": 3600,
        "token_type": "Bearer"});
    let cookie = if cookies.is_empty() {
        state_cookie.to_owned()
    } else {
        format!("{cookies}; {state_cookie}")
    };
    let r = finished(at(
        m,
        https,
        &format!("/.auth/login/idp/callback?code=c&state={}", q("state")),
        &[("Cookie", &cookie)],
    ));
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
    r
}

/// The session cookie pair (`name=value`) a callback stored.
fn session_of(r: &Response, prefix: &str) -> String {
    stored(&r.headers)
        .into_iter()
        .find(|c| c.starts_with(&format!("{prefix}AppServiceAuthSession=")))
        .expect("a session cookie")
}

/// Who the application is told the caller is (`None`: anonymous or not passed on).
fn who(o: &Outcome) -> Option<String> {
    match o {
        Outcome::Continue(f) => f
            .set_headers()
            .find(|(n, _)| n == "X-MS-CLIENT-PRINCIPAL-ID")
            .map(|(_, v)| v.clone()),
        _ => None,
    }
}

fn response_headers(o: &Outcome) -> &[(String, String)] {
    match o {
        Outcome::Continue(f) => &f.response_add,
        Outcome::Finish(r) => &r.headers,
        Outcome::Blocking(_) => &[],
    }
}

fn is_provider_redirect(o: &Outcome, idp: &TestIdp) -> bool {
    matches!(o, Outcome::Finish(r) if r.status == 302
        && header(r, "Location").is_some_and(|l| l.starts_with(&idp.issuer)))
}

#[test]
fn a_planted_session_beside_the_victim_s_is_refused_and_every_variant_deleted() {
    let idp = TestIdp::start();
    let log = Captured::default();
    let m = app(&idp, false, "", &log);
    let victim = session_of(&sign_in(&m, &idp, false, "alice", ""), "");
    let attacker = session_of(&sign_in(&m, &idp, false, "mallory", ""), "");
    // control: each alone signs in as its user
    assert_eq!(
        who(&at(&m, false, "/app", &[("Cookie", &victim)])).as_deref(),
        Some("alice")
    );
    assert_eq!(
        who(&at(&m, false, "/app", &[("Cookie", &attacker)])).as_deref(),
        Some("mallory")
    );
    for header in [
        format!("{attacker}; {victim}"),
        format!("{victim}; {attacker}"),
        format!("{victim}; other=1; {attacker}"),
    ] {
        let o = at(&m, false, "/app/page", &[("Cookie", &header)]);
        assert_eq!(who(&o), None, "{header:.80}");
        assert!(
            is_provider_redirect(&o, &idp),
            "anonymous: off to sign in again: {o:?}"
        );
        let d = deletions(response_headers(&o));
        for want in [
            del("AppServiceAuthSession", None, "/"),
            del("AppServiceAuthSession", Some("example.com"), "/"),
            del("AppServiceAuthSession", Some(HOST), "/"),
            del("AppServiceAuthSession", Some("example.com"), "/app"),
            del("AppServiceAuthSession", Some("example.com"), "/app/"),
            del("AppServiceAuthSession", Some("example.com"), "/app/page"),
        ] {
            assert!(d.contains(&want), "{want:?} not in {d:?}");
        }
    }
    let text = log.text();
    assert!(
        text.contains("two different sessions") && text.contains("sid:"),
        "the log names the refusal and both sessions: {text}"
    );
}

#[test]
fn a_junk_part_is_ignored_and_deleted_with_its_domain() {
    let idp = TestIdp::start();
    let m = app(&idp, false, "", &Captured::default());
    let victim = session_of(&sign_in(&m, &idp, false, "alice", ""), "");
    for junk in [
        "AppServiceAuthSession1=junk",
        "AppServiceAuthSession=junk",
        "AppServiceAuthSession=",
        "AppServiceAuthSession7=%%%",
        "AppServiceAuthSession9=x",
    ] {
        for header in [format!("{junk}; {victim}"), format!("{victim}; {junk}")] {
            let o = at(&m, false, "/app", &[("Cookie", &header)]);
            assert_eq!(who(&o).as_deref(), Some("alice"), "{header:.80}");
            let d = deletions(response_headers(&o));
            if junk.starts_with("AppServiceAuthSession9") {
                // not a name of ours: neither used nor deleted
                assert!(d.is_empty(), "{d:?}");
                continue;
            }
            assert!(
                d.contains(&del("AppServiceAuthSession", Some("example.com"), "/")),
                "{junk}: {d:?}"
            );
            assert!(
                !d.contains(&del("AppServiceAuthSession", None, "/")),
                "the victim's own cookie is never deleted: {d:?}"
            );
            assert!(
                d.iter().all(|(_, dom, _)| dom.as_deref() != Some(HOST)),
                "never Domain= the host itself while its session is in use: {d:?}"
            );
        }
    }
    // The usual request costs no Set-Cookie at all.
    let o = at(&m, false, "/app", &[("Cookie", &victim)]);
    assert!(set_cookies(response_headers(&o)).is_empty());
}

#[test]
fn the_callback_deletes_planted_variants_before_it_writes_the_session() {
    let idp = TestIdp::start();
    let m = app(&idp, false, "", &Captured::default());
    let attacker = session_of(&sign_in(&m, &idp, false, "mallory", ""), "");
    let r = sign_in(
        &m,
        &idp,
        false,
        "alice",
        &format!("{attacker}; AppServiceAuthSession1=junk"),
    );
    let all = set_cookies(&r.headers);
    let write = all
        .iter()
        .position(|c| c.starts_with("AppServiceAuthSession=") && !c.contains("Max-Age=0"))
        .expect("the new session");
    let planted: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, c)| c.contains("; Domain="))
        .map(|(i, _)| i)
        .collect();
    assert!(!planted.is_empty(), "{all:#?}");
    assert!(planted.iter().all(|i| *i < write), "{all:#?}");
    for name in ["AppServiceAuthSession", "AppServiceAuthSession1"] {
        assert!(
            deletions(&r.headers).contains(&del(name, Some("example.com"), "/")),
            "{all:#?}"
        );
    }
    // and the marker of the sign-in
    assert!(stored(&r.headers)
        .iter()
        .any(|c| c.starts_with("AppServiceAuthLoginDone=")));
}

#[test]
fn a_sign_in_that_did_not_stick_ends_on_an_error_page() {
    let idp = TestIdp::start();
    let log = Captured::default();
    let m = app(&idp, false, "", &log);
    let r = sign_in(&m, &idp, false, "alice", "");
    let marker = stored(&r.headers)
        .into_iter()
        .find(|c| c.starts_with("AppServiceAuthLoginDone="))
        .expect("the callback leaves a marker");
    let session = session_of(&r, "");
    let before = idp.requests().len();
    // The browser came back without the session (blocked, evicted), or with only junk in its
    // place: an error page, not another trip to the provider.
    for cookies in [
        marker.clone(),
        format!("{marker}; AppServiceAuthSession=junk"),
        format!("AppServiceAuthSession1=junk; {marker}"),
    ] {
        for target in ["/app", "/app/page?x=1", "/.auth/login/idp"] {
            let o = at(&m, false, target, &[("Cookie", &cookies)]);
            let Outcome::Finish(page) = &o else {
                panic!("{o:?}")
            };
            assert_eq!(page.status, 400, "{target} with {cookies}");
            let body = String::from_utf8_lossy(&page.body);
            assert!(
                body.contains("did not stick") && body.contains("example.com"),
                "{body}"
            );
            let d = deletions(&page.headers);
            assert!(
                d.contains(&del("AppServiceAuthLoginDone", None, "/")),
                "{d:?}"
            );
            assert!(
                d.contains(&del("AppServiceAuthSession", Some("example.com"), "/")),
                "{d:?}"
            );
        }
    }
    assert_eq!(idp.requests().len(), before, "no provider call");
    assert!(log
        .lines()
        .iter()
        .any(|(l, m)| *l == Level::Warn && m.contains("login loop stopped")));
    // With the session it is an ordinary signed-in request that consumes the marker...
    let o = at(
        &m,
        false,
        "/app",
        &[("Cookie", &format!("{session}; {marker}"))],
    );
    assert_eq!(who(&o).as_deref(), Some("alice"));
    assert_eq!(
        deletions(response_headers(&o)),
        vec![del("AppServiceAuthLoginDone", None, "/")]
    );
    // ... and a signed-in user may start another sign-in, a token-mode one too.
    let o = at(
        &m,
        false,
        "/.auth/login/idp",
        &[("Cookie", &format!("{session}; {marker}"))],
    );
    assert!(is_provider_redirect(&o, &idp), "{o:?}");
    // A session that came back but was signed out meanwhile (another device's logout
    // everywhere) did stick: off to sign in again, no error page.
    let o = at(&m, false, "/.auth/logout", &[("Cookie", &session)]);
    assert!(matches!(&o, Outcome::Finish(r) if r.status == 302), "{o:?}");
    let o = at(
        &m,
        false,
        "/app",
        &[("Cookie", &format!("{session}; {marker}"))],
    );
    assert_eq!(who(&o), None);
    assert!(is_provider_redirect(&o, &idp), "{o:?}");
    // Without the marker, or with a stale or future one, anonymous browsers go to sign in.
    let now = now();
    for cookies in [
        String::new(),
        format!("AppServiceAuthLoginDone={}", now - 61),
        format!("AppServiceAuthLoginDone={}", now + 3600),
        "AppServiceAuthLoginDone=x".to_owned(),
    ] {
        let o = at(&m, false, "/app", &[("Cookie", &cookies)]);
        assert!(is_provider_redirect(&o, &idp), "{cookies}: {o:?}");
    }
}

#[test]
fn logout_deletes_the_domain_variants_and_path_variants_of_a_duplicate() {
    let idp = TestIdp::start();
    let m = app(&idp, false, "", &Captured::default());
    let victim = session_of(&sign_in(&m, &idp, false, "alice", ""), "");
    let o = at(&m, false, "/.auth/logout", &[("Cookie", &victim)]);
    let d = deletions(response_headers(&o));
    for want in [
        del("AppServiceAuthSession", None, "/"),
        del("AppServiceAuthSession", Some("example.com"), "/"),
        del("AppServiceAuthSession", Some(HOST), "/"),
    ] {
        assert!(d.contains(&want), "{want:?} in {d:?}");
    }
    let o = at(
        &m,
        false,
        "/.auth/logout",
        &[("Cookie", &format!("AppServiceAuthSession=junk; {victim}"))],
    );
    let d = deletions(response_headers(&o));
    assert!(
        d.contains(&del("AppServiceAuthSession", Some("example.com"), "/.auth")),
        "{d:?}"
    );
    assert!(
        d.contains(&del(
            "AppServiceAuthSession",
            Some("example.com"),
            "/.auth/logout"
        )),
        "{d:?}"
    );
    assert!(d.len() <= ezauth::session::cookies::MAX_DELETES);
}

#[test]
fn with_the_host_prefix_cookies_are_host_only_secure_and_planted_ones_ignored() {
    let idp = TestIdp::start();
    let m = app(
        &idp,
        true,
        r#","ezauth":{"cookies":{"hostPrefix":true}}"#,
        &Captured::default(),
    );
    // the login state cookie
    let r = finished(at(&m, true, "/.auth/login/idp", &[]));
    let state = header(&r, "Set-Cookie").unwrap();
    assert!(state.starts_with("__Host-AppServiceAuthLogin_"), "{state}");
    assert!(state.contains("; Path=/;") && state.contains("; Secure") && !state.contains("Domain"));
    // the session and the marker
    let r = sign_in(&m, &idp, true, "alice", "");
    for c in set_cookies(&r.headers) {
        assert!(c.starts_with("__Host-"), "{c}");
        assert!(
            c.contains("; Path=/;") && c.contains("; Secure") && !c.contains("Domain"),
            "{c}"
        );
    }
    let victim = session_of(&r, "__Host-");
    let marker = stored(&r.headers)
        .into_iter()
        .find(|c| c.starts_with("__Host-AppServiceAuthLoginDone="))
        .unwrap();
    assert_eq!(
        who(&at(&m, true, "/app", &[("Cookie", &victim)])).as_deref(),
        Some("alice")
    );
    // a session in App Service's name (planted, or from before the setting) is not ours
    let plain = app(&idp, false, "", &Captured::default());
    let attacker = session_of(&sign_in(&plain, &idp, false, "mallory", ""), "");
    let o = at(&m, true, "/app", &[("Cookie", &attacker)]);
    assert!(is_provider_redirect(&o, &idp), "{o:?}");
    assert!(set_cookies(response_headers(&o))
        .iter()
        .all(|c| !c.contains("AppServiceAuthSession")));
    for header in [
        format!("{attacker}; {victim}"),
        format!("{victim}; {attacker}"),
    ] {
        let o = at(&m, true, "/app", &[("Cookie", &header)]);
        assert_eq!(who(&o).as_deref(), Some("alice"), "{header:.80}");
    }
    // the loop breaker and logout speak the prefixed names, host-only
    let o = at(&m, true, "/app", &[("Cookie", &marker)]);
    let Outcome::Finish(page) = &o else {
        panic!("{o:?}")
    };
    assert_eq!(page.status, 400);
    let o = at(&m, true, "/.auth/logout", &[("Cookie", &victim)]);
    let d = deletions(response_headers(&o));
    assert_eq!(d, vec![del("__Host-AppServiceAuthSession", None, "/")]);
    // plain http is refused (requireHttps), so no `__Host-` cookie is ever written without TLS
    let o = at(&m, false, "/app", &[]);
    assert!(matches!(&o, Outcome::Finish(r) if r.status == 302
        && header(r, "Location").unwrap().starts_with("https://")));
}
