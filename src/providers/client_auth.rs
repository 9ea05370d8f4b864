//! How the app proves who it is at a provider's token endpoint (RFC 6749 §2.3, OpenID Connect
//! Core §9): a secret in the form, a secret in HTTP Basic, a JWT signed with a private key
//! (Azure AD's certificate credentials), a client secret that is itself a JWT the app signs
//! (Apple's), or nothing (public clients, App Service's implicit flow without a secret).

use std::fmt;
use std::sync::Arc;

use openssl::pkey::{PKey, Private};
use parking_lot::Mutex;
use serde_json::json;

use crate::crypto::{self, jwt};

/// The client assertion's type (RFC 7523 §2.2).
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// A client assertion is good for this long: only the one token request uses it.
const ASSERTION_LIFETIME: i64 = 300;

/// A client's credential at the token endpoint.
#[derive(Clone, Default)]
pub enum ClientAuth {
    /// No credential: `client_id` in the form only.
    #[default]
    None,
    /// `client_secret_post`: `client_id` and `client_secret` in the form (App Service's
    /// `ClientSecretPost`, what Azure AD, Google and most providers take).
    SecretPost(String),
    /// `client_secret_basic`: `Authorization: Basic` of the form-encoded id and secret.
    SecretBasic(String),
    /// `private_key_jwt`: a short-lived JWT (`iss` = `sub` = client id, `aud` = the token
    /// endpoint) signed with this key, RS256 or ES256 by the key's type.
    PrivateKeyJwt {
        key: Arc<PKey<Private>>,
        /// How the assertion's header names the key to the provider: Azure AD's
        /// [`KeyName::X5t`], or a `kid`.
        name: KeyName,
    },
    /// `client_secret_post` with a secret the app mints itself (Apple).
    SignedSecret(Arc<SignedSecret>),
}

/// Apple's client secret: an ES256 JWT (`kid` the key id; `iss` the team id, `sub` the client
/// id, `aud` Apple) good for at most six months. ezauth mints one when first needed, keeps it,
/// and mints the next when half of its lifetime is gone, so none in use is near its expiry.
pub struct SignedSecret {
    key: PKey<Private>,
    key_id: String,
    team_id: String,
    audience: String,
    /// The current secret and when it was minted.
    current: Mutex<Option<(String, i64)>>,
}

impl SignedSecret {
    /// A secret lives this long (Apple's limit is six months; a short life bounds a leak).
    pub const LIFETIME: i64 = 24 * 3600;

    pub fn new(key: PKey<Private>, key_id: String, team_id: String, audience: String) -> Self {
        SignedSecret {
            key,
            key_id,
            team_id,
            audience,
            current: Mutex::new(None),
        }
    }

    /// The secret to send at `now`.
    pub fn secret(&self, client_id: &str, now: i64) -> Result<String, String> {
        // Held while signing only: no I/O under it.
        let mut current = self.current.lock();
        if let Some((secret, minted)) = current.as_ref() {
            if (*minted..minted + Self::LIFETIME / 2).contains(&now) {
                return Ok(secret.clone());
            }
        }
        let claims = json!({
            "iss": self.team_id,
            "iat": now,
            "exp": now + Self::LIFETIME,
            "aud": self.audience,
            "sub": client_id,
        });
        let secret = jwt::sign_with_key(&self.key, &[("kid", &self.key_id)], &claims)?;
        *current = Some((secret.clone(), now));
        Ok(secret)
    }
}

/// How a client assertion names its signing key in its header.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyName {
    /// `kid`: the key's id in the client's registered JWKS.
    Kid(String),
    /// `x5t`: the base64url SHA-1 thumbprint of the key's certificate, what Azure AD looks a
    /// certificate credential up by.
    X5t(String),
}

impl KeyName {
    /// Azure AD's name for a certificate: `x5t`, its DER's SHA-1 in base64url.
    pub fn x5t_of(cert: &openssl::x509::X509Ref) -> Result<KeyName, String> {
        let digest = cert
            .digest(openssl::hash::MessageDigest::sha1())
            .map_err(|e| format!("certificate thumbprint: {e}"))?;
        Ok(KeyName::X5t(crypto::b64url(&digest)))
    }

    fn header(&self) -> (&'static str, &str) {
        match self {
            KeyName::Kid(v) => ("kid", v),
            KeyName::X5t(v) => ("x5t", v),
        }
    }
}

/// What a token request carries for the client: form fields, and the `Authorization` header
/// for `client_secret_basic`.
#[derive(Debug, Default, PartialEq)]
pub struct Credentials {
    pub form: Vec<(&'static str, String)>,
    pub authorization: Option<String>,
}

impl ClientAuth {
    /// The credentials for one request to `token_endpoint` by `client_id` at time `now`.
    pub fn credentials(
        &self,
        client_id: &str,
        token_endpoint: &str,
        now: i64,
    ) -> Result<Credentials, String> {
        let mut out = Credentials::default();
        match self {
            ClientAuth::None => out.form.push(("client_id", client_id.to_owned())),
            ClientAuth::SecretPost(secret) => {
                out.form.push(("client_id", client_id.to_owned()));
                out.form.push(("client_secret", secret.clone()));
            }
            ClientAuth::SecretBasic(secret) => {
                // RFC 6749 §2.3.1: each part form-encoded before it is joined and base64'd.
                let enc =
                    |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                let pair = format!("{}:{}", enc(client_id), enc(secret));
                out.authorization = Some(format!("Basic {}", crypto::b64(pair.as_bytes())));
            }
            ClientAuth::SignedSecret(minter) => {
                out.form.push(("client_id", client_id.to_owned()));
                out.form
                    .push(("client_secret", minter.secret(client_id, now)?));
            }
            ClientAuth::PrivateKeyJwt { key, name } => {
                let claims = json!({
                    "iss": client_id,
                    "sub": client_id,
                    "aud": token_endpoint,
                    "jti": crypto::random_token(16),
                    "iat": now,
                    "nbf": now,
                    "exp": now + ASSERTION_LIFETIME,
                });
                let assertion = jwt::sign_with_key(key, &[name.header()], &claims)?;
                out.form.push(("client_id", client_id.to_owned()));
                out.form
                    .push(("client_assertion_type", JWT_BEARER.to_owned()));
                out.form.push(("client_assertion", assertion));
            }
        }
        Ok(out)
    }

    /// The shared secret, for providers that use it themselves (Facebook's `appsecret_proof`,
    /// OAuth 1.0a's signing key) beside or instead of sending it.
    pub fn secret(&self) -> Option<&str> {
        match self {
            ClientAuth::SecretPost(s) | ClientAuth::SecretBasic(s) => Some(s),
            _ => None,
        }
    }

    pub fn has_credential(&self) -> bool {
        !matches!(self, ClientAuth::None)
    }
}

/// Secrets never reach logs: only the kind is shown.
impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClientAuth::None => "None",
            ClientAuth::SecretPost(_) => "SecretPost(..)",
            ClientAuth::SecretBasic(_) => "SecretBasic(..)",
            ClientAuth::PrivateKeyJwt { .. } => "PrivateKeyJwt(..)",
            ClientAuth::SignedSecret(_) => "SignedSecret(..)",
        })
    }
}

/// Two credentials are the same when they would authenticate the same way (keys compared by
/// their public half).
impl PartialEq for ClientAuth {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ClientAuth::None, ClientAuth::None) => true,
            (ClientAuth::SecretPost(a), ClientAuth::SecretPost(b))
            | (ClientAuth::SecretBasic(a), ClientAuth::SecretBasic(b)) => a == b,
            (
                ClientAuth::PrivateKeyJwt { key: a, name: x },
                ClientAuth::PrivateKeyJwt { key: b, name: y },
            ) => x == y && a.public_eq(b),
            (ClientAuth::SignedSecret(a), ClientAuth::SignedSecret(b)) => {
                (&a.key_id, &a.team_id, &a.audience) == (&b.key_id, &b.team_id, &b.audience)
                    && a.key.public_eq(&b.key)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::rsa::Rsa;

    #[test]
    fn secrets_go_in_the_form_or_in_basic_encoded_as_rfc_6749_says() {
        let post = ClientAuth::SecretPost("s e/cret".into())
            .credentials("id", "https://idp/token", 0)
            .unwrap();
        assert_eq!(
            post.form,
            vec![
                ("client_id", "id".into()),
                ("client_secret", "s e/cret".into())
            ]
        );
        assert_eq!(post.authorization, None);

        let basic = ClientAuth::SecretBasic("s e/cret:".into())
            .credentials("my id", "https://idp/token", 0)
            .unwrap();
        assert!(basic.form.is_empty());
        let encoded = basic.authorization.unwrap();
        let decoded = crypto::b64_decode(encoded.strip_prefix("Basic ").unwrap()).unwrap();
        assert_eq!(decoded, b"my+id:s+e%2Fcret%3A");

        let none = ClientAuth::None.credentials("id", "t", 0).unwrap();
        assert_eq!(none.form, vec![("client_id", "id".into())]);
        assert!(!ClientAuth::None.has_credential());
    }

    #[test]
    fn a_private_key_jwt_names_the_client_and_the_token_endpoint_and_expires_soon() {
        let key = Arc::new(PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap());
        let auth = ClientAuth::PrivateKeyJwt {
            key: key.clone(),
            name: KeyName::X5t("thumb".into()),
        };
        let creds = auth
            .credentials("client-1", "https://idp/token", 1_000)
            .unwrap();
        let field = |n: &str| creds.form.iter().find(|(k, _)| *k == n).map(|(_, v)| v);
        assert_eq!(field("client_assertion_type").unwrap(), JWT_BEARER);
        let assertion = field("client_assertion").unwrap();
        let parsed = jwt::parse(assertion).unwrap();
        assert_eq!(parsed.header["x5t"], "thumb");
        assert_eq!(parsed.kid(), None);
        assert_eq!(parsed.str_claim("iss"), Some("client-1"));
        assert_eq!(parsed.str_claim("sub"), Some("client-1"));
        assert_eq!(parsed.str_claim("aud"), Some("https://idp/token"));
        assert_eq!(parsed.num_claim("exp"), Some(1_000 + ASSERTION_LIFETIME));
        // a fresh jti each time: the provider may refuse a replayed assertion
        let again = auth
            .credentials("client-1", "https://idp/token", 1_000)
            .unwrap();
        assert_ne!(creds.form, again.form);
        assert!(!format!("{auth:?}").contains("BEGIN"));
    }

    #[test]
    fn an_apple_secret_is_an_es256_jwt_reminted_before_it_expires() {
        use openssl::ec::{EcGroup, EcKey};
        use openssl::nid::Nid;
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let minter = Arc::new(SignedSecret::new(
            key,
            "KEY123".into(),
            "TEAM456".into(),
            "https://appleid.apple.com".into(),
        ));
        let auth = ClientAuth::SignedSecret(minter);
        let secret_at = |now: i64| {
            let creds = auth
                .credentials("com.example.web", "https://t", now)
                .unwrap();
            assert_eq!(creds.form[0], ("client_id", "com.example.web".into()));
            creds.form[1].1.clone()
        };
        let first = secret_at(1_000);
        let parsed = jwt::parse(&first).unwrap();
        assert_eq!(parsed.header["alg"], "ES256");
        assert_eq!(parsed.kid(), Some("KEY123"));
        assert_eq!(parsed.str_claim("iss"), Some("TEAM456"));
        assert_eq!(parsed.str_claim("sub"), Some("com.example.web"));
        assert_eq!(parsed.str_claim("aud"), Some("https://appleid.apple.com"));
        let exp = parsed.num_claim("exp").unwrap();
        assert_eq!(exp, 1_000 + SignedSecret::LIFETIME);
        assert!(exp - 1_000 <= 15_777_000, "Apple: six months at most");
        // Kept while young, reminted when half its life is gone.
        assert_eq!(secret_at(1_000 + SignedSecret::LIFETIME / 2 - 1), first);
        let next = secret_at(1_000 + SignedSecret::LIFETIME / 2);
        assert_ne!(next, first);
        assert!(jwt::parse(&next).unwrap().num_claim("exp").unwrap() > exp);
        assert!(!format!("{auth:?}").contains("TEAM"));
    }
}
