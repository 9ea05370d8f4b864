//! The Azure Blob backend: one block blob per user in a container, reached through a
//! container SAS URL as App Service's token store does (`WEBSITE_AUTH_TOKEN_CONTAINER_SASURL`).
//! Blob REST over `outbound::HttpClient`: Put Blob, Get Blob (`If-None-Match` on the ETag,
//! so an unchanged record costs a 304), Delete Blob, Lease Blob; no `Authorization` header,
//! the SAS query is the credential. Every request is bounded in time, every body in size,
//! and the SAS query (its `sig=`) never reaches a log line or an error.
//!
//! **The lock is a lease on the record blob itself** (`<name>.tok`), not on a separate lock
//! blob: the service checks `x-ms-lease-id` on Put and Delete of the leased blob only, so a
//! lease on the record is what makes a holder whose lease lapsed have its write refused
//! (412) instead of overwriting its successor's record. A user without a record gets an
//! empty placeholder blob to lease (`If-None-Match: *`, so it never overwrites a record); an
//! empty blob reads as no record. The lease lasts [`BlobOptions::lease`] (15 to 60 s, the
//! service's range); a holder that may keep it longer ([`BlobOptions::hold`]) renews it on a
//! thread of its own until dropped, and stops renewing at `hold`, so a stuck holder lets go
//! at most one lease later.
//!
//! **Freshness**: a version is current for [`BlobOptions::staleness`] after the service last
//! confirmed it (default 2 s): a change made on another node is seen within that bound. The
//! hit path does no I/O; a copy still in use near its bound is confirmed again in the
//! background (`blob_ahead.rs`), so its user's requests do not wait for the service.
//!
//! **Without delete permission** (App Service documents `sp=rwl`, no `d`): Delete Blob
//! answers 403, and from then on a delete writes an empty blob (a tombstone, which reads as no
//! record) instead, logged once. Logout is unaffected either way: it writes the record's
//! revocation marks, it does not delete.
//!
//! **One-time claims** are empty blobs `once/<name>` created with `If-None-Match: *`, their
//! expiry in metadata; an expired one is taken over with `If-Match: <its ETag>`, so two
//! takers cannot both win. They are not deleted: a lifecycle rule on the `once/` prefix
//! removes them (README).
//!
//! **Outage**: a request that cannot reach the service fails with [`StoreError::Io`] within
//! its timeouts. After it, or after a 5xx (the service is there but failing, or throttling),
//! the circuit breaker (`breaker.rs`) fails calls at once, so a hung store does not pile up
//! blocking threads. A 4xx is an answer: the service works, the request was refused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::backend::{Backend, Got, Page};
use super::blob_ahead::{Ahead, Confirmed};
use super::breaker::Breaker;
use super::StoreError;
use crate::clock::{Clock, SystemClock};
use crate::logger::Logger;
use crate::outbound::{self, HttpClient, HttpRequest, HttpResponse, UreqClient};

/// The Blob REST version sent with every request: documented, and served by Azurite 3.x.
pub const API_VERSION: &str = "2023-11-03";

/// A record larger than this is refused as a whole: none comes close.
const MAX_RECORD: usize = 1 << 20;

const RECORD_SUFFIX: &str = ".tok";
const CLAIM_PREFIX: &str = "once/";
const EXPIRES_META: &str = "x-ms-meta-expires";

/// A container SAS URL, checked: `https` (plain `http` only to a loopback host: Azurite), a
/// container in the path, a SAS query. Shown (Debug, errors) without its query.
#[derive(Clone)]
pub struct ContainerUrl {
    /// `scheme://host[:port]/path-of-container`, no query, no trailing slash.
    base: String,
    /// The SAS query, as given.
    sas: String,
}

impl ContainerUrl {
    /// Checks `raw`; the message never repeats the SAS query.
    pub fn parse(raw: &str) -> Result<ContainerUrl, String> {
        let raw = raw.trim();
        let (base, sas) = raw.split_once('?').unwrap_or((raw, ""));
        let base = base.trim_end_matches('/');
        let url = outbound::check_endpoint(base).map_err(|why| {
            format!("must be a container SAS URL (https://ACCOUNT.blob.core.windows.net/CONTAINER?SAS): {why}")
        })?;
        if url.path().trim_matches('/').is_empty() {
            return Err(format!(
                "{base} names no container: the SAS URL must include the container path"
            ));
        }
        if url.fragment().is_some() || url.username() != "" {
            return Err(format!("{base}: no fragment or user name allowed"));
        }
        let has_sig =
            form_urlencoded::parse(sas.as_bytes()).any(|(k, v)| k == "sig" && !v.is_empty());
        if !has_sig {
            return Err(format!(
                "{base}?...: the query must be a SAS (with sv=..., sp=rwl or rwdl, sig=...)"
            ));
        }
        Ok(ContainerUrl {
            base: base.to_owned(),
            sas: sas.trim_start_matches('?').to_owned(),
        })
    }

    fn blob(&self, name: &str) -> String {
        format!("{}/{name}?{}", self.base, self.sas)
    }

    /// Lease Blob on `name`.
    fn lease(&self, name: &str) -> String {
        format!("{}/{name}?comp=lease&{}", self.base, self.sas)
    }

    fn container(&self, query: &str) -> String {
        format!("{}?{query}&{}", self.base, self.sas)
    }

    /// The container's URL without the SAS: what logs and messages name.
    pub fn shown(&self) -> &str {
        &self.base
    }
}

impl std::fmt::Debug for ContainerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}?<SAS hidden>", self.base)
    }
}

/// `text` with every `sig=` value masked: errors from the HTTP layer may quote the URL.
pub fn mask_sig(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("sig=") {
        out.push_str(&rest[..i + 4]);
        out.push_str("<hidden>");
        rest = &rest[i + 4..];
        let end = rest
            .find(|c: char| c == '&' || c == '"' || c == '\'' || c.is_whitespace())
            .unwrap_or(rest.len());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The bounds a blob store keeps.
#[derive(Debug, Clone)]
pub struct BlobOptions {
    /// A lease's duration, 15 to 60 s (the service's range): how long a crashed holder blocks
    /// its user's updates at most.
    pub lease: Duration,
    /// How long a holder may keep its lock (renewing the lease): the longest update, twice
    /// the provider timeout plus 5 s for the write (see the lock contract on `Backend`).
    pub hold: Duration,
    /// How long `lock` waits for another holder before it fails.
    pub wait: Duration,
    /// How long a read stays current without asking the service again.
    pub staleness: Duration,
    pub connect_timeout: Duration,
    /// Bound on each request, connection and body included.
    pub timeout: Duration,
}

impl BlobOptions {
    /// The bounds for a site whose provider calls take at most `http_timeout`.
    pub fn for_http_timeout(http_timeout: Duration) -> BlobOptions {
        let hold = http_timeout * 2 + Duration::from_secs(5);
        let lease = hold.clamp(Duration::from_secs(15), Duration::from_secs(60));
        BlobOptions {
            lease,
            hold,
            wait: hold + lease,
            staleness: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(3),
            timeout: Duration::from_secs(5),
        }
    }
}

pub struct BlobBackend {
    inner: Arc<Inner>,
    /// Confirms copies in use before their bound runs out; its threads end with the backend.
    ahead: Ahead,
}

pub(super) struct Inner {
    url: ContainerUrl,
    http: Arc<dyn HttpClient>,
    options: BlobOptions,
    log: Logger,
    /// Set at the first 403 on Delete Blob: deletes write tombstones from then on.
    no_delete: AtomicBool,
    /// Opened by a request without an answer or with a 5xx.
    breaker: Breaker,
}

/// What the backend knows of a blob it read or wrote.
#[derive(Clone, Debug)]
pub struct BlobVersion {
    /// `None`: no blob.
    etag: Option<String>,
    /// When the service last said this is the blob (shared with the background revalidation).
    confirmed: Arc<Confirmed>,
}

/// The user's lock: a lease on the user's record blob, released when dropped.
pub struct BlobLease<'a> {
    backend: &'a BlobBackend,
    /// The entry's name (the record blob is `name` + `.tok`).
    name: String,
    id: String,
    /// Dropping it stops the renewing thread.
    _renewing: Option<mpsc::Sender<()>>,
}

impl Drop for BlobLease<'_> {
    fn drop(&mut self) {
        let released = self.backend.inner.call(
            "PUT",
            &self.backend.inner.url.lease(&record_blob(&self.name)),
            &[
                ("x-ms-lease-action", "release"),
                ("x-ms-lease-id", &self.id),
            ],
            Vec::new(),
        );
        // The lease lapses by itself; a failed release only delays the next holder.
        if let Err(e) = released {
            self.backend
                .inner
                .log
                .debug(format_args!("token store (blob): lease release: {e}"));
        }
    }
}

/// The blob holding entry `name`'s record (what a tool filling a container directly writes).
pub fn record_blob(name: &str) -> String {
    format!("{name}{RECORD_SUFFIX}")
}

fn header<'r>(r: &'r HttpResponse, name: &str) -> Option<&'r str> {
    r.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn error_code(r: &HttpResponse) -> &str {
    header(r, "x-ms-error-code").unwrap_or("")
}

fn io(message: String) -> StoreError {
    StoreError::Io(std::io::Error::other(message))
}

impl BlobBackend {
    /// The backend over the container `url`, with `options`; makes no request yet.
    pub fn open(url: ContainerUrl, options: BlobOptions, log: &Logger) -> BlobBackend {
        let http = Arc::new(UreqClient::new(options.connect_timeout, options.timeout));
        BlobBackend::with_client(url, options, http, log)
    }

    /// The backend calling out through `http` (tests: a scripted double).
    pub fn with_client(
        url: ContainerUrl,
        options: BlobOptions,
        http: Arc<dyn HttpClient>,
        log: &Logger,
    ) -> BlobBackend {
        BlobBackend {
            ahead: Ahead::new(options.staleness),
            inner: Arc::new(Inner {
                url,
                http,
                breaker: Breaker::new(options.connect_timeout + options.timeout),
                options,
                log: log.clone(),
                no_delete: AtomicBool::new(false),
            }),
        }
    }

    pub fn options(&self) -> &BlobOptions {
        &self.inner.options
    }

    /// Can the container be listed with this SAS? One List Blobs of at most one name: what a
    /// startup check can ask without writing.
    pub fn check(&self) -> Result<(), String> {
        let url = self
            .inner
            .url
            .container("restype=container&comp=list&maxresults=1");
        let r = self
            .inner
            .call("GET", &url, &[], Vec::new())
            .map_err(|e| e.to_string())?;
        match r.status {
            200 => Ok(()),
            status => Err(format!(
                "{} answered {status} {} to List Blobs: the SAS URL must name an existing \
                 container and grant read, write and list (sp=rwl; add d to delete)",
                self.inner.url.shown(),
                error_code(&r)
            )),
        }
    }

    fn version(&self, name: &str, etag: Option<String>) -> BlobVersion {
        BlobVersion {
            etag,
            confirmed: self.ahead.confirmed_now(record_blob(name)),
        }
    }

    /// The lease id the guard holds on `name`'s record blob, if the guard is for `name`.
    fn lease_headers<'l>(name: &str, lease: &'l BlobLease<'_>) -> Vec<(&'static str, &'l str)> {
        if lease.name == name {
            vec![("x-ms-lease-id", lease.id.as_str())]
        } else {
            Vec::new()
        }
    }

    fn put_blob(
        &self,
        blob: &str,
        bytes: Vec<u8>,
        extra: &[(&str, &str)],
    ) -> Result<HttpResponse, StoreError> {
        let mut headers = vec![
            ("x-ms-blob-type", "BlockBlob"),
            ("Content-Type", "application/octet-stream"),
        ];
        headers.extend_from_slice(extra);
        self.inner
            .call("PUT", &self.inner.url.blob(blob), &headers, bytes)
    }

    /// A refused write: the lease lapsed (another holder may have the user now), or other.
    fn write_refused(&self, what: &str, blob: &str, r: &HttpResponse) -> StoreError {
        if r.status == 412 || error_code(r).starts_with("Lease") {
            return io(format!(
                "token store (blob): {what} of {blob} refused ({} {}): the lease was lost",
                r.status,
                error_code(r)
            ));
        }
        self.inner.unexpected(what, blob, r)
    }

    /// Writes an empty blob where a record was (never creates one): reads as no record.
    fn tombstone(&self, name: &str, lease: &BlobLease<'_>) -> Result<(), StoreError> {
        let blob = record_blob(name);
        let mut extra = vec![("If-Match", "*")];
        extra.extend(Self::lease_headers(name, lease));
        let r = self.put_blob(&blob, Vec::new(), &extra)?;
        match r.status {
            201 => Ok(()),
            // No blob: nothing to hide.
            412 if error_code(&r) == "ConditionNotMet" => Ok(()),
            404 if error_code(&r) == "BlobNotFound" => Ok(()),
            _ => Err(self.write_refused("tombstone", &blob, &r)),
        }
    }

    /// Renews the lease `id` on `blob` every third of its duration until `stop` is dropped
    /// or `hold` has passed since `taken`.
    fn keep_renewing(&self, blob: String, id: String, taken: Instant) -> mpsc::Sender<()> {
        let (stop, stopped) = mpsc::channel::<()>();
        let inner = Arc::clone(&self.inner);
        let log = self.inner.log.clone();
        let spawned = std::thread::Builder::new()
            .name("ezauth-lease".into())
            .spawn(move || {
                let every = inner.options.lease / 3;
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    if taken.elapsed() + every > inner.options.hold {
                        inner.log.warn(format_args!(
                            "token store (blob): a lock held longer than {:?}: its lease lapses",
                            inner.options.hold
                        ));
                        return;
                    }
                    let renewed = inner.call(
                        "PUT",
                        &inner.url.lease(&blob),
                        &[("x-ms-lease-action", "renew"), ("x-ms-lease-id", &id)],
                        Vec::new(),
                    );
                    match renewed {
                        Ok(r) if r.status == 200 => {}
                        Ok(r) => {
                            inner.log.warn(format_args!(
                                "token store (blob): lease renewal of {blob} refused: {} {}",
                                r.status,
                                error_code(&r)
                            ));
                            return;
                        }
                        Err(e) => inner
                            .log
                            .warn(format_args!("token store (blob): lease renewal: {e}")),
                    }
                }
            });
        if let Err(e) = spawned {
            // Without the thread the lease lasts its duration only: a longer update's write
            // is then refused rather than let through.
            log.warn(format_args!(
                "token store (blob): cannot start the lease renewal: {e}"
            ));
        }
        stop
    }
}

impl Inner {
    pub(super) fn log(&self) -> &Logger {
        &self.log
    }

    /// Is `blob` still the one with `etag`? A conditional Get Blob answered 304; anything
    /// else (a change, no answer) is no.
    pub(super) fn unchanged(&self, blob: &str, etag: &str) -> bool {
        self.call(
            "GET",
            &self.url.blob(blob),
            &[("If-None-Match", etag)],
            Vec::new(),
        )
        .is_ok_and(|r| r.status == 304)
    }

    /// Sends one request with the API version, through the breaker. Errors never carry the
    /// SAS.
    fn call(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<HttpResponse, StoreError> {
        if !self.breaker.admit() {
            return Err(io(format!(
                "token store (blob): {}: {}",
                self.url.shown(),
                self.breaker.refused()
            )));
        }
        let mut sent = vec![("x-ms-version".to_owned(), API_VERSION.to_owned())];
        sent.extend(
            headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        let request = HttpRequest {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: sent,
            body,
        };
        let path = request.url.split('?').next().unwrap_or_default().to_owned();
        let answer = self.http.send(&request);
        // A 5xx: the service is there but failing (or throttling); as good as no answer.
        self.breaker
            .record(answer.as_ref().is_ok_and(|r| r.status < 500));
        match answer {
            Ok(r) => Ok(r),
            Err(e) => {
                let detail = mask_sig(&e.detail.replace(&request.url, &path));
                Err(io(format!(
                    "token store (blob): {method} {path}: {:?}: {detail}",
                    e.kind
                )))
            }
        }
    }

    fn unexpected(&self, what: &str, blob: &str, r: &HttpResponse) -> StoreError {
        let hint = match r.status {
            403 => ": the SAS was refused (expired, wrong signature, or missing a permission: rwl, d to delete)",
            404 => ": no such container",
            _ => "",
        };
        io(format!(
            "token store (blob): {what} of {blob} in {} answered {} {}{hint}",
            self.url.shown(),
            r.status,
            error_code(r)
        ))
    }
}

impl Backend for BlobBackend {
    const LOCAL: bool = false;
    type Version = BlobVersion;
    type Guard<'a> = BlobLease<'a>;

    fn refusing(&self) -> bool {
        self.inner.breaker.refusing()
    }

    fn is_current(&self, v: &BlobVersion) -> bool {
        self.ahead
            .is_current(&v.confirmed, v.etag.as_deref(), &self.inner)
    }

    fn get(&self, name: &str, known: Option<&BlobVersion>) -> Result<Got<BlobVersion>, StoreError> {
        let blob = record_blob(name);
        let etag = known.and_then(|k| k.etag.as_deref());
        let headers: Vec<_> = etag.map(|e| ("If-None-Match", e)).into_iter().collect();
        let r = self
            .inner
            .call("GET", &self.inner.url.blob(&blob), &headers, Vec::new())?;
        let tag = header(&r, "etag").map(str::to_owned);
        match r.status {
            304 => Ok(Got::Unchanged(self.version(name, etag.map(str::to_owned)))),
            200 if r.body.len() > MAX_RECORD => Err(StoreError::Corrupt(format!(
                "{blob} is larger than {MAX_RECORD} bytes"
            ))),
            // A placeholder (for a lease) or a tombstone: no record.
            200 if r.body.is_empty() => Ok(Got::Missing(self.version(name, tag))),
            200 => Ok(Got::Found(r.body, self.version(name, tag))),
            404 if error_code(&r) == "BlobNotFound" => Ok(Got::Missing(self.version(name, None))),
            _ => Err(self.inner.unexpected("Get Blob", &blob, &r)),
        }
    }

    fn put(
        &self,
        name: &str,
        bytes: &[u8],
        lease: &BlobLease<'_>,
    ) -> Result<BlobVersion, StoreError> {
        let blob = record_blob(name);
        let r = self.put_blob(&blob, bytes.to_vec(), &Self::lease_headers(name, lease))?;
        match r.status {
            201 => Ok(self.version(name, header(&r, "etag").map(str::to_owned))),
            _ => Err(self.write_refused("Put Blob", &blob, &r)),
        }
    }

    fn delete(&self, name: &str, lease: &BlobLease<'_>) -> Result<(), StoreError> {
        if self.inner.no_delete.load(Ordering::Relaxed) {
            return self.tombstone(name, lease);
        }
        let blob = record_blob(name);
        let r = self.inner.call(
            "DELETE",
            &self.inner.url.blob(&blob),
            &Self::lease_headers(name, lease),
            Vec::new(),
        )?;
        match r.status {
            202 => Ok(()),
            404 if error_code(&r) == "BlobNotFound" => Ok(()),
            403 if error_code(&r) == "AuthorizationPermissionMismatch" => {
                if !self.inner.no_delete.swap(true, Ordering::Relaxed) {
                    self.inner.log.warn(format_args!(
                        "token store (blob): the SAS of {} has no delete permission: removed \
                         records are overwritten with empty blobs instead",
                        self.inner.url.shown()
                    ));
                }
                self.tombstone(name, lease)
            }
            _ => Err(self.write_refused("Delete Blob", &blob, &r)),
        }
    }

    fn lock(&self, name: &str) -> Result<BlobLease<'_>, StoreError> {
        let blob = record_blob(name);
        let url = self.inner.url.lease(&blob);
        let seconds = self.inner.options.lease.as_secs().clamp(15, 60).to_string();
        let deadline = Instant::now() + self.inner.options.wait;
        let mut pause = Duration::from_millis(5);
        loop {
            let r = self.inner.call(
                "PUT",
                &url,
                &[
                    ("x-ms-lease-action", "acquire"),
                    ("x-ms-lease-duration", &seconds),
                ],
                Vec::new(),
            )?;
            match r.status {
                201 => {
                    let Some(id) = header(&r, "x-ms-lease-id") else {
                        return Err(self.inner.unexpected("Lease Blob (no lease id)", &blob, &r));
                    };
                    let taken = Instant::now();
                    let renewing = (self.inner.options.hold > self.inner.options.lease)
                        .then(|| self.keep_renewing(blob.clone(), id.to_owned(), taken));
                    return Ok(BlobLease {
                        backend: self,
                        name: name.to_owned(),
                        id: id.to_owned(),
                        _renewing: renewing,
                    });
                }
                // No record yet: an empty placeholder to lease, never over a record.
                404 if error_code(&r) == "BlobNotFound" => {
                    let made = self.put_blob(&blob, Vec::new(), &[("If-None-Match", "*")])?;
                    if !matches!(made.status, 201 | 409 | 412) {
                        return Err(self
                            .inner
                            .unexpected("Put Blob (placeholder)", &blob, &made));
                    }
                }
                409 => {
                    if Instant::now() + pause > deadline {
                        return Err(io(format!(
                            "token store (blob): the lock of {blob} stayed taken for {:?}",
                            self.inner.options.wait
                        )));
                    }
                    std::thread::sleep(jitter(pause));
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                _ => return Err(self.inner.unexpected("Lease Blob", &blob, &r)),
            }
        }
    }

    /// List Blobs with `delimiter=/` (so `once/` claims come back as one prefix, skipped),
    /// `maxresults=limit` and the service's marker as the cursor. Empty blobs (lease
    /// placeholders, tombstones) read as no record and are not listed.
    fn list(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        // The service answers at most 5000 a page.
        let max = limit.clamp(1, 5000);
        let mut query = format!("restype=container&comp=list&delimiter=%2F&maxresults={max}");
        if let Some(marker) = cursor {
            query.push_str("&marker=");
            query.extend(form_urlencoded::byte_serialize(marker.as_bytes()));
        }
        let r = self
            .inner
            .call("GET", &self.inner.url.container(&query), &[], Vec::new())?;
        if r.status != 200 {
            return Err(self.inner.unexpected("List Blobs", "the container", &r));
        }
        let xml = String::from_utf8_lossy(&r.body);
        let mut names = Vec::new();
        for blob in xml.split("<Blob>").skip(1) {
            let blob = blob.split("</Blob>").next().unwrap_or_default();
            let Some(name) = xml_element(blob, "Name") else {
                continue;
            };
            let Some(name) = name.strip_suffix(RECORD_SUFFIX) else {
                continue;
            };
            let empty = xml_element(blob, "Content-Length").is_some_and(|l| l == "0");
            if !empty && !name.is_empty() && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                names.push(name.to_owned());
            }
        }
        let next = xml_element(&xml, "NextMarker")
            .filter(|m| !m.is_empty())
            .map(xml_unescape);
        Ok(Page { names, next })
    }

    fn claim_once(&self, name: &str, expires_at: i64) -> Result<bool, StoreError> {
        let blob = format!("{CLAIM_PREFIX}{name}");
        let expires = expires_at.to_string();
        let r = self.put_blob(
            &blob,
            Vec::new(),
            &[("If-None-Match", "*"), (EXPIRES_META, &expires)],
        )?;
        match r.status {
            201 => return Ok(true),
            409 | 412 => {}
            _ => return Err(self.inner.unexpected("Put Blob (claim)", &blob, &r)),
        }
        // Claimed before: taken over only once that claim has expired.
        let props = self
            .inner
            .call("HEAD", &self.inner.url.blob(&blob), &[], Vec::new())?;
        if props.status != 200 {
            // Gone meanwhile (an operator, a lifecycle rule): refused, the safe answer.
            return Ok(false);
        }
        let until = header(&props, EXPIRES_META).and_then(|v| v.parse::<i64>().ok());
        let (Some(until), Some(etag)) = (until, header(&props, "etag")) else {
            return Ok(false);
        };
        if until > SystemClock.now() {
            return Ok(false);
        }
        let r = self.put_blob(
            &blob,
            Vec::new(),
            &[("If-Match", etag), (EXPIRES_META, &expires)],
        )?;
        match r.status {
            201 => Ok(true),
            // Another taker won.
            409 | 412 => Ok(false),
            _ => Err(self.inner.unexpected("Put Blob (claim)", &blob, &r)),
        }
    }
}

/// The text of the first `<tag>…</tag>` in `xml` (none for an absent or empty `<tag />`).
fn xml_element<'x>(xml: &'x str, tag: &str) -> Option<&'x str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&format!("</{tag}>"))?;
    Some(&xml[start..start + len])
}

/// The five XML entities back to their characters (a marker may hold any of them).
fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// `pause` spread by up to half again, so waiters on one lease do not ask in step.
fn jitter(pause: Duration) -> Duration {
    let mut b = [0u8; 2];
    let spread = match openssl::rand::rand_bytes(&mut b) {
        Ok(()) => u16::from_le_bytes(b) as u32,
        Err(_) => 0,
    };
    pause + pause * (spread % 512) / 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_urls_are_https_with_a_container_and_a_sas() {
        let ok = ContainerUrl::parse(
            "https://acct.blob.core.windows.net/tokens?sv=2023-11-03&sr=c&sp=rwl&sig=c2VjcmV0",
        )
        .unwrap();
        assert_eq!(ok.shown(), "https://acct.blob.core.windows.net/tokens");
        assert_eq!(
            ok.blob("ab.tok"),
            "https://acct.blob.core.windows.net/tokens/ab.tok?sv=2023-11-03&sr=c&sp=rwl&sig=c2VjcmV0"
        );
        assert!(!format!("{ok:?}").contains("c2VjcmV0"));
        assert!(ContainerUrl::parse("http://127.0.0.1:10000/devstoreaccount1/t?sig=x").is_ok());
        for bad in [
            "http://acct.blob.core.windows.net/tokens?sig=c2VjcmV0",
            "https://acct.blob.core.windows.net/?sig=c2VjcmV0",
            "https://acct.blob.core.windows.net/tokens",
            "https://acct.blob.core.windows.net/tokens?sv=2023-11-03&sp=rwl",
            "ftp://acct/tokens?sig=c2VjcmV0",
            "tokens?sig=c2VjcmV0",
        ] {
            let e = ContainerUrl::parse(bad).unwrap_err();
            assert!(!e.contains("c2VjcmV0"), "{bad}: {e}");
        }
    }

    #[test]
    fn signatures_are_masked() {
        assert_eq!(
            mask_sig("GET http://h/c/b?sv=1&sig=abc%2Bdef&sp=r: refused"),
            "GET http://h/c/b?sv=1&sig=<hidden>&sp=r: refused"
        );
        assert_eq!(mask_sig("x sig=abc"), "x sig=<hidden>");
        assert_eq!(mask_sig("nothing"), "nothing");
    }

    #[test]
    fn leases_stay_in_the_service_range() {
        let o = BlobOptions::for_http_timeout(Duration::from_secs(10));
        assert_eq!(
            (o.lease, o.hold),
            (Duration::from_secs(25), Duration::from_secs(25))
        );
        let o = BlobOptions::for_http_timeout(Duration::from_secs(1));
        assert_eq!(o.lease, Duration::from_secs(15));
        let o = BlobOptions::for_http_timeout(Duration::from_secs(60));
        assert_eq!(
            (o.lease, o.hold),
            (Duration::from_secs(60), Duration::from_secs(125))
        );
    }
}
