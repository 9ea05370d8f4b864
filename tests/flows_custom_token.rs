//! Custom authentication tokens (Mobile Apps custom auth): `X-ZUMO-AUTH` tokens the
//! application minted itself with `WEBSITE_AUTH_SIGNING_KEY` (HS256, `iss`/`aud` the site URL,
//! `sub` any user id, `exp`, no `ver`/`idp`/`stable_sid` needed) are accepted and mapped to a
//! principal with their claims; anything that does not hold gets 401 and a log line; our own
//! session tokens keep every check.

mod support;

use ezauth::crypto::jwt::sign_hs256;
use ezauth::http::{Forward, Outcome};
use serde_json::{json, Value};
use support::scripted::{self, ScriptedIdp};
use support::*;

/// The test environment's `WEBSITE_AUTH_SIGNING_KEY` (`66` × 32, hex), as the app holds it.
const SIGNING_KEY: [u8; 32] = [0x66; 32];
/// The site as the tests reach it (`http://app.example`), with App Service's trailing slash.
const SITE: &str = "http://app.example/";

/// A token as the .NET server SDK's `AppServiceLoginHandler.CreateToken` or the Node SDK's
/// `auth.sign` mints one: `sub`, `iss`/`aud`, `exp`, plus `extra`.
fn custom_claims(extra: Value) -> Value {
    let mut c = json!({"sub": "alice@contoso", "iss": SITE, "aud": SITE, "exp": now() + 3600});
    if let (Value::Object(c), Value::Object(extra)) = (&mut c, extra) {
        c.extend(extra);
    }
    c
}

fn custom_token(extra: Value) -> String {
    sign_hs256(&SIGNING_KEY, &custom_claims(extra))
}

fn set_header<'f>(fwd: &'f Forward, name: &str) -> Option<&'f str> {
    fwd.set_headers()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn principal_json(fwd: &Forward) -> Value {
    let b64 = set_header(fwd, "X-MS-CLIENT-PRINCIPAL").expect("principal header");
    serde_json::from_slice(&ezauth::crypto::b64_decode(b64).unwrap()).unwrap()
}

fn claim<'v>(principal: &'v Value, typ: &str) -> Option<&'v str> {
    principal["claims"]
        .as_array()?
        .iter()
        .find(|c| c["typ"] == typ)
        .and_then(|c| c["val"].as_str())
}

#[test]
fn a_custom_token_signs_the_request_in_with_its_claims() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store) = scripted::module(&idp, "{}", log.logger());
    let token = custom_token(json!({"name": "Alice", "role": "admin"}));
    let auth = [("X-ZUMO-AUTH", token.as_str())];
    let Outcome::Continue(fwd) = run(&m, "GET", "/app", &auth, b"") else {
        panic!("a custom token should pass: {}", log.text());
    };
    assert_eq!(
        set_header(&fwd, "X-MS-CLIENT-PRINCIPAL-ID"),
        Some("alice@contoso")
    );
    assert_eq!(
        set_header(&fwd, "X-MS-CLIENT-PRINCIPAL-NAME"),
        Some("Alice")
    );
    assert_eq!(
        set_header(&fwd, "X-MS-CLIENT-PRINCIPAL-IDP"),
        Some("custom")
    );
    let p = principal_json(&fwd);
    assert_eq!(p["auth_typ"], "custom");
    assert_eq!(p["name_typ"], "name");
    assert_eq!(
        claim(
            &p,
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
        ),
        Some("alice@contoso")
    );
    assert_eq!(claim(&p, "role"), Some("admin"));
    assert!(
        fwd.set_headers()
            .all(|(n, _)| !n.starts_with("X-MS-TOKEN-")),
        "a custom token owns no stored tokens"
    );
    assert!(store.records().is_empty());

    // The idp the application put in the token is what the application sees.
    let with_idp = custom_token(json!({"idp": "contoso"}));
    let Outcome::Continue(fwd) = run(&m, "GET", "/app", &[("X-ZUMO-AUTH", &with_idp)], b"") else {
        panic!("{}", log.text());
    };
    assert_eq!(
        set_header(&fwd, "X-MS-CLIENT-PRINCIPAL-IDP"),
        Some("contoso")
    );
    // Without a name the user id is the name.
    assert_eq!(
        set_header(&fwd, "X-MS-CLIENT-PRINCIPAL-NAME"),
        Some("alice@contoso")
    );
}

#[test]
fn a_custom_token_has_no_session_to_refresh_or_sign_out() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, _) = scripted::module(&idp, "{}", log.logger());
    let token = custom_token(json!({}));
    let auth = [("X-ZUMO-AUTH", token.as_str())];
    let me = json_body(&finished(run(&m, "GET", "/.auth/me", &auth, b"")));
    assert_eq!(me[0]["provider_name"], "custom");
    assert_eq!(me[0]["user_id"], "alice@contoso");
    assert!(me[0].get("access_token").is_none());

    let r = finished(run(&m, "GET", "/.auth/refresh", &auth, b""));
    assert_eq!(r.status, 400);
    log.says("a custom authentication token has no session to refresh");

    // Logout cannot revoke it (it carries no session id): it works until it expires.
    finished(run(&m, "GET", "/.auth/logout", &auth, b""));
    assert!(matches!(
        run(&m, "GET", "/app", &auth, b""),
        Outcome::Continue(_)
    ));
}

#[test]
fn custom_tokens_that_do_not_hold_get_401_and_a_log_line() {
    let idp = ScriptedIdp::new();
    let t = now();
    let cases = [
        (
            "wrong key",
            sign_hs256(&[0x67; 32], &custom_claims(json!({}))),
            "signature does not verify",
        ),
        (
            "alg none",
            unsigned(&custom_claims(json!({}))),
            "algorithm \"none\" is not accepted",
        ),
        (
            "RS256",
            sign_rs256(&scripted::another_key(), "k", &custom_claims(json!({}))),
            "algorithm \"RS256\" is not accepted",
        ),
        (
            "expired",
            custom_token(json!({"exp": t - 60})),
            "token expired at",
        ),
        (
            "no exp",
            custom_token(json!({"exp": null})),
            "token has no exp",
        ),
        (
            "not yet valid",
            custom_token(json!({"nbf": t + 3600})),
            "token not valid before",
        ),
        (
            "wrong audience",
            custom_token(json!({"aud": "https://other.example/"})),
            "or audience is not this site",
        ),
        (
            "wrong issuer",
            custom_token(json!({"iss": "https://other.example/"})),
            "or audience is not this site",
        ),
        ("no sub", custom_token(json!({"sub": null})), "no sub"),
        ("empty sub", custom_token(json!({"sub": ""})), "no sub"),
        (
            "sub with a line break",
            custom_token(json!({"sub": "a\r\nX-Evil: 1"})),
            "holds control characters",
        ),
    ];
    for (case, token, why) in cases {
        let log = Captured::default();
        let (m, _) = scripted::module(&idp, "{}", log.logger());
        let r = finished(run(&m, "GET", "/app", &[("X-ZUMO-AUTH", &token)], b""));
        assert_eq!(r.status, 401, "{case}: {}", log.text());
        log.says("X-ZUMO-AUTH");
        log.says(why);
    }
}

/// A token with any claim only our session tokens carry is judged as ours: signed with the
/// key but minted for another app, or without the app binding, it is refused, never taken
/// for a custom token.
#[test]
fn our_session_claims_keep_every_check_of_a_session_token() {
    let idp = ScriptedIdp::new();
    for (case, extra, why) in [
        (
            "another app's session",
            json!({"sub": "sid:00", "app": "another-app", "ssn": "s1"}),
            "issued for another app",
        ),
        (
            "session id without app",
            json!({"sub": "sid:00", "ssn": "s1"}),
            "issued for another app",
        ),
        (
            "principal without app",
            json!({"prn": {"id": "admin", "name": "admin", "header": "e30="}}),
            "issued for another app",
        ),
    ] {
        let log = Captured::default();
        let (m, _) = scripted::module(&idp, "{}", log.logger());
        let token = custom_token(extra);
        let r = finished(run(&m, "GET", "/app", &[("X-ZUMO-AUTH", &token)], b""));
        assert_eq!(r.status, 401, "{case}: {}", log.text());
        log.says(why);
    }
}

/// A session token from a client login still signs out with logout (custom tokens changed
/// nothing for ours).
#[test]
fn a_session_token_is_still_revoked_by_logout() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, _) = scripted::module(&idp, "{}", log.logger());
    let body = json!({"id_token": idp.mint(json!({}))}).to_string();
    let r = finished(run(&m, "POST", "/.auth/login/idp", &[], body.as_bytes()));
    assert_eq!(r.status, 200, "{}", log.text());
    let token = json_body(&r)["authenticationToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let auth = [("X-ZUMO-AUTH", token.as_str())];
    assert!(matches!(
        run(&m, "GET", "/app", &auth, b""),
        Outcome::Continue(_)
    ));
    finished(run(&m, "GET", "/.auth/logout", &auth, b""));
    let r = finished(run(&m, "GET", "/app", &auth, b""));
    assert_eq!(r.status, 401, "{}", log.text());
    log.says("the session was signed out");
}
