//! `response_mode=form_post` callbacks from another site. The provider's page (Azure AD with
//! `response_mode=form_post`, Apple) posts the code to the callback from its own site; the
//! login-state cookie is `SameSite=Lax`, so a browser leaves it off that cross-site `POST`.
//! Rather than loosen the cookie (`SameSite=None` needs https, and would send it on every
//! cross-site request), the callback answers such a `POST` with a small page of our own origin
//! that posts the same form to itself again: that `POST` is same-origin, and carries the cookie.
//!
//! Against an attacker:
//! - login CSRF: the re-post carries the victim's login-state cookies, which must match the
//!   posted `state` (the cookie is named after it and sealed): an attacker's own code and state
//!   find no cookie and end in 400, as a cross-site `GET` callback does today;
//! - replay: the re-posted form is the same one-time state and code (the state is consumed
//!   once; the provider redeems a code once);
//! - the page never loops: the re-post carries [`REPOSTED_FIELD`], and a re-posted callback
//!   that still lacks the cookie is a 400 that says why;
//! - the page reflects the posted fields: every name and value is HTML-escaped inside a quoted
//!   attribute, the only script runs by a per-response CSP nonce, nothing may frame the page
//!   (`frame-ancestors 'none'`, `X-Frame-Options: DENY`), the form may only post to this
//!   origin (`form-action 'self'`), and the body it repeats is bounded.

use super::Ctx;
use crate::app::App;
use crate::crypto;
use crate::http::{html_escape, Outcome, Response};
use crate::reply;

/// The hidden field that marks a callback as re-posted by our page. Providers send no such
/// field; a second `POST` without the cookie carrying it is refused instead of re-posted.
pub const REPOSTED_FIELD: &str = "ezauth_reposted";
/// Bytes of form body the page repeats at most (an Azure AD form_post with an id_token and
/// many groups fits in a few KB); a larger body is refused with 413.
pub const MAX_REPOST_BODY: usize = 32 * 1024;
/// Fields the page repeats at most (a provider posts fewer than ten).
pub const MAX_REPOST_FIELDS: usize = 32;

/// What to answer a callback `POST` that carries no login-state cookie for its `state`:
/// the re-post page when another site posted it and it was not re-posted yet; otherwise `None`
/// (the caller refuses it: re-posting a same-origin or already re-posted form cannot help).
pub fn answer(
    app: &App,
    ctx: &Ctx,
    provider: &str,
    params: &[(String, String)],
) -> Option<Outcome> {
    if ctx.req.method != "POST" {
        return None;
    }
    if params.iter().any(|(k, _)| k == REPOSTED_FIELD) {
        return Some(reply::refuse(
            app.log(),
            400,
            "callback: the re-posted form_post callback still carries no login-state cookie \
             (cookies blocked for this site, another browser, or not this browser's sign-in)",
            "This sign-in could not be completed: the browser did not send back the sign-in \
             cookie. Allow cookies for this site and sign in again.",
        ));
    }
    let site = super::foreign_initiator(ctx)?;
    if ctx.req.body.len() > MAX_REPOST_BODY || params.len() > MAX_REPOST_FIELDS {
        return Some(reply::refuse(
            app.log(),
            413,
            &format!(
                "callback: form_post from {site:?} too large to re-post ({} bytes, {} fields)",
                ctx.req.body.len(),
                params.len()
            ),
            "The sign-in response is too large.",
        ));
    }
    app.log().info(format_args!(
        "callback: form_post from {site:?} without the login-state cookie (SameSite): \
         re-posting it from this origin"
    ));
    let action = format!("{}/login/{provider}/callback", app.settings().api_prefix);
    Some(Outcome::Finish(page(&action, params)))
}

/// The auto-submitting page: `params` again, plus [`REPOSTED_FIELD`], posted to `action`.
pub fn page(action: &str, params: &[(String, String)]) -> Response {
    let nonce = crypto::random_token(16);
    let mut fields = String::new();
    for (k, v) in params {
        fields.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            html_escape(k),
            html_escape(v)
        ));
    }
    let mut r = Response::new(200)
        .with_header("Content-Type", "text/html; charset=utf-8")
        .with_header("Cache-Control", "no-store")
        .with_header(
            "Content-Security-Policy",
            format!(
                "default-src 'none'; script-src 'nonce-{nonce}'; form-action 'self'; \
                 frame-ancestors 'none'; base-uri 'none'"
            ),
        )
        .with_header("X-Frame-Options", "DENY")
        .with_header("X-Content-Type-Options", "nosniff")
        .with_header("Referrer-Policy", "no-referrer");
    r.body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Signing in</title></head>\
         <body><form id=\"ezauth-repost\" method=\"post\" action=\"{action}\">{fields}\
         <input type=\"hidden\" name=\"{REPOSTED_FIELD}\" value=\"1\">\
         <noscript><p>Your sign-in is almost complete.</p>\
         <button type=\"submit\">Continue</button></noscript></form>\
         <script nonce=\"{nonce}\">document.getElementById(\"ezauth-repost\").submit();</script>\
         </body></html>\n",
        action = html_escape(action),
    )
    .into_bytes();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_escaped_and_the_script_has_a_fresh_nonce() {
        let hostile = [
            ("code".to_owned(), "\"><script>alert(1)</script>".to_owned()),
            ("state".to_owned(), "'onmouseover='x".to_owned()),
            ("<b>".to_owned(), "&amp;".to_owned()),
        ];
        let a = page("/.auth/login/aad/callback", &hostile);
        let body = String::from_utf8(a.body.clone()).unwrap();
        assert_eq!(body.matches("<script").count(), 1, "{body}");
        assert!(!body.contains("'onmouseover"), "{body}");
        assert!(body.contains("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(body.contains("name=\"&lt;b&gt;\" value=\"&amp;amp;\""));
        assert!(body.contains(&format!("name=\"{REPOSTED_FIELD}\" value=\"1\"")));
        let csp = |r: &Response| {
            r.headers
                .iter()
                .find(|(n, _)| n == "Content-Security-Policy")
                .unwrap()
                .1
                .clone()
        };
        let b = page("/x", &[]);
        assert_ne!(csp(&a), csp(&b), "a nonce per response");
        assert!(csp(&b).contains("frame-ancestors 'none'"));
        let nonce = csp(&b)
            .split("'nonce-")
            .nth(1)
            .unwrap()
            .split('\'')
            .next()
            .unwrap()
            .to_owned();
        let body_b = String::from_utf8(b.body).unwrap();
        assert!(body_b.contains(&format!("<script nonce=\"{nonce}\">")));
        assert!(body_b.contains("<noscript>"));
    }
}
