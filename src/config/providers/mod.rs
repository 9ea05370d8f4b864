//! Identity providers by kind. [`KINDS`] is the one list of the providers App Service names:
//! their key under `identityProviders`, the name their users sign in under
//! (`/.auth/login/{name}`, `X-MS-CLIENT-PRINCIPAL-IDP`), the other names
//! `globalValidation.redirectToProvider` accepts for them, and the function (one file per
//! kind) that resolves their block into [`ProviderSettings`]. Adding a provider is a file
//! here plus a row there; [`crate::providers::Providers::from_settings`] builds each resolved
//! provider by its [`crate::providers::Flow`], which the resolver names.

mod aad;
mod apple;
mod custom_oidc;
mod facebook;
mod github;
mod google;
mod key_files;
mod microsoft_account;
mod placeholder;
mod twitter;

use std::collections::BTreeMap;

use super::{invalid, schema, ConfigError, Environment, JsonPath, ProviderSettings};

/// What a kind's resolver may use besides its block: secrets, the warnings list, and the
/// endpoint overrides of the `"ezauth"` block.
pub struct Resolving<'a> {
    pub env: &'a dyn Environment,
    pub warnings: &'a mut Vec<String>,
    /// `ezauth.providers`, by sign-in name; each kind takes its own entry.
    pub overrides: BTreeMap<String, schema::ProviderEndpoints>,
}

impl Resolving<'_> {
    /// Takes the endpoint overrides `ezauth.providers.{name}` gives (none: all defaults), with
    /// the entry's path for errors. `takes` names the fields the kind reads: any other one set
    /// is a startup error, never a setting that silently does nothing. Called whether or not
    /// the provider is enabled: an entry no kind takes is an error (see [`resolve`]).
    fn endpoints(
        &mut self,
        name: &str,
        takes: &[&str],
    ) -> Result<(schema::ProviderEndpoints, JsonPath), ConfigError> {
        let moved = self.overrides.remove(name).unwrap_or_default();
        let path = JsonPath::root("ezauth").key("providers").key(name);
        if let Some(field) = moved.set_fields().into_iter().find(|f| !takes.contains(f)) {
            return Err(invalid(
                &path.key(field),
                format!(
                    "is not one of {name}'s settings (it takes {})",
                    takes.join(", ")
                ),
            ));
        }
        Ok((moved, path))
    }
}

/// An endpoint: the override if there is one (https, or http to loopback), else the default.
fn endpoint(
    moved: Option<String>,
    default: &str,
    path: &JsonPath,
    field: &str,
) -> Result<String, ConfigError> {
    match moved {
        Some(url) => {
            check_url(&url, &path.key(field))?;
            Ok(url)
        }
        None => Ok(default.to_owned()),
    }
}

/// A registration as App Service's blocks hold one: an id (client id, app id, consumer key)
/// and the secret its setting names, required once the id is set (`why` the flow needs it).
/// `None`, with App Service's "not configured" warning, when the block names no id (an
/// exported placeholder).
fn registered(
    cx: &mut Resolving,
    base: &JsonPath,
    (id, id_key): (Option<String>, &str),
    (setting, setting_key): (Option<String>, &str),
    why: &str,
) -> Result<Option<(String, String)>, ConfigError> {
    if id.as_deref().is_none_or(str::is_empty) {
        cx.warnings.push(not_configured(base));
        return Ok(None);
    }
    let reg_path = base.key("registration");
    let id = required(id, &reg_path.key(id_key))?;
    let secret_path = reg_path.key(setting_key);
    let secret = secret(setting, cx.env, &secret_path)?
        .ok_or_else(|| invalid(&secret_path, format!("is required: {why}")))?;
    Ok(Some((id, secret)))
}

/// One row of [`KINDS`].
pub struct Kind {
    /// The key under `identityProviders` (`azureActiveDirectory`).
    pub key: &'static str,
    /// The name users sign in under, lower case; `None` when the kind's providers carry their
    /// own names (custom OpenID Connect) or have no sign-in route here. These names are
    /// reserved: a custom provider cannot take one.
    pub login_name: Option<&'static str>,
    /// Other names `redirectToProvider` accepts for it, lower case (`azureactivedirectory`).
    pub aliases: &'static [&'static str],
    /// Takes the kind's block out of `identityProviders` and resolves it (its path given).
    pub resolve: fn(
        &mut schema::IdentityProviders,
        &JsonPath,
        &mut Resolving,
    ) -> Result<Vec<ProviderSettings>, ConfigError>,
}

/// Every provider kind, in the order their blocks are checked (the first error wins, and
/// warnings come out in this order).
pub const KINDS: &[Kind] = &[
    Kind {
        key: "azureStaticWebApps",
        login_name: None,
        aliases: &[],
        resolve: |idp, path, cx| {
            placeholder::static_web_apps(idp.azure_static_web_apps.as_ref(), path, cx)
        },
    },
    Kind {
        key: "google",
        login_name: Some("google"),
        aliases: &[],
        resolve: google::resolve,
    },
    Kind {
        key: "facebook",
        login_name: Some("facebook"),
        aliases: &[],
        resolve: facebook::resolve,
    },
    Kind {
        key: "gitHub",
        login_name: Some("github"),
        aliases: &[],
        resolve: github::resolve,
    },
    Kind {
        key: "twitter",
        login_name: Some("twitter"),
        aliases: &[],
        resolve: twitter::resolve,
    },
    Kind {
        key: "apple",
        login_name: Some("apple"),
        aliases: &[],
        resolve: apple::resolve,
    },
    Kind {
        key: "legacyMicrosoftAccount",
        login_name: Some("microsoftaccount"),
        aliases: &["legacymicrosoftaccount"],
        resolve: microsoft_account::resolve,
    },
    Kind {
        key: "azureActiveDirectory",
        login_name: Some("aad"),
        aliases: &["azureactivedirectory"],
        resolve: aad::resolve,
    },
    Kind {
        key: "customOpenIdConnectProviders",
        login_name: None,
        aliases: &[],
        resolve: custom_oidc::resolve,
    },
];

/// Resolves `identityProviders`, kind by kind in [`KINDS`] order.
pub fn resolve(
    mut idp: schema::IdentityProviders,
    cx: &mut Resolving,
) -> Result<Vec<ProviderSettings>, ConfigError> {
    let root = JsonPath::root("identityProviders");
    let mut out = Vec::new();
    for kind in KINDS {
        out.extend((kind.resolve)(&mut idp, &root.key(kind.key), cx)?);
    }
    // A misspelled or unsupported entry would otherwise leave the provider at its real
    // endpoints while the operator believes it moved.
    if let Some(name) = cx.overrides.keys().next() {
        return Err(invalid(
            &JsonPath::root("ezauth").key("providers").key(name),
            "names no built-in provider whose endpoints can be moved (apple, facebook, github, \
             google, microsoftaccount, twitter) or credential given (aad, apple)",
        ));
    }
    Ok(out)
}

/// The name a `redirectToProvider` value means, lower case: a kind's alias becomes its login
/// name (`AzureActiveDirectory` → `aad`); anything else is itself.
pub fn redirect_name(value: &str) -> String {
    let lower = value.to_ascii_lowercase();
    KINDS
        .iter()
        .find(|k| k.aliases.contains(&lower.as_str()))
        .and_then(|k| k.login_name)
        .map_or(lower, str::to_owned)
}

/// Is this (custom provider's) name one a built-in kind signs in under?
fn is_built_in_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    KINDS.iter().any(|k| k.login_name == Some(lower.as_str()))
}

fn not_configured(path: &str) -> String {
    format!("{path} has no client id: not configured (as App Service treats it)")
}

fn required(v: Option<String>, path: &str) -> Result<String, ConfigError> {
    v.filter(|s| !s.is_empty())
        .ok_or_else(|| invalid(path, "is required"))
}

/// Provider endpoints are https (plain http only to loopback hosts).
fn check_url(v: &str, path: &str) -> Result<(), ConfigError> {
    crate::outbound::check_endpoint(v)
        .map(drop)
        .map_err(|why| invalid(path, why))
}

/// A `...SettingName` field names an environment variable holding the secret; naming one that
/// is not set is an error, never an empty secret.
fn secret(
    setting: Option<String>,
    env: &dyn Environment,
    path: &str,
) -> Result<Option<String>, ConfigError> {
    let Some(name) = setting else { return Ok(None) };
    match env.var(&name) {
        Some(v) if !v.is_empty() => Ok(Some(v)),
        _ => Err(invalid(
            path,
            format!("environment variable {name} (the secret this setting names) is not set"),
        )),
    }
}

/// Authorization-request parameters the module sets itself: never taken from a caller's login
/// query. A configured one is ignored, with a warning (v1 exports often carry `response_type=code id_token`; ezauth always uses the code
/// flow with PKCE), except `response_mode=form_post` or `query`, which is passed on.
pub const MODULE_OWNED_PARAMETERS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
];

/// `loginParameters` (`"key=value"` each), without the module's own parameters, which are
/// named in `warnings`.
fn parse_login_parameters(
    raw: &[String],
    path: &JsonPath,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, kv) in raw.iter().enumerate() {
        let (k, v) = kv
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| invalid(&path.index(i), "expected key=value"))?;
        let passed_on = k == "response_mode" && matches!(v, "form_post" | "query");
        if MODULE_OWNED_PARAMETERS.contains(&k) && !passed_on {
            warnings.push(format!(
                "{}: {k} is set by ezauth itself (the code flow with PKCE; response_mode may only be form_post or query): ignored",
                path.index(i)
            ));
            continue;
        }
        out.push((k.to_owned(), v.to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_names_a_block_the_schema_reads() {
        for kind in KINDS {
            let block = serde_json::json!({ kind.key: {} });
            let parsed: Result<schema::IdentityProviders, _> = serde_json::from_value(block);
            assert!(parsed.is_ok(), "{}: {parsed:?}", kind.key);
        }
    }

    #[test]
    fn aliases_lead_to_login_names_and_login_names_are_reserved() {
        assert_eq!(redirect_name("AzureActiveDirectory"), "aad");
        assert_eq!(redirect_name("AAD"), "aad");
        assert_eq!(redirect_name("My_Idp"), "my_idp");
        for name in ["aad", "Google", "GITHUB", "microsoftAccount", "apple"] {
            assert!(is_built_in_name(name), "{name}");
        }
        // As before the table: only sign-in names are reserved, not aliases or block keys.
        for name in ["azureactivedirectory", "legacyMicrosoftAccount", "idp"] {
            assert!(!is_built_in_name(name), "{name}");
        }
    }
}
