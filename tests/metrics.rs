//! Metrics (`ezauth.metrics`): each event kind moves its counter, against the scripted provider
//! and the file token store; the exposition is Prometheus' text format; the route answers only
//! the listed client addresses; labels stay bounded; host memory aggregates modules.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use ezauth::app::App;
use ezauth::clock::{Clock, ManualClock, SystemClock};
use ezauth::http::{Outcome, Request, Response};
use ezauth::pipeline::Module;
use serde_json::json;
use support::scripted::{self, Answer, ScriptedIdp, ISSUER};
use support::*;

/// The scripted provider `idp`, a file store in a scratch directory, and `ezauth` as the
/// `ezauth` block.
fn config(ezauth: &str) -> String {
    config_in(&scratch("metrics"), ezauth)
}

/// [`config`] with its token store in `dir`.
fn config_in(dir: &std::path::Path, ezauth: &str) -> String {
    format!(
        r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}},
        "identityProviders":{{"customOpenIdConnectProviders":{{"idp":{{
          "registration":{{"clientId":"{CLIENT_ID}",
            "openIdConnectConfiguration":{{"wellKnownOpenIdConfiguration":"{ISSUER}/.well-known/openid-configuration"}}}}}}}}}},
        "login":{{"tokenStore":{{"enabled":true,"fileSystem":{{"directory":"{}"}}}}}},
        "httpSettings":{{"requireHttps":false}},"ezauth":{ezauth}}}"#,
        dir.join("tokens").display()
    )
}

const ON: &str = r#"{"metrics":{"enabled":true}}"#;

/// The pipeline over the scripted provider and the configured (file) store.
fn module(idp: &Arc<ScriptedIdp>, ezauth: &str) -> Module {
    module_of(idp, &config(ezauth))
}

fn module_of(idp: &Arc<ScriptedIdp>, json: &str) -> Module {
    module_at(idp, json, Arc::new(SystemClock))
}

fn module_at(idp: &Arc<ScriptedIdp>, json: &str, clock: Arc<dyn Clock>) -> Module {
    let settings = ezauth::config::parse(json, &env()).unwrap_or_else(|e| panic!("{e}"));
    let log = ezauth::logger::Logger::silent();
    let store =
        ezauth::store::open(settings.token_store.as_ref(), &settings.keys, 1 << 20, &log).unwrap();
    let app = App::from_parts(settings, idp.clone(), store, log, clock);
    Module::from_app(app)
}

fn request_from<'a>(client: &'a str, method: &'a str, target: &'a str) -> Request<'a> {
    Request {
        method,
        target,
        scheme: "http",
        host: "app.example",
        client_addr: client,
        headers: Vec::new(),
        body: b"",
    }
}

/// A scrape from `client`: the response, whatever it is.
fn scrape_from(m: &Module, client: &str, target: &str) -> Outcome {
    through(m, &request_from(client, "GET", target)).1
}

/// Samples by `name{labels}` as written, after checking the exposition's shape.
fn scrape(m: &Module) -> BTreeMap<String, f64> {
    let r = finished(scrape_from(m, "127.0.0.1", "/.auth/metrics"));
    assert_eq!(r.status, 200);
    assert_eq!(header(&r, "Cache-Control"), Some("no-store"));
    assert_eq!(
        header(&r, "Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    parse(std::str::from_utf8(&r.body).unwrap())
}

/// A parser of the text format as far as ezauth writes it: each family's `# HELP` and `# TYPE`
/// before its samples, every sample `name{k="v",...} value` of a declared family, histogram
/// buckets cumulative and ending in `+Inf` equal to `_count`.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helped = std::collections::BTreeSet::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP has a text");
            assert!(!help.is_empty());
            helped.insert(name.to_owned());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(helped.contains(name), "TYPE after HELP: {name}");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line:?}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{line:?}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                let inner = labels.strip_prefix('{').and_then(|l| l.strip_suffix('}'));
                for pair in inner.unwrap_or_else(|| panic!("{line:?}")).split(',') {
                    let (k, v) = pair.split_once('=').unwrap();
                    assert!(k.bytes().all(|b| b.is_ascii_lowercase()), "{line:?}");
                    assert!(
                        v.len() >= 2 && v.starts_with('"') && v.ends_with('"'),
                        "{line:?}"
                    );
                }
            }
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        assert!(
            types.contains_key(family),
            "sample of an undeclared family: {line:?}"
        );
        samples.insert(series.to_owned(), value);
    }
    // Buckets: cumulative, the last one +Inf, equal to the count.
    let mut last: BTreeMap<String, (f64, String)> = BTreeMap::new();
    for line in text.lines().filter(|l| l.contains("_bucket{")) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = series.split_once('{').unwrap();
        let pairs: Vec<&str> = labels.trim_end_matches('}').split(',').collect();
        let le = pairs
            .last()
            .unwrap()
            .strip_prefix("le=")
            .unwrap()
            .trim_matches('"');
        let rest = pairs[..pairs.len() - 1].join(",");
        let count = match rest.is_empty() {
            true => format!("{}_count", name.trim_end_matches("_bucket")),
            false => format!("{}_count{{{rest}}}", name.trim_end_matches("_bucket")),
        };
        let value: f64 = value.parse().unwrap();
        if let Some((before, _)) = last.get(&count) {
            assert!(value >= *before, "buckets are cumulative: {line}");
        }
        last.insert(count, (value, le.to_owned()));
    }
    assert!(!last.is_empty());
    for (count, (value, le)) in last {
        assert_eq!(le, "+Inf", "{count}");
        assert_eq!(samples.get(&count), Some(&value), "{count}");
    }
    samples
}

fn at(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no {series} in {samples:#?}"))
}

/// What moved between two scrapes, by series (only the ones that did).
fn moved(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0.0);
            (d != 0.0).then(|| (k.clone(), d))
        })
        .collect()
}

fn sign_in(m: &Module, idp: &ScriptedIdp, refresh: Option<&str>) -> String {
    scripted::sign_in(m, idp, refresh)
}

#[test]
fn a_sign_in_counts_the_sign_in_its_provider_calls_and_its_store_writes() {
    let idp = ScriptedIdp::new();
    let m = module(&idp, ON);
    let before = scrape(&m);
    sign_in(&m, &idp, Some("refresh-1"));
    let after = scrape(&m);
    let d = moved(&before, &after);
    assert_eq!(
        d.get(r#"ezauth_sign_ins_total{provider="idp",outcome="success"}"#),
        Some(&1.0)
    );
    assert_eq!(
        d.get(r#"ezauth_provider_calls_total{provider="idp",kind="token",outcome="success"}"#),
        Some(&1.0)
    );
    // Discovery and the keys: two metadata documents.
    assert_eq!(
        d.get(r#"ezauth_provider_calls_total{provider="idp",kind="metadata",outcome="success"}"#),
        Some(&2.0)
    );
    assert_eq!(
        d.get(r#"ezauth_provider_call_duration_seconds_count{provider="idp",kind="token"}"#),
        Some(&1.0)
    );
    assert_eq!(
        d.get(r#"ezauth_store_operations_total{op="put",outcome="success"}"#),
        Some(&1.0)
    );
    assert!(d.get(r#"ezauth_store_operations_total{op="lock",outcome="success"}"#) >= Some(&1.0));
    assert!(d.get(r#"ezauth_store_operations_total{op="claim",outcome="success"}"#) >= Some(&1.0));
    assert_eq!(
        d.get(r#"ezauth_store_operation_duration_seconds_count{op="put"}"#),
        Some(&1.0)
    );
    // The login start and the callback are route answers, each after a blocking step.
    assert_eq!(
        d.get(r#"ezauth_requests_total{decision="route"}"#),
        Some(&2.0)
    );
    assert_eq!(d.get("ezauth_blocking_steps_total"), Some(&2.0));
    assert_eq!(at(&after, "ezauth_blocking_steps_queued"), 0.0);
    assert_eq!(at(&after, "ezauth_blocking_steps_running"), 0.0);
}

#[test]
fn requests_are_counted_by_decision_and_cache_lookups_by_result() {
    let idp = ScriptedIdp::new();
    let dir = scratch("metrics-shared");
    let m = module_of(&idp, &config_in(&dir, ON));
    let cookie = sign_in(&m, &idp, None);
    let before = scrape(&m);
    run(&m, "GET", "/page", &[], b"");
    run(&m, "GET", "/page", &[("Cookie", &cookie)], b"");
    run(&m, "GET", "/page", &[("Cookie", &cookie)], b"");
    run(&m, "GET", "/.auth/me", &[("Cookie", &cookie)], b"");
    let d = moved(&before, &scrape(&m));
    assert_eq!(
        d.get(r#"ezauth_requests_total{decision="anonymous"}"#),
        Some(&1.0)
    );
    assert_eq!(
        d.get(r#"ezauth_requests_total{decision="signed_in"}"#),
        Some(&2.0)
    );
    assert_eq!(
        d.get(r#"ezauth_requests_total{decision="route"}"#),
        Some(&1.0)
    );
    // Every signed-in request looks its record up once: from memory (a hit), or from the
    // backend when it cannot tell the copy is current (a miss: one get each).
    let hits = d
        .get(r#"ezauth_store_cache_lookups_total{result="hit"}"#)
        .copied()
        .unwrap_or(0.0);
    let misses = d
        .get(r#"ezauth_store_cache_lookups_total{result="miss"}"#)
        .copied()
        .unwrap_or(0.0);
    assert_eq!(hits + misses, 3.0, "{d:#?}");
    assert!(hits >= 2.0, "{d:#?}");
    let gets = r#"ezauth_store_operations_total{op="get",outcome="success"}"#;
    assert_eq!(d.get(gets).copied().unwrap_or(0.0), misses);

    // The unauthenticated actions, and the https upgrade.
    for (edit, target, decision) in [
        (("AllowAnonymous", "Return401"), "/page", "unauthorized"),
        (("AllowAnonymous", "Return403"), "/page", "forbidden"),
        (("AllowAnonymous", "Return404"), "/page", "other"),
        (
            ("AllowAnonymous", "RedirectToLoginPage"),
            "/page",
            "login_redirect",
        ),
        (
            ("\"requireHttps\":false", "\"requireHttps\":true"),
            "/page?a=1",
            "other",
        ),
    ] {
        let strict = module_of(&idp, &config(ON).replace(edit.0, edit.1));
        let before = scrape(&strict);
        let r = finished(run(&strict, "GET", target, &[], b""));
        let d = moved(&before, &scrape(&strict));
        let series = format!("ezauth_requests_total{{decision=\"{decision}\"}}");
        assert_eq!(
            d.get(&series),
            Some(&1.0),
            "{edit:?} ({}): {d:#?}",
            r.status
        );
        assert_eq!(
            d.keys()
                .filter(|k| k.starts_with("ezauth_requests_total"))
                .count(),
            1
        );
    }

    // Another process over the same store reads the user's record from disk: a miss, then hits.
    let other = module_of(&idp, &config_in(&dir, ON));
    let before = scrape(&other);
    run(&other, "GET", "/page", &[("Cookie", &cookie)], b"");
    run(&other, "GET", "/page", &[("Cookie", &cookie)], b"");
    let d = moved(&before, &scrape(&other));
    assert_eq!(
        d.get(r#"ezauth_store_cache_lookups_total{result="miss"}"#),
        Some(&1.0),
        "{d:#?}"
    );
    assert_eq!(
        d.get(r#"ezauth_store_cache_lookups_total{result="hit"}"#),
        Some(&1.0)
    );
    assert_eq!(d.get(gets), Some(&1.0));
    assert_eq!(
        d.get(r#"ezauth_requests_total{decision="signed_in"}"#),
        Some(&2.0)
    );
}

#[test]
fn refreshes_count_by_trigger_and_outcome() {
    let idp = ScriptedIdp::new();
    let clock = Arc::new(ManualClock::starting_now());
    let m = module_at(&idp, &config(ON), clock.clone());
    let cookie = sign_in(&m, &idp, Some("refresh-1"));
    let before = scrape(&m);
    idp.token_answer(Answer::Json(
        200,
        json!({"access_token": "access-2", "refresh_token": "refresh-2", "expires_in": 3600}),
    ));
    let r = refresh_by_cookie(&m, &cookie);
    assert_eq!(r.status, 200);
    // Later than a refresh just done (whose tokens would be used): the provider is asked.
    clock.advance(60);
    idp.token_answer(Answer::Json(400, json!({"error": "invalid_grant"})));
    let r = refresh_by_cookie(&m, &cookie);
    assert_eq!(r.status, 403);
    let d = moved(&before, &scrape(&m));
    assert_eq!(
        d.get(r#"ezauth_refreshes_total{provider="idp",trigger="route",outcome="success"}"#),
        Some(&1.0)
    );
    assert_eq!(
        d.get(r#"ezauth_refreshes_total{provider="idp",trigger="route",outcome="failure"}"#),
        Some(&1.0)
    );
    // A 400 from the token endpoint is an answer: the call succeeded, the refresh did not.
    assert_eq!(
        d.get(r#"ezauth_provider_calls_total{provider="idp",kind="token",outcome="success"}"#),
        Some(&2.0)
    );

    // Ahead of expiry: tokens that expire within the window refresh on the next request.
    let ahead = module(
        &idp,
        r#"{"metrics":{"enabled":true},"refreshBeforeExpirySeconds":7200}"#,
    );
    let cookie = sign_in(&ahead, &idp, Some("refresh-1"));
    let before = scrape(&ahead);
    idp.token_answer(Answer::Json(
        200,
        json!({"access_token": "access-3", "refresh_token": "refresh-3", "expires_in": 86400}),
    ));
    let (blocked, outcome) = two_steps(&ahead, "/page", &[("Cookie", &cookie)]);
    assert!(blocked && matches!(outcome, Outcome::Continue(_)));
    let d = moved(&before, &scrape(&ahead));
    assert_eq!(
        d.get(
            r#"ezauth_refreshes_total{provider="idp",trigger="ahead_of_expiry",outcome="success"}"#
        ),
        Some(&1.0)
    );
    assert_eq!(
        d.get(r#"ezauth_requests_total{decision="signed_in"}"#),
        Some(&1.0)
    );
    assert_eq!(d.get("ezauth_blocking_steps_total"), Some(&1.0));
}

#[test]
fn failures_count_as_failures() {
    let idp = ScriptedIdp::new();
    let m = module(&idp, ON);
    let before = scrape(&m);
    // A callback the provider refuses (its token endpoint unreachable).
    let (state, _nonce, cookie) = scripted::start_login(&m);
    idp.token_answer(Answer::Fail(ezauth::outbound::TransportKind::Unreachable));
    let r = scripted::callback(&m, &state, &cookie);
    assert_eq!(r.status, 502);
    // A client login without a token.
    let r = finished(run(&m, "POST", "/.auth/login/idp", &[], b"{}"));
    assert_eq!(r.status, 400);
    let d = moved(&before, &scrape(&m));
    assert_eq!(
        d.get(r#"ezauth_sign_ins_total{provider="idp",outcome="failure"}"#),
        Some(&1.0)
    );
    assert_eq!(
        d.get(r#"ezauth_provider_calls_total{provider="idp",kind="token",outcome="failure"}"#),
        Some(&1.0)
    );
    assert_eq!(
        d.get(r#"ezauth_client_logins_total{provider="idp",outcome="failure"}"#),
        Some(&1.0)
    );
    assert_eq!(
        d.get(r#"ezauth_sign_ins_total{provider="idp",outcome="success"}"#),
        None
    );
}

#[test]
fn a_logout_counts_its_write_under_the_lock() {
    let idp = ScriptedIdp::new();
    let m = module(&idp, ON);
    let cookie = sign_in(&m, &idp, None);
    let before = scrape(&m);
    let r = finished(run(&m, "GET", "/.auth/logout", &[("Cookie", &cookie)], b""));
    assert_eq!(r.status, 302);
    let d = moved(&before, &scrape(&m));
    // Logout keeps the user's revocations: a write under the lock, not a delete.
    assert_eq!(
        d.get(r#"ezauth_store_operations_total{op="lock",outcome="success"}"#),
        Some(&1.0)
    );
    assert_eq!(
        d.get(r#"ezauth_store_operations_total{op="put",outcome="success"}"#),
        Some(&1.0)
    );
}

#[test]
fn only_listed_addresses_see_the_metrics_and_others_see_nothing_there() {
    let idp = ScriptedIdp::new();
    let m = module(&idp, ON);
    for client in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
        assert_eq!(
            finished(scrape_from(&m, client, "/.auth/metrics")).status,
            200,
            "{client}"
        );
    }
    // Anyone else: the route does not exist. A forwarded-for header changes nothing.
    for client in ["10.0.0.7", "127.0.0.2", "not an address"] {
        let r = finished(scrape_from(&m, client, "/.auth/metrics"));
        assert_eq!(r.status, 404, "{client}");
        assert!(!String::from_utf8_lossy(&r.body).contains("ezauth_"));
    }
    let mut forwarded = request_from("10.0.0.7", "GET", "/.auth/metrics");
    forwarded.headers = vec![("X-Forwarded-For", "127.0.0.1")];
    assert_eq!(finished(through(&m, &forwarded).1).status, 404);
    // Only GET (and HEAD): a POST there is an unknown route.
    let r = finished(through(&m, &request_from("127.0.0.1", "POST", "/.auth/metrics")).1);
    assert_eq!(r.status, 404);
    // Off by default: 404 from everywhere.
    let off = module(&idp, "{}");
    assert_eq!(
        finished(scrape_from(&off, "127.0.0.1", "/.auth/metrics")).status,
        404
    );
    let disabled = module(&idp, r#"{"metrics":{"enabled":false}}"#);
    assert_eq!(
        finished(scrape_from(&disabled, "127.0.0.1", "/.auth/metrics")).status,
        404
    );

    // Elsewhere, for other addresses: outside the prefix, the path is the app's.
    let custom = module(
        &idp,
        r#"{"metrics":{"enabled":true,"path":"/internal/metrics","allowedAddresses":["10.1.2.3"]}}"#,
    );
    let r = finished(scrape_from(&custom, "10.1.2.3", "/internal/metrics"));
    assert_eq!(r.status, 200);
    assert!(matches!(
        scrape_from(&custom, "127.0.0.1", "/internal/metrics"),
        Outcome::Continue(_)
    ));
    assert_eq!(
        finished(scrape_from(&custom, "10.1.2.3", "/.auth/metrics")).status,
        404
    );
}

#[test]
fn labels_are_bounded_by_the_configuration() {
    let idp = ScriptedIdp::new();
    let m = module(&idp, ON);
    let cookie = sign_in(&m, &idp, None);
    let before = scrape(&m);
    for i in 0..50 {
        run(
            &m,
            "GET",
            &format!("/user/{i}?q={i}"),
            &[("Cookie", &cookie)],
            b"",
        );
        run(&m, "GET", &format!("/.auth/login/nobody{i}"), &[], b"");
    }
    let after = scrape(&m);
    let keys = |s: &BTreeMap<String, f64>| s.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&before),
        keys(&after),
        "no series appears with traffic"
    );
    let text = keys(&after).join("\n");
    assert!(!text.contains("sid:") && !text.contains("/user/") && !text.contains("nobody"));
    for series in keys(&after) {
        if let Some(p) = series.split("provider=\"").nth(1) {
            assert!(p.starts_with("idp\""), "{series}");
        }
    }
}

#[test]
fn bad_settings_are_startup_errors_naming_their_path() {
    for (ezauth, path) in [
        (
            r#"{"metrics":{"enabled":true,"allowedAddresses":["127.0.0.1","localhost"]}}"#,
            "ezauth.metrics.allowedAddresses[1]",
        ),
        (
            r#"{"metrics":{"enabled":true,"allowedAddresses":[]}}"#,
            "ezauth.metrics.allowedAddresses",
        ),
        (
            r#"{"metrics":{"enabled":true,"path":"metrics"}}"#,
            "ezauth.metrics.path",
        ),
        (
            r#"{"metrics":{"enabled":true,"path":"/a/../metrics"}}"#,
            "ezauth.metrics.path",
        ),
        (
            r#"{"metrics":{"enabled":true,"path":"/m?x=1"}}"#,
            "ezauth.metrics.path",
        ),
        (r#"{"metrics":{"enabled":"yes"}}"#, "ezauth.metrics.enabled"),
        (
            r#"{"metrics":{"enabled":true,"allowedAdresses":["::1"]}}"#,
            "ezauth.metrics",
        ),
    ] {
        let e = ezauth::config::parse(&config(ezauth), &env())
            .err()
            .unwrap_or_else(|| panic!("{ezauth} loaded"));
        assert!(e.to_string().contains(path), "{ezauth}: {e}");
    }
}

/// A module loaded through the C ABI from [`config`] with metrics on.
fn abi_module() -> *mut ezauth::ffi::ezauth_module {
    use ezauth::ffi::*;
    let path = scratch("metrics-abi").join("auth.json");
    std::fs::write(&path, config(ON)).unwrap();
    for (k, v) in env() {
        std::env::set_var(k, v);
    }
    let p = path.to_str().unwrap();
    let mut module = std::ptr::null_mut();
    let rc = unsafe {
        ezauth_module_new(
            ezauth_str {
                ptr: p.as_ptr(),
                len: p.len(),
            },
            None,
            std::ptr::null_mut(),
            &mut module,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, ezauth_result::EZAUTH_OK);
    module
}

/// A GET of `target` from `client` through the C ABI, the outcome freed unrun if it blocks:
/// its action, status and body.
fn abi_get(
    m: *mut ezauth::ffi::ezauth_module,
    client: &str,
    target: &str,
) -> (ezauth::ffi::ezauth_action, u16, String) {
    use ezauth::ffi::*;
    let text = |s: &str| ezauth_str {
        ptr: s.as_ptr(),
        len: s.len(),
    };
    let req = ezauth_request {
        method: text("GET"),
        target: text(target),
        scheme: text("http"),
        host: text("app.example"),
        client_addr: text(client),
        headers: std::ptr::null(),
        header_count: 0,
        body: text(""),
    };
    let mut out = std::ptr::null_mut();
    unsafe {
        assert_eq!(
            ezauth_module_begin_request(m, &req, std::ptr::null_mut(), &mut out),
            ezauth_result::EZAUTH_OK
        );
        let action = ezauth_outcome_action(out);
        let status = ezauth_outcome_status(out);
        let body = ezauth_outcome_body(out);
        let body = match body.len {
            0 => String::new(),
            n => String::from_utf8_lossy(std::slice::from_raw_parts(body.ptr, n)).into_owned(),
        };
        ezauth_outcome_free(out);
        (action, status, body)
    }
}

#[test]
fn modules_sharing_host_memory_count_together() {
    use ezauth::ffi::*;
    // Two "workers" of one configuration, as nginx's master hands them one shared zone.
    let (a, b) = (abi_module(), abi_module());
    let size = unsafe { ezauth_metrics_size(a) };
    assert!(size > 0 && size % 8 == 0);
    assert_eq!(unsafe { ezauth_metrics_size(std::ptr::null()) }, 0);
    let mut zone = vec![0u64; size / 8];
    let ptr = zone.as_mut_ptr() as *mut std::ffi::c_void;
    unsafe {
        let refused = ezauth_result::EZAUTH_INVALID_PARAMETER;
        assert_eq!(ezauth_module_use_metrics_memory(a, ptr, size - 8), refused);
        let misaligned = (ptr as *mut u8).add(4) as *mut std::ffi::c_void;
        assert_eq!(
            ezauth_module_use_metrics_memory(a, misaligned, size),
            refused
        );
        let null = ezauth_result::EZAUTH_NULL_PARAMETER;
        assert_eq!(
            ezauth_module_use_metrics_memory(a, std::ptr::null_mut(), size),
            null
        );
        assert_eq!(
            ezauth_module_use_metrics_memory(std::ptr::null(), ptr, size),
            null
        );
        assert_eq!(
            ezauth_module_use_metrics_memory(a, ptr, size),
            ezauth_result::EZAUTH_OK
        );
        assert_eq!(
            ezauth_module_use_metrics_memory(b, ptr, size),
            ezauth_result::EZAUTH_OK
        );
    }
    // A stranger asking each worker for the metrics gets the 404 of an unknown route.
    assert_eq!(abi_get(a, "10.0.0.1", "/.auth/metrics").1, 404);
    assert_eq!(abi_get(b, "10.0.0.1", "/.auth/metrics").1, 404);
    assert_eq!(abi_get(b, "10.0.0.1", "/.auth/metrics").1, 404);
    let (_, status, body) = abi_get(a, "127.0.0.1", "/.auth/metrics");
    assert_eq!(status, 200);
    let s = parse(&body);
    assert_eq!(
        at(&s, r#"ezauth_requests_total{decision="route"}"#),
        3.0,
        "{body}"
    );
    unsafe {
        ezauth_module_free(a);
        ezauth_module_free(b);
    }
}

#[test]
fn a_blocking_step_counts_while_queued_and_running_and_leaves_when_done_or_freed() {
    let idp = ScriptedIdp::new();
    let m = module(&idp, ON);
    let pending = match m.begin_request(&request_from("127.0.0.1", "GET", "/.auth/login/idp")) {
        Outcome::Blocking(p) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(at(&scrape(&m), "ezauth_blocking_steps_queued"), 1.0);
    let r: Response = finished(m.run_blocking(&pending));
    assert_eq!(r.status, 302);
    let s = scrape(&m);
    assert_eq!(at(&s, "ezauth_blocking_steps_queued"), 0.0);
    assert_eq!(at(&s, "ezauth_blocking_steps_running"), 0.0);
}

#[test]
fn a_blocking_outcome_the_host_frees_unrun_leaves_the_queue() {
    use ezauth::ffi::*;
    let module = abi_module();
    let (action, _, _) = abi_get(module, "127.0.0.1", "/.auth/login/idp");
    assert_eq!(action, ezauth_action::EZAUTH_ACTION_BLOCKING);
    let (_, _, body) = abi_get(module, "127.0.0.1", "/.auth/metrics");
    let s = parse(&body);
    assert_eq!(at(&s, "ezauth_blocking_steps_total"), 1.0);
    assert_eq!(at(&s, "ezauth_blocking_steps_queued"), 0.0, "{body}");
    unsafe { ezauth_module_free(module) };
}
