//! Redis Sentinel: which node is the primary now. Written here rather than through the `redis`
//! crate's `SentinelClient`, whose blocking client asks sentinels over connections made without
//! a timeout (a hung sentinel would hold the calling thread without bound). Here every
//! exchange, with a sentinel or a data node, is bounded by the store's connect and response
//! timeouts.
//!
//! Discovery asks the sentinels in turn (the last one that answered first) for
//! `SENTINEL get-master-addr-by-name`, connects to the address it names with the data nodes'
//! credentials, database and TLS (the store URL's), and uses the node only if `ROLE` says
//! `master`: a sentinel with a stale view must not send the store to a replica (reads there
//! may be stale, writes are refused). The primary found is cached, under an epoch; the backend
//! forgets it (a new epoch, its pooled connections dropped) when a call to it breaks or is
//! answered `READONLY`, and the next call asks the sentinels again.
//!
//! The asking runs on a thread of its own, one at a time; a call waits for its answer at most
//! one connect and one response timeout. A socket timeout bounds each read, not an exchange:
//! a sentinel that trickles its answer a byte at a time would otherwise hold every calling
//! thread (nginx's whole blocking pool, shared by every site) for as long as it likes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use redis::{ConnectionAddr, ConnectionInfo, RedisError, RedisResult};

/// `ezauth.tokenStore.redis.sentinel`, resolved.
#[derive(Clone)]
pub struct SentinelOptions {
    /// The name the sentinels monitor the primary under (`sentinel monitor NAME ...`).
    pub master_name: String,
    /// The sentinels, `redis://[user:password@]host:port` or `rediss://...`, comma-separated;
    /// may hold the sentinels' passwords: never logged or shown.
    pub urls: String,
}

impl std::fmt::Debug for SentinelOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelOptions")
            .field("master_name", &self.master_name)
            .field("urls", &"(secret)")
            .finish()
    }
}

/// Is `name` a master name this store accepts (what a sentinel configuration and a URL host
/// can both carry)?
pub fn valid_master_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The sentinels' connection settings, from their comma-separated URLs. Errors never carry a
/// URL.
pub fn parse_sentinel_urls(urls: &str) -> Result<Vec<ConnectionInfo>, String> {
    urls.split(',')
        .map(str::trim)
        .enumerate()
        .map(|(i, url)| {
            let which = format!("sentinel URL {}", i + 1);
            let parsed = redis::parse_redis_url(url)
                .filter(|u| matches!(u.scheme(), "redis" | "rediss"))
                .ok_or_else(|| format!("{which} is not a redis:// or rediss:// URL"))?;
            if parsed.fragment().is_some() {
                return Err(format!(
                    "{which}: a URL fragment (#insecure turns certificate checks off) is refused"
                ));
            }
            if !parsed.path().trim_matches('/').is_empty() {
                return Err(format!(
                    "{which}: a sentinel has no database: drop the path"
                ));
            }
            redis::IntoConnectionInfo::into_connection_info(parsed)
                .map(super::redis::quiet)
                .map_err(|e| format!("{which} is not usable ({:?})", e.kind()))
        })
        .collect()
}

/// With Sentinel, the store URL's host is the master name and it carries no port: the
/// sentinels name the address. Anything else (a host that could be read as an address) is
/// refused as ambiguous.
pub fn check_data_url(url: &str, master_name: &str) -> Result<(), String> {
    let parsed = redis::parse_redis_url(url);
    let fits = parsed.as_ref().is_some_and(|u| {
        u.host_str() == Some(master_name) && u.port().is_none() && !url.contains(',')
    });
    if fits {
        Ok(())
    } else {
        Err(format!(
            "with sentinel, the URL names the master as its host, without a port \
             (redis://[user:password@]{master_name}[/db], or rediss://): the sentinels give \
             the primary's address"
        ))
    }
}

pub(super) struct Sentinels {
    master_name: String,
    sentinels: Vec<redis::Client>,
    /// The data nodes' credentials, database and TLS (the store URL's); the address is the
    /// one the sentinels name.
    data: ConnectionInfo,
    connect_timeout: Duration,
    timeout: Duration,
    /// The sentinel that answered last: asked first next time, so a hung one costs a timeout
    /// once, not at every discovery.
    preferred: AtomicUsize,
    /// The primary in use and its epoch (bumped each time it is forgotten), and the asking.
    primary: Mutex<Known>,
    /// Signalled when an asking ends.
    asked: Condvar,
}

struct Known {
    epoch: u64,
    client: Option<redis::Client>,
    /// A thread is asking the sentinels.
    asking: bool,
    /// Why the last asking found nothing (no URL, no password).
    failed: Option<String>,
}

impl Sentinels {
    pub(super) fn open(
        data: ConnectionInfo,
        options: &SentinelOptions,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Sentinels, String> {
        let sentinels = parse_sentinel_urls(&options.urls)?
            .into_iter()
            .map(redis::Client::open)
            .collect::<RedisResult<Vec<_>>>()
            .map_err(|e| format!("a sentinel URL is not usable ({:?})", e.kind()))?;
        Ok(Sentinels {
            master_name: options.master_name.clone(),
            sentinels,
            data,
            connect_timeout,
            timeout,
            preferred: AtomicUsize::new(0),
            primary: Mutex::new(Known {
                epoch: 0,
                client: None,
                asking: false,
                failed: None,
            }),
            asked: Condvar::new(),
        })
    }

    /// The longest a call waits for the sentinels: their answer, then the check of the node
    /// it names.
    pub(super) fn longest_discovery(&self) -> Duration {
        (self.connect_timeout + self.timeout) * 2
    }

    /// The current epoch: connections made under an older one go to a forgotten primary.
    pub(super) fn epoch(&self) -> u64 {
        self.primary.lock().epoch
    }

    /// A connection to the primary, checked with `ROLE`, and the epoch it belongs to. The
    /// sentinels are asked when no primary is known, or at once when the known one fails its
    /// check (gone, or demoted).
    pub(super) fn connect(self: &Arc<Self>) -> RedisResult<(u64, redis::Connection)> {
        let (epoch, known) = {
            let k = self.primary.lock();
            (k.epoch, k.client.clone())
        };
        if let Some(client) = known {
            match self.checked(&client) {
                Ok(conn) => return Ok((epoch, conn)),
                Err(_) => self.forget(epoch),
            }
        }
        let (epoch, client) = self.await_primary()?;
        Ok((epoch, self.checked(&client)?))
    }

    /// The primary the sentinels name, waiting at most one connect and one response timeout
    /// for the asking (started here unless one runs).
    fn await_primary(self: &Arc<Self>) -> RedisResult<(u64, redis::Client)> {
        let deadline = Instant::now() + self.connect_timeout + self.timeout;
        let mut known = self.primary.lock();
        let mut started = false;
        loop {
            if let Some(client) = &known.client {
                return Ok((known.epoch, client.clone()));
            }
            if !known.asking {
                if started {
                    let why = known.failed.clone().unwrap_or_default();
                    return Err(not_found(&why));
                }
                if let Err(e) = self.ask_in_background() {
                    return Err(not_found(&format!(
                        "cannot start asking the sentinels: {e}"
                    )));
                }
                known.asking = true;
                started = true;
            }
            if self.asked.wait_until(&mut known, deadline).timed_out() {
                return Err(not_found(&format!(
                    "the sentinels did not name a primary within {:?}",
                    self.connect_timeout + self.timeout
                )));
            }
        }
    }

    /// Asks the sentinels on a thread of its own; what it finds becomes the known primary.
    fn ask_in_background(self: &Arc<Self>) -> std::io::Result<()> {
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("ezauth-redis-sentinel".into())
            .spawn(move || {
                let found = me.discover();
                let mut known = me.primary.lock();
                known.asking = false;
                match found {
                    Ok((client, _)) => {
                        known.failed = None;
                        if known.client.is_none() {
                            known.client = Some(client);
                        }
                    }
                    Err(e) => known.failed = Some(e.to_string()),
                }
                me.asked.notify_all();
            })
            .map(drop)
    }

    /// Drops the primary of `epoch` (if it is still the current one): the next connection
    /// asks the sentinels again.
    pub(super) fn forget(&self, epoch: u64) {
        let mut known = self.primary.lock();
        if known.epoch == epoch {
            known.epoch = epoch.wrapping_add(1);
            known.client = None;
        }
    }

    /// The primary the sentinels name now, checked (for the change listener, which keeps one
    /// connection of its own and asks again when it breaks).
    pub(super) fn find_primary(&self) -> RedisResult<redis::Client> {
        self.discover().map(|(client, _)| client)
    }

    /// Asks each sentinel in turn, from the preferred one, until one names a node that says it
    /// is the primary. The error says what each answer was, never a URL or password.
    fn discover(&self) -> RedisResult<(redis::Client, redis::Connection)> {
        let n = self.sentinels.len();
        let first = self.preferred.load(Ordering::Relaxed) % n;
        let mut seen = Vec::with_capacity(n);
        for i in (0..n).map(|k| (first + k) % n) {
            let which = format!("sentinel {}", i + 1);
            let found = match self.ask(&self.sentinels[i]) {
                Err(e) => Err(format!("{which}: {}", describe(&e))),
                Ok(None) => Err(format!("{which}: does not know the master name")),
                Ok(Some((host, port))) => {
                    redis::Client::open(self.data.clone().set_addr(self.at(host, port)))
                        .and_then(|client| Ok((self.checked(&client)?, client)))
                        .map_err(|e| format!("the primary {which} named: {}", describe(&e)))
                }
            };
            match found {
                Ok((conn, client)) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok((client, conn));
                }
                Err(why) => seen.push(why),
            }
        }
        Err(not_found(&format!(
            "no sentinel named a reachable primary for {:?} ({})",
            self.master_name,
            seen.join("; ")
        )))
    }

    /// `SENTINEL get-master-addr-by-name` on one sentinel, over a bounded connection.
    fn ask(&self, sentinel: &redis::Client) -> RedisResult<Option<(String, u16)>> {
        let mut c = sentinel.get_connection_with_timeout(self.connect_timeout)?;
        c.set_read_timeout(Some(self.timeout))?;
        c.set_write_timeout(Some(self.timeout))?;
        redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(&self.master_name)
            .query(&mut c)
    }

    /// `host:port` with the data nodes' TLS settings (the certificate is checked against the
    /// address the sentinels name).
    fn at(&self, host: String, port: u16) -> ConnectionAddr {
        match self.data.addr() {
            ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => ConnectionAddr::TcpTls {
                host,
                port,
                insecure: *insecure,
                tls_params: tls_params.clone(),
            },
            _ => ConnectionAddr::Tcp(host, port),
        }
    }

    /// A bounded connection to `client`'s node, used only if `ROLE` says it is the primary.
    fn checked(&self, client: &redis::Client) -> RedisResult<redis::Connection> {
        let mut c = client.get_connection_with_timeout(self.connect_timeout)?;
        c.set_read_timeout(Some(self.timeout))?;
        c.set_write_timeout(Some(self.timeout))?;
        let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut c)?;
        let role = role
            .first()
            .and_then(|r| redis::from_redis_value_ref::<String>(r).ok())
            .unwrap_or_default();
        if role != "master" {
            return Err(not_found(&format!("not a primary (ROLE: {role:?})")));
        }
        Ok(c)
    }
}

/// A discovery failure: an I/O error to the backend's breaker and pool (the store was not
/// reached), so the call is not counted as answered.
fn not_found(why: &str) -> RedisError {
    RedisError::from(std::io::Error::other(why.to_owned()))
}

/// One sentinel's failure in a few words (the crate's messages carry no URL).
fn describe(e: &RedisError) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connection_refusal() {
        "connection refused".into()
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_names() {
        for ok in ["mymaster", "ezauth-primary_1.a"] {
            assert!(valid_master_name(ok), "{ok}");
        }
        for bad in ["", "my master", "a/b", "x@y", &"m".repeat(65)] {
            assert!(!valid_master_name(bad), "{bad}");
        }
    }

    #[test]
    fn the_data_url_names_the_master_without_a_port() {
        for ok in [
            "redis://mymaster",
            "redis://app:pw@mymaster/2",
            "rediss://:pw@mymaster",
        ] {
            assert!(check_data_url(ok, "mymaster").is_ok(), "{ok}");
        }
        for bad in [
            "redis://10.0.0.1:6379",
            "redis://mymaster:6379",
            "redis://other",
            "redis://mymaster,redis://mymaster",
            "not a url",
        ] {
            let e = check_data_url(bad, "mymaster").unwrap_err();
            assert!(!e.contains("10.0.0.1") && !e.contains("pw"), "{e}");
        }
    }

    #[test]
    fn sentinel_urls() {
        let parsed = parse_sentinel_urls("redis://s1:26379, rediss://u:p4ss@s2:26380").unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1].redis_settings().password(), Some("p4ss"));
        for bad in [
            "",
            "http://s1:26379",
            "redis://u:p4ss@s1:26379/1",
            "rediss://u:p4ss@s1:26379#insecure",
            "redis://s1:26379,",
        ] {
            let e = parse_sentinel_urls(bad).unwrap_err();
            assert!(!e.contains("p4ss") && !e.contains("s1"), "{e}");
        }
    }
}
