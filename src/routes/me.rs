//! `GET /.auth/me`: the caller's provider identity and tokens from the token store (the record
//! authentication read); `?provider=<name>` keeps only that provider's entry (the Mobile Apps
//! server SDK asks so).

use serde_json::{json, Value};

use super::Ctx;
use crate::app::App;
use crate::http::{param, parse_unique_params, Outcome, Response};
use crate::reply;
use crate::session::Caller;
use crate::store::TokenStore;

pub fn me(app: &App, ctx: &Ctx, _store: &dyn TokenStore, caller: &Caller) -> Outcome {
    let Some(params) = parse_unique_params(ctx.req.query()) else {
        return reply::refuse(
            app.log(),
            400,
            "me: duplicate query parameters",
            "Duplicate query parameters.",
        );
    };
    let wanted = param(&params, "provider");
    let without_tokens = || {
        let entries: Vec<Value> = principal_entry(caller)
            .into_iter()
            .filter(|_| wanted.is_none_or(|p| caller.principal.idp.eq_ignore_ascii_case(p)))
            .collect();
        Outcome::Finish(Response::json(200, &Value::Array(entries)))
    };
    if caller.store_unavailable {
        // The identity is known (the credential), the tokens are not: an answer without them
        // would read as "no tokens stored", and a client would sign in again for nothing.
        return reply::refuse(
            app.log(),
            503,
            "me: the token store is unavailable",
            "The token store is not available.",
        );
    }
    if caller.session.is_none() {
        // A provider's bearer token: who the token says, and no stored tokens (they belong to
        // the user's browser sessions, not to whoever holds a token for them).
        return without_tokens();
    }
    // Authentication read the session's record (to check revocations) as far as the event
    // loop may, or in the blocking step when only a remote read could tell: no second read.
    // A record that holds no identity any more is what another session's logout left (its
    // revocations): this session still vouches for the user, with no stored tokens.
    if caller.record.as_ref().is_some_and(|r| r.user_id.is_empty()) {
        return without_tokens();
    }
    let entries: Vec<Value> = caller
        .record
        .iter()
        .filter(|record| wanted.is_none_or(|p| record.provider_name.eq_ignore_ascii_case(p)))
        .filter_map(|record| serde_json::to_value(&**record).ok())
        .map(|mut entry| {
            if let Some(fields) = entry.as_object_mut() {
                // The store's bookkeeping, not part of App Service's answer.
                fields.remove("revoked");
                fields.remove("refreshed_at");
                // Fields alphabetically, as App Service's captures show them; the claims
                // inside keep the provider's order (serde_json keeps insertion order here).
                fields.sort_keys();
            }
            entry
        })
        .collect();
    Outcome::Finish(Response::json(200, &Value::Array(entries)))
}

/// The `/.auth/me` entry of a caller with no stored tokens: provider, user and claims from
/// the principal it authenticated as.
fn principal_entry(caller: &Caller) -> Option<Value> {
    let p = &caller.principal;
    let json = crate::crypto::b64_decode(&p.header)?;
    let principal: Value = serde_json::from_slice(&json).ok()?;
    Some(json!({
        "provider_name": p.idp,
        "user_claims": principal.get("claims").cloned().unwrap_or(Value::Array(vec![])),
        "user_id": p.name,
    }))
}
