//! The `/.auth/*` routes: a small table maps each path to its handler. Handlers get a
//! [`Ctx`] with the request, where the client thinks it is, and who it is.

mod client_login;
pub mod fresh;
mod login;
mod login_loop;
mod logout;
mod me;
mod pages;
mod pkce;
mod popup;
mod refresh;
pub mod repost;
mod revalidate;

pub use login::start_login;

use std::sync::Arc;

use crate::app::App;
use crate::http::{Origin, Outcome, Request, Response};
use crate::io::Io;
use crate::providers::Provider;
use crate::reply;
use crate::session::{Caller, Session};
use crate::store::{format_expires_on, TokenRecord, TokenStore};

/// Everything a route handler needs about the request.
pub struct Ctx<'r, 'a> {
    pub req: &'r Request<'a>,
    pub origin: Origin,
    pub caller: Option<Caller>,
    /// [`Io::Allowed`] in the host's blocking step.
    pub io: Io,
}

/// What the store keeps of a sign-in: the identity's claims and every token it came with.
fn record_of(
    provider: &dyn Provider,
    user_id: &str,
    identity: &crate::providers::Identity,
    expires_at: Option<i64>,
) -> TokenRecord {
    let tokens = &identity.tokens;
    TokenRecord {
        provider_name: provider.name().to_owned(),
        user_id: user_id.to_owned(),
        user_claims: identity.claims.clone(),
        access_token: tokens.access_token.clone(),
        access_token_secret: tokens.access_token_secret.clone(),
        authentication_token: tokens.authentication_token.clone(),
        id_token: tokens.id_token.clone(),
        refresh_token: tokens.refresh_token.clone(),
        expires_on: expires_at.map(format_expires_on),
        ..TokenRecord::default()
    }
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
    // The button's request names this site even in a browser without Fetch Metadata.
    r.headers
        .push(("Referrer-Policy".into(), "same-origin".into()));
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

/// A route's handler, typed by what it needs: dispatch resolves that before the handler runs
/// (and before any blocking step), so a handler never checks it again.
#[derive(Clone, Copy)]
enum Handler {
    /// Needs nothing beyond the request.
    Plain(fn(&App, &Ctx) -> Outcome),
    /// The configured provider the `{provider}` segment names; an unknown one is 404.
    Provider(fn(&App, &Ctx, &Arc<dyn Provider>) -> Outcome),
    /// The token store (404 without one) and a signed-in caller (401 without one).
    SignedIn(fn(&App, &Ctx, &dyn TokenStore, &Caller) -> Outcome),
}

/// One route and its policy: the path segments after the prefix (`{provider}` matches one
/// segment and names a configured provider), the methods it answers, whether it may call a
/// provider or take a store lock (and so must run in the host's blocking step), whether it
/// takes a session past its expiry (`tokenRefreshExtensionHours`), and its handler.
struct Route {
    /// How log lines name the route.
    name: &'static str,
    segments: &'static [&'static str],
    methods: &'static [&'static str],
    blocks: bool,
    /// Refresh renews a session inside the window; logout must be able to sign it out: the
    /// browser keeps such a cookie through the window (`session::browser_lifetime`), and a
    /// copy of it would otherwise stay refreshable after the user signed out.
    grace: bool,
    handler: Handler,
}

/// The segment that names a provider.
const PROVIDER: &str = "{provider}";

const ROUTES: &[Route] = &[
    Route {
        name: "login done",
        segments: &["login", "done"],
        methods: &["GET", "HEAD"],
        blocks: false,
        grace: false,
        handler: Handler::Plain(pages::login_done),
    },
    Route {
        name: "token re-validation",
        segments: &["login"],
        methods: &["POST"],
        // Reads the user's record (revocations), possibly from a remote store.
        blocks: true,
        grace: false,
        handler: Handler::Plain(revalidate::revalidate),
    },
    Route {
        name: "iframe receiver",
        segments: &["login", "iframereceiver"],
        methods: &["GET", "HEAD"],
        blocks: false,
        grace: false,
        handler: Handler::Plain(popup::iframe_receiver),
    },
    Route {
        name: "login",
        segments: &["login", PROVIDER],
        methods: &["GET", "HEAD"],
        blocks: true,
        grace: false,
        handler: Handler::Provider(login::start),
    },
    Route {
        name: "client login",
        segments: &["login", PROVIDER],
        methods: &["POST"],
        blocks: true,
        grace: false,
        handler: Handler::Provider(client_login::client_login),
    },
    Route {
        name: "callback",
        segments: &["login", PROVIDER, "callback"],
        methods: &["GET", "POST"],
        blocks: true,
        grace: false,
        handler: Handler::Provider(login::callback),
    },
    Route {
        name: "pkce token",
        segments: &["login", PROVIDER, "token"],
        methods: &["GET", "POST"],
        // Spending the code once takes the store's one-time marker.
        blocks: true,
        grace: false,
        handler: Handler::Provider(pkce::token),
    },
    Route {
        name: "me",
        segments: &["me"],
        methods: &["GET", "HEAD"],
        blocks: false,
        grace: false,
        handler: Handler::SignedIn(me::me),
    },
    Route {
        name: "logout",
        segments: &["logout"],
        methods: &["GET", "HEAD", "POST"],
        // Deleting the tokens takes the user's store lock, which a refresh may hold across a
        // provider call: never on the host's event loop.
        blocks: true,
        grace: true,
        handler: Handler::Plain(logout::logout),
    },
    Route {
        name: "logout complete",
        segments: &["logout", "complete"],
        methods: &["GET", "HEAD"],
        blocks: false,
        grace: false,
        handler: Handler::Plain(pages::logout_complete),
    },
    Route {
        name: "logout done",
        segments: &["logout", "done"],
        methods: &["GET", "HEAD"],
        blocks: false,
        grace: false,
        handler: Handler::Plain(pages::logout_complete),
    },
    Route {
        name: "refresh",
        segments: &["refresh"],
        methods: &["GET", "POST"],
        blocks: true,
        grace: true,
        handler: Handler::SignedIn(refresh::refresh),
    },
    Route {
        name: "version",
        segments: &["version"],
        methods: &["GET", "HEAD"],
        blocks: false,
        grace: false,
        handler: Handler::Plain(pages::version),
    },
];

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

/// The routes whose path this is (the path after the prefix, as [`route_rest`] gives it), in
/// table order, and the path's segments. One leading `/` only: `/.auth//me` is no route,
/// decided on the raw bytes.
fn routes_at(rest: &str) -> (Vec<(usize, &'static Route)>, Vec<&str>) {
    let segments = segments(rest);
    let matching = ROUTES
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.segments.len() == segments.len()
                && r.segments
                    .iter()
                    .zip(&segments)
                    .all(|(want, got)| *want == PROVIDER || want.eq_ignore_ascii_case(got))
        })
        .collect();
    (matching, segments)
}

fn segments(rest: &str) -> Vec<&str> {
    rest.strip_prefix('/').unwrap_or(rest).split('/').collect()
}

/// Does this path take a session past its expiry, for `tokenRefreshExtensionHours`? The
/// table's `grace` column (refresh and logout); authentication runs before dispatch, so the
/// pipeline asks by path.
pub fn accepts_expired_session(rest: &str) -> bool {
    routes_at(rest).0.iter().any(|(_, r)| r.grace)
}

/// Does the route at `rest` show the caller's stored tokens (`/.auth/me`)? They are kept
/// fresh for it as for the app's requests.
pub fn shows_tokens(rest: &str) -> bool {
    routes_at(rest).0.iter().any(|(_, r)| r.name == "me")
}

/// What dispatch decided: the answer, or the route (its index in the table) to run in the
/// host's blocking step, where [`resume`] picks it up.
pub enum Dispatch {
    Answer(Outcome),
    Blocks(usize),
}

/// Serves a path under the prefix; `rest` is what follows the prefix (e.g. `/login/aad`).
pub fn dispatch(app: &App, ctx: &Ctx, rest: &str) -> Dispatch {
    let (matching, segments) = routes_at(rest);
    if matching.is_empty() {
        return Dispatch::Answer(Outcome::Finish(Response::error(
            404,
            "No such authentication route.",
        )));
    }
    // Table order decides between matches: /login/done comes before /login/{provider}.
    let Some(&(index, route)) = matching
        .iter()
        .find(|(_, r)| r.methods.contains(&ctx.req.method))
    else {
        let allowed: Vec<&str> = matching
            .iter()
            .flat_map(|(_, r)| r.methods.iter().copied())
            .collect();
        let mut r = Response::error(405, "Method not allowed on this route.");
        r.headers.push(("Allow".into(), allowed.join(", ")));
        return Dispatch::Answer(Outcome::Finish(r));
    };
    // What the route needs is judged before any blocking step: a request that cannot be
    // served never takes a worker thread.
    let handler = match resolve(app, ctx, route, &segments) {
        Ok(h) => h,
        Err(refusal) => return Dispatch::Answer(refusal),
    };
    if route.blocks && ctx.io == Io::CacheOnly {
        return Dispatch::Blocks(index);
    }
    Dispatch::Answer(run(app, ctx, handler))
}

/// Runs, in the host's blocking step, the route [`dispatch`] chose for `rest`
/// (`Dispatch::Blocks(route)`). Its needs are found again: lookups without I/O or logs, which
/// found them before.
pub fn resume(app: &App, ctx: &Ctx, rest: &str, route: usize) -> Outcome {
    let Some(route) = ROUTES.get(route) else {
        return Outcome::Finish(Response::error(500, "Internal error."));
    };
    match resolve(app, ctx, route, &segments(rest)) {
        Ok(handler) => run(app, ctx, handler),
        Err(refusal) => refusal,
    }
}

fn run(app: &App, ctx: &Ctx, handler: Resolved) -> Outcome {
    match handler {
        Resolved::Plain(h) => h(app, ctx),
        Resolved::Provider(h, provider) => h(app, ctx, provider),
        Resolved::SignedIn(h, store, caller) => h(app, ctx, store, caller),
    }
}

/// A handler with what it needs in hand.
enum Resolved<'a> {
    Plain(fn(&App, &Ctx) -> Outcome),
    Provider(
        fn(&App, &Ctx, &Arc<dyn Provider>) -> Outcome,
        &'a Arc<dyn Provider>,
    ),
    SignedIn(
        fn(&App, &Ctx, &dyn TokenStore, &Caller) -> Outcome,
        &'a dyn TokenStore,
        &'a Caller,
    ),
}

/// Finds what `route` needs: the provider its `{provider}` segment names (404 when none is
/// configured by that name), or the token store (404 without one) and the signed-in caller
/// (401 without one).
fn resolve<'a>(
    app: &'a App,
    ctx: &'a Ctx,
    route: &Route,
    segments: &[&str],
) -> Result<Resolved<'a>, Outcome> {
    match route.handler {
        Handler::Plain(h) => Ok(Resolved::Plain(h)),
        Handler::Provider(h) => {
            let name = route
                .segments
                .iter()
                .zip(segments)
                .find(|(want, _)| **want == PROVIDER)
                .map_or("", |(_, got)| *got);
            match app.providers().get(name) {
                Some(p) => Ok(Resolved::Provider(h, p)),
                None => Err(reply::refuse(
                    app.log(),
                    404,
                    &format!("{}: unknown provider {name:?}", route.name),
                    "Unknown identity provider.",
                )),
            }
        }
        Handler::SignedIn(h) => {
            let Some(store) = app.store() else {
                return Err(Outcome::Finish(Response::error(
                    404,
                    "The token store is not enabled.",
                )));
            };
            let Some(caller) = &ctx.caller else {
                app.log().info(format_args!(
                    "401: {}: not signed in{}",
                    route.name,
                    if route.grace {
                        " (or past the refresh window)"
                    } else {
                        ""
                    }
                ));
                return Err(Outcome::Finish(reply::unauthorized_response(
                    app.aad_discovery(),
                    &ctx.origin.host,
                    "You are not signed in.",
                )));
            };
            Ok(Resolved::SignedIn(h, store, caller))
        }
    }
}
