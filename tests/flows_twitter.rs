//! Twitter against a scripted Twitter, at unit speed: the scripted endpoints check every
//! request's OAuth 1.0a signature (recomputed from the recorded request with the consumer
//! secret and the secret of the token it names) and answer 401 to a bad one, as Twitter does;
//! a sign-in takes a request token for our callback (confirmed, or refused), sends the browser
//! to `authenticate`, and at the callback redeems the verifier with the request token's kept
//! secret and reads the user with `verify_credentials` into the headers the app sees (both
//! token headers) and the store; every way Twitter can fail answers the status the user
//! should see and stores nothing; `denied` is a refusal that spends nothing; a callback is
//! good once; a client's token pair is judged by a signed call; no refresh.

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use ezauth::clock::SystemClock;
use ezauth::http::Response;
use ezauth::outbound::{HttpRequest, TransportKind};
use ezauth::pipeline::Module;
use ezauth::providers::oauth1::Signer;
use serde_json::{json, Value};
use support::api::{app_headers, key, principal_claims, Reply, ScriptedApi};
use support::scripted::{self, MemoryStore};
use support::*;

const CONSUMER_KEY: &str = "xvz1evFS4wEEPTGEFPHBog";
/// What `support::env` holds under `IDP_CLIENT_SECRET`.
const CONSUMER_SECRET: &str = "s3cret:/ x";
const REQUEST_TOKEN: &str = "NPcudxy0yU5T3tBzho7iCotZ3cnetKwcTIRlX0iwRl0";
const REQUEST_SECRET: &str = "veNRnAWe6inFuo8o2u8SLLZLjolYDmDP7SzL0YfYI";
const VERIFIER: &str = "uw7NjWHT6OJ1MpJOXsHfNxoAhPKpgI8BlYDhxEjIBY";
const ACCESS_TOKEN: &str = "6253282-eWudHldSbIaelX7swmsiHImEL4KinwaGloHANdrY";
const ACCESS_SECRET: &str = "2EEfA6BG3ly3sR3RjE0IBSnlQu4ZrUzPiYKmrkVU";
const REQUEST: &str = "POST api.twitter.com/oauth/request_token";
const ACCESS: &str = "POST api.twitter.com/oauth/access_token";
const VERIFY: &str = "GET api.twitter.com/1.1/account/verify_credentials.json";
const CALLBACK: &str = "http://app.example/.auth/login/twitter/callback";

/// Twitter's answer to a request it cannot authenticate.
fn could_not_authenticate() -> Reply {
    Reply::json(
        401,
        json!({"errors": [{"code": 32, "message": "Could not authenticate you."}]}),
    )
}

/// The `Authorization: OAuth ...` parameters of a request, decoded (RFC 5849 §3.5.1).
fn oauth_params(r: &HttpRequest) -> Vec<(String, String)> {
    let value = r
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Authorization"))
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let Some(list) = value.strip_prefix("OAuth ") else {
        return Vec::new();
    };
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .unwrap()
            .into_owned()
    };
    list.split(", ")
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((decode(k), decode(v.trim_matches('"'))))
        })
        .collect()
}

fn oauth_param(r: &HttpRequest, name: &str) -> Option<String> {
    oauth_params(r)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Does the request's signature verify with these secrets? Recomputed from what was sent: the
/// method, the URL with its query, every protocol parameter but the signature.
fn signed_with(r: &HttpRequest, consumer_secret: &str, token_secret: &str) -> bool {
    let params = oauth_params(r);
    let Some(signature) = oauth_param(r, "oauth_signature") else {
        return false;
    };
    let protocol: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| k != "oauth_signature")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let token = oauth_param(r, "oauth_token");
    let signer = Signer {
        consumer_key: CONSUMER_KEY,
        consumer_secret,
        token: token.as_deref().map(|t| (t, token_secret)),
    };
    assert!(r.body.is_empty(), "a body the signature does not cover");
    signer.signature(&r.method, &r.url, &[], &protocol).unwrap() == signature
}

/// Twitter as a scripted API: it checks each request's consumer key and signature (401
/// otherwise), then answers as a well-behaved Twitter.
fn twitter() -> Arc<ScriptedApi> {
    Arc::new(
        ScriptedApi::new(
            vec![
            (
                REQUEST,
                Reply::form(
                    200,
                    "oauth_token=NPcudxy0yU5T3tBzho7iCotZ3cnetKwcTIRlX0iwRl0&oauth_token_secret=veNRnAWe6inFuo8o2u8SLLZLjolYDmDP7SzL0YfYI&oauth_callback_confirmed=true",
                ),
            ),
            (
                ACCESS,
                Reply::form(
                    200,
                    "oauth_token=6253282-eWudHldSbIaelX7swmsiHImEL4KinwaGloHANdrY&oauth_token_secret=2EEfA6BG3ly3sR3RjE0IBSnlQu4ZrUzPiYKmrkVU&user_id=6253282&screen_name=twitterapi",
                ),
            ),
            (
                VERIFY,
                Reply::json(
                    200,
                    json!({"id": 6253282, "id_str": "6253282", "name": "Twitter API",
                           "screen_name": "twitterapi", "email": "api@twitter.example",
                           "verified": true}),
                ),
            ),
        ],
            Reply::json(404, json!({"errors": [{"code": 34}]})),
        )
        .gated(|r| (!authenticates(r)).then(could_not_authenticate)),
    )
}

/// Twitter's own checks: the app's key, a token it issued (with its secret), the
/// signature; the request token step needs the callback, the access token step the
/// verifier.
fn authenticates(r: &HttpRequest) -> bool {
    let token_secret = match oauth_param(r, "oauth_token").as_deref() {
        None => "",
        Some(REQUEST_TOKEN) => REQUEST_SECRET,
        Some(ACCESS_TOKEN) => ACCESS_SECRET,
        Some(_) => return false,
    };
    let step = match key(r).as_str() {
        REQUEST => oauth_param(r, "oauth_callback").is_some(),
        ACCESS => oauth_param(r, "oauth_verifier").as_deref() == Some(VERIFIER),
        _ => true,
    };
    step && oauth_param(r, "oauth_consumer_key").as_deref() == Some(CONSUMER_KEY)
        && oauth_param(r, "oauth_signature_method").as_deref() == Some("HMAC-SHA1")
        && signed_with(r, CONSUMER_SECRET, token_secret)
}

/// Twitter as App Service exports it, anonymous access allowed, a token store.
fn config() -> String {
    format!(
        r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}},
        "identityProviders":{{"twitter":{{"enabled":true,
          "registration":{{"consumerKey":"{CONSUMER_KEY}","consumerSecretSettingName":"IDP_CLIENT_SECRET"}}}}}},
        "login":{{"tokenStore":{{"enabled":true,"fileSystem":{{"directory":"/nonexistent/unused"}}}}}},
        "httpSettings":{{"requireHttps":false}}}}"#
    )
}

fn module(tw: &Arc<ScriptedApi>, log: &Captured) -> (Module, Arc<MemoryStore>) {
    scripted::module_with(tw.clone(), &config(), log.logger(), Arc::new(SystemClock))
}

/// `GET /.auth/login/twitter`: the answer, whatever it is.
fn start(m: &Module) -> Response {
    finished(run(m, "GET", "/.auth/login/twitter", &[], b""))
}

/// A started login's request token (from the redirect) and login-state cookie.
fn started(r: &Response) -> (String, String) {
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
    let location = url::Url::parse(header(r, "Location").unwrap()).unwrap();
    let token = location
        .query_pairs()
        .find(|(k, _)| k == "oauth_token")
        .unwrap()
        .1
        .into_owned();
    let cookie = header(r, "Set-Cookie").unwrap().split(';').next().unwrap();
    (token, cookie.to_owned())
}

fn callback(m: &Module, query: &str, cookie: &str) -> Response {
    finished(run(
        m,
        "GET",
        &format!("/.auth/login/twitter/callback?{query}"),
        &[("Cookie", cookie)],
        b"",
    ))
}

/// A whole browser sign-in up to the callback's answer.
fn through_twitter(m: &Module) -> Response {
    let (token, cookie) = started(&start(m));
    callback(
        m,
        &format!("oauth_token={token}&oauth_verifier={VERIFIER}"),
        &cookie,
    )
}

/// A sign-in whose `request` gets `reply` once: the callback answers `status`, a log line
/// says `why`, nothing is stored. The scripted API and the answer, for more checks.
fn callback_fails(
    request: &str,
    reply: &Reply,
    status: u16,
    why: &str,
) -> (Arc<ScriptedApi>, Response) {
    let tw = twitter();
    tw.once(request, reply.clone());
    let log = Captured::default();
    let (m, store) = module(&tw, &log);
    let r = through_twitter(&m);
    assert_eq!(r.status, status, "{reply:?}: {}", log.text());
    log.says(&format!("callback with twitter failed ({status})"));
    log.says(why);
    assert!(store.records().is_empty(), "{reply:?}");
    (tw, r)
}

#[test]
fn the_login_takes_a_signed_request_token_for_our_callback_and_sends_the_browser_to_authenticate() {
    let tw = twitter();
    let log = Captured::default();
    let (m, store) = module(&tw, &log);
    let r = start(&m);
    let (token, cookie) = started(&r);
    assert_eq!(
        header(&r, "Location"),
        Some(
            format!("https://api.twitter.com/oauth/authenticate?oauth_token={REQUEST_TOKEN}")
                .as_str()
        )
    );
    assert_eq!(token, REQUEST_TOKEN);
    // The login-state cookie is named after the request token; the request token's secret is
    // in it only sealed.
    assert!(cookie.contains(&REQUEST_TOKEN[..16]), "{cookie}");
    for (n, v) in &r.headers {
        assert!(!v.contains(REQUEST_SECRET), "{n}: {v}");
    }

    // The request token call: signed by the app alone, naming our callback.
    let [sent] = &tw.requests(REQUEST)[..] else {
        panic!("one request_token call: {}", log.text())
    };
    assert!(signed_with(sent, CONSUMER_SECRET, ""), "{sent:?}");
    assert!(
        !signed_with(sent, "another secret", ""),
        "the check can fail"
    );
    let params: HashMap<String, String> = oauth_params(sent).into_iter().collect();
    let mut names: Vec<&str> = params.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "oauth_callback",
            "oauth_consumer_key",
            "oauth_nonce",
            "oauth_signature",
            "oauth_signature_method",
            "oauth_timestamp",
            "oauth_version",
        ]
    );
    assert_eq!(params["oauth_callback"], CALLBACK);
    assert_eq!(params["oauth_consumer_key"], CONSUMER_KEY);
    assert_eq!(params["oauth_version"], "1.0");
    let now = ezauth::clock::Clock::now(&SystemClock);
    let stamp: i64 = params["oauth_timestamp"].parse().unwrap();
    assert!((now - stamp).abs() < 60, "{stamp}");
    assert!(params["oauth_nonce"].len() >= 16);
    assert_eq!(sent.method, "POST");
    assert!(sent.body.is_empty());
    // A login hint and prompt=login become what `authenticate` documents; nothing else passes.
    let r = finished(run(
        &m,
        "GET",
        "/.auth/login/twitter?login_hint=jack_1&prompt=login&scope=x&oauth_callback=https://evil.example/",
        &[],
        b"",
    ));
    let location = url::Url::parse(header(&r, "Location").unwrap()).unwrap();
    let q: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    assert_eq!(
        q,
        [
            ("oauth_token".to_owned(), REQUEST_TOKEN.to_owned()),
            ("screen_name".to_owned(), "jack_1".to_owned()),
            ("force_login".to_owned(), "true".to_owned()),
        ]
    );
    let [_, second] = &tw.requests(REQUEST)[..] else {
        panic!("two request_token calls")
    };
    assert_eq!(
        oauth_param(second, "oauth_callback").as_deref(),
        Some(CALLBACK)
    );
    // A hint that is no screen name is dropped.
    let r = finished(run(
        &m,
        "GET",
        "/.auth/login/twitter?login_hint=a%20b%26force_login%3Dfalse",
        &[],
        b"",
    ));
    let location = header(&r, "Location").unwrap();
    assert!(
        !location.contains("screen_name") && !location.contains("force_login"),
        "{location}"
    );
    // Each login gets a fresh nonce.
    let nonces: std::collections::HashSet<String> = tw
        .requests(REQUEST)
        .iter()
        .map(|r| oauth_param(r, "oauth_nonce").unwrap())
        .collect();
    assert_eq!(nonces.len(), 3);
    assert!(store.records().is_empty());
}

#[test]
fn a_callback_redeems_the_verifier_reads_the_user_and_the_app_sees_both_tokens() {
    let tw = twitter();
    let log = Captured::default();
    let (m, store) = module(&tw, &log);
    let r = through_twitter(&m);
    assert_eq!(r.status, 302, "{}", log.text());
    assert_eq!(header(&r, "Location"), Some("/.auth/login/done"));
    let cookie = session_cookie(&r);

    // The verifier, signed with the request token and the secret kept in the login state.
    let [redeem] = &tw.requests(ACCESS)[..] else {
        panic!("one access_token call")
    };
    assert!(signed_with(redeem, CONSUMER_SECRET, REQUEST_SECRET));
    assert_eq!(
        oauth_param(redeem, "oauth_token").as_deref(),
        Some(REQUEST_TOKEN)
    );
    assert_eq!(
        oauth_param(redeem, "oauth_verifier").as_deref(),
        Some(VERIFIER)
    );
    // The user, signed with the access token: e-mail asked for, no tweet.
    let [verify] = &tw.requests(VERIFY)[..] else {
        panic!("one verify_credentials call")
    };
    assert!(signed_with(verify, CONSUMER_SECRET, ACCESS_SECRET));
    let query: HashMap<String, String> = url::Url::parse(&verify.url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(query["include_email"], "true");
    assert_eq!(query["skip_status"], "true");

    // What the app sees.
    let h = app_headers(&m, ("Cookie", &cookie));
    assert_eq!(h["X-MS-CLIENT-PRINCIPAL-ID"], "6253282");
    assert_eq!(h["X-MS-CLIENT-PRINCIPAL-NAME"], "twitterapi");
    assert_eq!(h["X-MS-CLIENT-PRINCIPAL-IDP"], "twitter");
    assert_eq!(h["X-MS-TOKEN-TWITTER-ACCESS-TOKEN"], ACCESS_TOKEN);
    assert_eq!(h["X-MS-TOKEN-TWITTER-ACCESS-TOKEN-SECRET"], ACCESS_SECRET);
    let mut token_headers: Vec<&str> = h
        .keys()
        .filter(|k| k.starts_with("X-MS-TOKEN-"))
        .map(String::as_str)
        .collect();
    token_headers.sort();
    assert_eq!(
        token_headers,
        [
            "X-MS-TOKEN-TWITTER-ACCESS-TOKEN",
            "X-MS-TOKEN-TWITTER-ACCESS-TOKEN-SECRET"
        ]
    );
    let claims = principal_claims(&h, "twitter");
    let has = |typ: &str, val: &str| claims.iter().any(|(t, v)| t == typ && v == val);
    assert!(has(
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
        "6253282"
    ));
    assert!(has(
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "twitterapi"
    ));
    assert!(has("urn:twitter:userid", "6253282"));
    assert!(has("urn:twitter:screenname", "twitterapi"));
    assert!(has(
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "api@twitter.example"
    ));

    // What is stored, and /.auth/me.
    let record = store.only();
    assert_eq!(record.provider_name, "twitter");
    assert_eq!(record.access_token.as_deref(), Some(ACCESS_TOKEN));
    assert_eq!(record.access_token_secret.as_deref(), Some(ACCESS_SECRET));
    assert_eq!(record.refresh_token, None);
    assert_eq!(record.id_token, None);
    assert_eq!(record.expires_on, None, "Twitter's tokens do not expire");
    let me = json_body(&finished(run(
        &m,
        "GET",
        "/.auth/me",
        &[("Cookie", &cookie)],
        b"",
    )));
    assert_eq!(me[0]["provider_name"], "twitter");
    assert_eq!(me[0]["user_id"], "twitterapi");
    assert_eq!(me[0]["access_token"], ACCESS_TOKEN);
    assert_eq!(me[0]["access_token_secret"], ACCESS_SECRET);
    log.says("signed in sid:");
}

#[test]
fn a_request_token_twitter_does_not_give_properly_stops_the_login_before_the_browser_leaves() {
    for (reply, status, why) in [
        // The callback not confirmed: OAuth 1.0 without RFC 5849's session-fixation fix.
        (
            Reply::form(
                200,
                "oauth_token=NPcudxy0yU5T3tBzho7iCotZ3cnetKwcTIRlX0iwRl0&oauth_token_secret=veNRnAWe6inFuo8o2u8SLLZLjolYDmDP7SzL0YfYI",
            ),
            502,
            "did not confirm the callback",
        ),
        (
            Reply::form(
                200,
                "oauth_token=NPcudxy0yU5T3tBzho7iCotZ3cnetKwcTIRlX0iwRl0&oauth_token_secret=veNRnAWe6inFuo8o2u8SLLZLjolYDmDP7SzL0YfYI&oauth_callback_confirmed=false",
            ),
            502,
            "did not confirm the callback",
        ),
        (
            Reply::form(200, "oauth_token_secret=x&oauth_callback_confirmed=true"),
            502,
            "without a usable oauth_token",
        ),
        (
            Reply::form(
                200,
                "oauth_token=a%0D%0ASet-Cookie:x&oauth_token_secret=x&oauth_callback_confirmed=true",
            ),
            502,
            "without a usable oauth_token",
        ),
        (
            Reply::form(
                200,
                "oauth_token=a&oauth_token=b&oauth_token_secret=x&oauth_callback_confirmed=true",
            ),
            502,
            "no form-encoded parameters",
        ),
        // The app's credentials or callback refused: the operator's to fix.
        (could_not_authenticate(), 502, "request_token answered 401"),
        // Twitter's "Callback URL not approved for this client application" (code 415).
        (
            Reply::form(403, "<errors><error code=\"415\">Callback URL not approved</error></errors>"),
            502,
            "request_token answered 403",
        ),
        (Reply::json(503, json!({})), 502, "request_token answered 503"),
        (
            Reply::Fail(TransportKind::Timeout),
            504,
            "did not answer in time",
        ),
        (
            Reply::Fail(TransportKind::Unreachable),
            502,
            "scripted Unreachable",
        ),
    ] {
        let tw = twitter();
        tw.once(REQUEST, reply.clone());
        let log = Captured::default();
        let (m, store) = module(&tw, &log);
        let r = start(&m);
        assert_eq!(r.status, status, "{reply:?}: {}", log.text());
        log.says(&format!("login with twitter failed ({status})"));
        log.says(why);
        assert_eq!(header(&r, "Location"), None, "{reply:?}");
        assert_eq!(header(&r, "Set-Cookie"), None, "{reply:?}");
        assert!(store.records().is_empty());
    }
    // The same where a protected page sends the user to Twitter (the default provider).
    let tw = twitter();
    let log = Captured::default();
    let json = config().replace(
        r#""unauthenticatedClientAction":"AllowAnonymous""#,
        r#""unauthenticatedClientAction":"RedirectToLoginPage","redirectToProvider":"twitter""#,
    );
    let (m, _) = scripted::module_with(tw.clone(), &json, log.logger(), Arc::new(SystemClock));
    let r = finished(run(&m, "GET", "/orders", &[("Accept", "text/html")], b""));
    assert_eq!(r.status, 302, "{}", log.text());
    assert!(header(&r, "Location")
        .unwrap()
        .starts_with("https://api.twitter.com/oauth/authenticate?oauth_token="));
    tw.once(REQUEST, Reply::Fail(TransportKind::Timeout));
    let r = finished(run(&m, "GET", "/orders", &[("Accept", "text/html")], b""));
    assert_eq!(r.status, 504, "{}", log.text());
    assert_eq!(header(&r, "Location"), None);
}

#[test]
fn access_token_failures_answer_their_status_and_store_nothing() {
    for (reply, status, why) in [
        (
            could_not_authenticate(),
            401,
            "refused the request token or verifier",
        ),
        (Reply::json(500, json!({})), 502, "access_token answered 500"),
        (
            Reply::Fail(TransportKind::Timeout),
            504,
            "did not answer in time",
        ),
        (
            Reply::form(
                200,
                "oauth_token=6253282-eWud&oauth_token_secret=2EEf&screen_name=twitterapi",
            ),
            502,
            "without a numeric user_id",
        ),
        (
            Reply::form(
                200,
                "oauth_token=6253282-eWud&oauth_token_secret=2EEf&user_id=62%0D%0A53&screen_name=twitterapi",
            ),
            502,
            "without a numeric user_id",
        ),
        (
            Reply::form(200, "oauth_token=6253282-eWud&user_id=6253282"),
            502,
            "without a usable oauth_token_secret",
        ),
        (
            Reply::form(
                200,
                "oauth_token=has space&oauth_token_secret=2EEf&user_id=6253282",
            ),
            502,
            "without a usable oauth_token",
        ),
        (
            Reply::json(200, json!({"oauth_token": "x"})),
            502,
            "without a usable oauth_token",
        ),
    ] {
        let (tw, r) = callback_fails(ACCESS, &reply, status, why);
        assert!(tw.requests(VERIFY).is_empty(), "{reply:?}");
        assert_eq!(header(&r, "Location"), None, "{reply:?}");
    }
    // A verifier Twitter did not issue: its own 401 (the scripted Twitter checks it).
    let tw = twitter();
    let log = Captured::default();
    let (m, store) = module(&tw, &log);
    let (token, cookie) = started(&start(&m));
    let r = callback(
        &m,
        &format!("oauth_token={token}&oauth_verifier=forged"),
        &cookie,
    );
    assert_eq!(r.status, 401, "{}", log.text());
    assert!(store.records().is_empty());
}

#[test]
fn verify_credentials_failures_and_users_twitter_could_not_have_store_nothing() {
    for (reply, status, why) in [
        (could_not_authenticate(), 401, "401 from verify_credentials"),
        (
            Reply::json(
                429,
                json!({"errors": [{"code": 88, "message": "Rate limit exceeded"}]}),
            ),
            502,
            "verify_credentials answered 429",
        ),
        (
            Reply::Fail(TransportKind::Timeout),
            504,
            "did not answer in time",
        ),
        (Reply::form(200, "<html>"), 502, "no JSON"),
        (
            Reply::json(200, json!({"id": 6253282, "screen_name": "twitterapi"})),
            502,
            "no numeric id_str",
        ),
        (
            Reply::json(200, json!({"id_str": "0", "screen_name": "twitterapi"})),
            502,
            "no numeric id_str",
        ),
        (
            Reply::json(200, json!({"id_str": "62 53", "screen_name": "twitterapi"})),
            502,
            "no numeric id_str",
        ),
        // Another user than the access token was issued for.
        (
            Reply::json(200, json!({"id_str": "783214", "screen_name": "twitter"})),
            502,
            "names user 783214 but access_token named 6253282",
        ),
        (
            Reply::json(
                200,
                json!({"id_str": "6253282", "screen_name": "twitterapi\r\nX-MS-CLIENT-PRINCIPAL-ID: 1"}),
            ),
            502,
            "no valid screen_name",
        ),
        (
            Reply::json(
                200,
                json!({"id_str": "6253282", "screen_name": "x".repeat(21)}),
            ),
            502,
            "no valid screen_name",
        ),
        (
            Reply::json(200, json!({"id_str": "6253282"})),
            502,
            "no valid screen_name",
        ),
    ] {
        callback_fails(VERIFY, &reply, status, why);
    }
    // An odd address is left out, not a failed sign-in.
    let tw = twitter();
    tw.once(
        VERIFY,
        Reply::json(
            200,
            json!({"id_str": "6253282", "screen_name": "twitterapi", "email": "a b\r\n@x"}),
        ),
    );
    let log = Captured::default();
    let (m, _) = module(&tw, &log);
    let r = through_twitter(&m);
    assert_eq!(r.status, 302, "{}", log.text());
    let claims = principal_claims(&app_headers(&m, ("Cookie", &session_cookie(&r))), "twitter");
    assert!(!claims.iter().any(|(t, _)| t.ends_with("emailaddress")));
}

#[test]
fn a_user_who_denies_access_is_refused_and_nothing_is_spent() {
    let tw = twitter();
    let log = Captured::default();
    let (m, store) = module(&tw, &log);
    let (token, cookie) = started(&start(&m));
    let calls = tw.count();
    // Twitter's way back after "Cancel": `denied` carries the request token, no oauth_token.
    let r = callback(&m, &format!("denied={token}"), &cookie);
    assert_eq!(r.status, 401, "{}", log.text());
    log.says("provider twitter reported \"denied\"");
    assert!(
        header(&r, "Set-Cookie").is_some_and(|c| c.contains("Max-Age=0")),
        "the login state is cleared: {:?}",
        r.headers
    );
    assert_eq!(tw.count(), calls, "nothing was redeemed");
    assert!(store.records().is_empty());
    // Nothing was spent: the same login can still finish (the user went back and allowed).
    let r = callback(
        &m,
        &format!("oauth_token={token}&oauth_verifier={VERIFIER}"),
        &cookie,
    );
    assert_eq!(r.status, 302, "{}", log.text());

    // A `denied` for another login, a callback without a token or verifier: 400, nothing asked.
    let (token, cookie) = started(&start(&m));
    let calls = tw.count();
    for query in [
        "denied=another-request-token".to_owned(),
        format!("oauth_verifier={VERIFIER}"),
        format!("oauth_token={token}"),
        format!("oauth_token={token}&oauth_verifier="),
        format!("oauth_token=forged&oauth_verifier={VERIFIER}"),
    ] {
        let r = callback(&m, &query, &cookie);
        assert_eq!(r.status, 400, "{query}: {}", log.text());
    }
    assert_eq!(tw.count(), calls);
}

#[test]
fn a_callback_is_good_once() {
    let tw = twitter();
    let log = Captured::default();
    let (m, store) = module(&tw, &log);
    let (token, cookie) = started(&start(&m));
    let query = format!("oauth_token={token}&oauth_verifier={VERIFIER}");
    assert_eq!(callback(&m, &query, &cookie).status, 302, "{}", log.text());
    let calls = tw.count();
    let again = callback(&m, &query, &cookie);
    assert_eq!(again.status, 400);
    log.says("state already used (replay)");
    assert_eq!(tw.count(), calls, "a replay reached Twitter");
    assert_eq!(store.records().len(), 1);
}

fn client_login(m: &Module, body: &Value) -> Response {
    finished(run(
        m,
        "POST",
        "/.auth/login/twitter",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    ))
}

#[test]
fn a_client_signs_in_with_a_token_pair_that_verifies() {
    let tw = twitter();
    let log = Captured::default();
    let (m, store) = module(&tw, &log);
    let r = client_login(
        &m,
        &json!({"access_token": ACCESS_TOKEN, "access_token_secret": ACCESS_SECRET}),
    );
    assert_eq!(r.status, 200, "{}", log.text());
    let body = json_body(&r);
    let token = body["authenticationToken"].as_str().unwrap().to_owned();
    assert!(body["user"]["userId"].as_str().unwrap().starts_with("sid:"));
    // One call: verify_credentials, signed with the posted pair.
    assert_eq!(tw.count(), 1);
    let [verify] = &tw.requests(VERIFY)[..] else {
        panic!("one verify_credentials call")
    };
    assert!(signed_with(verify, CONSUMER_SECRET, ACCESS_SECRET));

    let h = app_headers(&m, ("X-ZUMO-AUTH", &token));
    assert_eq!(h["X-MS-CLIENT-PRINCIPAL-ID"], "6253282");
    assert_eq!(h["X-MS-CLIENT-PRINCIPAL-NAME"], "twitterapi");
    assert_eq!(h["X-MS-TOKEN-TWITTER-ACCESS-TOKEN"], ACCESS_TOKEN);
    assert_eq!(h["X-MS-TOKEN-TWITTER-ACCESS-TOKEN-SECRET"], ACCESS_SECRET);
    let record = store.only();
    assert_eq!(record.access_token_secret.as_deref(), Some(ACCESS_SECRET));
    log.says("client login of sid:");
}

#[test]
fn a_client_token_pair_twitter_does_not_vouch_for_is_refused_and_nothing_is_stored() {
    let pair = json!({"access_token": ACCESS_TOKEN, "access_token_secret": ACCESS_SECRET});
    for (verify, body, status, why) in [
        (
            Some(could_not_authenticate()),
            pair.clone(),
            401,
            "401 from verify_credentials",
        ),
        (
            Some(Reply::Fail(TransportKind::Timeout)),
            pair.clone(),
            504,
            "did not answer in time",
        ),
        (
            Some(Reply::Fail(TransportKind::Unreachable)),
            pair.clone(),
            502,
            "scripted Unreachable",
        ),
        (
            Some(Reply::json(503, json!({}))),
            pair.clone(),
            502,
            "verify_credentials answered 503",
        ),
        // A secret that is not the token's: the signature does not verify at Twitter.
        (
            None,
            json!({"access_token": ACCESS_TOKEN, "access_token_secret": "wrong-secret"}),
            401,
            "401 from verify_credentials",
        ),
        // Not tokens at all: Twitter is not asked.
        (
            None,
            json!({"access_token": "a\r\nX-Evil: 1", "access_token_secret": ACCESS_SECRET}),
            401,
            "not a Twitter token",
        ),
        (
            None,
            json!({"access_token": ACCESS_TOKEN, "access_token_secret": "s".repeat(2000)}),
            401,
            "not a Twitter token",
        ),
        (
            None,
            json!({"access_token": ACCESS_TOKEN}),
            400,
            "has none of the tokens twitter takes",
        ),
        (
            None,
            json!({"access_token": ACCESS_TOKEN, "access_token_secret": ""}),
            400,
            "has none of the tokens twitter takes",
        ),
        (None, json!([ACCESS_TOKEN]), 400, "not a JSON object"),
    ] {
        let tw = twitter();
        if let Some(v) = &verify {
            tw.once(VERIFY, v.clone());
        }
        let log = Captured::default();
        let (m, store) = module(&tw, &log);
        let r = client_login(&m, &body);
        assert_eq!(r.status, status, "{body} {verify:?}: {}", log.text());
        log.says(why);
        assert!(store.records().is_empty(), "{body}");
        if status == 400 || why == "not a Twitter token" {
            assert_eq!(tw.count(), 0, "{body}");
        }
    }
}

#[test]
fn there_is_no_refresh_no_bearer_token_and_logout_forgets_the_tokens() {
    let tw = twitter();
    let log = Captured::default();
    let (m, store) = module(&tw, &log);
    let cookie = session_cookie(&through_twitter(&m));
    let calls = tw.count();

    let r = refresh_by_cookie(&m, &cookie);
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    log.says("refresh: twitter cannot refresh tokens");
    assert_eq!(tw.count(), calls, "refresh asked Twitter");
    assert_eq!(store.only().access_token.as_deref(), Some(ACCESS_TOKEN));

    // App Service takes no Twitter token as a bearer credential: refused without asking.
    let auth = format!("Bearer {ACCESS_TOKEN}");
    let (m401, _) = scripted::module_with(
        tw.clone(),
        &config().replace("AllowAnonymous", "Return401"),
        log.logger(),
        Arc::new(SystemClock),
    );
    let r = finished(run(&m401, "GET", "/page", &[("Authorization", &auth)], b""));
    assert_eq!(r.status, 401);
    assert_eq!(tw.count(), calls, "a bearer token went to Twitter");

    let r = finished(run(&m, "GET", "/.auth/logout", &[("Cookie", &cookie)], b""));
    assert_eq!(r.status, 302);
    let left = store.only();
    assert_eq!(left.access_token, None, "logout kept the token");
    assert_eq!(left.access_token_secret, None, "logout kept the secret");
    let me = finished(run(&m, "GET", "/.auth/me", &[("Cookie", &cookie)], b""));
    assert_eq!(me.status, 401);
    assert_eq!(tw.count(), calls, "Twitter has no session to end");
}
