//! Cryptography on top of openssl: the keys the module derives from `WEBSITE_AUTH_*`, sealing
//! (AES-256-GCM) for cookies, login state and the token store, HMAC, random values and
//! constant-time comparison. Knows nothing of HTTP.

pub mod jwt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use std::sync::OnceLock;

use openssl::cipher::Cipher;
use openssl::cipher_ctx::CipherCtx;
use openssl::memcmp;
use openssl::rand::rand_bytes;
use openssl::sha::Sha256;

/// What a sealed value is for; part of the authenticated data, so a value sealed for one
/// purpose (a login state cookie) can never be opened as another (a session).
#[derive(Clone, Copy, Debug)]
pub enum Purpose {
    Session,
    LoginState,
    /// A token-store entry written before entries named their owner (bound to the user id).
    TokenStore,
    /// A token-store entry that names its owner inside (bound to the entry's name).
    TokenStoreEntry,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Session => b"ezauth/session/v1",
            Purpose::LoginState => b"ezauth/login-state/v1",
            Purpose::TokenStore => b"ezauth/token-store/v1",
            Purpose::TokenStoreEntry => b"ezauth/token-store-entry/v2",
        }
    }
}

const SEAL_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The module's keys. Subkeys are derived from `WEBSITE_AUTH_ENCRYPTION_KEY` with HMAC so each
/// use has its own key; `WEBSITE_AUTH_SIGNING_KEY` signs session tokens (HS256) as on App Service.
#[derive(Clone)]
pub struct Keys {
    /// Current sealing key first, then previous ones (rotation: new key first, then old).
    seal_keys: Vec<[u8; 32]>,
    /// Likewise for token-store file names: entries written under an older key stay findable.
    file_name_keys: Vec<[u8; 32]>,
    /// The current signing key first, then previous ones: tokens they signed still verify.
    signing_keys: Vec<Vec<u8>>,
    /// The app whose token-store entries these keys name ([`Keys::for_app`]); `None`: names
    /// from the user id alone, as entries were named before apps were told apart.
    store_scope: Option<String>,
}

impl Keys {
    /// `encryption` and `signing` are the raw key bytes (already hex-decoded); `previous` are
    /// older encryption keys that can still open what they sealed.
    pub fn new(encryption: &[u8], signing: &[u8], previous: &[Vec<u8>]) -> Keys {
        let all = || std::iter::once(encryption).chain(previous.iter().map(|k| k.as_slice()));
        Keys {
            seal_keys: all().map(|k| derive(k, b"seal")).collect(),
            file_name_keys: all().map(|k| derive(k, b"token-store-file-name")).collect(),
            signing_keys: vec![signing.to_vec()],
            store_scope: None,
        }
    }

    /// These keys, naming token-store entries for the app `app_id`: two apps that share the
    /// keys and a store (a directory, a Redis prefix, a container) keep one entry per user
    /// each, and neither is handed the other's tokens. Entries named before (from the user id
    /// alone) are still found, after the app's own, and moved to its name by the next write.
    pub fn for_app(mut self, app_id: &str) -> Keys {
        self.store_scope = Some(app_id.to_owned());
        self
    }

    /// What an entry's name is the keyed hash of: the user id, within the app's scope.
    fn scoped(&self, user_id: &str) -> String {
        match &self.store_scope {
            Some(app) => format!("app:{app}\0{user_id}"),
            None => user_id.to_owned(),
        }
    }

    /// Adds earlier `WEBSITE_AUTH_SIGNING_KEY` values: what they signed (session tokens, custom
    /// authentication tokens, login nonces) keeps verifying until it expires; nothing new is
    /// signed with them.
    pub fn with_previous_signing_keys(mut self, previous: &[Vec<u8>]) -> Keys {
        self.signing_keys.extend(previous.iter().cloned());
        self
    }

    /// Encrypts and authenticates `plain`; `context` binds it to its owner (a user id for the
    /// token store), so a value moved to another owner fails to open.
    pub fn seal(&self, purpose: Purpose, context: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        random_fill(&mut nonce);
        let aad = aad(purpose, context);
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plain.len() + TAG_LEN);
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        gcm_seal(&self.seal_keys[0], &nonce, &aad, plain, &mut out)
            .expect("AES-256-GCM encryption with a 32-byte key and 12-byte nonce cannot fail");
        out
    }

    /// Opens what `seal` produced with the same purpose and context; `None` when it was
    /// tampered with, truncated, sealed under an unknown key or for another owner.
    pub fn open(&self, purpose: Purpose, context: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != SEAL_VERSION {
            return None;
        }
        let nonce = &sealed[1..1 + NONCE_LEN];
        let (ct, tag) = sealed[1 + NONCE_LEN..].split_at(sealed.len() - 1 - NONCE_LEN - TAG_LEN);
        let aad = aad(purpose, context);
        self.seal_keys
            .iter()
            .find_map(|key| gcm_open(key, nonce, &aad, ct, tag))
    }

    /// A file name for a user's token-store entry: a keyed hash, so names reveal nothing and
    /// cannot be chosen by a client.
    pub fn store_file_name(&self, user_id: &str) -> String {
        file_name(&self.file_name_keys[0], &self.scoped(user_id))
    }

    /// The names the entry may have had before: under previous keys (key rotation), then,
    /// for an app's keys, the names from the user id alone under every key; oldest last.
    pub fn previous_store_file_names(&self, user_id: &str) -> Vec<String> {
        let scoped = self.scoped(user_id);
        let mut names: Vec<String> = self.file_name_keys[1..]
            .iter()
            .map(|k| file_name(k, &scoped))
            .collect();
        if self.store_scope.is_some() {
            names.extend(self.file_name_keys.iter().map(|k| file_name(k, user_id)));
        }
        names
    }

    /// Do both seal and name the token store alike (the same current and previous encryption
    /// keys, for the same app)? Then an entry's bytes mean the same in either store.
    pub fn same_store_keys(&self, other: &Keys) -> bool {
        self.seal_keys == other.seal_keys
            && self.file_name_keys == other.file_name_keys
            && self.store_scope == other.store_scope
    }

    /// The key everything new is signed with.
    pub fn signing_key(&self) -> &[u8] {
        &self.signing_keys[0]
    }

    /// Every key a signature may verify with, the current one first.
    pub fn verifying_keys(&self) -> impl Iterator<Item = &[u8]> {
        self.signing_keys.iter().map(Vec::as_slice)
    }
}

fn file_name(key: &[u8; 32], user_id: &str) -> String {
    hex(&hmac_sha256(key, user_id.as_bytes())[..16])
}

fn aad(purpose: Purpose, context: &[u8]) -> Vec<u8> {
    let mut aad = purpose.label().to_vec();
    aad.push(0);
    aad.extend_from_slice(context);
    aad
}

fn derive(key: &[u8], label: &[u8]) -> [u8; 32] {
    hmac_sha256(key, label)
}

/// AES-256-GCM, fetched once: OpenSSL 3 otherwise looks the algorithm up on every call, which
/// costs more than the encryption of a cookie.
fn aes_256_gcm() -> &'static Cipher {
    static CIPHER: OnceLock<Cipher> = OnceLock::new();
    CIPHER.get_or_init(|| {
        Cipher::fetch(None, "AES-256-GCM", None).expect("OpenSSL provides AES-256-GCM")
    })
}

/// Appends ciphertext and tag to `out`.
fn gcm_seal(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    plain: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), openssl::error::ErrorStack> {
    let mut ctx = CipherCtx::new()?;
    ctx.encrypt_init(Some(aes_256_gcm()), Some(key), Some(nonce))?;
    ctx.cipher_update(aad, None)?;
    ctx.cipher_update_vec(plain, out)?;
    ctx.cipher_final_vec(out)?;
    let mut tag = [0u8; TAG_LEN];
    ctx.tag(&mut tag)?;
    out.extend_from_slice(&tag);
    Ok(())
}

fn gcm_open(key: &[u8], nonce: &[u8], aad: &[u8], ct: &[u8], tag: &[u8]) -> Option<Vec<u8>> {
    let mut ctx = CipherCtx::new().ok()?;
    ctx.decrypt_init(Some(aes_256_gcm()), Some(key), Some(nonce))
        .ok()?;
    ctx.cipher_update(aad, None).ok()?;
    let mut plain = Vec::with_capacity(ct.len() + 16);
    ctx.cipher_update_vec(ct, &mut plain).ok()?;
    ctx.set_tag(tag).ok()?;
    ctx.cipher_final_vec(&mut plain).ok()?;
    Some(plain)
}

/// HMAC-SHA256 (RFC 2104) over openssl's SHA-256, which is much cheaper per call than
/// OpenSSL 3's EVP_PKEY HMAC; it runs on the per-request path (store file names, tokens).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&sha256(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(&block.map(|b| b ^ 0x36));
    inner.update(data);
    let mut outer = Sha256::new();
    outer.update(&block.map(|b| b ^ 0x5c));
    outer.update(&inner.finish());
    outer.finish()
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    openssl::sha::sha256(data)
}

pub fn random_fill(buf: &mut [u8]) {
    rand_bytes(buf).expect("the system random generator works");
}

/// `n` random bytes, base64url without padding: state, nonce, PKCE verifier.
pub fn random_token(n: usize) -> String {
    let mut buf = vec![0u8; n];
    random_fill(&mut buf);
    b64url(&buf)
}

/// Constant-time equality for secrets (state values, signatures).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && memcmp::eq(a, b)
}

pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

pub fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok()
}

pub fn hex(data: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::new(&[1u8; 32], &[2u8; 32], &[])
    }

    #[test]
    fn sealed_values_open_only_with_same_purpose_context_and_key() {
        let k = keys();
        let sealed = k.seal(Purpose::TokenStore, b"sid:a", b"secret");
        assert_eq!(
            k.open(Purpose::TokenStore, b"sid:a", &sealed).unwrap(),
            b"secret"
        );
        assert!(k.open(Purpose::TokenStore, b"sid:b", &sealed).is_none());
        assert!(k.open(Purpose::Session, b"sid:a", &sealed).is_none());
        let other = Keys::new(&[3u8; 32], &[2u8; 32], &[]);
        assert!(other.open(Purpose::TokenStore, b"sid:a", &sealed).is_none());
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 1;
            assert!(
                k.open(Purpose::TokenStore, b"sid:a", &t).is_none(),
                "flip at {i}"
            );
        }
        assert!(k
            .open(Purpose::TokenStore, b"sid:a", &sealed[..sealed.len() - 1])
            .is_none());
    }

    #[test]
    fn previous_keys_still_open_old_values() {
        let old = Keys::new(&[7u8; 32], &[2u8; 32], &[]);
        let sealed = old.seal(Purpose::Session, b"", b"v");
        let rotated = Keys::new(&[8u8; 32], &[2u8; 32], &[vec![7u8; 32]]);
        assert_eq!(rotated.open(Purpose::Session, b"", &sealed).unwrap(), b"v");
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231 test cases 1 and 6 (a key longer than the block).
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        assert_eq!(hex_decode(&hex(&[0, 255, 16])).unwrap(), vec![0, 255, 16]);
        assert!(hex_decode("abc").is_none());
        assert!(hex_decode("zz").is_none());
    }
}
