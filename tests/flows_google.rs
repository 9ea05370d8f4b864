//! Google (an OpenID Connect preset) against a scripted OpenID provider standing in for
//! accounts.google.com (moved with `ezauth.providers.google`), at unit speed: the authorize
//! redirect with `access_type=offline` passed on, a callback whose id_token names the issuer
//! with or without its scheme (Google documents both), the `X-MS-TOKEN-GOOGLE-*` headers,
//! refresh; client-directed `{id_token}` (audience the client id or one of
//! `validation.allowedAudiences`) and `{authorization_code}` (redeemed here, its refresh token
//! kept) and their refusals; no Google id_token as a bearer credential; a local logout when
//! the discovery document names no end-session endpoint (as Google's does not).

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use ezauth::clock::{ManualClock, SystemClock};
use ezauth::http::{Outcome, Response};
use ezauth::pipeline::Module;
use serde_json::{json, Value};
use support::scripted::{self, Answer, MemoryStore, ScriptedIdp, ISSUER};
use support::*;

/// An audience of the app's other client (its Android app's client id, say).
const OTHER_CLIENT: &str = "android-1.apps.googleusercontent.com";

fn config() -> String {
    format!(
        r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}},
        "identityProviders":{{"google":{{"enabled":true,
          "registration":{{"clientId":"{CLIENT_ID}","clientSecretSettingName":"IDP_CLIENT_SECRET"}},
          "login":{{"scopes":[]}},
          "validation":{{"allowedAudiences":["{OTHER_CLIENT}"]}}}}}},
        "login":{{"tokenStore":{{"enabled":true,"fileSystem":{{"directory":"/nonexistent/unused"}}}}}},
        "httpSettings":{{"requireHttps":false}},
        "ezauth":{{"providers":{{"google":{{
          "wellKnownOpenIdConfiguration":"{ISSUER}/.well-known/openid-configuration"}}}}}}}}"#
    )
}

fn module(idp: &Arc<ScriptedIdp>, log: &Captured) -> (Module, Arc<MemoryStore>) {
    scripted::module_with(idp.clone(), &config(), log.logger(), Arc::new(SystemClock))
}

fn start(m: &Module, query: &str) -> Response {
    login_redirect(m, "google", query)
}

/// A browser sign-in whose token endpoint answers `tokens` and an id_token of `claims`.
fn sign_in(m: &Module, idp: &ScriptedIdp, claims: Value, tokens: Value) -> Response {
    let (state, nonce, cookie) = login_started(&start(m, "access_type=offline"));
    idp.token_answer(scripted::token_answer(idp, &nonce, claims, tokens));
    finished(run(
        m,
        "GET",
        &format!("/.auth/login/google/callback?code=the-code&state={state}"),
        &[("Cookie", &cookie)],
        b"",
    ))
}

fn app_headers(m: &Module, auth: (&str, &str)) -> HashMap<String, String> {
    let Outcome::Continue(fwd) = run(m, "GET", "/page", &[auth], b"") else {
        panic!("expected the request to pass");
    };
    fwd.set_headers().cloned().collect()
}

fn client_login(m: &Module, body: Value) -> Response {
    finished(run(
        m,
        "POST",
        "/.auth/login/google",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    ))
}

#[test]
fn the_login_redirect_is_google_s_code_flow_with_access_type_passed_on() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, _) = module(&idp, &log);
    let r = start(
        &m,
        "access_type=offline&prompt=consent&login_hint=ada@example.com",
    );
    let location = url::Url::parse(header(&r, "Location").unwrap()).unwrap();
    assert_eq!(
        location.as_str().split('?').next().unwrap(),
        format!("{ISSUER}/authorize")
    );
    let q: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(
        q["scope"], "openid profile email",
        "Google's default scopes"
    );
    assert_eq!(
        q["redirect_uri"],
        "http://app.example/.auth/login/google/callback"
    );
    assert_eq!(q["access_type"], "offline");
    assert_eq!(q["prompt"], "consent");
    assert_eq!(q["login_hint"], "ada@example.com");
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q.contains_key("nonce") && q.contains_key("state"));
}

#[test]
fn a_sign_in_gives_the_app_google_s_headers_and_the_refresh_token_refreshes() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let clock = Arc::new(ManualClock::starting_now());
    let (m, store) = scripted::module_with(idp.clone(), &config(), log.logger(), clock.clone());
    // Google's id_tokens may name the issuer without its scheme.
    let r = sign_in(
        &m,
        &idp,
        json!({"iss": "idp.test", "sub": "110169484474386276334", "azp": CLIENT_ID,
               "email_verified": true, "name": "Ada Lovelace"}),
        json!({"access_token": "ya29.first", "refresh_token": "1//refresh-1",
               "scope": "openid profile email"}),
    );
    assert_eq!(r.status, 302, "{}", log.text());
    let form = idp.last_token_form();
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["client_secret"], "s3cret:/ x");
    assert!(form.contains_key("code_verifier"));
    let cookie = session_cookie(&r);
    let h = app_headers(&m, ("Cookie", &cookie));
    assert_eq!(h["X-MS-CLIENT-PRINCIPAL-IDP"], "google");
    assert_eq!(h["X-MS-CLIENT-PRINCIPAL-ID"], "110169484474386276334");
    assert_eq!(h["X-MS-CLIENT-PRINCIPAL-NAME"], "Ada Lovelace");
    assert_eq!(h["X-MS-TOKEN-GOOGLE-ACCESS-TOKEN"], "ya29.first");
    assert_eq!(h["X-MS-TOKEN-GOOGLE-REFRESH-TOKEN"], "1//refresh-1");
    assert!(h["X-MS-TOKEN-GOOGLE-ID-TOKEN"].starts_with("ey"));
    assert!(h.contains_key("X-MS-TOKEN-GOOGLE-EXPIRES-ON"));
    assert_eq!(store.only().provider_name, "google");

    // Google refreshes without rotating the refresh token (none in the answer): it is kept.
    idp.token_answer(Answer::Json(
        200,
        json!({"access_token": "ya29.second", "expires_in": 3599, "token_type": "Bearer"}),
    ));
    let refreshed = refresh_by_cookie(&m, &cookie);
    assert_eq!(refreshed.status, 200, "{}", log.text());
    let form = idp.last_token_form();
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["refresh_token"], "1//refresh-1");
    let h = app_headers(&m, ("Cookie", &cookie));
    assert_eq!(h["X-MS-TOKEN-GOOGLE-ACCESS-TOKEN"], "ya29.second");
    assert_eq!(h["X-MS-TOKEN-GOOGLE-REFRESH-TOKEN"], "1//refresh-1");

    // A revoked grant: 403, as App Service answers (asked for later than a refresh just
    // done, whose tokens would be used instead).
    clock.advance(60);
    idp.token_answer(Answer::Json(400, json!({"error": "invalid_grant"})));
    let revoked = refresh_by_cookie(&m, &cookie);
    assert_eq!(revoked.status, 403);

    // Logout: Google's discovery names no end_session_endpoint, so it stays local.
    let out = finished(run(&m, "GET", "/.auth/logout", &[("Cookie", &cookie)], b""));
    assert_eq!(out.status, 302);
    assert_eq!(header(&out, "Location"), Some("/.auth/logout/complete"));
    let left = store.only();
    assert_eq!(left.refresh_token, None, "logout kept the refresh token");
    assert_eq!(left.access_token, None, "logout kept the access token");
    let me = finished(run(&m, "GET", "/.auth/me", &[("Cookie", &cookie)], b""));
    assert_eq!(me.status, 401);
}

#[test]
fn an_id_token_of_another_issuer_spelling_is_refused_at_the_callback() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store) = module(&idp, &log);
    for iss in ["http://idp.test", "idp.test.evil", "https://evil.test"] {
        let r = sign_in(
            &m,
            &idp,
            json!({"iss": iss}),
            json!({"access_token": "ya29.x"}),
        );
        assert_eq!(r.status, 401, "{iss}: {}", log.text());
    }
    assert!(store.records().is_empty());
    assert!(log.text().contains("issuer"), "{}", log.text());
}

#[test]
fn a_client_signs_in_with_an_id_token_for_this_app_or_an_allowed_audience() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store) = module(&idp, &log);
    for (aud, iss) in [(CLIENT_ID, ISSUER), (OTHER_CLIENT, "idp.test")] {
        let token = idp.mint(json!({"aud": aud, "iss": iss, "sub": "g-7"}));
        let r = client_login(&m, json!({"id_token": token}));
        assert_eq!(r.status, 200, "{aud}: {}", log.text());
        let zumo = json_body(&r)["authenticationToken"]
            .as_str()
            .unwrap()
            .to_owned();
        let h = app_headers(&m, ("X-ZUMO-AUTH", &zumo));
        assert_eq!(h["X-MS-CLIENT-PRINCIPAL-ID"], "g-7");
        assert_eq!(h["X-MS-TOKEN-GOOGLE-ID-TOKEN"], token);
        assert!(!h.contains_key("X-MS-TOKEN-GOOGLE-REFRESH-TOKEN"));
        // No code, no refresh token: 400.
        let refresh = finished(run(
            &m,
            "GET",
            "/.auth/refresh",
            &[("X-ZUMO-AUTH", &zumo)],
            b"",
        ));
        assert_eq!(refresh.status, 400);
    }
    let stored = store.records();
    let other_key = scripted::another_key();
    for (what, token) in [
        ("another audience", idp.mint(json!({"aud": "someone-else"}))),
        (
            "another issuer",
            idp.mint(json!({"iss": "https://evil.test"})),
        ),
        (
            "expired",
            idp.mint(json!({"exp": now() - 3600, "iat": now() - 7200})),
        ),
        (
            "another key",
            sign_rs256(&other_key, &idp.kid, &idp.claims(json!({}))),
        ),
        ("not a JWT", "a.b".to_owned()),
    ] {
        let r = client_login(&m, json!({"id_token": token}));
        assert_eq!(
            r.status,
            401,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    assert_eq!(
        store.records(),
        stored,
        "a refused client login stored something"
    );
}

#[test]
fn a_client_s_authorization_code_is_redeemed_here_and_its_refresh_token_kept() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store) = module(&idp, &log);
    let redeemed = json!({"access_token": "ya29.client", "refresh_token": "1//client-refresh",
        "expires_in": 3599, "token_type": "Bearer",
        "id_token": idp.mint(json!({"sub": "g-8", "name": "Grace Hopper"}))});
    idp.token_answer(Answer::Json(200, redeemed));
    let posted = idp.mint(json!({"aud": OTHER_CLIENT, "sub": "g-8"}));
    let r = client_login(
        &m,
        json!({"id_token": posted, "authorization_code": "4/0Adeu5B"}),
    );
    assert_eq!(r.status, 200, "{}", log.text());
    // Redeemed with the app's secret and the empty redirect_uri of Google's installed apps,
    // without a PKCE verifier (the client's SDK holds none for us).
    let form = idp.last_token_form();
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "4/0Adeu5B");
    assert_eq!(form["redirect_uri"], "");
    assert_eq!(form["client_id"], CLIENT_ID);
    assert_eq!(form["client_secret"], "s3cret:/ x");
    assert!(!form.contains_key("code_verifier"));
    let zumo = json_body(&r)["authenticationToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let h = app_headers(&m, ("X-ZUMO-AUTH", &zumo));
    assert_eq!(h["X-MS-CLIENT-PRINCIPAL-ID"], "g-8");
    assert_eq!(h["X-MS-TOKEN-GOOGLE-ACCESS-TOKEN"], "ya29.client");
    assert_eq!(h["X-MS-TOKEN-GOOGLE-REFRESH-TOKEN"], "1//client-refresh");
    assert!(h.contains_key("X-MS-TOKEN-GOOGLE-EXPIRES-ON"));
    assert_eq!(
        store.only().refresh_token.as_deref(),
        Some("1//client-refresh")
    );
    // The kept refresh token works.
    idp.token_answer(Answer::Json(
        200,
        json!({"access_token": "ya29.renewed", "expires_in": 3599}),
    ));
    let refresh = finished(run(
        &m,
        "GET",
        "/.auth/refresh",
        &[("X-ZUMO-AUTH", &zumo)],
        b"",
    ));
    assert_eq!(refresh.status, 200, "{}", log.text());
    assert_eq!(
        app_headers(&m, ("X-ZUMO-AUTH", &zumo))["X-MS-TOKEN-GOOGLE-ACCESS-TOKEN"],
        "ya29.renewed"
    );

    // A code alone, for a web client's `postmessage` redirect: passed on as given.
    idp.token_answer(Answer::Json(
        200,
        json!({"access_token": "ya29.web", "id_token": idp.mint(json!({"sub": "g-9"}))}),
    ));
    let r = client_login(
        &m,
        json!({"authorization_code": "4/web", "redirect_uri": "postmessage"}),
    );
    assert_eq!(r.status, 200, "{}", log.text());
    assert_eq!(idp.last_token_form()["redirect_uri"], "postmessage");
}

#[test]
fn a_client_code_that_fails_or_names_another_user_signs_nobody_in() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store) = module(&idp, &log);
    let posted = idp.mint(json!({"sub": "g-1"}));
    let cases: Vec<(&str, Answer, Value, u16)> = vec![
        (
            "another user's code",
            Answer::Json(
                200,
                json!({"access_token": "a", "id_token": idp.mint(json!({"sub": "g-2"}))}),
            ),
            json!({"id_token": posted, "authorization_code": "c"}),
            401,
        ),
        (
            "a used code",
            Answer::Json(400, json!({"error": "invalid_grant"})),
            json!({"id_token": posted, "authorization_code": "c"}),
            400,
        ),
        (
            "no id_token from the provider",
            Answer::Json(200, json!({"access_token": "a"})),
            json!({"authorization_code": "c"}),
            502,
        ),
        (
            "a redeemed id_token for another app",
            Answer::Json(
                200,
                json!({"access_token": "a",
                "id_token": idp.mint(json!({"aud": OTHER_CLIENT}))}),
            ),
            json!({"authorization_code": "c"}),
            401,
        ),
        (
            "a control byte in redirect_uri",
            Answer::Json(200, json!({})),
            json!({"authorization_code": "c", "redirect_uri": "a\r\nb"}),
            400,
        ),
    ];
    for (what, answer, body, status) in cases {
        idp.token_answer(answer);
        let r = client_login(&m, body);
        assert_eq!(
            r.status,
            status,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // A posted id_token that is itself invalid is refused before the code is spent.
    let before = idp.count("POST /token");
    let bad = idp.mint(json!({"aud": "someone-else"}));
    let r = client_login(&m, json!({"id_token": bad, "authorization_code": "c"}));
    assert_eq!(r.status, 401);
    assert_eq!(idp.count("POST /token"), before);
    assert!(store.records().is_empty());
}

#[test]
fn a_google_id_token_is_no_bearer_credential() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, _) = module(&idp, &log);
    let token = idp.mint(json!({"sub": "g-1"}));
    let bearer = format!("Bearer {token}");
    let (_, outcome) = two_steps(&m, "/page", &[("Authorization", &bearer)]);
    let r = finished(outcome);
    assert_eq!(r.status, 401);
    assert!(
        header(&r, "WWW-Authenticate").is_some_and(|c| c.contains("invalid_token")),
        "{:?}",
        r.headers
    );
    assert!(
        log.text().contains("not accepted as a bearer token"),
        "{}",
        log.text()
    );
}
