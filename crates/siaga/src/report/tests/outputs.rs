//! The scorecard's ranking, the Markdown, CSV and JSON outputs, rupiah, the evidence pack
//! and report windows, on the seeded history of the parent module.

use siaga_domain::OrderStatus;
use siaga_store::AttemptState;

use super::super::period::Span;
use super::super::*;
use super::{at, attempt, history, order, plan, terms, window, MIN, T0};
use crate::config::contract::Contract;

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
        crate::report::window(Some("2026-11"), None, None, &tz).map(|w| w.start),
        Ok(T0)
    );
    // Across a month's end.
    let w = crate::report::window(
        None,
        Some("2026-11-30T12:00:00+07:00"),
        Some("2026-12-01T12:00:00+07:00"),
        &tz,
    )
    .expect("window");
    assert_eq!(w.len(), 24 * 60 * MIN);
    assert!(crate::report::window(Some("2026-11"), Some("x"), None, &tz).is_err());
    assert!(crate::report::window(
        None,
        Some("2026-11-02T00:00:00Z"),
        Some("2026-11-01T00:00:00Z"),
        &tz
    )
    .is_err());
    assert!(crate::report::window(None, None, None, &tz).is_err());
}
