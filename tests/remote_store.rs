//! A store that is not local (the stand-in for Redis or a blob store in `support::remote`,
//! under the same shared layer as the file store) never makes the event loop wait: a
//! signed-in request whose record the store does not hold in its cache becomes the host's
//! blocking step, which reads it and resumes with the identity and token headers; once cached,
//! no blocking step.

mod support;

use ezauth::clock::Clock;
use std::sync::Arc;

use ezauth::logger::Logger;
use ezauth::pipeline::Module;
use ezauth::store::{Sealed, TokenStore, Update};
use serde_json::{json, Value};
use support::remote::{Remote, Service};
use support::*;

fn module_with(idp: &TestIdp, service: &Arc<Service>, log: &Captured) -> Module {
    let settings =
        ezauth::config::parse(&config(idp, "{}"), &env()).unwrap_or_else(|e| panic!("{e}"));
    let store = Sealed::new(
        Remote(Arc::clone(service)),
        settings.keys.clone(),
        1 << 20,
        &Logger::silent(),
    );
    Module::with_store(settings, log.logger(), Some(Box::new(store)))
}

/// Another process's client of the same service, with the module's keys.
fn other_process(m: &Module, service: &Arc<Service>) -> Sealed<Remote> {
    Sealed::new(
        Remote(Arc::clone(service)),
        m.settings().keys.clone(),
        1 << 20,
        &Logger::silent(),
    )
}

/// The user id (`sid:...`) the session cookie names.
fn user_of(m: &Module, cookie: &str) -> String {
    let value = cookie.split_once('=').unwrap().1;
    let settings = m.settings();
    ezauth::session::open_cookie(
        value,
        &settings.keys,
        &settings.app_id,
        ezauth::clock::SystemClock.now(),
    )
    .unwrap_or_else(|e| panic!("{e:?}"))
    .principal
    .sid
}

#[test]
fn a_cookie_whose_record_is_not_cached_resumes_in_the_blocking_step_with_its_headers() {
    let idp = TestIdp::start();
    let (log, remote) = (Captured::default(), Arc::new(Service::default()));
    let m = module_with(&idp, &remote, &log);
    let cookie = signed_in(&m, &idp);
    let auth = [("Cookie", cookie.as_str())];

    for round in 0..3 {
        remote.forget();
        let loads = remote.gets();
        let (blocked, outcome) = two_steps(&m, "/page", &auth);
        assert!(
            blocked,
            "round {round}: an uncached record must not be read on the event loop"
        );
        let f = forwarded(outcome);
        assert!(
            set_header(&f, "X-MS-CLIENT-PRINCIPAL-NAME").is_some(),
            "{f:?}"
        );
        assert_eq!(
            set_header(&f, "X-MS-TOKEN-IDP-ACCESS-TOKEN").as_deref(),
            Some("the-access-token"),
            "round {round}: token headers after the blocking read"
        );
        assert_eq!(remote.gets(), loads + 1, "one read");

        // Now cached: answered on the event loop, same headers, no read.
        let (blocked, outcome) = two_steps(&m, "/page", &auth);
        assert!(
            !blocked,
            "round {round}: a cached record needs no blocking step"
        );
        let f = forwarded(outcome);
        assert_eq!(
            set_header(&f, "X-MS-TOKEN-IDP-ACCESS-TOKEN").as_deref(),
            Some("the-access-token")
        );
        assert_eq!(remote.gets(), loads + 1, "no read");
    }
}

#[test]
fn me_and_the_session_token_resume_in_the_blocking_step() {
    let idp = TestIdp::start();
    let (log, remote) = (Captured::default(), Arc::new(Service::default()));
    let m = module_with(&idp, &remote, &log);
    let body = json!({ "id_token": idp.mint(json!({})) }).to_string();
    let r = finished(run(&m, "POST", "/.auth/login/idp", &[], body.as_bytes()));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let token = json_body(&r)["authenticationToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let cookie = signed_in(&m, &idp);

    for auth in [("X-ZUMO-AUTH", token.as_str()), ("Cookie", cookie.as_str())] {
        // `/.auth/me`: the stored entry, read in the blocking step.
        remote.forget();
        let (blocked, outcome) = two_steps(&m, "/.auth/me", &[auth]);
        assert!(
            blocked,
            "{}: /.auth/me must not read on the event loop",
            auth.0
        );
        let me = json_body(&finished(outcome));
        assert_eq!(
            me[0]["provider_name"],
            Value::from("idp"),
            "{}: {me}",
            auth.0
        );
        // The browser's sign-in (the later one) replaced the client login's tokens.
        assert_eq!(
            me[0]["access_token"],
            Value::from("the-access-token"),
            "{me}"
        );
        let (blocked, outcome) = two_steps(&m, "/.auth/me", &[auth]);
        assert!(!blocked, "{}: cached now", auth.0);
        assert_eq!(json_body(&finished(outcome)), me);

        // The principal headers of an app request.
        remote.forget();
        let (blocked, outcome) = two_steps(&m, "/page", &[auth]);
        assert!(blocked, "{}", auth.0);
        let f = forwarded(outcome);
        assert!(
            set_header(&f, "X-MS-CLIENT-PRINCIPAL-ID").is_some(),
            "{f:?}"
        );
    }
}

#[test]
fn a_revocation_read_in_the_blocking_step_signs_the_session_out() {
    let idp = TestIdp::start();
    let (log, remote) = (Captured::default(), Arc::new(Service::default()));
    let m = module_with(&idp, &remote, &log);
    let cookie = signed_in(&m, &idp);
    assert_eq!(remote.len(), 1, "one signed-in user");
    let user = user_of(&m, &cookie);
    let auth = [("Cookie", cookie.as_str())];

    // Another process signs the user out everywhere; this one has the old record cached.
    let (blocked, outcome) = two_steps(&m, "/page", &auth);
    assert!(!blocked);
    assert!(set_header(&forwarded(outcome), "X-MS-CLIENT-PRINCIPAL-ID").is_some());
    let other = other_process(&m, &remote);
    other
        .update(&user, &mut |record| {
            let mut record = record.expect("the user's record");
            record.revoked.revoke_all(i64::MAX / 2);
            Update::Replace(Box::new(record))
        })
        .unwrap();
    remote.forget();
    let (blocked, outcome) = two_steps(&m, "/page", &auth);
    assert!(blocked, "the revocation check needs the remote read");
    let f = forwarded(outcome);
    assert!(
        set_header(&f, "X-MS-CLIENT-PRINCIPAL-ID").is_none(),
        "signed out, still passed as {f:?}"
    );
    assert!(set_header(&f, "X-MS-TOKEN-IDP-ACCESS-TOKEN").is_none());

    // A record gone from the service: the session stands, without token headers; once the
    // absence is known it is answered without a blocking step.
    other.delete(&user).unwrap();
    remote.forget();
    let (blocked, outcome) = two_steps(&m, "/page", &auth);
    assert!(blocked);
    let f = forwarded(outcome);
    assert!(
        set_header(&f, "X-MS-CLIENT-PRINCIPAL-ID").is_some(),
        "{f:?}"
    );
    assert!(
        set_header(&f, "X-MS-TOKEN-IDP-ACCESS-TOKEN").is_none(),
        "{f:?}"
    );
    let (blocked, _) = two_steps(&m, "/page", &auth);
    assert!(!blocked, "a known absence is answered from the cache");
}
