//! A store that is not local (a stand-in for Redis or a blob store: records in memory, and a
//! "cache" of the users it has read) never makes the event loop wait: a signed-in request whose
//! record the store does not hold in its cache becomes the host's blocking step, which reads
//! it and resumes with the identity and token headers; once cached, no blocking step.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ezauth::http::{Forward, Outcome};
use ezauth::pipeline::Module;
use ezauth::store::{Cached, StoreError, TokenRecord, TokenStore, Update};
use serde_json::{json, Value};
use support::*;

/// The remote service and this process's cache of it.
#[derive(Default)]
struct Remote {
    records: Mutex<HashMap<String, Arc<TokenRecord>>>,
    /// Users whose record (or its absence) this process has read and may answer from cache.
    warm: Mutex<HashSet<String>>,
    claimed: Mutex<HashSet<String>>,
    /// Reads that went to the service.
    loads: AtomicUsize,
}

impl Remote {
    /// Another process changed things, or the cache expired: nothing is known locally.
    fn forget(&self) {
        self.warm.lock().unwrap().clear();
    }

    fn only_user(&self) -> String {
        let records = self.records.lock().unwrap();
        assert_eq!(records.len(), 1, "one signed-in user");
        records.keys().next().unwrap().clone()
    }
}

/// What the module owns; the test keeps the other handle.
struct Handle(Arc<Remote>);

impl TokenStore for Handle {
    fn cached(&self, user: &str) -> Result<Cached, StoreError> {
        if !self.0.warm.lock().unwrap().contains(user) {
            return Ok(Cached::NeedsIo);
        }
        Ok(match self.0.records.lock().unwrap().get(user) {
            Some(r) => Cached::Hit(Arc::clone(r)),
            None => Cached::Absent,
        })
    }

    fn load(&self, user: &str) -> Result<Option<Arc<TokenRecord>>, StoreError> {
        self.0.loads.fetch_add(1, Ordering::SeqCst);
        self.0.warm.lock().unwrap().insert(user.to_owned());
        Ok(self.0.records.lock().unwrap().get(user).cloned())
    }

    fn save(&self, user: &str, record: &TokenRecord) -> Result<(), StoreError> {
        self.0.warm.lock().unwrap().insert(user.to_owned());
        self.0
            .records
            .lock()
            .unwrap()
            .insert(user.to_owned(), Arc::new(record.clone()));
        Ok(())
    }

    fn delete(&self, user: &str) -> Result<(), StoreError> {
        self.0.records.lock().unwrap().remove(user);
        Ok(())
    }

    fn update(
        &self,
        user: &str,
        change: &mut dyn FnMut(Option<TokenRecord>) -> Update,
    ) -> Result<(), StoreError> {
        let current = self.load(user)?.map(|r| (*r).clone());
        match change(current) {
            Update::Keep => Ok(()),
            Update::Replace(next) => self.save(user, &next),
        }
    }

    fn claim_once(&self, key: &str, _expires_at: i64) -> Result<bool, StoreError> {
        Ok(self.0.claimed.lock().unwrap().insert(key.to_owned()))
    }
}

fn module_with(idp: &TestIdp, remote: &Arc<Remote>, log: &Captured) -> Module {
    let settings =
        ezauth::config::parse(&config(idp, "{}"), &env()).unwrap_or_else(|e| panic!("{e}"));
    Module::with_store(
        settings,
        log.logger(),
        Some(Box::new(Handle(Arc::clone(remote)))),
    )
}

fn forwarded(o: Outcome) -> Forward {
    match o {
        Outcome::Continue(f) => f,
        other => panic!("expected the request to go on to the app, got {other:?}"),
    }
}

fn set_header(f: &Forward, name: &str) -> Option<String> {
    f.set
        .iter()
        .flat_map(|g| g.iter())
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

/// Signs in through the provider (which stores the record, in the blocking step): the
/// session cookie.
fn signed_in(m: &Module, idp: &TestIdp) -> String {
    let r = through_provider(
        m,
        idp,
        "",
        json!({}),
        json!({"access_token": "the-access-token"}),
    );
    session_cookie(&r)
}

#[test]
fn a_cookie_whose_record_is_not_cached_resumes_in_the_blocking_step_with_its_headers() {
    let idp = TestIdp::start();
    let (log, remote) = (Captured::default(), Arc::new(Remote::default()));
    let m = module_with(&idp, &remote, &log);
    let cookie = signed_in(&m, &idp);
    let auth = [("Cookie", cookie.as_str())];

    for round in 0..3 {
        remote.forget();
        let loads = remote.loads.load(Ordering::SeqCst);
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
        assert_eq!(remote.loads.load(Ordering::SeqCst), loads + 1, "one read");

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
        assert_eq!(remote.loads.load(Ordering::SeqCst), loads + 1, "no read");
    }
}

#[test]
fn me_and_the_session_token_resume_in_the_blocking_step() {
    let idp = TestIdp::start();
    let (log, remote) = (Captured::default(), Arc::new(Remote::default()));
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
    let (log, remote) = (Captured::default(), Arc::new(Remote::default()));
    let m = module_with(&idp, &remote, &log);
    let cookie = signed_in(&m, &idp);
    let user = remote.only_user();
    let auth = [("Cookie", cookie.as_str())];

    // Another process signs the user out everywhere; this one has the old record cached.
    let (blocked, outcome) = two_steps(&m, "/page", &auth);
    assert!(!blocked);
    assert!(set_header(&forwarded(outcome), "X-MS-CLIENT-PRINCIPAL-ID").is_some());
    {
        let mut records = remote.records.lock().unwrap();
        let mut record = (*records[&user]).clone();
        record.revoked.revoke_all(i64::MAX / 2);
        records.insert(user.clone(), Arc::new(record));
    }
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
    remote.records.lock().unwrap().remove(&user);
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
