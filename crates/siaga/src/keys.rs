//! Secrets siaga hands out: reseller API keys (256 random bits, stored as a SHA-256 hash,
//! compared in constant time) and webhook secrets in the Standard Webhooks `whsec_` form;
//! and the key ring the store seals the secrets it must read back with (from the
//! environment, never from the config file).

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new API key, e.g. `sk_3f9c…` (64 hex digits after the prefix).
pub fn new_api_key() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("sk_{}", hex::encode(b))
}

/// A new webhook secret: `whsec_` + base64 of 32 random bytes.
pub fn new_webhook_secret() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(b)
    )
}

/// A new Digiflazz drop-in key (SPEC 5.1): 32 hex digits, like the keys Digiflazz hands
/// out, from 128 random bits.
pub fn new_digiflazz_key() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// The store's secret key ring from `SIAGA_SECRET_KEY` (current) and `SIAGA_SECRET_KEY_OLD`
/// (being rotated out); without a current key secrets are kept in clear. A malformed key
/// is an error naming its variable (never its value).
pub fn store_keyring() -> Result<siaga_store::Keyring, siaga_store::StoreError> {
    siaga_store::Keyring::from_env(&|name| std::env::var(name).ok())
}

/// What the store keeps instead of the key.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// A new random id with a prefix, sortable by time: `rsl_01J…`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_hash_stably() {
        let a = new_api_key();
        let b = new_api_key();
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + 64);
        assert_eq!(hash_key(&a), hash_key(&a));
        assert_ne!(hash_key(&a), hash_key(&b));
        assert!(constant_time_eq(&hash_key(&a), &hash_key(&a)));
        assert!(!constant_time_eq(&hash_key(&a), &hash_key(&b)));
        assert!(new_webhook_secret().starts_with("whsec_"));
        let d = new_digiflazz_key();
        assert_eq!(d.len(), 32);
        assert_ne!(d, new_digiflazz_key());
    }
}
