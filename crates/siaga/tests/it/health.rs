//! Supplier health and smart routing (SPEC 6.4–6.6, 7): circuit breakers with half-open
//! recovery, maintenance windows (daily with a time zone, announced), the adaptive
//! concurrency limit and strategy, price-list sync disabling a route, and `/metrics`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use siaga::clock::ManualClock;
use siaga::config::HealthCfg;
use siaga_domain::routing::Strategy;
use siaga_domain::window::Window;
use siaga_suppliers::sim::{ModeRequest, ProductPatch, SimMode};

use crate::harness::{Opts, TestApp, ADMIN, METRICS_TOKEN};

const T: Duration = Duration::from_secs(15);

async fn suppliers(app: &TestApp) -> Vec<Value> {
    let v: Value = app.admin_get("/admin/api/suppliers").await;
    v.as_array().unwrap().clone()
}

async fn supplier(app: &TestApp, id: &str) -> Value {
    suppliers(app)
        .await
        .into_iter()
        .find(|s| s["id"] == id)
        .unwrap()
}

/// Places one order and waits for it; returns the suppliers its attempts went to.
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
async fn down_supplier_is_cut_off_after_three_failures_and_recovers_through_half_open() {
    // Open for 3 s: long enough that the eight orders below (slow on a loaded CI machine)
    // all run inside it, so no half-open trial reaches the down supplier among them.
    let health = HealthCfg {
        probe_interval_s: 3_600,
        breaker_open_base_ms: 3_000,
        breaker_open_max_ms: 3_000,
        ..HealthCfg::default()
    };
    let app = TestApp::start(Opts {
        health,
        deposit: 1_000_000,
        ..Opts::default()
    })
    .await;
    app.set_mode(0, SimMode::Down).await;
    let mut to_primary = 0;
    for i in 0..8 {
        let via = order_via(&app, &format!("BR-{i}"), &format!("08123456700{i}")).await;
        to_primary += via.iter().filter(|s| *s == "sim0").count();
        assert_eq!(via.last().map(String::as_str), Some("sim1"));
    }
    assert!(
        to_primary <= 3,
        "the down supplier got {to_primary} attempts"
    );
    let s0 = supplier(&app, "sim0").await;
    assert_ne!(s0["breaker"], "closed", "{s0}");
    let t = &s0["transitions"][0];
    assert_eq!(t["to"], "open", "{s0}");
    assert!(
        t["evidence"]["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "not_sent"),
        "evidence names the failures: {t}"
    );

    // Back up: after the back-off one trial goes through half-open and closes the circuit.
    app.set_mode(0, SimMode::Ok).await;
    let end = Instant::now() + T;
    let mut i = 100;
    loop {
        i += 1;
        let via = order_via(&app, &format!("BR-{i}"), &format!("0812345670{i}")).await;
        if via.contains(&"sim0".to_owned()) {
            break;
        }
        assert!(
            Instant::now() < end,
            "the recovered supplier never got traffic back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let s0 = supplier(&app, "sim0").await;
    assert_eq!(s0["breaker"], "closed", "{s0}");
    let states: Vec<&str> = s0["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to"].as_str().unwrap())
        .collect();
    assert!(states.starts_with(&["closed", "half_open"]), "{states:?}");
    assert!(!app.sims[0].fulfilled().is_empty());
    app.verify_clean().await;
}

fn at(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_window_in_jakarta_skips_the_supplier_during_it_and_resumes_after() {
    // 23:45-00:15 WIB crosses midnight; WIB is UTC+7.
    let clock = Arc::new(ManualClock::new(at("2026-11-22T16:40:00Z"))); // 23:40 WIB
    let tz = jiff::tz::TimeZone::get("Asia/Jakarta").unwrap();
    let window = Window::Daily {
        start_min: 23 * 60 + 45,
        end_min: 15,
        tz,
    };
    let health = HealthCfg {
        probe_interval_s: 3_600,
        maintenance_lead_s: 120,
        ..HealthCfg::default()
    };
    let app = TestApp::start(Opts {
        clock: Some(clock.clone()),
        windows: vec![(0, window)],
        health,
        ..Opts::default()
    })
    .await;

    assert_eq!(
        order_via(&app, "W-1", "081234567101").await,
        ["sim0"],
        "5 minutes before: still sold"
    );
    clock.advance(4 * 60_000); // 23:44, inside the 2-minute lead
    assert_eq!(
        order_via(&app, "W-2", "081234567102").await,
        ["sim1"],
        "skipped before the window starts"
    );
    let s0 = supplier(&app, "sim0").await;
    assert_eq!(s0["maintenance"][0]["source"], "config", "{s0}");
    clock.advance(10 * 60_000); // 23:54
    assert_eq!(supplier(&app, "sim0").await["in_maintenance"], true);
    assert_eq!(order_via(&app, "W-3", "081234567103").await, ["sim1"]);
    clock.advance(15 * 60_000); // 00:09
    assert_eq!(order_via(&app, "W-4", "081234567104").await, ["sim1"]);
    clock.advance(7 * 60_000); // 00:16, after the window
    assert_eq!(supplier(&app, "sim0").await["in_maintenance"], false);
    assert_eq!(
        order_via(&app, "W-5", "081234567105").await,
        ["sim0"],
        "resumes after the window"
    );
    assert_eq!(app.sims[0].fulfilled().len(), 2);
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announced_maintenance_skips_the_supplier() {
    let app = TestApp::start(Opts::default()).await;
    let now = jiff::Timestamp::now();
    let body = json!({
        "supplier": "sim0",
        "starts_at": (now - jiff::SignedDuration::from_secs(60)).to_string(),
        "ends_at": (now + jiff::SignedDuration::from_secs(600)).to_string(),
        "note": "upgrade server",
    });
    let r = app
        .http
        .post(format!("{}/admin/api/maintenance", app.base))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let bad = json!({"supplier": "nope", "starts_at": now.to_string(), "ends_at": now.to_string()});
    let r = app
        .http
        .post(format!("{}/admin/api/maintenance", app.base))
        .bearer_auth(ADMIN)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(order_via(&app, "AM-1", "081234567201").await, ["sim1"]);
    let s0 = supplier(&app, "sim0").await;
    assert_eq!(s0["in_maintenance"], true, "{s0}");
    assert_eq!(s0["maintenance"][0]["note"], "upgrade server");
    assert_eq!(app.sims[0].stats().requests, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_supplier_limit_drops_and_adaptive_moves_traffic_away() {
    let app = Arc::new(
        TestApp::start(Opts {
            strategy: Strategy::Adaptive,
            latency_target_ms: 100,
            timeout_ms: 3_000,
            deposit: 10_000_000,
            ..Opts::default()
        })
        .await,
    );
    let initial = supplier(&app, "sim0").await["concurrency_limit"]
        .as_i64()
        .unwrap();
    app.sims[0]
        .set_mode(ModeRequest {
            mode: SimMode::Slow,
            latency_ms: Some(300),
            fail_rate: None,
            callback_delay_ms: None,
        })
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for w in 0..6 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let r = format!("SL-{w}-{i}");
                let (s, o) = app.order(&r, "TSEL10", &format!("081233{w}{i:05}")).await;
                assert_eq!(s, 201, "{o}");
                app.wait_final(&r, T).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let s0 = supplier(&app, "sim0").await;
    let s1 = supplier(&app, "sim1").await;
    let l0 = s0["concurrency_limit"].as_i64().unwrap();
    assert!(
        s0["routes"][0]["samples"].as_u64().unwrap() > 0,
        "per-route health: {s0}"
    );
    assert!(
        s0["routes"][0]["latency_mean_ms"].as_f64().unwrap() >= 250.0,
        "{s0}"
    );
    assert!(
        l0 < initial,
        "slow supplier's limit {l0} did not drop below {initial}"
    );
    assert!(
        l0 < s1["concurrency_limit"].as_i64().unwrap(),
        "{s0} vs {s1}"
    );
    assert!(s0["latency_p50_ms"].as_i64().unwrap() >= 250, "{s0}");
    let (f0, f1) = (app.sims[0].fulfilled().len(), app.sims[1].fulfilled().len());
    assert_eq!(f0 + f1, 60);
    assert!(
        f1 > f0 * 2,
        "adaptive should favour the fast supplier: slow {f0}, fast {f1}"
    );
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn price_sync_that_raises_cost_above_price_disables_the_route() {
    let app = TestApp::start(Opts::default()).await;
    assert_eq!(order_via(&app, "PS-1", "081234567301").await, ["sim0"]);
    app.sims[0]
        .upsert_product(ProductPatch {
            sku: "tsel10-0".into(),
            price: Some(10_900),
            ..ProductPatch::default()
        })
        .unwrap();
    let r = app
        .http
        .post(format!("{}/admin/api/suppliers/sim0/sync-prices", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["disabled"][0]["product"], "TSEL10", "{v}");
    assert_eq!(v["disabled"][0]["cost"], 10_900);
    assert_eq!(
        order_via(&app, "PS-2", "081234567302").await,
        ["sim1"],
        "no selling at a loss"
    );
    let s0 = supplier(&app, "sim0").await;
    assert!(
        s0["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "cost_above_price"),
        "{s0}"
    );
    // Digiflazz allows the full price list once per 5 minutes.
    let r = app
        .http
        .post(format!("{}/admin/api/suppliers/sim0/sync-prices", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_expose_the_spec_series() {
    let app = TestApp::start(Opts::default()).await;
    order_via(&app, "M-1", "081234567401").await;
    let r = app
        .http
        .get(format!("{}/metrics", app.base))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    for series in [
        "siaga_orders_total",
        "siaga_attempts_total",
        "siaga_attempt_duration_seconds",
        "siaga_supplier_circuit_state",
        "siaga_orders_pending",
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
    assert!(
        text.contains(r#"siaga_attempts_total{supplier="sim0",outcome="success",reason=""} 1"#),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probed_low_balance_is_recorded_and_a_supplier_that_cannot_pay_is_skipped() {
    let health = HealthCfg {
        probe_interval_s: 1,
        ..HealthCfg::default()
    };
    let app = TestApp::start(Opts {
        health,
        low_balance_rupiah: Some(50_000),
        ..Opts::default()
    })
    .await;
    app.sims[0].set_deposit(5_000); // below the route's cost of 10,150
    let end = Instant::now() + T;
    loop {
        let s0 = supplier(&app, "sim0").await;
        // the event is written in the background: wait for both
        let low = s0["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "low_balance");
        if s0["balance"] == 5_000 && low {
            break;
        }
        assert!(
            Instant::now() < end,
            "the probe never saw the low balance: {s0}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(order_via(&app, "LB-1", "081234567501").await, ["sim1"]);
    assert_eq!(
        app.sims[0].stats().requests,
        0,
        "a supplier that cannot afford the cost gets nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_beyond_every_concurrency_limit_wait_in_the_queue() {
    let app = Arc::new(
        TestApp::start(Opts {
            max_concurrency: 1,
            timeout_ms: 3_000,
            ..Opts::default()
        })
        .await,
    );
    for i in 0..2 {
        app.sims[i]
            .set_mode(ModeRequest {
                mode: SimMode::Slow,
                latency_ms: Some(400),
                fail_rate: None,
                callback_delay_ms: None,
            })
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for i in 0..5 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let (s, o) = app
                .order(&format!("CQ-{i}"), "TSEL10", &format!("08123456760{i}"))
                .await;
            assert_eq!(s, 201, "{o}");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let end = Instant::now() + T;
    loop {
        let (_, pending) = app.get("/v1/orders?status=pending").await;
        let stages: Vec<String> = pending["orders"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| o["stage"].as_str().map(str::to_owned))
            .collect();
        if stages.iter().any(|s| s == "queued") {
            break;
        }
        assert!(
            Instant::now() < end && !stages.is_empty(),
            "with 2 slots for 5 orders some must wait: {stages:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..5 {
        let fin = app.wait_final(&format!("CQ-{i}"), T).await;
        assert_eq!(fin["status"], "success", "{fin}");
    }
    for s in suppliers(&app).await {
        assert!(
            s["in_flight"].as_i64().unwrap() == 0 && s["concurrency_limit"] == 1,
            "{s}"
        );
    }
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn price_list_status_and_cut_off_are_learnt() {
    let app = TestApp::start(Opts::default()).await;
    // sim0 marks the SKU inactive; sim1 announces a cut-off around now (WIB).
    app.sims[0]
        .upsert_product(ProductPatch {
            sku: "tsel10-0".into(),
            seller_product_status: Some(false),
            ..ProductPatch::default()
        })
        .unwrap();
    let wib_min = (jiff::Timestamp::now().as_second() + 7 * 3600).rem_euclid(86_400) / 60;
    let hhmm = |m: i64| format!("{:02}:{:02}", m.rem_euclid(1440) / 60, m.rem_euclid(60));
    app.sims[1]
        .upsert_product(ProductPatch {
            sku: "tsel10-1".into(),
            start_cut_off: Some(hhmm(wib_min - 30)),
            end_cut_off: Some(hhmm(wib_min + 30)),
            ..ProductPatch::default()
        })
        .unwrap();
    for sim in ["sim0", "sim1"] {
        let r = app
            .http
            .post(format!(
                "{}/admin/api/suppliers/{sim}/sync-prices",
                app.base
            ))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{sim}");
    }
    let (s, o) = app.order("PL-1", "TSEL10", "081234567601").await;
    assert_eq!(s, 201, "{o}");
    let fin = app.wait_final("PL-1", T).await;
    assert_eq!(fin["failure_code"], "product_unavailable", "{fin}");
    assert_eq!(
        app.sims[0].stats().requests + app.sims[1].stats().requests,
        0,
        "no request to an inactive SKU or one in cut-off"
    );
    let s1 = supplier(&app, "sim1").await;
    assert!(
        s1["maintenance"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["source"] == "price_list" && w["active"] == true),
        "{s1}"
    );
    assert!(s1["routes"].is_array(), "{s1}");
}
