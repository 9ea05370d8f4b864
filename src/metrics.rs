//! Counters and latency histograms, rendered in Prometheus' text format (0.0.4).
//!
//! Every value is an `AtomicU64` in one fixed-layout block ([`Block`]): a header, the global
//! counters, then one [`PerProvider`] section per configured provider, in configuration order.
//! Labels are resolved when the module is made (the provider names come from the
//! configuration, every other label from a closed list), so counting is a relaxed `fetch_add`
//! on a slot: no lock, no allocation, no lookup by string on the hot path.
//!
//! The block lives on the heap unless the host gives memory for it
//! ([`Metrics::use_memory`]): nginx hands every module a shared memory zone made by the master
//! before it forks, so all workers count into the same atomics and one scrape of any worker
//! sees the sum.

use std::fmt::Write as _;
use std::mem::size_of;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

use crate::outbound::{HttpClient, HttpRequest, HttpResponse, TransportError};

/// Upper bounds of the latency buckets, in microseconds (100 µs to 10 s); one more bucket,
/// `+Inf`, holds the rest. Store reads on a local disk land in the first ones, provider calls
/// in the middle, timeouts in the last.
const BOUNDS_MICROS: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// A latency histogram: per-bucket counts (not cumulative: one increment per observation;
/// rendering sums them), the sum in microseconds, and the count.
#[repr(C)]
pub struct Histogram {
    buckets: [AtomicU64; BOUNDS_MICROS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn observe(&self, micros: u64) {
        let bucket = BOUNDS_MICROS.partition_point(|&b| b < micros);
        self.buckets[bucket].fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(micros, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }
}

/// How an event ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success = 0,
    Failure = 1,
}

const OUTCOMES: [&str; 2] = ["success", "failure"];

impl Outcome {
    pub fn of<T, E>(result: &Result<T, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}

/// What the module decided for a request (counted once, when the request's answer is known:
/// after the blocking step for one that took it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// On to the app without a user.
    Anonymous = 0,
    /// On to the app with a user's identity headers.
    SignedIn = 1,
    /// Answered by one of the module's routes (under the API prefix).
    Route = 2,
    /// Sent to a provider's login page.
    LoginRedirect = 3,
    /// Refused with 401.
    Unauthorized = 4,
    /// Refused with 403.
    Forbidden = 5,
    /// Any other answer of the module (400 for a bad request, 404 by `Return404`, preflights).
    Other = 6,
}

const DECISIONS: [&str; 7] = [
    "anonymous",
    "signed_in",
    "route",
    "login_redirect",
    "unauthorized",
    "forbidden",
    "other",
];

/// Why a refresh ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// `GET /.auth/refresh`.
    Route = 0,
    /// A signed-in request whose access token was about to expire.
    AheadOfExpiry = 1,
}

const TRIGGERS: [&str; 2] = ["route", "ahead_of_expiry"];

/// What a call to a provider was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// Token endpoints (code redemption, refresh, OAuth 1.0a's temporary credentials).
    Token = 0,
    /// Discovery documents and signing keys (JWKS).
    Metadata = 1,
    /// The provider's API with the user's token (GitHub's user, Facebook's Graph, Twitter's).
    Api = 2,
}

const CALL_KINDS: [&str; 3] = ["token", "metadata", "api"];

impl CallKind {
    /// Sorted by its shape: a POST is a token call; a GET carrying a credential
    /// (`Authorization`) is an API call; a GET without one is a token call when the path ends
    /// in `token` (Facebook's `oauth/access_token`), else a metadata document.
    fn of(request: &HttpRequest) -> CallKind {
        if request.method != "GET" {
            return if request.method == "POST" {
                CallKind::Token
            } else {
                CallKind::Api
            };
        }
        if request
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("Authorization"))
        {
            return CallKind::Api;
        }
        let path = request.url.split(['?', '#']).next().unwrap_or_default();
        if path.ends_with("token") {
            CallKind::Token
        } else {
            CallKind::Metadata
        }
    }
}

/// A token-store operation on the backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOp {
    Get = 0,
    Put = 1,
    Delete = 2,
    Lock = 3,
    Claim = 4,
}

const STORE_OPS: [&str; 5] = ["get", "put", "delete", "lock", "claim"];

/// The counters of no provider in particular.
#[repr(C)]
pub struct Global {
    requests: [AtomicU64; DECISIONS.len()],
    store_ops: [[AtomicU64; OUTCOMES.len()]; STORE_OPS.len()],
    store_latency: [Histogram; STORE_OPS.len()],
    /// Record-cache lookups: hit, miss.
    cache: [AtomicU64; 2],
    blocking_total: AtomicU64,
    /// Gauges, moved up and down (wrapping arithmetic: a decrement is an add of `u64::MAX`).
    blocking_queued: AtomicU64,
    blocking_running: AtomicU64,
}

/// The counters of one configured provider.
#[repr(C)]
pub struct PerProvider {
    sign_ins: [AtomicU64; OUTCOMES.len()],
    client_logins: [AtomicU64; OUTCOMES.len()],
    refreshes: [[AtomicU64; OUTCOMES.len()]; TRIGGERS.len()],
    calls: [[AtomicU64; OUTCOMES.len()]; CALL_KINDS.len()],
    call_latency: [Histogram; CALL_KINDS.len()],
}

/// The start of a block: what wrote it, so memory a host hands back after a reload is kept
/// only when it was laid out for the same providers.
#[repr(C)]
struct Header {
    magic: AtomicU64,
    fingerprint: AtomicU64,
}

/// "ezauthM" and the layout version: changes whenever a struct above does.
const MAGIC: u64 = u64::from_be_bytes(*b"ezauthM\x01");

/// The block's layout: `Header`, `Global`, then `PerProvider` times the provider count.
pub struct Block;

impl Block {
    const GLOBAL: usize = size_of::<Header>();
    const PROVIDERS: usize = Block::GLOBAL + size_of::<Global>();

    /// Bytes of a block for `providers` providers (a multiple of 8).
    pub fn size(providers: usize) -> usize {
        Block::PROVIDERS + providers * size_of::<PerProvider>()
    }
}

/// The metrics of one module: the block (its own, or memory the host gave) and the provider
/// names its sections stand for.
pub struct Metrics {
    providers: Vec<String>,
    fingerprint: u64,
    /// The block counted into: `own`'s, or the host's after [`Metrics::use_memory`].
    base: AtomicPtr<AtomicU64>,
    /// The heap block, kept for as long as `base` may point at it.
    _own: Box<[AtomicU64]>,
}

/// Why host memory was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum MemoryError {
    TooSmall { needed: usize },
    Misaligned,
}

impl Metrics {
    /// Counters for these providers (their configured names, in order), in a heap block.
    pub fn new(providers: Vec<String>) -> Metrics {
        let words = Block::size(providers.len()) / 8;
        let own: Box<[AtomicU64]> = (0..words).map(|_| AtomicU64::new(0)).collect();
        let fingerprint = fingerprint(&providers);
        let metrics = Metrics {
            providers,
            fingerprint,
            base: AtomicPtr::new(own.as_ptr() as *mut AtomicU64),
            _own: own,
        };
        metrics.header().magic.store(MAGIC, Relaxed);
        metrics.header().fingerprint.store(fingerprint, Relaxed);
        metrics
    }

    /// Bytes the host must give [`Metrics::use_memory`].
    pub fn size(&self) -> usize {
        Block::size(self.providers.len())
    }

    /// Counts into `len` bytes at `ptr` from now on (what was counted before stays in the old
    /// block). Memory that holds a block of the same layout (a reload with the same providers)
    /// keeps its counts; anything else is zeroed first. The host zeroes nothing itself.
    ///
    /// # Safety
    ///
    /// `ptr` is valid for reads and writes of `len` bytes, only ever accessed as `AtomicU64`s
    /// (by this and other processes' modules), and outlives this `Metrics`. Call it before
    /// requests run (nginx: at configuration, in the master): no synchronisation orders it
    /// with counting threads but the host's own thread start or fork.
    pub unsafe fn use_memory(&self, ptr: *mut u8, len: usize) -> Result<(), MemoryError> {
        if len < self.size() {
            return Err(MemoryError::TooSmall {
                needed: self.size(),
            });
        }
        if ptr.is_null() || ptr.align_offset(std::mem::align_of::<AtomicU64>()) != 0 {
            return Err(MemoryError::Misaligned);
        }
        let words = std::slice::from_raw_parts(ptr as *const AtomicU64, self.size() / 8);
        if words[0].load(Relaxed) != MAGIC || words[1].load(Relaxed) != self.fingerprint {
            for w in words {
                w.store(0, Relaxed);
            }
            words[0].store(MAGIC, Relaxed);
            words[1].store(self.fingerprint, Relaxed);
        }
        self.base.store(ptr as *mut AtomicU64, Relaxed);
        Ok(())
    }

    /// The configured providers' names, in section order.
    pub fn providers(&self) -> &[String] {
        &self.providers
    }

    fn header(&self) -> &Header {
        // SAFETY: `base` points at a live block of `size()` bytes (`new`, `use_memory`).
        unsafe { &*(self.base.load(Relaxed) as *const Header) }
    }

    fn global(&self) -> &Global {
        // SAFETY: as `header`; `Global` follows the header.
        unsafe { &*((self.base.load(Relaxed) as *const u8).add(Block::GLOBAL) as *const Global) }
    }

    /// The section of the provider at `index` in configuration order.
    fn provider_at(&self, index: usize) -> Option<&PerProvider> {
        if index >= self.providers.len() {
            return None;
        }
        // SAFETY: as `header`; the block holds `providers.len()` sections after `Global`.
        Some(unsafe {
            &*((self.base.load(Relaxed) as *const u8)
                .add(Block::PROVIDERS + index * size_of::<PerProvider>())
                as *const PerProvider)
        })
    }

    /// The section of a configured provider, by name (a handful: a scan); `None` for a name
    /// the configuration does not have, which is counted nowhere.
    fn provider(&self, name: &str) -> Option<&PerProvider> {
        let index = self
            .providers
            .iter()
            .position(|p| p.eq_ignore_ascii_case(name))?;
        self.provider_at(index)
    }

    pub fn request(&self, decision: Decision) {
        self.global().requests[decision as usize].fetch_add(1, Relaxed);
    }

    pub fn sign_in(&self, provider: &str, outcome: Outcome) {
        if let Some(p) = self.provider(provider) {
            p.sign_ins[outcome as usize].fetch_add(1, Relaxed);
        }
    }

    pub fn client_login(&self, provider: &str, outcome: Outcome) {
        if let Some(p) = self.provider(provider) {
            p.client_logins[outcome as usize].fetch_add(1, Relaxed);
        }
    }

    pub fn refresh(&self, provider: &str, trigger: Trigger, outcome: Outcome) {
        if let Some(p) = self.provider(provider) {
            p.refreshes[trigger as usize][outcome as usize].fetch_add(1, Relaxed);
        }
    }

    fn provider_call(&self, index: usize, kind: CallKind, outcome: Outcome, micros: u64) {
        if let Some(p) = self.provider_at(index) {
            p.calls[kind as usize][outcome as usize].fetch_add(1, Relaxed);
            p.call_latency[kind as usize].observe(micros);
        }
    }

    /// Runs one backend operation, counting it and its latency.
    pub fn store_op<T, E>(&self, op: StoreOp, run: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let start = Instant::now();
        let result = run();
        let g = self.global();
        g.store_ops[op as usize][Outcome::of(&result) as usize].fetch_add(1, Relaxed);
        g.store_latency[op as usize].observe(micros_since(start));
        result
    }

    /// A record-cache lookup answered from the cache (`hit`) or not.
    pub fn cache_lookup(&self, hit: bool) {
        self.global().cache[usize::from(!hit)].fetch_add(1, Relaxed);
    }

    /// A request asked for the blocking step: it is queued until [`Metrics::blocking_started`]
    /// (or [`Metrics::blocking_dropped`] when the host frees it unrun).
    pub fn blocking_queued(&self) {
        let g = self.global();
        g.blocking_total.fetch_add(1, Relaxed);
        g.blocking_queued.fetch_add(1, Relaxed);
    }

    pub fn blocking_dropped(&self) {
        self.global().blocking_queued.fetch_sub(1, Relaxed);
    }

    /// A queued blocking step starts; it counts as running until the guard is dropped (also
    /// when the step panics).
    pub fn blocking_started(&self) -> Running<'_> {
        let g = self.global();
        g.blocking_queued.fetch_sub(1, Relaxed);
        g.blocking_running.fetch_add(1, Relaxed);
        Running(self)
    }

    /// `http`, with each call counted and timed for the provider at `index`.
    pub fn measured(
        self: &Arc<Self>,
        index: usize,
        http: Arc<dyn HttpClient>,
    ) -> Arc<dyn HttpClient> {
        Arc::new(Measured {
            metrics: Arc::clone(self),
            index,
            http,
        })
    }

    /// The exposition: every metric, in Prometheus' text format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 << 10);
        let g = self.global();
        let v = |a: &AtomicU64| a.load(Relaxed);

        family(
            &mut out,
            "ezauth_requests_total",
            "counter",
            "Requests by what the module decided.",
        );
        for (i, d) in DECISIONS.iter().enumerate() {
            sample(
                &mut out,
                "ezauth_requests_total",
                &[("decision", d)],
                v(&g.requests[i]),
            );
        }

        let per_provider =
            |out: &mut String, name: &str, help: &str, get: &dyn Fn(&PerProvider, usize) -> u64| {
                family(out, name, "counter", help);
                for (p, provider) in self.providers.iter().enumerate() {
                    let section = self.provider_at(p).expect("index in range");
                    for (o, outcome) in OUTCOMES.iter().enumerate() {
                        sample(
                            out,
                            name,
                            &[("provider", provider), ("outcome", outcome)],
                            get(section, o),
                        );
                    }
                }
            };
        per_provider(
            &mut out,
            "ezauth_sign_ins_total",
            "Server-directed sign-ins (login callbacks) by provider and outcome.",
            &|s, o| v(&s.sign_ins[o]),
        );
        per_provider(
            &mut out,
            "ezauth_client_logins_total",
            "Client-directed logins (POST /.auth/login/{provider}) by provider and outcome.",
            &|s, o| v(&s.client_logins[o]),
        );

        family(&mut out, "ezauth_refreshes_total", "counter", "Token refreshes by provider, trigger (route: /.auth/refresh; ahead_of_expiry) and outcome.");
        for (p, provider) in self.providers.iter().enumerate() {
            let s = self.provider_at(p).expect("index in range");
            for (t, trigger) in TRIGGERS.iter().enumerate() {
                for (o, outcome) in OUTCOMES.iter().enumerate() {
                    sample(
                        &mut out,
                        "ezauth_refreshes_total",
                        &[
                            ("provider", provider),
                            ("trigger", trigger),
                            ("outcome", outcome),
                        ],
                        v(&s.refreshes[t][o]),
                    );
                }
            }
        }

        family(&mut out, "ezauth_provider_calls_total", "counter", "HTTP calls to identity providers by provider, kind and outcome (failure: no answer, or a 5xx).");
        for (p, provider) in self.providers.iter().enumerate() {
            let s = self.provider_at(p).expect("index in range");
            for (k, kind) in CALL_KINDS.iter().enumerate() {
                for (o, outcome) in OUTCOMES.iter().enumerate() {
                    sample(
                        &mut out,
                        "ezauth_provider_calls_total",
                        &[("provider", provider), ("kind", kind), ("outcome", outcome)],
                        v(&s.calls[k][o]),
                    );
                }
            }
        }
        family(
            &mut out,
            "ezauth_provider_call_duration_seconds",
            "histogram",
            "Latency of calls to identity providers by provider and kind.",
        );
        for (p, provider) in self.providers.iter().enumerate() {
            let s = self.provider_at(p).expect("index in range");
            for (k, kind) in CALL_KINDS.iter().enumerate() {
                histogram(
                    &mut out,
                    "ezauth_provider_call_duration_seconds",
                    &[("provider", provider), ("kind", kind)],
                    &s.call_latency[k],
                );
            }
        }

        family(
            &mut out,
            "ezauth_store_operations_total",
            "counter",
            "Token-store backend operations by operation and outcome.",
        );
        for (i, op) in STORE_OPS.iter().enumerate() {
            for (o, outcome) in OUTCOMES.iter().enumerate() {
                sample(
                    &mut out,
                    "ezauth_store_operations_total",
                    &[("op", op), ("outcome", outcome)],
                    v(&g.store_ops[i][o]),
                );
            }
        }
        family(
            &mut out,
            "ezauth_store_operation_duration_seconds",
            "histogram",
            "Latency of token-store backend operations by operation.",
        );
        for (i, op) in STORE_OPS.iter().enumerate() {
            histogram(
                &mut out,
                "ezauth_store_operation_duration_seconds",
                &[("op", op)],
                &g.store_latency[i],
            );
        }

        family(&mut out, "ezauth_store_cache_lookups_total", "counter", "Token-record cache lookups: hit (answered from memory) or miss (read from the backend).");
        sample(
            &mut out,
            "ezauth_store_cache_lookups_total",
            &[("result", "hit")],
            v(&g.cache[0]),
        );
        sample(
            &mut out,
            "ezauth_store_cache_lookups_total",
            &[("result", "miss")],
            v(&g.cache[1]),
        );

        family(
            &mut out,
            "ezauth_blocking_steps_total",
            "counter",
            "Requests that asked the host for a blocking step (provider or remote store I/O).",
        );
        sample(
            &mut out,
            "ezauth_blocking_steps_total",
            &[],
            v(&g.blocking_total),
        );
        family(&mut out, "ezauth_blocking_steps_queued", "gauge", "Blocking steps asked for and not yet started: the host's thread-pool queue as the library sees it.");
        sample(
            &mut out,
            "ezauth_blocking_steps_queued",
            &[],
            gauge(&g.blocking_queued),
        );
        family(
            &mut out,
            "ezauth_blocking_steps_running",
            "gauge",
            "Blocking steps running on the host's threads.",
        );
        sample(
            &mut out,
            "ezauth_blocking_steps_running",
            &[],
            gauge(&g.blocking_running),
        );
        out
    }
}

/// A blocking step that runs: see [`Metrics::blocking_started`].
pub struct Running<'a>(&'a Metrics);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.global().blocking_running.fetch_sub(1, Relaxed);
    }
}

/// A gauge moved with wrapping adds reads as a signed number; a transient negative (a
/// decrement seen before its increment by a scrape in between) shows as 0.
fn gauge(a: &AtomicU64) -> u64 {
    (a.load(Relaxed) as i64).max(0) as u64
}

fn micros_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Names the block's layout for these providers (FNV-1a over the names), so a block written
/// for other providers is not taken for this one's.
fn fingerprint(providers: &[String]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in providers.iter().flat_map(|p| p.bytes().chain([0])) {
        h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    h ^ Block::size(providers.len()) as u64
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn labels(out: &mut String, labels: &[(&str, &str)], le: Option<&str>) {
    let all = labels.iter().copied().chain(le.map(|le| ("le", le)));
    for (i, (k, v)) in all.enumerate() {
        out.push(if i == 0 { '{' } else { ',' });
        // Values come from the configuration (provider names) or closed lists; escaped anyway.
        let _ = write!(
            out,
            "{k}=\"{}\"",
            v.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        );
    }
    if !labels.is_empty() || le.is_some() {
        out.push('}');
    }
}

fn sample(out: &mut String, name: &str, l: &[(&str, &str)], value: u64) {
    out.push_str(name);
    labels(out, l, None);
    let _ = writeln!(out, " {value}");
}

fn histogram(out: &mut String, name: &str, l: &[(&str, &str)], h: &Histogram) {
    let mut cumulative = 0;
    for (i, bucket) in h.buckets.iter().enumerate() {
        cumulative += bucket.load(Relaxed);
        let le = BOUNDS_MICROS
            .get(i)
            .map_or_else(|| "+Inf".to_owned(), |&b| seconds(b));
        let _ = write!(out, "{name}_bucket");
        labels(out, l, Some(&le));
        let _ = writeln!(out, " {cumulative}");
    }
    let _ = write!(out, "{name}_sum");
    labels(out, l, None);
    let _ = writeln!(out, " {}", seconds(h.sum_micros.load(Relaxed)));
    let _ = write!(out, "{name}_count");
    labels(out, l, None);
    let _ = writeln!(out, " {}", h.count.load(Relaxed));
}

/// Microseconds as decimal seconds, exactly (`2500` → `0.0025`).
fn seconds(micros: u64) -> String {
    let (whole, frac) = (micros / 1_000_000, micros % 1_000_000);
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:06}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// A provider's HTTP client that counts and times each call.
struct Measured {
    metrics: Arc<Metrics>,
    index: usize,
    http: Arc<dyn HttpClient>,
}

impl HttpClient for Measured {
    fn send(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let start = Instant::now();
        let answer = self.http.send(request);
        let outcome = match &answer {
            Ok(r) if r.status < 500 => Outcome::Success,
            _ => Outcome::Failure,
        };
        self.metrics.provider_call(
            self.index,
            CallKind::of(request),
            outcome,
            micros_since(start),
        );
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_take_each_value_at_its_upper_bound() {
        let m = Metrics::new(vec![]);
        let h = &m.global().store_latency[0];
        for micros in [0, 100, 101, 10_000_000, 10_000_001] {
            h.observe(micros);
        }
        let counts: Vec<u64> = h.buckets.iter().map(|b| b.load(Relaxed)).collect();
        assert_eq!(counts[0], 2, "0 and 100 µs are ≤ 100 µs");
        assert_eq!(counts[1], 1, "101 µs is ≤ 250 µs");
        assert_eq!(counts[BOUNDS_MICROS.len() - 1], 1, "10 s is ≤ 10 s");
        assert_eq!(counts[BOUNDS_MICROS.len()], 1, "past 10 s: +Inf");
        assert_eq!(h.count.load(Relaxed), 5);
        assert_eq!(h.sum_micros.load(Relaxed), 20_000_202);
    }

    #[test]
    fn seconds_are_exact_decimals() {
        assert_eq!(seconds(100), "0.0001");
        assert_eq!(seconds(2_500), "0.0025");
        assert_eq!(seconds(1_000_000), "1");
        assert_eq!(seconds(2_500_000), "2.5");
    }

    #[test]
    fn host_memory_is_taken_zeroed_and_kept_for_the_same_layout() {
        let a = Metrics::new(vec!["aad".into()]);
        let mut memory = vec![0xffu64; a.size() / 8];
        let ptr = memory.as_mut_ptr() as *mut u8;
        unsafe { a.use_memory(ptr, a.size()).unwrap() };
        assert!(a
            .render()
            .contains("ezauth_requests_total{decision=\"anonymous\"} 0"));
        a.request(Decision::Anonymous);
        // Another module of the same layout (a reload, another worker) counts on.
        let b = Metrics::new(vec!["aad".into()]);
        unsafe { b.use_memory(ptr, b.size()).unwrap() };
        b.request(Decision::Anonymous);
        assert!(a
            .render()
            .contains("ezauth_requests_total{decision=\"anonymous\"} 2"));
        // Another layout starts over.
        let c = Metrics::new(vec!["google".into()]);
        unsafe { c.use_memory(ptr, c.size()).unwrap() };
        assert!(c
            .render()
            .contains("ezauth_requests_total{decision=\"anonymous\"} 0"));
        assert_eq!(
            unsafe { c.use_memory(ptr, c.size() - 8) },
            Err(MemoryError::TooSmall { needed: c.size() })
        );
        assert_eq!(
            unsafe { c.use_memory(ptr.add(4), c.size()) },
            Err(MemoryError::Misaligned)
        );
    }

    #[test]
    fn calls_are_sorted_by_shape() {
        let req = |method: &str, url: &str, auth: bool| HttpRequest {
            method: method.into(),
            url: url.into(),
            headers: if auth {
                vec![("authorization".into(), "Bearer x".into())]
            } else {
                vec![]
            },
            body: vec![],
        };
        assert_eq!(
            CallKind::of(&req("POST", "https://idp/token", false)),
            CallKind::Token
        );
        assert_eq!(
            CallKind::of(&req(
                "GET",
                "https://graph/oauth/access_token?code=1",
                false
            )),
            CallKind::Token
        );
        assert_eq!(
            CallKind::of(&req(
                "GET",
                "https://idp/.well-known/openid-configuration",
                false
            )),
            CallKind::Metadata
        );
        assert_eq!(
            CallKind::of(&req("GET", "https://idp/keys", false)),
            CallKind::Metadata
        );
        assert_eq!(
            CallKind::of(&req("GET", "https://api/user", true)),
            CallKind::Api
        );
        assert_eq!(
            CallKind::of(&req("DELETE", "https://api/grant", true)),
            CallKind::Api
        );
    }
}
