//! `POST /.auth/login/{provider}`: client-directed login. A native or single-page client that
//! signed the user in with the provider's own SDK posts the provider's token; once it is
//! validated, the client gets an App Service session token for `X-ZUMO-AUTH`.

use std::sync::Arc;

use serde_json::Value;

use super::Ctx;
use crate::app::App;
use crate::http::{Outcome, Response};
use crate::io::Io;
use crate::metrics;
use crate::providers::{Presented, Provider};
use crate::reply;
use crate::session::{self, Session};

/// The largest body taken: a provider's tokens are a few KB (a JWT at most 16 KB, see
/// `crypto::jwt`), so anything larger is refused unread, whatever the host lets through (the
/// nginx module's limit on `/.auth/` bodies, 64 KiB, is this one).
const MAX_BODY: usize = 64 * 1024;

pub fn client_login(app: &App, ctx: &Ctx, provider: &Arc<dyn Provider>) -> Outcome {
    let outcome = validate_and_start(app, ctx, provider);
    let ok = matches!(&outcome, Outcome::Finish(r) if r.status == 200);
    app.metrics().client_login(
        provider.name(),
        if ok {
            metrics::Outcome::Success
        } else {
            metrics::Outcome::Failure
        },
    );
    outcome
}

/// The client login itself: the body checked, the token validated, the session started.
fn validate_and_start(app: &App, ctx: &Ctx, provider: &Arc<dyn Provider>) -> Outcome {
    if ctx.req.body.len() > MAX_BODY {
        return reply::refuse(
            app.log(),
            413,
            &format!(
                "client login: the body is too large ({} bytes, at most {MAX_BODY})",
                ctx.req.body.len()
            ),
            "The body is too large.",
        );
    }
    let body: Value = match serde_json::from_slice(ctx.req.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return reply::refuse(
                app.log(),
                400,
                "client login: body is not a JSON object",
                "The body must be a JSON object with the provider's token.",
            )
        }
    };
    let field = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    // The first body shape the provider takes whose fields are all there wins (the id_token
    // before an access token); only what is validated below is kept. Anything else in the
    // body (an access token beside the id_token, a refresh token) is the client's word only
    // and is never stored or forwarded to the app.
    let bodies = provider.capabilities().client_bodies;
    let Some(fields) = bodies.iter().find_map(|shape| {
        shape
            .iter()
            .map(|name| Some((*name, field(name)?)))
            .collect::<Option<Vec<_>>>()
    }) else {
        let wanted = bodies
            .iter()
            .map(|shape| {
                shape
                    .iter()
                    .map(|name| format!("an {name}"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            })
            .collect::<Vec<_>>()
            .join(" or ");
        return reply::refuse(
            app.log(),
            400,
            &format!(
                "client login: the body has none of the tokens {} takes",
                provider.name()
            ),
            &if wanted.is_empty() {
                format!("{} takes no client-directed login.", provider.name())
            } else {
                format!("The body must carry {wanted}.")
            },
        );
    };
    let used = |name: &str| fields.iter().any(|(n, _)| *n == name);
    // `expires_in` says when the posted access token ends (App Service stores it as the
    // token's `expires_on`); it describes nothing else, so it is read only beside an access
    // token that is kept.
    let expires_in = match body.get("expires_in") {
        Some(v) if !v.is_null() && used("access_token") => match seconds(v) {
            Some(s) => Some(s),
            None => {
                return reply::refuse(
                    app.log(),
                    400,
                    "client login: expires_in is not a whole number of seconds up to a year",
                    "expires_in must be a whole number of seconds.",
                )
            }
        },
        _ => None,
    };
    let ignored: Vec<&str> = body
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .map(String::as_str)
        .filter(|k| !(used(k) || (*k == "expires_in" && expires_in.is_some())))
        .collect();
    if !ignored.is_empty() {
        app.log().info(format_args!(
            "client login: {} ignored the body's unverified fields {} (only the {} is kept)",
            provider.name(),
            super::names_for_log(ignored),
            super::names_for_log(fields.iter().map(|(n, _)| *n))
        ));
    }
    let identity = match provider.validate_client_token(&fields, Io::Allowed) {
        Ok(i) => i,
        Err(e) => return reply::provider_failure(app.log(), "client login", provider.name(), &e),
    };
    // An id_token of one of our own browser sign-ins was handed to the browser, not to a
    // client: whoever holds it (it leaves in logout's `id_token_hint`) is not the user.
    let nonce = session::claims::find(&identity.claims, "nonce");
    if nonce.is_some_and(|n| super::login::is_login_nonce(&app.settings().keys, n)) {
        return reply::refuse(
            app.log(),
            401,
            &format!(
                "client login: {} refused an id_token of a browser sign-in (our nonce)",
                provider.name()
            ),
            "This token cannot be used to sign in.",
        );
    }
    if let Err(refusal) = app.authorize(
        provider.as_ref(),
        &identity.claims,
        Some(Presented::ClientLogin),
    ) {
        return Outcome::Finish(refusal);
    }
    let sid = session::sid_for(provider.name(), &identity.issuer, &identity.subject);
    let principal = match session::principal(
        sid.clone(),
        provider.settings(),
        identity.id_claim,
        &identity.claims,
    ) {
        Ok(p) => p,
        Err(why) => return super::unusable_identity(app, &why),
    };
    let now = app.now();
    if let Some(store) = app.store() {
        // The provider's `expires_in`, never past the token's own `exp`: a longer one would
        // only be the client's word.
        let exp_claim =
            session::claims::find(&identity.claims, "exp").and_then(|e| e.parse::<i64>().ok());
        let from_body = expires_in.map(|s| now + s);
        // The provider's own word on the tokens' end wins: a client's code redeemed here, or
        // what the provider said of a posted token (Facebook's debug_token).
        let expires_at = match (identity.tokens.expires_at, from_body, exp_claim) {
            (Some(issued), _, _) => Some(issued),
            (None, Some(b), Some(e)) => Some(b.min(e)),
            (None, b, e) => b.or(e),
        };
        let record = super::record_of(provider.as_ref(), &principal.name, &identity, expires_at);
        if let Err(e) = store.sign_in(&sid, &record) {
            app.log().error(format_args!(
                "client login: could not store tokens for {sid}: {e}"
            ));
            return Outcome::Finish(Response::error(503, "The token store is not available."));
        }
    }
    let token_exp = session::claims::find(&identity.claims, "exp").and_then(|e| e.parse().ok());
    let exp = app.settings().session_expiry(now, token_exp);
    let session = Session::start(principal, now, exp);
    // The user's name is personal data: debug only; the info line has the pseudonymous id.
    app.log().info(format_args!(
        "client login of {sid} with {}",
        provider.name()
    ));
    app.log()
        .debug(format_args!("{sid} is {:?}", session.principal.name));
    let body = super::session_token_json(app, &ctx.origin, &session);
    Outcome::Finish(Response::json(200, &body))
}

/// Longest `expires_in` taken: a year. Access tokens live minutes to hours; more is a typo or
/// a lie.
const MAX_EXPIRES_IN: i64 = 365 * 24 * 3600;

/// `expires_in` as a provider writes it: a JSON integer, or (Azure AD v1, some SDKs) a string of
/// digits; positive and at most [`MAX_EXPIRES_IN`].
fn seconds(v: &Value) -> Option<i64> {
    let s = match v {
        Value::Number(n) => n.as_i64()?,
        Value::String(s)
            if !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse().ok()?
        }
        _ => return None,
    };
    (1..=MAX_EXPIRES_IN).contains(&s).then_some(s)
}
