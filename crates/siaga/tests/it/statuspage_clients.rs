//! Real Statuspage clients nobody here wrote, against a live siaga (issue 16): every call of
//! the npm `statuspage.io` client, and Atlassian's `@statuspage/status-widget` embedded on a
//! page of another origin in Debian chromium (tools/statuspage-clients, `npm ci` by
//! scripts/test). State is real: an automatic incident from a supplier going down, a manual
//! incident and an announced maintenance.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use siaga::config::HealthCfg;
use siaga_suppliers::sim::SimMode;

use crate::harness::{Opts, TestApp};

/// The client's eight read calls (the five `subscribers.*` methods are reported apart).
const READS: [&str; 8] = [
    "getSummary",
    "getStatus",
    "getComponents",
    "incidents.getAll",
    "incidents.getUnresolved",
    "scheduledMaintenances.getAll",
    "scheduledMaintenances.getActive",
    "scheduledMaintenances.getUpcoming",
];

/// Runs `node tools/statuspage-clients/<script> <args>` and parses the JSON it prints.
async fn node(script: &str, args: &[&str]) -> Value {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/statuspage-clients");
    let run = tokio::process::Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .unwrap_or_else(|_| panic!("{script} ran over 90 s"))
        .expect("node (tools/statuspage-clients: npm ci --prefix tools/statuspage-clients)");
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

async fn summary(app: &TestApp, lang: &str) -> Value {
    let r = app
        .http
        .get(format!("{}/api/v2/summary.json?lang={lang}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.unwrap()
}

/// Polls the summary until `f` holds; panics with the last one after 30 s.
async fn wait_for(app: &TestApp, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let s = summary(app, "id").await;
        if f(&s) {
            return s;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}: {s:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|x| x["name"].as_str().unwrap_or_default())
        .collect()
}

/// A live siaga in a known state: sim 0 down (xl has no backup: `major_outage`; telkomsel
/// goes to sim 1), its automatic incident open, a manual incident on "API", and a
/// maintenance of sim 0 announced for an hour from now. Returns the summary once the
/// automatic incident is there.
async fn outage_with_notices() -> (TestApp, Value) {
    let app = TestApp::start(Opts {
        health: HealthCfg {
            probe_interval_s: 1,
            breaker_open_base_ms: 600_000,
            ..HealthCfg::default()
        },
        ..Opts::default()
    })
    .await;
    let now = app.app.clock.now_ms() / 1000;
    let (s, v) = app
        .admin_post(
            "/admin/api/maintenance",
            json!({"supplier": "sim0", "starts_at": (now + 3600).to_string(),
                   "ends_at": (now + 7200).to_string(), "note": "Pemasok memperbarui server"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = app
        .admin_post(
            "/admin/api/incidents",
            json!({"title": "Transaksi lambat", "body": "Kami sedang menyelidiki.",
                   "title_en": "Slow transactions", "body_en": "We are investigating.",
                   "components": ["API"], "impact": "minor"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    app.set_mode(0, SimMode::Down).await;
    let s = wait_for(&app, "the automatic incident and xl down", |s| {
        names(&s["incidents"]).len() == 2
            && s["components"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["name"] == "xl Pulsa" && c["status"] == "major_outage")
            && s["scheduled_maintenances"]
                .as_array()
                .is_some_and(|m| m.len() == 1)
    })
    .await;
    (app, s)
}

/// Every read of the `statuspage.io` client succeeds against siaga, asks siaga (not
/// statuspage.io), gets what the client's own types declare, and carries siaga's data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuspage_io_client_reads_everything() {
    let (app, s) = outage_with_notices().await;
    let page_id = s["page"]["id"].as_str().unwrap();
    let r = node("client.mjs", &[&app.base, page_id]).await;
    let calls = &r["calls"];
    for name in READS {
        let c = &calls[name];
        assert_eq!(c["ok"], true, "{name}: {c}");
        for q in c["requests"].as_array().unwrap() {
            let url = q["url"].as_str().unwrap();
            assert!(url.starts_with(&app.base), "{name} asked {url}");
            assert_eq!(q["status"], 200, "{name}: {q}");
        }
        let data = &c["data"];
        assert_eq!(data["page"]["name"], "Status Uji", "{name}");
        assert_eq!(data["page"]["id"], page_id, "{name}");
    }
    assert_eq!(
        calls.as_object().unwrap().len(),
        READS.len(),
        "a read not checked here: {calls}"
    );

    let summary = &calls["getSummary"]["data"];
    let status = &calls["getStatus"]["data"]["status"];
    assert_eq!(&summary["status"], status);
    // xl is out, telkomsel still sells through its backup: a partial outage (orange).
    assert_eq!(status["indicator"], "major", "xl is out: {status}");
    let components = &calls["getComponents"]["data"]["components"];
    for n in ["telkomsel Pulsa", "xl Pulsa", "API"] {
        assert!(names(components).contains(&n), "{n}: {components}");
    }
    let xl = components
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "xl Pulsa")
        .unwrap();
    assert_eq!(xl["status"], "major_outage");
    for call in ["incidents.getAll", "incidents.getUnresolved"] {
        let incidents = &calls[call]["data"]["incidents"];
        let got = names(incidents);
        assert!(got.contains(&"Transaksi lambat"), "{call}: {got:?}");
        assert!(
            got.iter().any(|n| n.contains("xl Pulsa")),
            "{call}: the automatic incident: {got:?}"
        );
        assert_eq!(names(incidents), names(&summary["incidents"]), "{call}");
    }
    // getAll, getActive and getUpcoming all ask upcoming.json (the client's own mapping):
    // the announced window is there, scheduled.
    for call in [
        "scheduledMaintenances.getAll",
        "scheduledMaintenances.getActive",
        "scheduledMaintenances.getUpcoming",
    ] {
        let m = &calls[call]["data"]["scheduled_maintenances"];
        assert_eq!(m.as_array().unwrap().len(), 1, "{call}: {m}");
        assert_eq!(m[0]["status"], "scheduled", "{call}: {m}");
        // The owner's note is what the window is called (SPEC 8, issue 16 item 4).
        assert!(
            m[0]["name"]
                .as_str()
                .unwrap()
                .contains("Pemasok memperbarui server"),
            "{call}: the note: {m}"
        );
    }
    // Last, so that everything above is known first: each answer has every field the
    // client's types declare (node_modules/statuspage.io/dist/interfaces/Result.d.ts).
    let shape_errors: Vec<String> = READS
        .iter()
        .flat_map(|name| {
            calls[name]["shape_errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |e| format!("{name}: {}", e.as_str().unwrap()))
        })
        .collect();
    assert!(shape_errors.is_empty(), "{shape_errors:#?}");
}

/// Atlassian's widget on a reseller's page (another origin) fetches siaga's summary across
/// origins and shows the words and colour siaga reports for the outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_widget_on_another_origin_shows_the_outage() {
    let (app, _) = outage_with_notices().await;
    let before = summary(&app, "id").await;
    let r = node("widget.mjs", &[&app.base, "id-ID"]).await;
    let after = summary(&app, "id").await;
    assert_eq!(r["rendered"], true, "the widget rendered nothing: {r:#}");
    assert!(!r["host_page"].as_str().unwrap().starts_with(&app.base));
    assert_eq!(
        r["requests"],
        json!([{"url": format!("{}/api/v2/summary.json", app.base), "method": "GET",
                "status": 200, "allow_origin": "*"}]),
        "{r:#}"
    );
    assert_eq!(r["page_errors"], json!([]), "{r:#}");
    assert_eq!(r["console_errors"], json!([]), "{r:#}");
    let widgets = r["widgets"].as_array().unwrap();
    assert_eq!(widgets.len(), 2, "{r:#}");
    for w in widgets {
        let shown = (&w["status_text"], &w["indicator"]);
        let said = |s: &Value| {
            (
                s["status"]["description"].clone(),
                s["status"]["indicator"].clone(),
            )
        };
        assert!(
            [said(&before), said(&after)]
                .iter()
                .any(|(d, i)| (d, i) == shown),
            "the widget shows {shown:?}, siaga says {:?}",
            said(&after)
        );
        // An outage's colour: orange (major) or red (critical). Today siaga's indicator is
        // the worst component's (xl out: critical, red) beside "Partial System Outage".
        let colour = (w["indicator"].as_str(), w["indicator_color"].as_str());
        assert!(
            [
                (Some("major"), Some("rgb(230, 126, 34)")),
                (Some("critical"), Some("rgb(231, 76, 60)"))
            ]
            .contains(&colour),
            "{w}"
        );
        assert_ne!(w["status_text"], "Semua sistem normal", "{w}");
        assert_eq!(w["href"], app.base, "{w}");
    }
    assert!(
        widgets[1]["text"]
            .as_str()
            .unwrap()
            .starts_with("status siaga "),
        "the badge's title: {r:#}"
    );
}

/// The widget's dot is coloured by `status.indicator` and its words are
/// `status.description`: both must tell the same story. All normal: green and "All Systems
/// Operational" (English browser: English words). An open manual incident of minor impact
/// while every component is operational: the words say the service is degraded, so the dot
/// must not stay green.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_widget_colour_agrees_with_its_words() {
    let app = TestApp::start(Opts::default()).await;
    let r = node("widget.mjs", &[&app.base, "en-US"]).await;
    assert_eq!(r["rendered"], true, "{r:#}");
    for w in r["widgets"].as_array().unwrap() {
        assert_eq!(w["status_text"], "All Systems Operational", "{w}");
        assert_eq!(w["indicator"], "none", "{w}");
        assert_eq!(w["indicator_color"], "rgb(46, 204, 113)", "green: {w}");
    }

    let (s, v) = app
        .admin_post(
            "/admin/api/incidents",
            json!({"title": "Transaksi lambat", "body": "Kami sedang menyelidiki.",
                   "title_en": "Slow transactions", "body_en": "We are investigating.",
                   "components": ["API"], "impact": "minor"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let s = wait_for(&app, "the manual incident", |s| {
        names(&s["incidents"]) == ["Transaksi lambat"]
    })
    .await;
    let r = node("widget.mjs", &[&app.base, "id-ID"]).await;
    assert_eq!(r["rendered"], true, "{r:#}");
    for w in r["widgets"].as_array().unwrap() {
        assert_eq!(w["status_text"], s["status"]["description"], "{w}");
        assert_ne!(
            w["status_text"], "Semua sistem normal",
            "an open incident is not all normal: {w}"
        );
        assert_ne!(
            w["indicator"], "none",
            "the widget shows {:?} beside a green dot: status.indicator must follow the \
             open incident's impact as the description does ({})",
            w["status_text"], s["status"]
        );
    }
}
