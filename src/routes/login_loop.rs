//! The login loop breaker. A browser that does not send back the session cookie it was just
//! given (cookies blocked for the site; cookies planted by a sibling subdomain that get in the
//! way; a cookie jar flooded until ours was evicted) would otherwise go round forever: the
//! protected page sends it to the provider, the provider (still signed in) straight back to the
//! callback, which redeems a code and sets a cookie that again does not arrive. The callback
//! leaves a short-lived marker beside the session cookie; a login about to start for a browser
//! that has the marker but no usable session gets an error page that says what happened, with
//! every variant of our cookies deleted, instead of another redirect.

use super::Ctx;
use crate::app::App;
use crate::http::{self, Outcome, Response};
use crate::session::{self, SessionCookies};

/// The marker `Set-Cookie` for a sign-in completed at `now`.
pub(super) fn marker(app: &App, ctx: &Ctx, now: i64) -> (String, String) {
    let names = app.settings().cookie_names();
    (
        "Set-Cookie".to_owned(),
        session::signed_in_marker(names, now, ctx.origin.is_https()),
    )
}

/// The error page instead of a login, when the request carries the marker of a sign-in that
/// completed within the last minute but not one session cookie that opens; `None` otherwise.
/// A session that opens but is no longer accepted (signed out everywhere from another device,
/// a moment after this sign-in) did stick: signing in again is the right answer there, and
/// cannot loop.
pub(super) fn did_not_stick(app: &App, ctx: &Ctx) -> Option<Outcome> {
    let settings = app.settings();
    let names = settings.cookie_names();
    let now = app.now();
    let at = session::signed_in_at(ctx.req, names, now)?;
    let sent = SessionCookies::parse(ctx.req, names);
    let opened = sent.resolve(
        // as of the sign-in: a session it wrote was valid then
        |v| session::open_cookie(v, &settings.keys, &settings.app_id, at),
        |a, b| a.ssn == b.ssn && a.principal.sid == b.principal.sid,
    );
    if matches!(opened, session::Found::One { .. }) {
        return None;
    }
    let ours = ctx
        .req
        .cookies()
        .map(|(n, _)| n)
        .filter(|n| n.contains("AppServiceAuth"));
    app.log().warn(format_args!(
        "login loop stopped for {}: a sign-in completed {}s ago, but the browser sent no usable \
         session cookie back (its cookies: {}); answered an error page instead of another \
         redirect to the provider",
        ctx.req.client_addr,
        now - at,
        super::names_for_log(ours)
    ));
    let host = ctx
        .origin
        .host
        .rsplit_once(':')
        .map_or(ctx.origin.host.as_str(), |(h, p)| {
            // `[::1]:8080` and `app:8080` lose the port; `[::1]` stays whole.
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                &ctx.origin.host
            }
        });
    let parents = session::cookies::parent_domains(host);
    let parents = if parents.is_empty() {
        String::new()
    } else {
        format!(" and of {}", parents.join(", "))
    };
    let again = app
        .validate_redirect(&ctx.origin, ctx.req.target)
        .unwrap_or_else(|_| "/".into());
    let title = "Signing in did not stick";
    let mut r = Response::html(400, title, "");
    r.body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body>\
         <h1>{title}</h1>\
         <p>You signed in, but your browser did not send the session cookie it was just given \
         back to {site}. Either cookies are blocked for this site, or another site under the \
         same domain (a sibling subdomain) planted cookies that get in the way.</p>\
         <p>Clear the cookies of <b>{domain}</b>{parents} in your browser, then \
         <a href=\"{again}\">try again</a>.</p></body></html>\n",
        site = http::html_escape(&ctx.origin.host),
        domain = http::html_escape(host),
        parents = http::html_escape(&parents),
        again = http::html_escape(&again),
    )
    .into_bytes();
    for c in sent.clear_all(&ctx.origin.host, ctx.req.path(), ctx.origin.is_https()) {
        r.headers.push(("Set-Cookie".into(), c));
    }
    Some(Outcome::Finish(r))
}
