//! Dashboard accounts (SPEC 13): names and passwords of the people who sign in without the
//! admin token (`siaga operator add NAME --role owner|operator`). A password is kept only
//! as an argon2id hash (PHC string, new random salt); checking one takes as long whether
//! the name exists or not, so the sign-in does not tell which names do.

use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use super::session::Role;

/// The name the admin token signs in as (no account may take it).
pub const TOKEN_USER: &str = "admin";

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 10;

/// A new account's name: 1 to 32 of `a-z 0-9 . _ -`, not `admin`.
pub fn check_name(name: &str) -> Result<String, String> {
    let n = name.trim();
    let ok = (1..=32).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !ok {
        return Err(format!(
            "name {n:?}: 1 to 32 lowercase letters, digits, '.', '_' or '-'"
        ));
    }
    if n == TOKEN_USER {
        return Err(format!(
            "name {n:?} is the admin token's own; choose another"
        ));
    }
    Ok(n.to_owned())
}

/// A new password: at least [`MIN_PASSWORD`] characters (the line end is not part of it).
pub fn check_password(pw: &str) -> Result<String, String> {
    let pw = pw.trim_end_matches(['\r', '\n']);
    if pw.chars().count() < MIN_PASSWORD {
        return Err(format!("a password has at least {MIN_PASSWORD} characters"));
    }
    Ok(pw.to_owned())
}

/// `owner` or `operator`.
pub fn role_of(s: &str) -> Option<Role> {
    match s {
        "owner" => Some(Role::Owner),
        "operator" => Some(Role::Operator),
        _ => None,
    }
}

pub fn role_name(r: Role) -> &'static str {
    match r {
        Role::Owner => "owner",
        Role::Operator => "operator",
    }
}

/// The password's argon2id hash (with a new random salt), as a PHC string.
pub fn hash(pw: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(pw.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

/// A hash no password is checked against successfully in practice, checked when the name
/// is unknown so that a wrong name costs the same time as a wrong password.
static DECOY: LazyLock<String> =
    LazyLock::new(|| hash(&ulid::Ulid::new().to_string()).unwrap_or_default());

/// Whether `pw` is the password `stored` is the hash of; `None` for `stored` checks the
/// decoy (and is false). A damaged hash matches nothing. Slow on purpose: run it off the
/// async threads.
pub fn verify(stored: Option<&str>, pw: &str) -> bool {
    let decoy = stored.is_none();
    let stored = stored.unwrap_or(DECOY.as_str());
    let ok = PasswordHash::new(stored)
        .map(|h| Argon2::default().verify_password(pw.as_bytes(), &h).is_ok())
        .unwrap_or(false);
    ok && !decoy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_passwords_are_checked() {
        assert_eq!(check_name(" sari ").unwrap(), "sari");
        assert!(check_name("Sari").is_err());
        assert!(check_name("admin").is_err());
        assert!(check_name("").is_err());
        assert!(check_name(&"a".repeat(33)).is_err());
        assert_eq!(check_password("0123456789\n").unwrap(), "0123456789");
        assert!(check_password("short\n").is_err());
    }

    #[test]
    fn a_password_verifies_against_its_hash_only() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify(Some(&h), "correct horse"));
        assert!(!verify(Some(&h), "correct horsE"));
        assert!(!verify(Some("not a hash"), "correct horse"));
        assert!(!verify(None, "correct horse"));
        assert_eq!(role_of("owner"), Some(Role::Owner));
        assert_eq!(role_of("operator").map(role_name), Some("operator"));
        assert_eq!(role_of("root"), None);
    }
}
