//! PKCE for native apps, scripted as the .NET client (`MobileServicePKCEAuthentication`) does
//! it: the verifier is standard base64 of 32 random bytes, the challenge standard base64 of
//! its SHA-256, sent unescaped in the login query with `post_login_redirect_url`,
//! `code_challenge_method=S256` and `session_mode=token`; the browser lands at the app's
//! callback with `#authorization_code=`, and the app redeems the code at
//! `GET /.auth/login/{provider}/token?authorization_code=…&code_verifier=…`.

mod support;

use std::sync::Arc;

use ezauth::clock::ManualClock;
use ezauth::crypto;
use ezauth::pipeline::Module;
use serde_json::json;
use support::scripted::{self, ScriptedIdp};
use support::*;

const CALLBACK: &str = "zumoe2etestapp://easyauth.callback/";

fn config() -> String {
    scripted::config("{}").replace(
        r#""login":{"tokenStore""#,
        r#""login":{"allowedExternalRedirectUrls":["zumoe2etestapp://easyauth.callback"],"tokenStore""#,
    )
}

fn pkce_module(idp: &Arc<ScriptedIdp>, log: &Captured) -> (Module, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::starting_now());
    let (m, _) = scripted::module_on(idp, &config(), log.logger(), clock.clone());
    (m, clock)
}

/// The .NET client's verifier and challenge (standard base64, with `+ / =`).
fn verifier_and_challenge(seed: u8) -> (String, String) {
    let verifier = crypto::b64(&[seed.wrapping_mul(37); 32]);
    let challenge = crypto::b64(&crypto::sha256(verifier.as_bytes()));
    (verifier, challenge)
}

/// `GET /.auth/login/idp?<query as the .NET client builds it: not escaped>`, through the
/// provider: the `Location` the browser ends at.
fn login(m: &Module, idp: &ScriptedIdp, query: &str) -> ezauth::http::Response {
    let r = finished(run(
        m,
        "GET",
        &format!("/.auth/login/idp?{query}"),
        &[],
        b"",
    ));
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
    let (state, nonce, cookie) = login_started(&r);
    idp.token_answer(scripted::token_answer(
        idp,
        &nonce,
        json!({}),
        json!({"access_token": "a"}),
    ));
    scripted::callback(m, &state, &cookie)
}

fn dotnet_query(challenge: &str) -> String {
    format!("post_login_redirect_url={CALLBACK}&code_challenge={challenge}&code_challenge_method=S256&session_mode=token")
}

fn code_from(r: &ezauth::http::Response) -> String {
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
    let location = header(r, "Location").unwrap();
    let code = location
        .strip_prefix(&format!("{CALLBACK}#authorization_code="))
        .unwrap_or_else(|| panic!("not the app callback with a code: {location}"));
    assert!(
        !r.headers.iter().any(|(n, v)| n == "Set-Cookie"
            && v.starts_with("AppServiceAuthSession=")
            && !v.contains("Max-Age=0")),
        "a PKCE login gets no session cookie"
    );
    code.to_owned()
}

fn escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn redeem(m: &Module, code: &str, verifier: &str) -> ezauth::http::Response {
    finished(run(
        m,
        "GET",
        &format!(
            "/.auth/login/idp/token?authorization_code={}&code_verifier={}",
            escape(code),
            escape(verifier)
        ),
        &[],
        b"",
    ))
}

#[test]
fn the_dotnet_exchange_gets_a_session_token() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, _) = pkce_module(&idp, &log);
    // One whose challenge holds a `+`: unescaped in the login query, it reads as a space.
    let (verifier, challenge) = (0..=255)
        .map(verifier_and_challenge)
        .find(|(_, c)| c.contains('+'))
        .unwrap();
    let code = code_from(&login(&m, &idp, &dotnet_query(&challenge)));
    let r = redeem(&m, &code, &verifier);
    assert_eq!(r.status, 200, "{}", log.text());
    let body = json_body(&r);
    let token = body["authenticationToken"].as_str().unwrap();
    assert!(body["user"]["userId"].as_str().unwrap().starts_with("sid:"));
    let r = finished(run(&m, "GET", "/.auth/me", &[("X-ZUMO-AUTH", token)], b""));
    assert_eq!(r.status, 200);
    assert_eq!(json_body(&r)[0]["access_token"], "a");

    // POST with the two fields as JSON works as well.
    let code = code_from(&login(&m, &idp, &dotnet_query(&challenge)));
    let body = json!({"authorization_code": code, "code_verifier": verifier}).to_string();
    let r = finished(run(
        &m,
        "POST",
        "/.auth/login/idp/token",
        &[],
        body.as_bytes(),
    ));
    assert_eq!(r.status, 200, "{}", log.text());
}

#[test]
fn a_code_is_one_time_short_lived_and_bound_to_its_challenge() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, clock) = pkce_module(&idp, &log);
    let (verifier, challenge) = verifier_and_challenge(2);

    let code = code_from(&login(&m, &idp, &dotnet_query(&challenge)));
    let (other_verifier, _) = verifier_and_challenge(3);
    let r = redeem(&m, &code, &other_verifier);
    assert_eq!(r.status, 400);
    log.says("code_verifier does not match the code_challenge");
    assert_eq!(redeem(&m, &code, &verifier).status, 200, "{}", log.text());
    let r = redeem(&m, &code, &verifier);
    assert_eq!(r.status, 400);
    log.says("code already redeemed (replay)");

    let code = code_from(&login(&m, &idp, &dotnet_query(&challenge)));
    clock.advance(61);
    let r = redeem(&m, &code, &verifier);
    assert_eq!(r.status, 400);
    log.says("code expired at");

    for (case, query, why) in [
        (
            "no code",
            format!("code_verifier={}", escape(&verifier)),
            "missing",
        ),
        (
            "no verifier",
            "authorization_code=abc".to_owned(),
            "missing",
        ),
        (
            "a forged code",
            format!("authorization_code=abc&code_verifier={}", escape(&verifier)),
            "the code does not open",
        ),
    ] {
        let r = finished(run(
            &m,
            "GET",
            &format!("/.auth/login/idp/token?{query}"),
            &[],
            b"",
        ));
        assert_eq!(r.status, 400, "{case}");
        log.says(why);
    }
}

#[test]
fn a_login_without_a_usable_challenge_is_refused() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, _) = pkce_module(&idp, &log);
    let (verifier, challenge) = verifier_and_challenge(4);
    for (case, query, why) in [
        (
            "plain",
            format!("post_login_redirect_url={CALLBACK}&code_challenge={verifier}&code_challenge_method=plain&session_mode=token"),
            "is not S256",
        ),
        (
            "no method",
            format!("post_login_redirect_url={CALLBACK}&code_challenge={challenge}&session_mode=token"),
            "is not S256",
        ),
        (
            "method without challenge",
            format!("post_login_redirect_url={CALLBACK}&code_challenge_method=S256&session_mode=token"),
            "code_challenge_method without code_challenge",
        ),
        (
            "not a digest",
            format!("post_login_redirect_url={CALLBACK}&code_challenge=abc&code_challenge_method=S256&session_mode=token"),
            "not a base64 SHA-256 digest",
        ),
        (
            "not token mode",
            format!("post_login_redirect_url={CALLBACK}&code_challenge={challenge}&code_challenge_method=S256"),
            "code_challenge or completion_type without session_mode=token",
        ),
    ] {
        let r = finished(run(&m, "GET", &format!("/.auth/login/idp?{query}"), &[], b""));
        assert_eq!(r.status, 400, "{case}: {}", log.text());
        log.says(why);
    }
    // A custom scheme not in the allow-list is refused, PKCE or not.
    let query = format!("post_login_redirect_url=otherapp://easyauth.callback/&code_challenge={challenge}&code_challenge_method=S256&session_mode=token");
    let r = finished(run(
        &m,
        "GET",
        &format!("/.auth/login/idp?{query}"),
        &[],
        b"",
    ));
    assert_eq!(r.status, 400);
    // A login without a challenge still ends with the session token.
    let r = login(
        &m,
        &idp,
        &format!("post_login_redirect_url={CALLBACK}&session_mode=token"),
    );
    assert!(header(&r, "Location")
        .unwrap()
        .starts_with(&format!("{CALLBACK}#token=")));
}

#[test]
fn a_code_of_one_provider_is_not_redeemed_at_another_route() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, _) = pkce_module(&idp, &log);
    let (verifier, challenge) = verifier_and_challenge(5);
    let code = code_from(&login(&m, &idp, &dotnet_query(&challenge)));
    let r = finished(run(
        &m,
        "GET",
        &format!(
            "/.auth/login/nosuch/token?authorization_code={}&code_verifier={}",
            escape(&code),
            escape(&verifier)
        ),
        &[],
        b"",
    ));
    assert_eq!(r.status, 404);
}
