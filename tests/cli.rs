//! The `ezauth` command: `keygen` prints usable keys; `check-config` accepts what a host
//! accepts and names the field it refuses.

use std::process::Command;

fn ezauth() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ezauth"))
}

fn write_config(name: &str, json: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ezauth-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, json).unwrap();
    path
}

#[test]
fn keygen_prints_two_fresh_64_hex_keys() {
    let run = || String::from_utf8(ezauth().arg("keygen").output().unwrap().stdout).unwrap();
    let (a, b) = (run(), run());
    assert_ne!(a, b);
    for name in ["WEBSITE_AUTH_ENCRYPTION_KEY", "WEBSITE_AUTH_SIGNING_KEY"] {
        let line = a.lines().find(|l| l.starts_with(name)).unwrap();
        let key = line.split_once('=').unwrap().1;
        assert_eq!(key.len(), 64);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
    }
}

#[test]
fn check_config_accepts_a_good_file_and_names_bad_fields() {
    let keys = [
        ("WEBSITE_AUTH_ENCRYPTION_KEY", "ab".repeat(32)),
        ("WEBSITE_AUTH_SIGNING_KEY", "cd".repeat(32)),
    ];
    let good = write_config(
        "good.json",
        r#"{"globalValidation":{"unauthenticatedClientAction":"AllowAnonymous"}}"#,
    );
    let out = ezauth()
        .arg("check-config")
        .arg(&good)
        .envs(keys.clone())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    for (json, field) in [
        (r#"{"globalValidaton":{}}"#, "globalValidaton"),
        (
            r#"{"httpSettings":{"requireHttps":"yes"}}"#,
            "httpSettings.requireHttps",
        ),
    ] {
        let bad = write_config("bad.json", json);
        let out = ezauth()
            .arg("check-config")
            .arg(&bad)
            .envs(keys.clone())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(field),
            "{json}"
        );
    }
    let out = ezauth()
        .arg("check-config")
        .arg(&good)
        .env_remove("WEBSITE_AUTH_SIGNING_KEY")
        .envs([keys[0].clone()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("WEBSITE_AUTH_SIGNING_KEY"));
}

#[test]
fn check_config_prints_the_authsettings_v2_equivalent_of_legacy_configuration() {
    let keys = [
        ("WEBSITE_AUTH_ENCRYPTION_KEY", "ab".repeat(32)),
        ("WEBSITE_AUTH_SIGNING_KEY", "cd".repeat(32)),
    ];
    let inline_secret = "v1-inline-Secret~42";
    let v1 = write_config(
        "v1.json",
        &format!(
            r#"{{"id":"/subscriptions/s/resourceGroups/r/providers/Microsoft.Web/sites/a/config/authsettings",
            "name":"authsettings","type":"Microsoft.Web/sites/config","location":"West Europe",
            "properties":{{"enabled":true,"unauthenticatedClientAction":"RedirectToLoginPage",
            "defaultProvider":"AzureActiveDirectory","clientId":"legacy-client",
            "clientSecret":"{inline_secret}","issuer":"https://sts.windows.net/tenant/",
            "tokenStoreEnabled":false,"configVersion":"v1"}}}}"#
        ),
    );
    for args in [["--print-v2", "FILE"], ["FILE", "--print-v2"]] {
        let out = ezauth()
            .arg("check-config")
            .args(args.map(|a| {
                if a == "FILE" {
                    v1.clone().into_os_string()
                } else {
                    a.into()
                }
            }))
            .envs(keys.clone())
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{stderr}");
        assert!(!stdout.contains(inline_secret) && !stderr.contains(inline_secret));
        let tree: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let aad = &tree["identityProviders"]["azureActiveDirectory"];
        assert_eq!(aad["registration"]["clientId"], "legacy-client");
        assert_eq!(
            aad["registration"]["clientSecretSettingName"],
            "MICROSOFT_PROVIDER_AUTHENTICATION_SECRET"
        );
        assert_eq!(
            tree["globalValidation"]["redirectToProvider"],
            "azureactivedirectory"
        );
        assert!(
            stderr.contains(
                "note: set the environment variable MICROSOFT_PROVIDER_AUTHENTICATION_SECRET"
            ),
            "{stderr}"
        );
        assert!(
            stderr.contains("warning: clientSecret holds the secret inline"),
            "{stderr}"
        );

        // The printout, with the secret where the note says, is accepted as it is.
        let printed = write_config("printed.json", &stdout);
        let out = ezauth()
            .arg("check-config")
            .arg(&printed)
            .envs(keys.clone())
            .env("MICROSOFT_PROVIDER_AUTHENTICATION_SECRET", inline_secret)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("providers: aad"));
    }

    // An empty file: the WEBSITE_AUTH_* settings, printed as authsettingsV2.
    let out = ezauth()
        .args(["check-config", "/dev/null", "--print-v2"])
        .envs(keys.clone())
        .env("WEBSITE_AUTH_UNAUTHENTICATED_ACTION", "AllowAnonymous")
        .env("WEBSITE_AUTH_API_PREFIX", "/auth")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        tree["globalValidation"]["unauthenticatedClientAction"],
        "AllowAnonymous"
    );
    assert_eq!(tree["httpSettings"]["routes"]["apiPrefix"], "/auth");

    // A configuration that does not load prints nothing and fails as check-config does.
    let bad = write_config("bad-v1.json", r#"{"enabled":true,"clientIdd":"x"}"#);
    let out = ezauth()
        .arg("check-config")
        .arg(&bad)
        .arg("--print-v2")
        .envs(keys.clone())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("clientIdd"));

    // check-config itself prints the warnings a host would log.
    let export = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/appservice/portal-quick-setup.json"
    );
    let out = ezauth()
        .args(["check-config", export])
        .envs(keys)
        .env("MICROSOFT_PROVIDER_AUTHENTICATION_SECRET", "s")
        // the export names no token directory: keep the default one out of the system
        .env(
            "WEBSITE_AUTH_STATE_DIRECTORY",
            write_config("x", "").with_file_name("tokens"),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: identityProviders.google has no client id"),
        "{stderr}"
    );
}
