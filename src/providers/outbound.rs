//! Outbound HTTP to identity providers: one `ureq` agent with connect and overall deadlines,
//! no redirects, TLS through openssl (native-tls), bounded response sizes, https only (plain
//! http to loopback hosts only, see [`check_endpoint`]), and errors sorted into what the user
//! sees (502 unreachable or garbage, 504 too slow).

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::ProviderError;

/// No provider document or token response comes near this.
const MAX_RESPONSE: u64 = 1 << 20;

pub struct Http {
    agent: ureq::Agent,
}

impl Http {
    pub fn new(connect_timeout: Duration, timeout: Duration) -> Http {
        let mut builder = ureq::AgentBuilder::new()
            .timeout_connect(connect_timeout)
            .timeout(timeout)
            .redirects(0)
            .user_agent(concat!("ezauth/", env!("CARGO_PKG_VERSION")));
        if let Ok(tls) = native_tls::TlsConnector::new() {
            builder = builder.tls_connector(Arc::new(tls));
        }
        Http {
            agent: builder.build(),
        }
    }

    /// GETs a JSON document (discovery, JWKS); anything but 200 + JSON is an error.
    pub fn get_json(&self, url: &str) -> Result<Value, ProviderError> {
        refuse_insecure(url)?;
        let (status, body) = self.exchange(url, self.agent.get(url).call())?;
        if status != 200 {
            return Err(ProviderError::BadResponse(format!(
                "{url} answered {status}"
            )));
        }
        parse_json(url, &body)
    }

    /// POSTs a form (token endpoint), with an `Authorization` header if given, and returns
    /// the status with the JSON body; OAuth error responses (400/401 with `{"error": ...}`)
    /// are returned, not turned into errors.
    pub fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        authorization: Option<&str>,
    ) -> Result<(u16, Value), ProviderError> {
        refuse_insecure(url)?;
        let mut request = self.agent.post(url).set("Accept", "application/json");
        if let Some(value) = authorization {
            request = request.set("Authorization", value);
        }
        let (status, body) = self.exchange(url, request.send_form(form))?;
        Ok((status, parse_json(url, &body)?))
    }

    fn exchange(
        &self,
        url: &str,
        result: Result<ureq::Response, ureq::Error>,
    ) -> Result<(u16, Vec<u8>), ProviderError> {
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(t)) => return Err(classify(url, &t)),
        };
        let status = response.status();
        let mut body = Vec::new();
        response
            .into_reader()
            .take(MAX_RESPONSE + 1)
            .read_to_end(&mut body)
            .map_err(|e| io_error(url, &e))?;
        if body.len() as u64 > MAX_RESPONSE {
            return Err(ProviderError::BadResponse(format!(
                "{url} answered more than 1 MiB"
            )));
        }
        Ok((status, body))
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

fn refuse_insecure(url: &str) -> Result<(), ProviderError> {
    check_endpoint(url)
        .map(drop)
        .map_err(|why| ProviderError::BadResponse(format!("refused to call the provider: {why}")))
}

fn parse_json(url: &str, body: &[u8]) -> Result<Value, ProviderError> {
    serde_json::from_slice(body).map_err(|e| {
        ProviderError::BadResponse(format!("{url} answered something that is not JSON: {e}"))
    })
}

fn io_error(url: &str, e: &std::io::Error) -> ProviderError {
    if matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    ) {
        ProviderError::Timeout(format!("{url} did not answer in time"))
    } else {
        ProviderError::Unreachable(format!("{url}: {e}"))
    }
}

fn classify(url: &str, t: &ureq::Transport) -> ProviderError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(t);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io_error(url, io);
        }
        source = s.source();
    }
    let text = t.to_string();
    if text.contains("timed out") {
        return ProviderError::Timeout(format!("{url} did not answer in time"));
    }
    match t.kind() {
        ureq::ErrorKind::Dns | ureq::ErrorKind::ConnectionFailed => {
            ProviderError::Unreachable(format!("{url}: {text}"))
        }
        _ => ProviderError::BadResponse(format!("{url}: {text}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn no_request_goes_to_a_plain_http_provider() {
        let http = Http::new(Duration::from_millis(100), Duration::from_millis(100));
        // A refusal, before any connection (an unresolvable name would be Unreachable).
        let e = http.get_json("http://provider.invalid/keys").unwrap_err();
        assert!(matches!(e, ProviderError::BadResponse(_)), "{e:?}");
        assert!(e.message().contains("https"), "{e}");
        let e = http
            .post_form("http://provider.invalid/token", &[("a", "b")], None)
            .unwrap_err();
        assert!(e.message().contains("https"), "{e}");
    }
}
