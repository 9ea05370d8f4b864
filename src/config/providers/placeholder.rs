//! Providers App Service has and ezauth does not support yet (Google, Facebook),
//! and Azure Static Web Apps' own provider. Exports carry
//! them as placeholders: without a client id a block is "not configured" (a warning, as App
//! Service treats it); with one, an enabled block is refused at startup rather than ignored,
//! so nobody believes a sign-in route exists that does not.

use super::Resolving;
use crate::config::{invalid, schema, ConfigError, JsonPath, ProviderSettings};

/// A provider of a kind ezauth cannot sign in with yet: enabled with a client id is an error.
pub(super) fn not_yet_supported(
    block: Option<&schema::OtherProvider>,
    path: &JsonPath,
    cx: &mut Resolving,
) -> Result<Vec<ProviderSettings>, ConfigError> {
    let Some(p) = block.filter(|p| p.enabled.unwrap_or(true)) else {
        return Ok(Vec::new());
    };
    if client_id(p).is_none() {
        cx.warnings.push(super::not_configured(path));
        return Ok(Vec::new());
    }
    Err(invalid(
        path,
        "this provider is not supported by this build yet (set \"enabled\": false)",
    ))
}

/// `azureStaticWebApps`: only Static Web Apps itself signs in with it; a warning either way.
pub(super) fn static_web_apps(
    block: Option<&schema::OtherProvider>,
    path: &JsonPath,
    cx: &mut Resolving,
) -> Result<Vec<ProviderSettings>, ConfigError> {
    if let Some(swa) = block.filter(|p| p.enabled.unwrap_or(true)) {
        cx.warnings.push(match client_id(swa) {
            None => super::not_configured(path),
            Some(_) => format!(
                "{path} is accepted but ezauth does not act on it: it is Azure Static Web \
                 Apps' own provider"
            ),
        });
    }
    Ok(Vec::new())
}

/// The client id such a block names, if any: App Service treats a provider without one as not
/// configured.
fn client_id(p: &schema::OtherProvider) -> Option<&str> {
    let reg = p.rest.get("registration")?.as_object()?;
    ["clientId", "appId", "consumerKey"]
        .iter()
        .find_map(|k| reg.get(*k)?.as_str())
        .filter(|id| !id.is_empty())
}
