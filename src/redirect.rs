//! Validation of post-login / post-logout redirect targets (README, "Routes").
//!
//! A target comes from the client (`post_login_redirect_uri`, `post_logout_redirect_uri`) and
//! ends up in a `Location` header, so a mistake here is an open redirect. The validator is an
//! allow-list: a target is accepted only if it is
//!
//! - a `/`-rooted relative reference (same origin by construction), returned normalized; or
//! - an absolute `http`/`https` URL whose origin is the module's own or matches an entry of
//!   `login.allowedExternalRedirectUrls`.
//!
//! Everything else is refused, including whatever merely *looks* harmless to one parser: the
//! target must be a plain RFC 3986 URI reference (ASCII only, well-formed `%XX`; so no raw
//! whitespace, tab, CR, LF or backslash, which browsers strip or read as `/`), its part before
//! the first `?` or `#` must stay free of control characters and backslashes even after one or
//! two rounds of percent-decoding, and an absolute URL must have the same host under a naive
//! split as under the `url` crate, so that no browser, proxy or later decoding step can read a
//! different destination into it.
//!
//! What follows the path of a same-origin target (`?returnUrl=https://x.example/`,
//! `#https://x`, `?next=//evil`) is kept whatever it holds: a browser resolving `Location`
//! takes the authority and path from before the first raw `?` or `#`, so the query and fragment
//! cannot move it to another origin (an app that redirects on to a URL in its own query is
//! reachable by a direct link anyway). An allowed *external* target keeps the stricter rule:
//! no `//`, control character or backslash in its query, as that other site's own redirects are
//! not ours to judge.

use std::fmt;

use url::{Position, Url};

use percent_encoding::percent_decode;

/// Longest target accepted, in bytes: longer ones are not plausible redirect targets and only
/// serve to smuggle payloads or bloat state.
pub const MAX_LEN: usize = 2048;

/// The origin the module serves, as the client addressed it, e.g. scheme "https", host
/// "app.example.com" (host may carry a :port).
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub scheme: &'a str,
    pub host: &'a str,
}

/// Why a redirect target was refused. The caller answers 400; `Display` is a short reason for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectError {
    /// No target at all.
    Empty,
    /// More than [`MAX_LEN`] bytes.
    TooLong,
    /// A character outside RFC 3986 (whitespace, control, non-ASCII, `"<>\^{|}` …), a stray `%`,
    /// or a control character / backslash revealed by percent-decoding once or twice.
    BadCharacter,
    /// Would be read as a network-path reference (`//host`, `/\host`), possibly after decoding.
    SchemeRelative,
    /// A scheme other than `http`/`https` (`javascript:`, `data:`, …).
    Scheme,
    /// Userinfo (`user@host`) in the authority: the classic way to disguise the real host.
    UserInfo,
    /// The host is not plain ASCII letters, digits, `-` and `.`, or an IP literal.
    BadHost,
    /// Not a URI reference this module accepts; the text says which rule failed.
    Malformed(&'static str),
    /// Well-formed, but neither same-origin nor in `allowedExternalRedirectUrls`.
    ForeignOrigin,
}

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty redirect target"),
            Self::TooLong => write!(f, "redirect target longer than {MAX_LEN} bytes"),
            Self::BadCharacter => f.write_str("forbidden character in redirect target"),
            Self::SchemeRelative => f.write_str("scheme-relative redirect target"),
            Self::Scheme => f.write_str("redirect target scheme is not http or https"),
            Self::UserInfo => f.write_str("userinfo in redirect target"),
            Self::BadHost => f.write_str("invalid host in redirect target"),
            Self::Malformed(why) => write!(f, "malformed redirect target: {why}"),
            Self::ForeignOrigin => {
                f.write_str("redirect target is neither same-origin nor allowed")
            }
        }
    }
}

impl std::error::Error for RedirectError {}

/// Returns the target to put in `Location`: a same-origin relative reference ("/path?q#f") kept
/// as a normalized path-absolute string, or an absolute URL (normalized by the `url` crate) that
/// is same-origin or matches an entry of `allowed`.
///
/// `allowed` entries are absolute URLs: scheme, host and port must match exactly (host
/// case-insensitively); an entry with a non-root path also requires the target's path to be
/// that path or below it (segment boundary); the entry's query is ignored. Unparsable entries
/// match nothing.
pub fn validate(
    target: &str,
    origin: &Origin,
    allowed: &[String],
) -> Result<String, RedirectError> {
    if target.is_empty() {
        return Err(RedirectError::Empty);
    }
    if target.len() > MAX_LEN {
        return Err(RedirectError::TooLong);
    }
    check_characters(target)?;
    // The authority and path end at the first raw `?` or `#`, for browsers as for the `url`
    // crate; what decoding could reveal matters there (a later layer reading `%5C` as `/`).
    let (head, _) = split_query(target);
    check_decoded(head)?;
    if target.starts_with('/') {
        validate_relative(target)
    } else {
        validate_absolute(target, origin, allowed)
    }
}

/// `(before, from)` the first `?` or `#`: where a browser ends the authority and path.
fn split_query(target: &str) -> (&str, &str) {
    target.split_at(target.find(['?', '#']).unwrap_or(target.len()))
}

/// Allow-list of raw characters (RFC 3986 unreserved, reserved and `%XX`): no raw whitespace,
/// control character or backslash anywhere, so the `Location` the host writes is the target
/// byte for byte and no browser strips or rewrites a character of it.
fn check_characters(target: &str) -> Result<(), RedirectError> {
    let bytes = target.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let ok = b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b);
        if !ok {
            return Err(RedirectError::BadCharacter);
        }
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).unwrap_or_default();
            if hex.len() != 2 || !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err(RedirectError::BadCharacter);
            }
        }
    }
    Ok(())
}

/// A block on what decoding could reveal: a later layer that decodes once or twice must not
/// find a control character (header splitting, parsers that strip tabs/newlines) or a
/// backslash (read as `/`).
fn check_decoded(part: &str) -> Result<(), RedirectError> {
    for view in &decoded_views(part)[1..] {
        if view.chars().any(|c| c.is_control() || c == '\\') {
            return Err(RedirectError::BadCharacter);
        }
    }
    Ok(())
}

/// A `/`-rooted reference. It cannot change the origin unless something reads it as `//host`,
/// so refuse that in every form, then let the `url` crate resolve dot segments (`..`, `%2e%2e`)
/// against a placeholder base and return what remains of the path, query and fragment.
fn validate_relative(target: &str) -> Result<String, RedirectError> {
    let (path, _) = split_query(target);
    check_relative_path(path)?;
    // The placeholder never leaves this function: only the part from the path on is returned.
    let base = Url::parse("http://ezauth.invalid/")
        .map_err(|_| RedirectError::Malformed("internal base URL"))?;
    let joined = base
        .join(target)
        .map_err(|_| RedirectError::Malformed("unparsable relative reference"))?;
    if joined.origin() != base.origin() {
        return Err(RedirectError::SchemeRelative);
    }
    let out = &joined[Position::BeforePath..];
    // Dot-segment removal can bring two slashes together (`/a/..//x`); check the result too.
    let (out_path, _) = split_query(out);
    if !out_path.starts_with('/') {
        return Err(RedirectError::SchemeRelative);
    }
    check_relative_path(out_path)?;
    Ok(out.to_owned())
}

/// The path of a relative target, as given or decoded once or twice, must not start like a
/// network-path reference (`//host`, `/\host`), contain an empty segment, or have a `:` in its
/// first segment (`/javascript:…`, `/https:evil`: one dropped slash away from a scheme).
fn check_relative_path(path: &str) -> Result<(), RedirectError> {
    let views = decoded_views(path);
    if views
        .iter()
        .any(|v| v.starts_with("//") || v.starts_with("/\\"))
    {
        return Err(RedirectError::SchemeRelative);
    }
    check_no_empty_segment(path)?;
    if views
        .iter()
        .any(|v| v.split('/').nth(1).is_some_and(|seg| seg.contains(':')))
    {
        return Err(RedirectError::Malformed("scheme-like first path segment"));
    }
    Ok(())
}

/// An empty path segment (`//`, raw or encoded) has no legitimate use in a redirect target and
/// is the lever of most prefix and nesting tricks (`/https://evil`, `/a/..//evil`), so refuse it.
fn check_no_empty_segment(path: &str) -> Result<(), RedirectError> {
    if decoded_views(path).iter().any(|v| v.contains("//")) {
        return Err(RedirectError::Malformed("empty path segment"));
    }
    Ok(())
}

/// The query and fragment of an allowed *external* target: a raw `//` there is how a target
/// chains into that site's own redirect (`/redirect?url=//evil`), and a decoded control
/// character or backslash is for that site's parsers to misread; like oauth2-proxy, refuse
/// them. (Same-origin targets keep theirs: see the module documentation.)
fn check_external_query_and_fragment(rest: &str) -> Result<(), RedirectError> {
    if rest.contains("//") {
        return Err(RedirectError::Malformed("// in query or fragment"));
    }
    check_decoded(rest)
}

/// An absolute URL: `http(s)://host[:port]/…`, checked by a naive split first and then by the
/// `url` crate, which must agree on scheme, host and port before the origin is compared.
fn validate_absolute(
    target: &str,
    origin: &Origin,
    allowed: &[String],
) -> Result<String, RedirectError> {
    let Some(colon) = target.find(':') else {
        return Err(RedirectError::Malformed(
            "relative reference not rooted at /",
        ));
    };
    let scheme = &target[..colon];
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok {
        // `foo/bar:x`, `?x`, `#x`: a relative reference that does not start with `/`.
        return Err(RedirectError::Malformed(
            "relative reference not rooted at /",
        ));
    }
    let scheme = scheme.to_ascii_lowercase();
    let web = scheme == "http" || scheme == "https";
    // A native client's own scheme (`myapp://easyauth.callback`, where the Mobile Apps SDKs
    // wait for a token-mode login) only when an allow-list entry names it; never a scheme that
    // runs or reads something in the browser.
    let listed_app_scheme = || {
        !SCRIPT_SCHEMES.contains(&scheme.as_str())
            && allowed.iter().any(|e| {
                e.split_once("://")
                    .is_some_and(|(s, _)| s.eq_ignore_ascii_case(&scheme))
            })
    };
    if !web && !listed_app_scheme() {
        return Err(RedirectError::Scheme);
    }
    // `https:evil.example` and `https:/evil.example` are resolved differently by different clients.
    let Some(after) = target[colon + 1..].strip_prefix("//") else {
        return Err(RedirectError::Malformed("absolute URL without //"));
    };
    let auth_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let authority = &after[..auth_end];
    if authority.contains('@') {
        return Err(RedirectError::UserInfo);
    }
    let (host, port) = split_authority(authority)?;
    let default_port = match scheme.as_str() {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().map_err(|_| RedirectError::BadHost)?),
        None => default_port,
    };
    let raw_rest = &after[auth_end..];
    let (raw_path, raw_query) =
        raw_rest.split_at(raw_rest.find(['?', '#']).unwrap_or(raw_rest.len()));
    check_no_empty_segment(raw_path)?;

    let url = Url::parse(target).map_err(|_| RedirectError::Malformed("unparsable URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(RedirectError::UserInfo);
    }
    // Parser differential guard: numeric hosts (`2130706433`, `0x7f.1`), IPv6 spellings and
    // anything else the parser rewrites must be spelled the way it will be read.
    if url.scheme() != scheme
        || url.host_str() != Some(host.to_ascii_lowercase().as_str())
        || url.port_or_known_default() != port
    {
        return Err(RedirectError::Malformed("host or port parses differently"));
    }
    check_no_empty_segment(url.path())?;

    if is_same_origin(&url, origin) {
        return Ok(url.into());
    }
    if !allowed.iter().any(|entry| matches_entry(&url, entry)) {
        return Err(RedirectError::ForeignOrigin);
    }
    check_external_query_and_fragment(raw_query)?;
    Ok(url.into())
}

/// Schemes whose URLs run script or read local data in a browser: never a redirect target,
/// even if listed.
const SCRIPT_SCHEMES: &[&str] = &["javascript", "vbscript", "data", "file", "blob", "about"];

/// Naive split of `host[:port]` / `[ip-literal][:port]`, accepting only plain ASCII hosts: no
/// percent-encoding, no IDNA/unicode, no empty labels (a single trailing dot is syntactically
/// fine but, being compared exactly, matches nothing).
fn split_authority(authority: &str) -> Result<(&str, Option<&str>), RedirectError> {
    let (host, rest) = if authority.starts_with('[') {
        let close = authority.find(']').ok_or(RedirectError::BadHost)?;
        let literal = &authority[1..close];
        if literal.is_empty()
            || !literal
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(RedirectError::BadHost);
        }
        authority.split_at(close + 1)
    } else {
        let end = authority.find(':').unwrap_or(authority.len());
        let host = &authority[..end];
        let plain = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if host.is_empty() || !plain || host.starts_with('.') || host.contains("..") {
            return Err(RedirectError::BadHost);
        }
        authority.split_at(end)
    };
    let port = match rest.strip_prefix(':') {
        None if rest.is_empty() => None,
        None => return Err(RedirectError::BadHost),
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p)
        }
        Some(_) => return Err(RedirectError::BadHost),
    };
    Ok((host, port))
}

/// Scheme, host and effective port all equal to the origin the client addressed. That host comes
/// from the request too, so it must pass the same host syntax check.
fn is_same_origin(url: &Url, origin: &Origin) -> bool {
    if split_authority(origin.host).is_err() {
        return false;
    }
    match Url::parse(&format!("{}://{}/", origin.scheme, origin.host)) {
        Ok(o) => same_authority(url, &o),
        Err(_) => false,
    }
}

fn same_authority(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().is_some()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Does `url` fall under the allow-list entry? Same scheme/host/port, and for an entry with a
/// non-root path, the target's (already dot-normalized) path is that path or below it. Encoded
/// dot segments are refused under a path entry, as the server behind it may decode them and
/// climb out of the prefix.
fn matches_entry(url: &Url, entry: &str) -> bool {
    let Ok(entry) = Url::parse(entry) else {
        return false;
    };
    if SCRIPT_SCHEMES.contains(&entry.scheme()) || !same_authority(url, &entry) {
        return false;
    }
    let prefix = entry.path().trim_end_matches('/');
    if prefix.is_empty() {
        return true;
    }
    let path = url.path();
    let under = path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'));
    under
        && !decoded_views(path)
            .iter()
            .any(|v| v.split('/').any(|seg| seg == "." || seg == ".."))
}

/// The text as given, percent-decoded once, and decoded twice (lossily as UTF-8: what matters
/// is which ASCII characters appear). `%XX` only (no `+`: a URL, not a form); a malformed
/// escape stays as it is.
fn decoded_views(s: &str) -> [String; 3] {
    let once: Vec<u8> = percent_decode(s.as_bytes()).collect();
    let twice: Vec<u8> = percent_decode(&once).collect();
    [
        s.to_owned(),
        String::from_utf8_lossy(&once).into_owned(),
        String::from_utf8_lossy(&twice).into_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: Origin<'static> = Origin {
        scheme: "https",
        host: "app.example.com",
    };

    #[test]
    fn decoded_views_decode_twice_and_keep_malformed_escapes() {
        let views = |s: &str| decoded_views(s).map(|v| v.into_bytes());
        assert_eq!(
            views("/a%252Fb")[1..],
            [b"/a%2Fb".to_vec(), b"/a/b".to_vec()]
        );
        assert_eq!(views("/A%5c")[1..], [b"/A\\".to_vec(), b"/A\\".to_vec()]);
        for malformed in ["/%", "/%2", "/%zz", "/%2g", "/%%41"] {
            let expected = if malformed == "/%%41" {
                "/%A"
            } else {
                malformed
            };
            assert_eq!(views(malformed)[1], expected.as_bytes(), "{malformed}");
        }
        assert_eq!(
            views("/%ff")[1],
            "/\u{fffd}".as_bytes(),
            "not UTF-8: replaced"
        );
        assert_eq!(
            views("/a+b")[1],
            b"/a+b",
            "no `+` handling: a URL, not a form"
        );
    }

    fn allowed() -> Vec<String> {
        vec![
            "https://partner.example.org".to_owned(),
            "https://docs.example.net/guide/?ignored=1".to_owned(),
            "http://localhost:8080/".to_owned(),
        ]
    }

    fn ok(target: &str) -> String {
        match validate(target, &ORIGIN, &allowed()) {
            Ok(t) => t,
            Err(e) => panic!("{target:?} refused: {e}"),
        }
    }

    fn err(target: &str) -> RedirectError {
        match validate(target, &ORIGIN, &allowed()) {
            Ok(t) => panic!("{target:?} accepted as {t:?}"),
            Err(e) => e,
        }
    }

    // --- accepted ---

    #[test]
    fn a_native_client_scheme_only_as_listed() {
        let listed = vec![
            "myapp://easyauth.callback".to_owned(),
            "javascript://x".to_owned(),
            "data://x".to_owned(),
        ];
        let check = |t: &str| validate(t, &ORIGIN, &listed);
        for t in [
            "myapp://easyauth.callback",
            "myapp://easyauth.callback/",
            "MyApp://easyauth.callback/done",
        ] {
            assert!(check(t).is_ok(), "{t:?}: {:?}", check(t));
        }
        for t in [
            "otherapp://easyauth.callback",
            "myapp://evil.example",
            "myapp://easyauth.callback.evil.example",
            "myapp://user@easyauth.callback",
            "myapp:easyauth.callback",
            "myapp:/easyauth.callback",
            "myapp:///easyauth.callback",
            "myapp://easyauth.callback:1234",
            "javascript://x/%0aalert(1)",
            "data://x/text/html,<script>",
        ] {
            assert!(check(t).is_err(), "{t:?} accepted: {:?}", check(t));
        }
        // Unlisted, a custom scheme is no target at all.
        assert_eq!(err("myapp://easyauth.callback"), RedirectError::Scheme);
    }

    #[test]
    fn accepts_root_and_plain_paths() {
        assert_eq!(ok("/"), "/");
        assert_eq!(ok("/a/b?c=d#e"), "/a/b?c=d#e");
        assert_eq!(ok("/a/b/"), "/a/b/");
        assert_eq!(ok("/.auth/login/done"), "/.auth/login/done");
        assert_eq!(ok("/caf%C3%A9?q=a%20b"), "/caf%C3%A9?q=a%20b");
        assert_eq!(
            ok("/p?next=https%3A%2F%2Fx.example%2F#f"),
            "/p?next=https%3A%2F%2Fx.example%2F#f"
        );
        assert_eq!(
            ok("/wiki/Special:Search?a=b:c"),
            "/wiki/Special:Search?a=b:c"
        );
    }

    #[test]
    fn normalizes_dot_segments_of_relative_paths() {
        assert_eq!(ok("/a/../b"), "/b");
        assert_eq!(ok("/a/./b/.."), "/a/");
        assert_eq!(ok("/../../etc"), "/etc");
        assert_eq!(ok("/a/%2e%2e/b"), "/b");
        assert_eq!(ok("/a/%2E./b?x"), "/b?x");
    }

    #[test]
    fn accepts_same_origin_absolute() {
        assert_eq!(ok("https://app.example.com/x"), "https://app.example.com/x");
        assert_eq!(
            ok("HTTPS://APP.Example.COM/x?y#z"),
            "https://app.example.com/x?y#z"
        );
        assert_eq!(
            ok("https://app.example.com:443/x"),
            "https://app.example.com/x"
        );
        assert_eq!(ok("https://app.example.com"), "https://app.example.com/");
        assert_eq!(
            ok("https://app.example.com/a/../b"),
            "https://app.example.com/b"
        );
        let o = Origin {
            scheme: "http",
            host: "app.example.com:8443",
        };
        assert_eq!(
            validate("http://app.example.com:8443/x", &o, &[]),
            Ok("http://app.example.com:8443/x".into())
        );
    }

    #[test]
    fn accepts_allowed_external() {
        assert_eq!(
            ok("https://partner.example.org/welcome?x=1"),
            "https://partner.example.org/welcome?x=1"
        );
        assert_eq!(
            ok("https://PARTNER.example.org"),
            "https://partner.example.org/"
        );
        assert_eq!(ok("http://localhost:8080/cb"), "http://localhost:8080/cb");
    }

    #[test]
    fn accepts_allowed_path_prefix_on_segment_boundary() {
        assert_eq!(
            ok("https://docs.example.net/guide"),
            "https://docs.example.net/guide"
        );
        assert_eq!(
            ok("https://docs.example.net/guide/"),
            "https://docs.example.net/guide/"
        );
        assert_eq!(
            ok("https://docs.example.net/guide/intro?a#b"),
            "https://docs.example.net/guide/intro?a#b"
        );
    }

    // --- refused ---

    #[test]
    fn refuses_empty_and_too_long() {
        assert_eq!(err(""), RedirectError::Empty);
        let long = format!("/{}", "a".repeat(MAX_LEN));
        assert_eq!(err(&long), RedirectError::TooLong);
        assert!(validate(&long[..MAX_LEN], &ORIGIN, &[]).is_ok());
    }

    #[test]
    fn refuses_control_and_whitespace_raw_or_encoded() {
        for t in [
            " /",
            "/a b",
            "/a\tb",
            "/\t/evil.com",
            "/a\nb",
            "/a\r\nSet-Cookie:x",
            "/\u{7f}",
            "/\u{85}",
            "/\u{a0}",
            "/%09/evil.com",
            "/%0a",
            "/%0D%0ASet-Cookie:x",
            "/%00",
            "/%7f",
            "/%1f",
            "/%2509/evil.com",
            "/x?a\tb",
            "/x?a\r\nSet-Cookie:x",
            "/x#a b",
            "https://app.example.com/%0a",
            "https://partner.example.org/cb?x=%0d%0a",
        ] {
            assert_eq!(err(t), RedirectError::BadCharacter, "{t:?}");
        }
        // An encoded space in the authority is a host character we do not allow.
        assert_eq!(
            err("https://app.example.com%20.evil.com/"),
            RedirectError::BadHost
        );
        assert_eq!(
            err("https%20://app.example.com/"),
            RedirectError::Malformed("relative reference not rooted at /")
        );
    }

    #[test]
    fn refuses_non_uri_characters() {
        for t in [
            "/caf\u{e9}",
            "/\u{3031}evil.com",
            "/a\"b",
            "/<script>",
            "/a|b",
            "/a{b}",
            "/a^b",
            "/a`b",
            "/100%",
            "/%zz",
            "/%4",
        ] {
            assert_eq!(err(t), RedirectError::BadCharacter, "{t:?}");
        }
    }

    #[test]
    fn refuses_backslashes_raw_or_encoded() {
        for t in [
            "/\\evil.com",
            "/a\\b",
            "\\\\evil.com",
            "/%5cevil.com",
            "/%5Cevil.com",
            "/%255cevil.com",
            "https:\\\\evil.com",
            "https://evil.com\\@app.example.com",
            "/x?u=\\evil.com",
            "/x#\\evil.com",
            "https://partner.example.org/cb?u=%5Cevil.com",
        ] {
            assert_eq!(err(t), RedirectError::BadCharacter, "{t:?}");
        }
    }

    #[test]
    fn keeps_a_same_origin_path_whatever_its_query_or_fragment_holds() {
        for t in [
            "/app?returnUrl=https://x.example/",
            "/a?next=//evil.example",
            "/a?next=///evil.example",
            "/a?u=http%3A%2F%2Fx.example",
            "/a?u=%2F%2Fevil.example",
            "/a?u=%5C%5Cevil.example",
            "/a?u=%0d%0aSet-Cookie:x",
            "/a?u=%09",
            "/a#https://x.example",
            "/a#//evil.example",
            "/#/route?next=https://x.example",
            "/?url=//example.com&next=//example.com",
            "/redirect?url=Https://example.com",
            "/a?x=javascript:alert(1)",
            "/a/b?c=d?e#f#g",
            "/a?@evil.example",
            "/a#@evil.example",
            "/a?",
            "/a#",
            "/a/../b?next=//evil.example",
        ] {
            let out = ok(t);
            // What a browser makes of `Location: out` on this origin: the same origin.
            let base = Url::parse("https://app.example.com/x/y").unwrap();
            let resolved = base.join(&out).unwrap();
            assert_eq!(
                resolved.origin(),
                base.origin(),
                "{t:?} -> {out:?} leaves the origin"
            );
            assert!(
                out.starts_with('/') && !out.starts_with("//"),
                "{t:?} -> {out:?}"
            );
        }
        assert_eq!(
            ok("/app?returnUrl=https://x.example/"),
            "/app?returnUrl=https://x.example/"
        );
        assert_eq!(ok("/a/../b?next=//evil.example"), "/b?next=//evil.example");
        // The same on an absolute same-origin target.
        assert_eq!(
            ok("https://app.example.com/a?next=https://evil.example#//x"),
            "https://app.example.com/a?next=https://evil.example#//x"
        );
    }

    #[test]
    fn the_path_before_the_query_is_judged_in_every_form() {
        for t in [
            "//evil.example?x",
            "/%2F%2Fevil.example?next=/a",
            "/%2f/evil.example#x",
            "/%5Cevil.example?x",
            "/%2e%2e//evil.example?x",
            "/a/..//evil.example?x",
            "/https:evil.example?x=/",
            "/a%0d%0a?x",
            "/a%09/b?x",
            "/\tevil.example?x",
            "/%252F%252Fevil.example?x",
            "https://evil.example?@app.example.com/",
            "https://evil.example#@app.example.com/",
            "https://evil.example/?next=https://app.example.com/",
        ] {
            assert!(validate(t, &ORIGIN, &allowed()).is_err(), "{t:?} accepted");
        }
    }

    #[test]
    fn refuses_network_path_references() {
        for t in [
            "//evil.com",
            "//evil.com/x",
            "///evil.com",
            "/%2fevil.com",
            "/%2F%2Fevil.com",
            "/%252f%252fevil.com",
            "/%252fevil.com",
        ] {
            assert_eq!(err(t), RedirectError::SchemeRelative, "{t:?}");
        }
    }

    #[test]
    fn refuses_dot_segments_that_collapse_into_a_network_path() {
        for t in [
            "/a/..//evil.com",
            "/a/%2e%2e//evil.com",
            "/a/%2e%2e/%2fevil.com",
            "/.//evil.com",
        ] {
            assert!(err(t) != RedirectError::ForeignOrigin, "{t:?}");
        }
    }

    #[test]
    fn refuses_empty_path_segments() {
        for t in [
            "/a//b",
            "/https://evil.com",
            "/x/%2f/y",
            "https://partner.example.org/https://evil.com/",
            "https://app.example.com//evil.com",
        ] {
            assert_eq!(
                err(t),
                RedirectError::Malformed("empty path segment"),
                "{t:?}"
            );
        }
    }

    #[test]
    fn refuses_scheme_like_first_segment() {
        for t in [
            "/javascript:alert(1)",
            "/http:/evil.com",
            "/https:evil.com",
            "/javascript%3aalert(1)",
            "/a/../javascript:alert(1)",
        ] {
            assert_eq!(
                err(t),
                RedirectError::Malformed("scheme-like first path segment"),
                "{t:?}"
            );
        }
    }

    #[test]
    fn refuses_double_slash_in_query_or_fragment() {
        // Only an allowed external target: that site's redirects are not ours to judge.
        for t in [
            "https://partner.example.org/cb?u=//evil.com",
            "https://partner.example.org/cb#//evil.com",
            "https://docs.example.net/guide/?next=https://evil.com",
        ] {
            assert_eq!(
                err(t),
                RedirectError::Malformed("// in query or fragment"),
                "{t:?}"
            );
        }
    }

    #[test]
    fn refuses_relative_references_not_rooted_at_slash() {
        for t in [
            "foo/bar", "evil.com", "?x=1", "#frag", ".", "..", "./x", "../x", "a:b",
        ] {
            assert!(
                matches!(err(t), RedirectError::Malformed(_) | RedirectError::Scheme),
                "{t:?}"
            );
        }
    }

    #[test]
    fn refuses_other_schemes() {
        for t in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "javascript://app.example.com/%0aalert(1)",
            "data:text/html,x",
            "vbscript:msgbox",
            "ftp://app.example.com/",
            "file:///etc/passwd",
            "ws://app.example.com/",
            "mailto:a@b.c",
        ] {
            assert!(
                matches!(err(t), RedirectError::Scheme | RedirectError::BadCharacter),
                "{t:?}"
            );
        }
    }

    #[test]
    fn refuses_absolute_urls_without_double_slash() {
        for t in [
            "https:evil.example",
            "https:/evil.example",
            "http:app.example.com/x",
            "https:",
        ] {
            assert_eq!(
                err(t),
                RedirectError::Malformed("absolute URL without //"),
                "{t:?}"
            );
        }
    }

    #[test]
    fn refuses_userinfo() {
        for t in [
            "https://user@app.example.com/",
            "https://app.example.com@evil.com/",
            "https://:@app.example.com/",
            "https://partner.example.org@evil.com",
            "https://app.example.com:443@evil.com/",
        ] {
            assert_eq!(err(t), RedirectError::UserInfo, "{t:?}");
        }
        // Encoded `@` is not a host character either.
        assert_eq!(
            err("https://app.example.com%40evil.com/"),
            RedirectError::BadHost
        );
    }

    #[test]
    fn refuses_encoded_or_unicode_hosts() {
        for t in [
            "https://app%2eexample.com/",
            "https://%61pp.example.com/",
            "https://evil.com%2f.app.example.com/",
            "https://evil.com%23.app.example.com/",
            "https://evil.com%3f.app.example.com/",
            "https://app_example.com/",
            "https://.app.example.com/",
            "https://app..example.com/",
            "https:///evil.com",
            "https://:443/",
            "https://[::1/",
            "https://[v1.x]/",
            "https://app.example.com:/",
            "https://app.example.com:99999/",
            "https://app.example.com:4a/",
        ] {
            assert!(
                matches!(err(t), RedirectError::BadHost | RedirectError::Malformed(_)),
                "{t:?}"
            );
        }
        // Raw unicode never gets past the character allow-list.
        assert_eq!(
            err("https://\u{430}pp.example.com/"),
            RedirectError::BadCharacter
        );
        assert_eq!(
            err("https://app\u{3002}example.com/"),
            RedirectError::BadCharacter
        );
    }

    #[test]
    fn refuses_parser_differentials() {
        // The url crate reads these as 127.0.0.1 / another spelling than the raw text says.
        let o = Origin {
            scheme: "http",
            host: "127.0.0.1",
        };
        for t in [
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://[0:0::1]/",
        ] {
            assert_eq!(
                validate(t, &o, &[]),
                Err(RedirectError::Malformed("host or port parses differently")),
                "{t:?}"
            );
        }
        assert!(validate("http://127.0.0.1/x", &o, &[]).is_ok());
        let o6 = Origin {
            scheme: "http",
            host: "[::1]:8080",
        };
        assert!(validate("http://[::1]:8080/x", &o6, &[]).is_ok());
    }

    #[test]
    fn trailing_dot_or_port_mismatch_does_not_match() {
        for t in [
            "https://app.example.com./x",
            "https://app.example.com:8443/x",
            "http://app.example.com/x",
            "https://partner.example.org./",
            "https://partner.example.org:444/",
            "http://partner.example.org/",
            "http://localhost/",
            "http://localhost:8081/",
            "https://evil.com/",
            "https://app.example.com.evil.com/",
            "https://evilapp.example.com/",
            "https://sub.partner.example.org/",
        ] {
            assert_eq!(err(t), RedirectError::ForeignOrigin, "{t:?}");
        }
    }

    #[test]
    fn path_prefix_must_hold_on_segment_boundary_and_after_normalization() {
        for t in [
            "https://docs.example.net/",
            "https://docs.example.net/guidebook",
            "https://docs.example.net/Guide/x",
            "https://docs.example.net/guide/../admin",
            "https://docs.example.net/guide/%2e%2e/admin",
            "https://docs.example.net/guide/%2e%2e%2fadmin",
            "https://docs.example.net/guide/%252e%252e%252fadmin",
            "https://docs.example.net/guide%2f..%2fadmin",
        ] {
            assert_eq!(err(t), RedirectError::ForeignOrigin, "{t:?}");
        }
    }

    #[test]
    fn odd_origin_host_matches_nothing() {
        let o = Origin {
            scheme: "https",
            host: "app.example.com/@evil.com",
        };
        assert_eq!(
            validate("https://app.example.com/", &o, &[]),
            Err(RedirectError::ForeignOrigin)
        );
        assert_eq!(validate("/still/fine", &o, &[]), Ok("/still/fine".into()));
    }

    #[test]
    fn unparsable_allow_list_entries_match_nothing() {
        let list = vec![
            "not a url".to_owned(),
            "javascript:alert(1)".to_owned(),
            String::new(),
        ];
        assert_eq!(
            validate("https://evil.com/", &ORIGIN, &list),
            Err(RedirectError::ForeignOrigin)
        );
    }

    #[test]
    fn display_is_a_short_reason() {
        assert_eq!(
            RedirectError::UserInfo.to_string(),
            "userinfo in redirect target"
        );
        assert_eq!(
            RedirectError::Malformed("empty path segment").to_string(),
            "malformed redirect target: empty path segment"
        );
    }
}
