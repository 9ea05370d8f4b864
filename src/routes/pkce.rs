//! PKCE for native apps (the newer .NET Mobile Apps client): a token-mode login that sent a
//! `code_challenge` ends at its (allow-listed) app callback with `#authorization_code=<code>`
//! instead of a session token, and the app redeems the code at
//! `GET /.auth/login/{provider}/token?authorization_code=…&code_verifier=…` (the .NET client's
//! request; `POST` with the same two fields as JSON is accepted too) for
//! `{authenticationToken, user}`. A code is sealed (it carries the session), short-lived,
//! bound to the challenge and the provider, and redeemed once.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Ctx;
use crate::app::App;
use crate::crypto::{self, Purpose};
use crate::http::{param, parse_unique_params, Outcome, Response};
use crate::providers::Provider;
use crate::reply;
use crate::session::Session;

/// How long a code may wait for its redemption: the app reads it from its callback and
/// redeems it at once.
const CODE_LIFETIME: i64 = 60;

/// What a code carries, sealed.
#[derive(Serialize, Deserialize)]
struct Code {
    /// One-time marker.
    id: String,
    provider: String,
    /// SHA-256 of the verifier, hex.
    challenge: String,
    exp: i64,
    session: Session,
}

/// Codes are sealed with the login-state key under their own context: neither opens as the
/// other.
fn context(app: &App) -> Vec<u8> {
    format!("{}\npkce-code", app.settings().app_id).into_bytes()
}

/// The login's `code_challenge` as the SHA-256 digest it names (hex), when there is one. Only
/// `S256` is accepted: `plain` would put the verifier itself in the browser's URL. The .NET
/// client sends standard base64 unescaped in the query (a `+` reads as a space there);
/// RFC 7636's base64url is accepted too.
pub(super) fn challenge_of(params: &[(String, String)]) -> Result<Option<String>, String> {
    let method = param(params, "code_challenge_method");
    let Some(challenge) = param(params, "code_challenge") else {
        return match method {
            Some(_) => Err("code_challenge_method without code_challenge".into()),
            None => Ok(None),
        };
    };
    if method != Some("S256") {
        return Err(format!(
            "code_challenge_method {:?} is not S256",
            method.unwrap_or("(none: plain)")
        ));
    }
    let normalized = challenge.replace(' ', "+");
    let digest = crypto::b64_decode(&normalized)
        .or_else(|| crypto::b64url_decode(&normalized))
        .filter(|d| d.len() == 32)
        .ok_or("code_challenge is not a base64 SHA-256 digest")?;
    Ok(Some(crypto::hex(&digest)))
}

/// A one-time code for the session of a PKCE login, bound to its `challenge`.
pub(super) fn issue_code(app: &App, provider: &str, session: Session, challenge: &str) -> String {
    let code = Code {
        id: crypto::random_token(16),
        provider: provider.to_owned(),
        challenge: challenge.to_owned(),
        exp: app.now() + CODE_LIFETIME,
        session,
    };
    let sealed = app.settings().keys.seal(
        Purpose::LoginState,
        &context(app),
        &serde_json::to_vec(&code).expect("codes serialize"),
    );
    crypto::b64url(&sealed)
}

/// `GET|POST /.auth/login/{provider}/token`: redeems a code with its verifier.
pub fn token(app: &App, ctx: &Ctx, provider: &Arc<dyn Provider>) -> Outcome {
    let refuse = |why: &str, public: &str| {
        reply::refuse(app.log(), 400, &format!("pkce token: {why}"), public)
    };
    let (code, verifier) = match fields(ctx) {
        Ok(f) => f,
        Err(why) => return refuse(&why, "authorization_code and code_verifier are required."),
    };
    let opened = crypto::b64url_decode(&code)
        .and_then(|sealed| {
            app.settings()
                .keys
                .open(Purpose::LoginState, &context(app), &sealed)
        })
        .and_then(|plain| serde_json::from_slice::<Code>(&plain).ok());
    let Some(code) = opened else {
        return refuse(
            "the code does not open",
            "The authorization code is not valid.",
        );
    };
    if !code.provider.eq_ignore_ascii_case(provider.name()) {
        return refuse(
            &format!("code of {} redeemed at {}", code.provider, provider.name()),
            "The authorization code is not valid.",
        );
    }
    if code.exp <= app.now() {
        return refuse(
            &format!("code expired at {}", code.exp),
            "The authorization code expired. Please sign in again.",
        );
    }
    // The .NET client's verifier is standard base64: a `+` sent unescaped reads as a space.
    let digest = crypto::hex(&crypto::sha256(verifier.replace(' ', "+").as_bytes()));
    if !crypto::ct_eq(digest.as_bytes(), code.challenge.as_bytes()) {
        return refuse(
            "code_verifier does not match the code_challenge",
            "The code verifier does not match.",
        );
    }
    if !app.consume_state(&format!("pkce:{}", code.id), code.exp) {
        return refuse(
            "code already redeemed (replay)",
            "The authorization code was already used.",
        );
    }
    app.log().info(format_args!(
        "pkce token: session token for {} with {}",
        code.session.principal.sid, code.provider
    ));
    let body = super::session_token_json(app, &ctx.origin, &code.session);
    Outcome::Finish(Response::json(200, &body))
}

/// `authorization_code` and `code_verifier`, from the query (the .NET client's `GET`) or a
/// JSON body (`POST`).
fn fields(ctx: &Ctx) -> Result<(String, String), String> {
    let from_json =
        |name: &str, body: &Value| body.get(name).and_then(Value::as_str).map(str::to_owned);
    let (code, verifier) = if ctx.req.method == "POST" {
        let body: Value =
            serde_json::from_slice(ctx.req.body).map_err(|e| format!("body is not JSON: {e}"))?;
        (
            from_json("authorization_code", &body),
            from_json("code_verifier", &body),
        )
    } else {
        let params = parse_unique_params(ctx.req.query()).ok_or("duplicate query parameters")?;
        (
            param(&params, "authorization_code").map(str::to_owned),
            param(&params, "code_verifier").map(str::to_owned),
        )
    };
    match (code, verifier) {
        (Some(c), Some(v)) if !c.is_empty() && !v.is_empty() => Ok((c, v)),
        _ => Err("authorization_code or code_verifier missing".into()),
    }
}
