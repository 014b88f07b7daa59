//! Money and truth (issue #15, items 1 and 3): a supplier's answer about another top-up
//! settles nothing, and a route whose charge rose above the product's price stays
//! disabled (after a restart too, and whatever late answers of older attempts say).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use siaga_suppliers::sim::{ModeRequest, ProductPatch, SimMode};

use crate::harness::{Opts, TestApp};

const T: Duration = Duration::from_secs(15);

/// The events of `supplier` of `kind`, newest first.
async fn events(app: &TestApp, supplier: &str, kind: &str) -> Vec<Value> {
    let v: Value = app.admin_get("/admin/api/suppliers").await;
    v.as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == supplier)
        .unwrap()["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect()
}

/// Posts `data` as a supplier report from sim `i`, signed with its callback secret.
async fn report(app: &TestApp, i: usize, data: Value) -> Value {
    let body = json!({ "data": data }).to_string();
    let sig = siaga_suppliers::sign::hub_signature(&format!("cb-secret-{i}"), body.as_bytes());
    let r = app
        .http
        .post(format!("{}/hooks/suppliers/sim{i}", app.base))
        .header("x-hub-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Waits until the order's first attempt is in `state`; returns the order (admin view).
async fn wait_attempt(app: &TestApp, order_id: &str, state: &str) -> Value {
    let end = Instant::now() + T;
    loop {
        let a = app.admin_order(order_id).await;
        if a["attempts"][0]["state"] == state {
            return a;
        }
        assert!(Instant::now() < end, "attempt never became {state}: {a}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Puts sim `i` in `mode`, with its own callbacks a long way off.
async fn mode(app: &TestApp, i: usize, mode: SimMode) {
    app.sims[i]
        .set_mode(ModeRequest {
            mode,
            latency_ms: None,
            fail_rate: None,
            callback_delay_ms: Some(600_000),
        })
        .await
        .unwrap();
}

/// Places an order and waits until its first attempt is pending at its supplier; returns
/// (order id, supplier_ref).
async fn pending_order(app: &TestApp, r: &str, dest: &str) -> (String, String) {
    let (s, o) = app.order(r, "TSEL10", dest).await;
    assert_eq!(s, 201, "{o}");
    let order_id = o["order_id"].as_str().unwrap().to_owned();
    let a = wait_attempt(app, &order_id, "pending").await;
    let supplier_ref = a["attempts"][0]["supplier_ref"]
        .as_str()
        .unwrap()
        .to_owned();
    (order_id, supplier_ref)
}

/// Places one order, waits until it succeeds; the suppliers its attempts went to.
async fn order_via(app: &TestApp, r: &str, dest: &str) -> Vec<String> {
    let (s, o) = app.order(r, "TSEL10", dest).await;
    assert_eq!(s, 201, "{o}");
    let fin = app.wait_final(r, T).await;
    assert_eq!(fin["status"], "success", "{fin}");
    let a = app.admin_order(fin["order_id"].as_str().unwrap()).await;
    a["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["supplier"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supplier_report_about_another_top_up_settles_nothing() {
    let app = TestApp::start(Opts {
        inquiry_min_s: 60,
        ..Opts::default()
    })
    .await;
    mode(&app, 0, SimMode::Pending).await;
    let (order_id, supplier_ref) = pending_order(&app, "CX-1", "081234567801").await;
    // Signed by sim0 and naming our reference, but about another number and product.
    let forged = json!({"ref_id": supplier_ref, "customer_no": "089999999999",
        "buyer_sku_code": "xld10", "status": "Sukses", "rc": "00", "sn": "OTHER-SN",
        "price": 10_150});
    report(&app, 0, forged).await;
    // Not applied: the attempt is unknown, to be inquired again at sim0; no failover.
    let a = wait_attempt(&app, &order_id, "unknown").await;
    assert_eq!(a["status"], "pending", "{a}");
    assert_eq!(a["serial_number"], Value::Null, "{a}");
    assert_eq!(a["attempts"].as_array().unwrap().len(), 1, "{a}");
    assert_eq!(app.balance().await, (100_000 - 10_500, 10_500));
    let seen = events(&app, "sim0", "contradicting_callback").await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    let detail = match &seen[0]["detail"] {
        Value::String(s) => serde_json::from_str(s).unwrap(),
        v => v.clone(),
    };
    assert_eq!(detail["source"], "callback", "{detail}");
    assert_eq!(
        detail["fields"],
        json!(["customer_no", "buyer_sku_code"]),
        "{detail}"
    );
    assert_eq!(detail["order_id"], order_id.as_str(), "{detail}");
    assert!(
        !detail.to_string().contains("089999999999"),
        "destinations are masked in the evidence: {detail}"
    );
    // A price far outside the known cost is another top-up too.
    let dear = json!({"ref_id": supplier_ref, "status": "Sukses", "rc": "00",
        "sn": "DEAR-SN", "price": 30_450});
    report(&app, 0, dear).await;
    let seen = events(&app, "sim0", "contradicting_callback").await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    let a = app.admin_order(&order_id).await;
    assert_eq!(
        (a["status"].as_str(), a["attempts"][0]["state"].as_str()),
        (Some("pending"), Some("unknown")),
        "{a}"
    );
    // The genuine report, the destination spelt 62…, settles it at sim0.
    let genuine = json!({"ref_id": supplier_ref, "customer_no": "6281234567801",
        "buyer_sku_code": "TSEL10-0", "status": "Sukses", "rc": "00", "sn": "REAL-SN",
        "price": 10_150});
    assert_eq!(report(&app, 0, genuine).await["applied"], true);
    let fin = app.wait_final("CX-1", T).await;
    assert_eq!(fin["status"], "success", "{fin}");
    assert_eq!(fin["serial_number"], "REAL-SN");
    assert_eq!(app.balance().await, (100_000 - 10_500, 0));
    assert_eq!(app.sims[1].fulfilled().len(), 0, "never tried elsewhere");
    assert_eq!(
        events(&app, "sim0", "contradicting_callback").await.len(),
        2
    );
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_disabled_for_its_cost_stays_disabled_after_a_restart() {
    let mut app = TestApp::start(Opts {
        inquiry_min_s: 60,
        ..Opts::default()
    })
    .await;
    // sim0 now charges 10,600 for TSEL10, sold at 10,500.
    app.sims[0]
        .upsert_product(ProductPatch {
            sku: "tsel10-0".into(),
            price: Some(10_600),
            ..ProductPatch::default()
        })
        .unwrap();
    assert_eq!(order_via(&app, "RS-1", "081234567311").await, ["sim0"]);
    assert_eq!(events(&app, "sim0", "cost_above_price").await.len(), 1);
    assert_eq!(order_via(&app, "RS-2", "081234567312").await, ["sim1"]);
    app.restart().await;
    assert_eq!(
        order_via(&app, "RS-3", "081234567313").await,
        ["sim1"],
        "no selling at a loss after a restart either"
    );
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_cheaper_charge_does_not_bring_back_a_route_disabled_for_its_cost() {
    let app = TestApp::start(Opts {
        inquiry_min_s: 60,
        ..Opts::default()
    })
    .await;
    // An order taken while sim0 charged 10,150, still pending there.
    mode(&app, 0, SimMode::Pending).await;
    let (_, old_ref) = pending_order(&app, "LC-1", "081234567321").await;
    // Then sim0 charges 10,600: the next success there disables the route.
    mode(&app, 0, SimMode::Ok).await;
    app.sims[0]
        .upsert_product(ProductPatch {
            sku: "tsel10-0".into(),
            price: Some(10_600),
            ..ProductPatch::default()
        })
        .unwrap();
    assert_eq!(order_via(&app, "LC-2", "081234567322").await, ["sim0"]);
    assert_eq!(events(&app, "sim0", "cost_above_price").await.len(), 1);
    // The old order's success arrives late, charged at the old price: it is booked so,
    // but it says nothing about what sim0 charges now.
    let late = json!({"ref_id": old_ref, "customer_no": "081234567321",
        "buyer_sku_code": "tsel10-0", "status": "Sukses", "rc": "00", "sn": "LATE-SN",
        "price": 10_150});
    assert_eq!(report(&app, 0, late).await["applied"], true);
    let fin = app.wait_final("LC-1", T).await;
    assert_eq!(fin["status"], "success", "{fin}");
    assert_eq!(
        order_via(&app, "LC-3", "081234567323").await,
        ["sim1"],
        "the route stays disabled"
    );
    app.verify_clean().await;
}
