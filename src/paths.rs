//! Path judgement: which raw request paths may be matched against `excludedPaths`.
//!
//! The host forwards the raw target to the application, and applications route it in their
//! own ways (Werkzeug decodes `%2F`, WHATWG URL parsers read `%2e%2e` as `..`, Tomcat drops
//! `;params`, IIS turns `\` into `/`). An exclusion is therefore granted only to a path that
//! every one of them routes the same way: its canonical form is the raw form with harmless
//! escapes decoded, and it holds no `#`, `;`, `\`, control or non-ASCII bytes, no escaped
//! separator, `%`, dot or non-ASCII byte, no empty segment and no segment that ends in a dot
//! or a space (dot segments, and what Windows file systems trim into one). Any other path
//! is judged protected: authentication applies, never an exclusion.

use std::borrow::Cow;

/// The canonical form of a raw path when it is unambiguous, `None` when backends could route
/// it differently. Escapes of printable ASCII (and space) other than `/ \ % ; # ? .` are decoded (so
/// `/public/a%20b` is `/public/a b`); everything else that could read two ways refuses.
pub fn unambiguous(raw: &str) -> Option<Cow<'_, str>> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return None;
    }
    let mut decoded: Option<Vec<u8>> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let c = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .filter(|c| (is_plain(*c) || *c == b' ') && !matches!(c, b'/' | b'.' | b'%'))?;
            decoded.get_or_insert_with(|| bytes[..i].to_vec()).push(c);
            i += 3;
            continue;
        }
        if !is_plain(b) {
            return None;
        }
        if let Some(d) = decoded.as_mut() {
            d.push(b);
        }
        i += 1;
    }
    let canonical = match decoded {
        // Only printable ASCII was pushed, so this is valid UTF-8.
        Some(d) => Cow::Owned(String::from_utf8(d).ok()?),
        None => Cow::Borrowed(raw),
    };
    // `/` itself is fine; otherwise every segment but an empty last one (`/a/`) must be a name.
    let body = &canonical[1..];
    if !body.is_empty() {
        let named = body.strip_suffix('/').unwrap_or(body);
        // Windows file systems (and so IIS and some static servers) drop trailing dots and
        // spaces from a name: `..%20`, `...` and `.. ` would climb a directory there.
        if named
            .split('/')
            .any(|s| s.is_empty() || s.ends_with(['.', ' ']))
        {
            return None;
        }
    }
    Some(canonical)
}

/// Is `raw` (a path not under `prefix` as raw bytes) one that some backend could nevertheless
/// route to `prefix` or below? The loosest reading any of them makes is taken: escapes decoded
/// up to three times (also IIS's `%uXXXX` and the overlong `%C0%AE`/`%C0%AF`), `\` read as `/`,
/// cut at `?`, `#` or NUL, `;params` dropped, empty and `.` segments dropped, `..` climbing,
/// trailing dots and spaces trimmed (Windows), ASCII case folded. Such a path is refused: the
/// app must never receive an `/.auth/...`-looking path that ezauth did not serve itself.
pub fn reaches_prefix(raw: &str, prefix: &str) -> bool {
    // The common case, on every request: nothing to decode, drop, climb or trim, so the only
    // reading left is the case-folded one. A dot matters only where a segment ends in one
    // (`.`, `..`, and what Windows trims): `/static.txt` and `/.auth` are read as they are.
    if !raw.contains("//")
        && !raw.contains("./")
        && !raw.ends_with('.')
        && !raw
            .bytes()
            .any(|b| matches!(b, b'%' | b'\\' | b';' | b'#' | b'?' | b' ' | 0))
    {
        let (raw, prefix) = (raw.as_bytes(), prefix.trim_end_matches('/').as_bytes());
        return raw.len() >= prefix.len()
            && raw[..prefix.len()].eq_ignore_ascii_case(prefix)
            && matches!(raw.get(prefix.len()), None | Some(b'/'));
    }
    let path = loosest_reading(raw);
    let prefix = loosest_reading(prefix);
    path.strip_prefix(prefix.as_str())
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The loosest reading of a path (see [`reaches_prefix`]), as `/`-joined lowercase segments.
fn loosest_reading(raw: &str) -> String {
    let mut bytes = raw.as_bytes().to_vec();
    for _ in 0..3 {
        let decoded = decode_loosely(&bytes);
        if decoded == bytes {
            break;
        }
        bytes = decoded;
    }
    let end = bytes
        .iter()
        .position(|b| matches!(b, b'?' | b'#' | 0))
        .unwrap_or(bytes.len());
    let text = String::from_utf8_lossy(&bytes[..end])
        .to_ascii_lowercase()
        .replace('\\', "/");
    let mut segments: Vec<&str> = Vec::new();
    for segment in text.split('/') {
        let segment = segment.split(';').next().unwrap_or("");
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            name => match name.trim_end_matches(['.', ' ']) {
                // `...`, `.. `: what Windows trims into `..`.
                "" => {
                    segments.pop();
                }
                trimmed => segments.push(trimmed),
            },
        }
    }
    format!("/{}", segments.join("/"))
}

/// One round of `%XX` decoding, plus IIS's `%uXXXX` for ASCII and the overlong two-byte UTF-8
/// forms of `.` and `/` that old servers decoded.
fn decode_loosely(input: &[u8]) -> Vec<u8> {
    let hex = |b: &[u8]| {
        std::str::from_utf8(b)
            .ok()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
    };
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            if matches!(input.get(i + 1), Some(b'u' | b'U')) {
                if let Some(c) = input.get(i + 2..i + 6).and_then(hex).filter(|c| *c < 0x80) {
                    out.push(c as u8);
                    i += 6;
                    continue;
                }
            }
            if let Some(c) = input.get(i + 1..i + 3).and_then(hex) {
                out.push(c as u8);
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    let mut folded = Vec::with_capacity(out.len());
    let mut j = 0;
    while j < out.len() {
        match (out[j], out.get(j + 1)) {
            (0xC0, Some(0xAE)) => {
                folded.push(b'.');
                j += 2;
            }
            (0xC0, Some(0xAF)) => {
                folded.push(b'/');
                j += 2;
            }
            (b, _) => {
                folded.push(b);
                j += 1;
            }
        }
    }
    folded
}

/// A byte that means the same to every router: printable ASCII but the ones some servers treat
/// as separators, fragment or parameter markers (`\`, `#`, `;`, `?`) and space.
fn is_plain(b: u8) -> bool {
    b.is_ascii_graphic() && !matches!(b, b'\\' | b'#' | b';' | b'?')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path answers as the full reading does, for every short path over the bytes
    /// that matter to it (dots, slashes, case, the prefix's letters).
    #[test]
    fn the_fast_path_agrees_with_the_loosest_reading() {
        let slow = |raw: &str, prefix: &str| {
            let (path, prefix) = (loosest_reading(raw), loosest_reading(prefix));
            path.strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        let alphabet = ['/', '.', 'a', 'A', 'u', 't', 'h', 'x'];
        let mut paths = vec![String::from("/")];
        let mut checked = 0;
        for _ in 0..6 {
            let mut next = Vec::new();
            for p in &paths {
                for c in alphabet {
                    let q = format!("{p}{c}");
                    assert_eq!(reaches_prefix(&q, "/.auth"), slow(&q, "/.auth"), "{q:?}");
                    checked += 1;
                    next.push(q);
                }
            }
            paths = next;
        }
        assert!(checked > 290_000);
    }

    #[test]
    fn paths_a_backend_could_read_as_the_prefix_reach_it() {
        for p in [
            "/%2eauth/me",
            "/%2Eauth/me",
            "/.aut%68/me",
            "/%252eauth/me",
            "/%25252eauth/me",
            "/%u002eauth/me",
            "/%C0%AEauth/me",
            "//.auth/me",
            "/./.auth/me",
            "/x/../.auth/me",
            "/x/%2e%2e/.auth/me",
            "/x%2f..%2f.auth/me",
            "/x\\..\\.auth\\me",
            "\\.auth\\me",
            "/.auth./me",
            "/.auth%20/me",
            "/.auth;x/me",
            "/.AUTH%2fme",
            "/.auth%3F/me",
            "/.auth%23x",
            "/.auth%00.js",
            "/x/.../.auth/me",
            "/.Auth%5Cme",
        ] {
            assert!(reaches_prefix(p, "/.auth"), "{p:?}");
        }
        for p in [
            "/",
            "/app",
            "/auth/me",
            "/.authx/me",
            "/.auth.json",
            "/x/.auth/me",
            "/%2e%2e/x/.auth",
            "/public/a%20b",
        ] {
            assert!(!reaches_prefix(p, "/.auth"), "{p:?}");
        }
        assert!(reaches_prefix("/API/Auth/me", "/api/auth"));
        assert!(reaches_prefix("/API/Auth", "/api/auth"));
        assert!(!reaches_prefix("/API/Authx", "/api/auth"));
        assert!(!reaches_prefix("/api", "/api/auth"));
        assert!(reaches_prefix("/api//auth", "/api/auth"));
        assert!(reaches_prefix("/api/auth%2fme", "/api/auth"));
    }

    #[test]
    fn plain_paths_are_their_own_canonical_form() {
        for p in [
            "/",
            "/health",
            "/public/a.css",
            "/public/",
            "/a-b_c~d/e!$&'()*+,=:@",
        ] {
            assert_eq!(unambiguous(p).as_deref(), Some(p), "{p}");
        }
        assert_eq!(
            unambiguous("/publi%63/a%20b").as_deref(),
            Some("/public/a b")
        );
        assert_eq!(unambiguous("/x%41").as_deref(), Some("/xA"));
    }

    #[test]
    fn anything_two_routers_could_read_differently_is_refused() {
        for p in [
            "",
            "health",
            "/admin/x/%2e%2e/%2e%2e/health",
            "/admin/x/%2E%2e/health",
            "/admin/secret#/../../health",
            "/public/..;/admin",
            "/public;x/a",
            "/public/..%2fadmin",
            "/public/..%2Fadmin",
            "/public/..%5cadmin",
            "/public\\..\\admin",
            "/public/%252e%252e/admin",
            "/public/a%00",
            "/public/a\0",
            "/public/../admin",
            "/public/./a",
            "/./health",
            "//health",
            "//",
            "///",
            "/public//a",
            "/health/..",
            "/public/%",
            "/public/%zz",
            "/public/%2",
            "/public/caf\u{e9}",
            "/public/caf%C3%A9",
            "/public/%C0%AE%C0%AE/admin",
            "/public/a b",
            "/public/a\tb",
            "/public/%3F",
            "/public/a%7F",
            "/public/..%20/admin",
            "/public/.../admin",
            "/public/a./b",
            "/public/a%20",
            "/public/name.",
        ] {
            assert_eq!(unambiguous(p), None, "{p:?}");
        }
    }
}
