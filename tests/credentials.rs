//! Which credential reaches what (the second audit): a provider's bearer token never reaches
//! the stored tokens of a browser session, an id_token is never a bearer credential, the
//! client application must be this app or an allowed one; a token-mode login delivers its token
//! only to `/.auth/login/done` or an allowed external URL and asks first when another site
//! started it; another site's link cannot sign a user out or refresh their tokens.

mod support;

use ezauth::http::{Outcome, Response};
use ezauth::pipeline::Module;
use serde_json::{json, Value};
use support::*;

const EXTERNAL: &str = "https://client.example/cb";
/// Where a Mobile Apps SDK waits for a token-mode login.
const APP_SCHEME: &str = "zumoe2etestapp://easyauth.callback";

fn app(idp: &TestIdp) -> Module {
    let config = config(idp, "{}").replace(
        r#""login":{"tokenStore""#,
        &format!(
            r#""login":{{"allowedExternalRedirectUrls":["{EXTERNAL}","{APP_SCHEME}"],"tokenStore""#
        ),
    );
    let settings = ezauth::config::parse(&config, &env()).unwrap_or_else(|e| panic!("{e}"));
    Module::new(settings, Captured::default().logger()).unwrap()
}

/// Signs `user-1` in through the browser flow; returns the session cookie and the id_token
/// the provider issued for the login (it carries the login's nonce).
fn browser_sign_in(m: &Module, idp: &TestIdp) -> (String, String) {
    let r = callback(m, idp, "");
    let session = session_cookie(&r);
    let id_token = idp.behavior.lock().unwrap().token_response["id_token"]
        .as_str()
        .unwrap()
        .to_owned();
    (session, id_token)
}

/// A login started with `query`, through the provider, up to the callback's answer.
fn callback(m: &Module, idp: &TestIdp, query: &str) -> Response {
    let r = through_provider(
        m,
        idp,
        query,
        json!({}),
        json!({"access_token": "access-0123456789", "refresh_token": "refresh-0123456789"}),
    );
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
    r
}

fn me(m: &Module, headers: &[(&str, &str)]) -> Value {
    let r = finished(run(m, "GET", "/.auth/me", headers, b""));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    json_body(&r)
}

fn stored_refresh_token(m: &Module, cookie: &str) -> Value {
    me(m, &[("Cookie", cookie)])[0]["refresh_token"].clone()
}

/// An access token for `user-1` as the provider issues one to this app, plus `extra`.
fn access_token(idp: &TestIdp, extra: Value) -> String {
    let mut claims = json!({"scp": "user_impersonation", "azp": CLIENT_ID});
    if let (Value::Object(c), Value::Object(e)) = (&mut claims, extra) {
        c.extend(e);
    }
    idp.mint(claims)
}

#[test]
fn a_bearer_token_signs_in_but_never_sees_a_browser_session_s_tokens() {
    let idp = TestIdp::start();
    let m = app(&idp);
    let (cookie, _) = browser_sign_in(&m, &idp);
    assert_eq!(stored_refresh_token(&m, &cookie), "refresh-0123456789");

    let bearer = format!("Bearer {}", access_token(&idp, json!({})));
    let auth = [("Authorization", bearer.as_str())];
    let Outcome::Continue(fwd) = run(&m, "GET", "/app", &auth, b"") else {
        panic!("a valid access token passes");
    };
    let names: Vec<&str> = fwd.set_headers().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"X-MS-CLIENT-PRINCIPAL-ID"), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("X-MS-TOKEN-")),
        "a bearer caller got stored tokens: {names:?}"
    );

    let entries = me(&m, &auth);
    assert_eq!(entries.as_array().unwrap().len(), 1, "{entries}");
    let entry = &entries[0];
    assert_eq!(entry["provider_name"], "idp");
    assert!(entry["user_claims"]
        .as_array()
        .is_some_and(|c| !c.is_empty()));
    for field in ["access_token", "refresh_token", "id_token", "expires_on"] {
        assert!(entry.get(field).is_none(), "{field} in {entry}");
    }

    // A bearer logout deletes nothing and signs no session out.
    let r = finished(run(&m, "GET", "/.auth/logout", &auth, b""));
    assert_eq!(r.status, 302);
    assert_eq!(stored_refresh_token(&m, &cookie), "refresh-0123456789");
    // Nor can it refresh.
    let r = finished(run(&m, "GET", "/.auth/refresh", &auth, b""));
    assert_eq!(r.status, 400);
    assert_eq!(stored_refresh_token(&m, &cookie), "refresh-0123456789");
}

#[test]
fn only_access_tokens_of_this_app_or_an_allowed_client_are_bearer_credentials() {
    let idp = TestIdp::start();
    let m = app(&idp);
    let (_, login_id_token) = browser_sign_in(&m, &idp);
    let refused: Vec<(&str, String)> = vec![
        ("the id_token of a browser sign-in", login_id_token.clone()),
        ("an id_token without a nonce", idp.mint(json!({}))),
        (
            "an id_token obtained by this app",
            idp.mint(json!({"azp": CLIENT_ID})),
        ),
        (
            "a nonce beside scp",
            access_token(&idp, json!({"nonce": "n-0123"})),
        ),
        (
            "roles without the calling app",
            idp.mint(json!({"roles": ["r"]})),
        ),
        (
            "another audience",
            access_token(&idp, json!({"aud": "api://other"})),
        ),
        (
            "expired beyond five minutes",
            access_token(&idp, json!({"exp": now() - 301})),
        ),
        ("no exp", access_token(&idp, json!({"exp": null}))),
        (
            "exp as a string",
            access_token(&idp, json!({"exp": "9999999999"})),
        ),
    ];
    for (what, token) in &refused {
        let bearer = format!("Bearer {token}");
        let r = finished(run(&m, "GET", "/app", &[("Authorization", &bearer)], b""));
        assert_eq!(r.status, 401, "{what}");
        assert!(
            header(&r, "WWW-Authenticate").is_some_and(|v| v.contains("invalid_token")),
            "{what}"
        );
    }
    // Valid access tokens for this app that another client application obtained: 403, as
    // Azure AD's allowedClientApplications answers (none is listed here).
    for (what, token) in [
        (
            "azp of another client",
            access_token(&idp, json!({"azp": "other-client"})),
        ),
        (
            "appid of another client",
            idp.mint(json!({"scp": "x", "appid": "other-client"})),
        ),
        (
            "client_id of another client",
            idp.mint(json!({"scope": "x", "client_id": "other-client"})),
        ),
    ] {
        let bearer = format!("Bearer {token}");
        let r = finished(run(&m, "GET", "/app", &[("Authorization", &bearer)], b""));
        assert_eq!(r.status, 403, "{what}");
        let body = json!({ "access_token": token }).to_string();
        let r = finished(run(&m, "POST", "/.auth/login/idp", &[], body.as_bytes()));
        assert_eq!(r.status, 403, "client login with {what}");
    }
    let accepted: Vec<(&str, String)> = vec![
        ("scp", access_token(&idp, json!({}))),
        ("scope", idp.mint(json!({"scope": "api.read"}))),
        (
            "roles of an app-only token",
            idp.mint(json!({"roles": ["r"], "azp": CLIENT_ID})),
        ),
        (
            "roles with Azure AD v1's appid",
            idp.mint(json!({"roles": ["r"], "appid": CLIENT_ID})),
        ),
        (
            "expired within five minutes (clock skew)",
            access_token(&idp, json!({"exp": now() - 200})),
        ),
    ];
    for (what, token) in &accepted {
        let bearer = format!("Bearer {token}");
        let o = run(&m, "GET", "/app", &[("Authorization", &bearer)], b"");
        assert!(matches!(o, Outcome::Continue(_)), "{what}: {o:?}");
    }
    // RFC 9068's type marks an access token without any scope claim.
    for typ in ["at+jwt", "application/at+JWT"] {
        let claims = idp.claims(json!({"client_id": CLIENT_ID}));
        let bearer = format!(
            "Bearer {}",
            sign_rs256_typed(&idp.key, &idp.kid, typ, &claims)
        );
        let o = run(&m, "GET", "/app", &[("Authorization", &bearer)], b"");
        assert!(matches!(o, Outcome::Continue(_)), "{typ}: {o:?}");
    }
}

#[test]
fn a_client_login_refuses_the_id_token_of_a_browser_sign_in() {
    let idp = TestIdp::start();
    let m = app(&idp);
    let (cookie, login_id_token) = browser_sign_in(&m, &idp);
    let body = json!({ "id_token": login_id_token }).to_string();
    let r = finished(run(&m, "POST", "/.auth/login/idp", &[], body.as_bytes()));
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    // The user's tokens are untouched.
    assert_eq!(stored_refresh_token(&m, &cookie), "refresh-0123456789");
    // An id_token from the client's own sign-in (its SDK's nonce) is what client login is for.
    for nonce in ["sdk-nonce", "abc.def", "a.b.c", ""] {
        let body = json!({ "id_token": idp.mint(json!({"nonce": nonce})) }).to_string();
        let r = finished(run(&m, "POST", "/.auth/login/idp", &[], body.as_bytes()));
        assert_eq!(r.status, 200, "nonce {nonce:?}");
    }
}

fn login(m: &Module, query: &str, headers: &[(&str, &str)]) -> Response {
    finished(run(
        m,
        "GET",
        &format!("/.auth/login/idp?{query}"),
        headers,
        b"",
    ))
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn a_token_mode_login_delivers_only_to_the_done_page_or_an_allowed_external_url() {
    let idp = TestIdp::start();
    let m = app(&idp);
    let to_provider = |r: &Response| {
        r.status == 302 && header(r, "Location").is_some_and(|l| l.starts_with(&idp.issuer))
    };
    for target in [
        "/.auth/login/done",
        "http://app.example/.auth/login/done",
        APP_SCHEME,
        EXTERNAL,
        "https://client.example/cb/more?x=1",
    ] {
        let r = login(
            &m,
            &format!("session_mode=token&post_login_redirect_uri={}", enc(target)),
            &[],
        );
        assert!(to_provider(&r), "{target}: {} {:?}", r.status, r.headers);
    }
    for target in [
        "/go?to=https://evil.example",
        "/",
        "/x",
        "/.auth/login/done?next=/go",
        "/.auth/login/done/",
        "/.auth/login/donex",
        "/.auth/me",
        "http://app.example/go?to=https://evil.example",
        "http://app.example/.auth/login/done?x=1",
    ] {
        let r = login(
            &m,
            &format!("session_mode=token&post_login_redirect_uri={}", enc(target)),
            &[],
        );
        assert_eq!(r.status, 400, "{target}");
        assert!(header(&r, "Location").is_none(), "{target}");
    }
    // The SDK's scheme gets the token in the fragment.
    let r = callback(
        &m,
        &idp,
        &format!(
            "session_mode=token&post_login_redirect_uri={}",
            enc(APP_SCHEME)
        ),
    );
    let location = header(&r, "Location").unwrap();
    assert!(
        location.starts_with(&format!("{APP_SCHEME}#token=")),
        "{location}"
    );
    // Without token mode, the same-origin targets stay fine.
    let r = login(&m, &format!("post_login_redirect_uri={}", enc("/x")), &[]);
    assert!(to_provider(&r));
}

#[test]
fn a_token_mode_login_another_site_started_asks_the_user_first() {
    let idp = TestIdp::start();
    let m = app(&idp);
    let query = "session_mode=token";
    let asks: &[&[(&str, &str)]] = &[
        &[("Sec-Fetch-Site", "cross-site")],
        &[("Sec-Fetch-Site", "same-site")],
        &[("Sec-Fetch-Site", "CROSS-SITE")],
        &[
            ("Sec-Fetch-Site", "cross-site"),
            ("Referer", "http://app.example/"),
        ],
        &[("Referer", "https://evil.example/page")],
        &[("Referer", "http://sub.app.example/")],
        &[("Origin", "null")],
        &[("Origin", "https://evil.example")],
    ];
    for headers in asks {
        let r = login(&m, query, headers);
        assert_eq!(r.status, 200, "{headers:?}");
        assert!(header(&r, "Location").is_none(), "{headers:?}");
        assert_eq!(header(&r, "X-Frame-Options"), Some("DENY"));
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            body.contains("href=\"/.auth/login/idp?session_mode=token\""),
            "{body}"
        );
    }
    let proceeds: &[&[(&str, &str)]] = &[
        &[],
        &[("Sec-Fetch-Site", "same-origin")],
        &[("Sec-Fetch-Site", "none")],
        &[("Referer", "http://app.example/start")],
        &[("Origin", "http://app.example")],
    ];
    for headers in proceeds {
        let r = login(&m, query, headers);
        assert_eq!(r.status, 302, "{headers:?}");
    }
    // A cookie-mode login is not a token leak: it proceeds from anywhere.
    let r = login(&m, "", &[("Sec-Fetch-Site", "cross-site")]);
    assert_eq!(r.status, 302);
}

#[test]
fn another_site_s_link_neither_signs_out_nor_refreshes() {
    let idp = TestIdp::start();
    let m = app(&idp);
    let (cookie, _) = browser_sign_in(&m, &idp);
    let cookie = cookie.as_str();
    let foreign: &[&[(&str, &str)]] = &[
        &[("Sec-Fetch-Site", "cross-site")],
        &[("Sec-Fetch-Site", "same-site")],
        &[("Referer", "https://evil.example/")],
        &[("Origin", "https://evil.example")],
    ];
    for headers in foreign {
        let mut h = headers.to_vec();
        h.push(("Cookie", cookie));
        let r = finished(run(&m, "GET", "/.auth/logout", &h, b""));
        assert_eq!(r.status, 200, "logout {headers:?}");
        assert!(header(&r, "Location").is_none());
        assert!(
            !r.headers.iter().any(|(n, _)| n == "Set-Cookie"),
            "logout {headers:?} cleared a cookie"
        );
        let r = finished(run(&m, "POST", "/.auth/logout", &h, b""));
        assert_eq!(r.status, 403, "POST logout {headers:?}");
        let r = finished(run(&m, "GET", "/.auth/refresh", &h, b""));
        assert_eq!(r.status, 403, "refresh {headers:?}");
        assert_eq!(stored_refresh_token(&m, cookie), "refresh-0123456789");
    }
    // From this site, both work.
    let same = [("Cookie", cookie), ("Sec-Fetch-Site", "same-origin")];
    let r = finished(run(&m, "GET", "/.auth/refresh", &same, b""));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = finished(run(&m, "GET", "/.auth/logout", &same, b""));
    assert_eq!(r.status, 302);
    let r = finished(run(&m, "GET", "/.auth/me", &[("Cookie", cookie)], b""));
    assert_eq!(r.status, 401, "signed out");
}

#[test]
fn a_session_token_is_not_a_cross_site_credential_so_other_sites_may_use_it() {
    let idp = TestIdp::start();
    let m = app(&idp);
    let body = json!({ "id_token": idp.mint(json!({})) }).to_string();
    let r = finished(run(&m, "POST", "/.auth/login/idp", &[], body.as_bytes()));
    let token = json_body(&r)["authenticationToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let h = [
        ("X-ZUMO-AUTH", token.as_str()),
        ("Sec-Fetch-Site", "cross-site"),
        ("Origin", "https://spa.example"),
    ];
    let r = finished(run(&m, "GET", "/.auth/logout", &h, b""));
    assert_eq!(r.status, 302);
}

#[test]
fn cookie_requests_another_site_started_cannot_change_anything() {
    let idp = TestIdp::start();
    let m = app(&idp);
    let (cookie, _) = browser_sign_in(&m, &idp);
    let cookie = cookie.as_str();
    let refused: &[(&str, &[(&str, &str)])] = &[
        ("POST", &[("Sec-Fetch-Site", "cross-site")]),
        ("POST", &[("Sec-Fetch-Site", "same-site")]),
        ("DELETE", &[("Sec-Fetch-Site", "cross-site")]),
        ("POST", &[("Origin", "https://evil.example")]),
        ("PUT", &[("Referer", "https://evil.example/x")]),
        (
            "GET",
            &[
                ("X-HTTP-Method-Override", "DELETE"),
                ("Origin", "https://evil.example"),
            ],
        ),
        (
            "GET",
            &[("X-HTTP-Method", "PUT"), ("Sec-Fetch-Site", "cross-site")],
        ),
        (
            "GET",
            &[
                ("x-method-override", "PATCH"),
                ("Referer", "http://evil.example/"),
            ],
        ),
        (
            "POST",
            &[("X-HTTP-Method-Override", "GET"), ("Origin", "null")],
        ),
        // cross-site WebSocket hijacking: the handshake is a GET a page on any site can make
        (
            "GET",
            &[
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Origin", "https://evil.example"),
                ("Sec-Fetch-Site", "cross-site"),
                ("Sec-Fetch-Mode", "websocket"),
            ],
        ),
        (
            "GET",
            &[("Upgrade", "WebSocket"), ("Origin", "https://evil.example")],
        ),
        (
            "GET",
            &[
                ("Upgrade", "h2c, websocket"),
                ("Sec-Fetch-Site", "same-site"),
            ],
        ),
        // what no browser sends is taken as forged: a foreign line beside a same-origin one
        (
            "POST",
            &[
                ("Origin", "http://app.example"),
                ("Origin", "https://evil.example"),
            ],
        ),
        (
            "POST",
            &[
                ("Origin", "http://app.example"),
                ("Referer", "https://evil.example/x"),
            ],
        ),
        (
            "POST",
            &[
                ("Sec-Fetch-Site", "same-origin"),
                ("Origin", "https://evil.example"),
            ],
        ),
        ("POST", &[("Sec-Fetch-Site", "somewhere-else")]),
        (
            "POST",
            &[
                ("Sec-Fetch-Site", "same-origin"),
                ("Sec-Fetch-Site", "cross-site"),
            ],
        ),
    ];
    for (method, headers) in refused {
        let mut h = headers.to_vec();
        h.push(("Cookie", cookie));
        let r = finished(run(&m, method, "/api/items", &h, b""));
        assert_eq!(r.status, 403, "{method} {headers:?}");
    }
    let passed: &[(&str, &[(&str, &str)])] = &[
        ("POST", &[("Sec-Fetch-Site", "same-origin")]),
        ("POST", &[("Origin", "http://app.example")]),
        ("POST", &[]),
        ("GET", &[("Sec-Fetch-Site", "cross-site")]),
        (
            "GET",
            &[
                ("X-HTTP-Method-Override", "DELETE"),
                ("Sec-Fetch-Site", "same-origin"),
            ],
        ),
        (
            "GET",
            &[
                ("Upgrade", "websocket"),
                ("Origin", "http://app.example"),
                ("Sec-Fetch-Site", "same-origin"),
            ],
        ),
        ("GET", &[("Upgrade", "websocket")]),
        ("POST", &[("Sec-Fetch-Site", "none")]),
    ];
    for (method, headers) in passed {
        let mut h = headers.to_vec();
        h.push(("Cookie", cookie));
        let o = run(&m, method, "/api/items", &h, b"");
        assert!(
            matches!(o, Outcome::Continue(_)),
            "{method} {headers:?}: {o:?}"
        );
    }
}

/// Two apps (other client ids) that share the keys and one token store: a user signed in to
/// both keeps each app's tokens apart, and neither app is handed the other's (attack F3).
#[test]
fn two_apps_sharing_keys_and_a_store_keep_their_own_tokens() {
    let idp = TestIdp::start();
    let text = config(&idp, "{}");
    let app = |client_id: &str| {
        let mut v: Value = serde_json::from_str(&text).unwrap();
        v["identityProviders"]["customOpenIdConnectProviders"]["idp"]["registration"]["clientId"] =
            json!(client_id);
        let settings = ezauth::config::parse(&v.to_string(), &env()).unwrap();
        Module::new(settings, Captured::default().logger()).unwrap()
    };
    let (one, two) = (app(CLIENT_ID), app("another-client"));
    let signed_in_with = |m: &Module, audience: &str, token: &str| {
        session_cookie(&through_provider(
            m,
            &idp,
            "",
            json!({ "aud": audience }),
            json!({ "access_token": token }),
        ))
    };
    let cookie_one = signed_in_with(&one, CLIENT_ID, "token-of-one");
    let cookie_two = signed_in_with(&two, "another-client", "token-of-two");
    for (m, cookie, token) in [
        (&one, &cookie_one, "token-of-one"),
        (&two, &cookie_two, "token-of-two"),
    ] {
        let f = forwarded(run(m, "GET", "/page", &[("Cookie", cookie)], b""));
        assert_eq!(
            set_header(&f, "X-MS-TOKEN-IDP-ACCESS-TOKEN").as_deref(),
            Some(token)
        );
    }
}
