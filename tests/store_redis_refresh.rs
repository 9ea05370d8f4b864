//! Refreshes on two nodes sharing one Redis, against a provider that rotates refresh tokens
//! (and, as RFC 9700 has it, would revoke the grant when a spent one comes back): concurrent
//! refreshes of one user spread over both nodes succeed or are told one is in progress, make
//! one call to the provider, and no refresh token is ever presented twice. The lock is what makes it so: each refresh reads the record inside it and
//! spends the token the previous one stored.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use ezauth::app::App;
use ezauth::clock::SystemClock;
use ezauth::logger::Logger;
use ezauth::outbound::{HttpClient, HttpRequest, HttpResponse, TransportError};
use ezauth::pipeline::Module;
use ezauth::store::redis::RedisBackend;
use ezauth::store::Sealed;
use serde_json::json;
use support::redis_server::RedisServer;
use support::scripted::{self, ScriptedIdp};
use support::*;

/// The scripted provider, whose token endpoint answers a refresh with a new refresh token and
/// notes every refresh token presented.
struct Rotating {
    idp: Arc<ScriptedIdp>,
    presented: Mutex<Vec<String>>,
}

impl HttpClient for Rotating {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let form: std::collections::HashMap<String, String> =
            form_urlencoded::parse(&request.body).into_owned().collect();
        if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
            return self.idp.send(request);
        }
        let spent = form["refresh_token"].clone();
        let mut presented = self.presented.lock().unwrap();
        presented.push(spent);
        let next = format!("refresh-{}", presented.len() + 1);
        let body = json!({"access_token": format!("access-{}", presented.len() + 1),
            "refresh_token": next, "expires_in": 3600, "token_type": "Bearer"});
        Ok(HttpResponse {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        })
    }
}

/// A node: the pipeline around the provider, with a store on the Redis at `server`.
fn node(provider: &Arc<Rotating>, server: &RedisServer) -> Module {
    let settings = ezauth::config::parse(&scripted::config("{}"), &env()).unwrap();
    let store = Sealed::new(
        RedisBackend::open(server.options()).unwrap(),
        settings.keys.clone(),
        1 << 20,
        &Logger::silent(),
    );
    let http: Arc<dyn HttpClient> = provider.clone();
    Module::from_app(App::from_parts(
        settings,
        http,
        Some(Box::new(store)),
        Logger::silent(),
        Arc::new(SystemClock),
    ))
}

#[test]
fn concurrent_refreshes_on_two_nodes_never_spend_a_refresh_token_twice() {
    let server = RedisServer::start();
    let provider = Arc::new(Rotating {
        idp: ScriptedIdp::new(),
        presented: Mutex::new(Vec::new()),
    });
    let nodes = [
        Arc::new(node(&provider, &server)),
        Arc::new(node(&provider, &server)),
    ];
    let cookie = scripted::sign_in(&nodes[0], &provider.idp, Some("refresh-1"));
    let threads: Vec<_> = (0..32)
        .map(|i| {
            let (m, cookie) = (Arc::clone(&nodes[i % 2]), cookie.clone());
            std::thread::spawn(move || {
                let r = refresh_by_cookie(&m, &cookie);
                (r.status, String::from_utf8_lossy(&r.body).into_owned())
            })
        })
        .collect();
    for t in threads {
        // 429: a refresh of the same session was already running in that node (the
        // process's single-flight); anything else is a failure.
        let (status, body) = t.join().unwrap();
        assert!(status == 200 || status == 429, "{status}: {body}");
    }
    // One provider call for the whole burst: the node that took the lock second found the
    // tokens its callers saw already refreshed, and used them.
    assert_eq!(*provider.presented.lock().unwrap(), ["refresh-1"]);
    // The grant survived: each node refreshes again, with the latest stored token.
    for m in &nodes {
        let r = finished(run(m, "GET", "/.auth/refresh", &[("Cookie", &cookie)], b""));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    let presented = provider.presented.lock().unwrap().clone();
    let distinct: HashSet<&String> = presented.iter().collect();
    assert_eq!(
        distinct.len(),
        presented.len(),
        "spent twice: {presented:?}"
    );
    assert_eq!(presented[0], "refresh-1");
    // Each refresh spent the token the one before it stored: a chain, no fork.
    for (i, token) in presented.iter().enumerate().skip(1) {
        assert_eq!(*token, format!("refresh-{}", i + 1), "{presented:?}");
    }
}
