//! The login callback against a scripted provider, at unit speed: every way the provider or
//! its id_token can fail answers the status the user should see, logs why, clears the
//! login-state cookie and stores nothing; a replayed callback redeems nothing twice.

mod support;

use ezauth::outbound::TransportKind;
use serde_json::json;
use support::scripted::{self, Answer, ScriptedIdp};
use support::*;

/// The callback's answer clears the login-state cookie it was given.
fn clears_login_state(r: &ezauth::http::Response, cookie: &str) {
    let name = cookie.split('=').next().unwrap();
    assert!(
        r.headers.iter().any(|(n, v)| n == "Set-Cookie"
            && v.starts_with(&format!("{name}=;"))
            && v.contains("Max-Age=0")),
        "{:?}",
        r.headers
    );
}

#[test]
fn a_failing_token_endpoint_answers_502_or_504_and_stores_nothing() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store) = scripted::module(&idp, "{}", log.logger());
    for (answer, status, why) in [
        (Answer::Raw(500, b"Internal Server Error"), 502, "not JSON"),
        (
            Answer::Json(503, json!({"error": "temporarily_unavailable"})),
            502,
            "token endpoint answered 503",
        ),
        (Answer::Raw(200, b"<html>sign in</html>"), 502, "not JSON"),
        (
            Answer::Json(200, json!({"access_token": "a", "token_type": "Bearer"})),
            502,
            "without an id_token",
        ),
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
        (Answer::Fail(TransportKind::Broken), 502, "scripted Broken"),
        // A code that was already redeemed (or forged) is the client's fault.
        (
            Answer::Json(400, json!({"error": "invalid_grant"})),
            400,
            "invalid_grant",
        ),
    ] {
        let (state, _, cookie) = scripted::start_login(&m);
        idp.once("POST /token", answer.clone());
        let r = scripted::callback(&m, &state, &cookie);
        assert_eq!(r.status, status, "{answer:?}: {}", log.text());
        log.says(&format!("callback with idp failed ({status})"));
        log.says(why);
        clears_login_state(&r, &cookie);
        assert!(store.records().is_empty(), "{answer:?}");
    }
    assert_eq!(idp.count("POST /token"), 8);
}

#[test]
fn an_id_token_that_does_not_hold_is_refused_and_nothing_is_stored() {
    let idp = ScriptedIdp::new();
    let other_key = scripted::another_key();
    let t = now();
    type Mint = Box<dyn Fn(&ScriptedIdp, &str) -> String>;
    let cases: Vec<(&str, Mint, &str)> = vec![
        (
            "wrong issuer",
            Box::new(|idp, nonce| idp.mint(json!({"nonce": nonce, "iss": "https://evil.test"}))),
            r#"issuer "https://evil.test" is not "https://idp.test""#,
        ),
        (
            "wrong audience",
            Box::new(|idp, nonce| idp.mint(json!({"nonce": nonce, "aud": "another-client"}))),
            "audience does not include",
        ),
        (
            "expired",
            Box::new(move |idp, nonce| {
                idp.mint(json!({"nonce": nonce, "iat": t - 7200, "exp": t - 3600}))
            }),
            "token expired at",
        ),
        (
            "another login's nonce",
            Box::new(|idp, _| idp.mint(json!({"nonce": "not-this-login"}))),
            "nonce does not match",
        ),
        (
            "bad signature",
            Box::new(move |idp, nonce| {
                sign_rs256(&other_key, &idp.kid, &idp.claims(json!({ "nonce": nonce })))
            }),
            "signature does not verify",
        ),
        (
            "no sub",
            Box::new(|idp, nonce| idp.mint(json!({"nonce": nonce, "sub": ""}))),
            "no sub claim",
        ),
    ];
    let log = Captured::default();
    let (m, store) = scripted::module(&idp, "{}", log.logger());
    for (name, mint, why) in &cases {
        let (state, nonce, cookie) = scripted::start_login(&m);
        let answer = json!({"id_token": mint(&idp, &nonce), "access_token": "a",
            "refresh_token": "r", "expires_in": 3600});
        idp.once("POST /token", Answer::Json(200, answer));
        let r = scripted::callback(&m, &state, &cookie);
        assert_eq!(r.status, 401, "{name}: {}", log.text());
        log.says(why);
        clears_login_state(&r, &cookie);
        assert!(store.records().is_empty(), "{name}");
    }
    // The keys were read once: a refusal is not a reason to fetch them again.
    assert_eq!(idp.count("GET /keys"), 1);
}

#[test]
fn the_keys_that_cannot_be_read_fail_the_callback_and_store_nothing() {
    for (answer, status, why) in [
        (
            Answer::Json(500, json!({})),
            502,
            "https://idp.test/keys answered 500",
        ),
        (Answer::Raw(200, b"not json"), 502, "not JSON"),
        (
            Answer::Json(200, json!({"keys": "none"})),
            502,
            "https://idp.test/keys",
        ),
        (
            Answer::Fail(TransportKind::Timeout),
            504,
            "did not answer in time",
        ),
    ] {
        let idp = ScriptedIdp::new();
        let log = Captured::default();
        let (m, store) = scripted::module(&idp, "{}", log.logger());
        let (state, nonce, cookie) = scripted::start_login(&m);
        idp.token_answer(scripted::token_answer(&idp, &nonce, json!({}), json!({})));
        idp.once("GET /keys", answer.clone());
        let r = scripted::callback(&m, &state, &cookie);
        assert_eq!(r.status, status, "{answer:?}: {}", log.text());
        log.says(why);
        assert!(store.records().is_empty(), "{answer:?}");
    }
}

#[test]
fn a_replayed_callback_redeems_nothing_twice() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store) = scripted::module(&idp, "{}", log.logger());
    let (state, nonce, cookie) = scripted::start_login(&m);
    idp.token_answer(scripted::token_answer(
        &idp,
        &nonce,
        json!({}),
        json!({"access_token": "access-1", "refresh_token": "refresh-1"}),
    ));
    assert_eq!(scripted::callback(&m, &state, &cookie).status, 302);
    let first = store.only();
    // The same callback again (a browser's back button, or an attacker who saw the URL and
    // holds the cookie): refused before the provider is asked.
    let r = scripted::callback(&m, &state, &cookie);
    assert_eq!(r.status, 400, "{}", log.text());
    log.says("state already used (replay)");
    assert_eq!(idp.count("POST /token"), 1);
    assert_eq!(store.only(), first);
}

/// RFC 9207: the authorization response's `iss` names the provider that issued the code. One
/// that names another issuer is a mix-up (another provider's code sent here) and is refused
/// before the code is redeemed; a missing one is refused when the provider says it always
/// sends it, accepted when it does not.
#[test]
fn the_callback_s_iss_must_name_the_provider() {
    for sends_iss in [false, true] {
        let idp = ScriptedIdp::new();
        idp.discovery(
            "authorization_response_iss_parameter_supported",
            json!(sends_iss),
        );
        let log = Captured::default();
        let (m, store) = scripted::module(&idp, "{}", log.logger());
        let mut cases = vec![
            ("&iss=https%3A%2F%2Fevil.test", 401, "is not the issuer"),
            ("&iss=", 401, "is not the issuer"),
            ("&iss=https%3A%2F%2Fidp.test%2F", 401, "is not the issuer"),
        ];
        cases.push(if sends_iss {
            ("", 401, "has no iss")
        } else {
            ("", 302, "signed in")
        });
        cases.push(("&iss=https%3A%2F%2Fidp.test", 302, "signed in"));
        for (iss, status, why) in cases {
            let (state, nonce, cookie) = scripted::start_login(&m);
            idp.token_answer(scripted::token_answer(&idp, &nonce, json!({}), json!({})));
            let calls = idp.count("POST /token");
            let r = finished(run(
                &m,
                "GET",
                &format!("/.auth/login/idp/callback?code=c&state={state}{iss}"),
                &[("Cookie", &cookie)],
                b"",
            ));
            assert_eq!(r.status, status, "sends_iss={sends_iss} {iss:?}");
            log.says(why);
            if status != 302 {
                clears_login_state(&r, &cookie);
                assert_eq!(idp.count("POST /token"), calls, "no code redeemed: {iss:?}");
                assert!(store.records().is_empty(), "{iss:?}");
            }
        }
    }
}

/// A cookie planted under the login state's name (a sibling subdomain can set one) does not
/// shadow the real one, wherever the browser puts it in the header.
#[test]
fn a_planted_login_state_cookie_does_not_shadow_the_real_one() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store) = scripted::module(&idp, "{}", log.logger());
    let (_, _, other_login) = scripted::start_login(&m);
    let other_value = other_login.split_once('=').unwrap().1.to_owned();
    for planted in ["junk".to_owned(), "".to_owned(), other_value] {
        let (state, nonce, cookie) = scripted::start_login(&m);
        let name = cookie.split_once('=').unwrap().0;
        idp.token_answer(scripted::token_answer(&idp, &nonce, json!({}), json!({})));
        let header = format!("{name}={planted}; {cookie}");
        let r = scripted::callback(&m, &state, &header);
        assert_eq!(r.status, 302, "{planted:?}: {}", log.text());
    }
    assert_eq!(store.records().len(), 1, "one user, signed in three times");
}
