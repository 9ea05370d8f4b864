//! Sign in with Apple against a scripted provider standing in for appleid.apple.com (moved
//! there by `ezauth.providers.apple`): the form_post callback, the client secret ezauth mints
//! (an ES256 JWT verified here with the key's public half, as Apple's token endpoint does), and
//! the user's name, which Apple posts on the first sign-in only and the store keeps.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use ezauth::clock::SystemClock;
use ezauth::http::Response;
use ezauth::pipeline::Module;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::sign::Verifier;
use serde_json::{json, Value};
use support::scripted::{self, MemoryStore, ScriptedIdp, ISSUER};
use support::*;

const SERVICES_ID: &str = "com.example.web";
const TEAM_ID: &str = "TEAM123456";
const KEY_ID: &str = "KEY7654321";

/// An Apple signing key (EC P-256, PKCS#8 PEM as Apple's `.p8`), written owner-only.
fn p8(name: &str) -> (PKey<Private>, String) {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let file = scratch(name).join("AuthKey.p8");
    std::fs::write(&file, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    (key, file.display().to_string())
}

fn apple_config(key_file: &str, registration_extra: &str) -> String {
    let ezauth = json!({"providers": {"apple": {
        "authorizationEndpoint": format!("{ISSUER}/authorize"),
        "tokenEndpoint": format!("{ISSUER}/token"),
        "jwksEndpoint": format!("{ISSUER}/keys"),
        "issuer": ISSUER,
        "clientSecretKey": {"teamId": TEAM_ID, "keyId": KEY_ID, "keyFile": key_file}}}});
    format!(
        r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}},
        "identityProviders":{{"apple":{{"enabled":true,
          "registration":{{"clientId":"{SERVICES_ID}"{registration_extra}}},"login":{{"scopes":[]}}}}}},
        "login":{{"tokenStore":{{"enabled":true,"fileSystem":{{"directory":"/nonexistent/unused"}}}}}},
        "httpSettings":{{"requireHttps":false}},
        "ezauth":{ezauth}}}"#
    )
}

fn apple(idp: &Arc<ScriptedIdp>, key_file: &str, log: &Captured) -> (Module, Arc<MemoryStore>) {
    let json = apple_config(key_file, "");
    scripted::module_on(idp, &json, log.logger(), Arc::new(SystemClock))
}

/// A sign-in through Apple's form_post; `user` is the field Apple adds the first time.
fn sign_in(m: &Module, idp: &ScriptedIdp, sub: &str, user: Option<&str>) -> Response {
    let r = finished(run(m, "GET", "/.auth/login/apple", &[], b""));
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
    let location = url::Url::parse(header(&r, "Location").unwrap()).unwrap();
    let q: std::collections::HashMap<String, String> =
        location.query_pairs().into_owned().collect();
    assert_eq!(q["response_mode"], "form_post");
    assert_eq!(q["client_id"], SERVICES_ID);
    assert_eq!(q["scope"], "openid name email");
    let (state, nonce, cookie) = login_started(&r);
    idp.token_answer(scripted::token_answer(
        idp,
        &nonce,
        json!({"sub": sub, "aud": SERVICES_ID, "email": "j@privaterelay.appleid.com"}),
        json!({"access_token": "apple-access", "refresh_token": "apple-refresh"}),
    ));
    let mut form = vec![("state", state.as_str()), ("code", "apple-code")];
    if let Some(u) = user {
        form.push(("user", u));
    }
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    finished(run(
        m,
        "POST",
        "/.auth/login/apple/callback",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        body.as_bytes(),
    ))
}

/// What Apple's token endpoint checks of the client secret: ES256 by the team's key (`kid`),
/// `iss` the team, `sub` the Services ID, `aud` Apple, `exp` at most six months ahead.
fn check_client_secret(secret: &str, key: &PKey<Private>) -> Value {
    let (input, sig) = secret.rsplit_once('.').unwrap();
    let sig = ezauth::crypto::b64url_decode(sig).unwrap();
    assert_eq!(sig.len(), 64, "JOSE r || s");
    let der = EcdsaSig::from_private_components(
        BigNum::from_slice(&sig[..32]).unwrap(),
        BigNum::from_slice(&sig[32..]).unwrap(),
    )
    .unwrap()
    .to_der()
    .unwrap();
    let public = PKey::public_key_from_pem(&key.public_key_to_pem().unwrap()).unwrap();
    let mut v = Verifier::new(MessageDigest::sha256(), &public).unwrap();
    v.update(input.as_bytes()).unwrap();
    assert!(v.verify(&der).unwrap(), "ES256 signature");
    let part = |i: usize| -> Value {
        let b = ezauth::crypto::b64url_decode(input.split('.').nth(i).unwrap()).unwrap();
        serde_json::from_slice(&b).unwrap()
    };
    let (header, claims) = (part(0), part(1));
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], KEY_ID);
    assert_eq!(claims["iss"], TEAM_ID);
    assert_eq!(claims["sub"], SERVICES_ID);
    assert_eq!(claims["aud"], ISSUER);
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!((now() - 5..=now() + 5).contains(&iat), "{claims}");
    assert!(exp > now() && exp - iat <= 15_777_000, "{claims}");
    claims
}

fn claim<'a>(me: &'a Value, typ: &str) -> Option<&'a str> {
    me[0]["user_claims"]
        .as_array()?
        .iter()
        .find(|c| c["typ"] == typ)?["val"]
        .as_str()
}

#[test]
fn apple_signs_in_by_form_post_with_a_minted_es256_secret_and_keeps_the_first_name() {
    let (key, key_file) = p8("apple-key");
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store) = apple(&idp, &key_file, &log);
    let name = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";

    let first = sign_in(
        &m,
        &idp,
        "001234.abc",
        Some(
            r#"{"name":{"firstName":"Jane","lastName":"Appleseed"},"email":"j@privaterelay.appleid.com"}"#,
        ),
    );
    assert_eq!(first.status, 302, "{}", log.text());
    let form = idp.last_token_form();
    assert_eq!(form["client_id"], SERVICES_ID);
    assert_eq!(form["code"], "apple-code");
    check_client_secret(&form["client_secret"], &key);
    let record = store.only();
    assert_eq!(record.provider_name, "apple");
    assert_eq!(record.refresh_token.as_deref(), Some("apple-refresh"));
    let session = session_cookie(&first);
    let me = json_body(&finished(run(
        &m,
        "GET",
        "/.auth/me",
        &[("Cookie", &session)],
        b"",
    )));
    assert_eq!(claim(&me, name), Some("Jane Appleseed"));

    // The next sign-in carries no user field: the name stays, from the store.
    let again = sign_in(&m, &idp, "001234.abc", None);
    assert_eq!(again.status, 302, "{}", log.text());
    let session = session_cookie(&again);
    let me = json_body(&finished(run(
        &m,
        "GET",
        "/.auth/me",
        &[("Cookie", &session)],
        b"",
    )));
    assert_eq!(claim(&me, name), Some("Jane Appleseed"));
    assert_eq!(
        claim(
            &me,
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"
        ),
        Some("Jane")
    );
    // The secret was minted once and is still young: the same one.
    assert_eq!(
        idp.last_token_form()["client_secret"],
        form["client_secret"]
    );

    // Another user has no name of the first.
    let other = sign_in(&m, &idp, "009999.xyz", None);
    let session = session_cookie(&other);
    let me = json_body(&finished(run(
        &m,
        "GET",
        "/.auth/me",
        &[("Cookie", &session)],
        b"",
    )));
    assert_eq!(claim(&me, name), None);
}

#[test]
fn apple_settings_that_cannot_serve_are_startup_errors() {
    let (_, key_file) = p8("apple-key-errors");
    let error = |json: String| {
        ezauth::config::parse(&json, &env())
            .err()
            .expect("refused")
            .to_string()
    };
    // A secret minted elsewhere and a key to mint one: which?
    let e = error(apple_config(
        &key_file,
        r#","clientSecretSettingName":"IDP_CLIENT_SECRET""#,
    ));
    assert!(e.contains("both name a client secret"), "{e}");
    // An RSA key is not Apple's.
    let rsa = scratch("apple-rsa").join("rsa.p8");
    let k = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    std::fs::write(&rsa, k.private_key_to_pem_pkcs8().unwrap()).unwrap();
    std::fs::set_permissions(&rsa, std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = error(apple_config(&rsa.display().to_string(), ""));
    assert!(
        e.contains("ezauth.providers.apple.clientSecretKey.keyFile") && e.contains("P-256"),
        "{e}"
    );
    // A key every user can read.
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = error(apple_config(&key_file, ""));
    assert!(e.contains("readable by every user"), "{e}");
    // Neither secret nor key.
    let bare = r#"{"identityProviders":{"apple":{"registration":{"clientId":"com.example.web"}}}}"#;
    let e = error(bare.to_owned());
    assert!(
        e.contains("identityProviders.apple.registration.clientSecretSettingName"),
        "{e}"
    );
    // A secret minted elsewhere, as App Service takes it: accepted.
    let minted = r#"{"identityProviders":{"apple":{"registration":{"clientId":"com.example.web",
        "clientSecretSettingName":"IDP_CLIENT_SECRET"}}}}"#;
    assert!(ezauth::config::parse(minted, &env()).is_ok());
}
