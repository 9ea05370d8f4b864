//! App Service's own configuration files load unchanged (tests/data/appservice: portal, CLI,
//! Resource Explorer, ARM/Bicep templates, file-based config, v1 authsettings), with the values
//! and warnings they should give; a misspelled or ill-typed field inside a known object is still
//! refused by its JSON path; legacy input (v1, `WEBSITE_AUTH_*`) resolves as its authsettingsV2
//! printout does.

use ezauth::providers::client_auth::ClientAuth;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ezauth::config::{self, Settings, UnauthenticatedAction};
use serde_json::{json, Value};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/appservice");
const INLINE_V1_SECRET: &str = "Qx8~vN3.pLr5T_w2Yz7-KdB4mHs9JcF6aE1gU0o";

fn env() -> HashMap<String, String> {
    let mut e = HashMap::new();
    e.insert("WEBSITE_AUTH_ENCRYPTION_KEY".into(), "11".repeat(32));
    e.insert("WEBSITE_AUTH_SIGNING_KEY".into(), "22".repeat(32));
    e.insert(
        "MICROSOFT_PROVIDER_AUTHENTICATION_SECRET".into(),
        "aad-secret".into(),
    );
    e.insert(
        "PARTNERID_AUTHENTICATION_SECRET".into(),
        "partner-secret".into(),
    );
    e
}

fn with(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut e = env();
    for (k, v) in extra {
        e.insert(k.to_string(), v.to_string());
    }
    e
}

fn corpus() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new(CORPUS), &mut out);
    out.sort();
    out
}

fn name(path: &Path) -> String {
    path.strip_prefix(CORPUS)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn load(path: &Path, env: &HashMap<String, String>) -> Settings {
    config::load_file(path, env).unwrap_or_else(|e| panic!("{}: {e}", name(path)))
}

fn parse(json: &str, env: &HashMap<String, String>) -> Result<Settings, config::ConfigError> {
    config::parse(json, env)
}

fn err(json: &str, env: &HashMap<String, String>) -> config::ConfigError {
    match parse(json, env) {
        Err(e) => e,
        Ok(_) => panic!("expected an error for {json}"),
    }
}

/// Everything a configuration decides, for comparing two loads.
fn summary(s: &Settings) -> String {
    format!(
        "{:?}",
        (
            (
                s.enabled,
                s.require_authentication,
                s.action,
                &s.default_provider,
                &s.excluded_paths,
                s.providers
                    .iter()
                    .map(|p| format!("{p:?}"))
                    .collect::<Vec<_>>(),
                format!("{:?}", s.token_store),
            ),
            (
                s.refresh_extension,
                &s.allowed_external_redirect_urls,
                s.cookie_lifetime,
                s.session_follows_provider,
                s.preserve_url_fragments,
                &s.logout_endpoint,
                s.nonce_lifetime,
                s.require_https,
                &s.api_prefix,
                format!("{:?}", s.forward_proxy),
                &s.app_id,
            ),
        )
    )
}

fn not_configured(provider: &str) -> String {
    format!(
        "identityProviders.{provider} has no client id: not configured (as App Service treats it)"
    )
}

const DEFAULT_DIRECTORY_WARNING: &str = "login.tokenStore.fileSystem.directory is not set (nor WEBSITE_AUTH_STATE_DIRECTORY): the token store is /var/lib/ezauth/tokens";

fn placeholders() -> Vec<String> {
    [
        "google",
        "facebook",
        "gitHub",
        "twitter",
        "apple",
        "legacyMicrosoftAccount",
    ]
    .iter()
    .map(|p| not_configured(p))
    .collect()
}

fn store_dir(s: &Settings) -> Option<String> {
    s.token_store.as_ref().and_then(|store| match store {
        config::StoreSettings::File { directory } => Some(directory.display().to_string()),
        _ => None,
    })
}

fn aad(s: &Settings) -> &config::ProviderSettings {
    s.providers.iter().find(|p| p.name == "aad").expect("aad")
}

fn issuer(p: &config::ProviderSettings) -> &str {
    p.issuer().expect("an OpenID Connect provider")
}

#[test]
fn every_file_of_the_corpus_loads_with_its_values_and_warnings() {
    let files = corpus();
    let mut checked = Vec::new();
    for path in &files {
        let s = load(path, &env());
        let file = name(path);
        let w = &s.warnings;
        match file.as_str() {
            "tutorial-defaults.json" => {
                assert_eq!(s.action, UnauthenticatedAction::RedirectToLoginPage);
                assert_eq!(s.default_provider.as_deref(), Some("aad"));
                assert_eq!(aad(&s).client_id, "6b0e4f7a-2c9d-4e13-8a56-0f1b3d7c9e24");
                assert_eq!(
                    aad(&s).client_auth,
                    ClientAuth::SecretPost("aad-secret".into())
                );
                assert_eq!(store_dir(&s).as_deref(), Some("/var/lib/ezauth/tokens"));
                assert_eq!(s.refresh_extension, Duration::from_secs(72 * 3600));
                assert_eq!(w, &[DEFAULT_DIRECTORY_WARNING]);
            }
            "portal-quick-setup.json" => {
                let a = aad(&s);
                assert_eq!(a.client_id, "9a7d2e41-5b3c-4f80-b6d9-1e2c4a8f7035");
                assert_eq!(
                    issuer(a),
                    "https://sts.windows.net/3f6c1a52-8d0e-4b7a-9c21-5e4d2b7f0a19/v2.0"
                );
                assert_eq!(
                    a.allowed_audiences,
                    ["api://9a7d2e41-5b3c-4f80-b6d9-1e2c4a8f7035"]
                );
                assert_eq!(
                    a.authorization.applications,
                    ["9a7d2e41-5b3c-4f80-b6d9-1e2c4a8f7035"]
                );
                assert_eq!(s.providers.len(), 1);
                let mut want = placeholders();
                want.push(
                    "identityProviders.azureActiveDirectory.isAutoProvisioned is accepted but \
                     ezauth does not act on it: it records that the portal created the app \
                     registration"
                        .into(),
                );
                want.push(DEFAULT_DIRECTORY_WARNING.into());
                assert_eq!(w, &want);
            }
            "az-webapp-auth-show.json" => {
                assert_eq!(s.action, UnauthenticatedAction::Return401);
                assert_eq!(s.excluded_paths, ["/healthz", "/swagger/*"]);
                assert_eq!(
                    s.forward_proxy.convention,
                    config::ProxyConvention::Standard
                );
                assert_eq!(
                    aad(&s).login_parameters,
                    [(
                        "scope".to_owned(),
                        "openid offline_access api://c41e8b27-90d3-4a6f-8e15-7b2d5f9a0c63/user_impersonation"
                            .to_owned()
                    )]
                );
                assert_eq!(aad(&s).authorization.applications.len(), 2);
                assert_eq!(
                    s.allowed_external_redirect_urls,
                    ["https://inventory.contoso.example"]
                );
                let mut want = placeholders();
                want.push(DEFAULT_DIRECTORY_WARNING.into());
                assert_eq!(w, &want);
            }
            "resource-explorer-get.json" => {
                assert_eq!(s.action, UnauthenticatedAction::Return403);
                assert_eq!(s.default_provider.as_deref(), Some("partnerid"));
                assert_eq!(s.providers.len(), 1, "AAD is disabled");
                let p = &s.providers[0];
                assert_eq!(
                    p.client_auth,
                    ClientAuth::SecretPost("partner-secret".into())
                );
                assert_eq!(p.name_claim_type, "preferred_username");
                assert_eq!(store_dir(&s).as_deref(), Some("/home/data/.auth/tokens"));
                assert_eq!(s.refresh_extension, Duration::from_secs(24 * 3600));
                assert!(s.session_follows_provider && s.preserve_url_fragments);
                assert_eq!(s.logout_endpoint.as_deref(), Some("/signout"));
                assert_eq!(s.nonce_lifetime, Duration::from_secs(600));
                assert_eq!(s.cookie_lifetime, Duration::from_secs(86400));
                assert_eq!(
                    s.forward_proxy.host_header.as_deref(),
                    Some("X-Original-Host")
                );
                assert_eq!(w, &[not_configured("azureStaticWebApps")]);
            }
            "arm-template.json" => {
                assert_eq!(aad(&s).client_id, "e8f21c57-4d93-4b6a-a0e2-5c7b9d1f3a84");
                assert_eq!(
                    aad(&s).authorization.groups,
                    ["b2d6e8f0-1a3c-4e5f-8a7b-9c0d1e2f3a4b"]
                );
                assert_eq!(w, &[DEFAULT_DIRECTORY_WARNING]);
            }
            "bicep-resource.json" => {
                assert_eq!(s.default_provider.as_deref(), Some("aad"));
                assert_eq!(aad(&s).client_id, "1c9e5a37-8f24-4d6b-b3e0-7a2f9c4d1e58");
                assert_eq!(w.len(), 2, "{w:?}");
                assert!(w[0].starts_with(
                    "identityProviders.azureActiveDirectory.isAutoProvisioned is accepted"
                ));
                assert_eq!(w[1], DEFAULT_DIRECTORY_WARNING);
            }
            "file-based-linux.json" => {
                assert_eq!(s.action, UnauthenticatedAction::Return401);
                assert!(!s.require_https);
                assert_eq!(s.forward_proxy.convention, config::ProxyConvention::NoProxy);
                assert!(!s.session_follows_provider);
                assert_eq!(store_dir(&s).as_deref(), Some("/home/data/.auth"));
                // `response_type=code id_token` is the module's own: ignored, with a warning
                assert_eq!(aad(&s).login_parameters.len(), 1);
                assert_eq!(w.len(), 2, "{w:?}");
                assert!(w.contains(
                    &"legacyProperties is accepted but ezauth does not act on it: it records \
                      App Service's own migration state"
                        .to_owned()
                ));
                assert!(w.iter().any(|x| x.starts_with(
                    "identityProviders.azureActiveDirectory.login.loginParameters[0]: \
                     response_type is set by ezauth itself"
                )));
            }
            "file-based-numeric.json" => {
                assert_eq!(s.action, UnauthenticatedAction::Return403);
                assert!(s.session_follows_provider);
                assert_eq!(
                    s.forward_proxy.convention,
                    config::ProxyConvention::Standard
                );
                assert!(s.token_store.is_none());
                assert_eq!(aad(&s).client_auth, ClientAuth::None);
                assert_eq!(w.len(), 2, "{w:?}");
                assert!(w[0].starts_with("legacyProperties is accepted"));
                assert!(w[1].starts_with("login.nonce.validateNonce is accepted"));
            }
            "v1/arm-get-authsettings.json" => {
                assert_eq!(s.action, UnauthenticatedAction::RedirectToLoginPage);
                assert!(s.require_authentication);
                assert_eq!(s.default_provider.as_deref(), Some("aad"));
                assert_eq!(aad(&s).client_id, "2d7b9e13-5f8c-4a26-b4e1-8c3f0a6d9b72");
                assert_eq!(
                    aad(&s).client_auth,
                    ClientAuth::SecretPost("aad-secret".into())
                );
                assert_eq!(
                    issuer(aad(&s)),
                    "https://sts.windows.net/3f6c1a52-8d0e-4b7a-9c21-5e4d2b7f0a19/"
                );
                assert_eq!(
                    aad(&s).allowed_audiences,
                    ["https://timesheets.azurewebsites.net"]
                );
                assert!(s.token_store.is_some());
                assert_eq!(w, &[DEFAULT_DIRECTORY_WARNING]);
            }
            "v1/az-webapp-auth-show-classic.json" => {
                assert_eq!(
                    aad(&s).client_auth,
                    ClientAuth::SecretPost(INLINE_V1_SECRET.into())
                );
                assert_eq!(s.refresh_extension, Duration::from_secs(48 * 3600));
                // `response_type=code id_token`: the module's own, ignored with a warning
                assert_eq!(aad(&s).login_parameters[0].0, "resource");
                assert_eq!(
                    s.allowed_external_redirect_urls,
                    ["https://expenses.contoso.example"]
                );
                assert_eq!(w.len(), 3, "{w:?}");
                assert!(w[0].starts_with("clientSecret holds the secret inline"));
                assert!(w[0].contains("MICROSOFT_PROVIDER_AUTHENTICATION_SECRET"));
                assert!(!w[0].contains(INLINE_V1_SECRET));
                assert!(w
                    .iter()
                    .any(|x| x.contains("response_type is set by ezauth itself")));
                assert!(w.contains(&DEFAULT_DIRECTORY_WARNING.to_owned()));
            }
            "v1/template-authsettings.json" => {
                assert_eq!(s.action, UnauthenticatedAction::AllowAnonymous);
                assert!(!s.require_authentication);
                assert_eq!(s.default_provider.as_deref(), Some("aad"));
                assert!(s.token_store.is_none());
                assert!(w.is_empty(), "{w:?}");
            }
            "v1/bare-v1-anonymous.json" => {
                assert_eq!(s.action, UnauthenticatedAction::AllowAnonymous);
                assert!(!s.require_authentication);
                assert_eq!(s.refresh_extension, Duration::from_secs(12 * 3600));
                assert_eq!(w, &[DEFAULT_DIRECTORY_WARNING]);
            }
            other => panic!("{other}: add what this corpus file should resolve to"),
        }
        checked.push(file);
    }
    assert_eq!(checked.len(), 12, "{checked:?}");
}

/// The settings object of a corpus file (inside an envelope or template), as JSON.
fn settings_of(doc: &mut Value) -> &mut Value {
    if doc.get("resources").is_some() {
        let resources = doc["resources"].as_array_mut().unwrap();
        let config = resources
            .iter_mut()
            .find(|r| r["type"] == "Microsoft.Web/sites/config")
            .unwrap();
        return &mut config["properties"];
    }
    if doc.get("properties").is_some() {
        return &mut doc["properties"];
    }
    doc
}

/// Subtrees App Service leaves open (or ezauth reads loosely): not "known objects".
fn is_loose(path: &[String]) -> bool {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    matches!(p.first(), Some(&"legacyProperties"))
        || matches!(
            p.as_slice(),
            ["identityProviders", "azureStaticWebApps", _, ..]
        )
}

/// Every (path, key) of an object inside known objects, with a non-null value.
fn keys(value: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Value::Object(map) = value {
        for (k, v) in map {
            path.push(k.clone());
            // A custom provider's name is the user's choice, not a field.
            let is_provider_name = path.len() == 3 && path[1] == "customOpenIdConnectProviders";
            if !v.is_null() && !is_loose(path) && !is_provider_name {
                out.push(path.clone());
            }
            keys(v, path, out);
            path.pop();
        }
    }
}

fn at<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(v, |v, k| &mut v[k.as_str()])
}

fn v2_files() -> Vec<PathBuf> {
    corpus()
        .into_iter()
        .filter(|p| !name(p).starts_with("v1/"))
        .collect()
}

/// Every v2 corpus file with every key path of its settings tree: (file, document, path).
fn every_key_of_the_v2_corpus() -> Vec<(PathBuf, Value, Vec<String>)> {
    let mut out = Vec::new();
    for path in v2_files() {
        let original: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut all = Vec::new();
        keys(
            settings_of(&mut original.clone()),
            &mut Vec::new(),
            &mut all,
        );
        out.extend(
            all.into_iter()
                .map(|key_path| (path.clone(), original.clone(), key_path)),
        );
    }
    out
}

#[test]
fn a_misspelled_key_anywhere_in_a_known_object_is_refused_by_its_path() {
    let mut variants = 0;
    for (path, mut doc, key_path) in every_key_of_the_v2_corpus() {
        let settings = settings_of(&mut doc);
        let (last, parent) = key_path.split_last().unwrap();
        let obj = at(settings, parent).as_object_mut().unwrap();
        let v = obj.remove(last).unwrap();
        let misspelled = format!("{last}x");
        obj.insert(misspelled.clone(), v);
        let e = err(&doc.to_string(), &env());
        let mut want = parent.to_vec();
        want.push(misspelled);
        assert_eq!(e.path, want.join("."), "{}: {e}", name(&path));
        variants += 1;
    }
    println!("{variants} variants");
    assert!(variants > 300, "{variants}");
}

#[test]
fn an_ill_typed_value_in_a_known_object_is_refused_by_its_path() {
    let mut variants = 0;
    for (path, mut doc, key_path) in every_key_of_the_v2_corpus() {
        let target = at(settings_of(&mut doc), &key_path);
        // A boolean or number gets a word; a string gets an object; lists and objects get
        // a number. Each is wrong for every field of the tree.
        *target = match target {
            Value::Bool(_) | Value::Number(_) => json!("yes"),
            Value::String(_) => json!({"value": 1}),
            Value::Array(_) | Value::Object(_) => json!(7),
            Value::Null => continue,
        };
        let e = err(&doc.to_string(), &env());
        assert_eq!(e.path, key_path.join("."), "{}: {e}", name(&path));
        variants += 1;
    }
    println!("{variants} variants");
    assert!(variants > 300, "{variants}");
}

#[test]
fn resource_envelopes_and_templates_are_read_and_their_mistakes_named() {
    let anon = json!({"globalValidation": {"unauthenticatedClientAction": "AllowAnonymous"}});
    // Every envelope key ARM and its tools write is accepted.
    let resource = json!({
        "id": "/subscriptions/x/resourceGroups/r/providers/Microsoft.Web/sites/s/config/authsettingsV2",
        "name": "authsettingsV2", "type": "Microsoft.Web/sites/config", "kind": "app",
        "location": "West Europe", "tags": {"a": "b"}, "systemData": {"createdBy": "me"},
        "apiVersion": "2022-09-01", "dependsOn": ["[resourceId('Microsoft.Web/sites', 's')]"],
        "resourceGroup": "r", "properties": anon,
    });
    assert!(parse(&resource.to_string(), &env()).is_ok());
    // Anything else beside `properties` is refused by name.
    let mut bad = resource.clone();
    bad["propertys"] = json!({});
    assert_eq!(err(&bad.to_string(), &env()).path, "propertys");
    // A template expression where a value belongs is refused by its path.
    for (field, path) in [
        (
            json!({"identityProviders": {"azureActiveDirectory": {"registration": {
                "clientId": "[parameters('clientId')]",
                "openIdIssuer": "https://login.microsoftonline.com/t/v2.0"}}}}),
            "identityProviders.azureActiveDirectory.registration.clientId",
        ),
        (
            json!({"globalValidation": {"unauthenticatedClientAction": "AllowAnonymous",
                "excludedPaths": ["/a", "[variables('p')]"]}}),
            "globalValidation.excludedPaths[1]",
        ),
    ] {
        let e = err(&json!({"properties": field}).to_string(), &env());
        assert_eq!(e.path, path, "{e}");
        assert!(e.message.contains("ARM template expression"), "{e}");
    }
    // An escaped literal bracket (`[[`) is a value, not an expression.
    let escaped = json!({"globalValidation": {"unauthenticatedClientAction": "AllowAnonymous",
        "excludedPaths": ["/ok"]}, "ezauth": {"appId": "[[literal]"}});
    assert!(parse(&escaped.to_string(), &env()).is_ok());
    // A template with no auth settings resource, or two, is refused.
    let template = |resources: Value| {
        json!({"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
               "contentVersion": "1.0.0.0", "resources": resources})
        .to_string()
    };
    let site = json!({"type": "Microsoft.Web/sites", "name": "s", "properties": {}});
    let auth = json!({"type": "Microsoft.Web/sites/config", "name": "s/authsettingsV2", "properties": anon});
    assert!(parse(&template(json!([site, auth])), &env()).is_ok());
    let none = err(&template(json!([site])), &env());
    assert!(
        none.message.contains("no Microsoft.Web/sites/config"),
        "{none}"
    );
    let two = err(&template(json!([auth, auth])), &env());
    assert!(two.message.contains("2 auth settings resources"), "{two}");
    // `null` is "not set", as ARM writes it.
    let nulls = json!({"globalValidation": {"unauthenticatedClientAction": "AllowAnonymous",
        "excludedPaths": null, "redirectToProvider": null}, "login": null});
    assert!(parse(&nulls.to_string(), &env()).is_ok());
}

#[test]
fn documented_settings_ezauth_does_not_act_on_give_exactly_one_warning_each() {
    let base = |extra: Value| {
        let mut v = json!({"globalValidation": {"unauthenticatedClientAction": "Return401"},
            "identityProviders": {"azureActiveDirectory": {"registration": {
                "clientId": "c", "openIdIssuer": "https://login.microsoftonline.com/t/v2.0"}}}});
        merge(&mut v, extra);
        parse(&v.to_string(), &env()).unwrap().warnings
    };
    assert!(base(json!({})).is_empty());
    for (extra, named) in [
        (
            json!({"platform": {"runtimeVersion": "~2"}}),
            "platform.runtimeVersion",
        ),
        (
            json!({"platform": {"configFilePath": "/home/site/auth.json"}}),
            "platform.configFilePath",
        ),
        (
            json!({"legacyProperties": {"configVersion": "v2", "legacyVersion": "V2"}}),
            "legacyProperties",
        ),
        (
            json!({"clearInboundClaimsMapping": "true"}),
            "clearInboundClaimsMapping",
        ),
        (
            json!({"clearInboundClaimsMapping": true}),
            "clearInboundClaimsMapping",
        ),
        (
            json!({"identityProviders": {"azureActiveDirectory": {"isAutoProvisioned": true}}}),
            "isAutoProvisioned",
        ),
        (
            json!({"identityProviders": {"azureActiveDirectory": {"registration": {"clientSecretCertificateThumbprint": "AB12"}}}}),
            "clientSecretCertificateThumbprint",
        ),
        (
            json!({"identityProviders": {"azureActiveDirectory": {"registration": {"clientSecretCertificateIssuer": "CN=x"}}}}),
            "clientSecretCertificateIssuer",
        ),
        (
            json!({"identityProviders": {"azureActiveDirectory": {"registration": {"clientSecretCertificateSubjectAlternativeName": "x"}}}}),
            "clientSecretCertificateSubjectAlternativeName",
        ),
        (
            json!({"identityProviders": {"azureStaticWebApps": {"registration": {"clientId": "swa"}}}}),
            "azureStaticWebApps",
        ),
        (
            json!({"identityProviders": {"azureStaticWebApps": {"registration": {}}}}),
            "azureStaticWebApps",
        ),
        (
            json!({"login": {"nonce": {"validateNonce": false}}}),
            "validateNonce",
        ),
        (
            json!({"login": {"tokenStore": {"enabled": true, "fileSystem": {}}}}),
            "fileSystem.directory",
        ),
        (
            json!({"identityProviders": {"twitter": {"enabled": true, "registration": {}}}}),
            "twitter",
        ),
        (
            json!({"identityProviders": {"facebook": {"registration": {"appId": ""}}}}),
            "facebook",
        ),
    ] {
        let w = base(extra.clone());
        assert_eq!(w.len(), 1, "{extra}: {w:?}");
        assert!(w[0].contains(named), "{extra}: {w:?}");
    }
    // Values that ask for what ezauth does anyway say nothing.
    for quiet in [
        json!({"platform": {"runtimeVersion": "~1"}}),
        json!({"clearInboundClaimsMapping": "false"}),
        json!({"clearInboundClaimsMapping": false}),
        json!({"identityProviders": {"azureActiveDirectory": {"isAutoProvisioned": false}}}),
        json!({"login": {"nonce": {"validateNonce": true}}}),
        json!({"login": {"tokenStore": {"enabled": false, "fileSystem": {}, "azureBlobStorage": {}}}}),
        json!({"identityProviders": {"google": {"enabled": false, "registration": {"clientId": "g"}}}}),
    ] {
        assert_eq!(base(quiet.clone()), Vec::<String>::new(), "{quiet}");
    }
    // The directory comes from WEBSITE_AUTH_STATE_DIRECTORY when the file names none.
    let store = json!({"globalValidation": {"unauthenticatedClientAction": "AllowAnonymous"},
        "login": {"tokenStore": {"enabled": true, "fileSystem": {}}}});
    let s = parse(
        &store.to_string(),
        &with(&[("WEBSITE_AUTH_STATE_DIRECTORY", "/srv/auth")]),
    )
    .unwrap();
    assert_eq!(store_dir(&s).as_deref(), Some("/srv/auth"));
    assert!(s.warnings.is_empty());
    // A provider with a client id but no secret stops the start, named by its secret's
    // setting; so does a blob store whose SAS URL setting is not set.
    for (bad, path) in [
        (
            json!({"identityProviders": {"legacyMicrosoftAccount": {"registration": {"clientId": "m"}}}}),
            "identityProviders.legacyMicrosoftAccount.registration.clientSecretSettingName",
        ),
        (
            json!({"identityProviders": {"apple": {"registration": {"clientId": "a"}}}}),
            "identityProviders.apple.registration.clientSecretSettingName",
        ),
        (
            json!({"login": {"tokenStore": {"enabled": true, "azureBlobStorage": {"sasUrlSettingName": "SAS"}}}}),
            "login.tokenStore.azureBlobStorage.sasUrlSettingName",
        ),
    ] {
        let mut v = json!({"globalValidation": {"unauthenticatedClientAction": "AllowAnonymous"}});
        merge(&mut v, bad);
        assert_eq!(err(&v.to_string(), &env()).path, path);
    }
    // The old camelCase spelling of disableWWWAuthenticate keeps working; a third is refused.
    for (spelling, ok) in [
        ("disableWWWAuthenticate", true),
        ("disableWwwAuthenticate", true),
        ("disableWWWauthenticate", false),
    ] {
        let v = json!({"globalValidation": {"unauthenticatedClientAction": "AllowAnonymous"},
            "identityProviders": {"azureActiveDirectory": {"enabled": false, "login": {spelling: true}}}});
        assert_eq!(parse(&v.to_string(), &env()).is_ok(), ok, "{spelling}");
    }
    // An Azure AD placeholder is not configured; a redirect to it then has no provider.
    let e = err(
        &json!({"identityProviders": {"azureActiveDirectory": {"enabled": true, "login": {}, "registration": {}}}})
            .to_string(),
        &env(),
    );
    assert_eq!(e.path, "globalValidation.redirectToProvider");
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

// ---- legacy: v1 documents and WEBSITE_AUTH_* settings ----

const V1: &str = r#"{"enabled":true,"unauthenticatedClientAction":"RedirectToLoginPage",
    "clientId":"v1-client","clientSecretSettingName":"MICROSOFT_PROVIDER_AUTHENTICATION_SECRET",
    "issuer":"https://sts.windows.net/tenant/","tokenStoreEnabled":false}"#;

#[test]
fn v1_documents_are_refused_where_they_are_ambiguous_or_stale() {
    for (change, path, says) in [
        (json!({"clientIdd": "x"}), "clientIdd", "unknown field"),
        (
            json!({"configVersion": "v2"}),
            "configVersion",
            "upgraded to authsettingsV2",
        ),
        (
            json!({"aadClaimsAuthorization": "{\"allowed_groups\":[\"g\"]}"}),
            "aadClaimsAuthorization",
            "not supported",
        ),
        (
            json!({"isAuthFromFile": "true", "authFilePath": "auth.json"}),
            "isAuthFromFile",
            "auth.json",
        ),
        (json!({"clientSecret": "s"}), "clientSecret", "keep one"),
        (
            json!({"tokenStoreEnabled": "maybe"}),
            "tokenStoreEnabled",
            "true or false",
        ),
        (
            json!({"allowedAudiences": "api://x"}),
            "allowedAudiences",
            "array",
        ),
        (
            json!({"additionalLoginParams": ["ok=1", 5]}),
            "additionalLoginParams[1]",
            "string",
        ),
        (
            json!({"defaultProvider": "Okta"}),
            "defaultProvider",
            "unknown provider",
        ),
        (
            json!({"unauthenticatedClientAction": "Sometimes"}),
            "unauthenticatedClientAction",
            "read as globalValidation.unauthenticatedClientAction",
        ),
        (
            json!({"additionalLoginParams": ["novalue"]}),
            "additionalLoginParams",
            "key=value",
        ),
        (
            json!({"microsoftAccountClientId": "m"}),
            "identityProviders.legacyMicrosoftAccount.registration.clientSecretSettingName",
            "is required",
        ),
        // v1 and v2 keys together: read as v2, where the v1 keys are unknown (the first in the
        // document is named).
        (json!({"platform": {}}), "enabled", "unknown field"),
    ] {
        let mut v: Value = serde_json::from_str(V1).unwrap();
        merge(&mut v, change.clone());
        let e = err(&v.to_string(), &env());
        assert_eq!(e.path, path, "{change}: {e}");
        assert!(e.message.contains(says), "{change}: {e}");
    }
    // configVersion v1, isAuthFromFile false, validateIssuer, empty claims rules: accepted.
    let mut v: Value = serde_json::from_str(V1).unwrap();
    merge(
        &mut v,
        json!({"configVersion": "v1", "isAuthFromFile": "false", "validateIssuer": false,
               "aadClaimsAuthorization": "", "googleClientId": null}),
    );
    let s = parse(&v.to_string(), &env()).unwrap();
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(s.warnings[0].contains("validateIssuer"));
}

fn legacy_env() -> HashMap<String, String> {
    with(&[
        ("WEBSITE_AUTH_ENABLED", "True"),
        ("WEBSITE_AUTH_DEFAULT_PROVIDER", "AzureActiveDirectory"),
        ("WEBSITE_AUTH_UNAUTHENTICATED_ACTION", "RedirectToLoginPage"),
        ("WEBSITE_AUTH_TOKEN_STORE", "true"),
        ("WEBSITE_AUTH_TOKEN_REFRESH_HOURS", "24"),
        ("WEBSITE_AUTH_CLIENT_ID", "env-client"),
        ("WEBSITE_AUTH_CLIENT_SECRET", "env-secret"),
        (
            "WEBSITE_AUTH_OPENID_ISSUER",
            "https://login.microsoftonline.com/tenant/v2.0",
        ),
        (
            "WEBSITE_AUTH_ALLOWED_AUDIENCES",
            "api://env-client, https://app.example",
        ),
        (
            "WEBSITE_AUTH_LOGIN_PARAMS",
            "scope=openid profile offline_access,prompt=select_account",
        ),
        ("WEBSITE_AUTH_EXTERNAL_REDIRECT_URLS", "https://app.example"),
        ("WEBSITE_AUTH_STATE_DIRECTORY", "/srv/ezauth/tokens"),
        ("WEBSITE_AUTH_API_PREFIX", "/auth"),
        ("WEBSITE_AUTH_LOGOUT_PATH", "/signout"),
        ("WEBSITE_AUTH_REQUIRE_HTTPS", "false"),
        ("WEBSITE_AUTH_PRESERVE_URL_FRAGMENT", "true"),
        ("WEBSITE_AUTH_DISABLE_WWWAUTHENTICATE", "true"),
        ("WEBSITE_AUTH_NONCE_DURATION", "00:02:00"),
        ("WEBSITE_AUTH_VALIDATE_NONCE", "true"),
        ("WEBSITE_AUTH_COOKIE_EXPIRATION_TIME", "04:00:00"),
        ("WEBSITE_AUTH_COOKIE_EXPIRATION_MODE", "FixedTime"),
        ("WEBSITE_AUTH_PROXY_HEADER_CONVENTION", "Custom"),
        ("WEBSITE_AUTH_PROXY_HOST_HEADER", "X-Site-Host"),
        ("WEBSITE_AUTH_PROXY_PROTO_HEADER", "X-Site-Proto"),
    ])
}

#[test]
fn the_website_auth_settings_alone_configure_a_site_as_on_app_service() {
    let s = parse("", &legacy_env()).unwrap();
    assert!(s.enabled && s.require_authentication);
    assert_eq!(s.action, UnauthenticatedAction::RedirectToLoginPage);
    assert_eq!(s.default_provider.as_deref(), Some("aad"));
    let a = aad(&s);
    assert_eq!(a.client_id, "env-client");
    assert_eq!(a.client_auth, ClientAuth::SecretPost("env-secret".into()));
    assert_eq!(issuer(a), "https://login.microsoftonline.com/tenant/v2.0");
    assert_eq!(
        a.allowed_audiences,
        ["api://env-client", "https://app.example"]
    );
    assert_eq!(
        a.login_parameters,
        [
            (
                "scope".to_owned(),
                "openid profile offline_access".to_owned()
            ),
            ("prompt".to_owned(), "select_account".to_owned())
        ]
    );
    assert_eq!(store_dir(&s).as_deref(), Some("/srv/ezauth/tokens"));
    assert_eq!(s.refresh_extension, Duration::from_secs(24 * 3600));
    assert_eq!(s.allowed_external_redirect_urls, ["https://app.example"]);
    assert_eq!(s.api_prefix, "/auth");
    assert_eq!(s.logout_endpoint.as_deref(), Some("/signout"));
    assert!(!s.require_https && s.preserve_url_fragments);
    assert_eq!(s.nonce_lifetime, Duration::from_secs(120));
    assert_eq!(s.cookie_lifetime, Duration::from_secs(4 * 3600));
    assert_eq!(s.forward_proxy.convention, config::ProxyConvention::Custom);
    assert_eq!(
        s.forward_proxy.proto_header.as_deref(),
        Some("X-Site-Proto")
    );
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(s.warnings[0].contains("configuration comes from the WEBSITE_AUTH_*"));
    // The same, said by /dev/null as a host's configuration file.
    let dev_null = config::load_file(Path::new("/dev/null"), &legacy_env()).unwrap();
    assert_eq!(summary(&dev_null), summary(&s));
    // App Service's own logout path needs no second route.
    let mut e = legacy_env();
    e.insert("WEBSITE_AUTH_LOGOUT_PATH".into(), "/auth/logout".into());
    assert_eq!(parse("", &e).unwrap().logout_endpoint, None);
    // A v1 provider's client id without its secret stops the start, named by the secret's
    // setting.
    let mut e = legacy_env();
    e.insert("WEBSITE_AUTH_MSA_CLIENT_ID".into(), "m".into());
    let got = parse("", &e).err().unwrap();
    assert_eq!(
        got.path, "identityProviders.legacyMicrosoftAccount.registration.clientSecretSettingName",
        "{got}"
    );
    assert!(got.message.contains("is required"), "{got}");
    // AllowAnonymous, a 401 without a provider.
    let anon = with(&[("WEBSITE_AUTH_UNAUTHENTICATED_ACTION", "AllowAnonymous")]);
    let s = parse("", &anon).unwrap();
    assert!(!s.require_authentication && s.providers.is_empty());
}

#[test]
fn bad_website_auth_settings_are_named_by_their_variable() {
    for (name, value, says) in [
        ("WEBSITE_AUTH_TOKEN_STORE", "maybe", "true or false"),
        ("WEBSITE_AUTH_TOKEN_REFRESH_HOURS", "three", "number"),
        (
            "WEBSITE_AUTH_TOKEN_REFRESH_HOURS",
            "100000",
            "between 0 and 8760",
        ),
        (
            "WEBSITE_AUTH_UNAUTHENTICATED_ACTION",
            "Sometimes",
            "unknown value",
        ),
        ("WEBSITE_AUTH_DEFAULT_PROVIDER", "Okta", "unknown provider"),
        ("WEBSITE_AUTH_NONCE_DURATION", "5m", "hh:mm:ss"),
        (
            "WEBSITE_AUTH_COOKIE_EXPIRATION_TIME",
            "eight hours",
            "hh:mm:ss",
        ),
        (
            "WEBSITE_AUTH_COOKIE_EXPIRATION_MODE",
            "Sliding",
            "unknown value",
        ),
        (
            "WEBSITE_AUTH_PROXY_HEADER_CONVENTION",
            "Magic",
            "unknown value",
        ),
        ("WEBSITE_AUTH_API_PREFIX", "auth", "must be a path"),
        (
            "WEBSITE_AUTH_OPENID_ISSUER",
            "http://login.example/t",
            "https",
        ),
        (
            "WEBSITE_AUTH_ALLOWED_AUDIENCES",
            "[1,2]",
            "JSON array of strings",
        ),
        (
            "WEBSITE_AUTH_CLIENT_SECRET_SETTING_NAME",
            "OTHER",
            "keep one",
        ),
        ("WEBSITE_AUTH_CUSTOM_AUTHZ_SETTINGS", "{}", "not supported"),
        ("WEBSITE_AUTH_FROM_FILE", "perhaps", "true or false"),
    ] {
        let mut e = legacy_env();
        e.insert(name.into(), value.into());
        let got = parse("", &e)
            .err()
            .unwrap_or_else(|| panic!("{name}={value} loaded"));
        assert_eq!(got.path, name, "{name}={value}: {got}");
        assert!(got.message.contains(says), "{name}={value}: {got}");
    }
    // A secret variable named by WEBSITE_AUTH_CLIENT_SECRET_SETTING_NAME must be set.
    let mut e = legacy_env();
    e.remove("WEBSITE_AUTH_CLIENT_SECRET");
    e.insert(
        "WEBSITE_AUTH_CLIENT_SECRET_SETTING_NAME".into(),
        "NOT_SET".into(),
    );
    let got = parse("", &e).err().unwrap();
    assert_eq!(got.path, "WEBSITE_AUTH_CLIENT_SECRET_SETTING_NAME");
    assert!(got.message.contains("NOT_SET"), "{got}");
    // Nothing at all: a clear error, not an anonymous site.
    let got = parse("", &env()).err().unwrap();
    assert!(got.message.contains("configuration file is empty"), "{got}");
    let got = parse("  \n", &env()).err().unwrap();
    assert!(got.message.contains("configuration file is empty"), "{got}");
}

#[test]
fn precedence_between_documents_and_the_environment() {
    // A v1 document says what it says; the environment fills in only what it leaves out.
    let s = parse(V1, &legacy_env()).unwrap();
    assert_eq!(aad(&s).client_id, "v1-client");
    assert_eq!(
        aad(&s).client_auth,
        ClientAuth::SecretPost("aad-secret".into())
    );
    assert_eq!(issuer(aad(&s)), "https://sts.windows.net/tenant/");
    assert!(s.token_store.is_none(), "tokenStoreEnabled: false wins");
    assert_eq!(s.refresh_extension, Duration::from_secs(24 * 3600));
    assert_eq!(s.api_prefix, "/auth");
    assert_eq!(
        aad(&s).allowed_audiences,
        ["api://env-client", "https://app.example"]
    );
    // A secret is one slot: the document's inline secret wins over WEBSITE_AUTH_CLIENT_SECRET.
    let inline = V1.replace(
        r#""clientSecretSettingName":"MICROSOFT_PROVIDER_AUTHENTICATION_SECRET""#,
        r#""clientSecret":"from-the-file""#,
    );
    let s = parse(&inline, &legacy_env()).unwrap();
    assert_eq!(
        aad(&s).client_auth,
        ClientAuth::SecretPost("from-the-file".into())
    );
    // An authsettingsV2 document is the whole configuration: the legacy settings are ignored,
    // in one warning that names them.
    let v2 = r#"{"globalValidation":{"unauthenticatedClientAction":"AllowAnonymous"}}"#;
    let s = parse(v2, &legacy_env()).unwrap();
    assert!(s.providers.is_empty());
    assert_eq!(s.api_prefix, "/.auth");
    assert!(s.require_https);
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    for name in [
        "WEBSITE_AUTH_CLIENT_ID",
        "WEBSITE_AUTH_API_PREFIX",
        "WEBSITE_AUTH_NONCE_DURATION",
    ] {
        assert!(s.warnings[0].contains(name), "{name}: {:?}", s.warnings);
    }
    assert!(!s.warnings[0].contains("WEBSITE_AUTH_ENABLED"));
    assert!(!s.warnings[0].contains("WEBSITE_AUTH_STATE_DIRECTORY"));
    assert!(parse(v2, &env()).unwrap().warnings.is_empty());
    // An empty file: WEBSITE_AUTH_FILE_PATH, then WEBSITE_AUTH_V2_CONFIG_JSON, then the legacy
    // settings.
    let dir = std::env::temp_dir().join(format!("ezauth-appservice-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("auth.json");
    std::fs::write(
        &file,
        r#"{"globalValidation":{"unauthenticatedClientAction":"Return403"}}"#,
    )
    .unwrap();
    let v2_json = r#"{"globalValidation":{"unauthenticatedClientAction":"Return404"}}"#;
    let mut e = legacy_env();
    e.insert("WEBSITE_AUTH_V2_CONFIG_JSON".into(), v2_json.into());
    let s = parse("", &e).unwrap();
    assert_eq!(s.action, UnauthenticatedAction::Return404);
    assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
    assert_eq!(
        s.warnings[0],
        "the configuration file is empty: the configuration comes from WEBSITE_AUTH_V2_CONFIG_JSON"
    );
    assert!(
        s.warnings[1].contains("WEBSITE_AUTH_CLIENT_ID"),
        "{:?}",
        s.warnings
    );
    e.insert("WEBSITE_AUTH_FILE_PATH".into(), file.display().to_string());
    let s = parse("", &e).unwrap();
    assert_eq!(s.action, UnauthenticatedAction::Return403);
    assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
    assert!(
        s.warnings[0].contains("named by WEBSITE_AUTH_FILE_PATH"),
        "{:?}",
        s.warnings
    );
    e.insert("WEBSITE_AUTH_FROM_FILE".into(), "false".into());
    assert_eq!(
        parse("", &e).unwrap().action,
        UnauthenticatedAction::Return404
    );
    e.insert("WEBSITE_AUTH_FROM_FILE".into(), "1".into());
    e.insert(
        "WEBSITE_AUTH_FILE_PATH".into(),
        dir.join("missing.json").display().to_string(),
    );
    let got = parse("", &e).err().unwrap();
    assert!(
        got.unreadable && got.path == "WEBSITE_AUTH_FILE_PATH",
        "{got}"
    );
    // A non-empty file is always the configuration, whatever the environment says.
    assert_eq!(
        parse(&std::fs::read_to_string(&file).unwrap(), &e)
            .unwrap()
            .action,
        UnauthenticatedAction::Return403
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The printed v2 tree loads to the same settings, and holds no secret value.
fn round_trip(text: &str, env: &HashMap<String, String>, secret_values: &[&str]) {
    let original = parse(text, env).unwrap_or_else(|e| panic!("{e}"));
    let (tree, notes) = config::authsettings_v2(text, env).unwrap();
    let printed = serde_json::to_string_pretty(&tree).unwrap();
    for secret in secret_values {
        assert!(!printed.contains(secret), "a secret value in\n{printed}");
        assert!(!notes.iter().any(|n| n.contains(secret)), "{notes:?}");
    }
    assert!(tree.get("properties").is_none() && tree.get("enabled").is_none());
    // The variables the notes name hold the inline secrets, as the notes ask.
    let mut env2 = env.clone();
    for note in &notes {
        if let Some(rest) = note.strip_prefix("set the environment variable ") {
            let var = rest.split_whitespace().next().unwrap();
            env2.insert(var.to_owned(), INLINE_V1_SECRET.to_owned());
        }
    }
    // Loaded with only the secrets and keys: the printout needs no legacy setting.
    let reloaded = parse(&printed, &env2).unwrap_or_else(|e| panic!("{e}\n{printed}"));
    assert_eq!(summary(&reloaded), summary(&original), "{printed}");
}

#[test]
fn the_authsettings_v2_printout_loads_to_the_same_settings() {
    let mut files = 0;
    for path in corpus() {
        round_trip(
            &std::fs::read_to_string(&path).unwrap(),
            &env(),
            &[INLINE_V1_SECRET],
        );
        files += 1;
    }
    assert_eq!(files, 12);
    round_trip("", &legacy_env(), &["env-secret"]);
    round_trip(V1, &legacy_env(), &["env-secret", "aad-secret"]);
    // The inline v1 secret becomes a setting name, and a note says which.
    let classic =
        std::fs::read_to_string(Path::new(CORPUS).join("v1/az-webapp-auth-show-classic.json"))
            .unwrap();
    let (tree, notes) = config::authsettings_v2(&classic, &env()).unwrap();
    assert_eq!(
        tree["identityProviders"]["azureActiveDirectory"]["registration"]
            ["clientSecretSettingName"],
        "MICROSOFT_PROVIDER_AUTHENTICATION_SECRET"
    );
    assert!(
        notes[0].contains("MICROSOFT_PROVIDER_AUTHENTICATION_SECRET"),
        "{notes:?}"
    );
    // From the environment, a secret variable is named, never copied.
    let (tree, _) = config::authsettings_v2("", &legacy_env()).unwrap();
    assert_eq!(
        tree["identityProviders"]["azureActiveDirectory"]["registration"]
            ["clientSecretSettingName"],
        "WEBSITE_AUTH_CLIENT_SECRET"
    );
    // A configuration that does not load prints nothing.
    assert!(config::authsettings_v2(r#"{"globalValidaton":{}}"#, &env()).is_err());
}

#[test]
fn login_parameters_the_module_sets_itself_are_ignored_with_a_warning_each() {
    let v = json!({"globalValidation": {"unauthenticatedClientAction": "Return401"},
        "identityProviders": {"azureActiveDirectory": {
            "registration": {"clientId": "c",
                "openIdIssuer": "https://login.microsoftonline.com/t/v2.0"},
            "login": {"loginParameters": [
                "response_type=code id_token", "resource=api://x", "response_mode=fragment",
                "response_mode=form_post", "redirect_uri=https://evil.example/", "nonce=1",
                "domain_hint=contoso.com"]}}}});
    let s = parse(&v.to_string(), &env()).unwrap();
    let pairs: Vec<(&str, &str)> = aad(&s)
        .login_parameters
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("resource", "api://x"),
            ("response_mode", "form_post"),
            ("domain_hint", "contoso.com")
        ]
    );
    let base = "identityProviders.azureActiveDirectory.login.loginParameters";
    for (i, name) in [
        (0, "response_type"),
        (2, "response_mode"),
        (4, "redirect_uri"),
        (5, "nonce"),
    ] {
        let prefix = format!("{base}[{i}]: {name} is set by ezauth itself");
        assert_eq!(
            s.warnings.iter().filter(|w| w.starts_with(&prefix)).count(),
            1,
            "{prefix}: {:?}",
            s.warnings
        );
    }
    assert_eq!(s.warnings.len(), 4, "{:?}", s.warnings);
}

#[test]
fn github_resolves_from_its_block_its_v1_keys_and_its_variables_with_movable_endpoints() {
    let e = with(&[("GITHUB_PROVIDER_AUTHENTICATION_SECRET", "gh-secret")]);
    let block = |extra: Value| {
        let mut doc = json!({
            "globalValidation": {"unauthenticatedClientAction": "RedirectToLoginPage",
                                 "redirectToProvider": "github"},
            "identityProviders": {"gitHub": {"enabled": true,
                "registration": {"clientId": "Iv1.abc",
                                 "clientSecretSettingName": "GITHUB_PROVIDER_AUTHENTICATION_SECRET"},
                "login": {"scopes": ["user:email", "read:org"]}}}});
        merge(&mut doc, extra);
        doc.to_string()
    };
    let s = parse(&block(json!({})), &e).unwrap();
    assert_eq!(s.default_provider.as_deref(), Some("github"));
    let gh = &s.providers[0];
    assert_eq!(
        (gh.name.as_str(), gh.client_id.as_str()),
        ("github", "Iv1.abc")
    );
    assert_eq!(gh.client_auth, ClientAuth::SecretPost("gh-secret".into()));
    assert_eq!(gh.scopes, ["user:email", "read:org"]);
    assert_eq!(gh.flow, ezauth::providers::github::FLOW);
    assert_eq!(
        gh.issuer(),
        None,
        "no JWT issuer: bearer tokens are not GitHub's"
    );
    assert_eq!(
        gh.endpoints,
        config::Endpoints::OAuth2 {
            authorization: "https://github.com/login/oauth/authorize".into(),
            token: "https://github.com/login/oauth/access_token".into(),
            api: "https://api.github.com".into(),
        }
    );
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);

    // Moved in the "ezauth" block, one endpoint or all.
    let moved = parse(
        &block(json!({"ezauth": {"providers": {"github": {
            "apiEndpoint": "http://127.0.0.1:9000/api"}}}})),
        &e,
    )
    .unwrap();
    assert_eq!(
        moved.providers[0].endpoints,
        config::Endpoints::OAuth2 {
            authorization: "https://github.com/login/oauth/authorize".into(),
            token: "https://github.com/login/oauth/access_token".into(),
            api: "http://127.0.0.1:9000/api".into(),
        }
    );

    // Mistakes are named by their path.
    for (extra, path, says) in [
        (
            json!({"ezauth": {"providers": {"github": {"tokenEndpoint": "http://gh.example/t"}}}}),
            "ezauth.providers.github.tokenEndpoint",
            "https",
        ),
        (
            json!({"ezauth": {"providers": {"github": {"apiEndpont": "https://x"}}}}),
            "ezauth.providers.github.apiEndpont",
            "unknown field",
        ),
        (
            json!({"ezauth": {"providers": {"gihub": {"apiEndpoint": "https://x"}}}}),
            "ezauth.providers.gihub",
            "no built-in provider",
        ),
        (
            json!({"ezauth": {"providers": {"apple": {"apiEndpoint": "https://x"}}}}),
            "ezauth.providers.apple.apiEndpoint",
            "is not one of apple's settings",
        ),
        (
            json!({"ezauth": {"providers": {"github": {"issuer": "https://x"}}}}),
            "ezauth.providers.github.issuer",
            "is not one of",
        ),
        (
            json!({"identityProviders": {"gitHub": {"login": {"scopes": ["user email"]}}}}),
            "identityProviders.gitHub.login.scopes[0]",
            "GitHub scope",
        ),
        (
            json!({"identityProviders": {"gitHub": {"registration": {"clientSecretSettingName": null}}}}),
            "identityProviders.gitHub.registration.clientSecretSettingName",
            "is required",
        ),
        (
            json!({"identityProviders": {"gitHub": {"registration": {"clientSecretSettingName": "UNSET_SECRET"}}}}),
            "identityProviders.gitHub.registration.clientSecretSettingName",
            "UNSET_SECRET",
        ),
        (
            json!({"identityProviders": {"gitHub": {"registration": {"appId": "x"}}}}),
            "identityProviders.gitHub.registration.appId",
            "unknown field",
        ),
    ] {
        let got = err(&block(extra.clone()), &e);
        assert_eq!(got.path, path, "{extra}: {got}");
        assert!(got.message.contains(says), "{extra}: {got}");
    }

    // A placeholder stays "not configured"; a disabled block is nothing, its overrides kept
    // quiet; the endpoints of an unconfigured provider may still be named.
    let anon = json!({"globalValidation": {"unauthenticatedClientAction": "AllowAnonymous"}});
    for (gh, warned) in [
        (
            json!({"enabled": true, "login": {}, "registration": {}}),
            true,
        ),
        (
            json!({"enabled": true, "registration": {"clientId": ""}}),
            true,
        ),
        (
            json!({"enabled": false, "registration": {"clientId": "x"}}),
            false,
        ),
    ] {
        let mut doc = anon.clone();
        merge(
            &mut doc,
            json!({"identityProviders": {"gitHub": gh},
                   "ezauth": {"providers": {"github": {"apiEndpoint": "https://ghe.example/api/v3"}}}}),
        );
        let s = parse(&doc.to_string(), &env()).unwrap();
        assert!(s.providers.is_empty());
        assert_eq!(
            s.warnings,
            if warned {
                vec![not_configured("gitHub")]
            } else {
                vec![]
            }
        );
    }

    // App Service's v1 keys and WEBSITE_AUTH_* settings say the same.
    let v1 = json!({"enabled": true, "unauthenticatedClientAction": "AllowAnonymous",
        "gitHubClientId": "Iv1.abc", "gitHubClientSecretSettingName": "GITHUB_PROVIDER_AUTHENTICATION_SECRET",
        "gitHubOAuthScopes": ["user:email"]});
    let s = parse(&v1.to_string(), &e).unwrap();
    assert_eq!(s.providers[0].name, "github");
    assert_eq!(s.providers[0].scopes, ["user:email"]);
    let mut vars = legacy_env();
    vars.insert("WEBSITE_AUTH_GITHUB_CLIENT_ID".into(), "Iv1.abc".into());
    vars.insert(
        "WEBSITE_AUTH_GITHUB_CLIENT_SECRET".into(),
        "gh-secret".into(),
    );
    let s = parse("", &vars).unwrap();
    let gh = s.providers.iter().find(|p| p.name == "github").unwrap();
    assert_eq!(gh.client_auth, ClientAuth::SecretPost("gh-secret".into()));
}

#[test]
fn twitter_resolves_from_its_block_its_v1_keys_and_its_variables_with_movable_endpoints() {
    let e = with(&[("TWITTER_PROVIDER_AUTHENTICATION_SECRET", "tw-secret")]);
    let block = |extra: Value| {
        let mut doc = json!({
            "globalValidation": {"unauthenticatedClientAction": "RedirectToLoginPage",
                                 "redirectToProvider": "twitter"},
            "identityProviders": {"twitter": {"enabled": true,
                "registration": {"consumerKey": "xvz1evFS4wEEPTGEFPHBog",
                                 "consumerSecretSettingName": "TWITTER_PROVIDER_AUTHENTICATION_SECRET"}}}});
        merge(&mut doc, extra);
        doc.to_string()
    };
    let s = parse(&block(json!({})), &e).unwrap();
    assert_eq!(s.default_provider.as_deref(), Some("twitter"));
    let tw = &s.providers[0];
    assert_eq!(
        (tw.name.as_str(), tw.client_id.as_str()),
        ("twitter", "xvz1evFS4wEEPTGEFPHBog")
    );
    assert_eq!(tw.client_auth, ClientAuth::SecretPost("tw-secret".into()));
    assert_eq!(tw.flow, ezauth::providers::twitter::FLOW);
    assert_eq!(
        tw.issuer(),
        None,
        "no JWT issuer: bearer tokens are not Twitter's"
    );
    assert_eq!(
        tw.endpoints,
        config::Endpoints::OAuth1 {
            request_token: "https://api.twitter.com/oauth/request_token".into(),
            authorization: "https://api.twitter.com/oauth/authenticate".into(),
            access_token: "https://api.twitter.com/oauth/access_token".into(),
            api: "https://api.twitter.com/1.1".into(),
        }
    );
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);

    // Moved in the "ezauth" block, one endpoint or all.
    let moved = parse(
        &block(json!({"ezauth": {"providers": {"twitter": {
            "requestTokenEndpoint": "http://127.0.0.1:9000/oauth/request_token",
            "authorizationEndpoint": "https://x.example/oauth/authorize",
            "tokenEndpoint": "http://localhost:9000/oauth/access_token"}}}})),
        &e,
    )
    .unwrap();
    assert_eq!(
        moved.providers[0].endpoints,
        config::Endpoints::OAuth1 {
            request_token: "http://127.0.0.1:9000/oauth/request_token".into(),
            authorization: "https://x.example/oauth/authorize".into(),
            access_token: "http://localhost:9000/oauth/access_token".into(),
            api: "https://api.twitter.com/1.1".into(),
        }
    );

    // Mistakes are named by their path.
    for (extra, path, says) in [
        (
            json!({"ezauth": {"providers": {"twitter": {"requestTokenEndpoint": "http://tw.example/r"}}}}),
            "ezauth.providers.twitter.requestTokenEndpoint",
            "https",
        ),
        (
            json!({"ezauth": {"providers": {"twitter": {"requestTokenEndpiont": "https://x"}}}}),
            "ezauth.providers.twitter.requestTokenEndpiont",
            "unknown field",
        ),
        (
            json!({"ezauth": {"providers": {"github": {"requestTokenEndpoint": "https://x"}}}}),
            "ezauth.providers.github.requestTokenEndpoint",
            "is not one of",
        ),
        (
            json!({"identityProviders": {"twitter": {"registration": {"consumerSecretSettingName": null}}}}),
            "identityProviders.twitter.registration.consumerSecretSettingName",
            "is required",
        ),
        (
            json!({"identityProviders": {"twitter": {"registration": {"consumerSecretSettingName": "UNSET_SECRET"}}}}),
            "identityProviders.twitter.registration.consumerSecretSettingName",
            "UNSET_SECRET",
        ),
        (
            json!({"identityProviders": {"twitter": {"registration": {"clientId": "x"}}}}),
            "identityProviders.twitter.registration.clientId",
            "unknown field",
        ),
        (
            json!({"identityProviders": {"twitter": {"login": {"scopes": []}}}}),
            "identityProviders.twitter.login",
            "unknown field",
        ),
    ] {
        let got = err(&block(extra.clone()), &e);
        assert_eq!(got.path, path, "{extra}: {got}");
        assert!(got.message.contains(says), "{extra}: {got}");
    }

    // A placeholder stays "not configured"; a disabled block is nothing.
    let anon = json!({"globalValidation": {"unauthenticatedClientAction": "AllowAnonymous"}});
    for (tw, warned) in [
        (json!({"enabled": true, "registration": {}}), true),
        (
            json!({"enabled": true, "registration": {"consumerKey": ""}}),
            true,
        ),
        (
            json!({"enabled": false, "registration": {"consumerKey": "x"}}),
            false,
        ),
    ] {
        let mut doc = anon.clone();
        merge(
            &mut doc,
            json!({"identityProviders": {"twitter": tw},
                   "ezauth": {"providers": {"twitter": {"apiEndpoint": "https://tw.example/1.1"}}}}),
        );
        let s = parse(&doc.to_string(), &env()).unwrap();
        assert!(s.providers.is_empty());
        assert_eq!(
            s.warnings,
            if warned {
                vec![not_configured("twitter")]
            } else {
                vec![]
            }
        );
    }

    // App Service's v1 keys and WEBSITE_AUTH_* settings say the same.
    let v1 = json!({"enabled": true, "unauthenticatedClientAction": "AllowAnonymous",
        "twitterConsumerKey": "xvz1evFS4wEEPTGEFPHBog",
        "twitterConsumerSecretSettingName": "TWITTER_PROVIDER_AUTHENTICATION_SECRET"});
    let s = parse(&v1.to_string(), &e).unwrap();
    assert_eq!(s.providers[0].name, "twitter");
    assert_eq!(s.providers[0].client_id, "xvz1evFS4wEEPTGEFPHBog");
    let mut vars = legacy_env();
    vars.insert(
        "WEBSITE_AUTH_TWITTER_CONSUMER_KEY".into(),
        "xvz1evFS4wEEPTGEFPHBog".into(),
    );
    vars.insert(
        "WEBSITE_AUTH_TWITTER_CONSUMER_SECRET".into(),
        "tw-secret".into(),
    );
    let s = parse("", &vars).unwrap();
    let tw = s.providers.iter().find(|p| p.name == "twitter").unwrap();
    assert_eq!(tw.client_auth, ClientAuth::SecretPost("tw-secret".into()));
}

#[test]
fn google_resolves_from_its_block_its_v1_keys_and_its_variables_with_movable_discovery() {
    let e = with(&[("GOOGLE_PROVIDER_AUTHENTICATION_SECRET", "g-secret")]);
    let block = |extra: Value| {
        let mut doc = json!({
            "globalValidation": {"unauthenticatedClientAction": "RedirectToLoginPage",
                                 "redirectToProvider": "google"},
            "identityProviders": {"google": {"enabled": true,
                "registration": {"clientId": "web-1.apps.googleusercontent.com",
                                 "clientSecretSettingName": "GOOGLE_PROVIDER_AUTHENTICATION_SECRET"},
                "login": {"scopes": []},
                "validation": {"allowedAudiences": ["android-1.apps.googleusercontent.com"]}}}});
        merge(&mut doc, extra);
        doc.to_string()
    };
    let s = parse(&block(json!({})), &e).unwrap();
    assert_eq!(s.default_provider.as_deref(), Some("google"));
    let g = &s.providers[0];
    assert_eq!(g.name, "google");
    assert_eq!(g.client_id, "web-1.apps.googleusercontent.com");
    assert_eq!(g.client_auth, ClientAuth::SecretPost("g-secret".into()));
    assert_eq!(g.scopes, ["openid", "profile", "email"]);
    assert_eq!(
        g.allowed_audiences,
        ["android-1.apps.googleusercontent.com"]
    );
    assert_eq!(g.flow, ezauth::providers::oidc::FLOW);
    assert!(g.client_codes && g.sign_out_at_provider);
    assert_eq!(
        g.endpoints,
        config::Endpoints::Discovery {
            url: "https://accounts.google.com/.well-known/openid-configuration".into(),
            issuer: "https://accounts.google.com".into(),
        }
    );
    assert_eq!(g.issuer_aliases, ["accounts.google.com"]);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);

    // Scopes without openid get it: the id_token is the sign-in's proof.
    let s = parse(
        &block(json!({"identityProviders": {"google": {"login": {"scopes": ["email"]}}}})),
        &e,
    )
    .unwrap();
    assert_eq!(s.providers[0].scopes, ["openid", "email"]);

    // Moved in the "ezauth" block: the issuer follows the document's URL unless named.
    for (moved, issuer) in [
        (
            json!({"wellKnownOpenIdConfiguration": "http://127.0.0.1:9000/.well-known/openid-configuration"}),
            "http://127.0.0.1:9000",
        ),
        (
            json!({"wellKnownOpenIdConfiguration": "https://g.example/discovery.json",
                   "issuer": "https://g.example"}),
            "https://g.example",
        ),
    ] {
        let s = parse(
            &block(json!({"ezauth": {"providers": {"google": moved}}})),
            &e,
        )
        .unwrap();
        assert_eq!(s.providers[0].issuer(), Some(issuer));
        assert_eq!(
            s.providers[0].issuer_aliases,
            [issuer.split_once("://").unwrap().1]
        );
    }

    // Mistakes are named by their path.
    for (extra, path, says) in [
        (
            json!({"ezauth": {"providers": {"google": {"wellKnownOpenIdConfiguration": "http://g.example/.well-known/openid-configuration"}}}}),
            "ezauth.providers.google.wellKnownOpenIdConfiguration",
            "https",
        ),
        (
            json!({"ezauth": {"providers": {"google": {"wellKnownOpenIdConfiguration": "https://g.example/discovery.json"}}}}),
            "ezauth.providers.google.wellKnownOpenIdConfiguration",
            "set issuer",
        ),
        (
            json!({"ezauth": {"providers": {"google": {"tokenEndpoint": "https://g.example/token"}}}}),
            "ezauth.providers.google.tokenEndpoint",
            "is not one of",
        ),
        (
            json!({"identityProviders": {"google": {"login": {"scopes": ["open id"]}}}}),
            "identityProviders.google.login.scopes[0]",
            "Google scope",
        ),
        (
            json!({"identityProviders": {"google": {"registration": {"clientSecretSettingName": null}}}}),
            "identityProviders.google.registration.clientSecretSettingName",
            "is required",
        ),
        (
            json!({"identityProviders": {"google": {"validation": {"allowedAudience": []}}}}),
            "identityProviders.google.validation.allowedAudience",
            "unknown field",
        ),
    ] {
        let got = err(&block(extra.clone()), &e);
        assert_eq!(got.path, path, "{extra}: {got}");
        assert!(got.message.contains(says), "{extra}: {got}");
    }

    // A placeholder stays "not configured"; a disabled block is nothing.
    let anon = json!({"globalValidation": {"unauthenticatedClientAction": "AllowAnonymous"}});
    for (g, warned) in [
        (
            json!({"enabled": true, "registration": {}, "login": {}, "validation": {}}),
            true,
        ),
        (
            json!({"enabled": false, "registration": {"clientId": "x"}}),
            false,
        ),
    ] {
        let mut doc = anon.clone();
        merge(&mut doc, json!({"identityProviders": {"google": g}}));
        let s = parse(&doc.to_string(), &env()).unwrap();
        assert!(s.providers.is_empty());
        let expected = if warned {
            vec![not_configured("google")]
        } else {
            vec![]
        };
        assert_eq!(s.warnings, expected);
    }

    // App Service's v1 keys and WEBSITE_AUTH_* settings say the same.
    let v1 = json!({"enabled": true, "unauthenticatedClientAction": "AllowAnonymous",
        "googleClientId": "web-1", "googleClientSecretSettingName": "GOOGLE_PROVIDER_AUTHENTICATION_SECRET",
        "googleOAuthScopes": ["openid", "email"]});
    let s = parse(&v1.to_string(), &e).unwrap();
    assert_eq!(s.providers[0].name, "google");
    assert_eq!(s.providers[0].scopes, ["openid", "email"]);
    let mut vars = legacy_env();
    vars.insert("WEBSITE_AUTH_GOOGLE_CLIENT_ID".into(), "web-1".into());
    vars.insert(
        "WEBSITE_AUTH_GOOGLE_CLIENT_SECRET".into(),
        "g-secret".into(),
    );
    let s = parse("", &vars).unwrap();
    let g = s.providers.iter().find(|p| p.name == "google").unwrap();
    assert_eq!(g.client_auth, ClientAuth::SecretPost("g-secret".into()));
}

#[test]
fn facebook_resolves_from_its_block_its_v1_keys_and_its_variables_with_movable_endpoints() {
    let e = with(&[("FACEBOOK_PROVIDER_AUTHENTICATION_SECRET", "fb-secret")]);
    let block = |extra: Value| {
        let mut doc = json!({
            "globalValidation": {"unauthenticatedClientAction": "RedirectToLoginPage",
                                 "redirectToProvider": "facebook"},
            "identityProviders": {"facebook": {"enabled": true,
                "registration": {"appId": "1234567890",
                                 "appSecretSettingName": "FACEBOOK_PROVIDER_AUTHENTICATION_SECRET"},
                "graphApiVersion": "v19.0",
                "login": {"scopes": ["email", "public_profile"]}}}});
        merge(&mut doc, extra);
        doc.to_string()
    };
    let s = parse(&block(json!({})), &e).unwrap();
    assert_eq!(s.default_provider.as_deref(), Some("facebook"));
    let fb = &s.providers[0];
    assert_eq!(
        (fb.name.as_str(), fb.client_id.as_str()),
        ("facebook", "1234567890")
    );
    assert_eq!(fb.client_auth, ClientAuth::SecretPost("fb-secret".into()));
    assert_eq!(fb.scopes, ["email", "public_profile"]);
    assert_eq!(fb.flow, ezauth::providers::facebook::FLOW);
    assert_eq!(
        fb.issuer(),
        None,
        "no JWT issuer: bearer tokens are not Facebook's"
    );
    assert_eq!(
        fb.endpoints,
        config::Endpoints::OAuth2 {
            authorization: "https://www.facebook.com/v19.0/dialog/oauth".into(),
            token: "https://graph.facebook.com/v19.0/oauth/access_token".into(),
            api: "https://graph.facebook.com/v19.0".into(),
        }
    );
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);

    // No version pinned: Facebook's current (App Service since 1.4.6).
    let s = parse(
        &block(json!({"identityProviders": {"facebook": {"graphApiVersion": null}}})),
        &e,
    )
    .unwrap();
    assert_eq!(
        s.providers[0].endpoints,
        config::Endpoints::OAuth2 {
            authorization: "https://www.facebook.com/dialog/oauth".into(),
            token: "https://graph.facebook.com/oauth/access_token".into(),
            api: "https://graph.facebook.com".into(),
        }
    );

    // Moved in the "ezauth" block.
    let moved = parse(
        &block(json!({"ezauth": {"providers": {"facebook": {
            "apiEndpoint": "http://127.0.0.1:9000/v19.0"}}}})),
        &e,
    )
    .unwrap();
    let config::Endpoints::OAuth2 { api, .. } = &moved.providers[0].endpoints else {
        panic!("OAuth 2.0 endpoints")
    };
    assert_eq!(api, "http://127.0.0.1:9000/v19.0");

    // Mistakes are named by their path.
    for (extra, path, says) in [
        (
            json!({"identityProviders": {"facebook": {"graphApiVersion": "19/../x"}}}),
            "identityProviders.facebook.graphApiVersion",
            "Graph API version",
        ),
        (
            json!({"identityProviders": {"facebook": {"registration": {"appId": "my-app"}}}}),
            "identityProviders.facebook.registration.appId",
            "digits",
        ),
        (
            json!({"identityProviders": {"facebook": {"registration": {"appSecretSettingName": null}}}}),
            "identityProviders.facebook.registration.appSecretSettingName",
            "is required",
        ),
        (
            json!({"identityProviders": {"facebook": {"registration": {"clientId": "1"}}}}),
            "identityProviders.facebook.registration.clientId",
            "unknown field",
        ),
        (
            json!({"identityProviders": {"facebook": {"login": {"scopes": ["user birthday"]}}}}),
            "identityProviders.facebook.login.scopes[0]",
            "Facebook permission",
        ),
        (
            json!({"ezauth": {"providers": {"facebook": {"issuer": "https://x"}}}}),
            "ezauth.providers.facebook.issuer",
            "is not one of",
        ),
        (
            json!({"ezauth": {"providers": {"facebook": {"tokenEndpoint": "http://fb.example/t"}}}}),
            "ezauth.providers.facebook.tokenEndpoint",
            "https",
        ),
    ] {
        let got = err(&block(extra.clone()), &e);
        assert_eq!(got.path, path, "{extra}: {got}");
        assert!(got.message.contains(says), "{extra}: {got}");
    }

    // App Service's v1 keys and WEBSITE_AUTH_* settings say the same.
    let v1 = json!({"enabled": true, "unauthenticatedClientAction": "AllowAnonymous",
        "facebookAppId": "1234567890", "facebookAppSecretSettingName": "FACEBOOK_PROVIDER_AUTHENTICATION_SECRET",
        "facebookOAuthScopes": ["email"]});
    let s = parse(&v1.to_string(), &e).unwrap();
    assert_eq!(s.providers[0].name, "facebook");
    assert_eq!(s.providers[0].scopes, ["email"]);
    let mut vars = legacy_env();
    vars.insert("WEBSITE_AUTH_FB_APP_ID".into(), "1234567890".into());
    vars.insert("WEBSITE_AUTH_FB_APP_SECRET".into(), "fb-secret".into());
    let s = parse("", &vars).unwrap();
    let fb = s.providers.iter().find(|p| p.name == "facebook").unwrap();
    assert_eq!(fb.client_auth, ClientAuth::SecretPost("fb-secret".into()));
}

// ---- the Azure Blob token store ----

#[test]
fn a_container_sas_url_puts_tokens_in_azure_blob() {
    const SAS: &str =
        "https://acct.blob.core.windows.net/tokens?sv=2023-11-03&sr=c&sp=rwl&sig=s3cr3t%2B";
    let store = |ts: Value| {
        json!({"globalValidation": {"unauthenticatedClientAction": "AllowAnonymous"},
            "login": {"tokenStore": ts}})
        .to_string()
    };
    let blob_of = |s: &Settings| match s.token_store.as_ref() {
        Some(config::StoreSettings::Blob {
            container, setting, ..
        }) => Some((container.shown().to_owned(), setting.clone())),
        _ => None,
    };
    // sasUrlSettingName names the variable; it wins over fileSystem, as on App Service.
    let named = json!({"enabled": true, "fileSystem": {"directory": "/srv/t"},
        "azureBlobStorage": {"sasUrlSettingName": "TOKENS_SAS"}});
    let s = parse(&store(named.clone()), &with(&[("TOKENS_SAS", SAS)])).unwrap();
    assert_eq!(
        blob_of(&s),
        Some((
            "https://acct.blob.core.windows.net/tokens".into(),
            "TOKENS_SAS".into()
        ))
    );
    assert!(!format!("{:?}", s.token_store).contains("s3cr3t"));
    // The v1 variable alone does too, over fileSystem.
    let file = json!({"enabled": true, "fileSystem": {"directory": "/srv/t"}});
    let s = parse(
        &store(file.clone()),
        &with(&[("WEBSITE_AUTH_TOKEN_CONTAINER_SASURL", SAS)]),
    )
    .unwrap();
    assert_eq!(
        blob_of(&s).map(|b| b.1),
        Some("WEBSITE_AUTH_TOKEN_CONTAINER_SASURL".into())
    );
    // The timeouts and the staleness bound of the "ezauth" block reach the store.
    let mut v: Value = serde_json::from_str(&store(file.clone())).unwrap();
    let sas = with(&[("WEBSITE_AUTH_TOKEN_CONTAINER_SASURL", SAS)]);
    let s = parse(&v.to_string(), &sas).unwrap();
    assert!(matches!(
        s.token_store,
        Some(config::StoreSettings::Blob { http_timeout, staleness, .. })
            if http_timeout == Duration::from_secs(10) && staleness == Duration::from_secs(2)
    ));
    v["ezauth"] = json!({"httpTimeoutSeconds": 30, "azureBlobStorage": {"stalenessSeconds": 0.5}});
    let s = parse(&v.to_string(), &sas).unwrap();
    assert!(matches!(
        s.token_store,
        Some(config::StoreSettings::Blob { http_timeout, staleness, .. })
            if http_timeout == Duration::from_secs(30) && staleness == Duration::from_millis(500)
    ));
    for bad in [0.0, -1.0, 61.0] {
        v["ezauth"] = json!({"azureBlobStorage": {"stalenessSeconds": bad}});
        let e = err(&v.to_string(), &sas);
        assert_eq!(e.path, "ezauth.azureBlobStorage.stalenessSeconds", "{bad}");
    }
    // A disabled token store is none, whatever the variables say.
    let off = json!({"enabled": false, "azureBlobStorage": {"sasUrlSettingName": "TOKENS_SAS"}});
    let s = parse(&store(off), &with(&[("TOKENS_SAS", SAS)])).unwrap();
    assert!(s.token_store.is_none());
    // Bad values stop the start, naming the setting, never repeating the signature.
    for (ts, var, value, path) in [
        (
            named.clone(),
            "OTHER",
            SAS,
            "login.tokenStore.azureBlobStorage.sasUrlSettingName",
        ),
        (
            named.clone(),
            "TOKENS_SAS",
            "http://acct.blob.core.windows.net/tokens?sig=s3cr3t",
            "login.tokenStore.azureBlobStorage.sasUrlSettingName",
        ),
        (
            file.clone(),
            "WEBSITE_AUTH_TOKEN_CONTAINER_SASURL",
            "https://acct.blob.core.windows.net/?sp=rwl&sig=s3cr3t",
            "WEBSITE_AUTH_TOKEN_CONTAINER_SASURL",
        ),
        (
            file.clone(),
            "WEBSITE_AUTH_TOKEN_CONTAINER_SASURL",
            "https://acct.blob.core.windows.net/tokens?sv=2023-11-03&sp=rwl",
            "WEBSITE_AUTH_TOKEN_CONTAINER_SASURL",
        ),
    ] {
        let e = err(&store(ts), &with(&[(var, value)]));
        assert_eq!(e.path, path, "{value}: {e}");
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
    }
    // Plain http to a loopback host is Azurite's.
    let local = "http://127.0.0.1:10000/devstoreaccount1/tokens?sv=2023-11-03&sp=rwl&sig=x";
    let s = parse(&store(named), &with(&[("TOKENS_SAS", local)])).unwrap();
    assert!(blob_of(&s).is_some());
}
