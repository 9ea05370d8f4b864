//! The loaded application: settings, providers, token store, logger, the replay guard and the
//! caches, shared by every request (thread-safe, immutable but for caches). Route handlers and
//! the pipeline both depend on it; it depends on neither (see `tests/layering.rs`).

use std::sync::Arc;

use crate::cache::{self, BoundedCache};
use crate::challenge;
use crate::clock::{Clock, SystemClock};
use crate::config::{ConfigError, Settings};
use crate::flight::SingleFlight;
use crate::headers;
use crate::http::{HeaderGroup, Origin, Outcome, Response};
use crate::io::Io;
use crate::logger::Logger;
use crate::metrics::Metrics;
use crate::outbound::{HttpClient, UreqClient};
use crate::providers::{Presented, Provider, Providers};
use crate::redirect::{self, RedirectError};
use crate::replay::UsedOnce;
use crate::reply;
use crate::session::{self, Caller, Credential};
use crate::store::{self, Cached, Claim, StoreError, TokenRecord, TokenStore};

pub struct App {
    settings: Settings,
    providers: Providers,
    store: Option<Box<dyn TokenStore>>,
    log: Logger,
    clock: Arc<dyn Clock>,
    /// Login states already redeemed in this process, until they expire: a replayed callback
    /// is refused even when the browser still holds the state cookie.
    used_states: UsedOnce,
    /// Session cookies already opened, by the tail of their value.
    pub(crate) sessions: BoundedCache<CachedSession>,
    /// Rendered token headers per user, with the record they were rendered from.
    token_groups: BoundedCache<RenderedTokens>,
    /// Per user, the time before which no refresh ahead of expiry is tried again (one failed,
    /// or the provider's tokens live shorter than the window): see [`crate::routes::fresh`].
    refresh_backoff: BoundedCache<i64>,
    /// Refreshes in flight, per user: the new expiry or the refusal, shared with waiters.
    refreshes: SingleFlight<Result<Option<i64>, Response>>,
    /// `authorization_uri="…"` of App Service's Azure AD challenge; `None` without Azure AD or
    /// with `login.disableWWWAuthenticate`.
    aad_discovery: Option<String>,
    /// Counters and histograms: the store and the providers' HTTP clients count into it too.
    metrics: Arc<Metrics>,
}

/// Why a session token was not taken.
#[derive(Debug)]
pub enum TokenRefusal {
    /// It is not valid here (the log line's reason).
    Invalid(String),
    /// The user's record is needed and only the blocking step may read it.
    NeedsIo,
}

/// How many requests may wait for one user's refresh in flight (beyond: 429).
const MAX_REFRESH_WAITERS: usize = 8;

/// Memory for the refresh back-off entries (about 100 bytes each: some 10,000 users).
const REFRESH_BACKOFF_BYTES: usize = 1 << 20;

/// A user's `X-MS-TOKEN-*` headers as rendered from `record`, and its `expires_on` as Unix
/// seconds (read once per record, so the per-request freshness check compares numbers).
pub(crate) struct RenderedTokens {
    record: Arc<TokenRecord>,
    group: HeaderGroup,
    expires_at: Option<i64>,
}

/// Bound on remembered states in one process; beyond it the oldest are forgotten early.
const MAX_USED_STATES: usize = 10_000;

/// An opened session cookie: its full value (to compare), expiry, and the caller it makes.
pub(crate) struct CachedSession {
    pub(crate) cookie: String,
    pub(crate) exp: i64,
    pub(crate) caller: Caller,
}

impl CachedSession {
    /// What the entry holds on the heap, for the cache's byte bound.
    fn heap_bytes(&self) -> usize {
        let p = &self.caller.principal;
        self.cookie.len()
            + std::mem::size_of::<crate::session::Principal>()
            + [&p.sid, &p.idp, &p.id, &p.name, &p.header]
                .iter()
                .map(|s| s.len())
                .sum::<usize>()
            + cache::headers_bytes(&self.caller.headers)
            + self.caller.session.as_ref().map_or(0, |s| s.id.len())
    }
}

impl App {
    /// The configured app: the configured store, outbound HTTP on ureq.
    pub fn new(settings: Settings, log: Logger) -> Result<App, ConfigError> {
        let budget = cache::Budget::of(settings.cache_bytes);
        let store = store::open(
            settings.token_store.as_ref(),
            &settings.keys,
            budget.records,
            &log,
        )?;
        Ok(App::with_store(settings, log, store))
    }

    /// The app over a store made elsewhere (tests: a backend the configuration cannot name,
    /// such as a remote store's stand-in), with outbound HTTP on ureq.
    pub fn with_store(settings: Settings, log: Logger, store: Option<Box<dyn TokenStore>>) -> App {
        let http: Arc<dyn HttpClient> = Arc::new(UreqClient::new(
            settings.http_connect_timeout,
            settings.http_timeout,
        ));
        App::from_parts(settings, http, store, log, Arc::new(SystemClock))
    }

    /// The app from its parts: every way of making one ends here, so a test can put doubles
    /// (a scripted provider behind `http`, an in-memory store, a clock it sets) where the world
    /// would be.
    pub fn from_parts(
        settings: Settings,
        http: Arc<dyn HttpClient>,
        store: Option<Box<dyn TokenStore>>,
        log: Logger,
        clock: Arc<dyn Clock>,
    ) -> App {
        let budget = cache::Budget::of(settings.cache_bytes);
        let metrics = Arc::new(Metrics::new(
            settings.providers.iter().map(|p| p.name.clone()).collect(),
        ));
        if let Some(store) = &store {
            store.measure(&metrics);
        }
        App {
            providers: Providers::from_settings(&settings, &http, &clock, &metrics),
            metrics,
            clock,
            aad_discovery: challenge::aad_discovery(&settings.providers),
            settings,
            store,
            log,
            used_states: UsedOnce::new(MAX_USED_STATES),
            sessions: BoundedCache::new(budget.sessions, CachedSession::heap_bytes),
            token_groups: BoundedCache::new(budget.token_groups, |t| {
                t.record.approx_bytes() + cache::headers_bytes(&t.group)
            }),
            refresh_backoff: BoundedCache::new(REFRESH_BACKOFF_BYTES, |_| 0),
            refreshes: SingleFlight::new(MAX_REFRESH_WAITERS),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    pub fn store(&self) -> Option<&dyn TokenStore> {
        self.store.as_deref()
    }

    pub fn log(&self) -> &Logger {
        &self.log
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The time, in Unix seconds, by the app's clock: what every time comparison on the request
    /// path uses.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn refreshes(&self) -> &SingleFlight<Result<Option<i64>, Response>> {
        &self.refreshes
    }

    /// The `X-MS-TOKEN-*` headers of a user and the access token's expiry (Unix seconds, when
    /// the record says), rendered once per stored record: the store hands out the same `Arc`
    /// while the record is unchanged.
    pub fn rendered_tokens(
        &self,
        sid: &str,
        record: &Arc<TokenRecord>,
    ) -> (HeaderGroup, Option<i64>) {
        if let Some(hit) = self.token_groups.lock().get(sid) {
            if Arc::ptr_eq(&hit.record, record) {
                return (Arc::clone(&hit.group), hit.expires_at);
            }
        }
        let mut rendered = Vec::with_capacity(6);
        headers::token_headers(record, &mut rendered);
        let group: HeaderGroup = rendered.into();
        let expires_at = record
            .expires_on
            .as_deref()
            .and_then(store::parse_expires_on);
        self.token_groups.insert(
            sid.to_owned(),
            RenderedTokens {
                record: Arc::clone(record),
                group: Arc::clone(&group),
                expires_at,
            },
        );
        (group, expires_at)
    }

    /// Until when (Unix seconds) no refresh ahead of expiry is tried for `sid`; 0: no limit.
    pub fn refresh_backoff(&self, sid: &str) -> i64 {
        self.refresh_backoff.lock().get(sid).copied().unwrap_or(0)
    }

    /// No refresh ahead of expiry is tried for `sid` before `until`.
    pub fn back_off_refresh(&self, sid: &str, until: i64) {
        self.refresh_backoff.insert(sid.to_owned(), until);
    }

    /// App Service's Azure AD challenge parameter for 401s: `None` without Azure AD or with
    /// `login.disableWWWAuthenticate`.
    pub fn aad_discovery(&self) -> Option<&str> {
        self.aad_discovery.as_deref()
    }

    /// Applies the provider's allow-lists (Azure AD's group, identity and application checks)
    /// to a signed-in identity: 403 when they refuse it. A token a client `presented` must
    /// also come from this app or an allowed client application.
    pub fn authorize(
        &self,
        provider: &dyn Provider,
        claims: &[Claim],
        presented: Option<Presented>,
    ) -> Result<(), Response> {
        let settings = provider.settings();
        let rules = &settings.authorization;
        presented
            .map_or(Ok(()), |_| rules.check_client(claims, &settings.client_id))
            .and_then(|()| rules.check(claims, &settings.client_id))
            .map_err(|why| {
                reply::refusal(
                    &self.log,
                    403,
                    &format!("{}: access denied: {why}", provider.name()),
                    "You do not have permission to use this application.",
                )
            })
    }

    /// The redirect target the client asked for in `parameter`, validated, or `default` when
    /// it asked for none; a refused target is a 400 (never a redirect), with the reason logged.
    pub fn redirect_target(
        &self,
        origin: &Origin,
        requested: Option<&str>,
        default: String,
        parameter: &str,
    ) -> Result<String, Outcome> {
        let Some(target) = requested else {
            return Ok(default);
        };
        self.validate_redirect(origin, target).map_err(|why| {
            reply::refuse(
                &self.log,
                400,
                &format!("{parameter} {target:?} refused: {why}"),
                "The redirect target is not allowed.",
            )
        })
    }

    pub fn validate_redirect(
        &self,
        origin: &Origin,
        target: &str,
    ) -> Result<String, RedirectError> {
        redirect::validate(
            target,
            &origin.as_redirect_origin(),
            &self.settings.allowed_external_redirect_urls,
        )
    }

    /// Marks a login state as redeemed; false if it already was, in this process or (with a
    /// token store) in any other process sharing the store.
    pub fn consume_state(&self, state: &str, exp: i64) -> bool {
        if !self.used_states.first_use(state, exp, self.now()) {
            return false;
        }
        match self.store() {
            None => true,
            Some(store) => match store.claim_once(state, exp) {
                Ok(first) => first,
                Err(e) => {
                    // Refusing would lock everyone out while the store is down; the provider
                    // still refuses a reused code.
                    self.log
                        .error(format_args!("could not record a used login state: {e}"));
                    true
                }
            },
        }
    }

    /// The user's record as far as `io` allows: on the event loop ([`Io::CacheOnly`]) what the
    /// store knows without waiting ([`Cached::NeedsIo`] when only a remote read can tell), in
    /// the blocking step the stored record. A missing, unreadable or foreign entry reads as
    /// [`Cached::Absent`] (and is logged).
    /// Judges an `X-ZUMO-AUTH` token, wherever it arrives (the header, the legacy
    /// `POST /.auth/login`): one of our session tokens (its provider still configured, its
    /// session not signed out: the caller carries the record read for that), or a custom
    /// authentication token the app minted. `grace`: seconds past expiry still accepted.
    pub fn session_token(
        &self,
        token: &str,
        audience: &str,
        grace: i64,
        io: Io,
    ) -> Result<Caller, TokenRefusal> {
        let settings = self.settings();
        let session = match session::verify_zumo(
            token.trim(),
            &settings.keys,
            audience,
            &settings.app_id,
            self.now(),
            grace,
        )
        .map_err(|e| TokenRefusal::Invalid(e.0))?
        {
            session::ZumoToken::Session(session) => session,
            session::ZumoToken::Custom(principal) => {
                self.log.debug(format_args!(
                    "X-ZUMO-AUTH: custom authentication token of {:?} (idp {})",
                    principal.id, principal.idp
                ));
                return Ok(Caller::custom(principal));
            }
        };
        if self.providers().get(&session.principal.idp).is_none() {
            return Err(TokenRefusal::Invalid(
                "X-ZUMO-AUTH: provider no longer configured".into(),
            ));
        }
        let mut caller = Caller::from_session(session, Credential::SessionToken);
        if self.signed_out(&mut caller, io)? {
            return Err(TokenRefusal::Invalid(
                "X-ZUMO-AUTH: the session was signed out".into(),
            ));
        }
        Ok(caller)
    }

    /// Reads the caller's record (kept on the caller: its tokens and revocations) and says
    /// whether its session was signed out. No session or no store: not signed out. A record
    /// that does not open counts as signed out (it cannot vouch); a store that cannot be read
    /// (an outage) does not, and marks the caller `store_unavailable`.
    pub fn signed_out(&self, caller: &mut Caller, io: Io) -> Result<bool, TokenRefusal> {
        let (Some(store), Some(at)) = (self.store(), &caller.session) else {
            return Ok(false);
        };
        let sid = &caller.principal.sid;
        caller.record = match self.record(store, sid, io) {
            Ok(Cached::Hit(record)) => Some(record),
            Ok(Cached::Absent) => None,
            Ok(Cached::NeedsIo) => return Err(TokenRefusal::NeedsIo),
            Err(StoreError::Corrupt(why)) => {
                // The record that would tell whether this session was signed out is there but
                // does not open (tampered, truncated, oversized): refuse rather than guess. A
                // new sign-in replaces the entry.
                self.log.warn(format_args!(
                    "session of {sid} refused: its token store entry is unreadable: {why}"
                ));
                return Ok(true);
            }
            Err(e) => {
                self.log
                    .warn(format_args!("tokens of {sid} unavailable: {e}"));
                caller.store_unavailable = true;
                None
            }
        };
        Ok(caller
            .record
            .as_ref()
            .is_some_and(|r| r.revoked.revokes(&at.id, at.iat)))
    }

    /// The user's record as far as `io` allows.
    fn record(&self, store: &dyn TokenStore, sid: &str, io: Io) -> Result<Cached, StoreError> {
        match io {
            Io::CacheOnly => store.cached(sid),
            Io::Allowed => store
                .load(sid)
                .map(|r| r.map_or(Cached::Absent, Cached::Hit)),
        }
    }
}
