//! `identityProviders.gitHub`: a GitHub OAuth app (OAuth 2.0, the user read from GitHub's REST
//! API), signed in under `github`. Its endpoints can be moved in `ezauth.providers.github`.

use super::{endpoint, registered, Resolving};
use crate::config::{schema, Authorization, ConfigError, Endpoints, JsonPath, ProviderSettings};
use crate::providers::client_auth::ClientAuth;
use crate::providers::github;
use crate::session::claims;

/// The `gitHub` block: one provider named `github` when it is enabled and names a client id;
/// none (with a warning) when it names none, as App Service treats it.
pub(super) fn resolve(
    idp: &mut schema::IdentityProviders,
    base: &JsonPath,
    cx: &mut Resolving,
) -> Result<Vec<ProviderSettings>, ConfigError> {
    let (moved, moved_path) = cx.endpoints(
        "github",
        &["authorizationEndpoint", "tokenEndpoint", "apiEndpoint"],
    )?;
    let Some(block) = idp.git_hub.take().filter(|b| b.enabled.unwrap_or(true)) else {
        return Ok(Vec::new());
    };
    let reg = block.registration.unwrap_or_default();
    let Some((client_id, client_secret)) = registered(
        cx,
        base,
        (reg.client_id, "clientId"),
        (reg.client_secret_setting_name, "clientSecretSettingName"),
        "GitHub redeems codes only with the client secret",
    )?
    else {
        return Ok(Vec::new());
    };
    let scopes_path = base.key("login").key("scopes");
    let scopes = block.login.unwrap_or_default().scopes;
    for (i, scope) in scopes.iter().enumerate() {
        // GitHub's scopes are words such as `user:email` or `read:org`.
        let word = |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-');
        if scope.is_empty() || !scope.chars().all(word) {
            return Err(super::invalid(
                &scopes_path.index(i),
                "is not a GitHub scope (such as user:email or read:org)",
            ));
        }
    }
    Ok(vec![ProviderSettings {
        name: "github".into(),
        client_id,
        client_auth: ClientAuth::SecretPost(client_secret),
        endpoints: Endpoints::OAuth2 {
            authorization: endpoint(
                moved.authorization_endpoint,
                github::AUTHORIZATION_ENDPOINT,
                &moved_path,
                "authorizationEndpoint",
            )?,
            token: endpoint(
                moved.token_endpoint,
                github::TOKEN_ENDPOINT,
                &moved_path,
                "tokenEndpoint",
            )?,
            api: endpoint(
                moved.api_endpoint,
                github::API_ENDPOINT,
                &moved_path,
                "apiEndpoint",
            )?,
        },
        scopes,
        login_parameters: Vec::new(),
        name_claim_type: claims::NAME.into(),
        allowed_audiences: Vec::new(),
        issuer_aliases: Vec::new(),
        tenants: None,
        client_codes: false,
        id_claim_type: claims::NAME_ID,
        authorization: Authorization::default(),
        sign_out_at_provider: false,
        www_authenticate: false,
        flow: github::FLOW,
    }])
}
