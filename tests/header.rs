//! The committed C header must be what cbindgen generates from the current sources, and the
//! three places that state a version must agree.

use std::ffi::CStr;

#[test]
fn committed_header_is_current() {
    let fresh = include_str!(concat!(env!("OUT_DIR"), "/ezauth.h"));
    let committed = std::process::Command::new("git")
        .args(["show", "HEAD:include/ezauth.h"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git runs");
    assert!(
        committed.status.success(),
        "include/ezauth.h is not committed"
    );
    assert!(
        committed.stdout == fresh.as_bytes(),
        "include/ezauth.h in HEAD differs from a fresh cbindgen run: commit the regenerated header"
    );
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
