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
