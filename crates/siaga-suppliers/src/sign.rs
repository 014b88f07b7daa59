//! Signatures the suppliers use: Digiflazz's md5 request signs, the `X-Hub-Signature`
//! (HMAC-SHA1) on callbacks, and the configurable signs of `http-template` suppliers
//! (md5, sha1, sha256, hmac-sha256; hex, base64, base64url without padding).

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

/// A digest a template sign may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algo {
    Md5,
    Sha1,
    Sha256,
    HmacSha256,
}

impl Algo {
    /// The name a config writes (`hmac-sha256`).
    pub fn name(self) -> &'static str {
        match self {
            Algo::Md5 => "md5",
            Algo::Sha1 => "sha1",
            Algo::Sha256 => "sha256",
            Algo::HmacSha256 => "hmac-sha256",
        }
    }
}

/// How the digest's bytes are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Hex,
    Base64,
    /// URL-safe alphabet, no padding (OtomaX).
    Base64url,
}

impl Encoding {
    /// The name a config writes (`base64url`).
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
            Encoding::Base64url => "base64url",
        }
    }
}

/// The raw digest of `input` (`key` keys the HMAC; the plain digests ignore it).
pub fn digest(algo: Algo, key: &str, input: &str) -> Vec<u8> {
    match algo {
        Algo::Md5 => Md5::digest(input.as_bytes()).to_vec(),
        Algo::Sha1 => Sha1::digest(input.as_bytes()).to_vec(),
        Algo::Sha256 => sha2::Sha256::digest(input.as_bytes()).to_vec(),
        Algo::HmacSha256 => {
            // HMAC accepts keys of any length, so this cannot fail.
            let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key.as_bytes())
                .unwrap_or_else(|_| unreachable!());
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
    }
}

/// `bytes` written in `enc`.
pub fn encode(enc: Encoding, bytes: &[u8]) -> String {
    use base64::Engine as _;
    match enc {
        Encoding::Hex => hex::encode(bytes),
        Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(bytes),
        Encoding::Base64url => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otomax_sign_test_vector() {
        // SUPPLIERS.md: base64url-no-padding(SHA1_raw("OtomaX|memberID|product|dest|refID|pin|password"))
        let raw = digest(
            Algo::Sha1,
            "",
            "OtomaX|YUSUF|X10|08123456789|2140669|1144|abcd",
        );
        assert_eq!(
            encode(Encoding::Base64url, &raw),
            "Cp9NLVuKWBt5Sey_uMlYsvnKvJI"
        );
    }

    #[test]
    fn template_digests() {
        assert_eq!(
            encode(Encoding::Hex, &digest(Algo::Md5, "", "abc")),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            encode(Encoding::Hex, &digest(Algo::Sha256, "", "abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // RFC 4231 test case 2
        assert_eq!(
            encode(
                Encoding::Hex,
                &digest(Algo::HmacSha256, "Jefe", "what do ya want for nothing?")
            ),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(encode(Encoding::Base64, &[0xfb, 0xff]), "+/8=");
        assert_eq!(encode(Encoding::Base64url, &[0xfb, 0xff]), "-_8");
    }

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
