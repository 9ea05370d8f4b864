//! `/.auth/me` of a session whose user signed out elsewhere: logout deletes the user's stored
//! tokens and keeps only which sessions are signed out, so a session still signed in answers
//! with its own identity and no tokens, not an empty stub.

mod support;

use serde_json::Value;
use support::scripted::{self, ScriptedIdp};
use support::*;

fn me(m: &ezauth::pipeline::Module, cookie: &str) -> (u16, Value) {
    let r = finished(run(m, "GET", "/.auth/me", &[("Cookie", cookie)], b""));
    let body = if r.status == 200 {
        json_body(&r)
    } else {
        Value::Null
    };
    (r.status, body)
}

#[test]
fn another_session_s_logout_leaves_this_one_its_identity_without_tokens() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, _) = scripted::module(&idp, "{}", log.logger());
    let first = scripted::sign_in(&m, &idp, Some("r-1"));
    let second = scripted::sign_in(&m, &idp, Some("r-2"));
    let (status, before) = me(&m, &second);
    assert_eq!(status, 200);
    assert!(before[0]["access_token"].is_string(), "{before}");

    let r = finished(run(&m, "GET", "/.auth/logout", &[("Cookie", &first)], b""));
    assert_eq!(r.status, 302, "{}", log.text());
    assert_eq!(me(&m, &first).0, 401, "the signed-out session");

    let (status, after) = me(&m, &second);
    assert_eq!(status, 200, "{}", log.text());
    let entry = &after[0];
    assert_eq!(entry["provider_name"], before[0]["provider_name"]);
    assert_eq!(entry["user_id"], before[0]["user_id"]);
    assert!(!entry["user_id"].as_str().unwrap().is_empty(), "{entry}");
    assert!(
        !entry["user_claims"].as_array().unwrap().is_empty(),
        "{entry}"
    );
    for token in ["access_token", "refresh_token", "id_token", "revoked"] {
        assert!(entry.get(token).is_none(), "{token} in {entry}");
    }
    let (_, filtered) = {
        let r = finished(run(
            &m,
            "GET",
            "/.auth/me?provider=another",
            &[("Cookie", &second)],
            b"",
        ));
        (r.status, json_body(&r))
    };
    assert_eq!(filtered, Value::Array(vec![]));
}
