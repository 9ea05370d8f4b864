//! The C ABI, modelled on an IIS native module. The only place with C types, and with all
//! `unsafe` but the store's shared memory map and its fork to check the workers' access
//! (`store::generations`, `store::access`); everything here converts, checks for NULL, catches
//! panics and calls the pipeline.
//!
//! Conventions (also in the README):
//! - Handles are opaque. Each has one constructor and one `_free`; freeing NULL does nothing.
//! - Handle first, inputs next, outputs last; outputs are written only on `EZAUTH_OK`.
//! - Text is pointer + length (`ezauth_str`), never relying on a NUL terminator. Views returned
//!   by the library say how long they live.
//! - No panic crosses the boundary: it becomes `EZAUTH_PANIC`.
//! - A module handle is immutable and thread-safe; an outcome belongs to one request and may be
//!   used by one thread at a time (it may move between threads).
#![allow(non_camel_case_types, clippy::missing_safety_doc)]

pub mod error;
mod panic;

use std::ffi::c_void;
use std::path::Path;

use crate::http::{Outcome, Request, Response};
use crate::logger::{Level, Logger};
use crate::pipeline::Module;
use error::ezauth_result::*;
pub use error::{ezauth_error, ezauth_result};
use panic::{guard, guard_value};

/// The ABI version this library implements. A host compares `ezauth_abi_version()` with the
/// `EZAUTH_ABI_VERSION` it was compiled against before calling anything else.
pub const EZAUTH_ABI_VERSION: u32 = 1;

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

/// Which header list of an outcome to read (the `set` argument of the header accessors).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ezauth_header_set {
    /// CONTINUE: request headers to remove, matched by name case-insensitively (values empty).
    EZAUTH_HEADERS_REQUEST_REMOVE = 0,
    /// CONTINUE: request headers to set, replacing any of the same name.
    EZAUTH_HEADERS_REQUEST_SET = 1,
    /// FINISH: the headers of the response to send.
    EZAUTH_HEADERS_RESPONSE = 2,
    /// CONTINUE, after `ezauth_module_send_response`: headers to add to the app's response.
    EZAUTH_HEADERS_RESPONSE_ADD = 3,
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

/// The host's log sink. Called from any thread that calls into the library, possibly
/// concurrently; `message` is valid only during the call. `userdata` is what the host gave
/// `ezauth_module_new`.
pub type ezauth_log_callback = Option<
    unsafe extern "C" fn(userdata: *mut c_void, level: ezauth_log_level, message: ezauth_str),
>;

/// A loaded configuration: providers, keys, the token store. Opaque; created by
/// `ezauth_module_new`, freed by `ezauth_module_free`. Immutable and thread-safe.
pub struct ezauth_module {
    _private: [u8; 0],
}

/// The module's answer for one request. Opaque; created by `ezauth_module_begin_request`, freed
/// by `ezauth_outcome_free`. Used by one thread at a time; it may move between threads.
pub struct ezauth_outcome {
    _private: [u8; 0],
}

/// Rust-side state behind an `ezauth_outcome` pointer.
struct OutcomeState {
    outcome: Outcome,
    response_add: Vec<(String, String)>,
}

impl OutcomeState {
    fn new(outcome: Outcome) -> Box<Self> {
        Box::new(OutcomeState {
            outcome,
            response_add: Vec::new(),
        })
    }

    fn header_count(&self, set: u32) -> Option<usize> {
        Some(match (set, &self.outcome) {
            (0, Outcome::Continue(f)) => f.remove.len(),
            (1, Outcome::Continue(f)) => f.set_count(),
            (2, Outcome::Finish(r)) => r.headers.len(),
            (3, Outcome::Continue(_)) => self.response_add.len(),
            (0..=3, _) => 0,
            _ => return None,
        })
    }

    /// Header `index` of list `set` as (name, value); names to remove have an empty value.
    fn header_at(&self, set: u32, index: usize) -> Option<(&str, &str)> {
        fn pair(h: &(String, String)) -> (&str, &str) {
            (&h.0, &h.1)
        }
        match (set, &self.outcome) {
            (0, Outcome::Continue(f)) => f.remove.get(index).map(|n| (n.as_str(), "")),
            (1, Outcome::Continue(f)) => f.set_at(index).map(pair),
            (2, Outcome::Finish(r)) => r.headers.get(index).map(pair),
            (3, Outcome::Continue(_)) => self.response_add.get(index).map(pair),
            _ => None,
        }
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

unsafe fn module_ref<'a>(m: *const ezauth_module) -> Option<&'a Module> {
    (m as *const Module).as_ref()
}

unsafe fn outcome_ref<'a>(o: *const ezauth_outcome) -> Option<&'a OutcomeState> {
    (o as *const OutcomeState).as_ref()
}

unsafe fn outcome_mut<'a>(o: *mut ezauth_outcome) -> Option<&'a mut OutcomeState> {
    (o as *mut OutcomeState).as_mut()
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
    callback: unsafe extern "C" fn(*mut c_void, ezauth_log_level, ezauth_str),
    userdata: *mut c_void,
}
// SAFETY: the header documents that the callback and its userdata must be callable from any
// thread; that is the host's promise, as with every logging callback in C.
unsafe impl Send for HostLog {}
unsafe impl Sync for HostLog {}

impl HostLog {
    fn emit(&self, level: ezauth_log_level, message: &str) {
        // SAFETY: the callback and userdata are valid until the module is freed (documented).
        unsafe { (self.callback)(self.userdata, level, str_of(message)) }
    }
}

fn host_logger(callback: ezauth_log_callback, userdata: *mut c_void) -> Logger {
    let Some(callback) = callback else {
        return Logger::silent();
    };
    let host = HostLog { callback, userdata };
    Logger::new(move |level, message| {
        let level = match level {
            Level::Error => ezauth_log_level::EZAUTH_LOG_ERROR,
            Level::Warn => ezauth_log_level::EZAUTH_LOG_WARN,
            Level::Info => ezauth_log_level::EZAUTH_LOG_INFO,
            Level::Debug => ezauth_log_level::EZAUTH_LOG_DEBUG,
        };
        host.emit(level, message)
    })
}

/// Loads a module from an authsettingsV2 JSON file (or another form App Service writes: an ARM
/// export, a template, v1 authsettings; an empty file reads the `WEBSITE_AUTH_*` environment).
/// Warnings about accepted settings go to `log` at warn level.
///
/// - `config_path`: the file's path (pointer + length).
/// - `log`, `log_userdata`: the log sink (may be NULL: no logging). It must stay callable, from
///   any thread, until `ezauth_module_free` returns.
/// - `module_out`: on `EZAUTH_OK`, the new module; free it with `ezauth_module_free`.
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
                *module_out = Box::into_raw(Box::new(module)) as *mut ezauth_module;
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
        let Some(module) = module_ref(module) else {
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

/// Frees a module. Free exactly once, after every outcome made from it is done; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn ezauth_module_free(module: *mut ezauth_module) {
    guard_value((), || {
        if !module.is_null() {
            drop(Box::from_raw(module as *mut Module));
        }
    })
}

/// The path prefix of the module's own routes (`httpSettings.routes.apiPrefix`, e.g.
/// `/.auth`, no trailing slash), valid until the module is freed. Event-driven hosts read the
/// body of POST requests under it before calling `ezauth_module_begin_request` (client-directed
/// login and `form_post` callbacks need it) and leave other bodies to the application.
/// Empty for NULL. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn ezauth_module_api_prefix(module: *const ezauth_module) -> ezauth_str {
    guard_value(str_of(""), || {
        module_ref(module).map_or(str_of(""), |m| str_of(&m.settings().api_prefix))
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
/// - `outcome_out`: on `EZAUTH_OK`, a new outcome; read `ezauth_outcome_action` and free it with
///   `ezauth_outcome_free` when the request is done (after `ezauth_module_send_response`).
///
/// Does not block: it reads local files at most. When the request needs an identity provider or
/// a remote store, the action is `EZAUTH_ACTION_BLOCKING` (see `ezauth_outcome_run_blocking`).
/// Thread-safe: many requests may run concurrently on one module.
#[no_mangle]
pub unsafe extern "C" fn ezauth_module_begin_request(
    module: *const ezauth_module,
    request: *const ezauth_request,
    outcome_out: *mut *mut ezauth_outcome,
) -> ezauth_result {
    guard(|| {
        let (Some(module), Some(request)) = (module_ref(module), request.as_ref()) else {
            return EZAUTH_NULL_PARAMETER;
        };
        if outcome_out.is_null() || (request.header_count > 0 && request.headers.is_null()) {
            return EZAUTH_NULL_PARAMETER;
        }
        let outcome = match request_view(request) {
            Ok(view) => module.begin_request(&view),
            Err(why) => {
                module.log().warn(format_args!("rejected request: {why}"));
                Outcome::Finish(Response::error(400, why))
            }
        };
        *outcome_out = Box::into_raw(OutcomeState::new(outcome)) as *mut ezauth_outcome;
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
    guard_value(ezauth_action::EZAUTH_ACTION_ERROR, || {
        match outcome_ref(outcome).map(|o| &o.outcome) {
            Some(Outcome::Continue(_)) => ezauth_action::EZAUTH_ACTION_CONTINUE,
            Some(Outcome::Blocking(_)) => ezauth_action::EZAUTH_ACTION_BLOCKING,
            Some(Outcome::Finish(_)) => ezauth_action::EZAUTH_ACTION_FINISH,
            None => ezauth_action::EZAUTH_ACTION_ERROR,
        }
    })
}

/// Runs the blocking step of an outcome whose action is `EZAUTH_ACTION_BLOCKING`: calls to the
/// identity provider or the remote store, with timeouts. Call it on a thread that may block (a
/// thread pool); the outcome then holds `CONTINUE` or `FINISH`. Returns `EZAUTH_WRONG_STATE`
/// when the outcome was not blocking. Thread-safe with respect to the module.
#[no_mangle]
pub unsafe extern "C" fn ezauth_outcome_run_blocking(
    module: *const ezauth_module,
    outcome: *mut ezauth_outcome,
) -> ezauth_result {
    guard(|| {
        let (Some(module), Some(state)) = (module_ref(module), outcome_mut(outcome)) else {
            return EZAUTH_NULL_PARAMETER;
        };
        let Outcome::Blocking(request) = &state.outcome else {
            return EZAUTH_WRONG_STATE;
        };
        let next = module.run_blocking(request);
        *state = *OutcomeState::new(next);
        EZAUTH_OK
    })
}

/// The status of a `FINISH` response (0 for other actions).
#[no_mangle]
pub unsafe extern "C" fn ezauth_outcome_status(outcome: *const ezauth_outcome) -> u16 {
    guard_value(0, || match outcome_ref(outcome).map(|o| &o.outcome) {
        Some(Outcome::Finish(r)) => r.status,
        _ => 0,
    })
}

/// The number of headers in one of the outcome's lists (`set` is an `ezauth_header_set`);
/// 0 when the list does not apply to the current action.
#[no_mangle]
pub unsafe extern "C" fn ezauth_outcome_header_count(
    outcome: *const ezauth_outcome,
    set: u32,
) -> usize {
    guard_value(0, || {
        outcome_ref(outcome)
            .and_then(|o| o.header_count(set))
            .unwrap_or(0)
    })
}

/// Reads header `index` of list `set` into `header_out`. The views stay valid until the outcome
/// is changed (`ezauth_outcome_run_blocking`, `ezauth_module_send_response`) or freed.
#[no_mangle]
pub unsafe extern "C" fn ezauth_outcome_header(
    outcome: *const ezauth_outcome,
    set: u32,
    index: usize,
    header_out: *mut ezauth_header,
) -> ezauth_result {
    guard(|| {
        let Some(o) = outcome_ref(outcome) else {
            return EZAUTH_NULL_PARAMETER;
        };
        if header_out.is_null() {
            return EZAUTH_NULL_PARAMETER;
        }
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
        match outcome_ref(outcome).map(|o| &o.outcome) {
            Some(Outcome::Finish(r)) => str_of(&r.body),
            _ => str_of(""),
        }
    })
}

/// The `OnSendResponse` hook, for requests that continued to the application: `status` and
/// `headers` are what the application answered. Afterwards `EZAUTH_HEADERS_RESPONSE_ADD` lists
/// the headers to add (e.g. `Set-Cookie` for a renewed session). Does not block.
#[no_mangle]
pub unsafe extern "C" fn ezauth_module_send_response(
    module: *const ezauth_module,
    outcome: *mut ezauth_outcome,
    status: u16,
    headers: *const ezauth_header,
    header_count: usize,
) -> ezauth_result {
    guard(|| {
        let (Some(module), Some(state)) = (module_ref(module), outcome_mut(outcome)) else {
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
        let app_headers: Vec<(&str, &str)> = raw
            .iter()
            .filter_map(|h| Some((text(h.name)?, text(h.value)?)))
            .collect();
        state.response_add = module.send_response(status, &app_headers, forward);
        EZAUTH_OK
    })
}

/// Frees an outcome. Free exactly once; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn ezauth_outcome_free(outcome: *mut ezauth_outcome) {
    guard_value((), || {
        if !outcome.is_null() {
            drop(Box::from_raw(outcome as *mut OutcomeState));
        }
    })
}
