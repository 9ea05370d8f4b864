//! What API clients are told: the `Authorization` header read the one way ezauth and the app
//! must agree on, and the `WWW-Authenticate` challenges of its 401 answers (RFC 6750, and the
//! Azure AD discovery parameters App Service adds so that clients such as Power Query and MSAL
//! can find where to sign in).
//!
//! Every value written here is built from ezauth's own words and validated settings: nothing a
//! client sent is reflected into a challenge (the realm is the request's host, which the pipeline
//! has already restricted to host-name characters).

use crate::config::ProviderSettings;

/// What the request's `Authorization` header says about bearer tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorization<'a> {
    /// No `Authorization` header, or one of another scheme (`Basic`, `Negotiate`, …): not ours
    /// to judge, the app may use it.
    NotBearer,
    /// `Bearer` with no token: a client asking where to sign in (Power Query, MSAL's
    /// `WwwAuthenticateParameters` send this to discover the authority).
    Empty,
    /// `Bearer <token>`, the scheme in any case (RFC 7235 §2.1: schemes are case-insensitive).
    Token(&'a str),
    /// More than one `Authorization` line, at least one of them `Bearer`: which one an app reads
    /// is the app's choice (first, last, joined), so no judgement on either can stand for it.
    Ambiguous,
}

/// Reads the `Authorization` lines of a request (raw, as the host passed them).
pub fn authorization<'a>(headers: &[(&'a str, &'a str)]) -> Authorization<'a> {
    let mut lines = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Authorization"))
        .map(|(_, v)| *v);
    let Some(first) = lines.next() else {
        return Authorization::NotBearer;
    };
    let rest: Vec<&str> = lines.collect();
    let is_bearer = |v: &str| bearer_token(v).is_some();
    if !rest.is_empty() {
        return if is_bearer(first) || rest.iter().any(|v| is_bearer(v)) {
            Authorization::Ambiguous
        } else {
            Authorization::NotBearer
        };
    }
    match bearer_token(first) {
        None => Authorization::NotBearer,
        Some("") => Authorization::Empty,
        Some(token) => Authorization::Token(token),
    }
}

/// The token of a `Bearer` credential (empty when there is none), `None` for another scheme.
/// The scheme ends at the first space or tab; `Bearertoken` is another scheme.
fn bearer_token(value: &str) -> Option<&str> {
    let value = value.trim_matches([' ', '\t']);
    let (scheme, token) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    scheme
        .eq_ignore_ascii_case("Bearer")
        .then(|| token.trim_matches([' ', '\t']))
}

/// RFC 6750 §2.1 `b64token`: the only characters a bearer token may hold.
pub fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// Why a presented bearer token was refused, as the client is told in `error_description`:
/// fixed texts, never the validator's message (which may quote the token's own claims).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidToken {
    /// Not a JWT (or not `b64token` characters).
    Malformed,
    /// A JWT whose issuer no configured provider has.
    ForeignIssuer,
    /// A JWT of a configured provider that fails validation (signature, audience, lifetime).
    Rejected,
}

impl InvalidToken {
    fn description(self) -> &'static str {
        match self {
            InvalidToken::Malformed => "The bearer token is not a JSON Web Token.",
            InvalidToken::ForeignIssuer => {
                "The bearer token was not issued by a provider of this app."
            }
            InvalidToken::Rejected => {
                "The bearer token is not valid (signature, audience or lifetime)."
            }
        }
    }
}

/// The Azure AD discovery parameters of App Service's challenge, once per configuration:
/// `authorization_uri="…"` derived from the configured issuer, or `None` when no Azure AD
/// provider is configured or `login.disableWWWAuthenticate` is true.
pub fn aad_discovery(providers: &[ProviderSettings]) -> Option<String> {
    let aad = providers.iter().find(|p| p.www_authenticate)?;
    let issuer = aad.issuer()?;
    Some(format!(
        "authorization_uri=\"{}\"",
        authorization_uri(issuer)?
    ))
}

/// The v2.0 authorize endpoint of the tenant an Azure AD issuer names:
/// `https://login.microsoftonline.com/{tenant}/v2.0` and `https://sts.windows.net/{tenant}/`
/// both give `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize`; another
/// authority (a sovereign cloud, a test issuer) keeps its own scheme and host. `None` for an
/// issuer that cannot be written into a quoted string safely.
pub fn authorization_uri(issuer: &str) -> Option<String> {
    let url = url::Url::parse(issuer).ok()?;
    let host = url.host_str()?;
    let authority = match (host, url.port()) {
        ("sts.windows.net" | "login.windows.net", _) => "login.microsoftonline.com".to_owned(),
        (h, Some(p)) => format!("{h}:{p}"),
        (h, None) => h.to_owned(),
    };
    let path = url.path().trim_end_matches('/');
    let path = path.strip_suffix("/v2.0").unwrap_or(path);
    let uri = format!("{}://{authority}{path}/oauth2/v2.0/authorize", url.scheme());
    uri.bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        .then_some(uri)
}

/// The challenge of a 401 for a request that presented no bearer token: App Service's Azure AD
/// challenge (`Bearer realm="<host>", authorization_uri="…"`), or none without Azure AD.
pub fn anonymous(host: &str, discovery: Option<&str>) -> Option<String> {
    let discovery = discovery?;
    Some(format!("Bearer realm=\"{host}\", {discovery}"))
}

/// The challenge of a 401 for a request that presented `Bearer` with no token (RFC 6750 §3.1:
/// no error code then).
pub fn empty_bearer(host: &str, discovery: Option<&str>) -> String {
    match discovery {
        Some(d) => format!("Bearer realm=\"{host}\", {d}"),
        None => format!("Bearer realm=\"{host}\""),
    }
}

/// The challenge of a 401 for a bearer token that was refused (RFC 6750 §3.1 `invalid_token`).
pub fn invalid_token(host: &str, discovery: Option<&str>, why: InvalidToken) -> String {
    let d = discovery.map(|d| format!("{d}, ")).unwrap_or_default();
    format!(
        "Bearer realm=\"{host}\", {d}error=\"invalid_token\", error_description=\"{}\"",
        why.description()
    )
}

/// The challenge of a 400 for a request whose credentials cannot be read one way (RFC 6750
/// §3.1 `invalid_request`).
pub fn invalid_request(host: &str) -> String {
    format!(
        "Bearer realm=\"{host}\", error=\"invalid_request\", error_description=\"More than one Authorization header.\""
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth<'a>(lines: &[&'a str]) -> Authorization<'a> {
        let headers: Vec<(&str, &str)> = lines.iter().map(|v| ("Authorization", *v)).collect();
        authorization(&headers)
    }

    #[test]
    fn reads_the_bearer_scheme_in_any_case() {
        for v in [
            "Bearer abc",
            "bearer abc",
            "BEARER abc",
            "BeArEr  abc ",
            "Bearer\tabc",
        ] {
            assert_eq!(auth(&[v]), Authorization::Token("abc"), "{v:?}");
        }
        for v in ["Bearer", "Bearer ", "bearer \t ", "  Bearer"] {
            assert_eq!(auth(&[v]), Authorization::Empty, "{v:?}");
        }
        for v in [
            "Basic dXNlcjpwdw==",
            "Bearerabc",
            "Negotiate x",
            "",
            "Token abc",
        ] {
            assert_eq!(auth(&[v]), Authorization::NotBearer, "{v:?}");
        }
        assert_eq!(auth(&[]), Authorization::NotBearer);
    }

    #[test]
    fn two_lines_with_a_bearer_among_them_are_ambiguous() {
        assert_eq!(auth(&["Bearer a", "Bearer b"]), Authorization::Ambiguous);
        assert_eq!(auth(&["Basic x", "bearer b"]), Authorization::Ambiguous);
        assert_eq!(auth(&["Bearer", "Basic x"]), Authorization::Ambiguous);
        assert_eq!(auth(&["Basic x", "Basic y"]), Authorization::NotBearer);
    }

    #[test]
    fn derives_the_authorize_endpoint_from_the_issuer() {
        let t = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let want = format!("https://login.microsoftonline.com/{t}/oauth2/v2.0/authorize");
        for issuer in [
            format!("https://login.microsoftonline.com/{t}/v2.0"),
            format!("https://login.microsoftonline.com/{t}/v2.0/"),
            format!("https://sts.windows.net/{t}/"),
            format!("https://login.microsoftonline.com/{t}/"),
        ] {
            assert_eq!(
                authorization_uri(&issuer).as_deref(),
                Some(want.as_str()),
                "{issuer}"
            );
        }
        assert_eq!(
            authorization_uri("http://127.0.0.1:8080/tenant/v2.0").as_deref(),
            Some("http://127.0.0.1:8080/tenant/oauth2/v2.0/authorize")
        );
        assert_eq!(authorization_uri("not a url"), None);
    }

    #[test]
    fn challenges_name_no_client_bytes() {
        let d =
            Some("authorization_uri=\"https://login.microsoftonline.com/t/oauth2/v2.0/authorize\"");
        assert_eq!(
            invalid_token("app.example", d, InvalidToken::Malformed),
            "Bearer realm=\"app.example\", authorization_uri=\"https://login.microsoftonline.com/t/oauth2/v2.0/authorize\", error=\"invalid_token\", error_description=\"The bearer token is not a JSON Web Token.\""
        );
        assert_eq!(
            invalid_token("h", None, InvalidToken::Rejected),
            "Bearer realm=\"h\", error=\"invalid_token\", error_description=\"The bearer token is not valid (signature, audience or lifetime).\""
        );
        assert_eq!(anonymous("h", None), None);
        assert!(is_b64token("abc.DEF-_~+/=="));
        assert!(!is_b64token("a b") && !is_b64token("==") && !is_b64token("a\"b"));
    }
}
