//! Identity providers behind one trait, shaped by sign-in flows rather than by OpenID Connect:
//! a browser sign-in is begun and finished (correlated by `state`, or by OAuth 1.0a's
//! `oauth_token`), a client's token is validated, a bearer credential is recognized, tokens
//! are refreshed where the provider can. OpenID Connect providers (Azure AD, custom ones)
//! share [`oidc::OidcProvider`], which owns PKCE and the nonce check; how the app
//! authenticates at the token endpoint is a [`client_auth::ClientAuth`].
//!
//! Methods that take an [`Io`] answer from caches on the host's event loop (`Io::CacheOnly`,
//! failing with `ProviderError::NeedsIo` on a miss) and may call the provider only in a
//! blocking step (`Io::Allowed`); the others (`begin_login`, `finish_login`,
//! `end_session_url`, `refresh`) may block and are called only in a blocking step.

pub mod aad_tenants;
pub mod apple;
mod checks;
pub mod client_auth;
pub mod facebook;
pub mod github;
pub mod microsoft_account;
pub mod oauth1;
mod oauth2;
pub mod oidc;
pub mod twitter;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::config::{ProviderSettings, Settings};
use crate::io::Io;
use crate::outbound::{self, HttpClient};
use crate::store::Claim;

/// Why a provider step failed; each kind has the status the user sees.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderError {
    /// Could not connect or the connection broke: 502.
    Unreachable(String),
    /// The provider was too slow: 504.
    Timeout(String),
    /// The provider answered something unusable: 502.
    BadResponse(String),
    /// The provider or our validation refused the user's credential: 401.
    Rejected(String),
    /// The request itself is wrong (e.g. an authorization code that was already used): 400.
    BadRequest(String),
    /// The step needs I/O but was asked to use caches only ([`Io::CacheOnly`]): the pipeline
    /// then hands the request to the host's blocking step. Never shown to a user.
    NeedsIo,
}

impl ProviderError {
    pub fn status(&self) -> u16 {
        match self {
            ProviderError::Unreachable(_) | ProviderError::BadResponse(_) => 502,
            ProviderError::Timeout(_) => 504,
            ProviderError::Rejected(_) => 401,
            ProviderError::BadRequest(_) => 400,
            ProviderError::NeedsIo => 500,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            ProviderError::Unreachable(m)
            | ProviderError::Timeout(m)
            | ProviderError::BadResponse(m)
            | ProviderError::Rejected(m)
            | ProviderError::BadRequest(m) => m,
            ProviderError::NeedsIo => "a blocking step was needed",
        }
    }

    /// What the user's page says; details stay in the log.
    pub fn public_message(&self) -> &'static str {
        match self {
            ProviderError::Unreachable(_) => "The identity provider could not be reached.",
            ProviderError::Timeout(_) => "The identity provider did not answer in time.",
            ProviderError::BadResponse(_) => "The identity provider sent an invalid response.",
            ProviderError::Rejected(_) => {
                "Sign-in failed: the identity provider's answer was not accepted."
            }
            ProviderError::BadRequest(_) => "Sign-in failed: the request was not valid.",
            ProviderError::NeedsIo => "Internal error.",
        }
    }
}

/// Outbound HTTP's failures keep their kind (and so their status).
impl From<outbound::Error> for ProviderError {
    fn from(e: outbound::Error) -> ProviderError {
        match e {
            outbound::Error::Unreachable(m) => ProviderError::Unreachable(m),
            outbound::Error::Timeout(m) => ProviderError::Timeout(m),
            outbound::Error::BadResponse(m) => ProviderError::BadResponse(m),
        }
    }
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// What a provider keeps between [`Provider::begin_login`] and [`Provider::finish_login`]:
/// sealed into the login-state cookie with the module's own fields (the PKCE verifier of an
/// OpenID Connect login, the request-token secret of OAuth 1.0a). Only this browser holds it,
/// and only sealed.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Kept(BTreeMap<String, String>);

impl Kept {
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Kept {
        self.0.insert(name.to_owned(), value.into());
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// What the module brings to the start of a browser sign-in.
pub struct BeginLogin<'a> {
    /// This provider's callback URL, absolute.
    pub redirect_uri: &'a str,
    /// A fresh random value: the correlation for providers that send one back (`state`).
    pub state: &'a str,
    /// A nonce the module can recognize later (see `routes::login`): providers that issue ID
    /// tokens put it in the request, and their ID tokens must carry it.
    pub nonce: &'a str,
    /// Query parameters of the login request, passed on (they override configured ones).
    pub extra: &'a [(String, String)],
}

/// A started sign-in.
pub struct LoginStarted {
    /// Where to send the browser.
    pub url: String,
    /// The value the callback's correlation parameter will carry ([`Callback::correlation`]):
    /// the login-state cookie is named after it, and it is spent once.
    pub correlation: String,
    pub kept: Kept,
}

/// How a provider comes back to `/.auth/login/{name}/callback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Callback {
    /// The parameter naming the sign-in in progress: `state` (OAuth 2.0), `oauth_token`
    /// (OAuth 1.0a).
    pub correlation: &'static str,
    /// The parameter holding what is redeemed (`code`; OAuth 1.0a: `oauth_verifier`). A
    /// callback without it redeems nothing and spends nothing.
    pub proof: &'static str,
    /// How the provider says the user did not sign in.
    pub refusal: Refusal,
    /// The provider may answer with a cross-site `form_post`, which arrives without the
    /// SameSite login-state cookie: the callback then re-posts it from this origin.
    pub form_post: bool,
    /// The proof is a token (the implicit flow's id_token): it must come in a POST body,
    /// never in a URL, where proxies' logs and `Referer` headers would keep it.
    pub posted_only: bool,
}

/// How a provider comes back when the user did not sign in (cancelled, denied consent). Either
/// way the callback refuses with 401 once the login state matches, before anything is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A parameter beside the correlation names the error: OAuth 2.0's `error` (RFC 6749
    /// §4.1.2.1), with `state`.
    Beside(&'static str),
    /// A parameter in place of the correlation carries its value: Twitter's
    /// `denied=<request token>`, which comes back without `oauth_token`.
    InPlaceOf(&'static str),
}

impl Callback {
    /// OAuth 2.0's authorization-code callback: `state`, `code`, `error` (RFC 6749 §4.1.2).
    pub const OAUTH2: Callback = Callback {
        correlation: "state",
        proof: "code",
        refusal: Refusal::Beside("error"),
        form_post: false,
        posted_only: false,
    };
}

/// What a provider can do beyond signing users in through the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub callback: Callback,
    /// `/.auth/refresh` can renew its tokens (otherwise 400).
    pub refresh: bool,
    /// The bodies `POST /.auth/login/{name}` takes, in order of preference: each a set of
    /// fields that must all be present (`["id_token"]`, `["access_token"]`; Twitter's
    /// `["access_token", "access_token_secret"]`). Empty: no client-directed login.
    pub client_bodies: &'static [&'static [&'static str]],
}

/// How a client presents a provider's token: each use accepts different tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    /// `Authorization: Bearer` on an ordinary request: an access token for this app, obtained
    /// by this app or an allowed client application. Never an id_token: an id_token is proof
    /// of a sign-in for the client that received it, and ours travel in browser URLs
    /// (`id_token_hint` on logout).
    Bearer,
    /// `POST /.auth/login/{provider}`: the token a client SDK obtained (an id_token or an
    /// access token), exchanged for a session.
    ClientLogin,
}

/// An `Authorization: Bearer` credential, as the pipeline sees it before any provider looks.
pub struct Bearer<'a> {
    pub token: &'a str,
    /// The `iss` of a JWT, unverified (it only says which provider to ask); `None` for an
    /// opaque token.
    pub issuer: Option<&'a str>,
}

/// Tokens a provider issued.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tokens {
    pub access_token: Option<String>,
    /// OAuth 1.0a's token secret.
    pub access_token_secret: Option<String>,
    pub id_token: Option<String>,
    /// Microsoft Account's sign-in token (`X-MS-TOKEN-MICROSOFTACCOUNT-AUTHENTICATION-TOKEN`).
    pub authentication_token: Option<String>,
    pub refresh_token: Option<String>,
    /// Unix seconds.
    pub expires_at: Option<i64>,
}

/// A signed-in user as a provider vouches for them.
#[derive(Debug, Clone)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub claims: Vec<Claim>,
    /// The claim type whose value is the user's id for the application
    /// (`X-MS-CLIENT-PRINCIPAL-ID`): Azure AD's object id, others' name identifier.
    pub id_claim: &'static str,
    pub tokens: Tokens,
}

/// An identity provider, by the flows it signs users in with. Which methods may block is in
/// the module doc; defaults are what a provider without the capability answers.
pub trait Provider: Send + Sync {
    /// The provider's resolved configuration.
    fn settings(&self) -> &ProviderSettings;
    /// The name in `/.auth/login/{name}`.
    fn name(&self) -> &str {
        &self.settings().name
    }
    fn capabilities(&self) -> Capabilities;
    /// Starts a browser sign-in (may call the provider: OAuth 1.0a's request token, discovery).
    fn begin_login(&self, login: &BeginLogin) -> Result<LoginStarted, ProviderError>;
    /// Redeems the callback's parameters (query or `form_post` body; correlation and proof
    /// checked present) with what [`Provider::begin_login`] kept.
    fn finish_login(
        &self,
        params: &[(String, String)],
        redirect_uri: &str,
        kept: &Kept,
    ) -> Result<Identity, ProviderError>;
    /// Validates what a client posted to `POST /.auth/login/{name}`: `fields` are the
    /// non-empty values of one of [`Capabilities::client_bodies`], in its order. The identity's
    /// tokens are what may be kept: only what was validated.
    fn validate_client_token(
        &self,
        _fields: &[(&str, &str)],
        _io: Io,
    ) -> Result<Identity, ProviderError> {
        Err(ProviderError::BadRequest(format!(
            "{} takes no client-directed login",
            self.name()
        )))
    }
    /// Is this bearer credential this provider's to judge? (A JWT by its issuer; an opaque
    /// token only for providers whose API validates them.) May need metadata: `NeedsIo`.
    fn accepts_bearer(&self, _bearer: &Bearer, _io: Io) -> Result<bool, ProviderError> {
        Ok(false)
    }
    /// Validates a bearer credential [`Provider::accepts_bearer`] took.
    fn validate_bearer(&self, _token: &str, _io: Io) -> Result<Identity, ProviderError> {
        Err(ProviderError::Rejected(format!(
            "{} takes no bearer tokens",
            self.name()
        )))
    }
    /// Where to send the browser to end the provider's own session (RP-initiated logout), if
    /// the provider offers it; it comes back to `post_logout_redirect_uri` (absolute). May
    /// fetch the provider's metadata; `None` when it cannot.
    fn end_session_url(
        &self,
        _id_token_hint: Option<&str>,
        _post_logout_redirect_uri: &str,
    ) -> Option<String> {
        None
    }
    /// Claim types the provider gives on a user's first sign-in only (Apple's name): a later
    /// sign-in without them keeps them from the user's stored record.
    fn claims_given_once(&self) -> &'static [&'static str] {
        &[]
    }
    /// Redeems a refresh token for new tokens. `Rejected` means the provider refused the grant
    /// (revoked, expired, reused). Called only when [`Capabilities::refresh`] says so.
    fn refresh(&self, _refresh_token: &str) -> Result<Tokens, ProviderError> {
        Err(ProviderError::BadRequest(format!(
            "{} cannot refresh tokens",
            self.name()
        )))
    }
}

/// Which provider type runs a resolved provider: its constructor, named. Each type exports its
/// own ([`oidc::FLOW`], [`github::FLOW`], [`twitter::FLOW`]) and the configuration's resolver for a kind picks it,
/// so a new provider type is its file and the resolver naming it: no list of flows to extend.
#[derive(Clone, Copy)]
pub struct Flow {
    /// For logs and tests (`OpenID Connect`, `GitHub`).
    pub name: &'static str,
    pub build: Build,
}

/// Makes a provider of its settings, calling out through the client, telling time by the clock.
pub type Build = fn(ProviderSettings, Arc<dyn HttpClient>, Arc<dyn Clock>) -> Arc<dyn Provider>;

impl std::fmt::Debug for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for Flow {
    fn eq(&self, other: &Flow) -> bool {
        self.name == other.name
    }
}

/// The configured providers, looked up by name (case-insensitive, as App Service does).
pub struct Providers {
    list: Vec<Arc<dyn Provider>>,
}

impl Providers {
    /// The configured providers, calling out through `http`, telling time by `clock`.
    pub fn from_settings(
        settings: &Settings,
        http: &Arc<dyn HttpClient>,
        clock: &Arc<dyn Clock>,
        metrics: &Arc<crate::metrics::Metrics>,
    ) -> Providers {
        // Each provider's calls are counted under its name (its index in the configuration).
        let list = settings
            .providers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (p.flow.build)(p.clone(), metrics.measured(i, http.clone()), clock.clone())
            })
            .collect();
        Providers { list }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Provider>> {
        self.list.iter()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.list
            .iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }
}
