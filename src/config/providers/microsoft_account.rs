//! `identityProviders.legacyMicrosoftAccount`: personal Microsoft accounts, signed in under
//! `microsoftaccount` through the Microsoft identity platform's `consumers` endpoints (OpenID
//! Connect; the Live Connect endpoints App Service once used are retired). Live scopes in the
//! block are read as their platform equivalents; `offline_access` (or `wl.offline_access`)
//! brings a refresh token. Its endpoints can be moved in `ezauth.providers.microsoftaccount`.

use super::{endpoint, not_configured, required, secret, Resolving};
use crate::config::{
    invalid, schema, Authorization, ConfigError, Endpoints, JsonPath, ProviderSettings,
};
use crate::providers::client_auth::ClientAuth;
use crate::providers::microsoft_account as msa;
use crate::session::claims;

/// Live Connect scopes App Service documented (`wl.basic` its default), as the platform names
/// what they granted.
const LIVE_SCOPES: &[(&str, &str)] = &[
    ("wl.basic", "profile"),
    ("wl.signin", "openid"),
    ("wl.emails", "email"),
    ("wl.offline_access", "offline_access"),
];

pub(super) fn resolve(
    idp: &mut schema::IdentityProviders,
    base: &JsonPath,
    cx: &mut Resolving,
) -> Result<Vec<ProviderSettings>, ConfigError> {
    let (moved, moved_path) = cx.endpoints(
        "microsoftaccount",
        &[
            "authorizationEndpoint",
            "tokenEndpoint",
            "issuer",
            "jwksEndpoint",
        ],
    )?;
    let Some(block) = idp
        .legacy_microsoft_account
        .take()
        .filter(|b| b.enabled.unwrap_or(true))
    else {
        return Ok(Vec::new());
    };
    let reg = block.registration.unwrap_or_default();
    if reg.client_id.as_deref().is_none_or(str::is_empty) {
        cx.warnings.push(not_configured(base));
        return Ok(Vec::new());
    }
    let reg_path = base.key("registration");
    let client_id = required(reg.client_id, &reg_path.key("clientId"))?;
    let secret_path = reg_path.key("clientSecretSettingName");
    let client_secret =
        secret(reg.client_secret_setting_name, cx.env, &secret_path)?.ok_or_else(|| {
            invalid(
                &secret_path,
                "is required: Microsoft Account redeems codes only with the client secret",
            )
        })?;
    let mut scopes = vec!["openid".to_owned()];
    for scope in block.login.unwrap_or_default().scopes {
        let scope = LIVE_SCOPES
            .iter()
            .find(|(live, _)| scope.eq_ignore_ascii_case(live))
            .map_or(scope, |(_, platform)| (*platform).to_owned());
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.len() == 1 {
        scopes.extend(["profile".to_owned(), "email".to_owned()]);
    }
    let issuer = match moved.issuer {
        Some(issuer) => {
            super::check_url(&issuer, &moved_path.key("issuer"))?;
            issuer
        }
        None => msa::ISSUER.to_owned(),
    };
    Ok(vec![ProviderSettings {
        name: "microsoftaccount".into(),
        client_id,
        client_auth: ClientAuth::SecretPost(client_secret),
        endpoints: Endpoints::Explicit {
            authorization: endpoint(
                moved.authorization_endpoint,
                msa::AUTHORIZATION_ENDPOINT,
                &moved_path,
                "authorizationEndpoint",
            )?,
            token: endpoint(
                moved.token_endpoint,
                msa::TOKEN_ENDPOINT,
                &moved_path,
                "tokenEndpoint",
            )?,
            jwks: endpoint(
                moved.jwks_endpoint,
                msa::JWKS_ENDPOINT,
                &moved_path,
                "jwksEndpoint",
            )?,
            issuer,
        },
        scopes,
        login_parameters: Vec::new(),
        name_claim_type: claims::NAME.into(),
        allowed_audiences: block.validation.unwrap_or_default().allowed_audiences,
        id_claim_type: claims::NAME_ID,
        authorization: Authorization::default(),
        sign_out_at_provider: false,
        www_authenticate: false,
        flow: msa::FLOW,
        issuer_aliases: Vec::new(),
        tenants: None,
        client_codes: false,
    }])
}
