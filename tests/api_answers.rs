//! API clients get API answers (issue 7, item 5): a bearer token ezauth cannot accept gets 401
//! `invalid_token` on a protected path, never a redirect to a login page; `Bearer` without a
//! token gets the challenge alone; two `Authorization` lines with a bearer among them get 400;
//! and every 401 of an Azure AD app carries App Service's `WWW-Authenticate` challenge unless
//! `login.disableWWWAuthenticate` is set. Other schemes (`Basic`) are the app's and unchanged.

mod support;

use ezauth::http::{Outcome, Response};
use ezauth::pipeline::Module;
use serde_json::json;
use support::*;

/// An Azure AD app whose issuer is the test provider, `action` for anonymous callers, with
/// `/public/*` excluded. `www_authenticate: false` is what `login.disableWWWAuthenticate: true`
/// sets (set on the parsed settings, so the test does not depend on the field's JSON spelling).
fn aad_app(idp: &TestIdp, action: &str, www_authenticate: bool) -> Module {
    let config = format!(
        r#"{{"globalValidation":{{"requireAuthentication":true,
            "unauthenticatedClientAction":"{action}","redirectToProvider":"aad",
            "excludedPaths":["/public/*"]}},
          "identityProviders":{{"azureActiveDirectory":{{"registration":{{
            "openIdIssuer":"{}","clientId":"{CLIENT_ID}"}}}}}},
          "login":{{"tokenStore":{{"enabled":true,"fileSystem":{{"directory":"{}"}}}}}},
          "httpSettings":{{"requireHttps":false}}}}"#,
        idp.issuer,
        scratch("api-answers").join("tokens").display()
    );
    let mut settings = ezauth::config::parse(&config, &env()).unwrap_or_else(|e| panic!("{e}"));
    settings.providers[0].www_authenticate = www_authenticate;
    Module::new(settings, Captured::default().logger()).unwrap()
}

/// A custom OpenID Connect app (no Azure AD) with `action` for anonymous callers.
fn oidc_app(idp: &TestIdp, action: &str) -> Module {
    let config = config(idp, "{}").replace(
        r#""unauthenticatedClientAction":"AllowAnonymous""#,
        &format!(r#""unauthenticatedClientAction":"{action}","redirectToProvider":"idp""#),
    );
    let settings = ezauth::config::parse(&config, &env()).unwrap_or_else(|e| panic!("{e}"));
    Module::new(settings, Captured::default().logger()).unwrap()
}

fn challenge(r: &Response) -> Option<&str> {
    header(r, "WWW-Authenticate")
}

/// What App Service's Azure AD challenge names for the test provider's issuer.
fn discovery(idp: &TestIdp) -> String {
    format!(
        r#"authorization_uri="{}/oauth2/v2.0/authorize""#,
        idp.issuer
    )
}

/// Bearer values ezauth cannot accept, none of them valid for the app: not JWTs, another
/// issuer's, and the provider's own ones that fail validation.
fn unusable_tokens(idp: &TestIdp) -> Vec<(&'static str, String, &'static str)> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let other = TestIdp::start();
    let foreign = other.mint(json!({}));
    let good = idp.mint(json!({}));
    let (head, _) = good.rsplit_once('.').unwrap();
    vec![
        (
            "opaque",
            "opaque-api-key-123".into(),
            "not a JSON Web Token",
        ),
        ("three parts", "a.b.c".into(), "not a JSON Web Token"),
        ("quote", "a\"b".into(), "not a JSON Web Token"),
        ("space inside", "eyJ a.b".into(), "not a JSON Web Token"),
        ("foreign issuer", foreign, "not issued by a provider"),
        ("unsigned", unsigned(&idp.claims(json!({}))), "not valid"),
        (
            "expired",
            idp.mint(json!({"iat": now - 7200, "exp": now - 3600})),
            "not valid",
        ),
        (
            "other audience",
            idp.mint(json!({"aud": "someone-else"})),
            "not valid",
        ),
        ("bad signature", format!("{head}.AAAA"), "not valid"),
    ]
}

fn get(m: &Module, target: &str, headers: &[(&str, &str)]) -> Outcome {
    run(m, "GET", target, headers, b"")
}

#[test]
fn an_unusable_bearer_token_on_a_protected_path_gets_401_invalid_token_never_a_redirect() {
    let idp = TestIdp::start();
    let m = aad_app(&idp, "RedirectToLoginPage", true);
    let mut checked = 0;
    for (name, token, description) in unusable_tokens(&idp) {
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let value = format!("{scheme} {token}");
            // A browser-like navigation, which would be redirected without the token.
            let headers = [
                ("Authorization", value.as_str()),
                ("Sec-Fetch-Mode", "navigate"),
            ];
            let r = finished(get(&m, "/app/data", &headers));
            assert_eq!(r.status, 401, "{name} ({scheme}): {}", r.status);
            assert!(header(&r, "Location").is_none(), "{name}: redirected");
            let c = challenge(&r).unwrap_or_else(|| panic!("{name}: no challenge"));
            assert!(
                c.starts_with(r#"Bearer realm="app.example", "#),
                "{name}: {c}"
            );
            assert!(c.contains(r#"error="invalid_token""#), "{name}: {c}");
            assert!(c.contains(&discovery(&idp)), "{name}: {c}");
            assert!(c.contains(description), "{name}: {c}");
            assert!(
                !c.contains("a\"b") && !c.contains("opaque-api"),
                "{name}: reflected: {c}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 27);
}

#[test]
fn every_action_answers_an_unusable_token_with_401() {
    let idp = TestIdp::start();
    for action in ["RedirectToLoginPage", "Return401", "Return403", "Return404"] {
        let m = aad_app(&idp, action, true);
        for (name, token, _) in unusable_tokens(&idp) {
            let value = format!("Bearer {token}");
            let r = finished(get(&m, "/", &[("Authorization", &value)]));
            assert_eq!(r.status, 401, "{action} {name}");
        }
    }
}

#[test]
fn an_empty_bearer_gets_the_challenge_without_an_error_code() {
    let idp = TestIdp::start();
    let m = aad_app(&idp, "RedirectToLoginPage", true);
    for value in ["Bearer", "Bearer ", "bearer  ", "BEARER\t"] {
        let r = finished(get(&m, "/app", &[("Authorization", value)]));
        assert_eq!(r.status, 401, "{value:?}");
        assert_eq!(
            challenge(&r),
            Some(format!(r#"Bearer realm="app.example", {}"#, discovery(&idp)).as_str()),
            "{value:?}"
        );
    }
}

#[test]
fn two_authorization_lines_with_a_bearer_are_refused_everywhere() {
    let idp = TestIdp::start();
    let good = format!("Bearer {}", idp.mint(json!({})));
    for action in ["RedirectToLoginPage", "AllowAnonymous"] {
        let m = aad_app(&idp, action, true);
        for lines in [
            [good.as_str(), good.as_str()],
            [good.as_str(), "Bearer other"],
            ["Basic dXNlcjpwdw==", good.as_str()],
            [good.as_str(), "Basic dXNlcjpwdw=="],
        ] {
            for target in ["/app", "/public/a", "/.auth/me"] {
                let headers = [("Authorization", lines[0]), ("authorization", lines[1])];
                let r = finished(get(&m, target, &headers));
                assert_eq!(r.status, 400, "{action} {target} {lines:?}");
                assert!(
                    challenge(&r).is_some_and(|c| c.contains(r#"error="invalid_request""#)),
                    "{:?}",
                    challenge(&r)
                );
            }
        }
    }
}

#[test]
fn other_schemes_are_the_app_s_and_keep_today_s_answers() {
    let idp = TestIdp::start();
    let m = aad_app(&idp, "RedirectToLoginPage", true);
    for value in [
        "Basic dXNlcjpwdw==",
        "Negotiate abc",
        "Bearertoken",
        "Token x",
    ] {
        let r = finished(get(&m, "/app", &[("Authorization", value)]));
        assert_eq!(
            r.status, 302,
            "{value:?}: a browser-like GET still goes to the login"
        );
        let headers = [
            ("Authorization", value),
            ("X-Requested-With", "XMLHttpRequest"),
        ];
        let r = finished(get(&m, "/app", &headers));
        assert_eq!(r.status, 401, "{value:?}");
        assert!(challenge(&r).is_some_and(|c| !c.contains("error=")));
    }
    let m = aad_app(&idp, "AllowAnonymous", true);
    let Outcome::Continue(fwd) = get(&m, "/app", &[("Authorization", "Basic dXNlcjpwdw==")]) else {
        panic!("Basic on an anonymous app passes");
    };
    assert_eq!(fwd.set_headers().count(), 0);
}

#[test]
fn where_anonymous_callers_are_admitted_only_our_own_failing_tokens_are_refused() {
    let idp = TestIdp::start();
    let anonymous_app = aad_app(&idp, "AllowAnonymous", true);
    let protected = aad_app(&idp, "Return401", true);
    for (name, token, description) in unusable_tokens(&idp) {
        let value = format!("Bearer {token}");
        for (m, target) in [(&anonymous_app, "/app"), (&protected, "/public/a")] {
            let outcome = get(m, target, &[("Authorization", &value)]);
            if description == "not valid" {
                // A token of our provider that fails: the client meant to sign in with us.
                let r = finished(outcome);
                assert_eq!(r.status, 401, "{name} at {target}");
                assert!(challenge(&r).unwrap().contains("invalid_token"));
            } else {
                // Not ours to judge: the app may have its own tokens; it sees no identity.
                let Outcome::Continue(fwd) = outcome else {
                    panic!("{name} at {target}: {outcome:?}");
                };
                assert_eq!(fwd.set_headers().count(), 0, "{name} at {target}");
            }
        }
    }
}

#[test]
fn a_valid_token_still_signs_in_whatever_the_scheme_s_case() {
    let idp = TestIdp::start();
    let m = aad_app(&idp, "Return401", true);
    let token =
        idp.mint(json!({"oid": "0000-1111", "azp": CLIENT_ID, "scp": "user_impersonation"}));
    for scheme in ["Bearer", "bearer", "BeArEr"] {
        let value = format!("{scheme}  {token} ");
        let Outcome::Continue(fwd) = get(&m, "/app", &[("Authorization", &value)]) else {
            panic!("{scheme}: a valid token passes");
        };
        assert!(fwd
            .set_headers()
            .any(|(n, _)| n == "X-MS-CLIENT-PRINCIPAL-ID"));
    }
}

#[test]
fn every_401_of_an_azure_ad_app_carries_app_service_s_challenge() {
    let idp = TestIdp::start();
    let want = format!(r#"Bearer realm="app.example", {}"#, discovery(&idp));
    let xhr = [("X-Requested-With", "XMLHttpRequest")];
    /// The unauthenticated action, the target and the request's headers.
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        ("Return401", "/app", vec![]),
        (
            "Return401",
            "/app?x=1",
            vec![("Accept", "application/json")],
        ),
        ("RedirectToLoginPage", "/app", xhr.to_vec()),
        (
            "RedirectToLoginPage",
            "/app",
            vec![("Sec-Fetch-Mode", "cors")],
        ),
        (
            "RedirectToLoginPage",
            "/app",
            vec![("ZUMO-API-VERSION", "2.0.0")],
        ),
        (
            "Return401",
            "/app",
            vec![("X-ZUMO-AUTH", "not-a-session-token")],
        ),
        ("AllowAnonymous", "/.auth/me", vec![]),
        ("AllowAnonymous", "/.auth/refresh", vec![]),
    ];
    for (action, target, headers) in &cases {
        let m = aad_app(&idp, action, true);
        let r = finished(get(&m, target, headers));
        assert_eq!(r.status, 401, "{action} {target} {headers:?}");
        assert_eq!(
            challenge(&r),
            Some(want.as_str()),
            "{action} {target} {headers:?}"
        );

        let quiet = aad_app(&idp, action, false);
        let r = finished(get(&quiet, target, headers));
        assert_eq!(r.status, 401);
        assert_eq!(
            challenge(&r),
            None,
            "disableWWWAuthenticate: {action} {target}"
        );
    }
}

#[test]
fn disable_www_authenticate_keeps_only_the_rfc_6750_answer_to_a_presented_token() {
    let idp = TestIdp::start();
    let m = aad_app(&idp, "RedirectToLoginPage", false);
    let r = finished(get(&m, "/app", &[("Authorization", "Bearer not-a-jwt")]));
    assert_eq!(r.status, 401);
    let c = challenge(&r).unwrap();
    assert!(
        c.starts_with(r#"Bearer realm="app.example", error="invalid_token""#),
        "{c}"
    );
    assert!(!c.contains("authorization_uri"), "{c}");
    let r = finished(get(&m, "/app", &[("Authorization", "Bearer")]));
    assert_eq!(challenge(&r), Some(r#"Bearer realm="app.example""#));
}

#[test]
fn without_azure_ad_only_presented_tokens_get_a_challenge() {
    let idp = TestIdp::start();
    let m = oidc_app(&idp, "Return401");
    let r = finished(get(&m, "/app", &[]));
    assert_eq!(r.status, 401);
    assert_eq!(
        challenge(&r),
        None,
        "App Service adds its challenge for Azure AD only"
    );
    for token in ["x.y.z", "opaque"] {
        let value = format!("Bearer {token}");
        let r = finished(get(&m, "/app", &[("Authorization", &value)]));
        assert_eq!(r.status, 401);
        let c = challenge(&r).unwrap();
        assert!(
            c.starts_with(r#"Bearer realm="app.example", error="invalid_token""#),
            "{c}"
        );
    }
    let m = oidc_app(&idp, "RedirectToLoginPage");
    let r = finished(get(&m, "/app", &[("Authorization", "Bearer opaque")]));
    assert_eq!(r.status, 401, "never the login page");
}

#[test]
fn a_401_from_a_route_or_a_provider_failure_carries_the_challenge_too() {
    let idp = TestIdp::start();
    let want = format!(r#"Bearer realm="app.example", {}"#, discovery(&idp));
    let m = aad_app(&idp, "AllowAnonymous", true);
    let forged = unsigned(&idp.claims(json!({"scp": "x"})));
    for body in [
        json!({ "access_token": forged }),
        json!({ "id_token": idp.mint(json!({"aud": "someone-else"})) }),
    ] {
        let r = finished(run(
            &m,
            "POST",
            "/.auth/login/aad",
            &[],
            body.to_string().as_bytes(),
        ));
        assert_eq!(r.status, 401, "{body}");
        assert_eq!(challenge(&r), Some(want.as_str()), "{body}");
    }
    let quiet = aad_app(&idp, "AllowAnonymous", false);
    let body = json!({ "access_token": forged }).to_string();
    let r = finished(run(
        &quiet,
        "POST",
        "/.auth/login/aad",
        &[],
        body.as_bytes(),
    ));
    assert_eq!((r.status, challenge(&r)), (401, None));
}

#[test]
fn a_token_of_a_provider_that_cannot_be_reached_is_503_not_invalid() {
    let idp = TestIdp::start();
    // Nothing listens on port 9: the provider's metadata cannot be read.
    let config = r#"{"globalValidation":{"requireAuthentication":true,
        "unauthenticatedClientAction":"RedirectToLoginPage","redirectToProvider":"aad",
        "excludedPaths":["/public/*"]},
      "identityProviders":{"azureActiveDirectory":{"registration":{
        "openIdIssuer":"http://127.0.0.1:9/tenant/v2.0","clientId":"client-1"}}},
      "httpSettings":{"requireHttps":false},
      "ezauth":{"httpTimeoutSeconds":2,"httpConnectTimeoutSeconds":1}}"#;
    let settings = ezauth::config::parse(config, &env()).unwrap_or_else(|e| panic!("{e}"));
    let m = Module::new(settings, Captured::default().logger()).unwrap();
    let token = idp.mint(json!({"iss": "http://127.0.0.1:9/tenant/v2.0", "scp": "x"}));
    let value = format!("Bearer {token}");
    let r = finished(get(&m, "/app", &[("Authorization", &value)]));
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    // Where anonymous callers are admitted it passes, as any token not judged.
    let Outcome::Continue(fwd) = get(&m, "/public/a", &[("Authorization", &value)]) else {
        panic!("an excluded path passes");
    };
    assert_eq!(fwd.set_headers().count(), 0);
    // Another issuer's token is still invalid_token.
    let other = format!(
        "Bearer {}",
        idp.mint(json!({"iss": "https://elsewhere.example/"}))
    );
    let r = finished(get(&m, "/app", &[("Authorization", &other)]));
    assert_eq!(r.status, 401);
    assert!(challenge(&r)
        .unwrap()
        .contains(r#"authorization_uri="http://127.0.0.1:9/tenant/oauth2/v2.0/authorize""#));
}
