//! Transaction PINs and link codes (SPEC 5.2). A PIN has 4 to 6 digits, so it is kept
//! only as a slow salted hash (argon2id, PHC string); a link code is random, one-time and
//! short-lived, so a plain SHA-256 (as API keys) is enough for it.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::Rng;

/// How long a link code stays usable.
pub const CODE_TTL_MS: i64 = 24 * 3_600_000;

/// A new PIN as the owner types it: 4 to 6 digits (surrounding blanks and the line end
/// are ignored).
pub fn check_new(pin: &str) -> Result<String, &'static str> {
    let pin = pin.trim();
    if (4..=6).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(pin.to_owned())
    } else {
        Err("a PIN is 4 to 6 digits")
    }
}

/// The PIN's argon2id hash (with a new random salt), as a PHC string.
pub fn hash(pin: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the PIN: {e}"))
}

/// Whether `pin` is the one `stored` is the hash of (a damaged hash matches nothing).
pub fn verify(stored: &str, pin: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(pin.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A new link code: 8 letters and digits without the look-alikes (0/O, 1/I/L).
pub fn new_code() -> String {
    const ABC: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..8)
        .map(|_| ABC[rng.gen_range(0..ABC.len())] as char)
        .collect()
}

/// What the store keeps of a link code (codes are read case-insensitively).
pub fn code_hash(code: &str) -> String {
    crate::keys::hash_key(&code.trim().to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_is_kept_as_a_salted_slow_hash() {
        assert_eq!(check_new(" 123456\n"), Ok("123456".into()));
        assert!(check_new("123").is_err());
        assert!(check_new("1234567").is_err());
        assert!(check_new("12a4").is_err());
        let a = hash("1234").unwrap();
        let b = hash("1234").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(verify(&a, "1234"));
        assert!(!verify(&a, "1235"));
        assert!(!verify("garbage", "1234"));
    }

    #[test]
    fn link_codes_are_random_and_read_in_any_case() {
        let c = new_code();
        assert_eq!(c.len(), 8);
        assert_ne!(c, new_code());
        assert_eq!(code_hash(&c), code_hash(&c.to_ascii_lowercase()));
    }
}
