//! The audit's attack classes through the C ABI, as a host passes requests: reserved headers on
//! raw bytes, header names that are not tokens, path judgement, preflights, session revocation
//! and credentials bound to their app. Each class is a table of variants; every answer is
//! checked for header values a proxy could split.

use std::path::PathBuf;
use std::ptr;

use ezauth::clock::{Clock, SystemClock};
use ezauth::config::Settings;
use ezauth::crypto::Keys;
use ezauth::ffi::*;
use ezauth::session::{self, Principal, Session};
use ezauth::store::file::FileStore;
use ezauth::store::{TokenRecord, TokenStore};

const ENC: &str = "5151515151515151515151515151515151515151515151515151515151515151";
const SIGN: &str = "6262626262626262626262626262626262626262626262626262626262626262";

fn s(v: &[u8]) -> ezauth_str {
    ezauth_str {
        ptr: v.as_ptr(),
        len: v.len(),
    }
}

unsafe fn string(v: ezauth_str) -> String {
    String::from_utf8_lossy(std::slice::from_raw_parts(v.ptr, v.len)).into_owned()
}

/// A module loaded from a file, with the settings it was loaded from.
struct App {
    module: *mut ezauth_module,
    settings: Settings,
    dir: PathBuf,
}

impl Drop for App {
    fn drop(&mut self) {
        unsafe { ezauth_module_free(self.module) };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn app(name: &str, extra: &str) -> App {
    app_with(
        name,
        r#""tokenStore":{"enabled":true,"fileSystem":{"directory":"TOKENS"}}"#,
        extra,
    )
}

fn app_with(name: &str, login: &str, extra: &str) -> App {
    let dir = std::env::temp_dir().join(format!("ezauth-sec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("auth.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"globalValidation":{{"unauthenticatedClientAction":"Return401","excludedPaths":["/health","/public/*"]}},
            "identityProviders":{{"customOpenIdConnectProviders":{{"idp":{{"registration":{{"clientId":"c",
              "openIdConnectConfiguration":{{"authorizationEndpoint":"http://127.0.0.1:9/a","tokenEndpoint":"http://127.0.0.1:9/t",
              "certificationUri":"http://127.0.0.1:9/k","issuer":"http://127.0.0.1:9"}}}}}}}}}},
            "login":{{{login}}},
            "httpSettings":{{"requireHttps":false}}{extra}}}"#,
            login = login.replace("TOKENS", &dir.join("tokens").display().to_string()),
        ),
    )
    .unwrap();
    std::env::set_var("WEBSITE_AUTH_ENCRYPTION_KEY", ENC);
    std::env::set_var("WEBSITE_AUTH_SIGNING_KEY", SIGN);
    let settings = ezauth::config::load_file(&config, &ezauth::config::ProcessEnvironment)
        .unwrap_or_else(|e| panic!("{e}"));
    App {
        module: load(&config),
        settings,
        dir,
    }
}

/// Loads a module through the ABI, as a host does.
fn load(config: &std::path::Path) -> *mut ezauth_module {
    let path = config.to_str().unwrap().as_bytes().to_vec();
    let mut module = ptr::null_mut();
    let rc = unsafe {
        ezauth_module_new(
            s(&path),
            None,
            ptr::null_mut(),
            &mut module,
            ptr::null_mut(),
        )
    };
    assert_eq!(rc, ezauth_result::EZAUTH_OK);
    module
}

/// What the module answered, read back through the ABI.
#[derive(Debug)]
struct Answer {
    action: ezauth_action,
    status: u16,
    remove: Vec<String>,
    set: Vec<(String, String)>,
    response: Vec<(String, String)>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.response
            .iter()
            .chain(&self.set)
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn continued(&self) -> bool {
        self.action == ezauth_action::EZAUTH_ACTION_CONTINUE
    }
}

impl App {
    fn request(&self, method: &[u8], target: &[u8], headers: &[(&[u8], &[u8])]) -> Answer {
        let mut all: Vec<(&[u8], &[u8])> = vec![(b"Host", b"app.example")];
        all.extend_from_slice(headers);
        let raw: Vec<ezauth_header> = all
            .iter()
            .map(|(n, v)| ezauth_header {
                name: s(n),
                value: s(v),
            })
            .collect();
        let req = ezauth_request {
            method: s(method),
            target: s(target),
            scheme: s(b"http"),
            host: s(b"app.example"),
            client_addr: s(b"127.0.0.1"),
            headers: raw.as_ptr(),
            header_count: raw.len(),
            body: s(b""),
        };
        unsafe {
            let mut out = ptr::null_mut();
            assert_eq!(
                ezauth_module_begin_request(self.module, &req, ptr::null_mut(), &mut out),
                ezauth_result::EZAUTH_OK
            );
            if ezauth_outcome_action(out) == ezauth_action::EZAUTH_ACTION_BLOCKING {
                assert_eq!(ezauth_outcome_run_blocking(out), ezauth_result::EZAUTH_OK);
            }
            let list = |set: ezauth_header_set| -> Vec<(String, String)> {
                (0..ezauth_outcome_header_count(out, set))
                    .map(|i| {
                        let mut h = ezauth_header {
                            name: s(b""),
                            value: s(b""),
                        };
                        assert_eq!(
                            ezauth_outcome_header(out, set, i, &mut h),
                            ezauth_result::EZAUTH_OK
                        );
                        (string(h.name), string(h.value))
                    })
                    .collect()
            };
            let answer = Answer {
                action: ezauth_outcome_action(out),
                status: ezauth_outcome_status(out),
                remove: list(EZAUTH_HEADERS_REQUEST_REMOVE)
                    .into_iter()
                    .map(|(n, _)| n)
                    .collect(),
                set: list(EZAUTH_HEADERS_REQUEST_SET),
                response: list(EZAUTH_HEADERS_RESPONSE),
            };
            ezauth_outcome_free(out);
            for (n, v) in answer.set.iter().chain(&answer.response) {
                assert!(
                    ezauth::headers::is_token(n.as_bytes()) && ezauth::headers::is_safe_value(v),
                    "unsafe header written: {n:?}: {v:?}"
                );
            }
            answer
        }
    }

    fn get(&self, target: &str, headers: &[(&str, &str)]) -> Answer {
        let headers: Vec<(&[u8], &[u8])> = headers
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        self.request(b"GET", target.as_bytes(), &headers)
    }

    fn keys(&self) -> &Keys {
        &self.settings.keys
    }

    fn store(&self) -> FileStore {
        FileStore::open(&self.dir.join("tokens"), self.keys().clone()).unwrap()
    }

    /// A signed-in session of `user`, with a stored record, as a callback would leave it.
    fn sign_in(&self, user: &str) -> Session {
        let principal = Principal {
            sid: format!("sid:{user:0>32}"),
            idp: "idp".into(),
            id: user.into(),
            name: format!("{user}@example.test"),
            header: ezauth::crypto::b64(br#"{"auth_typ":"idp","claims":[]}"#),
        };
        let record = TokenRecord {
            provider_name: "idp".into(),
            user_id: principal.name.clone(),
            access_token: Some(format!("access-{user}")),
            ..Default::default()
        };
        self.store().sign_in(&principal.sid, &record).unwrap();
        let now = SystemClock.now();
        Session::start(principal, now, now + 3600)
    }

    fn cookie(&self, session: &Session) -> String {
        let set = session::write_cookie(
            session,
            self.keys(),
            &self.settings.app_id,
            self.settings.cookie_names(),
            false,
            0,
            3600,
        );
        set[0].split(';').next().unwrap().to_owned()
    }

    fn token(&self, session: &Session) -> String {
        session::mint_token(
            self.keys(),
            session,
            "http://app.example/",
            &self.settings.app_id,
        )
    }
}

fn forged_principal() -> String {
    ezauth::crypto::b64(
        br#"{"auth_typ":"aad","claims":[{"typ":"name","val":"admin"}],"name_typ":"name","role_typ":"roles"}"#,
    )
}

const RESERVED: &[&str] = &[
    "X-MS-CLIENT-PRINCIPAL",
    "X-MS-CLIENT-PRINCIPAL-ID",
    "X-MS-CLIENT-PRINCIPAL-NAME",
    "X-MS-CLIENT-PRINCIPAL-IDP",
    "x-ms-client-principal",
    "X-Ms-Client-Principal-Name",
    "X_MS_CLIENT_PRINCIPAL",
    "x_ms_client_principal_name",
    "X-MS_CLIENT-PRINCIPAL_ID",
    "X-MS-TOKEN-AAD-ACCESS-TOKEN",
    "x-ms-token-aad-id-token",
    "X_MS_TOKEN_IDP_REFRESH_TOKEN",
    "X-Ms-Token-Google-Access-Token",
];

fn value_variants() -> Vec<Vec<u8>> {
    let forged = forged_principal().into_bytes();
    let with = |tail: &[u8]| [forged.as_slice(), tail].concat();
    vec![
        forged.clone(),
        with(b"\xff"),
        with(b"\x00"),
        with(b"\x80\xfe"),
        [b"\xc3\x28".as_slice(), &forged].concat(),
        b"admin".to_vec(),
        Vec::new(),
        b"\xff\xfe\xfd".to_vec(),
    ]
}

#[test]
fn reserved_headers_are_removed_whatever_their_value_bytes() {
    let a = app("scrub", "");
    let alice = a.sign_in("alice");
    let cookie = a.cookie(&alice);
    let mut tried = 0;
    for name in RESERVED {
        for value in value_variants() {
            for (who, target) in [
                ("anonymous, excluded path", "/health"),
                ("anonymous, protected path", "/admin"),
                ("signed in", "/admin"),
            ] {
                let mut headers: Vec<(&[u8], &[u8])> = vec![(name.as_bytes(), &value)];
                if who == "signed in" {
                    headers.push((b"Cookie", cookie.as_bytes()));
                }
                let r = a.request(b"GET", target.as_bytes(), &headers);
                tried += 1;
                let case = format!("{name} = {value:?} ({who})");
                if !r.continued() {
                    assert!(r.status == 401 || r.status == 400, "{case}: {r:?}");
                    continue;
                }
                assert!(
                    r.remove.iter().any(|n| n == name),
                    "{case}: not removed: {r:?}"
                );
                if who == "signed in" {
                    assert_eq!(
                        r.header("X-MS-CLIENT-PRINCIPAL-NAME"),
                        Some("alice@example.test"),
                        "{case}"
                    );
                } else {
                    assert!(r.set.is_empty(), "{case}: {r:?}");
                }
            }
        }
    }
    assert!(tried >= 300, "{tried}");
}

#[test]
fn header_names_that_are_not_tokens_are_refused() {
    let a = app("names", "");
    for name in [
        &b" X-MS-CLIENT-PRINCIPAL-NAME"[..],
        b"\tX-MS-CLIENT-PRINCIPAL-NAME",
        b"X-MS-CLIENT-PRINCIPAL-NAME ",
        b"X-MS-CLIENT-PRINCIPAL-NAME\x00",
        b"X-MS-CLIENT\xffPRINCIPAL",
        b"X-MS-CLIENT-PRINCIPAL:NAME",
        b"X MS CLIENT PRINCIPAL",
        b"",
        b"\r\nX-MS-CLIENT-PRINCIPAL",
    ] {
        let r = a.request(b"GET", b"/health", &[(name, b"admin")]);
        assert_eq!(
            (r.action, r.status),
            (ezauth_action::EZAUTH_ACTION_FINISH, 400),
            "{name:?}"
        );
    }
}

/// Targets that some router reads as another path than they look: with `/health` and
/// `/public/*` excluded, none may pass anonymously.
const AMBIGUOUS: &[&str] = &[
    "/admin/x/%2e%2e/%2e%2e/health",
    "/admin/x/%2E%2E/%2E%2E/health",
    "/admin/x/%2e%2E/../health",
    "/admin/secret#/../../health",
    "/admin#/health",
    "/public/..;/admin",
    "/public;/../admin",
    "/health;x",
    "/public/%2e%2e/admin",
    "/public/..%2fadmin",
    "/public/..%2Fadmin",
    "/public%2f..%2fadmin",
    "/public/..%5cadmin",
    "/public/..%5Cadmin",
    "/public\\..\\admin",
    "/public/..\\admin",
    "/public/%252e%252e/admin",
    "/public/%25%32%65%25%32%65/admin",
    "/public/%00/../admin",
    "/public/a%00",
    "/health%00",
    "/public/../admin",
    "/public/./../admin",
    "/./health/..;/admin",
    "//health",
    "//public/x",
    "/public//../admin",
    "/health/..",
    "/health/../admin",
    "/Health",
    "/HEALTH",
    "/Public/a",
    "/public/%C0%AE%C0%AE/admin",
    "/public/%c0%ae%c0%ae/admin",
    "/public/\u{2025}/admin",
    "/public/a b",
    "/public",
    "//",
    "/public/%2",
    "/public/%zz/../admin",
    "health",
    "*",
    "http://app.example/health",
];

#[test]
fn exclusions_are_granted_only_to_unambiguous_paths() {
    let a = app("paths", "");
    for target in AMBIGUOUS {
        for method in [&b"GET"[..], b"POST", b"HEAD"] {
            let r = a.request(method, target.as_bytes(), &[]);
            assert!(
                !r.continued() && (r.status == 401 || r.status == 400),
                "{target} {:?}: {r:?}",
                String::from_utf8_lossy(method)
            );
        }
    }
    for target in [
        "/health",
        "/health?x=/../admin",
        "/public/a.css",
        "/public/deep/er/a.js",
        "/public/a%20b.css",
    ] {
        assert!(a.get(target, &[]).continued(), "{target}");
    }
    // The entry must match raw bytes: routers that do not decode send an escaped spelling of
    // the excluded part elsewhere; `/public/` itself is not under `/public/*`.
    for target in [
        "/public/",
        "/publi%63/a.css",
        "/pub%6cic/a",
        "/%70%75%62%6c%69%63/x",
        "/pu%62lic/anything/deep",
        "/heal%74h",
        "/%68ealth",
        "/health%3fx",
    ] {
        let r = a.get(target, &[]);
        assert!(!r.continued() && r.status == 401, "{target}: {r:?}");
    }
}

#[test]
fn preflights_to_protected_paths_never_reach_the_app() {
    let a = app("preflight", "");
    let preflight = |target: &str, extra: &[(&str, &str)]| {
        let mut h = vec![("Access-Control-Request-Method", "DELETE")];
        h.extend_from_slice(extra);
        let h: Vec<(&[u8], &[u8])> = h
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        a.request(b"OPTIONS", target.as_bytes(), &h)
    };
    for extra in [
        &[][..],
        &[("Origin", "https://evil.example")],
        &[("Origin", "null")],
        &[
            ("Origin", "http://app.example"),
            ("Access-Control-Request-Headers", "x-csrf"),
        ],
    ] {
        for target in ["/admin", "/api/items/1", "/public/../admin"] {
            let r = preflight(target, extra);
            assert_eq!(
                (r.action, r.status),
                (ezauth_action::EZAUTH_ACTION_FINISH, 204)
            );
            assert_eq!(
                r.header("Access-Control-Allow-Origin"),
                None,
                "{target} {extra:?}"
            );
        }
        assert!(preflight("/public/a", extra).continued(), "{extra:?}");
    }

    let cors = app(
        "cors",
        r#","ezauth":{"cors":{"allowedOrigins":["https://spa.example"],"supportCredentials":true}}"#,
    );
    let asked: [(&[u8], &[u8]); 3] = [
        (b"Origin", b"https://spa.example"),
        (b"Access-Control-Request-Method", b"PUT"),
        (
            b"Access-Control-Request-Headers",
            b"authorization, content-type",
        ),
    ];
    let r = cors.request(b"OPTIONS", b"/api/items", &asked);
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://spa.example")
    );
    assert_eq!(r.header("Access-Control-Allow-Credentials"), Some("true"));
    assert_eq!(r.header("Access-Control-Allow-Methods"), Some("PUT"));
    assert_eq!(
        r.header("Access-Control-Allow-Headers"),
        Some("authorization, content-type")
    );
    for (name, value) in [
        (&b"Origin"[..], &b"https://evil.example"[..]),
        (b"Origin", b"https://spa.example.evil"),
        (b"Access-Control-Request-Method", b"PUT\r\nX: y"),
        (b"Access-Control-Request-Headers", b"a b"),
    ] {
        let mut h = asked.to_vec();
        h.retain(|(n, _)| *n != name);
        h.push((name, value));
        let r = cors.request(b"OPTIONS", b"/api/items", &h);
        assert_eq!(r.status, 204);
        assert_eq!(r.header("Access-Control-Allow-Origin"), None, "{value:?}");
    }
}

/// A script of an allowed origin (the JavaScript SDK on the app's own site) calls ezauth's own
/// routes as it calls the app: the preflight of its `POST /.auth/login` is granted, the
/// answers carry the grant, and so does the 401 of a signed-out call (the SDK signs in again
/// on it; without the grant the browser hands it a network error). Another origin gets none.
#[test]
fn an_allowed_origin_reads_ezauth_s_own_answers_and_refusals() {
    let cors = app(
        "cors-own",
        r#","ezauth":{"cors":{"allowedOrigins":["https://spa.example"]}}"#,
    );
    let bob = cors.sign_in("bob");
    let token = cors.token(&bob);
    for (origin, granted) in [
        ("https://spa.example", true),
        ("https://evil.example", false),
    ] {
        let expected = granted.then_some(origin);
        let r = cors.request(
            b"OPTIONS",
            b"/.auth/login",
            &[
                (b"Origin", origin.as_bytes()),
                (b"Access-Control-Request-Method", b"POST"),
                (
                    b"Access-Control-Request-Headers",
                    b"content-type,x-zumo-installation-id,x-zumo-version",
                ),
            ],
        );
        assert_eq!(r.status, 204, "{origin}");
        assert_eq!(
            r.header("Access-Control-Allow-Origin"),
            expected,
            "{origin}"
        );
        assert_eq!(
            r.header("Access-Control-Allow-Headers"),
            granted.then_some("content-type,x-zumo-installation-id,x-zumo-version"),
        );
        let me = cors.get("/.auth/me", &[("Origin", origin), ("X-ZUMO-AUTH", &token)]);
        assert_eq!(me.status, 200, "{origin}");
        assert_eq!(
            me.header("Access-Control-Allow-Origin"),
            expected,
            "{origin}"
        );
        for headers in [
            vec![("Origin", origin)],
            vec![("Origin", origin), ("X-ZUMO-AUTH", "x.y.z")],
        ] {
            let r = cors.get("/api/items", &headers);
            assert_eq!(r.status, 401, "{headers:?}");
            assert_eq!(
                r.header("Access-Control-Allow-Origin"),
                expected,
                "{headers:?}"
            );
        }
    }
    // Two Origin lines (no browser sends them): no grant, whichever comes first.
    for pair in [
        ["https://spa.example", "https://evil.example"],
        ["https://evil.example", "https://spa.example"],
        ["https://spa.example", "https://spa.example"],
    ] {
        let me = cors.get(
            "/.auth/me",
            &[
                ("Origin", pair[0]),
                ("Origin", pair[1]),
                ("X-ZUMO-AUTH", &token),
            ],
        );
        assert_eq!(me.header("Access-Control-Allow-Origin"), None, "{pair:?}");
        let r = cors.request(
            b"OPTIONS",
            b"/api/items",
            &[
                (b"Origin", pair[0].as_bytes()),
                (b"Origin", pair[1].as_bytes()),
                (b"Access-Control-Request-Method", b"GET"),
            ],
        );
        assert_eq!(r.header("Access-Control-Allow-Origin"), None, "{pair:?}");
    }
}

#[test]
fn a_signed_out_session_stops_working_and_other_sessions_do_not() {
    let a = app("revoke", "");
    let phone = a.sign_in("bob");
    let laptop = a.sign_in("bob");
    let (phone_cookie, laptop_cookie) = (a.cookie(&phone), a.cookie(&laptop));
    let laptop_token = a.token(&laptop);
    let signed_in = |headers: &[(&str, &str)]| {
        let r = a.get("/admin", headers);
        r.continued() && r.header("X-MS-CLIENT-PRINCIPAL-ID") == Some("bob")
    };
    assert!(signed_in(&[("Cookie", &phone_cookie)]));
    assert!(signed_in(&[("Cookie", &laptop_cookie)]));
    assert!(signed_in(&[("X-ZUMO-AUTH", &laptop_token)]));

    let out = a.get("/.auth/logout", &[("Cookie", &phone_cookie)]);
    assert_eq!(out.status, 302);
    // A copy of the phone's cookie made before logout is refused (and cleared)...
    let r = a.get("/admin", &[("Cookie", &phone_cookie)]);
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r
        .response
        .iter()
        .any(|(n, v)| n == "Set-Cookie" && v.contains("Max-Age=0")));
    // ...in every process sharing the store (a second module on the same directory).
    let other_process = app_on_same_store(&a);
    assert_eq!(
        other_process
            .get("/admin", &[("Cookie", &phone_cookie)])
            .status,
        401
    );
    // The laptop stays signed in, as on App Service.
    assert!(signed_in(&[("Cookie", &laptop_cookie)]));
    assert!(signed_in(&[("X-ZUMO-AUTH", &laptop_token)]));
    // Signing in again works: revocations survive the new sign-in, the new session is fresh.
    let again = a.sign_in("bob");
    assert!(signed_in(&[("Cookie", &a.cookie(&again))]));
    assert_eq!(a.get("/admin", &[("Cookie", &phone_cookie)]).status, 401);

    // Sign out everywhere: every session issued so far, cookie or token.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = a.get(
        "/.auth/logout?everywhere=true",
        &[("X-ZUMO-AUTH", &laptop_token)],
    );
    assert_eq!(out.status, 302);
    assert!(!signed_in(&[("Cookie", &laptop_cookie)]));
    assert!(!signed_in(&[("Cookie", &a.cookie(&again))]));
    assert_eq!(
        a.get("/admin", &[("X-ZUMO-AUTH", &laptop_token)]).status,
        401
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let later = a.sign_in("bob");
    assert!(signed_in(&[("Cookie", &a.cookie(&later))]));
}

/// A second module (another nginx worker) on the same configuration and store.
fn app_on_same_store(a: &App) -> App {
    let dir = a.dir.join("second");
    std::fs::create_dir_all(&dir).unwrap();
    App {
        module: load(&a.dir.join("auth.json")),
        settings: a.settings.clone(),
        dir,
    }
}

#[test]
fn session_tokens_carry_the_user_without_a_token_store() {
    let with_store = app("store", r#","ezauth":{"appId":"shop"}"#);
    let without = app_with("no-store", "", r#","ezauth":{"appId":"shop"}"#);
    assert!(without.settings.token_store.is_none());
    for user in ["ann", "bob"] {
        let session = with_store.sign_in(user);
        let r = without.get("/admin", &[("X-ZUMO-AUTH", &without.token(&session))]);
        assert!(r.continued(), "{r:?}");
        assert_eq!(r.header("X-MS-CLIENT-PRINCIPAL-ID"), Some(user));
        let name = format!("{user}@example.test");
        assert_eq!(r.header("X-MS-CLIENT-PRINCIPAL-NAME"), Some(name.as_str()));
    }
}

#[test]
fn credentials_work_only_for_the_app_that_minted_them() {
    let shop = app("bind-a", r#","ezauth":{"appId":"shop"}"#);
    let admin = app("bind-b", r#","ezauth":{"appId":"admin"}"#);
    let carol = shop.sign_in("carol");
    let cookie = shop.cookie(&carol);
    let token = shop.token(&carol);
    assert!(shop.get("/admin", &[("Cookie", &cookie)]).continued());
    assert!(shop.get("/admin", &[("X-ZUMO-AUTH", &token)]).continued());
    assert_eq!(admin.get("/admin", &[("Cookie", &cookie)]).status, 401);
    assert_eq!(admin.get("/admin", &[("X-ZUMO-AUTH", &token)]).status, 401);

    // Without appId, apps that admit different users (client id, allow-lists) still differ.
    let env = std::collections::HashMap::from([
        ("WEBSITE_AUTH_ENCRYPTION_KEY".to_owned(), ENC.to_owned()),
        ("WEBSITE_AUTH_SIGNING_KEY".to_owned(), SIGN.to_owned()),
    ]);
    let app_id = |registration: &str, validation: &str| {
        let json = format!(
            r#"{{"identityProviders":{{"azureActiveDirectory":{{"registration":{{{registration},
                "openIdIssuer":"https://login.microsoftonline.com/t/v2.0"}}{validation}}}}}}}"#
        );
        ezauth::config::parse(&json, &env)
            .unwrap_or_else(|e| panic!("{e}"))
            .app_id
    };
    let open = app_id(r#""clientId":"a""#, "");
    assert_eq!(open, app_id(r#""clientId":"a""#, ""), "stable");
    assert_ne!(open, app_id(r#""clientId":"b""#, ""));
    assert_ne!(
        open,
        app_id(
            r#""clientId":"a""#,
            r#","validation":{"defaultAuthorizationPolicy":{"allowedPrincipals":{"groups":["g"]}}}"#
        )
    );
}

#[test]
fn control_bytes_in_a_target_never_reach_a_location_header() {
    // requireHttps redirects to the same target: a control byte in it must not be echoed.
    let a = app_with(
        "location",
        "",
        r#","globalValidation":{"unauthenticatedClientAction":"AllowAnonymous"},"httpSettings":{"requireHttps":true}"#,
    );
    for target in [
        &b"/a\x01b"[..],
        b"/a\x7f",
        b"/a\x0bb",
        b"/\x1b[31m",
        b"/a b",
        b"/a\0",
    ] {
        let r = a.request(b"GET", target, &[]);
        assert_eq!(
            (r.action, r.status),
            (ezauth_action::EZAUTH_ACTION_FINISH, 400),
            "{target:?}"
        );
    }
    let r = a.request(b"GET", b"/fine?x=1", &[]);
    assert_eq!(r.status, 302);
}
