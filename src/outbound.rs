//! Outbound HTTP as a seam: [`HttpClient`] sends one request and returns the raw answer;
//! [`UreqClient`] is the real one (connect and overall deadlines, no redirects, TLS through
//! openssl, bounded bodies), and tests put a scripted double in its place. What every caller
//! needs on top (https only but to loopback hosts, the size bound, JSON, errors sorted into
//! what the user sees: 502 unreachable or garbage, 504 too slow) is written once, in the
//! helpers on `dyn HttpClient` ([`get_json`](HttpClient::get_json),
//! [`post_form`](HttpClient::post_form)), so no implementation can skip it. Below the domain
//! layer: identity providers use it today, remote token stores will.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

/// No provider document or token response comes near this. An implementation may stop
/// reading a body past it (the real one reads one byte more); the helpers refuse a longer one.
pub const MAX_RESPONSE: usize = 1 << 20;

/// One request as it goes out.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The answer, whatever its status (a 4xx or 5xx is an answer, not an error).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why no answer came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// No connection (name not found, refused, reset).
    Unreachable,
    /// A deadline passed.
    Timeout,
    /// A connection, but no HTTP answer that could be read (bad TLS, broken framing).
    Broken,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TransportError {
    pub kind: TransportKind,
    pub detail: String,
}

/// Sends one request; never follows redirects. The answer's body may be cut after
/// [`MAX_RESPONSE`] + 1 bytes.
pub trait HttpClient: Send + Sync {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// Why a helper failed, sorted by what the user should see.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// Could not connect or the connection broke: 502.
    Unreachable(String),
    /// Too slow: 504.
    Timeout(String),
    /// An answer that cannot be used (or a refused URL): 502.
    BadResponse(String),
}

impl dyn HttpClient {
    /// GETs a JSON document (discovery, JWKS); anything but 200 + JSON is an error.
    pub fn get_json(&self, url: &str) -> Result<Value, Error> {
        let response = self.exchange(HttpRequest {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        })?;
        if response.status != 200 {
            return Err(Error::BadResponse(format!(
                "{url} answered {}",
                response.status
            )));
        }
        parse_json(url, &response.body)
    }

    /// POSTs a form (token endpoint), with an `Authorization` header if given, and returns
    /// the status with the JSON body; OAuth error responses (400/401 with `{"error": ...}`)
    /// are returned, not turned into errors.
    pub fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        authorization: Option<&str>,
    ) -> Result<(u16, Value), Error> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut headers = vec![
            ("Accept".into(), "application/json".into()),
            (
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
        ];
        if let Some(value) = authorization {
            headers.push(("Authorization".into(), value.into()));
        }
        let response = self.exchange(HttpRequest {
            method: "POST".into(),
            url: url.into(),
            headers,
            body: body.into_bytes(),
        })?;
        Ok((response.status, parse_json(url, &response.body)?))
    }

    /// Sends `request` if its URL may be called, with the size bound and the error mapping
    /// every caller needs.
    pub fn exchange(&self, request: HttpRequest) -> Result<HttpResponse, Error> {
        check_endpoint(&request.url)
            .map_err(|why| Error::BadResponse(format!("refused to call the provider: {why}")))?;
        // Errors end in logs: they name the URL without its query, which may carry a
        // credential where the provider documents it there (Facebook's client_secret, codes
        // and tokens).
        let url = request.url.split('?').next().unwrap_or_default();
        let response = self.send(&request).map_err(|e| {
            let detail = e.detail.replace(request.url.as_str(), url);
            match e.kind {
                TransportKind::Timeout => Error::Timeout(format!("{url} did not answer in time")),
                TransportKind::Unreachable => Error::Unreachable(format!("{url}: {detail}")),
                TransportKind::Broken => Error::BadResponse(format!("{url}: {detail}")),
            }
        })?;
        if response.body.len() > MAX_RESPONSE {
            return Err(Error::BadResponse(format!(
                "{url} answered more than 1 MiB"
            )));
        }
        Ok(response)
    }
}

/// Is `raw` fit to be a provider endpoint? `https`, or plain `http` to a loopback host
/// (127.0.0.0/8, `::1`, `localhost`: tests and local development), nothing else. Checked when
/// the configuration is read, when a discovery document is read, and before every request.
pub fn check_endpoint(raw: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL ({e})"))?;
    let Some(host) = url.host() else {
        return Err(format!("{raw:?} has no host"));
    };
    let loopback = match host {
        url::Host::Ipv4(a) => a.is_loopback(),
        url::Host::Ipv6(a) => a.is_loopback(),
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(format!(
            "{raw:?} must be an https URL (plain http only to a loopback host: 127.0.0.0/8, ::1, localhost)"
        )),
        _ => Err(format!("{raw:?} is not an https URL")),
    }
}

fn parse_json(url: &str, body: &[u8]) -> Result<Value, Error> {
    serde_json::from_slice(body)
        .map_err(|e| Error::BadResponse(format!("{url} answered something that is not JSON: {e}")))
}

/// The real client: one `ureq` agent.
pub struct UreqClient {
    agent: ureq::Agent,
}

impl UreqClient {
    pub fn new(connect_timeout: Duration, timeout: Duration) -> UreqClient {
        let mut builder = ureq::AgentBuilder::new()
            .timeout_connect(connect_timeout)
            .timeout(timeout)
            .redirects(0)
            .user_agent(concat!("ezauth/", env!("CARGO_PKG_VERSION")));
        if let Ok(tls) = native_tls::TlsConnector::new() {
            builder = builder.tls_connector(Arc::new(tls));
        }
        UreqClient {
            agent: builder.build(),
        }
    }
}

impl HttpClient for UreqClient {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut call = self.agent.request(&request.method, &request.url);
        for (name, value) in &request.headers {
            call = call.set(name, value);
        }
        let bodiless = request.body.is_empty() && matches!(request.method.as_str(), "GET" | "HEAD");
        let result = if bodiless {
            call.call()
        } else {
            call.send_bytes(&request.body)
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(t)) => return Err(classify(&t)),
        };
        let status = response.status();
        let headers = response
            .headers_names()
            .into_iter()
            .flat_map(|name| {
                response
                    .all(&name)
                    .into_iter()
                    .map(|v| (name.clone(), v.to_owned()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut body = Vec::new();
        response
            .into_reader()
            .take(MAX_RESPONSE as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| io_error(&e))?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

fn io_error(e: &std::io::Error) -> TransportError {
    let kind = if matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    ) {
        TransportKind::Timeout
    } else {
        TransportKind::Unreachable
    };
    TransportError {
        kind,
        detail: e.to_string(),
    }
}

fn classify(t: &ureq::Transport) -> TransportError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(t);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io_error(io);
        }
        source = s.source();
    }
    let detail = t.to_string();
    let kind = if detail.contains("timed out") {
        TransportKind::Timeout
    } else {
        match t.kind() {
            ureq::ErrorKind::Dns | ureq::ErrorKind::ConnectionFailed => TransportKind::Unreachable,
            _ => TransportKind::Broken,
        }
    };
    TransportError { kind, detail }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    #[test]
    fn endpoints_are_https_or_loopback() {
        for ok in [
            "https://login.example/t/v2.0",
            "https://10.0.0.1/keys",
            "http://127.0.0.1:8080/.well-known/openid-configuration",
            "http://127.1.2.3/token",
            "http://[::1]:9/keys",
            "http://localhost/token",
            "http://LOCALHOST:3000/token",
        ] {
            assert!(check_endpoint(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://login.example/token",
            "http://10.0.0.1/keys",
            "http://128.0.0.1/keys",
            "http://localhost.evil.example/token",
            "http://127.0.0.1.nip.io/token",
            "http://[::ffff:127.0.0.1]/token",
            "http://[::2]/token",
            "ftp://127.0.0.1/keys",
            "file:///etc/passwd",
            "/relative",
            "",
        ] {
            assert!(check_endpoint(bad).is_err(), "{bad}");
        }
    }

    /// Answers every request with one scripted result and remembers what it was sent.
    struct Scripted {
        answer: Result<HttpResponse, TransportError>,
        sent: Mutex<Vec<HttpRequest>>,
    }

    impl HttpClient for Scripted {
        fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
            self.sent.lock().push(request.clone());
            self.answer.clone()
        }
    }

    fn scripted(answer: Result<HttpResponse, TransportError>) -> Scripted {
        Scripted {
            answer,
            sent: Mutex::new(Vec::new()),
        }
    }

    fn answer(status: u16, body: &[u8]) -> Result<HttpResponse, TransportError> {
        Ok(HttpResponse {
            status,
            headers: Vec::new(),
            body: body.to_vec(),
        })
    }

    #[test]
    fn no_request_goes_to_a_plain_http_provider() {
        // The check is the helpers', so it holds for every client, the real one included.
        let real: &dyn HttpClient =
            &UreqClient::new(Duration::from_millis(100), Duration::from_millis(100));
        let e = real.get_json("http://provider.invalid/keys").unwrap_err();
        assert!(
            matches!(&e, Error::BadResponse(m) if m.contains("https")),
            "{e:?}"
        );
        let double = scripted(answer(200, b"{}"));
        let http: &dyn HttpClient = &double;
        let e = http
            .post_form("http://provider.invalid/token", &[("a", "b")], None)
            .unwrap_err();
        assert!(
            matches!(&e, Error::BadResponse(m) if m.contains("https")),
            "{e:?}"
        );
        assert!(double.sent.lock().is_empty(), "a request went out");
    }

    #[test]
    fn transport_failures_are_sorted_by_what_the_user_sees() {
        let url = "https://idp.test/keys";
        for (kind, want) in [
            (TransportKind::Timeout, "Timeout"),
            (TransportKind::Unreachable, "Unreachable"),
            (TransportKind::Broken, "BadResponse"),
        ] {
            let double = scripted(Err(TransportError {
                kind,
                detail: "scripted".into(),
            }));
            let e = (&double as &dyn HttpClient).get_json(url).unwrap_err();
            assert!(format!("{e:?}").starts_with(want), "{kind:?}: {e:?}");
        }
    }

    #[test]
    fn errors_name_the_url_without_its_query() {
        let url = "https://graph.test/oauth/access_token?client_secret=hush&code=c0de";
        for kind in [
            TransportKind::Timeout,
            TransportKind::Unreachable,
            TransportKind::Broken,
        ] {
            let double = scripted(Err(TransportError {
                kind,
                detail: format!("{url}: Connection Failed"),
            }));
            let e = (&double as &dyn HttpClient).get_json(url).unwrap_err();
            let shown = format!("{e:?}");
            assert!(
                shown.contains("https://graph.test/oauth/access_token"),
                "{shown}"
            );
            assert!(
                !shown.contains("hush") && !shown.contains("c0de"),
                "{shown}"
            );
        }
    }

    #[test]
    fn answers_are_checked_once_for_every_client() {
        let url = "https://idp.test/doc";
        let get = |a| (&scripted(a) as &dyn HttpClient).get_json(url);
        assert!(matches!(get(answer(500, b"{}")), Err(Error::BadResponse(m)) if m.contains("500")));
        assert!(
            matches!(get(answer(200, b"<html>")), Err(Error::BadResponse(m)) if m.contains("not JSON"))
        );
        let big = vec![b' '; MAX_RESPONSE + 1];
        assert!(
            matches!(get(answer(200, &big)), Err(Error::BadResponse(m)) if m.contains("1 MiB"))
        );
        assert_eq!(
            get(answer(200, br#"{"a":1}"#)),
            Ok(serde_json::json!({"a": 1}))
        );
        // An OAuth error is an answer for the caller to read, not an error.
        let double = scripted(answer(400, br#"{"error":"invalid_grant"}"#));
        let http: &dyn HttpClient = &double;
        let (status, body) = http.post_form(url, &[("grant_type", "x y")], None).unwrap();
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let sent = double.sent.lock()[0].clone();
        assert_eq!(sent.method, "POST");
        assert_eq!(sent.body, b"grant_type=x+y");
        assert!(sent
            .headers
            .contains(&("Accept".into(), "application/json".into())));
    }
}
