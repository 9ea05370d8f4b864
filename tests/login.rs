//! Server-directed login: which query parameters reach the provider.

mod support;

use ezauth::logger::Level;
use support::*;

fn authorize_params(location: &str) -> Vec<(String, String)> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn get<'p>(params: &'p [(String, String)], name: &str) -> Vec<&'p str> {
    params
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn only_allowed_query_parameters_reach_the_provider() {
    let idp = TestIdp::start();
    let log = Captured::default();
    let m = module(
        &idp,
        r#"{"loginParameters":["resource=api://backend","prompt=consent","response_mode=form_post"]}"#,
        log.logger(),
    );
    let target = "/.auth/login/idp?domain_hint=contoso.com&login_hint=ada%40example.com\
        &prompt=login&ui_locales=fr&max_age=300&acr_values=mfa&hd=example.com&display=popup\
        &access_type=offline\
        &request=eyJhbGciOiJub25lIn0.e30.&request_uri=https%3A%2F%2Fevil.example%2Fr\
        &claims=%7B%22id_token%22%3A%7B%7D%7D&response_mode=fragment\
        &redirect_uri=https%3A%2F%2Fevil.example%2Fcb&client_id=other&foo=bar";
    let r = finished(run(&m, "GET", target, &[], b""));
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
    let location = header(&r, "Location").unwrap();
    assert!(location.starts_with(&format!("{}/authorize?", idp.issuer)));
    let params = authorize_params(location);
    for (name, value) in [
        ("domain_hint", "contoso.com"),
        ("login_hint", "ada@example.com"),
        ("prompt", "login"), // the caller's overrides the configured one
        ("ui_locales", "fr"),
        ("max_age", "300"),
        ("acr_values", "mfa"),
        ("hd", "example.com"),
        ("display", "popup"),
        ("access_type", "offline"),
        ("resource", "api://backend"), // configured loginParameters still pass
        // a configured response_mode=form_post passes (the callback takes the POST); the
        // caller's response_mode=fragment does not
        ("response_mode", "form_post"),
        ("client_id", CLIENT_ID),
        (
            "redirect_uri",
            "http://app.example/.auth/login/idp/callback",
        ),
    ] {
        assert_eq!(get(&params, name), [value], "{name} in {location}");
    }
    for name in ["request", "request_uri", "claims", "foo"] {
        assert!(get(&params, name).is_empty(), "{name} in {location}");
    }
    // The dropped ones are named in a debug line, without their values.
    let lines = log.lines();
    let dropped = lines
        .iter()
        .find(|(_, m)| m.contains("request_uri"))
        .unwrap_or_else(|| panic!("{}", log.text()));
    assert_eq!(dropped.0, Level::Debug, "{}", dropped.1);
    for name in [
        "request",
        "claims",
        "response_mode",
        "redirect_uri",
        "client_id",
        "foo",
    ] {
        assert!(dropped.1.contains(name), "{name}: {}", dropped.1);
    }
    assert!(!log.text().contains("evil.example") && !log.text().contains("bar\""));
}

#[test]
fn a_configured_response_mode_passes_only_as_query_or_form_post() {
    let idp = TestIdp::start();
    for (configured, want) in [
        ("form_post", Some("form_post")),
        ("query", Some("query")),
        ("fragment", None),
        ("form_post.jwt", None),
        ("FORM_POST", None),
        ("", None),
    ] {
        let m = module(
            &idp,
            &format!(r#"{{"loginParameters":["response_mode={configured}"]}}"#),
            Captured::default().logger(),
        );
        let r = finished(run(&m, "GET", "/.auth/login/idp", &[], b""));
        let params = authorize_params(header(&r, "Location").unwrap());
        assert_eq!(
            get(&params, "response_mode"),
            want.into_iter().collect::<Vec<_>>(),
            "{configured}"
        );
    }
}

#[test]
fn configured_login_parameters_pass_without_any_from_the_caller() {
    let idp = TestIdp::start();
    let m = module(
        &idp,
        r#"{"scopes":["openid","offline_access"],"loginParameters":["domain_hint=contoso.com","resource=api://backend"]}"#,
        Captured::default().logger(),
    );
    let r = finished(run(&m, "GET", "/.auth/login/idp", &[], b""));
    let params = authorize_params(header(&r, "Location").unwrap());
    assert_eq!(get(&params, "scope"), ["openid offline_access"]);
    assert_eq!(get(&params, "domain_hint"), ["contoso.com"]);
    assert_eq!(get(&params, "resource"), ["api://backend"]);
}

const PII: [&str; 2] = ["Ada Lovelace", "ada@example.com"];

/// No log line above debug names the user; no line at all carries a token.
fn assert_no_pii_above_debug(log: &Captured, tokens: &[&str]) {
    for (level, line) in log.lines() {
        if level != Level::Debug {
            for pii in PII {
                assert!(!line.contains(pii), "[{level:?}] {line}");
            }
        }
        for t in tokens {
            assert!(!line.contains(t), "a token in [{level:?}] {line}");
        }
    }
}

#[test]
fn a_sign_in_logs_the_user_s_name_at_debug_only_and_no_token() {
    let idp = TestIdp::start();
    let log = Captured::default();
    let m = module(&idp, r#"{"nameClaimType":"name"}"#, log.logger());
    let r = finished(run(&m, "GET", "/.auth/login/idp", &[], b""));
    let params = authorize_params(header(&r, "Location").unwrap());
    let (state, nonce) = (get(&params, "state")[0], get(&params, "nonce")[0]);
    let cookie = header(&r, "Set-Cookie").unwrap().split(';').next().unwrap();
    let id_token = idp.mint(serde_json::json!({ "nonce": nonce }));
    idp.behavior.lock().unwrap().token_response = serde_json::json!({
        "id_token": id_token, "access_token": "access-0123456789",
        "refresh_token": "refresh-0123456789", "expires_in": 3600, "token_type": "Bearer"});
    let r = finished(run(
        &m,
        "GET",
        &format!("/.auth/login/idp/callback?code=the-code&state={state}"),
        &[("Cookie", cookie)],
        b"",
    ));
    assert_eq!(r.status, 302, "{}", log.text());
    assert!(
        log.lines()
            .iter()
            .any(|(l, m)| *l == Level::Debug && m.contains("Ada Lovelace")),
        "{}",
        log.text()
    );
    assert_no_pii_above_debug(
        &log,
        &[
            &id_token,
            "access-0123456789",
            "refresh-0123456789",
            "the-code",
        ],
    );
}

#[test]
fn a_provider_s_error_description_is_logged_at_debug_only() {
    let idp = TestIdp::start();
    let log = Captured::default();
    let m = module(&idp, "{}", log.logger());
    let r = finished(run(&m, "GET", "/.auth/login/idp", &[], b""));
    let params = authorize_params(header(&r, "Location").unwrap());
    let state = get(&params, "state")[0];
    let cookie = header(&r, "Set-Cookie").unwrap().split(';').next().unwrap();
    // Azure AD's descriptions name the user, e.g. AADSTS50105.
    let r = finished(run(
        &m,
        "GET",
        &format!(
            "/.auth/login/idp/callback?state={state}&error=access_denied&error_description=\
             AADSTS50105%3A+The+signed+in+user+%27ada%40example.com%27+is+not+assigned"
        ),
        &[("Cookie", cookie)],
        b"",
    ));
    assert_eq!(r.status, 401);
    assert!(log.text().contains("access_denied"), "{}", log.text());
    assert_no_pii_above_debug(&log, &[]);
}

#[test]
fn an_error_or_codeless_callback_spends_no_one_time_marker() {
    let idp = TestIdp::start();
    let m = module(&idp, "{}", Captured::default().logger());
    let r = finished(run(&m, "GET", "/.auth/login/idp", &[], b""));
    let params = authorize_params(header(&r, "Location").unwrap());
    let (state, nonce) = (get(&params, "state")[0], get(&params, "nonce")[0]);
    let cookie = header(&r, "Set-Cookie").unwrap().split(';').next().unwrap();
    let callback = |query: &str| {
        finished(run(
            &m,
            "GET",
            &format!("/.auth/login/idp/callback?state={state}&{query}"),
            &[("Cookie", cookie)],
            b"",
        ))
    };
    // An anonymous client can repeat these as often as it likes: nothing is written for them.
    for _ in 0..3 {
        assert_eq!(callback("error=access_denied").status, 401);
        assert_eq!(callback("nothing=here").status, 400);
        for empty in ["code=", "code", "code=%20", "code=+%09"] {
            assert_eq!(callback(empty).status, 400, "{empty}");
        }
    }
    // The state is still unspent: the real answer signs in, once.
    let answer = serde_json::json!({"expires_in": 3600, "token_type": "Bearer",
        "access_token": "a-0123456789", "id_token": idp.mint(serde_json::json!({"nonce": nonce}))});
    idp.behavior.lock().unwrap().token_response = answer;
    assert_eq!(callback("code=the-code").status, 302);
    assert_eq!(callback("code=the-code").status, 400, "a replay");
}
