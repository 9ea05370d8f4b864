//! Microsoft Account (personal accounts) over the Microsoft identity platform's `consumers`
//! endpoints: OpenID Connect run by [`OidcProvider`], with App Service's client-directed
//! bodies for it: `{"authentication_token"}` (preferred; Live's signed sign-in token, which the
//! platform's id_token replaces) or `{"access_token"}` (a JWT for this app). The opaque tokens
//! the platform issues for Microsoft's own APIs are refused: nothing Microsoft offers says which
//! app they were issued to, so accepting one would sign in whoever holds any app's token.
//! The sign-in token is kept as `authentication_token` too, the field App Service's
//! `X-MS-TOKEN-MICROSOFTACCOUNT-AUTHENTICATION-TOKEN` comes from.

use std::sync::Arc;

use super::oidc::OidcProvider;
use super::{
    Bearer, BeginLogin, Capabilities, Flow, Identity, Kept, LoginStarted, Provider, ProviderError,
    Tokens,
};
use crate::config::ProviderSettings;
use crate::io::Io;

pub const FLOW: Flow = Flow {
    name: "Microsoft Account",
    build: |settings, http, clock| {
        Arc::new(MicrosoftAccount {
            oidc: OidcProvider::new(settings, http, clock),
        })
    },
};

/// The `consumers` tenant's documented endpoints; its tokens name the consumer tenant's id.
pub const ISSUER: &str =
    "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0";
pub const AUTHORIZATION_ENDPOINT: &str =
    "https://login.microsoftonline.com/consumers/oauth2/v2.0/authorize";
pub const TOKEN_ENDPOINT: &str = "https://login.microsoftonline.com/consumers/oauth2/v2.0/token";
pub const JWKS_ENDPOINT: &str = "https://login.microsoftonline.com/consumers/discovery/v2.0/keys";

pub struct MicrosoftAccount {
    oidc: OidcProvider,
}

impl Provider for MicrosoftAccount {
    fn settings(&self) -> &ProviderSettings {
        self.oidc.settings()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            client_bodies: &[&["authentication_token"], &["access_token"]],
            ..self.oidc.capabilities()
        }
    }

    fn begin_login(&self, login: &BeginLogin) -> Result<LoginStarted, ProviderError> {
        self.oidc.begin_login(login)
    }

    fn finish_login(
        &self,
        params: &[(String, String)],
        redirect_uri: &str,
        kept: &Kept,
    ) -> Result<Identity, ProviderError> {
        self.oidc
            .finish_login(params, redirect_uri, kept)
            .map(with_authentication_token)
    }

    /// An `authentication_token` is validated and kept as the id_token it is.
    fn validate_client_token(
        &self,
        fields: &[(&str, &str)],
        io: Io,
    ) -> Result<Identity, ProviderError> {
        match fields {
            [("authentication_token", token)] => self
                .oidc
                .validate_client_token(&[("id_token", token)], io)
                .map(with_authentication_token),
            _ => self.oidc.validate_client_token(fields, io),
        }
    }

    fn accepts_bearer(&self, bearer: &Bearer, io: Io) -> Result<bool, ProviderError> {
        self.oidc.accepts_bearer(bearer, io)
    }

    fn validate_bearer(&self, token: &str, io: Io) -> Result<Identity, ProviderError> {
        self.oidc.validate_bearer(token, io)
    }

    fn refresh(&self, refresh_token: &str) -> Result<Tokens, ProviderError> {
        let mut tokens = self.oidc.refresh(refresh_token)?;
        tokens.authentication_token = tokens.id_token.clone();
        Ok(tokens)
    }
}

/// The platform's id_token is Microsoft Account's sign-in token.
fn with_authentication_token(mut identity: Identity) -> Identity {
    identity.tokens.authentication_token = identity.tokens.id_token.clone();
    identity
}
