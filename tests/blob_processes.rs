//! The Azure Blob store under processes killed at random points (this test binary re-executed
//! as workers against one real Azurite): workers increment counters in four users' records and
//! report each write the store acknowledged; they are SIGKILLed mid-run, holding a lease or
//! not, again and again. Afterwards every record opens, no acknowledged write is lost, no
//! value was acknowledged twice (two holders at once), and a lease left by a killed holder
//! lapses within its duration.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ezauth::crypto::Keys;
use ezauth::logger::Logger;
use ezauth::store::blob::{BlobBackend, BlobOptions, ContainerUrl};
use ezauth::store::{Sealed, TokenRecord, TokenStore, Update};
use support::azurite::Azurite;

const USERS: [&str; 4] = ["sid:aaaa", "sid:bbbb", "sid:cccc", "sid:dddd"];
const WORKERS: usize = 3;
const KILLS: usize = 5;
const LEASE: Duration = Duration::from_secs(15);

/// `wait`: how long `lock` waits for another holder (workers skip a user whose lease a
/// killed worker left, and go on with the others).
fn store(url: &str, wait: Duration) -> Sealed<BlobBackend> {
    let options = BlobOptions {
        lease: LEASE,
        hold: LEASE,
        wait,
        ..BlobOptions::for_http_timeout(Duration::from_secs(5))
    };
    Sealed::new(
        BlobBackend::open(
            ContainerUrl::parse(url).unwrap(),
            options,
            &Logger::silent(),
        ),
        Keys::new(&[9u8; 32], &[8u8; 32], &[]),
        1 << 20,
        &Logger::silent(),
    )
}

fn count(r: &Option<TokenRecord>) -> usize {
    r.as_ref()
        .and_then(|r| r.access_token.as_deref())
        .map_or(0, |t| t.parse().unwrap())
}

/// The worker side: runs only when re-executed with EZAUTH_BLOB_WORKER (the SAS URL) set;
/// updates until killed, printing `ACK user n` after each acknowledged write.
#[test]
fn worker() {
    let Ok(url) = std::env::var("EZAUTH_BLOB_WORKER") else {
        return;
    };
    let s = store(&url, Duration::from_millis(500));
    loop {
        for user in USERS {
            let mut wrote = 0;
            let done = s.update(user, &mut |cur| {
                wrote = count(&cur) + 1;
                Update::Replace(Box::new(TokenRecord {
                    provider_name: "idp".into(),
                    user_id: user.into(),
                    access_token: Some(wrote.to_string()),
                    // A length that changes shows a torn write as a record that does not open.
                    id_token: Some("x".repeat(wrote * 37 % 4096)),
                    ..Default::default()
                }))
            });
            if done.is_ok() {
                println!("ACK {user} {wrote}");
            }
        }
    }
}

fn spawn(url: &str, acks: &mpsc::Sender<(String, usize)>) -> Child {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "worker", "--test-threads=1", "--nocapture"])
        .env("EZAUTH_BLOB_WORKER", url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let acks = acks.clone();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            // The harness's "test worker ... " has no line end of its own.
            if let Some(ack) = line.split("ACK ").nth(1) {
                let (user, n) = ack.split_once(' ').unwrap();
                let _ = acks.send((user.to_owned(), n.parse().unwrap()));
            }
        }
    });
    child
}

fn random_millis(range: std::ops::Range<u64>) -> Duration {
    let mut b = [0u8; 8];
    openssl::rand::rand_bytes(&mut b).unwrap();
    Duration::from_millis(range.start + u64::from_le_bytes(b) % (range.end - range.start))
}

#[test]
fn killed_writers_lose_no_acknowledged_write_and_their_leases_lapse() {
    if std::env::var("EZAUTH_BLOB_WORKER").is_ok() {
        return;
    }
    let azurite = Azurite::start();
    let url = azurite.container("killed", "rwdl");
    let (tx, rx) = mpsc::channel();
    let mut workers: Vec<Child> = (0..WORKERS).map(|_| spawn(&url, &tx)).collect();
    for kill in 0..KILLS {
        std::thread::sleep(random_millis(300..1500));
        let mut victim = workers.remove(kill % workers.len());
        victim.kill().unwrap();
        victim.wait().unwrap();
        workers.push(spawn(&url, &tx));
    }
    // The last workers run until every user has an acknowledged write (a loaded machine may
    // have given the killed ones none), then a random while more; bounded either way.
    let mut acked: HashMap<String, Vec<usize>> = HashMap::new();
    let (last_run, settle) = (Instant::now(), random_millis(300..1500));
    while last_run.elapsed() < Duration::from_secs(90)
        && (last_run.elapsed() < settle || USERS.iter().any(|u| !acked.contains_key(*u)))
    {
        if let Ok((user, n)) = rx.recv_timeout(Duration::from_millis(100)) {
            acked.entry(user).or_default().push(n);
        }
    }
    for mut w in workers {
        w.kill().unwrap();
        w.wait().unwrap();
    }
    let killed = Instant::now();
    drop(tx);
    // Every ack was read once the readers see the pipes close.
    for (user, n) in rx {
        acked.entry(user).or_default().push(n);
    }

    let s = store(&url, LEASE * 2);
    for user in USERS {
        let values = acked.remove(user).unwrap_or_default();
        assert!(!values.is_empty(), "{user}: no write acknowledged at all");
        let mut distinct = values.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            values.len(),
            "{user}: a value written twice"
        );
        let record = s.load(user).expect("every record opens");
        assert!(record.is_some(), "{user}: no record");
        // A killed holder's lease lapses within its duration: this update waits for it.
        let mut now = 0;
        s.update(user, &mut |cur| {
            now = count(&cur);
            Update::Keep
        })
        .unwrap();
        let waited = killed.elapsed();
        assert!(
            waited < LEASE + Duration::from_secs(5),
            "{user}: the lock was free only {waited:?} after the kills"
        );
        let last = *distinct.last().unwrap();
        assert!(
            now >= last,
            "{user}: the record says {now}, {last} was acknowledged"
        );
        // Each worker killed between its write and its report leaves one write unacknowledged.
        let unacknowledged = now - values.len();
        assert!(
            unacknowledged <= KILLS + WORKERS,
            "{user}: {now} writes, {} acknowledged",
            values.len()
        );
    }
}
