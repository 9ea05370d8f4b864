//! Hostile input through the C ABI, as a host would pass it: mutated cookies, session tokens,
//! bearer tokens, targets, headers and bodies, from a deterministic generator. Every call must
//! return `EZAUTH_OK` (never `EZAUTH_PANIC`), every finished response a 3xx/4xx, and nothing
//! may reach the token store.

use std::ptr;

use ezauth::ffi::*;

const ENC: &str = "3333333333333333333333333333333333333333333333333333333333333333";
const SIGN: &str = "4444444444444444444444444444444444444444444444444444444444444444";

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// One of `seeds`, mutated two times in three.
    fn mutate_one(&mut self, seeds: &[&str]) -> Vec<u8> {
        let seed = seeds[self.below(seeds.len())];
        if self.below(3) == 0 {
            return seed.as_bytes().to_vec();
        }
        self.mutate(seed)
    }
    /// Flips, inserts, deletes or duplicates bytes of `seed`.
    fn mutate(&mut self, seed: &str) -> Vec<u8> {
        let mut v = seed.as_bytes().to_vec();
        for _ in 0..1 + self.below(6) {
            let at = if v.is_empty() { 0 } else { self.below(v.len()) };
            match self.below(5) {
                0 if !v.is_empty() => v[at] ^= 1 << self.below(8),
                1 => v.insert(at, self.next() as u8),
                2 if !v.is_empty() => {
                    v.remove(at);
                }
                3 => {
                    let tail = v[at..].to_vec();
                    v.extend_from_slice(&tail);
                }
                _ => v.truncate(at),
            }
        }
        v
    }
}

fn s(v: &[u8]) -> ezauth_str {
    ezauth_str {
        ptr: v.as_ptr(),
        len: v.len(),
    }
}

fn module(dir: &std::path::Path) -> *mut ezauth_module {
    let config = dir.join("auth.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"globalValidation":{{"unauthenticatedClientAction":"Return401","excludedPaths":["/public/*"]}},
            "identityProviders":{{"customOpenIdConnectProviders":{{"idp":{{"registration":{{"clientId":"c",
              "openIdConnectConfiguration":{{"authorizationEndpoint":"http://127.0.0.1:9/a","tokenEndpoint":"http://127.0.0.1:9/t",
              "certificationUri":"http://127.0.0.1:9/k","issuer":"http://127.0.0.1:9"}}}}}}}}}},
            "login":{{"tokenStore":{{"enabled":true,"fileSystem":{{"directory":"{}"}}}}}},
            "httpSettings":{{"requireHttps":false}},"ezauth":{{"httpTimeoutSeconds":1,"httpConnectTimeoutSeconds":1}}}}"#,
            dir.join("tokens").display()
        ),
    )
    .unwrap();
    std::env::set_var("WEBSITE_AUTH_ENCRYPTION_KEY", ENC);
    std::env::set_var("WEBSITE_AUTH_SIGNING_KEY", SIGN);
    let path = config.to_str().unwrap().as_bytes().to_vec();
    let mut m = ptr::null_mut();
    let rc = unsafe { ezauth_module_new(s(&path), None, ptr::null_mut(), &mut m, ptr::null_mut()) };
    assert_eq!(rc, ezauth_result::EZAUTH_OK);
    m
}

const TARGETS: &[&str] = &[
    "/.auth/login/idp",
    "/.auth/login/idp",
    "/.auth/login/idp/callback?code=1&state=AAAAAAAAAAAAAAAAAAAA",
    "/",
    "/api/x?y=1",
    "/public/a",
    "/public/../admin",
    "/.auth/me",
    "/.auth/logout?post_logout_redirect_uri=/x",
    "/.auth/login/idp?post_login_redirect_uri=//evil.example",
    "/.auth/login/idp/callback?state=abc&code=x",
    "/.auth/refresh",
    "/.auth/login/done",
    "/.auth/version",
    "/%2e%2e/%00",
    "/.auth/login/idp/callback?state=a&state=b",
];
const COOKIES: &[&str] = &[
    "AppServiceAuthSession=AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "AppServiceAuthSession=x; AppServiceAuthSession1=y; AppServiceAuthSession7=z",
    "AppServiceAuthLogin_abc=AQ; AppServiceAuthSession=",
    "a=b; c",
];
const TOKENS: &[&str] = &[
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzaWQ6MDAiLCJpZHAiOiJpZHAiLCJleHAiOjk5OTk5OTk5OTl9.c2ln",
    "eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjkiLCJzdWIiOiJ4In0.",
    "a.b.c",
    "....",
    "",
];
const METHODS: &[&str] = &["GET", "POST", "HEAD", "PUT", "OPTIONS", "G\0T"];

#[test]
fn mutated_requests_never_panic_and_never_touch_the_store() {
    let dir = std::env::temp_dir().join(format!("ezauth-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let m = module(&dir);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut statuses = std::collections::BTreeMap::new();
    for round in 0..4000 {
        let method = rng.mutate_one(METHODS);
        let target = rng.mutate_one(TARGETS);
        let cookie = rng.mutate_one(COOKIES);
        let token = rng.mutate_one(TOKENS);
        let body = rng.mutate(r#"{"id_token":"a.b.c","access_token":5}"#);
        let mut names: Vec<Vec<u8>> = vec![b"Host".to_vec(), b"Cookie".to_vec()];
        let mut values: Vec<Vec<u8>> = vec![b"127.0.0.1:8080".to_vec(), cookie];
        match round % 4 {
            0 => {
                names.push(b"X-ZUMO-AUTH".to_vec());
                values.push(token);
            }
            1 => {
                names.push(b"Authorization".to_vec());
                let mut v = b"Bearer ".to_vec();
                v.extend(token);
                values.push(v);
            }
            2 => {
                names.push(rng.mutate("X-MS-CLIENT-PRINCIPAL-NAME"));
                values.push(rng.mutate("admin"));
            }
            _ => {
                names.push(b"Host".to_vec());
                values.push(rng.mutate("evil.example:80"));
            }
        }
        let headers: Vec<ezauth_header> = names
            .iter()
            .zip(&values)
            .map(|(n, v)| ezauth_header {
                name: s(n),
                value: s(v),
            })
            .collect();
        let req = ezauth_request {
            method: s(&method),
            target: s(&target),
            scheme: s(b"http"),
            host: s(b"127.0.0.1:8080"),
            client_addr: s(b"127.0.0.1"),
            headers: headers.as_ptr(),
            header_count: headers.len(),
            body: s(&body),
        };
        let mut out = ptr::null_mut();
        let rc = unsafe { ezauth_module_begin_request(m, &req, ptr::null_mut(), &mut out) };
        assert_eq!(
            rc,
            ezauth_result::EZAUTH_OK,
            "round {round}: {:?}",
            String::from_utf8_lossy(&target)
        );
        let mut action = unsafe { ezauth_outcome_action(out) };
        if action == ezauth_action::EZAUTH_ACTION_BLOCKING {
            // The provider's port is closed: blocking steps end quickly, in 502 at worst.
            assert_eq!(
                unsafe { ezauth_outcome_run_blocking(out) },
                ezauth_result::EZAUTH_OK
            );
            action = unsafe { ezauth_outcome_action(out) };
        }
        let status = match action {
            ezauth_action::EZAUTH_ACTION_FINISH => unsafe { ezauth_outcome_status(out) },
            ezauth_action::EZAUTH_ACTION_CONTINUE => 0,
            ezauth_action::EZAUTH_ACTION_BLOCKING => {
                panic!("still blocking after the blocking step")
            }
            ezauth_action::EZAUTH_ACTION_ERROR => panic!("error outcome"),
        };
        assert!(
            matches!(status, 0 | 200 | 302 | 400..=405 | 413 | 502 | 504),
            "round {round}: status {status} for {:?}",
            String::from_utf8_lossy(&target)
        );
        *statuses.entry(status).or_insert(0) += 1;
        unsafe { ezauth_outcome_free(out) };
    }
    // The store makes its directory at its first write: none is fine.
    let stored: Vec<_> = std::fs::read_dir(dir.join("tokens"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tok"))
        .collect();
    assert!(stored.is_empty(), "hostile input created token files");
    eprintln!("statuses: {statuses:?}");
    unsafe { ezauth_module_free(m) };
    std::fs::remove_dir_all(&dir).unwrap();
}
