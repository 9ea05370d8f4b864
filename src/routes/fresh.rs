//! Tokens stay fresh (`ezauth.refreshBeforeExpirySeconds`): a signed-in request whose stored
//! access token expires within the window redeems the refresh token first, so the app (and
//! `/.auth/me`) receives a live token. The event loop only compares numbers ([`due`]); the
//! refresh runs in the host's blocking step ([`refresh_ahead`]) through `/.auth/refresh`'s
//! machinery: one run per user in this process (single flight, shared with `/.auth/refresh`),
//! under the store's per-user lock across processes, and no provider call at all when the
//! record is found fresh under that lock (another request or process refreshed it), so a
//! rotated refresh token is never redeemed twice.
//!
//! A failed refresh is a background concern: the request goes on with the stored tokens and
//! a warning, never a 5xx or a sign-out, and this process tries that user again only after
//! [`BACKOFF_SECONDS`], so a storm of requests cannot hammer a provider that is down.

use super::refresh::{redeem, Redeem};
use crate::app::App;
use crate::metrics;
use crate::session::Caller;

/// After a failed refresh ahead of expiry, how long this process leaves the user's tokens as
/// they are before trying again.
pub const BACKOFF_SECONDS: i64 = 60;

/// Should this request refresh the caller's tokens first? A session with a stored refresh
/// token whose access token expires within the window, a provider that can refresh, and no
/// back-off. A token far from expiry costs a cached lookup and a comparison.
pub fn due(app: &App, caller: &Caller, now: i64) -> bool {
    let Some(window) = app.settings().refresh_before_expiry else {
        return false;
    };
    // Only sessions (cookie, `X-ZUMO-AUTH` session token) read a record: bearer and custom
    // tokens have no stored tokens to hand on.
    let Some(record) = &caller.record else {
        return false;
    };
    if record.refresh_token.is_none() {
        return false;
    }
    let sid = &caller.principal.sid;
    let (_, expires_at) = app.rendered_tokens(sid, record);
    if expires_at.is_none_or(|exp| exp - now > window) {
        return false;
    }
    app.refresh_backoff(sid) <= now
        && app
            .providers()
            .get(&caller.principal.idp)
            .is_some_and(|p| p.capabilities().refresh)
}

/// Refreshes the caller's tokens ahead of their expiry, in the host's blocking step, and puts
/// the record as stored afterwards on the caller. On failure the caller keeps the record it
/// had, the failure is logged, and the user backs off.
pub fn refresh_ahead(app: &App, caller: &mut Caller) {
    let (Some(store), Some(window)) = (app.store(), app.settings().refresh_before_expiry) else {
        return;
    };
    let Some(provider) = app.providers().get(&caller.principal.idp) else {
        return;
    };
    let sid = caller.principal.sid.as_str();
    let deadline = app.now() + window;
    let store_lock_wait = app.settings().http_timeout * 2;
    let redeemed = app.refreshes().run(sid, store_lock_wait, || {
        let redeemed = redeem(
            app,
            provider.as_ref(),
            store,
            sid,
            Redeem::ExpiringBy(deadline),
        );
        let outcome = metrics::Outcome::of(&redeemed);
        app.metrics()
            .refresh(provider.name(), metrics::Trigger::AheadOfExpiry, outcome);
        redeemed
    });
    match redeemed {
        Ok(Ok(expires_at)) => {
            let now = app.now();
            if expires_at.is_some_and(|exp| exp - now <= window) {
                // Otherwise every request would refresh again.
                app.back_off_refresh(sid, now + BACKOFF_SECONDS);
                app.log().warn(format_args!(
                    "tokens of {sid} from {} expire within ezauth.refreshBeforeExpirySeconds \
                     even when new: not refreshed ahead again for {BACKOFF_SECONDS} s",
                    provider.name()
                ));
            }
            // As stored now: the new tokens (or none, if a logout deleted them meanwhile).
            if let Ok(record) = store.load(sid) {
                caller.record = record;
            }
        }
        Ok(Err(refusal)) => {
            // `redeem` logged why; this says what became of the request.
            app.back_off_refresh(sid, app.now() + BACKOFF_SECONDS);
            app.log().warn(format_args!(
                "refresh ahead of expiry of {sid} with {} failed ({}): the request goes on \
                 with the stored tokens; next attempt in {BACKOFF_SECONDS} s at the earliest",
                provider.name(),
                refusal.status
            ));
        }
        Err(busy) => app.log().info(format_args!(
            "refresh ahead of expiry of {sid} still in progress ({busy:?}): the request goes \
             on with the stored tokens"
        )),
    }
}
