//! The file token store under disk faults, through the library as a host runs it: a full
//! filesystem (the shared change table once killed the process with SIGBUS there), a read-only
//! one, an unreadable record, a writer killed mid-write.
//!
//! The full and read-only disks are real: a 1 MB tmpfs mounted for the test, so these tests
//! need root (CI runs as root) and fail, not skip, without it. Each mount is undone when the
//! test ends, whether it passed or not. The work that could crash runs in a child process (this
//! test binary again), so a crash is reported as a failure with its signal.

mod support;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use ezauth::http::{Outcome, Response};
use ezauth::pipeline::Module;
use ezauth::session::{self, Principal, Session};
use serde_json::json;
use support::*;

/// Set in the child process: the test to run there and the directory it works in.
const CHILD: &str = "EZAUTH_FAULT_CHILD";
const CHILD_DIR: &str = "EZAUTH_FAULT_DIR";

fn require_root(test: &str) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!(
            "{test} mounts a tmpfs and must run as root (CI does): \
             sudo -E cargo test --test store_faults"
        );
    }
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
}

fn c_path(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

impl Tmpfs {
    fn mount(tag: &str, size: &str) -> Tmpfs {
        let path = scratch(tag);
        let (src, fstype) = (
            CString::new("tmpfs").unwrap(),
            CString::new("tmpfs").unwrap(),
        );
        let opts = CString::new(format!("size={size},mode=0755")).unwrap();
        // SAFETY: valid C strings for the duration of the call.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                c_path(&path).as_ptr(),
                fstype.as_ptr(),
                0,
                opts.as_ptr().cast(),
            )
        };
        assert_eq!(
            rc,
            0,
            "mount tmpfs on {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
        Tmpfs { path }
    }

    /// Remounts read-only; nothing may have a file in it open for writing (a store's sweep
    /// thread may still be finishing: busy is retried a few times).
    fn remount_read_only(&self) {
        for _ in 0..100 {
            // SAFETY: as in `mount`; null source and type are what a remount takes.
            let rc = unsafe {
                libc::mount(
                    std::ptr::null(),
                    c_path(&self.path).as_ptr(),
                    std::ptr::null(),
                    libc::MS_REMOUNT | libc::MS_RDONLY,
                    std::ptr::null(),
                )
            };
            let err = std::io::Error::last_os_error();
            if rc == 0 {
                return;
            }
            assert_eq!(err.raw_os_error(), Some(libc::EBUSY), "remount ro: {err}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("remount ro: still busy");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // SAFETY: a valid C string; MNT_DETACH so that a file still open cannot keep it.
        unsafe { libc::umount2(c_path(&self.path).as_ptr(), libc::MNT_DETACH) };
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// Runs `test` again in a child process with `dir`; fails with its output (and the signal that
/// killed it, if one did) unless it succeeded.
fn run_child(test: &str, dir: &Path) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .env(CHILD_DIR, dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.signal() {
        Some(sig) => panic!(
            "the host process was killed by signal {sig}{}:\n{text}",
            if sig == libc::SIGBUS { " (SIGBUS)" } else { "" }
        ),
        None => assert!(out.status.success(), "the child failed:\n{text}"),
    }
}

/// In the child: the directory to work in, when this process is the child for `test`.
fn child_dir(test: &str) -> Option<PathBuf> {
    (std::env::var(CHILD).ok()? == test).then(|| std::env::var(CHILD_DIR).unwrap().into())
}

/// The module of `support::config`, its token store in `store`.
fn module_at(idp: &TestIdp, store: &Path, log: &Captured) -> Module {
    let text = config(idp, "{}");
    let start = text.find(r#""directory":""#).unwrap() + r#""directory":""#.len();
    let end = start + text[start..].find('"').unwrap();
    let text = format!("{}{}{}", &text[..start], store.display(), &text[end..]);
    let settings = ezauth::config::parse(&text, &env()).unwrap_or_else(|e| panic!("{e}"));
    Module::new(settings, log.logger()).unwrap_or_else(|e| panic!("{e}"))
}

/// A sign-in through the provider, as a browser makes it: the callback's response.
fn sign_in(m: &Module, idp: &TestIdp, sub: &str) -> Response {
    through_provider(
        m,
        idp,
        "",
        json!({ "sub": sub }),
        json!({"access_token": format!("access-{sub}"), "refresh_token": format!("refresh-{sub}")}),
    )
}

/// `/.auth/me` with `cookie`: the stored access token.
fn stored_access_token(m: &Module, cookie: &str) -> Option<String> {
    let r = finished(run(m, "GET", "/.auth/me", &[("Cookie", cookie)], b""));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    json_body(&r)[0]["access_token"].as_str().map(str::to_owned)
}

/// Session cookies of `n` users that have no stored record: each signed-in request reads the
/// store (and the user's counter in the shared table) for them.
fn cookies_without_records(m: &Module, n: usize) -> Vec<String> {
    let settings = m.settings();
    let now = now();
    (0..n)
        .map(|i| {
            let principal = Principal {
                sid: format!("sid:{i:032x}"),
                idp: "idp".into(),
                id: format!("user-{i}"),
                name: format!("user-{i}@example.test"),
                header: ezauth::crypto::b64(br#"{"auth_typ":"idp","claims":[]}"#),
            };
            let session = Session::start(principal, now, now + 3600);
            let set = session::new_cookie(settings, &session, false, now);
            set[0].split(';').next().unwrap().to_owned()
        })
        .collect()
}

/// Signed-in requests that read the store for users spread over the whole table.
fn read_many(m: &Module, cookies: &[String]) {
    for c in cookies {
        match run(m, "GET", "/app", &[("Cookie", c)], b"") {
            Outcome::Continue(_) => {}
            other => panic!("a signed-in request was not let through: {other:?}"),
        }
    }
}

/// Writes into `dir` until the filesystem is full; the file it wrote.
fn fill(dir: &Path, name: &str) -> PathBuf {
    use std::io::Write;
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0x5a; 4096];
    loop {
        match f.write_all(&chunk).and_then(|_| f.sync_all()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling {}: {e}", dir.display()),
        }
    }
    // Smaller writes fill what the 4 KiB chunks left.
    while f.write_all(&[0x5a; 64]).is_ok() {}
    path
}

#[test]
fn a_full_disk_does_not_kill_the_host() {
    const TEST: &str = "a_full_disk_does_not_kill_the_host";
    let Some(dir) = child_dir(TEST) else {
        require_root(TEST);
        let disk = Tmpfs::mount("full-disk", "1m");
        run_child(TEST, &disk.path);
        return;
    };
    let store = dir.join("tokens");
    let idp = TestIdp::start();
    let log = Captured::default();

    // A host running while the disk fills up: the table was made when there was room.
    let m = module_at(&idp, &store, &log);
    let alice = session_cookie(&sign_in(&m, &idp, "alice"));
    let others = cookies_without_records(&m, 300);
    fill(&dir, "filler-1");
    assert_eq!(
        stored_access_token(&m, &alice).as_deref(),
        Some("access-alice")
    );
    read_many(&m, &others);
    let r = sign_in(&m, &idp, "bob");
    assert_eq!(r.status, 503, "no room for bob's tokens: {}", log.text());
    assert!(
        log.text().contains("could not store tokens"),
        "{}",
        log.text()
    );

    // A host starting on the full disk, with no table yet: it runs without one (the table is
    // made by the first writer, and no write gets through on a full disk).
    std::fs::remove_file(store.join(".generations")).unwrap();
    fill(&dir, "filler-2");
    let log2 = Captured::default();
    let m2 = module_at(&idp, &store, &log2);
    assert_eq!(
        stored_access_token(&m2, &alice).as_deref(),
        Some("access-alice")
    );
    read_many(&m2, &others);
    assert_eq!(sign_in(&m2, &idp, "carol").status, 503);
    assert!(
        !store.join(".generations").exists(),
        "no table on the full disk"
    );

    // Once there is room again, sign-ins work, and the writer maps a table again.
    std::fs::remove_file(dir.join("filler-1")).unwrap();
    std::fs::remove_file(dir.join("filler-2")).unwrap();
    let carol = session_cookie(&sign_in(&m2, &idp, "carol"));
    assert_eq!(
        stored_access_token(&m2, &carol).as_deref(),
        Some("access-carol")
    );
    assert_eq!(
        stored_access_token(&m, &carol).as_deref(),
        Some("access-carol"),
        "the first host reads what the second wrote"
    );
    let table = store.join(".generations").metadata().unwrap();
    assert!(
        table.blocks() * 512 >= 32768,
        "the table is reserved, not sparse"
    );
    read_many(&m2, &others);
}

/// Changes `path`'s owner (root only).
fn chown(path: &Path, uid: u32) {
    // SAFETY: a valid C string.
    let rc = unsafe { libc::chown(c_path(path).as_ptr(), uid, uid) };
    assert_eq!(
        rc,
        0,
        "chown {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// Runs `f` on a thread that cannot read files only their owner may: as root, a thread whose
/// filesystem user id is `nobody` (per thread: other tests are not affected).
fn as_nobody_if_root<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: geteuid and setfsuid (this thread only) have no preconditions.
                if unsafe { libc::geteuid() } == 0 {
                    unsafe { libc::setfsuid(65534) };
                }
                f()
            })
            .join()
            .unwrap()
    })
}

#[test]
fn a_read_only_store_serves_reads_and_refuses_writes_with_503() {
    require_root("a_read_only_store_serves_reads_and_refuses_writes_with_503");
    let disk = Tmpfs::mount("read-only", "1m");
    let store = disk.path.join("tokens");
    let idp = TestIdp::start();
    let m = module_at(&idp, &store, &Captured::default());
    let alice = session_cookie(&sign_in(&m, &idp, "alice"));
    // That host stops (its table is a writable mapping: the disk could not go read-only).
    drop(m);
    // As an administrator might have left it, then mounted read-only.
    std::fs::set_permissions(&store, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    disk.remount_read_only();

    let log = Captured::default();
    let m2 = module_at(&idp, &store, &log);
    assert!(
        log.text().contains("cannot make the directory owner-only"),
        "{}",
        log.text()
    );
    assert_eq!(
        stored_access_token(&m2, &alice).as_deref(),
        Some("access-alice")
    );
    assert!(
        log.text().contains("without the shared change table"),
        "the first read says so: {}",
        log.text()
    );
    let r = sign_in(&m2, &idp, "bob");
    assert_eq!(r.status, 503, "{}", log.text());
    assert!(
        log.text().contains("could not store tokens"),
        "{}",
        log.text()
    );
    for (what, target) in [("refresh", "/.auth/refresh"), ("logout", "/.auth/logout")] {
        let r = finished(run(&m2, "GET", target, &[("Cookie", &alice)], b""));
        assert_eq!(r.status, 503, "{what}: {}", log.text());
        assert!(
            log.text().contains(&format!("{what}: ")),
            "{what} logged: {}",
            log.text()
        );
    }
    // Reads still work after the failed writes.
    assert_eq!(
        stored_access_token(&m2, &alice).as_deref(),
        Some("access-alice")
    );
}

#[test]
fn sign_ins_and_sign_outs_do_not_use_up_inodes() {
    require_root("sign_ins_and_sign_outs_do_not_use_up_inodes");
    // Room for the directory, its table, and a few files at a time.
    let disk = Tmpfs::mount("inodes", "1m,nr_inodes=16");
    let store = ezauth::store::file::FileStore::open(
        &disk.path.join("tokens"),
        ezauth::crypto::Keys::new(&[1; 32], &[2; 32], &[]),
    )
    .unwrap();
    use ezauth::store::{TokenRecord, TokenStore};
    let record = TokenRecord {
        provider_name: "idp".into(),
        access_token: Some("a".into()),
        ..Default::default()
    };
    for i in 0..200 {
        let user = format!("sid:{i:032x}");
        store
            .sign_in(&user, &record)
            .unwrap_or_else(|e| panic!("sign-in {i}: {e}"));
        store
            .delete(&user)
            .unwrap_or_else(|e| panic!("sign-out {i}: {e}"));
    }
    let left: Vec<_> = std::fs::read_dir(disk.path.join("tokens"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, [".generations"]);
}

#[test]
fn refresh_with_an_unreadable_record_is_503_not_sign_in_again() {
    let idp = TestIdp::start();
    let log = Captured::default();
    // On a tmpfs when it can be had: this machine's root filesystem lets no user but root
    // create files, even in a directory of their own, which would fail the update before it
    // reads anything.
    let shm = Path::new("/dev/shm");
    let store = if shm.is_dir() {
        shm.join(format!("ezauth-unreadable-{}", std::process::id()))
    } else {
        scratch("unreadable")
    }
    .join("tokens");
    let m = module_at(&idp, &store, &log);
    let alice = session_cookie(&sign_in(&m, &idp, "alice"));
    let record = std::fs::read_dir(&store)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "tok"))
        .unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // The store is the host user's (nobody); the record became root's alone.
        chown(&store, 65534);
    } else {
        std::fs::set_permissions(&record, std::os::unix::fs::PermissionsExt::from_mode(0o000))
            .unwrap();
    }
    let r = as_nobody_if_root(|| {
        finished(run(&m, "GET", "/.auth/refresh", &[("Cookie", &alice)], b""))
    });
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        log.text().contains("refresh: token store failed"),
        "{}",
        log.text()
    );
    assert!(!idp
        .requests()
        .iter()
        .any(|r| r.contains("/token") && r.contains("refresh")));
    let _ = std::fs::remove_dir_all(store.parent().unwrap());
}

#[test]
fn a_writer_killed_mid_write_leaves_a_temp_file_that_is_swept() {
    const TEST: &str = "a_writer_killed_mid_write_leaves_a_temp_file_that_is_swept";
    use ezauth::store::file::{FileStore, Swept};
    use ezauth::store::{TokenRecord, TokenStore};
    let keys = || ezauth::crypto::Keys::new(&[3; 32], &[4; 32], &[]);
    let record = |n: usize| TokenRecord {
        provider_name: "idp".into(),
        access_token: Some(format!("{n}")),
        id_token: Some("x".repeat(700_000)),
        ..Default::default()
    };
    if let Some(dir) = child_dir(TEST) {
        // The writer: saves the same user's large record over and over until killed.
        let store = FileStore::open(&dir, keys()).unwrap();
        for n in 0..100_000 {
            store.save("sid:k", &record(n)).unwrap();
        }
        return;
    }
    let dir = scratch("killed");
    FileStore::open(&dir, keys())
        .unwrap()
        .save("sid:k", &record(0))
        .unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--test-threads=1"])
        .env(CHILD, TEST)
        .env(CHILD_DIR, &dir)
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let temps = || {
        std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
            .map(|e| e.path())
            .collect::<Vec<_>>()
    };
    // Stop the writer; kill it if it is mid-write (a temp file exists), else let it go on a
    // little and look again.
    let mut killed = false;
    for _ in 0..2000 {
        std::thread::sleep(std::time::Duration::from_millis(2));
        // SAFETY: signals to our own child, waited for with WUNTRACED (not reaped).
        unsafe {
            libc::kill(pid, libc::SIGSTOP);
            let mut status = 0;
            libc::waitpid(pid, &mut status, libc::WUNTRACED);
        }
        if !temps().is_empty() {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed = true;
            break;
        }
        unsafe { libc::kill(pid, libc::SIGCONT) };
    }
    if !killed {
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let _ = child.wait();
    assert!(killed, "never caught the writer mid-write");
    let left = temps();
    assert_eq!(left.len(), 1, "the killed writer's temp file");

    // Another process opens the store: the record is whole (the old or the new one).
    let store = FileStore::open(&dir, keys()).unwrap();
    let r = store.load("sid:k").unwrap().expect("the record");
    assert_eq!(r.id_token.as_deref().map(str::len), Some(700_000));
    // A fresh temp file may be a live writer's: kept. The dead writer's lock file is not held.
    assert_eq!(
        store.sweep(),
        Swept {
            temp_files: 0,
            lock_files: 1
        }
    );
    assert_eq!(temps(), left);
    // Some minutes later it is stale, and swept.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&left[0])
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert_eq!(
        store.sweep(),
        Swept {
            temp_files: 1,
            lock_files: 0
        }
    );
    assert!(temps().is_empty());
    store.save("sid:k", &record(1)).unwrap();
    assert_eq!(
        store
            .load("sid:k")
            .unwrap()
            .unwrap()
            .access_token
            .as_deref(),
        Some("1")
    );
}
