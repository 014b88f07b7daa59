//! The Statuspage-compatible API as real clients use it (issue 16): CORS for widgets on
//! other sites, the unresolved / upcoming / active endpoints, `affected_components` and
//! `deliver_notifications` on updates, stable `created_at`, a page id of this installation,
//! and `Vary: Accept-Language` where the words follow the language.

use serde_json::{json, Value};
use siaga_suppliers::sim::SimMode;

use crate::harness::{Opts, TestApp};

async fn get(app: &TestApp, path: &str) -> (reqwest::header::HeaderMap, Value) {
    let r = app
        .http
        .get(format!("{}{path}", app.base))
        .header("origin", "https://konter.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{path}");
    let h = r.headers().clone();
    (h, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widgets_on_other_sites_can_read_the_status() {
    let app = TestApp::start(Opts::default()).await;
    for path in [
        "/api/v2/summary.json",
        "/api/v2/status.json",
        "/api/v2/components.json",
        "/api/v2/incidents.json",
        "/api/v2/incidents/unresolved.json",
        "/api/v2/scheduled-maintenances.json",
        "/api/v2/scheduled-maintenances/upcoming.json",
        "/api/v2/scheduled-maintenances/active.json",
    ] {
        let (h, v) = get(&app, path).await;
        assert_eq!(h["access-control-allow-origin"], "*", "{path}");
        assert!(v["page"]["id"].is_string(), "{path}: {v}");
    }
    // The browser's preflight.
    let r = app
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v2/summary.json", app.base),
        )
        .header("origin", "https://konter.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let methods = r.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(methods.contains("GET"), "{methods}");
    // The language varies the words: caches are told.
    for path in [
        "/api/v2/summary.json",
        "/api/v2/incidents.json",
        "/",
        "/history",
    ] {
        let r = app
            .http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["vary"], "Accept-Language", "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_name_their_components_and_ids_stay_put() {
    let mut app = TestApp::start(Opts {
        health: siaga::config::HealthCfg {
            probe_interval_s: 1,
            breaker_open_base_ms: 600_000,
            ..siaga::config::HealthCfg::default()
        },
        ..Opts::default()
    })
    .await;
    let (_, first) = get(&app, "/api/v2/summary.json").await;
    let page_id = first["page"]["id"].as_str().unwrap().to_owned();
    assert_eq!(page_id.len(), 12, "{page_id}");
    assert_ne!(page_id, "siaga");
    let other = TestApp::start(Opts::default()).await;
    let (_, theirs) = get(&other, "/api/v2/summary.json").await;
    assert_ne!(
        theirs["page"]["id"], first["page"]["id"],
        "each installation its own id"
    );

    // An outage: the automatic incident's update says which component went how.
    app.set_mode(0, SimMode::Down).await;
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let unresolved = loop {
        let (_, v) = get(&app, "/api/v2/incidents/unresolved.json").await;
        if v["incidents"].as_array().is_some_and(|i| !i.is_empty()) {
            break v;
        }
        assert!(std::time::Instant::now() < end, "no incident: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let update = &unresolved["incidents"][0]["incident_updates"][0];
    assert_eq!(update["deliver_notifications"], true);
    let affected = update["affected_components"].as_array().unwrap();
    let xl = affected
        .iter()
        .find(|a| a["name"] == "xl Pulsa")
        .unwrap_or_else(|| panic!("{update}"));
    assert_eq!(xl["code"], "xl-pulsa");
    assert_eq!(xl["old_status"], "operational");
    assert_eq!(xl["new_status"], "major_outage");

    // created_at stays put across snapshots and restarts; the page id too.
    let created = |v: &Value| -> Vec<Value> {
        v["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| json!([c["name"], c["created_at"]]))
            .collect()
    };
    let (_, later) = get(&app, "/api/v2/components.json").await;
    assert_eq!(created(&later), created(&first));
    app.restart().await;
    let (_, again) = get(&app, "/api/v2/summary.json").await;
    assert_eq!(created(&again), created(&first));
    assert_eq!(again["page"]["id"], first["page"]["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_is_listed_as_upcoming_then_active() {
    let app = TestApp::start(Opts::default()).await;
    let now = app.app.clock.now_ms() / 1000;
    for (supplier, from, to) in [
        ("sim0", now - 60, now + 3600),
        ("sim1", now + 7200, now + 9000),
    ] {
        let (s, v) = app
            .admin_post(
                "/admin/api/maintenance",
                json!({"supplier": supplier, "starts_at": from.to_string(), "ends_at": to.to_string()}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
    }
    let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, active) = get(&app, "/api/v2/scheduled-maintenances/active.json").await;
        let (_, upcoming) = get(&app, "/api/v2/scheduled-maintenances/upcoming.json").await;
        let statuses = |v: &Value| -> Vec<Value> {
            v["scheduled_maintenances"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["status"].clone())
                .collect()
        };
        if statuses(&active) == [json!("in_progress")]
            && statuses(&upcoming) == [json!("scheduled")]
        {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "active {active} upcoming {upcoming}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_compressed_and_revalidated_by_etag() {
    let app = TestApp::start(Opts::default()).await;
    let fetch = |path: &'static str, enc: &'static str, etag: Option<String>| {
        let mut r = app
            .http
            .get(format!("{}{path}", app.base))
            .header("accept-encoding", enc);
        if let Some(t) = etag {
            r = r.header("if-none-match", t);
        }
        r.send()
    };
    let mut weights = Vec::new();
    for path in ["/", "/history", "/api/v2/summary.json"] {
        let plain = fetch(path, "identity", None).await.unwrap();
        assert_eq!(plain.status().as_u16(), 200);
        assert!(plain.headers().get("content-encoding").is_none());
        let tag = plain.headers()["etag"].to_str().unwrap().to_owned();
        let plain_len = plain.bytes().await.unwrap().len();
        for enc in ["gzip", "br"] {
            let r = fetch(path, enc, None).await.unwrap();
            assert_eq!(r.headers()["content-encoding"], enc, "{path}");
            let vary: Vec<String> = r
                .headers()
                .get_all("vary")
                .iter()
                .map(|v| v.to_str().unwrap_or_default().to_ascii_lowercase())
                .collect();
            assert!(
                vary.iter().any(|v| v.contains("accept-encoding")),
                "{path}: {vary:?}"
            );
            assert_eq!(
                r.headers()["etag"].to_str().unwrap(),
                tag,
                "one tag for every encoding"
            );
            let n = r.bytes().await.unwrap().len();
            // The index with its 90-day bars is the heavy one: many times smaller.
            let factor = if path == "/" { 5 } else { 1 };
            assert!(
                n * factor < plain_len,
                "{path} {enc}: {n} of {plain_len} bytes"
            );
            weights.push(format!("{path} {enc}: {n} B"));
        }
        weights.push(format!("{path} uncompressed: {plain_len} B"));
        // Revalidation: the same bytes are not sent again.
        let r = fetch(path, "gzip", Some(tag.clone())).await.unwrap();
        assert_eq!(r.status().as_u16(), 304, "{path}");
        assert!(r.bytes().await.unwrap().is_empty());
        let r = fetch(path, "gzip", Some("W/\"other\"".into()))
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    println!("page weight: {}", weights.join("; "));
    let r = fetch("/api/v2/summary.json", "identity", None)
        .await
        .unwrap();
    assert!(r.headers().contains_key("last-modified"));
}
