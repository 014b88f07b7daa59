//! The notifier watcher's decisions, as pure functions (values in, decision out): which
//! product groups a supplier's trouble touches, which owner alert a supplier event
//! deserves, which maintenance phases to announce, when the manual-review alert is due and
//! what an ongoing outage calls for. The watcher (`notify::watch`) reads the store and the
//! live health, calls these and writes the notices.

use serde_json::json;
use siaga_store::{MaintenanceWindow, NoticeBody, SupplierEvent};

use super::super::render;
use crate::config::Product;

/// The product groups `supplier`'s maintenance or trouble touches, in two lists: routed
/// to a backup meanwhile, or held (see [`crate::config::affected_groups`]).
pub(super) fn affected(products: &[Product], supplier: &str) -> (Vec<String>, Vec<String>) {
    crate::config::affected_groups(products, supplier)
}

/// The owner alert a supplier event calls for.
#[derive(Debug)]
pub(super) struct EventAlert {
    pub topic: String,
    pub body: NoticeBody,
    /// The new value of the supplier's `outage:` mark (its start; empty when over).
    pub outage: Option<String>,
    /// The outage that just ended (its start), for the recovery note to the supplier.
    pub ended: Option<i64>,
}

fn alert(topic: String, body: NoticeBody) -> Option<EventAlert> {
    Some(EventAlert {
        topic,
        body,
        outage: None,
        ended: None,
    })
}

/// The alert for one supplier event, if it deserves one. `down_since`: the start of the
/// outage already told (a second "open" is a failed trial of the same outage).
pub(super) fn event_alert(e: &SupplierEvent, down_since: Option<i64>) -> Option<EventAlert> {
    let s = &e.supplier_id;
    let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap_or_default();
    match (e.kind.as_str(), e.to_state.as_deref()) {
        ("breaker", Some("open")) => {
            if down_since.is_some() {
                return None;
            }
            let reason = detail.get("reason").and_then(|r| r.as_str()).unwrap_or("");
            let at = crate::clock::wib(e.at);
            let body = render::alert(
                "supplier_down",
                format!("Pemasok {s} gangguan / Supplier {s} down"),
                format!("Pemasok {s} tidak dapat dipakai sejak {at} ({reason}). Pesanan dialihkan ke rute cadangan bila ada."),
                format!("Supplier {s} is unusable since {at} ({reason}). Orders go to backup routes where there are any."),
                detail,
            );
            Some(EventAlert {
                outage: Some(e.at.to_string()),
                ..alert(format!("alert:supplier:{s}"), body)?
            })
        }
        ("breaker", Some("closed")) => {
            let since = down_since?;
            Some(EventAlert {
                outage: Some(String::new()),
                ended: Some(since),
                ..alert(
                    format!("alert:supplier:{s}"),
                    recovered_alert(s, e.at, detail),
                )?
            })
        }
        (kind, _) => other_alert(kind, s, detail),
    }
}

/// Alerts for events that are not about the breaker.
fn other_alert(kind: &str, s: &str, detail: serde_json::Value) -> Option<EventAlert> {
    let (topic, body) = match kind {
        "low_balance" => (
            format!("alert:balance:{s}"),
            render::alert(
                "low_balance",
                format!("Saldo pemasok {s} menipis / Supplier {s} balance low"),
                format!("Saldo deposit di {s}: Rp{}. Segera isi ulang.", detail["balance"]),
                format!("Deposit balance at {s}: Rp{}. Top it up soon.", detail["balance"]),
                detail,
            ),
        ),
        "cost_above_price" => (
            format!("alert:cost:{s}:{}", detail["sku"].as_str().unwrap_or("")),
            render::alert(
                "cost_above_price",
                format!("Harga modal di atas harga jual / Cost above price: {s}"),
                format!("Rute {s} untuk {} kini Rp{} di atas harga jual Rp{}; rute ini tidak dipakai.", detail["product"], detail["cost"], detail["price"]),
                format!("Route {s} for {} now costs Rp{}, above the price Rp{}; it is not used.", detail["product"], detail["cost"], detail["price"]),
                detail,
            ),
        ),
        "charged_above_cost" => (
            format!("alert:charged:{s}:{}", detail["sku"].as_str().unwrap_or("")),
            render::alert(
                "charged_above_cost",
                format!("Pemasok {s} menaikkan harga / Supplier {s} charges more"),
                format!("{s} menagih Rp{} untuk {} (sebelumnya Rp{}); harga jual Rp{}. Rute memakai harga baru.", detail["cost"], detail["product"], detail["old_cost"], detail["price"]),
                format!("{s} charged Rp{} for {} (was Rp{}); the price is Rp{}. Routing now uses the new cost.", detail["cost"], detail["product"], detail["old_cost"], detail["price"]),
                detail,
            ),
        ),
        "config_error" => (
            format!("alert:config:{s}"),
            render::alert(
                "config_error",
                format!("Kesalahan konfigurasi di pemasok {s} / Config error at supplier {s}"),
                format!("Pemasok {s} menolak permintaan kami karena konfigurasi (rc {}): {}", detail["rc"], detail["message"]),
                format!("Supplier {s} refused our request for a configuration reason (rc {}): {}", detail["rc"], detail["message"]),
                detail,
            ),
        ),
        "contradicting_callback" => {
            let (text_id, text_en) = contradiction_words(s, &detail);
            (
                format!("alert:contradiction:{s}"),
                render::alert(
                    "contradicting_callback",
                    format!("Jawaban bertentangan dari {s} / Contradicting answer from {s}"),
                    text_id,
                    text_en,
                    detail,
                ),
            )
        }
        _ => return None,
    };
    alert(topic, body)
}

/// The words of a `contradicting_callback` alert: which order, which answer (the request's
/// reply, an inquiry's or the supplier's callback), which fields, and what was done.
fn contradiction_words(s: &str, detail: &serde_json::Value) -> (String, String) {
    let order = detail["order_id"].as_str().unwrap_or("?");
    let source = detail["source"].as_str().unwrap_or("callback");
    let fields: Vec<&str> = detail["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let fields = if fields.is_empty() {
        "status".to_owned()
    } else {
        fields.join(", ")
    };
    if detail["settled"].as_bool().unwrap_or(false) {
        (
            format!("Pemasok {s} mengirim {source} tentang pesanan {order} yang sudah selesai, dan isinya bertentangan dengan catatan kami ({fields}). Tidak ada yang diubah; periksa buktinya di dasbor."),
            format!("Supplier {s} sent a {source} about order {order}, already settled, that contradicts our record ({fields}). Nothing was changed; check the evidence on the dashboard."),
        )
    } else {
        (
            format!("Jawaban {s} ({source}) tentang pesanan {order} bertentangan dengan transaksinya ({fields}): tidak diterapkan. Statusnya ditanyakan lagi ke {s}, lalu ditinjau manual bila tetap tidak jelas. Periksa buktinya di dasbor."),
            format!("An answer from {s} ({source}) about order {order} contradicts its attempt ({fields}): it was not applied. The attempt is inquired again at {s}, and goes to manual review if it stays unclear. Check the evidence on the dashboard."),
        )
    }
}

pub(super) fn recovered_alert(s: &str, at: i64, detail: serde_json::Value) -> NoticeBody {
    let at = crate::clock::wib(at);
    render::alert(
        "supplier_recovered",
        format!("Pemasok {s} pulih / Supplier {s} recovered"),
        format!("Pemasok {s} kembali normal sejak {at}."),
        format!("Supplier {s} is healthy again since {at}."),
        detail,
    )
}

/// The owner alert listing the orders in manual review, when one newer than the last told
/// (`last`) is among them: (the newest's time, for the mark; the alert).
pub(super) fn review_alert(
    orders: &[(String, String, i64)],
    last: i64,
) -> Option<(i64, NoticeBody)> {
    let newest = orders.iter().map(|o| o.2).max()?;
    if newest <= last {
        return None;
    }
    let refs: Vec<String> = orders
        .iter()
        .map(|(id, r, _)| format!("{id} ({r})"))
        .collect();
    let n = orders.len();
    let body = render::alert(
        "manual_review",
        format!("{n} pesanan menunggu tinjauan / {n} orders in manual review"),
        format!("Pesanan ini hasilnya belum pasti dan menunggu keputusan Anda (siaga order resolve): {}", refs.join(", ")),
        format!("These orders have an unknown outcome and wait for your decision (siaga order resolve): {}", refs.join(", ")),
        json!({"orders": refs}),
    );
    Some((newest, body))
}

/// Which phases of a maintenance window's news to send now.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Phases {
    /// The window is new to the cursor: announce it (false: only move the cursor past it).
    pub scheduled: bool,
    /// New to the cursor, nothing to announce: move the cursor past it.
    pub skip: bool,
    pub started: bool,
    pub completed: bool,
}

/// What was already sent about a window (its marks).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Told {
    pub scheduled: bool,
    pub started: bool,
    pub completed: bool,
}

/// The phases of `w` to send at `now`. `after`: the maintenance cursor; `touches`: whether
/// the window affects any product group. "Completed" follows whatever was told (a window
/// missed while siaga was down still gets its end), and nothing if nothing was.
pub(super) fn phases(
    w: &MaintenanceWindow,
    now: i64,
    after: i64,
    touches: bool,
    told: Told,
) -> Phases {
    let mut out = Phases::default();
    if w.id > after {
        // Announced ahead: "scheduled". Announced once it has begun: "started" says it all
        // (one notice, not two at once).
        if w.starts_at > now && touches {
            out.scheduled = true;
        } else {
            out.skip = true;
        }
    }
    if !touches {
        return out;
    }
    out.started = now >= w.starts_at && now < w.ends_at && !told.started;
    let told_any = told.started || told.scheduled || out.started || out.scheduled;
    out.completed = now >= w.ends_at && told_any && !told.completed;
    out
}

/// What an outage still open (its `outage:` mark set) calls for at `now`.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum OutageStep {
    /// The live circuit is closed: the outage is over (its "closed" event was lost or
    /// came before a restart).
    Over,
    /// Report it to the supplier's contact (once per outage).
    Report,
    Nothing,
}

/// The facts about one supplier's open outage.
#[derive(Clone, Copy, Debug)]
pub(super) struct OutageFacts<'a> {
    pub now: i64,
    pub since: i64,
    pub circuit_closed: bool,
    pub has_contact: bool,
    pub report_after_ms: i64,
    pub in_window: bool,
    /// The `report:` mark: the start of the outage last reported, or a recovery note.
    pub reported: Option<&'a str>,
    pub smtp: bool,
}

pub(super) fn outage_step(f: OutageFacts) -> OutageStep {
    if f.circuit_closed {
        return OutageStep::Over;
    }
    let already = f.reported == Some(f.since.to_string().as_str());
    if !f.has_contact || f.now - f.since < f.report_after_ms || f.in_window || already || !f.smtp {
        return OutageStep::Nothing;
    }
    OutageStep::Report
}

#[cfg(test)]
mod tests {
    use siaga_domain::{Operator, ProductCode, Rupiah};

    use super::*;
    use crate::config::{DestinationRule, Route};

    /// 1 Dec 2026 10:00 WIB.
    const T0: i64 = 1_796_094_000_000;
    const MIN: i64 = 60_000;

    fn product(code: &str, group: &str, suppliers: &[&str]) -> Product {
        Product {
            code: ProductCode::parse(code).unwrap(),
            name: code.into(),
            group: group.into(),
            price: Rupiah::positive(10_000).unwrap(),
            rule: DestinationRule::Mobile(Operator::Telkomsel),
            routes: suppliers
                .iter()
                .map(|s| Route {
                    supplier: s.to_string(),
                    sku: format!("{code}-{s}"),
                    cost: Rupiah::positive(9_000).unwrap(),
                    priority: 0,
                })
                .collect(),
        }
    }

    fn event(kind: &str, to: Option<&str>, detail: &str) -> SupplierEvent {
        SupplierEvent {
            supplier_id: "alpha".into(),
            kind: kind.into(),
            from_state: None,
            to_state: to.map(str::to_owned),
            detail: detail.into(),
            at: T0,
        }
    }

    #[test]
    fn a_group_is_routed_only_if_every_product_has_another_supplier() {
        let products = [
            product("TSEL5", "Pulsa", &["alpha", "beta"]),
            product("TSEL10", "Pulsa", &["alpha", "beta"]),
            product("PLN20", "PLN", &["alpha", "beta"]),
            product("PLN50", "PLN", &["alpha"]),
            product("DATA1", "Data", &["beta"]),
            // Only a backup there: the group sells as before.
            product("DATA2", "Data", &["beta", "alpha"]),
        ];
        let (routed, held) = affected(&products, "alpha");
        assert_eq!((routed, held), (vec!["Pulsa".into()], vec!["PLN".into()]));
        assert_eq!(affected(&products, "gamma"), (vec![], vec![]));
    }

    #[test]
    fn a_breaker_opening_alerts_once_per_outage_and_closing_ends_it() {
        let open = event("breaker", Some("open"), r#"{"reason":"timeouts"}"#);
        let a = event_alert(&open, None).unwrap();
        assert_eq!(a.topic, "alert:supplier:alpha");
        assert_eq!((a.outage, a.ended), (Some(T0.to_string()), None));
        assert!(
            a.body.text.contains("1 Dec 2026 10:00 WIB (timeouts)"),
            "{}",
            a.body.text
        );
        // A failed trial reopens the breaker: the same outage, no second alert.
        assert!(event_alert(&open, Some(T0 - MIN)).is_none());
        let closed = event("breaker", Some("closed"), "{}");
        assert!(event_alert(&closed, None).is_none());
        let a = event_alert(&closed, Some(T0 - MIN)).unwrap();
        assert_eq!((a.outage.as_deref(), a.ended), (Some(""), Some(T0 - MIN)));
        assert_eq!(a.body.kind, "alert.supplier_recovered");
    }

    #[test]
    fn other_events_get_their_own_topics_and_unknown_ones_none() {
        let low = event_alert(&event("low_balance", None, r#"{"balance":5000}"#), None).unwrap();
        assert_eq!(low.topic, "alert:balance:alpha");
        assert!(low.body.text.contains("Rp5000"));
        assert_eq!((low.outage, low.ended), (None, None));
        let cost = event(
            "cost_above_price",
            None,
            r#"{"sku":"T5","product":"TSEL5"}"#,
        );
        assert_eq!(
            event_alert(&cost, None).unwrap().topic,
            "alert:cost:alpha:T5"
        );
        let c = event(
            "contradicting_callback",
            Some("success"),
            r#"{"source":"inquiry","fields":["customer_no","buyer_sku_code"],"order_id":"ord_9"}"#,
        );
        let a = event_alert(&c, None).unwrap();
        assert_eq!(a.topic, "alert:contradiction:alpha");
        assert_eq!(a.body.kind, "alert.contradicting_callback");
        assert!(
            a.body.text.contains("ord_9")
                && a.body.text.contains("(inquiry)")
                && a.body.text.contains("customer_no, buyer_sku_code")
                && a.body.text.contains("not applied"),
            "{}",
            a.body.text
        );
        let settled = event(
            "contradicting_callback",
            Some("success"),
            r#"{"source":"callback","settled":true,"fields":[],"order_id":"ord_8"}"#,
        );
        let a = event_alert(&settled, None).unwrap();
        assert!(a.body.text.contains("already settled"), "{}", a.body.text);
        assert!(event_alert(&event("probe", None, "{}"), None).is_none());
        assert!(event_alert(&event("breaker", Some("half_open"), "{}"), None).is_none());
    }

    #[test]
    fn the_review_alert_is_due_only_for_a_newer_order() {
        let orders = vec![
            ("o1".to_string(), "r1".to_string(), T0),
            ("o2".to_string(), "r2".to_string(), T0 + MIN),
        ];
        assert!(review_alert(&[], 0).is_none());
        assert!(review_alert(&orders, T0 + MIN).is_none());
        let (newest, body) = review_alert(&orders, T0).unwrap();
        assert_eq!(newest, T0 + MIN);
        assert!(body.subject.starts_with("2 pesanan"), "{}", body.subject);
        assert!(body.text.contains("o1 (r1), o2 (r2)"));
    }

    fn window(id: i64, starts_at: i64, ends_at: i64) -> MaintenanceWindow {
        MaintenanceWindow {
            id,
            supplier_id: "alpha".into(),
            starts_at,
            ends_at,
            note: None,
            source: "cli".into(),
            created_at: T0,
        }
    }

    #[test]
    fn maintenance_is_scheduled_started_and_completed_once_each() {
        let w = window(5, T0 + 10 * MIN, T0 + 20 * MIN);
        let none = Told::default();
        // New to the cursor, ahead: scheduled only.
        let p = phases(&w, T0, 4, true, none);
        assert_eq!(
            p,
            Phases {
                scheduled: true,
                ..Phases::default()
            }
        );
        // Already past the cursor and told: nothing until it starts.
        let told = Told {
            scheduled: true,
            ..none
        };
        assert_eq!(phases(&w, T0, 5, true, told), Phases::default());
        let p = phases(&w, T0 + 10 * MIN, 5, true, told);
        assert_eq!(
            p,
            Phases {
                started: true,
                ..Phases::default()
            }
        );
        let told = Told {
            started: true,
            ..told
        };
        assert_eq!(phases(&w, T0 + 15 * MIN, 5, true, told), Phases::default());
        let p = phases(&w, T0 + 20 * MIN, 5, true, told);
        assert_eq!(
            p,
            Phases {
                completed: true,
                ..Phases::default()
            }
        );
        let told = Told {
            completed: true,
            ..told
        };
        assert_eq!(phases(&w, T0 + 30 * MIN, 5, true, told), Phases::default());
    }

    #[test]
    fn a_window_missed_or_touching_nothing_only_moves_the_cursor() {
        // Over before siaga saw it, never told: the cursor moves, nothing is sent.
        let w = window(6, T0 - 20 * MIN, T0 - 10 * MIN);
        let p = phases(&w, T0, 5, true, Told::default());
        assert_eq!(
            p,
            Phases {
                skip: true,
                ..Phases::default()
            }
        );
        // A window on a supplier no product uses.
        let w = window(7, T0 - MIN, T0 + MIN);
        let p = phases(&w, T0, 5, false, Told::default());
        assert_eq!(
            p,
            Phases {
                skip: true,
                ..Phases::default()
            }
        );
        // Seen first while running: one notice, "started" (the cursor moves with it).
        let p = phases(&w, T0, 5, true, Told::default());
        assert_eq!(
            p,
            Phases {
                skip: true,
                started: true,
                ..Phases::default()
            }
        );
    }

    #[test]
    fn an_outage_is_reported_once_after_the_wait_and_over_when_the_circuit_closes() {
        let f = OutageFacts {
            now: T0 + 30 * MIN,
            since: T0,
            circuit_closed: false,
            has_contact: true,
            report_after_ms: 30 * MIN,
            in_window: false,
            reported: None,
            smtp: true,
        };
        assert_eq!(outage_step(f), OutageStep::Report);
        assert_eq!(
            outage_step(OutageFacts {
                now: T0 + 30 * MIN - 1,
                ..f
            }),
            OutageStep::Nothing
        );
        let since = T0.to_string();
        let told = OutageFacts {
            reported: Some(&since),
            ..f
        };
        assert_eq!(outage_step(told), OutageStep::Nothing);
        // A recovery note for an earlier outage does not stop this one's report.
        let earlier = format!("recovered:{}", T0 - 60 * MIN);
        assert_eq!(
            outage_step(OutageFacts {
                reported: Some(&earlier),
                ..f
            }),
            OutageStep::Report
        );
        assert_eq!(
            outage_step(OutageFacts {
                in_window: true,
                ..f
            }),
            OutageStep::Nothing
        );
        assert_eq!(
            outage_step(OutageFacts { smtp: false, ..f }),
            OutageStep::Nothing
        );
        assert_eq!(
            outage_step(OutageFacts {
                has_contact: false,
                ..f
            }),
            OutageStep::Nothing
        );
        // The live circuit closed: over, even with no contact to report to.
        let closed = OutageFacts {
            circuit_closed: true,
            has_contact: false,
            ..f
        };
        assert_eq!(outage_step(closed), OutageStep::Over);
    }
}
