//! Configuration: reads the authsettingsV2 file, resolves secrets from the environment and
//! checks everything once at startup, producing the [`Settings`] the pipeline runs on. Every
//! error names the JSON path (or the environment variable) at fault.

pub mod document;
pub mod legacy;
pub mod path;
pub mod providers;
mod redis_store;
pub mod schema;
mod sections;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::crypto::{self, Keys};
pub use path::JsonPath;
pub use schema::{ProxyConvention, UnauthenticatedAction};

/// A configuration problem; `path` is the JSON path (or variable) at fault.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
    /// The file itself could not be read (as opposed to read but invalid).
    pub unreadable: bool,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

fn invalid(path: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.to_owned(),
        message: message.into(),
        unreadable: false,
    }
}

/// Where a provider is.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoints {
    /// OpenID Connect: a discovery document URL, and the issuer its document must name exactly
    /// (OpenID Connect Discovery 1.0 §4.3).
    Discovery { url: String, issuer: String },
    /// OpenID Connect, endpoints given one by one (custom providers without discovery).
    Explicit {
        issuer: String,
        authorization: String,
        token: String,
        jwks: String,
    },
    /// OAuth 2.0 with an API that says who signed in (GitHub's REST API, Facebook's Graph API):
    /// no issuer, no keys, an opaque access token. `api` is the API's base URL.
    OAuth2 {
        authorization: String,
        token: String,
        api: String,
    },
    /// OAuth 1.0a (RFC 5849) with an API (Twitter): the temporary-credential request, the
    /// user's authorization, the token request, and the API's base URL.
    OAuth1 {
        request_token: String,
        authorization: String,
        access_token: String,
        api: String,
    },
}

/// One identity provider, resolved.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// The name in `/.auth/login/{name}` and `X-MS-CLIENT-PRINCIPAL-IDP` (`aad`, custom name).
    pub name: String,
    pub client_id: String,
    /// How the app authenticates at the token endpoint (`ClientAuth::None` without a secret).
    pub client_auth: crate::providers::client_auth::ClientAuth,
    pub endpoints: Endpoints,
    pub scopes: Vec<String>,
    /// Extra `key=value` parameters for the authorization request.
    pub login_parameters: Vec<(String, String)>,
    /// The claim type whose value is the user's display name.
    pub name_claim_type: String,
    /// Audiences accepted besides the client id (bearer tokens, tokens clients post).
    pub allowed_audiences: Vec<String>,
    /// Other spellings of the issuer its JWTs may carry in `iss` (Google's
    /// `accounts.google.com` beside `https://accounts.google.com`); the keys stay the issuer's.
    pub issuer_aliases: Vec<String>,
    /// Azure AD's `common`, `organizations` and `consumers` issuers: tokens of many tenants,
    /// each judged by its own (`None`: the one issuer, exactly).
    pub tenants: Option<crate::providers::aad_tenants::MultiTenant>,
    /// Clients may post an authorization code to `POST /.auth/login/{name}` (with or without an
    /// id_token), redeemed here for the tokens a refresh needs (Google's server-side access).
    pub client_codes: bool,
    /// The claim type of the user's id for the application: Azure AD's object id
    /// (`session::claims::OBJECT_ID`), others' name identifier (`NAME_ID`).
    pub id_claim_type: &'static str,
    /// Who may sign in at all (Azure AD's `jwtClaimChecks` and `defaultAuthorizationPolicy`).
    pub authorization: Authorization,
    /// Logout also ends the provider's session.
    pub sign_out_at_provider: bool,
    /// Azure AD's 401s carry App Service's `WWW-Authenticate` challenge (false when
    /// `login.disableWWWAuthenticate` is true, and for every other provider).
    pub www_authenticate: bool,
    /// How it signs users in (which provider type runs it).
    pub flow: crate::providers::Flow,
}

impl ProviderSettings {
    /// The issuer its tokens carry, as configured (before any discovery); `None` for a
    /// provider whose tokens are not JWTs of an issuer.
    pub fn issuer(&self) -> Option<&str> {
        match &self.endpoints {
            Endpoints::Discovery { issuer, .. } | Endpoints::Explicit { issuer, .. } => {
                Some(issuer)
            }
            Endpoints::OAuth2 { .. } | Endpoints::OAuth1 { .. } => None,
        }
    }
}

/// Allow-lists from Azure AD's validation settings; an empty list allows everyone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Authorization {
    /// The user must be in one of these groups (`groups` claim).
    pub groups: Vec<String>,
    /// The user's object id (`oid`) must be one of these.
    pub identities: Vec<String>,
    /// The application that obtained the token (`azp` or `appid`) must be one of these.
    pub applications: Vec<String>,
}

impl Authorization {
    /// Checks a user's claims; `Err` says which rule refused them. The app's own client id
    /// always counts as an allowed application: its own sign-ins obtain tokens for itself.
    pub fn check(&self, claims: &[crate::store::Claim], own_client_id: &str) -> Result<(), String> {
        fn values<'a>(
            claims: &'a [crate::store::Claim],
            typ: &'a str,
        ) -> impl Iterator<Item = &'a str> + 'a {
            claims
                .iter()
                .filter(move |c| c.typ == typ)
                .map(|c| c.val.as_str())
        }
        let values = |typ: &'static str| values(claims, typ);
        if !self.groups.is_empty() && !values("groups").any(|g| self.groups.iter().any(|a| a == g))
        {
            return Err("the user is in none of the allowed groups".into());
        }
        if !self.identities.is_empty() {
            let oid =
                values("http://schemas.microsoft.com/identity/claims/objectidentifier").next();
            if !oid.is_some_and(|o| self.identities.iter().any(|a| a == o)) {
                return Err(format!("object id {oid:?} is not an allowed identity"));
            }
        }
        if !self.applications.is_empty() {
            let app = values("azp").next().or_else(|| values("appid").next());
            let allowed =
                app.is_some_and(|a| a == own_client_id || self.applications.iter().any(|x| x == a));
            if !allowed {
                return Err(format!("client application {app:?} is not allowed"));
            }
        }
        Ok(())
    }

    /// A token a client presents (bearer, client-directed login) must have been obtained by
    /// this app or an allowed application, listed or not: a token another client obtained
    /// for the same user (Azure AD's `azp`/`appid`, RFC 9068's `client_id`) proves nothing
    /// about who calls.
    pub fn check_client(
        &self,
        claims: &[crate::store::Claim],
        own_client_id: &str,
    ) -> Result<(), String> {
        let client = ["azp", "appid", "client_id"]
            .iter()
            .find_map(|t| claims.iter().find(|c| c.typ == *t))
            .map(|c| c.val.as_str());
        match client {
            Some(c) if c != own_client_id && !self.applications.iter().any(|a| a == c) => {
                Err(format!(
                    "the token was obtained by client {c:?}, which is neither this app nor in \
                     allowedClientApplications"
                ))
            }
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Clone)]
pub enum StoreSettings {
    File {
        directory: PathBuf,
    },
    /// Azure Blob through a container SAS URL (`azureBlobStorage.sasUrlSettingName` or
    /// `WEBSITE_AUTH_TOKEN_CONTAINER_SASURL`).
    Blob {
        container: crate::store::blob::ContainerUrl,
        /// Where the URL came from (the variable's name), for messages.
        setting: String,
        /// `ezauth.httpTimeoutSeconds`: the lease outlasts an update's provider call.
        http_timeout: Duration,
        /// `ezauth.azureBlobStorage.stalenessSeconds`.
        staleness: Duration,
    },
    /// `ezauth.tokenStore.redis` (its URL, a secret, is not shown by `Debug`).
    Redis(crate::store::redis::RedisOptions),
}

#[derive(Debug, Clone)]
pub struct ForwardProxy {
    pub convention: ProxyConvention,
    pub host_header: Option<String>,
    pub proto_header: Option<String>,
}

/// Everything the pipeline needs, validated.
#[derive(Clone)]
pub struct Settings {
    pub enabled: bool,
    pub require_authentication: bool,
    pub action: UnauthenticatedAction,
    pub default_provider: Option<String>,
    pub excluded_paths: Vec<String>,
    pub providers: Vec<ProviderSettings>,
    pub token_store: Option<StoreSettings>,
    pub refresh_extension: Duration,
    pub allowed_external_redirect_urls: Vec<String>,
    pub cookie_lifetime: Duration,
    /// `cookieExpiration.convention: IdentityProviderDerived`: sessions end when the provider's
    /// access token does (when the provider says), instead of after `cookie_lifetime`.
    pub session_follows_provider: bool,
    /// `login.preserveUrlFragmentsForLogins`: a page that keeps `#fragment` through the login.
    pub preserve_url_fragments: bool,
    /// `login.routes.logoutEndpoint`: another path that signs out, like `{prefix}/logout`.
    pub logout_endpoint: Option<String>,
    pub nonce_lifetime: Duration,
    pub require_https: bool,
    pub api_prefix: String,
    pub forward_proxy: ForwardProxy,
    pub keys: Keys,
    pub http_timeout: Duration,
    pub http_connect_timeout: Duration,
    /// `ezauth.refreshBeforeExpirySeconds`: a signed-in request whose stored access token
    /// expires within this many seconds refreshes it first (see [`crate::fresh`]); `None`: off.
    pub refresh_before_expiry: Option<i64>,
    /// What this app's cookies and session tokens are bound to: `ezauth.appId`, or derived
    /// from who may sign in (providers, client ids, allow-lists) and the route prefix.
    pub app_id: String,
    pub cors: Option<CorsPolicy>,
    /// `ezauth.cookies.hostPrefix`: the module's cookies are named `__Host-...`, so a sibling
    /// subdomain cannot plant or shadow them (see [`crate::session::CookieNames`]).
    pub host_prefix_cookies: bool,
    /// Bytes the per-process caches may hold, all together (`ezauth.cacheMegabytes`).
    pub cache_bytes: usize,
    /// What loading accepted but wants the operator to know (a setting App Service documents
    /// that ezauth does not act on, a provider without a client id, ...): one line each, for
    /// the host's log and `ezauth check-config`.
    pub warnings: Vec<String>,
    /// `ezauth.cookieSameSite`: the `SameSite` attribute of the module's cookies.
    pub cookie_same_site: crate::session::SameSite,
    /// `ezauth.metrics`: where the metrics are served and to whom; `None`: not served.
    pub metrics: Option<MetricsRoute>,
}

/// The metrics route (`ezauth.metrics`).
#[derive(Clone, Debug)]
pub struct MetricsRoute {
    /// The exact request path (raw, without the query).
    pub path: String,
    /// Client addresses it answers; any other gets what a path that does not exist gets.
    pub allowed: Vec<std::net::IpAddr>,
}

/// The CORS grant for preflights the module answers (`ezauth.cors`).
#[derive(Clone, Debug)]
pub struct CorsPolicy {
    pub allowed_origins: Vec<String>,
    pub support_credentials: bool,
    pub max_age: u32,
}

impl CorsPolicy {
    /// Is this `Origin` header allowed? Exact, ASCII case-insensitive match, or `*`.
    pub fn allows(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }
}

impl Settings {
    /// The names (and so the rules) of the module's cookies.
    pub fn cookie_names(&self) -> crate::session::CookieNames {
        crate::session::CookieNames::new(self.host_prefix_cookies)
            .with_same_site(self.cookie_same_site)
    }

    /// Seconds past a session's expiry the browser keeps its cookie: the refresh route's
    /// extension window, when there is a token store to refresh from (without one
    /// `/.auth/refresh` answers 404, and an expired cookie is good for nothing).
    pub fn refresh_window(&self) -> i64 {
        match self.token_store {
            Some(_) => self.refresh_extension.as_secs() as i64,
            None => 0,
        }
    }

    /// When a session started (or renewed) at `now` ends: after `cookieExpiration`, or with the
    /// provider's token under `IdentityProviderDerived` when the provider gave an expiry.
    pub fn session_expiry(&self, now: i64, provider_expires_at: Option<i64>) -> i64 {
        match provider_expires_at {
            Some(at) if self.session_follows_provider && at > now => at,
            _ => now + self.cookie_lifetime.as_secs() as i64,
        }
    }

    /// Is this raw request path excluded from authentication? Only an unambiguous path can be
    /// (see [`crate::paths`]), and the entry must match its **raw** bytes, case-sensitively: an
    /// exact path, or, for an entry ending in `/*`, a non-empty remainder under that prefix. A
    /// router that does not decode (WHATWG URL, Express) sends `/pub%6cic/a` or `/heal%74h` to
    /// another handler than one that does (Werkzeug), so an escape in the part an entry names
    /// leaves the path protected; escapes in the remainder (`/public/a%20b.css`) are harmless.
    pub fn is_excluded(&self, raw_path: &str) -> bool {
        if self.excluded_paths.is_empty() || crate::paths::unambiguous(raw_path).is_none() {
            return false;
        }
        self.excluded_paths
            .iter()
            .any(|p| match p.strip_suffix("/*") {
                // `/public/*` is what lies under `/public/`: not `/public` nor `/public/`
                // itself, which a backend may route to another (protected) handler.
                Some(prefix) => raw_path
                    .strip_prefix(prefix)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .is_some_and(|rest| !rest.is_empty()),
                None => raw_path == p,
            })
    }
}

/// Where secrets come from: the process environment in production, a map in tests.
pub trait Environment {
    fn var(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Environment for std::collections::HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Reads and validates a configuration file.
pub fn load_file(path: &Path, env: &dyn Environment) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        path: String::new(),
        message: format!("cannot read configuration file {}: {e}", path.display()),
        unreadable: true,
    })?;
    parse(&text, env)
}

/// A short, stable app identity from the parts that tell apps apart.
fn derive_app_id(parts: &[String]) -> String {
    let digest = crate::crypto::sha256(parts.join("\n").as_bytes());
    crate::crypto::hex(&digest[..12])
}

/// Parses and validates a configuration in any of the shapes [`document`] accepts (bare
/// authsettingsV2, ARM resource or template, `az` output, v1 authsettings; empty text: the
/// `WEBSITE_AUTH_*` environment).
pub fn parse(text: &str, env: &dyn Environment) -> Result<Settings, ConfigError> {
    settings_from(document::read(text, env)?, env)
}

/// The authsettingsV2 tree equivalent to a configuration (for `ezauth check-config
/// --print-v2`), after checking that it loads. Secrets appear only as setting names; the notes
/// say which variables must hold the secrets a legacy configuration had inline.
pub fn authsettings_v2(
    text: &str,
    env: &dyn Environment,
) -> Result<(serde_json::Value, Vec<String>), ConfigError> {
    let doc = document::read(text, env)?;
    let tree = doc.tree.clone();
    let mut notes: Vec<String> = doc
        .inline_secrets
        .keys()
        .map(|name| {
            format!(
                "set the environment variable {name} to the secret the configuration held inline"
            )
        })
        .collect();
    notes.sort();
    let settings = settings_from(doc, env)?;
    notes.extend(settings.warnings.iter().map(|w| format!("warning: {w}")));
    Ok((tree, notes))
}

/// Secrets a legacy configuration held inline, then the environment.
struct WithInline<'a> {
    inline: &'a std::collections::HashMap<String, String>,
    env: &'a dyn Environment,
}

impl Environment for WithInline<'_> {
    fn var(&self, name: &str) -> Option<String> {
        self.inline
            .get(name)
            .cloned()
            .or_else(|| self.env.var(name))
    }
}

fn settings_from(doc: document::Document, env: &dyn Environment) -> Result<Settings, ConfigError> {
    let document::Document {
        tree,
        inline_secrets,
        warnings,
        sources,
        ..
    } = doc;
    // A translated setting's error names what the user wrote (a v1 key, a variable).
    let name_source = |mut e: ConfigError| {
        let written = sources.iter().rev().find(|(v2, _)| {
            e.path == *v2
                || e.path.starts_with(&format!("{v2}."))
                || e.path.starts_with(&format!("{v2}["))
                || (!e.path.is_empty() && v2.starts_with(&format!("{}.", e.path)))
        });
        if let Some((v2, source)) = written {
            e.message = format!("{} (read as {v2})", e.message);
            e.path = source.clone();
        }
        e
    };
    let raw: schema::AuthSettings = serde_path_to_error::deserialize(tree)
        .map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            invalid(if path == "." { "" } else { &path }, message)
        })
        .map_err(name_source)?;
    let env = WithInline {
        inline: &inline_secrets,
        env,
    };
    resolve(raw, &env, warnings).map_err(name_source)
}

/// Default token directory when neither `fileSystem.directory` nor `WEBSITE_AUTH_STATE_DIRECTORY`
/// names one (App Service's exports carry `"fileSystem": {}`).
pub const DEFAULT_TOKEN_DIRECTORY: &str = "/var/lib/ezauth/tokens";

fn resolve(
    raw: schema::AuthSettings,
    env: &dyn Environment,
    mut warnings: Vec<String>,
) -> Result<Settings, ConfigError> {
    sections::platform_notes(&raw, &mut warnings);
    let enabled = raw
        .platform
        .as_ref()
        .and_then(|p| p.enabled)
        .unwrap_or(true);
    let gv = raw.global_validation.unwrap_or_default();
    let mut ext = raw.ezauth.unwrap_or_default();
    let access = sections::global_validation(&gv)?;
    let mut providers = providers::resolve(
        raw.identity_providers.unwrap_or_default(),
        &mut providers::Resolving {
            env,
            warnings: &mut warnings,
            overrides: std::mem::take(&mut ext.providers),
        },
    )?;
    if let Some(all) = ext.sign_out_at_provider {
        for p in &mut providers {
            p.sign_out_at_provider = all;
        }
    }
    let default_provider =
        sections::default_provider(gv.redirect_to_provider, &providers, enabled, &access)?;
    let login = sections::login(raw.login.unwrap_or_default(), env, &mut warnings)?;
    let http = sections::http_settings(raw.http_settings.unwrap_or_default())?;
    let redis = ext.token_store.take().and_then(|t| t.redis);
    let ext = sections::ezauth(ext, env, &providers, &http)?;
    let mut login = login;
    if let Some(StoreSettings::Blob {
        http_timeout,
        staleness,
        ..
    }) = &mut login.token_store
    {
        *http_timeout = ext.http_timeout;
        *staleness = ext.blob_staleness;
    }
    let token_store = redis_store::resolve(
        redis,
        login.token_store,
        ext.http_timeout,
        env,
        &mut warnings,
    )?;
    Ok(Settings {
        enabled,
        require_authentication: access.require_authentication,
        action: access.action,
        default_provider,
        excluded_paths: gv.excluded_paths,
        providers,
        token_store,
        refresh_extension: login.refresh_extension,
        allowed_external_redirect_urls: login.allowed_external_redirect_urls,
        cookie_lifetime: login.cookie_lifetime,
        session_follows_provider: login.session_follows_provider,
        preserve_url_fragments: login.preserve_url_fragments,
        logout_endpoint: login.logout_endpoint,
        nonce_lifetime: login.nonce_lifetime,
        require_https: http.require_https,
        api_prefix: http.api_prefix,
        forward_proxy: http.forward_proxy,
        keys: ext.keys,
        http_timeout: ext.http_timeout,
        http_connect_timeout: ext.http_connect_timeout,
        refresh_before_expiry: ext.refresh_before_expiry,
        app_id: ext.app_id,
        cors: ext.cors,
        host_prefix_cookies: ext.host_prefix_cookies,
        cache_bytes: ext.cache_bytes,
        warnings,
        cookie_same_site: ext.cookie_same_site,
        metrics: ext.metrics,
    })
}

/// Default of `ezauth.cacheMegabytes`: room for about 5,000 signed-in users with typical tokens
/// in each process (see `cache::Budget`).
pub const DEFAULT_CACHE_MEGABYTES: u64 = 64;

/// Largest `ezauth.cacheMegabytes`: 64 GiB; anything larger is a typo.
const MAX_CACHE_MEGABYTES: u64 = 65_536;

fn cache_bytes(megabytes: Option<u64>) -> Result<usize, ConfigError> {
    match megabytes.unwrap_or(DEFAULT_CACHE_MEGABYTES) {
        mb @ 1..=MAX_CACHE_MEGABYTES => Ok((mb as usize) << 20),
        _ => Err(invalid(
            "ezauth.cacheMegabytes",
            format!("must be a whole number of MiB from 1 to {MAX_CACHE_MEGABYTES}"),
        )),
    }
}

fn resolve_keys(
    env: &dyn Environment,
    previous_encryption: &[String],
    previous_signing: &[String],
) -> Result<Keys, ConfigError> {
    let key = |name: &str| -> Result<Vec<u8>, ConfigError> {
        let v = env.var(name).ok_or_else(|| {
            invalid(
                name,
                "environment variable is not set (64 hex digits; `ezauth keygen` makes one)",
            )
        })?;
        match crypto::hex_decode(v.trim()) {
            Some(k) if k.len() >= 32 => Ok(k),
            _ => Err(invalid(name, "must be at least 64 hex digits (32 bytes)")),
        }
    };
    let encryption = key("WEBSITE_AUTH_ENCRYPTION_KEY")?;
    let signing = key("WEBSITE_AUTH_SIGNING_KEY")?;
    let keys = |names: &[String]| names.iter().map(|n| key(n)).collect::<Result<Vec<_>, _>>();
    Ok(
        Keys::new(&encryption, &signing, &keys(previous_encryption)?)
            .with_previous_signing_keys(&keys(previous_signing)?),
    )
}

/// Parses a .NET TimeSpan as App Service writes it: `hh:mm:ss` or `d.hh:mm:ss`.
pub fn parse_timespan(s: &str) -> Option<Duration> {
    let (days, rest) = match s.split_once('.') {
        Some((d, r)) if r.contains(':') => (d.parse::<u64>().ok()?, r),
        _ => (0, s),
    };
    let mut parts = rest.split(':');
    let (h, m, sec) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (h, m, sec): (u64, u64, f64) = (h.parse().ok()?, m.parse().ok()?, sec.parse().ok()?);
    if m >= 60 || !(0.0..60.0).contains(&sec) {
        return None;
    }
    Some(Duration::from_secs(days * 86400 + h * 3600 + m * 60) + Duration::from_secs_f64(sec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::client_auth::ClientAuth;
    use std::collections::HashMap;

    fn env() -> HashMap<String, String> {
        let mut e = HashMap::new();
        e.insert("WEBSITE_AUTH_ENCRYPTION_KEY".into(), "11".repeat(32));
        e.insert("WEBSITE_AUTH_SIGNING_KEY".into(), "22".repeat(32));
        e.insert("IDP_SECRET".into(), "s3cret".into());
        e
    }

    fn err(json: &str) -> ConfigError {
        match parse(json, &env()) {
            Err(e) => e,
            Ok(_) => panic!("expected an error for {json}"),
        }
    }

    const OIDC: &str = r#"{"globalValidation":{"unauthenticatedClientAction":"RejectWith401"},
        "identityProviders":{"customOpenIdConnectProviders":{"idp":{"registration":{"clientId":"c",
        "clientCredential":{"clientSecretSettingName":"IDP_SECRET"},
        "openIdConnectConfiguration":{"wellKnownOpenIdConfiguration":"http://127.0.0.1:1/.well-known/openid-configuration"}}}}},
        "httpSettings":{"requireHttps":false}}"#;

    #[test]
    fn a_full_config_resolves() {
        let s = parse(OIDC, &env()).unwrap();
        assert_eq!(s.action, UnauthenticatedAction::Return401);
        assert!(s.require_authentication);
        assert_eq!(s.default_provider.as_deref(), Some("idp"));
        assert_eq!(
            s.providers[0].client_auth,
            ClientAuth::SecretPost("s3cret".into())
        );
        assert_eq!(s.api_prefix, "/.auth");
        assert_eq!(s.cookie_lifetime, Duration::from_secs(8 * 3600));
    }

    #[test]
    fn cache_megabytes_default_bounds_and_bad_values() {
        let anon = |ext: &str| {
            format!(
                r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}}{ext}}}"#
            )
        };
        assert_eq!(parse(&anon(""), &env()).unwrap().cache_bytes, 64 << 20);
        for (mb, bytes) in [
            (1u64, 1usize << 20),
            (512, 512 << 20),
            (65_536, 65_536 << 20),
        ] {
            let json = anon(&format!(r#","ezauth":{{"cacheMegabytes":{mb}}}"#));
            assert_eq!(parse(&json, &env()).unwrap().cache_bytes, bytes, "{mb}");
        }
        for bad in ["0", "65537", "-1", "1.5", "\"64\"", "true"] {
            let e = err(&anon(&format!(r#","ezauth":{{"cacheMegabytes":{bad}}}"#)));
            assert_eq!(e.path, "ezauth.cacheMegabytes", "{bad}: {e}");
        }
        let e = err(&anon(r#","ezauth":{"cacheMegabytes":0}"#));
        assert!(e.message.contains("from 1 to 65536"), "{e}");
    }

    #[test]
    fn previous_signing_keys_come_from_the_variables_they_name() {
        let json = |names: &str| {
            format!(
                r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}},
                    "ezauth":{{"previousSigningKeySettingNames":{names}}}}}"#
            )
        };
        let mut e = env();
        e.insert("OLD_SIGNING".into(), "33".repeat(32));
        let s = parse(&json(r#"["OLD_SIGNING"]"#), &e).unwrap();
        let keys: Vec<&[u8]> = s.keys.verifying_keys().collect();
        assert_eq!(
            keys,
            [&[0x22; 32][..], &[0x33; 32][..]],
            "current key first"
        );
        assert_eq!(s.keys.signing_key(), &[0x22; 32]);
        let unset = err(&json(r#"["NOT_SET"]"#));
        assert_eq!(unset.path, "NOT_SET", "{unset}");
        e.insert("SHORT".into(), "33".repeat(8));
        let short = parse(&json(r#"["SHORT"]"#), &e).err().unwrap();
        assert!(short.message.contains("64 hex digits"), "{short}");
        let e = err(&json(r#""OLD_SIGNING""#));
        assert_eq!(e.path, "ezauth.previousSigningKeySettingNames", "{e}");
    }

    #[test]
    fn refresh_before_expiry_is_off_by_default_and_refuses_bad_values() {
        let anon = |ext: &str| {
            format!(
                r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}}{ext}}}"#
            )
        };
        let window = |v: &str| {
            parse(
                &anon(&format!(
                    r#","ezauth":{{"refreshBeforeExpirySeconds":{v}}}"#
                )),
                &env(),
            )
            .unwrap()
            .refresh_before_expiry
        };
        assert_eq!(
            parse(&anon(""), &env()).unwrap().refresh_before_expiry,
            None
        );
        assert_eq!(window("0"), None);
        assert_eq!(window("300"), Some(300));
        assert_eq!(window("4.2"), Some(5), "a fraction rounds up");
        assert_eq!(window("86400"), Some(86_400));
        for bad in ["-1", "-0.5", "86401", "\"300\"", "true", "[]"] {
            let e = err(&anon(&format!(
                r#","ezauth":{{"refreshBeforeExpirySeconds":{bad}}}"#
            )));
            assert_eq!(e.path, "ezauth.refreshBeforeExpirySeconds", "{bad}: {e}");
        }
    }

    #[test]
    fn unknown_keys_name_their_path() {
        let e = err(r#"{"globalValidaton":{}}"#);
        assert!(e.to_string().contains("globalValidaton"), "{e}");
        let e = err(r#"{"httpSettings":{"requireHttps":false,"routes":{"apiPrefx":"/x"}}}"#);
        assert_eq!(e.path, "httpSettings.routes.apiPrefx", "{e}");
    }

    #[test]
    fn wrong_types_name_their_path() {
        let e = err(r#"{"httpSettings":{"requireHttps":"yes"}}"#);
        assert_eq!(e.path, "httpSettings.requireHttps", "{e}");
        let e = err(r#"{"globalValidation":{"unauthenticatedClientAction":"Sometimes"}}"#);
        assert_eq!(e.path, "globalValidation.unauthenticatedClientAction");
    }

    #[test]
    fn enum_spellings_and_ordinals() {
        for (v, want) in [
            ("\"rejectwith404\"", UnauthenticatedAction::Return404),
            ("\"Return403\"", UnauthenticatedAction::Return403),
            ("1", UnauthenticatedAction::AllowAnonymous),
        ] {
            let json = format!(r#"{{"globalValidation":{{"unauthenticatedClientAction":{v}}}}}"#);
            assert_eq!(parse(&json, &env()).unwrap().action, want, "{v}");
        }
    }

    #[test]
    fn a_missing_secret_variable_is_named() {
        let e = err(&OIDC.replace("IDP_SECRET", "NOT_SET_ANYWHERE"));
        assert!(e.message.contains("NOT_SET_ANYWHERE"), "{e}");
        assert!(e.path.ends_with("clientSecretSettingName"), "{e}");
    }

    #[test]
    fn missing_or_short_keys_fail() {
        let mut e = env();
        e.remove("WEBSITE_AUTH_SIGNING_KEY");
        let anon = r#"{"globalValidation":{"unauthenticatedClientAction":"AllowAnonymous"}}"#;
        let r = parse(anon, &e).err().unwrap();
        assert_eq!(r.path, "WEBSITE_AUTH_SIGNING_KEY");
        e.insert("WEBSITE_AUTH_SIGNING_KEY".into(), "abcd".into());
        assert_eq!(
            parse(anon, &e).err().unwrap().path,
            "WEBSITE_AUTH_SIGNING_KEY"
        );
    }

    #[test]
    fn host_prefix_cookies_need_https_and_a_boolean() {
        let anon = r#"{"globalValidation":{"unauthenticatedClientAction":"AllowAnonymous"}"#;
        let with = |rest: &str| format!("{anon},{rest}}}");
        assert!(
            !parse(&format!("{anon}}}"), &env())
                .unwrap()
                .host_prefix_cookies
        );
        let on = parse(&with(r#""ezauth":{"cookies":{"hostPrefix":true}}"#), &env()).unwrap();
        assert!(on.host_prefix_cookies && on.require_https);
        let off = with(
            r#""ezauth":{"cookies":{"hostPrefix":false}},"httpSettings":{"requireHttps":false}"#,
        );
        assert!(!parse(&off, &env()).unwrap().host_prefix_cookies);
        for (json, path) in [
            (
                r#""ezauth":{"cookies":{"hostPrefix":"yes"}}"#,
                "ezauth.cookies.hostPrefix",
            ),
            (
                r#""ezauth":{"cookies":{"hostPrefix":1}}"#,
                "ezauth.cookies.hostPrefix",
            ),
            (
                r#""ezauth":{"cookies":{"hostprefix":true}}"#,
                "ezauth.cookies.hostprefix",
            ),
            (r#""ezauth":{"cookies":true}"#, "ezauth.cookies"),
            (
                r#""ezauth":{"cookies":{"hostPrefix":true}},"httpSettings":{"requireHttps":false}"#,
                "ezauth.cookies.hostPrefix",
            ),
        ] {
            let e = err(&with(json));
            assert_eq!(e.path, path, "{json}: {e}");
        }
        let e = err(&with(
            r#""ezauth":{"cookies":{"hostPrefix":true}},"httpSettings":{"requireHttps":false}"#,
        ));
        assert!(e.message.contains("requireHttps"), "{e}");
    }

    #[test]
    fn redirect_needs_a_provider() {
        let e =
            err(r#"{"globalValidation":{"unauthenticatedClientAction":"RedirectToLoginPage"}}"#);
        assert_eq!(e.path, "globalValidation.redirectToProvider");
    }

    #[test]
    fn excluded_paths_match_exact_and_prefix() {
        let s = parse(
            r#"{"globalValidation":{"unauthenticatedClientAction":"AllowAnonymous","excludedPaths":["/health","/public/*"]}}"#,
            &env(),
        )
        .unwrap();
        assert!(s.is_excluded("/health"));
        assert!(!s.is_excluded("/healthz"));
        assert!(s.is_excluded("/public/a/b"));
        assert!(!s.is_excluded("/public"));
        assert!(!s.is_excluded("/public/"));
        assert!(!s.is_excluded("/publicity"));
        assert!(s.is_excluded("/public/a%20b.css"));
        // an escape in the part an entry names: raw routers read another path
        for escaped in [
            "/publi%63/a",
            "/pub%6cic/a",
            "/%70%75%62%6c%69%63/x",
            "/heal%74h",
            "/%68ealth",
        ] {
            assert!(!s.is_excluded(escaped), "{escaped}");
        }
        assert!(!s.is_excluded("/Health"));
        assert!(!s.is_excluded("/public/../admin"));
        assert!(!s.is_excluded("/admin/x/%2e%2e/%2e%2e/health"));
        assert!(!s.is_excluded("/public/..;/admin"));
    }

    #[test]
    fn session_expiry_follows_the_provider_only_when_asked() {
        let fixed = parse(
            r#"{"globalValidation":{"unauthenticatedClientAction":"AllowAnonymous"},"login":{"cookieExpiration":{"timeToExpiration":"01:00:00"}}}"#,
            &env(),
        )
        .unwrap();
        assert_eq!(fixed.session_expiry(1000, Some(1500)), 4600);
        let derived = parse(
            r#"{"globalValidation":{"unauthenticatedClientAction":"AllowAnonymous"},"login":{"cookieExpiration":{"convention":"IdentityProviderDerived"}}}"#,
            &env(),
        )
        .unwrap();
        assert_eq!(derived.session_expiry(1000, Some(1500)), 1500);
        assert_eq!(derived.session_expiry(1000, None), 1000 + 8 * 3600);
        assert_eq!(derived.session_expiry(1000, Some(900)), 1000 + 8 * 3600);
    }

    #[test]
    fn logout_endpoint_must_be_a_path() {
        let e = err(
            r#"{"globalValidation":{"unauthenticatedClientAction":"AllowAnonymous"},"login":{"routes":{"logoutEndpoint":"signout"}}}"#,
        );
        assert_eq!(e.path, "login.routes.logoutEndpoint");
    }

    #[test]
    fn aad_authorization_lists_are_read_and_checked() {
        let json = r#"{"globalValidation":{"unauthenticatedClientAction":"Return401"},
            "identityProviders":{"azureActiveDirectory":{"registration":{"openIdIssuer":"https://login.example/t/v2.0","clientId":"me"},
            "validation":{"jwtClaimChecks":{"allowedGroups":["g1"]},
              "defaultAuthorizationPolicy":{"allowedPrincipals":{"identities":["o1"]},"allowedApplications":["app1"]}}}}}"#;
        let a = &parse(json, &env()).unwrap().providers[0].authorization;
        let claim = |t: &str, v: &str| crate::store::Claim {
            typ: t.into(),
            val: v.into(),
        };
        let oid = "http://schemas.microsoft.com/identity/claims/objectidentifier";
        let ok = [
            claim("groups", "g1"),
            claim(oid, "o1"),
            claim("azp", "app1"),
        ];
        assert!(a.check(&ok, "me").is_ok());
        assert!(a
            .check(
                &[claim("groups", "g1"), claim(oid, "o1"), claim("azp", "me")],
                "me"
            )
            .is_ok());
        assert!(a
            .check(
                &[
                    claim("groups", "g2"),
                    claim(oid, "o1"),
                    claim("azp", "app1")
                ],
                "me"
            )
            .is_err());
        assert!(a
            .check(
                &[
                    claim("groups", "g1"),
                    claim(oid, "o2"),
                    claim("azp", "app1")
                ],
                "me"
            )
            .is_err());
        assert!(a
            .check(
                &[
                    claim("groups", "g1"),
                    claim(oid, "o1"),
                    claim("azp", "app2")
                ],
                "me"
            )
            .is_err());
        assert!(Authorization::default().check(&[], "me").is_ok());
        let e = err(&json.replace("allowedGroups", "allowedGroupz"));
        assert!(e.path.ends_with("jwtClaimChecks.allowedGroupz"), "{e}");
    }

    #[test]
    fn a_presented_token_must_come_from_this_app_or_an_allowed_one() {
        let claim = |t: &str, v: &str| crate::store::Claim {
            typ: t.into(),
            val: v.into(),
        };
        let open = Authorization::default();
        let listed = Authorization {
            applications: vec!["spa".into()],
            ..Default::default()
        };
        for kind in ["azp", "appid", "client_id"] {
            assert!(open.check_client(&[claim(kind, "me")], "me").is_ok());
            assert!(open.check_client(&[claim(kind, "spa")], "me").is_err());
            assert!(listed.check_client(&[claim(kind, "spa")], "me").is_ok());
            assert!(listed.check_client(&[claim(kind, "other")], "me").is_err());
        }
        // No client named: the audience check already tied the token to this app.
        assert!(open.check_client(&[claim("sub", "u")], "me").is_ok());
        // The first of azp, appid, client_id decides; a second cannot launder the first.
        assert!(open
            .check_client(&[claim("appid", "me"), claim("azp", "other")], "me")
            .is_err());
    }

    #[test]
    fn timespans() {
        assert_eq!(
            parse_timespan("08:00:00"),
            Some(Duration::from_secs(8 * 3600))
        );
        assert_eq!(
            parse_timespan("1.00:00:01"),
            Some(Duration::from_secs(86401))
        );
        assert_eq!(parse_timespan("8h"), None);
        assert_eq!(parse_timespan("00:61:00"), None);
    }

    #[test]
    fn arm_resource_shape_is_accepted() {
        let s = parse(
            r#"{"id":"x","name":"authsettingsV2","properties":{"globalValidation":{"unauthenticatedClientAction":"AllowAnonymous"}}}"#,
            &env(),
        )
        .unwrap();
        assert_eq!(s.action, UnauthenticatedAction::AllowAnonymous);
    }

    #[test]
    fn an_enabled_provider_without_its_secret_is_refused_a_placeholder_is_not_configured() {
        let e = err(
            r#"{"identityProviders":{"apple":{"enabled":true,"registration":{"clientId":"g"}}}}"#,
        );
        assert_eq!(
            e.path,
            "identityProviders.apple.registration.clientSecretSettingName"
        );
        let placeholder = parse(
            r#"{"globalValidation":{"unauthenticatedClientAction":"AllowAnonymous"},"identityProviders":{"apple":{"enabled":true,"login":{},"registration":{}}}}"#,
            &env(),
        )
        .unwrap();
        assert_eq!(
            placeholder.warnings,
            ["identityProviders.apple has no client id: not configured (as App Service treats it)"]
        );
        assert!(parse(
            r#"{"globalValidation":{"unauthenticatedClientAction":"AllowAnonymous"},"identityProviders":{"apple":{"enabled":false}}}"#,
            &env()
        )
        .is_ok());
    }
}
