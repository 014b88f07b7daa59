//! Reports of templated suppliers: the secret in the URL, signed reports (a header over
//! the body, a field over report fields), and the sign's checks at load.

use serde_json::json;
use siaga_domain::Outcome;

use super::tests::{adapter, adapter_over};
use super::*;

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let raw = crate::sign::digest(
        crate::sign::Algo::HmacSha256,
        secret,
        &String::from_utf8_lossy(body),
    );
    crate::sign::encode(crate::sign::Encoding::Hex, &raw)
}

#[test]
fn signed_reports_need_a_good_signature_and_no_url_secret() {
    let over: toml::Table = r#"
        [callback.sign]
        algo = "hmac-sha256"
        encoding = "hex"
        header = "X-Signature"
        prefix = "sha256="
        input = "{body}"
    "#
    .parse()
    .unwrap();
    let a = adapter_over("otomax", Some(&over), "http://127.0.0.1:9".into());
    assert!(a.tpl.signs_reports());
    let body: &[u8] = b"refid=R1&message=SUKSES%20SN%3A%20123";
    let with = |sig: Option<String>| {
        let mut h = http::HeaderMap::new();
        if let Some(s) = sig {
            h.insert("x-signature", s.parse().unwrap());
        }
        h
    };
    let good = format!("sha256={}", hmac_hex("s", body));
    let rep = a.parse_report(&with(Some(good.clone())), body).unwrap();
    assert_eq!(rep.supplier_ref, "R1");
    assert_eq!(rep.reply.outcome, Outcome::Success { sn: "123".into() });
    // Hex in capitals is the same signature.
    let upper = format!("sha256={}", hmac_hex("s", body).to_ascii_uppercase());
    assert!(a.parse_report(&with(Some(upper)), body).is_ok());
    let refused = Some(ReportError::BadSignature);
    for bad in [
        None,
        Some(hmac_hex("s", body)),
        Some(format!("sha256={}", hmac_hex("other", body))),
        Some("sha256=zz".to_owned()),
    ] {
        assert_eq!(
            a.parse_report(&with(bad.clone()), body).err(),
            refused,
            "{bad:?}"
        );
    }
    // The signature covers the body: a changed body is refused.
    let tampered: &[u8] = b"refid=R2&message=SUKSES%20SN%3A%20123";
    assert_eq!(
        a.parse_report(&with(Some(good.clone())), tampered).err(),
        refused
    );
    // With a sign configured the secret URL alone is not enough either.
    let h = with(None);
    let by_url = IncomingReport {
        query: "",
        headers: &h,
        body,
        url_secret: Some("s"),
    };
    assert_eq!(a.parse_incoming(&by_url).err(), refused);
}

#[test]
fn a_report_sign_built_from_report_fields_and_the_secret() {
    // IAK-like: the sign is a field of the JSON body, md5 of the username, the key and the
    // report's reference.
    let over: toml::Table = r#"
        [callback]
        ref_id = { pointer = "/data/ref_id" }
        sign = { algo = "md5", encoding = "hex", pointer = "/data/sign", input = "{username}{key}{ref_id}" }
    "#
    .parse()
    .unwrap();
    let a = adapter_over("iak", Some(&over), "http://127.0.0.1:9".into());
    let body = |sign: &str| {
        json!({"data": {"ref_id": "I-7", "status": 1, "rc": "00", "sn": "SN-7", "sign": sign}})
            .to_string()
    };
    let h = http::HeaderMap::new();
    let good = crate::sign::md5_hex(&["u1", "k1", "I-7"]);
    let rep = a.parse_report(&h, body(&good).as_bytes()).unwrap();
    assert_eq!(rep.supplier_ref, "I-7");
    assert_eq!(rep.reply.outcome, Outcome::Success { sn: "SN-7".into() });
    let other = crate::sign::md5_hex(&["u1", "k1", "I-8"]);
    assert_eq!(
        a.parse_report(&h, body(&other).as_bytes()).err(),
        Some(ReportError::BadSignature)
    );
}

#[test]
fn a_report_sign_is_checked_at_load() {
    let load = |t: &str| Template::load(Some("otomax"), Some(&t.parse().unwrap())).unwrap_err();
    let e = load(
        "[callback.sign]\nalgo = 'md5'\nencoding = 'hex'\ninput = '{nope}'\nheader = 'X-Sign'",
    );
    assert_eq!(e.key, "template.callback.sign.input", "{e}");
    let e = load("[callback.sign]\nalgo = 'md5'\nencoding = 'hex'\ninput = '{body}'");
    assert_eq!(e.key, "template.callback.sign", "{e}");
    let e = load(
        "[callback.sign]\nalgo = 'md5'\nencoding = 'hex'\ninput = '{body}'\nheader = 'X-A'\nquery = 'sign'",
    );
    assert_eq!(e.key, "template.callback.sign", "{e}");
    let e =
        load("[callback.sign]\nalgo = 'crc32'\nencoding = 'hex'\ninput = '{body}'\nheader = 'X-A'");
    assert!(e.key.starts_with("template.callback.sign"), "{e}");
}

#[test]
fn reports_need_the_secret_in_the_url() {
    let a = adapter("otomax", "http://127.0.0.1:9".into());
    let h = http::HeaderMap::new();
    let q = "t=1&refid=R1&status=20&message=SUKSES%20SN%3A%20123";
    let incoming = |secret| IncomingReport {
        query: q,
        headers: &h,
        body: b"",
        url_secret: secret,
    };
    assert_eq!(
        a.parse_incoming(&incoming(Some("x"))).err(),
        Some(ReportError::BadSignature)
    );
    assert_eq!(
        a.parse_incoming(&incoming(None)).err(),
        Some(ReportError::BadSignature)
    );
    assert_eq!(
        a.parse_report(&h, b"").err(),
        Some(ReportError::BadSignature)
    );
    let rep = a.parse_incoming(&incoming(Some("s"))).unwrap();
    assert_eq!(rep.supplier_ref, "R1");
    assert_eq!(rep.reply.outcome, Outcome::Success { sn: "123".into() });
}
