//! `ezauth store` (the built binary) against real stores: a file store directory, Debian's
//! `redis-server` and Azurite. Records are written and checked through the library (the
//! store a module would open from the same configuration); the command line does the rest.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use ezauth::crypto::Purpose;
use ezauth::logger::Logger;
use ezauth::store::admin::Entries;
use ezauth::store::{TokenRecord, Update};
use support::azurite::Azurite;
use support::redis_server::RedisServer;

const KEY: &str = "5555555555555555555555555555555555555555555555555555555555555555";
const NEW_KEY: &str = "7777777777777777777777777777777777777777777777777777777777777777";
const SIGNING: &str = "6666666666666666666666666666666666666666666666666666666666666666";

/// A configuration file of one store and the environment it is loaded with.
struct Store {
    config: PathBuf,
    env: HashMap<String, String>,
}

static N: AtomicUsize = AtomicUsize::new(0);

fn scratch(tag: &str) -> PathBuf {
    support::scratch(&format!("store-cli-{tag}"))
}

impl Store {
    /// `store` is the `tokenStore` part of the configuration, `ezauth` the `ezauth` block.
    fn new(login_store: &str, ezauth: &str, env: &[(&str, &str)]) -> Store {
        let dir = scratch("config");
        let config = dir.join(format!(
            "authsettings-{}.json",
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(
            &config,
            format!(
                r#"{{"globalValidation":{{"unauthenticatedClientAction":"AllowAnonymous"}},
                    "login":{{"tokenStore":{login_store}}},"ezauth":{ezauth}}}"#
            ),
        )
        .unwrap();
        let mut all = HashMap::from([
            ("WEBSITE_AUTH_ENCRYPTION_KEY".to_owned(), KEY.to_owned()),
            ("WEBSITE_AUTH_SIGNING_KEY".to_owned(), SIGNING.to_owned()),
        ]);
        all.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Store { config, env: all }
    }

    /// The same store after a key rotation: `current` is the encryption key, and the key this
    /// configuration had is named by `ezauth.previousEncryptionKeySettingNames`.
    fn rotated(&self, current: &str) -> Store {
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&self.config).unwrap()).unwrap();
        config["ezauth"]["previousEncryptionKeySettingNames"] = serde_json::json!(["OLD_KEY"]);
        let path = self.config.with_extension(format!(
            "rotated-{}.json",
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, config.to_string()).unwrap();
        let mut env = self.env.clone();
        env.insert("OLD_KEY".into(), env["WEBSITE_AUTH_ENCRYPTION_KEY"].clone());
        env.insert("WEBSITE_AUTH_ENCRYPTION_KEY".into(), current.into());
        Store { config: path, env }
    }

    fn file(dir: &Path) -> Store {
        Store::new(
            &format!(
                r#"{{"enabled":true,"fileSystem":{{"directory":"{}"}}}}"#,
                dir.display()
            ),
            "{}",
            &[],
        )
    }

    fn redis(server: &RedisServer) -> Store {
        let var = format!("REDIS_URL_{}", N.fetch_add(1, Ordering::Relaxed));
        Store::new(
            r#"{"enabled":true}"#,
            &format!(
                r#"{{"tokenStore":{{"redis":{{"urlSettingName":"{var}","timeoutSeconds":2,
                    "connectTimeoutSeconds":1}}}}}}"#
            ),
            &[(&var, &server.url())],
        )
    }

    fn blob(azurite: &Azurite, container: &str) -> Store {
        let var = format!("SAS_{}", N.fetch_add(1, Ordering::Relaxed));
        let url = azurite.container(container, "rwdl");
        Store::new(
            &format!(r#"{{"enabled":true,"azureBlobStorage":{{"sasUrlSettingName":"{var}"}}}}"#),
            "{}",
            &[(&var, &url)],
        )
    }

    /// The store as a module loading this configuration opens it (a fresh cache).
    fn open(&self) -> Box<dyn Entries> {
        let text = std::fs::read_to_string(&self.config).unwrap();
        let settings = ezauth::config::parse(&text, &self.env).unwrap_or_else(|e| panic!("{e}"));
        ezauth::store::open_entries(
            settings.token_store.as_ref(),
            &settings.keys,
            1 << 20,
            &Logger::silent(),
        )
        .unwrap()
        .unwrap()
    }

    /// `ezauth store <args>` with this store's environment (and `with`'s).
    fn run(&self, args: &[&str], with: Option<&Store>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ezauth"));
        cmd.arg("store").args(args).env_clear().envs(&self.env);
        if let Some(other) = with {
            cmd.envs(&other.env);
        }
        cmd.output().unwrap()
    }

    fn cfg(&self) -> &str {
        self.config.to_str().unwrap()
    }
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "{:?}\n{}\n{}",
        o.status,
        out(&o),
        err(&o)
    );
    out(&o)
}

fn user(i: usize) -> String {
    format!("sid:user-{i}")
}

fn record(i: usize, generation: usize) -> TokenRecord {
    TokenRecord {
        provider_name: "aad".into(),
        user_id: format!("user{i}@example.test"),
        access_token: Some(format!("access-{i}-{generation}")),
        refresh_token: Some(format!("refresh-{i}-{generation}")),
        expires_on: Some("2099-01-01T00:00:00.0000000Z".into()),
        ..Default::default()
    }
}

/// Writes users `0..n`, generation 0.
fn fill(store: &dyn Entries, n: usize) {
    for i in 0..n {
        store.save(&user(i), &record(i, 0)).unwrap();
    }
}

/// Writes user `i`'s record (generation 0) as an older version did (bound to the user id
/// only); its entry name.
fn write_legacy(store: &dyn Entries, i: usize) -> String {
    let plain = serde_json::to_vec(&record(i, 0)).unwrap();
    let legacy = store
        .keys()
        .seal(Purpose::TokenStore, user(i).as_bytes(), &plain);
    let name = store.keys().store_file_name(&user(i));
    store
        .with_lock(&name, &mut |held| held.write(&name, &legacy))
        .unwrap();
    name
}

/// The entry names `ls` lists, page by page of `size`: every page at most `size`.
fn ls_pages(store: &Store, size: usize) -> (Vec<String>, usize) {
    let (mut names, mut pages, mut after) = (Vec::new(), 0, None::<String>);
    loop {
        let size_arg = size.to_string();
        let mut args = vec!["ls", store.cfg(), "--page-size", &size_arg];
        if let Some(a) = &after {
            args.extend(["--after", a]);
        }
        let text = ok(store.run(&args, None));
        let lines: Vec<&str> = text.lines().collect();
        let (last, entries) = lines.split_last().unwrap();
        assert!(entries.len() <= size, "{text}");
        names.extend(
            entries
                .iter()
                .map(|l| l.split_whitespace().next().unwrap().to_owned()),
        );
        pages += 1;
        match last.split_once("--after '") {
            Some((_, rest)) => after = Some(rest.trim_end_matches('\'').to_owned()),
            None => {
                assert!(last.ends_with("(the last)"), "{last}");
                return (names, pages);
            }
        }
    }
}

fn count(store: &Store) -> usize {
    let text = ok(store.run(&["ls", store.cfg()], None));
    let last = text.lines().last().unwrap();
    last.strip_suffix(" entries").unwrap().parse().unwrap()
}

fn ls_paging_show_rm_purge(store: &Store) {
    let s = store.open();
    fill(s.as_ref(), 25);
    let (names, pages) = ls_pages(store, 10);
    let distinct: BTreeSet<_> = names.iter().cloned().collect();
    assert_eq!((names.len(), distinct.len()), (25, 25), "{names:?}");
    assert!(pages >= 3, "{pages} pages");
    let expected: BTreeSet<_> = (0..25)
        .map(|i| s.keys().store_file_name(&user(i)))
        .collect();
    assert_eq!(distinct, expected);
    let all = ok(store.run(&["ls", store.cfg()], None));
    assert!(
        all.contains(&format!("owner {}  provider aad", user(3))),
        "{all}"
    );
    assert_eq!(count(store), 25);

    let shown = ok(store.run(&["show", store.cfg(), &user(3)], None));
    assert!(
        shown.contains("\"acce…\"") && shown.contains("\"refr…\""),
        "{shown}"
    );
    assert!(
        !shown.contains("access-3-0") && !shown.contains("refresh-3-0"),
        "{shown}"
    );
    let revealed = ok(store.run(&["show", store.cfg(), &user(3), "--reveal"], None));
    assert!(revealed.contains("\"access-3-0\"") && revealed.contains("\"refresh-3-0\""));

    ok(store.run(&["rm", store.cfg(), &user(3)], None));
    assert!(store.open().load(&user(3)).unwrap().is_none());
    let gone = store.run(&["show", store.cfg(), &user(3)], None);
    assert_eq!(gone.status.code(), Some(1), "{}", err(&gone));
    assert_eq!(count(store), 24);

    // Users 0..5 (but 3, removed) expired on 2020-01-01 without a refresh token, 5..8 with
    // one (kept for the refresh extension, 72 hours by default), the others in 2099.
    for i in (0..8).filter(|&i| i != 3) {
        let mut r = record(i, 1);
        r.expires_on = Some("2020-01-01T00:00:00Z".into());
        if i < 5 {
            r.refresh_token = None;
        }
        s.save(&user(i), &r).unwrap();
    }
    let purged = ok(store.run(
        &["purge", store.cfg(), "--expired-before", "2020-01-02"],
        None,
    ));
    assert!(purged.contains("purged 4, kept 20"), "{purged}");
    assert_eq!(count(store), 20);
    let purged = ok(store.run(
        &[
            "purge",
            store.cfg(),
            "--expired-before",
            "2020-01-04T00:00:01Z",
        ],
        None,
    ));
    assert!(purged.contains("purged 3, kept 17"), "{purged}");
    let fresh = store.open();
    assert!(fresh.load(&user(7)).unwrap().is_none());
    assert_eq!(
        fresh.load(&user(8)).unwrap().unwrap().as_ref(),
        &record(8, 0)
    );

    // A user signed out of a session (a logout's mark in the record): rm and purge take the
    // identity and tokens, never the mark, or that (perhaps stolen) session would work again.
    for (i, args) in [
        (9, vec!["rm", store.cfg(), &user(9)]),
        (
            10,
            vec!["purge", store.cfg(), "--expired-before", "2020-01-02"],
        ),
    ] {
        let mut r = record(i, 1);
        r.expires_on = Some("2020-01-01T00:00:00Z".into());
        r.refresh_token = None;
        r.revoked.revoke("stolen-session", i64::MAX / 2, 0);
        s.save(&user(i), &r).unwrap();
        ok(store.run(&args, None));
        let left = store
            .open()
            .load(&user(i))
            .unwrap()
            .expect("the marks stay");
        assert!(
            left.revoked.revokes("stolen-session", 1),
            "{args:?}: {left:?}"
        );
        assert!(
            left.user_id.is_empty() && left.access_token.is_none(),
            "{args:?}: {left:?}"
        );
    }
}

#[test]
fn ls_pages_show_masks_rm_and_purge_on_every_store() {
    ls_paging_show_rm_purge(&Store::file(&scratch("ls")));
    let redis = RedisServer::start();
    ls_paging_show_rm_purge(&Store::redis(&redis));
    let azurite = Azurite::start();
    ls_paging_show_rm_purge(&Store::blob(&azurite, "listing"));
}

#[test]
fn usage_errors_exit_64() {
    let store = Store::file(&scratch("usage"));
    for args in [
        vec!["ls"],
        vec!["ls", store.cfg(), "--page-size", "0"],
        vec!["show", store.cfg()],
        vec!["purge", store.cfg(), "--expired-before", "someday"],
        vec!["migrate", "--from", store.cfg()],
        vec!["frobnicate"],
    ] {
        let o = store.run(&args, None);
        assert_eq!(o.status.code(), Some(64), "{args:?}: {}", err(&o));
        assert!(err(&o).contains("usage: ezauth store"), "{args:?}");
    }
}

#[test]
fn an_argument_that_is_not_utf8_is_a_usage_error() {
    use std::os::unix::ffi::OsStrExt;
    let store = Store::file(&scratch("utf8"));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_ezauth"))
        .args(["store", "show", store.cfg()])
        .arg(std::ffi::OsStr::from_bytes(b"\xff\xfe"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(64), "{}", err(&o));
    assert!(err(&o).contains("not valid UTF-8"), "{}", err(&o));
}

#[test]
fn ls_goes_on_past_an_entry_it_cannot_read() {
    let dir = scratch("ls-unreadable");
    let store = Store::file(&dir);
    fill(&*store.open(), 3);
    // Sorted first among the names: an oversized entry the file store refuses to read.
    std::fs::write(
        dir.join(format!("{}.tok", "0".repeat(32))),
        vec![b'x'; 2 << 20],
    )
    .unwrap();
    let listed = ok(store.run(&["ls", store.cfg()], None));
    assert!(listed.contains("unreadable"), "{listed}");
    assert!(listed.contains("4 entries"), "{listed}");
}

/// Every user `0..n` opens at `to` with `expected(i)`.
fn same_records(to: &Store, n: usize, expected: impl Fn(usize) -> TokenRecord) {
    let store = to.open();
    for i in 0..n {
        let got = store.load(&user(i)).unwrap();
        assert_eq!(got.as_deref(), Some(&expected(i)), "user {i}");
    }
}

fn migrate(from: &Store, to: &Store, journal: &Path, extra: &[&str]) -> Output {
    let j = journal.to_str().unwrap();
    let mut args = vec![
        "migrate",
        "--from",
        from.cfg(),
        "--to",
        to.cfg(),
        "--journal",
        j,
    ];
    args.extend(extra);
    from.run(&args, Some(to))
}

#[test]
fn migrate_file_to_redis_to_blob_to_file_resumes_and_keeps_newer_records() {
    let dir = scratch("journal");
    let file = Store::file(&scratch("from"));
    let redis_server = RedisServer::start();
    let redis = Store::redis(&redis_server);
    let azurite = Azurite::start();
    let blob = Store::blob(&azurite, "migrate");
    let back = Store::file(&scratch("back"));

    let source = file.open();
    fill(source.as_ref(), 24);
    write_legacy(source.as_ref(), 24);
    let listed = ok(file.run(&["ls", file.cfg()], None));
    assert!(
        listed.contains("owner unknown (written by an older version"),
        "{listed}"
    );

    // Interrupted after 10 entries, then resumed.
    let first = ok(migrate(&file, &redis, &dir.join("1"), &["--limit", "10"]));
    assert!(
        first.contains("copied 10, skipped 0") && first.contains("run again"),
        "{first}"
    );
    let rest = ok(migrate(&file, &redis, &dir.join("1"), &[]));
    assert!(
        rest.contains("copied 15, skipped 10, kept newer 0, failed 0"),
        "{rest}"
    );
    same_records(&redis, 25, |i| record(i, 0));
    let again = ok(migrate(&file, &redis, &dir.join("1"), &[]));
    assert!(
        again.contains("copied 0, skipped 25, kept newer 0, failed 0"),
        "{again}"
    );

    let to_blob = ok(migrate(&redis, &blob, &dir.join("2"), &[]));
    assert!(to_blob.contains("copied 25, skipped 0"), "{to_blob}");
    same_records(&blob, 25, |i| record(i, 0));
    let to_file = ok(migrate(&blob, &back, &dir.join("3"), &[]));
    assert!(to_file.contains("copied 25, skipped 0"), "{to_file}");
    same_records(&back, 25, |i| record(i, 0));

    // The site moves to Redis: user 1 signs in there (a newer record), while on the old
    // store users 1 and 2 refreshed before their nodes switched. The rerun copies user 2's
    // refresh and keeps the record the site wrote for user 1.
    // User 1 also signed a session out on the old store: the kept record takes that in.
    redis.open().save(&user(1), &record(1, 7)).unwrap();
    let mut signed_out = record(1, 1);
    signed_out.revoked.revoke("session-a", 4_000_000_000, 0);
    source.save(&user(1), &signed_out).unwrap();
    source.save(&user(2), &record(2, 1)).unwrap();
    let rerun = ok(migrate(&file, &redis, &dir.join("1"), &[]));
    assert!(
        rerun.contains("copied 1, skipped 23, kept newer 1, failed 0"),
        "{rerun}"
    );
    let newer_with_the_sign_out = TokenRecord {
        revoked: signed_out.revoked.clone(),
        ..record(1, 7)
    };
    same_records(&redis, 25, |i| match i {
        1 => newer_with_the_sign_out.clone(),
        2 => record(2, 1),
        i => record(i, 0),
    });
    let twice = ok(migrate(&file, &redis, &dir.join("1"), &[]));
    assert!(twice.contains("kept newer 1, failed 0"), "{twice}");
    same_records(&redis, 25, |i| match i {
        1 => newer_with_the_sign_out.clone(),
        2 => record(2, 1),
        i => record(i, 0),
    });

    // A crash between a copy's journal line and its write (the line is synced first): the
    // entry is missing at the destination though journaled, and the rerun copies it, the
    // source's newer record included, instead of keeping nothing.
    source.save(&user(3), &record(3, 2)).unwrap();
    let lost = redis.open();
    lost.update(&user(3), &mut |_| ezauth::store::Update::Remove)
        .unwrap();
    let rerun = ok(migrate(&file, &redis, &dir.join("1"), &[]));
    assert!(rerun.contains("copied 1,"), "{rerun}");
    assert_eq!(
        redis.open().load(&user(3)).unwrap().unwrap().as_ref(),
        &record(3, 2)
    );
}

#[test]
fn migrate_refuses_stores_with_different_keys() {
    let from = Store::file(&scratch("keys-from"));
    // The same current key, and a previous key the source does not know.
    let mut to = Store::file(&scratch("keys-to"));
    to.env
        .insert("WEBSITE_AUTH_ENCRYPTION_KEY".into(), NEW_KEY.into());
    let to = to.rotated(KEY);
    fill(from.open().as_ref(), 2);
    let o = migrate(&from, &to, &scratch("keys-j").join("j"), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("different encryption keys"), "{}", err(&o));
    assert_eq!(count(&to), 0);
}

/// After a key rotation, `rekey` moves every entry to its current name (the site reads them
/// all the same), skips a legacy one and says so; a second run moves nothing.
fn rekey_moves_every_entry_to_the_current_key(before: Store) {
    fill(before.open().as_ref(), 12);
    let legacy_name = write_legacy(before.open().as_ref(), 12);
    let after = before.rotated(NEW_KEY);
    let listed = ok(after.run(&["ls", after.cfg()], None));
    assert_eq!(
        listed.matches("previous key's name").count(),
        12,
        "{listed}"
    );
    let rekeyed = ok(after.run(&["rekey", after.cfg()], None));
    assert!(
        rekeyed.contains("moved 12, already current 0, owner unknown (legacy, skipped) 1"),
        "{rekeyed}"
    );
    let store = after.open();
    let names: BTreeSet<_> = ezauth::store::admin::list_all(store.as_ref())
        .unwrap()
        .into_iter()
        .collect();
    let mut current: BTreeSet<_> = (0..12)
        .map(|i| store.keys().store_file_name(&user(i)))
        .collect();
    // The legacy entry stays where it is; the site still reads it (and moves it at its next
    // write).
    current.insert(legacy_name);
    assert_eq!(names, current);
    same_records(&after, 13, |i| record(i, 0));
    let again = ok(after.run(&["rekey", after.cfg()], None));
    assert!(
        again.contains("moved 0, already current 12, owner unknown (legacy, skipped) 1"),
        "{again}"
    );
    let purged = ok(after.run(
        &["purge", after.cfg(), "--expired-before", "2100-01-01"],
        None,
    ));
    assert!(
        purged.contains("purged 12, kept 0, owner unknown (legacy, skipped) 1"),
        "{purged}"
    );
}

#[test]
fn rekey_moves_every_entry_to_the_current_key_on_every_store() {
    rekey_moves_every_entry_to_the_current_key(Store::file(&scratch("rekey")));
    let redis = RedisServer::start();
    rekey_moves_every_entry_to_the_current_key(Store::redis(&redis));
    let azurite = Azurite::start();
    rekey_moves_every_entry_to_the_current_key(Store::blob(&azurite, "rekey"));
}

/// Refreshes (read-modify-writes under the user's lock, as the refresh route makes them) run
/// on the old store during a first migration pass; after a second pass every user's last
/// refresh is at the destination.
#[test]
fn migration_while_the_site_refreshes_loses_no_refresh() {
    const USERS: usize = 20;
    let file = Store::file(&scratch("busy"));
    let redis_server = RedisServer::start();
    let redis = Store::redis(&redis_server);
    let journal = scratch("busy-j").join("journal");
    let source: Arc<Box<dyn Entries>> = Arc::new(file.open());
    fill(source.as_ref().as_ref(), USERS);

    let stop = Arc::new(AtomicBool::new(false));
    let refreshes = Arc::new(AtomicUsize::new(0));
    let last: Arc<Vec<AtomicUsize>> = Arc::new((0..USERS).map(|_| AtomicUsize::new(0)).collect());
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let (source, stop, refreshes, last) = (
                Arc::clone(&source),
                Arc::clone(&stop),
                Arc::clone(&refreshes),
                Arc::clone(&last),
            );
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let i = (n * 7 + w) % USERS;
                    n += 1;
                    source
                        .update(&user(i), &mut |current| {
                            let current = current.expect("every user has a record");
                            let generation: usize = current
                                .access_token
                                .as_deref()
                                .and_then(|t| t.rsplit('-').next())
                                .and_then(|g| g.parse().ok())
                                .unwrap();
                            last[i].store(generation + 1, Ordering::Relaxed);
                            Update::Replace(Box::new(record(i, generation + 1)))
                        })
                        .unwrap();
                    refreshes.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    while refreshes.load(Ordering::Relaxed) < 20 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let first = ok(migrate(&file, &redis, &journal, &[]));
    assert!(first.contains("failed 0"), "{first}");
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let during = refreshes.load(Ordering::Relaxed);
    let second = ok(migrate(&file, &redis, &journal, &[]));
    assert!(second.contains("kept newer 0, failed 0"), "{second}");
    // Records refreshed after the first pass copied them: copied again, none kept.
    assert!(!second.contains("copied 0,"), "{second}");
    assert!(during > 40, "only {during} refreshes ran");
    same_records(&redis, USERS, |i| {
        record(i, last[i].load(Ordering::Relaxed))
    });
}

/// Files made by another user than the workers' (root, say) would be unusable by them: the
/// commands that change a file store run as the directory's owner only. Runs as root (CI does)
/// to give the directory away.
#[test]
fn changing_a_file_store_of_another_user_is_refused() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "must run as root (CI does)");
    let dir = scratch("owner");
    let store = Store::file(&dir);
    fill(store.open().as_ref(), 2);
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    let other = Store::file(&scratch("owner-to"));
    for args in [
        vec!["rm", store.cfg(), "sid:user-1"],
        vec!["purge", store.cfg(), "--expired-before", "2100-01-01"],
        vec!["rekey", store.cfg()],
        vec!["migrate", "--from", store.cfg(), "--to", other.cfg()],
    ] {
        let o = store.run(&args, Some(&other));
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            err(&o).contains("belongs to nobody: run this as nobody"),
            "{}",
            err(&o)
        );
    }
    assert_eq!(count(&store), 2);
    assert_eq!(count(&other), 0);
}
