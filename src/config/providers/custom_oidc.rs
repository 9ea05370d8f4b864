//! `identityProviders.customOpenIdConnectProviders.{name}`: any OpenID Connect provider,
//! by discovery document or by endpoints given one by one. Each entry's key is the
//! provider's name in `/.auth/login/{name}`.

use super::{check_url, parse_login_parameters, required, secret, Resolving};
use crate::config::{
    invalid, schema, Authorization, ConfigError, Endpoints, JsonPath, ProviderSettings,
};
use crate::providers::client_auth::ClientAuth;
use crate::session::claims;

/// Every entry of the block, in name order; disabled entries resolve to nothing (their
/// names are still checked).
pub(super) fn resolve(
    idp: &mut schema::IdentityProviders,
    kind: &JsonPath,
    cx: &mut Resolving,
) -> Result<Vec<ProviderSettings>, ConfigError> {
    let mut out = Vec::new();
    for (name, p) in std::mem::take(&mut idp.custom_open_id_connect_providers) {
        out.extend(one(name, p, kind, cx)?);
    }
    Ok(out)
}

fn one(
    name: String,
    p: schema::CustomOpenIdConnectProvider,
    kind: &JsonPath,
    cx: &mut Resolving,
) -> Result<Option<ProviderSettings>, ConfigError> {
    let base = kind.key(&name);
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(invalid(
            &base,
            "provider names may hold only letters, digits and _",
        ));
    }
    if super::is_built_in_name(&name) {
        return Err(invalid(
            &base,
            "the name of a built-in provider cannot be reused",
        ));
    }
    if !p.enabled.unwrap_or(true) {
        return Ok(None);
    }
    let reg = p.registration.unwrap_or_default();
    let client_id = required(reg.client_id, &base.key("registration").key("clientId"))?;
    let cred = reg.client_credential.unwrap_or_default();
    let cred_path = base.key("registration").key("clientCredential");
    // App Service documents `ClientSecretPost`; `ClientSecretBasic` (RFC 6749 §2.3.1) is for
    // providers that take only that.
    let in_basic = match cred.method.as_deref() {
        None => false,
        Some(m) if m.eq_ignore_ascii_case("ClientSecretPost") => false,
        Some(m) if m.eq_ignore_ascii_case("ClientSecretBasic") => true,
        Some(m) => {
            return Err(invalid(
                &cred_path.key("method"),
                format!("unknown method {m:?}, expected ClientSecretPost or ClientSecretBasic"),
            ))
        }
    };
    let client_auth = match secret(
        cred.client_secret_setting_name,
        cx.env,
        &cred_path.key("clientSecretSettingName"),
    )? {
        None => ClientAuth::None,
        Some(s) if in_basic => ClientAuth::SecretBasic(s),
        Some(s) => ClientAuth::SecretPost(s),
    };
    let oc = reg.open_id_connect_configuration.unwrap_or_default();
    let oc_path = base.key("registration").key("openIdConnectConfiguration");
    let endpoints = match oc.well_known_open_id_configuration {
        Some(url) => {
            let path = oc_path.key("wellKnownOpenIdConfiguration");
            check_url(&url, &path)?;
            // The document must name the issuer it was found under (Discovery §4.3), or
            // the one configured beside it (providers such as Azure AD B2C differ).
            let issuer = match oc.issuer {
                Some(issuer) => issuer,
                None => url
                    .strip_suffix("/.well-known/openid-configuration")
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        invalid(
                            &path,
                            "does not end in /.well-known/openid-configuration: set \
                             openIdConnectConfiguration.issuer to the issuer it names",
                        )
                    })?,
            };
            Endpoints::Discovery { url, issuer }
        }
        None => {
            let field = |v: Option<String>, f: &str| -> Result<String, ConfigError> {
                let path = oc_path.key(f);
                let v = v.ok_or_else(|| {
                    invalid(
                        &path,
                        "is required when wellKnownOpenIdConfiguration is absent",
                    )
                })?;
                check_url(&v, &path)?;
                Ok(v)
            };
            Endpoints::Explicit {
                authorization: field(oc.authorization_endpoint, "authorizationEndpoint")?,
                token: field(oc.token_endpoint, "tokenEndpoint")?,
                jwks: field(oc.certification_uri, "certificationUri")?,
                issuer: oc.issuer.ok_or_else(|| {
                    invalid(&oc_path.key("issuer"), "is required without discovery")
                })?,
            }
        }
    };
    let login = p.login.unwrap_or_default();
    let scopes = if login.scopes.is_empty() {
        vec!["openid".into(), "profile".into(), "email".into()]
    } else {
        login.scopes
    };
    Ok(Some(ProviderSettings {
        name,
        client_id,
        client_auth,
        endpoints,
        scopes,
        login_parameters: parse_login_parameters(
            &login.login_parameters,
            &base.key("login").key("loginParameters"),
            cx.warnings,
        )?,
        name_claim_type: login
            .name_claim_type
            .unwrap_or_else(|| "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name".into()),
        allowed_audiences: Vec::new(),
        issuer_aliases: Vec::new(),
        tenants: None,
        client_codes: false,
        id_claim_type: claims::NAME_ID,
        authorization: Authorization::default(),
        sign_out_at_provider: false,
        www_authenticate: false,
        flow: crate::providers::oidc::FLOW,
    }))
}
