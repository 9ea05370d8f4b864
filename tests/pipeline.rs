//! Pipeline behavior that needs no identity provider: origin resolution (forward proxy),
//! requireHttps, the API prefix, the module switch, excluded paths, and the 401-vs-302 choice.

use std::collections::HashMap;

use ezauth::http::{Outcome, Request, Response};
use ezauth::logger::Logger;
use ezauth::pipeline::Module;

fn module(extra: &str) -> Module {
    let env = HashMap::from([
        ("WEBSITE_AUTH_ENCRYPTION_KEY".to_owned(), "55".repeat(32)),
        ("WEBSITE_AUTH_SIGNING_KEY".to_owned(), "66".repeat(32)),
    ]);
    // Explicit endpoints: starting a login needs no network.
    let json = format!(
        r#"{{"identityProviders":{{"customOpenIdConnectProviders":{{"idp":{{"registration":{{"clientId":"c",
            "openIdConnectConfiguration":{{"authorizationEndpoint":"https://idp.example/authorize",
            "tokenEndpoint":"https://idp.example/token","certificationUri":"https://idp.example/keys",
            "issuer":"https://idp.example"}}}}}}}}}}{extra}}}"#
    );
    let settings = ezauth::config::parse(&json, &env).unwrap_or_else(|e| panic!("{e}"));
    Module::new(settings, Logger::silent()).unwrap()
}

fn run(m: &Module, method: &str, target: &str, scheme: &str, headers: &[(&str, &str)]) -> Outcome {
    let req = Request {
        method,
        target,
        scheme,
        host: "app.example",
        client_addr: "127.0.0.1",
        headers: headers.to_vec(),
        body: b"",
    };
    match m.begin_request(&req) {
        Outcome::Blocking(owned) => m.run_blocking(&owned),
        other => other,
    }
}

fn finished(o: Outcome) -> Response {
    match o {
        Outcome::Finish(r) => r,
        other => panic!("expected a finished response, got {other:?}"),
    }
}

fn location(r: &Response) -> String {
    r.headers
        .iter()
        .find(|(n, _)| n == "Location")
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

const HTTP_OK: &str = r#","httpSettings":{"requireHttps":false}"#;

#[test]
fn forwarded_headers_count_only_when_configured() {
    let spoofed = [
        ("Host", "app.example"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "https"),
    ];
    let plain = module(HTTP_OK);
    let r = finished(run(&plain, "GET", "/.auth/login/idp", "http", &spoofed));
    assert_eq!(r.status, 302);
    assert!(
        location(&r)
            .contains("redirect_uri=http%3A%2F%2Fapp.example%2F.auth%2Flogin%2Fidp%2Fcallback"),
        "{}",
        location(&r)
    );

    let proxied = module(
        r#","httpSettings":{"requireHttps":false,"forwardProxy":{"convention":"Standard"}}"#,
    );
    let r = finished(run(&proxied, "GET", "/.auth/login/idp", "http", &spoofed));
    assert!(
        location(&r).contains("redirect_uri=https%3A%2F%2Fevil.example%2F.auth"),
        "{}",
        location(&r)
    );

    let custom = module(
        r#","httpSettings":{"requireHttps":false,"forwardProxy":{"convention":"Custom","customHostHeaderName":"X-Original-Host"}}"#,
    );
    let r = finished(run(
        &custom,
        "GET",
        "/.auth/login/idp",
        "http",
        &[
            ("X-Original-Host", "front.example"),
            ("X-Forwarded-Host", "evil.example"),
        ],
    ));
    assert!(location(&r).contains("front.example"), "{}", location(&r));
    assert!(!location(&r).contains("evil.example"));
}

/// The login redirect's `redirect_uri` origin, e.g. `https://front.example`, or the status of a
/// refusal.
fn callback_origin(m: &Module, headers: &[(&str, &str)]) -> Result<String, u16> {
    let r = finished(run(m, "GET", "/.auth/login/idp", "http", headers));
    if r.status != 302 {
        return Err(r.status);
    }
    let url = url::Url::parse(&location(&r)).unwrap();
    let redirect = url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let redirect = url::Url::parse(&redirect).unwrap();
    Ok(redirect.origin().ascii_serialization())
}

/// A proxy appends its value to what the client sent (`X-Forwarded-Host: client, proxy`, or a
/// header line of its own after the client's): only the last value is the trusted proxy's.
#[test]
fn forwarded_headers_count_by_their_last_value() {
    let standard = module(
        r#","httpSettings":{"requireHttps":false,"forwardProxy":{"convention":"Standard"}}"#,
    );
    let h = "X-Forwarded-Host";
    let p = "X-Forwarded-Proto";
    let host_cases: &[(&[(&str, &str)], &str)] = &[
        (&[(h, "front.example")], "http://front.example"),
        (
            &[(h, "evil.example, front.example")],
            "http://front.example",
        ),
        (&[(h, "evil.example,front.example")], "http://front.example"),
        (
            &[(h, " evil.example ,  front.example  ")],
            "http://front.example",
        ),
        (
            &[(h, "a.example, evil.example, front.example")],
            "http://front.example",
        ),
        // the client's own line, then the proxy's
        (
            &[(h, "evil.example"), (h, "front.example")],
            "http://front.example",
        ),
        (
            &[(h, "evil.example"), ("x-forwarded-host", "front.example")],
            "http://front.example",
        ),
        (
            &[
                ("X-FORWARDED-HOST", "evil.example, x.example"),
                (h, "front.example"),
            ],
            "http://front.example",
        ),
        (
            &[
                (h, "evil.example"),
                ("X-Other", "1"),
                (h, "front.example:8443"),
            ],
            "http://front.example:8443",
        ),
        // an empty last value is none: never the client's earlier one, but Host
        (&[(h, "evil.example,")], "http://app.example"),
        (&[(h, "evil.example, ")], "http://app.example"),
        (&[(h, "evil.example"), (h, "")], "http://app.example"),
        (&[(h, "")], "http://app.example"),
        (&[], "http://app.example"),
    ];
    for (headers, want) in host_cases {
        let mut all = vec![("Host", "app.example")];
        all.extend_from_slice(headers);
        assert_eq!(
            callback_origin(&standard, &all).as_deref(),
            Ok(*want),
            "{headers:?}"
        );
    }
    let proto_cases: &[(&[(&str, &str)], &str)] = &[
        (&[(p, "https")], "https://app.example"),
        (&[(p, "http, https")], "https://app.example"),
        (&[(p, "https, http")], "http://app.example"),
        (&[(p, "https"), (p, "http")], "http://app.example"),
        (&[(p, "http"), (p, "HTTPS")], "https://app.example"),
        (&[(p, "https, ")], "http://app.example"),
    ];
    for (headers, want) in proto_cases {
        assert_eq!(
            callback_origin(&standard, headers).as_deref(),
            Ok(*want),
            "{headers:?}"
        );
    }
    // a bad last value is refused, whatever came before it
    for headers in [
        &[(h, "front.example, evil/example")][..],
        &[(h, "front.example"), (h, "a b")],
        &[(p, "https, gopher")],
        &[(p, "https"), (p, "ftp")],
    ] {
        assert_eq!(callback_origin(&standard, headers), Err(400), "{headers:?}");
    }
    // ...and a bad earlier value (the client's) does not matter
    assert_eq!(
        callback_origin(
            &standard,
            &[(h, "evil/x, front.example"), (p, "gopher, https")]
        )
        .as_deref(),
        Ok("https://front.example")
    );

    // Custom headers the same way: a proxy that replaces the header leaves one value; one that
    // appends leaves its own last
    let custom = module(
        r#","httpSettings":{"requireHttps":false,"forwardProxy":{"convention":"Custom","customHostHeaderName":"X-Original-Host","customProtoHeaderName":"X-Original-Proto"}}"#,
    );
    let oh = "X-Original-Host";
    let op = "X-Original-Proto";
    let custom_cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[(oh, "front.example"), (op, "https")],
            "https://front.example",
        ),
        (
            &[(oh, "evil.example, front.example")],
            "http://front.example",
        ),
        (
            &[(oh, "evil.example"), (oh, "front.example")],
            "http://front.example",
        ),
        (&[(op, "http"), (op, "https")], "https://app.example"),
        (&[(oh, "evil.example,")], "http://app.example"),
        // the standard names mean nothing under Custom
        (&[(h, "evil.example"), (p, "https")], "http://app.example"),
    ];
    for (headers, want) in custom_cases {
        assert_eq!(
            callback_origin(&custom, headers).as_deref(),
            Ok(*want),
            "{headers:?}"
        );
    }
}

#[test]
fn require_https_redirects_plain_http() {
    let m = module(r#","globalValidation":{"unauthenticatedClientAction":"AllowAnonymous"}"#);
    let r = finished(run(&m, "GET", "/page?x=1", "http", &[]));
    assert_eq!(
        (r.status, location(&r).as_str()),
        (302, "https://app.example/page?x=1")
    );
    assert_eq!(finished(run(&m, "POST", "/page", "http", &[])).status, 403);
    assert!(matches!(
        run(&m, "GET", "/page", "https", &[]),
        Outcome::Continue(_)
    ));
}

#[test]
fn api_prefix_moves_the_routes() {
    let m = module(
        r#","httpSettings":{"requireHttps":false,"routes":{"apiPrefix":"/_auth"}},"globalValidation":{"unauthenticatedClientAction":"AllowAnonymous"}"#,
    );
    let r = finished(run(&m, "GET", "/_auth/version", "http", &[]));
    assert_eq!(r.status, 200);
    // The default prefix is now an ordinary path of the app.
    assert!(matches!(
        run(&m, "GET", "/.auth/version", "http", &[]),
        Outcome::Continue(_)
    ));
}

#[test]
fn a_configured_logout_endpoint_signs_out_too() {
    let m = module(
        r#","httpSettings":{"requireHttps":false},"login":{"routes":{"logoutEndpoint":"/signout"}}"#,
    );
    // Logout takes the user's store lock: it runs in the host's blocking step.
    let req = Request {
        method: "GET",
        target: "/signout",
        scheme: "http",
        host: "app.example",
        client_addr: "",
        headers: vec![],
        body: b"",
    };
    assert!(matches!(m.begin_request(&req), Outcome::Blocking(_)));
    let r = finished(run(&m, "GET", "/signout", "http", &[]));
    assert_eq!(
        (r.status, location(&r).as_str()),
        (302, "/.auth/logout/complete")
    );
    assert!(r
        .headers
        .iter()
        .any(|(n, v)| n == "Set-Cookie" && v.starts_with("AppServiceAuthSession=;")));
    assert_eq!(
        finished(run(
            &m,
            "GET",
            "/signout?post_logout_redirect_uri=//evil.example",
            "http",
            &[]
        ))
        .status,
        400
    );
}

#[test]
fn a_disabled_module_passes_requests_but_still_scrubs() {
    let m = module(r#","platform":{"enabled":false},"httpSettings":{"requireHttps":false}"#);
    match run(
        &m,
        "GET",
        "/.auth/me",
        "http",
        &[("X-MS-CLIENT-PRINCIPAL-NAME", "admin")],
    ) {
        Outcome::Continue(f) => {
            assert_eq!(f.remove, vec!["X-MS-CLIENT-PRINCIPAL-NAME".to_owned()]);
            assert!(f.set.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unauthenticated_requests_redirect_only_when_they_can_follow() {
    let m = module(HTTP_OK);
    let r = finished(run(&m, "GET", "/page?a=b", "http", &[]));
    assert_eq!(r.status, 302);
    assert!(location(&r).starts_with("https://idp.example/authorize?"));
    for headers in [
        &[("X-Requested-With", "XMLHttpRequest")][..],
        &[("Sec-Fetch-Mode", "cors")][..],
        &[("ZUMO-API-VERSION", "2.0.0")][..],
    ] {
        assert_eq!(
            finished(run(&m, "GET", "/page", "http", headers)).status,
            401,
            "{headers:?}"
        );
    }
    assert_eq!(finished(run(&m, "POST", "/page", "http", &[])).status, 401);
    assert_eq!(
        finished(run(
            &m,
            "GET",
            "/page",
            "http",
            &[("Sec-Fetch-Mode", "navigate")]
        ))
        .status,
        302
    );
}

#[test]
fn excluded_paths_cannot_be_escaped_with_dot_segments() {
    let m = module(
        r#","httpSettings":{"requireHttps":false},"globalValidation":{"unauthenticatedClientAction":"Return401","excludedPaths":["/public/*"]}"#,
    );
    assert!(matches!(
        run(&m, "GET", "/public/a.css", "http", &[]),
        Outcome::Continue(_)
    ));
    for target in [
        "/publi%63/a.css",
        "/public/../admin",
        "/public/%2e%2e/admin",
        "/public/..%2fadmin",
    ] {
        assert_eq!(
            finished(run(&m, "GET", target, "http", &[])).status,
            401,
            "{target}"
        );
    }
}

#[test]
fn a_request_target_that_reads_as_another_host_never_becomes_the_post_login_target() {
    let m = module(HTTP_OK);
    let login_target = |target: &str| -> String {
        let r = finished(run(&m, "GET", target, "http", &[]));
        assert!(location(&r).starts_with("https://idp.example/authorize?"));
        let cookie = r
            .headers
            .iter()
            .find(|(n, v)| n == "Set-Cookie" && v.starts_with("AppServiceAuthLogin_"))
            .map(|(_, v)| {
                v.split(';')
                    .next()
                    .unwrap()
                    .split_once('=')
                    .unwrap()
                    .1
                    .to_owned()
            })
            .expect("a login state cookie");
        let keys = ezauth::crypto::Keys::new(&[0x55; 32], &[0x66; 32], &[]);
        let sealed = ezauth::crypto::b64url_decode(&cookie).unwrap();
        let plain = keys
            .open(
                ezauth::crypto::Purpose::LoginState,
                m.settings().app_id.as_bytes(),
                &sealed,
            )
            .unwrap();
        let state: serde_json::Value = serde_json::from_slice(&plain).unwrap();
        state["redirect"].as_str().unwrap().to_owned()
    };
    assert_eq!(login_target("/app/page?x=1"), "/app/page?x=1");
    assert_eq!(login_target("//evil.example/x"), "/");
    assert_eq!(login_target("/\\evil.example/x"), "/");
}

#[test]
fn two_host_lines_are_refused() {
    let m = module(HTTP_OK);
    for hosts in [
        &[("Host", "app.example"), ("Host", "evil.example")][..],
        &[("Host", "app.example"), ("host", "app.example")],
        &[
            ("HOST", "evil.example"),
            ("Host", "app.example"),
            ("Host", "x"),
        ],
    ] {
        let r = finished(run(&m, "GET", "/.auth/login/idp", "http", hosts));
        assert_eq!(r.status, 400, "{hosts:?}");
    }
    let r = finished(run(
        &m,
        "GET",
        "/.auth/login/idp",
        "http",
        &[("Host", "app.example")],
    ));
    assert_eq!(r.status, 302);
}
