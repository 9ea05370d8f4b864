//! The `/.auth/*` routes: a small table maps each path to its handler. Handlers get a
//! [`Ctx`] with the request, where the client thinks it is, and who it is.

mod client_login;
mod login;
mod login_loop;
mod logout;
mod me;
mod pages;
mod refresh;
pub mod repost;

pub use login::start_login;

use crate::app::App;
use crate::http::{Origin, Outcome, Request, Response};
use crate::reply;
use crate::session::{Caller, Session};

/// Everything a route handler needs about the request.
pub struct Ctx<'r, 'a> {
    pub req: &'r Request<'a>,
    pub origin: Origin,
    pub caller: Option<Caller>,
    /// True when running in the host's blocking step.
    pub can_block: bool,
}

/// A new `X-ZUMO-AUTH` session token as App Service answers it:
/// `{"authenticationToken": ..., "user": {"userId": "sid:..."}}`.
fn session_token_json(app: &App, origin: &Origin, session: &Session) -> serde_json::Value {
    let settings = app.settings();
    let token = crate::session::mint_token(
        &settings.keys,
        session,
        &origin.audience(),
        &settings.app_id,
    );
    serde_json::json!({"authenticationToken": token, "user": {"userId": session.principal.sid}})
}

/// `Set-Cookie` headers that store `session` in the browser (replacing the parts it sent),
/// written at `now` (the time its expiry was computed from, so `Max-Age` is exact).
/// Planted variants of the session cookie the request carried (`Domain=`, `Path=`) are deleted
/// first, so the cookie written here is the only one the browser sends back.
fn session_cookies(app: &App, ctx: &Ctx, session: &Session, now: i64) -> Vec<(String, String)> {
    let settings = app.settings();
    let names = settings.cookie_names();
    let https = ctx.origin.is_https();
    let sent = crate::session::SessionCookies::parse(ctx.req, names);
    let mut out = sent.clear_planted(&ctx.origin.host, ctx.req.path(), https);
    out.extend(crate::session::write_cookie(
        session,
        &settings.keys,
        &settings.app_id,
        names,
        https,
        sent.part_count(),
        crate::session::browser_lifetime(session, now, settings.refresh_window()),
    ));
    out.into_iter()
        .map(|c| ("Set-Cookie".to_owned(), c))
        .collect()
}

/// The provider's claims cannot become the principal (control characters in the id or name):
/// the sign-in is refused.
fn unusable_identity(app: &App, why: &crate::session::Rejected) -> Outcome {
    reply::refuse(
        app.log(),
        403,
        &format!("sign-in refused: {}", why.0),
        "The identity provider returned a user name or id that cannot be used.",
    )
}

/// The site that started this request, when it is not this one (see
/// [`Request::foreign_initiator`]).
fn foreign_initiator(ctx: &Ctx) -> Option<String> {
    ctx.req.foreign_initiator(&ctx.origin.base())
}

/// A page that asks the user before doing what another site's link asked for: its button
/// repeats the request from this site (`Sec-Fetch-Site: same-origin`), which a link elsewhere
/// cannot. Never framed, never cached.
fn confirmation_page(ctx: &Ctx, title: &str, question: &str, button: &str) -> Outcome {
    let mut r = Response::html(200, title, question);
    r.body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><p>{q}</p><p><a href=\"{href}\">{b}</a></p></body></html>\n",
        t = crate::http::html_escape(title),
        q = crate::http::html_escape(question),
        b = crate::http::html_escape(button),
        href = crate::http::html_escape(ctx.req.target),
    )
    .into_bytes();
    r.headers.push(("X-Frame-Options".into(), "DENY".into()));
    r.headers.push((
        "Content-Security-Policy".into(),
        "frame-ancestors 'none'".into(),
    ));
    Outcome::Finish(r)
}

/// Names a client chose (parameters, JSON fields) for a log line: each escaped and cut short,
/// at most a few; never their values.
fn names_for_log<'n>(names: impl IntoIterator<Item = &'n str>) -> String {
    const MAX_NAMES: usize = 8;
    const MAX_NAME_CHARS: usize = 40;
    let mut out = Vec::new();
    let mut more = 0;
    for name in names {
        if out.len() < MAX_NAMES {
            out.push(format!(
                "{:?}",
                name.chars().take(MAX_NAME_CHARS).collect::<String>()
            ));
        } else {
            more += 1;
        }
    }
    if more > 0 {
        out.push(format!("and {more} more"));
    }
    out.join(", ")
}

type Handler = fn(&App, &Ctx, &[&str]) -> Outcome;

/// One route: the path segments after the prefix (`*` matches one segment), the methods it
/// answers, and whether it may call a provider or remote store (and so must block).
struct Route {
    segments: &'static [&'static str],
    methods: &'static [&'static str],
    blocks: bool,
    handler: Handler,
}

const ROUTES: &[Route] = &[
    Route {
        segments: &["login", "done"],
        methods: &["GET", "HEAD"],
        blocks: false,
        handler: pages::login_done,
    },
    Route {
        segments: &["login", "*"],
        methods: &["GET", "HEAD"],
        blocks: true,
        handler: login::start,
    },
    Route {
        segments: &["login", "*"],
        methods: &["POST"],
        blocks: true,
        handler: client_login::client_login,
    },
    Route {
        segments: &["login", "*", "callback"],
        methods: &["GET", "POST"],
        blocks: true,
        handler: login::callback,
    },
    Route {
        segments: &["me"],
        methods: &["GET", "HEAD"],
        blocks: false,
        handler: me::me,
    },
    Route {
        segments: &["logout"],
        methods: &["GET", "HEAD", "POST"],
        // Deleting the tokens takes the user's store lock, which a refresh may hold across a
        // provider call: never on the host's event loop.
        blocks: true,
        handler: logout::logout,
    },
    Route {
        segments: &["logout", "complete"],
        methods: &["GET", "HEAD"],
        blocks: false,
        handler: pages::logout_complete,
    },
    Route {
        segments: &["logout", "done"],
        methods: &["GET", "HEAD"],
        blocks: false,
        handler: pages::logout_complete,
    },
    Route {
        segments: &["refresh"],
        methods: &["GET", "POST"],
        blocks: true,
        handler: refresh::refresh,
    },
    Route {
        segments: &["version"],
        methods: &["GET", "HEAD"],
        blocks: false,
        handler: pages::version,
    },
];

/// Is this path (after the prefix, as [`route_rest`] gives it) the refresh route? Expired
/// sessions are accepted there for `tokenRefreshExtensionHours`.
pub fn is_refresh(rest: &str) -> bool {
    rest.eq_ignore_ascii_case("/refresh")
}

/// The part of a raw path after the route prefix (`/login/aad` of `/.auth/login/aad`), when the
/// module serves that path itself; `None` when it goes to the app. Matched as IIS matches paths:
/// ASCII case-insensitive (`/.AUTH/Me`), one trailing `/` tolerated (`/.auth/me/`). The
/// decision is on raw bytes: an escaped or dotted spelling (`/%2eauth/me`, `//.auth/me`) is not
/// a route (the pipeline refuses it, see [`crate::paths::reaches_prefix`]); everything under the
/// prefix is answered here, 404 when no route matches, and never forwarded.
pub fn route_rest<'p>(settings: &crate::config::Settings, path: &'p str) -> Option<&'p str> {
    let trimmed = |rest: &'p str| match rest.strip_suffix('/') {
        Some(r) if !r.is_empty() && !r.ends_with('/') => r,
        _ => rest,
    };
    if let Some(endpoint) = &settings.logout_endpoint {
        let p = trimmed(path);
        if p.eq_ignore_ascii_case(endpoint) || path.eq_ignore_ascii_case(endpoint) {
            return Some("/logout");
        }
    }
    let prefix = settings.api_prefix.as_bytes();
    let head = path.as_bytes().get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = path.get(prefix.len()..)?;
    (rest.is_empty() || rest.starts_with('/')).then(|| trimmed(rest))
}

/// Does this route (the path after the prefix) take a session past its expiry, for
/// `tokenRefreshExtensionHours`? Refresh, which renews it; and logout, which must sign it out:
/// the browser keeps such a cookie through the window (`session::browser_lifetime`), and a
/// copy of it would otherwise stay refreshable after the user signed out.
pub fn accepts_expired_session(rest: &str) -> bool {
    is_refresh(rest) || rest.eq_ignore_ascii_case("/logout")
}

/// Serves a path under the prefix; `rest` is what follows the prefix (e.g. `/login/aad`).
pub fn dispatch(app: &App, ctx: &Ctx, rest: &str) -> Outcome {
    // One leading `/` only: `/.auth//me` is no route (404), decided on the raw bytes.
    let segments: Vec<&str> = rest.strip_prefix('/').unwrap_or(rest).split('/').collect();
    let matching: Vec<&Route> = ROUTES
        .iter()
        .filter(|r| {
            r.segments.len() == segments.len()
                && r.segments
                    .iter()
                    .zip(&segments)
                    .all(|(want, got)| *want == "*" || want.eq_ignore_ascii_case(got))
        })
        .collect();
    if matching.is_empty() {
        return Outcome::Finish(Response::error(404, "No such authentication route."));
    }
    // Table order decides between matches: /login/done comes before the /login/* wildcard.
    let Some(route) = matching
        .iter()
        .find(|r| r.methods.contains(&ctx.req.method))
    else {
        let allowed: Vec<&str> = matching
            .iter()
            .flat_map(|r| r.methods.iter().copied())
            .collect();
        let mut r = Response::error(405, "Method not allowed on this route.");
        r.headers.push(("Allow".into(), allowed.join(", ")));
        return Outcome::Finish(r);
    };
    if route.blocks && !ctx.can_block {
        return Outcome::Blocking(Box::new(ctx.req.to_owned_request()));
    }
    let wildcards: Vec<&str> = route
        .segments
        .iter()
        .zip(&segments)
        .filter(|(want, _)| **want == "*")
        .map(|(_, got)| *got)
        .collect();
    (route.handler)(app, ctx, &wildcards)
}
