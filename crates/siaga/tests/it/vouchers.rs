//! Compensation vouchers (SPEC 10): issued to the resellers an incident affected, once per
//! incident; redeemed through the ledger by their owner only, once.

use serde_json::{json, Value};
use siaga_suppliers::sim::SimMode;

use crate::harness::{Opts, TestApp};

async fn redeem(app: &TestApp, key: &str, code: &str) -> (u16, Value) {
    let r = app
        .http
        .post(format!("{}/v1/vouchers/redeem", app.base))
        .bearer_auth(key)
        .header("accept-language", "en")
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn affected_resellers_get_one_voucher_each_and_redeem_it_once() {
    let app = TestApp::start(Opts::default()).await;
    // A second reseller who orders nothing during the incident.
    let (s, other) = app
        .admin_post("/admin/api/resellers", json!({"name": "Konter Lain"}))
        .await;
    assert_eq!(s, 201, "{other}");
    let other_key = other["api_key"].as_str().unwrap().to_owned();

    let (s, inc) = app.admin_post("/admin/api/incidents",
        json!({"title": "Telkomsel gangguan", "body": "Kami menyelidiki.", "components": ["telkomsel Pulsa"]}),
    )
    .await;
    assert_eq!(s, 201, "{inc}");
    let incident = inc["id"].as_i64().unwrap();
    // Every route down: the order fails at once (max_wait_s 0).
    app.set_mode(0, SimMode::Down).await;
    app.set_mode(1, SimMode::Down).await;
    let (s, o) = app.order("VC-1", "TSEL10", "081234567111").await;
    assert_eq!(s, 201, "{o}");
    assert_eq!(
        app.wait_final("VC-1", std::time::Duration::from_secs(20))
            .await["status"],
        "failed"
    );
    let before = app.balance().await;

    let (s, v) = app
        .admin_post(
            "/admin/api/vouchers",
            json!({"incident": incident, "amount": 5_000}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["affected_resellers"], 1, "{v}");
    let issued = v["issued"].as_array().unwrap();
    assert_eq!(issued.len(), 1, "{v}");
    assert_eq!(issued[0]["reseller_id"], app.reseller_id.as_str());
    let code = issued[0]["code"].as_str().unwrap().to_owned();
    assert!(code.starts_with("SIAGA-"), "{code}");
    // Issuing again for the same incident issues nothing new.
    let (s, again) = app
        .admin_post(
            "/admin/api/vouchers",
            json!({"incident": incident, "amount": 5_000}),
        )
        .await;
    assert_eq!(s, 201, "{again}");
    assert_eq!(again["issued"].as_array().unwrap().len(), 0, "{again}");

    // Only its owner can use it; a typo is caught by the check character.
    let (s, e) = redeem(&app, &other_key, &code).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("voucher_not_found")),
        "{e}"
    );
    let mut typo = code.clone().into_bytes();
    let last = typo.len() - 1;
    typo[last] = if typo[last] == b'A' { b'B' } else { b'A' };
    let (s, e) = redeem(&app, &app.key, &String::from_utf8(typo).unwrap()).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("invalid_voucher")),
        "{e}"
    );
    // Typed loosely (lower case, spaces for dashes) it still works, once.
    let loose = code.to_lowercase().replace('-', " ");
    let (s, r) = redeem(&app, &app.key, &loose).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["amount"], 5_000);
    assert_eq!(app.balance().await, (before.0 + 5_000, before.1));
    let (s, e) = redeem(&app, &app.key, &code).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("voucher_redeemed")),
        "{e}"
    );
    assert_eq!(app.balance().await, (before.0 + 5_000, before.1));
    // The statement shows it; the books balance.
    let (_, st) = app.get("/v1/statement").await;
    assert!(st.to_string().contains("voucher"), "{st}");
    app.verify_clean().await;
}
