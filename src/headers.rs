//! The identity headers the application sees. Every client-sent header in our namespace is
//! scrubbed first (case-insensitive, `_`, `.` and any other non-alphanumeric byte alike, since
//! servers and frameworks map them to one another), then the module's own values are set.

use crate::session::Principal;
use crate::store::TokenRecord;

/// Is this header name (raw bytes, as the client sent it) one only the module may set?
/// Decided on bytes, never on a decoded or validated form, so no encoding trick hides one.
pub fn is_reserved(name: &[u8]) -> bool {
    const PREFIXES: [&[u8]; 2] = [b"x-ms-client-principal", b"x-ms-token-"];
    let bytes = name;
    PREFIXES.iter().any(|p| {
        bytes.len() >= p.len()
            && bytes[..p.len()]
                .iter()
                .zip(p.iter())
                .all(|(a, b)| normalize(*a) == *b)
    })
}

/// Letters and digits compare case-insensitively; every other byte stands for `-`: servers and
/// frameworks map `_` (CGI), `.` and others to one another.
fn normalize(b: u8) -> u8 {
    if b.is_ascii_alphanumeric() {
        b.to_ascii_lowercase()
    } else {
        b'-'
    }
}

/// Is this an HTTP field name (RFC 9110 `token`)? A name with spaces, control bytes or
/// non-ASCII bytes is refused: lenient servers trim or fold such names into reserved ones.
pub fn is_token(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Can this value be written into a header as is? No control bytes at all (CR, LF and NUL
/// would split or cut the header block behind a proxy; HTAB invites trimming differences).
/// Every value the module writes passes this check where it is made (principal, tokens,
/// cookies, redirects). A fold without early exit, so it vectorizes: tokens are kilobytes and
/// this runs on every signed-in request.
pub fn is_safe_value(v: &str) -> bool {
    !v.bytes()
        .fold(false, |found, b| found | (b < 0x20) | (b == 0x7f))
}

/// Is this a header some frameworks route on instead of the request line (`X-Original-URL`,
/// `X-Rewrite-URL`: Symfony, Laminas, IIS's URL Rewrite)? ezauth judges the request line; a
/// client-sent override could take an excluded path's anonymous pass to a protected handler.
pub fn is_routing_override(name: &[u8]) -> bool {
    [b"x-original-url" as &[u8], b"x-rewrite-url"]
        .iter()
        .any(|n| reads_as(name, n))
}

/// Would a server or framework read this name (raw bytes) as `canonical` (lower case, `-`)?
pub fn reads_as(name: &[u8], canonical: &[u8]) -> bool {
    name.len() == canonical.len() && name.iter().zip(canonical).all(|(a, b)| normalize(*a) == *b)
}

/// Names (as sent) of the request headers to remove: identity headers only the module may set,
/// and routing overrides.
pub fn spoofed<'a>(headers: &[(&'a str, &'a str)]) -> Vec<String> {
    headers
        .iter()
        .filter(|(n, _)| is_reserved(n.as_bytes()) || is_routing_override(n.as_bytes()))
        .map(|(n, _)| (*n).to_owned())
        .collect()
}

/// The `X-MS-CLIENT-PRINCIPAL*` headers for a signed-in user.
pub fn principal_headers(p: &Principal, out: &mut Vec<(String, String)>) {
    out.push(("X-MS-CLIENT-PRINCIPAL".into(), p.header.clone()));
    out.push(("X-MS-CLIENT-PRINCIPAL-ID".into(), p.id.clone()));
    out.push(("X-MS-CLIENT-PRINCIPAL-NAME".into(), p.name.clone()));
    out.push(("X-MS-CLIENT-PRINCIPAL-IDP".into(), p.idp.clone()));
}

/// `X-MS-TOKEN-{PROVIDER}-{TYPE}` for every token the store holds. A value that could break
/// the header block (control characters) is left out: it cannot be a real token.
pub fn token_headers(record: &TokenRecord, out: &mut Vec<(String, String)>) {
    let provider = record.provider_name.to_ascii_uppercase();
    for (kind, value) in record.token_fields() {
        if let Some(v) = value {
            if is_safe_value(v) {
                out.push((format!("X-MS-TOKEN-{provider}-{kind}"), v.to_owned()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_match_any_case_and_separator() {
        for n in [
            "X-MS-CLIENT-PRINCIPAL",
            "x-ms-client-principal-name",
            "X-MS_CLIENT_PRINCIPAL_ID",
            "x-ms-token-aad-access-token",
            "X-MS_TOKEN_AAD_ACCESS_TOKEN",
            "X_MS_TOKEN_x",
            "X.MS.CLIENT.PRINCIPAL.NAME",
            "x~ms~token~aad~access~token",
            "X-MS.Client_Principal",
        ] {
            assert!(is_reserved(n.as_bytes()), "{n}");
        }
        for n in ["X-MS-OTHER", "X-MS-TOKEN", "Authorization", "x-ms-client"] {
            assert!(!is_reserved(n.as_bytes()), "{n}");
        }
    }

    #[test]
    fn routing_overrides_are_removed_in_any_spelling() {
        for n in [
            "X-Original-URL",
            "x-original-url",
            "X_ORIGINAL_URL",
            "X-Rewrite-Url",
        ] {
            assert!(is_routing_override(n.as_bytes()), "{n}");
        }
        for n in [
            "X-Original-URLs",
            "X-Original",
            "X-Forwarded-Host",
            "Referer",
        ] {
            assert!(!is_routing_override(n.as_bytes()), "{n}");
        }
        let removed = spoofed(&[("X-Rewrite-URL", "/admin"), ("Accept", "*/*")]);
        assert_eq!(removed, ["X-Rewrite-URL"]);
    }

    #[test]
    fn token_headers_skip_control_characters() {
        let r = TokenRecord {
            provider_name: "testidp".into(),
            access_token: Some("a\r\nX-Evil: 1".into()),
            id_token: Some("i".into()),
            ..Default::default()
        };
        let mut out = Vec::new();
        token_headers(&r, &mut out);
        assert_eq!(
            out,
            vec![("X-MS-TOKEN-TESTIDP-ID-TOKEN".to_owned(), "i".to_owned())]
        );
    }
}
