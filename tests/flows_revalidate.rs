//! The legacy `POST /.auth/login` (no provider) with `{"authenticationToken": …}`, as the
//! JavaScript SDK's `loginWithMobileServiceToken` sends it: a valid session token (or custom
//! authentication token) is given back with its user; an invalid, foreign or signed-out one
//! is 401 with a log line; a body of another shape is 400.

mod support;

use ezauth::crypto::jwt::sign_hs256;
use serde_json::json;
use support::scripted::{self, ScriptedIdp};
use support::*;

fn post(m: &ezauth::pipeline::Module, body: &str) -> ezauth::http::Response {
    finished(run(
        m,
        "POST",
        "/.auth/login",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    ))
}

#[test]
fn a_session_token_is_given_back_with_its_user_until_it_is_signed_out() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, _) = scripted::module(&idp, "{}", log.logger());
    let body = json!({"id_token": idp.mint(json!({}))}).to_string();
    let login = json_body(&finished(run(
        &m,
        "POST",
        "/.auth/login/idp",
        &[],
        body.as_bytes(),
    )));
    let token = login["authenticationToken"].as_str().unwrap();

    let r = post(&m, &json!({"authenticationToken": token}).to_string());
    assert_eq!(r.status, 200, "{}", log.text());
    assert_eq!(json_body(&r), login, "the same answer as the client login");

    finished(run(
        &m,
        "GET",
        "/.auth/logout",
        &[("X-ZUMO-AUTH", token)],
        b"",
    ));
    let r = post(&m, &json!({"authenticationToken": token}).to_string());
    assert_eq!(r.status, 401);
    log.says("the session was signed out");
}

#[test]
fn a_custom_token_is_given_back_with_its_sub() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, _) = scripted::module(&idp, "{}", log.logger());
    let site = "http://app.example/";
    let token = sign_hs256(
        &[0x66; 32],
        &json!({"sub": "bob", "iss": site, "aud": site, "exp": now() + 60}),
    );
    let r = post(&m, &json!({"authenticationToken": token}).to_string());
    assert_eq!(r.status, 200, "{}", log.text());
    assert_eq!(
        json_body(&r),
        json!({"authenticationToken": token, "user": {"userId": "bob"}})
    );
}

#[test]
fn invalid_tokens_and_bodies_are_refused() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, _) = scripted::module(&idp, "{}", log.logger());
    let site = "http://app.example/";
    let t = now();
    for token in [
        sign_hs256(
            &[0x67; 32],
            &json!({"sub": "bob", "iss": site, "aud": site, "exp": t + 60}),
        ),
        sign_hs256(
            &[0x66; 32],
            &json!({"sub": "bob", "iss": site, "aud": site, "exp": t - 60}),
        ),
        unsigned(&json!({"sub": "bob", "iss": site, "aud": site, "exp": t + 60})),
        "not-a-token".to_owned(),
    ] {
        let r = post(&m, &json!({"authenticationToken": token}).to_string());
        assert_eq!(r.status, 401, "{token}");
        assert!(!String::from_utf8_lossy(&r.body).contains("authenticationToken"));
    }
    log.says("login (re-validation): X-ZUMO-AUTH");
    for body in ["", "not json", "[]", "{}", r#"{"authenticationToken": 5}"#] {
        assert_eq!(post(&m, body).status, 400, "{body:?}");
    }
}
