//! The JavaScript SDK's popup login (`azure-mobile-apps-client`, `LoginUis/BrowserPopup.js`):
//! a token-mode login started with `completion_type=postMessage|iframe` and
//! `completion_origin=<the page's origin>` ends on a page that hands the result to the page
//! that opened the popup with `window.postMessage`, addressed to exactly that origin. The
//! origin must be this site's or one of `allowedExternalRedirectUrls`' origins: the message
//! carries a session token. `iframe` (the SDK's choice for Internet Explorer) posts to the
//! opener's hidden `zumo-login-receiver` frame, `/.auth/login/iframereceiver`, which passes it
//! to its parent at the origin it was given.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Ctx;
use crate::app::App;
use crate::crypto;
use crate::http::{param, parse_unique_params, Outcome, Response};
use crate::reply;

/// How the popup delivers its result.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(super) enum Kind {
    /// `window.opener.postMessage(…, origin)`.
    PostMessage,
    /// Through the opener's `zumo-login-receiver` frame (this site's iframe receiver).
    Iframe,
}

/// A validated completion: how, and the exact origin the result may go to.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(super) struct Completion {
    kind: Kind,
    origin: String,
}

/// The login's `completion_type` and `completion_origin`, when given (both or neither).
pub(super) fn completion_of(
    app: &App,
    ctx: &Ctx,
    params: &[(String, String)],
) -> Result<Option<Completion>, String> {
    let (kind, origin) = match (
        param(params, "completion_type"),
        param(params, "completion_origin"),
    ) {
        (None, None) => return Ok(None),
        (Some(kind), Some(origin)) => (kind, origin),
        _ => return Err("completion_type and completion_origin go together".into()),
    };
    let kind = match kind {
        "postMessage" => Kind::PostMessage,
        "iframe" => Kind::Iframe,
        other => {
            return Err(format!(
                "completion_type {other:?} is not postMessage or iframe"
            ))
        }
    };
    Ok(Some(Completion {
        kind,
        origin: allowed_origin(app, ctx, origin)?,
    }))
}

/// `origin` as a serialized web origin, when it is this site's or an allowed external URL's.
fn allowed_origin(app: &App, ctx: &Ctx, origin: &str) -> Result<String, String> {
    let refused = || format!("completion_origin {origin:?} is not this site nor an allowed origin");
    let url = url::Url::parse(origin).map_err(|_| refused())?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none();
    if !plain {
        return Err(refused());
    }
    let serialized = url.origin().ascii_serialization();
    let allowed = serialized == ctx.origin.base()
        || app
            .settings()
            .allowed_external_redirect_urls
            .iter()
            .filter_map(|entry| url::Url::parse(entry).ok())
            .filter(|entry| matches!(entry.scheme(), "http" | "https"))
            .any(|entry| entry.origin().ascii_serialization() == serialized);
    if allowed {
        Ok(serialized)
    } else {
        Err(refused())
    }
}

/// Whether the page that opened the popup is the one the result goes to: the request names
/// an `Origin` or `Referer`, and each is that origin. The SDK's page is often on another site
/// than this one (the app's own site, allow-listed); when it started the login itself, no
/// other site is asking for the token, so the login needs no page asking the user first. A
/// request that names no source (`Referrer-Policy: no-referrer`) or another one still asks.
pub(super) fn started_by_receiver(ctx: &Ctx, completion: &Completion) -> bool {
    let mut sources = ctx
        .req
        .headers
        .iter()
        .filter_map(|(name, value)| {
            if name.eq_ignore_ascii_case("Origin") {
                Some(value.trim().to_owned())
            } else if name.eq_ignore_ascii_case("Referer") {
                Some(crate::http::referer_origin(value.trim()))
            } else {
                None
            }
        })
        .peekable();
    sources.peek().is_some() && sources.all(|source| source == completion.origin)
}

/// Whether the request says nothing of where it came from: no `Sec-Fetch-Site`, `Origin` or
/// `Referer` (a browser without Fetch Metadata, from a `no-referrer` page). A popup's opener
/// is then unknown, so the user is asked, although a plain token-mode login is not (a typed or
/// bookmarked URL names nothing either).
pub(super) fn names_no_source(ctx: &Ctx) -> bool {
    !ctx.req.headers.iter().any(|(name, _)| {
        ["Sec-Fetch-Site", "Origin", "Referer"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
    })
}

/// The end of a popup login: the page that posts `{"type":"LoginCompleted","oauth":…}` (or
/// `"error"`) to the opener.
pub(super) fn completion_page(
    ctx: &Ctx,
    completion: &Completion,
    result: Result<Value, &str>,
) -> Response {
    let envelope = match result {
        Ok(oauth) => json!({"type": "LoginCompleted", "oauth": oauth}),
        Err(error) => json!({"type": "LoginCompleted", "error": error}),
    };
    // The SDK accepts a string or an object; a string is what App Service sends.
    let message = envelope.to_string();
    let script = match completion.kind {
        Kind::PostMessage => format!(
            "var m={m},o={o};if(window.opener){{window.opener.postMessage(m,o);}}",
            m = js_string(&message),
            o = js_string(&completion.origin),
        ),
        Kind::Iframe => format!(
            "var m={m},o={o};var f=window.opener&&window.opener.frames[\"zumo-login-receiver\"];\
             if(f){{f.postMessage(m,o);}}",
            m = js_string(&message),
            o = js_string(&ctx.origin.base()),
        ),
    };
    script_page("Signing in", &script, "'none'")
}

/// `GET /.auth/login/iframereceiver?completion_origin=<origin>`: the hidden frame the SDK puts
/// in its page for `completion_type=iframe`; passes a message from this site's popup on to its
/// parent at that origin. Only framed by that origin.
pub fn iframe_receiver(app: &App, ctx: &Ctx) -> Outcome {
    let origin = parse_unique_params(ctx.req.query())
        .and_then(|p| param(&p, "completion_origin").map(str::to_owned));
    let Some(origin) = origin else {
        return reply::refuse(
            app.log(),
            400,
            "iframereceiver: no completion_origin",
            "completion_origin is required.",
        );
    };
    let origin = match allowed_origin(app, ctx, &origin) {
        Ok(o) => o,
        Err(why) => {
            return reply::refuse(
                app.log(),
                400,
                &format!("iframereceiver: {why}"),
                "The completion origin is not allowed.",
            )
        }
    };
    let script = format!(
        "var own={own},o={o};window.addEventListener(\"message\",function(e){{\
         if(e.origin===own&&window.parent!==window){{window.parent.postMessage(e.data,o);}}}});",
        own = js_string(&ctx.origin.base()),
        o = js_string(&origin),
    );
    Outcome::Finish(script_page("Login receiver", &script, &origin))
}

/// A page that runs `script` only (CSP with a per-response nonce), never cached, sends no
/// referrer, framed only by `frame_ancestors`.
fn script_page(title: &str, script: &str, frame_ancestors: &str) -> Response {
    let nonce = crypto::random_token(16);
    let mut r = Response::new(200)
        .with_header("Content-Type", "text/html; charset=utf-8")
        .with_header("Cache-Control", "no-store")
        .with_header(
            "Content-Security-Policy",
            format!(
                "default-src 'none'; script-src 'nonce-{nonce}'; base-uri 'none'; \
                 form-action 'none'; frame-ancestors {frame_ancestors}"
            ),
        )
        .with_header("Referrer-Policy", "no-referrer");
    if frame_ancestors == "'none'" {
        r = r.with_header("X-Frame-Options", "DENY");
    }
    r.body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{t}</title></head><body>\
         <p>{t}… You can close this window.</p><script nonce=\"{nonce}\">{script}</script>\
         </body></html>\n",
        t = crate::http::html_escape(title),
    )
    .into_bytes();
    r
}

/// `s` as a JavaScript string literal that is safe inside a `<script>` element: JSON, with
/// `<`, `>`, `&` and the line separators U+2028/U+2029 escaped (no `</script>` can end it).
fn js_string(s: &str) -> String {
    serde_json::to_string(s)
        .unwrap_or_default()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_strings_cannot_end_the_script_element() {
        let s = js_string("</script><script>alert(1)</script>&\u{2028}\"'");
        assert!(!s.contains('<') && !s.contains('>') && !s.contains('&'));
        assert!(!s.contains('\u{2028}'));
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "</script><script>alert(1)</script>&\u{2028}\"'");
    }
}
