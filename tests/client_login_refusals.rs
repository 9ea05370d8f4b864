//! Every provider's client-directed login (`POST /.auth/login/{provider}`) and, for the JWT
//! providers, `Authorization: Bearer`, refusing what must not sign anyone in: one table over
//! Azure AD, Google, Microsoft Account, Apple, a custom OpenID Connect provider, Facebook,
//! GitHub and Twitter, all configured at once against one scripted world (each provider's
//! discovery and keys, Facebook's `debug_token`, GitHub's token check, Twitter's
//! `verify_credentials`, each vouching for its own token only). A body that is not one the
//! provider takes is refused before any provider is asked; a token that does not hold is
//! refused by what the provider (or its keys) says. Every refusal is a 4xx with a log line
//! saying why, and stores nothing. The provider-specific answers (a provider down, a token of
//! another app) are in each provider's `flows_*` file.

mod support;

use std::sync::{Arc, OnceLock};

use ezauth::clock::SystemClock;
use ezauth::outbound::HttpRequest;
use ezauth::pipeline::Module;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use serde_json::{json, Value};
use support::api::{key, Reply, ScriptedApi};
use support::scripted::{self, MemoryStore};
use support::*;

const AAD: &str = "https://aad.test/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0";
const GOOGLE: &str = "https://google.test";
const MSA: &str = "https://msa.test";
const APPLE: &str = "https://apple.test";
const CUSTOM: &str = "https://idp.test";

const FB_APP: &str = "1234567890";
const FB_TOKEN: &str = "EAAgood0000";
const GH_CLIENT: &str = "Iv1.0123456789abcdef";
const GH_TOKEN: &str = "gho_16C7e42F292c6912E7710c838347Ae178B4a";
const TW_KEY: &str = "xvz1evFS4wEEPTGEFPHBog";
const TW_TOKEN: &str = "6253282-eWudHldSbIaelX7swmsiHImEL4KinwaGloHANdrY";
const TW_SECRET: &str = "2EEfA6BG3ly3sR3RjE0IBSnlQu4ZrUzPiYKmrkVU";

const DEBUG: &str = "GET graph.facebook.com/v19.0/debug_token";
const ME: &str = "GET graph.facebook.com/v19.0/me";
const CHECK: &str = "POST api.github.com/applications/Iv1.0123456789abcdef/token";
const USER: &str = "GET api.github.com/user";
const VERIFY: &str = "GET api.twitter.com/1.1/account/verify_credentials.json";

/// The key every OpenID provider here signs with: their tokens differ by issuer alone, the
/// strictest test of telling them apart.
fn key_pair() -> &'static PKey<Private> {
    static KEY: OnceLock<PKey<Private>> = OnceLock::new();
    KEY.get_or_init(|| PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap())
}

/// A key no provider publishes.
fn forger() -> &'static PKey<Private> {
    static KEY: OnceLock<PKey<Private>> = OnceLock::new();
    KEY.get_or_init(|| PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap())
}

/// A provider as the table sees it.
struct Idp {
    name: &'static str,
    /// The OpenID issuer, for the JWT providers.
    issuer: Option<&'static str>,
    /// The body of its own good token.
    good: fn() -> Value,
    /// The fields its bodies carry (the first body shape).
    fields: &'static [&'static str],
}

fn jwt(issuer: &str, extra: Value) -> String {
    sign_rs256(key_pair(), "k1", &standard_claims(issuer, extra))
}

const IDPS: &[Idp] = &[
    Idp {
        name: "aad",
        issuer: Some(AAD),
        good: || json!({"id_token": jwt(AAD, json!({"oid": "oid-1"}))}),
        fields: &["id_token"],
    },
    Idp {
        name: "google",
        issuer: Some(GOOGLE),
        good: || json!({"id_token": jwt(GOOGLE, json!({}))}),
        fields: &["id_token"],
    },
    Idp {
        name: "microsoftaccount",
        issuer: Some(MSA),
        good: || json!({"authentication_token": jwt(MSA, json!({}))}),
        fields: &["authentication_token"],
    },
    Idp {
        name: "apple",
        issuer: Some(APPLE),
        good: || json!({"id_token": jwt(APPLE, json!({}))}),
        fields: &["id_token"],
    },
    Idp {
        name: "idp",
        issuer: Some(CUSTOM),
        good: || json!({"id_token": jwt(CUSTOM, json!({}))}),
        fields: &["id_token"],
    },
    Idp {
        name: "facebook",
        issuer: None,
        good: || json!({ "access_token": FB_TOKEN }),
        fields: &["access_token"],
    },
    Idp {
        name: "github",
        issuer: None,
        good: || json!({ "access_token": GH_TOKEN }),
        fields: &["access_token"],
    },
    Idp {
        name: "twitter",
        issuer: None,
        good: || json!({"access_token": TW_TOKEN, "access_token_secret": TW_SECRET}),
        fields: &["access_token", "access_token_secret"],
    },
];

/// Every provider configured at once, anonymous access allowed, a token store.
fn config() -> String {
    format!(
        r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}},
        "identityProviders":{{
          "azureActiveDirectory":{{"registration":{{"clientId":"{CLIENT_ID}",
            "openIdIssuer":"{AAD}","clientSecretSettingName":"IDP_CLIENT_SECRET"}}}},
          "google":{{"registration":{{"clientId":"{CLIENT_ID}","clientSecretSettingName":"IDP_CLIENT_SECRET"}}}},
          "legacyMicrosoftAccount":{{"registration":{{"clientId":"{CLIENT_ID}","clientSecretSettingName":"IDP_CLIENT_SECRET"}}}},
          "apple":{{"registration":{{"clientId":"{CLIENT_ID}","clientSecretSettingName":"IDP_CLIENT_SECRET"}}}},
          "customOpenIdConnectProviders":{{"idp":{{"registration":{{"clientId":"{CLIENT_ID}",
            "openIdConnectConfiguration":{{"wellKnownOpenIdConfiguration":"{CUSTOM}/.well-known/openid-configuration"}}}}}}}},
          "facebook":{{"registration":{{"appId":"{FB_APP}","appSecretSettingName":"IDP_CLIENT_SECRET"}},
            "graphApiVersion":"v19.0"}},
          "gitHub":{{"registration":{{"clientId":"{GH_CLIENT}","clientSecretSettingName":"IDP_CLIENT_SECRET"}}}},
          "twitter":{{"registration":{{"consumerKey":"{TW_KEY}","consumerSecretSettingName":"IDP_CLIENT_SECRET"}}}}}},
        "login":{{"tokenStore":{{"enabled":true,"fileSystem":{{"directory":"/nonexistent/unused"}}}}}},
        "httpSettings":{{"requireHttps":false}},
        "ezauth":{{"providers":{{
          "google":{{"wellKnownOpenIdConfiguration":"{GOOGLE}/.well-known/openid-configuration"}},
          "microsoftaccount":{{"authorizationEndpoint":"{MSA}/authorize","tokenEndpoint":"{MSA}/token",
            "jwksEndpoint":"{MSA}/keys","issuer":"{MSA}"}},
          "apple":{{"authorizationEndpoint":"{APPLE}/authorize","tokenEndpoint":"{APPLE}/token",
            "jwksEndpoint":"{APPLE}/keys","issuer":"{APPLE}"}}}}}}}}"#
    )
}

/// The providers' world: each OpenID provider's discovery document and keys; Facebook,
/// GitHub and Twitter vouching for their own good token only.
fn world() -> Arc<ScriptedApi> {
    let origin = |issuer: &str| {
        url::Url::parse(issuer)
            .unwrap()
            .origin()
            .ascii_serialization()
    };
    let discovery = |issuer: &str| {
        let at = origin(issuer);
        Reply::json(
            200,
            json!({"issuer": issuer, "authorization_endpoint": format!("{at}/authorize"),
                "token_endpoint": format!("{at}/token"), "jwks_uri": format!("{at}/keys")}),
        )
    };
    let keys = Reply::json(200, jwks_of(key_pair(), "k1"));
    let mut standing = vec![
        (
            ME,
            Reply::json(200, json!({"id": "10158291520000000", "name": "Zoë Doe"})),
        ),
        (
            USER,
            Reply::json(
                200,
                json!({"login": "octocat", "id": 583231, "type": "User"}),
            ),
        ),
    ];
    let mut documents = Vec::new();
    for issuer in [AAD, GOOGLE, CUSTOM] {
        let host = issuer.strip_prefix("https://").unwrap();
        documents.push((
            format!("GET {host}/.well-known/openid-configuration"),
            discovery(issuer),
        ));
    }
    for issuer in [AAD, GOOGLE, MSA, APPLE, CUSTOM] {
        let host = url::Url::parse(issuer)
            .unwrap()
            .host_str()
            .unwrap()
            .to_owned();
        documents.push((format!("GET {host}/keys"), keys.clone()));
    }
    standing.extend(documents.iter().map(|(k, r)| (k.as_str(), r.clone())));
    Arc::new(
        ScriptedApi::new(standing, Reply::json(404, json!({"message": "Not Found"}))).gated(vouch),
    )
}

/// Facebook, GitHub and Twitter on a client's token: theirs, or not.
fn vouch(r: &HttpRequest) -> Option<Reply> {
    match key(r).as_str() {
        DEBUG => {
            let url = url::Url::parse(&r.url).unwrap();
            let token = url.query_pairs().find(|(k, _)| k == "input_token");
            Some(if token.is_some_and(|(_, t)| t == FB_TOKEN) {
                Reply::json(
                    200,
                    json!({"data": {"app_id": FB_APP, "type": "USER", "is_valid": true,
                        "expires_at": now() + 3600, "user_id": "10158291520000000"}}),
                )
            } else {
                Reply::json(
                    200,
                    json!({"data": {"is_valid": false, "error": {"code": 190,
                        "message": "Invalid OAuth access token."}}}),
                )
            })
        }
        CHECK => {
            let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
            Some(if body["access_token"] == GH_TOKEN {
                Reply::json(
                    200,
                    json!({"id": 1, "app": {"client_id": GH_CLIENT},
                        "user": {"login": "octocat", "id": 583231}}),
                )
            } else {
                Reply::json(404, json!({"message": "Not Found"}))
            })
        }
        VERIFY => {
            let auth = r
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("Authorization"))
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            Some(if auth.contains(&format!("oauth_token=\"{TW_TOKEN}\"")) {
                Reply::json(
                    200,
                    json!({"id": 6253282, "id_str": "6253282", "name": "Twitter API",
                        "screen_name": "twitterapi"}),
                )
            } else {
                Reply::json(
                    401,
                    json!({"errors": [{"code": 89, "message": "Invalid or expired token."}]}),
                )
            })
        }
        _ => None,
    }
}

fn module(api: &Arc<ScriptedApi>, log: &Captured) -> (Module, Arc<MemoryStore>) {
    scripted::module_with(api.clone(), &config(), log.logger(), Arc::new(SystemClock))
}

fn post(m: &Module, provider: &str, body: &[u8]) -> ezauth::http::Response {
    finished(run(
        m,
        "POST",
        &format!("/.auth/login/{provider}"),
        &[("Content-Type", "application/json")],
        body,
    ))
}

/// Posts `body` to `idp`'s login on a fresh module: the answer must be `status` with a log
/// line saying `why`, no session token, nothing stored, and (when `asks` is false) no call
/// to any provider.
fn refused(idp: &Idp, case: &str, body: &[u8], status: u16, why: &str, asks: bool) {
    let api = world();
    let log = Captured::default();
    let (m, store) = module(&api, &log);
    let r = post(&m, idp.name, body);
    let case = format!("{} {case}", idp.name);
    assert_eq!(r.status, status, "{case}: {}", log.text());
    assert!(
        log.text().contains(why),
        "{case}: no log line says {why:?}: {}",
        log.text()
    );
    assert!(
        !String::from_utf8_lossy(&r.body).contains("authenticationToken"),
        "{case}"
    );
    assert!(store.records().is_empty(), "{case}");
    if !asks {
        assert_eq!(api.count(), 0, "{case}: a provider was asked");
    }
}

#[test]
fn the_control_each_provider_s_own_good_token_signs_in() {
    for idp in IDPS {
        let api = world();
        let log = Captured::default();
        let (m, store) = module(&api, &log);
        let r = post(&m, idp.name, (idp.good)().to_string().as_bytes());
        assert_eq!(r.status, 200, "{}: {}", idp.name, log.text());
        assert!(json_body(&r)["authenticationToken"].is_string());
        assert_eq!(store.records().len(), 1, "{}", idp.name);
    }
}

#[test]
fn a_body_no_provider_takes_is_refused_before_any_provider_is_asked() {
    let not_object = "body is not a JSON object";
    for idp in IDPS {
        let takes = format!("the body has none of the tokens {} takes", idp.name);
        let good = (idp.good)();
        let first = idp.fields[0];
        let with = |value: Value| {
            let mut b = good.clone();
            b[first] = value;
            b.to_string().into_bytes()
        };
        let renamed = |to: &str| {
            let mut b = good.clone();
            let v = b.as_object_mut().unwrap().remove(first).unwrap();
            b[to] = v;
            b.to_string().into_bytes()
        };
        let huge = with(json!("a".repeat(2 << 20)));
        let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
            ("2 MB", huge, 413, "client login: the body is too large"),
            ("empty body", Vec::new(), 400, not_object),
            (
                "malformed JSON",
                br#"{"id_token": "#.to_vec(),
                400,
                not_object,
            ),
            ("not JSON", b"id_token=a.b.c".to_vec(), 400, not_object),
            (
                "an array",
                json!([good]).to_string().into_bytes(),
                400,
                not_object,
            ),
            (
                "a string",
                json!(first).to_string().into_bytes(),
                400,
                not_object,
            ),
            ("a number", b"42".to_vec(), 400, not_object),
            ("null", b"null".to_vec(), 400, not_object),
            ("camelCase name", renamed("accessToken"), 400, &takes),
            (
                "upper-case name",
                renamed(&first.to_uppercase()),
                400,
                &takes,
            ),
            ("another name", renamed("token"), 400, &takes),
            (
                "the session token's name",
                renamed("authenticationToken"),
                400,
                &takes,
            ),
            ("empty string", with(json!("")), 400, &takes),
            ("a number token", with(json!(42)), 400, &takes),
            ("an object token", with(json!({"t": 1})), 400, &takes),
            ("an array token", with(json!([good[first]])), 400, &takes),
            ("null token", with(Value::Null), 400, &takes),
            ("no fields", b"{}".to_vec(), 400, &takes),
        ];
        for (case, body, status, why) in cases {
            refused(idp, case, &body, status, why, false);
        }
        if idp.fields.len() > 1 {
            let mut half = good.clone();
            half.as_object_mut().unwrap().remove(idp.fields[1]);
            refused(
                idp,
                "half a pair",
                half.to_string().as_bytes(),
                400,
                &takes,
                false,
            );
        }
    }
}

#[test]
fn a_token_that_is_not_the_provider_s_is_refused() {
    for idp in IDPS {
        let body = |token: &str| {
            let mut b = (idp.good)();
            b[idp.fields[0]] = json!(token);
            b.to_string().into_bytes()
        };
        match idp.issuer {
            Some(issuer) => {
                // Another provider's good token: same key, same audience, another issuer.
                let other = IDPS
                    .iter()
                    .filter_map(|o| o.issuer)
                    .find(|o| *o != issuer)
                    .unwrap();
                let t = now();
                let forged = sign_rs256(forger(), "k1", &standard_claims(issuer, json!({})));
                for (case, token, why) in [
                    (
                        "another provider's id_token",
                        jwt(other, json!({})),
                        "issuer",
                    ),
                    (
                        "wrong audience",
                        jwt(issuer, json!({"aud": "another-client"})),
                        "audience does not include",
                    ),
                    (
                        "expired",
                        jwt(issuer, json!({"iat": t - 7200, "exp": t - 3600})),
                        "token expired at",
                    ),
                    ("bad signature", forged, "signature does not verify"),
                ] {
                    refused(idp, case, &body(&token), 401, why, true);
                }
                // Not a JWT (GitHub's, Facebook's): nothing to ask the provider about.
                for token in [GH_TOKEN, FB_TOKEN] {
                    refused(idp, token, &body(token), 401, "malformed token", false);
                }
            }
            None => {
                let why = match idp.name {
                    "facebook" => "Facebook says the token is not valid",
                    "github" => "does not know the access token as one of this app's",
                    _ => "401 from verify_credentials",
                };
                for (case, token) in [
                    ("another provider's token", jwt(CUSTOM, json!({}))),
                    ("GitHub's token", GH_TOKEN.to_owned()),
                    ("Facebook's token", FB_TOKEN.to_owned()),
                    (
                        "a token the provider does not know",
                        "EAAunknown1111".to_owned(),
                    ),
                ] {
                    if token == (idp.good)()[idp.fields[0]] {
                        continue;
                    }
                    // A JWT is longer than Twitter's tokens can be: refused unasked.
                    if idp.name == "twitter" && token.starts_with("eyJ") {
                        let not = "is not a Twitter token";
                        refused(idp, case, &body(&token), 401, not, false);
                        continue;
                    }
                    refused(idp, case, &body(&token), 401, why, true);
                }
            }
        }
    }
}

#[test]
fn a_bearer_token_that_does_not_hold_signs_nobody_in() {
    let t = now();
    for idp in IDPS {
        let Some(issuer) = idp.issuer else { continue };
        let access = |extra: Value| {
            let mut c = json!({"scp": "user_impersonation", "oid": "oid-1"});
            if let (Value::Object(c), Value::Object(e)) = (&mut c, extra) {
                c.extend(e);
            }
            c
        };
        let forged = sign_rs256(forger(), "k1", &standard_claims(issuer, access(json!({}))));
        for (case, token, why) in [
            (
                "wrong audience",
                jwt(issuer, access(json!({"aud": "another-api"}))),
                "audience does not include",
            ),
            (
                "expired",
                jwt(issuer, access(json!({"iat": t - 7200, "exp": t - 3600}))),
                "token expired at",
            ),
            ("bad signature", forged, "signature does not verify"),
        ] {
            let api = world();
            let log = Captured::default();
            let (m, store) = module(&api, &log);
            let o = run(
                &m,
                "GET",
                "/page",
                &[("Authorization", &format!("Bearer {token}"))],
                b"",
            );
            let r = finished(o);
            let case = format!("{} {case}", idp.name);
            assert_eq!(r.status, 401, "{case}: {}", log.text());
            assert!(
                header(&r, "WWW-Authenticate").is_some_and(|c| c.contains("invalid_token")),
                "{case}"
            );
            assert!(log.text().contains(why), "{case}: {}", log.text());
            assert!(store.records().is_empty(), "{case}");
        }
        // The control: a good access token passes (and stores nothing).
        let api = world();
        let log = Captured::default();
        let (m, store) = module(&api, &log);
        let good = jwt(issuer, access(json!({})));
        let o = run(
            &m,
            "GET",
            "/page",
            &[("Authorization", &format!("Bearer {good}"))],
            b"",
        );
        assert!(
            matches!(o, ezauth::http::Outcome::Continue(_)),
            "{}: {}",
            idp.name,
            log.text()
        );
        assert!(store.records().is_empty());
    }
}
