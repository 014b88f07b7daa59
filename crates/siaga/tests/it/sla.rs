//! The SLA report end to end (SPEC 11): a real outage — the primary simulated supplier
//! taken down while orders flow, a backup route costing 50 more — then the real binary's
//! `siaga report sla --from --to --format json` reads that one outage, its minutes, and
//! exactly (backup cost − primary cost) × the orders the backup took as `extra_cost`;
//! the CSV parsed back with a CSV reader, the admin API, the scorecard, the evidence pack;
//! and the monthly email queued once.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use siaga::clock::ManualClock;
use siaga::config::HealthCfg;
use siaga_suppliers::sim::SimMode;

use crate::harness::{Opts, TestApp, ADMIN};

const T: Duration = Duration::from_secs(20);
const PRIMARY: i64 = 10_150;
const BACKUP: i64 = 10_200;

fn siaga(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_siaga"))
        .current_dir(dir)
        .args(args)
        .env_remove("SIAGA_CONFIG")
        .env_remove("SIAGA_SECRET_KEY")
        .env("SIAGA_LOG", "warn")
        .output()
        .expect("run siaga")
}

/// A config naming the test's database, its two suppliers and the harness's routes.
fn config(dir: &Path, db: &Path) -> std::path::PathBuf {
    let text = format!(
        r#"[store]
url = "sqlite://{db}"

[[suppliers]]
id = "sim0"
base_url = "http://127.0.0.1:9/v1"

[suppliers.contract]
uptime_target = 99.9
credits = [{{ below = 99.9, percent = 10 }}]

[[suppliers]]
id = "sim1"
base_url = "http://127.0.0.1:9/v1"

[[products]]
code = "TSEL10"
name = "Telkomsel 10.000"
operator = "telkomsel"
group = "Telkomsel Pulsa"
price = 10500
routes = [{{ supplier = "sim0", sku = "tsel10-0", cost = {PRIMARY} }},
          {{ supplier = "sim1", sku = "tsel10-1", cost = {BACKUP} }}]

[[products]]
code = "XL10"
name = "XL 10.000"
operator = "xl"
group = "XL Pulsa"
price = 10600
routes = [{{ supplier = "sim0", sku = "xl10-0", cost = 10250 }}]
"#,
        db = db.display()
    );
    let path = dir.join("siaga.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

async fn breaker(app: &TestApp, id: &str) -> String {
    let v = app.admin_get("/admin/api/suppliers").await;
    v.as_array()
        .and_then(|a| a.iter().find(|s| s["id"] == id))
        .map(|s| s["breaker"].as_str().unwrap_or("").to_owned())
        .unwrap_or_default()
}

async fn wait_breaker(app: &TestApp, id: &str, state: &str) {
    let end = Instant::now() + T;
    while breaker(app, id).await != state {
        assert!(Instant::now() < end, "{id} never got to {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Attempts at sim0 seen so far: (all, successful).
#[derive(Default)]
struct AtPrimary(i64, i64);

/// Places an order, waits until it is final with `status`, counts its attempts at sim0
/// and returns the supplier that served it (empty if none).
async fn place(app: &TestApp, seen: &mut AtPrimary, product: &str, r: &str, dest: &str, status: &str) -> String {
    let (s, o) = app.order(r, product, dest).await;
    assert_eq!(s, 201, "{o}");
    let fin = app.wait_final(r, T).await;
    assert_eq!(fin["status"], status, "{fin}");
    let a = app.admin_order(fin["order_id"].as_str().unwrap()).await;
    let attempts = a["attempts"].as_array().cloned().unwrap_or_default();
    for x in attempts.iter().filter(|x| x["supplier"] == "sim0") {
        seen.0 += 1;
        seen.1 += i64::from(x["state"] == "success");
    }
    attempts
        .iter()
        .find(|x| x["state"] == "success")
        .map(|x| x["supplier"].as_str().unwrap_or("").to_owned())
        .unwrap_or_default()
}

/// The breaker's open and close times (ms) as the store recorded them: the outage.
async fn recorded_outage(app: &TestApp) -> (i64, i64) {
    let end = Instant::now() + T;
    loop {
        let ev = app.app.store.supplier_events("sim0", 50).await.unwrap();
        let open = ev.iter().rev().find(|e| e.kind == "breaker" && e.to_state.as_deref() == Some("open"));
        let closed = ev.iter().find(|e| e.kind == "breaker" && e.to_state.as_deref() == Some("closed"));
        if let (Some(o), Some(c)) = (open, closed) {
            return (o.at, c.at);
        }
        assert!(Instant::now() < end, "no recorded outage: {ev:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_outage_is_read_back_with_its_minutes_and_extra_cost() {
    let app = TestApp::start(Opts {
        deposit: 1_000_000,
        health: HealthCfg {
            probe_interval_s: 3_600,
            // Long enough that the four orders below all run while it is open.
            breaker_open_base_ms: 4_000,
            breaker_open_max_ms: 4_000,
            ..HealthCfg::default()
        },
        ..Opts::default()
    })
    .await;
    let from = jiff::Timestamp::now().as_millisecond() - 1_000;
    let mut seen = AtPrimary::default();
    // Up: two orders at the primary.
    for i in 0..2 {
        let via = place(&app, &mut seen, "TSEL10", &format!("UP-{i}"), &format!("08123456710{i}"), "success").await;
        assert_eq!(via, "sim0");
    }
    // Down: three XL10 orders (sim0 is their only route) fail and open the breaker; they
    // were placed before it opened, so they are not the outage's cost.
    app.set_mode(0, SimMode::Down).await;
    for i in 0..3 {
        place(&app, &mut seen, "XL10", &format!("XL-{i}"), &format!("08171234560{i}"), "failed").await;
    }
    wait_breaker(&app, "sim0", "open").await;
    // While it is out, TSEL10 orders go to the backup.
    let mut backup = 0;
    for i in 0..4 {
        let via = place(&app, &mut seen, "TSEL10", &format!("OUT-{i}"), &format!("08123456720{i}"), "success").await;
        assert_eq!(via, "sim1");
        backup += 1;
    }
    // Back up: once half-open, orders are sent until the trial at sim0 closes the circuit.
    app.set_mode(0, SimMode::Ok).await;
    wait_breaker(&app, "sim0", "half_open").await;
    let mut i = 0;
    loop {
        i += 1;
        let via = place(&app, &mut seen, "TSEL10", &format!("BACK-{i}"), &format!("0812345673{i:02}"), "success").await;
        if via == "sim0" {
            break;
        }
        backup += 1;
        assert!(i < 50, "sim0 never took traffic back");
    }
    let (opened, closed) = recorded_outage(&app).await;
    let to = jiff::Timestamp::now().as_millisecond() + 1_000;

    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &app.settings.store_path);
    let (f, t) = (format!("{}", from / 1000), format!("{}", to / 1000 + 1));
    let cfg_s = cfg.display().to_string();
    let out = siaga(dir.path(), &["--config", &cfg_s, "report", "sla", "--from", &f, "--to", &t, "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let s0 = v["suppliers"].as_array().unwrap().iter().find(|s| s["supplier"] == "sim0").unwrap().clone();
    assert_eq!(s0["outages"], 1, "{s0}");
    let minutes = ((closed - opened) as f64 / 600.0).round() / 100.0;
    assert_eq!(s0["downtime_minutes"]["unannounced"], minutes, "{s0}");
    assert_eq!(s0["downtime_minutes"]["announced"], 0.0);
    assert_eq!(s0["longest_outage_minutes"], minutes);
    assert_eq!(s0["cost_of_downtime_rupiah"]["extra_cost"], (BACKUP - PRIMARY) * backup, "{s0}");
    assert_eq!(s0["cost_of_downtime_rupiah"]["margin_lost"], 0);
    assert_eq!(s0["orders_affected"], backup);
    assert_eq!(s0["resellers_affected"], 1);
    // Every attempt at sim0 (2 + 1 successes, the refused connections), as the orders show.
    assert_eq!(seen.1, 3);
    assert_eq!(s0["attempts"], seen.0, "{s0}");
    let rate = ((seen.1 as f64 / seen.0 as f64) * 10_000.0).round() / 10_000.0;
    assert_eq!(s0["success_rate"], rate);
    assert!(s0["availability_percent"].as_f64().unwrap() < 99.9);
    // 10 % of the 3 × 10 150 paid to sim0.
    assert_eq!(s0["credit"]["percent"], 10.0);
    assert_eq!(s0["credit"]["rupiah"], 3 * PRIMARY / 10);
    let s1 = v["suppliers"].as_array().unwrap().iter().find(|s| s["supplier"] == "sim1").unwrap().clone();
    assert_eq!(s1["outages"], 0);
    assert_eq!(s1["availability_percent"], 100.0);

    // CSV, read back by a CSV reader.
    let out = siaga(dir.path(), &["--config", &cfg_s, "report", "sla", "--from", &f, "--to", &t, "--format", "csv"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut rd = csv::Reader::from_reader(out.stdout.as_slice());
    let header = rd.headers().unwrap().clone();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    let row = rows.iter().find(|r| &r[col("supplier")] == "sim0").unwrap();
    assert_eq!(row[col("extra_cost")].parse::<i64>().unwrap(), (BACKUP - PRIMARY) * backup);
    assert_eq!(&row[col("outages")], "1");

    // Markdown: the verdict first.
    let out = siaga(dir.path(), &["--config", &cfg_s, "report", "sla", "--from", &f, "--to", &t]);
    let md = String::from_utf8_lossy(&out.stdout).into_owned();
    let verdict = md.find("- sim0: 1 outage, ").unwrap_or_else(|| panic!("{md}"));
    assert!(verdict < md.find("| supplier |").unwrap(), "{md}");

    // The evidence pack of that outage names the orders the backup took.
    let id = s0["outage_periods"][0]["id"].as_i64().unwrap();
    let out = siaga(dir.path(), &["--config", &cfg_s, "report", "outage", &id.to_string(), "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_backup = e["affected_orders"].as_array().unwrap().iter().filter(|o| o["served_by"] == "sim1").count();
    assert_eq!(by_backup as i64, backup, "{e}");
    assert!(!e["error_samples"].as_array().unwrap().is_empty(), "{e}");

    // The scorecard puts the backup first for TSEL10.
    let out = siaga(dir.path(), &["--config", &cfg_s, "report", "scorecard", "--from", &f, "--to", &t, "--format", "json"]);
    let c: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tsel = c["products"].as_array().unwrap().iter().find(|p| p["product"] == "TSEL10").unwrap();
    assert_eq!(tsel["recommended_order"], serde_json::json!(["sim1", "sim0"]), "{c}");

    // The admin API answers the same numbers; a bad parameter is a 400 naming it.
    let q = format!("/admin/api/reports/sla?from={f}&to={t}");
    let api = app.admin_get(&q).await;
    let a0 = api["suppliers"].as_array().unwrap().iter().find(|s| s["supplier"] == "sim0").unwrap().clone();
    assert_eq!(a0["cost_of_downtime_rupiah"], s0["cost_of_downtime_rupiah"]);
    let r = app.http.get(format!("{}/admin/api/reports/sla?month=2026-13", app.base)).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body.to_string().contains("month"), "{body}");
    let r = app.http.get(format!("{}{q}&format=xml", app.base)).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = app.http.get(format!("{}{q}&format=csv", app.base)).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().starts_with("supplier,"));
    let usage = siaga(dir.path(), &["--config", &cfg_s, "report", "sla", "--month", "2026-11", "--from", &f]);
    assert_eq!(usage.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monthly_report_is_queued_once_on_the_first() {
    use siaga::notify::config::{NotifySettings, Smtp, Tls};
    // 1 Dec 2026, 00:00:30 in Jakarta: November's report is due.
    let clock = Arc::new(ManualClock::new(1_796_058_030_000));
    let app = TestApp::start(Opts {
        clock: Some(clock.clone()),
        notify: NotifySettings {
            smtp: Some(Smtp {
                host: "127.0.0.1".into(),
                port: 9,
                tls: Tls::None,
                username: None,
                password: None,
                from: "siaga <s@siaga.test>".into(),
                per_second: 10,
                pool: 1,
                timeout_ms: 500,
            }),
            owner_emails: vec!["owner@siaga.test".into()],
            ..NotifySettings::default()
        },
        ..Opts::default()
    })
    .await;
    let ctx = app.app.notifier();
    assert_eq!(siaga::report::monthly::once(&ctx).await.unwrap(), None, "not opted in");
    let mut s = (*app.app.settings.get()).clone();
    s.reports.monthly_email = true;
    app.app.settings.set(Arc::new(s));
    assert_eq!(siaga::report::monthly::once(&ctx).await.unwrap().as_deref(), Some("2026-11"));
    assert_eq!(siaga::report::monthly::once(&ctx).await.unwrap(), None, "sent once");
    assert!(app.app.store.notify_mark("report:monthly:2026-11").await.unwrap().is_some());
    let counts = app.app.store.notice_counts().await.unwrap();
    assert!(counts.iter().any(|(ch, _, n)| ch == "email" && *n >= 1), "{counts:?}");
    // A week and more later, a missed month is not sent late.
    clock.advance(40 * 86_400_000);
    assert_eq!(siaga::report::monthly::once(&ctx).await.unwrap(), None);
}
