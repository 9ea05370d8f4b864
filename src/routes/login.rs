//! Server-directed login: `GET /.auth/login/{provider}` has the provider begin a sign-in and
//! sends the browser there; the callback finds the sign-in by its correlation parameter
//! (`state`, or OAuth 1.0a's `oauth_token`) in a short-lived sealed cookie, spends it once,
//! has the provider finish it, stores the tokens and starts a session. What is particular to
//! a flow (PKCE, the nonce check, request-token secrets) is the provider's, kept in the same
//! sealed cookie.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Ctx;
use crate::app::App;
use crate::crypto::{self, Purpose};
use crate::http::{self, param, parse_unique_params, Outcome, Request, Response};
use crate::metrics;
use crate::providers::{BeginLogin, Identity, Kept, Provider, Refusal};
use crate::reply;
use crate::session::{self, Principal, SameSite, Session};
use crate::store::Claim;

/// Login-state cookies are named by a prefix (`CookieNames::login_state_prefix`) plus the start
/// of their correlation (a digest of it if that holds characters a cookie name cannot).
const LOGIN_COOKIE_ID_LEN: usize = 16;
/// At most this many logins may be pending in one browser; older ones are dropped, so a
/// hundred tabs cannot grow the Cookie header without bound.
const MAX_PENDING_LOGINS: usize = 4;
/// Query parameters of the login request that are ezauth's, not the provider's.
const OWN_PARAMETERS: &[&str] = &[
    "post_login_redirect_uri",
    "post_login_redirect_url",
    "session_mode",
    "code_challenge",
    "code_challenge_method",
    "completion_type",
    "completion_origin",
];

/// Query parameters a caller may pass on to the provider: those of OpenID Connect Core 1.0
/// §3.1.2.1 that shape the sign-in page, and those Azure AD (`domain_hint`), Google
/// (`access_type`, `hd`, `include_granted_scopes`), GitHub (`login`, `allow_signup`) and
/// Facebook (`auth_type`) document for it; each provider takes those it knows. Anything else (`request`,
/// `request_uri`, `claims`, `response_mode`, `redirect_uri`, ...) could change what the
/// provider returns or where, and is dropped. Configured `loginParameters` are not limited.
const PROVIDER_PARAMETERS: &[&str] = &[
    "prompt",
    "max_age",
    "ui_locales",
    "claims_locales",
    "login_hint",
    "acr_values",
    "display",
    "scope",
    "domain_hint",
    "access_type",
    "hd",
    "include_granted_scopes",
    "login",
    "allow_signup",
    "auth_type",
];

/// What a login in progress must remember, sealed into its cookie.
#[derive(Serialize, Deserialize, Debug)]
struct LoginState {
    /// What the callback's correlation parameter must carry.
    correlation: String,
    provider: String,
    redirect: String,
    token_mode: bool,
    /// A native app's PKCE challenge (SHA-256 digest, hex): the login ends with a one-time
    /// code for it instead of a session token (see `pkce`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code_challenge: Option<String>,
    /// The JavaScript SDK's popup: the result goes to the opener by `postMessage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    completion: Option<super::popup::Completion>,
    exp: i64,
    /// The provider's own (PKCE verifier and nonce; a request-token secret).
    kept: Kept,
}

fn cookie_name(app: &App, correlation: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let id: String = if correlation.chars().all(safe) {
        correlation.chars().take(LOGIN_COOKIE_ID_LEN).collect()
    } else {
        crypto::b64url(&crypto::sha256(correlation.as_bytes()))[..LOGIN_COOKIE_ID_LEN].to_owned()
    };
    format!("{}{id}", app.settings().cookie_names().login_state_prefix())
}

fn callback_uri(app: &App, ctx: &Ctx, provider: &dyn Provider) -> String {
    format!(
        "{}{}/login/{}/callback",
        ctx.origin.base(),
        app.settings().api_prefix,
        provider.name()
    )
}

/// `GET /.auth/login/{provider}`.
pub fn start(app: &App, ctx: &Ctx, provider: &Arc<dyn Provider>) -> Outcome {
    let Some(params) = parse_unique_params(ctx.req.query()) else {
        return reply::refuse(
            app.log(),
            400,
            "login: duplicate query parameters",
            "Duplicate query parameters.",
        );
    };
    let requested =
        param(&params, "post_login_redirect_uri").or(param(&params, "post_login_redirect_url"));
    let default_target = format!("{}/login/done", app.settings().api_prefix);
    let redirect = match app.redirect_target(
        &ctx.origin,
        requested,
        default_target,
        "post_login_redirect_uri",
    ) {
        Ok(t) => t,
        Err(refusal) => return refusal,
    };
    let token_mode = param(&params, "session_mode") == Some("token");
    let code_challenge =
        match super::pkce::challenge_of(&params) {
            Ok(c) => c,
            Err(why) => return reply::refuse(
                app.log(),
                400,
                &format!("login: {why}"),
                "code_challenge must be a base64 SHA-256 digest with code_challenge_method=S256.",
            ),
        };
    let completion = match super::popup::completion_of(app, ctx, &params) {
        Ok(c) => c,
        Err(why) => {
            return reply::refuse(
                app.log(),
                400,
                &format!("login: {why}"),
                "completion_type must be postMessage or iframe and completion_origin this site or an allowed origin.",
            )
        }
    };
    if (code_challenge.is_some() || completion.is_some()) && !token_mode {
        return reply::refuse(
            app.log(),
            400,
            "login: code_challenge or completion_type without session_mode=token",
            "code_challenge and completion_type need session_mode=token.",
        );
    }
    if token_mode {
        // The session token is a bearer credential in a URL fragment: it goes only where a
        // client waits for it. A page of the app could pass the fragment on (its own redirect
        // keeps it), so no other page of this site receives it.
        let done = format!("{}/login/done", app.settings().api_prefix);
        if !delivers_token_safely(&redirect, &done, ctx) {
            return reply::refuse(app.log(),
                400,
                &format!("login: session_mode=token to {redirect:?} refused: the token goes only to {done} or an allowed external URL"),
                "With session_mode=token, post_login_redirect_uri must be /.auth/login/done or an allowed external URL.",
            );
        }
        let receiver_started = completion
            .as_ref()
            .is_some_and(|c| super::popup::started_by_receiver(ctx, c));
        let unknown_opener = completion.is_some() && super::popup::names_no_source(ctx);
        if let Some(site) = super::foreign_initiator(ctx)
            .filter(|_| !receiver_started)
            .or_else(|| unknown_opener.then(|| "no site named".to_owned()))
        {
            app.log().warn(format_args!(
                "login: session_mode=token started by {site:?}: asking the user first"
            ));
            return super::confirmation_page(
                ctx,
                "Sign in?",
                &format!(
                    "Another site sent you here to sign in to {} and hand it a session token. \
                     Continue only if you started this sign-in.",
                    ctx.origin.host
                ),
                "Continue signing in",
            );
        }
    }
    let (extra, dropped): (Vec<_>, Vec<_>) = params
        .into_iter()
        .filter(|(k, _)| !OWN_PARAMETERS.contains(&k.as_str()))
        .partition(|(k, _)| PROVIDER_PARAMETERS.contains(&k.as_str()));
    if !dropped.is_empty() {
        app.log().debug(format_args!(
            "login: query parameters not passed to {}: {}",
            provider.name(),
            super::names_for_log(dropped.iter().map(|(k, _)| k.as_str()))
        ));
    }
    let mode = Mode {
        token: token_mode,
        code_challenge,
        completion,
    };
    begin(app, ctx, provider.as_ref(), redirect, mode, &extra)
}

/// How a login ends: a session cookie, a session token in the fragment (`token`), a PKCE
/// code for the challenge, or a page that posts the token to the popup's opener.
struct Mode {
    token: bool,
    code_challenge: Option<String>,
    completion: Option<super::popup::Completion>,
}

/// Where a token-mode login may end: the module's own landing page (where SDK web views read
/// the fragment), or an allow-listed external URL (validated already): never another page of
/// this site.
fn delivers_token_safely(redirect: &str, done: &str, ctx: &Ctx) -> bool {
    if redirect.starts_with('/') {
        return redirect == done;
    }
    match url::Url::parse(redirect) {
        Ok(url) => {
            let same_origin = url.origin().ascii_serialization() == ctx.origin.base();
            !same_origin || (url.path() == done && url.query().is_none())
        }
        Err(_) => false,
    }
}

/// Sends the browser to `provider`; after the callback it lands on `redirect` (validated by
/// the caller). Also used by `RedirectToLoginPage` for unauthenticated requests.
pub fn start_login(
    app: &App,
    ctx: &Ctx,
    provider: &dyn Provider,
    redirect: String,
    token_mode: bool,
    extra: &[(String, String)],
) -> Outcome {
    let mode = Mode {
        token: token_mode,
        code_challenge: None,
        completion: None,
    };
    begin(app, ctx, provider, redirect, mode, extra)
}

fn begin(
    app: &App,
    ctx: &Ctx,
    provider: &dyn Provider,
    redirect: String,
    mode: Mode,
    extra: &[(String, String)],
) -> Outcome {
    let settings = app.settings();
    if !mode.token && ctx.caller.is_none() {
        if let Some(page) = super::login_loop::did_not_stick(app, ctx) {
            return page;
        }
    }
    let redirect_uri = callback_uri(app, ctx, provider);
    let started = match provider.begin_login(&BeginLogin {
        redirect_uri: &redirect_uri,
        state: &crypto::random_token(32),
        nonce: &login_nonce(&settings.keys),
        extra,
    }) {
        Ok(started) => started,
        Err(e) => return reply::provider_failure(app.log(), "login", provider.name(), &e),
    };
    let state = LoginState {
        correlation: started.correlation,
        provider: provider.name().to_owned(),
        redirect,
        token_mode: mode.token,
        code_challenge: mode.code_challenge,
        completion: mode.completion,
        exp: app.now() + settings.nonce_lifetime.as_secs() as i64,
        kept: started.kept,
    };
    let sealed = app.settings().keys.seal(
        Purpose::LoginState,
        app.settings().app_id.as_bytes(),
        &serde_json::to_vec(&state).expect("login state serializes"),
    );
    let https = ctx.origin.is_https();
    let mut response = Response::redirect(&started.url);
    for name in stale_login_cookies(app, ctx.req) {
        response
            .headers
            .push(("Set-Cookie".into(), expire_login_cookie(app, &name, https)));
    }
    response.headers.push((
        "Set-Cookie".into(),
        login_cookie(
            app,
            &cookie_name(app, &state.correlation),
            &crypto::b64url(&sealed),
            settings.nonce_lifetime.as_secs() as i64,
            https,
        ),
    ));
    Outcome::Finish(response)
}

/// The `nonce` of a browser sign-in: random, with a MAC, so that an id_token carrying it is
/// recognizable later as one of ours. Such an id_token has travelled through the browser (and
/// goes out again as logout's `id_token_hint`); it is never accepted as a client's credential.
fn login_nonce(keys: &crypto::Keys) -> String {
    let random = crypto::random_token(24);
    format!("{random}.{}", nonce_mac(keys.signing_key(), &random))
}

fn nonce_mac(key: &[u8], random: &str) -> String {
    let mac = crypto::hmac_sha256(key, format!("ezauth/login-nonce/v1\n{random}").as_bytes());
    crypto::b64url(&mac[..16])
}

/// Was `nonce` minted by [`login_nonce`] with these keys (or before a signing-key rotation)?
pub(super) fn is_login_nonce(keys: &crypto::Keys, nonce: &str) -> bool {
    nonce.split_once('.').is_some_and(|(random, mac)| {
        keys.verifying_keys()
            .any(|key| crypto::ct_eq(mac.as_bytes(), nonce_mac(key, random).as_bytes()))
    })
}

/// Login-state cookies go only to the module's own routes, never to the application (but for
/// `__Host-` cookies, which must have `Path=/`).
fn login_cookie_path(app: &App) -> String {
    let settings = app.settings();
    settings
        .cookie_names()
        .login_state_path(&settings.api_prefix)
}

/// A login-state cookie: `SameSite=Lax` unless `None` is configured (see
/// [`crate::session::CookieNames::login_state_same_site`]).
fn login_cookie(app: &App, name: &str, value: &str, max_age: i64, https: bool) -> String {
    let names = app.settings().cookie_names();
    let names = names.with_same_site(names.login_state_same_site());
    names.set_cookie(name, value, &login_cookie_path(app), max_age, https)
}

fn expire_login_cookie(app: &App, name: &str, https: bool) -> String {
    login_cookie(app, name, "", 0, https)
}

/// The login cookies to drop before adding one more: unreadable or expired ones, then the
/// oldest, so at most `MAX_PENDING_LOGINS` remain.
fn stale_login_cookies(app: &App, req: &Request) -> Vec<String> {
    let now = app.now();
    let mut live: Vec<(i64, String)> = Vec::new();
    let mut stale = Vec::new();
    for (name, value) in req
        .cookies()
        .filter(|(n, _)| n.starts_with(app.settings().cookie_names().login_state_prefix()))
    {
        match open_login_state(app, value) {
            Some(s) if s.exp > now => live.push((s.exp, name.to_owned())),
            _ => stale.push(name.to_owned()),
        }
    }
    live.sort();
    let excess = (live.len() + 1).saturating_sub(MAX_PENDING_LOGINS);
    stale.extend(live.into_iter().take(excess).map(|(_, n)| n));
    stale
}

fn open_login_state(app: &App, value: &str) -> Option<LoginState> {
    let sealed = crypto::b64url_decode(value)?;
    let settings = app.settings();
    let plain = settings
        .keys
        .open(Purpose::LoginState, settings.app_id.as_bytes(), &sealed)?;
    serde_json::from_slice(&plain).ok()
}

/// `GET|POST /.auth/login/{provider}/callback`.
pub fn callback(app: &App, ctx: &Ctx, provider: &Arc<dyn Provider>) -> Outcome {
    let raw = if ctx.req.method == "POST" {
        match std::str::from_utf8(ctx.req.body) {
            Ok(b) => b,
            Err(_) => {
                return reply::refuse(
                    app.log(),
                    400,
                    "callback: body is not UTF-8",
                    "Malformed callback.",
                )
            }
        }
    } else {
        ctx.req.query()
    };
    let Some(params) = parse_unique_params(raw) else {
        return reply::refuse(
            app.log(),
            400,
            "callback: duplicate parameters",
            "Malformed callback: a parameter appears twice.",
        );
    };
    let shape = provider.capabilities().callback;
    if shape.posted_only && ctx.req.method != "POST" && param(&params, shape.proof).is_some() {
        return reply::refuse(
            app.log(),
            400,
            &format!(
                "callback: {} in a URL (it comes only by form_post): refused",
                shape.proof
            ),
            "Malformed callback.",
        );
    }
    // A refusal names the error beside the correlation (OAuth 2.0), or carries the
    // correlation itself (Twitter's `denied=<request token>`): the error then is its name.
    let (correlation, refused) = match shape.refusal {
        Refusal::Beside(name) => (param(&params, shape.correlation), param(&params, name)),
        Refusal::InPlaceOf(name) => match param(&params, name) {
            Some(carried) => (Some(carried), Some(name)),
            None => (param(&params, shape.correlation), None),
        },
    };
    let Some(correlation) = correlation else {
        return reply::refuse(
            app.log(),
            400,
            &format!("callback: no {} parameter", shape.correlation),
            &format!("Malformed callback: no {}.", shape.correlation),
        );
    };
    let cookie = cookie_name(app, correlation);
    let https = ctx.origin.is_https();
    // Every cookie of that name: a sibling subdomain may have planted one beside ours (its
    // order in the header is the browser's), so the one that opens and names this sign-in
    // wins, wherever it stands.
    let sent: Vec<&str> = ctx
        .req
        .cookies()
        .filter(|(name, _)| *name == cookie)
        .map(|(_, value)| value)
        .collect();
    if sent.is_empty() {
        // A provider's cross-site form_post arrives without the (SameSite) login-state cookie:
        // re-posted from this origin, it will carry it (see `repost`).
        if shape.form_post {
            if let Some(outcome) = super::repost::answer(app, ctx, provider.name(), &params) {
                return outcome;
            }
        }
        return reply::refuse(app.log(),
            400,
            &format!("callback: no login-state cookie for the {} parameter (unknown, expired, replayed or another browser)", shape.correlation),
            "This sign-in link is not valid any more. Please sign in again.",
        );
    }
    let opened: Vec<LoginState> = sent
        .iter()
        .filter_map(|value| open_login_state(app, value))
        .collect();
    let names_this_login =
        |s: &LoginState| crypto::ct_eq(s.correlation.as_bytes(), correlation.as_bytes());
    let Some(state) = (match opened.iter().position(names_this_login) {
        Some(i) => opened.into_iter().nth(i),
        None => opened.into_iter().next(),
    }) else {
        return reply::refuse(app.log(),
            400,
            &format!("callback: no login state matches the {} parameter (unknown, expired, replayed or another browser)", shape.correlation),
            "This sign-in link is not valid any more. Please sign in again.",
        );
    };
    let clear_state = (
        "Set-Cookie".to_owned(),
        expire_login_cookie(app, &cookie, https),
    );
    // From here the login state is ours (it opened), so it says whether a client waits in
    // token mode: the SDKs watch for `/.auth/login/done#error=`, not an error page. Logged
    // the same either way.
    let fail = |outcome: Outcome, public: &str| {
        let outcome = if state.token_mode {
            Outcome::Finish(token_mode_error(app, ctx, &state, public))
        } else {
            outcome
        };
        outcome.with_response_headers([clear_state.clone()])
    };
    let refuse = |status: u16, why: &str, public: &str| {
        fail(reply::refuse(app.log(), status, why, public), public)
    };
    if !crypto::ct_eq(state.correlation.as_bytes(), correlation.as_bytes())
        || !state.provider.eq_ignore_ascii_case(provider.name())
    {
        return refuse(
            400,
            "callback: state does not match the login",
            "Sign-in state mismatch.",
        );
    }
    if state.exp <= app.now() {
        return refuse(
            400,
            "callback: login state expired",
            "The sign-in took too long. Please sign in again.",
        );
    }
    // An error or a callback without its proof (a code) redeems nothing: answered before the
    // state's one-time marker is spent, so a flood of them leaves nothing in the store.
    if let Some(error) = refused {
        // Descriptions may name the user (Azure AD's do): debug only.
        if let Some(detail) = param(&params, "error_description") {
            app.log().debug(format_args!(
                "callback: {} described {error:?} as {detail:?}",
                provider.name()
            ));
        }
        return refuse(
            401,
            &format!("callback: provider {} reported {error:?}", provider.name()),
            &format!("The identity provider did not sign you in ({error})."),
        );
    }
    // An empty code is no code: it would spend the state and a call to the token endpoint.
    if param(&params, shape.proof).is_none_or(|c| c.trim().is_empty()) {
        return refuse(
            400,
            &format!("callback: no {} parameter", shape.proof),
            &format!("Malformed callback: no {}.", shape.proof),
        );
    }
    if !app.consume_state(&state.correlation, state.exp) {
        return refuse(
            400,
            "callback: state already used (replay)",
            "This sign-in link was already used.",
        );
    }
    let redirect_uri = callback_uri(app, ctx, provider.as_ref());
    // Counted from here: the login state opened, so this is a sign-in the provider judges.
    let count = |outcome| app.metrics().sign_in(provider.name(), outcome);
    let identity = match provider.finish_login(&params, &redirect_uri, &state.kept) {
        Ok(i) => i,
        Err(e) => {
            count(metrics::Outcome::Failure);
            return fail(
                reply::provider_failure(app.log(), "callback", provider.name(), &e),
                e.public_message(),
            );
        }
    };
    let completed = complete_login(app, ctx, provider.as_ref(), identity, &state);
    count(metrics::Outcome::of(&completed));
    completed.map_or_else(
        |refused| fail(refused, "The sign-in was not accepted."),
        |r| Outcome::Finish(r).with_response_headers([clear_state.clone()]),
    )
}

/// Where a token-mode login ends: `/.auth/login/done` or the allowed external URL it named.
fn token_mode_landing<'s>(app: &App, state: &'s LoginState) -> std::borrow::Cow<'s, str> {
    let done = format!("{}/login/done", app.settings().api_prefix);
    if state.redirect == done {
        done.into()
    } else {
        state.redirect.as_str().into()
    }
}

/// `#`-fragment values as the SDKs read them: percent-encoded, spaces as `%20`.
fn fragment_value(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A failed token-mode login, as the SDKs expect it: `<landing>#error=<message>`, or the
/// popup's page posting the error to its opener.
fn token_mode_error(app: &App, ctx: &Ctx, state: &LoginState, message: &str) -> Response {
    if let Some(completion) = &state.completion {
        return super::popup::completion_page(ctx, completion, Err(message));
    }
    Response::redirect(&format!(
        "{}#error={}",
        token_mode_landing(app, state),
        fragment_value(message)
    ))
}

/// A provider that gives some claims on the first sign-in only (Apple's name): what this
/// sign-in lacks of them comes from the user's stored record.
fn keep_claims_given_once(app: &App, provider: &dyn Provider, sid: &str, claims: &mut Vec<Claim>) {
    let once = provider.claims_given_once();
    let missing = |typ: &str| once.contains(&typ) && !claims.iter().any(|c| c.typ == typ);
    if !once.iter().any(|t| missing(t)) {
        return;
    }
    let Some(store) = app.store() else { return };
    match store.load(sid) {
        Ok(Some(previous)) => {
            let kept: Vec<Claim> = previous
                .user_claims
                .iter()
                .filter(|c| missing(&c.typ))
                .cloned()
                .collect();
            claims.extend(kept);
        }
        Ok(None) => {}
        Err(e) => app.log().warn(format_args!(
            "callback: the stored claims of {sid} could not be read ({e}): signed in without them"
        )),
    }
}

/// Stores the tokens, starts the session and sends the browser on.
fn complete_login(
    app: &App,
    ctx: &Ctx,
    provider: &dyn Provider,
    mut identity: Identity,
    state: &LoginState,
) -> Result<Response, Outcome> {
    app.authorize(provider, &identity.claims, None)
        .map_err(Outcome::Finish)?;
    let sid = session::sid_for(provider.name(), &identity.issuer, &identity.subject);
    keep_claims_given_once(app, provider, &sid, &mut identity.claims);
    let principal: Principal = session::principal(
        sid.clone(),
        provider.settings(),
        identity.id_claim,
        &identity.claims,
    )
    .map_err(|why| super::unusable_identity(app, &why))?;
    if let Some(store) = app.store() {
        let record = super::record_of(
            provider,
            &principal.name,
            &identity,
            identity.tokens.expires_at,
        );
        if let Err(e) = store.sign_in(&sid, &record) {
            app.log().error(format_args!(
                "callback: could not store tokens for {sid}: {e}"
            ));
            return Err(Outcome::Finish(Response::error(
                503,
                "The token store is not available.",
            )));
        }
    }
    let now = app.now();
    let exp = app
        .settings()
        .session_expiry(now, identity.tokens.expires_at);
    // The user's name is personal data: debug only; the info line has the pseudonymous id.
    app.log().info(format_args!(
        "signed in {} with {}",
        principal.sid,
        provider.name()
    ));
    app.log()
        .debug(format_args!("{} is {:?}", principal.sid, principal.name));
    let session = Session::start(principal, now, exp);
    if let (true, Some(challenge)) = (state.token_mode, &state.code_challenge) {
        let code = super::pkce::issue_code(app, provider.name(), session, challenge);
        return Ok(Response::redirect(&format!(
            "{}#authorization_code={code}",
            token_mode_landing(app, state)
        )));
    }
    if let (true, Some(completion)) = (state.token_mode, &state.completion) {
        let body = super::session_token_json(app, &ctx.origin, &session);
        return Ok(super::popup::completion_page(ctx, completion, Ok(body)));
    }
    if state.token_mode {
        let body = super::session_token_json(app, &ctx.origin, &session);
        return Ok(Response::redirect(&format!(
            "{}#token={}",
            token_mode_landing(app, state),
            fragment_value(&body.to_string())
        )));
    }
    let mut response = if app.settings().cookie_same_site == SameSite::Strict {
        strict_landing(&state.redirect)
    } else {
        Response::redirect(&state.redirect)
    };
    response
        .headers
        .extend(super::session_cookies(app, ctx, &session, now));
    response
        .headers
        .push(super::login_loop::marker(app, ctx, now));
    Ok(response)
}

/// Where a sign-in ends under `ezauth.cookieSameSite: Strict`. The callback is the end of a
/// redirect chain that started on the provider's site, so a `302` from it is still a
/// cross-site navigation and the browser would leave the new `Strict` session cookie off the
/// first page: the user would land signed out and be sent to sign in again, round and round
/// (Chromium: `ERR_TOO_MANY_REDIRECTS`; the loop breaker's marker is `Strict` too). A page of this
/// origin that moves on by itself (`<meta http-equiv="refresh">`: no script, so the CSP
/// forbids all) starts a same-site navigation, which carries it. `target` was validated
/// when the login started (same-origin path or an allowed external URL); it is HTML-escaped.
fn strict_landing(target: &str) -> Response {
    let href = http::html_escape(target);
    let mut r = Response::new(200)
        .with_header("Content-Type", "text/html; charset=utf-8")
        .with_header("Cache-Control", "no-store")
        .with_header(
            "Content-Security-Policy",
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
        )
        .with_header("X-Frame-Options", "DENY")
        .with_header("Referrer-Policy", "no-referrer");
    r.body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0;url={href}\"><title>Signed in</title></head>\
         <body><p>Signed in. <a href=\"{href}\">Continue</a></p></body></html>\n"
    )
    .into_bytes();
    r
}
