//! Many signed-in users for the active-users benchmarks: for each, a token record in a token
//! store (the file store, or whichever the configuration names) and a session cookie, made with
//! the library's own code (what a sign-in would store and set). Shared by `benches/active_users.rs` and `examples/mint_sessions.rs` (cookies for wrk).

use ezauth::clock::{Clock, SystemClock};
use ezauth::config::Settings;
use ezauth::session::{self, Session};
use ezauth::store::{Claim, TokenRecord, TokenStore};

/// User `i`'s claims: an id_token-sized set, as `benches/begin_request.rs` uses.
fn claims(i: usize) -> Vec<Claim> {
    [
        ("iss", "http://127.0.0.1:9".to_owned()),
        ("aud", "c".to_owned()),
        (
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
            format!("user-{i:08}"),
        ),
        ("name", format!("User {i:08}")),
        (
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
            format!("user-{i:08}@example.test"),
        ),
        ("iat", "1700000000".to_owned()),
        ("exp", "1700003600".to_owned()),
    ]
    .into_iter()
    .map(|(t, v)| Claim {
        typ: t.into(),
        val: v,
    })
    .collect()
}

/// The `Cookie` header value (`AppServiceAuthSession=...`) of user `i`, whose record is saved
/// in `store`. Typical token sizes: a 1,200-byte access token, a 900-byte id token.
pub fn mint_one(settings: &Settings, store: &dyn TokenStore, i: usize, now: i64) -> String {
    let sid = format!("sid:{i:032x}");
    let claims = claims(i);
    let principal = session::principal(
        sid.clone(),
        &settings.providers[0],
        settings.providers[0].id_claim_type,
        &claims,
    )
    .unwrap();
    store
        .save(
            &sid,
            &TokenRecord {
                provider_name: settings.providers[0].name.clone(),
                user_id: format!("user-{i:08}"),
                user_claims: claims,
                access_token: Some(format!("{i:08}{}", "a".repeat(1192))),
                id_token: Some(format!("{i:08}{}", "i".repeat(892))),
                refresh_token: Some(format!("{i:08}{}", "r".repeat(392))),
                expires_on: Some("2030-01-01T00:00:00.0000000Z".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let set = session::new_cookie(
        settings,
        &Session::start(principal, now, now + 86_400),
        false,
        now,
    );
    assert_eq!(set.len(), 1, "one cookie chunk per user");
    set[0].split(';').next().unwrap().to_owned()
}

/// Users `0..n`, minted on two threads; `progress` is told every 10,000.
pub fn mint(
    settings: &Settings,
    store: &dyn TokenStore,
    n: usize,
    progress: &dyn Fn(usize),
) -> Vec<String> {
    let now = SystemClock.now();
    let half = n / 2;
    let (a, b) = std::thread::scope(|s| {
        let first = s.spawn(|| {
            (0..half)
                .map(|i| mint_one(settings, store, i, now))
                .collect::<Vec<_>>()
        });
        let second: Vec<String> = (half..n)
            .map(|i| {
                if (i - half).is_multiple_of(10_000) {
                    progress(2 * (i - half));
                }
                mint_one(settings, store, i, now)
            })
            .collect();
        (first.join().unwrap(), second)
    });
    let mut all = a;
    all.extend(b);
    all
}
