//! A real `redis-server` for a test: started on a free loopback port with nothing persisted,
//! killed when dropped. It can be killed, frozen and started again on the same port (an
//! outage and its end). Also a 3-node cluster, and a primary with a replica watched by
//! sentinels (`redis-server FILE --sentinel`). Fails loudly without `redis-server` (CI
//! installs Debian's).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ezauth::store::redis::{RedisOptions, SentinelOptions};

/// The commands the store needs, as README's least-privilege `ACL SETUSER` grants them.
pub const STORE_COMMANDS: &[&str] = &[
    "+get",
    "+getrange",
    "+set",
    "+del",
    "+eval",
    "+ping",
    "+publish",
    "+subscribe",
];

/// Options for a client of the Redis at `url`: short timeouts, the default staleness (1 s)
/// and revalidation (60 s) bounds, and a five-second lease unless the test changes them.
pub fn options(url: String) -> RedisOptions {
    RedisOptions {
        url,
        cluster: false,
        sentinel: None,
        key_prefix: "ezauth:".into(),
        connect_timeout: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        staleness: Duration::from_secs(1),
        revalidate: Duration::from_secs(60),
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
    /// A sentinel's configuration file (it rewrites it): run with `--sentinel`.
    sentinel_config: Option<PathBuf>,
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
            sentinel_config: None,
            child: None,
        };
        s.restart();
        s
    }

    /// A sentinel watching the primary at `primary_port` as `master`: quorum 1, the primary
    /// deemed down after `down_after` without an answer, a 3 s failover timeout.
    pub fn start_sentinel(master: &str, primary_port: u16, down_after: Duration) -> RedisServer {
        let dir = super::scratch("redis-sentinel");
        let config = dir.join("sentinel.conf");
        let ms = down_after.as_millis();
        std::fs::write(
            &config,
            format!(
                "sentinel monitor {master} 127.0.0.1 {primary_port} 1\n\
                 sentinel down-after-milliseconds {master} {ms}\n\
                 sentinel failover-timeout {master} 3000\n\
                 sentinel parallel-syncs {master} 1\n"
            ),
        )
        .unwrap();
        let mut s = RedisServer {
            port: free_port(),
            dir,
            extra: Vec::new(),
            sentinel_config: Some(config),
            child: None,
        };
        s.restart();
        s
    }

    /// A connection to this server (or sentinel), with timeouts.
    /// How many clients listen on `channel` here (`PUBSUB NUMSUB`).
    pub fn subscribers(&self, channel: &str) -> i64 {
        let (_, n): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channel)
            .query(&mut self.connection())
            .unwrap();
        n
    }

    pub fn connection(&self) -> redis::Connection {
        let c = redis::Client::open(self.url())
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(2))
            .unwrap();
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        c
    }

    /// What `INFO replication` says of `field` (`role`, `master_link_status`...).
    pub fn replication(&self, field: &str) -> String {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut self.connection())
            .unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .unwrap_or_default()
            .trim()
            .to_owned()
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
        let mut command = Command::new("redis-server");
        if let Some(config) = &self.sentinel_config {
            command.arg(config).arg("--sentinel");
        }
        let child = command
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

/// The name the sentinels of [`RedisSentinels`] know the primary by.
pub const MASTER: &str = "ezauth-primary";

/// A primary, one replica of it, and sentinels watching them (quorum 1, the primary deemed
/// down after [`RedisSentinels::DOWN_AFTER`]), on loopback ports; every process is killed when
/// dropped.
pub struct RedisSentinels {
    pub primary: RedisServer,
    pub replica: RedisServer,
    pub sentinels: Vec<RedisServer>,
}

impl RedisSentinels {
    pub const DOWN_AFTER: Duration = Duration::from_millis(1000);

    /// Starts them, and waits until the replica is in sync and every sentinel sees it.
    pub fn start(sentinels: usize) -> RedisSentinels {
        // A full sync starts at once, not after the default 5 s wait for more replicas.
        let no_delay = ["--repl-diskless-sync-delay", "0"];
        let primary = RedisServer::start_with(&no_delay);
        let replica = RedisServer::start_with(
            &[
                &no_delay[..],
                &["--replicaof", "127.0.0.1", &primary.port.to_string()],
            ]
            .concat(),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while replica.replication("master_link_status") != "up" {
            assert!(Instant::now() < deadline, "the replica did not sync");
            std::thread::sleep(Duration::from_millis(20));
        }
        // Started once the replica is in sync, so their first look at it finds it healthy.
        let sentinels: Vec<RedisServer> = (0..sentinels)
            .map(|_| RedisServer::start_sentinel(MASTER, primary.port, Self::DOWN_AFTER))
            .collect();
        let set = RedisSentinels {
            primary,
            replica,
            sentinels,
        };
        for s in &set.sentinels {
            while !set.sees_replica(s) {
                assert!(
                    Instant::now() < deadline,
                    "a sentinel does not see the replica"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        set
    }

    /// Does `sentinel` know the replica, with its link to the primary up?
    fn sees_replica(&self, sentinel: &RedisServer) -> bool {
        let replicas: Vec<std::collections::HashMap<String, String>> = redis::cmd("SENTINEL")
            .arg("replicas")
            .arg(MASTER)
            .query(&mut sentinel.connection())
            .unwrap_or_default();
        let port = self.replica.port.to_string();
        replicas.iter().any(|r| {
            r.get("port") == Some(&port)
                && r.get("master-link-status").map(String::as_str) == Some("ok")
                && r.get("flags").map(String::as_str) == Some("slave")
        })
    }

    /// The sentinels' URLs, comma-separated.
    pub fn sentinel_urls(&self) -> String {
        let urls: Vec<String> = self.sentinels.iter().map(RedisServer::url).collect();
        urls.join(",")
    }

    /// Options for a client that finds the primary through these sentinels.
    pub fn options(&self) -> RedisOptions {
        RedisOptions {
            sentinel: Some(SentinelOptions {
                master_name: MASTER.into(),
                urls: self.sentinel_urls(),
            }),
            ..options(format!("redis://{MASTER}"))
        }
    }

    /// Waits until the replica has every write the primary acknowledged so far. `WAIT` waits
    /// for the calling connection's own writes only: one is made, and the replication stream
    /// is ordered, so its acknowledgement covers every write before it.
    pub fn replicated(&self) {
        let mut c = self.primary.connection();
        let _: () = redis::cmd("SET").arg("fence").arg(1).query(&mut c).unwrap();
        let synced: i64 = redis::cmd("WAIT").arg(1).arg(1000).query(&mut c).unwrap();
        assert_eq!(synced, 1, "the replica did not acknowledge the writes");
    }

    /// The port `sentinel` names for the primary now.
    pub fn primary_port(sentinel: &RedisServer) -> u16 {
        let (_, port): (String, u16) = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(MASTER)
            .query(&mut sentinel.connection())
            .unwrap();
        port
    }
}
