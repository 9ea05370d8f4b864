//! The C ABI, modelled on an IIS native module. The only place with C types, and with all
//! `unsafe` but the store's shared memory map and its fork to check the workers' access
//! (`store::generations`, `store::access`) and the fuzz entry point that drives this ABI
//! (`fuzzing`); everything here converts, checks for NULL, catches panics and calls the
//! pipeline.
//!
//! Conventions (also in the README):
//! - Handles are opaque. Each has one constructor and one `_free`; freeing NULL does nothing.
//! - Handle first, inputs next, outputs last; outputs are written only on `EZAUTH_OK`.
//! - Text is pointer + length (`ezauth_str`), never relying on a NUL terminator. Views returned
//!   by the library say how long they live.
//! - No panic crosses the boundary: it becomes `EZAUTH_PANIC`.
//! - A module handle is immutable and thread-safe; an outcome belongs to one request and may be
//!   used by one thread at a time (it may move between threads). An outcome holds a reference
//!   to the module it was made from, so it stays usable until it is freed, even after the host
//!   has freed its module handle.
#![allow(non_camel_case_types, clippy::missing_safety_doc)]

pub mod error;
mod handle;
mod panic;

use std::ffi::c_void;
use std::path::Path;
use std::sync::Arc;

use crate::http::{Outcome, Request, Response};
use crate::logger::{self, Level, Logger, RequestTag};
use crate::pipeline::Module;
use error::ezauth_result::*;
pub use error::{ezauth_error, ezauth_result};
use handle::{ArcHandle, BoxHandle};
use panic::{guard, guard_value};

/// The ABI version this library implements. A host compares `ezauth_abi_version()` with the
/// `EZAUTH_ABI_VERSION` it was compiled against before calling anything else. It is also the
/// number in the library's SONAME (`libezauth.so.2`), so a host linked against another ABI
/// is refused by the dynamic loader before it runs.
///
/// 2: outcomes hold their module (`ezauth_outcome_run_blocking` and
/// `ezauth_module_send_response` take no module; `send_response` no status), a typed
/// `ezauth_header_set`, log events as `ezauth_log_event` with per-request userdata.
pub const EZAUTH_ABI_VERSION: u32 = 2;

/// A byte string: pointer + length, not NUL-terminated. `ptr` may be NULL when `len` is 0.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ezauth_str {
    pub ptr: *const u8,
    pub len: usize,
}

/// One HTTP header as a name/value pair of byte strings.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ezauth_header {
    pub name: ezauth_str,
    pub value: ezauth_str,
}

/// A read-only view of one request, owned by the host and valid for the duration of the call
/// it is passed to. The library copies what it needs to keep.
#[repr(C)]
pub struct ezauth_request {
    /// `GET`, `POST`, ...
    pub method: ezauth_str,
    /// The raw request target: path and query, still percent-encoded.
    pub target: ezauth_str,
    /// `http` or `https`: how the host accepted the connection.
    pub scheme: ezauth_str,
    /// The host the client addressed (the `Host` header or the absolute-form authority).
    pub host: ezauth_str,
    /// The peer address, for logs.
    pub client_addr: ezauth_str,
    /// The request headers, in the order received; `headers` may be NULL when `header_count` is 0.
    pub headers: *const ezauth_header,
    pub header_count: usize,
    /// The request body, when the host has read one (POST routes need it); else empty.
    pub body: ezauth_str,
}

/// What the host does with a request after `ezauth_module_begin_request`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ezauth_action {
    /// Pass the request on to the application after applying the request-header edits
    /// (`EZAUTH_HEADERS_REQUEST_REMOVE`, then `EZAUTH_HEADERS_REQUEST_SET`).
    EZAUTH_ACTION_CONTINUE = 0,
    /// Send the response the outcome holds (`ezauth_outcome_status`,
    /// `EZAUTH_HEADERS_RESPONSE`, `ezauth_outcome_body`); do not call the application.
    EZAUTH_ACTION_FINISH = 1,
    /// The request needs blocking work (identity provider, remote store). Call
    /// `ezauth_outcome_run_blocking` on a thread that may block, then read the action again.
    EZAUTH_ACTION_BLOCKING = 2,
    /// The outcome pointer was NULL (or the library failed internally): answer 500.
    EZAUTH_ACTION_ERROR = 3,
}

/// Which header list of an outcome to read (the `set` argument of the header accessors): one
/// of the `EZAUTH_HEADERS_*` values. An integer type rather than a C enum on purpose: whatever
/// number a host passes is well-defined (an unknown one is an empty list), where a Rust enum
/// given an unlisted value would be undefined behaviour.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ezauth_header_set(pub u32);

/// CONTINUE: request headers to remove, matched by name case-insensitively (values empty).
pub const EZAUTH_HEADERS_REQUEST_REMOVE: ezauth_header_set = ezauth_header_set(0);
/// CONTINUE: request headers to set, replacing any of the same name.
pub const EZAUTH_HEADERS_REQUEST_SET: ezauth_header_set = ezauth_header_set(1);
/// FINISH: the headers of the response to send.
pub const EZAUTH_HEADERS_RESPONSE: ezauth_header_set = ezauth_header_set(2);
/// CONTINUE, after `ezauth_module_send_response`: headers to add to the app's response.
pub const EZAUTH_HEADERS_RESPONSE_ADD: ezauth_header_set = ezauth_header_set(3);

/// The header lists, as the library reads the selector.
#[derive(Clone, Copy)]
enum HeaderSet {
    RequestRemove,
    RequestSet,
    Response,
    ResponseAdd,
}

impl HeaderSet {
    fn of(set: ezauth_header_set) -> Option<HeaderSet> {
        Some(match set {
            EZAUTH_HEADERS_REQUEST_REMOVE => HeaderSet::RequestRemove,
            EZAUTH_HEADERS_REQUEST_SET => HeaderSet::RequestSet,
            EZAUTH_HEADERS_RESPONSE => HeaderSet::Response,
            EZAUTH_HEADERS_RESPONSE_ADD => HeaderSet::ResponseAdd,
            _ => return None,
        })
    }
}

/// Severity passed to the log callback.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ezauth_log_level {
    EZAUTH_LOG_ERROR = 1,
    EZAUTH_LOG_WARN = 2,
    EZAUTH_LOG_INFO = 3,
    EZAUTH_LOG_DEBUG = 4,
}

/// One log line, as the library hands it to the host's `ezauth_log_callback`. Valid only during
/// the call; the host copies what it keeps. New fields are only ever added at the end.
#[repr(C)]
pub struct ezauth_log_event {
    /// The line's severity.
    pub level: ezauth_log_level,
    /// The line (UTF-8, no NUL, no trailing newline).
    pub message: ezauth_str,
    /// The `log_userdata` the host gave `ezauth_module_begin_request` for the request this line
    /// is about (also while that outcome is run or answered), or NULL for a line about no
    /// request (configuration load, store checks, background work). nginx passes the request's
    /// connection log, so the line names the client and the request.
    pub request_userdata: *mut c_void,
}

/// The host's log sink. Called from any thread that calls into the library, possibly
/// concurrently; `event` is valid only during the call. `userdata` is what the host gave
/// `ezauth_module_new` (for every line, with or without a request).
pub type ezauth_log_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const ezauth_log_event)>;

/// A loaded configuration: providers, keys, the token store. Opaque; created by
/// `ezauth_module_new`, released by `ezauth_module_free`. Immutable and thread-safe.
pub struct ezauth_module {
    _private: [u8; 0],
}

impl ArcHandle for ezauth_module {
    type Rust = Module;
}

/// The module's answer for one request. Opaque; created by `ezauth_module_begin_request`, freed
/// by `ezauth_outcome_free`. Used by one thread at a time; it may move between threads. It
/// holds a reference to its module.
pub struct ezauth_outcome {
    _private: [u8; 0],
}

impl BoxHandle for ezauth_outcome {
    type Rust = OutcomeState;
}

/// Rust-side state behind an `ezauth_outcome` pointer.
struct OutcomeState {
    /// The module that made this outcome; kept alive by it, so the host's order of frees
    /// cannot leave an outcome pointing at a freed module.
    module: Arc<Module>,
    /// The host's per-request log userdata (`ezauth_module_begin_request`), as a tag.
    log_tag: RequestTag,
    outcome: Outcome,
    response_add: Vec<(String, String)>,
    /// Its blocking step was started (the metrics' queue gauge has let go of it).
    started: bool,
}

impl Drop for OutcomeState {
    /// A blocking outcome the host frees without running it leaves the queue.
    fn drop(&mut self) {
        if matches!(self.outcome, Outcome::Blocking(_)) && !self.started {
            self.module.app().metrics().blocking_dropped();
        }
    }
}

impl OutcomeState {
    fn header_count(&self, set: HeaderSet) -> usize {
        match (set, &self.outcome) {
            (HeaderSet::RequestRemove, Outcome::Continue(f)) => f.remove.len(),
            (HeaderSet::RequestSet, Outcome::Continue(f)) => f.set_count(),
            (HeaderSet::Response, Outcome::Finish(r)) => r.headers.len(),
            (HeaderSet::ResponseAdd, Outcome::Continue(_)) => self.response_add.len(),
            _ => 0,
        }
    }

    /// Header `index` of list `set` as (name, value); names to remove have an empty value.
    fn header_at(&self, set: HeaderSet, index: usize) -> Option<(&str, &str)> {
        fn pair(h: &(String, String)) -> (&str, &str) {
            (&h.0, &h.1)
        }
        match (set, &self.outcome) {
            (HeaderSet::RequestRemove, Outcome::Continue(f)) => {
                f.remove.get(index).map(|n| (n.as_str(), ""))
            }
            (HeaderSet::RequestSet, Outcome::Continue(f)) => f.set_at(index).map(pair),
            (HeaderSet::Response, Outcome::Finish(r)) => r.headers.get(index).map(pair),
            (HeaderSet::ResponseAdd, Outcome::Continue(_)) => {
                self.response_add.get(index).map(pair)
            }
            _ => None,
        }
    }

    /// Runs `body` with the lines it logs tagged as this request's.
    fn logging<T>(&self, body: impl FnOnce() -> T) -> T {
        logger::with_request(self.log_tag, body)
    }
}

fn str_of(s: &(impl AsRef<[u8]> + ?Sized)) -> ezauth_str {
    let b = s.as_ref();
    ezauth_str {
        ptr: b.as_ptr(),
        len: b.len(),
    }
}

/// Borrows bytes from an `ezauth_str`; NULL with length 0 is the empty string.
unsafe fn bytes<'a>(s: ezauth_str) -> Option<&'a [u8]> {
    if s.len == 0 {
        return Some(&[]);
    }
    if s.ptr.is_null() {
        return None;
    }
    Some(std::slice::from_raw_parts(s.ptr, s.len))
}

unsafe fn text<'a>(s: ezauth_str) -> Option<&'a str> {
    std::str::from_utf8(bytes(s)?).ok()
}

/// The ABI version of this library (`EZAUTH_ABI_VERSION` when header and library agree).
/// Call it first and refuse to go on when it differs. Thread-safe.
#[no_mangle]
pub extern "C" fn ezauth_abi_version() -> u32 {
    EZAUTH_ABI_VERSION
}

/// The library version (e.g. `0.1.0`, equal to `EZAUTH_VERSION`), as a static string; do not free.
#[no_mangle]
pub extern "C" fn ezauth_version() -> ezauth_str {
    str_of(crate::VERSION)
}

struct HostLog {
    callback: unsafe extern "C" fn(*mut c_void, *const ezauth_log_event),
    userdata: *mut c_void,
}
// SAFETY: the header documents that the callback and its userdata must be callable from any
// thread; that is the host's promise, as with every logging callback in C.
unsafe impl Send for HostLog {}
unsafe impl Sync for HostLog {}

impl HostLog {
    fn emit(&self, level: ezauth_log_level, message: &str, request: RequestTag) {
        let event = ezauth_log_event {
            level,
            message: str_of(message),
            request_userdata: request as *mut c_void,
        };
        // SAFETY: the callback and userdata are valid until the last reference to the module
        // is gone, and a request's userdata until its outcome is freed (documented).
        unsafe { (self.callback)(self.userdata, &event) }
    }
}

fn host_logger(callback: ezauth_log_callback, userdata: *mut c_void) -> Logger {
    let Some(callback) = callback else {
        return Logger::silent();
    };
    let host = HostLog { callback, userdata };
    Logger::with_request_tags(move |level, message, request| {
        let level = match level {
            Level::Error => ezauth_log_level::EZAUTH_LOG_ERROR,
            Level::Warn => ezauth_log_level::EZAUTH_LOG_WARN,
            Level::Info => ezauth_log_level::EZAUTH_LOG_INFO,
            Level::Debug => ezauth_log_level::EZAUTH_LOG_DEBUG,
        };
        host.emit(level, message, request)
    })
}

/// Loads a module from an authsettingsV2 JSON file (or another form App Service writes: an ARM
/// export, a template, v1 authsettings; an empty file reads the `WEBSITE_AUTH_*` environment).
/// Warnings about accepted settings go to `log` at warn level.
///
/// - `config_path`: the file's path (pointer + length).
/// - `log`, `log_userdata`: the log sink (may be NULL: no logging). It must stay callable, from
///   any thread, until the module is gone: `ezauth_module_free` has been called and every
///   outcome made from it has been freed.
/// - `module_out`: on `EZAUTH_OK`, the new module; release it with `ezauth_module_free`.
/// - `error_out` (may be NULL): on failure, a detailed error naming the bad field; free it with
///   `ezauth_error_free`.
///
/// Returns `EZAUTH_OK`, `EZAUTH_CONFIG_UNREADABLE`, `EZAUTH_CONFIG_INVALID`,
/// `EZAUTH_NULL_PARAMETER`, `EZAUTH_INVALID_UTF8` or `EZAUTH_PANIC`. Never aborts the host.
/// Thread-safe. It reads files and environment variables: call it at startup or reload.
#[no_mangle]
pub unsafe extern "C" fn ezauth_module_new(
    config_path: ezauth_str,
    log: ezauth_log_callback,
    log_userdata: *mut c_void,
    module_out: *mut *mut ezauth_module,
    error_out: *mut *mut ezauth_error,
) -> ezauth_result {
    guard(|| {
        if module_out.is_null() {
            return EZAUTH_NULL_PARAMETER;
        }
        let Some(path) = text(config_path) else {
            return EZAUTH_INVALID_UTF8;
        };
        match Module::from_config_file(Path::new(path), host_logger(log, log_userdata)) {
            Ok(module) => {
                *module_out = ezauth_module::into_ptr(Arc::new(module));
                EZAUTH_OK
            }
            Err(e) => {
                let code = if e.unreadable {
                    EZAUTH_CONFIG_UNREADABLE
                } else {
                    EZAUTH_CONFIG_INVALID
                };
                if !error_out.is_null() {
                    let err = ezauth_error {
                        code,
                        message: e.to_string(),
                    };
                    *error_out = Box::into_raw(Box::new(err));
                }
                code
            }
        }
    })
}

/// Checks that the host's workers can use the module's token store directory: as the user
/// `uid`/`gid` (named `user_name`, which may be empty: looked up by uid), every parent can be
/// entered, the directory is that user's (it is made, owner-only, as that user when missing),
/// and a file can be created, renamed and removed in it. Nothing else is created: the store
/// makes its files in the processes that use it. Call it after `ezauth_module_new`, once the
/// workers' user is known, and refuse to start (or reload) on failure; a module without a file
/// token store passes.
///
/// When the caller is root and `uid`/`gid` differ from its own (nginx's master, for workers of
/// its `user` directive), the check runs in a forked child that takes that user's ids and
/// groups; otherwise `uid`/`gid` must be the caller's own (`EZAUTH_STORE_UNUSABLE` if not).
///
/// - `error_out` (may be NULL): on failure, a message naming the directory, the user and the
///   fix (e.g. `install -d -o www-data -g www-data -m 700 DIR`); free it with
///   `ezauth_error_free`.
///
/// Returns `EZAUTH_OK`, `EZAUTH_STORE_UNUSABLE`, `EZAUTH_NULL_PARAMETER`,
/// `EZAUTH_INVALID_UTF8` or `EZAUTH_PANIC`. Call it at startup or reload, not per request.
#[no_mangle]
pub unsafe extern "C" fn ezauth_module_check_store(
    module: *const ezauth_module,
    uid: u32,
    gid: u32,
    user_name: ezauth_str,
    error_out: *mut *mut ezauth_error,
) -> ezauth_result {
    guard(|| {
        let Some(module) = ezauth_module::as_ref(module) else {
            return EZAUTH_NULL_PARAMETER;
        };
        let Some(name) = text(user_name) else {
            return EZAUTH_INVALID_UTF8;
        };
        let worker =
            crate::store::access::Worker::with_ids(uid, gid, (!name.is_empty()).then_some(name));
        match module.check_store(&worker) {
            Ok(()) => EZAUTH_OK,
            Err(message) => {
                if !error_out.is_null() {
                    *error_out = Box::into_raw(Box::new(ezauth_error {
                        code: EZAUTH_STORE_UNUSABLE,
                        message,
                    }));
                }
                EZAUTH_STORE_UNUSABLE
            }
        }
    })
}

/// Releases the host's module handle. Call it exactly once per `ezauth_module_new`; NULL is a
/// no-op. Outcomes made from the module hold their own reference: they stay usable until they
/// are freed, and the module (its store, caches and log sink) goes away with the last of them.
#[no_mangle]
pub unsafe extern "C" fn ezauth_module_free(module: *mut ezauth_module) {
    guard_value((), || ezauth_module::release(module))
}

/// The path prefix of the module's own routes (`httpSettings.routes.apiPrefix`, e.g.
/// `/.auth`, no trailing slash), valid until the module is freed. Event-driven hosts read the
/// body of POST requests under it before calling `ezauth_module_begin_request` (client-directed
/// login and `form_post` callbacks need it) and leave other bodies to the application.
/// Empty for NULL. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn ezauth_module_api_prefix(module: *const ezauth_module) -> ezauth_str {
    guard_value(str_of(""), || {
        ezauth_module::as_ref(module).map_or(str_of(""), |m| str_of(&m.settings().api_prefix))
    })
}

/// Bytes of shared memory the module's metrics need (a multiple of 8; a few KiB per
/// configured provider), for `ezauth_module_use_metrics_memory`. 0 for NULL. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn ezauth_metrics_size(module: *const ezauth_module) -> usize {
    guard_value(0, || {
        ezauth_module::as_ref(module).map_or(0, |m| m.app().metrics().size())
    })
}

/// Makes the module count its metrics (see the README's "Metrics") in memory the host gives,
/// instead of its own: a host with several worker processes gives every worker's module the
/// same shared memory (nginx: a shared memory zone the master maps before it forks), so the
/// counters are process-shared atomics and one scrape shows the sum over all workers.
///
/// - `memory`: `len` bytes, 8-byte aligned, readable and writable, mapped shared
///   (`MAP_SHARED`) between the processes that count into it, and valid until the module is
///   freed. The library uses it only through 64-bit atomic operations. Memory holding a block
///   another module of the same providers wrote (a reload, another worker) keeps its counts;
///   anything else is zeroed by this call.
/// - `len`: at least `ezauth_metrics_size(module)`.
///
/// Call it before the module serves requests (nginx: at configuration, in the master), at most
/// once per module: what was counted before stays in the old block. Returns `EZAUTH_OK`,
/// `EZAUTH_NULL_PARAMETER`, `EZAUTH_INVALID_PARAMETER` (too small or misaligned) or
/// `EZAUTH_PANIC`. Without it the module counts in its own memory (one process's counts).
#[no_mangle]
pub unsafe extern "C" fn ezauth_module_use_metrics_memory(
    module: *const ezauth_module,
    memory: *mut c_void,
    len: usize,
) -> ezauth_result {
    guard(|| {
        let Some(module) = ezauth_module::as_ref(module) else {
            return EZAUTH_NULL_PARAMETER;
        };
        if memory.is_null() {
            return EZAUTH_NULL_PARAMETER;
        }
        match module.app().metrics().use_memory(memory as *mut u8, len) {
            Ok(()) => EZAUTH_OK,
            Err(e) => {
                module
                    .log()
                    .error(format_args!("metrics memory refused: {e:?}"));
                EZAUTH_INVALID_PARAMETER
            }
        }
    })
}

/// The result code of an error.
#[no_mangle]
pub unsafe extern "C" fn ezauth_error_code(error: *const ezauth_error) -> ezauth_result {
    guard_value(EZAUTH_PANIC, || {
        error.as_ref().map_or(EZAUTH_NULL_PARAMETER, |e| e.code)
    })
}

/// The message of an error (UTF-8, no NUL), valid until `ezauth_error_free`.
#[no_mangle]
pub unsafe extern "C" fn ezauth_error_message(error: *const ezauth_error) -> ezauth_str {
    guard_value(str_of(""), || {
        error.as_ref().map_or(str_of(""), |e| str_of(&e.message))
    })
}

/// Frees an error. Free exactly once; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn ezauth_error_free(error: *mut ezauth_error) {
    guard_value((), || {
        if !error.is_null() {
            drop(Box::from_raw(error));
        }
    })
}

/// The `OnBeginRequest` hook: decides what happens to one request.
///
/// - `request`: the host's view of the request, valid for this call only.
/// - `log_userdata`: the host's context for this request's log lines (may be NULL). Every line
///   the library logs about the request, in this call and in `ezauth_outcome_run_blocking` and
///   `ezauth_module_send_response` on its outcome, reaches the log callback with it as
///   `ezauth_log_event.request_userdata`. It must stay valid until the outcome is freed.
/// - `outcome_out`: on `EZAUTH_OK`, a new outcome (it holds a reference to `module`); read
///   `ezauth_outcome_action` and free it with `ezauth_outcome_free` when the request is done
///   (after `ezauth_module_send_response`).
///
/// Does not block: it reads local files at most. When the request needs an identity provider or
/// a remote store, the action is `EZAUTH_ACTION_BLOCKING` (see `ezauth_outcome_run_blocking`).
/// Thread-safe: many requests may run concurrently on one module.
#[no_mangle]
pub unsafe extern "C" fn ezauth_module_begin_request(
    module: *const ezauth_module,
    request: *const ezauth_request,
    log_userdata: *mut c_void,
    outcome_out: *mut *mut ezauth_outcome,
) -> ezauth_result {
    guard(|| {
        let (Some(module), Some(request)) = (ezauth_module::clone_arc(module), request.as_ref())
        else {
            return EZAUTH_NULL_PARAMETER;
        };
        if outcome_out.is_null() || (request.header_count > 0 && request.headers.is_null()) {
            return EZAUTH_NULL_PARAMETER;
        }
        let log_tag = log_userdata as RequestTag;
        let outcome = logger::with_request(log_tag, || match request_view(request) {
            Ok(view) => module.begin_request(&view),
            Err(why) => {
                module.log().warn(format_args!("rejected request: {why}"));
                Outcome::Finish(Response::error(400, why))
            }
        });
        *outcome_out = ezauth_outcome::into_ptr(Box::new(OutcomeState {
            module,
            log_tag,
            outcome,
            response_add: Vec::new(),
            started: false,
        }));
        EZAUTH_OK
    })
}

/// What a header value that is not UTF-8 reads as in the request view.
const NOT_UTF8: &str = "\u{FFFD}";

unsafe fn request_view(r: &ezauth_request) -> Result<Request<'_>, &'static str> {
    let field = |s: ezauth_str| text(s).ok_or("request line is not valid UTF-8");
    let raw_headers: &[ezauth_header] = if r.header_count == 0 {
        &[]
    } else if r.headers.is_null() {
        return Err("header list is NULL");
    } else {
        std::slice::from_raw_parts(r.headers, r.header_count)
    };
    let mut headers = Vec::with_capacity(raw_headers.len());
    for h in raw_headers {
        let name = bytes(h.name).ok_or("header name pointer is NULL")?;
        // Names are judged on their raw bytes: a name that is not an HTTP token (leading
        // space, obs-fold, control or non-ASCII bytes) may be trimmed into a reserved one by a
        // lenient backend, so the request is refused rather than guessed at.
        if !crate::headers::is_token(name) {
            return Err("a header name is not an HTTP token");
        }
        let name = std::str::from_utf8(name).map_err(|_| "a header name is not an HTTP token")?;
        // Every header is in the view, whatever its value's bytes: the scrub must see reserved
        // names with non-UTF-8 values too. Such a value reads as U+FFFD, which no credential,
        // cookie or mode header accepts; the host forwards the original bytes untouched unless
        // the header is removed.
        let value = text(h.value).unwrap_or(NOT_UTF8);
        headers.push((name, value));
    }
    let target = field(r.target)?;
    // A request line cannot hold these; a lenient host that passed one on would have the
    // module echo it (a redirect to the same target) or judge a path the backend reads otherwise.
    if target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("the request target holds spaces or control characters");
    }
    Ok(Request {
        method: field(r.method)?,
        target,
        scheme: field(r.scheme)?,
        host: field(r.host)?,
        client_addr: field(r.client_addr)?,
        headers,
        body: bytes(r.body).ok_or("body pointer is NULL")?,
    })
}

/// The action the host takes now.
#[no_mangle]
pub unsafe extern "C" fn ezauth_outcome_action(outcome: *const ezauth_outcome) -> ezauth_action {
    guard_value(
        ezauth_action::EZAUTH_ACTION_ERROR,
        || match ezauth_outcome::as_ref(outcome).map(|o| &o.outcome) {
            Some(Outcome::Continue(_)) => ezauth_action::EZAUTH_ACTION_CONTINUE,
            Some(Outcome::Blocking(_)) => ezauth_action::EZAUTH_ACTION_BLOCKING,
            Some(Outcome::Finish(_)) => ezauth_action::EZAUTH_ACTION_FINISH,
            None => ezauth_action::EZAUTH_ACTION_ERROR,
        },
    )
}

/// Runs the blocking step of an outcome whose action is `EZAUTH_ACTION_BLOCKING`: calls to the
/// identity provider or the remote store, with timeouts. Call it on a thread that may block (a
/// thread pool); the outcome then holds `CONTINUE` or `FINISH`. It runs on the module the
/// outcome was made from. Returns `EZAUTH_WRONG_STATE` when the outcome was not blocking.
/// Other outcomes of the same module may run concurrently.
#[no_mangle]
pub unsafe extern "C" fn ezauth_outcome_run_blocking(
    outcome: *mut ezauth_outcome,
) -> ezauth_result {
    guard(|| {
        let Some(state) = ezauth_outcome::as_mut(outcome) else {
            return EZAUTH_NULL_PARAMETER;
        };
        let Outcome::Blocking(request) = &state.outcome else {
            return EZAUTH_WRONG_STATE;
        };
        state.started = true;
        let next = state.logging(|| state.module.run_blocking(request));
        state.outcome = next;
        state.response_add.clear();
        EZAUTH_OK
    })
}

/// The status of a `FINISH` response (0 for other actions).
#[no_mangle]
pub unsafe extern "C" fn ezauth_outcome_status(outcome: *const ezauth_outcome) -> u16 {
    guard_value(0, || {
        match ezauth_outcome::as_ref(outcome).map(|o| &o.outcome) {
            Some(Outcome::Finish(r)) => r.status,
            _ => 0,
        }
    })
}

/// The number of headers in list `set` of the outcome; 0 when the list does not apply to the
/// current action, for an unknown `set` and for NULL.
#[no_mangle]
pub unsafe extern "C" fn ezauth_outcome_header_count(
    outcome: *const ezauth_outcome,
    set: ezauth_header_set,
) -> usize {
    guard_value(0, || {
        match (ezauth_outcome::as_ref(outcome), HeaderSet::of(set)) {
            (Some(o), Some(set)) => o.header_count(set),
            _ => 0,
        }
    })
}

/// Reads header `index` of list `set` into `header_out`. The views stay valid until the outcome
/// is changed (`ezauth_outcome_run_blocking`, `ezauth_module_send_response`) or freed.
/// Returns `EZAUTH_INVALID_PARAMETER` for an unknown `set` or an index past the list's end.
#[no_mangle]
pub unsafe extern "C" fn ezauth_outcome_header(
    outcome: *const ezauth_outcome,
    set: ezauth_header_set,
    index: usize,
    header_out: *mut ezauth_header,
) -> ezauth_result {
    guard(|| {
        let Some(o) = ezauth_outcome::as_ref(outcome) else {
            return EZAUTH_NULL_PARAMETER;
        };
        if header_out.is_null() {
            return EZAUTH_NULL_PARAMETER;
        }
        let Some(set) = HeaderSet::of(set) else {
            return EZAUTH_INVALID_PARAMETER;
        };
        match o.header_at(set, index) {
            Some((name, value)) => {
                *header_out = ezauth_header {
                    name: str_of(name),
                    value: str_of(value),
                };
                EZAUTH_OK
            }
            None => EZAUTH_INVALID_PARAMETER,
        }
    })
}

/// The body of a `FINISH` response (empty otherwise); valid until the outcome is freed.
#[no_mangle]
pub unsafe extern "C" fn ezauth_outcome_body(outcome: *const ezauth_outcome) -> ezauth_str {
    guard_value(str_of(""), || {
        match ezauth_outcome::as_ref(outcome).map(|o| &o.outcome) {
            Some(Outcome::Finish(r)) => str_of(&r.body),
            _ => str_of(""),
        }
    })
}

/// The `OnSendResponse` hook, for requests that continued to the application: `headers` are
/// the headers of the application's response (`header_count` of them; `headers` may be NULL
/// when it is 0). The library judges them by name, on their raw bytes: an application that
/// answers CORS itself keeps its own answer, and one that states a `Cache-Control` keeps its
/// cache policy. No decision depends on the status, so none is taken. Afterwards
/// `EZAUTH_HEADERS_RESPONSE_ADD` lists the headers to add (e.g. `Cache-Control: private` on a
/// signed-in caller's page). Does not block. Returns `EZAUTH_WRONG_STATE` unless the action is
/// `EZAUTH_ACTION_CONTINUE`.
#[no_mangle]
pub unsafe extern "C" fn ezauth_module_send_response(
    outcome: *mut ezauth_outcome,
    headers: *const ezauth_header,
    header_count: usize,
) -> ezauth_result {
    guard(|| {
        let Some(state) = ezauth_outcome::as_mut(outcome) else {
            return EZAUTH_NULL_PARAMETER;
        };
        if header_count > 0 && headers.is_null() {
            return EZAUTH_NULL_PARAMETER;
        }
        let Outcome::Continue(forward) = &state.outcome else {
            return EZAUTH_WRONG_STATE;
        };
        let raw: &[ezauth_header] = if header_count == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(headers, header_count)
        };
        // Every header is in the view, as in the request view: one whose name or value is not
        // UTF-8 still counts by its name (a non-UTF-8 name reads as U+FFFD, which matches none
        // the library looks for; a non-UTF-8 value of a name it does look for still counts).
        let app_headers: Vec<(&str, &str)> = raw
            .iter()
            .map(|h| {
                (
                    text(h.name).unwrap_or(NOT_UTF8),
                    text(h.value).unwrap_or(NOT_UTF8),
                )
            })
            .collect();
        let add = state.logging(|| state.module.send_response(&app_headers, forward));
        state.response_add = add;
        EZAUTH_OK
    })
}

/// Frees an outcome, and with it its reference to the module. Free exactly once; NULL is a
/// no-op.
#[no_mangle]
pub unsafe extern "C" fn ezauth_outcome_free(outcome: *mut ezauth_outcome) {
    guard_value((), || ezauth_outcome::free(outcome))
}
