//! Azure AD's credential-dependent sign-ins against a scripted provider: without a client
//! credential App Service's implicit flow (an id_token posted back, nonce checked, no token
//! endpoint, nothing to refresh); with a certificate, `private_key_jwt` assertions in the
//! format Azure AD documents (header `x5t`; `aud` the token endpoint, `iss` = `sub` the client
//! id, `jti`, `nbf`, `exp`), checked here with the certificate's public key.

mod support;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use ezauth::clock::SystemClock;
use ezauth::http::Response;
use ezauth::pipeline::Module;
use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Verifier;
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use serde_json::{json, Value};
use support::scripted::{self, Answer, MemoryStore, ScriptedIdp, ISSUER};
use support::*;

/// An app signing in with Azure AD at the scripted provider; `registration_extra` is added to
/// its `registration` object, `login` is its `login` object.
fn aad(
    idp: &Arc<ScriptedIdp>,
    registration_extra: &str,
    login: &str,
    log: &Captured,
) -> (Module, Arc<MemoryStore>) {
    let json = aad_config(registration_extra, login, "{}");
    scripted::module_on(idp, &json, log.logger(), Arc::new(SystemClock))
}

/// The configuration [`aad`] runs, with `ezauth` as the `"ezauth"` block.
fn aad_config(registration_extra: &str, login: &str, ezauth: &str) -> String {
    format!(
        r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}},
        "identityProviders":{{"azureActiveDirectory":{{
          "registration":{{"clientId":"{CLIENT_ID}","openIdIssuer":"{ISSUER}"{registration_extra}}},
          "login":{login}}}}},
        "login":{{"tokenStore":{{"enabled":true,"fileSystem":{{"directory":"/nonexistent/unused"}}}}}},
        "httpSettings":{{"requireHttps":false}},
        "ezauth":{ezauth}}}"#
    )
}

/// `GET /.auth/login/aad`: the authorize URL's parameters, the state, nonce and state cookie.
fn begin(m: &Module) -> (Vec<(String, String)>, String, String, String) {
    let r = finished(run(m, "GET", "/.auth/login/aad", &[], b""));
    assert_eq!(r.status, 302, "{}", String::from_utf8_lossy(&r.body));
    let location = url::Url::parse(header(&r, "Location").unwrap()).unwrap();
    let params = location.query_pairs().into_owned().collect();
    let (state, nonce, cookie) = login_started(&r);
    (params, state, nonce, cookie)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Azure AD's form_post callback with `form` as the body.
fn post_callback(m: &Module, form: &[(&str, &str)], cookie: &str) -> Response {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    finished(run(
        m,
        "POST",
        "/.auth/login/aad/callback",
        &[
            ("Cookie", cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        body.as_bytes(),
    ))
}

#[test]
fn without_a_secret_azure_ad_asks_for_an_id_token_posted_back() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    // A configured response_mode=query cannot carry a token: form_post still.
    let (m, _) = aad(
        &idp,
        "",
        r#"{"loginParameters":["response_mode=query","domain_hint=contoso.com"]}"#,
        &log,
    );
    let (params, state, nonce, _) = begin(&m);
    assert_eq!(param(&params, "response_type"), Some("id_token"));
    assert_eq!(param(&params, "response_mode"), Some("form_post"));
    assert_eq!(param(&params, "state"), Some(state.as_str()));
    assert_eq!(param(&params, "nonce"), Some(nonce.as_str()));
    assert_eq!(param(&params, "domain_hint"), Some("contoso.com"));
    assert_eq!(param(&params, "code_challenge"), None);
    assert_eq!(
        params.iter().filter(|(k, _)| k == "response_mode").count(),
        1
    );
    // With a secret: the code flow with PKCE, as before.
    let (m, _) = aad(
        &idp,
        r#","clientSecretSettingName":"IDP_CLIENT_SECRET""#,
        "{}",
        &log,
    );
    let (params, ..) = begin(&m);
    assert_eq!(param(&params, "response_type"), Some("code"));
    assert!(param(&params, "code_challenge").is_some());
}

#[test]
fn the_implicit_flow_signs_in_with_the_posted_id_token_and_cannot_refresh() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    // A provider that sends `iss` with codes need not send it beside an id_token, which
    // names its issuer itself (RFC 9207 §2.4).
    idp.discovery(
        "authorization_response_iss_parameter_supported",
        json!(true),
    );
    let (m, store) = aad(&idp, "", "{}", &log);
    let (_, state, nonce, cookie) = begin(&m);
    let id_token = idp.mint(json!({"nonce": nonce, "oid": "oid-1", "email": "a@contoso.test"}));
    let r = post_callback(&m, &[("id_token", &id_token), ("state", &state)], &cookie);
    assert_eq!(r.status, 302, "{}", log.text());
    assert_eq!(
        idp.count("POST /token"),
        0,
        "no token endpoint in the implicit flow"
    );
    let record = store.only();
    assert_eq!(record.id_token.as_deref(), Some(id_token.as_str()));
    assert_eq!(record.access_token, None);
    assert_eq!(record.refresh_token, None);

    let session = session_cookie(&r);
    let me = finished(run(&m, "GET", "/.auth/me", &[("Cookie", &session)], b""));
    assert_eq!(me.status, 200);
    let entry = &json_body(&me)[0];
    assert_eq!(entry["provider_name"], "aad");
    assert_eq!(entry["id_token"], Value::String(id_token.clone()));
    assert!(entry.get("access_token").is_none(), "{entry}");

    let refresh = finished(run(
        &m,
        "GET",
        "/.auth/refresh",
        &[("Cookie", &session)],
        b"",
    ));
    assert_eq!(refresh.status, 400);
    log.says("aad cannot refresh tokens");
    assert_eq!(idp.count("POST /token"), 0);
}

/// A callback's form fields (without `state`) made for a login's nonce.
type Form<'a> = dyn Fn(&str) -> Vec<(String, String)> + 'a;

#[test]
fn the_implicit_flow_refuses_an_id_token_of_another_login_or_signer_and_a_code() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store) = aad(&idp, "", "{}", &log);
    let other_key = scripted::another_key();
    let bad: Vec<(Box<Form>, u16, &str)> = vec![
        // another login's nonce: an id_token replayed or injected from elsewhere
        (
            Box::new(|_| vec![("id_token".into(), idp.mint(json!({"nonce": "other"})))]),
            401,
            "nonce does not match the login",
        ),
        // signed by a key the provider does not publish
        (
            Box::new(|nonce| {
                let claims = idp.claims(json!({"nonce": nonce}));
                vec![("id_token".into(), sign_rs256(&other_key, &idp.kid, &claims))]
            }),
            401,
            "token refused",
        ),
        // another issuer's response (a mix-up)
        (
            Box::new(|nonce| {
                vec![
                    ("id_token".into(), idp.mint(json!({"nonce": nonce}))),
                    ("iss".into(), "https://evil.test".into()),
                ]
            }),
            401,
            "(RFC 9207)",
        ),
        // a code is no proof here: there is no token endpoint to redeem it at
        (
            Box::new(|_| vec![("code".into(), "a-code".into())]),
            400,
            "callback: no id_token parameter",
        ),
    ];
    for (form, status, why) in bad {
        let (_, state, nonce, cookie) = begin(&m);
        let mut fields = form(&nonce);
        fields.push(("state".into(), state));
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = post_callback(&m, &fields, &cookie);
        assert_eq!(r.status, status, "{why}: {}", log.text());
        log.says(why);
        assert!(store.records().is_empty());
    }
    assert_eq!(idp.count("POST /token"), 0);

    // A token in a URL would stay in logs and Referer headers: only form_post carries it.
    let (_, state, nonce, cookie) = begin(&m);
    let id_token = idp.mint(json!({"nonce": nonce}));
    let r = finished(run(
        &m,
        "GET",
        &format!("/.auth/login/aad/callback?id_token={id_token}&state={state}"),
        &[("Cookie", &cookie)],
        b"",
    ));
    assert_eq!(r.status, 400);
    log.says("callback: id_token in a URL (it comes only by form_post): refused");
    assert!(store.records().is_empty());
}

/// A self-signed certificate and its RSA key, written to a scratch directory (the key owner-only).
struct CertFiles {
    cert: X509,
    key_file: PathBuf,
    cert_file: PathBuf,
}

impl CertFiles {
    fn new(name: &str) -> CertFiles {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        CertFiles::with_key(name, &key)
    }

    fn with_key(name: &str, key: &PKey<Private>) -> CertFiles {
        let mut subject = X509NameBuilder::new().unwrap();
        subject.append_entry_by_text("CN", "ezauth-test").unwrap();
        let subject = subject.build();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&subject).unwrap();
        b.set_issuer_name(&subject).unwrap();
        b.set_pubkey(key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
            .unwrap();
        b.sign(key, MessageDigest::sha256()).unwrap();
        let cert = b.build();
        let dir = scratch(name);
        let key_file = dir.join("aad.key");
        let cert_file = dir.join("aad.crt");
        std::fs::write(&key_file, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&cert_file, cert.to_pem().unwrap()).unwrap();
        CertFiles {
            cert,
            key_file,
            cert_file,
        }
    }

    /// The `"ezauth"` block naming these files.
    fn ezauth(&self) -> String {
        json!({"providers": {"aad": {"clientCertificate": {
            "keyFile": self.key_file, "certFile": self.cert_file}}}})
        .to_string()
    }

    /// The thumbprint as the portal shows it: SHA-1, upper-case hex.
    fn thumbprint(&self) -> String {
        self.cert
            .digest(MessageDigest::sha1())
            .unwrap()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }
}

/// What Azure AD checks of a client assertion: signed (RS256) by the certificate's key, named
/// by its `x5t`, for this token endpoint and client, short-lived. Returns its `jti`.
fn check_assertion(form: &HashMap<String, String>, cert: &X509, now: i64) -> String {
    assert_eq!(
        form["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    assert!(!form.contains_key("client_secret"), "{form:?}");
    let assertion = &form["client_assertion"];
    let (input, signature) = assertion.rsplit_once('.').unwrap();
    let signature = ezauth::crypto::b64url_decode(signature).unwrap();
    let public = cert.public_key().unwrap();
    let mut verifier = Verifier::new(MessageDigest::sha256(), &public).unwrap();
    verifier.update(input.as_bytes()).unwrap();
    assert!(verifier.verify(&signature).unwrap(), "signature");
    let part = |i: usize| -> Value {
        let b = ezauth::crypto::b64url_decode(input.split('.').nth(i).unwrap()).unwrap();
        serde_json::from_slice(&b).unwrap()
    };
    let (header, claims) = (part(0), part(1));
    assert_eq!(header["alg"], "RS256");
    let x5t = ezauth::crypto::b64url(&cert.digest(MessageDigest::sha1()).unwrap());
    assert_eq!(header["x5t"], Value::String(x5t));
    assert_eq!(claims["aud"], format!("{ISSUER}/token"));
    assert_eq!(claims["iss"], CLIENT_ID);
    assert_eq!(claims["sub"], CLIENT_ID);
    let (nbf, exp) = (
        claims["nbf"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!((now - 5..=now + 5).contains(&nbf), "{claims}");
    assert!(exp > now && exp - nbf <= 600, "{claims}");
    claims["jti"]
        .as_str()
        .filter(|j| j.len() >= 16)
        .unwrap()
        .to_owned()
}

#[test]
fn a_certificate_credential_signs_every_token_request_as_azure_ad_documents() {
    let files = CertFiles::new("aad-cert");
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let json = aad_config(
        &format!(
            r#","clientSecretCertificateThumbprint":"{}""#,
            files.thumbprint().to_lowercase()
        ),
        "{}",
        &files.ezauth(),
    );
    let settings = ezauth::config::parse(&json, &env()).unwrap_or_else(|e| panic!("{e}"));
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
    let (m, store) = scripted::module_on(&idp, &json, log.logger(), Arc::new(SystemClock));
    let (params, state, nonce, cookie) = begin(&m);
    // A confidential client: the code flow with PKCE.
    assert_eq!(param(&params, "response_type"), Some("code"));
    idp.token_answer(scripted::token_answer(
        &idp,
        &nonce,
        json!({"oid": "oid-1"}),
        json!({"access_token": "access-1", "refresh_token": "refresh-1"}),
    ));
    let r = post_callback(&m, &[("code", "the-code"), ("state", &state)], &cookie);
    assert_eq!(r.status, 302, "{}", log.text());
    let first = check_assertion(&idp.last_token_form(), &files.cert, now());
    assert_eq!(store.only().access_token.as_deref(), Some("access-1"));

    // A refresh proves the client again, with a fresh assertion.
    let session = session_cookie(&r);
    idp.token_answer(Answer::Json(
        200,
        json!({"access_token": "access-2", "refresh_token": "refresh-2", "expires_in": 600}),
    ));
    let refreshed = finished(run(
        &m,
        "GET",
        "/.auth/refresh",
        &[("Cookie", &session)],
        b"",
    ));
    assert_eq!(refreshed.status, 200, "{}", log.text());
    let form = idp.last_token_form();
    assert_eq!(form["grant_type"], "refresh_token");
    let second = check_assertion(&form, &files.cert, now());
    assert_ne!(first, second, "a jti is never reused");
}

#[test]
fn a_certificate_credential_that_cannot_serve_is_a_startup_error_naming_its_file() {
    let config_error = |registration_extra: &str, ezauth: &str| match ezauth::config::parse(
        &aad_config(registration_extra, "{}", ezauth),
        &env(),
    ) {
        Ok(_) => panic!("accepted: {registration_extra} {ezauth}"),
        Err(e) => e.to_string(),
    };
    let files = CertFiles::new("aad-cert-errors");
    let key = files.key_file.display().to_string();
    let cert = files.cert_file.display().to_string();
    let block = |key: &str, cert: &str| {
        json!({"providers": {"aad": {"clientCertificate": {"keyFile": key, "certFile": cert}}}})
            .to_string()
    };
    let path = "ezauth.providers.aad.clientCertificate";

    let missing = format!("{key}.missing");
    let e = config_error("", &block(&missing, &cert));
    assert!(
        e.contains(&format!("{path}.keyFile")) && e.contains(&missing),
        "{e}"
    );

    let e = config_error("", &block(&key, &format!("{cert}.missing")));
    assert!(
        e.contains(&format!("{path}.certFile")) && e.contains("cannot be read"),
        "{e}"
    );

    // Another certificate's key.
    let other = CertFiles::new("aad-cert-other");
    let e = config_error("", &block(&other.key_file.display().to_string(), &cert));
    assert!(e.contains("is not the key of the certificate"), "{e}");

    // A key any local user may read.
    let exposed = CertFiles::new("aad-cert-exposed");
    std::fs::set_permissions(&exposed.key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = config_error("", &exposed.ezauth());
    assert!(
        e.contains("readable by every user") && e.contains(&exposed.key_file.display().to_string()),
        "{e}"
    );

    // Not a PEM key at all (a certificate, owner-only).
    let not_a_key = files.key_file.with_extension("crt-copy");
    std::fs::copy(&files.cert_file, &not_a_key).unwrap();
    std::fs::set_permissions(&not_a_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = config_error("", &block(&not_a_key.display().to_string(), &cert));
    assert!(e.contains("holds no PEM private key"), "{e}");

    // The registration names another certificate.
    let e = config_error(
        r#","clientSecretCertificateThumbprint":"00112233445566778899AABBCCDDEEFF00112233""#,
        &files.ezauth(),
    );
    assert!(
        e.contains("registration.clientSecretCertificateThumbprint")
            && e.contains(&files.thumbprint()),
        "{e}"
    );

    // A secret and a certificate: which one was meant?
    let e = config_error(
        r#","clientSecretSettingName":"IDP_CLIENT_SECRET""#,
        &files.ezauth(),
    );
    assert!(e.contains("both name a credential"), "{e}");

    // Only Azure AD takes a certificate, and its endpoints come from discovery.
    let github = format!(
        r#"{{"ezauth":{{"providers":{{"github":{{"clientCertificate":{{"keyFile":"{key}","certFile":"{cert}"}}}}}}}}}}"#
    );
    let e = ezauth::config::parse(&github, &env())
        .err()
        .expect("a certificate for GitHub is refused")
        .to_string();
    assert!(
        e.contains("ezauth.providers.github.clientCertificate"),
        "{e}"
    );
    let e = config_error(
        "",
        r#"{"providers":{"aad":{"tokenEndpoint":"https://x.test/t"}}}"#,
    );
    assert!(e.contains("ezauth.providers.aad.tokenEndpoint"), "{e}");
}

#[test]
fn certificate_fields_without_the_files_still_load_with_a_warning_saying_where_they_go() {
    let json = aad_config(
        r#","clientSecretCertificateThumbprint":"AB12","clientSecretSettingName":"IDP_CLIENT_SECRET""#,
        "{}",
        "{}",
    );
    let settings = ezauth::config::parse(&json, &env()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(settings.warnings.len(), 1, "{:?}", settings.warnings);
    assert!(settings.warnings[0].contains("ezauth.providers.aad.clientCertificate"));
    assert_eq!(
        settings.providers[0].client_auth,
        ezauth::providers::client_auth::ClientAuth::SecretPost("s3cret:/ x".into())
    );
}
