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

    let refresh = refresh_by_cookie(&m, &session);
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
    let refreshed = refresh_by_cookie(&m, &session);
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

// Multi-tenant issuers: `common`, `organizations` and `consumers` discover a template
// (`{tenantid}`), and each token is judged by its own tenant (`tid`), as the Microsoft
// identity platform documents for multi-tenant apps.

const TENANT_A: &str = "11111111-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const TENANT_B: &str = "22222222-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
const CONSUMERS: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
/// What the scripted provider's multi-tenant documents name as their issuer.
const TEMPLATE: &str = "https://idp.test/{tenantid}/v2.0";

/// An app with the multi-tenant issuer `{ISSUER}/{segment}/v2.0` (a client secret: code flow,
/// bearer tokens) whose discovery document names `template`; `ezauth` is the `"ezauth"` block.
fn multi_tenant(
    idp: &Arc<ScriptedIdp>,
    segment: &str,
    template: &str,
    ezauth: &str,
    log: &Captured,
) -> (Module, Arc<MemoryStore>) {
    let json = multi_tenant_config(&format!("{ISSUER}/{segment}/v2.0"), ezauth);
    serve_discovery(idp, &format!("/{segment}/v2.0"), template);
    scripted::module_on(idp, &json, log.logger(), Arc::new(SystemClock))
}

fn multi_tenant_config(issuer: &str, ezauth: &str) -> String {
    aad_config(
        r#","clientSecretSettingName":"IDP_CLIENT_SECRET""#,
        "{}",
        ezauth,
    )
    .replace(
        &format!(r#""openIdIssuer":"{ISSUER}""#),
        &format!(r#""openIdIssuer":"{issuer}""#),
    )
}

/// The discovery document under `path` names `issuer`, with the provider's endpoints.
fn serve_discovery(idp: &ScriptedIdp, path: &str, issuer: &str) {
    idp.once(
        &format!("GET {path}/.well-known/openid-configuration"),
        Answer::Json(
            200,
            json!({"issuer": issuer,
                "authorization_endpoint": format!("{ISSUER}/authorize"),
                "token_endpoint": format!("{ISSUER}/token"),
                "jwks_uri": format!("{ISSUER}/keys")}),
        ),
    );
}

/// A token of tenant `tid` for user `oid`, its `iss` the template's for that tenant.
fn of_tenant(idp: &ScriptedIdp, template: &str, tid: &str, oid: &str, extra: Value) -> String {
    let mut claims = json!({"iss": template.replace("{tenantid}", tid), "tid": tid,
        "oid": oid, "sub": format!("sub-{oid}")});
    if let (Value::Object(c), Value::Object(e)) = (&mut claims, extra) {
        c.extend(e);
    }
    idp.mint(claims)
}

fn client_login(m: &Module, body: &Value) -> Response {
    finished(run(
        m,
        "POST",
        "/.auth/login/aad",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    ))
}

/// An access token (as Azure AD's carry `scp`) presented as `Authorization: Bearer`.
fn bearer(m: &Module, token: &str) -> ezauth::http::Outcome {
    run(
        m,
        "GET",
        "/app",
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    )
}

/// The principal id a forwarded request carries.
fn principal_id(o: ezauth::http::Outcome, log: &Captured) -> String {
    let ezauth::http::Outcome::Continue(fwd) = o else {
        panic!("not forwarded: {}", log.text());
    };
    let id = fwd
        .set_headers()
        .find(|(n, _)| *n == "X-MS-CLIENT-PRINCIPAL-ID")
        .map(|(_, v)| v.to_owned());
    id.expect("a principal id")
}

/// A bearer token that must not sign anyone in: refused (401) when it names an issuer of the
/// provider's, else no provider's and the request (on an anonymous path) stays anonymous.
fn no_principal(o: ezauth::http::Outcome, case: &str, log: &Captured) {
    match o {
        ezauth::http::Outcome::Continue(fwd) => assert!(
            !fwd.set_headers()
                .any(|(n, _)| n.starts_with("X-MS-CLIENT-PRINCIPAL")),
            "{case}: {}",
            log.text()
        ),
        o => assert_eq!(finished(o).status, 401, "{case}: {}", log.text()),
    }
}

#[test]
fn common_signs_in_users_of_any_tenant_by_their_own_tenant_s_issuer() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let (m, store) = multi_tenant(&idp, "common", TEMPLATE, "{}", &log);
    // client-directed: an id_token of tenant A, then one of tenant B
    for (tid, oid) in [(TENANT_A, "oid-a"), (TENANT_B, "oid-b")] {
        let r = client_login(
            &m,
            &json!({"id_token": of_tenant(&idp, TEMPLATE, tid, oid, json!({}))}),
        );
        assert_eq!(r.status, 200, "{tid}: {}", log.text());
        let session = json_body(&r)["authenticationToken"]
            .as_str()
            .unwrap()
            .to_owned();
        let o = run(&m, "GET", "/app", &[("X-ZUMO-AUTH", &session)], b"");
        assert_eq!(principal_id(o, &log), oid, "{tid}");
    }
    assert_eq!(store.records().len(), 2);
    // browser: the code flow's id_token of tenant B
    let (_, state, nonce, cookie) = begin(&m);
    let id_token = of_tenant(&idp, TEMPLATE, TENANT_B, "oid-b2", json!({"nonce": nonce}));
    idp.token_answer(Answer::Json(
        200,
        json!({"id_token": id_token, "access_token": "at", "expires_in": 3600}),
    ));
    let r = finished(run(
        &m,
        "GET",
        &format!("/.auth/login/aad/callback?code=c&state={state}"),
        &[("Cookie", &cookie)],
        b"",
    ));
    assert_eq!(r.status, 302, "{}", log.text());
    let o = run(&m, "GET", "/app", &[("Cookie", &session_cookie(&r))], b"");
    assert_eq!(principal_id(o, &log), "oid-b2");
    // bearer: an access token of tenant A
    let access = of_tenant(&idp, TEMPLATE, TENANT_A, "oid-a", json!({"scp": "read"}));
    assert_eq!(principal_id(bearer(&m, &access), &log), "oid-a");
    assert_eq!(store.records().len(), 3, "the bearer token stores nothing");
    assert_eq!(
        idp.count("GET /common/v2.0/.well-known/openid-configuration"),
        1
    );
}

#[test]
fn a_token_whose_iss_is_not_its_tenant_s_issuer_is_refused() {
    let idp = ScriptedIdp::new();
    let a = TEMPLATE.replace("{tenantid}", TENANT_A);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "iss of tenant A, tid of tenant B",
            json!({"iss": a, "tid": TENANT_B}),
            "the issuer of the token's tenant",
        ),
        (
            "tid not a GUID",
            json!({"iss": "https://idp.test/contoso/v2.0", "tid": "contoso"}),
            "is not a tenant id",
        ),
        ("no tid", json!({"iss": a, "tid": null}), "no tid claim"),
        (
            "tid with a slash",
            json!({"iss": "https://idp.test/x/y/v2.0", "tid": "x/y"}),
            "is not a tenant id",
        ),
        (
            "the template itself",
            json!({"iss": TEMPLATE, "tid": "{tenantid}"}),
            "is not a tenant id",
        ),
        (
            "a GUID and a template",
            json!({"iss": format!("https://idp.test/{TENANT_A}{{tenantid}}/v2.0"),
                "tid": format!("{TENANT_A}{{tenantid}}")}),
            "is not a tenant id",
        ),
        (
            "the configured issuer",
            json!({"iss": "https://idp.test/common/v2.0", "tid": TENANT_A}),
            "the issuer of the token's tenant",
        ),
        (
            "tid of another case than iss",
            json!({"iss": a, "tid": TENANT_A.to_uppercase()}),
            "the issuer of the token's tenant",
        ),
    ];
    for (case, claims, why) in cases {
        let log = Captured::default();
        let (m, store) = multi_tenant(&idp, "common", TEMPLATE, "{}", &log);
        let mut claims = claims;
        claims["oid"] = json!("oid-x");
        if claims["tid"].is_null() {
            claims.as_object_mut().unwrap().remove("tid");
        }
        let r = client_login(&m, &json!({"id_token": idp.mint(claims.clone())}));
        assert_eq!(r.status, 401, "{case}: {}", log.text());
        log.says(why);
        assert!(store.records().is_empty(), "{case}");
        // The same token as a bearer access token passes no principal on either.
        claims["scp"] = json!("read");
        no_principal(bearer(&m, &idp.mint(claims)), case, &log);
        assert!(store.records().is_empty(), "{case}");
    }
}

#[test]
fn organizations_refuses_personal_accounts_and_consumers_takes_only_them() {
    for (segment, tid, ok) in [
        ("organizations", TENANT_A, true),
        ("organizations", CONSUMERS, false),
        ("consumers", CONSUMERS, true),
        ("consumers", TENANT_A, false),
        ("common", CONSUMERS, true),
    ] {
        let idp = ScriptedIdp::new();
        let log = Captured::default();
        let (m, store) = multi_tenant(&idp, segment, TEMPLATE, "{}", &log);
        let token = of_tenant(&idp, TEMPLATE, tid, "oid-1", json!({}));
        let r = client_login(&m, &json!({ "id_token": token }));
        let case = format!("{segment} {tid}");
        if ok {
            assert_eq!(r.status, 200, "{case}: {}", log.text());
        } else {
            assert_eq!(r.status, 401, "{case}: {}", log.text());
            log.says(&format!("which `{segment}` refuses"));
            assert!(store.records().is_empty(), "{case}");
        }
    }
}

#[test]
fn a_v1_common_issuer_takes_the_token_service_s_template() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let v1 = "https://sts.windows.net/{tenantid}/";
    serve_discovery(&idp, "/common", v1);
    let json = multi_tenant_config(&format!("{ISSUER}/common"), "{}");
    let (m, store) = scripted::module_on(&idp, &json, log.logger(), Arc::new(SystemClock));
    let token = of_tenant(&idp, v1, TENANT_A, "oid-a", json!({}));
    let r = client_login(&m, &json!({ "id_token": token }));
    assert_eq!(r.status, 200, "{}", log.text());
    // A v2.0 issuer of the same tenant is another issuer.
    let token = of_tenant(&idp, TEMPLATE, TENANT_A, "oid-a", json!({}));
    let r = client_login(&m, &json!({ "id_token": token }));
    assert_eq!(r.status, 401, "{}", log.text());
    assert_eq!(store.records().len(), 1);
}

#[test]
fn a_discovered_template_must_be_the_configured_issuer_s() {
    // common's document naming another host's template, or no template at all
    for template in [
        "https://evil.test/{tenantid}/v2.0",
        "https://idp.test/{tenantid}/v2.0/{tenantid}",
        "https://idp.test/common/v2.0",
    ] {
        let idp = ScriptedIdp::new();
        let log = Captured::default();
        let (m, store) = multi_tenant(&idp, "common", template, "{}", &log);
        let r = client_login(
            &m,
            &json!({"id_token": of_tenant(&idp, template, TENANT_A, "o", json!({}))}),
        );
        assert_eq!(r.status, 502, "{template}: {}", log.text());
        log.says("not the multi-tenant template");
        assert!(store.records().is_empty());
    }
    // a single tenant's document naming a template: never compared as text
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let json = multi_tenant_config(&format!("{ISSUER}/{TENANT_A}/v2.0"), "{}");
    serve_discovery(&idp, &format!("/{TENANT_A}/v2.0"), TEMPLATE);
    let (m, store) = scripted::module_on(&idp, &json, log.logger(), Arc::new(SystemClock));
    let token = idp.mint(json!({"iss": TEMPLATE, "tid": TENANT_A}));
    let r = client_login(&m, &json!({ "id_token": token }));
    assert_eq!(r.status, 502, "{}", log.text());
    log.says("names the template");
    assert!(store.records().is_empty());
    // and a template is no issuer to configure
    let e = ezauth::config::parse(&multi_tenant_config(TEMPLATE, "{}"), &env())
        .err()
        .expect("a template issuer is refused")
        .to_string();
    assert!(
        e.contains("openIdIssuer") && e.contains("is a template"),
        "{e}"
    );
}

#[test]
fn allowed_tenants_restrict_a_multi_tenant_issuer() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let ezauth = format!(r#"{{"providers":{{"aad":{{"allowedTenants":["{TENANT_A}"]}}}}}}"#);
    let (m, store) = multi_tenant(&idp, "common", TEMPLATE, &ezauth, &log);
    let token = |tid| of_tenant(&idp, TEMPLATE, tid, "oid-1", json!({}));
    let r = client_login(&m, &json!({"id_token": token(TENANT_B)}));
    assert_eq!(r.status, 401, "{}", log.text());
    log.says("is not one of the allowed tenants");
    assert!(store.records().is_empty());
    let r = client_login(&m, &json!({"id_token": token(TENANT_A)}));
    assert_eq!(r.status, 200, "{}", log.text());
    // A bearer token of a tenant not allowed is no provider's: the request stays anonymous.
    let access = of_tenant(&idp, TEMPLATE, TENANT_B, "o", json!({"scp": "read"}));
    no_principal(bearer(&m, &access), "tenant B", &log);

    for (issuer, tenants, why) in [
        (
            format!("{ISSUER}/common/v2.0"),
            r#"["contoso.onmicrosoft.com"]"#,
            "is not a tenant id",
        ),
        (format!("{ISSUER}/common/v2.0"), "[]", "is empty"),
        (
            format!("{ISSUER}/{TENANT_A}/v2.0"),
            &*format!(r#"["{TENANT_A}"]"#),
            "applies to a multi-tenant issuer only",
        ),
    ] {
        let ezauth = format!(r#"{{"providers":{{"aad":{{"allowedTenants":{tenants}}}}}}}"#);
        let e = ezauth::config::parse(&multi_tenant_config(&issuer, &ezauth), &env())
            .err()
            .expect("refused")
            .to_string();
        assert!(
            e.contains("ezauth.providers.aad.allowedTenants") && e.contains(why),
            "{e}"
        );
    }
}

#[test]
fn a_tenant_s_bearer_token_not_judged_for_want_of_the_document_is_503_not_invalid() {
    let idp = ScriptedIdp::new();
    let log = Captured::default();
    let json = multi_tenant_config(&format!("{ISSUER}/organizations/v2.0"), "{}")
        .replace("AllowAnonymous", "Return401");
    idp.once(
        "GET /organizations/v2.0/.well-known/openid-configuration",
        Answer::Json(500, json!({})),
    );
    let (m, store) = scripted::module_on(&idp, &json, log.logger(), Arc::new(SystemClock));
    let access = of_tenant(&idp, TEMPLATE, TENANT_A, "o", json!({"scp": "read"}));
    let r = finished(bearer(&m, &access));
    assert_eq!(r.status, 503, "{}", log.text());
    log.says("its provider's metadata is unavailable");
    // A token no tenant of `organizations` could have: not this provider's.
    let consumer = of_tenant(&idp, TEMPLATE, CONSUMERS, "o", json!({"scp": "read"}));
    idp.once(
        "GET /organizations/v2.0/.well-known/openid-configuration",
        Answer::Json(500, json!({})),
    );
    let r = finished(bearer(&m, &consumer));
    assert_eq!(r.status, 401, "{}", log.text());
    assert!(store.records().is_empty());
}
