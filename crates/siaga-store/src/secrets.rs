//! Secrets at rest (SPEC 15): the [`Keyring`] that seals the secrets siaga must read back
//! (resellers' webhook secrets, subscribers' unsubscribe tokens, the token a pending
//! notice carries) before they reach a backend, and opens them after. A sealed value is
//! `enc:v1:<key id>:<base64url(nonce ‖ XChaCha20-Poly1305 ciphertext)>`; anything else is
//! a value stored in clear (a database from before, or one run without a key).
//!
//! The key comes from the environment ([`KEY_ENV`], 32 bytes in base64 or hex); earlier
//! keys still being rotated out from [`OLD_KEYS_ENV`]. Values are read with any key of the
//! ring and written with the current one; the store re-seals every value not in the
//! current form when it opens (`sealed.rs`), so a rotation is: set the new key, move the
//! old one to the old list, start once, drop the old one. Without a current key values are
//! written (and re-written) in clear.
//!
//! Values looked up by what they are (an unsubscribe token from a link) are sealed with a
//! nonce derived from the value (SIV style: the same token always seals to the same text
//! under one key, so the column stays searchable and unique); the others get a random
//! nonce. Each key is used only through two keys derived from it (encryption, nonces),
//! and the column a value belongs to is bound as associated data, so a sealed value
//! moved to another column does not open.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::StoreError;

/// The environment variable holding the current key (32 bytes, base64 or 64 hex digits).
pub const KEY_ENV: &str = "SIAGA_SECRET_KEY";
/// Earlier keys, still read while their values are re-sealed (comma or space separated).
pub const OLD_KEYS_ENV: &str = "SIAGA_SECRET_KEY_OLD";

const PREFIX: &str = "enc:v1:";
const NONCE_LEN: usize = 24;

/// Which secret a value is: bound into its seal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// `resellers.webhook_secret`: siaga signs callbacks with it.
    WebhookSecret,
    /// `subscribers.unsub_token`: in every email's unsubscribe link, looked up by value.
    UnsubToken,
    /// `notices.unsub`: the unsubscribe token a pending subscriber email carries.
    NoticeUnsub,
    /// `resellers.digiflazz_key`: siaga checks the drop-in's md5 signs with it.
    DigiflazzKey,
}

impl Column {
    pub fn name(self) -> &'static str {
        match self {
            Column::WebhookSecret => "resellers.webhook_secret",
            Column::UnsubToken => "subscribers.unsub_token",
            Column::NoticeUnsub => "notices.unsub",
            Column::DigiflazzKey => "resellers.digiflazz_key",
        }
    }
}

struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
    nonce_key: [u8; 32],
}

fn derive(master: &[u8], label: &str) -> [u8; 32] {
    // HMAC accepts keys of any length.
    let Ok(mut m) = <Hmac<Sha256> as Mac>::new_from_slice(master) else {
        return [0; 32];
    };
    m.update(label.as_bytes());
    m.finalize().into_bytes().into()
}

impl Key {
    fn parse(text: &str, var: &str) -> Result<Key, StoreError> {
        let t = text.trim();
        let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(t).ok()
        } else {
            STANDARD
                .decode(t)
                .ok()
                .or_else(|| URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')).ok())
        };
        let master = bytes.filter(|b| b.len() == 32).ok_or_else(|| {
            StoreError::Secrets(format!(
                "{var} must be 32 random bytes in base64 or hex (make one with \
                 `openssl rand -base64 32`)"
            ))
        })?;
        let enc = derive(&master, "siaga secrets v1: encryption");
        Ok(Key {
            id: hex::encode(&derive(&master, "siaga secrets v1: key id")[..4]),
            cipher: XChaCha20Poly1305::new(&enc.into()),
            nonce_key: derive(&master, "siaga secrets v1: nonce"),
        })
    }

    fn seal(&self, col: Column, plain: &str, nonce: &XNonce) -> Result<String, StoreError> {
        let aad = aad(col, &self.id);
        let ct = self
            .cipher
            .encrypt(
                nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Secrets(format!("cannot seal a {} value", col.name())))?;
        let mut raw = nonce.to_vec();
        raw.extend_from_slice(&ct);
        Ok(format!(
            "{PREFIX}{}:{}",
            self.id,
            URL_SAFE_NO_PAD.encode(raw)
        ))
    }

    /// The nonce a value always gets under this key (for values looked up by value).
    fn fixed_nonce(&self, col: Column, plain: &str) -> XNonce {
        let Ok(mut m) = <Hmac<Sha256> as Mac>::new_from_slice(&self.nonce_key) else {
            return XNonce::default();
        };
        m.update(col.name().as_bytes());
        m.update(&[0]);
        m.update(plain.as_bytes());
        let d = m.finalize().into_bytes();
        *XNonce::from_slice(&d[..NONCE_LEN])
    }

    fn open(&self, col: Column, body: &str) -> Result<String, StoreError> {
        let bad = || {
            StoreError::Secrets(format!(
                "a sealed {} value does not open with key {} (damaged, or moved from another \
                 column)",
                col.name(),
                self.id
            ))
        };
        let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| bad())?;
        if raw.len() < NONCE_LEN {
            return Err(bad());
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let aad = aad(col, &self.id);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| bad())?;
        String::from_utf8(plain).map_err(|_| bad())
    }
}

fn aad(col: Column, key_id: &str) -> String {
    format!("siaga:{}:{key_id}", col.name())
}

/// The key a stored value was sealed with (`None`: stored in clear).
fn sealed_with(stored: &str) -> Option<(&str, &str)> {
    stored.strip_prefix(PREFIX)?.split_once(':')
}

/// The keys secrets are sealed with: the current one (none: secrets are written in clear)
/// and earlier ones still read. Its `Debug` shows key ids only, never a key.
#[derive(Clone, Default)]
pub struct Keyring {
    keys: std::sync::Arc<Ring>,
}

#[derive(Default)]
struct Ring {
    current: Option<Key>,
    old: Vec<Key>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current_id())
            .field(
                "old",
                &self
                    .keys
                    .old
                    .iter()
                    .map(|k| k.id.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Keyring {
    /// No keys: secrets are stored in clear, and sealed ones cannot be read.
    pub fn none() -> Keyring {
        Keyring::default()
    }

    /// A ring from key texts (base64 or hex of 32 bytes); `current` may be absent (write in
    /// clear), `old` are only read.
    pub fn new(current: Option<&str>, old: &[&str]) -> Result<Keyring, StoreError> {
        let current = current
            .filter(|c| !c.trim().is_empty())
            .map(|c| Key::parse(c, KEY_ENV))
            .transpose()?;
        let mut ring = Ring {
            current,
            old: Vec::new(),
        };
        for o in old.iter().filter(|o| !o.trim().is_empty()) {
            let k = Key::parse(o, OLD_KEYS_ENV)?;
            let known = ring.current.iter().chain(&ring.old).any(|c| c.id == k.id);
            if !known {
                ring.old.push(k);
            }
        }
        Ok(Keyring {
            keys: std::sync::Arc::new(ring),
        })
    }

    /// The ring [`KEY_ENV`] and [`OLD_KEYS_ENV`] name, read through `getenv`.
    pub fn from_env(getenv: &dyn Fn(&str) -> Option<String>) -> Result<Keyring, StoreError> {
        let current = getenv(KEY_ENV);
        let old = getenv(OLD_KEYS_ENV).unwrap_or_default();
        let old: Vec<&str> = old
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .collect();
        Keyring::new(current.as_deref(), &old)
    }

    /// A new random key, as [`KEY_ENV`] takes it (base64 of 32 bytes).
    pub fn new_key_text() -> String {
        STANDARD.encode(XChaCha20Poly1305::generate_key(&mut OsRng))
    }

    /// The current key's id (8 hex digits, derived from the key); `None`: no key, secrets
    /// are written in clear.
    pub fn current_id(&self) -> Option<&str> {
        self.keys.current.as_ref().map(|k| k.id.as_str())
    }

    /// Seals `plain` with the current key and a random nonce; in clear without a key.
    pub(crate) fn seal(&self, col: Column, plain: &str) -> Result<String, StoreError> {
        match &self.keys.current {
            Some(k) => k.seal(col, plain, &XChaCha20Poly1305::generate_nonce(&mut OsRng)),
            None => Ok(plain.to_owned()),
        }
    }

    /// Seals `plain` so that the same value always gives the same text under one key (for
    /// values looked up by value); in clear without a key.
    pub(crate) fn seal_fixed(&self, col: Column, plain: &str) -> Result<String, StoreError> {
        match &self.keys.current {
            Some(k) => k.seal(col, plain, &k.fixed_nonce(col, plain)),
            None => Ok(plain.to_owned()),
        }
    }

    /// Every text a value sealed by [`Self::seal_fixed`] may be stored as: under the
    /// current key first, in clear, then under each old key.
    pub(crate) fn lookups(&self, col: Column, plain: &str) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        if let Some(k) = &self.keys.current {
            out.push(k.seal(col, plain, &k.fixed_nonce(col, plain))?);
        }
        out.push(plain.to_owned());
        for k in &self.keys.old {
            out.push(k.seal(col, plain, &k.fixed_nonce(col, plain))?);
        }
        Ok(out)
    }

    /// The value a stored text holds: opened with the key it names, or as it is when it
    /// was stored in clear.
    pub(crate) fn open(&self, col: Column, stored: &str) -> Result<String, StoreError> {
        let Some((id, body)) = sealed_with(stored) else {
            return Ok(stored.to_owned());
        };
        match self.key(id) {
            Some(k) => k.open(col, body),
            None => Err(self.missing(id, col)),
        }
    }

    /// As [`Self::open`], for optional columns.
    pub(crate) fn open_opt(
        &self,
        col: Column,
        stored: Option<String>,
    ) -> Result<Option<String>, StoreError> {
        stored.map(|s| self.open(col, &s)).transpose()
    }

    /// Whether a stored text is already in the form this ring writes (sealed with the
    /// current key, or in clear when there is none).
    pub(crate) fn is_current(&self, stored: &str) -> bool {
        sealed_with(stored).map(|(id, _)| id) == self.current_id()
    }

    fn key(&self, id: &str) -> Option<&Key> {
        self.keys
            .current
            .iter()
            .chain(&self.keys.old)
            .find(|k| k.id == id)
    }

    fn missing(&self, id: &str, col: Column) -> StoreError {
        StoreError::Secrets(format!(
            "a {} value is sealed with key {id}, which is not set: put that key in {KEY_ENV} \
             (or, while rotating, in {OLD_KEYS_ENV}); keys set: {}",
            col.name(),
            self.ids_text()
        ))
    }

    fn ids_text(&self) -> String {
        let ids: Vec<&str> = self
            .keys
            .current
            .iter()
            .chain(&self.keys.old)
            .map(|k| k.id.as_str())
            .collect();
        if ids.is_empty() {
            "none".into()
        } else {
            ids.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    const B_HEX: &str = "0101010101010101010101010101010101010101010101010101010101010101";

    #[test]
    fn values_seal_open_and_rotate() {
        let a = Keyring::new(Some(A), &[]).expect("key a");
        let s = a.seal(Column::WebhookSecret, "whsec_x").expect("seal");
        assert!(s.starts_with("enc:v1:") && !s.contains("whsec_x"), "{s}");
        assert_ne!(s, a.seal(Column::WebhookSecret, "whsec_x").expect("seal"));
        assert_eq!(a.open(Column::WebhookSecret, &s).expect("open"), "whsec_x");
        assert!(
            a.open(Column::UnsubToken, &s).is_err(),
            "bound to its column"
        );
        assert_eq!(
            a.open(Column::WebhookSecret, "plain").expect("clear"),
            "plain"
        );
        assert!(a.is_current(&s) && !a.is_current("plain"));

        let b = Keyring::new(Some(B_HEX), &[A]).expect("key b, old a");
        assert_eq!(
            b.open(Column::WebhookSecret, &s).expect("old key"),
            "whsec_x"
        );
        assert!(!b.is_current(&s));
        let only_b = Keyring::new(Some(B_HEX), &[]).expect("key b");
        let e = only_b
            .open(Column::WebhookSecret, &s)
            .expect_err("a is gone");
        assert!(e.to_string().contains(KEY_ENV), "{e}");
        assert!(Keyring::none().open(Column::WebhookSecret, &s).is_err());
        assert!(Keyring::none().is_current("plain"));

        let f = b.seal_fixed(Column::UnsubToken, "tok").expect("fixed");
        assert_eq!(f, b.seal_fixed(Column::UnsubToken, "tok").expect("fixed"));
        let under_a = a.seal_fixed(Column::UnsubToken, "tok").expect("fixed a");
        let looks = b.lookups(Column::UnsubToken, "tok").expect("lookups");
        assert_eq!(looks, vec![f, "tok".to_owned(), under_a]);
    }

    #[test]
    fn bad_keys_are_refused_and_never_shown() {
        for bad in ["short", "AAAA", &"0".repeat(63)] {
            let e = Keyring::new(Some(bad), &[]).expect_err(bad).to_string();
            assert!(e.contains(KEY_ENV) && !e.contains(bad), "{e}");
        }
        let k = Keyring::new(Some(A), &[]).expect("key");
        let shown = format!("{k:?}");
        assert!(!shown.contains(A) && shown.contains(k.current_id().unwrap_or("?")));
        let fresh = Keyring::new_key_text();
        assert!(Keyring::new(Some(&fresh), &[]).is_ok());
    }
}
