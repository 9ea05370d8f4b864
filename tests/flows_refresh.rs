//! `/.auth/refresh` against a scripted provider, at unit speed: a refused or failed refresh
//! answers the status it always has, logs why and leaves the stored tokens as they were; a
//! refresh with nothing to redeem never reaches the provider.

mod support;

use ezauth::outbound::TransportKind;
use serde_json::json;
use support::scripted::{self, Answer, ScriptedIdp};
use support::*;

fn refresh(m: &ezauth::pipeline::Module, cookie: &str) -> ezauth::http::Response {
    finished(run(m, "GET", "/.auth/refresh", &[("Cookie", cookie)], b""))
}

#[test]
fn a_refresh_stores_the_rotated_tokens() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store) = scripted::module(&idp, "{}", log.logger());
    let cookie = scripted::sign_in(&m, &idp, Some("refresh-1"));
    idp.token_answer(Answer::Json(
        200,
        json!({"access_token": "access-2", "refresh_token": "refresh-2", "expires_in": 600}),
    ));
    let r = refresh(&m, &cookie);
    assert_eq!(r.status, 200, "{}", log.text());
    let form = idp.last_token_form();
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["refresh_token"], "refresh-1");
    assert_eq!(form["client_id"], CLIENT_ID);
    let record = store.only();
    assert_eq!(record.access_token.as_deref(), Some("access-2"));
    assert_eq!(record.refresh_token.as_deref(), Some("refresh-2"));
    log.says("refreshed tokens of sid:");
}

#[test]
fn a_refused_or_failed_refresh_keeps_the_stored_tokens() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store) = scripted::module(&idp, "{}", log.logger());
    let cookie = scripted::sign_in(&m, &idp, Some("refresh-1"));
    let before = store.only();
    let elsewhere = idp.mint(json!({"iss": "https://evil.test"}));
    for (answer, status, why) in [
        // The provider refused the grant (revoked, expired, reused): sign in again.
        (
            Answer::Json(400, json!({"error": "invalid_grant"})),
            403,
            "idp refused the refresh token of sid:",
        ),
        (
            Answer::Json(401, json!({"error": "invalid_client"})),
            403,
            "token endpoint answered 401 invalid_client",
        ),
        // A new id_token must hold as the first one did.
        (
            Answer::Json(200, json!({"access_token": "x", "id_token": elsewhere})),
            403,
            r#"issuer "https://evil.test""#,
        ),
        (
            Answer::Raw(500, b"Internal Server Error"),
            502,
            "refresh with idp failed (502)",
        ),
        (Answer::Raw(200, b"{\"access_token\":"), 502, "not JSON"),
        (
            Answer::Fail(TransportKind::Timeout),
            504,
            "https://idp.test/token did not answer in time",
        ),
        (
            Answer::Fail(TransportKind::Unreachable),
            502,
            "scripted Unreachable",
        ),
    ] {
        idp.once("POST /token", answer.clone());
        let r = refresh(&m, &cookie);
        assert_eq!(r.status, status, "{answer:?}: {}", log.text());
        log.says(why);
        assert_eq!(store.only(), before, "{answer:?}");
        assert!(
            header(&r, "Set-Cookie").is_none(),
            "{answer:?}: {:?}",
            r.headers
        );
    }
}

#[test]
fn a_refresh_without_a_refresh_token_never_reaches_the_provider() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store) = scripted::module(&idp, "{}", log.logger());
    let cookie = scripted::sign_in(&m, &idp, None);
    let before = store.only();
    let calls = idp.count("POST /token");
    let r = refresh(&m, &cookie);
    assert_eq!(r.status, 400, "{}", log.text());
    log.says("refresh: no refresh token stored for sid:");
    assert_eq!(idp.count("POST /token"), calls);
    assert_eq!(store.only(), before);
}

/// A refresh asked for within seconds of another (a page's second tab, a retry, the other node
/// of a burst whose callers already saw the new tokens) takes the tokens that one stored: one
/// provider call. Later, a refresh calls the provider again.
#[test]
fn a_refresh_just_after_another_uses_its_tokens() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let clock = std::sync::Arc::new(ezauth::clock::ManualClock::starting_now());
    let (m, store) =
        scripted::module_on(&idp, &scripted::config("{}"), log.logger(), clock.clone());
    let cookie = scripted::sign_in(&m, &idp, Some("refresh-1"));
    let answer = |n: u32| {
        Answer::Json(
            200,
            json!({"access_token": format!("access-{n}"), "refresh_token": format!("refresh-{n}")}),
        )
    };
    idp.token_answer(answer(2));
    assert_eq!(refresh(&m, &cookie).status, 200, "{}", log.text());
    idp.token_answer(answer(3));
    clock.advance(1);
    assert_eq!(refresh(&m, &cookie).status, 200, "{}", log.text());
    assert_eq!(store.only().refresh_token.as_deref(), Some("refresh-2"));
    assert_eq!(idp.last_token_form()["refresh_token"], "refresh-1");
    clock.advance(1);
    assert_eq!(refresh(&m, &cookie).status, 200, "{}", log.text());
    assert_eq!(idp.last_token_form()["refresh_token"], "refresh-2");
    assert_eq!(store.only().refresh_token.as_deref(), Some("refresh-3"));
}
