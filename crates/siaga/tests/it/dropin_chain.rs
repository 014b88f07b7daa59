//! siaga behind siaga (issue #21 item 2): one switch is another's supplier through the
//! drop-in. The downstream switch speaks its own `digiflazz` dialect to the upstream's
//! `/digiflazz/v1`; the upstream's reseller callbacks (`callback_format = "digiflazz"`)
//! are the downstream's supplier reports. The integration test of both faces.

use std::time::Duration;

use siaga::config::{DestinationRule, Product, Route, Supplier};
use siaga_domain::{Operator, ProductCode, Rupiah};
use siaga_suppliers::sim::{ModeRequest, SimMode};

use crate::dropin::digi_reseller_at;
use crate::harness::{receiver, Opts, TestApp};

/// The downstream's supplier `up`: the upstream switch at `base`, as reseller `username`.
fn upstream_supplier(base: &str, username: &str, key: &str, secret: &str) -> Supplier {
    Supplier {
        retired: false,
        id: "up".into(),
        base_url: format!("{base}/digiflazz/v1"),
        username: username.into(),
        key: key.into(),
        callback_secret: Some(secret.into()),
        timeout: Duration::from_secs(5),
        // Digiflazz's own pacing: no inquiry within the test, so only the callback can
        // settle the downstream attempt.
        inquiry_min_interval: Duration::from_secs(60),
        inquiry_max_interval: Duration::from_secs(600),
        max_concurrency: 16,
        latency_target_ms: 2_000,
        testing: false,
        contact_email: None,
        report_after: Duration::from_secs(600),
        low_balance_rupiah: None,
        windows: Vec::new(),
        template: None,
        dialect: siaga::config::Dialect::Digiflazz,
        desk_alert_after: Duration::from_secs(600),
        callback_allow_ips: Vec::new(),
        contract: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_siaga_is_another_siagas_supplier_and_settles_it_by_digiflazz_callback() {
    // Upstream: a switch whose own supplier answers Pending and calls back later.
    let up = TestApp::start(Opts::default()).await;
    up.sims[0]
        .set_mode(ModeRequest {
            mode: SimMode::Pending,
            latency_ms: None,
            fail_rate: None,
            callback_delay_ms: Some(700),
        })
        .await
        .unwrap();
    // Downstream: a switch with no supplier yet.
    let down = TestApp::start(Opts {
        sims: 0,
        products: Vec::new(),
        ..Opts::default()
    })
    .await;
    let (_, unused) = receiver().await;
    let hook = format!("{}/hooks/suppliers/up", down.base);
    let seller = digi_reseller_at(&up, 50_000, &hook, unused).await;

    let mut settings = down.settings.clone();
    settings.suppliers.push(upstream_supplier(
        &up.base,
        &seller.buyer.username,
        &seller.buyer.key,
        &seller.webhook_secret,
    ));
    settings.products.push(Product {
        code: ProductCode::parse("TSEL10").unwrap(),
        name: "Telkomsel 10.000".into(),
        group: "Telkomsel Pulsa".into(),
        price: Rupiah::positive(11_000).unwrap(),
        rule: DestinationRule::Mobile(Operator::Telkomsel),
        routes: vec![Route {
            supplier: "up".into(),
            sku: "TSEL10".into(),
            cost: Rupiah::positive(10_500).unwrap(),
            priority: 0,
        }],
    });
    down.app.apply(settings).expect("applied");

    let (s, o) = down.order("CHAIN-1", "TSEL10", "081234567890").await;
    assert_eq!(s, 201, "{o}");
    let done = down.wait_final("CHAIN-1", Duration::from_secs(30)).await;
    assert_eq!(done["status"], "success", "{done}");
    let sn = done["serial_number"].as_str().unwrap().to_owned();

    // The upstream order: the downstream's attempt reference as its ref_id, the same SN,
    // and the SN the upstream's own supplier gave.
    let detail = down.admin_order(done["order_id"].as_str().unwrap()).await;
    let attempt = &detail["attempts"][0];
    assert_eq!(attempt["supplier"], "up", "{detail}");
    assert_eq!(
        attempt["inquiries"], 0,
        "settled by the callback, not by asking"
    );
    let supplier_ref = attempt["supplier_ref"].as_str().unwrap();
    let upstream = up
        .app
        .store
        .order_by_ref(&seller.buyer.username, supplier_ref)
        .await
        .unwrap()
        .expect("the upstream order");
    assert_eq!(upstream.status.as_str(), "success");
    assert_eq!(upstream.serial_number.as_deref(), Some(sn.as_str()));
    let fulfilled = up.sims[0].fulfilled();
    assert_eq!(fulfilled.len(), 1);
    assert_eq!(fulfilled[0].sn, sn);

    // Money at both ends: the downstream reseller paid 11.000, the downstream paid 10.500.
    assert_eq!(down.balance().await, (100_000 - 11_000, 0));
    let b = up.app.store.balance(&seller.buyer.username).await.unwrap();
    assert_eq!((b.available, b.held), (50_000 - 10_500, 0));
    up.verify_clean().await;
    down.verify_clean().await;
}
