//! Signatures the suppliers use: Digiflazz's md5 request signs and the `X-Hub-Signature`
//! (HMAC-SHA1) on callbacks.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;

/// md5 hex of the concatenation, e.g. `md5(username + key + ref_id)`.
pub fn md5_hex(parts: &[&str]) -> String {
    let mut h = Md5::new();
    for p in parts {
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

/// `sha1=<hex hmac-sha1(secret, body)>`, the `X-Hub-Signature` header value.
pub fn hub_signature(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    format!("sha1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks an `X-Hub-Signature` header in constant time.
pub fn verify_hub_signature(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hexsig) = header.trim().strip_prefix("sha1=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hexsig) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_matches_known_value() {
        // md5("username" + "key" + "depo")
        assert_eq!(
            md5_hex(&["username", "key", "depo"]),
            md5_hex(&["usernamekeydepo"])
        );
        assert_eq!(md5_hex(&["abc"]), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(md5_hex(&[""]), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn hub_signature_round_trip() {
        let s = hub_signature("secret", b"{\"a\":1}");
        assert!(verify_hub_signature("secret", b"{\"a\":1}", &s));
        assert!(!verify_hub_signature("other", b"{\"a\":1}", &s));
        assert!(!verify_hub_signature("secret", b"{\"a\":2}", &s));
        assert!(!verify_hub_signature("secret", b"{\"a\":1}", "sha1=zz"));
        // RFC 2202 test case 2 for HMAC-SHA1
        assert_eq!(
            hub_signature("Jefe", b"what do ya want for nothing?"),
            "sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }
}
