//! The admin dashboard in Debian chromium (SPEC 13), driven by tools/browser/dashboard.mjs
//! through playwright-core: without a session every page lands on the sign-in; signed in
//! with the token through the form, every page answers 200 with no console error and no
//! serious or critical axe-core finding; an order is found by its ref and opened; a
//! deposit through the form moves the balance exactly (and the same form without its CSRF
//! token is refused with 403, moving nothing); a desk order is taken and resolved
//! through the pages; the overview fits a 390 px wide phone; an operator account signs in
//! by name but gets 403 on the key and config pages. With `SIAGA_DASHBOARD_SHOTS=DIR` it
//! also saves the overview's screenshots there.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use siaga::http::dashboard::accounts;
use siaga_domain::Operator;
use siaga_store::OperatorAccount;

use crate::harness::{Opts, TestApp, ADMIN, P};

const OPERATOR: (&str, &str) = ("sari", "sari-password-1");

/// The whole digits of a rupiah text (`Rp 89.500` → 89500).
fn rupiah_of(s: &str) -> i64 {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no amount in {s:?}"))
}

async fn setup() -> (TestApp, String, String) {
    let app = TestApp::start(Opts {
        manual: vec![1],
        products: vec![
            P {
                code: "TSEL10",
                op: Operator::Telkomsel,
                price: 10_500,
                routes: vec![(0, 10_150)],
            },
            P {
                code: "TSELDESK",
                op: Operator::Telkomsel,
                price: 20_500,
                routes: vec![(1, 20_100)],
            },
        ],
        ..Opts::default()
    })
    .await;
    let hash = accounts::hash(OPERATOR.1).unwrap();
    assert!(app
        .app
        .store
        .add_operator(OperatorAccount {
            name: OPERATOR.0.into(),
            role: "operator".into(),
            password_hash: hash,
            created_at: 0,
        })
        .await
        .unwrap());
    let (s, o) = app.order("BRW-1", "TSEL10", "081234560011").await;
    assert_eq!(s, 201, "{o}");
    let order_id = o["order_id"].as_str().unwrap().to_owned();
    app.wait_final("BRW-1", Duration::from_secs(20)).await;
    let (s, o) = app.order("BRW-DESK", "TSELDESK", "081234560012").await;
    assert_eq!(s, 201, "{o}");
    let desk_order = o["order_id"].as_str().unwrap().to_owned();
    let end = Instant::now() + Duration::from_secs(20);
    let settings = app.app.settings.get();
    while siaga::ops::desk::count(app.app.store.as_ref(), &settings)
        .await
        .unwrap()
        == 0
    {
        assert!(
            Instant::now() < end,
            "the desk order never reached the desk"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (app, order_id, desk_order)
}

/// The pages every session opens, and those only the owner may.
fn paths(order_id: &str, rid: &str) -> (Vec<String>, Vec<String>) {
    let pages: Vec<String> = [
        "/admin",
        "/admin?lang=en",
        "/admin/suppliers",
        "/admin/orders",
        &format!("/admin/orders/{order_id}"),
        "/admin/desk",
        "/admin/resellers",
        &format!("/admin/resellers/{rid}"),
        &format!("/admin/resellers/{rid}/keys"),
        &format!("/admin/resellers/{rid}/statement"),
        "/admin/incidents",
        "/admin/subscribers",
        "/admin/vouchers",
        "/admin/reports",
        "/admin/reports?lang=en",
        "/admin/audit",
        "/admin/config",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    let owner_only = vec![
        "/admin/config".to_owned(),
        format!("/admin/resellers/{rid}/keys"),
    ];
    (pages, owner_only)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_chromium_signs_in_finds_deposits_resolves_and_is_accessible() {
    let (app, order_id, desk_order) = setup().await;
    let rid = app.reseller_id.clone();
    let (pages, owner_only) = paths(&order_id, &rid);
    let dir = tempfile::tempdir().unwrap();
    let plan = json!({
        "base": app.base, "token": ADMIN,
        "operator": {"username": OPERATOR.0, "password": OPERATOR.1},
        "ref": "BRW-1", "reseller": rid, "desk_order": desk_order,
        "pages": pages, "owner_only": owner_only,
        "screenshots": std::env::var("SIAGA_DASHBOARD_SHOTS").ok(),
    });
    let plan_path = dir.path().join("plan.json");
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let before = app.balance_unchecked().await;

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("tools/browser/dashboard.mjs");
    let out = tokio::process::Command::new("node")
        .arg(&script)
        .arg(&plan_path)
        .output()
        .await
        .expect("node (tools/browser: npm ci --prefix tools/browser)");
    assert!(
        out.status.success(),
        "dashboard.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();

    for u in r["unsigned"].as_array().unwrap() {
        assert!(
            u["url"].as_str().unwrap().contains("/admin/login?next="),
            "without a session: {u}"
        );
    }
    assert_eq!(r["pages"].as_array().unwrap().len(), pages.len());
    for p in r["pages"].as_array().unwrap() {
        assert_eq!(p["status"], 200, "{p}");
        assert_eq!(p["console_errors"], json!([]), "{p}");
        let bad: Vec<&Value> = p["axe"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(bad.is_empty(), "{}: axe: {bad:?}", p["path"]);
        eprintln!("{}: axe {}", p["path"], p["axe"]);
    }
    assert!(
        r["order_found"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/admin/orders/{order_id}")),
        "{r}"
    );
    let (b, a) = (
        rupiah_of(r["deposit"]["before"].as_str().unwrap()),
        rupiah_of(r["deposit"]["after"].as_str().unwrap()),
    );
    assert_eq!(a, b + 12_345, "{}", r["deposit"]);
    // The same form without its CSRF token, posted by the browser: 403, nothing moved.
    assert_eq!(r["deposit"]["without_csrf"], 403, "{}", r["deposit"]);
    assert_eq!(
        r["deposit"]["after_refused"], r["deposit"]["after"],
        "{}",
        r["deposit"]
    );
    // Available moved by the deposit alone; the desk order's held price was paid out.
    let after = app.balance_unchecked().await;
    assert_eq!(after, (before.0 + 12_345, before.1 - 20_500));
    assert_eq!(r["desk"]["taken"], true, "{r}");
    assert!(
        r["desk"]["resolved_text"]
            .as_str()
            .unwrap()
            .contains("SN-BROWSER-1"),
        "{r}"
    );
    let done = app.wait_final("BRW-DESK", Duration::from_secs(20)).await;
    assert_eq!(done["status"], "success");
    let w = r["phone_scroll_width"].as_i64().unwrap();
    assert!(w <= 390, "sideways scroll on a phone: {w}");
    for o in r["operator"].as_array().unwrap() {
        assert_eq!(o["status"], 403, "an operator on {o}");
    }
    app.verify_clean().await;
}
