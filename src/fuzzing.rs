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
    let _ = session::read_cookie(&req, keys(), "app", 0);
    let _ = session::open_cookie(text, keys(), "app", 0);
}

/// A JWT: parsing, HS256 verification, claim checks, and a session-token check.
pub fn jwt(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = jwt::parse(token) {
        let _ = parsed.verify_hs256(b"key");
        let _ = parsed.check_lifetime(1_700_000_000, 60, 3600);
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
    static MODULE: OnceLock<Module> = OnceLock::new();
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
        Module::new(settings, Logger::silent()).expect("no store to open")
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
