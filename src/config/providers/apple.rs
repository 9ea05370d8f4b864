//! `identityProviders.apple`: Sign in with Apple (OpenID Connect, `response_mode=form_post`),
//! signed in under `apple`. Its client secret is an ES256 JWT: minted by ezauth from the key
//! `ezauth.providers.apple.clientSecretKey` names, or (as App Service takes it) one the
//! operator minted, in the setting `clientSecretSettingName` names. Its endpoints and issuer
//! can be moved in `ezauth.providers.apple`.

use openssl::pkey::Id;

use super::{endpoint, key_files, not_configured, required, secret, Resolving};
use crate::config::{
    invalid, schema, Authorization, ConfigError, Endpoints, JsonPath, ProviderSettings,
};
use crate::providers::apple;
use crate::providers::client_auth::{ClientAuth, SignedSecret};
use crate::session::claims;

/// The `apple` block: one provider named `apple` when it is enabled and names a client id
/// (the Services ID); none (with a warning) when it names none, as App Service treats it.
pub(super) fn resolve(
    idp: &mut schema::IdentityProviders,
    base: &JsonPath,
    cx: &mut Resolving,
) -> Result<Vec<ProviderSettings>, ConfigError> {
    let (moved, moved_path) = cx.endpoints(
        "apple",
        &[
            "authorizationEndpoint",
            "tokenEndpoint",
            "issuer",
            "jwksEndpoint",
            "clientSecretKey",
        ],
    )?;
    let Some(block) = idp.apple.take().filter(|b| b.enabled.unwrap_or(true)) else {
        return Ok(Vec::new());
    };
    let reg = block.registration.unwrap_or_default();
    if reg.client_id.as_deref().is_none_or(str::is_empty) {
        cx.warnings.push(not_configured(base));
        return Ok(Vec::new());
    }
    let reg_path = base.key("registration");
    let client_id = required(reg.client_id, &reg_path.key("clientId"))?;
    let issuer = match moved.issuer {
        Some(issuer) => {
            super::check_url(&issuer, &moved_path.key("issuer"))?;
            issuer
        }
        None => apple::ISSUER.to_owned(),
    };
    let secret_path = reg_path.key("clientSecretSettingName");
    let key_path = moved_path.key("clientSecretKey");
    let client_auth = match (
        secret(reg.client_secret_setting_name, cx.env, &secret_path)?,
        moved.client_secret_key,
    ) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                &key_path,
                format!("and {secret_path} both name a client secret: keep one"),
            ))
        }
        (Some(minted_elsewhere), None) => ClientAuth::SecretPost(minted_elsewhere),
        (None, Some(key)) => signed_secret(key, &key_path, &issuer)?,
        (None, None) => {
            return Err(invalid(
                &secret_path,
                format!(
                    "is required: Apple redeems codes only with a client secret (or name the \
                     signing key in {key_path} and ezauth mints it)"
                ),
            ))
        }
    };
    let scopes = block.login.unwrap_or_default().scopes;
    let scopes = if scopes.is_empty() {
        vec!["openid".into(), "name".into(), "email".into()]
    } else {
        scopes
    };
    Ok(vec![ProviderSettings {
        name: "apple".into(),
        client_id,
        client_auth,
        endpoints: Endpoints::Explicit {
            authorization: endpoint(
                moved.authorization_endpoint,
                apple::AUTHORIZATION_ENDPOINT,
                &moved_path,
                "authorizationEndpoint",
            )?,
            token: endpoint(
                moved.token_endpoint,
                apple::TOKEN_ENDPOINT,
                &moved_path,
                "tokenEndpoint",
            )?,
            jwks: endpoint(
                moved.jwks_endpoint,
                apple::JWKS_ENDPOINT,
                &moved_path,
                "jwksEndpoint",
            )?,
            issuer,
        },
        scopes,
        // Apple returns to a web app only by form_post (it requires it when name or email is
        // asked for).
        login_parameters: vec![("response_mode".into(), "form_post".into())],
        name_claim_type: claims::NAME.into(),
        allowed_audiences: Vec::new(),
        id_claim_type: claims::NAME_ID,
        authorization: Authorization::default(),
        sign_out_at_provider: false,
        www_authenticate: false,
        flow: apple::FLOW,
        issuer_aliases: Vec::new(),
        tenants: None,
        client_codes: false,
    }])
}

/// The minted secret's key: Apple issues EC P-256 keys (`.p8`).
fn signed_secret(
    key: schema::SigningKey,
    path: &JsonPath,
    audience: &str,
) -> Result<ClientAuth, ConfigError> {
    let pkey = key_files::private_key(&key.key_file, &path.key("keyFile"))?;
    if pkey.id() != Id::EC || pkey.bits() != 256 {
        return Err(invalid(
            &path.key("keyFile"),
            format!(
                "key file {:?} is not an EC P-256 key (Apple's .p8)",
                key.key_file
            ),
        ));
    }
    for (field, v) in [("teamId", &key.team_id), ("keyId", &key.key_id)] {
        if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid(
                &path.key(field),
                "is not an Apple id (letters and digits)",
            ));
        }
    }
    Ok(ClientAuth::SignedSecret(std::sync::Arc::new(
        SignedSecret::new(pkey, key.key_id, key.team_id, audience.to_owned()),
    )))
}
