//! A provider's web API as a scripted [`HttpClient`] (GitHub's, Twitter's, ...): standing
//! answers of a well-behaved provider by `"METHOD host/path"`, one-shot answers before them,
//! an optional gate (the API's own authentication, answering before the standing answers),
//! every request kept. No sockets: the tests drive the pipeline at unit speed.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use ezauth::http::Outcome;
use ezauth::outbound::{HttpClient, HttpRequest, HttpResponse, TransportError, TransportKind};
use ezauth::pipeline::Module;
use serde_json::Value;

/// One scripted answer: a status, headers and a body, or no answer at all.
#[derive(Clone, Debug)]
pub enum Reply {
    /// JSON, with extra headers.
    Json(u16, &'static [(&'static str, &'static str)], Value),
    /// A body with its content type (none when empty).
    Body(u16, &'static str, &'static [u8]),
    /// The transport fails.
    Fail(TransportKind),
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply::Json(status, &[], body)
    }

    /// A form-encoded answer, labelled as Twitter labels its own (`text/html`).
    pub fn form(status: u16, body: &'static str) -> Reply {
        Reply::Body(status, "text/html; charset=utf-8", body.as_bytes())
    }

    /// A body without a content type.
    pub fn raw(status: u16, body: &'static [u8]) -> Reply {
        Reply::Body(status, "", body)
    }
}

type Gate = Box<dyn Fn(&HttpRequest) -> Option<Reply> + Send + Sync>;

pub struct ScriptedApi {
    once: Mutex<HashMap<String, VecDeque<Reply>>>,
    standing: Mutex<HashMap<String, Reply>>,
    seen: Mutex<Vec<HttpRequest>>,
    not_found: Reply,
    gate: Option<Gate>,
}

/// How a request is named in a script: `"POST api.example.com/oauth/token"`.
pub fn key(r: &HttpRequest) -> String {
    let url = url::Url::parse(&r.url).unwrap();
    format!("{} {}{}", r.method, url.host_str().unwrap(), url.path())
}

impl ScriptedApi {
    /// An API with these standing answers; anything else gets `not_found`.
    pub fn new(standing: Vec<(&str, Reply)>, not_found: Reply) -> ScriptedApi {
        ScriptedApi {
            once: Mutex::default(),
            standing: Mutex::new(
                standing
                    .into_iter()
                    .map(|(k, r)| (k.to_owned(), r))
                    .collect(),
            ),
            seen: Mutex::default(),
            not_found,
            gate: None,
        }
    }

    /// The API's own check of a request, after one-shot answers and before standing ones:
    /// `Some(reply)` refuses it.
    pub fn gated(
        mut self,
        gate: impl Fn(&HttpRequest) -> Option<Reply> + Send + Sync + 'static,
    ) -> ScriptedApi {
        self.gate = Some(Box::new(gate));
        self
    }

    /// The next answer to `request`, once.
    pub fn once(&self, request: &str, reply: Reply) {
        self.once
            .lock()
            .unwrap()
            .entry(request.to_owned())
            .or_default()
            .push_back(reply);
    }

    /// The standing answer to `request` from now on.
    pub fn always(&self, request: &str, reply: Reply) {
        self.standing
            .lock()
            .unwrap()
            .insert(request.to_owned(), reply);
    }

    /// The `request`s sent so far.
    pub fn requests(&self, request: &str) -> Vec<HttpRequest> {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter(|r| key(r) == request).cloned().collect()
    }

    /// How many requests were sent, to anywhere.
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

impl HttpClient for ScriptedApi {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        self.seen.lock().unwrap().push(request.clone());
        let k = key(request);
        let once = self
            .once
            .lock()
            .unwrap()
            .get_mut(&k)
            .and_then(VecDeque::pop_front);
        let reply = once
            .or_else(|| self.gate.as_ref().and_then(|gate| gate(request)))
            .or_else(|| self.standing.lock().unwrap().get(&k).cloned())
            .unwrap_or_else(|| self.not_found.clone());
        let (status, headers, body) = match reply {
            Reply::Json(status, headers, body) => {
                let mut headers: Vec<(String, String)> = headers
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect();
                headers.push(("Content-Type".into(), "application/json".into()));
                (status, headers, body.to_string().into_bytes())
            }
            Reply::Body(status, content_type, body) => {
                let headers = if content_type.is_empty() {
                    Vec::new()
                } else {
                    vec![("Content-Type".into(), content_type.into())]
                };
                (status, headers, body.to_vec())
            }
            Reply::Fail(kind) => {
                return Err(TransportError {
                    kind,
                    detail: format!("scripted {kind:?}"),
                })
            }
        };
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

/// The headers the app receives for a request to `/page` carrying `auth`.
pub fn app_headers(m: &Module, auth: (&str, &str)) -> HashMap<String, String> {
    let Outcome::Continue(fwd) = super::run(m, "GET", "/page", &[auth], b"") else {
        panic!("expected the request to pass");
    };
    fwd.set_headers().cloned().collect()
}

/// The claims of `X-MS-CLIENT-PRINCIPAL`, which must name `idp` and the .NET name claim type.
pub fn principal_claims(headers: &HashMap<String, String>, idp: &str) -> Vec<(String, String)> {
    let decoded = ezauth::crypto::b64_decode(&headers["X-MS-CLIENT-PRINCIPAL"]).unwrap();
    let principal: Value = serde_json::from_slice(&decoded).unwrap();
    assert_eq!(principal["auth_typ"], idp);
    assert_eq!(
        principal["name_typ"],
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
    );
    principal["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["typ"].as_str().unwrap().to_owned(),
                c["val"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}
