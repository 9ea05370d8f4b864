//! Shared caches (a CDN, nginx's `proxy_cache`) must never keep a page made for one signed-in
//! user and serve it to the next client: responses to signed-in requests get
//! `Cache-Control: private` unless the application set its own policy, and every answer of
//! ezauth's own routes (which carry tokens, identities, cookies) is `no-store`.

mod support;

use ezauth::http::{Forward, Outcome, Response};
use ezauth::logger::Logger;
use ezauth::pipeline::Module;
use ezauth::session::{self, Principal, Session};
use serde_json::json;
use support::{finished, header, run, TestIdp, CLIENT_ID};

/// A signed-in session of `user`, as a callback would leave it (a stored record included).
fn sign_in(m: &Module, user: &str) -> Session {
    let principal = Principal {
        sid: format!("sid:{user:0>32}"),
        idp: "idp".into(),
        id: user.into(),
        name: format!("{user}@example.test"),
        header: ezauth::crypto::b64(br#"{"auth_typ":"idp","claims":[]}"#),
    };
    let record = ezauth::store::TokenRecord {
        provider_name: "idp".into(),
        user_id: principal.name.clone(),
        access_token: Some(format!("access-{user}")),
        refresh_token: Some(format!("refresh-{user}")),
        ..Default::default()
    };
    m.store().unwrap().sign_in(&principal.sid, &record).unwrap();
    let now = support::now();
    Session::start(principal, now, now + 3600)
}

fn cookie(m: &Module, s: &Session) -> String {
    let set = session::new_cookie(m.settings(), s, false, support::now());
    set[0].split(';').next().unwrap().to_owned()
}

fn zumo(m: &Module, s: &Session) -> String {
    session::mint_token(
        &m.settings().keys,
        s,
        "http://app.example/",
        &m.settings().app_id,
    )
}

fn forward(o: Outcome) -> Forward {
    match o {
        Outcome::Continue(f) => f,
        other => panic!("expected the request to go on to the app, got {other:?}"),
    }
}

fn cache_control(add: &[(String, String)]) -> Vec<&str> {
    add.iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Cache-Control"))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Request or response headers, as a host lists them.
type Headers<'a> = &'a [(&'a str, &'a str)];

struct Setup {
    idp: TestIdp,
    m: Module,
}

fn setup() -> Setup {
    let idp = TestIdp::start();
    let m = support::module(&idp, "{}", Logger::silent());
    Setup { idp, m }
}

/// The three credentials ezauth signs a request in with, as (what, header name, value).
fn credentials(s: &Setup) -> Vec<(&'static str, &'static str, String)> {
    let alice = sign_in(&s.m, "alice");
    // an access token our provider issued for this app (azp: our client)
    let bearer = s
        .idp
        .mint(json!({"sub": "alice", "azp": CLIENT_ID, "scp": "read"}));
    vec![
        ("session cookie", "Cookie", cookie(&s.m, &alice)),
        ("X-ZUMO-AUTH", "X-ZUMO-AUTH", zumo(&s.m, &alice)),
        ("bearer token", "Authorization", format!("Bearer {bearer}")),
    ]
}

#[test]
fn signed_in_responses_are_private_unless_the_app_set_a_cache_policy() {
    let s = setup();
    let app_answers: [(&str, Headers, Option<&str>); 7] = [
        ("no headers", &[], Some("private")),
        (
            "no cache policy",
            &[("Content-Type", "text/html")],
            Some("private"),
        ),
        (
            "an Expires but no Cache-Control",
            &[("Expires", "Thu, 01 Jan 2099 00:00:00 GMT")],
            Some("private"),
        ),
        (
            "its own public policy",
            &[("Cache-Control", "public, max-age=60")],
            None,
        ),
        ("no-store", &[("cache-control", "no-store")], None),
        (
            "private with a max-age",
            &[("CACHE-CONTROL", "private, max-age=5")],
            None,
        ),
        ("an empty policy", &[("Cache-Control", "")], None),
    ];
    let mut checked = 0;
    for (what, name, value) in credentials(&s) {
        for target in ["/page", "/api/items?x=1", "/"] {
            let f = forward(run(&s.m, "GET", target, &[(name, &value)], b""));
            assert!(
                f.set_headers()
                    .any(|(n, _)| n == "X-MS-CLIENT-PRINCIPAL-ID"),
                "{what}: not signed in: {f:?}"
            );
            for (app, headers, added) in &app_answers {
                let add = s.m.send_response(headers, &f);
                let want: Vec<&str> = added.iter().copied().collect();
                assert_eq!(
                    cache_control(&add),
                    want,
                    "{what}, {target}, an app answer with {app}"
                );
                checked += 1;
            }
            // the status is no input (a 404 or a redirect for alice is hers alone too): the
            // answer depends on the app's headers only
        }
    }
    assert_eq!(checked, 3 * 3 * 7);
}

#[test]
fn anonymous_responses_keep_the_apps_cache_policy() {
    let s = setup();
    for headers in [
        vec![],
        vec![("Cookie", "analytics=1")],
        vec![("Authorization", "Basic YTpi")],
        // a token of another issuer is the app's business, not a sign-in of ours
        vec![("Authorization", "Bearer not-a-jwt")],
    ] {
        let f = forward(run(&s.m, "GET", "/page", &headers, b""));
        assert_eq!(f.set_count(), 0, "{headers:?}");
        for app in [vec![], vec![("Cache-Control", "public, max-age=60")]] {
            assert_eq!(
                cache_control(&s.m.send_response(&app, &f)),
                Vec::<&str>::new(),
                "{headers:?} {app:?}"
            );
        }
    }
    // A session cookie that no longer opens: anonymous, and the cookie is cleared.
    let f = forward(run(
        &s.m,
        "GET",
        "/page",
        &[("Cookie", "AppServiceAuthSession=garbage")],
        b"",
    ));
    let add = s.m.send_response(&[], &f);
    assert!(add.iter().any(|(n, _)| n == "Set-Cookie"), "{add:?}");
    assert!(cache_control(&add).is_empty(), "{add:?}");
}

/// Every answer of `/.auth/*` is `no-store`: they carry tokens (`/.auth/me`, refresh, the
/// session token of a client-directed login), identities, cookies and one-time redirects.
#[test]
fn every_answer_of_the_auth_routes_is_no_store() {
    let s = setup();
    let alice = sign_in(&s.m, "alice");
    let c = cookie(&s.m, &alice);
    let z = zumo(&s.m, &alice);
    let id_token = s.idp.mint(json!({"sub": "alice"}));
    let login_body = serde_json::to_vec(&json!({ "id_token": id_token })).unwrap();
    let anonymous: &[(&str, &str)] = &[];
    let with_cookie: &[(&str, &str)] = &[("Cookie", &c)];
    let with_zumo: &[(&str, &str)] = &[("X-ZUMO-AUTH", &z)];
    let json_type: &[(&str, &str)] = &[("Content-Type", "application/json")];
    let cases: Vec<(&str, &str, Headers, &[u8], u16)> = vec![
        ("GET", "/.auth/me", with_cookie, b"", 200),
        ("GET", "/.auth/me", with_zumo, b"", 200),
        ("GET", "/.auth/me", anonymous, b"", 401),
        ("POST", "/.auth/login/idp", json_type, &login_body, 200),
        ("GET", "/.auth/login/idp", anonymous, b"", 302),
        (
            "GET",
            "/.auth/login/idp?session_mode=token",
            anonymous,
            b"",
            302,
        ),
        ("GET", "/.auth/login/done", anonymous, b"", 200),
        (
            "GET",
            "/.auth/login/idp/callback?code=x&state=y",
            anonymous,
            b"",
            0,
        ),
        ("GET", "/.auth/refresh", anonymous, b"", 401),
        // the provider refuses the refresh (invalid_grant)
        ("GET", "/.auth/refresh", with_cookie, b"", 0),
        ("GET", "/.auth/refresh", with_zumo, b"", 0),
        ("GET", "/.auth/logout", with_cookie, b"", 302),
        ("GET", "/.auth/logout/complete", anonymous, b"", 200),
        ("GET", "/.auth/version", anonymous, b"", 200),
        ("GET", "/.auth/nothing-here", anonymous, b"", 404),
    ];
    for (method, target, headers, body, status) in cases {
        let r: Response = finished(run(&s.m, method, target, headers, body));
        if status != 0 {
            assert_eq!(r.status, status, "{method} {target} {headers:?}");
        }
        assert_eq!(
            header(&r, "Cache-Control"),
            Some("no-store"),
            "{method} {target} {headers:?}: {} {:?}",
            r.status,
            r.headers
        );
    }
    // the client-directed login's answer is the session token itself
    let r = finished(run(
        &s.m,
        "POST",
        "/.auth/login/idp",
        json_type,
        &login_body,
    ));
    assert!(
        String::from_utf8_lossy(&r.body).contains("authenticationToken"),
        "{r:?}"
    );
}
