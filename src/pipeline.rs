//! The request pipeline behind `OnBeginRequest` / `OnSendResponse`: scrub spoofed identity
//! headers, resolve the origin, authenticate, serve `/.auth/*`, apply the unauthenticated
//! action, and inject the identity headers. Knows nothing of C.

use std::path::Path;
use std::sync::Arc;

use crate::app::{App, CachedSession, TokenRefusal};
use crate::challenge::{self, Authorization, InvalidToken};
use crate::config::{self, ConfigError, ProxyConvention, Settings, UnauthenticatedAction};
use crate::headers;
use crate::http::{
    self, Forward, HeaderGroup, Origin, Outcome, Pending, PendingStep, Request, Response,
};
use crate::io::Io;
use crate::logger::Logger;
use crate::metrics::Decision;
use crate::providers::{Bearer, Presented, Provider, ProviderError};
use crate::reply;
use crate::routes::{self, Ctx, Dispatch};
use crate::session::{self, Caller, Credential};
use crate::store::TokenStore;

/// The pipeline over a loaded [`App`]: the handle the C ABI hands out.
pub struct Module {
    app: App,
}

/// Why authentication stopped short of a caller: an answer, or a step that needs I/O (which
/// the blocking step resumes).
enum Stop {
    Answer(Outcome),
    NeedsIo,
}

impl From<Outcome> for Stop {
    fn from(outcome: Outcome) -> Stop {
        Stop::Answer(outcome)
    }
}

/// Characters of a session cookie's tail that key the cache: they encode the GCM tag.
const COOKIE_CACHE_KEY_LEN: usize = 22;

impl Module {
    pub fn from_config_file(path: &Path, log: Logger) -> Result<Module, ConfigError> {
        let settings = config::load_file(path, &config::ProcessEnvironment)?;
        for w in &settings.warnings {
            log.warn(format_args!("{}: {w}", path.display()));
        }
        Module::new(settings, log)
    }

    pub fn new(settings: Settings, log: Logger) -> Result<Module, ConfigError> {
        App::new(settings, log).map(Module::from_app)
    }

    /// The pipeline over an app made elsewhere (tests: [`App::from_parts`] with doubles).
    pub fn from_app(app: App) -> Module {
        Module { app }
    }

    /// The pipeline over a store made elsewhere instead of the configured one (see
    /// [`App::with_store`]).
    pub fn with_store(
        settings: Settings,
        log: Logger,
        store: Option<Box<dyn TokenStore>>,
    ) -> Module {
        Module::from_app(App::with_store(settings, log, store))
    }

    /// What route handlers share: settings, providers, store, logger, caches.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// Can `worker` (the user the host's workers run as) use the token store? The store makes
    /// its files lazily, in the processes that use it; this says at startup whether they can.
    pub fn check_store(&self, worker: &crate::store::access::Worker) -> Result<(), String> {
        crate::store::check_access(self.app.settings().token_store.as_ref(), worker)
    }

    pub fn settings(&self) -> &Settings {
        self.app.settings()
    }

    pub fn store(&self) -> Option<&dyn TokenStore> {
        self.app.store()
    }

    pub fn log(&self) -> &Logger {
        self.app.log()
    }

    /// `OnBeginRequest`, on the host's request thread: never blocks on I/O ([`Io::CacheOnly`]).
    pub fn begin_request(&self, req: &Request) -> Outcome {
        if let Some(metrics) = self.metrics_answer(req) {
            return metrics;
        }
        let outcome = self.checked(self.challenged(req, self.process(req)));
        self.count(req, &outcome);
        outcome
    }

    /// The blocking step of an outcome that asked for one, on a worker thread: resumes at the
    /// step that stopped, with what the steps before it found.
    pub fn run_blocking(&self, pending: &Pending) -> Outcome {
        let running = self.app.metrics().blocking_started();
        let req = pending.request.view();
        let outcome = self.checked(self.challenged(&req, self.resume(&req, &pending.step)));
        drop(running);
        self.count(&req, &outcome);
        outcome
    }

    /// Counts what was decided for `req` (a request that takes the blocking step is counted
    /// when it ends).
    fn count(&self, req: &Request, outcome: &Outcome) {
        let metrics = self.app.metrics();
        let decision = match outcome {
            Outcome::Blocking(_) => return metrics.blocking_queued(),
            Outcome::Continue(f) if f.set.is_empty() => Decision::Anonymous,
            Outcome::Continue(_) => Decision::SignedIn,
            Outcome::Finish(_) if routes::route_rest(self.app.settings(), req.path()).is_some() => {
                Decision::Route
            }
            Outcome::Finish(r) => match r.status {
                401 => Decision::Unauthorized,
                403 => Decision::Forbidden,
                // Outside the routes a 302 is the unauthenticated action's way to the login
                // (or `requireHttps`'s to https), and a 200 the page that keeps the fragment
                // on that way (`preserveUrlFragmentsForLogins`).
                302 if !r
                    .headers
                    .iter()
                    .any(|(n, v)| n == "Location" && https_upgrade(req, v)) =>
                {
                    Decision::LoginRedirect
                }
                200 => Decision::LoginRedirect,
                _ => Decision::Other,
            },
        };
        metrics.request(decision);
    }

    /// The metrics (`ezauth.metrics`), for a GET of their path from an allowed client address;
    /// `None` for anything else, which goes on as if the metrics did not exist (under the API
    /// prefix: 404).
    fn metrics_answer(&self, req: &Request) -> Option<Outcome> {
        let route = self.settings().metrics.as_ref()?;
        if req.path() != route.path || !matches!(req.method, "GET" | "HEAD") {
            return None;
        }
        // The host's own peer address: a forwarded-for header is the client's to write.
        let client = req
            .client_addr
            .parse::<std::net::IpAddr>()
            .or_else(|_| {
                req.client_addr
                    .parse::<std::net::SocketAddr>()
                    .map(|s| s.ip())
            })
            .ok()?
            .to_canonical();
        if !route.allowed.contains(&client) {
            self.log().info(format_args!(
                "metrics: {client} is not in ezauth.metrics.allowedAddresses"
            ));
            return None;
        }
        let mut r = Response::new(200)
            .with_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            .with_header("Cache-Control", "no-store");
        r.body = self.app.metrics().render().into_bytes();
        Some(Outcome::Finish(r))
    }

    fn resume(&self, req: &Request, step: &PendingStep) -> Outcome {
        match step {
            PendingStep::Authenticate {
                remove,
                origin,
                grace,
            } => self.authenticated(req, remove.clone(), origin.clone(), *grace, Io::Allowed),
            PendingStep::Route {
                rest,
                origin,
                caller,
                route,
                response_add,
            } => {
                let ctx = Ctx {
                    req,
                    origin: origin.clone(),
                    caller: caller.clone(),
                    io: Io::Allowed,
                };
                routes::resume(&self.app, &ctx, rest, *route)
                    .with_pending_headers(response_add.clone())
            }
            PendingStep::Login {
                origin,
                provider,
                response_add,
            } => self
                .start_login(req, origin.clone(), provider.as_ref())
                .with_response_headers(response_add.clone()),
        }
    }

    /// Stops here: the host runs the rest in its blocking step, from `step`.
    fn pending(req: &Request, step: PendingStep) -> Outcome {
        Outcome::Blocking(Box::new(Pending {
            request: req.to_owned_request(),
            step,
        }))
    }

    /// Every 401 of an Azure AD app carries App Service's challenge (RFC 7235 wants one on
    /// every 401): the ones a route or a provider failure answers (client-directed login, a
    /// callback, `/.auth/refresh`) get it here when they have none of their own.
    fn challenged(&self, req: &Request, mut outcome: Outcome) -> Outcome {
        let Outcome::Finish(r) = &mut outcome else {
            return outcome;
        };
        if r.status != 401
            || self.app.aad_discovery().is_none()
            || r.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("WWW-Authenticate"))
        {
            return outcome;
        }
        if let Some(c) = self
            .origin(req)
            .ok()
            .and_then(|o| challenge::anonymous(&o.host, self.app.aad_discovery()))
        {
            r.headers.push(("WWW-Authenticate".into(), c));
        }
        outcome
    }

    /// The last gate before the host writes headers: a response header the module built that a
    /// proxy could split (a control character from a request target, a claim) turns the
    /// response into a 500. Request headers are checked where they are made (principal at
    /// sign-in, tokens when rendered), so the per-request path scans nothing twice.
    fn checked(&self, outcome: Outcome) -> Outcome {
        let unsafe_header = |headers: &[(String, String)]| {
            headers
                .iter()
                .find(|(n, v)| !headers::is_token(n.as_bytes()) || !headers::is_safe_value(v))
                .map(|(n, _)| n.clone())
        };
        let bad = match &outcome {
            Outcome::Finish(r) => unsafe_header(&r.headers),
            Outcome::Continue(f) => unsafe_header(&f.response_add),
            Outcome::Blocking(_) => None,
        };
        match bad {
            None => outcome,
            Some(name) => reply::refuse(
                self.app.log(),
                500,
                &format!("refused to write header {name:?}: control characters in its value"),
                "Internal error.",
            ),
        }
    }

    /// `OnSendResponse`: the headers to add to the application's response.
    pub fn send_response(
        &self,
        app_headers: &[(&str, &str)],
        forward: &Forward,
    ) -> Vec<(String, String)> {
        // An app that answers CORS itself keeps its own answer: two grants would fail both.
        let app_cors = app_headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("Access-Control-Allow-Origin"));
        let mut add: Vec<(String, String)> = forward
            .response_add
            .iter()
            .filter(|(n, _)| !(app_cors && n.starts_with("Access-Control-")))
            .cloned()
            .collect();
        // A page made for a signed-in caller (identity headers are set exactly then: cookie,
        // X-ZUMO-AUTH or bearer) must not be kept by a shared cache and served to the next
        // client. An app that states its own cache policy keeps it: that was its choice.
        let signed_in = !forward.set.is_empty();
        if signed_in
            && !app_headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("Cache-Control"))
        {
            add.push(("Cache-Control".into(), "private".into()));
        }
        add
    }

    /// Everything up to authentication, on the host's event loop.
    fn process(&self, req: &Request) -> Outcome {
        let remove = headers::spoofed(&req.headers);
        if !remove.is_empty() {
            self.app.log().warn(format_args!(
                "removed client-sent identity or routing headers from {}: {}",
                req.client_addr,
                remove.join(", ")
            ));
        }
        if !self.app.settings().enabled {
            return Outcome::Continue(Forward {
                remove,
                ..Forward::default()
            });
        }
        let origin = match self.origin(req) {
            Ok(o) => o,
            Err(why) => {
                return reply::refuse(
                    self.app.log(),
                    400,
                    &format!("request refused: {why}"),
                    "Invalid Host header.",
                )
            }
        };
        if self.app.settings().require_https && origin.scheme != "https" {
            return self.require_https(req, &origin);
        }

        let path = req.path();
        let api_rest = routes::route_rest(self.app.settings(), path);
        if api_rest.is_none() && crate::paths::reaches_prefix(path, &self.app.settings().api_prefix)
        {
            return reply::refuse(
                self.app.log(),
                400,
                &format!(
                    "request refused: path {:?} could be read as one under {} by the app",
                    path.chars().take(200).collect::<String>(),
                    self.app.settings().api_prefix
                ),
                "Ambiguous request path.",
            );
        }
        let grace = match api_rest {
            Some(rest) if routes::accepts_expired_session(rest) => {
                self.app.settings().refresh_extension.as_secs() as i64
            }
            _ => 0,
        };
        self.authenticated(req, remove, origin, grace, Io::CacheOnly)
    }

    /// Authentication and what follows it: a route, the app, or the unauthenticated action.
    fn authenticated(
        &self,
        req: &Request,
        remove: Vec<String>,
        origin: Origin,
        grace: i64,
        io: Io,
    ) -> Outcome {
        let mut response_add = Vec::new();
        // Authentication again, in the host's blocking step (a read, a refresh).
        let authenticate_blocking = |remove, origin| {
            Self::pending(
                req,
                PendingStep::Authenticate {
                    remove,
                    origin,
                    grace,
                },
            )
        };
        let mut caller = match self.authenticate(req, &origin, grace, io, &mut response_add) {
            Ok(c) => c,
            Err(Stop::Answer(outcome)) => {
                // A credential refused (an expired `X-ZUMO-AUTH`): readable by an allowed origin.
                let mut granted = Vec::new();
                self.cors_grant(req, &mut granted);
                return outcome.with_response_headers(granted);
            }
            Err(Stop::NeedsIo) => return authenticate_blocking(remove, origin),
        };

        let path = req.path();
        let route = routes::route_rest(self.app.settings(), path);
        if let Some(c) = caller.as_mut() {
            if route.is_none() && c.credential == Credential::Cookie {
                if let Some(refusal) = self.cross_site(req, &origin) {
                    return refusal;
                }
            }
            // The app's requests and `/.auth/me` hand the stored tokens on: fresh ones.
            if route.is_none_or(routes::shows_tokens)
                && routes::fresh::due(&self.app, c, self.app.now())
            {
                if io == Io::CacheOnly {
                    return authenticate_blocking(remove, origin);
                }
                routes::fresh::refresh_ahead(&self.app, c);
            }
        }

        // On to the app: with the identity headers, and the CORS grant its response gets.
        let pass = |set: Vec<HeaderGroup>, mut response_add: Vec<(String, String)>| {
            self.cors_grant(req, &mut response_add);
            Outcome::Continue(Forward {
                remove,
                set,
                response_add,
            })
        };
        if let Some(rest) = route {
            // A page of an allowed origin calls these routes from script as it calls the app
            // (the JavaScript SDK's `POST /.auth/login`): App Service's CORS stands in front of
            // authentication, so the preflight is answered and the answer carries the grant.
            if is_preflight(req) {
                return Outcome::Finish(self.preflight(req)).with_pending_headers(response_add);
            }
            self.cors_grant(req, &mut response_add);
            let ctx = Ctx {
                req,
                origin,
                caller,
                io,
            };
            return match routes::dispatch(&self.app, &ctx, rest) {
                Dispatch::Answer(outcome) => outcome.with_pending_headers(response_add),
                Dispatch::Blocks(route) => Self::pending(
                    req,
                    PendingStep::Route {
                        rest: rest.to_owned(),
                        origin: ctx.origin,
                        caller: ctx.caller,
                        route,
                        response_add,
                    },
                ),
            };
        }

        if let Some(caller) = caller {
            // Sessions read their record while authenticating (revocation). A provider's bearer
            // token has none: it proves who the caller is, not that they own the browser
            // session's stored tokens (App Service ties no store entry to a bearer request).
            let tokens = caller
                .record
                .as_ref()
                .map(|r| self.app.rendered_tokens(&caller.principal.sid, r).0);
            let mut set = Vec::with_capacity(2);
            set.push(caller.headers);
            set.extend(tokens);
            return pass(set, response_add);
        }

        if !self.app.settings().require_authentication
            || self.app.settings().action == UnauthenticatedAction::AllowAnonymous
            || self.app.settings().is_excluded(path)
        {
            return pass(Vec::new(), response_add);
        }
        // The refusals an allowed origin's script gets are ones it can read (the SDKs sign in
        // again on a 401; without the grant the browser shows them a network error).
        let mut granted = response_add.clone();
        self.cors_grant(req, &mut granted);
        // An API client that presented a bearer token gets an API answer, never a login page.
        if let Some(refusal) = self.unusable_bearer(req, &origin) {
            return refusal.with_response_headers(granted);
        }
        // Browsers send preflights without credentials, and many frameworks run a route's
        // handler for any method: a preflight to a protected path never reaches the app.
        if is_preflight(req) {
            return Outcome::Finish(self.preflight(req)).with_response_headers(response_add);
        }
        self.unauthenticated(req, origin, io, granted)
    }

    /// The origin the client addressed: Host (or the forward proxy's headers when configured).
    fn origin(&self, req: &Request) -> Result<Origin, String> {
        let fp = &self.app.settings().forward_proxy;
        let (host_header, proto_header) = match fp.convention {
            ProxyConvention::NoProxy => (None, None),
            ProxyConvention::Standard => (Some("X-Forwarded-Host"), Some("X-Forwarded-Proto")),
            ProxyConvention::Custom => (fp.host_header.as_deref(), fp.proto_header.as_deref()),
        };
        // The last value of the last line: a proxy appends its own to what the client sent
        // (`X-Forwarded-Host: evil, good`, or a second header line), so only the value nearest
        // to us is the trusted proxy's. An empty last value counts as none: Host is used.
        let forwarded = |name: Option<&str>| {
            let name = name?;
            req.headers
                .iter()
                .rev()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.rsplit(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        // Two Host lines (RFC 9112 §3.2: 400) could name two sites to two readers.
        if req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("Host"))
            .nth(1)
            .is_some()
        {
            return Err("the request has more than one Host header".into());
        }
        let host = forwarded(host_header).unwrap_or(req.host);
        let scheme = forwarded(proto_header)
            .unwrap_or(req.scheme)
            .to_ascii_lowercase();
        let host_ok = !host.is_empty()
            && host.len() <= 255
            && host.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            });
        if !host_ok {
            return Err(format!("host {host:?} is not a valid host name"));
        }
        if scheme != "http" && scheme != "https" {
            return Err(format!("scheme {scheme:?} is not http or https"));
        }
        Ok(Origin {
            scheme,
            host: host.to_ascii_lowercase(),
        })
    }

    fn require_https(&self, req: &Request, origin: &Origin) -> Outcome {
        if matches!(req.method, "GET" | "HEAD") {
            Outcome::Finish(Response::redirect(&format!(
                "https://{}{}",
                origin.host, req.target
            )))
        } else {
            reply::refuse(
                self.app.log(),
                403,
                "HTTPS required (httpSettings.requireHttps)",
                "HTTPS is required.",
            )
        }
    }

    /// Who is calling: `X-ZUMO-AUTH` first, then the session cookie. An invalid session token
    /// is refused outright (the client meant to authenticate); an invalid cookie, or two
    /// different sessions among the cookies (one planted), is logged, cleared with every
    /// planted variant and the request continues as anonymous. `grace` seconds past expiry are
    /// accepted (the refresh route's extension window).
    fn authenticate(
        &self,
        req: &Request,
        origin: &Origin,
        grace: i64,
        io: Io,
        response_add: &mut Vec<(String, String)>,
    ) -> Result<Option<Caller>, Stop> {
        let now = self.app.now();
        if let Some(caller) = self.bearer(req, origin, io)? {
            return Ok(Some(caller));
        }
        // Every line some server would read as X-ZUMO-AUTH (`X_ZUMO_AUTH` through CGI): with
        // two, which one would the app read? With a look-alike, the app could read a token
        // this module never judged. Refused, as two Authorization lines are.
        let mut zumo = req
            .headers
            .iter()
            .filter(|(n, _)| headers::reads_as(n.as_bytes(), b"x-zumo-auth"));
        let ambiguous = match (zumo.next(), zumo.next()) {
            (Some(_), Some(_)) => Some("more than one X-ZUMO-AUTH header"),
            (Some((n, _)), None) if !n.eq_ignore_ascii_case("X-ZUMO-AUTH") => {
                Some("an X-ZUMO-AUTH header spelled another way")
            }
            _ => None,
        };
        if let Some(why) = ambiguous {
            return Err(reply::refuse(
                self.app.log(),
                400,
                &format!("request from {} has {why}", req.client_addr),
                "Ambiguous X-ZUMO-AUTH header.",
            )
            .into());
        }
        if let Some(token) = req.header("X-ZUMO-AUTH") {
            return match self.app.session_token(token, &origin.audience(), grace, io) {
                Ok(caller) => Ok(Some(caller)),
                Err(TokenRefusal::NeedsIo) => Err(Stop::NeedsIo),
                Err(TokenRefusal::Invalid(why)) => Err(reply::unauthorized(
                    self.app.log(),
                    self.app.aad_discovery(),
                    &origin.host,
                    &why,
                    "The session token is not valid.",
                )
                .into()),
            };
        }
        // The session cookie, chosen among planted variants as `resolve` explains; a session
        // signed out counts as one that does not open.
        if !req
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("cookie"))
        {
            return Ok(None);
        }
        let names = self.app.settings().cookie_names();
        let cookies = session::SessionCookies::parse(req, names);
        // A session past its expiry but inside the refresh window is still ours on every
        // path: only `/.auth/refresh` accepts it (`grace`), elsewhere it is anonymous but its
        // cookie is kept, not deleted (deleting it would end the window the browser keeps it
        // for; see `session::browser_lifetime`).
        let window = self.app.settings().refresh_window().max(grace);
        // A cookie whose record only a remote read can tell about: the blocking step resumes
        // authentication (nothing below has logged or answered yet).
        let needs_io = std::cell::Cell::new(false);
        let found = cookies.resolve(
            |value| {
                let (mut caller, exp) = self.open_session(value, now - window)?;
                match self.app.signed_out(&mut caller, io) {
                    Ok(false) => Ok((caller, exp)),
                    Ok(true) => Err(session::Rejected(format!(
                        "the session of {} was signed out",
                        caller.principal.sid
                    ))),
                    Err(_) => {
                        needs_io.set(true);
                        Err(session::Rejected("its record needs a remote read".into()))
                    }
                }
            },
            |a, b| Caller::same_session(&a.0, &b.0),
        );
        if needs_io.get() {
            return Err(Stop::NeedsIo);
        }
        let (host, https) = (&origin.host, origin.is_https());
        let (caller, deletes) = match found {
            session::Found::None => return Ok(None),
            session::Found::One {
                session: (caller, exp),
                parts,
            } => {
                let kept = cookies.clear_unused(parts, host, req.path(), https);
                if exp <= now - grace {
                    self.app.log().debug(format_args!(
                        "session of {} expired at {exp}: not signed in here, its cookie kept \
                         for /.auth/refresh",
                        caller.principal.sid
                    ));
                    (None, kept)
                } else {
                    (Some(caller), kept)
                }
            }
            session::Found::Unusable(why) => {
                self.app.log().warn(format_args!(
                    "ignored session cookie from {}: {}",
                    req.client_addr, why.0
                ));
                (None, cookies.clear_all(host, req.path(), https))
            }
            session::Found::Ambiguous { sessions, why } => {
                let who: Vec<&str> = sessions
                    .iter()
                    .map(|(c, _)| c.principal.sid.as_str())
                    .collect();
                self.app.log().warn(format_args!(
                    "refused the session cookies from {}: {why} (sessions of {}); treated as \
                     not signed in, every variant deleted",
                    req.client_addr,
                    if who.is_empty() {
                        "none tried".into()
                    } else {
                        who.join(" and ")
                    }
                ));
                (None, cookies.clear_all(host, req.path(), https))
            }
        };
        response_add.extend(deletes.into_iter().map(|c| ("Set-Cookie".to_owned(), c)));
        Ok(caller)
    }

    /// Opens a session cookie, from the cache when this exact value was opened before: the
    /// per-request path then skips base64, AES-GCM and JSON. Entries are keyed by the value's
    /// tail (the GCM tag) and compared in full; only values that opened are cached.
    fn open_session(&self, value: &str, now: i64) -> Result<(Caller, i64), session::Rejected> {
        // A value that is not ASCII is not base64url: it opens nowhere, cached or not.
        if !value.is_ascii() {
            return Err(session::Rejected("session cookie is not base64url".into()));
        }
        let key = &value[value.len().saturating_sub(COOKIE_CACHE_KEY_LEN)..];
        if let Some(hit) = self.app.sessions.lock().get(key) {
            if hit.cookie == value {
                return if hit.exp > now {
                    Ok((hit.caller.clone(), hit.exp))
                } else {
                    Err(session::Rejected(format!("session expired at {}", hit.exp)))
                };
            }
        }
        let opened = session::open_cookie(
            value,
            &self.app.settings().keys,
            &self.app.settings().app_id,
            now,
        )?;
        let exp = opened.exp;
        let caller = Caller::from_session(opened, Credential::Cookie);
        self.app.sessions.insert(
            key.to_owned(),
            CachedSession {
                cookie: value.to_owned(),
                exp,
                caller: caller.clone(),
            },
        );
        Ok((caller, exp))
    }

    /// `Authorization: Bearer` with a JWT one of our providers issued for this app. A token of
    /// our provider that fails validation is refused with 401 wherever it is sent. A token ezauth
    /// cannot attribute (not a JWT, another issuer) may be the app's own where the app admits
    /// anonymous callers, so it passes there as anonymous; on a protected path it is refused by
    /// [`Module::unusable_bearer`]. Two `Authorization` lines with a bearer among them: 400.
    fn bearer(&self, req: &Request, origin: &Origin, io: Io) -> Result<Option<Caller>, Stop> {
        let token = match challenge::authorization(&req.headers) {
            Authorization::Token(t) => t,
            Authorization::NotBearer | Authorization::Empty => return Ok(None),
            Authorization::Ambiguous => {
                self.app.log().warn(format_args!(
                    "400: request from {} has more than one Authorization header, one of them Bearer",
                    req.client_addr
                ));
                let mut r = Response::error(400, "More than one Authorization header.");
                r.headers.push((
                    "WWW-Authenticate".into(),
                    challenge::invalid_request(&origin.host),
                ));
                return Err(Stop::Answer(Outcome::Finish(r)));
            }
        };
        let issuer = token_issuer(token);
        let bearer = Bearer {
            token,
            issuer: issuer.as_deref(),
        };
        for provider in self.app.providers().iter() {
            match provider.accepts_bearer(&bearer, io) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(ProviderError::NeedsIo) => return Err(Stop::NeedsIo),
                Err(e) => {
                    self.app.log().warn(format_args!(
                        "bearer: {} metadata unavailable: {e}",
                        provider.name()
                    ));
                    continue;
                }
            }
            return match provider.validate_bearer(token, io) {
                Ok(identity) => {
                    self.app
                        .authorize(provider.as_ref(), &identity.claims, Some(Presented::Bearer))
                        .map_err(Outcome::Finish)?;
                    let sid =
                        session::sid_for(provider.name(), &identity.issuer, &identity.subject);
                    let principal = session::principal(
                        sid,
                        provider.settings(),
                        identity.id_claim,
                        &identity.claims,
                    )
                    .map_err(|e| {
                        reply::refuse(
                            self.app.log(),
                            403,
                            &e.0,
                            "The identity cannot be passed on.",
                        )
                    })?;
                    Ok(Some(Caller::bearer(principal)))
                }
                Err(ProviderError::NeedsIo) => Err(Stop::NeedsIo),
                Err(e) => {
                    self.app.log().warn(format_args!(
                        "bearer token of {} refused: {e}",
                        provider.name()
                    ));
                    Err(Stop::Answer(
                        self.invalid_bearer(origin, InvalidToken::Rejected),
                    ))
                }
            };
        }
        Ok(None)
    }

    /// On a protected path, the answer to an anonymous request that presented `Authorization:
    /// Bearer`: a token ezauth could not attribute gets 401 `invalid_token`, an empty one 401
    /// with the challenge alone (RFC 6750 §3.1), whatever the unauthenticated action: an API
    /// client cannot follow a login page. `None`: no bearer credential, the action applies.
    fn unusable_bearer(&self, req: &Request, origin: &Origin) -> Option<Outcome> {
        match challenge::authorization(&req.headers) {
            Authorization::Token(token) => {
                let issuer = token_issuer(token);
                // A configured provider's issuer that was not matched: its metadata could not
                // be read (logged by `bearer`), so the token could not be judged either way.
                if let Some(iss) = &issuer {
                    if self.app.settings().providers.iter().any(|p| {
                        p.issuer() == Some(iss)
                            || p.tenants.as_ref().is_some_and(|t| t.may_name(iss))
                    }) {
                        return Some(reply::refuse(self.app.log(),
                            503,
                            &format!(
                                "bearer token from {} not judged: its provider's metadata is unavailable",
                                req.client_addr
                            ),
                            "The identity provider could not be reached.",
                        ));
                    }
                }
                let why = match issuer {
                    None => InvalidToken::Malformed,
                    Some(_) => InvalidToken::ForeignIssuer,
                };
                self.app.log().warn(format_args!(
                    "401: bearer token from {} refused on a protected path: {}",
                    req.client_addr,
                    match why {
                        InvalidToken::Malformed => "not a JWT",
                        _ => "no configured provider has its issuer",
                    }
                ));
                Some(self.invalid_bearer(origin, why))
            }
            Authorization::Empty => {
                self.app.log().info(format_args!(
                    "401: empty bearer credential from {} on a protected path",
                    req.client_addr
                ));
                let mut r = Response::error(401, "You are not signed in.");
                r.headers.push((
                    "WWW-Authenticate".into(),
                    challenge::empty_bearer(&origin.host, self.app.aad_discovery()),
                ));
                Some(Outcome::Finish(r))
            }
            Authorization::NotBearer | Authorization::Ambiguous => None,
        }
    }

    /// 401 `invalid_token` for a refused bearer token.
    fn invalid_bearer(&self, origin: &Origin, why: InvalidToken) -> Outcome {
        let mut r = Response::error(401, "The bearer token is not valid.");
        r.headers.push((
            "WWW-Authenticate".into(),
            challenge::invalid_token(&origin.host, self.app.aad_discovery(), why),
        ));
        Outcome::Finish(r)
    }

    /// A cookie-authenticated unsafe request (or WebSocket handshake) from another site's page
    /// is refused (CSRF, cross-site WebSocket hijacking).
    fn cross_site(&self, req: &Request, origin: &Origin) -> Option<Outcome> {
        if !req.is_unsafe_method() && !req.is_websocket_upgrade() {
            return None;
        }
        let source = req.foreign_initiator(&origin.base())?;
        Some(reply::refuse(
            self.app.log(),
            403,
            &format!(
                "cross-site {} from {source:?} with a session cookie refused",
                req.method
            ),
            "Cross-site request refused.",
        ))
    }

    /// Answers a preflight to a protected path: 204, with a grant only when `ezauth.cors`
    /// allows the origin and the request names a plain method and header list.
    fn preflight(&self, req: &Request) -> Response {
        let mut r = Response::new(204)
            .with_header(
                "Vary",
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            )
            .with_header("Cache-Control", "no-store");
        let origin = sole_origin(req).unwrap_or("");
        let method = req.header("Access-Control-Request-Method").unwrap_or("");
        let asked = req.header("Access-Control-Request-Headers").unwrap_or("");
        let asked_ok = asked
            .split(',')
            .map(str::trim)
            .all(|h| h.is_empty() || headers::is_token(h.as_bytes()));
        let policy = self
            .app
            .settings()
            .cors
            .as_ref()
            .filter(|c| c.allows(origin));
        let Some(policy) = policy.filter(|_| headers::is_token(method.as_bytes()) && asked_ok)
        else {
            self.app.log().info(format_args!(
                "preflight from {} to a protected path answered without a CORS grant",
                req.client_addr
            ));
            return r;
        };
        self.cors_grant(req, &mut r.headers);
        r.headers
            .push(("Access-Control-Allow-Methods".into(), method.to_owned()));
        if !asked.trim().is_empty() {
            r.headers.push((
                "Access-Control-Allow-Headers".into(),
                asked.trim().to_owned(),
            ));
        }
        r.headers
            .push(("Access-Control-Max-Age".into(), policy.max_age.to_string()));
        r
    }

    /// `Access-Control-Allow-Origin` (and `-Credentials`) for a request whose `Origin`
    /// `ezauth.cors` allows; nothing otherwise.
    fn cors_grant(&self, req: &Request, out: &mut Vec<(String, String)>) {
        let Some(policy) = &self.app.settings().cors else {
            return;
        };
        let Some(origin) = sole_origin(req).filter(|o| policy.allows(o)) else {
            return;
        };
        // `allows` matched a configured origin or `*`; a `*` match echoes nothing unsafe either.
        if !headers::is_safe_value(origin) {
            return;
        }
        out.push(("Access-Control-Allow-Origin".into(), origin.to_owned()));
        if policy.support_credentials {
            out.push(("Access-Control-Allow-Credentials".into(), "true".into()));
        }
        out.push(("Vary".into(), "Origin".into()));
    }

    /// The unauthenticated action, with the response headers authentication left pending.
    fn unauthenticated(
        &self,
        req: &Request,
        origin: Origin,
        io: Io,
        response_add: Vec<(String, String)>,
    ) -> Outcome {
        let outcome = match self.app.settings().action {
            UnauthenticatedAction::RedirectToLoginPage if follows_redirects(req) => {
                let Some(provider) = self
                    .app
                    .settings()
                    .default_provider
                    .as_deref()
                    .and_then(|name| self.app.providers().get(name))
                else {
                    return reply::unauthorized(
                        self.app.log(),
                        self.app.aad_discovery(),
                        &origin.host,
                        "no default provider to redirect to",
                        "You are not signed in.",
                    )
                    .with_response_headers(response_add);
                };
                if self.app.settings().preserve_url_fragments {
                    Outcome::Finish(self.fragment_keeper(provider.name()))
                } else if io == Io::CacheOnly {
                    return Self::pending(
                        req,
                        PendingStep::Login {
                            origin,
                            provider: Arc::clone(provider),
                            response_add,
                        },
                    );
                } else {
                    self.start_login(req, origin, provider.as_ref())
                }
            }
            UnauthenticatedAction::Return403 => reply::refuse(
                self.app.log(),
                403,
                "anonymous request refused (Return403)",
                "Forbidden.",
            ),
            UnauthenticatedAction::Return404 => reply::refuse(
                self.app.log(),
                404,
                "anonymous request refused (Return404)",
                "Not found.",
            ),
            _ => reply::unauthorized(
                self.app.log(),
                self.app.aad_discovery(),
                &origin.host,
                "anonymous request refused: authentication required",
                "You are not signed in.",
            ),
        };
        outcome.with_response_headers(response_add)
    }

    /// The redirect to `provider`'s login, back to this request's target afterwards; in the
    /// host's blocking step (starting a login may fetch the provider's metadata).
    fn start_login(&self, req: &Request, origin: Origin, provider: &dyn Provider) -> Outcome {
        let ctx = Ctx {
            req,
            origin,
            caller: None,
            io: Io::Allowed,
        };
        // The original target is same-origin by construction, but a path such as
        // `//evil.example` would read as another host in `Location`.
        let back = self
            .app
            .validate_redirect(&ctx.origin, req.target)
            .unwrap_or_else(|_| "/".into());
        routes::start_login(&self.app, &ctx, provider, back, false, &[])
    }

    /// `preserveUrlFragmentsForLogins`: browsers never send `#fragment`, so instead of the
    /// redirect, a page whose script reads its own URL, fragment included, and starts the
    /// login with it as the post-login target.
    fn fragment_keeper(&self, provider: &str) -> Response {
        let login = format!("{}/login/{provider}", self.app.settings().api_prefix);
        let login_js = serde_json::to_string(&login)
            .unwrap_or_default()
            .replace('<', "\\u003c");
        let mut r = Response::html(200, "Signing in", "Redirecting to sign in...");
        r.body = format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Signing in</title></head>\
             <body><p>Redirecting to sign in&hellip;</p>\
             <noscript><a href=\"{href}\">Sign in</a></noscript>\
             <script>location.replace({login_js} + \"?post_login_redirect_uri=\" + \
             encodeURIComponent(location.pathname + location.search + location.hash));</script>\
             </body></html>\n",
            href = http::html_escape(&login),
        )
        .into_bytes();
        r
    }
}

/// Is `location` the `requireHttps` redirect of `req` (`https://{host}{target}`)?
fn https_upgrade(req: &Request, location: &str) -> bool {
    location
        .strip_prefix("https://")
        .and_then(|rest| rest.strip_suffix(req.target))
        .is_some_and(|host| !host.is_empty() && !host.contains('/'))
}

/// Can this client follow a redirect to a login page? Scripts (XHR, fetch) and API calls
/// cannot; they get 401 instead.
fn follows_redirects(req: &Request) -> bool {
    if !matches!(req.method, "GET" | "HEAD") {
        return false;
    }
    if req
        .header("X-Requested-With")
        .is_some_and(|v| v.eq_ignore_ascii_case("XMLHttpRequest"))
    {
        return false;
    }
    if req
        .header("Sec-Fetch-Mode")
        .is_some_and(|v| !v.eq_ignore_ascii_case("navigate"))
    {
        return false;
    }
    !req.headers.iter().any(|(n, _)| {
        n.as_bytes()
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"x-zumo-"))
            || n.eq_ignore_ascii_case("zumo-api-version")
    })
}

/// The issuer a provider is configured with (its discovery document must name the same).
/// The `iss` of a bearer token that is a JWT made of `b64token` characters; `None` otherwise.
fn token_issuer(token: &str) -> Option<String> {
    if !challenge::is_b64token(token) {
        return None;
    }
    crate::crypto::jwt::parse(token)
        .ok()
        .and_then(|p| p.str_claim("iss").map(str::to_owned))
}

/// The request's `Origin`, when it names exactly one: two lines (which no browser sends) get
/// no CORS grant, whichever of them an allow-list would take.
fn sole_origin<'r>(req: &Request<'r>) -> Option<&'r str> {
    let mut lines = req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Origin"));
    match (lines.next(), lines.next()) {
        (Some((_, origin)), None) => Some(origin),
        _ => None,
    }
}

/// A CORS preflight: `OPTIONS` with `Access-Control-Request-Method`.
fn is_preflight(req: &Request) -> bool {
    req.method == "OPTIONS" && req.header("Access-Control-Request-Method").is_some()
}
