//! `identityProviders.google`: Google over OpenID Connect, found by discovery at Google's
//! documented document, signed in under `google`. Its discovery document and issuer can be
//! moved in `ezauth.providers.google` (`wellKnownOpenIdConfiguration`, `issuer`).

use super::{endpoint, registered, Resolving};
use crate::config::{
    invalid, schema, Authorization, ConfigError, Endpoints, JsonPath, ProviderSettings,
};
use crate::providers::client_auth::ClientAuth;
use crate::session::claims;

/// Google's discovery document and the issuer it names ("OpenID Connect", Google Identity).
pub const DISCOVERY: &str = "https://accounts.google.com/.well-known/openid-configuration";
pub const ISSUER: &str = "https://accounts.google.com";

/// The `google` block: one provider named `google` when it is enabled and names a client id;
/// none (with a warning) when it names none, as App Service treats it.
pub(super) fn resolve(
    idp: &mut schema::IdentityProviders,
    base: &JsonPath,
    cx: &mut Resolving,
) -> Result<Vec<ProviderSettings>, ConfigError> {
    let (moved, moved_path) =
        cx.endpoints("google", &["wellKnownOpenIdConfiguration", "issuer"])?;
    let Some(block) = idp.google.take().filter(|b| b.enabled.unwrap_or(true)) else {
        return Ok(Vec::new());
    };
    let reg = block.registration.unwrap_or_default();
    let Some((client_id, client_secret)) = registered(
        cx,
        base,
        (reg.client_id, "clientId"),
        (reg.client_secret_setting_name, "clientSecretSettingName"),
        "Google redeems a web application's codes only with its client secret",
    )?
    else {
        return Ok(Vec::new());
    };
    let url = endpoint(
        moved.well_known_open_id_configuration,
        DISCOVERY,
        &moved_path,
        "wellKnownOpenIdConfiguration",
    )?;
    let issuer = match moved.issuer {
        Some(issuer) => issuer,
        None if url == DISCOVERY => ISSUER.to_owned(),
        None => url
            .strip_suffix("/.well-known/openid-configuration")
            .map(str::to_owned)
            .ok_or_else(|| {
                invalid(
                    &moved_path.key("wellKnownOpenIdConfiguration"),
                    "does not end in /.well-known/openid-configuration: set issuer beside it",
                )
            })?,
    };
    // Google's id_tokens carry `iss` with or without the scheme ("Validate an ID token":
    // https://accounts.google.com or accounts.google.com); the keys are the same.
    let issuer_aliases = issuer
        .split_once("://")
        .map(|(_, bare)| vec![bare.to_owned()])
        .unwrap_or_default();
    let scopes_path = base.key("login").key("scopes");
    let mut scopes = block.login.unwrap_or_default().scopes;
    for (i, scope) in scopes.iter().enumerate() {
        // Google's scopes are words or URLs (https://www.googleapis.com/auth/drive.readonly).
        if scope.is_empty() || !scope.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(&scopes_path.index(i), "is not a Google scope"));
        }
    }
    if scopes.is_empty() {
        scopes = vec!["openid".into(), "profile".into(), "email".into()];
    } else if !scopes.iter().any(|s| s == "openid") {
        // The id_token is the sign-in's proof: without `openid` Google sends none.
        scopes.insert(0, "openid".into());
    }
    let validation = block.validation.unwrap_or_default();
    Ok(vec![ProviderSettings {
        name: "google".into(),
        client_id,
        client_auth: ClientAuth::SecretPost(client_secret),
        endpoints: Endpoints::Discovery { url, issuer },
        scopes,
        login_parameters: Vec::new(),
        name_claim_type: claims::NAME.into(),
        allowed_audiences: validation.allowed_audiences,
        issuer_aliases,
        tenants: None,
        client_codes: true,
        id_claim_type: claims::NAME_ID,
        authorization: Authorization::default(),
        // As App Service does for Google; Google's own discovery document names no
        // end_session_endpoint, so there the logout stays local.
        sign_out_at_provider: true,
        www_authenticate: false,
        flow: crate::providers::oidc::FLOW,
    }])
}
