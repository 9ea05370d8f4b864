//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz), one per parser of untrusted
//! input. `tests/fuzz_corpus.rs` replays every committed corpus file through them in the normal
//! test run, so what a fuzzer once found stays fixed. Each must return normally for any input.
#![doc(hidden)]

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::crypto::{jwt, Keys};
use crate::http::{parse_unique_params, Request};
use crate::logger::Logger;
use crate::pipeline::Module;
use crate::{config, redirect, session};

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys::new(&[0x42; 32], &[0x24; 32], &[]))
}

fn env() -> HashMap<String, String> {
    HashMap::from([
        ("WEBSITE_AUTH_ENCRYPTION_KEY".to_owned(), "42".repeat(32)),
        ("WEBSITE_AUTH_SIGNING_KEY".to_owned(), "24".repeat(32)),
        ("IDP_SECRET".to_owned(), "s".to_owned()),
    ])
}

/// A session cookie value (the `Cookie` header around it is built here).
pub fn session_cookie(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let header = format!("AppServiceAuthSession={text}");
    let req = Request {
        method: "GET",
        target: "/",
        scheme: "https",
        host: "app.example",
        client_addr: "",
        headers: vec![("Cookie", &header), ("Cookie", text)],
        body: b"",
    };
    for names in [
        session::CookieNames::APP_SERVICE,
        session::CookieNames::HOST_PREFIXED,
    ] {
        let _ = session::read_cookie(&req, names, keys(), "app", 0);
        let cookies = session::SessionCookies::parse(&req, names);
        let _ = cookies.clear_all(text, text, true);
        let _ = cookies.clear_unused(1, text, text, false);
    }
    let _ = session::open_cookie(text, keys(), "app", 0);
}

/// A JWT: parsing, HS256 verification, claim checks, and a session-token check.
pub fn jwt(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = jwt::parse(token) {
        let _ = parsed.verify_hs256(b"key");
        let _ = parsed.check_lifetime(1_700_000_000, 60, 3660);
        let _ = parsed.has_audience("a");
        let _ = parsed.verify_with_jwks(&jwt::Jwks::default());
    }
    let _ = session::verify_token(
        token,
        keys(),
        "https://app.example/",
        "app",
        1_700_000_000,
        0,
    );
}

/// A JWKS document.
pub fn jwks(data: &[u8]) {
    if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = jwt::Jwks::from_json(&doc);
    }
}

/// A configuration file.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = config::parse(text, &env());
    }
}

/// A post-login / post-logout redirect target.
pub fn redirect(data: &[u8]) {
    if let Ok(target) = std::str::from_utf8(data) {
        let origin = redirect::Origin {
            scheme: "https",
            host: "app.example",
        };
        let allowed = ["https://allowed.example/path".to_owned()];
        if let Ok(out) = redirect::validate(target, &origin, &allowed) {
            // Whatever is accepted must never read as another host.
            assert!(!out.starts_with("//") && !out.starts_with("/\\"), "{out:?}");
        }
    }
}

/// Callback query strings and form bodies.
pub fn params(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_unique_params(text);
    }
}

fn module() -> &'static Module {
    shared_module()
}

/// The fuzz module in an `Arc`, as the C ABI holds modules: the FFI target passes it as a
/// handle (`Arc::as_ptr`), and this static's reference keeps it alive.
fn shared_module() -> &'static std::sync::Arc<Module> {
    static MODULE: OnceLock<std::sync::Arc<Module>> = OnceLock::new();
    MODULE.get_or_init(|| {
        let settings = config::parse(
            r#"{"globalValidation":{"unauthenticatedClientAction":"RedirectToLoginPage","excludedPaths":["/public/*"]},
            "identityProviders":{"customOpenIdConnectProviders":{"idp":{"registration":{"clientId":"c",
              "clientCredential":{"clientSecretSettingName":"IDP_SECRET"},
              "openIdConnectConfiguration":{"authorizationEndpoint":"https://idp.example/a","tokenEndpoint":"https://idp.example/t",
              "certificationUri":"https://idp.example/k","issuer":"https://idp.example"}}}}},
            "httpSettings":{"requireHttps":false}}"#,
            &env(),
        )
        .expect("the fuzz configuration is valid");
        std::sync::Arc::new(Module::new(settings, Logger::silent()).expect("no store to open"))
    })
}

/// A whole request: lines of `method target`, then `name: value` headers, then a body after an
/// empty line. Only the non-blocking step runs: nothing here may touch the network.
pub fn request(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let Some((method, target)) = lines.next().and_then(|l| l.split_once(' ')) else {
        return;
    };
    let headers: Vec<(&str, &str)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim(), v.trim()))
        .collect();
    let req = Request {
        method,
        target,
        scheme: "http",
        host: headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("host"))
            .map_or("app.example", |(_, v)| v),
        client_addr: "127.0.0.1",
        headers,
        body: body.as_bytes(),
    };
    let _ = module().begin_request(&req);
}

/// Differential path judgement: a raw path the module calls unambiguous must route to its
/// canonical form under every way backends read paths (WHATWG URL, Werkzeug, Tomcat's `;`
/// parameters, nginx's merging and dot resolution, IIS's backslashes).
pub fn paths(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Some(canonical) = crate::paths::unambiguous(raw) else {
        return;
    };
    for (backend, routed) in backend_routes(raw) {
        assert_eq!(routed, *canonical, "{backend} routes {raw:?} elsewhere");
    }
}

/// How common backends route a raw path (before `?`), each reduced to a decoded path.
fn backend_routes(raw: &str) -> Vec<(&'static str, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let resolve = |path: &str, merge: bool| {
        let mut out: Vec<&str> = Vec::new();
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        let last = segments.len().saturating_sub(1);
        for (i, seg) in segments.iter().enumerate() {
            match *seg {
                "." => {}
                ".." => {
                    out.pop();
                }
                "" if merge && i != last => {}
                s => out.push(s),
            }
        }
        format!("/{}", out.join("/"))
    };
    let whatwg = {
        let no_fragment = raw.split('#').next().unwrap_or("");
        let slashed = no_fragment.replace('\\', "/");
        let dotted: Vec<String> = slashed
            .split('/')
            .map(|seg| match seg.to_ascii_lowercase().as_str() {
                "%2e" => ".".to_owned(),
                ".%2e" | "%2e." | "%2e%2e" => "..".to_owned(),
                _ => seg.to_owned(),
            })
            .collect();
        decode(&resolve(&dotted.join("/"), false))
    };
    let tomcat = {
        let stripped: Vec<&str> = raw
            .split('/')
            .map(|seg| seg.split(';').next().unwrap_or(""))
            .collect();
        resolve(&decode(&stripped.join("/")), false)
    };
    vec![
        ("WHATWG URL", whatwg),
        ("Werkzeug", decode(raw)),
        ("Tomcat", tomcat),
        ("nginx", resolve(&decode(raw), true)),
        ("IIS", resolve(&decode(&raw.replace('\\', "/")), false)),
    ]
}

/// The header scrub on raw bytes, through the C ABI: lines of `name:value` bytes. Any header
/// whose name is reserved (any case, `_` for `-`, even padded with whitespace) is either
/// listed for removal or the request is refused.
pub fn scrub(data: &[u8]) {
    use crate::ffi::*;
    let pairs: Vec<(&[u8], &[u8])> = data
        .split(|b| *b == b'\n')
        .filter_map(|line| {
            let at = line.iter().position(|b| *b == b':')?;
            Some((&line[..at], &line[at + 1..]))
        })
        .take(64)
        .collect();
    let view = |b: &[u8]| ezauth_str {
        ptr: b.as_ptr(),
        len: b.len(),
    };
    let headers: Vec<ezauth_header> = pairs
        .iter()
        .map(|(n, v)| ezauth_header {
            name: view(n),
            value: view(v),
        })
        .collect();
    let req = ezauth_request {
        method: view(b"GET"),
        target: view(b"/public/a"),
        scheme: view(b"http"),
        host: view(b"app.example"),
        client_addr: view(b"127.0.0.1"),
        headers: headers.as_ptr(),
        header_count: headers.len(),
        body: view(b""),
    };
    let module = std::sync::Arc::as_ptr(shared_module()) as *const ezauth_module;
    unsafe {
        let mut out = std::ptr::null_mut();
        assert_eq!(
            ezauth_module_begin_request(module, &req, std::ptr::null_mut(), &mut out),
            ezauth_result::EZAUTH_OK
        );
        let action = ezauth_outcome_action(out);
        let removed: Vec<Vec<u8>> =
            (0..ezauth_outcome_header_count(out, EZAUTH_HEADERS_REQUEST_REMOVE))
                .map(|i| {
                    let mut h = ezauth_header {
                        name: view(b""),
                        value: view(b""),
                    };
                    ezauth_outcome_header(out, EZAUTH_HEADERS_REQUEST_REMOVE, i, &mut h);
                    std::slice::from_raw_parts(h.name.ptr, h.name.len).to_vec()
                })
                .collect();
        let refused =
            action == ezauth_action::EZAUTH_ACTION_FINISH && ezauth_outcome_status(out) == 400;
        ezauth_outcome_free(out);
        if refused {
            return;
        }
        assert_eq!(action, ezauth_action::EZAUTH_ACTION_CONTINUE);
        for (name, _) in &pairs {
            let normalized: Vec<u8> = name
                .trim_ascii()
                .iter()
                .map(|b| {
                    if *b == b'_' {
                        b'-'
                    } else {
                        b.to_ascii_lowercase()
                    }
                })
                .collect();
            let reserved = normalized.starts_with(b"x-ms-client-principal")
                || normalized.starts_with(b"x-ms-token-");
            if reserved {
                assert!(
                    removed.iter().any(|r| r == name),
                    "reserved header {:?} passed through",
                    String::from_utf8_lossy(name)
                );
            }
        }
    }
}
