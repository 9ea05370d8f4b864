//! The provider's discovery document against a scripted provider, at unit speed: a login
//! cannot start without it, and one that names another issuer or a plain-http endpoint is
//! refused before anything else is fetched. (Moved here from the loopback provider of
//! `tests/providers.rs`.)

mod support;

use ezauth::outbound::TransportKind;
use serde_json::json;
use support::scripted::{self, Answer, ScriptedIdp};
use support::*;

/// Starts a login (which reads the discovery document): its status.
fn login(m: &ezauth::pipeline::Module) -> u16 {
    finished(run(m, "GET", "/.auth/login/idp", &[], b"")).status
}

#[test]
fn a_discovery_document_naming_plain_http_endpoints_is_refused() {
    for field in [
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "end_session_endpoint",
    ] {
        let idp = ScriptedIdp::new();
        idp.discovery(field, json!("http://idp.example/endpoint"));
        let log = Captured::default();
        let (m, _) = scripted::module(&idp, "{}", log.logger());
        assert_eq!(login(&m), 502, "{field}");
        let text = log.text();
        assert!(
            text.contains(field) && text.contains("https"),
            "{field}: {text}"
        );
        assert_eq!(idp.count("GET /keys"), 0);
    }
}

#[test]
fn a_discovery_document_must_name_the_configured_issuer_exactly() {
    for claimed in [
        format!("{}/", scripted::ISSUER),
        scripted::ISSUER.to_uppercase(),
        "https://evil.example".to_owned(),
    ] {
        let idp = ScriptedIdp::new();
        idp.discovery("issuer", json!(claimed));
        let log = Captured::default();
        let (m, _) = scripted::module(&idp, "{}", log.logger());
        assert_eq!(login(&m), 502, "{claimed}");
        let text = log.text();
        assert!(text.contains("issuer") && text.contains(&claimed), "{text}");
    }
    // The control: the same provider naming itself signs in.
    let idp = ScriptedIdp::new();
    let (m, _) = scripted::module(&idp, "{}", Captured::default().logger());
    assert_eq!(login(&m), 302);
}

#[test]
fn a_login_cannot_start_without_the_provider_s_metadata() {
    for (answer, status, why) in [
        (
            Answer::Json(500, json!({})),
            502,
            "openid-configuration answered 500",
        ),
        (Answer::Raw(200, b"<html>"), 502, "not JSON"),
        (
            Answer::Fail(TransportKind::Timeout),
            504,
            "did not answer in time",
        ),
        (
            Answer::Fail(TransportKind::Unreachable),
            502,
            "scripted Unreachable",
        ),
    ] {
        let idp = ScriptedIdp::new();
        let log = Captured::default();
        let (m, _) = scripted::module(&idp, "{}", log.logger());
        idp.once("GET /.well-known/openid-configuration", answer.clone());
        let r = finished(run(&m, "GET", "/.auth/login/idp", &[], b""));
        assert_eq!(r.status, status, "{answer:?}: {}", log.text());
        log.says(&format!("login with idp failed ({status})"));
        log.says(why);
        assert!(header(&r, "Set-Cookie").is_none(), "{:?}", r.headers);
    }
}
