//! Authenticated API keys kept for a moment (issue #22): the `/v1` check reads a key's
//! reseller from the store at most once per [`KEEP`] per key, not once per request. A
//! change made through this server (key rotation, access rules) clears the cache at once;
//! one made elsewhere (the CLI, another node) is in force within [`KEEP`]. Only keys that
//! authenticated are kept, so an unknown key is always looked up.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use siaga_store::Reseller;

/// How long a looked-up key is trusted without looking again.
pub const KEEP: Duration = Duration::from_secs(1);

/// Resellers by key hash, with when each was read.
pub struct KeyCache {
    kept: Mutex<HashMap<String, (Reseller, Instant)>>,
    keep: Duration,
}

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache::keeping(KEEP)
    }
}

impl KeyCache {
    /// A cache that trusts a read for `keep`.
    pub fn keeping(keep: Duration) -> KeyCache {
        KeyCache {
            kept: Mutex::default(),
            keep,
        }
    }

    /// The reseller read for `key_hash` less than [`KEEP`] ago.
    pub fn get(&self, key_hash: &str) -> Option<Reseller> {
        let kept = self.kept.lock().ok()?;
        let (r, at) = kept.get(key_hash)?;
        (at.elapsed() < self.keep).then(|| r.clone())
    }

    /// Keeps `r`, just read for `key_hash`. Entries past [`KEEP`] go when the map grows.
    pub fn put(&self, key_hash: &str, r: &Reseller) {
        if let Ok(mut kept) = self.kept.lock() {
            if kept.len() >= 1024 {
                let keep = self.keep;
                kept.retain(|_, (_, at)| at.elapsed() < keep);
            }
            kept.insert(key_hash.to_owned(), (r.clone(), Instant::now()));
        }
    }

    /// Forgets every key: a reseller's keys or access rules changed.
    pub fn clear(&self) {
        if let Ok(mut kept) = self.kept.lock() {
            kept.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reseller(id: &str) -> Reseller {
        Reseller {
            id: id.into(),
            name: id.into(),
            email: None,
            callback_url: None,
            key_hash: "h".into(),
            webhook_secret: "whsec_x".into(),
            created_at: 0,
            ip_allowlist: Vec::new(),
            require_signature: false,
            digiflazz_key: None,
            callback_format: siaga_store::CallbackFormat::Standard,
        }
    }

    #[test]
    fn a_kept_key_is_found_until_cleared() {
        let c = KeyCache::default();
        assert!(c.get("h").is_none(), "nothing kept yet");
        c.put("h", &reseller("r1"));
        assert_eq!(c.get("h").map(|r| r.id), Some("r1".into()));
        assert!(c.get("other").is_none());
        c.clear();
        assert!(c.get("h").is_none(), "cleared");
    }

    #[test]
    fn a_read_older_than_its_keep_is_not_trusted() {
        let c = KeyCache::keeping(Duration::ZERO);
        c.put("h", &reseller("r1"));
        assert!(c.get("h").is_none(), "looked up again");
    }
}
