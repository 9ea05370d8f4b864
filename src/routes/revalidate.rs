//! `POST /.auth/login` (no provider) with `{"authenticationToken": "<token>"}`: the JavaScript
//! SDK's `loginWithMobileServiceToken` re-validates a session token it already holds and
//! expects the client-login answer, `{"authenticationToken", "user": {"userId"}}`. The token
//! is judged exactly as an `X-ZUMO-AUTH` header would be (ours, with revocation; or a custom
//! authentication token) and given back unchanged: nothing is minted or stored.

use serde_json::{json, Value};

use super::Ctx;
use crate::app::App;
use crate::http::{Outcome, Response};
use crate::reply;
use crate::session::{self, ZumoToken};
use crate::store::Cached;

pub fn revalidate(app: &App, ctx: &Ctx) -> Outcome {
    let token = serde_json::from_slice::<Value>(ctx.req.body)
        .ok()
        .and_then(|v| v.get("authenticationToken")?.as_str().map(str::to_owned));
    let Some(token) = token else {
        return reply::refuse(
            app.log(),
            400,
            "login: the body is not {\"authenticationToken\": \"…\"}",
            "The body must be {\"authenticationToken\": \"...\"}.",
        );
    };
    let invalid = |why: &str| {
        reply::unauthorized(
            app.log(),
            app.aad_discovery(),
            &ctx.origin.host,
            &format!("login (re-validation): {why}"),
            "The session token is not valid.",
        )
    };
    let settings = app.settings();
    let verified = session::verify_zumo(
        token.trim(),
        &settings.keys,
        &ctx.origin.audience(),
        &settings.app_id,
        app.now(),
        0,
    );
    let user_id = match verified {
        Err(e) => return invalid(&e.0),
        Ok(ZumoToken::Custom(principal)) => principal.sid,
        Ok(ZumoToken::Session(s)) => {
            if app.providers().get(&s.principal.idp).is_none() {
                return invalid("X-ZUMO-AUTH: provider no longer configured");
            }
            let revoked = app.store().is_some_and(|store| {
                matches!(app.record(store, &s.principal.sid, ctx.io),
                    Cached::Hit(r) if r.revoked.revokes(&s.ssn, s.iat))
            });
            if revoked {
                return invalid("X-ZUMO-AUTH: the session was signed out");
            }
            s.principal.sid
        }
    };
    Outcome::Finish(Response::json(
        200,
        &json!({"authenticationToken": token.trim(), "user": {"userId": user_id}}),
    ))
}
