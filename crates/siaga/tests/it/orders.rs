//! The order path end to end: success, supplier failure, pending + supplier callback,
//! idempotent intake, and every 4xx of `POST /v1/orders`.

use std::time::Duration;

use serde_json::{json, Value};
use siaga_suppliers::sim::SimMode;

use crate::harness::{Opts, TestApp, ADMIN};

const T: Duration = Duration::from_secs(10);

fn verify_signature(app: &TestApp, r: &crate::harness::Received) {
    let h = |k: &str| {
        r.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = h("webhook-id");
    let ts: i64 = h("webhook-timestamp").parse().expect("webhook-timestamp");
    let expected = siaga::webhook::sign(&app.webhook_secret, &id, ts, &r.body).unwrap();
    assert!(id.starts_with("msg_"), "webhook-id {id}");
    assert_eq!(
        h("webhook-signature"),
        expected,
        "signature must verify with the reseller's secret"
    );
    let now = jiff::Timestamp::now().as_second();
    assert!((now - ts).abs() < 300, "timestamp is current");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_succeeds_with_sn_balance_and_signed_callback() {
    let app = TestApp::start(Opts::default()).await;
    let (s, o) = app.order("INV-1", "TSEL10", "+6281234567890").await;
    assert_eq!(s, 201, "{o}");
    assert_eq!(o["destination"], "081234567890", "normalised");
    assert_eq!(o["status"], "pending");
    assert_eq!(o["price"], 10_500);
    let fin = app.wait_final("INV-1", T).await;
    assert_eq!(fin["status"], "success", "{fin}");
    assert!(
        fin["serial_number"].as_str().is_some_and(|s| !s.is_empty()),
        "{fin}"
    );
    assert_eq!(fin["stage"], Value::Null);
    assert_eq!(app.balance().await, (100_000 - 10_500, 0));
    let cb = app
        .wait_callback(fin["order_id"].as_str().unwrap(), T)
        .await;
    verify_signature(&app, &cb);
    let body: Value = serde_json::from_slice(&cb.body).unwrap();
    assert_eq!(body["type"], "order.updated");
    assert_eq!(body["data"]["status"], "success");
    assert_eq!(body["data"]["serial_number"], fin["serial_number"]);
    // exactly one fulfilment at the primary, none at the backup
    assert_eq!(app.sims[0].fulfilled().len(), 1);
    assert_eq!(app.sims[1].fulfilled().len(), 0);
    // the statement shows the deposit and the reservation
    let (_, st) = app.get("/v1/statement").await;
    let kinds: Vec<&str> = st["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["deposit", "reserve"]);
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supplier_failure_restores_balance_and_calls_back_failed() {
    let app = TestApp::start(Opts::default()).await;
    // XL10 has a single route, at sim0. With max_wait_s 0 an unavailable route fails the
    // order at once as product_unavailable.
    app.set_mode(0, SimMode::Maintenance).await;
    let (s, o) = app.order("INV-F", "XL10", "087812345678").await;
    assert_eq!(s, 201, "{o}");
    let fin = app.wait_final("INV-F", T).await;
    assert_eq!(fin["status"], "failed");
    assert_eq!(fin["failure_code"], "product_unavailable");
    assert_eq!(app.balance().await, (100_000, 0));
    let cb = app
        .wait_callback(fin["order_id"].as_str().unwrap(), T)
        .await;
    verify_signature(&app, &cb);
    let body: Value = serde_json::from_slice(&cb.body).unwrap();
    assert_eq!(body["data"]["status"], "failed");
    let admin = app.admin_order(fin["order_id"].as_str().unwrap()).await;
    assert_eq!(admin["attempts"][0]["reason"], "maintenance", "{admin}");
    assert_eq!(admin["attempts"][0]["rc"], "58");
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_order_succeeds_through_the_supplier_callback() {
    // Inquiries no sooner than 60 s: only the supplier's callback can settle it in time.
    let app = TestApp::start(Opts {
        inquiry_min_s: 60,
        ..Opts::default()
    })
    .await;
    app.sims[0]
        .set_mode(siaga_suppliers::sim::ModeRequest {
            mode: SimMode::Pending,
            latency_ms: None,
            fail_rate: None,
            callback_delay_ms: Some(300),
        })
        .await
        .unwrap();
    let (s, o) = app.order("INV-P", "TSEL10", "081234567891").await;
    assert_eq!(s, 201, "{o}");
    let fin = app.wait_final("INV-P", T).await;
    assert_eq!(fin["status"], "success", "{fin}");
    assert_eq!(app.balance().await, (100_000 - 10_500, 0));
    let admin = app.admin_order(fin["order_id"].as_str().unwrap()).await;
    assert_eq!(admin["attempts"].as_array().unwrap().len(), 1, "{admin}");
    assert_eq!(
        admin["attempts"][0]["inquiries"], 0,
        "settled by the callback, not an inquiry"
    );
    assert_eq!(
        app.sims[1].fulfilled().len(),
        0,
        "the backup was never touched"
    );
    let cb = app
        .wait_callback(fin["order_id"].as_str().unwrap(), T)
        .await;
    verify_signature(&app, &cb);
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_and_conflict() {
    let app = TestApp::start(Opts::default()).await;
    let (s1, o1) = app.order("INV-R", "TSEL10", "081234567892").await;
    assert_eq!(s1, 201);
    let (s2, o2) = app.order("INV-R", "TSEL10", "6281234567892").await;
    assert_eq!(s2, 200, "a replay (same order after normalisation): {o2}");
    assert_eq!(o1["order_id"], o2["order_id"]);
    let (s3, e3) = app.order("INV-R", "TSEL10", "081234567899").await;
    assert_eq!(s3, 409);
    assert_eq!(e3["error"]["code"], "ref_id_conflict");
    let (s4, _) = app.order("INV-R", "XL10", "087812345678").await;
    assert_eq!(s4, 409);
    app.wait_final("INV-R", T).await;
    // reserved and charged once
    assert_eq!(app.balance().await, (100_000 - 10_500, 0));
    let (_, list) = app.get("/v1/orders").await;
    assert_eq!(list["orders"].as_array().unwrap().len(), 1);
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insufficient_balance_creates_nothing() {
    let app = TestApp::start(Opts {
        deposit: 10_000,
        ..Opts::default()
    })
    .await;
    let (s, e) = app.order("INV-POOR", "TSEL10", "081234567893").await;
    assert_eq!(s, 402, "{e}");
    assert_eq!(e["error"]["code"], "insufficient_balance");
    let (s, _) = app.get("/v1/orders/INV-POOR").await;
    assert_eq!(s, 404, "no order exists");
    assert_eq!(app.balance().await, (10_000, 0));
    // A deposit made while the server runs counts for the very next order; the ref_id is still free.
    let r = app
        .http
        .post(format!(
            "{}/admin/api/resellers/{}/deposits",
            app.base, app.reseller_id
        ))
        .bearer_auth(ADMIN)
        .json(&json!({"amount": 500, "note": "top up"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (s, o) = app.order("INV-POOR", "TSEL10", "081234567893").await;
    assert_eq!(s, 201, "{o}");
    app.wait_final("INV-POOR", T).await;
    assert_eq!(app.balance().await, (0, 0));
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_clear_4xx_and_change_nothing() {
    let app = TestApp::start(Opts::default()).await;
    for (body, status, code, field) in bad_order_bodies() {
        let (s, e) = app.post_json("/v1/orders", &body).await;
        assert_eq!(s, status, "{body} -> {e}");
        assert_eq!(e["error"]["code"], code, "{body} -> {e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(field),
            "{body} -> {e}"
        );
    }
    // malformed JSON
    let r = app
        .http
        .post(format!("{}/v1/orders", app.base))
        .bearer_auth(&app.key)
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // too large
    let big = json!({"ref_id": "BIG", "product": "TSEL10", "destination": "081234567890", "pad": "x".repeat(70_000)});
    let (s, e) = app.post_json("/v1/orders", &big).await;
    assert_eq!(s, 413, "{e}");
    assert_eq!(e["error"]["code"], "payload_too_large");
    // English on request
    let r = app
        .http
        .post(format!("{}/v1/orders", app.base))
        .bearer_auth(&app.key)
        .header("accept-language", "en-US,en;q=0.9")
        .json(&json!({"product": "TSEL10", "destination": "081234567890"}))
        .send()
        .await
        .unwrap();
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["message"], "field `ref_id` is required");
    // bad keys
    for auth in ["Bearer sk_wrong", "Bearer ", "Basic abc"] {
        let r = app
            .http
            .post(format!("{}/v1/orders", app.base))
            .header("authorization", auth)
            .json(&json!({"ref_id": "K1", "product": "TSEL10", "destination": "081234567890"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{auth}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "unauthorized");
    }
    let r = app
        .http
        .get(format!("{}/v1/balance", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // nothing changed
    assert_eq!(app.balance().await, (100_000, 0));
    let (_, list) = app.get("/v1/orders").await;
    assert_eq!(list["orders"].as_array().unwrap().len(), 0);
    assert_eq!(app.sims[0].stats().requests, 0);
    app.verify_clean().await;
}

/// Bad order bodies, each with the status, error code and a word of the message it gets
/// (the field at fault; empty when the message need not name one).
fn bad_order_bodies() -> Vec<(Value, u16, &'static str, &'static str)> {
    vec![
        (
            json!({"ref_id": "A1", "product": "TSEL10", "destination": "0812abc"}),
            422,
            "invalid_destination",
            "",
        ),
        (
            json!({"ref_id": "A2", "product": "TSEL10", "destination": "02112345678"}),
            422,
            "invalid_destination",
            "",
        ),
        (
            json!({"ref_id": "A3", "product": "TSEL10", "destination": "087812345678"}),
            422,
            "operator_mismatch",
            "",
        ),
        (
            json!({"ref_id": "A4", "product": "NOPE", "destination": "081234567890"}),
            422,
            "unknown_product",
            "",
        ),
        (
            json!({"product": "TSEL10", "destination": "081234567890"}),
            400,
            "bad_request",
            "ref_id",
        ),
        (
            json!({"ref_id": "A5", "destination": "081234567890"}),
            400,
            "bad_request",
            "product",
        ),
        (
            json!({"ref_id": "A6", "product": "TSEL10"}),
            400,
            "bad_request",
            "destination",
        ),
        (
            json!({"ref_id": 7, "product": "TSEL10", "destination": "081234567890"}),
            400,
            "bad_request",
            "ref_id",
        ),
        (
            json!({"ref_id": "A8", "product": "TSEL10", "destination": "081234567890", "max_wait_s": -1}),
            400,
            "bad_request",
            "max_wait_s",
        ),
        (json!(["not", "an", "object"]), 400, "bad_request", ""),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_supplier_callback_is_refused_and_changes_nothing() {
    let app = TestApp::start(Opts {
        inquiry_min_s: 60,
        ..Opts::default()
    })
    .await;
    app.sims[0]
        .set_mode(siaga_suppliers::sim::ModeRequest {
            mode: SimMode::Pending,
            latency_ms: None,
            fail_rate: None,
            callback_delay_ms: Some(600_000),
        })
        .await
        .unwrap();
    let (s, o) = app.order("INV-X", "TSEL10", "081234567894").await;
    assert_eq!(s, 201);
    let order_id = o["order_id"].as_str().unwrap().to_owned();
    // wait until the attempt is pending at sim0
    let deadline = std::time::Instant::now() + T;
    let supplier_ref = loop {
        let a = app.admin_order(&order_id).await;
        if a["attempts"][0]["state"] == "pending" {
            break a["attempts"][0]["supplier_ref"]
                .as_str()
                .unwrap()
                .to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "attempt never went pending: {a}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let body = json!({"data": {"ref_id": supplier_ref, "status": "Gagal", "rc": "02", "sn": ""}})
        .to_string();
    for sig in [
        None,
        Some(siaga_suppliers::sign::hub_signature(
            "not-the-secret",
            body.as_bytes(),
        )),
    ] {
        let mut req = app
            .http
            .post(format!("{}/hooks/suppliers/sim0", app.base))
            .body(body.clone());
        if let Some(s) = sig {
            req = req.header("x-hub-signature", s);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401);
    }
    let a = app.admin_order(&order_id).await;
    assert_eq!(a["status"], "pending");
    assert_eq!(a["attempts"][0]["state"], "pending", "{a}");
    assert_eq!(a["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(app.balance().await, (100_000 - 10_500, 10_500));
    // the genuine signature is accepted
    let good = siaga_suppliers::sign::hub_signature("cb-secret-0", body.as_bytes());
    let r = app
        .http
        .post(format!("{}/hooks/suppliers/sim0", app.base))
        .header("x-hub-signature", good)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // rc 02 is a definitive failure: the order moves to the backup route and succeeds there
    let fin = app.wait_final("INV-X", T).await;
    assert_eq!(fin["status"], "success", "{fin}");
    assert_eq!(app.sims[1].fulfilled().len(), 1);
    // A late, genuine Sukses for the attempt we failed contradicts our books: recorded as
    // evidence for the owner, and nothing about the finished order changes.
    let late =
        json!({"data": {"ref_id": supplier_ref, "status": "Sukses", "rc": "00", "sn": "LATE-1"}})
            .to_string();
    let sig = siaga_suppliers::sign::hub_signature("cb-secret-0", late.as_bytes());
    let r = app
        .http
        .post(format!("{}/hooks/suppliers/sim0", app.base))
        .header("x-hub-signature", sig)
        .body(late)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sups: Value = app.admin_get("/admin/api/suppliers").await;
    let s0 = sups
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "sim0")
        .unwrap();
    assert!(
        s0["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "contradicting_callback"),
        "{s0}"
    );
    let (_, again) = app.get("/v1/orders/INV-X").await;
    assert_eq!(again["serial_number"], fin["serial_number"]);
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_products_and_openapi() {
    let app = TestApp::start(Opts::default()).await;
    let (s, p) = app.get("/v1/products").await;
    assert_eq!(s, 200);
    let first = &p[0];
    for k in [
        "code",
        "name",
        "operator",
        "group",
        "price",
        "available",
        "status",
    ] {
        assert!(first.get(k).is_some(), "{k} in {first}");
    }
    let r = app
        .http
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/v1/orders",
        "/v1/orders/{ref_id}",
        "/v1/balance",
        "/v1/products",
        "/v1/statement",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
    // paging: 3 orders, 2 per page
    for i in 0..3 {
        let (s, _) = app
            .order(&format!("PG-{i}"), "TSEL10", "081234567890")
            .await;
        assert_eq!(s, 201);
    }
    let (_, page1) = app.get("/v1/orders?limit=2").await;
    assert_eq!(page1["orders"].as_array().unwrap().len(), 2);
    assert_eq!(page1["orders"][0]["ref_id"], "PG-2", "newest first");
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (_, page2) = app
        .get(&format!("/v1/orders?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(page2["orders"].as_array().unwrap().len(), 1);
    assert_eq!(page2["orders"][0]["ref_id"], "PG-0");
    let (s, e) = app.get("/v1/orders?status=weird").await;
    assert_eq!(s, 400, "{e}");
}

/// sim0 now charges `price` for TSEL10 (route `tsel10-0`).
fn set_price(app: &TestApp, price: i64) {
    app.sims[0]
        .upsert_product(siaga_suppliers::sim::ProductPatch {
            sku: "tsel10-0".into(),
            price: Some(price),
            ..Default::default()
        })
        .unwrap();
}

/// sim0's supplier events of `kind`, newest first.
async fn sim0_events(app: &TestApp, kind: &str) -> Vec<Value> {
    let sups = app.admin_get("/admin/api/suppliers").await;
    sups.as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "sim0")
        .unwrap()["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cost_booked_is_what_the_supplier_charged() {
    let app = TestApp::start(Opts {
        inquiry_min_s: 60,
        ..Opts::default()
    })
    .await;
    // The supplier now charges 10,170 for what the config still says costs 10,150.
    set_price(&app, 10_170);
    // One order answered at once, one settled by the supplier's callback.
    let (s, o) = app.order("CH-1", "TSEL10", "081234567801").await;
    assert_eq!(s, 201, "{o}");
    assert_eq!(app.wait_final("CH-1", T).await["status"], "success");
    app.sims[0]
        .set_mode(siaga_suppliers::sim::ModeRequest {
            mode: SimMode::Pending,
            latency_ms: None,
            fail_rate: None,
            callback_delay_ms: Some(200),
        })
        .await
        .unwrap();
    let (s, o) = app.order("CH-2", "TSEL10", "081234567802").await;
    assert_eq!(s, 201, "{o}");
    let fin = app.wait_final("CH-2", T).await;
    assert_eq!(fin["status"], "success", "{fin}");
    for r in ["CH-1", "CH-2"] {
        let (_, o) = app.get(&format!("/v1/orders/{r}")).await;
        let admin = app.admin_order(o["order_id"].as_str().unwrap()).await;
        assert_eq!(admin["attempts"][0]["cost"], 10_170, "{admin}");
    }
    // A success charged three times the known cost is not about this top-up (another
    // product, a garbled field): not applied, the attempt stays at sim0 to be inquired
    // there (never elsewhere), and the owner sees the evidence.
    set_price(&app, 30_450);
    let (s, o) = app.order("CH-3", "TSEL10", "081234567803").await;
    assert_eq!(s, 201, "{o}");
    let ch3 = o["order_id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + T;
    let admin = loop {
        let a = app.admin_order(&ch3).await;
        if a["attempts"][0]["state"] == "unknown" {
            break a;
        }
        assert!(std::time::Instant::now() < deadline, "{a}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(admin["status"], "pending", "{admin}");
    assert_eq!(admin["attempts"].as_array().unwrap().len(), 1, "{admin}");
    // Its known cost when it started: 10,170, learnt from the earlier charges.
    assert_eq!(admin["attempts"][0]["cost"], 10_170, "{admin}");
    // The books: the supplier is owed what it charged, and the margin is price - charged;
    // CH-3's price stays held.
    let db = rusqlite::Connection::open(&app.settings.store_path).unwrap();
    let balance = |account: &str| -> i64 {
        db.query_row(
            "SELECT balance FROM accounts WHERE id = ?1",
            [account],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(balance("supplier:sim0"), 2 * 10_170);
    assert_eq!(balance("expense:cost_of_sales"), -(2 * 10_170));
    assert_eq!(balance("revenue:sales"), 2 * 10_500);
    assert_eq!(app.balance().await, (100_000 - 3 * 10_500, 10_500));
    app.verify_clean().await;

    // The rise was noticed once (two orders at 10,170, one event) for the owner.
    let charged = sim0_events(&app, "charged_above_cost").await;
    assert_eq!(charged.len(), 1, "{charged:?}");
    let contradicting = sim0_events(&app, "contradicting_callback").await;
    assert_eq!(contradicting.len(), 1, "{contradicting:?}");
    // (sim0 answers pending since CH-2: the contradiction came with its callback)
    let detail = &contradicting[0]["detail"];
    assert_eq!(detail["source"], "callback", "{detail}");
    assert_eq!(detail["fields"], json!(["price"]), "{detail}");
    // Charged above the product's price (10,600 > 10,500): that one order is booked at a
    // loss, and the route is left at once; the next order goes to the backup.
    set_price(&app, 10_600);
    let (s, o) = app.order("CH-4", "TSEL10", "081234567804").await;
    assert_eq!(s, 201, "{o}");
    assert_eq!(app.wait_final("CH-4", T).await["status"], "success");
    let (s, o) = app.order("CH-5", "TSEL10", "081234567805").await;
    assert_eq!(s, 201, "{o}");
    let fin = app.wait_final("CH-5", T).await;
    let admin = app.admin_order(fin["order_id"].as_str().unwrap()).await;
    assert_eq!(
        admin["attempts"][0]["supplier"], "sim1",
        "no selling at a loss: {admin}"
    );
    let sups = app.admin_get("/admin/api/suppliers").await;
    assert!(
        sups.to_string().contains("cost_above_price"),
        "the owner hears of it: {sups}"
    );
    app.verify_clean().await;
}
