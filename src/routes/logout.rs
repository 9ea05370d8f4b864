//! `GET /.auth/logout`: clears the session cookie, deletes the user's tokens, and redirects to
//! a validated `post_logout_redirect_uri` (default `/.auth/logout/complete`) — by way of the
//! provider's end-session endpoint when the provider signs out too (Azure AD by default).

use super::Ctx;
use crate::http::{param, parse_unique_params, Outcome, Response};
use crate::pipeline::Module;
use crate::session;

pub fn logout(module: &Module, ctx: &Ctx, _: &[&str]) -> Outcome {
    let Some(params) = parse_unique_params(ctx.req.query()) else {
        return module.refuse(
            400,
            "logout: duplicate query parameters",
            "Duplicate query parameters.",
        );
    };
    let default_target = format!("{}/logout/complete", module.settings().api_prefix);
    let requested = param(&params, "post_logout_redirect_uri");
    let target =
        match module.redirect_target(ctx, requested, default_target, "post_logout_redirect_uri") {
            Ok(t) => t,
            Err(refusal) => return refusal,
        };
    let mut id_token = None;
    if let (Some(caller), Some(store)) = (&ctx.caller, module.store()) {
        id_token = module
            .load_record(store, &caller.principal.sid)
            .and_then(|r| r.id_token.clone());
        if let Err(e) = store.delete(&caller.principal.sid) {
            module
                .log()
                .error(format_args!("logout: could not delete tokens: {e}"));
        }
    }
    let provider = ctx
        .caller
        .as_ref()
        .and_then(|c| module.providers().get(&c.principal.idp))
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
    for c in session::clear_cookie(ctx.req, ctx.origin.is_https()) {
        response.headers.push(("Set-Cookie".into(), c));
    }
    Outcome::Finish(response)
}
