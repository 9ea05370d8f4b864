//! The committed C header must be what cbindgen generates from the current sources, and the
//! three places that state a version must agree.

use std::ffi::CStr;

/// The header the hosts compile against (`include/ezauth.h`, as checked out) is byte for byte
/// what cbindgen generates now (build.rs writes it to OUT_DIR only).
#[test]
fn committed_header_is_current() {
    let fresh_path = concat!(env!("OUT_DIR"), "/ezauth.h");
    let fresh = include_str!(concat!(env!("OUT_DIR"), "/ezauth.h"));
    let committed_path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/ezauth.h");
    let committed = std::fs::read_to_string(committed_path).expect("include/ezauth.h is readable");
    if committed != fresh {
        let first = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(committed.lines().count().min(fresh.lines().count()));
        panic!(
            "include/ezauth.h differs from what cbindgen generates from src/ffi (first at line \
             {}). Refresh it, review the diff and commit it:\n    cp {fresh_path} {committed_path}",
            first + 1
        );
    }
}

#[test]
fn versions_agree() {
    let header = include_str!(concat!(env!("OUT_DIR"), "/ezauth.h"));
    let version = ezauth::ffi::ezauth_version();
    let version = unsafe { std::slice::from_raw_parts(version.ptr, version.len) };
    assert_eq!(version, env!("CARGO_PKG_VERSION").as_bytes());
    assert!(header.contains(&format!(
        "#define EZAUTH_VERSION \"{}\"",
        env!("CARGO_PKG_VERSION")
    )));
    assert!(header.contains(&format!(
        "#define EZAUTH_ABI_VERSION {}",
        ezauth::ffi::ezauth_abi_version()
    )));
}

#[test]
fn every_result_code_has_a_name() {
    for code in ezauth::ffi::error::ALL_RESULTS {
        let name = unsafe { CStr::from_ptr(ezauth::ffi::error::ezauth_result_name(code as u32)) };
        assert_eq!(name, code.name());
        assert!(name.to_str().unwrap().starts_with("EZAUTH_"));
        assert_ne!(name.to_str().unwrap(), "EZAUTH_UNKNOWN");
    }
    let unknown = unsafe { CStr::from_ptr(ezauth::ffi::error::ezauth_result_name(9999)) };
    assert_eq!(unknown.to_str().unwrap(), "EZAUTH_UNKNOWN");
}
