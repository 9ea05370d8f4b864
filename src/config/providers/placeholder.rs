//! Azure Static Web Apps' own provider, which App Service exports carry: only Static Web Apps
//! signs in with it, so an enabled block is a warning ("not configured" without a client id,
//! as App Service says it), never a sign-in route.

use super::Resolving;
use crate::config::{schema, ConfigError, JsonPath, ProviderSettings};

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
