//! Facebook as its documentation describes Facebook Login and the Graph API ("Manually Build a
//! Login Flow": the login dialog, exchanging the code for an access token, inspecting access
//! tokens with `GET /debug_token`; "Long-Lived Access Tokens": `grant_type=fb_exchange_token`;
//! "Securing Graph API Requests": `appsecret_proof`; Graph API reference "User": `GET /me`).
//! There is no ID token: the access token is opaque and who signed in is what `GET /me`
//! answers with it, every call proven with the app secret (`appsecret_proof`).
//!
//! Everything Facebook sends is checked before it reaches a header or the store: a numeric
//! app-scoped user id, bounded texts without control characters, an access token of visible
//! ASCII. A token a client posts must be valid, issued to this app and unexpired, as
//! `debug_token` (asked with the app's own token) says, and name the user `/me` names: a token
//! another app obtained for the user does not sign them in here. Facebook's user tokens cannot
//! be refreshed (a sign-in's token is exchanged for a long-lived one, about 60 days); App
//! Service takes no Facebook token as `Authorization: Bearer`, nor does this.

use super::checks::{email_of, is_text};
use super::oauth2::Authorize;
use std::sync::Arc;

use serde_json::Value;

use super::{
    BeginLogin, Callback, Capabilities, Flow, Identity, Kept, LoginStarted, Provider,
    ProviderError, Tokens,
};
use crate::clock::Clock;
use crate::config::{Endpoints, ProviderSettings};
use crate::io::Io;
use crate::outbound::{HttpClient, HttpRequest, HttpResponse};
use crate::session::claims;
use crate::store::Claim;

pub const FLOW: Flow = Flow {
    name: "Facebook",
    build: |settings, http, clock| Arc::new(Facebook::new(settings, http, clock)),
};

/// Where Facebook's login dialog and Graph API are; a `graphApiVersion` goes after them.
pub const DIALOG_BASE: &str = "https://www.facebook.com";
pub const GRAPH_BASE: &str = "https://graph.facebook.com";

/// What sessions and store entries name as the users' issuer (their id is Facebook's).
const ISSUER: &str = "https://www.facebook.com";

/// Claim types of a Facebook user beyond the standard ones.
pub const GIVEN_NAME_CLAIM: &str =
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname";
pub const SURNAME_CLAIM: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname";

/// Bounds of what is kept: Facebook's tokens are a few hundred characters, names short.
const MAX_TOKEN: usize = 2048;
const MAX_ID: usize = 32;

/// Login parameters Facebook's login dialog documents; the module's own (`state`,
/// `redirect_uri`, ...) are never taken.
const PASSED_ON: &[(&str, &str)] = &[
    ("scope", "scope"),
    ("auth_type", "auth_type"),
    ("display", "display"),
];

pub struct Facebook {
    settings: ProviderSettings,
    http: Arc<dyn HttpClient>,
    clock: Arc<dyn Clock>,
    authorization: String,
    token: String,
    graph: String,
}

impl Facebook {
    pub fn new(
        settings: ProviderSettings,
        http: Arc<dyn HttpClient>,
        clock: Arc<dyn Clock>,
    ) -> Facebook {
        let (authorization, token, graph) = match &settings.endpoints {
            Endpoints::OAuth2 {
                authorization,
                token,
                api,
            } => (authorization.clone(), token.clone(), api.clone()),
            // The configuration always gives OAuth 2.0 endpoints; Facebook's own (no version
            // pinned) are the fallback.
            _ => (
                format!("{DIALOG_BASE}/dialog/oauth"),
                format!("{GRAPH_BASE}/oauth/access_token"),
                GRAPH_BASE.into(),
            ),
        };
        Facebook {
            settings,
            http,
            clock,
            authorization,
            token,
            graph: graph.trim_end_matches('/').to_owned(),
        }
    }

    fn secret(&self) -> &str {
        self.settings.client_auth.secret().unwrap_or_default()
    }

    /// `appsecret_proof`: HMAC-SHA256 of the access token keyed with the app secret, in hex.
    fn proof(&self, token: &str) -> String {
        crate::crypto::hex(&crate::crypto::hmac_sha256(
            self.secret().as_bytes(),
            token.as_bytes(),
        ))
    }

    /// One Graph API GET with a bearer credential; the answer whatever its status.
    fn graph_get(
        &self,
        url: &str,
        query: &[(&str, &str)],
        bearer: &str,
    ) -> Result<HttpResponse, ProviderError> {
        let mut url = url::Url::parse(url)
            .map_err(|_| ProviderError::BadResponse(format!("{url:?} is not a URL")))?;
        url.query_pairs_mut().extend_pairs(query);
        Ok(self.http.exchange(HttpRequest {
            method: "GET".into(),
            url: url.into(),
            headers: vec![
                ("Accept".into(), "application/json".into()),
                ("Authorization".into(), format!("Bearer {bearer}")),
            ],
            body: Vec::new(),
        })?)
    }

    /// A token from the token endpoint: the code's ("Exchanging Code for an Access Token") or a
    /// long-lived one for it (`grant_type=fb_exchange_token`). Facebook documents GET with the
    /// app secret in the query.
    fn token_call(&self, query: &[(&str, &str)]) -> Result<Tokens, ProviderError> {
        let mut url = url::Url::parse(&self.token).map_err(|_| {
            ProviderError::BadResponse(format!("token endpoint {:?} is not a URL", self.token))
        })?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("client_secret", self.secret())
            .extend_pairs(query);
        let response = self.http.exchange(HttpRequest {
            method: "GET".into(),
            url: url.into(),
            headers: vec![("Accept".into(), "application/json".into())],
            body: Vec::new(),
        })?;
        let body = parse(&response)?;
        if response.status != 200 {
            let detail = format!(
                "Facebook's token endpoint answered {} {}",
                response.status,
                graph_error(&body)
            );
            // Code 100 (an invalid parameter): the code expired or was used; sign in again.
            // Anything else (code 1: the app secret; 101: the app id; outages) is no fault of
            // the user's.
            let code = body.pointer("/error/code").and_then(Value::as_i64);
            return Err(match (response.status, code) {
                (400, Some(100)) => ProviderError::BadRequest(detail),
                _ => ProviderError::BadResponse(detail),
            });
        }
        if let Some(kind) = body.get("token_type").and_then(Value::as_str) {
            if !kind.eq_ignore_ascii_case("bearer") {
                return Err(bad(&format!("token endpoint issued a {kind:?} token")));
            }
        }
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| is_token(t))
            .ok_or_else(|| bad("token endpoint answered without a usable access_token"))?;
        let expires_in = body.get("expires_in").and_then(Value::as_i64);
        Ok(Tokens {
            access_token: Some(token.to_owned()),
            expires_at: expires_in
                .filter(|s| *s > 0)
                .map(|s| self.clock.now().saturating_add(s.min(365 * 24 * 3600))),
            ..Tokens::default()
        })
    }

    /// What `debug_token` (asked with the app's token) says of a client's token: valid, this
    /// app's, unexpired; its user id and expiry.
    fn inspect(&self, token: &str) -> Result<(String, Option<i64>), ProviderError> {
        let app_token = format!("{}|{}", self.settings.client_id, self.secret());
        let response = self.graph_get(
            &format!("{}/debug_token", self.graph),
            &[
                ("input_token", token),
                ("appsecret_proof", &self.proof(&app_token)),
            ],
            &app_token,
        )?;
        let body = parse(&response)?;
        if response.status != 200 {
            return Err(bad(&format!(
                "debug_token answered {} {}",
                response.status,
                graph_error(&body)
            )));
        }
        let data = body
            .get("data")
            .ok_or_else(|| bad("debug_token answered without data"))?;
        let reject = |why: &str| ProviderError::Rejected(format!("Facebook says the token {why}"));
        if data.get("is_valid") != Some(&Value::Bool(true)) {
            return Err(reject("is not valid"));
        }
        let app = data.get("app_id").and_then(id_text);
        if app.as_deref() != Some(self.settings.client_id.as_str()) {
            return Err(reject(&format!("belongs to another app ({app:?})")));
        }
        if let Some(kind) = data.get("type").and_then(Value::as_str) {
            if kind != "USER" {
                return Err(reject(&format!("is a {kind} token, not a user's")));
            }
        }
        // 0 means "never expires" (a long-lived Page or system token; Facebook's convention).
        let expires_at = data
            .get("expires_at")
            .and_then(Value::as_i64)
            .filter(|e| *e != 0);
        if expires_at.is_some_and(|e| e <= self.clock.now()) {
            return Err(reject("has expired"));
        }
        let user = data
            .get("user_id")
            .and_then(id_text)
            .ok_or_else(|| reject("names no user"))?;
        Ok((user, expires_at))
    }

    /// Who the access token belongs to: `GET /me`. `email` is asked for whatever the scopes
    /// (a login may change them): Facebook answers it only when the person granted it.
    fn user(&self, tokens: Tokens) -> Result<Identity, ProviderError> {
        let token = tokens.access_token.clone().unwrap_or_default();
        let response = self.graph_get(
            &format!("{}/me", self.graph),
            &[
                ("fields", "id,name,first_name,last_name,email"),
                ("appsecret_proof", &self.proof(&token)),
            ],
            &token,
        )?;
        let user = parse(&response)?;
        match response.status {
            200 => {}
            // OAuthException for the user's token: expired, revoked, or made up.
            400 | 401 | 403 => {
                return Err(ProviderError::Rejected(format!(
                    "Facebook refused the access token ({} from /me: {})",
                    response.status,
                    graph_error(&user)
                )))
            }
            status => return Err(bad(&format!("/me answered {status}"))),
        }
        let id = user
            .get("id")
            .and_then(id_text)
            .ok_or_else(|| bad("/me has no numeric id"))?;
        let name = user
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| is_text(n))
            .ok_or_else(|| bad("/me has no usable name"))?;
        let claim = |typ: &str, val: &str| Claim {
            typ: typ.into(),
            val: val.into(),
        };
        let mut user_claims = vec![claim(claims::NAME_ID, &id), claim(claims::NAME, name)];
        for (field, typ) in [
            ("first_name", GIVEN_NAME_CLAIM),
            ("last_name", SURNAME_CLAIM),
        ] {
            if let Some(v) = user
                .get(field)
                .and_then(Value::as_str)
                .filter(|v| is_text(v))
            {
                user_claims.push(claim(typ, v));
            }
        }
        if let Some(email) = email_of(&user) {
            user_claims.push(claim(claims::EMAIL, email));
        }
        Ok(Identity {
            issuer: ISSUER.into(),
            subject: id,
            claims: user_claims,
            id_claim: claims::NAME_ID,
            tokens,
        })
    }
}

impl Provider for Facebook {
    fn settings(&self) -> &ProviderSettings {
        &self.settings
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            callback: Callback::OAUTH2,
            refresh: false,
            client_bodies: &[&["access_token"]],
        }
    }

    fn begin_login(&self, login: &BeginLogin) -> Result<LoginStarted, ProviderError> {
        Authorize {
            endpoint: &self.authorization,
            client_id: &self.settings.client_id,
            fixed: &[("response_type", "code")],
            scope: (!self.settings.scopes.is_empty()).then(|| self.settings.scopes.join(",")),
            passed_on: PASSED_ON,
        }
        .begin(login)
    }

    fn finish_login(
        &self,
        params: &[(String, String)],
        redirect_uri: &str,
        _kept: &Kept,
    ) -> Result<Identity, ProviderError> {
        let code = crate::http::param(params, "code")
            .ok_or_else(|| ProviderError::BadRequest("the callback has no code".into()))?;
        let short = self.token_call(&[("redirect_uri", redirect_uri), ("code", code)])?;
        // The dialog's token lives an hour or two; the app gets the long-lived one.
        let long = self.token_call(&[
            ("grant_type", "fb_exchange_token"),
            (
                "fb_exchange_token",
                short.access_token.as_deref().unwrap_or_default(),
            ),
        ])?;
        self.user(long)
    }

    fn validate_client_token(
        &self,
        fields: &[(&str, &str)],
        _io: Io,
    ) -> Result<Identity, ProviderError> {
        let [("access_token", token)] = fields else {
            return Err(ProviderError::BadRequest("an access_token expected".into()));
        };
        if !is_token(token) {
            return Err(ProviderError::Rejected(
                "the access_token is not a Facebook token (length or characters)".into(),
            ));
        }
        let (user_id, expires_at) = self.inspect(token)?;
        let identity = self.user(Tokens {
            access_token: Some((*token).to_owned()),
            expires_at,
            ..Tokens::default()
        })?;
        if identity.subject != user_id {
            return Err(ProviderError::Rejected(format!(
                "debug_token names user {user_id}, /me another"
            )));
        }
        Ok(identity)
    }
}

fn bad(why: &str) -> ProviderError {
    ProviderError::BadResponse(format!("Facebook's {why}"))
}

fn parse(response: &HttpResponse) -> Result<Value, ProviderError> {
    serde_json::from_slice(&response.body)
        .map_err(|e| ProviderError::BadResponse(format!("Facebook answered no JSON: {e}")))
}

/// A Graph API error as Facebook shapes it (`{"error": {"message", "type", "code"}}`), for logs.
fn graph_error(body: &Value) -> String {
    let e = &body["error"];
    format!(
        "{} {} {}",
        e["type"].as_str().unwrap_or(""),
        e["code"]
            .as_i64()
            .map(|c| c.to_string())
            .unwrap_or_default(),
        e["message"].as_str().unwrap_or("")
    )
    .trim()
    .chars()
    .filter(|c| !c.is_control())
    .take(300)
    .collect()
}

/// An id as Facebook writes them (a string of digits; a number from some endpoints).
fn id_text(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_u64()?.to_string(),
        _ => return None,
    };
    ((1..=MAX_ID).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

/// A token as Facebook issues them: visible ASCII (it goes into a header), bounded.
fn is_token(t: &str) -> bool {
    (1..=MAX_TOKEN).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_tokens_and_texts_are_checked() {
        assert_eq!(
            id_text(&Value::from("10158291520000000")).as_deref(),
            Some("10158291520000000")
        );
        assert_eq!(id_text(&Value::from(42u64)).as_deref(), Some("42"));
        for bad in [
            Value::from(""),
            Value::from("12a"),
            Value::from("1\n2"),
            Value::from("-1"),
            Value::from("1".repeat(33)),
            Value::from(-5),
            Value::Null,
        ] {
            assert_eq!(id_text(&bad), None, "{bad:?}");
        }
        assert!(is_token("EAAGm0PX4ZCpsBA"));
        for bad in ["", "two words", "line\nbreak", "é", &"t".repeat(2049)] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }
}
