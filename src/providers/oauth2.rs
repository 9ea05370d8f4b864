//! The start of an OAuth 2.0 authorization code sign-in (RFC 6749 §4.1.1), as plain OAuth 2.0
//! providers with an API (GitHub, Facebook) take it: `client_id`, `redirect_uri`, `state`, the
//! configured scope, and the login parameters the provider documents, renamed where its name
//! differs. The correlation is our `state`; nothing is kept (no PKCE, no nonce).

use super::{BeginLogin, Kept, LoginStarted, ProviderError};

/// How one provider's authorize endpoint takes a sign-in.
pub struct Authorize<'a> {
    pub endpoint: &'a str,
    pub client_id: &'a str,
    /// Parameters the provider always wants (Facebook's `response_type=code`).
    pub fixed: &'a [(&'a str, &'a str)],
    /// The configured scopes, joined as the provider joins them; `None` without any.
    pub scope: Option<String>,
    /// Login query parameters passed on, `(ours, theirs)`; the caller's replace configured
    /// ones, as App Service lets a login query override the configuration.
    pub passed_on: &'a [(&'a str, &'a str)],
}

impl Authorize<'_> {
    pub fn begin(&self, login: &BeginLogin) -> Result<LoginStarted, ProviderError> {
        let mut url = url::Url::parse(self.endpoint).map_err(|_| {
            ProviderError::BadResponse(format!(
                "authorization endpoint {:?} is not a URL",
                self.endpoint
            ))
        })?;
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(scope) = &self.scope {
            params.push(("scope", scope.clone()));
        }
        for (k, v) in login.extra {
            if let Some((_, to)) = self.passed_on.iter().find(|(from, _)| from == k) {
                params.retain(|(name, _)| name != to);
                params.push((to, v.clone()));
            }
        }
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", self.client_id)
                .append_pair("redirect_uri", login.redirect_uri)
                .append_pair("state", login.state);
            for (k, v) in self.fixed {
                q.append_pair(k, v);
            }
            for (k, v) in &params {
                q.append_pair(k, v);
            }
        }
        Ok(LoginStarted {
            url: url.into(),
            correlation: login.state.to_owned(),
            kept: Kept::default(),
        })
    }
}
