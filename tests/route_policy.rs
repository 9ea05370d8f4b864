//! The route table's policy, applied by dispatch: the `{provider}` segment names a configured
//! provider (404 otherwise), routes that need the token store and a signed-in caller answer
//! 404 / 401 without them, and all of that is decided before any blocking step; the table's
//! grace column says which paths take a session past its expiry.

mod support;

use ezauth::http::{Outcome, Request, Response};
use ezauth::logger::Level;
use ezauth::pipeline::Module;
use support::{env, scratch, Captured};

/// A custom provider `idp` with explicit endpoints (nothing to fetch), plain http, anonymous
/// access allowed; with a file token store when `store`.
fn app(store: bool, log: &Captured) -> Module {
    let store = if store {
        format!(
            r#","login":{{"tokenStore":{{"enabled":true,"fileSystem":{{"directory":"{}"}}}}}}"#,
            scratch("route-policy").join("tokens").display()
        )
    } else {
        String::new()
    };
    let json = format!(
        r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}},
            "identityProviders":{{"customOpenIdConnectProviders":{{"idp":{{"registration":{{"clientId":"c",
            "openIdConnectConfiguration":{{"authorizationEndpoint":"https://idp.example/authorize",
            "tokenEndpoint":"https://idp.example/token","certificationUri":"https://idp.example/keys",
            "issuer":"https://idp.example"}}}}}}}}}},
            "httpSettings":{{"requireHttps":false}}{store}}}"#
    );
    let settings = ezauth::config::parse(&json, &env()).unwrap_or_else(|e| panic!("{e}"));
    Module::new(settings, log.logger()).unwrap()
}

/// What `OnBeginRequest` answers, on the event loop (no blocking step run).
fn begin(m: &Module, method: &str, target: &str) -> Outcome {
    m.begin_request(&Request {
        method,
        target,
        scheme: "http",
        host: "app.example",
        client_addr: "127.0.0.1",
        headers: vec![],
        body: b"{}",
    })
}

fn finished(o: Outcome, what: &str) -> Response {
    match o {
        Outcome::Finish(r) => r,
        other => panic!("{what}: expected an answer without a blocking step, got {other:?}"),
    }
}

#[test]
fn an_unknown_provider_is_404_before_any_blocking_step() {
    let cases = [
        (
            "GET",
            "/.auth/login/nope",
            "login: unknown provider \"nope\"",
        ),
        ("HEAD", "/.auth/login/nope", "login: unknown provider"),
        (
            "GET",
            "/.AUTH/LOGIN/Nope/",
            "login: unknown provider \"Nope\"",
        ),
        (
            "POST",
            "/.auth/login/nope",
            "client login: unknown provider",
        ),
        (
            "GET",
            "/.auth/login/nope/callback",
            "callback: unknown provider",
        ),
        (
            "POST",
            "/.auth/login/nope/callback",
            "callback: unknown provider",
        ),
        (
            "GET",
            "/.auth/login/idp2/callback?state=x&code=y",
            "callback: unknown provider",
        ),
    ];
    for (method, target, logged) in cases {
        let log = Captured::default();
        let m = app(false, &log);
        let r = finished(begin(&m, method, target), target);
        assert_eq!(r.status, 404, "{method} {target}");
        assert!(
            String::from_utf8_lossy(&r.body).contains("Unknown identity provider"),
            "{method} {target}"
        );
        assert!(
            log.text().contains(logged),
            "{method} {target}: {}",
            log.text()
        );
    }
}

#[test]
fn a_configured_provider_blocks_where_the_table_says() {
    let log = Captured::default();
    let m = app(false, &log);
    for (method, target) in [
        ("GET", "/.auth/login/idp"),
        ("GET", "/.auth/login/IDP"),
        ("POST", "/.auth/login/idp"),
        ("GET", "/.auth/login/idp/callback"),
        ("POST", "/.auth/login/idp/callback"),
        ("GET", "/.auth/logout"),
    ] {
        assert!(
            matches!(begin(&m, method, target), Outcome::Blocking(_)),
            "{method} {target}"
        );
    }
    // Routes that neither call a provider nor take a lock answer on the event loop.
    for target in [
        "/.auth/login/done",
        "/.auth/logout/complete",
        "/.auth/version",
    ] {
        assert_eq!(
            finished(begin(&m, "GET", target), target).status,
            200,
            "{target}"
        );
    }
}

#[test]
fn signed_in_routes_need_a_store_then_a_caller_before_any_blocking_step() {
    let cases = [
        ("GET", "/.auth/me"),
        ("HEAD", "/.auth/me"),
        ("GET", "/.auth/refresh"),
        ("POST", "/.auth/refresh"),
        ("GET", "/.AUTH/REFRESH/"),
    ];
    for (method, target) in cases {
        let log = Captured::default();
        let r = finished(begin(&app(false, &log), method, target), target);
        assert_eq!(r.status, 404, "{method} {target} without a store");
        assert!(
            String::from_utf8_lossy(&r.body).contains("token store is not enabled"),
            "{method} {target}"
        );

        let log = Captured::default();
        let r = finished(begin(&app(true, &log), method, target), target);
        assert_eq!(r.status, 401, "{method} {target} anonymous");
        let logged = log
            .lines()
            .iter()
            .any(|(l, m)| *l == Level::Info && m.contains("not signed in"));
        assert!(logged, "{method} {target}: {}", log.text());
    }
}

#[test]
fn the_grace_window_applies_where_the_table_says() {
    use ezauth::routes::accepts_expired_session;
    for rest in ["/refresh", "/REFRESH", "/Refresh", "/logout", "/LogOut"] {
        assert!(accepts_expired_session(rest), "{rest}");
    }
    for rest in [
        "/me",
        "//refresh",
        "/refresh/x",
        "/logout/complete",
        "/logout/done",
        "/login/idp",
        "/refresh2",
        "",
    ] {
        assert!(!accepts_expired_session(rest), "{rest}");
    }
}
