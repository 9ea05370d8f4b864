//! Client-directed login (`POST /.auth/login/{provider}`) against a real (small) provider:
//! only the token that was validated is stored; anything else the client posts is ignored.

mod support;

use ezauth::http::Outcome;
use serde_json::{json, Value};
use support::*;

#[test]
fn only_the_validated_token_is_stored_from_a_client_login() {
    let idp = TestIdp::start();
    let log = Captured::default();
    let m = module(&idp, "{}", log.logger());
    let id_token = idp.mint(json!({}));
    // An access token nobody signed, and a refresh token the provider never issued.
    let forged_access = unsigned(&idp.claims(json!({"roles": ["admin"]})));
    let planted_refresh = "planted-refresh-token-0123456789";
    let body = json!({
        "id_token": id_token,
        "access_token": forged_access,
        "refresh_token": planted_refresh,
    })
    .to_string();
    let r = finished(run(&m, "POST", "/.auth/login/idp", &[], body.as_bytes()));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let token = json_body(&r)["authenticationToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let auth = [("X-ZUMO-AUTH", token.as_str())];

    // /.auth/me shows the id_token only.
    let me = json_body(&finished(run(&m, "GET", "/.auth/me", &auth, b"")));
    let entry = &me[0];
    assert_eq!(entry["id_token"], Value::String(id_token.clone()));
    assert!(
        entry.get("access_token").is_none_or(Value::is_null),
        "unvalidated access token stored: {entry}"
    );
    assert!(
        entry.get("refresh_token").is_none_or(Value::is_null),
        "client-posted refresh token stored: {entry}"
    );

    // The application never sees them.
    let Outcome::Continue(fwd) = run(&m, "GET", "/app", &auth, b"") else {
        panic!("expected the request to pass");
    };
    let names: Vec<&str> = fwd.set_headers().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"X-MS-TOKEN-IDP-ID-TOKEN"), "{names:?}");
    assert!(!names.contains(&"X-MS-TOKEN-IDP-ACCESS-TOKEN"), "{names:?}");
    assert!(
        !names.contains(&"X-MS-TOKEN-IDP-REFRESH-TOKEN"),
        "{names:?}"
    );
    for (_, v) in fwd.set_headers() {
        assert!(!v.contains(&forged_access) && !v.contains(planted_refresh));
    }

    // /.auth/refresh has nothing to redeem: the planted token never reaches the provider.
    let r = finished(run(&m, "GET", "/.auth/refresh", &auth, b""));
    assert_eq!(r.status, 400);
    assert_eq!(idp.count("POST /token"), 0, "{:?}", idp.requests());

    // The ignored fields are named in the log, their values never.
    let text = log.text();
    assert!(
        text.contains("access_token") && text.contains("refresh_token"),
        "{text}"
    );
    assert!(!text.contains(&forged_access) && !text.contains(planted_refresh));
    assert!(!text.contains(&id_token));
}

#[test]
fn a_client_login_by_access_token_stores_that_token_only() {
    let idp = TestIdp::start();
    let log = Captured::default();
    let m = module(&idp, "{}", log.logger());
    let access = idp.mint(json!({"scp": "user_impersonation"}));
    let body = json!({"access_token": access, "refresh_token": "planted"}).to_string();
    let r = finished(run(&m, "POST", "/.auth/login/idp", &[], body.as_bytes()));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let token = json_body(&r)["authenticationToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = json_body(&finished(run(
        &m,
        "GET",
        "/.auth/me",
        &[("X-ZUMO-AUTH", &token)],
        b"",
    )));
    assert_eq!(me[0]["access_token"], Value::String(access));
    assert!(me[0].get("refresh_token").is_none_or(Value::is_null));
    assert!(me[0].get("id_token").is_none_or(Value::is_null));
}

#[test]
fn a_forged_id_token_beside_a_good_access_token_is_not_stored() {
    let idp = TestIdp::start();
    let m = module(&idp, "{}", Captured::default().logger());
    // The id_token is what gets validated when both are posted; a forged one fails the login.
    let body = json!({
        "id_token": unsigned(&idp.claims(json!({}))),
        "access_token": idp.mint(json!({})),
    })
    .to_string();
    let r = finished(run(&m, "POST", "/.auth/login/idp", &[], body.as_bytes()));
    assert_eq!(r.status, 401);
}

#[test]
fn a_client_login_logs_the_user_s_name_at_debug_only_and_no_token() {
    let idp = TestIdp::start();
    let log = Captured::default();
    let m = module(&idp, r#"{"nameClaimType":"name"}"#, log.logger());
    let id_token = idp.mint(json!({}));
    let body = json!({ "id_token": id_token }).to_string();
    let r = finished(run(&m, "POST", "/.auth/login/idp", &[], body.as_bytes()));
    assert_eq!(r.status, 200);
    let session = json_body(&r)["authenticationToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let lines = log.lines();
    assert!(lines
        .iter()
        .any(|(l, m)| *l == ezauth::logger::Level::Debug && m.contains("Ada Lovelace")));
    for (level, line) in lines {
        if level != ezauth::logger::Level::Debug {
            assert!(
                !line.contains("Ada Lovelace") && !line.contains("ada@example.com"),
                "[{level:?}] {line}"
            );
        }
        assert!(!line.contains(&id_token) && !line.contains(&session));
    }
}
