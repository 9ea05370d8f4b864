//! Who is calling: a signed-in caller as authentication found it, shared by the pipeline that
//! finds it and the routes that serve it.

use std::sync::Arc;

use super::{Principal, Session};
use crate::http::HeaderGroup;
use crate::store::TokenRecord;

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Cookie,
    SessionToken,
    /// A provider-issued token in `Authorization: Bearer`.
    ProviderToken,
    /// A custom authentication token the application minted (`X-ZUMO-AUTH`): no session.
    CustomToken,
}

/// A signed-in caller, with the principal headers the application will see (computed once
/// per session and shared).
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Arc<Principal>,
    pub credential: Credential,
    pub headers: HeaderGroup,
    /// The sign-in behind a cookie or session token; a provider's bearer token has none.
    pub session: Option<SessionRef>,
    /// The user's stored record as read for this request (sessions, with a token store).
    pub record: Option<Arc<TokenRecord>>,
    /// The token store could not be read for this request (an outage): the identity rests on
    /// the credential alone, and routes that need the stored tokens answer 503.
    pub store_unavailable: bool,
}

/// What identifies one sign-in, for revocation and renewal.
#[derive(Debug, Clone)]
pub struct SessionRef {
    pub id: Arc<str>,
    pub iat: i64,
    pub exp: i64,
}

impl Caller {
    /// A caller signed in by a provider's bearer token.
    pub fn bearer(principal: Principal) -> Caller {
        Caller::new(principal, Credential::ProviderToken, None)
    }

    /// A caller signed in by a custom authentication token: no session, no stored tokens.
    pub fn custom(principal: Principal) -> Caller {
        Caller::new(principal, Credential::CustomToken, None)
    }

    /// A caller signed in by a session cookie or session token.
    pub fn from_session(session: Session, credential: Credential) -> Caller {
        let at = SessionRef {
            id: session.ssn.into(),
            iat: session.iat,
            exp: session.exp,
        };
        Caller::new(session.principal, credential, Some(at))
    }

    fn new(principal: Principal, credential: Credential, session: Option<SessionRef>) -> Caller {
        let mut headers = Vec::with_capacity(4);
        crate::headers::principal_headers(&principal, &mut headers);
        Caller {
            principal: Arc::new(principal),
            credential,
            headers: headers.into(),
            session,
            record: None,
            store_unavailable: false,
        }
    }

    /// Are these one sign-in (same user, same session id)? Two different ones among a
    /// request's cookies make it ambiguous (see [`crate::session::SessionCookies::resolve`]).
    pub fn same_session(a: &Caller, b: &Caller) -> bool {
        a.principal.sid == b.principal.sid
            && a.session.as_ref().map(|s| &s.id) == b.session.as_ref().map(|s| &s.id)
    }

    /// The session again, renewed until `exp` (same id and sign-in time).
    pub fn renewed_session(&self, exp: i64) -> Option<Session> {
        self.session.as_ref().map(|s| Session {
            principal: (*self.principal).clone(),
            ssn: s.id.to_string(),
            iat: s.iat,
            exp,
        })
    }
}
