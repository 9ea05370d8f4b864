//! `identityProviders.azureActiveDirectory`: Microsoft Entra ID (Azure AD) over OpenID
//! Connect, found by discovery under `registration.openIdIssuer`. Its allow-lists
//! (`validation`) become the provider's [`Authorization`]; its users are marked by `oid`.
//! The app authenticates with a client secret, with a certificate (a `private_key_jwt`
//! assertion; the PEM files are named in `ezauth.providers.aad.clientCertificate`, as App
//! Service takes it from its certificate store), or not at all (the implicit flow).

use std::sync::Arc;

use super::{
    check_url, key_files, not_configured, parse_login_parameters, required, secret, Resolving,
};
use crate::config::{
    invalid, schema, Authorization, ConfigError, Endpoints, JsonPath, ProviderSettings,
};
use crate::providers::aad_tenants::{self, MultiTenant};
use crate::providers::client_auth::{ClientAuth, KeyName};
use crate::session::claims;

/// The `azureActiveDirectory` block: one provider named `aad` when it is enabled and names a
/// client id; none (with a warning) when it names none, as App Service treats it.
pub(super) fn resolve(
    idp: &mut schema::IdentityProviders,
    base: &JsonPath,
    cx: &mut Resolving,
) -> Result<Vec<ProviderSettings>, ConfigError> {
    // Its endpoints come from discovery under registration.openIdIssuer.
    let (moved, moved_path) = cx.endpoints("aad", &["clientCertificate", "allowedTenants"])?;
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
        let reg_path = base.key("registration");
        let certificate = match moved.client_certificate {
            Some(files) => Some(certificate_credential(
                &files,
                &moved_path.key("clientCertificate"),
                reg.client_secret_certificate_thumbprint.as_deref(),
                &reg_path.key("clientSecretCertificateThumbprint"),
            )?),
            None => None,
        };
        let unused_why = if certificate.is_some() {
            "the certificate is the one ezauth.providers.aad.clientCertificate names"
        } else {
            "name the certificate's PEM files in ezauth.providers.aad.clientCertificate to \
             authenticate with it"
        };
        for (field, set) in [
            (
                "clientSecretCertificateThumbprint",
                reg.client_secret_certificate_thumbprint.is_some() && certificate.is_none(),
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
                    "{} is accepted but ezauth does not act on it: {unused_why}",
                    reg_path.key(field)
                ));
            }
        }
        let issuer = reg
            .open_id_issuer
            .ok_or_else(|| invalid(&base.key("registration").key("openIdIssuer"), "is required"))?;
        check_url(&issuer, &base.key("registration").key("openIdIssuer"))?;
        let tenants = tenants(
            &issuer,
            &base.key("registration").key("openIdIssuer"),
            moved.allowed_tenants,
            &moved_path.key("allowedTenants"),
        )?;
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
        let client_auth = match (client_secret, certificate) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    &moved_path.key("clientCertificate"),
                    format!(
                        "and {} both name a credential: keep one",
                        reg_path.key("clientSecretSettingName")
                    ),
                ))
            }
            (Some(secret), None) => ClientAuth::SecretPost(secret),
            (None, Some(certificate)) => certificate,
            (None, None) => ClientAuth::None,
        };
        // Without a credential App Service signs in with the implicit flow (an id_token
        // posted back), as Azure AD allows a public client only that way.
        let flow = if client_auth.has_credential() {
            crate::providers::oidc::FLOW
        } else {
            crate::providers::oidc::IMPLICIT_FLOW
        };
        return Ok(vec![ProviderSettings {
            name: "aad".into(),
            client_id,
            client_auth,
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
            tenants,
            client_codes: false,
            id_claim_type: claims::OBJECT_ID,
            authorization,
            sign_out_at_provider: true,
            www_authenticate: !login.disable_www_authenticate.unwrap_or(false),
            flow,
        }]);
    }
    Ok(Vec::new())
}

/// A multi-tenant issuer's reading (see `providers::aad_tenants`), restricted to the tenants
/// `ezauth.providers.aad.allowedTenants` lists. A template (`{tenantid}`) is not an issuer to
/// configure: the tenant segment `common`, `organizations` or `consumers` says it.
fn tenants(
    issuer: &str,
    issuer_path: &str,
    allowed: Option<Vec<String>>,
    allowed_path: &str,
) -> Result<Option<MultiTenant>, ConfigError> {
    if issuer.contains('{') || issuer.contains('}') {
        return Err(invalid(
            issuer_path,
            format!(
                "{issuer:?} is a template: name the tenant, or common, organizations or \
                 consumers for a multi-tenant app"
            ),
        ));
    }
    let multi = MultiTenant::of_issuer(issuer);
    match (multi, allowed) {
        (multi, None) => Ok(multi),
        (None, Some(_)) => Err(invalid(
            allowed_path,
            format!("applies to a multi-tenant issuer only, and {issuer:?} names one tenant"),
        )),
        (Some(mut multi), Some(allowed)) => {
            if let Some(bad) = allowed.iter().find(|t| !aad_tenants::is_guid(t)) {
                return Err(invalid(
                    allowed_path,
                    format!("{bad:?} is not a tenant id (a GUID)"),
                ));
            }
            if allowed.is_empty() {
                return Err(invalid(allowed_path, "is empty: no one could sign in"));
            }
            multi.allowed_tenants = allowed;
            Ok(Some(multi))
        }
    }
}

/// The certificate credential: `private_key_jwt` assertions signed with the key and naming the
/// certificate by its `x5t` thumbprint, as Azure AD takes them. A thumbprint in the
/// registration must be this certificate's (SHA-1, hex, as the portal shows it).
fn certificate_credential(
    files: &schema::ClientCertificate,
    path: &JsonPath,
    thumbprint: Option<&str>,
    thumbprint_path: &str,
) -> Result<ClientAuth, ConfigError> {
    let key = key_files::private_key(&files.key_file, &path.key("keyFile"))?;
    let cert = key_files::certificate(
        &files.cert_file,
        &key,
        &files.key_file,
        &path.key("certFile"),
    )?;
    let sha1 = cert
        .digest(openssl::hash::MessageDigest::sha1())
        .map_err(|e| invalid(&path.key("certFile"), e.to_string()))?;
    let hex: String = sha1.iter().map(|b| format!("{b:02X}")).collect();
    if let Some(configured) = thumbprint {
        let configured: String = configured
            .chars()
            .filter(|c| !c.is_whitespace() && *c != ':')
            .collect();
        if !configured.eq_ignore_ascii_case(&hex) {
            return Err(invalid(
                thumbprint_path,
                format!(
                    "{configured:?} is not the thumbprint of {:?} ({hex})",
                    files.cert_file
                ),
            ));
        }
    }
    let name = KeyName::x5t_of(&cert).map_err(|e| invalid(&path.key("certFile"), e))?;
    Ok(ClientAuth::PrivateKeyJwt {
        key: Arc::new(key),
        name,
    })
}
