//! Facebook against a scripted Facebook (login dialog, token endpoint, Graph API), at unit
//! speed: the dialog redirect carries what Facebook Login documents, with the pinned Graph API
//! version; a callback redeems the code, exchanges the token for a long-lived one and reads
//! `/me` (every Graph call with its `appsecret_proof`) into the headers the app sees and the
//! store; Facebook's failures answer the status the user should see and store nothing; a
//! client's token must be one `debug_token` says is valid, this app's, unexpired and the same
//! user's; no refresh, no bearer tokens, a local logout.

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use ezauth::clock::SystemClock;
use ezauth::http::{Outcome, Response};
use ezauth::outbound::HttpRequest;
use ezauth::pipeline::Module;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use serde_json::{json, Value};
use support::api::{app_headers, Reply, ScriptedApi};
use support::scripted::{self, MemoryStore};
use support::*;

const APP: &str = "1234567890";
const SECRET: &str = "s3cret:/ x";
const SHORT: &str = "EAAshort0000";
const LONG: &str = "EAAlong1111";
const TOKEN: &str = "GET graph.facebook.com/v19.0/oauth/access_token";
const ME: &str = "GET graph.facebook.com/v19.0/me";
const DEBUG: &str = "GET graph.facebook.com/v19.0/debug_token";

/// Facebook as a scripted API: the standing answers of a well-behaved Facebook.
fn facebook() -> Arc<ScriptedApi> {
    Arc::new(ScriptedApi::new(
        vec![
            (
                TOKEN,
                Reply::json(
                    200,
                    json!({"access_token": LONG, "token_type": "bearer", "expires_in": 5_183_944}),
                ),
            ),
            (
                ME,
                Reply::json(
                    200,
                    json!({"id": "10158291520000000", "name": "Zoë Doe",
                             "first_name": "Zoë", "last_name": "Doe", "email": "zoe@example.org"}),
                ),
            ),
            (
                DEBUG,
                Reply::json(
                    200,
                    json!({"data": {"app_id": APP, "type": "USER", "application": "app",
                    "expires_at": now() + 3600, "is_valid": true, "scopes": ["email", "public_profile"],
                    "user_id": "10158291520000000"}}),
                ),
            ),
        ],
        Reply::json(
            404,
            json!({"error": {"message": "Unknown path", "code": 803}}),
        ),
    ))
}

fn query(r: &HttpRequest) -> HashMap<String, String> {
    url::Url::parse(&r.url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn sent(r: &HttpRequest, name: &str) -> Option<String> {
    r.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

/// `appsecret_proof` as Facebook computes it, independently of the module.
fn proof(token: &str) -> String {
    let key = PKey::hmac(SECRET.as_bytes()).unwrap();
    let mut signer = Signer::new(MessageDigest::sha256(), &key).unwrap();
    signer.update(token.as_bytes()).unwrap();
    ezauth::crypto::hex(&signer.sign_to_vec().unwrap())
}

fn config() -> String {
    format!(
        r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}},
        "identityProviders":{{"facebook":{{"enabled":true,
          "registration":{{"appId":"{APP}","appSecretSettingName":"IDP_CLIENT_SECRET"}},
          "graphApiVersion":"v19.0",
          "login":{{"scopes":["email","public_profile"]}}}}}},
        "login":{{"tokenStore":{{"enabled":true,"fileSystem":{{"directory":"/nonexistent/unused"}}}}}},
        "httpSettings":{{"requireHttps":false}}}}"#
    )
}

fn module(fb: &Arc<ScriptedApi>, log: &Captured) -> (Module, Arc<MemoryStore>) {
    scripted::module_with(fb.clone(), &config(), log.logger(), Arc::new(SystemClock))
}

fn start(m: &Module, query: &str) -> Response {
    login_redirect(m, "facebook", query)
}

/// A whole browser sign-in up to the callback's answer, with the short-lived token first.
fn through_facebook(m: &Module, fb: &ScriptedApi) -> Response {
    fb.once(
        TOKEN,
        Reply::json(
            200,
            json!({"access_token": SHORT, "token_type": "bearer", "expires_in": 5183}),
        ),
    );
    let (state, _, cookie) = started(&start(m, ""));
    finished(run(
        m,
        "GET",
        &format!("/.auth/login/facebook/callback?code=the-code&state={state}"),
        &[("Cookie", &cookie)],
        b"",
    ))
}

fn started(r: &Response) -> (String, (), String) {
    let location = url::Url::parse(header(r, "Location").unwrap()).unwrap();
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let cookie = header(r, "Set-Cookie").unwrap().split(';').next().unwrap();
    (state, (), cookie.to_owned())
}

fn client_login(m: &Module, body: &Value) -> Response {
    finished(run(
        m,
        "POST",
        "/.auth/login/facebook",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    ))
}

#[test]
fn the_dialog_redirect_carries_what_facebook_login_documents() {
    let fb = facebook();
    let log = Captured::default();
    let (m, _) = module(&fb, &log);
    let r = start(
        &m,
        "auth_type=rerequest&access_type=offline&redirect_uri=https://evil.example/",
    );
    let location = url::Url::parse(header(&r, "Location").unwrap()).unwrap();
    assert_eq!(
        location.as_str().split('?').next().unwrap(),
        "https://www.facebook.com/v19.0/dialog/oauth"
    );
    let q: HashMap<String, String> = location.query_pairs().into_owned().collect();
    let mut names: Vec<&str> = q.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "auth_type",
            "client_id",
            "redirect_uri",
            "response_type",
            "scope",
            "state"
        ]
    );
    assert_eq!(q["client_id"], APP);
    assert_eq!(
        q["redirect_uri"],
        "http://app.example/.auth/login/facebook/callback"
    );
    assert_eq!(q["scope"], "email,public_profile");
    assert_eq!(q["auth_type"], "rerequest");
    assert_eq!(fb.count(), 0);
}

#[test]
fn a_callback_redeems_the_code_exchanges_it_for_a_long_lived_token_and_reads_me() {
    let fb = facebook();
    let log = Captured::default();
    let (m, store) = module(&fb, &log);
    let r = through_facebook(&m, &fb);
    assert_eq!(r.status, 302, "{}", log.text());
    let cookie = session_cookie(&r);

    let [redeem, exchange] = &fb.requests(TOKEN)[..] else {
        panic!("two token calls")
    };
    let q = query(redeem);
    assert_eq!(q["client_id"], APP);
    assert_eq!(q["client_secret"], SECRET);
    assert_eq!(q["code"], "the-code");
    assert_eq!(
        q["redirect_uri"],
        "http://app.example/.auth/login/facebook/callback"
    );
    let q = query(exchange);
    assert_eq!(q["grant_type"], "fb_exchange_token");
    assert_eq!(q["fb_exchange_token"], SHORT);
    assert_eq!(q["client_secret"], SECRET);
    // /me with the long-lived token, proven with the app secret; e-mail asked for (the scope).
    let [me] = &fb.requests(ME)[..] else {
        panic!("one /me")
    };
    assert_eq!(sent(me, "Authorization"), Some(format!("Bearer {LONG}")));
    let q = query(me);
    assert_eq!(q["appsecret_proof"], proof(LONG));
    assert_eq!(q["fields"], "id,name,first_name,last_name,email");
    assert!(
        !q.contains_key("access_token"),
        "the token stays out of the URL"
    );
    assert!(
        fb.requests(DEBUG).is_empty(),
        "a code redeemed here needs no inspection"
    );

    let h = app_headers(&m, ("Cookie", &cookie));
    assert_eq!(h["X-MS-CLIENT-PRINCIPAL-ID"], "10158291520000000");
    assert_eq!(h["X-MS-CLIENT-PRINCIPAL-NAME"], "Zoë Doe");
    assert_eq!(h["X-MS-CLIENT-PRINCIPAL-IDP"], "facebook");
    assert_eq!(h["X-MS-TOKEN-FACEBOOK-ACCESS-TOKEN"], LONG);
    let mut tokens: Vec<&str> = h
        .keys()
        .filter(|k| k.starts_with("X-MS-TOKEN-"))
        .map(String::as_str)
        .collect();
    tokens.sort();
    assert_eq!(
        tokens,
        [
            "X-MS-TOKEN-FACEBOOK-ACCESS-TOKEN",
            "X-MS-TOKEN-FACEBOOK-EXPIRES-ON"
        ]
    );
    let record = store.only();
    assert_eq!(record.provider_name, "facebook");
    assert_eq!(record.access_token.as_deref(), Some(LONG));
    // About 60 days ahead: the long-lived token's lifetime, not the short one's.
    let expires = record.expires_on.unwrap();
    let at = |s: i64| ezauth::store::format_expires_on(now() + s);
    assert!(
        at(5_000_000) < expires && expires < at(5_300_000),
        "{expires}"
    );
    let claims = &record.user_claims;
    let has = |typ: &str, val: &str| claims.iter().any(|c| c.typ == typ && c.val == val);
    assert!(has(ezauth::session::claims::EMAIL, "zoe@example.org"));
    assert!(has(ezauth::providers::facebook::GIVEN_NAME_CLAIM, "Zoë"));
    assert!(has(ezauth::providers::facebook::SURNAME_CLAIM, "Doe"));

    // No refresh: 400, Facebook not asked. Logout is local and forgets the token.
    let calls = fb.count();
    let refresh = refresh_by_cookie(&m, &cookie);
    assert_eq!(refresh.status, 400);
    let out = finished(run(&m, "GET", "/.auth/logout", &[("Cookie", &cookie)], b""));
    assert_eq!(header(&out, "Location"), Some("/.auth/logout/complete"));
    assert_eq!(store.only().access_token, None);
    assert_eq!(fb.count(), calls);
}

#[test]
fn facebook_s_failures_answer_their_status_and_store_nothing() {
    let oauth_error = json!({"error": {"message": "This authorization code has been used.",
        "type": "OAuthException", "code": 100}});
    let cases: Vec<(&str, &str, u16, Value, u16)> = vec![
        ("a used code", TOKEN, 400, oauth_error.clone(), 400),
        ("the token endpoint down", TOKEN, 500, json!({}), 502),
        (
            "the app secret refused",
            TOKEN,
            400,
            json!({"error": {"message": "Error validating client secret.", "type": "OAuthException", "code": 1}}),
            502,
        ),
        (
            "a token with a line break",
            TOKEN,
            200,
            json!({"access_token": "EAA\r\nX: 1"}),
            502,
        ),
        ("/me refusing the token", ME, 400, oauth_error, 401),
        ("/me without an id", ME, 200, json!({"name": "N"}), 502),
        (
            "/me with a non-numeric id",
            ME,
            200,
            json!({"id": "12\r\nX: 1", "name": "N"}),
            502,
        ),
        (
            "/me with a name that splits headers",
            ME,
            200,
            json!({"id": "5", "name": "N\r\nX: 1"}),
            502,
        ),
    ];
    for (what, call, status, body, expected) in cases {
        let fb = facebook();
        let log = Captured::default();
        let (m, store) = module(&fb, &log);
        if call == TOKEN {
            // The code's redemption fails (the exchange never happens).
            fb.once(TOKEN, Reply::json(status, body));
            let (state, _, cookie) = started(&start(&m, ""));
            let r = finished(run(
                &m,
                "GET",
                &format!("/.auth/login/facebook/callback?code=c&state={state}"),
                &[("Cookie", &cookie)],
                b"",
            ));
            assert_eq!(r.status, expected, "{what}: {}", log.text());
        } else {
            fb.always(call, Reply::json(status, body));
            let r = through_facebook(&m, &fb);
            assert_eq!(r.status, expected, "{what}: {}", log.text());
        }
        assert!(store.records().is_empty(), "{what}");
    }
    // A user who cancels the dialog: 401, nothing redeemed.
    let fb = facebook();
    let log = Captured::default();
    let (m, store) = module(&fb, &log);
    let (state, _, cookie) = started(&start(&m, ""));
    let r = finished(run(
        &m,
        "GET",
        &format!("/.auth/login/facebook/callback?error=access_denied&error_reason=user_denied&state={state}"),
        &[("Cookie", &cookie)],
        b"",
    ));
    assert_eq!(r.status, 401);
    assert_eq!(fb.count(), 0);
    assert!(store.records().is_empty());
}

#[test]
fn a_client_token_debug_token_vouches_for_signs_in() {
    let fb = facebook();
    let log = Captured::default();
    let (m, store) = module(&fb, &log);
    let r = client_login(&m, &json!({"access_token": SHORT}));
    assert_eq!(r.status, 200, "{}", log.text());
    let [debug] = &fb.requests(DEBUG)[..] else {
        panic!("one debug_token")
    };
    let app_token = format!("{APP}|{SECRET}");
    assert_eq!(
        sent(debug, "Authorization"),
        Some(format!("Bearer {app_token}"))
    );
    let q = query(debug);
    assert_eq!(q["input_token"], SHORT);
    assert_eq!(q["appsecret_proof"], proof(&app_token));
    let [me] = &fb.requests(ME)[..] else {
        panic!("one /me")
    };
    assert_eq!(sent(me, "Authorization"), Some(format!("Bearer {SHORT}")));
    assert_eq!(query(me)["appsecret_proof"], proof(SHORT));
    assert!(
        fb.requests(TOKEN).is_empty(),
        "a client's token is kept as it is"
    );

    let zumo = json_body(&r)["authenticationToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let h = app_headers(&m, ("X-ZUMO-AUTH", &zumo));
    assert_eq!(h["X-MS-CLIENT-PRINCIPAL-ID"], "10158291520000000");
    assert_eq!(h["X-MS-TOKEN-FACEBOOK-ACCESS-TOKEN"], SHORT);
    assert!(
        h.contains_key("X-MS-TOKEN-FACEBOOK-EXPIRES-ON"),
        "debug_token's expires_at"
    );
    assert_eq!(store.only().access_token.as_deref(), Some(SHORT));
    let refresh = finished(run(
        &m,
        "GET",
        "/.auth/refresh",
        &[("X-ZUMO-AUTH", &zumo)],
        b"",
    ));
    assert_eq!(refresh.status, 400);
}

/// One call's scripted answer: the call, its status and body.
type Scripted = (&'static str, u16, Value);

#[test]
fn a_client_token_facebook_does_not_vouch_for_here_is_refused_and_nothing_is_stored() {
    let valid = |data: Value| {
        let mut d = json!({"app_id": APP, "type": "USER", "expires_at": now() + 3600,
            "is_valid": true, "user_id": "10158291520000000"});
        if let (Value::Object(d), Value::Object(x)) = (&mut d, data) {
            d.extend(x);
        }
        json!({ "data": d })
    };
    let cases: Vec<(&str, Option<Scripted>, Value, u16)> = vec![
        (
            "another app's token",
            Some((DEBUG, 200, valid(json!({"app_id": "999"})))),
            json!({"access_token": SHORT}),
            401,
        ),
        (
            "an invalid token",
            Some((DEBUG, 200, valid(json!({"is_valid": false})))),
            json!({"access_token": SHORT}),
            401,
        ),
        (
            "an expired token",
            Some((DEBUG, 200, valid(json!({"expires_at": now() - 10})))),
            json!({"access_token": SHORT}),
            401,
        ),
        (
            "a page token",
            Some((DEBUG, 200, valid(json!({"type": "PAGE"})))),
            json!({"access_token": SHORT}),
            401,
        ),
        (
            "another user than /me",
            Some((DEBUG, 200, valid(json!({"user_id": "42"})))),
            json!({"access_token": SHORT}),
            401,
        ),
        (
            "debug_token failing",
            Some((DEBUG, 500, json!({}))),
            json!({"access_token": SHORT}),
            502,
        ),
        (
            "/me refusing",
            Some((
                ME,
                401,
                json!({"error": {"type": "OAuthException", "code": 190}}),
            )),
            json!({"access_token": SHORT}),
            401,
        ),
        (
            "not a token",
            None,
            json!({"access_token": "two words"}),
            401,
        ),
        ("no token", None, json!({"id_token": "a.b.c"}), 400),
    ];
    for (what, script, body, status) in cases {
        let fb = facebook();
        if let Some((call, s, b)) = script {
            fb.always(call, Reply::json(s, b));
        }
        let log = Captured::default();
        let (m, store) = module(&fb, &log);
        let r = client_login(&m, &body);
        assert_eq!(r.status, status, "{what}: {}", log.text());
        assert!(store.records().is_empty(), "{what}");
    }
}

#[test]
fn a_facebook_token_is_no_bearer_credential() {
    let fb = facebook();
    let log = Captured::default();
    let (m, _) = scripted::module_with(
        fb.clone(),
        &config().replace("AllowAnonymous", "Return401"),
        log.logger(),
        Arc::new(SystemClock),
    );
    let bearer = format!("Bearer {LONG}");
    let r = finished(run(&m, "GET", "/page", &[("Authorization", &bearer)], b""));
    assert_eq!(r.status, 401);
    assert!(header(&r, "WWW-Authenticate").is_some_and(|c| c.contains("invalid_token")));
    assert_eq!(fb.count(), 0, "a bearer token went to Facebook");
    // Where anonymous access is allowed it is no identity either.
    let (m, _) = module(&fb, &log);
    let Outcome::Continue(fwd) = run(&m, "GET", "/page", &[("Authorization", &bearer)], b"") else {
        panic!("expected the request to pass anonymously");
    };
    assert_eq!(fwd.set_headers().count(), 0);
}
