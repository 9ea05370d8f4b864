//! `identityProviders.facebook`: a Facebook app (Facebook Login over OAuth 2.0, the user read
//! from the Graph API), signed in under `facebook`. `graphApiVersion` pins the login dialog's
//! and the Graph API's version (none: Facebook's current, as App Service does since 1.4.6).
//! Its endpoints can be moved in `ezauth.providers.facebook`.

use super::{endpoint, registered, Resolving};
use crate::config::{
    invalid, schema, Authorization, ConfigError, Endpoints, JsonPath, ProviderSettings,
};
use crate::providers::client_auth::ClientAuth;
use crate::providers::facebook;
use crate::session::claims;

/// The `facebook` block: one provider named `facebook` when it is enabled and names an app id;
/// none (with a warning) when it names none, as App Service treats it.
pub(super) fn resolve(
    idp: &mut schema::IdentityProviders,
    base: &JsonPath,
    cx: &mut Resolving,
) -> Result<Vec<ProviderSettings>, ConfigError> {
    let (moved, moved_path) = cx.endpoints(
        "facebook",
        &["authorizationEndpoint", "tokenEndpoint", "apiEndpoint"],
    )?;
    let Some(block) = idp.facebook.take().filter(|b| b.enabled.unwrap_or(true)) else {
        return Ok(Vec::new());
    };
    let reg = block.registration.unwrap_or_default();
    let Some((app_id, app_secret)) = registered(
        cx,
        base,
        (reg.app_id, "appId"),
        (reg.app_secret_setting_name, "appSecretSettingName"),
        "Facebook redeems codes, and proves Graph API calls, only with the app secret",
    )?
    else {
        return Ok(Vec::new());
    };
    let reg_path = base.key("registration");
    if !app_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            &reg_path.key("appId"),
            "is not a Facebook app id (digits)",
        ));
    }
    // `v19.0`: the version goes into URLs, so it is checked to be one.
    let version = match block.graph_api_version.filter(|v| !v.is_empty()) {
        None => String::new(),
        Some(v) => {
            let ok = v
                .strip_prefix('v')
                .and_then(|n| n.split_once('.'))
                .is_some_and(|(major, minor)| {
                    [major, minor].iter().all(|p| {
                        (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
                    })
                });
            if !ok {
                return Err(invalid(
                    &base.key("graphApiVersion"),
                    "is not a Graph API version (such as v19.0)",
                ));
            }
            format!("/{v}")
        }
    };
    let scopes_path = base.key("login").key("scopes");
    let scopes = block.login.unwrap_or_default().scopes;
    for (i, scope) in scopes.iter().enumerate() {
        // Facebook's permissions are words such as `email` or `user_birthday`.
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        if scope.is_empty() || !scope.chars().all(word) {
            return Err(invalid(
                &scopes_path.index(i),
                "is not a Facebook permission (such as email or public_profile)",
            ));
        }
    }
    Ok(vec![ProviderSettings {
        name: "facebook".into(),
        client_id: app_id,
        client_auth: ClientAuth::SecretPost(app_secret),
        endpoints: Endpoints::OAuth2 {
            authorization: endpoint(
                moved.authorization_endpoint,
                &format!("{}{version}/dialog/oauth", facebook::DIALOG_BASE),
                &moved_path,
                "authorizationEndpoint",
            )?,
            token: endpoint(
                moved.token_endpoint,
                &format!("{}{version}/oauth/access_token", facebook::GRAPH_BASE),
                &moved_path,
                "tokenEndpoint",
            )?,
            api: endpoint(
                moved.api_endpoint,
                &format!("{}{version}", facebook::GRAPH_BASE),
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
        flow: facebook::FLOW,
    }])
}
