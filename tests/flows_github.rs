//! GitHub against a scripted GitHub, at unit speed: the authorize redirect carries what
//! GitHub's web application flow documents and nothing of OpenID Connect; a callback redeems
//! the code and reads `/user` (and `/user/emails` when the token's scopes allow) into the
//! headers the app sees and the store; every way GitHub can fail (its 200 with an `error`, API
//! refusals, outages, values no GitHub user has) answers the status the user should see and
//! stores nothing; a client's token must be one GitHub issued to this app; no refresh, no
//! bearer tokens.

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use ezauth::clock::SystemClock;
use ezauth::http::Response;
use ezauth::outbound::{HttpRequest, TransportKind};
use ezauth::pipeline::Module;
use serde_json::{json, Value};
use support::api::{app_headers, principal_claims, Reply, ScriptedApi};
use support::scripted::{self, MemoryStore};
use support::*;

const CLIENT: &str = "Iv1.0123456789abcdef";
const TOKEN: &str = "gho_16C7e42F292c6912E7710c838347Ae178B4a";
const TOKEN_URL: &str = "POST github.com/login/oauth/access_token";
const USER: &str = "GET api.github.com/user";
const EMAILS: &str = "GET api.github.com/user/emails";
const CHECK: &str = "POST api.github.com/applications/Iv1.0123456789abcdef/token";

/// GitHub as a scripted API: the standing answers of a well-behaved GitHub.
fn github() -> Arc<ScriptedApi> {
    Arc::new(ScriptedApi::new(
        vec![
            (
                TOKEN_URL,
                Reply::Json(
                    200,
                    &[],
                    json!({"access_token": TOKEN, "scope": "user:email", "token_type": "bearer"}),
                ),
            ),
            (
                USER,
                Reply::Json(
                    200,
                    &[("X-OAuth-Scopes", "read:org, user:email")],
                    json!({"login": "octocat", "id": 583231, "name": "The Octocat",
                           "type": "User", "email": null, "site_admin": false}),
                ),
            ),
            (
                EMAILS,
                Reply::Json(
                    200,
                    &[],
                    json!([
                        {"email": "old@example.org", "primary": false, "verified": true},
                        {"email": "octocat@github.com", "primary": true, "verified": true,
                         "visibility": "private"},
                    ]),
                ),
            ),
            (
                CHECK,
                Reply::Json(
                    200,
                    &[],
                    json!({"id": 1, "token": TOKEN, "scopes": ["user:email"],
                           "app": {"client_id": CLIENT, "name": "app", "url": "https://app.example"},
                           "user": {"login": "octocat", "id": 583231}}),
                ),
            ),
        ],
        Reply::Json(404, &[], json!({"message": "Not Found"})),
    ))
}

/// GitHub with the scopes `scopes`, anonymous access allowed, a token store.
fn config(scopes: &str) -> String {
    format!(
        r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}},
        "identityProviders":{{"gitHub":{{"enabled":true,
          "registration":{{"clientId":"{CLIENT}","clientSecretSettingName":"IDP_CLIENT_SECRET"}},
          "login":{{"scopes":{scopes}}}}}}},
        "login":{{"tokenStore":{{"enabled":true,"fileSystem":{{"directory":"/nonexistent/unused"}}}}}},
        "httpSettings":{{"requireHttps":false}}}}"#
    )
}

fn module(gh: &Arc<ScriptedApi>, log: &Captured) -> (Module, Arc<MemoryStore>) {
    scripted::module_with(
        gh.clone(),
        &config(r#"["user:email","read:org"]"#),
        log.logger(),
        Arc::new(SystemClock),
    )
}

/// `GET /.auth/login/github?{query}`: the redirect to GitHub.
fn start(m: &Module, query: &str) -> Response {
    login_redirect(m, "github", query)
}

/// A started login's `state` and login-state cookie.
fn started(r: &Response) -> (String, String) {
    let location = url::Url::parse(header(r, "Location").unwrap()).unwrap();
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let cookie = header(r, "Set-Cookie").unwrap().split(';').next().unwrap();
    (state, cookie.to_owned())
}

/// A whole browser sign-in up to the callback's answer.
fn through_github(m: &Module) -> Response {
    let (state, cookie) = started(&start(m, ""));
    finished(run(
        m,
        "GET",
        &format!("/.auth/login/github/callback?code=the-code&state={state}"),
        &[("Cookie", &cookie)],
        b"",
    ))
}

/// A sign-in whose `request` gets `reply` once: the callback answers `status`, a log line
/// says `why`, nothing is stored. The scripted API and the answer, for more checks.
fn callback_fails(
    request: &str,
    reply: &Reply,
    status: u16,
    why: &str,
) -> (Arc<ScriptedApi>, Response) {
    let gh = github();
    gh.once(request, reply.clone());
    let log = Captured::default();
    let (m, store) = module(&gh, &log);
    let r = through_github(&m);
    assert_eq!(r.status, status, "{reply:?}: {}", log.text());
    log.says(&format!("callback with github failed ({status})"));
    log.says(why);
    assert!(store.records().is_empty(), "{reply:?}");
    (gh, r)
}

#[test]
fn the_login_redirect_carries_what_github_documents_and_nothing_of_openid_connect() {
    let gh = github();
    let log = Captured::default();
    let (m, _) = module(&gh, &log);
    let r = start(&m, "");
    let location = url::Url::parse(header(&r, "Location").unwrap()).unwrap();
    assert_eq!(
        location.as_str().split('?').next().unwrap(),
        "https://github.com/login/oauth/authorize"
    );
    let q: HashMap<String, String> = location.query_pairs().into_owned().collect();
    let mut names: Vec<&str> = q.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["client_id", "redirect_uri", "scope", "state"]);
    assert_eq!(q["client_id"], CLIENT);
    assert_eq!(
        q["redirect_uri"],
        "http://app.example/.auth/login/github/callback"
    );
    assert_eq!(q["scope"], "user:email read:org");
    assert!(q["state"].len() >= 32, "{}", q["state"]);
    // The login-state cookie is named after the state.
    let (state, cookie) = started(&r);
    assert!(cookie.contains(&state[..16]), "{cookie}");
    // Nothing went to GitHub yet.
    assert_eq!(gh.count(), 0);

    // The caller's scope replaces the configured ones; login_hint is GitHub's `login`; what
    // GitHub does not document is not passed on.
    let r = start(
        &m,
        "scope=repo&login_hint=mona&prompt=select_account&allow_signup=false&max_age=5&redirect_uri=https://evil.example/",
    );
    let location = url::Url::parse(header(&r, "Location").unwrap()).unwrap();
    let q: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(q["scope"], "repo");
    assert_eq!(q["login"], "mona");
    assert_eq!(q["prompt"], "select_account");
    assert_eq!(q["allow_signup"], "false");
    assert_eq!(
        q["redirect_uri"],
        "http://app.example/.auth/login/github/callback"
    );
    assert!(!q.contains_key("max_age") && !q.contains_key("login_hint"));

    // Without configured scopes GitHub grants its default (public) access: no scope sent.
    let (m, _) = scripted::module_with(
        gh.clone(),
        &config("[]"),
        log.logger(),
        Arc::new(SystemClock),
    );
    let r = start(&m, "");
    let location = url::Url::parse(header(&r, "Location").unwrap()).unwrap();
    assert!(
        !location.query_pairs().any(|(k, _)| k == "scope"),
        "{location}"
    );
}

#[test]
fn a_callback_redeems_the_code_reads_the_user_and_the_app_sees_them() {
    let gh = github();
    let log = Captured::default();
    let (m, store) = module(&gh, &log);
    let r = through_github(&m);
    assert_eq!(r.status, 302, "{}", log.text());
    assert_eq!(header(&r, "Location"), Some("/.auth/login/done"));
    let cookie = session_cookie(&r);

    // The token request: GitHub's form, answered in JSON.
    let [redeem] = &gh.requests(TOKEN_URL)[..] else {
        panic!("one token request")
    };
    let form: HashMap<String, String> = form_urlencoded::parse(&redeem.body).into_owned().collect();
    assert_eq!(form["client_id"], CLIENT);
    assert_eq!(form["client_secret"], "s3cret:/ x");
    assert_eq!(form["code"], "the-code");
    assert_eq!(
        form["redirect_uri"],
        "http://app.example/.auth/login/github/callback"
    );
    assert_eq!(form.len(), 4, "{form:?}");
    let sent = |r: &HttpRequest, name: &str| {
        r.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(sent(redeem, "Accept").as_deref(), Some("application/json"));
    // The API calls: the token as a bearer, GitHub's media type, a User-Agent.
    for call in [USER, EMAILS] {
        let [api] = &gh.requests(call)[..] else {
            panic!("one {call}")
        };
        assert_eq!(
            sent(api, "Authorization"),
            Some(format!("Bearer {TOKEN}")),
            "{call}"
        );
        assert_eq!(
            sent(api, "Accept").as_deref(),
            Some("application/vnd.github+json")
        );
        assert!(sent(api, "User-Agent").is_some_and(|ua| ua.starts_with("ezauth/")));
    }
    assert!(
        gh.requests(CHECK).is_empty(),
        "a code redeemed here needs no check"
    );

    // What the app sees.
    let h = app_headers(&m, ("Cookie", &cookie));
    assert_eq!(h["X-MS-CLIENT-PRINCIPAL-ID"], "583231");
    assert_eq!(h["X-MS-CLIENT-PRINCIPAL-NAME"], "octocat");
    assert_eq!(h["X-MS-CLIENT-PRINCIPAL-IDP"], "github");
    assert_eq!(h["X-MS-TOKEN-GITHUB-ACCESS-TOKEN"], TOKEN);
    assert!(
        !h.keys()
            .any(|k| k.starts_with("X-MS-TOKEN-GITHUB-") && k != "X-MS-TOKEN-GITHUB-ACCESS-TOKEN"),
        "{h:?}"
    );
    let claims = principal_claims(&h, "github");
    let has = |typ: &str, val: &str| claims.iter().any(|(t, v)| t == typ && v == val);
    assert!(has(
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
        "583231"
    ));
    assert!(has("urn:github:login", "octocat"));
    assert!(has("urn:github:id", "583231"));
    assert!(has("urn:github:name", "The Octocat"));
    assert!(has("urn:github:type", "User"));
    // The primary, verified address only.
    assert!(has(
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "octocat@github.com"
    ));
    assert!(!claims.iter().any(|(_, v)| v == "old@example.org"));

    // What is stored, and /.auth/me.
    let record = store.only();
    assert_eq!(record.provider_name, "github");
    assert_eq!(record.access_token.as_deref(), Some(TOKEN));
    assert_eq!(record.refresh_token, None);
    assert_eq!(record.id_token, None);
    let me = json_body(&finished(run(
        &m,
        "GET",
        "/.auth/me",
        &[("Cookie", &cookie)],
        b"",
    )));
    assert_eq!(me[0]["provider_name"], "github");
    assert_eq!(me[0]["user_id"], "octocat");
    assert_eq!(me[0]["access_token"], TOKEN);
    log.says("signed in sid:");
}

#[test]
fn without_an_email_scope_no_address_is_asked_for_and_odd_profile_fields_are_left_out() {
    let gh = github();
    gh.always(
        USER,
        Reply::Json(
            200,
            &[("X-OAuth-Scopes", "read:org, user:follow")],
            json!({"login": "mona-lisa", "id": 7, "name": "Mona\u{7}\r\nX-Evil: 1", "type": "User Type"}),
        ),
    );
    let log = Captured::default();
    let (m, store) = module(&gh, &log);
    let r = through_github(&m);
    assert_eq!(r.status, 302, "{}", log.text());
    assert!(gh.requests(EMAILS).is_empty());
    let h = app_headers(&m, ("Cookie", &session_cookie(&r)));
    assert_eq!(h["X-MS-CLIENT-PRINCIPAL-NAME"], "mona-lisa");
    let claims = principal_claims(&h, "github");
    let types: Vec<&str> = claims.iter().map(|(t, _)| t.as_str()).collect();
    assert!(!types.contains(&"urn:github:name"), "{types:?}");
    assert!(!types.contains(&"urn:github:type"), "{types:?}");
    assert!(
        !types.iter().any(|t| t.ends_with("emailaddress")),
        "{types:?}"
    );
    assert_eq!(store.records().len(), 1);

    // An address list that names no primary verified address gives none; a refused one too.
    for emails in [
        Reply::Json(
            200,
            &[],
            json!([{"email": "x@example.org", "primary": true, "verified": false}]),
        ),
        Reply::Json(404, &[], json!({"message": "Not Found"})),
    ] {
        let gh = github();
        gh.once(EMAILS, emails.clone());
        let (m, _) = module(&gh, &log);
        let r = through_github(&m);
        assert_eq!(r.status, 302, "{emails:?}");
        let claims = principal_claims(&app_headers(&m, ("Cookie", &session_cookie(&r))), "github");
        assert!(
            !claims.iter().any(|(t, _)| t.ends_with("emailaddress")),
            "{emails:?}"
        );
    }
}

#[test]
fn token_endpoint_failures_answer_their_status_and_store_nothing() {
    for (reply, status, why) in [
        // GitHub's way: 200 with an error.
        (
            Reply::Json(
                200,
                &[],
                json!({"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."}),
            ),
            400,
            "\"bad_verification_code\"",
        ),
        (
            Reply::Json(200, &[], json!({"error": "incorrect_client_credentials"})),
            502,
            "incorrect_client_credentials",
        ),
        (
            Reply::Json(200, &[], json!({"error": "access_denied"})),
            401,
            "access_denied",
        ),
        (
            Reply::Json(200, &[], json!({"scope": "", "token_type": "bearer"})),
            502,
            "without a usable access_token",
        ),
        (
            Reply::Json(
                200,
                &[],
                json!({"access_token": "two words", "token_type": "bearer"}),
            ),
            502,
            "without a usable access_token",
        ),
        (
            Reply::Json(
                200,
                &[],
                json!({"access_token": TOKEN, "token_type": "mac"}),
            ),
            502,
            "not a bearer token",
        ),
        (Reply::raw(200, b"access_token=x&scope="), 502, "not JSON"),
        (
            Reply::raw(502, b"<html>Bad Gateway</html>"),
            502,
            "not JSON",
        ),
        (Reply::Json(500, &[], json!({})), 502, "answered 500"),
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
        let (gh, r) = callback_fails(TOKEN_URL, &reply, status, why);
        assert!(gh.requests(USER).is_empty(), "{reply:?}");
        assert_eq!(header(&r, "Location"), None, "{reply:?}");
    }
}

#[test]
fn api_failures_and_users_github_could_not_have_answer_their_status_and_store_nothing() {
    for (reply, status, why) in [
        (
            Reply::Json(401, &[], json!({"message": "Bad credentials"})),
            401,
            "401 from /user",
        ),
        (
            Reply::Json(403, &[], json!({"message": "API rate limit exceeded"})),
            502,
            "/user answered 403",
        ),
        (Reply::raw(503, b"unavailable"), 502, "/user answered 503"),
        (
            Reply::Fail(TransportKind::Timeout),
            504,
            "did not answer in time",
        ),
        (Reply::raw(200, b"<html>"), 502, "no JSON"),
        (
            Reply::Json(200, &[], json!({"login": "octocat", "id": "583231"})),
            502,
            "no positive numeric id",
        ),
        (
            Reply::Json(200, &[], json!({"login": "octocat", "id": 0})),
            502,
            "no positive numeric id",
        ),
        (
            Reply::Json(200, &[], json!({"login": "octocat", "id": -5})),
            502,
            "no positive numeric id",
        ),
        (
            Reply::Json(200, &[], json!({"login": "octocat", "id": 1.5})),
            502,
            "no positive numeric id",
        ),
        (
            Reply::Json(
                200,
                &[],
                json!({"login": "octo\r\nX-MS-CLIENT-PRINCIPAL-ID: 1", "id": 9}),
            ),
            502,
            "no valid login",
        ),
        (
            Reply::Json(200, &[], json!({"login": " octocat", "id": 9})),
            502,
            "no valid login",
        ),
        (
            Reply::Json(200, &[], json!({"login": "a".repeat(40), "id": 9})),
            502,
            "no valid login",
        ),
        (
            Reply::Json(200, &[], json!({"id": 9})),
            502,
            "no valid login",
        ),
    ] {
        callback_fails(USER, &reply, status, why);
    }
    // An outage while reading addresses fails the sign-in: nothing half-read is kept.
    let gh = github();
    gh.once(EMAILS, Reply::Fail(TransportKind::Timeout));
    let log = Captured::default();
    let (m, store) = module(&gh, &log);
    assert_eq!(through_github(&m).status, 504, "{}", log.text());
    assert!(store.records().is_empty());
}

#[test]
fn a_user_who_denies_access_is_refused_before_anything_is_redeemed() {
    let gh = github();
    let log = Captured::default();
    let (m, store) = module(&gh, &log);
    let (state, cookie) = started(&start(&m, ""));
    let r = finished(run(
        &m,
        "GET",
        &format!(
            "/.auth/login/github/callback?error=access_denied&error_description=The+user+has+denied+your+application+access.&error_uri=https%3A%2F%2Fdocs.github.com&state={state}"
        ),
        &[("Cookie", &cookie)],
        b"",
    ));
    assert_eq!(r.status, 401);
    log.says("provider github reported \"access_denied\"");
    assert_eq!(gh.count(), 0);
    assert!(store.records().is_empty());
    // A callback without state, or with another login's, redeems nothing either.
    for query in ["code=c", "code=c&state=forged"] {
        let r = finished(run(
            &m,
            "GET",
            &format!("/.auth/login/github/callback?{query}"),
            &[("Cookie", &cookie)],
            b"",
        ));
        assert_eq!(r.status, 400, "{query}");
    }
    assert_eq!(gh.count(), 0);
}

fn client_login(m: &Module, body: &Value) -> Response {
    finished(run(
        m,
        "POST",
        "/.auth/login/github",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    ))
}

#[test]
fn a_client_token_github_issued_to_this_app_signs_in() {
    let gh = github();
    let log = Captured::default();
    let (m, store) = module(&gh, &log);
    let r = client_login(&m, &json!({"access_token": TOKEN}));
    assert_eq!(r.status, 200, "{}", log.text());
    let body = json_body(&r);
    let token = body["authenticationToken"].as_str().unwrap().to_owned();
    assert!(body["user"]["userId"].as_str().unwrap().starts_with("sid:"));

    // The token was checked with the app's credentials, then used to read the user.
    let [check] = &gh.requests(CHECK)[..] else {
        panic!("one check")
    };
    let basic = check
        .headers
        .iter()
        .find(|(n, _)| n == "Authorization")
        .map(|(_, v)| v.strip_prefix("Basic ").unwrap())
        .unwrap();
    let pair = String::from_utf8(ezauth::crypto::b64_decode(basic).unwrap()).unwrap();
    assert_eq!(pair, format!("{CLIENT}:s3cret:/ x"));
    let sent: Value = serde_json::from_slice(&check.body).unwrap();
    assert_eq!(sent, json!({"access_token": TOKEN}));
    assert_eq!(gh.requests(USER).len(), 1);

    let h = app_headers(&m, ("X-ZUMO-AUTH", &token));
    assert_eq!(h["X-MS-CLIENT-PRINCIPAL-ID"], "583231");
    assert_eq!(h["X-MS-CLIENT-PRINCIPAL-NAME"], "octocat");
    assert_eq!(h["X-MS-TOKEN-GITHUB-ACCESS-TOKEN"], TOKEN);
    assert_eq!(store.only().access_token.as_deref(), Some(TOKEN));
    log.says("client login of sid:");
}

#[test]
fn a_client_token_github_does_not_vouch_for_here_is_refused_and_nothing_is_stored() {
    let other_app = json!({"id": 1, "app": {"client_id": "Iv1.another"}, "user": {"id": 583231}});
    for (check, user, body, status, why) in [
        // Made up, revoked, or issued to another app: GitHub's 404.
        (
            Some(Reply::Json(404, &[], json!({"message": "Not Found"}))),
            None,
            json!({"access_token": TOKEN}),
            401,
            "does not know the access token as one of this app's (404)",
        ),
        (
            Some(Reply::Json(200, &[], other_app)),
            None,
            json!({"access_token": TOKEN}),
            401,
            "belongs to another app",
        ),
        (
            Some(Reply::Json(
                200,
                &[],
                json!({"id": 1, "user": {"id": 583231}}),
            )),
            None,
            json!({"access_token": TOKEN}),
            401,
            "belongs to another app (None)",
        ),
        (
            None,
            Some(Reply::Json(401, &[], json!({"message": "Bad credentials"}))),
            json!({"access_token": TOKEN}),
            401,
            "401 from /user",
        ),
        (
            Some(Reply::Json(401, &[], json!({"message": "Bad credentials"}))),
            None,
            json!({"access_token": TOKEN}),
            502,
            "refused the app's client id and secret",
        ),
        (
            Some(Reply::raw(500, b"oops")),
            None,
            json!({"access_token": TOKEN}),
            502,
            "check a token answered 500",
        ),
        (
            Some(Reply::Fail(TransportKind::Timeout)),
            None,
            json!({"access_token": TOKEN}),
            504,
            "did not answer in time",
        ),
        (
            None,
            Some(Reply::Fail(TransportKind::Timeout)),
            json!({"access_token": TOKEN}),
            504,
            "did not answer in time",
        ),
        // Not a token at all: GitHub is not asked.
        (
            None,
            None,
            json!({"access_token": "gho_x\r\nX-Evil: 1"}),
            401,
            "not a GitHub token",
        ),
        (
            None,
            None,
            json!({"access_token": "t".repeat(2000)}),
            401,
            "not a GitHub token",
        ),
        (
            None,
            None,
            json!({"id_token": "a.b.c"}),
            400,
            "has none of the tokens github takes",
        ),
        (None, None, json!("gho_x"), 400, "not a JSON object"),
    ] {
        let gh = github();
        if let Some(c) = &check {
            gh.once(CHECK, c.clone());
        }
        if let Some(u) = &user {
            gh.once(USER, u.clone());
        }
        let log = Captured::default();
        let (m, store) = module(&gh, &log);
        let r = client_login(&m, &body);
        assert_eq!(
            r.status,
            status,
            "{body} {check:?} {user:?}: {}",
            log.text()
        );
        log.says(why);
        assert!(store.records().is_empty(), "{body}");
        if status == 400 || why == "not a GitHub token" {
            assert_eq!(gh.count(), 0, "{body}");
        }
    }
}

#[test]
fn there_is_no_refresh_no_bearer_token_and_logout_forgets_the_tokens() {
    let gh = github();
    let log = Captured::default();
    let (m, store) = module(&gh, &log);
    let cookie = session_cookie(&through_github(&m));
    let calls = gh.count();

    let r = refresh_by_cookie(&m, &cookie);
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(gh.count(), calls, "refresh asked GitHub");
    assert_eq!(store.only().access_token.as_deref(), Some(TOKEN));

    // App Service takes no GitHub token as a bearer credential: it is not a JWT of any
    // configured issuer, refused without asking GitHub.
    let auth = format!("Bearer {TOKEN}");
    let (m401, _) = scripted::module_with(
        gh.clone(),
        &config("[]").replace("AllowAnonymous", "Return401"),
        log.logger(),
        Arc::new(SystemClock),
    );
    let r = finished(run(&m401, "GET", "/page", &[("Authorization", &auth)], b""));
    assert_eq!(r.status, 401);
    assert!(header(&r, "WWW-Authenticate").is_some_and(|c| c.contains("invalid_token")));
    assert_eq!(gh.count(), calls, "a bearer token went to GitHub");

    let r = finished(run(&m, "GET", "/.auth/logout", &[("Cookie", &cookie)], b""));
    assert_eq!(r.status, 302);
    assert_eq!(header(&r, "Location"), Some("/.auth/logout/complete"));
    // The tokens and claims go; what remains says the session is signed out.
    let left = store.only();
    assert_eq!(left.access_token, None, "logout kept the token");
    assert!(left.user_claims.is_empty());
    let me = finished(run(&m, "GET", "/.auth/me", &[("Cookie", &cookie)], b""));
    assert_eq!(me.status, 401);
    assert_eq!(gh.count(), calls, "GitHub has no session to end");
}
