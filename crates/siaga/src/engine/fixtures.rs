//! Test values for the engine's pure decisions: a two-route config, orders, attempts and
//! replies at fixed times (no store, no server).

use std::path::Path;

use siaga_domain::{OrderStatus, Outcome, Stage};
use siaga_store::{Attempt, AttemptState, Order};
use siaga_suppliers::Reply;

use crate::config::{self, Settings};

/// The time every fixture starts at (ms since the epoch).
pub const T0: i64 = 1_700_000_000_000;

/// Product TSEL10 (price 10 500) with route `a`/a10 (cost 10 150, inquiries every 60 s
/// doubling to 600 s) before route `b`/b10 (cost 10 200, 30 s doubling to 100 s);
/// manual review after one hour.
const CONFIG: &str = r#"
[orders]
manual_review_after_s = 3600

[[suppliers]]
id = "a"
base_url = "http://127.0.0.1:9"
key_env = "K"
inquiry_min_interval_s = 60
inquiry_max_interval_s = 600

[[suppliers]]
id = "b"
base_url = "http://127.0.0.1:9"
key_env = "K"
inquiry_min_interval_s = 30
inquiry_max_interval_s = 100

[[products]]
code = "TSEL10"
name = "Telkomsel 10.000"
operator = "telkomsel"
group = "Telkomsel Pulsa"
price = 10500
routes = [{ supplier = "a", sku = "a10", cost = 10150, priority = 1 },
          { supplier = "b", sku = "b10", cost = 10200, priority = 2 }]
"#;

pub fn settings() -> Settings {
    let cfg = config::parse(CONFIG, "t.toml", &[]).expect("fixture config parses");
    config::validate(&cfg, CONFIG, "t.toml", Path::new("/tmp"), &|_| {
        Some("k".into())
    })
    .expect("fixture config is valid")
}

/// A pending order of TSEL10 taken at [`T0`], dispatching, waiting at most 15 minutes.
pub fn order() -> Order {
    Order {
        id: "ord_1".into(),
        reseller_id: "res_1".into(),
        ref_id: "ref-1".into(),
        product: "TSEL10".into(),
        destination: "081234567890".into(),
        price: 10_500,
        max_wait_s: 900,
        status: OrderStatus::Pending,
        stage: Some(Stage::Dispatching),
        serial_number: None,
        failure_code: None,
        next_action_at: None,
        wait_until: T0 + 900_000,
        round: 0,
        version: 3,
        created_at: T0,
        updated_at: T0,
    }
}

/// Attempt number `seq` of [`order`] in round 0 on `supplier` (sku `<supplier>10`),
/// started at [`T0`], in `state`.
pub fn attempt(seq: i64, supplier: &str, state: AttemptState) -> Attempt {
    Attempt {
        id: format!("att_{seq}"),
        order_id: "ord_1".into(),
        seq,
        round: 0,
        supplier_id: supplier.into(),
        sku: format!("{supplier}10"),
        cost: if supplier == "a" { 10_150 } else { 10_200 },
        supplier_ref: format!("ref{seq}"),
        state,
        reason: None,
        rc: None,
        http_status: None,
        message: None,
        sn: None,
        inquiries: 0,
        next_inquiry_at: None,
        started_at: T0,
        finished_at: None,
    }
}

/// A failed attempt with `reason`.
pub fn failed(seq: i64, supplier: &str, reason: siaga_domain::FailReason) -> Attempt {
    Attempt {
        reason: Some(reason.as_str().into()),
        finished_at: Some(T0),
        ..attempt(seq, supplier, AttemptState::Failed)
    }
}

pub fn reply(outcome: Outcome) -> Reply {
    Reply::bare(outcome, "fixture")
}
