//! A real Azurite (the npm `azurite` of tests/e2e, blob service, in memory) on a free
//! loopback port, killed when dropped; it can be stopped and restarted (an outage) or frozen
//! (a hung service). Containers made with an account SAS and container SAS URLs minted with
//! the emulator's well-known key, by the documented algorithm (HMAC-SHA256 over the
//! string-to-sign; reference notes §8.4).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;

pub const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const SV: &str = "2023-11-03";
const START: &str = "2020-01-01T00:00:00Z";
const EXPIRY: &str = "2099-01-01T00:00:00Z";

pub struct Azurite {
    child: Option<Child>,
    pub port: u16,
}

fn binary() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/e2e/node_modules/azurite/dist/src/blob/main.js");
    assert!(
        bin.exists(),
        "{} is missing: run `npm ci` in tests/e2e (the Azure Blob store tests need the npm azurite)",
        bin.display()
    );
    bin
}

impl Azurite {
    /// Azurite's blob service on a free port.
    pub fn start() -> Azurite {
        let (child, port) = spawn(0);
        Azurite {
            child: Some(child),
            port,
        }
    }

    /// Kills the service (an outage): requests are refused until [`Azurite::restart`].
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP or SIGCONT: a service that accepts connections but answers nothing (hung).
    pub fn freeze(&self, frozen: bool) {
        let pid = self.child.as_ref().expect("running").id() as libc::pid_t;
        let sig = if frozen { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: signals the node process this helper started (and has not reaped).
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    /// Starts the service again on the same port (in memory: empty, containers made again by
    /// the caller).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // The port may linger a moment after the kill.
            match try_spawn(self.port) {
                Some((child, _)) => {
                    self.child = Some(child);
                    return;
                }
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
                None => panic!("azurite did not start again on port {}", self.port),
            }
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    /// Makes `container` (an account SAS with create permission: the container SAS cannot).
    pub fn create_container(&self, container: &str) {
        let sas = account_sas();
        let url = format!("{}/{container}?restype=container&{sas}", self.base());
        match ureq::put(&url).set("x-ms-version", SV).send_bytes(&[]) {
            Ok(r) => assert_eq!(r.status(), 201),
            Err(ureq::Error::Status(409, _)) => {}
            Err(e) => panic!("creating container {container}: {e}"),
        }
    }

    /// A container SAS URL for `container` granting `permissions` (`rwl`, `rwdl`...).
    pub fn sas_url(&self, container: &str, permissions: &str) -> String {
        format!(
            "{}/{container}?{}",
            self.base(),
            container_sas(container, permissions)
        )
    }

    /// A new container and its SAS URL.
    pub fn container(&self, name: &str, permissions: &str) -> String {
        self.create_container(name);
        self.sas_url(name, permissions)
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn(port: u16) -> (Child, u16) {
    try_spawn(port).expect("azurite did not start")
}

/// Starts Azurite on `port` (0: any) and waits for its "listens on" line; `None` when it
/// exits first (the port is taken).
fn try_spawn(port: u16) -> Option<(Child, u16)> {
    let mut cmd = Command::new("node");
    cmd.arg(binary())
        .args([
            "--inMemoryPersistence",
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
        ])
        .arg(port.to_string())
        .arg("--disableTelemetry")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // Dies with the test process even when a test panics past its drop.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("node could not be started");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let Ok(line) = line else { break };
        if let Some(at) = line.split("listens on http://127.0.0.1:").nth(1) {
            let port: u16 = at.trim().parse().expect("a port");
            // Keep reading its output so it never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return Some((child, port));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn sign(string_to_sign: &str) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(KEY)
        .unwrap();
    let pkey = PKey::hmac(&key).unwrap();
    let mut signer = Signer::new(MessageDigest::sha256(), &pkey).unwrap();
    signer.update(string_to_sign.as_bytes()).unwrap();
    let sig = base64::engine::general_purpose::STANDARD.encode(signer.sign_to_vec().unwrap());
    form_urlencoded::byte_serialize(sig.as_bytes()).collect()
}

/// An account SAS allowing container creation (string-to-sign for sv >= 2020-12-06).
fn account_sas() -> String {
    let (sp, ss, srt, spr) = ("rwdlac", "b", "sco", "https,http");
    let to_sign = format!("{ACCOUNT}\n{sp}\n{ss}\n{srt}\n{START}\n{EXPIRY}\n\n{spr}\n{SV}\n\n");
    format!(
        "sv={SV}&ss={ss}&srt={srt}&sp={sp}&st={START}&se={EXPIRY}&spr={}&sig={}",
        "https%2Chttp",
        sign(&to_sign)
    )
}

/// A service SAS for one container (`sr=c`).
pub fn container_sas(container: &str, sp: &str) -> String {
    let spr = "https,http";
    let resource = format!("/blob/{ACCOUNT}/{container}");
    // sp, st, se, resource, si, sip, spr, sv, sr, snapshot time, ses, rscc, rscd, rsce, rscl, rsct
    let to_sign = [
        sp, START, EXPIRY, &resource, "", "", spr, SV, "c", "", "", "", "", "", "", "",
    ]
    .join("\n");
    format!(
        "sv={SV}&sr=c&sp={sp}&st={START}&se={EXPIRY}&spr=https%2Chttp&sig={}",
        sign(&to_sign)
    )
}
