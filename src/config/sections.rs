//! `resolve`, section by section of the authsettingsV2 document. Each function checks its
//! section in the order the checks ran when they were one function (the first error wins,
//! warnings come out in order), so splitting them changed no message.

use std::path::PathBuf;
use std::time::Duration;

use super::{
    cache_bytes, derive_app_id, invalid, parse_timespan, resolve_keys, schema, ConfigError,
    CorsPolicy, Environment, ForwardProxy, JsonPath, MetricsRoute, ProviderSettings,
    ProxyConvention, StoreSettings, UnauthenticatedAction, DEFAULT_TOKEN_DIRECTORY,
};
use crate::crypto::Keys;

/// The warning for a setting ezauth reads but does not act on, and why.
fn not_acted_on(path: &str, why: &str) -> String {
    format!("{path} is accepted but ezauth does not act on it: {why}")
}

/// Settings App Service records that ezauth accepts without acting on them: one warning each.
pub(super) fn platform_notes(raw: &schema::AuthSettings, warnings: &mut Vec<String>) {
    if let Some(p) = &raw.platform {
        // "~1" is the only runtime App Service's v2 settings name; ezauth follows it.
        if p.runtime_version.as_deref().is_some_and(|v| v != "~1") {
            warnings.push(not_acted_on(
                "platform.runtimeVersion",
                "ezauth's behavior follows its own version",
            ));
        }
        if let Some(file) = &p.config_file_path {
            warnings.push(not_acted_on(
                "platform.configFilePath",
                &format!("ezauth reads the file its host names (to use {file:?}, name that file)"),
            ));
        }
    }
    if raw.legacy_properties.is_some() {
        warnings.push(not_acted_on(
            "legacyProperties",
            "it records App Service's own migration state",
        ));
    }
    if raw.clear_inbound_claims_mapping == Some(schema::BoolOrString(true)) {
        warnings.push(not_acted_on(
            "clearInboundClaimsMapping",
            "ezauth always maps claim types as App Service does by default (short JWT names to \
             the .NET claim URIs in X-MS-CLIENT-PRINCIPAL)",
        ));
    }
}

/// `globalValidation`: who must sign in, and what happens to those who did not.
pub(super) struct Access {
    pub action: UnauthenticatedAction,
    pub require_authentication: bool,
}

/// `globalValidation` without `redirectToProvider` (which needs the providers).
pub(super) fn global_validation(gv: &schema::GlobalValidation) -> Result<Access, ConfigError> {
    let action = gv
        .unauthenticated_client_action
        .unwrap_or(UnauthenticatedAction::RedirectToLoginPage);
    // App Service applies the action when authentication is required; a config that names a
    // rejecting action without the flag means it, so only an explicit `false` turns it off.
    let require_authentication = gv
        .require_authentication
        .unwrap_or(action != UnauthenticatedAction::AllowAnonymous);

    for (i, p) in gv.excluded_paths.iter().enumerate() {
        if !p.starts_with('/') {
            return Err(invalid(
                &JsonPath::root("globalValidation")
                    .key("excludedPaths")
                    .index(i),
                "must start with /",
            ));
        }
    }

    Ok(Access {
        action,
        require_authentication,
    })
}

/// `globalValidation.redirectToProvider`: the provider `/.auth/login` and unauthenticated
/// browsers go to, by name or alias; the only provider when there is one.
pub(super) fn default_provider(
    redirect_to_provider: Option<String>,
    providers: &[ProviderSettings],
    enabled: bool,
    access: &Access,
) -> Result<Option<String>, ConfigError> {
    let Access {
        action,
        require_authentication,
    } = *access;
    let default_provider = match redirect_to_provider {
        Some(name) => {
            let wanted = super::providers::redirect_name(&name);
            let found = providers
                .iter()
                .find(|p| p.name.eq_ignore_ascii_case(&wanted))
                .ok_or_else(|| {
                    invalid(
                        "globalValidation.redirectToProvider",
                        format!("no enabled provider named {name:?}"),
                    )
                })?;
            Some(found.name.clone())
        }
        None if providers.len() == 1 => Some(providers[0].name.clone()),
        None => None,
    };
    if enabled
        && require_authentication
        && action == UnauthenticatedAction::RedirectToLoginPage
        && default_provider.is_none()
    {
        return Err(invalid(
            "globalValidation.redirectToProvider",
            "RedirectToLoginPage needs a provider: set redirectToProvider (or enable exactly one provider)",
        ));
    }

    Ok(default_provider)
}

/// `login`, resolved.
pub(super) struct Login {
    pub token_store: Option<StoreSettings>,
    pub refresh_extension: Duration,
    pub allowed_external_redirect_urls: Vec<String>,
    pub cookie_lifetime: Duration,
    pub session_follows_provider: bool,
    pub preserve_url_fragments: bool,
    pub logout_endpoint: Option<String>,
    pub nonce_lifetime: Duration,
}

/// `login`: the token store, cookie and nonce lifetimes, redirects and routes.
pub(super) fn login(
    login: schema::Login,
    env: &dyn Environment,
    warnings: &mut Vec<String>,
) -> Result<Login, ConfigError> {
    if login.nonce.as_ref().and_then(|n| n.validate_nonce) == Some(false) {
        warnings.push(not_acted_on(
            "login.nonce.validateNonce",
            "false asks to skip nonce checks; ezauth always checks the nonce",
        ));
    }
    let (token_store, refresh_extension) =
        token_store(login.token_store.unwrap_or_default(), env, warnings)?;

    for (i, url) in login.allowed_external_redirect_urls.iter().enumerate() {
        let ok = url::Url::parse(url)
            .map(|u| matches!(u.scheme(), "http" | "https") || !u.cannot_be_a_base())
            .unwrap_or(false);
        if !ok {
            return Err(invalid(
                &JsonPath::root("login")
                    .key("allowedExternalRedirectUrls")
                    .index(i),
                "must be an absolute URL",
            ));
        }
    }

    let logout_endpoint = login.routes.and_then(|r| r.logout_endpoint);
    if let Some(p) = &logout_endpoint {
        if !p.starts_with('/') || p.contains(['?', '#', ' ']) || p.len() < 2 {
            return Err(invalid(
                "login.routes.logoutEndpoint",
                "must be a path like /signout",
            ));
        }
    }
    let cookie_expiration = login.cookie_expiration.unwrap_or_default();
    let session_follows_provider =
        cookie_expiration.convention == Some(schema::CookieConvention::IdentityProviderDerived);
    let cookie_lifetime = match cookie_expiration.time_to_expiration {
        Some(t) => parse_timespan(&t).filter(|d| !d.is_zero()).ok_or_else(|| {
            invalid(
                "login.cookieExpiration.timeToExpiration",
                "expected hh:mm:ss (or d.hh:mm:ss), greater than zero",
            )
        })?,
        None => Duration::from_secs(8 * 3600),
    };
    let nonce_lifetime = match login.nonce.and_then(|n| n.nonce_expiration_interval) {
        Some(t) => parse_timespan(&t)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| invalid("login.nonce.nonceExpirationInterval", "expected hh:mm:ss"))?,
        None => Duration::from_secs(300),
    };

    Ok(Login {
        token_store,
        refresh_extension,
        allowed_external_redirect_urls: login.allowed_external_redirect_urls,
        cookie_lifetime,
        session_follows_provider,
        preserve_url_fragments: login.preserve_url_fragments_for_logins.unwrap_or(false),
        logout_endpoint,
        nonce_lifetime,
    })
}

/// `login.tokenStore`: where sessions' provider tokens are kept, and how long past a
/// session's end they may still refresh it.
fn token_store(
    store: schema::TokenStore,
    env: &dyn Environment,
    warnings: &mut Vec<String>,
) -> Result<(Option<StoreSettings>, Duration), ConfigError> {
    let enabled = store.enabled.unwrap_or(false);
    let blob = match enabled {
        true => blob_store(store.azure_blob_storage.as_ref(), env)?,
        false => None,
    };
    let refresh_extension = refresh_extension(&store)?;
    let token_store = if blob.is_some() {
        blob
    } else if enabled {
        let directory = match store
            .file_system
            .and_then(|f| f.directory)
            .filter(|d| !d.is_empty())
            .or_else(|| {
                env.var("WEBSITE_AUTH_STATE_DIRECTORY")
                    .filter(|d| !d.is_empty())
            }) {
            Some(d) => d,
            None => {
                warnings.push(format!(
                    "login.tokenStore.fileSystem.directory is not set (nor \
                     WEBSITE_AUTH_STATE_DIRECTORY): the token store is {DEFAULT_TOKEN_DIRECTORY}"
                ));
                DEFAULT_TOKEN_DIRECTORY.to_owned()
            }
        };
        Some(StoreSettings::File {
            directory: PathBuf::from(directory),
        })
    } else {
        None
    };
    Ok((token_store, refresh_extension))
}

fn refresh_extension(store: &schema::TokenStore) -> Result<Duration, ConfigError> {
    let refresh_hours = store.token_refresh_extension_hours.unwrap_or(72.0);
    if !(0.0..=24.0 * 365.0).contains(&refresh_hours) {
        return Err(invalid(
            "login.tokenStore.tokenRefreshExtensionHours",
            "must be between 0 and 8760",
        ));
    }
    Ok(Duration::from_secs_f64(refresh_hours * 3600.0))
}

/// The Azure Blob store, when configured: `azureBlobStorage.sasUrlSettingName` names the
/// variable holding the container SAS URL, else `WEBSITE_AUTH_TOKEN_CONTAINER_SASURL` holds
/// it. Either wins over `fileSystem`, as on App Service. `"azureBlobStorage": {}` is how
/// exports say "no blob store". Messages never repeat the URL's SAS.
fn blob_store(
    blob: Option<&schema::BlobStore>,
    env: &dyn Environment,
) -> Result<Option<StoreSettings>, ConfigError> {
    const V1: &str = "WEBSITE_AUTH_TOKEN_CONTAINER_SASURL";
    const PATH: &str = "login.tokenStore.azureBlobStorage.sasUrlSettingName";
    let named = blob
        .and_then(|b| b.sas_url_setting_name.as_deref())
        .filter(|n| !n.is_empty());
    let (setting, path, value) = match named {
        Some(name) => {
            let value =
                env.var(name)
                    .filter(|v| !v.trim().is_empty())
                    .ok_or_else(|| {
                        invalid(
                    PATH,
                    format!("names {name}, which is not set (it must hold the container SAS URL)"),
                )
                    })?;
            (name.to_owned(), PATH, value)
        }
        None => match env.var(V1).filter(|v| !v.trim().is_empty()) {
            Some(value) => (V1.to_owned(), V1, value),
            None => return Ok(None),
        },
    };
    let container = crate::store::blob::ContainerUrl::parse(&value)
        .map_err(|why| invalid(path, format!("{setting}: {why}")))?;
    Ok(Some(StoreSettings::Blob {
        container,
        setting,
        http_timeout: Duration::from_secs(10),
        staleness: Duration::from_secs(2),
    }))
}

/// `httpSettings`, resolved.
pub(super) struct Http {
    pub api_prefix: String,
    pub forward_proxy: ForwardProxy,
    pub require_https: bool,
}

/// `httpSettings`: the route prefix, the forward proxy convention, https.
pub(super) fn http_settings(http: schema::HttpSettings) -> Result<Http, ConfigError> {
    let api_prefix = http
        .routes
        .and_then(|r| r.api_prefix)
        .unwrap_or_else(|| "/.auth".to_owned());
    let api_prefix = api_prefix.trim_end_matches('/').to_owned();
    if !api_prefix.starts_with('/') || api_prefix.len() < 2 || api_prefix.contains(['?', '#', ' '])
    {
        return Err(invalid(
            "httpSettings.routes.apiPrefix",
            "must be a path like /.auth",
        ));
    }

    let fp = http.forward_proxy.unwrap_or_default();
    let forward_proxy = ForwardProxy {
        convention: fp.convention.unwrap_or(ProxyConvention::NoProxy),
        host_header: fp.custom_host_header_name,
        proto_header: fp.custom_proto_header_name,
    };
    if forward_proxy.convention == ProxyConvention::Custom
        && forward_proxy.host_header.is_none()
        && forward_proxy.proto_header.is_none()
    {
        return Err(invalid(
            "httpSettings.forwardProxy",
            "the Custom convention needs customHostHeaderName or customProtoHeaderName",
        ));
    }

    let require_https = http.require_https.unwrap_or(true);
    Ok(Http {
        api_prefix,
        forward_proxy,
        require_https,
    })
}

/// The `ezauth` block (ezauth's own settings), resolved, with the keys.
pub(super) struct Ezauth {
    pub keys: Keys,
    pub app_id: String,
    pub cors: Option<CorsPolicy>,
    pub host_prefix_cookies: bool,
    pub cookie_same_site: crate::session::SameSite,
    pub http_timeout: Duration,
    pub http_connect_timeout: Duration,
    pub refresh_before_expiry: Option<i64>,
    pub cache_bytes: usize,
    /// `ezauth.azureBlobStorage.stalenessSeconds`.
    pub blob_staleness: Duration,
    pub metrics: Option<MetricsRoute>,
}

/// The `ezauth` block and the keys (their names come from it); the app id is derived from
/// the providers and the route prefix unless set.
pub(super) fn ezauth(
    ext: schema::Extensions,
    env: &dyn Environment,
    providers: &[ProviderSettings],
    http: &Http,
) -> Result<Ezauth, ConfigError> {
    let Http {
        api_prefix,
        require_https,
        ..
    } = http;
    let require_https = *require_https;
    let keys = resolve_keys(
        env,
        &ext.previous_encryption_key_setting_names,
        &ext.previous_signing_key_setting_names,
    )?;
    let app_id = match ext.app_id {
        Some(id) if id.is_empty() || id.len() > 256 => {
            return Err(invalid("ezauth.appId", "must be 1 to 256 characters"))
        }
        Some(id) => id,
        None => {
            // Apps that admit different users never accept each other's credentials; a key
            // rotation or a restart from another path changes nothing here.
            let mut parts: Vec<String> = providers
                .iter()
                .map(|p| format!("{}={} {:?}", p.name, p.client_id, p.authorization))
                .collect();
            parts.sort();
            parts.push(api_prefix.clone());
            derive_app_id(&parts)
        }
    };
    let cors = match ext.cors {
        None => None,
        Some(c) => {
            let credentials = c.support_credentials.unwrap_or(false);
            for (i, o) in c.allowed_origins.iter().enumerate() {
                let exact = url::Url::parse(o)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .is_some_and(|u| u.origin().ascii_serialization() == o.to_ascii_lowercase());
                if !(exact || (o == "*" && !credentials)) {
                    return Err(invalid(
                        &JsonPath::root("ezauth").key("cors").key("allowedOrigins").index(i),
                        "must be an origin such as https://app.example (or * without supportCredentials)",
                    ));
                }
            }
            Some(CorsPolicy {
                allowed_origins: c.allowed_origins,
                support_credentials: credentials,
                max_age: c.max_age_seconds.unwrap_or(600),
            })
        }
    };
    let host_prefix_cookies = ext.cookies.and_then(|c| c.host_prefix).unwrap_or(false);
    if host_prefix_cookies && !require_https {
        // Browsers keep a `__Host-` cookie only when it is `Secure`, set over https: on plain
        // http every sign-in would be dropped by the browser.
        return Err(invalid(
            "ezauth.cookies.hostPrefix",
            "needs httpSettings.requireHttps: true (browsers accept __Host- cookies only over https)",
        ));
    }
    let cookie_same_site = match ext.cookie_same_site.as_deref() {
        None | Some("Lax") => crate::session::SameSite::Lax,
        Some("Strict") => crate::session::SameSite::Strict,
        Some("None") if require_https => crate::session::SameSite::None,
        // Browsers drop a `SameSite=None` cookie without `Secure`, and a `Secure` cookie is
        // only sent over https: on plain http nobody could sign in. Refused rather than
        // silently downgraded, so an app that needs it for its iframe learns at start.
        Some("None") => {
            return Err(invalid(
                "ezauth.cookieSameSite",
                "None needs httpSettings.requireHttps: true (browsers accept SameSite=None \
                 cookies only with Secure, and send Secure cookies only over https)",
            ))
        }
        Some(_) => {
            return Err(invalid(
                "ezauth.cookieSameSite",
                "must be \"Lax\", \"Strict\" or \"None\"",
            ))
        }
    };
    let seconds = |v: Option<f64>, default: f64, path: &str| -> Result<Duration, ConfigError> {
        let s = v.unwrap_or(default);
        if s > 0.0 && s <= 600.0 {
            Ok(Duration::from_secs_f64(s))
        } else {
            Err(invalid(path, "must be between 0 and 600 seconds"))
        }
    };

    let blob_staleness = match ext.azure_blob_storage.and_then(|b| b.staleness_seconds) {
        None => Duration::from_secs(2),
        Some(s) if s > 0.0 && s <= 60.0 => Duration::from_secs_f64(s),
        Some(_) => {
            return Err(invalid(
                "ezauth.azureBlobStorage.stalenessSeconds",
                "must be more than 0 and at most 60 seconds",
            ))
        }
    };

    Ok(Ezauth {
        blob_staleness,
        // Token-store entries are the app's, as its cookies and session tokens are.
        keys: keys.for_app(&app_id),
        app_id,
        cors,
        host_prefix_cookies,
        cookie_same_site,
        http_timeout: seconds(ext.http_timeout_seconds, 10.0, "ezauth.httpTimeoutSeconds")?,
        http_connect_timeout: seconds(
            ext.http_connect_timeout_seconds,
            3.0,
            "ezauth.httpConnectTimeoutSeconds",
        )?,
        refresh_before_expiry: refresh_window(ext.refresh_before_expiry_seconds)?,
        cache_bytes: cache_bytes(ext.cache_megabytes)?,
        metrics: metrics(ext.metrics, api_prefix)?,
    })
}

/// `ezauth.metrics`: `None` unless enabled. The path is a plain absolute path (no query,
/// escapes or dot segments, so the raw request path compares byte for byte); the addresses are
/// IP addresses, compared with the host's own client address.
fn metrics(
    raw: Option<schema::Metrics>,
    api_prefix: &str,
) -> Result<Option<MetricsRoute>, ConfigError> {
    let Some(raw) = raw.filter(|m| m.enabled == Some(true)) else {
        return Ok(None);
    };
    let root = JsonPath::root("ezauth").key("metrics");
    let path = raw.path.unwrap_or_else(|| format!("{api_prefix}/metrics"));
    let plain = path.starts_with('/')
        && path.len() <= 256
        && path
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#' | b'%' | b'\\' | b';'))
        && !path.split('/').any(|s| s == "." || s == "..")
        && !path.contains("//");
    if !plain {
        return Err(invalid(
            &root.key("path"),
            "must be an absolute path such as /.auth/metrics (no query, escapes or dot segments)",
        ));
    }
    let addresses = raw
        .allowed_addresses
        .unwrap_or_else(|| vec!["127.0.0.1".into(), "::1".into()]);
    if addresses.is_empty() {
        return Err(invalid(
            &root.key("allowedAddresses"),
            "must list at least one client address",
        ));
    }
    let allowed = addresses
        .iter()
        .enumerate()
        .map(|(i, a)| {
            a.parse().map_err(|_| {
                invalid(
                    &root.key("allowedAddresses").index(i),
                    "must be an IP address such as 127.0.0.1 or ::1",
                )
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(MetricsRoute { path, allowed }))
}

/// Longest `ezauth.refreshBeforeExpirySeconds`: a day. Provider access tokens live an hour or
/// so; a window longer than a token's whole life would refresh on every request (bounded only
/// by the back-off), and anything this large is a typo.
const MAX_REFRESH_WINDOW: f64 = 86_400.0;

/// `ezauth.refreshBeforeExpirySeconds` as whole seconds (a fraction rounds up); `None` when
/// absent or 0: off.
fn refresh_window(seconds: Option<f64>) -> Result<Option<i64>, ConfigError> {
    match seconds {
        None | Some(0.0) => Ok(None),
        Some(s) if s > 0.0 && s <= MAX_REFRESH_WINDOW => Ok(Some(s.ceil() as i64)),
        Some(_) => Err(invalid(
            "ezauth.refreshBeforeExpirySeconds",
            "must be a number of seconds from 0 (off) to 86400",
        )),
    }
}
