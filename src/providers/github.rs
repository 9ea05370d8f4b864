//! GitHub as its documentation describes an OAuth app ("Authorizing OAuth apps": the web
//! application flow; REST API "Users" `GET /user`, "Emails" `GET /user/emails`, "OAuth
//! authorizations" `POST /applications/{client_id}/token`). There is no ID token, issuer or
//! key: the access token is opaque and who signed in is what `GET /user` answers with it.
//!
//! Everything GitHub sends is checked before it reaches a header or the store: a positive
//! numeric id, a login GitHub could have issued, bounded texts without control characters, an
//! access token of visible ASCII. A token a client posts must also be one GitHub issued to this
//! app (checked with the app's credentials), or a token another app obtained for the same user
//! would sign in as them here. GitHub's OAuth app tokens do not expire and cannot be refreshed;
//! App Service takes no GitHub token as `Authorization: Bearer`, nor does this.

use super::checks::{is_email, is_text};
use super::oauth2::Authorize;
use std::sync::Arc;

use serde_json::{json, Value};

use super::{
    BeginLogin, Callback, Capabilities, Flow, Identity, Kept, LoginStarted, Provider,
    ProviderError, Tokens,
};
use crate::config::{Endpoints, ProviderSettings};
use crate::io::Io;
use crate::outbound::{HttpClient, HttpRequest, HttpResponse};
use crate::session::claims;
use crate::store::Claim;

pub const FLOW: Flow = Flow {
    name: "GitHub",
    build: |settings, http, _clock| Arc::new(GitHub::new(settings, http)),
};

pub const AUTHORIZATION_ENDPOINT: &str = "https://github.com/login/oauth/authorize";
pub const TOKEN_ENDPOINT: &str = "https://github.com/login/oauth/access_token";
pub const API_ENDPOINT: &str = "https://api.github.com";

/// What sessions and store entries name as the users' issuer (their id is GitHub's).
const ISSUER: &str = "https://github.com";
/// The REST API version these calls are written for (GitHub's `X-GitHub-Api-Version`).
const API_VERSION: &str = "2022-11-28";
/// GitHub refuses API calls without a `User-Agent`.
const USER_AGENT: &str = concat!("ezauth/", env!("CARGO_PKG_VERSION"));

/// Claim types of a GitHub user, as App Service and ASP.NET's GitHub handler name them.
pub const LOGIN_CLAIM: &str = "urn:github:login";
pub const ID_CLAIM: &str = "urn:github:id";
pub const NAME_CLAIM: &str = "urn:github:name";
pub const TYPE_CLAIM: &str = "urn:github:type";

/// Bounds of what is kept: GitHub's tokens are 40 to 255 characters, display names short.
const MAX_TOKEN: usize = 1024;

/// Login parameters GitHub's authorize endpoint documents (OpenID Connect's `login_hint` is
/// GitHub's `login`); the module's own (`state`, `redirect_uri`, ...) are never taken.
const PASSED_ON: &[(&str, &str)] = &[
    ("scope", "scope"),
    ("prompt", "prompt"),
    ("login_hint", "login"),
    ("login", "login"),
    ("allow_signup", "allow_signup"),
];

pub struct GitHub {
    settings: ProviderSettings,
    http: Arc<dyn HttpClient>,
    authorization: String,
    token: String,
    api: String,
}

impl GitHub {
    pub fn new(settings: ProviderSettings, http: Arc<dyn HttpClient>) -> GitHub {
        let (authorization, token, api) = match &settings.endpoints {
            Endpoints::OAuth2 {
                authorization,
                token,
                api,
            } => (authorization.clone(), token.clone(), api.clone()),
            // The resolver always gives OAuth 2.0 endpoints; GitHub's own are the fallback.
            _ => (
                AUTHORIZATION_ENDPOINT.into(),
                TOKEN_ENDPOINT.into(),
                API_ENDPOINT.into(),
            ),
        };
        GitHub {
            settings,
            http,
            authorization,
            token,
            api: api.trim_end_matches('/').to_owned(),
        }
    }

    fn secret(&self) -> Option<&str> {
        self.settings.client_auth.secret()
    }

    /// Redeems the callback's code ("Authorizing OAuth apps", step 2). GitHub answers a bad
    /// code with 200 and `{"error": "bad_verification_code"}`.
    fn redeem(&self, code: &str, redirect_uri: &str) -> Result<String, ProviderError> {
        let secret = self.secret().unwrap_or_default();
        let (status, body) = self.http.post_form(
            &self.token,
            &[
                ("client_id", self.settings.client_id.as_str()),
                ("client_secret", secret),
                ("code", code),
                ("redirect_uri", redirect_uri),
            ],
            None,
        )?;
        if let Some(error) = body.get("error") {
            let error = error.as_str().unwrap_or("(not a string)");
            let detail = format!("GitHub's token endpoint answered {status} {error:?}");
            return Err(match error {
                // The code expired, was used, or belongs to another redirect: sign in again.
                "bad_verification_code" => ProviderError::BadRequest(detail),
                // The app's registration or secret is wrong: nothing the user can fix.
                "incorrect_client_credentials" | "redirect_uri_mismatch" => {
                    ProviderError::BadResponse(detail)
                }
                _ => ProviderError::Rejected(detail),
            });
        }
        if status != 200 {
            return Err(ProviderError::BadResponse(format!(
                "GitHub's token endpoint answered {status}"
            )));
        }
        if let Some(kind) = body.get("token_type").and_then(Value::as_str) {
            if !kind.eq_ignore_ascii_case("bearer") {
                return Err(ProviderError::BadResponse(format!(
                    "GitHub issued a {kind:?} token, not a bearer token"
                )));
            }
        }
        body.get("access_token")
            .and_then(Value::as_str)
            .filter(|t| is_token(t))
            .map(str::to_owned)
            .ok_or_else(|| {
                ProviderError::BadResponse(
                    "GitHub's token endpoint answered without a usable access_token".into(),
                )
            })
    }

    /// One REST API call; the answer whatever its status.
    fn api_call(
        &self,
        method: &str,
        path: &str,
        authorization: &str,
        body: Option<Value>,
    ) -> Result<HttpResponse, ProviderError> {
        let mut headers = vec![
            (
                "Accept".to_owned(),
                "application/vnd.github+json".to_owned(),
            ),
            ("Authorization".to_owned(), authorization.to_owned()),
            ("User-Agent".to_owned(), USER_AGENT.to_owned()),
            ("X-GitHub-Api-Version".to_owned(), API_VERSION.to_owned()),
        ];
        if body.is_some() {
            headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
        }
        Ok(self.http.exchange(HttpRequest {
            method: method.into(),
            url: format!("{}{path}", self.api),
            headers,
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        })?)
    }

    /// Is `token` one GitHub issued to this app? ("Check a token": the app's id and secret in
    /// Basic; 404 for a token of another app, revoked or made up.)
    fn check_issued_here(&self, token: &str) -> Result<(), ProviderError> {
        // HTTP Basic as RFC 7617 has it (GitHub's API is no OAuth token endpoint: nothing is
        // form-encoded first).
        let pair = format!(
            "{}:{}",
            self.settings.client_id,
            self.secret().unwrap_or_default()
        );
        let basic = format!("Basic {}", crate::crypto::b64(pair.as_bytes()));
        let client_id: String =
            form_urlencoded::byte_serialize(self.settings.client_id.as_bytes()).collect();
        let response = self.api_call(
            "POST",
            &format!("/applications/{client_id}/token"),
            &basic,
            Some(json!({ "access_token": token })),
        )?;
        match response.status {
            200 => {
                let body = parse(&response)?;
                // The path names this app already; the answer must say so too.
                let app = body.pointer("/app/client_id").and_then(Value::as_str);
                if app != Some(self.settings.client_id.as_str()) {
                    return Err(ProviderError::Rejected(format!(
                        "GitHub says the access token belongs to another app ({app:?})"
                    )));
                }
                Ok(())
            }
            404 | 422 => Err(ProviderError::Rejected(format!(
                "GitHub does not know the access token as one of this app's ({})",
                response.status
            ))),
            401 => Err(ProviderError::BadResponse(
                "GitHub refused the app's client id and secret (check a token)".into(),
            )),
            status => Err(unusable("check a token", status)),
        }
    }

    /// Who the access token belongs to: `GET /user`, and `GET /user/emails` when the token's
    /// scopes (`X-OAuth-Scopes`) allow it.
    fn user(&self, token: &str) -> Result<Identity, ProviderError> {
        let bearer = format!("Bearer {token}");
        let response = self.api_call("GET", "/user", &bearer, None)?;
        match response.status {
            200 => {}
            401 => {
                return Err(ProviderError::Rejected(
                    "GitHub refused the access token (401 from /user)".into(),
                ))
            }
            status => return Err(unusable("/user", status)),
        }
        let user = parse(&response)?;
        let id = user
            .get("id")
            .and_then(Value::as_u64)
            .filter(|id| *id > 0)
            .ok_or_else(|| bad("/user has no positive numeric id"))?
            .to_string();
        let login = user
            .get("login")
            .and_then(Value::as_str)
            .filter(|l| is_login(l))
            .ok_or_else(|| bad("/user has no valid login"))?;
        let claim = Claim::new;
        let mut user_claims = vec![
            claim(claims::NAME_ID, &id),
            claim(claims::NAME, login),
            claim(LOGIN_CLAIM, login),
            claim(ID_CLAIM, &id),
        ];
        if let Some(name) = user
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| is_text(n))
        {
            user_claims.push(claim(NAME_CLAIM, name));
        }
        if let Some(kind) = user
            .get("type")
            .and_then(Value::as_str)
            .filter(|t| (1..=32).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            user_claims.push(claim(TYPE_CLAIM, kind));
        }
        if may_read_emails(&response) {
            if let Some(email) = self.primary_email(&bearer)? {
                user_claims.push(claim(claims::EMAIL, &email));
            }
        }
        Ok(Identity {
            issuer: ISSUER.into(),
            subject: id,
            claims: user_claims,
            id_claim: claims::NAME_ID,
            tokens: Tokens {
                access_token: Some(token.to_owned()),
                ..Tokens::default()
            },
        })
    }

    /// The user's primary address, if GitHub verified it. An answer without one (a token
    /// whose grant does not cover e-mail after all) means no address, not a failed sign-in.
    fn primary_email(&self, bearer: &str) -> Result<Option<String>, ProviderError> {
        let response = self.api_call("GET", "/user/emails", bearer, None)?;
        if response.status != 200 {
            return Ok(None);
        }
        let emails = parse(&response)?;
        Ok(emails.as_array().and_then(|list| {
            list.iter()
                .filter(|e| e.get("primary") == Some(&Value::Bool(true)))
                .filter(|e| e.get("verified") == Some(&Value::Bool(true)))
                .find_map(|e| e.get("email")?.as_str().filter(|a| is_email(a)))
                .map(str::to_owned)
        }))
    }
}

impl Provider for GitHub {
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
            fixed: &[],
            scope: (!self.settings.scopes.is_empty()).then(|| self.settings.scopes.join(" ")),
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
        let token = self.redeem(code, redirect_uri)?;
        self.user(&token)
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
                "the access_token is not a GitHub token (length or characters)".into(),
            ));
        }
        self.check_issued_here(token)?;
        self.user(token)
    }
}

fn bad(why: &str) -> ProviderError {
    ProviderError::BadResponse(format!("GitHub's {why}"))
}

/// An API answer that is neither the data nor a refusal of the user's token: rate limits
/// (403, 429) and outages are GitHub's trouble, 502.
fn unusable(call: &str, status: u16) -> ProviderError {
    ProviderError::BadResponse(format!("GitHub's {call} answered {status}"))
}

fn parse(response: &HttpResponse) -> Result<Value, ProviderError> {
    serde_json::from_slice(&response.body)
        .map_err(|e| ProviderError::BadResponse(format!("GitHub's API answered no JSON: {e}")))
}

/// Do the token's scopes, as GitHub lists them in `X-OAuth-Scopes`, cover reading e-mail
/// addresses (`user:email`, or all of `user`)?
fn may_read_emails(response: &HttpResponse) -> bool {
    response
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("x-oauth-scopes"))
        .flat_map(|(_, v)| v.split(','))
        .any(|s| matches!(s.trim(), "user" | "user:email"))
}

/// A token as GitHub issues them: visible ASCII (it goes into a header), bounded.
fn is_token(t: &str) -> bool {
    (1..=MAX_TOKEN).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_graphic())
}

/// A GitHub login: letters, digits and hyphens, up to 39, not starting with a hyphen.
fn is_login(l: &str) -> bool {
    (1..=39).contains(&l.len())
        && !l.starts_with('-')
        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_tokens_and_texts_are_checked() {
        for ok in ["octocat", "a", "mona-lisa", "x1-2-3", &"a".repeat(39)] {
            assert!(is_login(ok), "{ok}");
        }
        for bad in [
            "",
            "-lead",
            "has space",
            "dots.no",
            "ü",
            &"a".repeat(40),
            "a\nb",
        ] {
            assert!(!is_login(bad), "{bad:?}");
        }
        assert!(is_token("gho_16C7e42F292c6912E7710c838347Ae178B4a"));
        for bad in [
            "",
            "with space",
            "line\nbreak",
            "tab\t",
            "é",
            &"t".repeat(1025),
        ] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }
}
