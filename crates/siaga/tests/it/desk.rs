//! The manual desk (SPEC 6.1.2) on the real server: orders routed to a `dialect = "manual"`
//! supplier wait on the desk (never failed over, never settled by themselves, never moved to
//! manual review), are taken by one operator only, and are resolved from the CLI (the real
//! binary, on the running server's database) or the admin API with the usual money path and
//! reseller callback; the owner hears of work too long on the desk; audit lines say who.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use siaga::clock::{Clock, ManualClock, SystemClock};
use siaga_domain::Operator;
use siaga_suppliers::sim::SimMode;

use crate::harness::{Opts, TestApp, P};

/// TSEL10 through sim1 (the desk) first, then sim0 over HTTP: a desk order that failed over
/// would reach sim0, which answers success at once.
fn desk_first() -> Opts {
    Opts {
        manual: vec![1],
        products: vec![P {
            code: "TSEL10",
            op: Operator::Telkomsel,
            price: 10_500,
            routes: vec![(1, 10_150), (0, 10_200)],
        }],
        ..Opts::default()
    }
}

/// The config the CLI reads: the same database and suppliers as the running server.
fn cli_config(app: &TestApp, dir: &Path) -> std::path::PathBuf {
    let db = app.settings.store_path.display();
    let text = format!(
        r#"[store]
url = "sqlite://{db}"

[[suppliers]]
id = "sim0"
base_url = "http://127.0.0.1:9/v1"

[[suppliers]]
id = "sim1"
dialect = "manual"

[[products]]
code = "TSEL10"
name = "Telkomsel 10.000"
operator = "telkomsel"
group = "Telkomsel Pulsa"
price = 10500
routes = [{{ supplier = "sim1", sku = "tsel10-1", cost = 10150, priority = 1 }},
          {{ supplier = "sim0", sku = "tsel10-0", cost = 10200, priority = 2 }}]
"#
    );
    let path = dir.join("siaga.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the real binary with `args` (off the runtime's threads).
async fn siaga(config: &Path, args: &[&str]) -> Output {
    let mut full = vec!["--config".to_string(), config.display().to_string()];
    full.extend(args.iter().map(|a| a.to_string()));
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_siaga"))
            .args(&full)
            .env_remove("SIAGA_CONFIG")
            .env_remove("SIAGA_SECRET_KEY")
            .env("SIAGA_LOG", "warn")
            .output()
            .expect("run siaga")
    })
    .await
    .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `GET /admin/api/desk`: the order ids on the desk, oldest first.
async fn desk_ids(app: &TestApp) -> Vec<String> {
    let v = app.admin_get("/admin/api/desk").await;
    v["orders"]
        .as_array()
        .unwrap_or_else(|| panic!("desk: {v}"))
        .iter()
        .map(|o| o["order_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls the admin API until `f` holds for the order, or fails at the deadline.
async fn wait_order(app: &TestApp, id: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let o = app.admin_order(id).await;
        if f(&o) {
            return o;
        }
        assert!(Instant::now() < end, "{what}: {o}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Places an order and returns its id once it is on the desk.
async fn on_desk(app: &TestApp, ref_id: &str) -> String {
    let (s, v) = app.order(ref_id, "TSEL10", "081234567890").await;
    assert!(s == 201 || s == 202, "{s} {v}");
    let id = v["order_id"].as_str().unwrap().to_owned();
    let end = Instant::now() + Duration::from_secs(20);
    while !desk_ids(app).await.contains(&id) {
        assert!(Instant::now() < end, "{ref_id} never reached the desk");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    id
}

/// Two hours pass (manual_review_after_s is one hour): the engine looks at each desk order
/// again (an inquiry at the desk, no IO) and leaves it there.
async fn stays_on_the_desk(app: &TestApp, clock: &ManualClock, ids: &[&String]) {
    clock.advance(2 * 3_600_000);
    for id in ids {
        let o = wait_order(app, id, "the engine looks at the desk order again", |o| {
            o["attempts"][0]["inquiries"].as_i64().unwrap_or(0) >= 1
        })
        .await;
        assert_eq!(o["status"], "pending", "{o}");
        assert_eq!(
            o["stage"], "awaiting_supplier",
            "not moved to manual review: {o}"
        );
        let attempts = o["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 1, "not failed over to sim0: {o}");
        assert_eq!(attempts[0]["supplier"], "sim1");
        assert_eq!(attempts[0]["state"], "pending");
    }
}

/// ani takes `d1` from the CLI; budi cannot, from the CLI nor the API, nor resolve it.
async fn only_ani_has_it(app: &TestApp, cfg: &Path, d1: &str) {
    let out = siaga(cfg, &["desk", "take", d1, "--operator", "ani"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = siaga(cfg, &["desk", "take", d1, "--operator", "budi"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("taken by ani") && err.trim().lines().count() == 1,
        "{err}"
    );
    let (s, v) = app
        .admin_post(
            &format!("/admin/api/desk/{d1}/take"),
            json!({"operator": "budi"}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    // Nor may budi resolve ani's order.
    let out = siaga(
        cfg,
        &["order", "resolve", d1, "--failed", "--operator", "budi"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
}

/// The audit log says who took and who resolved, and when.
async fn audit_says_who(app: &TestApp, d1: &str, d2: &str) {
    let log = app
        .admin_get(&format!("/admin/api/audit?target={d1}"))
        .await;
    let lines = log["audit"].as_array().unwrap();
    let seen: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["actor"].as_str().unwrap(), l["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [("ani", "order.resolve"), ("ani", "desk.take")],
        "{log}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l["at"].as_str().is_some_and(|t| t.ends_with('Z'))),
        "{log}"
    );
    assert_eq!(lines[0]["detail"]["serial_number"], "SN-DESK-1");
    assert_eq!(lines[0]["detail"]["from"], "desk");
    let log = app
        .admin_get(&format!("/admin/api/audit?target={d2}"))
        .await;
    assert_eq!(log["audit"][0]["actor"], "budi", "{log}");
    assert_eq!(log["audit"][0]["detail"]["status"], "failed", "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desk_orders_wait_for_an_operator_and_settle_once_from_the_cli_and_the_api() {
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let app = TestApp::start(Opts {
        clock: Some(clock.clone()),
        ..desk_first()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = cli_config(&app, dir.path());
    let d1 = on_desk(&app, "desk-1").await;
    let d2 = on_desk(&app, "desk-2").await;
    assert_eq!(desk_ids(&app).await, [d1.clone(), d2.clone()]);
    let out = siaga(&cfg, &["desk", "list", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["order_id"], d1.as_str(), "{listed}");
    assert_eq!(listed[0]["destination"], "081234567890");
    assert_eq!(listed[0]["product"], "TSEL10");
    assert_eq!(listed[0]["price"], 10_500);
    assert_eq!(listed[0]["reseller_name"], "Konter Uji");
    assert_eq!(listed[0]["taken_by"], Value::Null);
    let out = siaga(&cfg, &["desk", "list"]).await;
    let table = text(&out.stdout);
    assert!(
        out.status.success() && table.contains(&d2) && table.contains("TAKEN_BY"),
        "{table}"
    );
    assert_eq!(
        siaga(&cfg, &["desk", "take"]).await.status.code(),
        Some(2),
        "usage"
    );

    stays_on_the_desk(&app, &clock, &[&d1, &d2]).await;
    assert_eq!(app.balance_unchecked().await, (100_000 - 21_000, 21_000));

    only_ani_has_it(&app, &cfg, &d1).await;

    // ani enters the SN from the CLI: success, charged once, the reseller is told.
    let out = siaga(
        &cfg,
        &[
            "order",
            "resolve",
            &d1,
            "--success",
            "--sn",
            "SN-DESK-1",
            "--operator",
            "ani",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let o = app.wait_final("desk-1", Duration::from_secs(20)).await;
    assert_eq!(
        (o["status"].as_str(), o["serial_number"].as_str()),
        (Some("success"), Some("SN-DESK-1"))
    );
    let cb = app.wait_callback(&d1, Duration::from_secs(20)).await;
    let cb: Value = serde_json::from_slice(&cb.body).unwrap();
    assert_eq!(cb["data"]["status"], "success", "{cb}");
    assert_eq!(cb["data"]["serial_number"], "SN-DESK-1", "{cb}");

    // budi fails d2 (nobody took it) through the admin API: voided, refunded, told.
    let (s, v) = app
        .admin_post(
            &format!("/admin/api/orders/{d2}/resolve"),
            json!({"status": "failed", "operator": "budi"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let o = app.wait_final("desk-2", Duration::from_secs(20)).await;
    assert_eq!(
        (o["status"].as_str(), o["failure_code"].as_str()),
        (Some("failed"), Some("manual"))
    );
    let cb = app.wait_callback(&d2, Duration::from_secs(20)).await;
    let cb: Value = serde_json::from_slice(&cb.body).unwrap();
    assert_eq!(cb["data"]["status"], "failed", "{cb}");
    assert_eq!(app.balance_unchecked().await, (100_000 - 10_500, 0));
    app.verify_clean().await;
    assert!(desk_ids(&app).await.is_empty());
    let (s, _) = app
        .admin_post(
            &format!("/admin/api/orders/{d2}/resolve"),
            json!({"status": "failed"}),
        )
        .await;
    assert_eq!(s, 409, "a final order cannot be resolved again");

    audit_says_who(&app, &d1, &d2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_operators_never_take_the_same_order() {
    let app = Arc::new(TestApp::start(desk_first()).await);
    let id = on_desk(&app, "take-1").await;
    let mut takes = Vec::new();
    for i in 0..12 {
        let (app, id) = (app.clone(), id.clone());
        takes.push(tokio::spawn(async move {
            let path = format!("/admin/api/desk/{id}/take");
            app.admin_post(&path, json!({"operator": format!("op{i}")}))
                .await
        }));
    }
    let mut won = Vec::new();
    for t in takes {
        let (s, v) = t.await.unwrap();
        match s {
            200 => won.push(v),
            409 => assert_eq!(v["error"]["code"], "conflict", "{v}"),
            other => panic!("take answered {other}: {v}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one winner: {won:?}");
    let winner = won[0]["taken_by"].as_str().unwrap().to_owned();
    let desk = app.admin_get("/admin/api/desk").await;
    assert_eq!(desk["orders"][0]["taken_by"], winner.as_str(), "{desk}");
    assert!(desk["orders"][0]["taken_at"].is_string(), "{desk}");
    // The holder taking again is fine; without a body the operator is `admin` (refused).
    let path = format!("/admin/api/desk/{id}/take");
    let (s, v) = app.admin_post(&path, json!({"operator": winner})).await;
    assert_eq!((s, &v["already_yours"]), (200, &json!(true)), "{v}");
    let r = app
        .http
        .post(format!("{}{path}", app.base))
        .bearer_auth(crate::harness::ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let (s, v) = app.admin_post(&path, json!({"operator": ""})).await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = app
        .admin_post("/admin/api/desk/ord_nope/take", json!({}))
        .await;
    assert_eq!(s, 404, "{v}");
    // A settled order is no longer on the desk: nothing to take.
    let (s, v) = app
        .admin_post(
            &format!("/admin/api/orders/{id}/resolve"),
            json!({"status": "success", "serial_number": "SN-1", "operator": winner}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app.admin_post(&path, json!({"operator": winner})).await;
    assert_eq!(s, 409, "{v}");
    // The metric counts what is on the desk.
    let m = app
        .http
        .get(format!("{}/metrics", app.base))
        .bearer_auth(crate::harness::METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("siaga_desk_orders 0"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_first_supplier_down_orders_land_on_the_desk() {
    let app = TestApp::start(Opts {
        manual: vec![1],
        products: vec![P {
            code: "TSEL10",
            op: Operator::Telkomsel,
            price: 10_500,
            routes: vec![(0, 10_150), (1, 10_200)],
        }],
        ..Opts::default()
    })
    .await;
    app.set_mode(0, SimMode::Down).await;
    let id = on_desk(&app, "fo-1").await;
    // On the desk as soon as its attempt is committed (`sending`); the desk's answer
    // (`pending`, sent nowhere) is recorded a moment later.
    let o = wait_order(&app, &id, "the desk attempt is pending", |o| {
        o["attempts"][1]["state"] == "pending"
    })
    .await;
    let attempts = o["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{o}");
    assert_eq!(
        (
            attempts[0]["supplier"].as_str(),
            attempts[0]["state"].as_str()
        ),
        (Some("sim0"), Some("failed"))
    );
    assert_eq!(
        (
            attempts[1]["supplier"].as_str(),
            attempts[1]["state"].as_str()
        ),
        (Some("sim1"), Some("pending"))
    );
    assert_eq!(o["status"], "pending");
    let m = app
        .http
        .get(format!("{}/metrics", app.base))
        .bearer_auth(crate::harness::METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("siaga_desk_orders 1"), "{m}");
    // The desk is never probed nor breaks: its circuit stays closed.
    let sup = app.admin_get("/admin/api/suppliers").await;
    let desk = sup
        .as_array()
        .and_then(|a| a.iter().find(|s| s["id"] == "sim1"))
        .cloned()
        .unwrap_or_else(|| panic!("no sim1 in {sup}"));
    assert_eq!(desk["breaker"], "closed", "{desk}");
    assert_eq!(desk["dialect"], "manual", "{desk}");
    assert_eq!(desk["balance"], Value::Null, "{desk}");
    let (s, v) = app
        .admin_post(
            &format!("/admin/api/orders/{id}/resolve"),
            json!({"status": "success", "serial_number": "SN-FO-1"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let o = app.wait_final("fo-1", Duration::from_secs(20)).await;
    assert_eq!(o["serial_number"], "SN-FO-1");
    assert_eq!(app.balance_unchecked().await, (100_000 - 10_500, 0));
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_too_long_on_the_desk_alerts_the_owner_once() {
    use siaga::notify::config::{Format, NotifySettings, Webhook};
    let (hook, got) = crate::harness::receiver().await;
    let notify = NotifySettings {
        webhooks: vec![Webhook {
            name: "owner".into(),
            url: format!("http://{hook}/cb"),
            secret: None,
            format: Format::Chat,
            components: Vec::new(),
            status: false,
            alerts: true,
        }],
        coalesce_ms: 0,
        retry_base_ms: 100,
        retry_max_ms: 400,
        ..NotifySettings::default()
    };
    let app = TestApp::start(Opts {
        notify,
        desk_alert_after_s: 1,
        ..desk_first()
    })
    .await;
    let desk_alerts = || -> Vec<String> {
        got.lock()
            .unwrap()
            .iter()
            .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .filter_map(|v| v["text"].as_str().map(str::to_owned))
            .filter(|t| t.contains("too long on the desk"))
            .collect()
    };
    let wait_alerts = |n: usize| {
        let desk_alerts = &desk_alerts;
        async move {
            let end = Instant::now() + Duration::from_secs(20);
            loop {
                let a = desk_alerts();
                if a.len() >= n {
                    return a;
                }
                assert!(
                    Instant::now() < end,
                    "{n} desk alert(s) expected, got {a:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let o1 = on_desk(&app, "old-1").await;
    let first = wait_alerts(1).await;
    assert!(first[0].contains(&o1), "{first:?}");
    // Another order gets old later: a second alert, not a repeat of o1's (the watcher
    // ticks every second meanwhile).
    let o2 = on_desk(&app, "old-2").await;
    let both = wait_alerts(2).await;
    assert!(both[1].contains(&o2) && both[1].contains(&o1), "{both:?}");
    // Once more a new order to mark time: exactly one alert per order that got old.
    let o3 = on_desk(&app, "old-3").await;
    let all = wait_alerts(3).await;
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(all[2].contains(&o3));
}
