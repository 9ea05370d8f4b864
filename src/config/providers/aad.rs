//! `identityProviders.azureActiveDirectory`: Microsoft Entra ID (Azure AD) over OpenID
//! Connect, found by discovery under `registration.openIdIssuer`. Its allow-lists
//! (`validation`) become the provider's [`Authorization`]; its users are marked by `oid`.

use super::{check_url, not_configured, parse_login_parameters, required, secret, Resolving};
use crate::config::{
    invalid, schema, Authorization, ConfigError, Endpoints, JsonPath, ProviderSettings,
};
use crate::providers::client_auth::ClientAuth;
use crate::session::claims;

/// The `azureActiveDirectory` block: one provider named `aad` when it is enabled and names a
/// client id; none (with a warning) when it names none, as App Service treats it.
pub(super) fn resolve(
    idp: &mut schema::IdentityProviders,
    base: &JsonPath,
    cx: &mut Resolving,
) -> Result<Vec<ProviderSettings>, ConfigError> {
    let Some(aad) = idp.azure_active_directory.take() else {
        return Ok(Vec::new());
    };
    let reg = aad.registration.unwrap_or_default();
    let configured = reg.client_id.as_deref().is_some_and(|id| !id.is_empty());
    if aad.enabled.unwrap_or(true) && !configured {
        cx.warnings.push(not_configured(base));
    }
    if aad.enabled.unwrap_or(true) && configured {
        if aad.is_auto_provisioned == Some(true) {
            cx.warnings.push(format!(
                "{} is accepted but ezauth does not act on it: it records that the portal \
                 created the app registration",
                base.key("isAutoProvisioned")
            ));
        }
        for (field, set) in [
            (
                "clientSecretCertificateThumbprint",
                reg.client_secret_certificate_thumbprint.is_some(),
            ),
            (
                "clientSecretCertificateSubjectAlternativeName",
                reg.client_secret_certificate_subject_alternative_name
                    .is_some(),
            ),
            (
                "clientSecretCertificateIssuer",
                reg.client_secret_certificate_issuer.is_some(),
            ),
        ] {
            if set {
                cx.warnings.push(format!(
                    "{} is accepted but ezauth does not act on it: ezauth authenticates to \
                     Azure AD with clientSecretSettingName only",
                    base.key("registration").key(field)
                ));
            }
        }
        let issuer = reg
            .open_id_issuer
            .ok_or_else(|| invalid(&base.key("registration").key("openIdIssuer"), "is required"))?;
        check_url(&issuer, &base.key("registration").key("openIdIssuer"))?;
        let client_id = required(reg.client_id, &base.key("registration").key("clientId"))?;
        let client_secret = secret(
            reg.client_secret_setting_name,
            cx.env,
            &base.key("registration").key("clientSecretSettingName"),
        )?;
        let login = aad.login.unwrap_or_default();
        let login_parameters = parse_login_parameters(
            &login.login_parameters,
            &base.key("login").key("loginParameters"),
            cx.warnings,
        )?;
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let validation = aad.validation.unwrap_or_default();
        let checks = validation.jwt_claim_checks.unwrap_or_default();
        let policy = validation.default_authorization_policy.unwrap_or_default();
        let principals = policy.allowed_principals.unwrap_or_default();
        let authorization = Authorization {
            groups: checks
                .allowed_groups
                .into_iter()
                .chain(principals.groups)
                .collect(),
            identities: principals.identities,
            applications: checks
                .allowed_client_applications
                .into_iter()
                .chain(policy.allowed_applications)
                .collect(),
        };
        return Ok(vec![ProviderSettings {
            name: "aad".into(),
            client_id,
            client_auth: client_secret.map_or(ClientAuth::None, ClientAuth::SecretPost),
            endpoints: Endpoints::Discovery {
                url: discovery,
                issuer,
            },
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            login_parameters,
            name_claim_type: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
                .into(),
            allowed_audiences: validation.allowed_audiences,
            issuer_aliases: Vec::new(),
            client_codes: false,
            id_claim_type: claims::OBJECT_ID,
            authorization,
            sign_out_at_provider: true,
            www_authenticate: !login.disable_www_authenticate.unwrap_or(false),
            flow: crate::providers::oidc::FLOW,
        }]);
    }
    Ok(Vec::new())
}
