//! Dashboard sessions (SPEC 13): a signed cookie, no server-side table, so any node that
//! knows the admin token accepts it (and changing the token signs everyone out). The cookie
//! carries who signed in, their role, when it expires and a nonce; the CSRF token of every
//! form is derived from that nonce, so a form from another session (or none) is refused.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The cookie's name.
pub const COOKIE: &str = "siaga_session";
/// How long a session lasts.
pub const LIFETIME_MS: i64 = 8 * 3_600_000;

/// What a signed-in person may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, keys and config included.
    Owner,
    /// Day-to-day work: orders, the desk, incidents; never keys or the config.
    Operator,
}

/// A valid session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    #[serde(rename = "u")]
    pub user: String,
    #[serde(rename = "r")]
    pub role: Role,
    #[serde(rename = "e")]
    pub expires_at: i64,
    #[serde(rename = "n")]
    pub nonce: String,
}

/// The signing key: derived from the admin token, never the token itself.
pub struct Keys([u8; 32]);

impl Keys {
    pub fn from_admin_token(token: &str) -> Keys {
        let mut h = Sha256::new();
        h.update(b"siaga dashboard sessions\0");
        h.update(token.as_bytes());
        Keys(h.finalize().into())
    }

    fn mac(&self, data: &[u8]) -> [u8; 32] {
        // HMAC takes a key of any length; a 32-byte key cannot be refused.
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        m.update(data);
        m.finalize().into_bytes().into()
    }

    /// The cookie value for `s`.
    pub fn seal(&self, s: &Session) -> String {
        let body = serde_json::to_vec(s).unwrap_or_default();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&body);
        let tag = hex::encode(self.mac(b64.as_bytes()));
        format!("{b64}.{tag}")
    }

    /// The session in a cookie value, if it is ours, intact and not expired at `now`.
    pub fn open(&self, value: &str, now: i64) -> Option<Session> {
        let (b64, tag) = value.split_once('.')?;
        let want = hex::encode(self.mac(b64.as_bytes()));
        if !crate::keys::constant_time_eq(&want, tag) {
            return None;
        }
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b64)
            .ok()?;
        let s: Session = serde_json::from_slice(&body).ok()?;
        (now < s.expires_at).then_some(s)
    }

    /// The CSRF token of a session's forms.
    pub fn csrf(&self, s: &Session) -> String {
        let mut input = b"csrf\0".to_vec();
        input.extend_from_slice(s.nonce.as_bytes());
        hex::encode(&self.mac(&input)[..16])
    }
}

/// The `Set-Cookie` value that starts `value`'s session (`secure` on https).
pub fn set_cookie(value: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        LIFETIME_MS / 1000
    )
}

/// The `Set-Cookie` value that ends the session.
pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

/// The session cookie's value among a request's `Cookie` headers.
pub fn cookie_value(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .find_map(|kv| kv.strip_prefix(COOKIE)?.strip_prefix('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            user: "admin".into(),
            role: Role::Owner,
            expires_at: 1_000,
            nonce: "n1".into(),
        }
    }

    #[test]
    fn a_session_opens_only_intact_unexpired_and_with_the_same_token() {
        let k = Keys::from_admin_token("token-a");
        let v = k.seal(&session());
        assert_eq!(k.open(&v, 999), Some(session()));
        assert_eq!(k.open(&v, 1_000), None, "expired");
        assert_eq!(Keys::from_admin_token("token-b").open(&v, 0), None);
        let forged = v.replacen('e', "f", 1);
        assert_eq!(k.open(&forged, 0), None);
        assert_eq!(k.open("garbage", 0), None);
    }

    #[test]
    fn the_csrf_token_belongs_to_its_session() {
        let k = Keys::from_admin_token("t");
        let other = Session {
            nonce: "n2".into(),
            ..session()
        };
        assert_ne!(k.csrf(&session()), k.csrf(&other));
        assert_eq!(k.csrf(&session()), k.csrf(&session()));
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            "a=1; siaga_session=abc.def; b=2".parse().unwrap(),
        );
        assert_eq!(cookie_value(&h), Some("abc.def"));
    }
}
