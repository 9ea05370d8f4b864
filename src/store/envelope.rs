//! The bytes of a stored entry: a record sealed so that it opens only under its own name, and
//! that names its owner inside, so an operator's tool (`ezauth store`) holding the keys can
//! open, rekey or purge an entry it found by listing, without knowing the user id.
//!
//! Two formats:
//!
//! - **Owned** (written since entries name their owner): the byte [`OWNED`], then
//!   `Keys::seal(TokenStoreEntry, name, {"owner": user id, "record": …})`. The entry's name is
//!   the associated data, so bytes copied under another name (another user's, or a made-up
//!   one) do not open; the owner inside must be the user the name is the keyed hash of (under
//!   the current or a previous key), so even a name collision would not hand one user's record
//!   to another. Names stay keyed hashes: they reveal nothing; the owner is encrypted.
//! - **Legacy** (written before): `Keys::seal(TokenStore, user id, record)`, which starts with
//!   the seal's own version byte (1). It opens only for the user id, which the running module
//!   knows at request time; the next write of the record rewrites it as owned. A tool that
//!   knows only the name cannot open it.
//!
//! Either way AES-GCM refuses tampered, truncated or foreign bytes; the leading byte only
//! chooses which associated data to try, and each choice binds the bytes to their owner.

use serde::{Deserialize, Serialize};

use super::{StoreError, TokenRecord};
use crate::crypto::{Keys, Purpose};

/// First byte of an owned entry.
const OWNED: u8 = 2;
/// First byte of a legacy entry: the seal's own version.
const LEGACY: u8 = 1;

#[derive(Serialize)]
struct OwnedOut<'a> {
    owner: &'a str,
    record: &'a TokenRecord,
}

#[derive(Deserialize)]
struct OwnedIn {
    owner: String,
    record: TokenRecord,
}

/// What an entry found by its name holds.
#[derive(Debug)]
pub enum Opened {
    /// An owned entry: whose it is, and the record.
    Owned {
        owner: String,
        record: Box<TokenRecord>,
    },
    /// A legacy entry: opens only for its user id, which the entry does not tell.
    Legacy,
}

/// Seals `record`, `user`'s, as the entry `name` (owned format).
pub fn seal(keys: &Keys, name: &str, user: &str, record: &TokenRecord) -> Vec<u8> {
    let plain = serde_json::to_vec(&OwnedOut {
        owner: user,
        record,
    })
    .expect("records always serialize");
    let mut out = vec![OWNED];
    out.extend(keys.seal(Purpose::TokenStoreEntry, name.as_bytes(), &plain));
    out
}

/// Opens the entry `name` for `user`, who the running module knows: either format.
pub fn open_for(
    keys: &Keys,
    name: &str,
    user: &str,
    sealed: &[u8],
) -> Result<TokenRecord, StoreError> {
    if sealed.first() == Some(&OWNED) {
        let owned = open_owned(keys, name, sealed)?;
        if owned.owner != user {
            return Err(StoreError::Corrupt("the entry is another user's".into()));
        }
        return Ok(owned.record);
    }
    let plain = keys
        .open(Purpose::TokenStore, user.as_bytes(), sealed)
        .ok_or_else(|| StoreError::Corrupt("does not open with this key for this user".into()))?;
    serde_json::from_slice(&plain).map_err(|e| StoreError::Corrupt(format!("bad record: {e}")))
}

/// Opens the entry `name` knowing only its name (an operator's listing). A legacy entry is
/// reported as such, unopened.
pub fn open_named(keys: &Keys, name: &str, sealed: &[u8]) -> Result<Opened, StoreError> {
    match sealed.first() {
        Some(&OWNED) => {}
        Some(&LEGACY) => return Ok(Opened::Legacy),
        _ => return Err(StoreError::Corrupt("not a sealed entry".into())),
    }
    let owned = open_owned(keys, name, sealed)?;
    let named = keys.store_file_name(&owned.owner) == name
        || keys
            .previous_store_file_names(&owned.owner)
            .iter()
            .any(|n| n == name);
    if !named {
        return Err(StoreError::Corrupt(
            "the entry's owner does not match its name".into(),
        ));
    }
    Ok(Opened::Owned {
        owner: owned.owner,
        record: Box::new(owned.record),
    })
}

fn open_owned(keys: &Keys, name: &str, sealed: &[u8]) -> Result<OwnedIn, StoreError> {
    let plain = keys
        .open(Purpose::TokenStoreEntry, name.as_bytes(), &sealed[1..])
        .ok_or_else(|| StoreError::Corrupt("does not open with this key under this name".into()))?;
    serde_json::from_slice(&plain).map_err(|e| StoreError::Corrupt(format!("bad record: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::record;

    fn keys() -> Keys {
        Keys::new(&[1u8; 32], &[2u8; 32], &[])
    }

    /// What the module wrote before entries named their owner.
    fn legacy(keys: &Keys, user: &str, record: &TokenRecord) -> Vec<u8> {
        keys.seal(
            Purpose::TokenStore,
            user.as_bytes(),
            &serde_json::to_vec(record).unwrap(),
        )
    }

    fn owner(opened: Opened) -> (String, TokenRecord) {
        match opened {
            Opened::Owned { owner, record } => (owner, *record),
            Opened::Legacy => panic!("an owned entry read as legacy"),
        }
    }

    #[test]
    fn owned_entries_open_for_their_user_and_by_name() {
        let k = keys();
        let name = k.store_file_name("sid:a");
        let sealed = seal(&k, &name, "sid:a", &record("t1"));
        assert_eq!(open_for(&k, &name, "sid:a", &sealed).unwrap(), record("t1"));
        let (who, r) = owner(open_named(&k, &name, &sealed).unwrap());
        assert_eq!((who.as_str(), r), ("sid:a", record("t1")));
    }

    #[test]
    fn legacy_entries_open_for_their_user_and_are_reported_by_name() {
        let k = keys();
        let name = k.store_file_name("sid:a");
        let sealed = legacy(&k, "sid:a", &record("t1"));
        assert_eq!(open_for(&k, &name, "sid:a", &sealed).unwrap(), record("t1"));
        assert!(open_for(&k, &name, "sid:b", &sealed).is_err());
        assert!(matches!(
            open_named(&k, &name, &sealed).unwrap(),
            Opened::Legacy
        ));
    }

    #[test]
    fn an_entry_copied_under_another_users_name_is_refused() {
        let k = keys();
        let (a, b) = (k.store_file_name("sid:a"), k.store_file_name("sid:b"));
        let sealed = seal(&k, &a, "sid:a", &record("t1"));
        assert!(open_for(&k, &b, "sid:b", &sealed).is_err());
        assert!(open_named(&k, &b, &sealed).is_err());
        // Sealed under b's name but naming a as owner (only a key holder could): refused too.
        let forged = seal(&k, &b, "sid:a", &record("t1"));
        assert!(open_for(&k, &b, "sid:b", &forged).is_err());
        assert!(open_named(&k, &b, &forged).is_err());
    }

    #[test]
    fn tampered_truncated_and_foreign_key_entries_are_refused() {
        let k = keys();
        let name = k.store_file_name("sid:a");
        let sealed = seal(&k, &name, "sid:a", &record("t1"));
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 1;
            assert!(open_for(&k, &name, "sid:a", &t).is_err(), "byte {i}");
            assert!(open_named(&k, &name, &t).is_err(), "byte {i}");
        }
        assert!(open_named(&k, &name, &sealed[..sealed.len() - 1]).is_err());
        let other = Keys::new(&[9u8; 32], &[2u8; 32], &[]);
        assert!(open_named(&other, &name, &sealed).is_err());
        assert!(open_for(&other, &name, "sid:a", &sealed).is_err());
    }

    #[test]
    fn entries_under_a_previous_keys_name_open_after_rotation() {
        let old = keys();
        let name = old.store_file_name("sid:a");
        let sealed = seal(&old, &name, "sid:a", &record("t1"));
        let rotated = Keys::new(&[3u8; 32], &[2u8; 32], &[vec![1u8; 32]]);
        assert_ne!(rotated.store_file_name("sid:a"), name);
        let (who, _) = owner(open_named(&rotated, &name, &sealed).unwrap());
        assert_eq!(who, "sid:a");
        assert!(open_for(&rotated, &name, "sid:a", &sealed).is_ok());
    }
}
