//! The presets against their samples and more variants, the config checks, a property test
//! of the text reader, and the IAK and Tokovoucher presets against small fakes of their APIs.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::{Json, Router};
use proptest::prelude::*;
use serde_json::{json, Value};
use siaga_domain::{FailReason, Outcome};

use super::*;

fn otomax() -> Template {
    Template::load(Some("otomax"), None).expect("the otomax preset loads")
}

fn read(t: &Template, s: &str) -> Outcome {
    t.reply.read(200, s.as_bytes()).outcome
}

#[test]
fn every_preset_loads_and_reads_its_samples() {
    for (name, _) in spec::PRESETS {
        Template::load(Some(name), None).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert!(Template::load(Some("nope"), None).is_err());
}

#[test]
fn otomax_reads_more_variants() {
    let t = otomax();
    let ok = |s: &str, sn: &str| assert_eq!(read(&t, s), Outcome::Success { sn: sn.into() }, "{s}");
    ok("R#A1 S5.0812 Sukses SN=AB12CD", "AB12CD");
    ok("r#a1 s5.0812 SUKSES sn : 777. saldo 1", "777");
    ok(
        "T#1 R#A1 XL10.0817 BERHASIL Voucher: 9988-7766 Sal. 5.000",
        "9988-7766",
    );
    let pending = [
        "Trx antri",
        "TRX DALAM PROSES",
        "Mohon Tunggu...",
        "status PENDING",
    ];
    for s in pending {
        assert_eq!(read(&t, s), Outcome::Pending, "{s}");
    }
    let failed = [
        ("GAGAL. Nomor HP salah", FailReason::Destination),
        ("gagal: no. tujuan tdk valid", FailReason::Destination),
        ("Tujuan salah", FailReason::Destination),
        ("Gagal, stok kosong", FailReason::SupplierDown),
        ("Produk sedang gangguan", FailReason::SupplierDown),
        (
            "GAGAL. Saldo anda tidak mencukupi",
            FailReason::SupplierBalance,
        ),
        ("GAGAL sedang cut off", FailReason::Maintenance),
        ("GAGAL. PIN salah", FailReason::Config),
        ("Transaksi GAGAL", FailReason::Other),
    ];
    for (s, why) in failed {
        assert_eq!(read(&t, s), Outcome::Failed(why), "{s}");
    }
    // Unreadable: unknown, never failed.
    for s in [
        "",
        "   ",
        "<html>GAGAL</html>",
        "OK",
        "\u{0}\u{1}",
        "Sukses tanpa nomor seri",
    ] {
        assert_eq!(read(&t, s), Outcome::Unknown, "{s:?}");
    }
    assert_eq!(t.reply.read(502, b"SUKSES SN: 1").outcome, Outcome::Unknown);
    assert_eq!(t.reply.read(200, &[0xff, 0xfe]).outcome, Outcome::Unknown);
    // Both a success and a failure rule: ambiguous, unknown.
    assert_eq!(read(&t, "SUKSES SN: 1 ... GAGAL"), Outcome::Unknown);
}

#[test]
fn a_rule_set_that_reads_a_sample_both_ways_is_a_config_error() {
    // An owner's override that makes "sukses" also a failure word.
    let over: toml::Table = r#"
        [reply]
        rules = [
          { regex = '(?i)sukses', outcome = "success" },
          { regex = '(?i)sukses|gagal', outcome = "failed" },
        ]
    "#
    .parse()
    .unwrap();
    let e = Template::load(Some("otomax"), Some(&over)).unwrap_err();
    assert!(e.message.contains("success rule and a failure rule"), "{e}");
    assert!(e.key.starts_with("template.samples["), "{e}");
    let bad_regex: toml::Table = "[reply]\nrules = [{ regex = '(', outcome = 'success' }]"
        .parse()
        .unwrap();
    let e = Template::load(Some("otomax"), Some(&bad_regex)).unwrap_err();
    assert_eq!(e.key, "template.reply.rules[0].regex");
    assert!(e.message.contains("bad regex"), "{e}");
    let bad_placeholder: toml::Table = "[topup]\npath = '/trx/{nope}'".parse().unwrap();
    let e = Template::load(Some("otomax"), Some(&bad_placeholder)).unwrap_err();
    assert_eq!(e.key, "template.topup.path");
    assert!(e.message.contains("{nope}"), "{e}");
    let bad_field: toml::Table = "[topup.fields]\ndest = '{destinasi}'".parse().unwrap();
    let e = Template::load(Some("otomax"), Some(&bad_field)).unwrap_err();
    assert_eq!(e.key, "template.topup.fields.dest", "{e}");
    let unknown_key: toml::Table = "[reply]\nrulez = []".parse().unwrap();
    let e = Template::load(Some("otomax"), Some(&unknown_key)).unwrap_err();
    assert!(e.key.starts_with("template.reply"), "{e}");
    assert!(e.message.contains("rulez"), "{e}");
    let e = Template::load(Some("nope"), None).unwrap_err();
    assert_eq!(e.key, "preset");
    // Keys written in the config override the preset's (path only; the rest stays).
    let path: toml::Table = "[topup]\npath = '/api/trx'".parse().unwrap();
    let t = Template::load(Some("otomax"), Some(&path)).unwrap();
    assert_eq!(t.topup.path, "/api/trx");
    assert!(t.topup.fields.contains_key("memberID"));
}

proptest! {
    #[test]
    fn the_text_reader_never_panics_nor_succeeds_without_an_sn(s in ".{0,300}", status in 100u16..600) {
        let t = otomax();
        let r = t.reply.read(status, s.as_bytes());
        if let Outcome::Success { sn } = &r.outcome {
            prop_assert!(!sn.trim().is_empty());
            prop_assert!(s.contains(sn.as_str()));
        }
    }

    #[test]
    fn success_words_without_a_serial_are_never_success(prefix in "[a-zA-Z0-9 .#]{0,40}") {
        let t = otomax();
        let body = format!("{prefix} SUKSES");
        if !body.to_ascii_lowercase().contains("sn") && !body.to_ascii_lowercase().contains("ref")
            && !body.to_ascii_lowercase().contains("token") && !body.to_ascii_lowercase().contains("voucher") {
            prop_assert_eq!(read(&t, &body), Outcome::Unknown);
        }
    }
}

async fn serve(app: Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    format!("http://{addr}")
}

pub(super) fn adapter(preset: &str, base: String) -> HttpTemplate {
    adapter_over(preset, None, base)
}

pub(super) fn adapter_over(preset: &str, over: Option<&toml::Table>, base: String) -> HttpTemplate {
    let cfg = TemplateConfig {
        id: preset.into(),
        base_url: base,
        username: "u1".into(),
        key: "k1".into(),
        password: String::new(),
        callback_secret: Some("s".into()),
        callback_url: "http://127.0.0.1:9/hooks".into(),
        timeout: Duration::from_secs(2),
    };
    let t = Template::load(Some(preset), over).unwrap();
    HttpTemplate::new(cfg, Arc::new(t), reqwest::Client::new())
}

fn req<'a>(r: &'a str, dest: &'a str) -> TopupRequest<'a> {
    TopupRequest {
        supplier_ref: r,
        sku: "hp10",
        destination: dest,
    }
}

/// A fake IAK: the first reply to a ref is "process" (rc 39); re-sending it or
/// `check-status` tells the result; `0812000` is a wrong number (rc 14).
fn fake_iak() -> Router {
    let seen = Arc::new(std::sync::Mutex::new(
        std::collections::HashSet::<String>::new(),
    ));
    let s2 = seen.clone();
    let topup = move |Json(b): Json<Value>| {
        let seen = seen.clone();
        async move {
            let r = b["ref_id"].as_str().unwrap_or("").to_owned();
            let want = crate::sign::md5_hex(&["u1", "k1", &r]);
            if b["sign"] != want.as_str() || b["username"] != "u1" {
                return Json(
                    json!({"data": {"ref_id": r, "status": 2, "rc": "20", "message": "WRONG SIGN"}}),
                );
            }
            if b["customer_id"] == "0812000" {
                return Json(
                    json!({"data": {"ref_id": r, "status": 2, "rc": "14", "message": "INCORRECT DESTINATION NUMBER"}}),
                );
            }
            let first = seen.lock().unwrap().insert(r.clone());
            if first {
                Json(
                    json!({"data": {"ref_id": r, "status": 0, "rc": "39", "sn": "", "message": "PROCESS"}}),
                )
            } else {
                Json(
                    json!({"data": {"ref_id": r, "status": 1, "rc": "00", "sn": "IAK-SN-1", "price": 10150, "message": "SUCCESS"}}),
                )
            }
        }
    };
    let check = move |Json(b): Json<Value>| {
        let seen = s2.clone();
        async move {
            let r = b["ref_id"].as_str().unwrap_or("").to_owned();
            if seen.lock().unwrap().contains(&r) {
                Json(
                    json!({"data": {"ref_id": r, "status": 1, "rc": "00", "sn": "IAK-SN-1", "price": 10150}}),
                )
            } else {
                Json(
                    json!({"data": {"ref_id": r, "status": 2, "rc": "404", "message": "NOT FOUND"}}),
                )
            }
        }
    };
    let balance = |Json(b): Json<Value>| async move {
        let ok = b["sign"] == crate::sign::md5_hex(&["u1", "k1", "bl"]).as_str();
        Json(if ok {
            json!({"data": {"balance": 250000, "message": "SUCCESS"}})
        } else {
            json!({"data": {"rc": "20"}})
        })
    };
    Router::new()
        .route("/api/top-up", post(topup))
        .route("/api/check-status", post(check))
        .route("/api/check-balance", post(balance))
}

#[tokio::test]
async fn iak_preset_against_a_fake_iak() {
    let a = adapter("iak", serve(fake_iak()).await);
    assert_eq!(
        a.topup(&req("I-1", "081234")).await.outcome,
        Outcome::Pending
    );
    let r = a.inquiry(&req("I-1", "081234")).await;
    assert_eq!(
        r.outcome,
        Outcome::Success {
            sn: "IAK-SN-1".into()
        }
    );
    assert_eq!(r.price, Some(10150));
    // An inquiry about a ref IAK never saw is not a failure of the top-up: unknown.
    assert_eq!(
        a.inquiry(&req("I-2", "081234")).await.outcome,
        Outcome::Unknown
    );
    assert_eq!(
        a.topup(&req("I-3", "0812000")).await.outcome,
        Outcome::Failed(FailReason::Destination)
    );
    assert_eq!(a.balance().await, Ok(250_000));
}

/// A fake Tokovoucher: `/v1/transaksi` answers `pending` first and `sukses` when the same
/// ref_id comes again.
fn fake_tokovoucher() -> Router {
    let seen = Arc::new(std::sync::Mutex::new(
        std::collections::HashSet::<String>::new(),
    ));
    let trx = move |Json(b): Json<Value>| {
        let seen = seen.clone();
        async move {
            let r = b["ref_id"].as_str().unwrap_or("").to_owned();
            let want = crate::sign::md5_hex(&[&format!("u1:k1:{r}")]);
            if b["signature"] != want.as_str() || b["member_code"] != "u1" {
                return Json(json!({"status": "gagal", "sn": "Signature salah", "ref_id": r}));
            }
            if b["tujuan"] == "0812000" {
                return Json(
                    json!({"status": "gagal", "message": "Transaksi gagal", "sn": "Nomor tujuan salah", "ref_id": r}),
                );
            }
            if seen.lock().unwrap().insert(r.clone()) {
                Json(
                    json!({"status": "pending", "message": "Transaksi diproses", "sn": "", "ref_id": r, "trx_id": "TV1"}),
                )
            } else {
                Json(
                    json!({"status": "sukses", "message": "Transaksi sukses", "sn": "TV-SN-9", "ref_id": r, "trx_id": "TV1", "price": 10100}),
                )
            }
        }
    };
    let member = |q: axum::extract::Query<std::collections::HashMap<String, String>>| async move {
        let ok = q.get("signature").map(String::as_str)
            == Some(crate::sign::md5_hex(&["u1:k1"]).as_str());
        Json(if ok {
            json!({"status": 1, "data": {"saldo": 77000}})
        } else {
            json!({"status": 0})
        })
    };
    Router::new()
        .route("/v1/transaksi", post(trx))
        .route("/v1/member", get(member))
}

#[tokio::test]
async fn tokovoucher_preset_against_a_fake_tokovoucher() {
    let a = adapter("tokovoucher", serve(fake_tokovoucher()).await);
    assert_eq!(
        a.topup(&req("T-1", "081234")).await.outcome,
        Outcome::Pending
    );
    // No inquiry template: the top-up resent as is (same ref_id) reports the state.
    let r = a.inquiry(&req("T-1", "081234")).await;
    assert_eq!(
        r.outcome,
        Outcome::Success {
            sn: "TV-SN-9".into()
        }
    );
    assert_eq!(r.price, Some(10100));
    assert_eq!(a.balance().await, Ok(77_000));
    // A wrong number (the reason is in `sn`): a destination failure, never failed over.
    assert_eq!(
        a.topup(&req("T-2", "0812000")).await.outcome,
        Outcome::Failed(FailReason::Destination)
    );
}

/// `trace` goes through the same request and reading code as `topup`, and shows the
/// request with its secrets masked and the rule that read the reply.
#[tokio::test]
async fn a_trace_shows_each_step_with_secrets_masked() {
    let a = adapter("tokovoucher", serve(fake_tokovoucher()).await);
    let signature = crate::sign::md5_hex(&["u1:k1:T-9"]);
    let t = a.trace_topup(&req("T-9", "081234")).await;
    assert!(t.answered());
    assert_eq!(t.reply.outcome, Outcome::Pending);
    assert_eq!(t.matched, Matched::Rule(1));
    let shown = t.show(&["k1"]);
    assert!(shown.contains("POST http://"), "{shown}");
    assert!(shown.contains("json signature = ***"), "{shown}");
    assert!(shown.contains("json tujuan = 081234"), "{shown}");
    assert!(!shown.contains(&signature), "{shown}");
    assert!(
        shown.contains(r#"rule 1 matched: /status = "pending" → pending"#),
        "{shown}"
    );
    assert!(
        shown.contains(r#""status":"pending""#),
        "the raw reply: {shown}"
    );
    // The fake checks the signature: the request sent was the real one.
    let t = a.trace(Which::Inquiry, &req("T-9", "081234")).await;
    assert_eq!(
        t.reply.outcome,
        Outcome::Success {
            sn: "TV-SN-9".into()
        }
    );
    assert!(t
        .show(&[])
        .contains("outcome: success sn=TV-SN-9 price=10100"));
    let t = a.trace_topup(&req("T-10", "0812000")).await;
    assert!(
        t.show(&[]).contains("outcome: failed reason=destination"),
        "{}",
        t.show(&[])
    );
    // Nobody listening: no answer, and the trace says so.
    let gone = adapter("tokovoucher", "http://127.0.0.1:9".into());
    let t = gone.trace_topup(&req("T-11", "081234")).await;
    assert!(!t.answered());
    assert_eq!(t.reply.outcome, Outcome::Failed(FailReason::NotSent));
    assert!(t.show(&[]).contains("reply: none"));
}
