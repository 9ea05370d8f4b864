//! The session cookie's browser lifetime and the refresh window (a session past its expiry is
//! anonymous everywhere but `/.auth/refresh`, and its cookie is kept for it), the
//! `ezauth.cookieSameSite` policy on every cookie the module writes, and `form_post` callbacks
//! from another site (the re-post page).

mod support;

use ezauth::config;
use ezauth::http::{Outcome, Response};
use ezauth::pipeline::Module;
use ezauth::routes::repost::REPOSTED_FIELD;
use ezauth::session::{self, Session};
use serde_json::{json, Value};
use support::*;

const IDP_SITE: &str = "http://127.0.0.2:9999";

/// The support configuration with `edit` applied to its JSON.
fn module_with(idp: &TestIdp, edit: impl FnOnce(&mut Value)) -> Module {
    let mut cfg: Value = serde_json::from_str(&config(idp, "{}")).unwrap();
    edit(&mut cfg);
    let settings = config::parse(&cfg.to_string(), &env()).unwrap_or_else(|e| panic!("{e}"));
    Module::new(settings, Captured::default().logger()).unwrap()
}

/// A POST to the callback (a `form_post` answer, or its re-post), as the host runs it.
fn post_callback(m: &Module, headers: &[(&str, &str)], body: &[u8]) -> Response {
    finished(run(m, "POST", "/.auth/login/idp/callback", headers, body))
}

fn set_cookies(r: &Response) -> Vec<&str> {
    r.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Set-Cookie"))
        .map(|(_, v)| v.as_str())
        .collect()
}

fn attr<'a>(set_cookie: &'a str, name: &str) -> Option<&'a str> {
    set_cookie
        .split("; ")
        .skip(1)
        .find_map(|a| match a.split_once('=') {
            Some((k, v)) if k.eq_ignore_ascii_case(name) => Some(v),
            None if a.eq_ignore_ascii_case(name) => Some(""),
            _ => None,
        })
}

fn max_age(set_cookie: &str) -> i64 {
    attr(set_cookie, "Max-Age").unwrap().parse().unwrap()
}

/// Signs in through the provider (with a refresh token) and gives back the response.
fn sign_in(m: &Module, idp: &TestIdp) -> Response {
    through_provider(
        m,
        idp,
        "",
        json!({"sub": "user-1"}),
        json!({"access_token": "a1", "refresh_token": "r1"}),
    )
}

/// The session of a `Cookie` header value, re-sealed with new times, as a `Cookie` value.
fn aged(m: &Module, cookie: &str, iat: i64, exp: i64) -> String {
    let settings = m.settings();
    let value = cookie.split_once('=').unwrap().1;
    let mut s: Session = session::open_cookie(value, &settings.keys, &settings.app_id, 0).unwrap();
    s.iat = iat;
    s.exp = exp;
    let set = session::write_cookie(
        &s,
        &settings.keys,
        &settings.app_id,
        settings.cookie_names(),
        false,
        0,
        3600,
    );
    set[0].split(';').next().unwrap().to_owned()
}

#[test]
fn the_browser_keeps_the_session_cookie_through_the_refresh_window() {
    let idp = TestIdp::start();
    for (hours, lifetime, want) in [
        (None, None, 8 * 3600 + 72 * 3600),
        (Some(0.5), None, 8 * 3600 + 1800),
        (Some(0.0), Some("00:10:00"), 600),
        (Some(1.0), Some("00:00:30"), 30 + 3600),
    ] {
        let m = module_with(&idp, |c| {
            if let Some(h) = hours {
                c["login"]["tokenStore"]["tokenRefreshExtensionHours"] = json!(h);
            }
            if let Some(l) = lifetime {
                c["login"]["cookieExpiration"] = json!({"timeToExpiration": l});
            }
        });
        let r = sign_in(&m, &idp);
        let set = set_cookies(&r);
        let session = set
            .iter()
            .find(|c| c.starts_with("AppServiceAuthSession="))
            .unwrap();
        assert_eq!(max_age(session), want, "{hours:?} {lifetime:?}: {session}");
    }
    // Without a token store there is nothing to refresh: the cookie ends with the session.
    let m = module_with(&idp, |c| {
        c["login"]["tokenStore"] = json!({"enabled": false});
    });
    let r = sign_in(&m, &idp);
    let session = set_cookies(&r)
        .into_iter()
        .find(|c| c.starts_with("AppServiceAuthSession="))
        .unwrap()
        .to_owned();
    assert!(
        (8 * 3600 - 1..=8 * 3600).contains(&max_age(&session)),
        "{session}"
    );
}

#[test]
fn past_its_expiry_a_session_is_anonymous_but_its_cookie_is_kept_for_refresh() {
    let idp = TestIdp::start();
    for action in ["Return401", "RedirectToLoginPage"] {
        let m = module_with(&idp, |c| {
            c["globalValidation"] = json!({"requireAuthentication": true, "unauthenticatedClientAction": action,
                       "redirectToProvider": "idp"});
            c["login"]["tokenStore"]["tokenRefreshExtensionHours"] = json!(1.0);
        });
        let fresh = session_cookie(&sign_in(&m, &idp));
        let now = now();
        // Inside its lifetime: signed in.
        let ok = run(&m, "GET", "/page", &[("Cookie", &fresh)], b"");
        assert!(matches!(ok, Outcome::Continue(_)), "{action}: {ok:?}");

        // Expired a minute ago, inside the one-hour window.
        let expired = aged(&m, &fresh, now - 7200, now - 60);
        for path in ["/page", "/.auth/me", "/api/x"] {
            let r = finished(run(&m, "GET", path, &[("Cookie", &expired)], b""));
            let want = match (path, action) {
                ("/.auth/me", _) => 401,
                (_, "Return401") => 401,
                _ => 302,
            };
            assert_eq!(r.status, want, "{action} {path}");
            if r.status == 302 {
                let to = header(&r, "Location").unwrap();
                assert!(to.starts_with(&idp.issuer), "{to}");
            }
            assert!(
                !set_cookies(&r)
                    .iter()
                    .any(|c| c.starts_with("AppServiceAuthSession=;")),
                "{action} {path}: the cookie the window needs was deleted: {:?}",
                r.headers
            );
        }
        // The refresh route accepts it and renews the session.
        idp.behavior.lock().unwrap().token_response = json!({"access_token": "a2", "refresh_token": "r2", "expires_in": 3600,
                   "token_type": "Bearer"});
        let r = refresh_by_cookie(&m, &expired);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let renewed = session_cookie(&r);
        let ok = run(&m, "GET", "/page", &[("Cookie", &renewed)], b"");
        assert!(
            matches!(ok, Outcome::Continue(_)),
            "{action}: renewed: {ok:?}"
        );

        // Signing out with an expired cookie signs that session out: a copy of the cookie
        // (the browser kept it for the window) cannot be refreshed afterwards.
        let copy = aged(&m, &fresh, now - 7200, now - 30);
        let out = finished(run(
            &m,
            "GET",
            "/.auth/logout",
            &[("Cookie", &expired)],
            b"",
        ));
        assert_eq!(out.status, 302, "{action}");
        let r = finished(run(&m, "GET", "/.auth/refresh", &[("Cookie", &copy)], b""));
        assert_eq!(r.status, 401, "{action}: a copy refreshed after logout");

        // Past the window: refresh is 401, and the useless cookie is deleted.

        let dead = aged(&m, &fresh, now - 4 * 3600, now - 3601);
        let r = finished(run(&m, "GET", "/.auth/refresh", &[("Cookie", &dead)], b""));
        assert_eq!(r.status, 401, "{action}");
        let r = finished(run(&m, "GET", "/page", &[("Cookie", &dead)], b""));
        assert!(
            set_cookies(&r)
                .iter()
                .any(|c| c.starts_with("AppServiceAuthSession=;")),
            "{action}: {:?}",
            r.headers
        );
    }
}

fn same_site_module(idp: &TestIdp, value: Option<&str>, https: bool) -> Result<Module, String> {
    let mut cfg: Value = serde_json::from_str(&config(idp, "{}")).unwrap();
    cfg["httpSettings"]["requireHttps"] = json!(https);
    if let Some(v) = value {
        cfg["ezauth"] = json!({"cookieSameSite": v});
    }
    config::parse(&cfg.to_string(), &env())
        .map(|s| Module::new(s, Captured::default().logger()).unwrap())
        .map_err(|e| e.to_string())
}

#[test]
fn cookie_same_site_is_lax_strict_or_none_with_https() {
    let idp = TestIdp::start();
    for (value, https) in [
        (None, false),
        (Some("Lax"), false),
        (Some("Strict"), false),
        (Some("None"), true),
        (Some("Lax"), true),
    ] {
        assert!(same_site_module(&idp, value, https).is_ok(), "{value:?}");
    }
    for (value, https, why) in [
        (json!("None"), false, "requireHttps"),
        (json!("none"), true, "\"Lax\", \"Strict\" or \"None\""),
        (json!("lax"), false, "\"Lax\", \"Strict\" or \"None\""),
        (json!(""), false, "\"Lax\", \"Strict\" or \"None\""),
        (json!(true), false, "cookieSameSite"),
        (json!(1), false, "cookieSameSite"),
    ] {
        let mut cfg: Value = serde_json::from_str(&config(&idp, "{}")).unwrap();
        cfg["httpSettings"]["requireHttps"] = json!(https);
        cfg["ezauth"] = json!({ "cookieSameSite": value });
        let e = config::parse(&cfg.to_string(), &env())
            .err()
            .unwrap_or_else(|| panic!("{value} accepted"))
            .to_string();
        assert!(
            e.contains("cookieSameSite") && e.contains(why),
            "{value}: {e}"
        );
    }
}

/// A login through the provider over `scheme`, as `through_provider` does.
fn login_cookies(m: &Module, idp: &TestIdp, scheme: &str) -> (Response, Response) {
    let start = finished(run_as(m, scheme, "GET", "/.auth/login/idp", &[], b""));
    let location = url::Url::parse(header(&start, "Location").unwrap()).unwrap();
    let q = |n: &str| {
        location
            .query_pairs()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let state_cookie = header(&start, "Set-Cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    idp.behavior.lock().unwrap().token_response = json!({
        "access_token": "a1", "expires_in": 3600, "token_type": "Bearer",
        "id_token": idp.mint(json!({"nonce": q("nonce")})),
    });
    let done = finished(run_as(
        m,
        scheme,
        "GET",
        &format!("/.auth/login/idp/callback?code=c&state={}", q("state")),
        &[("Cookie", state_cookie)],
        b"",
    ));
    (start, done)
}

#[test]
fn every_cookie_carries_the_configured_same_site() {
    let idp = TestIdp::start();
    for (value, https, session_want, login_want) in [
        (None, false, "Lax", "Lax"),
        (Some("Strict"), false, "Strict", "Lax"),
        (Some("None"), true, "None", "None"),
    ] {
        let m = same_site_module(&idp, value, https).unwrap();
        let scheme = if https { "https" } else { "http" };
        let (start, done) = login_cookies(&m, &idp, scheme);
        let login = set_cookies(&start);
        assert!(!login.is_empty());
        for c in &login {
            assert_eq!(attr(c, "SameSite"), Some(login_want), "{value:?} {c}");
        }
        let written = set_cookies(&done);
        assert!(written.len() >= 3, "{written:?}");
        for c in &written {
            let want = if c.starts_with("AppServiceAuthLogin_") {
                login_want
            } else {
                session_want
            };
            assert_eq!(attr(c, "SameSite"), Some(want), "{value:?} {c}");
            assert_eq!(attr(c, "Secure").is_some(), https, "{value:?} {c}");
        }
        // Strict: the sign-in ends on a same-origin page that moves on by itself (a 302
        // would keep the cross-site chain, and the Strict cookie off the first page).
        if value == Some("Strict") {
            assert_eq!(done.status, 200);
            let body = String::from_utf8_lossy(&done.body);
            assert!(
                body.contains("http-equiv=\"refresh\" content=\"0;url=/.auth/login/done\""),
                "{body}"
            );
            assert!(header(&done, "Content-Security-Policy")
                .unwrap()
                .contains("frame-ancestors 'none'"));
            assert!(!body.contains("<script"));
        } else {
            assert_eq!(done.status, 302);
        }
        let cookie = session_cookie(&done);
        // Whatever the setting, a cross-site POST with the session cookie is refused (CSRF).
        for (fetch_site, origin) in [
            ("cross-site", IDP_SITE),
            ("same-site", "https://x.app.example"),
        ] {
            let r = finished(run_as(
                &m,
                scheme,
                "POST",
                "/api/transfer",
                &[
                    ("Cookie", &cookie),
                    ("Sec-Fetch-Site", fetch_site),
                    ("Origin", origin),
                ],
                b"amount=1",
            ));
            assert_eq!(r.status, 403, "{value:?} {fetch_site}");
        }
        // Deletions (logout) carry it too: a Lax deletion is refused in an iframe.
        let out = finished(run_as(
            &m,
            scheme,
            "GET",
            "/.auth/logout",
            &[("Cookie", &cookie)],
            b"",
        ));
        let deletes = set_cookies(&out);
        assert!(!deletes.is_empty());
        for c in deletes {
            assert_eq!(attr(c, "SameSite"), Some(session_want), "{value:?} {c}");
        }
    }
}

/// Starts a login and gives back (state, nonce, the login-state `Cookie` value).
fn start_login(m: &Module) -> (String, String, String) {
    let start = finished(run(m, "GET", "/.auth/login/idp", &[], b""));
    let location = url::Url::parse(header(&start, "Location").unwrap()).unwrap();
    let q = |n: &str| {
        location
            .query_pairs()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let cookie = header(&start, "Set-Cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (q("state"), q("nonce"), cookie)
}

fn form(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

const CROSS_SITE: [(&str, &str); 2] = [("Sec-Fetch-Site", "cross-site"), ("Origin", IDP_SITE)];

/// The hidden fields of a re-post page, in order.
fn hidden_fields(body: &str) -> Vec<(String, String)> {
    body.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let (name, rest) = rest.split_once("\" value=\"").unwrap();
            let value = rest.split_once('"').unwrap().0;
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

#[test]
fn a_cross_site_form_post_without_the_login_cookie_is_re_posted_from_this_origin() {
    let idp = TestIdp::start();
    let m = module(&idp, "{}", Captured::default().logger());
    let (state, nonce, cookie) = start_login(&m);
    let body = form(&[("code", "the-code"), ("state", &state)]);
    // The provider's page posts cross-site: no login-state cookie (SameSite=Lax).
    let page = post_callback(&m, &CROSS_SITE, body.as_bytes());
    assert_eq!(page.status, 200);
    assert!(set_cookies(&page).is_empty(), "{:?}", page.headers);
    assert_eq!(header(&page, "X-Frame-Options"), Some("DENY"));
    let csp = header(&page, "Content-Security-Policy").unwrap();
    for part in [
        "frame-ancestors 'none'",
        "form-action 'self'",
        "default-src 'none'",
        "script-src 'nonce-",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert_eq!(header(&page, "Cache-Control"), Some("no-store"));
    let html = String::from_utf8_lossy(&page.body).into_owned();
    assert!(
        html.contains("method=\"post\" action=\"/.auth/login/idp/callback\""),
        "{html}"
    );
    assert!(html.contains("<noscript>") && html.contains("<button type=\"submit\">"));
    let fields = hidden_fields(&html);
    assert_eq!(
        fields,
        [
            ("code".to_owned(), "the-code".to_owned()),
            ("state".to_owned(), state.clone()),
            (REPOSTED_FIELD.to_owned(), "1".to_owned()),
        ]
    );
    // The page's re-post is same-origin and carries the cookie: signed in.
    idp.behavior.lock().unwrap().token_response = json!({
        "access_token": "a1", "expires_in": 3600, "token_type": "Bearer",
        "id_token": idp.mint(json!({"nonce": nonce})),
    });
    let again = form(
        &fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
    );
    let done = post_callback(
        &m,
        &[
            ("Cookie", &cookie),
            ("Sec-Fetch-Site", "same-origin"),
            ("Origin", "http://app.example"),
        ],
        again.as_bytes(),
    );
    assert_eq!(done.status, 302, "{}", String::from_utf8_lossy(&done.body));
    let session = session_cookie(&done);
    assert!(matches!(
        run(&m, "GET", "/x", &[("Cookie", &session)], b""),
        Outcome::Continue(_)
    ));
    // Replaying the same form: the state is spent.
    let replay = post_callback(
        &m,
        &[("Cookie", &cookie), ("Sec-Fetch-Site", "same-origin")],
        again.as_bytes(),
    );
    assert_eq!(replay.status, 400);
    assert!(set_cookies(&replay)
        .iter()
        .all(|c| !c.starts_with("AppServiceAuthSession=")));
}

#[test]
fn every_way_a_browser_marks_a_cross_site_post_gets_the_re_post_page() {
    let idp = TestIdp::start();
    let m = module(&idp, "{}", Captured::default().logger());
    let (state, _, _) = start_login(&m);
    let body = form(&[("code", "c"), ("state", &state)]);
    for headers in [
        &[("Sec-Fetch-Site", "cross-site")][..],
        &[
            ("Sec-Fetch-Site", "same-site"),
            ("Origin", "http://login.example"),
        ][..],
        // browsers without Sec-Fetch-*: Origin, or a Referer of another origin
        &[("Origin", IDP_SITE)][..],
        &[("Origin", "null")][..],
        &[(
            "Referer",
            "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        )][..],
    ] {
        let r = post_callback(&m, headers, body.as_bytes());
        assert_eq!(r.status, 200, "{headers:?}");
        assert!(
            String::from_utf8_lossy(&r.body).contains("<form"),
            "{headers:?}"
        );
    }
}

#[test]
fn a_re_posted_callback_still_without_the_cookie_fails_with_400_and_never_loops() {
    let idp = TestIdp::start();
    let m = module(&idp, "{}", Captured::default().logger());
    let (state, _, _) = start_login(&m);
    for headers in [
        &CROSS_SITE[..],
        &[
            ("Sec-Fetch-Site", "same-origin"),
            ("Origin", "http://app.example"),
        ][..],
        &[][..],
    ] {
        let body = form(&[("code", "c"), ("state", &state), (REPOSTED_FIELD, "1")]);
        let r = post_callback(&m, headers, body.as_bytes());
        assert_eq!(r.status, 400, "{headers:?}");
        let text = String::from_utf8_lossy(&r.body);
        assert!(
            text.contains("did not send back the sign-in cookie"),
            "{text}"
        );
        assert!(!text.contains("<form"));
    }
    // Same-origin, or direct, without the cookie: a re-post cannot help, 400 at once.
    for headers in [
        &[
            ("Sec-Fetch-Site", "same-origin"),
            ("Origin", "http://app.example"),
        ][..],
        &[][..],
    ] {
        let body = form(&[("code", "c"), ("state", &state)]);
        let r = post_callback(&m, headers, body.as_bytes());
        assert_eq!(r.status, 400, "{headers:?}");
        assert!(!String::from_utf8_lossy(&r.body).contains("<form"));
    }
    // A GET callback is never re-posted either.
    let r = finished(run(
        &m,
        "GET",
        &format!("/.auth/login/idp/callback?code=c&state={state}"),
        &CROSS_SITE,
        b"",
    ));
    assert_eq!(r.status, 400);
}

#[test]
fn tampered_states_and_cookies_are_refused_not_re_posted() {
    let idp = TestIdp::start();
    let m = module(&idp, "{}", Captured::default().logger());
    let (state, _, cookie) = start_login(&m);
    let (name, value) = cookie.split_once('=').unwrap();
    let mut flipped = value.as_bytes().to_vec();
    flipped[20] = if flipped[20] == b'A' { b'B' } else { b'A' };
    let tampered_cookie = format!("{name}={}", String::from_utf8(flipped).unwrap());
    // the cookie's name is the state's start: a state with the same start but another end
    let mut other_state = state.clone().into_bytes();
    let last = other_state.len() - 1;
    other_state[last] = if other_state[last] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let other_state = String::from_utf8(other_state).unwrap();
    for (what, cookie, state) in [
        ("tampered cookie", tampered_cookie.as_str(), state.as_str()),
        (
            "state of another login",
            cookie.as_str(),
            other_state.as_str(),
        ),
    ] {
        let body = form(&[("code", "c"), ("state", state)]);
        let mut headers = CROSS_SITE.to_vec();
        headers.push(("Cookie", cookie));
        let r = post_callback(&m, &headers, body.as_bytes());
        assert_eq!(r.status, 400, "{what}");
        assert!(
            !String::from_utf8_lossy(&r.body).contains("<form"),
            "{what}"
        );
    }
    // An attacker's own state, posted into the victim's browser (login CSRF): the re-post
    // finds no cookie for it and fails.
    let (attacker_state, _, _) = start_login(&m);
    let (_, _, victim_cookie) = start_login(&m);
    let body = form(&[("code", "attacker-code"), ("state", &attacker_state)]);
    let mut headers = CROSS_SITE.to_vec();
    headers.push(("Cookie", &victim_cookie));
    let page = post_callback(&m, &headers, body.as_bytes());
    assert_eq!(page.status, 200, "re-post page");
    let fields = hidden_fields(&String::from_utf8_lossy(&page.body));
    let again = form(
        &fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
    );
    let r = post_callback(
        &m,
        &[
            ("Cookie", &victim_cookie),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        again.as_bytes(),
    );
    assert_eq!(r.status, 400);
    assert!(set_cookies(&r)
        .iter()
        .all(|c| !c.starts_with("AppServiceAuthSession=")));
}

#[test]
fn hostile_posted_values_are_escaped_and_the_page_is_bounded() {
    let idp = TestIdp::start();
    let m = module(&idp, "{}", Captured::default().logger());
    let (state, _, _) = start_login(&m);
    let hostile = [
        "\"><script>alert(1)</script>",
        "' autofocus onfocus='alert(1)",
        "</form><form action=\"https://evil.example\">",
        "&#34;&quot;",
        "<!--",
        "\u{0}\r\n\u{7f}",
        "`${x}`",
    ];
    for h in hostile {
        let body = form(&[("code", h), ("state", &state), (h, h)]);
        let r = post_callback(&m, &CROSS_SITE, body.as_bytes());
        assert_eq!(r.status, 200, "{h:?}");
        let html = String::from_utf8_lossy(&r.body);
        assert_eq!(html.matches("<script").count(), 1, "{h:?}: {html}");
        assert_eq!(html.matches("<form").count(), 1, "{h:?}: {html}");
        assert_eq!(html.matches("<input").count(), 4, "{h:?}: {html}");
        assert!(!html.contains("evil.example\">"), "{h:?}");
        assert!(!html.contains("<!--"), "{h:?}");
        assert!(!html.contains("onfocus='"), "{h:?}");
        // every value reads back as posted
        let fields = hidden_fields(&html);
        assert_eq!(fields[0].1, ezauth::http::html_escape(h), "{h:?}");
    }
    // Too large or too many fields: 413, no page.
    let big = "x".repeat(40 * 1024);
    let body = form(&[("code", big.as_str()), ("state", &state)]);
    let r = post_callback(&m, &CROSS_SITE, body.as_bytes());
    assert_eq!(r.status, 413);
    let many: Vec<(String, String)> = (0..40).map(|i| (format!("f{i}"), "v".to_owned())).collect();
    let mut fields: Vec<(&str, &str)> =
        many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    fields.push(("state", &state));
    let body = form(&fields);
    let r = post_callback(&m, &CROSS_SITE, body.as_bytes());
    assert_eq!(r.status, 413);
}
