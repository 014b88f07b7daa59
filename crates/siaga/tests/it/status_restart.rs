//! A restart of siaga is siaga's own business, never a product's (SPEC 8, issue 16): a
//! restart during an open automatic incident, or during an announced maintenance window,
//! adds no incident update, queues no notice and records no `operational` blip in any
//! component's history. The new process goes on from what the store recorded until its
//! own evidence (probes) says the same or otherwise.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use siaga::config::HealthCfg;
use siaga_suppliers::sim::SimMode;

use crate::harness::{chat_news, Opts, TestApp};

const T: Duration = Duration::from_secs(30);

/// A switch whose probes run every second (the breaker opens after three failed ones)
/// and whose status news goes to a chat webhook, so any notice would be queued.
async fn start() -> TestApp {
    let (notify, _) = chat_news().await;
    TestApp::start(Opts {
        health: HealthCfg {
            probe_interval_s: 1,
            breaker_open_base_ms: 600_000,
            ..HealthCfg::default()
        },
        notify,
        ..Opts::default()
    })
    .await
}

async fn summary(app: &TestApp) -> Value {
    let r = app.http.get(format!("{}/api/v2/summary.json", app.base));
    r.send().await.unwrap().json().await.unwrap()
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

async fn wait_for(app: &TestApp, what: &str, f: impl Fn(&Value) -> bool) -> Value {
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

/// What a restart must leave alone: the component history, every incident's updates and
/// the notices queued.
#[derive(Debug, PartialEq)]
struct Record {
    log: Vec<(String, String, i64)>,
    updates: Vec<(i64, usize)>,
    notices: i64,
}

async fn record(app: &TestApp) -> Record {
    let store = &app.app.store;
    let log = store.component_log(0).await.unwrap();
    let incidents = store.incidents(0).await.unwrap();
    let notices = store.notice_counts().await.unwrap();
    Record {
        log: log
            .into_iter()
            .map(|c| (c.component, c.status, c.at))
            .collect(),
        updates: incidents.iter().map(|i| (i.id, i.updates.len())).collect(),
        notices: notices.iter().map(|(_, _, n)| n).sum(),
    }
}

/// Waits until the notifier has taken in the news of `key` (one of its marks).
async fn wait_mark(app: &TestApp, key: &str, done: impl Fn(&str) -> bool) {
    let end = Instant::now() + T;
    loop {
        if let Some(v) = app.app.store.notify_mark(key).await.unwrap() {
            if done(&v) {
                return;
            }
        }
        assert!(Instant::now() < end, "the notifier has not done {key}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Restarts, then waits until the new process knows the supplier from its own probes and
/// the status worker has taken two steps after that: what it would say, it has said.
async fn restart_and_settle(app: &mut TestApp) {
    app.restart().await;
    let end = Instant::now() + T;
    while !app.app.health.known("sim0") {
        assert!(Instant::now() < end, "sim0 not known from live evidence");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let known_at = app.app.clock.now_ms();
    while app.app.status.snapshot().generated_at < known_at + 1_000 {
        assert!(Instant::now() < end, "the status worker did not step");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_during_an_automatic_incident_changes_nothing() {
    let mut app = start().await;
    app.set_mode(0, SimMode::Down).await;
    wait_for(&app, "the automatic incident", |s| {
        status_of(s, "xl Pulsa") == "major_outage"
            && s["incidents"].as_array().is_some_and(|i| i.len() == 1)
    })
    .await;
    // Its news is queued before the restart (the notifier's cursor is past its update).
    let incidents = app.app.store.incidents(0).await.unwrap();
    let last = incidents[0].updates.last().map(|u| u.id).unwrap_or(0);
    wait_mark(&app, "cursor:updates", |v| {
        v.parse::<i64>().is_ok_and(|c| c >= last)
    })
    .await;
    let before = record(&app).await;
    assert!(before.notices > 0, "the incident was announced: {before:?}");
    restart_and_settle(&mut app).await;
    let after = record(&app).await;
    assert_eq!(after, before, "a restart said something");
    let s = summary(&app).await;
    assert_eq!(status_of(&s, "xl Pulsa"), "major_outage", "{s:#}");
    assert_eq!(s["incidents"].as_array().map(Vec::len), Some(1), "{s:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_during_announced_maintenance_changes_nothing() {
    let mut app = start().await;
    let now = app.app.clock.now_ms() / 1000;
    let (s, v) = app
        .admin_post(
            "/admin/api/maintenance",
            json!({"supplier": "sim0", "starts_at": (now - 60).to_string(),
                   "ends_at": (now + 3600).to_string(), "note": "Peningkatan server"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    wait_for(&app, "the maintenance", |s| {
        status_of(s, "xl Pulsa") == "under_maintenance"
    })
    .await;
    wait_mark(&app, &format!("maint:{}:started", v["id"]), |_| true).await;
    let before = record(&app).await;
    assert!(before.notices > 0, "the window was announced: {before:?}");
    restart_and_settle(&mut app).await;
    let after = record(&app).await;
    assert_eq!(after, before, "a restart said something");
    assert_eq!(
        status_of(&summary(&app).await, "xl Pulsa"),
        "under_maintenance"
    );
}
