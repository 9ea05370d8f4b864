//! OpenID Connect (authorization code flow with PKCE), shared by Azure AD, Google, Apple, Microsoft Account and custom
//! providers: cached discovery and JWKS, the token request, and id_token validation. Azure AD
//! without a client credential signs in as App Service does then: the implicit flow, an
//! id_token posted back (`response_type=id_token`, `response_mode=form_post`), no token
//! endpoint, nothing to refresh.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;

use super::aad_tenants::{MultiTenant, PLACEHOLDER};
use super::{
    Bearer, BeginLogin, Callback, Capabilities, Flow, Identity, Kept, LoginStarted, Presented,
    Provider, ProviderError, Tokens,
};
use crate::clock::Clock;
use crate::config::{Endpoints, ProviderSettings};
use crate::crypto::jwt::{self, Jwks};
use crate::io::Io;
use crate::outbound::{self, HttpClient};
use crate::session::claims;

/// Azure AD, Google and custom OpenID Connect providers.
pub const FLOW: Flow = Flow {
    name: "OpenID Connect",
    build: |settings, http, clock| Arc::new(OidcProvider::new(settings, http, clock)),
};

/// Azure AD without a client credential: the implicit flow App Service uses then.
pub const IMPLICIT_FLOW: Flow = Flow {
    name: "OpenID Connect implicit (id_token, form_post)",
    build: |settings, http, clock| {
        let mut provider = OidcProvider::new(settings, http, clock);
        provider.implicit = true;
        Arc::new(provider)
    },
};

/// The implicit flow's callback: the id_token is the proof, posted with `state`.
const IMPLICIT_CALLBACK: Callback = Callback {
    correlation: "state",
    proof: "id_token",
    refusal: super::Refusal::Beside("error"),
    form_post: true,
    posted_only: true,
};

/// Discovery documents are re-read this often.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// An unknown `kid` triggers a JWKS re-fetch at most this often (key rotation, not abuse).
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    /// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0), when offered.
    end_session_endpoint: Option<String>,
    /// The provider names itself in every authorization response (`iss`, RFC 9207), so a
    /// callback without it is refused.
    sends_iss: bool,
    /// Azure AD's multi-tenant issuers: `issuer` is the document's template, checked to be
    /// the configured one's (see `aad_tenants`).
    tenants: Option<MultiTenant>,
}

struct Cached<T> {
    value: Arc<T>,
    /// When, by the provider's clock (Unix seconds).
    fetched: i64,
}

/// The caches' locks guard only reading and replacing an `Arc`: no lock is ever held across a
/// network call, so a slow provider never delays a request that can be served from the cache
/// (the host's event loop). Two blocking steps that miss at once may both fetch; the later
/// answer wins, and both are current.
pub struct OidcProvider {
    settings: ProviderSettings,
    http: Arc<dyn HttpClient>,
    clock: Arc<dyn Clock>,
    metadata: Mutex<Option<Cached<Metadata>>>,
    jwks: Mutex<Option<Cached<Jwks>>>,
    jwks_refetch_interval: Duration,
    /// Signs in with the implicit flow ([`IMPLICIT_FLOW`]): no code, no token endpoint.
    implicit: bool,
}

impl OidcProvider {
    pub fn new(
        settings: ProviderSettings,
        http: Arc<dyn HttpClient>,
        clock: Arc<dyn Clock>,
    ) -> OidcProvider {
        OidcProvider {
            settings,
            http,
            clock,
            metadata: Mutex::new(None),
            jwks: Mutex::new(None),
            jwks_refetch_interval: JWKS_REFETCH_INTERVAL,
            implicit: false,
        }
    }

    /// Was something fetched at `fetched` less than `age` ago? A clock that went back makes
    /// it old: it is fetched again rather than trusted for longer.
    fn younger_than(&self, fetched: i64, age: Duration) -> bool {
        let elapsed = self.clock.now().saturating_sub(fetched);
        (0..age.as_secs() as i64).contains(&elapsed)
    }

    /// Tests: how soon a token naming an unknown key may trigger another JWKS fetch.
    #[doc(hidden)]
    pub fn with_jwks_refetch_interval(mut self, interval: Duration) -> OidcProvider {
        self.jwks_refetch_interval = interval;
        self
    }

    fn metadata(&self, io: Io) -> Result<Arc<Metadata>, ProviderError> {
        let (url, expected_issuer) = match &self.settings.endpoints {
            Endpoints::Explicit {
                issuer,
                authorization,
                token,
                jwks,
            } => {
                return Ok(Arc::new(Metadata {
                    issuer: issuer.clone(),
                    authorization_endpoint: authorization.clone(),
                    token_endpoint: token.clone(),
                    jwks_uri: jwks.clone(),
                    end_session_endpoint: None,
                    sends_iss: false,
                    tenants: None,
                }))
            }
            Endpoints::Discovery { url, issuer } => (url, issuer),
            Endpoints::OAuth2 { .. } | Endpoints::OAuth1 { .. } => {
                return Err(ProviderError::BadResponse(format!(
                    "{} has no OpenID Connect endpoints",
                    self.settings.name
                )))
            }
        };
        // The lock is taken for the look-up only, and again to store what was fetched.
        let cached = self
            .metadata
            .lock()
            .as_ref()
            .map(|c| (c.value.clone(), c.fetched));
        if let Some((value, fetched)) = &cached {
            if self.younger_than(*fetched, METADATA_TTL) || io == Io::CacheOnly {
                return Ok(value.clone());
            }
        }
        if io == Io::CacheOnly {
            return Err(ProviderError::NeedsIo);
        }
        let fetched = self
            .http
            .get_json(url)
            .map_err(ProviderError::from)
            .and_then(|doc| {
                parse_metadata(url, expected_issuer, self.settings.tenants.as_ref(), &doc)
            });
        match fetched {
            Ok(m) => {
                let value = Arc::new(m);
                *self.metadata.lock() = Some(Cached {
                    value: value.clone(),
                    fetched: self.clock.now(),
                });
                Ok(value)
            }
            // A provider that is down for a moment keeps working with what we knew.
            Err(e) => cached.map(|(value, _)| value).ok_or(e),
        }
    }

    /// The provider's keys; `refresh` re-fetches them (rate-limited) when a token names a key
    /// we do not know, which is how providers roll keys over.
    fn jwks(
        &self,
        meta: &Metadata,
        wanted_kid: Option<&str>,
        io: Io,
    ) -> Result<Arc<Jwks>, ProviderError> {
        // The lock is taken for the look-up only, and again to store what was fetched: never
        // across the fetch, which a cache-only caller (the event loop) must not wait for.
        let cached = self
            .jwks
            .lock()
            .as_ref()
            .map(|c| (c.value.clone(), c.fetched));
        if let Some((value, fetched)) = cached {
            let knows = wanted_kid.is_none_or(|k| value.has_kid(k));
            if (knows && (self.younger_than(fetched, METADATA_TTL) || io == Io::CacheOnly))
                || self.younger_than(fetched, self.jwks_refetch_interval)
            {
                return Ok(value);
            }
        }
        // Keys are fetched only in a blocking step.
        if io == Io::CacheOnly {
            return Err(ProviderError::NeedsIo);
        }
        let doc = self.http.get_json(&meta.jwks_uri)?;
        let jwks = Jwks::from_json(&doc)
            .map_err(|e| ProviderError::BadResponse(format!("{}: {e}", meta.jwks_uri)))?;
        let value = Arc::new(jwks);
        *self.jwks.lock() = Some(Cached {
            value: value.clone(),
            fetched: self.clock.now(),
        });
        Ok(value)
    }

    /// Validates an id_token: signature by the provider's JWKS (no `none`, no HMAC), issuer,
    /// audience (and `azp` when several audiences), lifetime and nonce.
    pub fn validate_id_token(
        &self,
        token: &str,
        nonce: Option<&str>,
    ) -> Result<serde_json::Map<String, Value>, ProviderError> {
        self.validate_jwt(token, nonce, None, &[], Io::Allowed)
    }

    /// Validates a token the provider signed: the id_token of a login (with its nonce), or a
    /// token a client `presented` (client-directed login, `Authorization: Bearer`), which may
    /// also be addressed to one of `extra_audiences`.
    fn validate_jwt(
        &self,
        token: &str,
        nonce: Option<&str>,
        presented: Option<Presented>,
        extra_audiences: &[String],
        io: Io,
    ) -> Result<serde_json::Map<String, Value>, ProviderError> {
        let reject = |why: String| ProviderError::Rejected(format!("token refused: {why}"));
        // What is not a JWT is refused before the provider is asked for its metadata.
        let parsed = jwt::parse(token).map_err(|e| reject(e.to_string()))?;
        let meta = self.metadata(io)?;
        let jwks = self.jwks(&meta, parsed.kid(), io)?;
        parsed
            .verify_with_jwks(&jwks)
            .map_err(|e| reject(e.to_string()))?;
        self.check_token_issuer(&meta, &parsed).map_err(reject)?;
        let client_id = &self.settings.client_id;
        let audience_ok = parsed.has_audience(client_id)
            || extra_audiences.iter().any(|a| parsed.has_audience(a));
        if !audience_ok {
            return Err(reject(format!("audience does not include {client_id:?}")));
        }
        if nonce.is_some() {
            if let Some(azp) = parsed.str_claim("azp") {
                if azp != client_id {
                    return Err(reject(format!("azp {azp:?} is not this client")));
                }
            }
        }
        if let Some(presented) = presented {
            self.check_presented(&parsed, presented).map_err(reject)?;
        }
        parsed
            .check_lifetime(self.clock.now(), jwt::CLOCK_SKEW, jwt::CLOCK_SKEW)
            .map_err(|e| reject(e.to_string()))?;
        if let Some(expected) = nonce {
            let got = parsed.str_claim("nonce").unwrap_or("");
            if !crate::crypto::ct_eq(got.as_bytes(), expected.as_bytes()) {
                return Err(reject("nonce does not match the login".into()));
            }
        }
        if parsed.str_claim("sub").is_none_or(str::is_empty) {
            return Err(reject("no sub claim".into()));
        }
        Ok(parsed.claims)
    }
}

impl OidcProvider {
    /// RFC 9207: an authorization response that names an issuer must name this provider's
    /// (a mix-up attack hands one provider's code to another's callback); one that does not
    /// is refused when the provider says it always does.
    fn check_response_issuer(&self, iss: Option<&str>) -> Result<(), ProviderError> {
        let meta = self.metadata(Io::Allowed)?;
        match iss {
            Some(iss) if !self.is_issuer(&meta, iss) => Err(ProviderError::Rejected(format!(
                "the callback's iss {iss:?} is not the issuer {:?} (RFC 9207)",
                meta.issuer
            ))),
            None if meta.sends_iss => Err(ProviderError::Rejected(
                "the callback has no iss, which the provider always sends (RFC 9207)".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Is `iss` the provider's issuer, as discovered or in a configured other spelling? Under
    /// a multi-tenant template: an allowed tenant's issuer (the token's `tid` is checked with
    /// its signature, in [`OidcProvider::check_token_issuer`]).
    fn is_issuer(&self, meta: &Metadata, iss: &str) -> bool {
        match &meta.tenants {
            Some(tenants) => tenants.matches(&meta.issuer, iss),
            None => iss == meta.issuer || self.settings.issuer_aliases.iter().any(|a| a == iss),
        }
    }

    /// A signed token's `iss`: the provider's issuer exactly; under a multi-tenant template,
    /// exactly the issuer of the tenant its `tid` names, an allowed one.
    fn check_token_issuer(&self, meta: &Metadata, parsed: &jwt::Parsed) -> Result<(), String> {
        let iss = parsed.str_claim("iss").unwrap_or("");
        match &meta.tenants {
            Some(tenants) => {
                let expected = tenants.issuer_for(&meta.issuer, parsed.str_claim("tid"))?;
                if iss != expected {
                    return Err(format!(
                        "issuer {iss:?} is not {expected:?}, the issuer of the token's tenant"
                    ));
                }
            }
            None if !self.is_issuer(meta, iss) => {
                return Err(format!("issuer {iss:?} is not {:?}", meta.issuer))
            }
            None => {}
        }
        Ok(())
    }

    /// Validates a token a client presents, which may also be addressed to one of the allowed
    /// audiences.
    fn validate_presented(
        &self,
        token: &str,
        presented: Presented,
        io: Io,
    ) -> Result<serde_json::Map<String, Value>, ProviderError> {
        self.validate_jwt(
            token,
            None,
            Some(presented),
            &self.settings.allowed_audiences,
            io,
        )
    }

    /// The identity validated `claims` describe (their `sub` is checked present). Its issuer
    /// is the provider's, or under a multi-tenant template the user's tenant's (the token's
    /// checked `iss`).
    fn identity(
        &self,
        jwt_claims: &serde_json::Map<String, Value>,
        tokens: Tokens,
        io: Io,
    ) -> Result<Identity, ProviderError> {
        let meta = self.metadata(io)?;
        let issuer = match (&meta.tenants, jwt_claims.get("iss").and_then(Value::as_str)) {
            (Some(_), Some(iss)) => iss.to_owned(),
            _ => meta.issuer.clone(),
        };
        Ok(Identity {
            issuer,
            subject: jwt_claims
                .get("sub")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            claims: claims::from_jwt(jwt_claims),
            id_claim: self.settings.id_claim_type,
            tokens,
        })
    }

    /// What a bearer token must be beyond a valid signature and audience: an access token.
    /// (Which client obtained it is the allow-lists' question: see `Authorization`.)
    fn check_presented(&self, parsed: &jwt::Parsed, presented: Presented) -> Result<(), String> {
        if presented == Presented::Bearer {
            if parsed.claims.contains_key("nonce") {
                return Err(
                    "an id_token of an interactive sign-in (it has a nonce) is not a \
                            bearer credential"
                        .into(),
                );
            }
            if !is_access_token(parsed) {
                return Err(
                    "an id_token is not accepted as a bearer token: send an access \
                            token (typ at+jwt, or scp/scope/roles claims)"
                        .into(),
                );
            }
        }
        Ok(())
    }
}

/// Does this JWT say it is an access token? RFC 9068 types it `at+jwt`; Azure AD's access
/// tokens (v1 and v2) carry `scp` (delegated) or `roles` with the calling app (`appid`/`azp`),
/// which its id_tokens never do together; other providers name the granted `scope`.
fn is_access_token(parsed: &jwt::Parsed) -> bool {
    let typ = parsed
        .header
        .get("typ")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    let has = |c: &str| parsed.claims.contains_key(c);
    typ == "at+jwt"
        || typ == "application/at+jwt"
        || has("scp")
        || has("scope")
        || (has("roles") && (has("appid") || has("azp")))
}

/// Reads a discovery document: its `issuer` must be exactly the configured one (OpenID Connect
/// Discovery 1.0 §4.3: a document served elsewhere cannot speak for this issuer), or for a
/// multi-tenant issuer (`tenants`) the template Azure AD names there; and every endpoint it
/// names must be https (plain http only to loopback hosts).
fn parse_metadata(
    url: &str,
    expected_issuer: &str,
    tenants: Option<&MultiTenant>,
    doc: &Value,
) -> Result<Metadata, ProviderError> {
    let bad = |why: String| ProviderError::BadResponse(format!("{url}: discovery document {why}"));
    let field = |name: &str| -> Result<Option<String>, ProviderError> {
        match doc.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(bad(format!("has an invalid {name}"))),
        }
    };
    let required = |name: &str| field(name)?.ok_or_else(|| bad(format!("lacks {name}")));
    let check = |name: &str, v: &str| {
        outbound::check_endpoint(v).map_err(|why| bad(format!("{name}: {why}")))
    };
    let endpoint = |name: &str| -> Result<String, ProviderError> {
        let v = required(name)?;
        check(name, &v)?;
        Ok(v)
    };
    let issuer = required("issuer")?;
    match tenants {
        Some(tenants) => tenants.check_template(&issuer).map_err(bad)?,
        // A template is never an issuer compared as text: tokens would name it literally.
        None if issuer.contains(PLACEHOLDER) => {
            return Err(bad(format!(
                "names the template {issuer:?}: configure a multi-tenant issuer (common, \
                 organizations, consumers) or the tenant's own"
            )))
        }
        None if issuer != expected_issuer => {
            return Err(bad(format!(
                "names the issuer {issuer:?}, not the configured {expected_issuer:?} \
                 (they must be identical)"
            )))
        }
        None => {}
    }
    let end_session_endpoint = field("end_session_endpoint")?;
    if let Some(v) = &end_session_endpoint {
        check("end_session_endpoint", v)?;
    }
    Ok(Metadata {
        issuer,
        authorization_endpoint: endpoint("authorization_endpoint")?,
        token_endpoint: endpoint("token_endpoint")?,
        jwks_uri: endpoint("jwks_uri")?,
        end_session_endpoint,
        sends_iss: doc
            .get("authorization_response_iss_parameter_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        tenants: tenants.cloned(),
    })
}

/// `response_mode` is the module's, but the configuration may ask for `form_post` (Azure AD's
/// and Apple's way of returning the code in a cross-site `POST`; the callback takes both, see
/// `routes::repost`) or `query` (the default). `fragment` never reaches a server: dropped.
fn is_configured_response_mode(name: &str, value: &str) -> bool {
    name == "response_mode" && matches!(value, "form_post" | "query")
}

impl Provider for OidcProvider {
    fn settings(&self) -> &ProviderSettings {
        &self.settings
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            callback: if self.implicit {
                IMPLICIT_CALLBACK
            } else {
                Callback {
                    form_post: true,
                    ..Callback::OAUTH2
                }
            },
            // The implicit flow yields no refresh token.
            refresh: !self.implicit,
            client_bodies: if self.settings.client_codes {
                CLIENT_BODIES_WITH_CODES
            } else {
                &[&["id_token"], &["access_token"]]
            },
        }
    }

    /// The authorization code flow with PKCE (S256) and the module's nonce; the verifier and
    /// the nonce are kept for the callback. The implicit flow asks for an id_token posted back
    /// (`response_mode=form_post` whatever is configured: a token never travels in a query)
    /// and keeps the nonce only.
    fn begin_login(&self, login: &BeginLogin) -> Result<LoginStarted, ProviderError> {
        let meta = self.metadata(Io::Allowed)?;
        let mut url = url::Url::parse(&meta.authorization_endpoint).map_err(|_| {
            ProviderError::BadResponse(format!(
                "authorization endpoint {:?} is not a URL",
                meta.authorization_endpoint
            ))
        })?;
        let verifier = crate::crypto::random_token(32);
        let challenge = crate::crypto::b64url(&crate::crypto::sha256(verifier.as_bytes()));
        // Configured parameters first, then the caller's, which override them.
        let mut params: Vec<(String, String)> =
            vec![("scope".into(), self.settings.scopes.join(" "))];
        let configured = self.settings.login_parameters.iter().map(|p| (p, true));
        for ((k, v), is_configured) in configured.chain(login.extra.iter().map(|p| (p, false))) {
            if crate::config::providers::MODULE_OWNED_PARAMETERS.contains(&k.as_str())
                && !(is_configured && !self.implicit && is_configured_response_mode(k, v))
            {
                continue;
            }
            params.retain(|(name, _)| name != k);
            params.push((k.clone(), v.clone()));
        }
        {
            let mut q = url.query_pairs_mut();
            q.append_pair(
                "response_type",
                if self.implicit { "id_token" } else { "code" },
            )
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", login.redirect_uri)
            .append_pair("state", login.state)
            .append_pair("nonce", login.nonce);
            if self.implicit {
                q.append_pair("response_mode", "form_post");
            } else {
                q.append_pair("code_challenge", &challenge)
                    .append_pair("code_challenge_method", "S256");
            }
            for (k, v) in &params {
                q.append_pair(k, v);
            }
        }
        let kept = Kept::default().with(KEPT_NONCE, login.nonce);
        Ok(LoginStarted {
            url: url.into(),
            correlation: login.state.to_owned(),
            kept: if self.implicit {
                kept
            } else {
                kept.with(KEPT_VERIFIER, verifier)
            },
        })
    }

    fn finish_login(
        &self,
        params: &[(String, String)],
        redirect_uri: &str,
        kept: &Kept,
    ) -> Result<Identity, ProviderError> {
        let lost = |what: &str| ProviderError::BadRequest(format!("the login state has no {what}"));
        if self.implicit {
            return self.finish_implicit(params, kept);
        }
        let code = crate::http::param(params, "code").ok_or_else(|| lost("code"))?;
        let verifier = kept
            .get(KEPT_VERIFIER)
            .ok_or_else(|| lost("PKCE verifier"))?;
        let nonce = kept.get(KEPT_NONCE).ok_or_else(|| lost("nonce"))?;
        self.check_response_issuer(crate::http::param(params, "iss"))?;
        let (body, id_token) = self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ])?;
        let id_token = id_token.ok_or_else(|| {
            ProviderError::BadResponse("token endpoint answered without an id_token".into())
        })?;
        let jwt_claims = self.validate_id_token(&id_token, Some(nonce))?;
        self.identity(
            &jwt_claims,
            tokens_from(&body, Some(id_token), self.clock.now()),
            Io::Allowed,
        )
    }

    fn validate_client_token(
        &self,
        fields: &[(&str, &str)],
        io: Io,
    ) -> Result<Identity, ProviderError> {
        if fields.iter().any(|(name, _)| *name == "authorization_code") {
            return self.redeem_client_code(fields, io);
        }
        let [(used, token)] = fields else {
            return Err(ProviderError::BadRequest("one token expected".into()));
        };
        let claims = self.validate_presented(token, Presented::ClientLogin, io)?;
        let token = Some((*token).to_owned());
        let tokens = match *used {
            "id_token" => Tokens {
                id_token: token,
                ..Tokens::default()
            },
            _ => Tokens {
                access_token: token,
                ..Tokens::default()
            },
        };
        self.identity(&claims, tokens, io)
    }

    fn accepts_bearer(&self, bearer: &Bearer, io: Io) -> Result<bool, ProviderError> {
        let Some(issuer) = bearer.issuer else {
            return Ok(false);
        };
        Ok(self.is_issuer(&*self.metadata(io)?, issuer))
    }

    fn validate_bearer(&self, token: &str, io: Io) -> Result<Identity, ProviderError> {
        let claims = self.validate_presented(token, Presented::Bearer, io)?;
        self.identity(&claims, Tokens::default(), io)
    }

    fn end_session_url(
        &self,
        id_token_hint: Option<&str>,
        post_logout_redirect_uri: &str,
    ) -> Option<String> {
        // Logout runs in the blocking step, so discovery may be fetched (this process may not
        // have served a login yet); a provider that cannot be reached means a local logout.
        let meta = self.metadata(Io::Allowed).ok()?;
        let mut url = url::Url::parse(meta.end_session_endpoint.as_deref()?).ok()?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.settings.client_id)
                .append_pair("post_logout_redirect_uri", post_logout_redirect_uri);
            if let Some(hint) = id_token_hint {
                q.append_pair("id_token_hint", hint);
            }
        }
        Some(url.into())
    }

    fn refresh(&self, refresh_token: &str) -> Result<Tokens, ProviderError> {
        let (body, id_token) = self.token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])?;
        // A refreshed id_token must be as valid as the first one (there is no nonce now).
        if let Some(t) = &id_token {
            self.validate_id_token(t, None)?;
        }
        Ok(tokens_from(&body, id_token, self.clock.now()))
    }
}

/// What clients may post when the provider takes their authorization codes (Google's
/// server-side access: the code a mobile SDK's sign-in gave the app, with its id_token or
/// alone, and the `redirect_uri` that code was issued for), in order of preference.
const CLIENT_BODIES_WITH_CODES: &[&[&str]] = &[
    &["id_token", "authorization_code", "redirect_uri"],
    &["id_token", "authorization_code"],
    &["authorization_code", "redirect_uri"],
    &["authorization_code"],
    &["id_token"],
];

/// The longest `redirect_uri` a client may name for its code. Google's installed apps use none
/// (the empty string, the default here), its web clients `postmessage`; any is passed on as
/// given and the provider compares it with the code's: only its size and bytes are ours to
/// check.
const MAX_CLIENT_REDIRECT_URI: usize = 2048;

impl OidcProvider {
    /// The implicit flow's callback: the posted id_token, validated with the login's nonce, is
    /// the whole sign-in (no access token, no refresh token).
    fn finish_implicit(
        &self,
        params: &[(String, String)],
        kept: &Kept,
    ) -> Result<Identity, ProviderError> {
        let nonce = kept
            .get(KEPT_NONCE)
            .ok_or_else(|| ProviderError::BadRequest("the login state has no nonce".into()))?;
        let id_token = crate::http::param(params, "id_token")
            .ok_or_else(|| ProviderError::BadRequest("the callback has no id_token".into()))?;
        // RFC 9207 §2.4: a response with an id_token names its issuer there (checked with
        // the token), so a provider need not send `iss` beside it; one that does must agree.
        if let Some(iss) = crate::http::param(params, "iss") {
            self.check_response_issuer(Some(iss))?;
        }
        let jwt_claims = self.validate_id_token(id_token, Some(nonce))?;
        let tokens = Tokens {
            id_token: Some(id_token.to_owned()),
            ..Tokens::default()
        };
        self.identity(&jwt_claims, tokens, Io::Allowed)
    }
}

/// Names of what a login keeps for its callback ([`Kept`]).
const KEPT_VERIFIER: &str = "verifier";
const KEPT_NONCE: &str = "nonce";

impl OidcProvider {
    /// A client's authorization code, redeemed with the app's credentials (no PKCE verifier:
    /// the client's SDK obtained the code for this server). The id_token the provider returns
    /// is the sign-in's proof; one the client posted beside it must be valid for this app too
    /// and name the same user. The tokens kept are what the provider issued here.
    fn redeem_client_code(
        &self,
        fields: &[(&str, &str)],
        io: Io,
    ) -> Result<Identity, ProviderError> {
        let field = |name: &str| fields.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        let code = field("authorization_code").unwrap_or_default();
        let redirect_uri = field("redirect_uri").unwrap_or_default();
        if redirect_uri.len() > MAX_CLIENT_REDIRECT_URI
            || redirect_uri.chars().any(char::is_control)
        {
            return Err(ProviderError::BadRequest(
                "the redirect_uri is too long or holds control characters".into(),
            ));
        }
        let posted = match field("id_token") {
            Some(t) => Some(self.validate_presented(t, Presented::ClientLogin, io)?),
            None => None,
        };
        let (body, id_token) = self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ])?;
        let id_token = id_token.ok_or_else(|| {
            ProviderError::BadResponse(
                "token endpoint answered the client's code without an id_token".into(),
            )
        })?;
        let redeemed = self.validate_id_token(&id_token, None)?;
        if let Some(posted) = posted {
            if posted.get("sub") != redeemed.get("sub") {
                return Err(ProviderError::Rejected(
                    "the posted id_token and the authorization_code are of different users".into(),
                ));
            }
        }
        self.identity(
            &redeemed,
            tokens_from(&body, Some(id_token), self.clock.now()),
            io,
        )
    }

    /// POSTs to the token endpoint with the client's credentials; returns the JSON body and
    /// its id_token, if any. OAuth errors map to the status the user should see.
    fn token_request(
        &self,
        grant: &[(&str, &str)],
    ) -> Result<(Value, Option<String>), ProviderError> {
        let meta = self.metadata(Io::Allowed)?;
        let credentials = self
            .settings
            .client_auth
            .credentials(
                &self.settings.client_id,
                &meta.token_endpoint,
                self.clock.now(),
            )
            .map_err(|e| ProviderError::BadRequest(format!("client credential: {e}")))?;
        let mut form = grant.to_vec();
        form.extend(credentials.form.iter().map(|(k, v)| (*k, v.as_str())));
        let (status, body) = self.http.post_form(
            &meta.token_endpoint,
            &form,
            credentials.authorization.as_deref(),
        )?;
        if status != 200 {
            let error = body.get("error").and_then(Value::as_str).unwrap_or("");
            let detail = format!("token endpoint answered {status} {error}");
            return Err(match (status, error, grant[0].1) {
                (400, "invalid_grant", "refresh_token") => ProviderError::Rejected(detail),
                (400, "invalid_grant", _) => ProviderError::BadRequest(detail),
                (400..=499, _, _) => ProviderError::Rejected(detail),
                _ => ProviderError::BadResponse(detail),
            });
        }
        let id_token = body
            .get("id_token")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok((body, id_token))
    }
}

/// The tokens of a token endpoint's answer received at `now`.
fn tokens_from(body: &Value, id_token: Option<String>, now: i64) -> Tokens {
    let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
    Tokens {
        access_token: text("access_token"),
        id_token,
        refresh_token: text("refresh_token"),
        expires_at: body
            .get("expires_in")
            .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
            // a provider's number: never past a year (as a client login's `expires_in`), never
            // an overflow
            .map(|s| now.saturating_add(s.clamp(0, 365 * 24 * 3600))),
        ..Tokens::default()
    }
}
