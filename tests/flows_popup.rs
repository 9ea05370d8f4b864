//! The JavaScript SDK's popup login (`LoginUis/BrowserPopup.js`): `session_mode=token` with
//! `completion_type=postMessage|iframe&completion_origin=<origin>` ends on a page that posts
//! `{"type":"LoginCompleted","oauth":…}` to exactly that origin, which must be this site's or
//! an allowed external URL's; the page runs only its own nonce'd script and escapes what it
//! embeds. `/.auth/login/iframereceiver` relays for `iframe`.

mod support;

use std::sync::Arc;

use ezauth::clock::SystemClock;
use ezauth::http::Response;
use ezauth::pipeline::Module;
use serde_json::{json, Value};
use support::scripted::{self, ScriptedIdp};
use support::*;

const PARTNER: &str = "https://spa.partner.example";

fn popup_module(idp: &Arc<ScriptedIdp>, log: &Captured) -> Module {
    let config = scripted::config("{}").replace(
        r#""login":{"tokenStore""#,
        r#""login":{"allowedExternalRedirectUrls":["https://spa.partner.example/app/"],"tokenStore""#,
    );
    scripted::module_on(idp, &config, log.logger(), Arc::new(SystemClock)).0
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The popup's first request, from the SDK's page at `origin`.
fn start(m: &Module, kind: &str, origin: &str) -> Response {
    let page = format!("{origin}/index.html");
    finished(run(
        m,
        "GET",
        &format!(
            "/.auth/login/idp?session_mode=token&completion_type={kind}&completion_origin={}",
            enc(origin)
        ),
        &[("Referer", &page)],
        b"",
    ))
}

fn through(m: &Module, idp: &ScriptedIdp, kind: &str, origin: &str, error: bool) -> Response {
    let r = start(m, kind, origin);
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
    let (state, nonce, cookie) = login_started(&r);
    if error {
        return finished(run(
            m,
            "GET",
            &format!("/.auth/login/idp/callback?state={state}&error=access_denied"),
            &[("Cookie", cookie.as_str())],
            b"",
        ));
    }
    idp.token_answer(scripted::token_answer(idp, &nonce, json!({}), json!({})));
    scripted::callback(m, &state, &cookie)
}

/// The page's one script, after checking the CSP names its nonce and nothing else may run.
fn script_of(r: &Response) -> String {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let csp = header(r, "Content-Security-Policy").unwrap();
    assert!(
        csp.starts_with("default-src 'none'; script-src 'nonce-"),
        "{csp}"
    );
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    assert_eq!(header(r, "Cache-Control"), Some("no-store"));
    let body = String::from_utf8(r.body.clone()).unwrap();
    assert_eq!(body.matches("<script").count(), 1, "{body}");
    let open = format!("<script nonce=\"{nonce}\">");
    let script = body
        .split(&open)
        .nth(1)
        .expect("the script carries the nonce");
    script.split("</script>").next().unwrap().to_owned()
}

/// The two literals of `var m=…,o=…;`: the message and the origin it is posted to.
fn literals(script: &str) -> (Value, String) {
    let rest = script.strip_prefix("var m=").unwrap();
    let mut de = serde_json::Deserializer::from_str(rest).into_iter::<String>();
    let message: String = de.next().unwrap().unwrap();
    let rest = &rest[de.byte_offset()..];
    let rest = rest.strip_prefix(",o=").unwrap();
    let origin: String = serde_json::Deserializer::from_str(rest)
        .into_iter::<String>()
        .next()
        .unwrap()
        .unwrap();
    (serde_json::from_str(&message).unwrap(), origin)
}

#[test]
fn post_message_delivers_the_token_to_exactly_the_origin() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let m = popup_module(&idp, &log);
    for origin in ["http://app.example", PARTNER] {
        let r = through(&m, &idp, "postMessage", origin, false);
        assert_eq!(header(&r, "X-Frame-Options"), Some("DENY"));
        let script = script_of(&r);
        assert!(
            script.contains("window.opener.postMessage(m,o)"),
            "{script}"
        );
        let (message, to) = literals(&script);
        assert_eq!(to, origin);
        assert_eq!(message["type"], "LoginCompleted");
        let token = message["oauth"]["authenticationToken"].as_str().unwrap();
        assert!(message["oauth"]["user"]["userId"]
            .as_str()
            .unwrap()
            .starts_with("sid:"));
        let ok = run(&m, "GET", "/app", &[("X-ZUMO-AUTH", token)], b"");
        assert!(matches!(ok, ezauth::http::Outcome::Continue(_)));
    }
}

#[test]
fn a_refusal_is_posted_as_an_error() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let m = popup_module(&idp, &log);
    let r = through(&m, &idp, "postMessage", PARTNER, true);
    let (message, to) = literals(&script_of(&r));
    assert_eq!(to, PARTNER);
    assert!(message["error"].as_str().unwrap().contains("access_denied"));
    assert!(message.get("oauth").is_none());
    log.says("reported \"access_denied\"");
}

#[test]
fn iframe_goes_through_this_site_s_receiver() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let m = popup_module(&idp, &log);
    let r = through(&m, &idp, "iframe", PARTNER, false);
    let script = script_of(&r);
    assert!(
        script.contains("frames[\"zumo-login-receiver\"]"),
        "{script}"
    );
    let (message, to) = literals(&script);
    assert_eq!(
        to, "http://app.example",
        "the receiver is this site's frame"
    );
    assert!(message["oauth"]["authenticationToken"].is_string());

    let r = finished(run(
        &m,
        "GET",
        &format!(
            "/.auth/login/iframereceiver?completion_origin={}",
            enc(PARTNER)
        ),
        &[],
        b"",
    ));
    let csp = header(&r, "Content-Security-Policy").unwrap().to_owned();
    assert!(
        csp.ends_with(&format!("frame-ancestors {PARTNER}")),
        "{csp}"
    );
    assert!(header(&r, "X-Frame-Options").is_none());
    let script = script_of(&r);
    assert!(
        script.contains("window.parent.postMessage(e.data,o)"),
        "{script}"
    );
    assert!(script.contains(&format!("o=\"{PARTNER}\"")), "{script}");
    assert!(script.contains("e.origin===own"), "{script}");
}

#[test]
fn origins_that_are_not_this_site_or_allowed_are_refused() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let m = popup_module(&idp, &log);
    for origin in [
        "https://evil.example",
        "https://spa.partner.example.evil.example",
        "http://spa.partner.example",
        "https://spa.partner.example:8443",
        "https://spa.partner.example/app/",
        "https://user@spa.partner.example",
        "javascript:alert(1)",
        "null",
        "*",
        "\"</script><script>alert(1)</script>",
    ] {
        let r = start(&m, "postMessage", origin);
        assert_eq!(r.status, 400, "{origin}");
        let r = finished(run(
            &m,
            "GET",
            &format!(
                "/.auth/login/iframereceiver?completion_origin={}",
                enc(origin)
            ),
            &[],
            b"",
        ));
        assert_eq!(r.status, 400, "{origin}");
    }
    log.says("is not this site nor an allowed origin");
    for query in [
        "session_mode=token&completion_type=redirect&completion_origin=http%3A%2F%2Fapp.example",
        "session_mode=token&completion_type=postMessage",
        "completion_type=postMessage&completion_origin=http%3A%2F%2Fapp.example",
    ] {
        let r = finished(run(
            &m,
            "GET",
            &format!("/.auth/login/idp?{query}"),
            &[],
            b"",
        ));
        assert_eq!(r.status, 400, "{query}");
    }
    let r = finished(run(&m, "GET", "/.auth/login/iframereceiver", &[], b""));
    assert_eq!(r.status, 400);
}

/// The SDK's page opens the popup from its own site, often another one than this: when that
/// page is the allowed origin the token goes to, the login goes straight to the provider (as on
/// App Service); started by any other site, or by a request that names no source, it asks first.
#[test]
fn the_receiver_s_own_page_starts_the_popup_without_being_asked() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let m = popup_module(&idp, &log);
    let from = |kind: &str, headers: &[(&str, &str)]| {
        finished(run(
            &m,
            "GET",
            &format!(
                "/.auth/login/idp?session_mode=token&completion_type={kind}&completion_origin={}",
                enc(PARTNER)
            ),
            headers,
            b"",
        ))
    };
    let partner_page = format!("{PARTNER}/app/index.html");
    for kind in ["postMessage", "iframe"] {
        let r = from(
            kind,
            &[
                ("Sec-Fetch-Site", "cross-site"),
                ("Referer", partner_page.as_str()),
            ],
        );
        assert_eq!(
            r.status,
            302,
            "{kind}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let r = from(
            kind,
            &[("Sec-Fetch-Site", "cross-site"), ("Origin", PARTNER)],
        );
        assert_eq!(r.status, 302, "{kind}");
    }
    for (what, headers) in [
        (
            "another site",
            vec![
                ("Sec-Fetch-Site", "cross-site"),
                ("Referer", "https://evil.example/"),
            ],
        ),
        ("no source", vec![("Sec-Fetch-Site", "cross-site")]),
        // A browser that sends no Sec-Fetch-* (older ones), from a no-referrer page: the
        // popup's opener is unknown, so the user is asked.
        ("nothing named at all", vec![]),
        (
            "the partner and another site",
            vec![
                ("Sec-Fetch-Site", "cross-site"),
                ("Origin", "https://evil.example"),
                ("Referer", partner_page.as_str()),
            ],
        ),
    ] {
        let r = from("postMessage", &headers);
        assert_eq!(r.status, 200, "{what}");
        assert!(
            String::from_utf8_lossy(&r.body).contains("Continue signing in"),
            "{what}"
        );
    }
    log.says("asking the user first");
    // The site's own page, or the user's own navigation, is not asked.
    for site in ["same-origin", "none"] {
        let r = from("postMessage", &[("Sec-Fetch-Site", site)]);
        assert_eq!(r.status, 302, "{site}");
    }
    // without a completion, the partner's page still gets asked: the token would go elsewhere
    let r = finished(run(
        &m,
        "GET",
        "/.auth/login/idp?session_mode=token",
        &[
            ("Sec-Fetch-Site", "cross-site"),
            ("Referer", partner_page.as_str()),
        ],
        b"",
    ));
    assert_eq!(r.status, 200);
}
