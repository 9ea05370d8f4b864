//! `Authorization: Bearer` with a provider's access token, against a scripted provider at
//! unit speed: a token that does not hold, or a provider whose keys cannot be read, is a 401
//! `invalid_token` with a log line that says why; a bearer token never stores anything.

mod support;

use ezauth::http::Outcome;
use ezauth::outbound::TransportKind;
use serde_json::{json, Value};
use support::scripted::{self, Answer, ScriptedIdp};
use support::*;

/// An access token for this app, with `extra` claims.
fn access(idp: &ScriptedIdp, extra: Value) -> String {
    let mut claims = json!({"scp": "user_impersonation", "azp": CLIENT_ID});
    if let (Value::Object(c), Value::Object(e)) = (&mut claims, extra) {
        c.extend(e);
    }
    idp.mint(claims)
}

fn get(m: &ezauth::pipeline::Module, token: &str) -> Outcome {
    run(
        m,
        "GET",
        "/app",
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    )
}

fn invalid_token(o: Outcome, case: &str, log: &Captured) {
    let r = finished(o);
    assert_eq!(r.status, 401, "{case}: {}", log.text());
    let challenge = header(&r, "WWW-Authenticate").unwrap_or_default();
    assert!(challenge.contains("invalid_token"), "{case}: {challenge}");
}

#[test]
fn the_control_a_good_access_token_passes_and_stores_nothing() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store) = scripted::module(&idp, "{}", log.logger());
    let Outcome::Continue(fwd) = get(&m, &access(&idp, json!({}))) else {
        panic!("{}", log.text());
    };
    assert!(fwd
        .set_headers()
        .any(|(n, v)| n == "X-MS-CLIENT-PRINCIPAL-IDP" && v == "idp"));
    assert!(store.records().is_empty());
}

#[test]
fn a_bearer_token_that_does_not_hold_is_invalid() {
    let idp = ScriptedIdp::new();
    let t = now();
    for (case, token, why) in [
        (
            "wrong audience",
            access(&idp, json!({"aud": "another-api"})),
            "audience does not include",
        ),
        (
            "expired",
            access(&idp, json!({"iat": t - 7200, "exp": t - 3600})),
            "token expired at",
        ),
        (
            "bad signature",
            sign_rs256(
                &scripted::another_key(),
                &idp.kid,
                &idp.claims(json!({"scp": "user_impersonation"})),
            ),
            "signature does not verify",
        ),
        (
            "an id_token",
            idp.mint(json!({})),
            "an id_token is not accepted as a bearer token",
        ),
    ] {
        let log = Captured::default();
        let (m, store) = scripted::module(&idp, "{}", log.logger());
        invalid_token(get(&m, &token), case, &log);
        log.says("bearer token of idp refused");
        log.says(why);
        assert!(store.records().is_empty(), "{case}");
    }
}

#[test]
fn a_token_of_another_issuer_is_nobody_s() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, _) = scripted::module(&idp, "{}", log.logger());
    let token = access(&idp, json!({"iss": "https://evil.test"}));
    // Anonymous access is allowed here: the request goes on with no identity at all.
    match get(&m, &token) {
        Outcome::Continue(fwd) => assert_eq!(fwd.set_headers().count(), 0, "{fwd:?}"),
        other => panic!("{other:?}"),
    }
    // Not even validated: no provider of this app issued it.
    assert_eq!(idp.count("GET /keys"), 0);
}

#[test]
fn keys_that_cannot_be_read_make_a_bearer_token_invalid() {
    for (answer, why) in [
        (
            Answer::Json(500, json!({})),
            "https://idp.test/keys answered 500",
        ),
        (Answer::Raw(200, b"<html>"), "not JSON"),
        (
            Answer::Fail(TransportKind::Timeout),
            "did not answer in time",
        ),
        (
            Answer::Fail(TransportKind::Unreachable),
            "scripted Unreachable",
        ),
    ] {
        let idp = ScriptedIdp::new();
        let log = Captured::default();
        let (m, _) = scripted::module(&idp, "{}", log.logger());
        idp.once("GET /keys", answer.clone());
        let case = format!("{answer:?}");
        invalid_token(get(&m, &access(&idp, json!({}))), &case, &log);
        log.says(why);
        // The provider is back: the same token passes.
        let o = get(&m, &access(&idp, json!({})));
        assert!(matches!(o, Outcome::Continue(_)), "{case}: {o:?}");
    }
}
