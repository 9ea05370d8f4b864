//! Sign in with Apple: OpenID Connect with `response_mode=form_post` (run by
//! [`OidcProvider`]), a client secret the app mints ([`super::client_auth::SignedSecret`]), and
//! the user's name, which Apple sends once: as a `user` JSON form field beside the code on the
//! first authorization only, never in the id_token. It becomes claims, and the module keeps
//! them from the stored record on later sign-ins ([`Provider::claims_given_once`]).

use std::sync::Arc;

use serde_json::Value;

use super::oidc::OidcProvider;
use super::{
    Bearer, BeginLogin, Capabilities, Flow, Identity, Kept, LoginStarted, Provider, ProviderError,
    Tokens,
};
use crate::config::ProviderSettings;
use crate::io::Io;
use crate::session::claims;
use crate::store::Claim;

pub const FLOW: Flow = Flow {
    name: "Sign in with Apple",
    build: |settings, http, clock| {
        Arc::new(Apple {
            oidc: OidcProvider::new(settings, http, clock),
        })
    },
};

/// Apple's documented endpoints.
pub const ISSUER: &str = "https://appleid.apple.com";
pub const AUTHORIZATION_ENDPOINT: &str = "https://appleid.apple.com/auth/authorize";
pub const TOKEN_ENDPOINT: &str = "https://appleid.apple.com/auth/token";
pub const JWKS_ENDPOINT: &str = "https://appleid.apple.com/auth/keys";

/// The claims Apple's `user` field gives: the name parts, and the whole name.
const GIVEN_NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname";
const SURNAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname";
const GIVEN_ONCE: &[&str] = &[GIVEN_NAME, SURNAME, claims::NAME];

/// A `user` field larger than this is not Apple's (a name and an e-mail address).
const MAX_USER_FIELD: usize = 4096;

pub struct Apple {
    oidc: OidcProvider,
}

/// The name claims of Apple's `user` field (`{"name":{"firstName","lastName"},"email"}`);
/// none when it is absent or not Apple's shape. Names with control bytes are dropped: they
/// would reach headers.
fn name_claims(user: Option<&str>) -> Vec<Claim> {
    let Some(user) = user.filter(|u| u.len() <= MAX_USER_FIELD) else {
        return Vec::new();
    };
    let Ok(doc) = serde_json::from_str::<Value>(user) else {
        return Vec::new();
    };
    let part = |name: &str| {
        doc.pointer(&format!("/name/{name}"))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty() && !v.chars().any(char::is_control))
    };
    let (first, last) = (part("firstName"), part("lastName"));
    let claim = |typ: &str, val: &str| Claim {
        typ: typ.to_owned(),
        val: val.to_owned(),
    };
    let mut out: Vec<Claim> = [(GIVEN_NAME, first), (SURNAME, last)]
        .into_iter()
        .filter_map(|(typ, v)| v.map(|v| claim(typ, v)))
        .collect();
    let whole: Vec<&str> = [first, last].into_iter().flatten().collect();
    if !whole.is_empty() {
        out.push(claim(claims::NAME, &whole.join(" ")));
    }
    out
}

impl Provider for Apple {
    fn settings(&self) -> &ProviderSettings {
        self.oidc.settings()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            // Apple's access tokens are opaque: a client signs in with its id_token.
            client_bodies: &[&["id_token"]],
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
        let mut identity = self.oidc.finish_login(params, redirect_uri, kept)?;
        let names = name_claims(crate::http::param(params, "user"));
        identity
            .claims
            .retain(|c| !names.iter().any(|n| n.typ == c.typ));
        identity.claims.extend(names);
        Ok(identity)
    }

    fn claims_given_once(&self) -> &'static [&'static str] {
        GIVEN_ONCE
    }

    fn validate_client_token(
        &self,
        fields: &[(&str, &str)],
        io: Io,
    ) -> Result<Identity, ProviderError> {
        self.oidc.validate_client_token(fields, io)
    }

    fn accepts_bearer(&self, bearer: &Bearer, io: Io) -> Result<bool, ProviderError> {
        self.oidc.accepts_bearer(bearer, io)
    }

    fn validate_bearer(&self, token: &str, io: Io) -> Result<Identity, ProviderError> {
        self.oidc.validate_bearer(token, io)
    }

    fn refresh(&self, refresh_token: &str) -> Result<Tokens, ProviderError> {
        self.oidc.refresh(refresh_token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val<'a>(c: &'a [Claim], typ: &str) -> Option<&'a str> {
        c.iter().find(|x| x.typ == typ).map(|x| x.val.as_str())
    }

    #[test]
    fn the_user_field_gives_the_name_once_and_only_in_apple_s_shape() {
        let c = name_claims(Some(
            r#"{"name":{"firstName":"Jane","lastName":"Appleseed"},"email":"j@privaterelay.appleid.com"}"#,
        ));
        assert_eq!(val(&c, GIVEN_NAME), Some("Jane"));
        assert_eq!(val(&c, SURNAME), Some("Appleseed"));
        assert_eq!(val(&c, claims::NAME), Some("Jane Appleseed"));
        assert_eq!(
            val(&c, claims::EMAIL),
            None,
            "the id_token's e-mail is the verified one"
        );
        for bad in [
            None,
            Some("not json"),
            Some(r#"{"name":"Jane"}"#),
            Some("{\"name\":{\"firstName\":\"J\\r\\nX-Injected: 1\"}}"),
        ] {
            assert!(name_claims(bad).is_empty(), "{bad:?}");
        }
        let big = format!(r#"{{"name":{{"firstName":"{}"}}}}"#, "a".repeat(5000));
        assert!(name_claims(Some(&big)).is_empty());
    }
}
