//! Answers that log why and tell the client little: free functions over what they need (the
//! logger, the Azure AD challenge), so route handlers and the pipeline share them without
//! either calling back into the other.

use crate::challenge;
use crate::http::{Outcome, Response};
use crate::logger::Logger;
use crate::providers::ProviderError;

/// Logs why, and answers `status` with a short public message.
pub fn refuse(log: &Logger, status: u16, why: &str, public: &str) -> Outcome {
    Outcome::Finish(refusal(log, status, why, public))
}

/// [`refuse`]'s response, for a step that returns one (kept for waiters, say).
pub fn refusal(log: &Logger, status: u16, why: &str, public: &str) -> Response {
    log.warn(format_args!("{status}: {why}"));
    Response::error(status, public)
}

/// Logs a failed provider step and answers the status and message the error carries.
pub fn provider_failure(log: &Logger, step: &str, provider: &str, e: &ProviderError) -> Outcome {
    Outcome::Finish(provider_failure_response(log, step, provider, e))
}

/// [`provider_failure`]'s response.
pub fn provider_failure_response(
    log: &Logger,
    step: &str,
    provider: &str,
    e: &ProviderError,
) -> Response {
    log.error(format_args!(
        "{step} with {provider} failed ({}): {e}",
        e.status()
    ));
    Response::error(e.status(), e.public_message())
}

/// Logs why, and answers 401 with App Service's Azure AD challenge when `aad_discovery` is
/// known (Azure AD configured, `login.disableWWWAuthenticate` not true).
pub fn unauthorized(
    log: &Logger,
    aad_discovery: Option<&str>,
    host: &str,
    why: &str,
    public: &str,
) -> Outcome {
    log.warn(format_args!("401: {why}"));
    Outcome::Finish(unauthorized_response(aad_discovery, host, public))
}

/// A 401 with App Service's Azure AD challenge when one applies (see [`unauthorized`]).
pub fn unauthorized_response(aad_discovery: Option<&str>, host: &str, public: &str) -> Response {
    let mut r = Response::error(401, public);
    if let Some(c) = challenge::anonymous(host, aad_discovery) {
        r.headers.push(("WWW-Authenticate".into(), c));
    }
    r
}
