//! Test support for `bench/nginx-users.sh`: N signed-in users of a configuration, without
//! an identity provider. For each user, a token record in the configuration's token store
//! (file, Redis or Azure Blob) and a session cookie sealed with the environment's keys, as a
//! sign-in would leave them.
//!
//!   cargo run --release --example mint_sessions -- CONFIG N OUT
//!
//! Writes one `Cookie` header value per line to OUT. Not part of the `ezauth` command: minting
//! sessions is for load tests only.

use std::io::Write;
use std::path::Path;

use ezauth::config;
use ezauth::logger::Logger;

#[path = "../benches/support/users.rs"]
mod users;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config_path, n, out] = args.as_slice() else {
        eprintln!("usage: mint_sessions CONFIG N OUT");
        std::process::exit(64);
    };
    let n: usize = n.parse().expect("N: a number of users");
    let settings = config::load_file(Path::new(config_path), &config::ProcessEnvironment)
        .unwrap_or_else(|e| panic!("{e}"));
    let store = ezauth::store::open(
        settings.token_store.as_ref(),
        &settings.keys,
        0,
        &Logger::stderr(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .expect("the configuration has no token store");
    let cookies = users::mint(&settings, &*store, n, &|done| {
        if done > 0 && done.is_multiple_of(100_000) {
            eprintln!("  minted {done} users");
        }
    });
    let mut f = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    for c in &cookies {
        writeln!(f, "{c}").unwrap();
    }
    f.flush().unwrap();
}
