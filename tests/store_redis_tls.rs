//! The Redis token store over TLS (`rediss://`), against a `redis-server` with a TLS port and
//! a certificate from a throwaway CA (made with the `openssl` command): the server's
//! certificate is checked against the trust store (here `SSL_CERT_FILE`, which OpenSSL reads)
//! and its host name, and a connection that fails either check carries nothing.

mod support;

use std::path::Path;
use std::process::Command;

use ezauth::crypto::Keys;
use ezauth::logger::Logger;
use ezauth::store::redis::{RedisBackend, RedisOptions};
use ezauth::store::{Sealed, StoreError, TokenRecord, TokenStore};
use support::redis_server::RedisServer;

fn openssl(dir: &Path, args: &[&str]) {
    let ok = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("the openssl command")
        .success();
    assert!(ok, "openssl {args:?}");
}

/// A CA and a certificate for `localhost` only (no IP address), signed by it.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "1",
            "-subj",
            "/CN=ezauth test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "1",
            "-extfile",
            "san.ext",
        ],
    );
}

fn store(url: String) -> Sealed<RedisBackend> {
    Sealed::new(
        RedisBackend::open(RedisOptions {
            url,
            ..support::redis_server::options(String::new())
        })
        .unwrap(),
        Keys::new(&[5u8; 32], &[6u8; 32], &[]),
        1 << 20,
        &Logger::silent(),
    )
}

fn record() -> TokenRecord {
    TokenRecord {
        provider_name: "idp".into(),
        access_token: Some("over-tls".into()),
        ..Default::default()
    }
}

#[test]
fn rediss_checks_the_certificate_and_the_host_name() {
    let dir = support::scratch("redis-tls");
    certificates(&dir);
    let tls_port = support::redis_server::free_port();
    let file = |name: &str| dir.join(name).display().to_string();
    let _server = RedisServer::start_with(&[
        "--tls-port",
        &tls_port.to_string(),
        "--tls-cert-file",
        &file("server.crt"),
        "--tls-key-file",
        &file("server.key"),
        "--tls-ca-cert-file",
        &file("ca.crt"),
        "--tls-auth-clients",
        "no",
    ]);
    let by_name = format!("rediss://localhost:{tls_port}");

    // A CA nobody trusts: refused.
    let untrusted = store(by_name.clone());
    assert!(matches!(
        untrusted.save("sid:1", &record()),
        Err(StoreError::Io(_))
    ));

    // This test binary's only test: setting the variable affects no other.
    std::env::set_var("SSL_CERT_FILE", file("ca.crt"));
    let s = store(by_name);
    s.save("sid:1", &record()).unwrap();
    let other = store(format!("rediss://localhost:{tls_port}"));
    assert_eq!(
        other
            .load("sid:1")
            .unwrap()
            .unwrap()
            .access_token
            .as_deref(),
        Some("over-tls")
    );

    // The certificate names localhost, not 127.0.0.1: refused.
    let wrong_name = store(format!("rediss://127.0.0.1:{tls_port}"));
    let e = wrong_name
        .load("sid:1")
        .expect_err("a certificate for another name");
    assert!(matches!(e, StoreError::Io(_)), "{e}");
}
