//! App Service's legacy configuration: the v1 `authsettings` shape (flat keys) and the
//! `WEBSITE_AUTH_*` app settings the platform hands its middleware. Both are translated into an
//! authsettingsV2 tree and then read by the one v2 resolver, so a setting means the same
//! whichever way it was written; `ezauth check-config --print-v2` prints that tree.
//!
//! Precedence: a v1 document says what it says; the `WEBSITE_AUTH_*` settings fill in what it
//! leaves out (as on App Service, where the platform derives them from the same settings), and
//! with no document at all (an empty configuration file) they are the whole configuration. With
//! an authsettingsV2 document they are ignored, with a warning naming them.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::document::Document;
use super::{invalid, ConfigError, Environment};

/// The v1 `SiteAuthSettings` properties (Azure/azure-rest-api-specs, `WebApps.json`, definition
/// `SiteAuthSettings`).
pub const V1_KEYS: &[&str] = &[
    "enabled",
    "runtimeVersion",
    "unauthenticatedClientAction",
    "tokenStoreEnabled",
    "allowedExternalRedirectUrls",
    "defaultProvider",
    "tokenRefreshExtensionHours",
    "clientId",
    "clientSecret",
    "clientSecretSettingName",
    "clientSecretCertificateThumbprint",
    "issuer",
    "validateIssuer",
    "allowedAudiences",
    "additionalLoginParams",
    "aadClaimsAuthorization",
    "googleClientId",
    "googleClientSecret",
    "googleClientSecretSettingName",
    "googleOAuthScopes",
    "facebookAppId",
    "facebookAppSecret",
    "facebookAppSecretSettingName",
    "facebookOAuthScopes",
    "gitHubClientId",
    "gitHubClientSecret",
    "gitHubClientSecretSettingName",
    "gitHubOAuthScopes",
    "twitterConsumerKey",
    "twitterConsumerSecret",
    "twitterConsumerSecretSettingName",
    "microsoftAccountClientId",
    "microsoftAccountClientSecret",
    "microsoftAccountClientSecretSettingName",
    "microsoftAccountOAuthScopes",
    "isAuthFromFile",
    "authFilePath",
    "configVersion",
    "isAadAutoProvisioned",
];

#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Number,
    Text,
    /// Comma-separated, or a JSON array.
    List,
    /// The variable holds a secret: the v1 key (a `...SettingName`) gets the variable's name.
    SecretHere,
}

/// `WEBSITE_AUTH_*` settings that are v1 properties (MicrosoftDocs/azure-docs,
/// `articles/app-service/reference-app-settings.md`, "Authentication & Authorization").
const ENV_V1: &[(&str, &str, Kind)] = &[
    ("WEBSITE_AUTH_ENABLED", "enabled", Kind::Bool),
    ("WEBSITE_AUTH_RUNTIME_VERSION", "runtimeVersion", Kind::Text),
    (
        "WEBSITE_AUTH_DEFAULT_PROVIDER",
        "defaultProvider",
        Kind::Text,
    ),
    (
        "WEBSITE_AUTH_UNAUTHENTICATED_ACTION",
        "unauthenticatedClientAction",
        Kind::Text,
    ),
    ("WEBSITE_AUTH_TOKEN_STORE", "tokenStoreEnabled", Kind::Bool),
    (
        "WEBSITE_AUTH_TOKEN_REFRESH_HOURS",
        "tokenRefreshExtensionHours",
        Kind::Number,
    ),
    (
        "WEBSITE_AUTH_EXTERNAL_REDIRECT_URLS",
        "allowedExternalRedirectUrls",
        Kind::List,
    ),
    ("WEBSITE_AUTH_CLIENT_ID", "clientId", Kind::Text),
    (
        "WEBSITE_AUTH_CLIENT_SECRET",
        "clientSecretSettingName",
        Kind::SecretHere,
    ),
    (
        "WEBSITE_AUTH_CLIENT_SECRET_SETTING_NAME",
        "clientSecretSettingName",
        Kind::Text,
    ),
    (
        "WEBSITE_AUTH_CLIENT_SECRET_CERTIFICATE_THUMBPRINT",
        "clientSecretCertificateThumbprint",
        Kind::Text,
    ),
    ("WEBSITE_AUTH_OPENID_ISSUER", "issuer", Kind::Text),
    (
        "WEBSITE_AUTH_ALLOWED_AUDIENCES",
        "allowedAudiences",
        Kind::List,
    ),
    (
        "WEBSITE_AUTH_LOGIN_PARAMS",
        "additionalLoginParams",
        Kind::List,
    ),
    ("WEBSITE_AUTH_AUTO_AAD", "isAadAutoProvisioned", Kind::Bool),
    (
        "WEBSITE_AUTH_AAD_CLAIMS_AUTHORIZATION",
        "aadClaimsAuthorization",
        Kind::Text,
    ),
    (
        "WEBSITE_AUTH_GOOGLE_CLIENT_ID",
        "googleClientId",
        Kind::Text,
    ),
    (
        "WEBSITE_AUTH_GOOGLE_CLIENT_SECRET",
        "googleClientSecretSettingName",
        Kind::SecretHere,
    ),
    (
        "WEBSITE_AUTH_GOOGLE_CLIENT_SECRET_SETTING_NAME",
        "googleClientSecretSettingName",
        Kind::Text,
    ),
    ("WEBSITE_AUTH_GOOGLE_SCOPE", "googleOAuthScopes", Kind::List),
    ("WEBSITE_AUTH_FB_APP_ID", "facebookAppId", Kind::Text),
    (
        "WEBSITE_AUTH_FB_APP_SECRET",
        "facebookAppSecretSettingName",
        Kind::SecretHere,
    ),
    (
        "WEBSITE_AUTH_FB_APP_SECRET_SETTING_NAME",
        "facebookAppSecretSettingName",
        Kind::Text,
    ),
    ("WEBSITE_AUTH_FB_SCOPE", "facebookOAuthScopes", Kind::List),
    (
        "WEBSITE_AUTH_GITHUB_CLIENT_ID",
        "gitHubClientId",
        Kind::Text,
    ),
    (
        "WEBSITE_AUTH_GITHUB_CLIENT_SECRET",
        "gitHubClientSecretSettingName",
        Kind::SecretHere,
    ),
    (
        "WEBSITE_AUTH_GITHUB_CLIENT_SECRET_SETTING_NAME",
        "gitHubClientSecretSettingName",
        Kind::Text,
    ),
    (
        "WEBSITE_AUTH_GITHUB_APP_SCOPE",
        "gitHubOAuthScopes",
        Kind::List,
    ),
    (
        "WEBSITE_AUTH_TWITTER_CONSUMER_KEY",
        "twitterConsumerKey",
        Kind::Text,
    ),
    (
        "WEBSITE_AUTH_TWITTER_CONSUMER_SECRET",
        "twitterConsumerSecretSettingName",
        Kind::SecretHere,
    ),
    (
        "WEBSITE_AUTH_TWITTER_CONSUMER_SECRET_SETTING_NAME",
        "twitterConsumerSecretSettingName",
        Kind::Text,
    ),
    (
        "WEBSITE_AUTH_MSA_CLIENT_ID",
        "microsoftAccountClientId",
        Kind::Text,
    ),
    (
        "WEBSITE_AUTH_MSA_CLIENT_SECRET",
        "microsoftAccountClientSecretSettingName",
        Kind::SecretHere,
    ),
    (
        "WEBSITE_AUTH_MSA_CLIENT_SECRET_SETTING_NAME",
        "microsoftAccountClientSecretSettingName",
        Kind::Text,
    ),
    (
        "WEBSITE_AUTH_MSA_SCOPE",
        "microsoftAccountOAuthScopes",
        Kind::List,
    ),
];

/// `WEBSITE_AUTH_*` settings with no v1 property: they go straight to their v2 place.
const ENV_V2: &[(&str, &[&str], Kind)] = &[
    (
        "WEBSITE_AUTH_API_PREFIX",
        &["httpSettings", "routes", "apiPrefix"],
        Kind::Text,
    ),
    (
        "WEBSITE_AUTH_REQUIRE_HTTPS",
        &["httpSettings", "requireHttps"],
        Kind::Bool,
    ),
    (
        "WEBSITE_AUTH_PRESERVE_URL_FRAGMENT",
        &["login", "preserveUrlFragmentsForLogins"],
        Kind::Bool,
    ),
    (
        "WEBSITE_AUTH_NONCE_DURATION",
        &["login", "nonce", "nonceExpirationInterval"],
        Kind::Text,
    ),
    (
        "WEBSITE_AUTH_VALIDATE_NONCE",
        &["login", "nonce", "validateNonce"],
        Kind::Bool,
    ),
    (
        "WEBSITE_AUTH_COOKIE_EXPIRATION_TIME",
        &["login", "cookieExpiration", "timeToExpiration"],
        Kind::Text,
    ),
    (
        "WEBSITE_AUTH_COOKIE_EXPIRATION_MODE",
        &["login", "cookieExpiration", "convention"],
        Kind::Text,
    ),
    (
        "WEBSITE_AUTH_PROXY_HEADER_CONVENTION",
        &["httpSettings", "forwardProxy", "convention"],
        Kind::Text,
    ),
    (
        "WEBSITE_AUTH_PROXY_HOST_HEADER",
        &["httpSettings", "forwardProxy", "customHostHeaderName"],
        Kind::Text,
    ),
    (
        "WEBSITE_AUTH_PROXY_PROTO_HEADER",
        &["httpSettings", "forwardProxy", "customProtoHeaderName"],
        Kind::Text,
    ),
    (
        "WEBSITE_AUTH_DISABLE_WWWAUTHENTICATE",
        &[
            "identityProviders",
            "azureActiveDirectory",
            "login",
            "disableWWWAuthenticate",
        ],
        Kind::Bool,
    ),
];

/// Read by App Service's middleware for behavior ezauth does not have: a warning each.
const ENV_NOT_ACTED_ON: &[&str] = &[
    "WEBSITE_AUTH_USE_LEGACY_CLAIMS",
    "WEBSITE_AUTH_HIDE_DEPRECATED_SID",
    "WEBSITE_AUTH_DISABLE_IDENTITY_FLOW",
    "WEBSITE_AUTH_TRACE_LEVEL",
    "WEBSITE_AUTH_MOBILE_COMPAT",
    "WEBSITE_AUTH_CUSTOM_IDPS",
    "WEBSITE_AUTH_ZUMO_USE_TOKEN_STORE_CLAIMS",
    "WEBSITE_AUTH_AAD_BYPASS_SINGLE_TENANCY_CHECK",
    "WEBSITE_AUTH_CONFIG_DIR",
];

/// Authorization rules in a form ezauth cannot read: refused rather than ignored, since
/// ignoring them would admit users the configuration keeps out.
const ENV_REFUSED: &[&str] = &["WEBSITE_AUTH_CUSTOM_AUTHZ_SETTINGS"];

/// The conventional setting names App Service uses for each provider's secret; a v1 secret
/// written inline is looked up under this name.
const SECRET_NAMES: &[(&str, &str)] = &[
    ("clientSecret", "MICROSOFT_PROVIDER_AUTHENTICATION_SECRET"),
    (
        "googleClientSecret",
        "GOOGLE_PROVIDER_AUTHENTICATION_SECRET",
    ),
    (
        "facebookAppSecret",
        "FACEBOOK_PROVIDER_AUTHENTICATION_SECRET",
    ),
    (
        "gitHubClientSecret",
        "GITHUB_PROVIDER_AUTHENTICATION_SECRET",
    ),
    (
        "twitterConsumerSecret",
        "TWITTER_PROVIDER_AUTHENTICATION_SECRET",
    ),
    (
        "microsoftAccountClientSecret",
        "MICROSOFT_IDENTITY_AUTHENTICATION_SECRET",
    ),
];

/// How a v1 provider other than Azure AD maps to its v2 object.
struct OtherV1 {
    provider: &'static str,
    id_key: &'static str,
    id_field: &'static str,
    secret_key: &'static str,
    setting_key: &'static str,
    setting_field: &'static str,
    scopes_key: Option<&'static str>,
}

const OTHERS_V1: &[OtherV1] = &[
    OtherV1 {
        provider: "google",
        id_key: "googleClientId",
        id_field: "clientId",
        secret_key: "googleClientSecret",
        setting_key: "googleClientSecretSettingName",
        setting_field: "clientSecretSettingName",
        scopes_key: Some("googleOAuthScopes"),
    },
    OtherV1 {
        provider: "facebook",
        id_key: "facebookAppId",
        id_field: "appId",
        secret_key: "facebookAppSecret",
        setting_key: "facebookAppSecretSettingName",
        setting_field: "appSecretSettingName",
        scopes_key: Some("facebookOAuthScopes"),
    },
    OtherV1 {
        provider: "gitHub",
        id_key: "gitHubClientId",
        id_field: "clientId",
        secret_key: "gitHubClientSecret",
        setting_key: "gitHubClientSecretSettingName",
        setting_field: "clientSecretSettingName",
        scopes_key: Some("gitHubOAuthScopes"),
    },
    OtherV1 {
        provider: "twitter",
        id_key: "twitterConsumerKey",
        id_field: "consumerKey",
        secret_key: "twitterConsumerSecret",
        setting_key: "twitterConsumerSecretSettingName",
        setting_field: "consumerSecretSettingName",
        scopes_key: None,
    },
    OtherV1 {
        provider: "legacyMicrosoftAccount",
        id_key: "microsoftAccountClientId",
        id_field: "clientId",
        secret_key: "microsoftAccountClientSecret",
        setting_key: "microsoftAccountClientSecretSettingName",
        setting_field: "clientSecretSettingName",
        scopes_key: Some("microsoftAccountOAuthScopes"),
    },
];

/// App Service's booleans in app settings: `true`/`false` in any case, or `1`/`0`.
pub fn truthy(v: &str, name: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(invalid(
            name,
            format!("expected true or false, found {v:?}"),
        )),
    }
}

fn typed(name: &str, raw: &str, kind: Kind) -> Result<Value, ConfigError> {
    Ok(match kind {
        Kind::Bool => Value::Bool(truthy(raw, name)?),
        Kind::Number => {
            let n: f64 = raw
                .trim()
                .parse()
                .map_err(|_| invalid(name, format!("expected a number, found {raw:?}")))?;
            json!(n)
        }
        Kind::Text => Value::String(raw.to_owned()),
        Kind::SecretHere => Value::String(name.to_owned()),
        Kind::List => {
            let items: Vec<String> = if raw.trim_start().starts_with('[') {
                serde_json::from_str(raw)
                    .map_err(|e| invalid(name, format!("expected a JSON array of strings: {e}")))?
            } else {
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            };
            json!(items)
        }
    })
}

/// The v1 settings the environment holds, typed, with the variable each came from.
fn v1_env(env: &dyn Environment) -> Result<Vec<(&'static str, &'static str, Value)>, ConfigError> {
    let mut out: Vec<(&str, &str, Value)> = Vec::new();
    for (name, key, kind) in ENV_V1 {
        let Some(raw) = env.var(name) else { continue };
        if let Some((other, _, _)) = out.iter().find(|(_, k, _)| k == key) {
            return Err(invalid(
                name,
                format!("{other} and {name} both set the same secret: keep one"),
            ));
        }
        out.push((name, key, typed(name, &raw, *kind)?));
    }
    Ok(out)
}

/// The v1 document the `WEBSITE_AUTH_*` settings describe (empty when none is set).
pub fn v1_from_env(env: &dyn Environment) -> Result<Map<String, Value>, ConfigError> {
    Ok(v1_env(env)?
        .into_iter()
        .map(|(_, k, v)| (k.to_owned(), v))
        .collect())
}

/// The v2-only `WEBSITE_AUTH_*` settings that are set.
pub fn v2_settings_in_env(env: &dyn Environment) -> Vec<&'static str> {
    ENV_V2
        .iter()
        .map(|(n, _, _)| *n)
        .chain(["WEBSITE_AUTH_LOGOUT_PATH"])
        .chain(ENV_NOT_ACTED_ON.iter().copied())
        .chain(ENV_REFUSED.iter().copied())
        .filter(|n| env.var(n).is_some())
        .collect()
}

/// Every legacy setting that is set, for the warning an authsettingsV2 configuration gives.
/// `WEBSITE_AUTH_ENABLED` is left out: App Service sets it for every configuration.
pub fn v1_env_names_set(env: &dyn Environment) -> Vec<String> {
    let mut names: Vec<String> = ENV_V1
        .iter()
        .map(|(n, _, _)| *n)
        .filter(|n| *n != "WEBSITE_AUTH_ENABLED" && env.var(n).is_some())
        .map(str::to_owned)
        .collect();
    names.extend(v2_settings_in_env(env).into_iter().map(str::to_owned));
    names
}

/// Builds the v2 tree as it is written, recording where each value came from.
struct Builder {
    tree: Map<String, Value>,
    sources: Vec<(String, String)>,
}

impl Builder {
    fn put(&mut self, path: &[&str], value: Value, source: &str) {
        let mut node = &mut self.tree;
        for key in &path[..path.len() - 1] {
            let entry = node
                .entry(key.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            let Value::Object(next) = entry else { return };
            node = next;
        }
        node.insert(path[path.len() - 1].to_owned(), value);
        self.sources.push((path.join("."), source.to_owned()));
    }

    fn has(&self, path: &[&str]) -> bool {
        let mut node = &self.tree;
        for (i, key) in path.iter().enumerate() {
            match node.get(*key) {
                Some(Value::Object(next)) => node = next,
                Some(_) => return i == path.len() - 1,
                None => return false,
            }
        }
        true
    }
}

/// Reads a v1 value of the expected JSON type; errors name what the user wrote.
struct V1<'a> {
    map: &'a Map<String, Value>,
    /// v1 key → the environment variable it came from.
    from_env: &'a HashMap<String, String>,
}

impl V1<'_> {
    fn name(&self, key: &str) -> String {
        self.from_env
            .get(key)
            .cloned()
            .unwrap_or_else(|| key.to_owned())
    }

    fn text(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(&self.name(key), "expected a string")),
        }
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            // `isAuthFromFile` is a string in ARM; App Service's tools write others as such too.
            Some(Value::String(s)) => truthy(s, &self.name(key)).map(Some),
            Some(_) => Err(invalid(&self.name(key), "expected true or false")),
        }
    }

    fn list(&self, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str().map(str::to_owned).ok_or_else(|| {
                        invalid(&format!("{}[{i}]", self.name(key)), "expected a string")
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(invalid(&self.name(key), "expected an array of strings")),
        }
    }
}

/// Translates a v1 document (with the `WEBSITE_AUTH_*` settings filling its gaps) into an
/// authsettingsV2 tree.
pub fn translate(
    mut v1: Map<String, Value>,
    env: &dyn Environment,
) -> Result<Document, ConfigError> {
    let mut warnings = Vec::new();
    if let Some(key) = v1.keys().find(|k| !V1_KEYS.contains(&k.as_str())) {
        return Err(invalid(key, "unknown field of a v1 authsettings document"));
    }
    let mut from_env = HashMap::new();
    for (name, key, value) in v1_env(env)? {
        // A secret is one slot: a document's inline secret is not joined by a variable's.
        let inline_in_doc = key
            .strip_suffix("SettingName")
            .is_some_and(|inline| v1.get(inline).is_some_and(|v| !v.is_null()));
        if !v1.contains_key(key) && !inline_in_doc {
            v1.insert(key.to_owned(), value);
            from_env.insert(key.to_owned(), name.to_owned());
        }
    }
    for name in ENV_REFUSED {
        if env.var(name).is_some() {
            return Err(invalid(
                name,
                "custom authorization settings are not supported: express the rules in \
                 identityProviders.azureActiveDirectory.validation of an authsettingsV2 file",
            ));
        }
    }
    for name in ENV_NOT_ACTED_ON {
        if env.var(name).is_some() {
            warnings.push(format!(
                "{name} is an App Service setting ezauth does not act on: ignored"
            ));
        }
    }
    let v = V1 {
        map: &v1,
        from_env: &from_env,
    };
    let mut b = Builder {
        tree: Map::new(),
        sources: Vec::new(),
    };

    if let Some(version) = v.text("configVersion")? {
        if !version.eq_ignore_ascii_case("v1") {
            return Err(invalid(
                &v.name("configVersion"),
                format!(
                    "{version:?}: this site's authentication was upgraded to authsettingsV2, so \
                     App Service no longer reads these v1 settings; export authsettingsV2 instead"
                ),
            ));
        }
    }
    if v.boolean("isAuthFromFile")? == Some(true) {
        let file = v.text("authFilePath")?.unwrap_or_default();
        return Err(invalid(
            &v.name("isAuthFromFile"),
            format!(
                "the settings live in the file {file:?} (authFilePath), not here: give ezauth \
                 that file"
            ),
        ));
    }
    if let Some(rules) = v.text("aadClaimsAuthorization")? {
        if !rules.trim().is_empty() && rules.trim() != "{}" {
            return Err(invalid(
                &v.name("aadClaimsAuthorization"),
                "is not supported: express its rules in \
                 identityProviders.azureActiveDirectory.validation of an authsettingsV2 file \
                 (ignoring them would admit users they keep out)",
            ));
        }
    }
    if v.boolean("validateIssuer")? == Some(false) {
        warnings.push(format!(
            "{}: false is not acted on: ezauth always checks the token issuer",
            v.name("validateIssuer")
        ));
    }

    if let Some(on) = v.boolean("enabled")? {
        b.put(&["platform", "enabled"], json!(on), &v.name("enabled"));
    }
    if let Some(rv) = v.text("runtimeVersion")? {
        b.put(
            &["platform", "runtimeVersion"],
            json!(rv),
            &v.name("runtimeVersion"),
        );
    }
    if let Some(action) = v.map.get("unauthenticatedClientAction") {
        let name = v.name("unauthenticatedClientAction");
        let anonymous = match action {
            Value::String(s) => s.eq_ignore_ascii_case("AllowAnonymous"),
            Value::Number(n) => n.as_u64() == Some(1),
            _ => {
                return Err(invalid(
                    &name,
                    "expected RedirectToLoginPage or AllowAnonymous",
                ))
            }
        };
        b.put(
            &["globalValidation", "requireAuthentication"],
            json!(!anonymous),
            &name,
        );
        b.put(
            &["globalValidation", "unauthenticatedClientAction"],
            action.clone(),
            &name,
        );
    }
    if let Some(p) = v.map.get("defaultProvider") {
        let name = v.name("defaultProvider");
        const ORDER: [&str; 6] = [
            "azureactivedirectory",
            "facebook",
            "google",
            "microsoftaccount",
            "twitter",
            "github",
        ];
        let key = match p {
            Value::String(s) => s.to_ascii_lowercase(),
            Value::Number(n) => n
                .as_u64()
                .and_then(|i| ORDER.get(i as usize))
                .map(|s| s.to_string())
                .ok_or_else(|| invalid(&name, "ordinal out of range"))?,
            _ => return Err(invalid(&name, "expected a provider name")),
        };
        if !ORDER.contains(&key.as_str()) {
            return Err(invalid(
                &name,
                format!("unknown provider {p}, expected one of AzureActiveDirectory, Facebook, Google, MicrosoftAccount, Twitter, Github"),
            ));
        }
        let v2 = if key == "microsoftaccount" {
            "legacymicrosoftaccount".to_owned()
        } else {
            key
        };
        b.put(
            &["globalValidation", "redirectToProvider"],
            json!(v2),
            &name,
        );
    }
    if let Some(on) = v.boolean("tokenStoreEnabled")? {
        b.put(
            &["login", "tokenStore", "enabled"],
            json!(on),
            &v.name("tokenStoreEnabled"),
        );
    }
    if let Some(h) = v.map.get("tokenRefreshExtensionHours") {
        if !h.is_number() {
            return Err(invalid(
                &v.name("tokenRefreshExtensionHours"),
                "expected a number",
            ));
        }
        b.put(
            &["login", "tokenStore", "tokenRefreshExtensionHours"],
            h.clone(),
            &v.name("tokenRefreshExtensionHours"),
        );
    }
    if let Some(urls) = v.list("allowedExternalRedirectUrls")? {
        b.put(
            &["login", "allowedExternalRedirectUrls"],
            json!(urls),
            &v.name("allowedExternalRedirectUrls"),
        );
    }

    let mut inline_secrets = HashMap::new();
    // A provider's secret: its setting name, or an inline secret (v1 allowed it) looked up
    // under App Service's conventional setting name, never printed.
    let mut secret = |b: &mut Builder,
                      warnings: &mut Vec<String>,
                      inline_key: &str,
                      setting_key: &str,
                      path: &[&str]|
     -> Result<(), ConfigError> {
        let setting = v.text(setting_key)?;
        let inline = v.text(inline_key)?;
        let conventional = SECRET_NAMES
            .iter()
            .find(|(k, _)| *k == inline_key)
            .map(|(_, n)| *n)
            .unwrap_or("PROVIDER_AUTHENTICATION_SECRET");
        match (setting, inline) {
            (Some(_), Some(_)) => Err(invalid(
                &v.name(inline_key),
                format!("both {inline_key} and {setting_key} are set: keep one"),
            )),
            (Some(name), None) => {
                b.put(path, json!(name), &v.name(setting_key));
                Ok(())
            }
            (None, Some(value)) => {
                warnings.push(format!(
                    "{inline_key} holds the secret inline in the v1 configuration: move it to \
                     an environment variable and name it with {setting_key} (the \
                     authsettingsV2 equivalent names {conventional})"
                ));
                inline_secrets.insert(conventional.to_owned(), value);
                b.put(path, json!(conventional), inline_key);
                Ok(())
            }
            (None, None) => Ok(()),
        }
    };

    // Azure AD: present when any of its settings is; without a client id it is "not
    // configured", which the v2 resolver reports.
    let aad = ["identityProviders", "azureActiveDirectory"];
    let aad_keys = [
        "clientId",
        "clientSecret",
        "clientSecretSettingName",
        "clientSecretCertificateThumbprint",
        "issuer",
        "allowedAudiences",
        "additionalLoginParams",
        "isAadAutoProvisioned",
    ];
    if aad_keys.iter().any(|k| v.map.contains_key(*k)) {
        b.put(
            &[aad[0], aad[1], "enabled"],
            json!(true),
            &v.name("clientId"),
        );
        if let Some(id) = v.text("clientId")? {
            b.put(
                &[aad[0], aad[1], "registration", "clientId"],
                json!(id),
                &v.name("clientId"),
            );
        }
        if let Some(issuer) = v.text("issuer")? {
            b.put(
                &[aad[0], aad[1], "registration", "openIdIssuer"],
                json!(issuer),
                &v.name("issuer"),
            );
        }
        secret(
            &mut b,
            &mut warnings,
            "clientSecret",
            "clientSecretSettingName",
            &[aad[0], aad[1], "registration", "clientSecretSettingName"],
        )?;
        if let Some(t) = v.text("clientSecretCertificateThumbprint")? {
            b.put(
                &[
                    aad[0],
                    aad[1],
                    "registration",
                    "clientSecretCertificateThumbprint",
                ],
                json!(t),
                &v.name("clientSecretCertificateThumbprint"),
            );
        }
        if let Some(params) = v.list("additionalLoginParams")? {
            b.put(
                &[aad[0], aad[1], "login", "loginParameters"],
                json!(params),
                &v.name("additionalLoginParams"),
            );
        }
        if let Some(aud) = v.list("allowedAudiences")? {
            b.put(
                &[aad[0], aad[1], "validation", "allowedAudiences"],
                json!(aud),
                &v.name("allowedAudiences"),
            );
        }
        if let Some(auto) = v.boolean("isAadAutoProvisioned")? {
            b.put(
                &[aad[0], aad[1], "isAutoProvisioned"],
                json!(auto),
                &v.name("isAadAutoProvisioned"),
            );
        }
    }

    for o in OTHERS_V1 {
        let OtherV1 {
            provider,
            id_key,
            id_field,
            secret_key,
            setting_key,
            setting_field,
            scopes_key,
        } = *o;
        let keys = [
            Some(id_key),
            Some(secret_key),
            Some(setting_key),
            scopes_key,
        ];
        if !keys.iter().flatten().any(|k| v.map.contains_key(*k)) {
            continue;
        }
        let base = ["identityProviders", provider];
        b.put(&[base[0], base[1], "enabled"], json!(true), &v.name(id_key));
        if let Some(id) = v.text(id_key)? {
            b.put(
                &[base[0], base[1], "registration", id_field],
                json!(id),
                &v.name(id_key),
            );
        }
        secret(
            &mut b,
            &mut warnings,
            secret_key,
            setting_key,
            &[base[0], base[1], "registration", setting_field],
        )?;
        if let Some(key) = scopes_key {
            if let Some(scopes) = v.list(key)? {
                b.put(
                    &[base[0], base[1], "login", "scopes"],
                    json!(scopes),
                    &v.name(key),
                );
            }
        }
    }

    // Settings v1 has no property for: from the environment.
    for (name, path, kind) in ENV_V2 {
        let Some(raw) = env.var(name) else { continue };
        let is_aad = path[1] == "azureActiveDirectory";
        if is_aad && !b.has(&aad) {
            continue;
        }
        b.put(path, typed(name, &raw, *kind)?, name);
    }
    if let Some(logout) = env.var("WEBSITE_AUTH_LOGOUT_PATH") {
        // App Service's own logout route needs no setting; any other path is another route.
        let prefix = env
            .var("WEBSITE_AUTH_API_PREFIX")
            .unwrap_or_else(|| "/.auth".into());
        let prefix = prefix.trim_end_matches('/');
        if logout.trim_end_matches('/') != format!("{prefix}/logout") {
            b.put(
                &["login", "routes", "logoutEndpoint"],
                json!(logout),
                "WEBSITE_AUTH_LOGOUT_PATH",
            );
        }
    }

    Ok(Document {
        tree: Value::Object(b.tree),
        inline_secrets,
        warnings,
        origin: String::new(),
        sources: b.sources,
    })
}
