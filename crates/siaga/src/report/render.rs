//! The reports written out: JSON exactly as SPEC 11 names its fields (times RFC 3339),
//! CSV for spreadsheets (through the `csv` writer), and Markdown for people (a one-line
//! verdict per supplier first, then the table), rupiah written the Indonesian way
//! (`Rp 1.234.000`).

use serde_json::{json, Value};

use super::outage::Evidence;
use super::scorecard::Scorecard;
use super::sla::SupplierSla;
use super::Report;
use crate::clock::rfc3339;

/// `Rp 1.234.000` (a negative amount: `-Rp 1.000`).
pub fn rupiah(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    format!("{}Rp {out}", if n < 0 { "-" } else { "" })
}

/// Milliseconds as minutes, to two decimals.
pub fn minutes(ms: i64) -> f64 {
    (ms as f64 / 600.0).round() / 100.0
}

/// A percentage to at most four decimals, as people write it (`99.5`, `100`).
fn pct(p: f64) -> String {
    let s = format!("{p:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn rate4(r: Option<f64>) -> Option<f64> {
    r.map(|r| (r * 10_000.0).round() / 10_000.0)
}

/// One supplier's row as SPEC 11 names it.
pub fn row_json(r: &SupplierSla) -> Value {
    let [p50, p95, p99] = r.latency_ms.map_or([None; 3], |l| l.map(Some));
    json!({
        "supplier": r.supplier,
        "availability_percent": r.availability,
        "uptime_target": r.uptime_target,
        "announced_maintenance_excluded": r.exclude_announced,
        "downtime_minutes": {
            "unannounced": minutes(r.unannounced_ms),
            "announced": minutes(r.announced_ms),
        },
        "outages": r.outages.len(),
        "longest_outage_minutes": minutes(r.longest_ms()),
        "mttr_minutes": r.mttr_ms().map(|m| minutes(m.round() as i64)),
        "outage_periods": r.outages.iter().map(|(id, s)| json!({
            "id": id, "from": rfc3339(s.start), "to": rfc3339(s.end), "minutes": minutes(s.len()),
        })).collect::<Vec<_>>(),
        "attempts": r.attempts,
        "success_rate": rate4(r.success_rate),
        "latency_ms": {"p50": p50, "p95": p95, "p99": p99},
        "paid_rupiah": r.paid,
        "credit": {
            "percent": r.credit.basis_points as f64 / 100.0,
            "below": r.credit.below,
            "rupiah": r.credit.rupiah,
        },
        "cost_of_downtime_rupiah": {
            "extra_cost": r.cost.extra_cost,
            "margin_lost": r.cost.margin_lost,
            "total": r.cost.total(),
            "orders_affected": r.cost.orders_affected,
            "resellers_affected": r.cost.resellers_affected,
        },
        "orders_affected": r.cost.orders_affected,
        "resellers_affected": r.cost.resellers_affected,
    })
}

/// `{"from","to","suppliers":[...]}` (SPEC 11), plus the time zone and where a window
/// still running was measured to.
pub fn sla_json(r: &Report) -> Value {
    json!({
        "from": rfc3339(r.window.start),
        "to": rfc3339(r.window.end),
        "measured_to": rfc3339(r.measured_to),
        "time_zone": r.time_zone,
        "suppliers": r.suppliers.iter().map(row_json).collect::<Vec<_>>(),
    })
}

/// The CSV header, one column per figure.
pub const CSV_HEADER: [&str; 23] = [
    "supplier",
    "from",
    "to",
    "availability_percent",
    "uptime_target",
    "downtime_unannounced_minutes",
    "downtime_announced_minutes",
    "outages",
    "longest_outage_minutes",
    "mttr_minutes",
    "attempts",
    "success_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "paid_rupiah",
    "credit_percent",
    "credit_rupiah",
    "extra_cost",
    "margin_lost",
    "total",
    "orders_affected",
    "resellers_affected",
];

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// One line per supplier; empty cells where a figure has no value.
pub fn sla_csv(r: &Report) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER)?;
    for s in &r.suppliers {
        let lat = |i: usize| opt(s.latency_ms.map(|l| l[i]));
        w.write_record([
            s.supplier.clone(),
            rfc3339(r.window.start),
            rfc3339(r.window.end),
            s.availability.to_string(),
            opt(s.uptime_target),
            minutes(s.unannounced_ms).to_string(),
            minutes(s.announced_ms).to_string(),
            s.outages.len().to_string(),
            minutes(s.longest_ms()).to_string(),
            opt(s.mttr_ms().map(|m| minutes(m.round() as i64))),
            s.attempts.to_string(),
            opt(rate4(s.success_rate)),
            lat(0),
            lat(1),
            lat(2),
            s.paid.to_string(),
            (s.credit.basis_points as f64 / 100.0).to_string(),
            s.credit.rupiah.to_string(),
            s.cost.extra_cost.to_string(),
            s.cost.margin_lost.to_string(),
            s.cost.total().to_string(),
            s.cost.orders_affected.to_string(),
            s.cost.resellers_affected.to_string(),
        ])?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Minutes for people: `47 min`, `1 h 5 min`, `0.5 min`.
fn human_minutes(ms: i64) -> String {
    let m = minutes(ms);
    if m >= 60.0 {
        let whole = m.round() as i64;
        format!("{} h {} min", whole / 60, whole % 60)
    } else if m.fract() == 0.0 {
        format!("{m:.0} min")
    } else {
        format!("{m} min")
    }
}

/// The one-line verdict: "kios: 3 outages, 47 min unannounced, credit 10 % = Rp 1.234.000
/// owed, downtime cost Rp 356.000".
pub fn verdict(s: &SupplierSla) -> String {
    let n = s.outages.len();
    let outages = if n == 1 {
        "1 outage".to_owned()
    } else {
        format!("{n} outages")
    };
    let credit = if s.credit.rupiah > 0 || s.credit.basis_points > 0 {
        format!(
            "credit {} % = {} owed",
            pct(s.credit.basis_points as f64 / 100.0),
            rupiah(s.credit.rupiah)
        )
    } else {
        "no credit owed".to_owned()
    };
    let target = match s.uptime_target {
        Some(t) if s.availability < t => format!(" (below the {} % target)", pct(t)),
        _ => String::new(),
    };
    format!(
        "{}: {outages}, {} unannounced, availability {} %{target}, {credit}, downtime cost {}",
        s.supplier,
        human_minutes(s.unannounced_ms),
        pct(s.availability),
        rupiah(s.cost.total())
    )
}

/// Markdown: the window, a verdict per supplier, then the table and the outages by id.
pub fn sla_markdown(r: &Report) -> String {
    let mut out = format!(
        "# SLA report {} to {} ({})\n\n",
        rfc3339(r.window.start),
        rfc3339(r.window.end),
        r.time_zone
    );
    if r.measured_to < r.window.end {
        out.push_str(&format!(
            "Measured up to {} (the window is still running).\n\n",
            rfc3339(r.measured_to)
        ));
    }
    for s in &r.suppliers {
        out.push_str(&format!("- {}\n", verdict(s)));
    }
    out.push_str(
        "\n| supplier | availability | unannounced | announced | outages | longest | MTTR | \
         attempts | success | p50/p95/p99 ms | paid | credit | extra cost | margin lost | \
         downtime cost | orders | resellers |\n",
    );
    out.push_str(&format!("|{}\n", "---|".repeat(17)));
    for s in &r.suppliers {
        let lat = s
            .latency_ms
            .map(|l| format!("{}/{}/{}", l[0], l[1], l[2]))
            .unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "| {} | {} % | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} % = {} | {} | {} | {} | {} | {} |\n",
            s.supplier,
            pct(s.availability),
            human_minutes(s.unannounced_ms),
            human_minutes(s.announced_ms),
            s.outages.len(),
            human_minutes(s.longest_ms()),
            s.mttr_ms().map_or("-".into(), |m| human_minutes(m.round() as i64)),
            s.attempts,
            s.success_rate.map_or("-".into(), |x| format!("{} %", pct(x * 100.0))),
            lat,
            rupiah(s.paid),
            pct(s.credit.basis_points as f64 / 100.0),
            rupiah(s.credit.rupiah),
            rupiah(s.cost.extra_cost),
            rupiah(s.cost.margin_lost),
            rupiah(s.cost.total()),
            s.cost.orders_affected,
            s.cost.resellers_affected,
        ));
    }
    let listed: Vec<String> = r
        .suppliers
        .iter()
        .flat_map(|s| {
            s.outages.iter().map(move |(id, sp)| {
                format!(
                    "- {} outage {id}: {} to {} ({}); evidence: `siaga report outage {id}`\n",
                    s.supplier,
                    rfc3339(sp.start),
                    rfc3339(sp.end),
                    human_minutes(sp.len())
                )
            })
        })
        .collect();
    if !listed.is_empty() {
        out.push_str("\n## Outages\n\n");
        out.extend(listed);
    }
    out.push_str(
        "\nAvailability leaves announced maintenance out where the contract says so; \
         downtime is the time a supplier's circuit was open or half-open or it was in \
         maintenance. Latency is from an attempt's start to the supplier's final answer.\n",
    );
    out
}

/// The scorecard as JSON.
pub fn scorecard_json(c: &Scorecard) -> Value {
    json!({
        "from": rfc3339(c.window.start),
        "to": rfc3339(c.window.end),
        "products": c.products.iter().map(|p| json!({
            "product": p.product,
            "price": p.price,
            "current_order": p.current,
            "recommended_order": p.recommended,
            "saving_rupiah": p.saving,
            "routes": p.ranked.iter().enumerate().map(|(i, r)| json!({
                "rank": i + 1,
                "supplier": r.supplier,
                "cost": r.cost,
                "availability_percent": r.availability,
                "attempts": r.attempts,
                "success_rate": rate4(r.success_rate),
                "latency_p50_ms": r.p50_ms,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "consider_migration": c.consider_migration,
    })
}

/// The scorecard for people.
pub fn scorecard_markdown(c: &Scorecard) -> String {
    let mut out = format!(
        "# Supplier scorecard {} to {}\n\n",
        rfc3339(c.window.start),
        rfc3339(c.window.end)
    );
    for s in &c.consider_migration {
        out.push_str(&format!(
            "- **{s}: consider migration** (ranked last on every product it serves)\n"
        ));
    }
    for p in &c.products {
        out.push_str(&format!("\n## {} ({})\n\n", p.product, rupiah(p.price)));
        let change = if p.recommended == p.current {
            "keep the current route order".to_owned()
        } else {
            let word = if p.saving >= 0 {
                format!("would have saved {}", rupiah(p.saving))
            } else {
                format!("would have cost {} more", rupiah(-p.saving))
            };
            format!(
                "recommended order {} (now {}): {word} in this window",
                p.recommended.join(" → "),
                p.current.join(" → ")
            )
        };
        out.push_str(&format!("{change}\n\n"));
        out.push_str("| rank | supplier | availability | success | p50 ms | cost | attempts |\n|---|---|---|---|---|---|---|\n");
        for (i, r) in p.ranked.iter().enumerate() {
            out.push_str(&format!(
                "| {} | {} | {} % | {} | {} | {} | {} |\n",
                i + 1,
                r.supplier,
                pct(r.availability),
                r.success_rate
                    .map_or("-".into(), |x| format!("{} %", pct(x * 100.0))),
                r.p50_ms.map_or("-".into(), |m| m.to_string()),
                rupiah(r.cost),
                r.attempts
            ));
        }
    }
    out
}

/// The evidence pack of one outage as JSON.
pub fn evidence_json(e: &Evidence) -> Value {
    json!({
        "id": e.id,
        "supplier": e.supplier,
        "from": rfc3339(e.span.start),
        "to": rfc3339(e.span.end),
        "ongoing": e.ongoing,
        "minutes": minutes(e.span.len()),
        "timeline": e.timeline.iter().map(|(at, what)| json!({"at": rfc3339(*at), "event": what})).collect::<Vec<_>>(),
        "error_samples": e.samples,
        "affected_orders": e.orders.iter().map(|o| json!({
            "order_id": o.order_id, "ref_id": o.ref_id, "reseller_id": o.reseller_id,
            "product": o.product, "created_at": rfc3339(o.created_at), "status": o.status,
            "served_by": o.served_by, "cost": o.cost,
        })).collect::<Vec<_>>(),
    })
}

/// The evidence pack for people (and for the supplier, when claiming a credit).
pub fn evidence_markdown(e: &Evidence) -> String {
    let mut out = format!(
        "# Outage {} of {}\n\n{} to {}{} ({})\n\n## Timeline\n\n",
        e.id,
        e.supplier,
        rfc3339(e.span.start),
        rfc3339(e.span.end),
        if e.ongoing { ", still going on" } else { "" },
        human_minutes(e.span.len())
    );
    for (at, what) in &e.timeline {
        out.push_str(&format!("- {} {what}\n", rfc3339(*at)));
    }
    out.push_str("\n## Error samples\n\n");
    if e.samples.is_empty() {
        out.push_str("(none recorded)\n");
    }
    for s in &e.samples {
        out.push_str(&format!("- {s}\n"));
    }
    out.push_str(&format!(
        "\n## Affected orders ({})\n\n| order | ref | reseller | product | created | status | served by |\n|---|---|---|---|---|---|---|\n",
        e.orders.len()
    ));
    for o in &e.orders {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            o.order_id,
            o.ref_id,
            o.reseller_id,
            o.product,
            rfc3339(o.created_at),
            o.status,
            o.served_by.as_deref().unwrap_or("-")
        ));
    }
    out
}
