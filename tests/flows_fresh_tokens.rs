//! Tokens stay fresh (`ezauth.refreshBeforeExpirySeconds`), on a `ManualClock` over runs
//! longer than the token lifetime, against a provider that rotates refresh tokens and refuses
//! a reused one: every request hands the app an access token the provider still holds live,
//! the token endpoint is called once per lifetime (never per request, once for a burst of
//! concurrent requests), and a failed refresh lets the request through with the old tokens, a
//! log line and a back-off. Off, a provider that cannot refresh, or no refresh token: never.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use ezauth::clock::{Clock, ManualClock};
use ezauth::http::Outcome;
use ezauth::outbound::{HttpClient, HttpRequest, HttpResponse, TransportError};
use ezauth::pipeline::Module;
use serde_json::json;
use support::api::{Reply, ScriptedApi};
use support::scripted::{self, MemoryStore, ScriptedIdp};
use support::*;

const LIFETIME: i64 = 3600;
const WINDOW: i64 = 300;
const ACCESS: &str = "X-MS-TOKEN-IDP-ACCESS-TOKEN";
/// `ezauth::routes::fresh::BACKOFF_SECONDS`, as the README states it.
const BACKOFF: i64 = 60;

/// How the provider's token endpoint answers refresh grants.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Rotate,
    Down,
    InvalidGrant,
}

/// The provider of [`ScriptedIdp`] (sign-in, discovery, keys), whose token endpoint answers
/// refresh grants as a rotating provider does: a new access token of [`LIFETIME`] seconds by
/// the test's clock and a new refresh token; the previous refresh token is spent, and a reused
/// one is refused (and counted).
struct RotatingIdp {
    scripted: Arc<ScriptedIdp>,
    clock: Arc<ManualClock>,
    state: Mutex<Rotation>,
    /// How long a refresh takes (to make concurrent requests overlap).
    latency: Duration,
}

struct Rotation {
    mode: Mode,
    /// Every access token issued, with its expiry.
    expiries: HashMap<String, i64>,
    live_refresh: String,
    refresh_calls: usize,
    reused: usize,
}

impl RotatingIdp {
    fn new(scripted: Arc<ScriptedIdp>, clock: Arc<ManualClock>) -> Arc<RotatingIdp> {
        Arc::new(RotatingIdp {
            scripted,
            clock,
            state: Mutex::new(Rotation {
                mode: Mode::Rotate,
                expiries: HashMap::new(),
                live_refresh: "refresh-1".into(),
                refresh_calls: 0,
                reused: 0,
            }),
            latency: Duration::from_millis(100),
        })
    }

    /// The sign-in's tokens (`access-1`, `refresh-1`), issued by [`ScriptedIdp`] for an hour.
    fn signed_in(&self) {
        let exp = self.clock.now() + LIFETIME;
        self.state
            .lock()
            .unwrap()
            .expiries
            .insert("access-1".into(), exp);
    }

    fn mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    fn refresh_calls(&self) -> usize {
        self.state.lock().unwrap().refresh_calls
    }

    /// Is `token` one this provider issued and still accepts at the clock's time?
    fn live(&self, token: &str) -> bool {
        let state = self.state.lock().unwrap();
        state
            .expiries
            .get(token)
            .is_some_and(|exp| *exp > self.clock.now())
    }

    fn refresh(&self, form: &HashMap<String, String>) -> (u16, serde_json::Value) {
        std::thread::sleep(self.latency);
        let mut s = self.state.lock().unwrap();
        s.refresh_calls += 1;
        match s.mode {
            Mode::Down => return (503, json!({"error": "temporarily_unavailable"})),
            Mode::InvalidGrant => return (400, json!({"error": "invalid_grant"})),
            Mode::Rotate => {}
        }
        if form.get("refresh_token") != Some(&s.live_refresh) {
            s.reused += 1;
            return (400, json!({"error": "invalid_grant"}));
        }
        let n = s.refresh_calls + 1;
        let access = format!("access-{n}");
        let exp = self.clock.now() + LIFETIME;
        s.expiries.insert(access.clone(), exp);
        s.live_refresh = format!("refresh-{n}");
        (
            200,
            json!({"access_token": access, "refresh_token": s.live_refresh,
                   "token_type": "Bearer", "expires_in": LIFETIME}),
        )
    }
}

impl HttpClient for RotatingIdp {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let form: HashMap<String, String> =
            form_urlencoded::parse(&request.body).into_owned().collect();
        if request.method != "POST"
            || !request.url.ends_with("/token")
            || form.get("grant_type").map(String::as_str) != Some("refresh_token")
        {
            return self.scripted.send(request);
        }
        let (status, body) = self.refresh(&form);
        Ok(HttpResponse {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        })
    }
}

/// The scripted provider's configuration with `ezauth` set to `ezauth`.
fn config(ezauth: &str) -> String {
    let json = scripted::config("{}");
    let end = json.rfind('}').unwrap();
    format!("{}, \"ezauth\": {ezauth}}}", &json[..end])
}

struct Setup {
    idp: Arc<RotatingIdp>,
    clock: Arc<ManualClock>,
    log: Captured,
    m: Arc<Module>,
    store: Arc<MemoryStore>,
    cookie: String,
}

/// Signed in at `idp` with `refresh` as refresh token, with `ezauth` as the `ezauth` block.
fn signed_in(ezauth: &str, refresh: Option<&str>) -> Setup {
    let clock = Arc::new(ManualClock::starting_now());
    let scripted = ScriptedIdp::new();
    let idp = RotatingIdp::new(scripted.clone(), clock.clone());
    let log = Captured::default();
    let (m, store) =
        scripted::module_with(idp.clone(), &config(ezauth), log.logger(), clock.clone());
    let cookie = scripted::sign_in(&m, &scripted, refresh);
    idp.signed_in();
    Setup {
        idp,
        clock,
        log,
        m: Arc::new(m),
        store,
        cookie,
    }
}

fn on() -> String {
    format!(r#"{{"refreshBeforeExpirySeconds": {WINDOW}}}"#)
}

/// A request to the app with the session cookie: whether it took the blocking step, and the
/// access token the app received.
fn app_request(s: &Setup) -> (bool, String) {
    let (blocked, outcome) = through(&s.m, &get("/page", &[("Cookie", &s.cookie)]));
    let Outcome::Continue(fwd) = outcome else {
        panic!(
            "expected the request to pass, got {outcome:?}\n{}",
            s.log.text()
        );
    };
    let token = fwd
        .set_headers()
        .find(|(n, _)| n == ACCESS)
        .map(|(_, v)| v.clone())
        .expect("an access token header");
    (blocked, token)
}

/// The access token `/.auth/me` shows.
fn me_token(s: &Setup) -> String {
    let r = finished(through(&s.m, &get("/.auth/me", &[("Cookie", &s.cookie)])).1);
    assert_eq!(r.status, 200, "{}", s.log.text());
    json_body(&r)[0]["access_token"]
        .as_str()
        .expect("an access token in /.auth/me")
        .to_owned()
}

#[test]
fn over_three_lifetimes_every_request_carries_a_live_token_and_refreshes_once_per_lifetime() {
    let s = signed_in(&on(), Some("refresh-1"));
    let start = s.clock.now();
    let (mut requests, mut blocked_steps) = (0, 0);
    let mut tokens = vec!["access-1".to_owned()];
    // Every two minutes for three hours; every third request asks /.auth/me instead.
    while s.clock.now() < start + 3 * LIFETIME {
        let token = if requests % 3 == 2 {
            me_token(&s)
        } else {
            let (blocked, token) = app_request(&s);
            blocked_steps += usize::from(blocked);
            token
        };
        assert!(
            s.idp.live(&token),
            "{token} expired at +{}s\n{}",
            s.clock.now() - start,
            s.log.text()
        );
        if tokens.last() != Some(&token) {
            tokens.push(token);
        }
        requests += 1;
        s.clock.advance(120);
    }
    // Refreshed when a request first fell inside the window: at +3360 s (expiry +3600), then
    // inside the window of each new token (+6720, +10080).
    let calls = s.idp.refresh_calls();
    assert_eq!(calls, 3, "{}", s.log.text());
    assert!(requests >= 90);
    assert_eq!(
        tokens.len(),
        calls + 1,
        "one new token per refresh: {tokens:?}"
    );
    assert_eq!(s.idp.state.lock().unwrap().reused, 0);
    // Only the requests that refreshed took the blocking step; the others stayed on the loop.
    assert!(blocked_steps <= calls, "{blocked_steps} blocking steps");
    let record = s.store.only();
    assert_eq!(record.refresh_token.as_deref(), Some("refresh-4"));
    s.log.says("refreshed tokens of sid:");
}

#[test]
fn concurrent_requests_in_the_window_make_one_provider_call() {
    let s = signed_in(&on(), Some("refresh-1"));
    s.clock.advance(LIFETIME - WINDOW + 10);
    // Each request on the event loop stops for the blocking step; then all 32 run it at once.
    let n = 32;
    let pending: Vec<_> = (0..n)
        .map(
            |_| match s.m.begin_request(&get("/page", &[("Cookie", &s.cookie)])) {
                Outcome::Blocking(p) => p,
                other => panic!("expected a blocking step, got {other:?}"),
            },
        )
        .collect();
    let barrier = Arc::new(Barrier::new(n));
    let threads: Vec<_> = pending
        .into_iter()
        .map(|p| {
            let (m, barrier) = (s.m.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                match m.run_blocking(&p) {
                    Outcome::Continue(fwd) => fwd
                        .set_headers()
                        .find(|(n, _)| n == ACCESS)
                        .map(|(_, v)| v.clone())
                        .unwrap(),
                    other => panic!("expected the request to pass, got {other:?}"),
                }
            })
        })
        .collect();
    let tokens: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(s.idp.refresh_calls(), 1, "{}", s.log.text());
    assert_eq!(s.idp.state.lock().unwrap().reused, 0);
    for t in &tokens {
        assert!(s.idp.live(t), "{t}");
    }
    // The leader and those that waited for it got the new token; any turned away (more than
    // the flight's waiters) passed with the old one, still live inside the window.
    assert!(tokens.iter().filter(|t| *t == "access-2").count() >= 1);
    // And the next request has it without a blocking step.
    assert_eq!(app_request(&s), (false, "access-2".to_owned()));
}

#[test]
fn a_request_that_finds_the_record_refreshed_by_another_does_not_call_the_provider() {
    let s = signed_in(&on(), Some("refresh-1"));
    s.clock.advance(LIFETIME - 60);
    // Request A stops for its blocking step; B refreshes meanwhile (another worker, say).
    let Outcome::Blocking(a) = s.m.begin_request(&get("/page", &[("Cookie", &s.cookie)])) else {
        panic!("expected a blocking step");
    };
    assert_eq!(app_request(&s), (true, "access-2".to_owned()));
    assert_eq!(s.idp.refresh_calls(), 1);
    // A resumes with the record it read before: under the lock it is fresh, no second call.
    let Outcome::Continue(fwd) = s.m.run_blocking(&a) else {
        panic!("expected the request to pass");
    };
    let token = fwd
        .set_headers()
        .find(|(n, _)| n == ACCESS)
        .unwrap()
        .1
        .clone();
    assert_eq!(token, "access-2");
    assert_eq!(s.idp.refresh_calls(), 1, "{}", s.log.text());
    assert_eq!(s.idp.state.lock().unwrap().reused, 0);
}

#[test]
fn a_failed_refresh_passes_the_old_token_logs_and_backs_off() {
    for mode in [Mode::Down, Mode::InvalidGrant] {
        let s = signed_in(&on(), Some("refresh-1"));
        let before = s.store.only();
        s.idp.mode(mode);
        s.clock.advance(LIFETIME - WINDOW + 1);
        assert_eq!(app_request(&s), (true, "access-1".to_owned()), "{mode:?}");
        assert_eq!(s.idp.refresh_calls(), 1);
        s.log.says("refresh ahead of expiry of sid:");
        s.log.says("the request goes on with the stored tokens");
        assert_eq!(
            s.store.only(),
            before,
            "{mode:?}: nothing stored, nobody signed out"
        );
        // A storm within the back-off: no attempt, no blocking step, the old token.
        for _ in 0..200 {
            assert_eq!(app_request(&s), (false, "access-1".to_owned()));
        }
        s.clock.advance(BACKOFF - 1);
        assert_eq!(app_request(&s), (false, "access-1".to_owned()));
        assert_eq!(s.idp.refresh_calls(), 1, "{mode:?}");
        // Past it, one more attempt per back-off, however many requests come: over ten
        // minutes of a request every five seconds, ten attempts.
        s.clock.advance(1);
        for _ in 0..120 {
            app_request(&s);
            s.clock.advance(5);
        }
        assert_eq!(s.idp.refresh_calls(), 1 + 10, "{mode:?}: {}", s.log.text());
        // The provider is back: the next attempt succeeds, and the session was never lost.
        s.idp.mode(Mode::Rotate);
        s.clock.advance(BACKOFF);
        let (_, token) = app_request(&s);
        assert!(s.idp.live(&token), "{mode:?}: {token}");
        assert_eq!(me_token(&s), token);
    }
}

#[test]
fn off_by_default_never_refreshes() {
    for ezauth in ["{}", r#"{"refreshBeforeExpirySeconds": 0}"#] {
        let s = signed_in(ezauth, Some("refresh-1"));
        s.clock.advance(LIFETIME - 10);
        assert_eq!(app_request(&s), (false, "access-1".to_owned()));
        s.clock.advance(LIFETIME);
        assert_eq!(app_request(&s), (false, "access-1".to_owned()));
        assert_eq!(s.idp.refresh_calls(), 0, "{ezauth}");
    }
}

#[test]
fn a_record_without_a_refresh_token_is_never_refreshed() {
    let s = signed_in(&on(), None);
    s.clock.advance(LIFETIME - 10);
    for _ in 0..3 {
        assert_eq!(app_request(&s), (false, "access-1".to_owned()));
        s.clock.advance(LIFETIME);
    }
    assert_eq!(s.idp.refresh_calls(), 0);
}

#[test]
fn a_provider_that_cannot_refresh_is_never_asked() {
    const TOKEN_URL: &str = "POST github.com/login/oauth/access_token";
    let gh = Arc::new(ScriptedApi::new(
        vec![
            (
                TOKEN_URL,
                Reply::json(
                    200,
                    json!({"access_token": "gho_1", "scope": "", "token_type": "bearer"}),
                ),
            ),
            (
                "GET api.github.com/user",
                Reply::json(
                    200,
                    json!({"login": "octocat", "id": 583231, "type": "User"}),
                ),
            ),
        ],
        Reply::json(404, json!({"message": "Not Found"})),
    ));
    let json = format!(
        r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}},
        "identityProviders":{{"gitHub":{{"enabled":true,
          "registration":{{"clientId":"Iv1.0123456789abcdef","clientSecretSettingName":"IDP_CLIENT_SECRET"}}}}}},
        "login":{{"tokenStore":{{"enabled":true,"fileSystem":{{"directory":"/nonexistent/unused"}}}}}},
        "httpSettings":{{"requireHttps":false}},"ezauth":{}}}"#,
        on()
    );
    let clock = Arc::new(ManualClock::starting_now());
    let log = Captured::default();
    let (m, store) = scripted::module_with(gh.clone(), &json, log.logger(), clock.clone());
    let r = finished(run(&m, "GET", "/.auth/login/github", &[], b""));
    assert_eq!(r.status, 302, "{}", log.text());
    let location = url::Url::parse(header(&r, "Location").unwrap()).unwrap();
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let login_cookie = header(&r, "Set-Cookie").unwrap().split(';').next().unwrap();
    let r = finished(run(
        &m,
        "GET",
        &format!("/.auth/login/github/callback?code=the-code&state={state}"),
        &[("Cookie", login_cookie)],
        b"",
    ));
    assert_eq!(r.status, 302, "{}", log.text());
    let cookie = session_cookie(&r);
    // Even a record that holds a refresh token and an expiry inside the window.
    let (sid, mut record) = store.records().into_iter().next().unwrap();
    record.refresh_token = Some("ghr_1".into());
    record.expires_on = Some(ezauth::store::format_expires_on(clock.now() + 10));
    store.put(&sid, record);
    let calls = gh.requests(TOKEN_URL).len();
    for _ in 0..3 {
        let (blocked, outcome) = through(&m, &get("/page", &[("Cookie", &cookie)]));
        assert!(!blocked);
        assert!(matches!(outcome, Outcome::Continue(_)), "{}", log.text());
        clock.advance(60);
    }
    assert_eq!(gh.requests(TOKEN_URL).len(), calls);
}

#[test]
fn tokens_that_live_shorter_than_the_window_back_off_instead_of_refreshing_every_request() {
    let s = signed_in(r#"{"refreshBeforeExpirySeconds": 7200}"#, Some("refresh-1"));
    assert_eq!(app_request(&s), (true, "access-2".to_owned()));
    s.log
        .says("expire within ezauth.refreshBeforeExpirySeconds even when new");
    for _ in 0..50 {
        assert_eq!(app_request(&s), (false, "access-2".to_owned()));
    }
    assert_eq!(s.idp.refresh_calls(), 1);
    s.clock.advance(BACKOFF);
    assert_eq!(app_request(&s), (true, "access-3".to_owned()));
    assert_eq!(s.idp.state.lock().unwrap().reused, 0);
}

#[test]
fn the_failure_path_never_answers_5xx_on_me() {
    let s = signed_in(&on(), Some("refresh-1"));
    s.idp.mode(Mode::Down);
    s.clock.advance(LIFETIME + 1);
    assert_eq!(me_token(&s), "access-1");
    assert_eq!(s.idp.refresh_calls(), 1);
    s.log.says("the request goes on with the stored tokens");
}

#[test]
fn a_session_token_caller_gets_fresh_tokens_too() {
    let s = signed_in(&on(), Some("refresh-1"));
    let (sid, browser_record) = s.store.records().into_iter().next().unwrap();
    // The same user signs in client-directed (`X-ZUMO-AUTH`); the record keeps the browser
    // sign-in's refresh token, as if that sign-in came last.
    let body = json!({"id_token": s.idp.scripted.mint(json!({}))}).to_string();
    let r = finished(run(
        &s.m,
        "POST",
        "/.auth/login/idp",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    ));
    assert_eq!(r.status, 200, "{}", s.log.text());
    let token = json_body(&r)["authenticationToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(s.store.records().len(), 1, "the same user");
    s.store.put(&sid, browser_record);
    s.clock.advance(LIFETIME - 30);
    let (blocked, outcome) = through(&s.m, &get("/page", &[("X-ZUMO-AUTH", &token)]));
    let Outcome::Continue(fwd) = outcome else {
        panic!("expected the request to pass: {}", s.log.text());
    };
    let access = fwd
        .set_headers()
        .find(|(n, _)| n == ACCESS)
        .unwrap()
        .1
        .clone();
    assert!(blocked);
    assert_eq!(access, "access-2");
    assert!(s.idp.live(&access));
    assert_eq!(s.idp.refresh_calls(), 1);
}
