//! Twitter (X) as its documentation describes "Log in with Twitter" over OAuth 1.0a (RFC
//! 5849): `POST oauth/request_token` with the callback URL, the browser sent to
//! `oauth/authenticate`, `POST oauth/access_token` with the verifier, then who signed in from
//! `GET account/verify_credentials` (v1.1). Every request is signed (HMAC-SHA1, [`oauth1`]) with
//! the consumer secret and, once there is one, the token's secret.
//!
//! The request token is the sign-in's correlation (the callback names it `oauth_token`); its
//! secret is kept sealed in the login-state cookie, nowhere else. Everything Twitter sends is
//! checked before it reaches a header or the store: a numeric user id, a screen name Twitter
//! could have issued, tokens of RFC 3986 unreserved characters, bounded. A token pair a client
//! posts is judged by a call signed with this app's consumer secret and the pair's secret: a
//! pair another app obtained does not verify. Twitter's tokens do not expire and cannot be
//! refreshed; App Service takes no Twitter token as `Authorization: Bearer`, nor does this.

use super::checks::email_of;
use std::sync::Arc;

use serde_json::Value;

use super::oauth1::{self, Signer};
use super::{
    BeginLogin, Callback, Capabilities, Flow, Identity, Kept, LoginStarted, Provider,
    ProviderError, Refusal, Tokens,
};
use crate::clock::Clock;
use crate::config::{Endpoints, ProviderSettings};
use crate::crypto;
use crate::http::{param, parse_unique_params};
use crate::io::Io;
use crate::outbound::{HttpClient, HttpRequest, HttpResponse};
use crate::session::claims;
use crate::store::Claim;

pub const FLOW: Flow = Flow {
    name: "Twitter",
    build: |settings, http, clock| Arc::new(Twitter::new(settings, http, clock)),
};

pub const REQUEST_TOKEN_ENDPOINT: &str = "https://api.twitter.com/oauth/request_token";
/// "Sign in with Twitter": `authenticate` (unlike `authorize`) skips the consent screen for a
/// user who already authorized the app.
pub const AUTHENTICATE_ENDPOINT: &str = "https://api.twitter.com/oauth/authenticate";
pub const ACCESS_TOKEN_ENDPOINT: &str = "https://api.twitter.com/oauth/access_token";
/// The v1.1 API, whose `account/verify_credentials.json` says who holds a token.
pub const API_ENDPOINT: &str = "https://api.twitter.com/1.1";
const VERIFY_CREDENTIALS: &str = "/account/verify_credentials.json";

/// What sessions and store entries name as the users' issuer (their id is Twitter's).
const ISSUER: &str = "https://twitter.com";

/// Claim types of a Twitter user, as ASP.NET's Twitter handler (and App Service, which names
/// GitHub's the same way) names them.
pub const USER_ID_CLAIM: &str = "urn:twitter:userid";
pub const SCREEN_NAME_CLAIM: &str = "urn:twitter:screenname";

/// Bounds of what is kept: Twitter's tokens are about 50 characters, its secrets 45.
const MAX_TOKEN: usize = 256;
/// The kept request-token secret's name in [`Kept`].
const REQUEST_SECRET: &str = "oauth_token_secret";

pub struct Twitter {
    settings: ProviderSettings,
    http: Arc<dyn HttpClient>,
    clock: Arc<dyn Clock>,
    request_token: String,
    authenticate: String,
    access_token: String,
    api: String,
}

/// A token and its secret, as Twitter issued them (checked).
struct TokenPair {
    token: String,
    secret: String,
}

impl Twitter {
    pub fn new(
        settings: ProviderSettings,
        http: Arc<dyn HttpClient>,
        clock: Arc<dyn Clock>,
    ) -> Twitter {
        let (request_token, authenticate, access_token, api) = match &settings.endpoints {
            Endpoints::OAuth1 {
                request_token,
                authorization,
                access_token,
                api,
            } => (
                request_token.clone(),
                authorization.clone(),
                access_token.clone(),
                api.clone(),
            ),
            // The resolver always gives OAuth 1.0a endpoints; Twitter's own are the fallback.
            _ => (
                REQUEST_TOKEN_ENDPOINT.into(),
                AUTHENTICATE_ENDPOINT.into(),
                ACCESS_TOKEN_ENDPOINT.into(),
                API_ENDPOINT.into(),
            ),
        };
        Twitter {
            settings,
            http,
            clock,
            request_token,
            authenticate,
            access_token,
            api: api.trim_end_matches('/').to_owned(),
        }
    }

    fn consumer_secret(&self) -> &str {
        self.settings.client_auth.secret().unwrap_or_default()
    }

    /// One signed request (no body: every parameter Twitter needs here is a protocol one or in
    /// the query); the answer whatever its status.
    fn signed(
        &self,
        method: &str,
        url: &str,
        token: Option<(&str, &str)>,
        protocol: &[(&str, &str)],
    ) -> Result<HttpResponse, ProviderError> {
        let signer = Signer {
            consumer_key: &self.settings.client_id,
            consumer_secret: self.consumer_secret(),
            token,
        };
        let request = oauth1::Request {
            method,
            url,
            form: &[],
            protocol,
        };
        let authorization = signer
            .authorization(&request, &crypto::random_token(24), self.clock.now())
            .map_err(|why| ProviderError::BadResponse(format!("cannot sign for {url}: {why}")))?;
        Ok(self.http.exchange(HttpRequest {
            method: method.into(),
            url: url.into(),
            headers: vec![
                ("Authorization".into(), authorization),
                ("Accept".into(), "*/*".into()),
            ],
            body: Vec::new(),
        })?)
    }

    /// A form-encoded answer of the OAuth endpoints (RFC 5849 §2.1, §2.3), each name once.
    fn form_answer(
        &self,
        step: &str,
        response: &HttpResponse,
    ) -> Result<Vec<(String, String)>, ProviderError> {
        std::str::from_utf8(&response.body)
            .ok()
            .and_then(parse_unique_params)
            .ok_or_else(|| bad(&format!("{step} answered no form-encoded parameters")))
    }

    /// A token and secret from an OAuth endpoint's answer.
    fn pair(&self, step: &str, answer: &[(String, String)]) -> Result<TokenPair, ProviderError> {
        let field = |name: &str| {
            param(answer, name)
                .filter(|v| is_token(v))
                .map(str::to_owned)
                .ok_or_else(|| bad(&format!("{step} answered without a usable {name}")))
        };
        Ok(TokenPair {
            token: field("oauth_token")?,
            secret: field("oauth_token_secret")?,
        })
    }

    /// Temporary credentials for a sign-in returning to `callback` (RFC 5849 §2.1; Twitter's
    /// `POST oauth/request_token`), which must confirm the callback.
    fn request_token(&self, callback: &str) -> Result<TokenPair, ProviderError> {
        let response = self.signed(
            "POST",
            &self.request_token,
            None,
            &[("oauth_callback", callback)],
        )?;
        if response.status != 200 {
            // The app's own credentials or callback URL were refused: nothing a user can fix.
            return Err(bad(&format!("request_token answered {}", response.status)));
        }
        let answer = self.form_answer("request_token", &response)?;
        // A server that does not confirm the callback speaks OAuth 1.0 without RFC 5849's fix
        // of the session-fixation attack: refused.
        if param(&answer, "oauth_callback_confirmed") != Some("true") {
            return Err(bad("request_token did not confirm the callback"));
        }
        self.pair("request_token", &answer)
    }

    /// Token credentials for the user's verifier (RFC 5849 §2.3; `POST oauth/access_token`),
    /// and the user id Twitter says they belong to.
    fn redeem(
        &self,
        request: &TokenPair,
        verifier: &str,
    ) -> Result<(TokenPair, String), ProviderError> {
        let response = self.signed(
            "POST",
            &self.access_token,
            Some((&request.token, &request.secret)),
            &[("oauth_verifier", verifier)],
        )?;
        match response.status {
            200 => {}
            // The verifier or request token is refused (expired, used, made up).
            401 => {
                return Err(ProviderError::Rejected(
                    "Twitter refused the request token or verifier (401 from access_token)".into(),
                ))
            }
            status => return Err(bad(&format!("access_token answered {status}"))),
        }
        let answer = self.form_answer("access_token", &response)?;
        let pair = self.pair("access_token", &answer)?;
        let user_id = param(&answer, "user_id")
            .filter(|id| is_user_id(id))
            .ok_or_else(|| bad("access_token answered without a numeric user_id"))?;
        Ok((pair, user_id.to_owned()))
    }

    /// Who holds `pair`: `GET account/verify_credentials.json`, signed with it.
    fn user(&self, pair: TokenPair) -> Result<Identity, ProviderError> {
        let url = format!(
            "{}{VERIFY_CREDENTIALS}?include_email=true&skip_status=true",
            self.api
        );
        let response = self.signed("GET", &url, Some((&pair.token, &pair.secret)), &[])?;
        match response.status {
            200 => {}
            401 => {
                return Err(ProviderError::Rejected(
                    "Twitter refused the access token (401 from verify_credentials)".into(),
                ))
            }
            // Rate limits (429) and outages are Twitter's trouble.
            status => return Err(bad(&format!("verify_credentials answered {status}"))),
        }
        let user: Value = serde_json::from_slice(&response.body)
            .map_err(|e| bad(&format!("verify_credentials answered no JSON: {e}")))?;
        let id = user
            .get("id_str")
            .and_then(Value::as_str)
            .filter(|id| is_user_id(id))
            .ok_or_else(|| bad("verify_credentials has no numeric id_str"))?
            .to_owned();
        let screen_name = user
            .get("screen_name")
            .and_then(Value::as_str)
            .filter(|n| is_screen_name(n))
            .ok_or_else(|| bad("verify_credentials has no valid screen_name"))?;
        let claim = Claim::new;
        let mut user_claims = vec![
            claim(claims::NAME_ID, &id),
            claim(claims::NAME, screen_name),
            claim(USER_ID_CLAIM, &id),
            claim(SCREEN_NAME_CLAIM, screen_name),
        ];
        // Present only for apps Twitter allows to ask, and for users with a verified address.
        if let Some(email) = email_of(&user) {
            user_claims.push(claim(claims::EMAIL, email));
        }
        Ok(Identity {
            issuer: ISSUER.into(),
            subject: id,
            claims: user_claims,
            id_claim: claims::NAME_ID,
            tokens: Tokens {
                access_token: Some(pair.token),
                access_token_secret: Some(pair.secret),
                ..Tokens::default()
            },
        })
    }
}

impl Provider for Twitter {
    fn settings(&self) -> &ProviderSettings {
        &self.settings
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            callback: Callback {
                correlation: "oauth_token",
                proof: "oauth_verifier",
                refusal: Refusal::InPlaceOf("denied"),
                form_post: false,
                posted_only: false,
            },
            refresh: false,
            client_bodies: &[&["access_token", "access_token_secret"]],
        }
    }

    fn begin_login(&self, login: &BeginLogin) -> Result<LoginStarted, ProviderError> {
        let mut url = url::Url::parse(&self.authenticate).map_err(|_| {
            bad(&format!(
                "authenticate endpoint {:?} is not a URL",
                self.authenticate
            ))
        })?;
        let request = self.request_token(login.redirect_uri)?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("oauth_token", &request.token);
            // What `authenticate` documents besides the token: `screen_name` (a login hint)
            // and `force_login` (OpenID Connect's `prompt=login`).
            for (k, v) in login.extra {
                match (k.as_str(), v.as_str()) {
                    ("login_hint", hint) if is_screen_name(hint) => {
                        q.append_pair("screen_name", hint);
                    }
                    ("prompt", "login") => {
                        q.append_pair("force_login", "true");
                    }
                    _ => {}
                }
            }
        }
        Ok(LoginStarted {
            url: url.into(),
            correlation: request.token,
            kept: Kept::default().with(REQUEST_SECRET, request.secret),
        })
    }

    fn finish_login(
        &self,
        params: &[(String, String)],
        _redirect_uri: &str,
        kept: &Kept,
    ) -> Result<Identity, ProviderError> {
        // The route matched `oauth_token` with the login state already.
        let token = param(params, "oauth_token")
            .ok_or_else(|| ProviderError::BadRequest("the callback has no oauth_token".into()))?;
        let verifier = param(params, "oauth_verifier")
            .filter(|v| is_token(v))
            .ok_or_else(|| {
                ProviderError::BadRequest("the callback has no usable oauth_verifier".into())
            })?;
        let secret = kept.get(REQUEST_SECRET).ok_or_else(|| {
            ProviderError::BadRequest("the login state holds no request-token secret".into())
        })?;
        let request = TokenPair {
            token: token.to_owned(),
            secret: secret.to_owned(),
        };
        let (pair, user_id) = self.redeem(&request, verifier)?;
        let identity = self.user(pair)?;
        if identity.subject != user_id {
            return Err(bad(&format!(
                "verify_credentials names user {} but access_token named {user_id}",
                identity.subject
            )));
        }
        Ok(identity)
    }

    fn validate_client_token(
        &self,
        fields: &[(&str, &str)],
        _io: Io,
    ) -> Result<Identity, ProviderError> {
        let [("access_token", token), ("access_token_secret", secret)] = fields else {
            return Err(ProviderError::BadRequest(
                "an access_token and an access_token_secret expected".into(),
            ));
        };
        if !is_token(token) || !is_token(secret) {
            return Err(ProviderError::Rejected(
                "the access_token or access_token_secret is not a Twitter token (length or characters)"
                    .into(),
            ));
        }
        self.user(TokenPair {
            token: (*token).to_owned(),
            secret: (*secret).to_owned(),
        })
    }
}

fn bad(why: &str) -> ProviderError {
    ProviderError::BadResponse(format!("Twitter's {why}"))
}

/// A token, secret or verifier as Twitter issues them (`6253282-eWudHldSbIaelX7swmsiHI`):
/// RFC 3986 unreserved characters only (they go into headers, cookies and signatures as is),
/// bounded.
fn is_token(t: &str) -> bool {
    (1..=MAX_TOKEN).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

/// A Twitter user id: a positive 64-bit number in decimal, as `id_str` and `user_id` carry it.
fn is_user_id(id: &str) -> bool {
    (1..=20).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_digit())
        && id.parse::<u64>().is_ok_and(|n| n > 0)
}

/// A screen name: letters, digits and underscores; Twitter allows 15 today and kept some
/// older, longer ones (up to 20).
fn is_screen_name(n: &str) -> bool {
    (1..=20).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_screen_names_and_tokens_are_checked() {
        for ok in [
            "1",
            "6253282",
            "1450000000000000000",
            "18446744073709551615",
        ] {
            assert!(is_user_id(ok), "{ok}");
        }
        for bad in ["", "0", "-5", "12a", " 12", "18446744073709551616", "1.5"] {
            assert!(!is_user_id(bad), "{bad:?}");
        }
        for ok in ["twitterapi", "a", "Jack_1", &"x".repeat(20)] {
            assert!(is_screen_name(ok), "{ok}");
        }
        for bad in [
            "",
            "has space",
            "dots.no",
            "hy-phen",
            "ü",
            &"x".repeat(21),
            "a\nb",
        ] {
            assert!(!is_screen_name(bad), "{bad:?}");
        }
        assert!(is_token("6253282-eWudHldSbIaelX7swmsiHImEL4KinwaGloHANdrY"));
        assert!(is_token("2EEfA6BG3ly3sR3RjE0IBSnlQu4ZrUzPiYKmrkVU"));
        for bad in [
            "",
            "with space",
            "a+b",
            "a/b",
            "a=b",
            "line\nbreak",
            "é",
            &"t".repeat(257),
        ] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }
}
