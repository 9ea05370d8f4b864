//! Who is calling: the session cookie `AppServiceAuthSession` (sealed, split into numbered
//! cookies when large), the `X-ZUMO-AUTH` session token (HS256), and the principal both produce.

mod caller;
pub mod claims;
pub mod cookies;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::ProviderSettings;
use crate::crypto::{self, jwt, Keys, Purpose};
use crate::http::Request;
use crate::store::Claim;

pub use caller::{Caller, Credential, SessionRef};
pub use cookies::{
    expire, signed_in_at, signed_in_marker, CookieNames, Found, Rejected, SameSite, SessionCookies,
    CHUNK_SIZE, COOKIE_NAME, MAX_CHUNKS,
};

/// The signed-in user as the application sees them. Sealed into the session cookie as is, so
/// the per-request path only opens it: the principal header value is computed once, at login.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Principal {
    /// App Service's own user id, `sid:<32 hex>`; also the token-store key.
    pub sid: String,
    /// Provider name (`X-MS-CLIENT-PRINCIPAL-IDP`).
    pub idp: String,
    /// `X-MS-CLIENT-PRINCIPAL-ID`: the provider's user id.
    pub id: String,
    /// `X-MS-CLIENT-PRINCIPAL-NAME`.
    pub name: String,
    /// `X-MS-CLIENT-PRINCIPAL`: base64 of the principal JSON.
    pub header: String,
}

/// One sign-in: the content of the session cookie and of an `X-ZUMO-AUTH` session token.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Session {
    #[serde(flatten)]
    pub principal: Principal,
    /// A random id of this sign-in, kept when the session is renewed: logout revokes it.
    pub ssn: String,
    /// Issued and expiry times, Unix seconds.
    pub iat: i64,
    pub exp: i64,
}

impl Session {
    /// A new sign-in of `principal`, valid from `now` until `exp`.
    pub fn start(principal: Principal, now: i64, exp: i64) -> Session {
        Session {
            principal,
            ssn: crypto::random_token(16),
            iat: now,
            exp,
        }
    }
}

/// `sid:` + 32 hex digits, stable for one user of one provider (issuer + subject).
pub fn sid_for(provider: &str, issuer: &str, subject: &str) -> String {
    let digest = crypto::sha256(format!("{provider}\n{issuer}\n{subject}").as_bytes());
    format!("sid:{}", crypto::hex(&digest[..16]))
}

/// Builds the principal from a provider identity's claims: the id from the identity's id
/// claim (else the name identifier), the name from the provider's name claim type or the
/// usual ones. An id or name that could not be written into a header as is (control
/// characters: CR/LF would split the request behind a proxy) refuses the sign-in: the
/// provider's claims are wrong, and no encoding of them would be what the application expects.
pub fn principal(
    sid: String,
    provider: &ProviderSettings,
    id_claim: &str,
    user_claims: &[Claim],
) -> Result<Principal, Rejected> {
    let id = claims::find(user_claims, id_claim)
        .or_else(|| claims::find(user_claims, claims::NAME_ID))
        .unwrap_or_default()
        .to_owned();
    let name_type = claims::claim_type(&provider.name_claim_type);
    let name = [
        name_type,
        "preferred_username",
        "name",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    ]
    .iter()
    .find_map(|t| claims::find(user_claims, t))
    .unwrap_or(&id)
    .to_owned();
    if !passes_intact(&id) || !passes_intact(&name) {
        return Err(Rejected(format!(
            "{}: the user id or name claim is empty, padded with spaces or holds control \
             characters",
            provider.name
        )));
    }
    Ok(Principal {
        sid,
        idp: provider.name.clone(),
        header: principal_header(&provider.name, user_claims, name_type),
        id,
        name,
    })
}

/// `X-MS-CLIENT-PRINCIPAL`: base64 of the principal JSON as App Service writes it.
fn principal_header(auth_typ: &str, user_claims: &[Claim], name_type: &str) -> String {
    let body = json!({
        "auth_typ": auth_typ,
        "claims": user_claims,
        "name_typ": name_type,
        "role_typ": claims::ROLE_TYPE,
    });
    // .NET writes `/` as `\/`; apps that compare the raw header expect it. A `/` can only
    // occur inside JSON strings, so the replacement is exact.
    let text = serde_json::to_string(&body)
        .unwrap_or_default()
        .replace('/', "\\/");
    crypto::b64(text.as_bytes())
}

/// Does this id or name reach the application exactly as the provider said it? Header
/// parsers trim spaces at either end (` admin` would read as `admin`) and control characters
/// split headers behind a proxy; an empty id would merge users.
fn passes_intact(v: &str) -> bool {
    !v.is_empty()
        && v.trim() == v
        && crate::headers::is_safe_value(v)
        && !v.chars().any(breaks_lines)
}

/// Characters some readers take for a line break although no byte of theirs is a control
/// byte: C1 controls (U+0085 NEL is one in Latin-1 and in Unicode line breaking) and the
/// Unicode line and paragraph separators.
fn breaks_lines(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Reads the session from the request's cookies: `Ok(None)` when there is none; an error when
/// none of them opens or two different sessions do (see [`SessionCookies::resolve`]).
pub fn read_cookie(
    req: &Request,
    names: CookieNames,
    keys: &Keys,
    app: &str,
    now: i64,
) -> Result<Option<Session>, Rejected> {
    let found = SessionCookies::parse(req, names).resolve(
        |value| open_cookie(value, keys, app, now),
        |a, b| a.ssn == b.ssn && a.principal.sid == b.principal.sid,
    );
    match found {
        Found::None => Ok(None),
        Found::One { session, .. } => Ok(Some(session)),
        Found::Unusable(why) => Err(why),
        Found::Ambiguous { why, .. } => Err(Rejected(why)),
    }
}

/// Opens a session cookie value: decrypts, authenticates (bound to the app `app`: another
/// app's cookie does not open) and checks its expiry against `now`.
pub fn open_cookie(value: &str, keys: &Keys, app: &str, now: i64) -> Result<Session, Rejected> {
    let sealed = crypto::b64url_decode(value)
        .ok_or_else(|| Rejected("session cookie is not base64url".into()))?;
    let plain = keys
        .open(Purpose::Session, app.as_bytes(), &sealed)
        .ok_or_else(|| {
            Rejected(
                "session cookie does not open (tampered, truncated, another key or app)".into(),
            )
        })?;
    let session: Session = serde_json::from_slice(&plain)
        .map_err(|e| Rejected(format!("session cookie content is invalid: {e}")))?;
    if session.exp <= now {
        return Err(Rejected(format!("session expired at {}", session.exp)));
    }
    Ok(session)
}

/// `Set-Cookie` values that store `session` as `settings` names and seals it, for a browser
/// that holds no session cookie yet (tools, tests and benchmarks minting sessions), written at
/// `now`.
pub fn new_cookie(
    settings: &crate::config::Settings,
    session: &Session,
    secure: bool,
    now: i64,
) -> Vec<String> {
    write_cookie(
        session,
        &settings.keys,
        &settings.app_id,
        settings.cookie_names(),
        secure,
        0,
        browser_lifetime(session, now, settings.refresh_window()),
    )
}

/// How long the browser keeps a session cookie written at `now`: until the session expires,
/// plus `refresh_window` (the refresh route's extension window, `tokenRefreshExtensionHours`).
/// Past its expiry the server treats the session as anonymous everywhere but
/// `/.auth/refresh`; the browser must still hold and send it there, or "refresh within 72
/// hours" could never work for a browser. Counted from `now`, not from the sign-in: a renewed
/// session keeps its original `iat`.
pub fn browser_lifetime(session: &Session, now: i64, refresh_window: i64) -> i64 {
    (session.exp - now).max(0) + refresh_window.max(0)
}

/// `Set-Cookie` values that store `session` under `names`, split into numbered cookies when
/// large, and clear any higher-numbered parts a previous, larger session left behind. The
/// browser keeps them `max_age` seconds (see [`browser_lifetime`]).
pub fn write_cookie(
    session: &Session,
    keys: &Keys,
    app: &str,
    names: CookieNames,
    https: bool,
    previous_chunks: usize,
    max_age: i64,
) -> Vec<String> {
    let plain = serde_json::to_vec(session).expect("sessions serialize");
    let value = crypto::b64url(&keys.seal(Purpose::Session, app.as_bytes(), &plain));
    let mut out: Vec<String> = value
        .as_bytes()
        .chunks(CHUNK_SIZE)
        .enumerate()
        .map(|(i, part)| {
            let part = std::str::from_utf8(part).expect("base64url is ASCII");
            // The session cookie is for the whole site, never for scripts.
            names.set_cookie(&names.session_part(i), part, "/", max_age, https)
        })
        .collect();
    let written = out.len();
    out.extend(
        (written..previous_chunks.min(MAX_CHUNKS))
            .map(|i| cookies::expire(names, &names.session_part(i), None, "/", https)),
    );
    out
}

/// Mints an `X-ZUMO-AUTH` session token as App Service does (HS256 with the signing key,
/// `sub`/`stable_sid`, `idp`, `iss`/`aud` = `https://host/`), bound to the app that minted it
/// (`app`), and carrying the session id and the principal (signed), so the application always
/// sees the user's id and name, with or without a token store.
pub fn mint_token(keys: &Keys, session: &Session, audience: &str, app: &str) -> String {
    let p = &session.principal;
    jwt::sign_hs256(
        keys.signing_key(),
        &json!({
            "sub": p.sid,
            "stable_sid": p.sid,
            "idp": p.idp,
            "ver": "3",
            "iss": audience,
            "aud": audience,
            "app": app,
            "nbf": session.iat,
            "iat": session.iat,
            "exp": session.exp,
            "ssn": session.ssn,
            "prn": {"id": p.id, "name": p.name, "header": p.header},
        }),
    )
}

/// What an `X-ZUMO-AUTH` token turned out to be.
#[derive(Debug, PartialEq)]
pub enum ZumoToken {
    /// One of our session tokens: a sign-in with an id, revocable by logout.
    Session(Session),
    /// A custom authentication token the application minted itself with the signing key
    /// (Mobile Apps custom auth): who it names, valid until it expires. It has no session id,
    /// so logout cannot revoke it and `/.auth/refresh` cannot renew it.
    Custom(Principal),
}

/// The claims only our own session tokens carry. A token with any of them is judged as ours
/// and all of ours checks apply; only a token with none of them can be a custom token.
const SESSION_CLAIMS: [&str; 3] = ["app", "ssn", "prn"];

/// The provider name `X-MS-CLIENT-PRINCIPAL-IDP` shows for a custom token without an `idp`
/// claim.
pub const CUSTOM_IDP: &str = "custom";

/// Verifies an `X-ZUMO-AUTH` token, ours or the application's own (custom authentication):
/// both are HS256 with the signing key, issuer and audience `https://host/`. A token carrying
/// any of our session claims is checked as ours ([`verify_token`]); one carrying none is a
/// custom token: `sub` required, `exp` required and not past (no refresh window: it cannot
/// be refreshed), `nbf` with the usual tolerance.
pub fn verify_zumo(
    token: &str,
    keys: &Keys,
    audience: &str,
    app: &str,
    now: i64,
    grace: i64,
) -> Result<ZumoToken, Rejected> {
    let parsed = jwt::parse(token).map_err(|e| Rejected(format!("X-ZUMO-AUTH: {e}")))?;
    if SESSION_CLAIMS
        .iter()
        .any(|c| parsed.claims.contains_key(*c))
    {
        return verify_token(token, keys, audience, app, now, grace).map(ZumoToken::Session);
    }
    let custom = |why: String| Rejected(format!("X-ZUMO-AUTH (custom token): {why}"));
    parsed
        .verify_hs256_any(keys.verifying_keys())
        .map_err(|e| custom(e.to_string()))?;
    if parsed.str_claim("iss") != Some(audience) || !parsed.has_audience(audience) {
        return Err(custom(format!(
            "issuer {:?} or audience is not this site ({audience})",
            parsed.str_claim("iss").unwrap_or_default()
        )));
    }
    parsed
        .check_lifetime(now, jwt::CLOCK_SKEW, 0)
        .map_err(|e| custom(e.to_string()))?;
    let sub = parsed
        .str_claim("sub")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| custom("no sub".into()))?;
    let idp = parsed.str_claim("idp").unwrap_or(CUSTOM_IDP);
    let user_claims = claims::from_jwt(&parsed.claims);
    let (name_type, name) = [("name", "name"), (claims::NAME, "unique_name")]
        .iter()
        .find_map(|(typ, c)| Some((*typ, parsed.str_claim(c)?)))
        .unwrap_or((claims::NAME_ID, sub));
    // Values that become request headers: refused rather than altered, as for providers.
    if !passes_intact(sub) || !passes_intact(name) || !passes_intact(idp) {
        return Err(custom(
            "sub, name or idp is padded with spaces or holds control characters".into(),
        ));
    }
    Ok(ZumoToken::Custom(Principal {
        sid: sub.to_owned(),
        idp: idp.to_owned(),
        id: sub.to_owned(),
        name: name.to_owned(),
        header: principal_header(idp, &user_claims, name_type),
    }))
}

/// The principal fields a session token carries beside `sub` and `idp`.
#[derive(Deserialize)]
struct TokenPrincipal {
    id: String,
    name: String,
    header: String,
}

/// Verifies an `X-ZUMO-AUTH` token: signature, issuer and audience (`https://host/`), the
/// app it was minted for, and lifetime; `grace` seconds past expiry are allowed (the refresh route's extension
/// window). Gives back the session it carries.
pub fn verify_token(
    token: &str,
    keys: &Keys,
    audience: &str,
    app: &str,
    now: i64,
    grace: i64,
) -> Result<Session, Rejected> {
    let parsed = jwt::parse(token).map_err(|e| Rejected(format!("X-ZUMO-AUTH: {e}")))?;
    parsed
        .verify_hs256_any(keys.verifying_keys())
        .map_err(|e| Rejected(format!("X-ZUMO-AUTH: {e}")))?;
    if parsed.str_claim("iss") != Some(audience) || !parsed.has_audience(audience) {
        return Err(Rejected("X-ZUMO-AUTH: issued for another site".into()));
    }
    if parsed.str_claim("app") != Some(app) {
        return Err(Rejected("X-ZUMO-AUTH: issued for another app".into()));
    }
    // `nbf` with the usual tolerance (another node's clock may be behind ours), `exp` with
    // none but the refresh window: we set it, and an expired session token is as anonymous as
    // an expired cookie.
    parsed
        .check_lifetime(now, jwt::CLOCK_SKEW, grace)
        .map_err(|e| Rejected(format!("X-ZUMO-AUTH: {e}")))?;
    let sid = parsed
        .str_claim("sub")
        .filter(|s| s.starts_with("sid:"))
        .ok_or_else(|| Rejected("X-ZUMO-AUTH: no sid subject".into()))?;
    let prn: TokenPrincipal = parsed
        .claims
        .get("prn")
        .and_then(|v| TokenPrincipal::deserialize(v).ok())
        .ok_or_else(|| Rejected("X-ZUMO-AUTH: no principal".into()))?;
    let idp = parsed.str_claim("idp").unwrap_or_default();
    // Signed by us, but checked again: these values become request headers.
    if ![sid, idp, &prn.id, &prn.name, &prn.header]
        .iter()
        .all(|v| crate::headers::is_safe_value(v))
    {
        return Err(Rejected(
            "X-ZUMO-AUTH: principal holds control characters".into(),
        ));
    }
    Ok(Session {
        principal: Principal {
            sid: sid.to_owned(),
            idp: idp.to_owned(),
            id: prn.id,
            name: prn.name,
            header: prn.header,
        },
        ssn: parsed.str_claim("ssn").unwrap_or_default().to_owned(),
        iat: parsed.num_claim("iat").unwrap_or(0),
        exp: parsed.num_claim("exp").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(b: u8) -> Keys {
        Keys::new(&[b; 32], &[b + 1; 32], &[])
    }

    fn session(name_len: usize) -> Session {
        Session {
            principal: Principal {
                sid: "sid:00".into(),
                idp: "aad".into(),
                id: "u".into(),
                name: "n".repeat(name_len),
                header: "e30=".into(),
            },
            ssn: "s1".into(),
            iat: 1000,
            exp: 2000,
        }
    }

    fn request_with_cookies<'a>(cookies: &'a str) -> Request<'a> {
        Request {
            method: "GET",
            target: "/",
            scheme: "http",
            host: "h",
            client_addr: "",
            headers: vec![("Cookie", cookies)],
            body: b"",
        }
    }

    fn cookie_header(set_cookies: &[String]) -> String {
        set_cookies
            .iter()
            .map(|c| c.split(';').next().unwrap().to_owned())
            .filter(|c| !c.ends_with('='))
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[test]
    fn a_session_token_expires_exactly_at_its_exp_but_within_the_grace_it_is_given() {
        let (k, aud) = (keys(7), "https://app.example/");
        let token = mint_token(&k, &session(4), aud, "app");
        // iat 1000, exp 2000; nbf keeps the usual tolerance for a node whose clock is behind
        assert!(verify_token(&token, &k, aud, "app", 2000, 0).is_ok());
        assert!(verify_token(&token, &k, aud, "app", 1000 - 200, 0).is_ok());
        for late in [1, 5, 60, 295, 299] {
            assert!(
                verify_token(&token, &k, aud, "app", 2000 + late, 0).is_err(),
                "{late} s after exp"
            );
            assert!(verify_token(&token, &k, aud, "app", 2000 + late, 300).is_ok());
        }
        assert!(verify_token(&token, &k, aud, "app", 2000 + 301, 300).is_err());
    }

    #[test]
    fn small_and_large_sessions_round_trip() {
        let k = keys(1);
        for len in [10, 9000] {
            let s = session(len);
            let set = write_cookie(&s, &k, "app", CookieNames::APP_SERVICE, false, 0, 1000);
            assert_eq!(set.len() > 1, len > 1000);
            let header = cookie_header(&set);
            let got = read_cookie(
                &request_with_cookies(&header),
                CookieNames::APP_SERVICE,
                &k,
                "app",
                1500,
            )
            .unwrap();
            assert_eq!(got, Some(s));
        }
    }

    #[test]
    fn bad_cookies_are_rejected_with_a_reason() {
        let k = keys(1);
        let set = write_cookie(
            &session(10),
            &k,
            "app",
            CookieNames::APP_SERVICE,
            true,
            0,
            1000,
        );
        assert!(set[0].contains("Secure") && set[0].contains("HttpOnly"));
        let good = cookie_header(&set);
        let value = good.split_once('=').unwrap().1.to_owned();
        let mut flipped = value.clone().into_bytes();
        flipped[30] = if flipped[30] == b'A' { b'B' } else { b'A' };
        let cases = [
            format!("{COOKIE_NAME}={}", String::from_utf8(flipped).unwrap()),
            format!("{COOKIE_NAME}={}", &value[..value.len() / 2]),
            format!("{COOKIE_NAME}={}", "A".repeat(16 * 1024)),
            format!("{COOKIE_NAME}=!!!"),
            format!("{COOKIE_NAME}2=abc"),
        ];
        for c in &cases {
            assert!(
                read_cookie(
                    &request_with_cookies(c),
                    CookieNames::APP_SERVICE,
                    &k,
                    "app",
                    1500
                )
                .is_err(),
                "{c:.60}"
            );
        }
        // the same value twice is one cookie's worth (a copy under another path or domain)
        let twice = format!("{COOKIE_NAME}={value}; {COOKIE_NAME}={value}");
        assert_eq!(
            read_cookie(
                &request_with_cookies(&twice),
                CookieNames::APP_SERVICE,
                &k,
                "app",
                1500
            ),
            Ok(Some(session(10)))
        );
        // sealed under another key
        assert!(read_cookie(
            &request_with_cookies(&good),
            CookieNames::APP_SERVICE,
            &keys(9),
            "app",
            1500
        )
        .is_err());
        // sealed for another app
        assert!(read_cookie(
            &request_with_cookies(&good),
            CookieNames::APP_SERVICE,
            &k,
            "other",
            1500
        )
        .is_err());
        // expired
        assert!(read_cookie(
            &request_with_cookies(&good),
            CookieNames::APP_SERVICE,
            &k,
            "app",
            2000
        )
        .is_err());
        assert_eq!(
            read_cookie(
                &request_with_cookies("other=1"),
                CookieNames::APP_SERVICE,
                &k,
                "app",
                1500
            ),
            Ok(None)
        );
    }

    #[test]
    fn huge_or_odd_chunk_indexes_are_not_ours() {
        for name in [
            format!("{COOKIE_NAME}{}", usize::MAX),
            format!("{COOKIE_NAME}{}", u128::MAX),
            format!("{COOKIE_NAME}18446744073709551616"),
            format!("{COOKIE_NAME}{MAX_CHUNKS}"),
            format!("{COOKIE_NAME}0"),
            format!("{COOKIE_NAME}01"),
            format!("{COOKIE_NAME}+1"),
            format!("{COOKIE_NAME}X"),
        ] {
            let header = format!("{name}=x");
            let req = request_with_cookies(&header);
            let cookies = SessionCookies::parse(&req, CookieNames::APP_SERVICE);
            assert_eq!(cookies.part_count(), 0, "{name}");
            assert!(!cookies.present(), "{name}");
            let k = keys(1);
            assert_eq!(
                read_cookie(&req, CookieNames::APP_SERVICE, &k, "app", 1500),
                Ok(None),
                "{name}"
            );
            assert_eq!(cookies.clear_all("h", "/", false).len(), 1);
        }
    }

    #[test]
    fn shrinking_session_clears_old_parts() {
        let set = write_cookie(
            &session(10),
            &keys(1),
            "app",
            CookieNames::APP_SERVICE,
            false,
            3,
            1000,
        );
        assert_eq!(set.len(), 3);
        assert!(set[1].starts_with("AppServiceAuthSession1=;") && set[1].contains("Max-Age=0"));
    }

    #[test]
    fn session_tokens_verify_and_expire() {
        let k = keys(1);
        let s = session(1);
        let t = mint_token(&k, &s, "https://h/", "app");
        let got = verify_token(&t, &k, "https://h/", "app", 1500, 0)
            .ok()
            .unwrap();
        assert_eq!(got, s, "the token carries the whole session");
        assert!(verify_token(&t, &k, "https://other/", "app", 1500, 0).is_err());
        assert!(verify_token(&t, &k, "https://h/", "other-app", 1500, 0).is_err());
        assert!(verify_token(&t, &keys(3), "https://h/", "app", 1500, 0).is_err());
        assert!(verify_token(&t, &k, "https://h/", "app", 3000, 0).is_err());
        assert!(verify_token(&t, &k, "https://h/", "app", 3000, 2000).is_ok());
        // A token inside its lifetime stays valid with a refresh window (nbf is not shifted).
        assert!(verify_token(&t, &k, "https://h/", "app", 1000, 72 * 3600).is_ok());
    }

    #[test]
    fn a_previous_signing_key_verifies_what_it_signed_and_signs_nothing_new() {
        let (old, new) = (keys(1), keys(3));
        let rotated = keys(3).with_previous_signing_keys(&[vec![2; 32]]);
        let s = session(1);
        let outstanding = mint_token(&old, &s, "https://h/", "app");
        let verify = |t: &str, k: &Keys| verify_token(t, k, "https://h/", "app", 1500, 0).is_ok();
        assert!(verify(&outstanding, &rotated));
        assert!(
            !verify(&outstanding, &new),
            "not without the old key listed"
        );
        let fresh = mint_token(&rotated, &s, "https://h/", "app");
        assert!(verify(&fresh, &new) && !verify(&fresh, &old));
    }

    fn test_provider() -> ProviderSettings {
        ProviderSettings {
            name: "idp".into(),
            client_id: "c".into(),
            client_auth: Default::default(),
            endpoints: crate::config::Endpoints::Discovery {
                url: "https://idp.example/.well-known/openid-configuration".into(),
                issuer: "https://idp.example".into(),
            },
            scopes: Vec::new(),
            login_parameters: Vec::new(),
            name_claim_type: "name".into(),
            allowed_audiences: Vec::new(),
            issuer_aliases: Vec::new(),
            tenants: None,
            client_codes: false,
            id_claim_type: claims::NAME_ID,
            authorization: Default::default(),
            sign_out_at_provider: false,
            www_authenticate: false,
            flow: crate::providers::oidc::FLOW,
        }
    }

    #[test]
    fn control_characters_in_id_or_name_refuse_the_principal() {
        let provider = test_provider();
        let claim = Claim::new;
        let nameid = claims::NAME_ID;
        let principal =
            |sid: String, p: &ProviderSettings, c: &[Claim]| principal(sid, p, nameid, c);
        let ok = principal(
            "sid:1".into(),
            &provider,
            &[claim(nameid, "u1"), claim("name", "Ann")],
        );
        assert_eq!(ok.unwrap().name, "Ann");
        for bad in [
            "a\r\nX-Evil: 1",
            "a\nb",
            "a\0b",
            "a\x7fb",
            "a\tb",
            "\r",
            " admin",
            "admin ",
            "a\u{85}b",
            "a\u{9b}b",
            "a\u{2028}b",
            "a\u{2029}b",
            "  ",
            "\u{a0}admin",
        ] {
            assert!(
                principal("sid:1".into(), &provider, &[claim(nameid, bad)]).is_err(),
                "{bad:?}"
            );
            let claims = [claim(nameid, "u1"), claim("name", bad)];
            assert!(
                principal("sid:1".into(), &provider, &claims).is_err(),
                "{bad:?}"
            );
        }
        // Elsewhere in the claims they are harmless: the principal header is base64 JSON.
        let claims = [
            claim(nameid, "u1"),
            claim("name", "Ann"),
            claim("address", "1\r\n2"),
        ];
        assert!(principal("sid:1".into(), &provider, &claims).is_ok());
    }

    #[test]
    fn the_id_comes_from_the_identity_s_id_claim_else_the_name_identifier() {
        let provider = test_provider();
        let claim = Claim::new;
        let both = [
            claim(claims::NAME_ID, "sub-1"),
            claim(claims::OBJECT_ID, "oid-1"),
        ];
        let by_oid = principal("sid:1".into(), &provider, claims::OBJECT_ID, &both).unwrap();
        assert_eq!(by_oid.id, "oid-1");
        let by_sub = principal("sid:1".into(), &provider, claims::NAME_ID, &both).unwrap();
        assert_eq!(by_sub.id, "sub-1");
        let only_sub = &both[..1];
        let fallback = principal("sid:1".into(), &provider, claims::OBJECT_ID, only_sub).unwrap();
        assert_eq!(fallback.id, "sub-1");
    }
}
