//! JSON Web Tokens: HS256 session tokens we mint (`X-ZUMO-AUTH`), client assertions we sign
//! (RS256, ES256: `private_key_jwt`, Apple's client secret), and verification of tokens
//! identity providers sign (RS*, PS*, ES*), with keys from their JWKS. Hand-written on openssl
//! because the JWT crates bring their own crypto stacks; the surface needed here is small.

use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::rsa::{Padding, Rsa};
use openssl::sign::{Signer, Verifier};
use serde_json::{Map, Value};

use super::{b64url, b64url_decode, ct_eq, hmac_sha256};

/// Why a token was refused; the text goes to the log.
#[derive(Debug, Clone, PartialEq)]
pub enum JwtError {
    Malformed(&'static str),
    UnsupportedAlgorithm(String),
    UnknownKey,
    /// The matching key is an RSA key under [`MIN_RSA_BITS`].
    WeakKey(u32),
    BadSignature,
    Claim(String),
}

impl std::fmt::Display for JwtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtError::Malformed(why) => write!(f, "malformed token: {why}"),
            JwtError::UnsupportedAlgorithm(alg) => write!(f, "algorithm {alg:?} is not accepted"),
            JwtError::UnknownKey => f.write_str("no key in the provider's JWKS matches the token"),
            JwtError::WeakKey(bits) => write!(
                f,
                "the provider's key is RSA with {bits} bits (under {MIN_RSA_BITS}): refused"
            ),
            JwtError::BadSignature => f.write_str("signature does not verify"),
            JwtError::Claim(why) => f.write_str(why),
        }
    }
}

/// A token split into its parts, signature not yet checked.
pub struct Parsed<'t> {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    signing_input: &'t str,
    signature: Vec<u8>,
}

const MAX_TOKEN_LEN: usize = 16 * 1024;
/// RSA keys shorter than this verify nothing (NIST SP 800-131A; RFC 7518 §3.3 requires 2048).
pub const MIN_RSA_BITS: u32 = 2048;
/// Clock difference tolerated on `exp`/`nbf` between this host and whoever issued a token (a
/// provider, or another node minting session tokens): five minutes, as App Service allows.
pub const CLOCK_SKEW: i64 = 300;

pub fn parse(token: &str) -> Result<Parsed<'_>, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed("longer than 16 KB"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("not three dot-separated parts"));
    };
    let json = |part: &str| -> Result<Map<String, Value>, JwtError> {
        let bytes = b64url_decode(part).ok_or(JwtError::Malformed("bad base64url"))?;
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(JwtError::Malformed("part is not a JSON object")),
        }
    };
    Ok(Parsed {
        header: json(h)?,
        claims: json(p)?,
        signing_input: &token[..h.len() + 1 + p.len()],
        signature: b64url_decode(s).ok_or(JwtError::Malformed("bad base64url signature"))?,
    })
}

impl Parsed<'_> {
    pub fn alg(&self) -> &str {
        self.header.get("alg").and_then(Value::as_str).unwrap_or("")
    }

    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// Verifies an HS256 signature with `key`.
    pub fn verify_hs256(&self, key: &[u8]) -> Result<(), JwtError> {
        self.verify_hs256_any(std::iter::once(key))
    }

    /// Verifies an HS256 signature with any of `keys` (key rotation: current key first).
    pub fn verify_hs256_any<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k [u8]>,
    ) -> Result<(), JwtError> {
        if self.alg() != "HS256" {
            return Err(JwtError::UnsupportedAlgorithm(self.alg().to_owned()));
        }
        let input = self.signing_input.as_bytes();
        if keys
            .into_iter()
            .any(|key| ct_eq(&hmac_sha256(key, input), &self.signature))
        {
            Ok(())
        } else {
            Err(JwtError::BadSignature)
        }
    }

    /// Verifies an asymmetric signature with the matching key of `jwks`. `none` and HMAC
    /// algorithms are refused: a provider's token is never verified with a shared secret.
    pub fn verify_with_jwks(&self, jwks: &Jwks) -> Result<(), JwtError> {
        let alg = self.alg();
        let (digest, kind) = match alg {
            "RS256" => (MessageDigest::sha256(), SigKind::Pkcs1),
            "RS384" => (MessageDigest::sha384(), SigKind::Pkcs1),
            "RS512" => (MessageDigest::sha512(), SigKind::Pkcs1),
            "PS256" => (MessageDigest::sha256(), SigKind::Pss),
            "PS384" => (MessageDigest::sha384(), SigKind::Pss),
            "PS512" => (MessageDigest::sha512(), SigKind::Pss),
            "ES256" => (MessageDigest::sha256(), SigKind::Ecdsa(32)),
            "ES384" => (MessageDigest::sha384(), SigKind::Ecdsa(48)),
            _ => return Err(JwtError::UnsupportedAlgorithm(alg.to_owned())),
        };
        let candidates: Vec<&Jwk> = jwks
            .keys
            .iter()
            .filter(|k| k.fits(alg, self.kid()))
            .collect();
        if candidates.is_empty() {
            return Err(JwtError::UnknownKey);
        }
        let mut weak = None;
        for key in candidates {
            if key.family == "RS" && key.key.bits() < MIN_RSA_BITS {
                weak = Some(key.key.bits());
                continue;
            }
            if verify_signature(&key.key, digest, kind, self.signing_input, &self.signature) {
                return Ok(());
            }
        }
        Err(weak.map_or(JwtError::BadSignature, JwtError::WeakKey))
    }

    pub fn str_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    pub fn num_claim(&self, name: &str) -> Option<i64> {
        match self.claims.get(name)? {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            _ => None,
        }
    }

    /// `aud` may be a string or an array of strings.
    pub fn has_audience(&self, audience: &str) -> bool {
        match self.claims.get("aud") {
            Some(Value::String(s)) => s == audience,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(audience)),
            _ => false,
        }
    }

    /// Checks `exp` (required) and `nbf` (optional) against `now`: `nbf_skew` seconds of clock
    /// difference before `nbf`, and `exp_leeway` seconds past `exp` (a provider's token: the
    /// clock skew; our own session token: only the refresh window, since we set its `exp`).
    pub fn check_lifetime(&self, now: i64, nbf_skew: i64, exp_leeway: i64) -> Result<(), JwtError> {
        let exp = self
            .num_claim("exp")
            .ok_or_else(|| JwtError::Claim("token has no exp".into()))?;
        // The log line says what this host's clock read: a refusal from clock skew shows as
        // a difference near the tolerance.
        if now > exp.saturating_add(exp_leeway) {
            return Err(JwtError::Claim(format!(
                "token expired at {exp}; this host's clock reads {now}, {} s later \
                 (tolerance {exp_leeway} s)",
                now - exp
            )));
        }
        if let Some(nbf) = self.num_claim("nbf") {
            if now + nbf_skew < nbf {
                return Err(JwtError::Claim(format!(
                    "token not valid before {nbf}; this host's clock reads {now}, {} s earlier \
                     (tolerance {nbf_skew} s)",
                    nbf - now
                )));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum SigKind {
    Pkcs1,
    Pss,
    /// ECDSA with the coordinate size in bytes: JWS signatures are raw `r || s`.
    Ecdsa(usize),
}

fn verify_signature(
    key: &PKey<Public>,
    digest: MessageDigest,
    kind: SigKind,
    input: &str,
    signature: &[u8],
) -> bool {
    let der;
    let sig = match kind {
        SigKind::Ecdsa(size) => {
            if signature.len() != 2 * size {
                return false;
            }
            let (r, s) = signature.split_at(size);
            let (Ok(r), Ok(s)) = (BigNum::from_slice(r), BigNum::from_slice(s)) else {
                return false;
            };
            match EcdsaSig::from_private_components(r, s).and_then(|sig| sig.to_der()) {
                Ok(d) => der = d,
                Err(_) => return false,
            }
            der.as_slice()
        }
        _ => signature,
    };
    let Ok(mut verifier) = Verifier::new(digest, key) else {
        return false;
    };
    if let SigKind::Pss = kind {
        if verifier.set_rsa_padding(Padding::PKCS1_PSS).is_err() {
            return false;
        }
    }
    verifier.update(input.as_bytes()).is_ok() && verifier.verify(sig).unwrap_or(false)
}

/// One usable public key from a JWKS document.
pub struct Jwk {
    kid: Option<String>,
    alg: Option<String>,
    family: &'static str,
    key: PKey<Public>,
}

impl Jwk {
    fn fits(&self, alg: &str, kid: Option<&str>) -> bool {
        let family_ok =
            alg.starts_with(self.family) || (self.family == "RS" && alg.starts_with("PS"));
        let alg_ok = self.alg.as_deref().is_none_or(|a| a == alg);
        let kid_ok = match (kid, &self.kid) {
            (Some(want), Some(have)) => want == have,
            _ => true,
        };
        family_ok && alg_ok && kid_ok
    }
}

/// A provider's signing keys. Keys of other types or uses are skipped, not fatal. RSA keys under
/// [`MIN_RSA_BITS`] are kept (a token naming one is not an unknown key that would make us
/// re-fetch) but verify nothing.
#[derive(Default)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

impl Jwks {
    pub fn from_json(doc: &Value) -> Result<Jwks, String> {
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("JWKS has no keys array")?;
        let keys = keys.iter().filter_map(jwk_from_json).collect();
        Ok(Jwks { keys })
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

fn jwk_from_json(v: &Value) -> Option<Jwk> {
    let s = |name: &str| v.get(name).and_then(Value::as_str);
    if s("use").is_some_and(|u| u != "sig") {
        return None;
    }
    let n = |name: &str| BigNum::from_slice(&b64url_decode(s(name)?)?).ok();
    let (family, key) = match s("kty")? {
        "RSA" => {
            let rsa = Rsa::from_public_components(n("n")?, n("e")?).ok()?;
            ("RS", PKey::from_rsa(rsa).ok()?)
        }
        "EC" => {
            let nid = match s("crv")? {
                "P-256" => Nid::X9_62_PRIME256V1,
                "P-384" => Nid::SECP384R1,
                _ => return None,
            };
            let group = EcGroup::from_curve_name(nid).ok()?;
            let (x, y) = (n("x")?, n("y")?);
            let ec = EcKey::from_public_key_affine_coordinates(&group, &x, &y).ok()?;
            ("ES", PKey::from_ec_key(ec).ok()?)
        }
        _ => return None,
    };
    Some(Jwk {
        kid: s("kid").map(str::to_owned),
        alg: s("alg").map(str::to_owned),
        family,
        key,
    })
}

/// Mints an HS256 token with `claims` (the session token of `X-ZUMO-AUTH`).
pub fn sign_hs256(key: &[u8], claims: &Value) -> String {
    let header = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = b64url(&serde_json::to_vec(claims).unwrap_or_default());
    let input = format!("{header}.{payload}");
    let sig = b64url(&hmac_sha256(key, input.as_bytes()));
    format!("{input}.{sig}")
}

/// Signs `claims` with a private key: RS256 for an RSA key, ES256 for a P-256 key (the JOSE
/// form: `r || s`, 32 bytes each, not DER). `names` are the header parameters that name the
/// key to the verifier: `kid`, or Azure AD's `x5t` (the certificate's SHA-1 thumbprint).
pub fn sign_with_key(
    key: &PKey<Private>,
    names: &[(&str, &str)],
    claims: &Value,
) -> Result<String, String> {
    let alg = match key.id() {
        Id::RSA if key.bits() >= MIN_RSA_BITS => "RS256",
        Id::EC if key.bits() == 256 => "ES256",
        _ => return Err("the key must be RSA (2048 bits or more) or EC P-256".into()),
    };
    let mut header = serde_json::json!({"alg": alg, "typ": "JWT"});
    for (name, value) in names {
        header[*name] = Value::from(*value);
    }
    let input = format!(
        "{}.{}",
        b64url(&serde_json::to_vec(&header).unwrap_or_default()),
        b64url(&serde_json::to_vec(claims).unwrap_or_default())
    );
    let signed = Signer::new(MessageDigest::sha256(), key)
        .and_then(|mut s| s.sign_oneshot_to_vec(input.as_bytes()))
        .map_err(|e| format!("signing failed: {e}"))?;
    let signature = if alg == "ES256" {
        let sig = EcdsaSig::from_der(&signed).map_err(|e| format!("signing failed: {e}"))?;
        let (r, s) = (sig.r().to_vec_padded(32), sig.s().to_vec_padded(32));
        let (r, s) = (r.map_err(|e| e.to_string())?, s.map_err(|e| e.to_string())?);
        [r, s].concat()
    } else {
        signed
    };
    Ok(format!("{input}.{}", b64url(&signature)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::pkey::Private;
    use openssl::sign::Signer;
    use serde_json::json;

    fn rsa_key() -> PKey<Private> {
        PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
    }

    fn jwks_for(key: &PKey<Private>, kid: &str) -> Jwks {
        let rsa = key.rsa().unwrap();
        let doc = json!({"keys": [{"kty": "RSA", "kid": kid, "use": "sig",
            "n": b64url(&rsa.n().to_vec()), "e": b64url(&rsa.e().to_vec())}]});
        Jwks::from_json(&doc).unwrap()
    }

    pub(crate) fn sign_rs256(key: &PKey<Private>, kid: &str, claims: &Value) -> String {
        let header = b64url(json!({"alg": "RS256", "kid": kid}).to_string().as_bytes());
        let payload = b64url(claims.to_string().as_bytes());
        let input = format!("{header}.{payload}");
        let mut signer = Signer::new(MessageDigest::sha256(), key).unwrap();
        signer.update(input.as_bytes()).unwrap();
        format!("{input}.{}", b64url(&signer.sign_to_vec().unwrap()))
    }

    #[test]
    fn assertions_we_sign_verify_as_providers_verify_them() {
        let rsa = rsa_key();
        let token = sign_with_key(&rsa, &[("kid", "r1")], &json!({"sub": "c"})).unwrap();
        let parsed = parse(&token).unwrap();
        assert_eq!((parsed.alg(), parsed.kid()), ("RS256", Some("r1")));
        assert!(parsed.verify_with_jwks(&jwks_for(&rsa, "r1")).is_ok());

        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let ec = EcKey::generate(&group).unwrap();
        let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
        let mut ctx = openssl::bn::BigNumContext::new().unwrap();
        ec.public_key()
            .affine_coordinates(&group, &mut x, &mut y, &mut ctx)
            .unwrap();
        let jwks = Jwks::from_json(&json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "e1",
            "x": b64url(&x.to_vec_padded(32).unwrap()), "y": b64url(&y.to_vec_padded(32).unwrap())}]}))
        .unwrap();
        let ec = PKey::from_ec_key(ec).unwrap();
        for _ in 0..20 {
            // r or s with a leading zero byte must still be 32 bytes each
            let token = sign_with_key(&ec, &[("kid", "e1")], &json!({"sub": "c"})).unwrap();
            let parsed = parse(&token).unwrap();
            assert_eq!(parsed.alg(), "ES256");
            assert_eq!(parsed.signature.len(), 64);
            assert!(parsed.verify_with_jwks(&jwks).is_ok());
        }

        let small = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
        assert!(sign_with_key(&small, &[], &json!({})).is_err());
        let p384 = EcKey::generate(&EcGroup::from_curve_name(Nid::SECP384R1).unwrap()).unwrap();
        assert!(sign_with_key(&PKey::from_ec_key(p384).unwrap(), &[], &json!({})).is_err());
    }

    #[test]
    fn rs256_verifies_with_the_right_key_only() {
        let key = rsa_key();
        let token = sign_rs256(&key, "k1", &json!({"sub": "u"}));
        let parsed = parse(&token).unwrap();
        assert!(parsed.verify_with_jwks(&jwks_for(&key, "k1")).is_ok());
        assert_eq!(
            parsed.verify_with_jwks(&jwks_for(&rsa_key(), "k1")),
            Err(JwtError::BadSignature)
        );
        assert_eq!(
            parsed.verify_with_jwks(&jwks_for(&key, "other")),
            Err(JwtError::UnknownKey)
        );
    }

    #[test]
    fn rsa_keys_under_2048_bits_verify_nothing() {
        let weak = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
        let token = sign_rs256(&weak, "k1", &json!({"sub": "u"}));
        let parsed = parse(&token).unwrap();
        assert_eq!(
            parsed.verify_with_jwks(&jwks_for(&weak, "k1")),
            Err(JwtError::WeakKey(1024))
        );
        let almost = PKey::from_rsa(Rsa::generate(2040).unwrap()).unwrap();
        let token = sign_rs256(&almost, "k1", &json!({"sub": "u"}));
        assert_eq!(
            parse(&token)
                .unwrap()
                .verify_with_jwks(&jwks_for(&almost, "k1")),
            Err(JwtError::WeakKey(2040))
        );
    }

    #[test]
    fn alg_none_and_hmac_are_refused_for_provider_tokens() {
        let key = rsa_key();
        let header = b64url(br#"{"alg":"none"}"#);
        let token = format!("{header}.{}.", b64url(br#"{"sub":"u"}"#));
        let parsed = parse(&token).unwrap();
        assert!(matches!(
            parsed.verify_with_jwks(&jwks_for(&key, "k1")),
            Err(JwtError::UnsupportedAlgorithm(_))
        ));
        let hs = sign_hs256(b"secret", &json!({"sub": "u"}));
        assert!(matches!(
            parse(&hs).unwrap().verify_with_jwks(&jwks_for(&key, "k1")),
            Err(JwtError::UnsupportedAlgorithm(_))
        ));
    }

    #[test]
    fn hs256_round_trip_and_tamper() {
        let token = sign_hs256(b"k", &json!({"sub": "sid:1", "exp": 10}));
        assert!(parse(&token).unwrap().verify_hs256(b"k").is_ok());
        assert!(parse(&token).unwrap().verify_hs256(b"other").is_err());
        let mut bad = token.clone();
        bad.replace_range(bad.len() - 2.., "AA");
        assert!(parse(&bad).unwrap().verify_hs256(b"k").is_err());
    }

    #[test]
    fn lifetime_and_audience_checks() {
        let t = sign_hs256(b"k", &json!({"exp": 100, "nbf": 50, "aud": ["a", "b"]}));
        let p = parse(&t).unwrap();
        assert!(p.check_lifetime(90, 0, 0).is_ok());
        assert!(p.check_lifetime(101, 0, 0).is_err());
        assert!(p.check_lifetime(101, 0, 5).is_ok());
        assert!(p.check_lifetime(40, 0, 0).is_err());
        assert!(
            p.check_lifetime(40, 0, 1000).is_err(),
            "the grace never widens nbf"
        );
        assert!(p.has_audience("b") && !p.has_audience("c"));
        // Five minutes either way, and the refusal says what this host's clock read.
        assert!(p.check_lifetime(400, CLOCK_SKEW, CLOCK_SKEW).is_ok());
        assert!(p.check_lifetime(-250, CLOCK_SKEW, CLOCK_SKEW).is_ok());
        let late = p
            .check_lifetime(401, CLOCK_SKEW, CLOCK_SKEW)
            .unwrap_err()
            .to_string();
        assert!(
            late.contains("reads 401, 301 s later") && late.contains("300 s"),
            "{late}"
        );
        let early = p
            .check_lifetime(-251, CLOCK_SKEW, CLOCK_SKEW)
            .unwrap_err()
            .to_string();
        assert!(early.contains("reads -251, 301 s earlier"), "{early}");
    }

    #[test]
    fn malformed_tokens_are_errors_not_panics() {
        for t in [
            "", "a", "a.b", "a.b.c.d", "!!.!!.!!", "e30.e30", "W10.e30.", "e30.W10.",
        ] {
            assert!(parse(t).is_err(), "{t}");
        }
    }
}
