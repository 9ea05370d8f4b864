//! The file store's lock holds across processes: several processes (this test binary
//! re-executed as workers) increment counters in the same users' records concurrently; no
//! update may be lost and no file may be torn.

use std::path::Path;
use std::process::Command;

use ezauth::crypto::Keys;
use ezauth::store::file::FileStore;
use ezauth::store::{TokenRecord, TokenStore, Update};

const WORKERS: usize = 4;
const ROUNDS: usize = 40;
const USERS: [&str; 2] = ["sid:aaaa", "sid:bbbb"];

fn store(dir: &Path) -> FileStore {
    FileStore::open(dir, Keys::new(&[9u8; 32], &[8u8; 32], &[])).unwrap()
}

fn count(r: &Option<TokenRecord>) -> usize {
    r.as_ref()
        .and_then(|r| r.access_token.as_deref())
        .map_or(0, |t| t.parse().unwrap())
}

/// The worker side: runs only when re-executed with EZAUTH_STORE_WORKER set.
#[test]
fn worker() {
    let Ok(dir) = std::env::var("EZAUTH_STORE_WORKER") else {
        return;
    };
    let s = store(Path::new(&dir));
    for _ in 0..ROUNDS {
        for user in USERS {
            s.update(user, &mut |cur| {
                // Reading and writing with a padding that changes length makes a torn
                // write visible as a record that does not open.
                let n = count(&cur) + 1;
                Update::Replace(Box::new(TokenRecord {
                    provider_name: "idp".into(),
                    user_id: user.into(),
                    access_token: Some(n.to_string()),
                    id_token: Some("x".repeat(n * 37 % 4096)),
                    ..Default::default()
                }))
            })
            .unwrap();
            // Lock-free readers must always see a whole record.
            s.load(user).expect("a reader never sees a torn file");
        }
    }
}

#[test]
fn concurrent_processes_lose_no_update() {
    if std::env::var("EZAUTH_STORE_WORKER").is_ok() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ezauth-procs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..WORKERS)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "worker", "--test-threads=1"])
                .env("EZAUTH_STORE_WORKER", &dir)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a worker process failed");
    }
    let s = store(&dir);
    for user in USERS {
        let record = s.load(user).unwrap().map(|r| (*r).clone());
        assert_eq!(count(&record), WORKERS * ROUNDS, "{user}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left behind");
    let locks = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".lock"))
        .count();
    assert_eq!(locks, 0, "lock files left behind");
    std::fs::remove_dir_all(&dir).unwrap();
}
