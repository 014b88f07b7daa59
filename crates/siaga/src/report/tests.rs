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

#[test]
fn the_scorecard_ranks_the_reliable_route_first_and_counts_the_saving() {
    let (t, p, h) = (terms(true), plan(), history());
    let r = sla_report(&t, &p, &h, window(), at(2000), "Asia/Jakarta");
    let c = scorecard::scorecard(&t, &p, &h, &r.suppliers, window(), at(2000));
    let tsel = &c.products[0];
    assert_eq!(tsel.current, vec!["kios", "cadang"]);
    assert_eq!(tsel.recommended, vec!["cadang", "kios"]);
    // cadang first at 10 300, never down: orders 1 and 2 cost 300 more each, order 5
    // saves 50, orders 6 and 8 (no route) keep 10 500 − 10 300 = 200 each: −150.
    assert_eq!(tsel.saving, -150);
    assert_eq!(tsel.ranked[0].attempts, 5);
    let xl = &c.products[1];
    assert_eq!(xl.recommended, xl.current);
    assert_eq!(xl.saving, 0);
    assert_eq!(c.consider_migration, vec!["kios"]);
}

#[test]
fn equal_availability_ranks_by_success_then_speed_then_cost() {
    let t = vec![
        SupplierTerms {
            id: "a".into(),
            contract: Contract::default(),
            windows: vec![],
        },
        SupplierTerms {
            id: "b".into(),
            contract: Contract::default(),
            windows: vec![],
        },
        SupplierTerms {
            id: "c".into(),
            contract: Contract::default(),
            windows: vec![],
        },
    ];
    let p = Plan {
        products: vec![ProductPlan {
            code: "TSEL10".into(),
            price: 10_500,
            routes: vec![
                ("a".into(), 10_000),
                ("b".into(), 10_100),
                ("c".into(), 10_200),
            ],
        }],
    };
    let mut h = History::default();
    // a: 1 of 2 succeed; b and c: 2 of 2, b slower (2 s) than c (1 s).
    for (n, (s, st, lat)) in [
        ("a", AttemptState::Success, 100),
        ("a", AttemptState::Failed, 100),
        ("b", AttemptState::Success, 2_000),
        ("b", AttemptState::Success, 2_000),
        ("c", AttemptState::Success, 1_000),
        ("c", AttemptState::Success, 1_000),
    ]
    .into_iter()
    .enumerate()
    {
        let o = order(
            n as u32,
            "TSEL10",
            "r1",
            10 + n as i64,
            OrderStatus::Success,
            None,
        );
        let a = attempt(&o, s, 10_000, st, lat);
        h.orders.push((o, vec![a]));
    }
    let r = sla_report(&t, &p, &h, window(), at(2000), "UTC");
    let c = scorecard::scorecard(&t, &p, &h, &r.suppliers, window(), at(2000));
    assert_eq!(c.products[0].recommended, vec!["c", "b", "a"]);
    assert_eq!(c.consider_migration, vec!["a"]);
}

#[test]
fn markdown_has_a_verdict_per_supplier_before_the_table_and_csv_reads_back() {
    let r = sla_report(
        &terms(true),
        &plan(),
        &history(),
        window(),
        at(2000),
        "Asia/Jakarta",
    );
    let md = render::sla_markdown(&r);
    let first_table_line = md.find("| supplier |").expect("table");
    let verdict = "- kios: 3 outages, 1 h 30 min unannounced, availability 90.625 % (below the 99.5 % target), credit 25 % = Rp 5.000 owed, downtime cost Rp 1.950";
    let at_v = md.find(verdict).unwrap_or_else(|| panic!("{md}"));
    assert!(at_v < first_table_line);
    assert!(md.contains("- cadang: 0 outages, 0 min unannounced, availability 100 %, no credit owed, downtime cost Rp 0"), "{md}");
    assert!(md.contains("`siaga report outage 10`"), "{md}");
    let csv = render::sla_csv(&r).expect("csv");
    let mut rd = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = rd
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header, render::CSV_HEADER.to_vec());
    let rows: Vec<csv::StringRecord> = rd.records().collect::<Result<_, _>>().expect("rows");
    assert_eq!(rows.len(), 2);
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    assert_eq!(&rows[0][col("supplier")], "kios");
    assert_eq!(&rows[0][col("availability_percent")], "90.625");
    assert_eq!(&rows[0][col("downtime_unannounced_minutes")], "90");
    assert_eq!(&rows[0][col("credit_rupiah")], "5000");
    assert_eq!(&rows[0][col("extra_cost")], "950");
    assert_eq!(&rows[0][col("resellers_affected")], "3");
    assert_eq!(&rows[1][col("mttr_minutes")], "");
}

#[test]
fn json_uses_the_spec_field_names() {
    let r = sla_report(
        &terms(true),
        &plan(),
        &history(),
        window(),
        at(2000),
        "Asia/Jakarta",
    );
    let v = render::sla_json(&r);
    assert_eq!(v["from"], "2026-10-31T17:00:00Z");
    assert_eq!(v["to"], "2026-11-01T09:40:00Z");
    let k = &v["suppliers"][0];
    assert_eq!(k["supplier"], "kios");
    assert_eq!(k["availability_percent"], 90.625);
    assert_eq!(k["downtime_minutes"]["unannounced"], 90.0);
    assert_eq!(k["downtime_minutes"]["announced"], 40.0);
    assert_eq!(k["outages"], 3);
    assert_eq!(k["longest_outage_minutes"], 60.0);
    assert_eq!(k["mttr_minutes"], 33.33);
    assert_eq!(k["attempts"], 3);
    assert_eq!(k["success_rate"], 0.6667);
    assert_eq!(k["latency_ms"]["p50"], 1000);
    assert_eq!(k["credit"]["percent"], 25.0);
    assert_eq!(k["credit"]["rupiah"], 5000);
    assert_eq!(k["cost_of_downtime_rupiah"]["extra_cost"], 950);
    assert_eq!(k["cost_of_downtime_rupiah"]["margin_lost"], 1000);
    assert_eq!(k["cost_of_downtime_rupiah"]["total"], 1950);
    assert_eq!(k["orders_affected"], 5);
    assert_eq!(k["resellers_affected"], 3);
}

#[test]
fn rupiah_is_written_the_indonesian_way() {
    assert_eq!(render::rupiah(1_234_000), "Rp 1.234.000");
    assert_eq!(render::rupiah(0), "Rp 0");
    assert_eq!(render::rupiah(999), "Rp 999");
    assert_eq!(render::rupiah(-1_000), "-Rp 1.000");
}

#[test]
fn the_evidence_pack_has_the_timeline_samples_and_orders() {
    let e = outage::evidence(10, &plan(), &history(), at(2000)).expect("outage 10");
    assert_eq!(e.supplier, "kios");
    assert_eq!(e.span, Span::new(at(100), at(160)));
    assert!(!e.ongoing);
    // Events 10..14 are inside it.
    assert_eq!(e.timeline.len(), 5);
    assert!(
        e.timeline[0].1.starts_with("circuit closed → open"),
        "{:?}",
        e.timeline
    );
    assert!(
        e.samples[0].contains("reason=supplier_down") && e.samples[0].contains("http_status=500")
    );
    let ids: Vec<&str> = e.orders.iter().map(|o| o.order_id.as_str()).collect();
    assert_eq!(ids, vec!["ord_4", "ord_5", "ord_10", "ord_6"]);
    assert_eq!(e.orders[0].served_by.as_deref(), Some("cadang"));
    // Not an outage's first event: nothing.
    assert!(outage::evidence(11, &plan(), &history(), at(2000)).is_none());
    let open = outage::evidence(20, &plan(), &history(), at(1100)).expect("outage 20");
    assert!(open.ongoing);
    assert_eq!(open.span, Span::new(at(980), at(1100)));
}

#[test]
fn a_window_is_a_month_or_from_and_to() {
    let tz = jiff::tz::TimeZone::get("Asia/Jakarta").expect("tz");
    assert_eq!(
        super::window(Some("2026-11"), None, None, &tz).map(|w| w.start),
        Ok(T0)
    );
    // Across a month's end.
    let w = super::window(
        None,
        Some("2026-11-30T12:00:00+07:00"),
        Some("2026-12-01T12:00:00+07:00"),
        &tz,
    )
    .expect("window");
    assert_eq!(w.len(), 24 * 60 * MIN);
    assert!(super::window(Some("2026-11"), Some("x"), None, &tz).is_err());
    assert!(super::window(
        None,
        Some("2026-11-02T00:00:00Z"),
        Some("2026-11-01T00:00:00Z"),
        &tz
    )
    .is_err());
    assert!(super::window(None, None, None, &tz).is_err());
}
