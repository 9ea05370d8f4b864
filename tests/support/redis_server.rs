//! A real `redis-server` for a test: started on a free loopback port with nothing persisted,
//! killed when dropped. It can be killed, frozen and started again on the same port (an
//! outage and its end). Fails loudly without `redis-server` (CI installs Debian's).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ezauth::store::redis::RedisOptions;

/// Options for a client of the Redis at `url`: short timeouts, a one-second staleness bound
/// and a five-second lease unless the test changes them.
pub fn options(url: String) -> RedisOptions {
    RedisOptions {
        url,
        cluster: false,
        sentinel: None,
        key_prefix: "ezauth:".into(),
        connect_timeout: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        staleness: Duration::from_secs(1),
        lease: Duration::from_secs(5),
    }
}

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    /// Arguments besides the port, address and persistence.
    extra: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// A server started with `extra` arguments too (kept for restarts).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let port = free_port();
        let mut s = RedisServer {
            port,
            dir: super::scratch("redis"),
            extra: extra.iter().map(|a| a.to_string()).collect(),
            child: None,
        };
        s.restart();
        s
    }

    /// `redis://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Options for a client of this server (see [`options`]).
    pub fn options(&self) -> RedisOptions {
        options(self.url())
    }

    /// Starts the server (again) on its port, and waits until it answers PING.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): install it (apt-get install redis-server)")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers_ping() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            let exited = self.child.as_mut().unwrap().try_wait().unwrap();
            assert!(exited.is_none(), "redis-server exited: {exited:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
        // Ours, not another test's on a reused port: it is still running.
        let exited = self.child.as_mut().unwrap().try_wait().unwrap();
        assert!(exited.is_none(), "redis-server exited: {exited:?}");
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut c) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = c.set_read_timeout(Some(Duration::from_secs(1)));
        let mut buf = [0; 7];
        c.write_all(b"PING\r\n").is_ok() && c.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// SIGKILL: the server is gone at once, with every connection.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP or SIGCONT: a server that accepts connections but answers nothing.
    pub fn freeze(&self, frozen: bool) {
        let pid = self.child.as_ref().expect("running").id() as libc::pid_t;
        let sig = if frozen { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: signals the server this helper started (and has not reaped).
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of three primaries on loopback ports (no replicas), formed with
/// `redis-cli --cluster create`; every node is killed when dropped.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        // The bus port is chosen too: by default it is the port + 10000, past 65535 for a
        // high ephemeral port.
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                let bus = free_port().to_string();
                RedisServer::start_with(&["--cluster-enabled", "yes", "--cluster-port", &bus])
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("cannot run redis-cli ({e}): install redis-tools"));
        assert!(created.success(), "redis-cli --cluster create failed");
        let cluster = RedisCluster { nodes };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cluster.nodes.iter().all(|n| n.cluster_ok()) {
            assert!(Instant::now() < deadline, "the cluster did not form");
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    /// Options for a client of the cluster: every node as a seed.
    pub fn options(&self) -> RedisOptions {
        let urls: Vec<String> = self.nodes.iter().map(RedisServer::url).collect();
        RedisOptions {
            cluster: true,
            ..options(urls.join(","))
        }
    }
}

impl RedisServer {
    /// Does this node say the cluster is up (every slot served)?
    fn cluster_ok(&self) -> bool {
        let Ok(mut c) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = c.set_read_timeout(Some(Duration::from_secs(1)));
        if c.write_all(b"CLUSTER INFO\r\n").is_err() {
            return false;
        }
        let mut buf = [0; 512];
        let n = c.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).contains("cluster_state:ok")
    }
}
