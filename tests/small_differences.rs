//! Smaller differences from App Service (issue 7, item 9): client-directed login stores the
//! provider's `expires_in`; `/.auth/version` reports the crate's version; `/.auth/*` routes
//! match as IIS matches paths (any case, one trailing `/`) while a spelling that only *reads*
//! as a route is refused, never forwarded; claims keep the provider's order.

mod support;

use ezauth::http::Outcome;
use ezauth::pipeline::Module;
use ezauth::store::format_expires_on;
use serde_json::{json, Value};
use support::*;

fn app(idp: &TestIdp) -> Module {
    module(idp, "{}", Captured::default().logger())
}

/// Posts `body` to the client-directed login; the session token, or the status.
fn client_login(m: &Module, body: &Value) -> Result<String, u16> {
    let r = finished(run(
        m,
        "POST",
        "/.auth/login/idp",
        &[],
        body.to_string().as_bytes(),
    ));
    if r.status != 200 {
        return Err(r.status);
    }
    Ok(json_body(&r)["authenticationToken"]
        .as_str()
        .unwrap()
        .to_owned())
}

fn stored_expires_on(m: &Module, token: &str) -> String {
    let me = json_body(&finished(run(
        m,
        "GET",
        "/.auth/me",
        &[("X-ZUMO-AUTH", token)],
        b"",
    )));
    me[0]["expires_on"].as_str().unwrap().to_owned()
}

/// Was `expires_on` written for some instant in `from..=to`?
fn written_for(expires_on: &str, from: i64, to: i64) -> bool {
    (from..=to).any(|t| format_expires_on(t) == expires_on)
}

#[test]
fn client_login_stores_expires_on_from_the_provider_s_expires_in() {
    let idp = TestIdp::start();
    let m = app(&idp);
    // The access token itself lives an hour; the body says how long it has left.
    for expires_in in [json!(600), json!("600"), json!(1), json!("3599")] {
        let access = idp.mint(json!({"exp": now() + 3600}));
        let seconds: i64 = match &expires_in {
            Value::String(s) => s.parse().unwrap(),
            v => v.as_i64().unwrap(),
        };
        let before = now();
        let token = client_login(
            &m,
            &json!({"access_token": access, "expires_in": expires_in}),
        )
        .unwrap_or_else(|s| panic!("{expires_in}: {s}"));
        let after = now();
        let stored = stored_expires_on(&m, &token);
        assert!(
            written_for(&stored, before + seconds, after + seconds),
            "{expires_in}: {stored}"
        );
    }
}

#[test]
fn expires_in_never_outlives_the_token_s_own_exp() {
    let idp = TestIdp::start();
    let m = app(&idp);
    let exp = now() + 900;
    let access = idp.mint(json!({"exp": exp}));
    let token = client_login(&m, &json!({"access_token": access, "expires_in": 86400})).unwrap();
    assert_eq!(stored_expires_on(&m, &token), format_expires_on(exp));
}

#[test]
fn without_expires_in_or_beside_an_id_token_the_token_s_exp_is_stored() {
    let idp = TestIdp::start();
    let m = app(&idp);
    let exp = now() + 1800;
    for body in [
        json!({"access_token": idp.mint(json!({"exp": exp}))}),
        json!({"access_token": idp.mint(json!({"exp": exp})), "expires_in": null}),
        // `expires_in` describes an access token; the id_token is what is kept here.
        json!({"id_token": idp.mint(json!({"exp": exp})), "expires_in": 60}),
        json!({"id_token": idp.mint(json!({"exp": exp})), "expires_in": "junk"}),
    ] {
        let token = client_login(&m, &body).unwrap_or_else(|s| panic!("{body}: {s}"));
        assert_eq!(
            stored_expires_on(&m, &token),
            format_expires_on(exp),
            "{body}"
        );
    }
}

#[test]
fn an_expires_in_that_is_not_a_whole_number_of_seconds_is_refused() {
    let idp = TestIdp::start();
    let m = app(&idp);
    for bad in [
        json!(0),
        json!(-60),
        json!(1.5),
        json!("1e3"),
        json!(""),
        json!(" 60"),
        json!("-60"),
        json!(true),
        json!({"s": 60}),
        json!([60]),
        json!(31_536_001),
        json!("99999999999999999999"),
    ] {
        let access = idp.mint(json!({}));
        let r = client_login(&m, &json!({"access_token": access, "expires_in": bad}));
        assert_eq!(r.err(), Some(400), "{bad}");
    }
}

#[test]
fn version_reports_the_crate_version_from_cargo_toml() {
    let idp = TestIdp::start();
    let m = app(&idp);
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let package = manifest.split("\n[").next().unwrap();
    let version = package
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("a version in [package]");
    for target in ["/.auth/version", "/.AUTH/Version", "/.auth/version/"] {
        let r = finished(run(&m, "GET", target, &[], b""));
        assert_eq!(r.status, 200, "{target}");
        assert_eq!(json_body(&r), json!({ "version": version }), "{target}");
    }
    assert_eq!(ezauth::VERSION, version);
}

/// Is the request answered by the module (a route or a refusal), not forwarded to the app?
fn answered(m: &Module, method: &str, target: &str, headers: &[(&str, &str)]) -> u16 {
    match run(m, method, target, headers, b"") {
        Outcome::Finish(r) => r.status,
        Outcome::Continue(_) => panic!("{method} {target} was forwarded to the app"),
        Outcome::Blocking(_) => unreachable!("run() runs blocking steps"),
    }
}

#[test]
fn routes_match_in_any_case_and_with_one_trailing_slash() {
    let idp = TestIdp::start();
    let m = app(&idp);
    let token = client_login(&m, &json!({"access_token": idp.mint(json!({}))})).unwrap();
    let zumo = [("X-ZUMO-AUTH", token.as_str())];
    for target in [
        "/.auth/me",
        "/.AUTH/ME",
        "/.Auth/Me/",
        "/.auth/me/",
        "/.auth/ME?x=1",
    ] {
        assert_eq!(answered(&m, "GET", target, &zumo), 200, "{target}");
    }
    // The provider name is matched in any case too; the login goes to the provider.
    for target in [
        "/.auth/login/idp",
        "/.auth/login/IDP",
        "/.AUTH/LOGIN/Idp/",
        "/.auth/login/idp/?post_login_redirect_uri=/a",
    ] {
        assert_eq!(answered(&m, "GET", target, &[]), 302, "{target}");
    }
    for target in ["/.auth/logout/complete/", "/.AUTH/LOGOUT/COMPLETE"] {
        assert_eq!(answered(&m, "GET", target, &[]), 200, "{target}");
    }
}

#[test]
fn other_spellings_under_the_prefix_are_answered_404_never_forwarded() {
    let idp = TestIdp::start();
    let m = app(&idp);
    for target in [
        "/.auth",
        "/.auth/",
        "/.auth//me",
        "/.auth/me//",
        "/.auth/me/.",
        "/.auth/./me",
        "/.auth/%6De",
        "/.auth/me%2F",
        "/.auth/login/aad/x/y",
        "/.AUTH/nothing",
    ] {
        assert_eq!(answered(&m, "GET", target, &[]), 404, "{target}");
    }
}

#[test]
fn a_path_that_only_reads_as_a_route_is_refused_on_every_app() {
    let idp = TestIdp::start();
    // Anonymous callers admitted: these would reach the app anonymously if not refused.
    let m = app(&idp);
    for target in [
        "/%2eauth/me",
        "/%2Eauth/tokens/x.json",
        "/.aut%68/me",
        "/%252eauth/me",
        "//.auth/me",
        "/./.auth/me",
        "/x/../.auth/me",
        "/x/%2e%2e/.auth/me",
        "/.auth;x/me",
        "/.auth./me",
        "/.auth%20/me",
        "/.auth%2fme",
        "/.auth%5Cme",
        "/.auth\\me",
        "/%u002eauth/me",
        "/.auth%00",
    ] {
        assert_eq!(answered(&m, "GET", target, &[]), 400, "{target}");
    }
    // Names that merely resemble the prefix are ordinary paths.
    for target in ["/.authx", "/auth/me", "/x/.auth/me", "/.auth.json"] {
        let Outcome::Continue(fwd) = run(&m, "GET", target, &[], b"") else {
            panic!("{target} is an ordinary path");
        };
        assert_eq!(fwd.set_headers().count(), 0);
    }
}

#[test]
fn claims_keep_the_provider_s_order() {
    let idp = TestIdp::start();
    let m = app(&idp);
    // Names in an order no sorting gives: z before a, custom claims interleaved.
    let extra = json!({"zeta": "1", "alpha": "2", "mid": "3", "beta": ["b1", "b2"], "aa": "4"});
    let access = idp.mint(extra.clone());
    let token = client_login(&m, &json!({"access_token": access})).unwrap();
    let want = ["zeta", "alpha", "mid", "beta", "beta", "aa"];
    let order = |claims: &Value| -> Vec<String> {
        claims
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["typ"].as_str().unwrap().to_owned())
            .filter(|t| want.contains(&t.as_str()))
            .collect()
    };

    // /.auth/me user_claims.
    let me = json_body(&finished(run(
        &m,
        "GET",
        "/.auth/me",
        &[("X-ZUMO-AUTH", &token)],
        b"",
    )));
    assert_eq!(order(&me[0]["user_claims"]), want, "{me}");
    // The entry's own fields stay alphabetical, as App Service's.
    let keys: Vec<&String> = me[0].as_object().unwrap().keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);

    // The principal header the app sees, for the session token and for the bearer token.
    let mut bearer_claims = extra.clone();
    bearer_claims["azp"] = json!(CLIENT_ID);
    bearer_claims["scp"] = json!("user_impersonation");
    for auth in [
        ("X-ZUMO-AUTH", token.clone()),
        (
            "Authorization",
            format!("Bearer {}", idp.mint(bearer_claims)),
        ),
    ] {
        let Outcome::Continue(fwd) = run(&m, "GET", "/app", &[(auth.0, auth.1.as_str())], b"")
        else {
            panic!("{} passes", auth.0);
        };
        let principal = fwd
            .set_headers()
            .find(|(n, _)| n == "X-MS-CLIENT-PRINCIPAL")
            .map(|(_, v)| v.clone())
            .unwrap();
        let decoded: Value =
            serde_json::from_slice(&ezauth::crypto::b64_decode(&principal).unwrap()).unwrap();
        assert_eq!(order(&decoded["claims"]), want, "{}: {decoded}", auth.0);
        let keys: Vec<&String> = decoded.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["auth_typ", "claims", "name_typ", "role_typ"]);
    }
}
