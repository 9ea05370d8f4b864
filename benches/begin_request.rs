//! `on_begin_request` through the C ABI, as a host calls it: an anonymous request, and a
//! signed-in request (session cookie) whose token headers come from the file token store,
//! also with `ezauth.refreshBeforeExpirySeconds` on (a token far from expiry: the check alone).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ezauth::clock::{Clock, SystemClock};
use ezauth::crypto::Keys;
use ezauth::ffi::*;
use ezauth::session::{self, Principal, Session};
use ezauth::store::{file::FileStore, Claim, TokenRecord, TokenStore};

#[path = "support/abi.rs"]
mod abi;

use abi::{header, load, run, ENC, SIGN};

/// A module over a file store holding one signed-in user, with `ezauth` as its `ezauth` block,
/// and that user's session cookie.
fn setup(name: &str, ezauth: &str) -> (*mut ezauth_module, String) {
    let dir = std::env::temp_dir().join(format!("ezauth-bench-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("auth.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}},
            "identityProviders":{{"customOpenIdConnectProviders":{{"idp":{{"registration":{{"clientId":"c",
              "openIdConnectConfiguration":{{"wellKnownOpenIdConfiguration":"http://127.0.0.1:9/.well-known/openid-configuration"}}}}}}}}}},
            "login":{{"tokenStore":{{"enabled":true,"fileSystem":{{"directory":"{}"}}}}}},
            "httpSettings":{{"requireHttps":false}},"ezauth":{ezauth}}}"#,
            dir.join("tokens").display()
        ),
    )
    .unwrap();
    std::env::set_var("WEBSITE_AUTH_ENCRYPTION_KEY", ENC);
    std::env::set_var("WEBSITE_AUTH_SIGNING_KEY", SIGN);
    let path = config.to_str().unwrap().to_owned();
    let module = load(&path);

    // A realistic signed-in user: an id_token-sized claim set and typical token sizes.
    let keys = Keys::new(&[0x11; 32], &[0x22; 32], &[]);
    let claims: Vec<Claim> = [
        ("iss", "http://127.0.0.1:9"),
        ("aud", "c"),
        (
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
            "alice",
        ),
        ("name", "Alice Example"),
        (
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
            "alice@example.test",
        ),
        ("iat", "1700000000"),
        ("exp", "1700003600"),
    ]
    .iter()
    .map(|(t, v)| Claim {
        typ: (*t).into(),
        val: (*v).into(),
    })
    .collect();
    let settings = ezauth::config::load_file(
        &config,
        &std::collections::HashMap::from([
            ("WEBSITE_AUTH_ENCRYPTION_KEY".to_owned(), ENC.to_owned()),
            ("WEBSITE_AUTH_SIGNING_KEY".to_owned(), SIGN.to_owned()),
        ]),
    )
    .unwrap();
    let principal: Principal = session::principal(
        "sid:0123".into(),
        &settings.providers[0],
        settings.providers[0].id_claim_type,
        &claims,
    )
    .unwrap();
    let store = FileStore::open(&dir.join("tokens"), keys.clone()).unwrap();
    store
        .save(
            "sid:0123",
            &TokenRecord {
                provider_name: "idp".into(),
                user_id: "alice".into(),
                user_claims: claims,
                access_token: Some("a".repeat(1200)),
                id_token: Some("i".repeat(900)),
                refresh_token: Some("r".repeat(400)),
                expires_on: Some("2030-01-01T00:00:00.0000000Z".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let now = SystemClock.now();
    let cookies = session::write_cookie(
        &Session::start(principal, now, now + 3600),
        &keys,
        &settings.app_id,
        settings.cookie_names(),
        false,
        0,
        3600,
    );
    let cookie = cookies[0].split(';').next().unwrap().to_owned();
    (module, cookie)
}

fn bench(c: &mut Criterion) {
    let (module, cookie) = setup("off", "{}");
    let (fresh_module, fresh_cookie) = setup("fresh", r#"{"refreshBeforeExpirySeconds":300}"#);
    let base = [
        header("Host", "127.0.0.1:8080"),
        header("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"),
        header("Accept", "text/html,application/xhtml+xml"),
        header("Accept-Language", "en-US,en;q=0.9"),
    ];
    let anonymous = base.to_vec();
    let mut signed_in = base.to_vec();
    signed_in.push(header("Cookie", &cookie));
    assert_eq!(run(module, &anonymous), 0);
    assert_eq!(run(module, &signed_in), 8, "principal + token headers");
    // A sibling subdomain planted a junk duplicate of the session cookie: both are tried.
    let planted = format!("AppServiceAuthSession={}; {cookie}", "Ab0-_z".repeat(7));
    let mut with_junk = base.to_vec();
    with_junk.push(header("Cookie", &planted));
    assert_eq!(run(module, &with_junk), 8, "the junk is ignored");

    let mut fresh_signed_in = base.to_vec();
    fresh_signed_in.push(header("Cookie", &fresh_cookie));
    assert_eq!(
        run(fresh_module, &fresh_signed_in),
        8,
        "far from expiry: no refresh"
    );

    c.bench_function("begin_request/anonymous", |b| {
        b.iter(|| black_box(run(module, &anonymous)))
    });
    c.bench_function("begin_request/signed_in_file_store", |b| {
        b.iter(|| black_box(run(module, &signed_in)))
    });
    c.bench_function("begin_request/signed_in_fresh_tokens_on", |b| {
        b.iter(|| black_box(run(fresh_module, &fresh_signed_in)))
    });
    c.bench_function("begin_request/signed_in_planted_junk", |b| {
        b.iter(|| black_box(run(module, &with_junk)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
