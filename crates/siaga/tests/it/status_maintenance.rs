//! Announced maintenance is planned work, never an incident (issue 16): a window on the
//! primary supplier of a product group degrades it (orders go to the backup) without an
//! incident; one notice carries the owner's note and names only the groups it touches;
//! afterwards the window is `completed` in the JSON, the history page and the Atom feed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use siaga_domain::Operator;

use crate::harness::{chat_news, Opts, Received, TestApp, P};

const NOTE: &str = "Peningkatan server gudang data";
const T: Duration = Duration::from_secs(30);

async fn get(app: &TestApp, path: &str) -> String {
    let r = app
        .http
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    r.text().await.unwrap()
}

async fn summary(app: &TestApp) -> Value {
    serde_json::from_str(&get(app, "/api/v2/summary.json").await).unwrap()
}

fn status_of(s: &Value, name: &str) -> String {
    s["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .and_then(|c| c["status"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Three groups: one with sim0 first and a backup, one with sim0 only, one with sim0 only
/// as a backup; status news to a chat webhook whose bodies land in the returned list.
async fn start() -> (TestApp, Arc<Mutex<Vec<Received>>>) {
    let (mut notify, got) = chat_news().await;
    notify.coalesce_ms = 0;
    let product = |code, op, routes| P {
        code,
        op,
        price: 10_500,
        routes,
    };
    let app = TestApp::start(Opts {
        products: vec![
            // sim0 first, sim1 the backup: routed to the backup during the window.
            product(
                "TSEL10",
                Operator::Telkomsel,
                vec![(0, 10_150), (1, 10_200)],
            ),
            // sim0 only: held during the window.
            product("XL10", Operator::Xl, vec![(0, 10_250)]),
            // sim0 only as a backup: not touched at all.
            product("ISAT10", Operator::Indosat, vec![(1, 10_250), (0, 10_300)]),
        ],
        notify,
        ..Opts::default()
    })
    .await;
    (app, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announced_maintenance_is_a_notice_not_an_incident() {
    let (app, got) = start().await;
    let now = app.app.clock.now_ms() / 1000;
    let (s, v) = app
        .admin_post(
            "/admin/api/maintenance",
            json!({"supplier": "sim0", "starts_at": (now - 1).to_string(),
                   "ends_at": (now + 5).to_string(), "note": NOTE}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let during = wait(&app, "the window", |s| {
        status_of(s, "telkomsel Pulsa") == "degraded_performance"
            && status_of(s, "xl Pulsa") == "under_maintenance"
    })
    .await;
    assert_eq!(status_of(&during, "indosat Pulsa"), "operational");
    assert_eq!(
        (
            during["status"]["description"].as_str(),
            during["status"]["indicator"].as_str()
        ),
        (Some("Sebagian layanan melambat"), Some("minor")),
        "trouble is not hidden behind maintenance: {during:#}"
    );
    let m = &during["scheduled_maintenances"][0];
    assert_eq!(
        (m["name"].as_str(), m["status"].as_str()),
        (Some(NOTE), Some("in_progress"))
    );
    let names: Vec<&str> = m["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["telkomsel Pulsa", "xl Pulsa"],
        "only what it touches"
    );

    // The window ends; the groups come back; it is completed everywhere.
    let after = wait(&app, "the end of the window", |s| {
        status_of(s, "telkomsel Pulsa") == "operational"
            && status_of(s, "xl Pulsa") == "operational"
    })
    .await;
    assert_eq!(after["incidents"], json!([]), "no incident: {after:#}");
    let all: Value = serde_json::from_str(&get(&app, "/api/v2/incidents.json").await).unwrap();
    assert_eq!(all["incidents"], json!([]), "no incident was ever opened");
    let end = Instant::now() + T;
    let done = loop {
        let v: Value =
            serde_json::from_str(&get(&app, "/api/v2/scheduled-maintenances.json").await).unwrap();
        if v["scheduled_maintenances"][0]["status"] == "completed" {
            break v["scheduled_maintenances"][0].clone();
        }
        assert!(Instant::now() < end, "not completed: {v:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["name"], NOTE);
    assert!(
        done["started_at"].is_string() && done["resolved_at"].is_string(),
        "{done}"
    );
    let history = get(&app, "/history").await;
    assert!(
        history.contains(NOTE) && history.contains("Pemeliharaan selesai"),
        "{history}"
    );
    let atom = get(&app, "/history.atom").await;
    assert!(atom.contains(NOTE) && atom.contains("completed"), "{atom}");

    notices_carry_the_note(&got).await;
}

/// "started" once (the window was announced after it began), then "completed"; each
/// carries the note and only the groups it touches; nothing else was sent.
async fn notices_carry_the_note(got: &Arc<Mutex<Vec<Received>>>) {
    let end = Instant::now() + T;
    let texts = loop {
        let texts: Vec<String> = got
            .lock()
            .unwrap()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect();
        if texts.len() >= 2 {
            break texts;
        }
        assert!(Instant::now() < end, "notices: {texts:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(texts.len(), 2, "{texts:#?}");
    assert!(texts[0].contains("Pemeliharaan dimulai"), "{}", texts[0]);
    assert!(texts[1].contains("Pemeliharaan selesai"), "{}", texts[1]);
    for t in &texts {
        assert!(t.contains(NOTE), "{t}");
        assert!(
            t.contains("telkomsel Pulsa") && !t.contains("indosat"),
            "{t}"
        );
        assert!(
            !t.to_lowercase().contains("gangguan"),
            "not an incident: {t}"
        );
    }
}

async fn wait(app: &TestApp, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + T;
    loop {
        let s = summary(app).await;
        if f(&s) {
            return s;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}: {s:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
