//! `GET /.auth/refresh`: redeems the stored refresh token for new provider tokens. The token
//! store's per-user lock is held across the provider call, so concurrent refreshes of one user
//! (threads, nginx workers) run one after the other and each uses the refresh token the
//! previous one stored: a provider that rotates refresh tokens never sees one used twice.

use serde_json::json;

use super::{Credential, Ctx};
use crate::http::{Outcome, Response};
use crate::pipeline::Module;
use crate::providers::ProviderError;
use crate::session;
use crate::store::{format_expires_on, Update};

enum Failure {
    NoRecord,
    NoRefreshToken,
    Provider(ProviderError),
}

pub fn refresh(module: &Module, ctx: &Ctx, _: &[&str]) -> Outcome {
    let Some(store) = module.store() else {
        return Outcome::Finish(Response::error(404, "The token store is not enabled."));
    };
    let Some(caller) = &ctx.caller else {
        return module.refuse(
            401,
            "refresh: not signed in (or past the refresh window)",
            "You are not signed in.",
        );
    };
    if caller.credential == Credential::ProviderToken {
        return module.refuse(
            400,
            "refresh: a bearer token has no session to refresh",
            "A provider token cannot be refreshed here; sign in to get a session.",
        );
    }
    let sid = &caller.principal.sid;
    let Some(provider) = module.providers().get(&caller.principal.idp) else {
        return module.refuse(
            400,
            &format!(
                "refresh: provider {} is not configured",
                caller.principal.idp
            ),
            "This sign-in cannot be refreshed.",
        );
    };
    let mut failure = None;
    let mut expires_at = None;
    let stored = store.update(sid, &mut |current| {
        let Some(mut record) = current else {
            failure = Some(Failure::NoRecord);
            return Update::Keep;
        };
        let Some(refresh_token) = record.refresh_token.clone() else {
            failure = Some(Failure::NoRefreshToken);
            return Update::Keep;
        };
        match provider.refresh(&refresh_token) {
            Ok(tokens) => {
                expires_at = tokens.expires_at;
                record.access_token = tokens.access_token.or(record.access_token);
                record.id_token = tokens.id_token.or(record.id_token);
                // Providers that do not rotate return no new refresh token: keep the old one.
                record.refresh_token = tokens.refresh_token.or(record.refresh_token);
                record.expires_on = tokens
                    .expires_at
                    .map(format_expires_on)
                    .or(record.expires_on);
                Update::Replace(Box::new(record))
            }
            Err(e) => {
                failure = Some(Failure::Provider(e));
                Update::Keep
            }
        }
    });
    if let Err(e) = stored {
        module
            .log()
            .error(format_args!("refresh: token store failed for {sid}: {e}"));
        return Outcome::Finish(Response::error(503, "The token store is not available."));
    }
    match failure {
        Some(Failure::NoRecord) | Some(Failure::NoRefreshToken) => {
            return module.refuse(
                400,
                &format!("refresh: no refresh token stored for {sid}"),
                "No refresh token is available: sign in again, asking for offline access.",
            )
        }
        Some(Failure::Provider(ProviderError::Rejected(why))) => {
            return module.refuse(
                403,
                &format!(
                    "refresh: {} refused the refresh token of {sid}: {why}",
                    provider.name()
                ),
                "The identity provider refused to refresh the sign-in: sign in again.",
            )
        }
        Some(Failure::Provider(e)) => {
            return module.provider_failure("refresh", provider.name(), &e)
        }
        None => {}
    }
    module.log().info(format_args!(
        "refreshed tokens of {sid} with {}",
        provider.name()
    ));

    let now = session::now();
    let exp = module.settings().session_expiry(now, expires_at);
    // The same sign-in, renewed: its id stays, so signing it out still works.
    let Some(renewed) = caller.renewed_session(exp) else {
        return Outcome::Finish(Response::error(400, "This sign-in cannot be refreshed."));
    };
    match caller.credential {
        Credential::SessionToken => {
            let body = super::session_token_json(module, &ctx.origin, &renewed);
            Outcome::Finish(Response::json(200, &body))
        }
        Credential::Cookie | Credential::ProviderToken => {
            // The session may have been inside its extension window: renew it.
            let mut r = Response::json(200, &json!({"user": {"userId": sid}}));
            r.headers
                .extend(super::session_cookies(module, ctx, &renewed));
            Outcome::Finish(r)
        }
    }
}
