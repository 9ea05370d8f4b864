//! Host-independent HTTP types: the request the host shows us, the response or header edits we
//! give back, and small helpers to read headers, cookies and query strings.

use std::collections::HashSet;
use std::sync::Arc;

/// One request, borrowed from the host for the duration of a hook call.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    /// Raw request target: path and query, as received (still percent-encoded).
    pub target: &'a str,
    /// `http` or `https`, as the host accepted the connection.
    pub scheme: &'a str,
    /// The `Host` the client addressed (may include a port).
    pub host: &'a str,
    pub client_addr: &'a str,
    pub headers: Vec<(&'a str, &'a str)>,
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// The first header of that name (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The path part of the target, before any `?`.
    pub fn path(&self) -> &'a str {
        self.target.split_once('?').map_or(self.target, |(p, _)| p)
    }

    /// The raw query string after `?`, empty when there is none.
    pub fn query(&self) -> &'a str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// Every cookie from every `Cookie` header, in order.
    pub fn cookies(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                Some((name.trim(), value.trim()))
            })
    }

    /// The value of the first cookie with that exact name.
    pub fn cookie(&self, name: &str) -> Option<&'a str> {
        self.cookies().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// A method that changes something, or a safe one that a framework may run as another
    /// (`X-HTTP-Method-Override` and its spellings turn a GET into a DELETE in many).
    pub fn is_unsafe_method(&self) -> bool {
        !matches!(self.method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
            || self.headers.iter().any(|(n, _)| {
                [
                    "X-HTTP-Method-Override",
                    "X-HTTP-Method",
                    "X-Method-Override",
                ]
                .iter()
                .any(|o| n.eq_ignore_ascii_case(o))
            })
    }

    /// The site that started this request, when it is not `own_origin`: `Sec-Fetch-Site` says
    /// `cross-site` or `same-site` (a sibling subdomain is another site's page too) or anything
    /// but `same-origin`/`none`, or any `Origin` or `Referer` line names another origin. Browsers
    /// never send a foreign `Origin` beside `Sec-Fetch-Site: same-origin`, nor two `Origin`
    /// lines: such a request is forged, and taken as foreign. `None` for same-origin requests
    /// and direct ones (typed, bookmarked, an SDK, curl).
    pub fn foreign_initiator(&self, own_origin: &str) -> Option<String> {
        let lines = |name: &'static str| {
            self.headers
                .iter()
                .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim())
        };
        let foreign_site = lines("Sec-Fetch-Site").find(|site| {
            !site.eq_ignore_ascii_case("same-origin") && !site.eq_ignore_ascii_case("none")
        });
        let foreign_source = lines("Origin")
            .map(str::to_owned)
            .chain(lines("Referer").map(referer_origin))
            .find(|source| !source.eq_ignore_ascii_case(own_origin));
        match (foreign_site, foreign_source) {
            (_, Some(source)) => Some(source),
            (Some(site), None) => Some(site.to_owned()),
            (None, None) => None,
        }
    }

    /// A WebSocket handshake (`Upgrade: websocket`): a browser sends it from any site's page
    /// with the site's cookies and no CORS check, so it is guarded like an unsafe method.
    pub fn is_websocket_upgrade(&self) -> bool {
        self.headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("Upgrade")
                && v.split(',')
                    .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
        })
    }

    pub fn to_owned_request(&self) -> OwnedRequest {
        OwnedRequest {
            method: self.method.to_owned(),
            target: self.target.to_owned(),
            scheme: self.scheme.to_owned(),
            host: self.host.to_owned(),
            client_addr: self.client_addr.to_owned(),
            headers: self
                .headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: self.body.to_vec(),
        }
    }
}

/// A request copied out of the host's memory, so a blocking step can run on another thread
/// after the hook call that saw it has returned.
#[derive(Debug, Clone, Default)]
pub struct OwnedRequest {
    pub method: String,
    pub target: String,
    pub scheme: String,
    pub host: String,
    pub client_addr: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl OwnedRequest {
    pub fn view(&self) -> Request<'_> {
        Request {
            method: &self.method,
            target: &self.target,
            scheme: &self.scheme,
            host: &self.host,
            client_addr: &self.client_addr,
            headers: self
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect(),
            body: &self.body,
        }
    }
}

/// A complete response the module sends instead of the application.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        let mut r = Response::new(status)
            .with_header("Content-Type", "application/json; charset=utf-8")
            .with_header("Cache-Control", "no-store");
        r.body = serde_json::to_vec(value).unwrap_or_default();
        r
    }

    pub fn html(status: u16, title: &str, message: &str) -> Self {
        let mut r = Response::new(status)
            .with_header("Content-Type", "text/html; charset=utf-8")
            .with_header("Cache-Control", "no-store");
        r.body = format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
             <body><h1>{t}</h1><p>{m}</p></body></html>\n",
            t = html_escape(title),
            m = html_escape(message)
        )
        .into_bytes();
        r
    }

    /// An error page: a short reason a person (and a log reader) can act on.
    pub fn error(status: u16, message: &str) -> Self {
        Response::html(status, reason_phrase(status), message)
    }

    pub fn redirect(location: &str) -> Self {
        let mut r = Response::new(302)
            .with_header("Location", location)
            .with_header("Content-Type", "text/html; charset=utf-8")
            .with_header("Cache-Control", "no-store");
        r.body = format!(
            "<html><body>Document moved <a href=\"{}\">here</a>.</body></html>\n",
            html_escape(location)
        )
        .into_bytes();
        r
    }
}

/// Headers computed once and shared by every request that needs them: a session's principal
/// headers, a stored record's token headers.
pub type HeaderGroup = Arc<[(String, String)]>;

/// What the host should do with a request that the module lets through.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Forward {
    /// Request headers to remove (names as the client sent them; match case-insensitively).
    pub remove: Vec<String>,
    /// Request headers to set (replacing any of the same name), in groups.
    pub set: Vec<HeaderGroup>,
    /// Headers to add to the application's response (e.g. a renewed session cookie).
    pub response_add: Vec<(String, String)>,
}

impl Forward {
    /// All headers to set, group after group.
    pub fn set_headers(&self) -> impl Iterator<Item = &(String, String)> {
        self.set.iter().flat_map(|g| g.iter())
    }

    pub fn set_count(&self) -> usize {
        self.set.iter().map(|g| g.len()).sum()
    }

    /// The `index`-th header to set, counting across groups.
    pub fn set_at(&self, mut index: usize) -> Option<&(String, String)> {
        for g in &self.set {
            if index < g.len() {
                return Some(&g[index]);
            }
            index -= g.len();
        }
        None
    }
}

/// The module's answer to one request.
#[derive(Debug)]
pub enum Outcome {
    Continue(Forward),
    Finish(Response),
    /// This request needs work that may block (an identity provider, a user's store lock); the
    /// host runs it on a worker thread, which turns the outcome into `Continue` or `Finish`.
    Blocking(Box<Pending>),
}

/// A request stopped at a step that needs I/O: the request, owned, and the step, with what the
/// steps before it found. The blocking step resumes there, so nothing before it runs (or logs)
/// twice and the response headers those steps left pending reach the answer.
#[derive(Debug)]
pub struct Pending {
    pub request: OwnedRequest,
    pub step: PendingStep,
}

/// Where the blocking step resumes.
pub enum PendingStep {
    /// Authentication needs I/O (a provider's metadata or keys, to judge a bearer token). It
    /// stopped before anything else: only the scrub and the origin are behind it.
    Authenticate {
        remove: Vec<String>,
        origin: Origin,
        /// Seconds past expiry a session is accepted on this path.
        grace: i64,
    },
    /// A route that blocks (its index in the routes table, and the path after the prefix), for
    /// the caller authentication found.
    Route {
        rest: String,
        origin: Origin,
        caller: Option<crate::session::Caller>,
        route: usize,
        response_add: Vec<(String, String)>,
    },
    /// The unauthenticated action: the redirect to the default provider's login.
    Login {
        origin: Origin,
        provider: std::sync::Arc<dyn crate::providers::Provider>,
        response_add: Vec<(String, String)>,
    },
}

impl std::fmt::Debug for PendingStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PendingStep::Authenticate { origin, .. } => {
                write!(f, "Authenticate({})", origin.base())
            }
            PendingStep::Route { origin, route, .. } => {
                write!(f, "Route({route}, {})", origin.base())
            }
            PendingStep::Login {
                origin, provider, ..
            } => write!(f, "Login({}, {})", provider.name(), origin.base()),
        }
    }
}

impl Outcome {
    /// Adds response headers (e.g. cookie deletions) to a finished response; other outcomes are
    /// returned unchanged.
    pub fn with_response_headers(
        self,
        extra: impl IntoIterator<Item = (String, String)>,
    ) -> Outcome {
        match self {
            Outcome::Finish(mut r) => {
                r.headers.extend(extra);
                Outcome::Finish(r)
            }
            other => other,
        }
    }

    /// Puts response headers an earlier step left pending (cookie deletions) in front of a
    /// finished answer's own. A cookie the answer sets itself supersedes a pending one of that
    /// name: the answer made its cookies knowing what the request sent (a new session deletes
    /// the variants it replaces), and a deletion after it would undo it.
    pub fn with_pending_headers(self, pending: Vec<(String, String)>) -> Outcome {
        let Outcome::Finish(mut r) = self else {
            return self;
        };
        if pending.is_empty() {
            return Outcome::Finish(r);
        }
        let cookie_name = |(n, v): &(String, String)| {
            n.eq_ignore_ascii_case("Set-Cookie")
                .then(|| v.split('=').next().unwrap_or("").trim().to_owned())
        };
        let own: HashSet<String> = r.headers.iter().filter_map(cookie_name).collect();
        let mut headers: Vec<(String, String)> = pending
            .into_iter()
            .filter(|h| cookie_name(h).is_none_or(|name| !own.contains(&name)))
            .collect();
        headers.append(&mut r.headers);
        r.headers = headers;
        Outcome::Finish(r)
    }
}

/// A `Set-Cookie` value for one of the module's cookies: HttpOnly, `same_site`, Secure over
/// https. `max_age` 0 deletes the cookie (with a past `Expires` for old browsers).
pub fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    secure: bool,
    same_site: crate::session::SameSite,
) -> String {
    let expires = if max_age <= 0 {
        "; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
    } else {
        ""
    };
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{name}={value}; Path={path}; Max-Age={max_age}{expires}; HttpOnly; SameSite={}{secure}",
        same_site.as_str()
    )
}

pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

/// The origin (`scheme://host[:port]`) a `Referer` names; the value itself when it is not a
/// URL (which then matches no origin).
pub fn referer_origin(referer: &str) -> String {
    match url::Url::parse(referer) {
        Ok(url) => url.origin().ascii_serialization(),
        Err(_) => referer.to_owned(),
    }
}

pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Query or form parameters, decoded; `None` if any name appears twice (a classic way to
/// smuggle a second `state` or `code` past a validator). Linear in the input: names are checked
/// against a hash set (std's, keyed per process, so chosen names cannot make it collide).
pub fn parse_unique_params(raw: &str) -> Option<Vec<(String, String)>> {
    let out: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut seen = HashSet::with_capacity(out.len());
    out.iter()
        .all(|(name, _)| seen.insert(name.as_str()))
        .then_some(out)
}

pub fn param<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The origin the client addressed, after forward-proxy resolution.
#[derive(Debug, Clone)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
}

impl Origin {
    pub fn base(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    /// The `iss` and `aud` of session tokens: `https://host/`, as App Service writes them.
    pub fn audience(&self) -> String {
        format!("{}/", self.base())
    }

    pub fn is_https(&self) -> bool {
        self.scheme == "https"
    }

    pub fn as_redirect_origin(&self) -> crate::redirect::Origin<'_> {
        crate::redirect::Origin {
            scheme: &self.scheme,
            host: &self.host,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_parameters_are_refused() {
        assert!(parse_unique_params("state=a&code=b&state=c").is_none());
        let p = parse_unique_params("state=a%20b&code=c").unwrap();
        assert_eq!(param(&p, "state"), Some("a b"));
    }

    /// `p0=v0&p1=v1&...`, `len` bytes or a little less.
    fn many_params(len: usize) -> String {
        let mut body = String::with_capacity(len);
        for i in 0.. {
            let pair = format!("p{i}=v{i}&");
            if body.len() + pair.len() > len {
                break;
            }
            body.push_str(&pair);
        }
        body
    }

    #[test]
    fn a_large_body_of_parameters_parses_in_linear_time() {
        // 1 MiB, the C host's body limit: ~76 000 parameters. Checking each name against all
        // earlier ones (quadratic) takes minutes here; a set of names, milliseconds.
        let body = many_params(1 << 20);
        let started = std::time::Instant::now();
        let params = parse_unique_params(&body).unwrap();
        let took = started.elapsed();
        assert!(params.len() > 70_000, "{}", params.len());
        assert!(took < std::time::Duration::from_secs(3), "took {took:?}");
        // The duplicate refusal still holds at that size, wherever the repeat is.
        assert!(parse_unique_params(&format!("{body}p0=again")).is_none());
        assert!(parse_unique_params(&format!("x=1&{body}x=2")).is_none());
    }
}
