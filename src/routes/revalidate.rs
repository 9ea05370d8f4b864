//! `POST /.auth/login` (no provider) with `{"authenticationToken": "<token>"}`: the JavaScript
//! SDK's `loginWithMobileServiceToken` re-validates a session token it already holds and
//! expects the client-login answer, `{"authenticationToken", "user": {"userId"}}`. The token
//! is judged exactly as an `X-ZUMO-AUTH` header would be (ours, with revocation; or a custom
//! authentication token) and given back unchanged: nothing is minted or stored.

use serde_json::{json, Value};

use super::Ctx;
use crate::app::{App, TokenRefusal};
use crate::http::{Outcome, Response};
use crate::reply;

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
    let user_id = match app.session_token(&token, &ctx.origin.audience(), 0, ctx.io) {
        Ok(caller) => caller.principal.sid.clone(),
        Err(TokenRefusal::Invalid(why)) => return invalid(&why),
        // The row blocks: the record is read in the blocking step, never needed here.
        Err(TokenRefusal::NeedsIo) => return invalid("the user's record could not be read"),
    };
    Outcome::Finish(Response::json(
        200,
        &json!({"authenticationToken": token.trim(), "user": {"userId": user_id}}),
    ))
}
