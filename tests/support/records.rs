//! The small records the store tests write: an access token stands for a record's content.

use ezauth::crypto::Keys;
use ezauth::store::TokenRecord;

/// The store tests' keys.
pub fn keys() -> Keys {
    Keys::new(&[5u8; 32], &[6u8; 32], &[])
}

/// A record whose access token is `token`.
pub fn record(token: &str) -> TokenRecord {
    TokenRecord {
        provider_name: "idp".into(),
        user_id: "u@example.test".into(),
        access_token: Some(token.into()),
        ..Default::default()
    }
}

/// The access token a [`record`] was made with.
pub fn token(r: &TokenRecord) -> &str {
    r.access_token.as_deref().unwrap()
}
