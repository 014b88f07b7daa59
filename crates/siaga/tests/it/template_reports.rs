//! Reports of `http-template` suppliers (SPEC 6.1.1) through the real server: a supplier
//! that signs its reports reports to `/hooks/suppliers/{id}` (good signature applied,
//! missing or bad 401 and nothing changes); `callback_allow_ips` refuses any other client
//! address with 403 before anything else; and a Tokovoucher wrong number fails the order
//! with `destination_rejected` without trying the backup.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use siaga::config::Templated;
use siaga_suppliers::sign::{digest, encode, Algo, Encoding};
use siaga_suppliers::sim::{ModeRequest, SimMode};

use crate::harness::{Opts, TestApp};

const T: Duration = Duration::from_secs(20);

/// sim0 speaks OtomaX through the preset, with `over` on top of it when given.
fn otomax_with(over: Option<&str>) -> Opts {
    let over: Option<toml::Table> = over.map(|t| t.parse().unwrap());
    Opts {
        otomax: vec![0],
        inquiry_min_s: 600,
        edit_suppliers: Some(Box::new(move |s| {
            if let Some(over) = &over {
                let t = siaga_suppliers::Template::load(Some("otomax"), Some(over)).unwrap();
                s[0].template = Some(Templated {
                    template: Arc::new(t),
                    password: String::new(),
                });
            }
        })),
        ..Opts::default()
    }
}

/// An order whose attempt at sim0 stays pending (no report from the sim, no inquiry
/// soon); its order id and our reference at the supplier.
async fn pending_order(app: &TestApp, r: &str, dest: &str) -> (String, String) {
    app.sims[0]
        .set_mode(ModeRequest {
            mode: SimMode::Pending,
            latency_ms: None,
            fail_rate: None,
            callback_delay_ms: Some(600_000),
        })
        .await
        .unwrap();
    let (s, o) = app.order(r, "TSEL10", dest).await;
    assert_eq!(s, 201, "{o}");
    let order_id = o["order_id"].as_str().unwrap().to_owned();
    let end = Instant::now() + T;
    loop {
        let a = app.admin_order(&order_id).await;
        if a["attempts"][0]["state"] == "pending" {
            let supplier_ref = a["attempts"][0]["supplier_ref"].as_str().unwrap();
            return (order_id, supplier_ref.to_owned());
        }
        assert!(Instant::now() < end, "attempt never pending: {a}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The order and its one attempt are still pending.
async fn unchanged(app: &TestApp, order_id: &str) {
    let a = app.admin_order(order_id).await;
    assert_eq!(a["status"], "pending", "{a}");
    assert_eq!(a["attempts"][0]["state"], "pending", "{a}");
    assert_eq!(a["attempts"].as_array().unwrap().len(), 1, "{a}");
}

fn hmac_hex(secret: &str, body: &str) -> String {
    encode(Encoding::Hex, &digest(Algo::HmacSha256, secret, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_template_report_is_applied_and_a_bad_one_is_401() {
    let app = TestApp::start(otomax_with(Some(
        r#"
        [callback.sign]
        algo = "hmac-sha256"
        encoding = "hex"
        header = "X-Signature"
        input = "{body}"
        "#,
    )))
    .await;
    let (order_id, supplier_ref) = pending_order(&app, "SIG-1", "081234567831").await;
    let body = serde_urlencoded::to_string([
        ("refid", supplier_ref.as_str()),
        (
            "message",
            "R#X S10.0812 SUKSES. SN/Ref: 7770001. Saldo 1.000",
        ),
    ])
    .unwrap();
    let report = |sig: Option<String>, body: String| {
        let mut r = app
            .http
            .post(format!("{}/hooks/suppliers/sim0", app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(s) = sig {
            r = r.header("X-Signature", s);
        }
        r.send()
    };
    let good = hmac_hex("cb-secret-0", &body);
    for bad in [
        None,
        Some(hmac_hex("not-the-secret", &body)),
        Some("00".repeat(32)),
    ] {
        let r = report(bad.clone(), body.clone()).await.unwrap();
        assert_eq!(r.status(), 401, "{bad:?}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "unauthorized", "{e}");
        unchanged(&app, &order_id).await;
    }
    // The good signature over another body: refused.
    let other = body.replace("7770001", "7770002");
    assert_eq!(
        report(Some(good.clone()), other).await.unwrap().status(),
        401
    );
    unchanged(&app, &order_id).await;
    // The secret in the URL alone is not enough for a supplier that signs.
    let r = app
        .http
        .post(format!("{}/hooks/suppliers/sim0/cb-secret-0", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    unchanged(&app, &order_id).await;
    // A good signature about a reference we do not know: 404, nothing changes.
    let stranger = body.replace(&supplier_ref, "NOT-OURS");
    let r = report(Some(hmac_hex("cb-secret-0", &stranger)), stranger)
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    unchanged(&app, &order_id).await;
    // The good one is applied.
    let r = report(Some(good), body).await.unwrap();
    assert_eq!(r.status(), 200);
    let fin = app.wait_final("SIG-1", T).await;
    assert_eq!(fin["status"], "success", "{fin}");
    assert_eq!(fin["serial_number"], "7770001");
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_from_outside_callback_allow_ips_are_403_and_change_nothing() {
    let mut o = otomax_with(None);
    o.edit_suppliers = Some(Box::new(|s| {
        s[0].callback_allow_ips = vec![
            "203.0.113.7/32".parse().unwrap(),
            "10.1.0.0/16".parse().unwrap(),
        ];
    }));
    // The test's requests come through "a proxy" at 127.0.0.1 that names the client.
    o.limits.trusted_proxies = vec!["127.0.0.1".into()];
    let app = TestApp::start(o).await;
    let (order_id, supplier_ref) = pending_order(&app, "IPS-1", "081234567832").await;
    let report = |from: Option<&'static str>, secret: &'static str| {
        let mut r = app
            .http
            .get(format!("{}/hooks/suppliers/sim0/{secret}", app.base))
            .query(&[
                ("refid", supplier_ref.as_str()),
                (
                    "message",
                    "R#X S10.0812 SUKSES. SN/Ref: 8880001. Saldo 1.000",
                ),
            ]);
        if let Some(ip) = from {
            r = r.header("X-Forwarded-For", ip);
        }
        r.send()
    };
    // Outside the list (and the proxy itself): 403 in the one envelope, even with the
    // wrong secret (the address is checked before anything else).
    for (from, secret) in [
        (Some("198.51.100.1"), "cb-secret-0"),
        (None, "cb-secret-0"),
        (Some("10.2.0.1"), "not-the-secret"),
    ] {
        let r = report(from, secret).await.unwrap();
        assert_eq!(r.status(), 403, "{from:?}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "forbidden", "{e}");
        unchanged(&app, &order_id).await;
    }
    // Inside: the wrong secret is still 401, the right one applies.
    let r = report(Some("10.1.200.3"), "not-the-secret").await.unwrap();
    assert_eq!(r.status(), 401);
    unchanged(&app, &order_id).await;
    let r = report(Some("203.0.113.7"), "cb-secret-0").await.unwrap();
    assert_eq!(r.status(), 200);
    let fin = app.wait_final("IPS-1", T).await;
    assert_eq!(fin["status"], "success", "{fin}");
    assert_eq!(fin["serial_number"], "8880001");
    app.verify_clean().await;
}

/// A Tokovoucher that says every number is wrong, the Tokovoucher way (the reason in
/// `sn`); counts its requests.
async fn wrong_number_tokovoucher() -> (String, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let n = seen.clone();
    let app = Router::new().route(
        "/v1/transaksi",
        post(move |Json(b): Json<Value>| {
            let n = n.clone();
            async move {
                n.fetch_add(1, Ordering::SeqCst);
                Json(json!({"status": "gagal", "message": "Transaksi gagal",
                            "sn": "Nomor tujuan salah", "ref_id": b["ref_id"]}))
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokovoucher_wrong_number_is_destination_rejected_without_the_backup() {
    let (base, seen) = wrong_number_tokovoucher().await;
    let app = TestApp::start(Opts {
        edit_suppliers: Some(Box::new(move |s| {
            let t = siaga_suppliers::Template::load(Some("tokovoucher"), None).unwrap();
            s[0].base_url = base.clone();
            s[0].template = Some(Templated {
                template: Arc::new(t),
                password: String::new(),
            });
        })),
        ..Opts::default()
    })
    .await;
    let (s, o) = app.order("TV-W", "TSEL10", "081234567833").await;
    assert_eq!(s, 201, "{o}");
    let fin = app.wait_final("TV-W", T).await;
    assert_eq!(fin["status"], "failed", "{fin}");
    assert_eq!(fin["failure_code"], "destination_rejected", "{fin}");
    assert_eq!(seen.load(Ordering::SeqCst), 1, "one request to Tokovoucher");
    assert_eq!(app.sims[1].stats().requests, 0, "the backup was not tried");
    let a = app.admin_order(fin["order_id"].as_str().unwrap()).await;
    assert_eq!(a["attempts"].as_array().unwrap().len(), 1, "{a}");
    assert_eq!(app.balance().await, (100_000, 0));
    app.verify_clean().await;
}
