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
async fn place(
    app: &TestApp,
    seen: &mut AtPrimary,
    product: &str,
    r: &str,
    dest: &str,
    status: &str,
) -> String {
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
        let open = ev
            .iter()
            .rev()
            .find(|e| e.kind == "breaker" && e.to_state.as_deref() == Some("open"));
        let closed = ev
            .iter()
            .find(|e| e.kind == "breaker" && e.to_state.as_deref() == Some("closed"));
        if let (Some(o), Some(c)) = (open, closed) {
            return (o.at, c.at);
        }
        assert!(Instant::now() < end, "no recorded outage: {ev:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the scenario did, as the test saw it.
struct Run {
    /// The report window, unix seconds.
    from: String,
    to: String,
    /// The breaker's open and close, ms, as recorded.
    opened: i64,
    closed: i64,
    /// TSEL10 orders the backup served while sim0 was out.
    backup: i64,
    seen: AtPrimary,
}

/// The outage: two orders at sim0; sim0 down, three XL10 orders (its only route) fail
/// and open the breaker; TSEL10 orders go to the backup; sim0 up again, the half-open
/// trial closes the circuit.
async fn outage_scenario(app: &TestApp) -> Run {
    let from = jiff::Timestamp::now().as_millisecond() - 1_000;
    let mut seen = AtPrimary::default();
    for i in 0..2 {
        let (r, d) = (format!("UP-{i}"), format!("08123456710{i}"));
        let via = place(app, &mut seen, "TSEL10", &r, &d, "success").await;
        assert_eq!(via, "sim0");
    }
    // Placed before the breaker opened: not the outage's cost.
    app.set_mode(0, SimMode::Down).await;
    for i in 0..3 {
        let (r, d) = (format!("XL-{i}"), format!("08171234560{i}"));
        place(app, &mut seen, "XL10", &r, &d, "failed").await;
    }
    wait_breaker(app, "sim0", "open").await;
    let mut backup = 0;
    for i in 0..4 {
        let (r, d) = (format!("OUT-{i}"), format!("08123456720{i}"));
        let via = place(app, &mut seen, "TSEL10", &r, &d, "success").await;
        assert_eq!(via, "sim1");
        backup += 1;
    }
    app.set_mode(0, SimMode::Ok).await;
    wait_breaker(app, "sim0", "half_open").await;
    for i in 1.. {
        let (r, d) = (format!("BACK-{i}"), format!("0812345673{i:02}"));
        if place(app, &mut seen, "TSEL10", &r, &d, "success").await == "sim0" {
            break;
        }
        backup += 1;
        assert!(i < 50, "sim0 never took traffic back");
    }
    let (opened, closed) = recorded_outage(app).await;
    let to = jiff::Timestamp::now().as_millisecond() + 1_000;
    Run {
        from: (from / 1000).to_string(),
        to: (to / 1000 + 1).to_string(),
        opened,
        closed,
        backup,
        seen,
    }
}

/// `siaga --config CFG report ARGS...`, which must succeed; its stdout.
fn report(dir: &Path, cfg: &str, args: &[&str]) -> Vec<u8> {
    let mut all = vec!["--config", cfg, "report"];
    all.extend_from_slice(args);
    let out = siaga(dir, &all);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn row(v: &Value, supplier: &str) -> Value {
    v["suppliers"]
        .as_array()
        .and_then(|l| l.iter().find(|s| s["supplier"] == supplier))
        .cloned()
        .unwrap_or_else(|| panic!("no {supplier} in {v}"))
}

/// The JSON report's row for sim0 against what the scenario saw.
fn check_sim0(s0: &Value, run: &Run) {
    assert_eq!(s0["outages"], 1, "{s0}");
    let minutes = ((run.closed - run.opened) as f64 / 600.0).round() / 100.0;
    assert_eq!(s0["downtime_minutes"]["unannounced"], minutes, "{s0}");
    assert_eq!(s0["downtime_minutes"]["announced"], 0.0);
    assert_eq!(s0["longest_outage_minutes"], minutes);
    let extra = (BACKUP - PRIMARY) * run.backup;
    assert_eq!(s0["cost_of_downtime_rupiah"]["extra_cost"], extra, "{s0}");
    assert_eq!(s0["cost_of_downtime_rupiah"]["margin_lost"], 0);
    assert_eq!(s0["cost_of_downtime_rupiah"]["total"], extra);
    assert_eq!(s0["orders_affected"], run.backup);
    assert_eq!(s0["resellers_affected"], 1);
    // Every attempt at sim0 (2 + 1 successes, the refused connections), as the orders show.
    assert_eq!(run.seen.1, 3);
    assert_eq!(s0["attempts"], run.seen.0, "{s0}");
    let rate = ((run.seen.1 as f64 / run.seen.0 as f64) * 10_000.0).round() / 10_000.0;
    assert_eq!(s0["success_rate"], rate);
    assert!(s0["availability_percent"].as_f64().unwrap() < 99.9);
    // 10 % of the 3 × 10 150 paid to sim0.
    assert_eq!(s0["credit"]["percent"], 10.0);
    assert_eq!(s0["credit"]["rupiah"], 3 * PRIMARY / 10);
}

/// CSV read back by a CSV reader, and the Markdown's verdict before its table.
fn check_csv_and_markdown(dir: &Path, cfg: &str, run: &Run) {
    let window = ["--from", run.from.as_str(), "--to", run.to.as_str()];
    let out = report(
        dir,
        cfg,
        &[&["sla", "--format", "csv"][..], &window].concat(),
    );
    let mut rd = csv::Reader::from_reader(out.as_slice());
    let header = rd.headers().unwrap().clone();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    let r0 = rows.iter().find(|r| &r[col("supplier")] == "sim0").unwrap();
    let extra = (BACKUP - PRIMARY) * run.backup;
    assert_eq!(r0[col("extra_cost")].parse::<i64>().unwrap(), extra);
    assert_eq!(&r0[col("outages")], "1");
    let md = report(dir, cfg, &[&["sla"][..], &window].concat());
    let md = String::from_utf8_lossy(&md).into_owned();
    let verdict = md
        .find("- sim0: 1 outage, ")
        .unwrap_or_else(|| panic!("{md}"));
    assert!(verdict < md.find("| supplier |").unwrap(), "{md}");
}

/// The evidence pack names the orders the backup took; the scorecard puts the backup first.
fn check_evidence_and_scorecard(dir: &Path, cfg: &str, run: &Run, s0: &Value) {
    let id = s0["outage_periods"][0]["id"].as_i64().unwrap().to_string();
    let e: Value =
        serde_json::from_slice(&report(dir, cfg, &["outage", &id, "--format", "json"])).unwrap();
    let by_backup = e["affected_orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["served_by"] == "sim1")
        .count();
    assert_eq!(by_backup as i64, run.backup, "{e}");
    assert!(!e["error_samples"].as_array().unwrap().is_empty(), "{e}");
    let args = [
        "scorecard",
        "--from",
        &run.from,
        "--to",
        &run.to,
        "--format",
        "json",
    ];
    let c: Value = serde_json::from_slice(&report(dir, cfg, &args)).unwrap();
    let tsel = c["products"]
        .as_array()
        .and_then(|l| l.iter().find(|p| p["product"] == "TSEL10"))
        .unwrap();
    assert_eq!(
        tsel["recommended_order"],
        serde_json::json!(["sim1", "sim0"]),
        "{c}"
    );
}

/// The admin API answers the same numbers; a bad parameter is a 400 naming it.
async fn check_admin_api(app: &TestApp, run: &Run, s0: &Value) {
    let q = format!("/admin/api/reports/sla?from={}&to={}", run.from, run.to);
    let a0 = row(&app.admin_get(&q).await, "sim0");
    assert_eq!(a0["cost_of_downtime_rupiah"], s0["cost_of_downtime_rupiah"]);
    let get = |path: String| {
        app.http
            .get(format!("{}{path}", app.base))
            .bearer_auth(ADMIN)
            .send()
    };
    let r = get("/admin/api/reports/sla?month=2026-13".into())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body.to_string().contains("month"), "{body}");
    let r = get(format!("{q}&format=xml")).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = get(format!("{q}&format=csv")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().starts_with("supplier,"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_outage_is_read_back_with_its_minutes_and_extra_cost() {
    let app = TestApp::start(Opts {
        deposit: 1_000_000,
        health: HealthCfg {
            probe_interval_s: 3_600,
            // Long enough that the four orders of the outage all run while it is open.
            breaker_open_base_ms: 4_000,
            breaker_open_max_ms: 4_000,
            ..HealthCfg::default()
        },
        ..Opts::default()
    })
    .await;
    let run = outage_scenario(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &app.settings.store_path)
        .display()
        .to_string();
    let d = dir.path();
    let args = [
        "sla", "--from", &run.from, "--to", &run.to, "--format", "json",
    ];
    let v: Value = serde_json::from_slice(&report(d, &cfg, &args)).expect("json");
    let s0 = row(&v, "sim0");
    check_sim0(&s0, &run);
    let s1 = row(&v, "sim1");
    assert_eq!(s1["outages"], 0);
    assert_eq!(s1["availability_percent"], 100.0);
    check_csv_and_markdown(d, &cfg, &run);
    check_evidence_and_scorecard(d, &cfg, &run, &s0);
    check_admin_api(&app, &run, &s0).await;
    let usage = siaga(
        d,
        &[
            "--config", &cfg, "report", "sla", "--month", "2026-11", "--from", &run.from,
        ],
    );
    assert_eq!(usage.status.code(), Some(2), "--month and --from together");
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
    assert_eq!(
        siaga::report::monthly::once(&ctx).await.unwrap(),
        None,
        "not opted in"
    );
    let mut s = (*app.app.settings.get()).clone();
    s.reports.monthly_email = true;
    app.app.settings.set(Arc::new(s));
    assert_eq!(
        siaga::report::monthly::once(&ctx).await.unwrap().as_deref(),
        Some("2026-11")
    );
    assert_eq!(
        siaga::report::monthly::once(&ctx).await.unwrap(),
        None,
        "sent once"
    );
    assert!(app
        .app
        .store
        .notify_mark("report:monthly:2026-11")
        .await
        .unwrap()
        .is_some());
    let counts = app.app.store.notice_counts().await.unwrap();
    assert!(
        counts.iter().any(|(ch, _, n)| ch == "email" && *n >= 1),
        "{counts:?}"
    );
    // A week and more later, a missed month is not sent late.
    clock.advance(40 * 86_400_000);
    assert_eq!(siaga::report::monthly::once(&ctx).await.unwrap(), None);
}
