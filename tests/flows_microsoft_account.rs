//! Microsoft Account (`legacyMicrosoftAccount`, signed in under `microsoftaccount`) against a
//! scripted provider standing in for the identity platform's `consumers` endpoints (moved there
//! by `ezauth.providers.microsoftaccount`): Live scopes read as the platform's, offline access
//! → a refresh token, `X-MS-TOKEN-MICROSOFTACCOUNT-*`, and App Service's client-directed
//! bodies `{authentication_token}` and `{access_token}`.

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use ezauth::clock::SystemClock;
use ezauth::http::Outcome;
use ezauth::pipeline::Module;
use serde_json::json;
use support::scripted::{self, Answer, MemoryStore, ScriptedIdp, ISSUER};
use support::*;

fn msa(idp: &Arc<ScriptedIdp>, scopes: &str, log: &Captured) -> (Module, Arc<MemoryStore>) {
    let json = format!(
        r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}},
        "identityProviders":{{"legacyMicrosoftAccount":{{"enabled":true,
          "registration":{{"clientId":"{CLIENT_ID}","clientSecretSettingName":"IDP_CLIENT_SECRET"}},
          "login":{{"scopes":{scopes}}}}}}},
        "login":{{"tokenStore":{{"enabled":true,"fileSystem":{{"directory":"/nonexistent/unused"}}}}}},
        "httpSettings":{{"requireHttps":false}},
        "ezauth":{{"providers":{{"microsoftaccount":{{
          "authorizationEndpoint":"{ISSUER}/authorize","tokenEndpoint":"{ISSUER}/token",
          "jwksEndpoint":"{ISSUER}/keys","issuer":"{ISSUER}"}}}}}}}}"#
    );
    scripted::module_on(idp, &json, log.logger(), Arc::new(SystemClock))
}

fn app_headers(m: &Module, auth: (&str, &str)) -> HashMap<String, String> {
    let Outcome::Continue(fwd) = run(m, "GET", "/page", &[auth], b"") else {
        panic!("expected the request to pass");
    };
    fwd.set_headers().cloned().collect()
}

#[test]
fn microsoft_account_signs_in_with_offline_access_and_refreshes() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store) = msa(&idp, r#"["wl.basic","wl.offline_access"]"#, &log);
    let r = finished(run(&m, "GET", "/.auth/login/microsoftaccount", &[], b""));
    assert_eq!(r.status, 302, "{}", log.text());
    let location = url::Url::parse(header(&r, "Location").unwrap()).unwrap();
    let scope = location
        .query_pairs()
        .find(|(k, _)| k == "scope")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(scope, "openid profile offline_access");
    let (state, nonce, cookie) = login_started(&r);
    idp.token_answer(scripted::token_answer(
        &idp,
        &nonce,
        json!({"name": "Ann"}),
        json!({"access_token": "msa-access", "refresh_token": "msa-refresh"}),
    ));
    let r = finished(run(
        &m,
        "GET",
        &format!("/.auth/login/microsoftaccount/callback?code=c&state={state}"),
        &[("Cookie", &cookie)],
        b"",
    ));
    assert_eq!(r.status, 302, "{}", log.text());
    assert_eq!(idp.last_token_form()["client_secret"], "s3cret:/ x");
    let session = session_cookie(&r);
    let h = app_headers(&m, ("Cookie", &session));
    assert_eq!(h["X-MS-CLIENT-PRINCIPAL-IDP"], "microsoftaccount");
    assert_eq!(h["X-MS-TOKEN-MICROSOFTACCOUNT-ACCESS-TOKEN"], "msa-access");
    assert_eq!(
        h["X-MS-TOKEN-MICROSOFTACCOUNT-REFRESH-TOKEN"],
        "msa-refresh"
    );
    assert!(h.contains_key("X-MS-TOKEN-MICROSOFTACCOUNT-EXPIRES-ON"));
    // The sign-in token, under both names App Service's headers use for Microsoft Account.
    assert_eq!(
        h["X-MS-TOKEN-MICROSOFTACCOUNT-AUTHENTICATION-TOKEN"],
        h["X-MS-TOKEN-MICROSOFTACCOUNT-ID-TOKEN"]
    );

    idp.token_answer(Answer::Json(
        200,
        json!({"access_token": "msa-access-2", "refresh_token": "msa-refresh-2", "expires_in": 3600}),
    ));
    let refreshed = refresh_by_cookie(&m, &session);
    assert_eq!(refreshed.status, 200, "{}", log.text());
    assert_eq!(idp.last_token_form()["refresh_token"], "msa-refresh");
    assert_eq!(store.only().access_token.as_deref(), Some("msa-access-2"));
}

#[test]
fn a_client_signs_in_with_its_authentication_token_or_a_jwt_access_token_only() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store) = msa(&idp, "[]", &log);
    let post = |body: String| {
        finished(run(
            &m,
            "POST",
            "/.auth/login/microsoftaccount",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        ))
    };
    let id_token = idp.mint(json!({"name": "Ann"}));
    let r = post(json!({"authentication_token": id_token}).to_string());
    assert_eq!(r.status, 200, "{}", log.text());
    assert!(json_body(&r)["authenticationToken"].is_string());
    assert_eq!(store.only().id_token.as_deref(), Some(id_token.as_str()));
    assert_eq!(
        store.only().authentication_token.as_deref(),
        Some(id_token.as_str())
    );

    // An access token Microsoft issued for its own APIs is opaque here: refused, not stored.
    let before = store.records();
    let r = post(json!({"access_token": "EwB4A8l6BAAU-opaque"}).to_string());
    assert_eq!(r.status, 401, "{}", log.text());
    // Another issuer's token.
    let elsewhere = idp.mint(json!({"iss": "https://evil.test"}));
    let r = post(json!({"authentication_token": elsewhere}).to_string());
    assert_eq!(r.status, 401, "{}", log.text());
    assert_eq!(store.records(), before);
}

#[test]
fn the_v1_names_and_the_default_scopes_of_microsoft_account() {
    let env = env();
    let settings = ezauth::config::parse(
        r#"{"globalValidation":{"redirectToProvider":"LegacyMicrosoftAccount"},
            "identityProviders":{"legacyMicrosoftAccount":{"registration":{"clientId":"c",
            "clientSecretSettingName":"IDP_CLIENT_SECRET"}}}}"#,
        &env,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        settings.default_provider.as_deref(),
        Some("microsoftaccount")
    );
    let p = &settings.providers[0];
    assert_eq!(p.name, "microsoftaccount");
    assert_eq!(p.scopes, ["openid", "profile", "email"]);
    assert_eq!(
        p.issuer(),
        Some("https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0")
    );
    // Without the secret no code could be redeemed.
    let e = ezauth::config::parse(
        r#"{"identityProviders":{"legacyMicrosoftAccount":{"registration":{"clientId":"c"}}}}"#,
        &env,
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(
        e.contains("legacyMicrosoftAccount.registration.clientSecretSettingName"),
        "{e}"
    );
}
