//! Other nodes' writes, heard through Redis pub/sub, so a cached record goes stale as soon as
//! another node changes it instead of when its staleness bound passes. Every fenced write
//! publishes `{origin} {name}` on `{prefix}changed` (in the same script); each process runs
//! one subscriber thread that bumps the entry's counter in a fixed table, and a cached version
//! is current only while its counter is unchanged (one atomic load, no I/O).
//!
//! While the subscription stands, every change a node makes through ezauth is heard, so a
//! cached copy may be trusted for longer than the staleness bound (`redis.rs`). The listener
//! proves the subscription stands: its epoch is odd from the moment `SUBSCRIBE` is confirmed
//! until the connection fails. A copy read during one epoch is trusted past the staleness
//! bound only while that epoch lasts: every message sent during a gap in listening was either
//! heard or the epoch has changed since.
//!
//! Standing is not enough: messages wait in line, and a flood on the channel (or a starved
//! thread) can hold a change's message back for seconds. So the listener pings every
//! [`PING_EVERY`], even while messages arrive, and applies every message that came before the
//! answer; then it records when that ping was sent: every change published before then has
//! been heard. A copy is vouched for only while that moment is younger than [`HEARD_WITHIN`].
//! A server that went silent answers no ping (the read times out after [`POLL`]) and ends the
//! epoch.
//!
//! A message lost otherwise (an ACL without the channel, a cluster node failing over) only
//! leaves the staleness bound in force. The thread is started by the first read or write, so in the process that
//! serves requests (an nginx worker), never in one that only loaded the configuration (the
//! master, which forks); it stops within a read timeout once the store is dropped.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::logger::Logger;

/// Counters in the table; entries that share one are invalidated together.
const SLOTS: usize = 4096;

/// How long the subscriber waits for one read (a message, a ping's answer) before it gives
/// the connection up as silent, and at most between two looks at whether it should stop.
pub(super) const POLL: Duration = Duration::from_millis(500);

/// How often the subscriber pings, whatever arrives meanwhile.
const PING_EVERY: Duration = Duration::from_millis(250);

/// How recent the last answered ping must be (when it was sent) for the listener to vouch
/// for copies: everything published before it has been heard.
pub(super) const HEARD_WITHIN: Duration = Duration::from_millis(750);

/// Longest drain of what came before a ping's answer; a longer one is a flood, and the ping
/// does not count.
const DRAIN_AT_MOST: Duration = Duration::from_millis(100);

/// Pause before connecting again after the subscription failed.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// The node the subscriber connects to next, asked again after each failure: one of a fixed
/// list in turn ([`in_turn`]), or the primary the sentinels name now.
pub(super) type Nodes = Arc<dyn Fn() -> redis::RedisResult<redis::Client> + Send + Sync>;

/// `clients`, one per call, in turn.
pub(super) fn in_turn(clients: Vec<redis::Client>) -> Nodes {
    let next = std::sync::atomic::AtomicUsize::new(0);
    Arc::new(move || Ok(clients[next.fetch_add(1, Ordering::Relaxed) % clients.len()].clone()))
}

pub(super) struct Changes {
    shared: Arc<Shared>,
    started: AtomicBool,
    nodes: Nodes,
    channel: String,
    connect_timeout: Duration,
    log: Logger,
}

struct Shared {
    counters: Box<[AtomicU64]>,
    /// Odd while the subscription stands; each start and end of one adds one.
    epoch: AtomicU64,
    stop: AtomicBool,
    /// Drawn once per store; with the process id, the mark a process puts on what it
    /// publishes: its own writes are not news to it. The nginx master opens the store and its
    /// workers inherit it, so the draw alone would be the same in every worker, and a worker
    /// would take another's writes for its own.
    draw: String,
    /// When (µs from `start`) the last ping whose answer came, and everything before it was
    /// applied, was sent; 0: none yet.
    heard_until: AtomicU64,
    start: Instant,
}

impl Shared {
    fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn origin(&self) -> String {
        format!("{}.{}", self.draw, std::process::id())
    }
}

impl Changes {
    pub(super) fn new(
        nodes: Nodes,
        channel: String,
        connect_timeout: Duration,
        log: Logger,
    ) -> Changes {
        Changes {
            shared: Arc::new(Shared {
                counters: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
                epoch: AtomicU64::new(0),
                stop: AtomicBool::new(false),
                draw: crate::crypto::random_token(9),
                heard_until: AtomicU64::new(0),
                start: Instant::now(),
            }),
            started: AtomicBool::new(false),
            nodes,
            channel,
            connect_timeout,
            log,
        }
    }

    pub(super) fn channel(&self) -> &str {
        &self.channel
    }

    /// What a write publishes about the entry `name`.
    pub(super) fn message(&self, name: &str) -> String {
        format!("{} {name}", self.shared.origin())
    }

    /// The counter of the entry `name` (FNV-1a of the name: no allocation).
    pub(super) fn slot(name: &str) -> usize {
        let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        (hash % SLOTS as u64) as usize
    }

    pub(super) fn generation(&self, slot: usize) -> u64 {
        self.shared.counters[slot].load(Ordering::Acquire)
    }

    /// The current epoch when the subscription stands (every change announced from now on is
    /// heard while it lasts), else `None`.
    pub(super) fn listening(&self) -> Option<u64> {
        let epoch = self.shared.epoch.load(Ordering::Acquire);
        (epoch % 2 == 1).then_some(epoch)
    }

    /// Is the subscription that stood at `epoch` standing still?
    pub(super) fn still_listening(&self, epoch: u64) -> bool {
        self.shared.epoch.load(Ordering::Acquire) == epoch && self.heard_lately()
    }

    /// Was everything published until [`HEARD_WITHIN`] ago heard (see the module doc)?
    fn heard_lately(&self) -> bool {
        let until = self.shared.heard_until.load(Ordering::Acquire);
        until != 0 && self.shared.now_us().saturating_sub(until) < HEARD_WITHIN.as_micros() as u64
    }

    /// Starts the subscriber thread, once per store.
    pub(super) fn start(&self) {
        if self.started.load(Ordering::Relaxed) || self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let (shared, nodes) = (Arc::clone(&self.shared), Arc::clone(&self.nodes));
        let (channel, timeout, log) =
            (self.channel.clone(), self.connect_timeout, self.log.clone());
        let spawned = std::thread::Builder::new()
            .name("ezauth-redis-changes".into())
            .spawn(move || subscribe(&shared, &*nodes, &channel, timeout, &log));
        if let Err(e) = spawned {
            self.log.warn(format_args!(
                "token store: cannot start the Redis change listener ({e}): other nodes' \
                 changes are seen within the staleness bound only"
            ));
        }
    }
}

impl Drop for Changes {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
    }
}

/// The subscriber: listens until the store is dropped, connecting again (to the next node
/// `nodes` gives) whenever the subscription breaks; says so once per outage.
fn subscribe(
    shared: &Shared,
    nodes: &(dyn Fn() -> redis::RedisResult<redis::Client> + Send + Sync),
    channel: &str,
    connect_timeout: Duration,
    log: &Logger,
) {
    let mut failing = false;
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let node = nodes();
        match node
            .and_then(|client| listen(shared, &client, channel, connect_timeout, &mut failing))
        {
            Ok(()) => return,
            Err(e) => {
                if !failing {
                    log.warn(format_args!(
                        "token store: not hearing other nodes' changes on Redis ({e}); they \
                         are seen within the staleness bound until it is back"
                    ));
                    failing = true;
                }
            }
        }
        // Slept in steps, to stop promptly.
        for _ in 0..(RECONNECT_AFTER.as_millis() / 100) {
            if shared.stop.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Ends the epoch of a subscription when it ends, however it ends.
struct Standing<'a>(&'a AtomicU64);

impl<'a> Standing<'a> {
    fn begin(epoch: &'a AtomicU64) -> Standing<'a> {
        epoch.fetch_add(1, Ordering::AcqRel);
        Standing(epoch)
    }
}

impl Drop for Standing<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// One subscription: Ok when asked to stop, Err when it broke or went silent.
fn listen(
    shared: &Shared,
    client: &redis::Client,
    channel: &str,
    connect_timeout: Duration,
    failing: &mut bool,
) -> redis::RedisResult<()> {
    let mut conn = client.get_connection_with_timeout(connect_timeout)?;
    let mut pubsub = conn.as_pubsub();
    pubsub.set_read_timeout(Some(POLL))?;
    pubsub.subscribe(channel)?;
    let _standing = Standing::begin(&shared.epoch);
    *failing = false;
    let own = shared.origin();
    let apply = |msg: redis::Msg| {
        let text = std::str::from_utf8(msg.get_payload_bytes()).unwrap_or("");
        if let Some((origin, name)) = text.split_once(' ') {
            if origin != own {
                shared.counters[Changes::slot(name)].fetch_add(1, Ordering::AcqRel);
            }
        }
    };
    let mut next_ping = Instant::now();
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return Ok(());
        }
        if Instant::now() >= next_ping {
            // The answer comes after every message published before the ping; those are
            // applied before the ping counts. A server that does not answer within a poll
            // (a read timeout) ends the subscription.
            let sent = shared.now_us();
            pubsub.set_read_timeout(Some(POLL))?;
            pubsub.ping::<redis::Value>()?;
            pubsub.set_read_timeout(Some(Duration::from_millis(1)))?;
            let drained = Instant::now() + DRAIN_AT_MOST;
            let caught_up = loop {
                match pubsub.get_message() {
                    Ok(msg) => apply(msg),
                    Err(e) if e.is_timeout() => break true,
                    Err(e) => return Err(e),
                }
                if Instant::now() > drained {
                    break false;
                }
            };
            pubsub.set_read_timeout(Some(PING_EVERY))?;
            if caught_up {
                shared.heard_until.store(sent.max(1), Ordering::Release);
            }
            next_ping = Instant::now() + PING_EVERY;
            continue;
        }
        match pubsub.get_message() {
            Ok(msg) => apply(msg),
            Err(e) if e.is_timeout() => {}
            Err(e) => return Err(e),
        }
    }
}
