//! How the app authenticates at the token endpoint, as configured by
//! `registration.clientCredential` of a custom provider: the secret in the form
//! (`ClientSecretPost`, App Service's method and the default), in HTTP Basic
//! (`ClientSecretBasic`), or no secret at all; on every grant (code and refresh).

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use ezauth::clock::SystemClock;
use serde_json::json;
use support::scripted::{self, Answer, ScriptedIdp};
use support::*;

/// The scripted provider's configuration with `credential` as its `clientCredential`.
fn config_with(credential: &str) -> String {
    scripted::config("{}").replace(
        &format!(r#""clientId":"{CLIENT_ID}","#),
        &format!(r#""clientId":"{CLIENT_ID}","clientCredential":{credential},"#),
    )
}

fn module_with(idp: &Arc<ScriptedIdp>, credential: &str) -> ezauth::pipeline::Module {
    let json = config_with(credential);
    assert!(json.contains("clientCredential"), "{json}");
    scripted::module_on(
        idp,
        &json,
        Captured::default().logger(),
        Arc::new(SystemClock),
    )
    .0
}

fn authorization(idp: &ScriptedIdp) -> Option<String> {
    idp.last_token_request()
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.clone())
}

/// A refresh the provider grants.
fn refresh(idp: &ScriptedIdp, m: &ezauth::pipeline::Module, session: &str) {
    idp.token_answer(Answer::Json(
        200,
        json!({"access_token": "a-2", "refresh_token": "r-2", "expires_in": 3600}),
    ));
    let r = finished(run(m, "GET", "/.auth/refresh", &[("Cookie", session)], b""));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

/// Signs in and refreshes with `credential`, handing `check` each token request (the grant
/// asserted): its form and its `Authorization` header.
fn on_each_grant(credential: &str, check: impl Fn(&HashMap<String, String>, Option<String>)) {
    let idp = ScriptedIdp::new();
    let m = module_with(&idp, credential);
    let session = scripted::sign_in(&m, &idp, Some("r-1"));
    for grant in ["authorization_code", "refresh_token"] {
        if grant == "refresh_token" {
            refresh(&idp, &m, &session);
        }
        let form = idp.last_token_form();
        assert_eq!(form["grant_type"], grant);
        check(&form, authorization(&idp));
    }
}

#[test]
fn client_secret_post_sends_the_secret_in_the_form_on_every_grant() {
    for credential in [
        r#"{"clientSecretSettingName":"IDP_CLIENT_SECRET"}"#,
        r#"{"method":"ClientSecretPost","clientSecretSettingName":"IDP_CLIENT_SECRET"}"#,
    ] {
        on_each_grant(credential, |form, authorization| {
            assert_eq!(form["client_id"], CLIENT_ID);
            assert_eq!(form["client_secret"], "s3cret:/ x", "{credential}");
            assert_eq!(authorization, None);
        });
    }
}

#[test]
fn client_secret_basic_sends_the_form_encoded_pair_in_authorization_only() {
    let credential =
        r#"{"method":"ClientSecretBasic","clientSecretSettingName":"IDP_CLIENT_SECRET"}"#;
    on_each_grant(credential, |form, authorization| {
        assert!(!form.contains_key("client_secret"), "{form:?}");
        assert!(!form.contains_key("client_id"), "{form:?}");
        let basic = authorization.expect("an Authorization header");
        let pair = ezauth::crypto::b64_decode(basic.strip_prefix("Basic ").unwrap()).unwrap();
        // RFC 6749 §2.3.1: id and secret form-encoded, then joined by ':'
        assert_eq!(String::from_utf8(pair).unwrap(), "client-1:s3cret%3A%2F+x");
    });
}

#[test]
fn without_a_secret_only_the_client_id_is_sent() {
    let idp = ScriptedIdp::new();
    let m = module_with(&idp, "{}");
    scripted::sign_in(&m, &idp, None);
    let form = idp.last_token_form();
    assert_eq!(form["client_id"], CLIENT_ID);
    assert!(!form.contains_key("client_secret"));
    assert_eq!(authorization(&idp), None);
}

#[test]
fn an_unknown_method_is_a_startup_error_naming_its_path() {
    let json = config_with(r#"{"method":"PrivateKeyJwt"}"#);
    let e = ezauth::config::parse(&json, &env()).err().expect("refused");
    let text = e.to_string();
    assert!(
        text.contains("customOpenIdConnectProviders.idp.registration.clientCredential.method"),
        "{text}"
    );
    assert!(text.contains("ClientSecretBasic"), "{text}");
}
