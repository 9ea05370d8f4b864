//! `GET /.auth/refresh`: redeems the stored refresh token for new provider tokens. The token
//! store's per-user lock is held across the provider call, so concurrent refreshes of one user
//! in different processes (nginx workers) run one after the other and each uses the refresh
//! token the previous one stored: a provider that rotates refresh tokens never sees one used
//! twice. Within a process, concurrent refreshes of one user share one provider call, and only
//! a few may wait for it (429 beyond): one user cannot fill the host's blocking pool.

use serde_json::json;

use super::Ctx;
use crate::app::App;
use crate::http::{Outcome, Response};
use crate::metrics;
use crate::providers::{Provider, ProviderError};
use crate::reply;
use crate::session::{Caller, Credential};
use crate::store::{format_expires_on, parse_expires_on, TokenRecord, TokenStore, Update};

enum Failure {
    NoRecord,
    NoRefreshToken,
    /// The provider's allow-lists no longer admit the user.
    Refused(Response),
    Provider(ProviderError),
}

pub fn refresh(app: &App, ctx: &Ctx, store: &dyn TokenStore, caller: &Caller) -> Outcome {
    if caller.credential == Credential::ProviderToken {
        return reply::refuse(
            app.log(),
            400,
            "refresh: a bearer token has no session to refresh",
            "A provider token cannot be refreshed here; sign in to get a session.",
        );
    }
    if caller.credential == Credential::CustomToken {
        return reply::refuse(
            app.log(),
            400,
            "refresh: a custom authentication token has no session to refresh",
            "A custom authentication token cannot be refreshed; the application mints a new one.",
        );
    }
    if caller.credential == Credential::Cookie {
        if let Some(site) = super::foreign_initiator(ctx) {
            return reply::refuse(
                app.log(),
                403,
                &format!("refresh: cross-site request from {site:?} with a session cookie refused"),
                "Cross-site request refused.",
            );
        }
    }
    let sid = &caller.principal.sid;
    let Some(provider) = app.providers().get(&caller.principal.idp) else {
        return reply::refuse(
            app.log(),
            400,
            &format!(
                "refresh: provider {} is not configured",
                caller.principal.idp
            ),
            "This sign-in cannot be refreshed.",
        );
    };
    if !provider.capabilities().refresh {
        return reply::refuse(
            app.log(),
            400,
            &format!("refresh: {} cannot refresh tokens", provider.name()),
            "This identity provider's sign-ins cannot be refreshed.",
        );
    }
    let store_lock_wait = app.settings().http_timeout * 2;
    let seen = caller.record.as_deref().map(Seen::of);
    let redeemed = app.refreshes().run(sid, store_lock_wait, || {
        let redeemed = redeem(app, provider.as_ref(), store, sid, Redeem::Requested(seen));
        let outcome = metrics::Outcome::of(&redeemed);
        app.metrics()
            .refresh(provider.name(), metrics::Trigger::Route, outcome);
        redeemed
    });
    let expires_at = match redeemed {
        Ok(Ok(expires_at)) => expires_at,
        Ok(Err(refusal)) => return Outcome::Finish(refusal),
        Err(busy) => {
            app.log().warn(format_args!(
                "refresh of {sid} refused: {busy:?} (a refresh of this user is in progress)"
            ));
            let r = Response::error(429, "A refresh of this sign-in is in progress: try again.")
                .with_header("Retry-After", "1");
            return Outcome::Finish(r);
        }
    };
    let now = app.now();
    let exp = app.settings().session_expiry(now, expires_at);
    // The same sign-in, renewed: its id stays, so signing it out still works.
    let Some(renewed) = caller.renewed_session(exp) else {
        return Outcome::Finish(Response::error(400, "This sign-in cannot be refreshed."));
    };
    match caller.credential {
        Credential::SessionToken => {
            let body = super::session_token_json(app, &ctx.origin, &renewed);
            Outcome::Finish(Response::json(200, &body))
        }
        Credential::Cookie | Credential::ProviderToken | Credential::CustomToken => {
            // The session may have been inside its extension window: renew it.
            let mut r = Response::json(200, &json!({"user": {"userId": sid}}));
            r.headers
                .extend(super::session_cookies(app, ctx, &renewed, now));
            Outcome::Finish(r)
        }
    }
}

/// The tokens a caller's request saw, to tell under the lock whether another request (another
/// process, another node) refreshed them meanwhile.
#[derive(Clone, PartialEq)]
pub(super) struct Seen {
    access_token: Option<String>,
    refresh_token: Option<String>,
}

impl Seen {
    pub(super) fn of(record: &TokenRecord) -> Seen {
        Seen {
            access_token: record.access_token.clone(),
            refresh_token: record.refresh_token.clone(),
        }
    }
}

/// Tokens a refresh stored this many seconds ago are as new as another refresh's would be.
const JUST_REFRESHED_SECS: i64 = 2;

/// When a run of [`redeem`] calls the provider.
#[derive(Clone)]
pub(super) enum Redeem {
    /// `/.auth/refresh`: the caller asked for new tokens, unless another refresh stored some
    /// meanwhile: the record no longer holds the ones the request saw (it waited for the
    /// user's lock), or they were refreshed within [`JUST_REFRESHED_SECS`] (a request that
    /// arrived just after). So concurrent refreshes on many processes and nodes make one
    /// provider call, not one each.
    Requested(Option<Seen>),
    /// Ahead of expiry (`ezauth.refreshBeforeExpirySeconds`): only when the stored access
    /// token expires at or before this time (Unix seconds). Judged under the user's store
    /// lock, so a request that finds the record another one just refreshed uses it, and a
    /// rotated refresh token is never redeemed twice.
    ExpiringBy(i64),
}

/// Redeems the stored refresh token under the user's store lock and stores what the provider
/// returns: the new expiry, or the response that says why not. Concurrent callers in this
/// process share one run (see [`crate::flight`]); other processes wait on the store lock.
pub(super) fn redeem(
    app: &App,
    provider: &dyn Provider,
    store: &dyn TokenStore,
    sid: &str,
    when: Redeem,
) -> Result<Option<i64>, Response> {
    let mut failure = None;
    let mut expires_at = None;
    let mut already_fresh = false;
    let stored = store.update(sid, &mut |current| {
        let Some(mut record) = current else {
            failure = Some(Failure::NoRecord);
            return Update::Keep;
        };
        let stored_expiry = || record.expires_on.as_deref().and_then(parse_expires_on);
        let fresh = match &when {
            Redeem::ExpiringBy(deadline) => stored_expiry().is_none_or(|exp| exp > *deadline),
            Redeem::Requested(seen) => {
                record.refresh_token.is_some()
                    && (seen.as_ref().is_some_and(|seen| *seen != Seen::of(&record))
                        || app.now() - record.refreshed_at < JUST_REFRESHED_SECS)
            }
        };
        if fresh {
            already_fresh = true;
            expires_at = stored_expiry();
            return Update::Keep;
        }
        // Allow-lists may have changed since the sign-in: a refused user is not renewed.
        if let Err(refused) = app.authorize(provider, &record.user_claims, None) {
            failure = Some(Failure::Refused(refused));
            return Update::Keep;
        }
        let Some(refresh_token) = record.refresh_token.clone() else {
            failure = Some(Failure::NoRefreshToken);
            return Update::Keep;
        };
        match provider.refresh(&refresh_token) {
            Ok(tokens) => {
                expires_at = tokens.expires_at;
                record.access_token = tokens.access_token.or(record.access_token);
                record.id_token = tokens.id_token.or(record.id_token);
                record.authentication_token =
                    tokens.authentication_token.or(record.authentication_token);
                // Providers that do not rotate return no new refresh token: keep the old one.
                record.refresh_token = tokens.refresh_token.or(record.refresh_token);
                record.expires_on = tokens
                    .expires_at
                    .map(format_expires_on)
                    .or(record.expires_on);
                record.refreshed_at = app.now();
                Update::Replace(Box::new(record))
            }
            Err(e) => {
                failure = Some(Failure::Provider(e));
                Update::Keep
            }
        }
    });
    if let Err(e) = stored {
        app.log()
            .error(format_args!("refresh: token store failed for {sid}: {e}"));
        return Err(Response::error(503, "The token store is not available."));
    }
    match failure {
        None if already_fresh => Ok(expires_at),
        None => {
            app.log().info(format_args!(
                "refreshed tokens of {sid} with {}",
                provider.name()
            ));
            Ok(expires_at)
        }
        Some(Failure::NoRecord) | Some(Failure::NoRefreshToken) => Err(reply::refusal(
            app.log(),
            400,
            &format!("refresh: no refresh token stored for {sid}"),
            "No refresh token is available: sign in again, asking for offline access.",
        )),
        Some(Failure::Refused(response)) => Err(response),
        Some(Failure::Provider(ProviderError::Rejected(why))) => Err(reply::refusal(
            app.log(),
            403,
            &format!(
                "refresh: {} refused the refresh token of {sid}: {why}",
                provider.name()
            ),
            "The identity provider refused to refresh the sign-in: sign in again.",
        )),
        Some(Failure::Provider(e)) => Err(reply::provider_failure_response(
            app.log(),
            "refresh",
            provider.name(),
            &e,
        )),
    }
}
