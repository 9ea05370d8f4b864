//! Private keys and certificates named in the `"ezauth"` block (Azure AD's certificate
//! credential, Apple's signing key): read once at startup, and refused there when a key could
//! not serve or is exposed. Each error names the file and the setting that named it.

use std::os::unix::fs::PermissionsExt;

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use crate::config::{invalid, ConfigError};

/// A PEM private key (PKCS#8 or the key type's own form) the module's user can read and
/// nobody else can: a key every local user may read is no credential.
pub(super) fn private_key(file: &str, path: &str) -> Result<PKey<Private>, ConfigError> {
    let bad = |why: String| invalid(path, format!("key file {file:?} {why}"));
    let meta = std::fs::metadata(file).map_err(|e| bad(format!("cannot be read: {e}")))?;
    if !meta.is_file() {
        return Err(bad("is not a file".into()));
    }
    if meta.permissions().mode() & 0o004 != 0 {
        return Err(bad(
            "is readable by every user: make it readable by its owner only (chmod 600)".into(),
        ));
    }
    let pem = std::fs::read(file).map_err(|e| bad(format!("cannot be read: {e}")))?;
    PKey::private_key_from_pem(&pem).map_err(|_| bad("holds no PEM private key".into()))
}

/// A PEM certificate, with the key that must be its own.
pub(super) fn certificate(
    file: &str,
    key: &PKey<Private>,
    key_file: &str,
    path: &str,
) -> Result<X509, ConfigError> {
    let bad = |why: String| invalid(path, format!("certificate file {file:?} {why}"));
    let pem = std::fs::read(file).map_err(|e| bad(format!("cannot be read: {e}")))?;
    let cert = X509::from_pem(&pem).map_err(|_| bad("holds no PEM certificate".into()))?;
    let matches = cert.public_key().is_ok_and(|public| public.public_eq(key));
    if !matches {
        return Err(invalid(
            path,
            format!("key file {key_file:?} is not the key of the certificate {file:?}"),
        ));
    }
    Ok(cert)
}
