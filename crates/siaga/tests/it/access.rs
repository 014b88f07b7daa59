//! Per-reseller API access rules (SPEC 5): an IP allowlist (403 naming the address the
//! request came from, nothing written) and required request signing (401 when the
//! signature is missing, stale or wrong; the signed request goes through), set through
//! the admin API and the CLI.

use serde_json::{json, Value};

use crate::harness::{Opts, TestApp, ADMIN};

async fn set_access(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    let r = app
        .http
        .put(format!("{}/admin/api/resellers/{id}/access", app.base))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Posts `body` to `/v1/orders` with a signature made at `ts` (None: unsigned).
async fn post_signed(app: &TestApp, body: &str, ts: Option<i64>, sign_body: &str) -> (u16, Value) {
    let mut req = app
        .http
        .post(format!("{}/v1/orders", app.base))
        .bearer_auth(&app.key)
        .header("content-type", "application/json")
        .header("accept-language", "en")
        .body(body.to_owned());
    if let Some(ts) = ts {
        req = req.header("x-siaga-timestamp", ts.to_string()).header(
            "x-siaga-signature",
            siaga::http::access::sign(&app.webhook_secret, ts, sign_body.as_bytes()),
        );
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ip_allowlist_refuses_other_addresses_and_changes_nothing() {
    let app = TestApp::start(Opts::default()).await;
    let id = app.reseller_id.clone();
    let (s, v) = set_access(
        &app,
        &id,
        json!({"ip_allowlist": ["10.9.9.9", "192.0.2.0/24"], "require_signature": false}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ip_allowlist"][1], "192.0.2.0/24");
    let before = app.balance_unchecked().await;
    let (s, o) = app.order("IP-1", "TSEL10", "081234567001").await;
    assert_eq!(s, 403, "{o}");
    assert_eq!(o["error"]["code"], "forbidden");
    assert!(
        o["error"]["message"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1"),
        "{o}"
    );
    let (s, _) = app.get("/v1/orders/IP-1").await;
    assert_eq!(s, 403, "every /v1 call is checked");
    assert_eq!(app.balance_unchecked().await, before, "nothing was written");
    // The reseller's server is on the list: served.
    let (s, v) = set_access(
        &app,
        &id,
        json!({"ip_allowlist": ["127.0.0.0/8"], "require_signature": false}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, o) = app.order("IP-1", "TSEL10", "081234567001").await;
    assert_eq!(s, 201, "{o}");
    // The owner sees the rules; bad input is a 400 naming the field; unknown reseller 404.
    let list: Value = app.admin_get("/admin/api/resellers").await;
    assert_eq!(list[0]["ip_allowlist"][0], "127.0.0.0/8", "{list}");
    let (s, v) = set_access(
        &app,
        &id,
        json!({"ip_allowlist": ["kantor"], "require_signature": false}),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ip_allowlist"),
        "{v}"
    );
    let (s, _) = set_access(
        &app,
        &id,
        json!({"ip_allowlist": "127.0.0.1", "require_signature": false}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = set_access(&app, &id, json!({"ip_allowlist": []})).await;
    assert_eq!(s, 400, "require_signature is required");
    let (s, _) = set_access(
        &app,
        "rsl_nope",
        json!({"ip_allowlist": [], "require_signature": false}),
    )
    .await;
    assert_eq!(s, 404);
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_signing_refuses_unsigned_stale_and_forged_requests() {
    let app = TestApp::start(Opts::default()).await;
    let id = app.reseller_id.clone();
    let (s, v) = set_access(
        &app,
        &id,
        json!({"ip_allowlist": [], "require_signature": true}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let body =
        json!({"ref_id": "SIG-1", "product": "TSEL10", "destination": "081234567002"}).to_string();
    let before = app.balance_unchecked().await;
    let (s, o) = post_signed(&app, &body, None, "").await;
    assert_eq!(s, 401, "{o}");
    assert!(
        o["error"]["message"]
            .as_str()
            .unwrap()
            .contains("X-Siaga-Signature"),
        "{o}"
    );
    let (s, o) = post_signed(&app, &body, Some(now_s() - 301), &body).await;
    assert_eq!(s, 401, "stale: {o}");
    assert!(
        o["error"]["message"].as_str().unwrap().contains("off"),
        "{o}"
    );
    let forged = body.replace("081234567002", "081234567003");
    let (s, o) = post_signed(&app, &forged, Some(now_s()), &body).await;
    assert_eq!(s, 401, "body changed after signing: {o}");
    assert_eq!(app.balance_unchecked().await, before, "nothing was written");
    let (s, o) = post_signed(&app, &body, Some(now_s()), &body).await;
    assert_eq!(s, 201, "{o}");
    // A GET signs the empty body.
    let ts = now_s();
    let r = app
        .http
        .get(format!("{}/v1/balance", app.base))
        .bearer_auth(&app.key)
        .header("x-siaga-timestamp", ts.to_string())
        .header(
            "x-siaga-signature",
            siaga::http::access::sign(&app.webhook_secret, ts, b""),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.verify_clean().await;
}

/// The `/v1` check keeps a key it authenticated for a moment (`keycache.rs`); a rotation
/// through the admin API is in force at once all the same: the old key is refused on the
/// very next request, the new one served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_refused_at_once_though_it_was_just_used() {
    let app = TestApp::start(Opts::default()).await;
    let id = app.reseller_id.clone();
    let balance = |key: String| {
        let url = format!("{}/v1/balance", app.base);
        let http = app.http.clone();
        async move {
            let r = http.get(url).bearer_auth(key).send().await.unwrap();
            r.status().as_u16()
        }
    };
    // Used twice: the second answer comes from the kept key.
    assert_eq!(balance(app.key.clone()).await, 200);
    assert_eq!(balance(app.key.clone()).await, 200);
    let r = app
        .http
        .post(format!("{}/admin/api/resellers/{id}/rotate-keys", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let creds: Value = r.json().await.unwrap();
    let new_key = creds["api_key"].as_str().expect("a new api_key").to_owned();
    assert_eq!(balance(app.key.clone()).await, 401, "the old key, at once");
    assert_eq!(balance(new_key).await, 200, "the new key");
}
