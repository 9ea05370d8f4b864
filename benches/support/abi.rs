//! A request through the C ABI as a host hands it over, shared by the benchmarks.
#![allow(dead_code)]

use std::ptr;

use ezauth::ffi::*;

/// The keys the benchmarks' modules load (`WEBSITE_AUTH_*`).
pub const ENC: &str = "1111111111111111111111111111111111111111111111111111111111111111";
pub const SIGN: &str = "2222222222222222222222222222222222222222222222222222222222222222";

pub fn s(v: &str) -> ezauth_str {
    ezauth_str {
        ptr: v.as_ptr(),
        len: v.len(),
    }
}

pub fn header(n: &'static str, v: &str) -> ezauth_header {
    ezauth_header {
        name: s(n),
        value: s(v),
    }
}

/// `GET /app/page?x=1` with `headers` through `on_begin_request`: how many request headers the
/// module sets (what a host then writes).
pub fn run(module: *const ezauth_module, headers: &[ezauth_header]) -> usize {
    let req = ezauth_request {
        method: s("GET"),
        target: s("/app/page?x=1"),
        scheme: s("http"),
        host: s("127.0.0.1:8080"),
        client_addr: s("127.0.0.1"),
        headers: headers.as_ptr(),
        header_count: headers.len(),
        body: s(""),
    };
    let mut outcome = ptr::null_mut();
    unsafe {
        assert_eq!(
            ezauth_module_begin_request(module, &req, ptr::null_mut(), &mut outcome),
            ezauth_result::EZAUTH_OK
        );
        let n = ezauth_outcome_header_count(outcome, EZAUTH_HEADERS_REQUEST_SET);
        ezauth_outcome_free(outcome);
        n
    }
}

/// Loads the module from the configuration file at `path`, as a host does.
pub fn load(path: &str) -> *mut ezauth_module {
    let mut module = ptr::null_mut();
    let rc =
        unsafe { ezauth_module_new(s(path), None, ptr::null_mut(), &mut module, ptr::null_mut()) };
    assert_eq!(rc, ezauth_result::EZAUTH_OK);
    module
}
