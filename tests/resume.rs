//! The blocking step resumes where `OnBeginRequest` stopped: the steps before it (scrubbing
//! spoofed headers, authentication) run and log once, and the response headers they left
//! pending (a bad session cookie's deletion) reach the answer, on `/.auth/*` routes too.

mod support;

use ezauth::http::{Outcome, Response};
use ezauth::pipeline::Module;
use serde_json::json;
use support::{env, finished, login_started, two_steps, Captured, TestIdp};

const SPOOFED: (&str, &str) = ("X-MS-CLIENT-PRINCIPAL-NAME", "admin");
const BAD_COOKIE: (&str, &str) = ("Cookie", "AppServiceAuthSession=not-a-session");

/// The support configuration (provider `idp` discovered from `idp`, a token store,
/// anonymous allowed); `protected`: authentication required, redirecting to `idp`.
fn app(idp: &TestIdp, protected: bool, log: &Captured) -> Module {
    let mut config = support::config(idp, "{}");
    if protected {
        config = config.replace(
            r#""unauthenticatedClientAction":"AllowAnonymous""#,
            r#""requireAuthentication":true,"unauthenticatedClientAction":"RedirectToLoginPage","redirectToProvider":"idp""#,
        );
    }
    let settings = ezauth::config::parse(&config, &env()).unwrap_or_else(|e| panic!("{e}"));
    Module::new(settings, log.logger()).unwrap()
}

fn count(log: &Captured, text: &str) -> usize {
    log.lines().iter().filter(|(_, l)| l.contains(text)).count()
}

/// `Set-Cookie` values for the session cookie's own name.
fn session_cookies(r: &Response) -> Vec<&str> {
    r.headers
        .iter()
        .filter(|(n, v)| {
            n.eq_ignore_ascii_case("Set-Cookie") && v.starts_with("AppServiceAuthSession=")
        })
        .map(|(_, v)| v.as_str())
        .collect()
}

fn deletes_session(r: &Response) -> bool {
    session_cookies(r)
        .iter()
        .any(|v| v.starts_with("AppServiceAuthSession=;") && v.contains("Max-Age=0"))
}

#[test]
fn steps_before_the_blocking_step_log_once() {
    let idp = TestIdp::start();
    // (protected, target, blocks): a blocking route, a route that does not, the redirect to
    // the login page, and the app itself.
    let cases = [
        (false, "/.auth/login/idp", true),
        (false, "/.auth/logout", true),
        (false, "/.auth/version", false),
        (true, "/page", true),
        (false, "/page", false),
    ];
    for (protected, target, blocks) in cases {
        let log = Captured::default();
        let m = app(&idp, protected, &log);
        let (blocked, outcome) = two_steps(&m, target, &[SPOOFED, BAD_COOKIE]);
        assert_eq!(blocked, blocks, "{target}");
        assert!(!matches!(outcome, Outcome::Blocking(_)), "{target}");
        assert_eq!(
            count(&log, "removed client-sent identity or routing headers"),
            1,
            "{target}: {}",
            log.text()
        );
        assert_eq!(
            count(&log, "ignored session cookie"),
            1,
            "{target}: {}",
            log.text()
        );
    }
}

#[test]
fn a_bearer_token_judged_in_the_blocking_step_is_authenticated_once() {
    let idp = TestIdp::start();
    let log = Captured::default();
    let m = app(&idp, true, &log);
    let token = format!("Bearer {}", idp.mint(json!({"scp": "read"})));
    let (blocked, outcome) = two_steps(&m, "/page", &[SPOOFED, ("Authorization", &token)]);
    assert!(blocked, "the provider's metadata is not cached yet");
    let Outcome::Continue(forward) = outcome else {
        panic!("{outcome:?}: {}", log.text());
    };
    assert_eq!(forward.remove, vec![SPOOFED.0.to_owned()]);
    assert!(
        forward
            .set
            .iter()
            .flat_map(|g| g.iter())
            .any(|(n, v)| n == "X-MS-CLIENT-PRINCIPAL-IDP" && v == "idp"),
        "{forward:?}"
    );
    assert_eq!(
        count(&log, "removed client-sent identity or routing headers"),
        1,
        "{}",
        log.text()
    );
    // Once cached, the next one is judged on the event loop.
    let (blocked, _) = two_steps(&m, "/page", &[("Authorization", &token)]);
    assert!(!blocked);
}

#[test]
fn a_bad_session_cookie_is_cleared_on_every_answer() {
    let idp = TestIdp::start();
    let cases = [
        (false, "/.auth/version", 200),
        (false, "/.auth/login/done", 200),
        (false, "/.auth/logout/complete", 200),
        (false, "/.auth/me", 401),
        (false, "/.auth/refresh", 401),
        (false, "/.auth/nothing-here", 404),
        (false, "/.auth/login/idp", 302),
        (true, "/page", 302),
    ];
    for (protected, target, status) in cases {
        let log = Captured::default();
        let m = app(&idp, protected, &log);
        let r = finished(two_steps(&m, target, &[BAD_COOKIE]).1);
        assert_eq!(r.status, status, "{target}");
        assert!(deletes_session(&r), "{target}: {:?}", r.headers);
    }
    // The app's own pages get it as a response header to add.
    let log = Captured::default();
    let (_, outcome) = two_steps(&app(&idp, false, &log), "/page", &[BAD_COOKIE]);
    let Outcome::Continue(forward) = outcome else {
        panic!("{outcome:?}");
    };
    assert!(forward
        .response_add
        .iter()
        .any(|(n, v)| n == "Set-Cookie" && v.starts_with("AppServiceAuthSession=;")));
}

#[test]
fn a_new_session_is_not_undone_by_a_pending_deletion() {
    let idp = TestIdp::start();
    let log = Captured::default();
    let m = app(&idp, false, &log);
    // The browser also sends a session cookie that does not open, a planted duplicate, or a
    // stale part: each is deleted while the callback writes the new session.
    for junk in [
        "AppServiceAuthSession=not-a-session",
        "AppServiceAuthSession=not-a-session; AppServiceAuthSession=other",
        "AppServiceAuthSession1=stale-part",
    ] {
        let login = finished(two_steps(&m, "/.auth/login/idp", &[]).1);
        let (state, nonce, state_cookie) = login_started(&login);
        let id_token = idp.mint(json!({ "nonce": nonce }));
        idp.behavior.lock().unwrap().token_response =
            json!({"expires_in": 3600, "token_type": "Bearer", "id_token": id_token});
        let cookies = format!("{state_cookie}; {junk}");
        let target = format!("/.auth/login/idp/callback?code=c&state={state}");
        let r = finished(two_steps(&m, &target, &[("Cookie", &cookies)]).1);
        assert_eq!(r.status, 302, "{junk}: {}", log.text());
        let set = session_cookies(&r);
        let last = set.last().copied().unwrap_or_default();
        assert!(
            last.len() > 60 && !last.starts_with("AppServiceAuthSession=;"),
            "{junk}: the last word on the session cookie must be the new session: {set:?}"
        );
    }
}

/// The answer's own cookies, the pending headers, and the values expected, in order.
type Case<'a> = (&'a [&'a str], Vec<(String, String)>, Vec<&'a str>);

#[test]
fn pending_headers_go_first_and_yield_to_the_answers_own_cookies() {
    let deletion = |name: &str| {
        (
            "Set-Cookie".to_owned(),
            format!("{name}=; Path=/; Max-Age=0"),
        )
    };
    let answer = |cookies: &[&str]| {
        let mut r = Response::new(200);
        for c in cookies {
            r.headers.push(("Set-Cookie".into(), (*c).to_owned()));
        }
        Outcome::Finish(r)
    };
    let cases: [Case; 4] = [
        // Nothing of the answer's own: every pending header, first.
        (&[], vec![deletion("A"), deletion("B")], vec!["A=;", "B=;"]),
        // The answer sets A: the pending deletion of A is dropped, B's stays, before A.
        (
            &["A=new"],
            vec![deletion("A"), deletion("B")],
            vec!["B=;", "A=new"],
        ),
        // Header names are case-insensitive; other pending headers stay.
        (
            &["B=x"],
            vec![
                ("set-cookie".into(), "B=; Max-Age=0".into()),
                ("Vary".into(), "Cookie".into()),
            ],
            vec!["Cookie", "B=x"],
        ),
        // Nothing pending: the answer unchanged.
        (&["A=new"], vec![], vec!["A=new"]),
    ];
    for (i, (own, pending, want)) in cases.into_iter().enumerate() {
        let Outcome::Finish(r) = answer(own).with_pending_headers(pending) else {
            unreachable!()
        };
        let got: Vec<&str> = r.headers.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(got.len(), want.len(), "case {i}: {got:?}");
        for (g, w) in got.iter().zip(&want) {
            assert!(g.starts_with(w), "case {i}: {got:?}, want {want:?}");
        }
    }
    // Other outcomes are left alone.
    assert!(matches!(
        Outcome::Continue(Default::default()).with_pending_headers(vec![deletion("A")]),
        Outcome::Continue(f) if f.response_add.is_empty()
    ));
}
