//! Generates the C header from the exported Rust items with cbindgen, into OUT_DIR only: the
//! committed `include/ezauth.h` is what hosts compile against, and the `header` test fails when
//! it differs from this fresh copy (its message has the command that refreshes it). A build
//! never writes into the source tree.
//!
//! Also gives the cdylib its SONAME, `libezauth.so.<EZAUTH_ABI_VERSION>`, read from the
//! generated header so the number has one source (`src/ffi/mod.rs`): a host linked against one
//! ABI records that name and is refused by the dynamic loader when handed another.

use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=Cargo.toml");

    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap();
    config.after_includes = Some(format!(
        "\n/* The library version this header was generated with; ezauth_version() returns it. */\n\
         #define EZAUTH_VERSION \"{version}\"\n"
    ));
    let bindings = cbindgen::Builder::new()
        // Only the ffi module is the C API; constants elsewhere in the crate are not.
        .with_src(crate_dir.join("src/ffi/mod.rs"))
        .with_config(config)
        .generate()
        .expect("cbindgen can read the ffi module");
    let mut header = Vec::new();
    bindings.write(&mut header);
    std::fs::write(out_dir.join("ezauth.h"), &header).expect("OUT_DIR is writable");

    let header = String::from_utf8(header).expect("the header is UTF-8");
    let abi = header
        .lines()
        .find_map(|l| l.strip_prefix("#define EZAUTH_ABI_VERSION "))
        .map(str::trim)
        .expect("the header defines EZAUTH_ABI_VERSION");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libezauth.so.{abi}");
}
