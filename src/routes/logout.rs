//! `GET /.auth/logout`: clears the session cookie, deletes the user's tokens, signs the
//! presented session out (with a token store: copies of the cookie or session token stop
//! working everywhere; `?everywhere=true` signs out every session of the user), and redirects
//! to a validated `post_logout_redirect_uri` (default `/.auth/logout/complete`) — by way of
//! the provider's end-session endpoint when the provider signs out too (Azure AD by default).

use super::Ctx;
use crate::app::App;
use crate::http::{param, parse_unique_params, Outcome, Response};
use crate::reply;
use crate::session;
use crate::session::Credential;
use crate::store::{TokenRecord, Update};

pub fn logout(app: &App, ctx: &Ctx) -> Outcome {
    let Some(params) = parse_unique_params(ctx.req.query()) else {
        return reply::refuse(
            app.log(),
            400,
            "logout: duplicate query parameters",
            "Duplicate query parameters.",
        );
    };
    let default_target = format!("{}/logout/complete", app.settings().api_prefix);
    let requested = param(&params, "post_logout_redirect_uri");
    let target = match app.redirect_target(
        &ctx.origin,
        requested,
        default_target,
        "post_logout_redirect_uri",
    ) {
        Ok(t) => t,
        Err(refusal) => return refusal,
    };
    // A link on another site must not sign the user out (and delete their tokens) unasked;
    // only the session cookie rides along with such a link.
    if ctx
        .caller
        .as_ref()
        .is_some_and(|c| c.credential == Credential::Cookie)
    {
        if let Some(site) = super::foreign_initiator(ctx) {
            if ctx.req.method != "GET" && ctx.req.method != "HEAD" {
                return reply::refuse(
                    app.log(),
                    403,
                    &format!(
                        "logout: cross-site {} from {site:?} refused",
                        ctx.req.method
                    ),
                    "Cross-site request refused.",
                );
            }
            app.log().warn(format_args!(
                "logout: started by {site:?}: asking the user first"
            ));
            return super::confirmation_page(
                ctx,
                "Sign out?",
                &format!(
                    "Another site sent you here to sign out of {}. Continue only if you want \
                     to sign out.",
                    ctx.origin.host
                ),
                "Sign out",
            );
        }
    }
    let everywhere = param(&params, "everywhere").is_some_and(|v| v == "true" || v == "1");
    let mut id_token = None;
    // A provider's bearer token owns no stored tokens (see the pipeline): only a session's
    // logout signs anything out or deletes anything.
    let session = ctx
        .caller
        .as_ref()
        .and_then(|c| Some((c, c.session.as_ref()?)));
    if let (Some((caller, at)), Some(store)) = (session, app.store()) {
        let now = app.now();
        // A revoked session could still be presented until its refresh window closes.
        let grace = app.settings().refresh_extension.as_secs() as i64;
        let signed_out = store.update(&caller.principal.sid, &mut |current| {
            id_token = current.as_ref().and_then(|r| r.id_token.clone());
            // The tokens and claims go; what remains says which sessions are signed out.
            let mut revoked = current.map(|r| r.revoked).unwrap_or_default();
            if everywhere {
                revoked.revoke_all(now);
            } else {
                revoked.revoke(&at.id, at.exp.saturating_add(grace), now);
            }
            Update::Replace(Box::new(TokenRecord {
                provider_name: caller.principal.idp.clone(),
                revoked,
                ..Default::default()
            }))
        });
        if let Err(e) = signed_out {
            app.log()
                .error(format_args!("logout: could not sign the session out: {e}"));
            return Outcome::Finish(Response::error(503, "The token store is not available."));
        }
    }
    let provider = ctx
        .caller
        .as_ref()
        .and_then(|c| app.providers().get(&c.principal.idp))
        .filter(|p| p.settings().sign_out_at_provider);
    let absolute = if target.starts_with('/') {
        format!("{}{target}", ctx.origin.base())
    } else {
        target.clone()
    };
    let location = provider
        .and_then(|p| p.end_session_url(id_token.as_deref(), &absolute))
        .unwrap_or(target);
    let mut response = Response::redirect(&location);
    // Every variant: a cookie planted under a parent domain or a longer path would otherwise
    // outlive the logout and sign the browser in again (as whoever planted it).
    let sent = session::SessionCookies::parse(ctx.req, app.settings().cookie_names());
    for c in sent.clear_all(&ctx.origin.host, ctx.req.path(), ctx.origin.is_https()) {
        response.headers.push(("Set-Cookie".into(), c));
    }
    Outcome::Finish(response)
}
