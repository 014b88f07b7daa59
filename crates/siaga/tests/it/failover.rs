//! Failover without double top-ups (SPEC 3.1, 6.3, 7): only a definitive failure moves an
//! order to the backup; unknown and pending outcomes are settled at the same supplier; the
//! holding queue waits for a route when every route is unavailable.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use siaga_suppliers::sim::{ModeRequest, SimMode};

use crate::harness::{Opts, TestApp};

const T: Duration = Duration::from_secs(15);

fn mode(mode: SimMode) -> ModeRequest {
    ModeRequest {
        mode,
        latency_ms: None,
        fail_rate: None,
        callback_delay_ms: None,
    }
}

/// Every destination fulfilled at most once across all simulators.
fn assert_no_double(app: &TestApp) -> HashMap<String, usize> {
    let mut per_dest: HashMap<String, usize> = HashMap::new();
    for sim in &app.sims {
        for f in sim.fulfilled() {
            *per_dest.entry(f.customer_no.clone()).or_default() += 1;
        }
    }
    for (d, n) in &per_dest {
        assert_eq!(*n, 1, "{d} fulfilled {n} times");
    }
    per_dest
}

async fn run_one(app: &TestApp, r: &str, dest: &str) -> serde_json::Value {
    let (s, o) = app.order(r, "TSEL10", dest).await;
    assert_eq!(s, 201, "{o}");
    app.wait_final(r, T).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_down_orders_succeed_on_backup() {
    let app = TestApp::start(Opts {
        deposit: 1_000_000,
        ..Opts::default()
    })
    .await;
    app.set_mode(0, SimMode::Down).await;
    for i in 0..5 {
        let fin = run_one(&app, &format!("D-{i}"), &format!("08123456780{i}")).await;
        assert_eq!(fin["status"], "success", "{fin}");
    }
    assert_eq!(app.sims[0].fulfilled().len(), 0);
    assert_eq!(app.sims[1].fulfilled().len(), 5);
    assert_no_double(&app);
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_in_doubt_is_settled_by_inquiry_never_by_the_backup() {
    let app = TestApp::start(Opts {
        timeout_ms: 500,
        inquiry_min_s: 1,
        ..Opts::default()
    })
    .await;
    app.set_mode(0, SimMode::InDoubt).await;
    let fin = run_one(&app, "ID-1", "081234567801").await;
    assert_eq!(fin["status"], "success", "{fin}");
    assert_eq!(
        app.sims[1].stats().requests,
        0,
        "no attempt reached the backup"
    );
    let a = app.admin_order(fin["order_id"].as_str().unwrap()).await;
    assert_eq!(a["attempts"].as_array().unwrap().len(), 1, "{a}");
    assert!(a["attempts"][0]["inquiries"].as_i64().unwrap() >= 1, "{a}");
    assert_eq!(assert_no_double(&app).len(), 1);
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn black_hole_then_ok_is_fulfilled_once() {
    let app = TestApp::start(Opts {
        timeout_ms: 400,
        inquiry_min_s: 1,
        ..Opts::default()
    })
    .await;
    app.set_mode(0, SimMode::BlackHole).await;
    let (s, o) = app.order("BH-1", "TSEL10", "081234567802").await;
    assert_eq!(s, 201);
    let order_id = o["order_id"].as_str().unwrap().to_owned();
    // wait until at least one inquiry has also vanished into the black hole
    let end = std::time::Instant::now() + T;
    loop {
        let a = app.admin_order(&order_id).await;
        if a["attempts"][0]["inquiries"].as_i64().unwrap_or(0) >= 1 {
            assert_eq!(a["status"], "pending");
            assert_eq!(a["stage"], "awaiting_supplier");
            break;
        }
        assert!(std::time::Instant::now() < end, "{a}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.set_mode(0, SimMode::Ok).await;
    let fin = app.wait_final("BH-1", T).await;
    assert_eq!(fin["status"], "success", "{fin}");
    assert_eq!(app.sims[0].fulfilled().len(), 1);
    assert_eq!(app.sims[1].stats().requests, 0);
    assert_no_double(&app);
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definitive_failures_fail_over_as_the_table_says() {
    let app = TestApp::start(Opts {
        deposit: 1_000_000,
        ..Opts::default()
    })
    .await;
    let cases = [
        (mode(SimMode::Maintenance), "58"),
        (mode(SimMode::NoBalance), "44"),
        (
            ModeRequest {
                fail_rate: Some(1.0),
                ..mode(SimMode::Flaky)
            },
            "62",
        ),
    ];
    for (i, (m, rc)) in cases.into_iter().enumerate() {
        app.sims[0].set_mode(m).await.unwrap();
        let fin = run_one(&app, &format!("FO-{i}"), &format!("08123456781{i}")).await;
        assert_eq!(fin["status"], "success", "{fin}");
        let a = app.admin_order(fin["order_id"].as_str().unwrap()).await;
        assert_eq!(a["attempts"][0]["rc"], rc, "{a}");
        assert_eq!(a["attempts"][0]["state"], "failed");
        assert_eq!(a["attempts"][1]["supplier"], "sim1");
        assert_eq!(a["attempts"][1]["state"], "success");
    }
    assert_eq!(app.sims[0].fulfilled().len(), 0);
    assert_eq!(app.sims[1].fulfilled().len(), 3);
    assert_no_double(&app);
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_500_is_unknown_and_stays_at_the_primary() {
    let app = TestApp::start(Opts {
        inquiry_min_s: 1,
        ..Opts::default()
    })
    .await;
    app.set_mode(0, SimMode::Error).await;
    let (s, o) = app.order("E-1", "TSEL10", "081234567803").await;
    assert_eq!(s, 201);
    let order_id = o["order_id"].as_str().unwrap().to_owned();
    let end = std::time::Instant::now() + T;
    loop {
        let a = app.admin_order(&order_id).await;
        if a["attempts"][0]["state"] == "unknown" {
            assert_eq!(a["attempts"][0]["http_status"], 500, "{a}");
            break;
        }
        assert!(std::time::Instant::now() < end, "{a}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    app.set_mode(0, SimMode::Ok).await;
    let fin = app.wait_final("E-1", T).await;
    assert_eq!(fin["status"], "success", "{fin}");
    assert_eq!(
        app.sims[1].stats().requests,
        0,
        "an HTTP 500 never moves the order to the backup"
    );
    assert_no_double(&app);
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_error_fails_without_touching_the_backup() {
    let app = TestApp::start(Opts::default()).await;
    app.set_mode(0, SimMode::WrongNumber).await;
    let fin = run_one(&app, "WN-1", "081234567804").await;
    assert_eq!(fin["status"], "failed");
    assert_eq!(fin["failure_code"], "destination_rejected");
    assert_eq!(app.sims[1].stats().requests, 0);
    assert_eq!(app.balance().await, (100_000, 0));
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_down_waits_in_the_queue_then_succeeds() {
    let app = TestApp::start(Opts::default()).await;
    app.set_mode(0, SimMode::Down).await;
    app.set_mode(1, SimMode::Maintenance).await;
    let (s, o) = app.post_json("/v1/orders", &json!({"ref_id": "Q-1", "product": "TSEL10", "destination": "081234567805", "max_wait_s": 60})).await;
    assert_eq!(s, 201, "{o}");
    let end = std::time::Instant::now() + T;
    loop {
        let (_, o) = app.get("/v1/orders/Q-1").await;
        if o["stage"] == "queued" {
            break;
        }
        assert!(std::time::Instant::now() < end, "{o}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        app.balance().await,
        (100_000 - 10_500, 10_500),
        "held while queued"
    );
    app.set_mode(1, SimMode::Ok).await;
    let fin = app.wait_final("Q-1", T).await;
    assert_eq!(fin["status"], "success", "{fin}");
    assert_eq!(app.sims[1].fulfilled().len(), 1);
    assert_no_double(&app);
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_order_fails_and_is_refunded_when_its_wait_runs_out() {
    let app = TestApp::start(Opts::default()).await;
    app.set_mode(0, SimMode::Down).await;
    app.set_mode(1, SimMode::Down).await;
    let (s, o) = app.post_json("/v1/orders", &json!({"ref_id": "Q-2", "product": "TSEL10", "destination": "081234567806", "max_wait_s": 3})).await;
    assert_eq!(s, 201, "{o}");
    let fin = app.wait_final("Q-2", T).await;
    assert_eq!(fin["status"], "failed");
    assert_eq!(fin["failure_code"], "product_unavailable");
    assert_eq!(app.balance().await, (100_000, 0));
    let cb = app
        .wait_callback(fin["order_id"].as_str().unwrap(), T)
        .await;
    let body: serde_json::Value = serde_json::from_slice(&cb.body).unwrap();
    assert_eq!(body["data"]["failure_code"], "product_unavailable");
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_review_is_resolved_by_the_admin_api() {
    // Unknown for longer than manual_review_after_s -> manual_review; then resolved by hand.
    let app = TestApp::start(Opts {
        timeout_ms: 300,
        inquiry_min_s: 1,
        manual_review_after_s: 2,
        ..Opts::default()
    })
    .await;
    app.set_mode(0, SimMode::BlackHole).await;
    for (r, dest) in [("MR-1", "081234567807"), ("MR-2", "081234567808")] {
        let (s, _) = app.order(r, "TSEL10", dest).await;
        assert_eq!(s, 201);
    }
    let end = std::time::Instant::now() + T;
    for r in ["MR-1", "MR-2"] {
        loop {
            let (_, o) = app.get(&format!("/v1/orders/{r}")).await;
            if o["stage"] == "manual_review" {
                break;
            }
            assert!(std::time::Instant::now() < end, "{o}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (_, o1) = app.get("/v1/orders/MR-1").await;
    let (_, o2) = app.get("/v1/orders/MR-2").await;
    let resolve = |id: String, body: serde_json::Value| {
        let app = &app;
        async move {
            let r = app
                .http
                .post(format!("{}/admin/api/orders/{id}/resolve", app.base))
                .bearer_auth(crate::harness::ADMIN)
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let (s, v) = resolve(
        o1["order_id"].as_str().unwrap().into(),
        json!({"status": "success", "serial_number": "SN-BY-HAND"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = resolve(
        o2["order_id"].as_str().unwrap().into(),
        json!({"status": "failed"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = resolve(
        o2["order_id"].as_str().unwrap().into(),
        json!({"status": "failed"}),
    )
    .await;
    assert_eq!(s, 409, "a final order cannot be resolved again");
    let (_, f1) = app.get("/v1/orders/MR-1").await;
    let (_, f2) = app.get("/v1/orders/MR-2").await;
    assert_eq!(
        (f1["status"].as_str(), f1["serial_number"].as_str()),
        (Some("success"), Some("SN-BY-HAND"))
    );
    assert_eq!(
        (f2["status"].as_str(), f2["failure_code"].as_str()),
        (Some("failed"), Some("manual"))
    );
    assert_eq!(app.balance().await, (100_000 - 10_500, 0));
    assert_eq!(app.sims[1].stats().requests, 0, "never sent to the backup");
    app.verify_clean().await;
}

/// Found by the chaos test: an inquiry that cannot connect says nothing about the
/// transaction, so the attempt stays unknown and the backup is never tried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inquiry_that_cannot_connect_keeps_the_attempt_open() {
    let app = TestApp::start(Opts {
        timeout_ms: 300,
        inquiry_min_s: 1,
        ..Opts::default()
    })
    .await;
    app.set_mode(0, SimMode::InDoubt).await;
    let (s, o) = app.order("IQ-1", "TSEL10", "081234567809").await;
    assert_eq!(s, 201);
    let order_id = o["order_id"].as_str().unwrap().to_owned();
    let end = std::time::Instant::now() + T;
    loop {
        let a = app.admin_order(&order_id).await;
        if a["attempts"][0]["state"] == "unknown" {
            break;
        }
        assert!(std::time::Instant::now() < end, "{a}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    app.set_mode(0, SimMode::Down).await;
    loop {
        let a = app.admin_order(&order_id).await;
        if a["attempts"][0]["inquiries"].as_i64().unwrap_or(0) >= 2 {
            assert_eq!(a["attempts"].as_array().unwrap().len(), 1, "{a}");
            assert_eq!(a["attempts"][0]["state"], "unknown", "{a}");
            break;
        }
        assert!(std::time::Instant::now() < end, "{a}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.sims[1].stats().requests,
        0,
        "the backup was never tried"
    );
    app.set_mode(0, SimMode::Ok).await;
    let fin = app.wait_final("IQ-1", T).await;
    assert_eq!(fin["status"], "success", "{fin}");
    assert_no_double(&app);
    app.verify_clean().await;
}
