//! Client-directed login (`POST /.auth/login/{provider}` with the provider's token as JSON)
//! against a scripted provider, at unit speed: a token that does not hold or a provider that
//! cannot vouch for it gets no session token, a log line that says why, and nothing stored.

mod support;

use ezauth::outbound::TransportKind;
use serde_json::{json, Value};
use support::scripted::{self, Answer, ScriptedIdp};
use support::*;

fn post(m: &ezauth::pipeline::Module, body: &Value) -> ezauth::http::Response {
    finished(run(
        m,
        "POST",
        "/.auth/login/idp",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    ))
}

/// Asserts a refusal: `status`, a log line saying `why`, no session token, nothing stored.
fn refused(
    r: &ezauth::http::Response,
    status: u16,
    why: &str,
    log: &Captured,
    store: &scripted::MemoryStore,
    case: &str,
) {
    assert_eq!(r.status, status, "{case}: {}", log.text());
    log.says(why);
    assert!(
        !String::from_utf8_lossy(&r.body).contains("authenticationToken"),
        "{case}"
    );
    assert!(store.records().is_empty(), "{case}");
}

#[test]
fn the_control_a_good_id_token_signs_in() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store) = scripted::module(&idp, "{}", log.logger());
    let r = post(&m, &json!({"id_token": idp.mint(json!({}))}));
    assert_eq!(r.status, 200, "{}", log.text());
    assert!(json_body(&r)["authenticationToken"].is_string());
    assert_eq!(store.records().len(), 1);
}

#[test]
fn a_token_that_does_not_hold_gets_no_session() {
    let idp = ScriptedIdp::new();
    let t = now();
    let forged = sign_rs256(&scripted::another_key(), &idp.kid, &idp.claims(json!({})));
    let unknown_kid = sign_rs256(&scripted::another_key(), "key-2", &idp.claims(json!({})));
    for (case, token, why) in [
        (
            "wrong issuer",
            idp.mint(json!({"iss": "https://evil.test"})),
            r#"issuer "https://evil.test" is not"#,
        ),
        (
            "wrong audience",
            idp.mint(json!({"aud": "another-client"})),
            "audience does not include",
        ),
        (
            "expired",
            idp.mint(json!({"iat": t - 7200, "exp": t - 3600})),
            "token expired at",
        ),
        (
            "not yet valid",
            idp.mint(json!({"nbf": t + 3600})),
            "token not valid before",
        ),
        ("bad signature", forged, "signature does not verify"),
        (
            "unknown key",
            unknown_kid,
            "no key in the provider's JWKS matches",
        ),
        ("not a JWT", "garbage".to_owned(), "malformed token"),
    ] {
        let log = Captured::default();
        let (m, store) = scripted::module(&idp, "{}", log.logger());
        let r = post(&m, &json!({ "id_token": token }));
        refused(&r, 401, why, &log, &store, case);
        log.says("client login with idp failed (401)");
    }
}

#[test]
fn a_provider_that_cannot_vouch_for_the_token_gets_no_session() {
    for (request, answer, status, why) in [
        (
            "GET /.well-known/openid-configuration",
            Answer::Json(500, json!({})),
            502,
            "openid-configuration answered 500",
        ),
        (
            "GET /.well-known/openid-configuration",
            Answer::Fail(TransportKind::Unreachable),
            502,
            "scripted Unreachable",
        ),
        (
            "GET /keys",
            Answer::Raw(200, b"\x00\x01 not json"),
            502,
            "not JSON",
        ),
        (
            "GET /keys",
            Answer::Fail(TransportKind::Timeout),
            504,
            "https://idp.test/keys did not answer in time",
        ),
    ] {
        let idp = ScriptedIdp::new();
        let log = Captured::default();
        let (m, store) = scripted::module(&idp, "{}", log.logger());
        idp.once(request, answer.clone());
        let r = post(&m, &json!({"id_token": idp.mint(json!({}))}));
        let case = format!("{request} {answer:?}");
        refused(&r, status, why, &log, &store, &case);
        log.says(&format!("client login with idp failed ({status})"));
        // The provider is back: the same client signs in.
        let r = post(&m, &json!({"id_token": idp.mint(json!({}))}));
        assert_eq!(r.status, 200, "{case}: {}", log.text());
    }
}

/// Two `X-ZUMO-AUTH` lines: which would the app read? Refused whatever they hold, as two
/// `Authorization` lines are; one line of the same token works.
#[test]
fn two_session_token_lines_are_refused_whatever_they_hold() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, _) = scripted::module(&idp, "{}", log.logger());
    let r = post(&m, &json!({"id_token": idp.mint(json!({}))}));
    let token = json_body(&r)["authenticationToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = |headers: &[(&str, &str)]| finished(run(&m, "GET", "/.auth/me", headers, b"")).status;
    assert_eq!(me(&[("X-ZUMO-AUTH", &token)]), 200);
    for (first, second) in [
        (token.as_str(), token.as_str()),
        (token.as_str(), "junk"),
        ("junk", token.as_str()),
        (token.as_str(), ""),
    ] {
        let status = me(&[("X-ZUMO-AUTH", first), ("x-zumo-auth", second)]);
        assert_eq!(status, 400, "{first:.8} / {second:.8}");
    }
    log.says("more than one X-ZUMO-AUTH header");
    // A line CGI-style servers read as X-ZUMO-AUTH (`_` for `-`), beside the real one or alone.
    for spelling in ["X_ZUMO_AUTH", "x_zumo-auth", "X.ZUMO.AUTH"] {
        assert_eq!(
            me(&[("X-ZUMO-AUTH", &token), (spelling, "forged")]),
            400,
            "{spelling}"
        );
        assert_eq!(me(&[(spelling, &token)]), 400, "{spelling} alone");
    }
    log.says("an X-ZUMO-AUTH header spelled another way");
}
