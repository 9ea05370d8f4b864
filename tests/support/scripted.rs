//! An OpenID provider played by a scripted [`HttpClient`]: the module under test calls out
//! through the seam, and this answers discovery, the JWKS and the token endpoint from a script
//! (a status and body, garbage, or a transport failure), with no socket and no sleeping. With
//! an in-memory token store whose contents the tests read, and the pipeline built around both
//! by `App::from_parts`: the tests drive requests in and read outcomes out.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use ezauth::app::App;
use ezauth::clock::{Clock, SystemClock};
use ezauth::http::Response;
use ezauth::logger::Logger;
use ezauth::outbound::{HttpClient, HttpRequest, HttpResponse, TransportError, TransportKind};
use ezauth::pipeline::Module;
use ezauth::store::{Cached, StoreError, TokenRecord, TokenStore, Update};
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use serde_json::{json, Value};

use super::{env, finished, jwks_of, login_started, run, sign_rs256, standard_claims, CLIENT_ID};

/// The provider's issuer and base URL: https, never resolved.
pub const ISSUER: &str = "https://idp.test";

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Answer {
    Json(u16, Value),
    Raw(u16, &'static [u8]),
    Fail(TransportKind),
}

struct Script {
    discovery: Value,
    jwks: Value,
    token: Answer,
    /// One-shot answers by `"METHOD /path"`, used before the standing ones.
    once: HashMap<String, VecDeque<Answer>>,
}

pub struct ScriptedIdp {
    pub kid: String,
    pub key: PKey<Private>,
    script: Mutex<Script>,
    /// Every request that went out, in order.
    seen: Mutex<Vec<HttpRequest>>,
}

impl ScriptedIdp {
    pub fn new() -> Arc<ScriptedIdp> {
        // One key for every scripted provider of the test binary: generating one is the
        // slowest thing these tests would do.
        static KEY: OnceLock<PKey<Private>> = OnceLock::new();
        let key = KEY
            .get_or_init(|| PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap())
            .clone();
        let kid = "key-1".to_owned();
        Arc::new(ScriptedIdp {
            script: Mutex::new(Script {
                discovery: json!({
                    "issuer": ISSUER,
                    "authorization_endpoint": format!("{ISSUER}/authorize"),
                    "token_endpoint": format!("{ISSUER}/token"),
                    "jwks_uri": format!("{ISSUER}/keys"),
                }),
                jwks: jwks_of(&key, &kid),
                token: Answer::Json(400, json!({"error": "invalid_grant"})),
                once: HashMap::new(),
            }),
            kid,
            key,
            seen: Mutex::new(Vec::new()),
        })
    }

    /// The token endpoint's standing answer.
    pub fn token_answer(&self, answer: Answer) {
        self.script.lock().unwrap().token = answer;
    }

    /// Sets `field` of the discovery document (`issuer`, `token_endpoint`, ...).
    pub fn discovery(&self, field: &str, value: Value) {
        self.script.lock().unwrap().discovery[field] = value;
    }

    /// The JWKS endpoint's standing document.
    pub fn jwks(&self, jwks: Value) {
        self.script.lock().unwrap().jwks = jwks;
    }

    /// The next answer to `request` (`"GET /keys"`, `"POST /token"`, ...), once.
    pub fn once(&self, request: &str, answer: Answer) {
        self.script
            .lock()
            .unwrap()
            .once
            .entry(request.to_owned())
            .or_default()
            .push_back(answer);
    }

    /// How many `request`s went out.
    pub fn count(&self, request: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| key_of(r) == request)
            .count()
    }

    /// The form fields of the last token request.
    pub fn last_token_form(&self) -> HashMap<String, String> {
        form_urlencoded::parse(&self.last_token_request().body)
            .into_owned()
            .collect()
    }

    /// The last token request as it went out.
    pub fn last_token_request(&self) -> HttpRequest {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .rev()
            .find(|r| key_of(r) == "POST /token")
            .expect("a token request")
            .clone()
    }

    pub fn claims(&self, extra: Value) -> Value {
        standard_claims(ISSUER, extra)
    }

    /// An RS256 token signed with the provider's key.
    pub fn mint(&self, extra: Value) -> String {
        sign_rs256(&self.key, &self.kid, &self.claims(extra))
    }
}

/// An RSA key the provider does not publish (a forger's, or a rotated one), the same for the
/// whole test binary.
pub fn another_key() -> PKey<Private> {
    static KEY: OnceLock<PKey<Private>> = OnceLock::new();
    KEY.get_or_init(|| PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap())
        .clone()
}

fn key_of(r: &HttpRequest) -> String {
    let path = r
        .url
        .strip_prefix(ISSUER)
        .unwrap_or(&r.url)
        .split('?')
        .next()
        .unwrap_or("");
    format!("{} {path}", r.method)
}

impl HttpClient for ScriptedIdp {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        self.seen.lock().unwrap().push(request.clone());
        let key = key_of(request);
        let answer = {
            let mut script = self.script.lock().unwrap();
            match script.once.get_mut(&key).and_then(VecDeque::pop_front) {
                Some(a) => a,
                None => match key.as_str() {
                    "GET /.well-known/openid-configuration" => {
                        Answer::Json(200, script.discovery.clone())
                    }
                    "GET /keys" => Answer::Json(200, script.jwks.clone()),
                    "POST /token" => script.token.clone(),
                    _ => Answer::Json(404, json!({})),
                },
            }
        };
        let (status, body) = match answer {
            Answer::Json(status, v) => (status, v.to_string().into_bytes()),
            Answer::Raw(status, b) => (status, b.to_vec()),
            Answer::Fail(kind) => {
                return Err(TransportError {
                    kind,
                    detail: format!("scripted {kind:?}"),
                })
            }
        };
        Ok(HttpResponse {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body,
        })
    }
}

/// A token store in memory, always answering from "cache": what the tests read to see what
/// was (not) stored.
#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<String, TokenRecord>>,
    claimed: Mutex<HashSet<String>>,
}

impl MemoryStore {
    /// Every stored record, by user.
    pub fn records(&self) -> HashMap<String, TokenRecord> {
        self.records.lock().unwrap().clone()
    }

    /// The one stored record.
    pub fn only(&self) -> TokenRecord {
        let records = self.records();
        assert_eq!(records.len(), 1, "{records:?}");
        records.into_values().next().unwrap()
    }

    pub fn put(&self, user: &str, record: TokenRecord) {
        self.records.lock().unwrap().insert(user.to_owned(), record);
    }
}

/// What the module owns; the test keeps the other handle.
struct Shared(Arc<MemoryStore>);

impl TokenStore for Shared {
    fn cached(&self, user: &str) -> Result<Cached, StoreError> {
        Ok(self.load(user)?.map_or(Cached::Absent, Cached::Hit))
    }

    fn load(&self, user: &str) -> Result<Option<Arc<TokenRecord>>, StoreError> {
        Ok(self
            .0
            .records
            .lock()
            .unwrap()
            .get(user)
            .cloned()
            .map(Arc::new))
    }

    fn save(&self, user: &str, record: &TokenRecord) -> Result<(), StoreError> {
        self.0.put(user, record.clone());
        Ok(())
    }

    fn delete(&self, user: &str) -> Result<(), StoreError> {
        self.0.records.lock().unwrap().remove(user);
        Ok(())
    }

    fn update(
        &self,
        user: &str,
        change: &mut dyn FnMut(Option<TokenRecord>) -> Update,
    ) -> Result<(), StoreError> {
        let current = self.0.records.lock().unwrap().get(user).cloned();
        match change(current) {
            Update::Keep => Ok(()),
            Update::Replace(next) => self.save(user, &next),
            Update::Remove => self.delete(user),
        }
    }

    fn claim_once(&self, key: &str, _expires_at: i64) -> Result<bool, StoreError> {
        Ok(self.0.claimed.lock().unwrap().insert(key.to_owned()))
    }
}

/// The configuration of the custom provider `idp` at [`ISSUER`] (`login`: its `login`
/// object), anonymous access allowed, with a token store.
pub fn config(login: &str) -> String {
    format!(
        r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}},
        "identityProviders":{{"customOpenIdConnectProviders":{{"idp":{{
          "registration":{{"clientId":"{CLIENT_ID}",
            "openIdConnectConfiguration":{{"wellKnownOpenIdConfiguration":"{ISSUER}/.well-known/openid-configuration"}}}},
          "login":{login}}}}}}},
        "login":{{"tokenStore":{{"enabled":true,"fileSystem":{{"directory":"/nonexistent/unused"}}}}}},
        "httpSettings":{{"requireHttps":false}}}}"#
    )
}

/// The whole pipeline around the scripted provider and an in-memory store, on the host's
/// clock.
pub fn module(idp: &Arc<ScriptedIdp>, login: &str, log: Logger) -> (Module, Arc<MemoryStore>) {
    module_on(idp, &config(login), log, Arc::new(SystemClock))
}

/// The pipeline of the configuration `json` around the scripted provider and an in-memory
/// store, telling time by `clock`.
pub fn module_on(
    idp: &Arc<ScriptedIdp>,
    json: &str,
    log: Logger,
    clock: Arc<dyn Clock>,
) -> (Module, Arc<MemoryStore>) {
    module_with(idp.clone(), json, log, clock)
}

/// The pipeline of the configuration `json` calling out through `http` (any scripted
/// provider), with an in-memory store, telling time by `clock`.
pub fn module_with(
    http: Arc<dyn HttpClient>,
    json: &str,
    log: Logger,
    clock: Arc<dyn Clock>,
) -> (Module, Arc<MemoryStore>) {
    let settings = ezauth::config::parse(json, &env()).unwrap_or_else(|e| panic!("{e}"));
    let store = Arc::new(MemoryStore::default());
    let store_handle = Some(Box::new(Shared(store.clone())) as Box<dyn TokenStore>);
    let app = App::from_parts(settings, http, store_handle, log, clock);
    (Module::from_app(app), store)
}

/// A browser login started at `/.auth/login/idp`: its `state`, `nonce` and login-state cookie.
pub fn start_login(m: &Module) -> (String, String, String) {
    let r = finished(run(m, "GET", "/.auth/login/idp", &[], b""));
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
    login_started(&r)
}

/// The callback of a started login, with `code`.
pub fn callback(m: &Module, state: &str, cookie: &str) -> Response {
    finished(run(
        m,
        "GET",
        &format!("/.auth/login/idp/callback?code=the-code&state={state}"),
        &[("Cookie", cookie)],
        b"",
    ))
}

/// A token endpoint answer for a login: an id_token with the login's `nonce` and `claims`,
/// and `tokens`.
pub fn token_answer(idp: &ScriptedIdp, nonce: &str, claims: Value, tokens: Value) -> Answer {
    let mut id_claims = json!({ "nonce": nonce });
    if let (Value::Object(c), Value::Object(extra)) = (&mut id_claims, claims) {
        c.extend(extra);
    }
    let mut answer = json!({"expires_in": 3600, "token_type": "Bearer",
        "id_token": idp.mint(id_claims)});
    if let (Value::Object(a), Value::Object(t)) = (&mut answer, tokens) {
        a.extend(t);
    }
    Answer::Json(200, answer)
}

/// A browser sign-in all the way: the session cookie. The provider issues an access token
/// and `refresh` (if any) as refresh token.
pub fn sign_in(m: &Module, idp: &ScriptedIdp, refresh: Option<&str>) -> String {
    let (state, nonce, cookie) = start_login(m);
    let mut tokens = json!({"access_token": "access-1"});
    if let Some(r) = refresh {
        tokens["refresh_token"] = json!(r);
    }
    idp.token_answer(token_answer(idp, &nonce, json!({}), tokens));
    let r = callback(m, &state, &cookie);
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
    super::session_cookie(&r)
}
