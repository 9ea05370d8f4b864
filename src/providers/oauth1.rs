//! OAuth 1.0a request signing (RFC 5849 §3.4, HMAC-SHA1), as Twitter's sign-in flow needs it:
//! the signature base string from the method, the base URI and every parameter (query, form
//! body, protocol), and the `Authorization: OAuth …` header that carries it. No crate does
//! this on our openssl base; the surface is small and checked against the RFC's examples.

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer as Hmac;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::crypto;

/// RFC 5849 §3.6: everything but the unreserved characters of RFC 3986 is encoded.
const RESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes as RFC 5849 §3.6 says (upper-case hex, UTF-8 first).
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, RESERVED).to_string()
}

/// Who signs: the app (consumer) and, once it has one, the user's token.
pub struct Signer<'a> {
    pub consumer_key: &'a str,
    pub consumer_secret: &'a str,
    /// The temporary (request) token or the access token, with its secret.
    pub token: Option<(&'a str, &'a str)>,
}

/// One request to sign.
pub struct Request<'a> {
    pub method: &'a str,
    /// Absolute URL, query included (its parameters are signed).
    pub url: &'a str,
    /// An `application/x-www-form-urlencoded` body's parameters (signed too).
    pub form: &'a [(&'a str, &'a str)],
    /// Protocol parameters of this step beyond the usual ones (`oauth_callback`,
    /// `oauth_verifier`).
    pub protocol: &'a [(&'a str, &'a str)],
}

impl Signer<'_> {
    /// The `Authorization` header value for `req`, with `nonce` and `timestamp` (Unix seconds).
    pub fn authorization(
        &self,
        req: &Request,
        nonce: &str,
        timestamp: i64,
    ) -> Result<String, String> {
        let timestamp = timestamp.to_string();
        let mut protocol: Vec<(&str, &str)> = vec![
            ("oauth_consumer_key", self.consumer_key),
            ("oauth_nonce", nonce),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", &timestamp),
            ("oauth_version", "1.0"),
        ];
        if let Some((token, _)) = self.token {
            protocol.push(("oauth_token", token));
        }
        protocol.extend_from_slice(req.protocol);
        let signature = self.signature(req.method, req.url, req.form, &protocol)?;
        let mut header: Vec<String> = protocol
            .iter()
            .map(|(k, v)| format!("{}=\"{}\"", encode(k), encode(v)))
            .collect();
        header.push(format!("oauth_signature=\"{}\"", encode(&signature)));
        Ok(format!("OAuth {}", header.join(", ")))
    }

    /// The base64 HMAC-SHA1 of the base string, keyed by both secrets (RFC 5849 §3.4.2).
    pub fn signature(
        &self,
        method: &str,
        url: &str,
        form: &[(&str, &str)],
        protocol: &[(&str, &str)],
    ) -> Result<String, String> {
        let base = base_string(method, url, form, protocol)?;
        let key = format!(
            "{}&{}",
            encode(self.consumer_secret),
            encode(self.token.map_or("", |(_, secret)| secret))
        );
        let pkey = PKey::hmac(key.as_bytes()).map_err(|e| e.to_string())?;
        let mac = Hmac::new(MessageDigest::sha1(), &pkey)
            .and_then(|mut s| s.sign_oneshot_to_vec(base.as_bytes()))
            .map_err(|e| e.to_string())?;
        Ok(crypto::b64(&mac))
    }
}

/// The signature base string (RFC 5849 §3.4.1): method, base URI (scheme and host lower case,
/// default port dropped, no query) and the normalized parameters of the query, the form body
/// and the protocol, each part encoded and joined by `&`.
pub fn base_string(
    method: &str,
    url: &str,
    form: &[(&str, &str)],
    protocol: &[(&str, &str)],
) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL ({e})"))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("{url:?} has no host"))?;
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    let base_uri = format!("{}://{host}{port}{}", parsed.scheme(), parsed.path());
    let mut params: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| (encode(&k), encode(&v)))
        .chain(
            form.iter()
                .chain(protocol)
                .map(|(k, v)| (encode(k), encode(v))),
        )
        .collect();
    params.sort();
    let normalized = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    Ok(format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        encode(&base_uri),
        encode(&normalized)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5849 §3.4.1.1's example request and its base string, verbatim.
    #[test]
    fn the_base_string_of_rfc_5849_section_3_4_1_1() {
        let base = base_string(
            "POST",
            "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b",
            &[("c2", ""), ("a3", "2 q")],
            &[
                ("oauth_consumer_key", "9djdj82h48djs9d2"),
                ("oauth_token", "kkk9d7dh3k39sjv7"),
                ("oauth_signature_method", "HMAC-SHA1"),
                ("oauth_timestamp", "137131201"),
                ("oauth_nonce", "7d8f3e4a"),
            ],
        )
        .unwrap();
        assert_eq!(
            base,
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D\
             %253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_\
             nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201\
             %26oauth_token%3Dkkk9d7dh3k39sjv7"
        );
    }

    /// RFC 5849 §1.2's signed photo request: the signature the RFC prints.
    #[test]
    fn the_signature_of_rfc_5849_section_1_2() {
        let signer = Signer {
            consumer_key: "dpf43f3p2l4k3l03",
            consumer_secret: "kd94hf93k423kf44",
            token: Some(("nnch734d00sl2jdk", "pfkkdhi9sl3r4s00")),
        };
        let signature = signer
            .signature(
                "GET",
                "http://photos.example.net/photos?file=vacation.jpg&size=original",
                &[],
                &[
                    ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
                    ("oauth_token", "nnch734d00sl2jdk"),
                    ("oauth_signature_method", "HMAC-SHA1"),
                    ("oauth_timestamp", "137131202"),
                    ("oauth_nonce", "chapoH"),
                ],
            )
            .unwrap();
        assert_eq!(signature, "MdpQcU8iPSUjWoN/UDMsK2sui9I=");
    }

    #[test]
    fn the_header_carries_every_protocol_parameter_encoded_and_the_signature() {
        let signer = Signer {
            consumer_key: "key",
            consumer_secret: "secret",
            token: None,
        };
        let req = Request {
            method: "POST",
            url: "https://API.example.com:443/oauth/request_token",
            form: &[],
            protocol: &[(
                "oauth_callback",
                "https://app.example/.auth/login/twitter/callback",
            )],
        };
        let header = signer.authorization(&req, "n0nce", 1_700_000_000).unwrap();
        assert!(header.starts_with("OAuth "), "{header}");
        for part in [
            "oauth_consumer_key=\"key\"",
            "oauth_nonce=\"n0nce\"",
            "oauth_timestamp=\"1700000000\"",
            "oauth_signature_method=\"HMAC-SHA1\"",
            "oauth_version=\"1.0\"",
            "oauth_callback=\"https%3A%2F%2Fapp.example%2F.auth%2Flogin%2Ftwitter%2Fcallback\"",
        ] {
            assert!(header.contains(part), "{part} in {header}");
        }
        assert!(!header.contains("oauth_token="), "no token yet: {header}");
        // the signature covers the lower-cased host without its default port
        let signed = header.split("oauth_signature=\"").nth(1).unwrap();
        let protocol = [
            ("oauth_consumer_key", "key"),
            ("oauth_nonce", "n0nce"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "1700000000"),
            ("oauth_version", "1.0"),
            (
                "oauth_callback",
                "https://app.example/.auth/login/twitter/callback",
            ),
        ];
        let expected = signer
            .signature(
                "POST",
                "https://api.example.com/oauth/request_token",
                &[],
                &protocol,
            )
            .unwrap();
        assert_eq!(signed.trim_end_matches('"'), encode(&expected));
    }

    #[test]
    fn encoding_is_rfc_3986_unreserved_only_in_upper_case_hex() {
        assert_eq!(encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(encode("a b+c/d*é"), "a%20b%2Bc%2Fd%2A%C3%A9");
    }
}
