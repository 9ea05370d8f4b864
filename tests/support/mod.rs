//! A small OpenID provider for Rust tests: a `std::net` listener on loopback serving discovery,
//! a JWKS (optionally slowly), and a token endpoint, recording every request it sees; plus
//! helpers to mint tokens and build a module that trusts it. [`scripted`] plays a provider
//! behind the `HttpClient` seam instead, at unit speed.
#![allow(dead_code)]

pub mod api;
pub mod azurite;
pub mod scripted;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ezauth::crypto::b64url;
use ezauth::http::{Outcome, Request, Response};
use ezauth::logger::{Level, Logger};
use ezauth::pipeline::Module;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use serde_json::{json, Value};

pub mod records;
pub mod redis_server;
pub mod remote;

pub const CLIENT_ID: &str = "client-1";

/// What the provider answers; tests change it while the server runs.
pub struct Behavior {
    /// The discovery document's `issuer` (default: the provider's own base URL).
    pub discovery_issuer: Option<String>,
    /// How long the JWKS endpoint waits before answering.
    pub jwks_delay: Duration,
    /// The JWKS document (default: the provider's key).
    pub jwks: Value,
    /// The token endpoint's answer.
    pub token_response: Value,
}

pub struct TestIdp {
    /// `http://127.0.0.1:PORT`, also the issuer.
    pub issuer: String,
    pub kid: String,
    pub key: PKey<Private>,
    pub behavior: Arc<Mutex<Behavior>>,
    /// `"GET /keys"`, `"POST /token"`, ... in arrival order.
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl TestIdp {
    pub fn start() -> TestIdp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let kid = "key-1".to_owned();
        let behavior = Arc::new(Mutex::new(Behavior {
            discovery_issuer: None,
            jwks_delay: Duration::ZERO,
            jwks: jwks_of(&key, &kid),
            token_response: json!({"error": "invalid_grant"}),
        }));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (b, r, base) = (behavior.clone(), requests.clone(), issuer.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (b, r, base) = (b.clone(), r.clone(), base.clone());
                std::thread::spawn(move || serve(conn, &b, &r, &base));
            }
        });
        TestIdp {
            issuer,
            kid,
            key,
            behavior,
            requests,
        }
    }

    pub fn well_known(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    pub fn count(&self, request: &str) -> usize {
        self.requests().iter().filter(|r| *r == request).count()
    }

    /// Waits (bounded) until the provider has seen `request` at least `n` times.
    pub fn wait_for(&self, request: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.count(request) < n {
            assert!(
                Instant::now() < deadline,
                "the provider never saw {request}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Standard claims of a token this provider issues for `CLIENT_ID`, merged with `extra`.
    pub fn claims(&self, extra: Value) -> Value {
        standard_claims(&self.issuer, extra)
    }

    /// An RS256 token signed with the provider's key.
    pub fn mint(&self, extra: Value) -> String {
        sign_rs256(&self.key, &self.kid, &self.claims(extra))
    }
}

/// The host's time, Unix seconds.
pub fn now() -> i64 {
    use ezauth::clock::Clock;
    ezauth::clock::SystemClock.now()
}

/// The claims of a token `issuer` issues for `CLIENT_ID` now, valid for an hour, merged with
/// `extra`.
pub fn standard_claims(issuer: &str, extra: Value) -> Value {
    let now = now();
    let mut c = json!({"iss": issuer, "aud": CLIENT_ID, "sub": "user-1",
        "iat": now, "exp": now + 3600, "name": "Ada Lovelace",
        "email": "ada@example.com"});
    if let (Value::Object(c), Value::Object(extra)) = (&mut c, extra) {
        c.extend(extra);
    }
    c
}

pub fn jwks_of(key: &PKey<Private>, kid: &str) -> Value {
    let rsa = key.rsa().unwrap();
    json!({"keys": [{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
        "n": b64url(&rsa.n().to_vec()), "e": b64url(&rsa.e().to_vec())}]})
}

pub fn sign_rs256(key: &PKey<Private>, kid: &str, claims: &Value) -> String {
    sign_rs256_typed(key, kid, "JWT", claims)
}

/// Like [`sign_rs256`], with the header's `typ` (RFC 9068 access tokens say `at+jwt`).
pub fn sign_rs256_typed(key: &PKey<Private>, kid: &str, typ: &str, claims: &Value) -> String {
    let header = b64url(
        json!({"alg": "RS256", "typ": typ, "kid": kid})
            .to_string()
            .as_bytes(),
    );
    let payload = b64url(claims.to_string().as_bytes());
    let input = format!("{header}.{payload}");
    let mut signer = Signer::new(MessageDigest::sha256(), key).unwrap();
    signer.update(input.as_bytes()).unwrap();
    format!("{input}.{}", b64url(&signer.sign_to_vec().unwrap()))
}

/// An unsigned token (`alg: none`): what a forger posts.
pub fn unsigned(claims: &Value) -> String {
    let header = b64url(br#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{}.", b64url(claims.to_string().as_bytes()))
}

fn serve(conn: TcpStream, behavior: &Mutex<Behavior>, requests: &Mutex<Vec<String>>, base: &str) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_owned(),
        parts.next().unwrap_or("").to_owned(),
    );
    let mut length = 0;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            if n.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let path = target.split('?').next().unwrap_or("").to_owned();
    requests.lock().unwrap().push(format!("{method} {path}"));
    let (status, doc) = match (method.as_str(), path.as_str()) {
        ("GET", "/.well-known/openid-configuration") => {
            let b = behavior.lock().unwrap();
            let doc = json!({
                "issuer": b.discovery_issuer.clone().unwrap_or_else(|| base.to_owned()),
                "authorization_endpoint": format!("{base}/authorize"),
                "token_endpoint": format!("{base}/token"),
                "jwks_uri": format!("{base}/keys"),
                "end_session_endpoint": format!("{base}/logout"),
            });
            (200, doc)
        }
        ("GET", "/keys") => {
            let (delay, jwks) = {
                let b = behavior.lock().unwrap();
                (b.jwks_delay, b.jwks.clone())
            };
            std::thread::sleep(delay);
            (200, jwks)
        }
        ("POST", "/token") => {
            let doc = behavior.lock().unwrap().token_response.clone();
            let status = if doc.get("error").is_some() { 400 } else { 200 };
            (status, doc)
        }
        _ => (404, json!({})),
    };
    let body = doc.to_string();
    let mut conn = conn;
    let _ = write!(
        conn,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Log lines a module wrote, for assertions.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<(Level, String)>>>);

impl Captured {
    pub fn logger(&self) -> Logger {
        let lines = self.0.clone();
        Logger::new(move |level, msg| lines.lock().unwrap().push((level, msg.to_owned())))
    }

    pub fn lines(&self) -> Vec<(Level, String)> {
        self.0.lock().unwrap().clone()
    }

    /// Asserts that a line above debug says `why`.
    pub fn says(&self, why: &str) {
        assert!(
            self.lines()
                .iter()
                .any(|(l, m)| *l != Level::Debug && m.contains(why)),
            "no log line says {why:?}:\n{}",
            self.text()
        );
    }

    pub fn text(&self) -> String {
        self.lines()
            .iter()
            .map(|(l, m)| format!("[{l:?}] {m}\n"))
            .collect()
    }
}

pub fn env() -> HashMap<String, String> {
    HashMap::from([
        ("WEBSITE_AUTH_ENCRYPTION_KEY".to_owned(), "55".repeat(32)),
        ("WEBSITE_AUTH_SIGNING_KEY".to_owned(), "66".repeat(32)),
        // named by `clientSecretSettingName` where a test configures a client secret
        ("IDP_CLIENT_SECRET".to_owned(), "s3cret:/ x".to_owned()),
    ])
}

/// A fresh scratch directory for a token store.
pub fn scratch(name: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ezauth-test-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The configuration of a custom provider `idp` discovered from `idp`, with a file token store,
/// anonymous access allowed and plain http; `login` is the provider's `login` object.
pub fn config(idp: &TestIdp, login: &str) -> String {
    let dir = scratch("store");
    format!(
        r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}},
        "identityProviders":{{"customOpenIdConnectProviders":{{"idp":{{
          "registration":{{"clientId":"{CLIENT_ID}",
            "openIdConnectConfiguration":{{"wellKnownOpenIdConfiguration":"{}"}}}},
          "login":{login}}}}}}},
        "login":{{"tokenStore":{{"enabled":true,"fileSystem":{{"directory":"{}"}}}}}},
        "httpSettings":{{"requireHttps":false}}}}"#,
        idp.well_known(),
        dir.join("tokens").display()
    )
}

pub fn module(idp: &TestIdp, login: &str, log: Logger) -> Module {
    let settings =
        ezauth::config::parse(&config(idp, login), &env()).unwrap_or_else(|e| panic!("{e}"));
    Module::new(settings, log).unwrap()
}

/// One request through the module as a thread-per-connection host runs it (blocking steps
/// inline).
pub fn run(
    m: &Module,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Outcome {
    run_as(m, "http", method, target, headers, body)
}

/// [`run`] with another scheme (`https`: as behind TLS).
pub fn run_as(
    m: &Module,
    scheme: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Outcome {
    let req = Request {
        method,
        target,
        scheme,
        host: "app.example",
        client_addr: "127.0.0.1",
        headers: headers.to_vec(),
        body,
    };
    through(m, &req).1
}

/// `OnBeginRequest` and, when it asks for one, the blocking step, as an event-driven host runs
/// a request; says whether there was one.
pub fn through(m: &Module, req: &Request) -> (bool, Outcome) {
    match m.begin_request(req) {
        Outcome::Blocking(pending) => (true, m.run_blocking(&pending)),
        other => (false, other),
    }
}

/// A GET through [`through`].
pub fn two_steps(m: &Module, target: &str, headers: &[(&str, &str)]) -> (bool, Outcome) {
    through(m, &get(target, headers))
}

/// A GET of `target` at `http://app.example` from 127.0.0.1.
pub fn get<'a>(target: &'a str, headers: &[(&'a str, &'a str)]) -> Request<'a> {
    Request {
        method: "GET",
        target,
        scheme: "http",
        host: "app.example",
        client_addr: "127.0.0.1",
        headers: headers.to_vec(),
        body: b"",
    }
}

/// `GET /.auth/refresh` with the session cookie `cookie`, answered at once (the module's own
/// route: no blocking step).
pub fn refresh_by_cookie(m: &Module, cookie: &str) -> Response {
    finished(run(m, "GET", "/.auth/refresh", &[("Cookie", cookie)], b""))
}

pub fn finished(o: Outcome) -> Response {
    match o {
        Outcome::Finish(r) => r,
        other => panic!("expected a finished response, got {other:?}"),
    }
}

pub fn header<'r>(r: &'r Response, name: &str) -> Option<&'r str> {
    r.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

pub fn json_body(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        )
    })
}

/// What a login's redirect to the provider carries: its `state`, its `nonce`, and the
/// login-state cookie (as a `Cookie` header value).
pub fn login_started(r: &Response) -> (String, String, String) {
    let location = url::Url::parse(header(r, "Location").unwrap()).unwrap();
    let param = |name: &str| {
        location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let cookie = header(r, "Set-Cookie").unwrap().split(';').next().unwrap();
    (param("state"), param("nonce"), cookie.to_owned())
}

/// A browser's login through the provider, up to the callback's answer: `GET
/// /.auth/login/idp?{query}`, then the callback with the state cookie, the provider answering
/// an id_token (with the login's nonce, and `claims`) and `tokens` (`expires_in` 3600 unless
/// given).
pub fn through_provider(
    m: &Module,
    idp: &TestIdp,
    query: &str,
    claims: Value,
    tokens: Value,
) -> Response {
    let r = finished(run(
        m,
        "GET",
        &format!("/.auth/login/idp?{query}"),
        &[],
        b"",
    ));
    let (state, nonce, state_cookie) = login_started(&r);
    let state_cookie = state_cookie.as_str();
    let mut id_claims = json!({ "nonce": nonce });
    let mut answer = json!({"expires_in": 3600, "token_type": "Bearer"});
    if let (Value::Object(c), Value::Object(extra)) = (&mut id_claims, claims) {
        c.extend(extra);
    }
    if let (Value::Object(a), Value::Object(t)) = (&mut answer, tokens) {
        a.extend(t);
    }
    answer["id_token"] = Value::String(idp.mint(id_claims));
    idp.behavior.lock().unwrap().token_response = answer;
    finished(run(
        m,
        "GET",
        &format!("/.auth/login/idp/callback?code=the-code&state={state}"),
        &[("Cookie", state_cookie)],
        b"",
    ))
}

/// The session cookie a response sets, as a `Cookie` header value.
pub fn session_cookie(r: &Response) -> String {
    r.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Set-Cookie"))
        .map(|(_, v)| v.split(';').next().unwrap())
        .find(|c| c.starts_with("AppServiceAuthSession=") && c.len() > 30)
        .unwrap_or_else(|| panic!("no session cookie: {:?}", r.headers))
        .to_owned()
}

/// The request as it goes on to the app; anything else fails the test.
pub fn forwarded(o: Outcome) -> ezauth::http::Forward {
    match o {
        Outcome::Continue(f) => f,
        other => panic!("expected the request to go on to the app, got {other:?}"),
    }
}

/// The value a forwarded request's header `name` is set to.
pub fn set_header(f: &ezauth::http::Forward, name: &str) -> Option<String> {
    f.set
        .iter()
        .flat_map(|g| g.iter())
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

/// Signs in through the provider (which stores the record, in the blocking step): the
/// session cookie.
pub fn signed_in(m: &Module, idp: &TestIdp) -> String {
    let r = through_provider(
        m,
        idp,
        "",
        serde_json::json!({}),
        serde_json::json!({"access_token": "the-access-token"}),
    );
    session_cookie(&r)
}

/// `GET /.auth/login/{provider}?{query}`, which must send the browser on (302).
pub fn login_redirect(m: &Module, provider: &str, query: &str) -> Response {
    let r = finished(run(
        m,
        "GET",
        &format!("/.auth/login/{provider}?{query}"),
        &[],
        b"",
    ));
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
    r
}
