//! The reports on a seeded history where every figure is worked out by hand (in the
//! comments): availability, the downtime split, outages cut at the window's edges, MTTR,
//! the credit tier and its rupiah, extra cost and margin lost, orders and resellers
//! affected, announced maintenance excluded and included, and the scorecard's ranking.

use siaga_domain::window::Window;
use siaga_domain::{FailureCode, OrderStatus};
use siaga_store::{Attempt, AttemptState, MaintenanceWindow, Order, SupplierEvent};

use super::period::Span;
use super::*;
use crate::config::contract::{Contract, CreditTier};

const MIN: i64 = 60_000;
/// 2026-11-01T00:00:00+07:00.
const T0: i64 = 1_793_466_000_000;

fn at(min: i64) -> i64 {
    T0 + min * MIN
}

fn breaker(id: i64, supplier: &str, from: &str, to: &str, min: i64) -> (i64, SupplierEvent) {
    (
        id,
        SupplierEvent {
            supplier_id: supplier.into(),
            kind: "breaker".into(),
            from_state: Some(from.into()),
            to_state: Some(to.into()),
            detail: r#"{"reason":"3 health failures in a row","evidence":[{"at":"2026-10-31T17:40:00Z","outcome":"failed","reason":"supplier_down","http_status":500,"latency_ms":20}]}"#.into(),
            at: at(min),
        },
    )
}

fn order(
    n: u32,
    product: &str,
    reseller: &str,
    min: i64,
    status: OrderStatus,
    code: Option<FailureCode>,
) -> Order {
    Order {
        id: format!("ord_{n}"),
        reseller_id: reseller.into(),
        ref_id: format!("R{n}"),
        product: product.into(),
        destination: "081234567890".into(),
        price: if product == "TSEL10" { 10_500 } else { 10_600 },
        max_wait_s: 0,
        status,
        stage: None,
        serial_number: None,
        failure_code: code,
        next_action_at: None,
        wait_until: 0,
        round: 0,
        version: 3,
        created_at: at(min),
        updated_at: at(min),
    }
}

/// An attempt started at the order's time, finished `latency_ms` later.
fn attempt(o: &Order, supplier: &str, cost: i64, state: AttemptState, latency_ms: i64) -> Attempt {
    Attempt {
        id: format!("att_{}_{supplier}", o.id),
        order_id: o.id.clone(),
        seq: 1,
        round: 0,
        supplier_id: supplier.into(),
        sku: "sku".into(),
        cost,
        supplier_ref: format!("ref_{}_{supplier}", o.id),
        state,
        reason: None,
        rc: None,
        http_status: None,
        message: None,
        sn: None,
        inquiries: 0,
        next_inquiry_at: None,
        started_at: o.created_at,
        finished_at: Some(o.created_at + latency_ms),
    }
}

fn kios_contract(exclude: bool) -> Contract {
    Contract {
        uptime_target: Some(99.5),
        exclude_announced_maintenance: exclude,
        credits: vec![
            CreditTier {
                below: 99.5,
                basis_points: 1000,
            },
            CreditTier {
                below: 95.0,
                basis_points: 2500,
            },
            CreditTier {
                below: 88.0,
                basis_points: 5000,
            },
        ],
    }
}

fn terms(exclude: bool) -> Vec<SupplierTerms> {
    vec![
        SupplierTerms {
            id: "kios".into(),
            contract: kios_contract(exclude),
            windows: Vec::new(),
        },
        SupplierTerms {
            id: "cadang".into(),
            contract: Contract::default(),
            // A configured one-off window: 30 min, announced.
            windows: vec![Window::OneOff {
                start_ms: at(600),
                end_ms: at(630),
            }],
        },
    ]
}

fn plan() -> Plan {
    Plan {
        products: vec![
            ProductPlan {
                code: "TSEL10".into(),
                price: 10_500,
                routes: vec![("kios".into(), 10_000), ("cadang".into(), 10_300)],
            },
            ProductPlan {
                code: "XL10".into(),
                price: 10_600,
                routes: vec![("cadang".into(), 10_400)],
            },
        ],
    }
}

/// kios's breaker history (ids as the store gives them).
fn kios_events() -> Vec<(i64, SupplierEvent)> {
    vec![
        breaker(1, "kios", "closed", "open", -10),
        breaker(2, "kios", "open", "half_open", 5),
        breaker(3, "kios", "half_open", "closed", 20),
        breaker(10, "kios", "closed", "open", 100),
        breaker(11, "kios", "open", "half_open", 130),
        breaker(12, "kios", "half_open", "open", 131),
        breaker(13, "kios", "open", "half_open", 159),
        breaker(14, "kios", "half_open", "closed", 160),
        breaker(20, "kios", "closed", "open", 980),
    ]
}

/// kios's announced maintenance: [150, 190).
fn kios_maintenance() -> Vec<MaintenanceWindow> {
    vec![MaintenanceWindow {
        id: 1,
        supplier_id: "kios".into(),
        starts_at: at(150),
        ends_at: at(190),
        note: None,
        source: "cli".into(),
        created_at: T0,
    }]
}

/// The window is [T0, T0 + 1000 min). kios is out [-10, 20) (opened before the window),
/// [100, 160) (half-open and open again inside), and from 980 on, never closed in the
/// history (cut at the window's end); announced maintenance [150, 190).
fn history() -> History {
    use AttemptState::{Failed, Success};
    use OrderStatus::{Failed as OFailed, Success as OSuccess};
    let (events, announced) = (kios_events(), kios_maintenance());
    let mut orders = Vec::new();
    let mut add = |o: Order, atts: Vec<(&str, i64, AttemptState, i64)>| {
        let list = atts
            .into_iter()
            .map(|(s, c, st, l)| attempt(&o, s, c, st, l))
            .collect();
        orders.push((o, list));
    };
    // kios up: two successes (1000 ms, 3000 ms) and a destination refusal (500 ms).
    add(
        order(1, "TSEL10", "r1", 50, OSuccess, None),
        vec![("kios", 10_000, Success, 1_000)],
    );
    add(
        order(2, "TSEL10", "r1", 60, OSuccess, None),
        vec![("kios", 10_000, Success, 3_000)],
    );
    add(
        order(
            3,
            "TSEL10",
            "r2",
            70,
            OFailed,
            Some(FailureCode::DestinationRejected),
        ),
        vec![("kios", 10_000, Failed, 500)],
    );
    // kios out: served by cadang at 10 300 (+300) and charged 10 350 (+350).
    add(
        order(4, "TSEL10", "r1", 110, OSuccess, None),
        vec![("cadang", 10_300, Success, 800)],
    );
    add(
        order(5, "TSEL10", "r2", 120, OSuccess, None),
        vec![("cadang", 10_350, Success, 800)],
    );
    // A destination refusal at cadang while kios is out: not kios's cost.
    add(
        order(
            10,
            "TSEL10",
            "r4",
            130,
            OFailed,
            Some(FailureCode::DestinationRejected),
        ),
        vec![("cadang", 10_300, Failed, 800)],
    );
    // Out and in maintenance, no route: margin 10 500 − 10 000 = 500.
    add(
        order(
            6,
            "TSEL10",
            "r1",
            155,
            OFailed,
            Some(FailureCode::ProductUnavailable),
        ),
        vec![],
    );
    // In maintenance only: +300.
    add(
        order(7, "TSEL10", "r3", 185, OSuccess, None),
        vec![("cadang", 10_300, Success, 800)],
    );
    // Out at the end: cadang refused too, margin 500.
    add(
        order(
            8,
            "TSEL10",
            "r2",
            985,
            OFailed,
            Some(FailureCode::SupplierRejected),
        ),
        vec![("cadang", 10_300, Failed, 800)],
    );
    // Another product, first routed to cadang: nothing to do with kios.
    add(
        order(9, "XL10", "r5", 990, OSuccess, None),
        vec![("cadang", 10_400, Success, 800)],
    );
    History {
        events,
        announced,
        orders,
    }
}

fn window() -> Span {
    Span::new(T0, at(1000))
}

#[test]
fn sla_figures_match_the_hand_computed_ones_with_maintenance_excluded() {
    let r = sla_report(
        &terms(true),
        &plan(),
        &history(),
        window(),
        at(2000),
        "Asia/Jakarta",
    );
    let k = &r.suppliers[0];
    assert_eq!(k.supplier, "kios");
    // Out in the window: [0,20) + [100,160) + [980,1000) = 100 min; maintenance [150,190)
    // = 40 min announced; unannounced = 100 − 10 (the overlap [150,160)) = 90 min.
    assert_eq!(k.unannounced_ms, 90 * MIN);
    assert_eq!(k.announced_ms, 40 * MIN);
    // 1 − 90 / (1000 − 40) = 0.90625.
    assert_eq!(k.availability, 90.625);
    // Three outages cut at the edges: 20, 60, 20 min; longest 60; MTTR 100 / 3.
    let cut: Vec<(i64, i64)> = k
        .outages
        .iter()
        .map(|(id, s)| (*id, s.len() / MIN))
        .collect();
    assert_eq!(cut, vec![(1, 20), (10, 60), (20, 20)]);
    assert_eq!(k.longest_ms(), 60 * MIN);
    assert_eq!(k.mttr_ms(), Some(100.0 * MIN as f64 / 3.0));
    // Attempts: 3, 2 of 3 decided succeeded; latencies 500, 1000, 3000 (nearest rank).
    assert_eq!(k.attempts, 3);
    assert_eq!(k.success_rate, Some(2.0 / 3.0));
    assert_eq!(k.latency_ms, Some([1_000, 3_000, 3_000]));
    // Paid 2 × 10 000; 90.625 < 95: 25 % = 5 000.
    assert_eq!(k.paid, 20_000);
    assert_eq!(k.credit.below, Some(95.0));
    assert_eq!(k.credit.basis_points, 2_500);
    assert_eq!(k.credit.rupiah, 5_000);
    // Extra: 300 + 350 + 300 = 950; margin lost 500 + 500 = 1 000; orders 4,5,6,7,8 of
    // resellers r1, r2, r3.
    assert_eq!(k.cost.extra_cost, 950);
    assert_eq!(k.cost.margin_lost, 1_000);
    assert_eq!(k.cost.total(), 1_950);
    assert_eq!(k.cost.orders_affected, 5);
    assert_eq!(k.cost.resellers_affected, 3);

    let c = &r.suppliers[1];
    assert_eq!(c.supplier, "cadang");
    // The configured window is announced (30 min) and excluded: 100 %.
    assert_eq!((c.announced_ms, c.unannounced_ms), (30 * MIN, 0));
    assert_eq!(c.availability, 100.0);
    assert!(c.outages.is_empty() && c.mttr_ms().is_none());
    // 6 attempts, 4 successes.
    assert_eq!(c.attempts, 6);
    assert_eq!(c.success_rate, Some(4.0 / 6.0));
    assert_eq!(c.credit.rupiah, 0);
    assert_eq!(c.cost, sla::DowntimeCost::default());
}

#[test]
fn announced_maintenance_counts_as_downtime_when_the_contract_says_so() {
    let r = sla_report(
        &terms(false),
        &plan(),
        &history(),
        window(),
        at(2000),
        "Asia/Jakarta",
    );
    let k = &r.suppliers[0];
    // 1 − (90 + 40) / 1000 = 0.87: below 88, so 50 % of 20 000.
    assert_eq!(k.availability, 87.0);
    assert_eq!(k.credit.basis_points, 5_000);
    assert_eq!(k.credit.rupiah, 10_000);
    // cadang keeps the default (excluded).
    assert_eq!(r.suppliers[1].availability, 100.0);
}

#[test]
fn a_window_edge_cuts_an_outage_and_a_running_window_is_measured_to_now() {
    // [10, 110): the first outage keeps [10, 20), the second [100, 110).
    let w = Span::new(at(10), at(110));
    let r = sla_report(
        &terms(true),
        &plan(),
        &history(),
        w,
        at(2000),
        "Asia/Jakarta",
    );
    let k = &r.suppliers[0];
    let cut: Vec<i64> = k.outages.iter().map(|(_, s)| s.len() / MIN).collect();
    assert_eq!(cut, vec![10, 10]);
    assert_eq!(k.unannounced_ms, 20 * MIN);
    // 1 − 20 / 100.
    assert_eq!(k.availability, 80.0);
    // Now is 990: the open outage from 980 is 10 min so far, over a window of 990 min.
    let r = sla_report(
        &terms(true),
        &plan(),
        &history(),
        window(),
        at(990),
        "Asia/Jakarta",
    );
    assert_eq!(r.measured_to, at(990));
    let k = &r.suppliers[0];
    assert_eq!(k.outages.last().map(|(_, s)| s.len()), Some(10 * MIN));
}

#[test]
fn an_outage_a_restart_never_closed_ends_at_the_first_success() {
    let mut h = history();
    // kios answers again at 995 min (after a restart, no close was recorded).
    let o = order(11, "TSEL10", "r1", 994, OrderStatus::Success, None);
    let a = attempt(&o, "kios", 10_000, AttemptState::Success, MIN);
    h.orders.push((o, vec![a]));
    let r = sla_report(
        &terms(true),
        &plan(),
        &h,
        window(),
        at(2000),
        "Asia/Jakarta",
    );
    let k = &r.suppliers[0];
    assert_eq!(k.outages.last().map(|(_, s)| s.len()), Some(15 * MIN));
}

mod outputs;
