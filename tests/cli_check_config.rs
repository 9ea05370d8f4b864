//! `ezauth check-config FILE [--user NAME]` says what a host would say: it opens the token
//! store and checks it as the workers' user (the check nginx makes at `nginx -t`), with the
//! host's message, and exits 2 on exactly what a host refuses. The `--user` cases switch users,
//! so they run as root (CI does).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ezauth::pipeline::Module;
use ezauth::store::access::Worker;

fn ezauth() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ezauth"))
}

const KEYS: [(&str, &str); 2] = [
    (
        "WEBSITE_AUTH_ENCRYPTION_KEY",
        "abababababababababababababababababababababababababababababababab",
    ),
    (
        "WEBSITE_AUTH_SIGNING_KEY",
        "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
    ),
];

fn require_root(test: &str) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!("{test} checks as www-data and must run as root (CI does)");
    }
}

/// A fresh directory that every user can enter (not /tmp: root-only on CI machines).
fn scratch(tag: &str) -> PathBuf {
    let base = if unsafe { libc::geteuid() } == 0 {
        PathBuf::from("/var/tmp")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!(
        "ezauth-cli-check-{tag}-{}-{}",
        std::process::id(),
        ezauth::crypto::random_token(4)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    dir
}

/// A configuration with its file token store in `tokens`.
fn config_with_store(dir: &Path, tokens: &Path) -> PathBuf {
    let path = dir.join("authsettings.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}},
                "login":{{"tokenStore":{{"enabled":true,"fileSystem":{{"directory":"{}"}}}}}}}}"#,
            tokens.display()
        ),
    )
    .unwrap();
    path
}

fn check(file: &Path, args: &[&str]) -> Output {
    ezauth()
        .arg("check-config")
        .arg(file)
        .args(args)
        .envs(KEYS)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn www_data() -> Worker {
    Worker::by_name("www-data").unwrap()
}

fn chown(path: &Path, w: &Worker) {
    std::os::unix::fs::chown(path, Some(w.uid), Some(w.gid)).unwrap();
}

/// The message a host gets from the library for this configuration and user.
fn host_message(file: &Path, worker: &Worker) -> String {
    for (k, v) in KEYS {
        std::env::set_var(k, v);
    }
    let module = Module::from_config_file(file, ezauth::logger::Logger::silent()).unwrap();
    module.check_store(worker).unwrap_err()
}

#[test]
fn without_user_the_store_is_checked_as_the_caller_and_made_owner_only() {
    let dir = scratch("self");
    let tokens = dir.join("a").join("tokens");
    let file = config_with_store(&dir, &tokens);
    let out = check(&file, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let meta = std::fs::metadata(&tokens).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o700);
    assert_eq!(
        std::fs::read_dir(&tokens).unwrap().count(),
        0,
        "the probe is gone"
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("token store: on, usable by"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_store_path_that_is_a_file_is_refused_as_a_host_refuses_it() {
    let dir = scratch("file");
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, "").unwrap();
    let out = check(&config_with_store(&dir, &tokens), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not a directory"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn as_www_data_every_unusable_directory_is_refused_with_the_hosts_message() {
    require_root("as_www_data_every_unusable_directory_is_refused_with_the_hosts_message");
    let www = www_data();
    let dir = scratch("www");
    // (name, how the directory is set up, what the message says)
    type Setup = fn(&Path, &Worker);
    let cases: [(&str, Setup, &str); 5] = [
        (
            "root-owned",
            |t, _| std::fs::create_dir(t).unwrap(),
            "belongs to root (uid 0)",
        ),
        (
            "parent-0700",
            |t, w| {
                let parent = t.parent().unwrap();
                std::fs::create_dir(parent).unwrap();
                std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700)).unwrap();
                std::fs::create_dir(t).unwrap();
                chown(t, w);
            },
            "cannot enter",
        ),
        (
            "missing-under-root",
            |t, _| {
                let parent = t.parent().unwrap();
                std::fs::create_dir(parent).unwrap();
                std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755)).unwrap();
            },
            "cannot create",
        ),
        (
            "read-only-0500",
            |t, w| {
                std::fs::create_dir(t).unwrap();
                chown(t, w);
                std::fs::set_permissions(t, std::fs::Permissions::from_mode(0o500)).unwrap();
            },
            "cannot create a file in it",
        ),
        (
            "table-left-by-root",
            |t, w| {
                std::fs::create_dir(t).unwrap();
                chown(t, w);
                std::fs::write(t.join(".generations"), [0u8; 64]).unwrap();
                std::fs::set_permissions(
                    t.join(".generations"),
                    std::fs::Permissions::from_mode(0o600),
                )
                .unwrap();
            },
            ".generations",
        ),
    ];
    for (name, setup, says) in cases {
        let case = dir.join(name);
        std::fs::create_dir(&case).unwrap();
        let tokens = case.join("sub").join("tokens");
        std::fs::create_dir_all(tokens.parent().unwrap().parent().unwrap()).unwrap();
        if name != "parent-0700" && name != "missing-under-root" {
            std::fs::create_dir(tokens.parent().unwrap()).unwrap();
        }
        setup(&tokens, &www);
        let file = config_with_store(&case, &tokens);
        let out = check(&file, &["--user", "www-data"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(says), "{name}: {err}");
        assert!(
            err.contains(&tokens.display().to_string()),
            "{name} names the directory: {err}"
        );
        assert!(
            err.contains("www-data (uid 33, gid 33)"),
            "{name} names the user: {err}"
        );
        assert!(
            err.contains("Fix:") || err.contains("install -d -o www-data -g www-data -m 700"),
            "{name} says the fix: {err}"
        );
        // Exactly what nginx logs after `ezauth_config "...": `.
        assert_eq!(
            err.trim_end(),
            format!("{}: {}", file.display(), host_message(&file, &www)),
            "{name}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn as_www_data_a_directory_made_as_the_readme_says_passes() {
    require_root("as_www_data_a_directory_made_as_the_readme_says_passes");
    let www = www_data();
    let dir = scratch("www-ok");
    let tokens = dir.join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    chown(&tokens, &www);
    let out = check(&config_with_store(&dir, &tokens), &["--user", "www-data"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("usable by www-data (uid 33, gid 33)"));
    // A missing directory whose parent www-data owns is made, as www-data, owner-only.
    let parent = dir.join("www-parent");
    std::fs::create_dir(&parent).unwrap();
    chown(&parent, &www);
    let made = parent.join("tokens");
    let out = check(&config_with_store(&dir, &made), &["--user=www-data"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let meta = std::fs::metadata(&made).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (www.uid, 0o700));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_arguments_and_unknown_users() {
    let dir = scratch("args");
    let file = config_with_store(&dir, &dir.join("tokens"));
    for args in [
        vec!["check-config"],
        vec!["check-config", "--user"],
        vec!["check-config", "--frobnicate"],
        vec!["check-config", "a.json", "b.json"],
    ] {
        let out = ezauth().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(64), "{args:?}: {}", stderr(&out));
    }
    let out = check(&file, &["--user", "no-such-user-ezauth"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no user \"no-such-user-ezauth\""),
        "{}",
        stderr(&out)
    );
    // A configuration without a token store has nothing to check, whoever the user.
    let plain = dir.join("plain.json");
    std::fs::write(
        &plain,
        r#"{"globalValidation":{"unauthenticatedClientAction":"AllowAnonymous"}}"#,
    )
    .unwrap();
    let out = check(&plain, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("token store: off"));
    std::fs::remove_dir_all(&dir).unwrap();
}
