//! Identity providers behind one trait. OpenID Connect providers (Azure AD, custom ones) share
//! [`oidc::OidcProvider`]; providers that are not OpenID Connect will implement the same trait.
//! Methods that take an [`Io`] answer from caches on the host's event loop (`Io::CacheOnly`,
//! failing with `ProviderError::NeedsIo` on a miss) and may call the provider only in a
//! blocking step (`Io::Allowed`); the others (`authorize_url`, `finish_login`,
//! `end_session_url`, `refresh`) may block and are called only in a blocking step.

pub mod oidc;

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::providers::Flow;
use crate::config::Settings;
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

/// What the authorization request needs from the login state.
pub struct AuthorizeRequest<'a> {
    pub redirect_uri: &'a str,
    pub state: &'a str,
    pub nonce: &'a str,
    pub code_challenge: &'a str,
    /// Query parameters of the login request, passed on (they override configured ones).
    pub extra: &'a [(String, String)],
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

/// Tokens a provider issued.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tokens {
    pub access_token: Option<String>,
    pub id_token: Option<String>,
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
    pub tokens: Tokens,
}

pub trait Provider: Send + Sync {
    /// The name in `/.auth/login/{name}`.
    fn name(&self) -> &str;
    fn settings(&self) -> &crate::config::ProviderSettings;
    /// The URL to send the browser to.
    fn authorize_url(&self, req: &AuthorizeRequest) -> Result<String, ProviderError>;
    /// Redeems the authorization code and validates what comes back.
    fn finish_login(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
        nonce: &str,
    ) -> Result<Identity, ProviderError>;
    /// The issuer the provider's tokens carry.
    fn issuer(&self, io: Io) -> Result<String, ProviderError>;
    /// Validates a token this provider signed for this app, as `presented` by a client.
    fn validate_token(
        &self,
        token: &str,
        presented: Presented,
        io: Io,
    ) -> Result<Identity, ProviderError>;
    /// Where to send the browser to end the provider's own session (RP-initiated logout), if
    /// the provider offers it; it comes back to `post_logout_redirect_uri` (absolute). May
    /// fetch the provider's metadata; `None` when it cannot.
    fn end_session_url(
        &self,
        id_token_hint: Option<&str>,
        post_logout_redirect_uri: &str,
    ) -> Option<String>;
    /// Redeems a refresh token for new tokens. `Rejected` means the provider refused the grant
    /// (revoked, expired, reused); providers that cannot refresh answer `BadRequest`.
    fn refresh(&self, refresh_token: &str) -> Result<Tokens, ProviderError>;
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
    ) -> Providers {
        let list = settings
            .providers
            .iter()
            .map(|p| match p.flow {
                Flow::OpenIdConnect => Arc::new(oidc::OidcProvider::new(
                    p.clone(),
                    http.clone(),
                    clock.clone(),
                )) as Arc<dyn Provider>,
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
