//! `identityProviders.twitter`: a Twitter (X) app signing users in over OAuth 1.0a, the user
//! read from the v1.1 API, signed in under `twitter`. Its endpoints can be moved in
//! `ezauth.providers.twitter`.

use super::{endpoint, registered, Resolving};
use crate::config::{schema, Authorization, ConfigError, Endpoints, JsonPath, ProviderSettings};
use crate::providers::client_auth::ClientAuth;
use crate::providers::twitter;
use crate::session::claims;

/// The `twitter` block: one provider named `twitter` when it is enabled and names a consumer
/// key; none (with a warning) when it names none, as App Service treats it.
pub(super) fn resolve(
    idp: &mut schema::IdentityProviders,
    base: &JsonPath,
    cx: &mut Resolving,
) -> Result<Vec<ProviderSettings>, ConfigError> {
    let (moved, moved_path) = cx.endpoints(
        "twitter",
        &[
            "requestTokenEndpoint",
            "authorizationEndpoint",
            "tokenEndpoint",
            "apiEndpoint",
        ],
    )?;
    let Some(block) = idp.twitter.take().filter(|b| b.enabled.unwrap_or(true)) else {
        return Ok(Vec::new());
    };
    let reg = block.registration.unwrap_or_default();
    let Some((consumer_key, consumer_secret)) = registered(
        cx,
        base,
        (reg.consumer_key, "consumerKey"),
        (
            reg.consumer_secret_setting_name,
            "consumerSecretSettingName",
        ),
        "Twitter takes only requests signed with the consumer secret",
    )?
    else {
        return Ok(Vec::new());
    };
    Ok(vec![ProviderSettings {
        name: "twitter".into(),
        client_id: consumer_key,
        // RFC 5849's client shared-secret: it keys every signature and is never sent.
        client_auth: ClientAuth::SecretPost(consumer_secret),
        endpoints: Endpoints::OAuth1 {
            request_token: endpoint(
                moved.request_token_endpoint,
                twitter::REQUEST_TOKEN_ENDPOINT,
                &moved_path,
                "requestTokenEndpoint",
            )?,
            authorization: endpoint(
                moved.authorization_endpoint,
                twitter::AUTHENTICATE_ENDPOINT,
                &moved_path,
                "authorizationEndpoint",
            )?,
            access_token: endpoint(
                moved.token_endpoint,
                twitter::ACCESS_TOKEN_ENDPOINT,
                &moved_path,
                "tokenEndpoint",
            )?,
            api: endpoint(
                moved.api_endpoint,
                twitter::API_ENDPOINT,
                &moved_path,
                "apiEndpoint",
            )?,
        },
        scopes: Vec::new(),
        login_parameters: Vec::new(),
        name_claim_type: claims::NAME.into(),
        allowed_audiences: Vec::new(),
        id_claim_type: claims::NAME_ID,
        authorization: Authorization::default(),
        sign_out_at_provider: false,
        www_authenticate: false,
        flow: twitter::FLOW,
        issuer_aliases: Vec::new(),
        tenants: None,
        client_codes: false,
    }])
}
