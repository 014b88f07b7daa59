//! Pausing a supplier (SPEC 13): no new attempt goes to a paused supplier (orders take the
//! next route) until it is resumed; from the admin API and the dashboard (CSRF-checked),
//! each an audit line naming who.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::dashboard::{browser, csrf, page, post_form, sign_in};
use crate::harness::{Opts, TestApp};

const T: Duration = Duration::from_secs(10);

/// The suppliers the order's attempts went to.
async fn attempted(app: &TestApp, ref_id: &str) -> Vec<String> {
    let o = app.wait_final(ref_id, T).await;
    assert_eq!(o["status"], "success", "{o}");
    let id = o["order_id"].as_str().expect("order id");
    let full = app.admin_order(id).await;
    full["attempts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["supplier"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_supplier_gets_no_new_order_until_it_is_resumed() {
    let app = TestApp::start(Opts::default()).await;
    assert_eq!(app.order("P-0", "TSEL10", "081234560000").await.0, 201);
    assert_eq!(attempted(&app, "P-0").await, vec!["sim0"]);

    let (status, v) = app
        .admin_post(
            "/admin/api/suppliers/sim0/pause",
            json!({"reason": "saldo habis", "operator": "budi"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["paused"]["by"], "budi");
    let (status, _) = app
        .admin_post("/admin/api/suppliers/nope/pause", json!({}))
        .await;
    assert_eq!(status, 404);

    // Paused: the order goes to the backup, and the supplier says why.
    assert_eq!(app.order("P-1", "TSEL10", "081234560001").await.0, 201);
    assert_eq!(attempted(&app, "P-1").await, vec!["sim1"]);
    let sups = app.admin_get("/admin/api/suppliers").await;
    let sim0 = sups
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["id"] == "sim0")
        .cloned()
        .unwrap_or_default();
    assert_eq!(sim0["paused"]["reason"], "saldo habis", "{sim0}");
    let audit = app
        .admin_get("/admin/api/audit?action=supplier.pause")
        .await;
    assert_eq!(audit["audit"][0]["actor"], "budi", "{audit}");
    assert_eq!(audit["audit"][0]["target"], "sim0", "{audit}");

    // Resumed from the dashboard (the form needs its CSRF token), as the owner.
    let c = browser();
    let cookie = sign_in(&app, &c).await;
    let (s, html) = page(&app, &c, &cookie, "/admin/suppliers?lang=en").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("saldo habis"),
        "the page says why it is paused"
    );
    let path = "/admin/suppliers/sim0/resume";
    assert_eq!(
        post_form(&app, &c, &cookie, path, &[]).await,
        StatusCode::FORBIDDEN
    );
    let token = csrf(&html);
    assert_eq!(
        post_form(&app, &c, &cookie, path, &[("csrf", &token)]).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(app.order("P-2", "TSEL10", "081234560002").await.0, 201);
    assert_eq!(attempted(&app, "P-2").await, vec!["sim0"]);
    let audit = app
        .admin_get("/admin/api/audit?action=supplier.resume")
        .await;
    assert_eq!(audit["audit"][0]["actor"], "admin", "{audit}");

    // Paused from the dashboard: the same code, the same effect.
    let (_, html) = page(&app, &c, &cookie, "/admin/suppliers").await;
    let token = csrf(&html);
    let form = [("csrf", token.as_str()), ("reason", "gangguan")];
    assert_eq!(
        post_form(&app, &c, &cookie, "/admin/suppliers/sim0/pause", &form).await,
        StatusCode::SEE_OTHER
    );
    assert_eq!(app.order("P-3", "TSEL10", "081234560003").await.0, 201);
    assert_eq!(attempted(&app, "P-3").await, vec!["sim1"]);
    app.verify_clean().await;
}
