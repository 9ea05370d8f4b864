//! The authsettingsV2 JSON tree (App Service's file-based auth configuration), as serde types.
//! Every struct refuses unknown fields, so a mistyped key is a startup error with its JSON
//! path, never a silently ignored setting. Enum-like settings accept both spellings App Service
//! uses (ARM and file config), case-insensitively, and the middleware's integer ordinals.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthSettings {
    pub platform: Option<Platform>,
    pub global_validation: Option<GlobalValidation>,
    pub identity_providers: Option<IdentityProviders>,
    pub login: Option<Login>,
    pub http_settings: Option<HttpSettings>,
    /// Written by App Service's own tooling; carries nothing ezauth needs (a warning says so).
    pub legacy_properties: Option<serde_json::Map<String, serde_json::Value>>,
    /// App Service's switch off for .NET's inbound claim-type mapping; ARM exports it as the
    /// string `"false"`, some tools as a boolean. ezauth always maps, so only `true` asks for
    /// something it does not do (a warning).
    pub clear_inbound_claims_mapping: Option<BoolOrString>,
    /// Options App Service lacks.
    pub ezauth: Option<Extensions>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Platform {
    pub enabled: Option<bool>,
    pub runtime_version: Option<String>,
    pub config_file_path: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GlobalValidation {
    pub require_authentication: Option<bool>,
    pub unauthenticated_client_action: Option<UnauthenticatedAction>,
    pub redirect_to_provider: Option<String>,
    #[serde(default)]
    pub excluded_paths: Vec<String>,
}

/// A boolean that App Service's exports sometimes write as a string (`"false"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoolOrString(pub bool);

impl<'de> Deserialize<'de> for BoolOrString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(b) => Ok(BoolOrString(b)),
            Raw::Text(s) if s.eq_ignore_ascii_case("true") => Ok(BoolOrString(true)),
            Raw::Text(s) if s.eq_ignore_ascii_case("false") => Ok(BoolOrString(false)),
            Raw::Text(s) => Err(serde::de::Error::custom(format!(
                "expected true or false, found {s:?}"
            ))),
        }
    }
}

/// What happens to a request that is not signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnauthenticatedAction {
    RedirectToLoginPage,
    AllowAnonymous,
    Return401,
    Return403,
    Return404,
}

impl<'de> Deserialize<'de> for UnauthenticatedAction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use UnauthenticatedAction::*;
        choice(
            d,
            &[
                (&["RedirectToLoginPage"], RedirectToLoginPage),
                (&["AllowAnonymous"], AllowAnonymous),
                (&["Return401", "RejectWith401"], Return401),
                (&["Return403", "RejectWith403"], Return403),
                (&["Return404", "RejectWith404"], Return404),
            ],
        )
    }
}

/// Reads a string (case-insensitive, any listed spelling) or an ordinal (index into `options`).
fn choice<'de, D: Deserializer<'de>, T: Copy>(
    d: D,
    options: &[(&[&str], T)],
) -> Result<T, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Ordinal(u64),
    }
    let expected = || {
        options
            .iter()
            .flat_map(|(names, _)| names.iter().copied())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match Raw::deserialize(d)? {
        Raw::Text(s) => options
            .iter()
            .find(|(names, _)| names.iter().any(|n| n.eq_ignore_ascii_case(&s)))
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "unknown value {s:?}, expected one of {}",
                    expected()
                ))
            }),
        Raw::Ordinal(i) => options.get(i as usize).map(|(_, v)| *v).ok_or_else(|| {
            serde::de::Error::custom(format!("ordinal {i} is out of range ({})", expected()))
        }),
    }
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IdentityProviders {
    pub azure_active_directory: Option<AzureActiveDirectory>,
    #[serde(default)]
    pub custom_open_id_connect_providers: BTreeMap<String, CustomOpenIdConnectProvider>,
    pub google: Option<Google>,
    pub facebook: Option<Facebook>,
    pub git_hub: Option<GitHub>,
    pub twitter: Option<Twitter>,
    pub apple: Option<Apple>,
    pub legacy_microsoft_account: Option<LegacyMicrosoftAccount>,
    pub azure_static_web_apps: Option<OtherProvider>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AzureActiveDirectory {
    pub enabled: Option<bool>,
    pub is_auto_provisioned: Option<bool>,
    pub registration: Option<AadRegistration>,
    pub login: Option<AadLogin>,
    pub validation: Option<AadValidation>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AadRegistration {
    pub open_id_issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_setting_name: Option<String>,
    pub client_secret_certificate_thumbprint: Option<String>,
    pub client_secret_certificate_subject_alternative_name: Option<String>,
    pub client_secret_certificate_issuer: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AadLogin {
    #[serde(default)]
    pub login_parameters: Vec<String>,
    /// App Service spells it with three capitals; the camelCase form stays accepted because
    /// earlier ezauth documentation used it.
    #[serde(rename = "disableWWWAuthenticate", alias = "disableWwwAuthenticate")]
    pub disable_www_authenticate: Option<bool>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AadValidation {
    #[serde(default)]
    pub allowed_audiences: Vec<String>,
    pub jwt_claim_checks: Option<JwtClaimChecks>,
    pub default_authorization_policy: Option<DefaultAuthorizationPolicy>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JwtClaimChecks {
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    #[serde(default)]
    pub allowed_client_applications: Vec<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DefaultAuthorizationPolicy {
    pub allowed_principals: Option<AllowedPrincipals>,
    #[serde(default)]
    pub allowed_applications: Vec<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AllowedPrincipals {
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub identities: Vec<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CustomOpenIdConnectProvider {
    pub enabled: Option<bool>,
    pub registration: Option<OidcRegistration>,
    pub login: Option<OidcLogin>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OidcRegistration {
    pub client_id: Option<String>,
    pub client_credential: Option<ClientCredential>,
    pub open_id_connect_configuration: Option<OpenIdConnectConfiguration>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientCredential {
    pub method: Option<String>,
    pub client_secret_setting_name: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OpenIdConnectConfiguration {
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub issuer: Option<String>,
    pub certification_uri: Option<String>,
    pub well_known_open_id_configuration: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OidcLogin {
    pub name_claim_type: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub login_parameters: Vec<String>,
}

/// `identityProviders.gitHub` (App Service's `GitHub`).
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GitHub {
    pub enabled: Option<bool>,
    pub registration: Option<ClientRegistration>,
    pub login: Option<LoginScopes>,
}

/// `identityProviders.apple` (App Service's `Apple`).
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Apple {
    pub enabled: Option<bool>,
    pub registration: Option<ClientRegistration>,
    pub login: Option<LoginScopes>,
}

/// `identityProviders.legacyMicrosoftAccount` (App Service's `LegacyMicrosoftAccount`).
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LegacyMicrosoftAccount {
    pub enabled: Option<bool>,
    pub registration: Option<ClientRegistration>,
    pub login: Option<LoginScopes>,
    pub validation: Option<AllowedAudiencesValidation>,
}

/// `identityProviders.facebook` (App Service's `Facebook`).
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Facebook {
    pub enabled: Option<bool>,
    pub registration: Option<AppRegistration>,
    pub graph_api_version: Option<String>,
    pub login: Option<LoginScopes>,
}

/// App Service's `AppRegistration` (Facebook).
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppRegistration {
    pub app_id: Option<String>,
    pub app_secret_setting_name: Option<String>,
}

/// `identityProviders.google` (App Service's `Google`).
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Google {
    pub enabled: Option<bool>,
    pub registration: Option<ClientRegistration>,
    pub login: Option<LoginScopes>,
    pub validation: Option<AllowedAudiencesValidation>,
}

/// App Service's `AllowedAudiencesValidation` (Google, Microsoft Account).
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AllowedAudiencesValidation {
    #[serde(default)]
    pub allowed_audiences: Vec<String>,
}

/// App Service's `ClientRegistration` (GitHub, Google, Microsoft Account, Apple).
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientRegistration {
    pub client_id: Option<String>,
    pub client_secret_setting_name: Option<String>,
}

/// `identityProviders.twitter` (App Service's `Twitter`: no login block).
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Twitter {
    pub enabled: Option<bool>,
    pub registration: Option<TwitterRegistration>,
}

/// App Service's `TwitterRegistration`: the app's consumer key, and the setting holding its
/// consumer secret.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TwitterRegistration {
    pub consumer_key: Option<String>,
    pub consumer_secret_setting_name: Option<String>,
}

/// App Service's `LoginScopes`.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoginScopes {
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// Providers this build reads but does not serve yet: their shape is checked loosely and
/// enabling one is a clear startup error.
#[derive(Deserialize, Default, Debug)]
#[serde(rename_all = "camelCase")]
pub struct OtherProvider {
    pub enabled: Option<bool>,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Login {
    pub routes: Option<LoginRoutes>,
    pub token_store: Option<TokenStore>,
    pub preserve_url_fragments_for_logins: Option<bool>,
    #[serde(default)]
    pub allowed_external_redirect_urls: Vec<String>,
    pub cookie_expiration: Option<CookieExpiration>,
    pub nonce: Option<Nonce>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoginRoutes {
    pub logout_endpoint: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenStore {
    pub enabled: Option<bool>,
    pub token_refresh_extension_hours: Option<f64>,
    pub file_system: Option<FileSystemStore>,
    pub azure_blob_storage: Option<BlobStore>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FileSystemStore {
    pub directory: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BlobStore {
    pub sas_url_setting_name: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CookieExpiration {
    pub convention: Option<CookieConvention>,
    pub time_to_expiration: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CookieConvention {
    #[default]
    FixedTime,
    IdentityProviderDerived,
}

impl<'de> Deserialize<'de> for CookieConvention {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        choice(
            d,
            &[
                (&["FixedTime"], CookieConvention::FixedTime),
                (
                    &["IdentityProviderDerived", "IdentityDerived"],
                    CookieConvention::IdentityProviderDerived,
                ),
            ],
        )
    }
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Nonce {
    pub validate_nonce: Option<bool>,
    pub nonce_expiration_interval: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpSettings {
    pub require_https: Option<bool>,
    pub routes: Option<HttpRoutes>,
    pub forward_proxy: Option<ForwardProxy>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpRoutes {
    pub api_prefix: Option<String>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ForwardProxy {
    pub convention: Option<ProxyConvention>,
    pub custom_host_header_name: Option<String>,
    pub custom_proto_header_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyConvention {
    NoProxy,
    Standard,
    Custom,
}

impl<'de> Deserialize<'de> for ProxyConvention {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        choice(
            d,
            &[
                (&["NoProxy"], ProxyConvention::NoProxy),
                (&["Standard"], ProxyConvention::Standard),
                (&["Custom"], ProxyConvention::Custom),
            ],
        )
    }
}

/// The top-level `"ezauth"` object: what App Service has no setting for.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Extensions {
    /// Overall deadline of one call to an identity provider (default 10 s).
    pub http_timeout_seconds: Option<f64>,
    /// Deadline to connect to an identity provider (default 3 s).
    pub http_connect_timeout_seconds: Option<f64>,
    /// A signed-in request whose stored access token expires within this many seconds
    /// refreshes it first (absent or 0: never).
    pub refresh_before_expiry_seconds: Option<f64>,
    /// Environment variables holding earlier `WEBSITE_AUTH_ENCRYPTION_KEY` values: what they
    /// sealed still opens, so rotating the key signs nobody out.
    #[serde(default)]
    pub previous_encryption_key_setting_names: Vec<String>,
    /// Environment variables holding earlier `WEBSITE_AUTH_SIGNING_KEY` values: session and
    /// custom authentication tokens they signed keep working until they expire.
    #[serde(default)]
    pub previous_signing_key_setting_names: Vec<String>,
    /// Logout also ends the provider's session (RP-initiated logout). Default: on for Azure AD,
    /// as App Service does, off for custom providers.
    pub sign_out_at_provider: Option<bool>,
    /// The identity cookies and session tokens are bound to: an app accepts only what it
    /// minted. Default: derived from the providers, client ids and allow-lists; set it to tell
    /// apart two apps that share those and the keys.
    pub app_id: Option<String>,
    /// CORS for preflights to protected paths, answered by the module (App Service's platform
    /// CORS: `siteConfig.cors`). Without it a preflight to a protected path gets no grant.
    pub cors: Option<Cors>,
    /// How the module names its cookies (`ezauth.cookies`).
    pub cookies: Option<Cookies>,
    /// `SameSite` of the module's cookies: `Lax` (default), `Strict`, or `None` (App Service's
    /// choice, for apps in another site's iframe; needs `httpSettings.requireHttps`).
    pub cookie_same_site: Option<String>,
    /// Memory for the per-process caches (opened sessions, token headers, token records), in
    /// MiB per process (nginx worker); default 64.
    pub cache_megabytes: Option<u64>,
    /// Built-in providers moved elsewhere (tests, sovereign clouds, look-alikes), by sign-in
    /// name: `"providers": {"github": {"apiEndpoint": "http://127.0.0.1:9000"}}`; and the
    /// credentials App Service keeps in its certificate store
    /// (`"aad": {"clientCertificate": {...}}`).
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderEndpoints>,
    /// Token stores App Service has no setting for (`ezauth.tokenStore.redis`).
    pub token_store: Option<ExtTokenStore>,
    /// The Azure Blob token store's own settings (`ezauth.azureBlobStorage`).
    pub azure_blob_storage: Option<BlobExtensions>,
    /// Counters and latency histograms served in Prometheus' text format (`ezauth.metrics`).
    pub metrics: Option<Metrics>,
}

/// `ezauth.azureBlobStorage`.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BlobExtensions {
    /// How long a process answers from its copy of a record before asking Azure again: the
    /// bound on seeing another node's change (default 2 s, at most 60).
    pub staleness_seconds: Option<f64>,
}

/// `ezauth.metrics`: off unless `enabled`; served at `path` (default `{apiPrefix}/metrics`) to
/// the listed client addresses only (default: loopback).
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metrics {
    pub enabled: Option<bool>,
    pub path: Option<String>,
    pub allowed_addresses: Option<Vec<String>>,
}

/// `ezauth.providers.{name}`: where a built-in provider's endpoints are instead of their
/// documented places; any left out keep theirs.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProviderEndpoints {
    /// Where the browser is sent to sign in.
    pub authorization_endpoint: Option<String>,
    /// Where the code (OAuth 1.0a: the verifier) is redeemed for tokens.
    pub token_endpoint: Option<String>,
    /// The base URL of the API that says who signed in (GitHub's REST API, Twitter's v1.1).
    pub api_endpoint: Option<String>,
    /// OAuth 1.0a's temporary-credential request endpoint (Twitter's `oauth/request_token`).
    pub request_token_endpoint: Option<String>,
    /// An OpenID Connect provider's discovery document (Google's).
    pub well_known_open_id_configuration: Option<String>,
    /// The issuer that document names (default: its URL without
    /// `/.well-known/openid-configuration`), or an OpenID Connect preset's tokens name
    /// (Apple's `https://appleid.apple.com`).
    pub issuer: Option<String>,
    /// Azure AD's certificate credential (`registration.clientSecretCertificate*`): the
    /// certificate App Service would take from its store, as PEM files.
    pub client_certificate: Option<ClientCertificate>,
    /// Where an OpenID Connect preset publishes its signing keys.
    pub jwks_endpoint: Option<String>,
    /// Apple's client secret, minted by ezauth from the app's signing key (what App Service
    /// expects the operator to mint and paste into `clientSecretSettingName` twice a year).
    pub client_secret_key: Option<SigningKey>,
    /// Azure AD with a multi-tenant issuer (`common`, `organizations`): the only tenants whose
    /// users may sign in, by tenant id.
    pub allowed_tenants: Option<Vec<String>>,
}

impl ProviderEndpoints {
    /// The fields set, by their JSON names: what a provider that takes only some refuses.
    pub fn set_fields(&self) -> Vec<&'static str> {
        [
            (
                "authorizationEndpoint",
                self.authorization_endpoint.is_some(),
            ),
            ("tokenEndpoint", self.token_endpoint.is_some()),
            ("apiEndpoint", self.api_endpoint.is_some()),
            (
                "requestTokenEndpoint",
                self.request_token_endpoint.is_some(),
            ),
            (
                "wellKnownOpenIdConfiguration",
                self.well_known_open_id_configuration.is_some(),
            ),
            ("clientCertificate", self.client_certificate.is_some()),
            ("issuer", self.issuer.is_some()),
            ("jwksEndpoint", self.jwks_endpoint.is_some()),
            ("clientSecretKey", self.client_secret_key.is_some()),
            ("allowedTenants", self.allowed_tenants.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// `ezauth.providers.apple.clientSecretKey`: the key Apple issued the team ("Sign in with Apple"
/// key, a `.p8` file) and the ids its client secrets name.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SigningKey {
    /// The Apple developer team id: the secret's `iss`.
    pub team_id: String,
    /// The key's id: the secret's `kid`.
    pub key_id: String,
    /// The `.p8` file (PEM, PKCS#8, EC P-256), readable by its owner only.
    pub key_file: String,
}

/// `ezauth.providers.aad.clientCertificate`: a certificate and its private key, PEM.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientCertificate {
    /// The private key (RSA 2048 bits or more, or EC P-256), readable by its owner only.
    pub key_file: String,
    /// The certificate registered with the app in Azure AD.
    pub cert_file: String,
}

/// `ezauth.cookies`.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Cookies {
    /// Name the session and login cookies `__Host-...` (default false: App Service's names).
    pub host_prefix: Option<bool>,
}

/// `ezauth.cors`, named as App Service's `siteConfig.cors`.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Cors {
    /// Exact origins (`https://app.example`), or `*` for any (not with credentials).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Answer `Access-Control-Allow-Credentials: true` (never with `*`).
    pub support_credentials: Option<bool>,
    /// `Access-Control-Max-Age` in seconds (default 600).
    pub max_age_seconds: Option<u32>,
}

/// `ezauth.tokenStore`: token stores App Service has no setting for. Used only with
/// `login.tokenStore.enabled`; one set here replaces `login.tokenStore.fileSystem`.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExtTokenStore {
    pub redis: Option<RedisStore>,
}

/// `ezauth.tokenStore.redis`: the Redis (or Valkey) token store.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RedisStore {
    /// The environment variable holding the URL (`redis://user:password@host:port/db`,
    /// `rediss://` for TLS; a cluster's seed nodes comma-separated): a secret, never in the file.
    pub url_setting_name: Option<String>,
    /// Prefix of every key (default `ezauth:`), to share a server between apps.
    pub key_prefix: Option<String>,
    /// Deadline to connect, TLS and AUTH included (default 2 s).
    pub connect_timeout_seconds: Option<f64>,
    /// Deadline of each command's answer (default 2 s).
    pub timeout_seconds: Option<f64>,
    /// The URL names Redis Cluster seed nodes (default false).
    pub cluster: Option<bool>,
    /// How long a node trusts its cached copy of a record (default 1 s) unless its listener
    /// vouches for it: the bound on seeing a change made on another node.
    pub staleness_seconds: Option<f64>,
    /// How long a cached copy is trusted while the listener that stood when it was read stands
    /// still (default 60 s, at least `stalenessSeconds`): the bound on seeing a change made in
    /// Redis without ezauth, which no node announces.
    pub revalidate_seconds: Option<f64>,
    /// The primary is found through Redis Sentinel (not with `cluster`).
    pub sentinel: Option<RedisSentinel>,
}

/// `ezauth.tokenStore.redis.sentinel`, as oauth2-proxy's sentinel options.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RedisSentinel {
    /// The name the sentinels monitor the primary under; also the host of the store URL.
    pub master_name: Option<String>,
    /// The environment variable holding the sentinels' URLs (`redis://[user:password@]host:port`
    /// or `rediss://`, comma-separated): may hold passwords, never in the file.
    pub urls_setting_name: Option<String>,
}
