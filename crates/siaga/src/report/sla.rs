//! The SLA report of one supplier over one window (SPEC 11), as a pure function of plain
//! data: the breaker history, the maintenance windows, the orders with their attempts
//! and the contract. Definitions (the README repeats them):
//!
//! - **out**: a breaker period from leaving `closed` (to `open` or `half_open`) until it
//!   is `closed` again. A period never closed in the history (a restart forgets breaker
//!   state without recording a close) ends at the supplier's first successful attempt
//!   after it began, else at the window's end.
//! - **maintenance**: announced windows (`siaga maintenance add`) and the supplier's
//!   configured windows (daily or one-off).
//! - **downtime** = the time in the window that is out or in maintenance; `announced` is
//!   the part in maintenance, `unannounced` the rest.
//! - **availability** = 1 − downtime / window; when the contract excludes announced
//!   maintenance (the default), 1 − unannounced / (window − announced).
//! - **outages**: the out periods, each cut at the window's edges; MTTR is their mean
//!   length, `longest` the longest.
//! - **attempts**, **success rate** (successes among the decided: success or failed) and
//!   **latency** (`finished_at − started_at` of finished attempts: the time to the
//!   supplier's final answer, callbacks included; nearest-rank percentiles) count the
//!   supplier's attempts started in the window.
//! - **credit**: the most severe tier whose `below` is above the availability; its
//!   percent of what was paid (the cost of the supplier's successful attempts), rounded
//!   down to the rupiah.
//! - **cost of downtime**: orders whose product's first configured route is this supplier,
//!   created while it was down: `extra_cost` = Σ (cost paid at the route that served it −
//!   this supplier's route cost) for those served elsewhere; `margin_lost` = Σ (price −
//!   this supplier's route cost) for those that failed because no route could serve them
//!   (`product_unavailable`, `supplier_rejected`, or refunded by hand: `manual`).

use std::collections::BTreeSet;

use siaga_domain::{FailureCode, OrderStatus};
use siaga_store::{AttemptState, SupplierEvent};

use super::period::{self, Span};
use super::{History, Plan, SupplierTerms};

/// One out period, as the breaker history tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    /// The id of the breaker event that began it (`siaga report outage ID`).
    pub id: i64,
    pub supplier: String,
    /// The whole period (not cut at the window).
    pub span: Span,
    /// No `closed` event ended it (its end is the first success seen, or the window's end).
    pub unclosed: bool,
}

/// The credit tier that applies and its worth.
#[derive(Debug, Clone, PartialEq)]
pub struct Credit {
    /// The tier's `below`; `None` when no tier applies.
    pub below: Option<f64>,
    pub basis_points: i64,
    pub rupiah: i64,
}

/// What the supplier's downtime cost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DowntimeCost {
    pub extra_cost: i64,
    pub margin_lost: i64,
    pub orders_affected: i64,
    pub resellers_affected: i64,
}

impl DowntimeCost {
    pub fn total(&self) -> i64 {
        self.extra_cost + self.margin_lost
    }
}

/// One supplier's row of the report; durations in ms.
#[derive(Debug, Clone, PartialEq)]
pub struct SupplierSla {
    pub supplier: String,
    pub uptime_target: Option<f64>,
    pub exclude_announced: bool,
    /// Percent, rounded to 4 decimals.
    pub availability: f64,
    pub unannounced_ms: i64,
    pub announced_ms: i64,
    /// Out periods overlapping the window, cut at its edges.
    pub outages: Vec<(i64, Span)>,
    pub attempts: i64,
    /// Successes among decided attempts, 0..1; `None` with none decided.
    pub success_rate: Option<f64>,
    /// p50, p95, p99 in ms; `None` with no finished attempt.
    pub latency_ms: Option<[i64; 3]>,
    pub paid: i64,
    pub credit: Credit,
    pub cost: DowntimeCost,
}

impl SupplierSla {
    pub fn longest_ms(&self) -> i64 {
        self.outages.iter().map(|(_, s)| s.len()).max().unwrap_or(0)
    }
    /// Mean outage length; `None` without outages.
    pub fn mttr_ms(&self) -> Option<f64> {
        let n = self.outages.len();
        (n > 0).then(|| self.outages.iter().map(|(_, s)| s.len()).sum::<i64>() as f64 / n as f64)
    }
}

fn is_out(state: Option<&str>) -> bool {
    matches!(state, Some("open" | "half_open"))
}

/// Every out period of `supplier` in the history (whole, not cut), oldest first. `end`
/// closes a period the history never closed, unless a success came first.
pub fn outages(supplier: &str, h: &History, end: i64) -> Vec<Outage> {
    let mut events: Vec<&(i64, SupplierEvent)> = h
        .events
        .iter()
        .filter(|(_, e)| e.supplier_id == supplier && e.kind == "breaker")
        .collect();
    events.sort_by_key(|(id, e)| (e.at, *id));
    let mut out = Vec::new();
    let mut since: Option<(i64, i64)> = None;
    for (id, e) in events {
        match (since, is_out(e.to_state.as_deref())) {
            (None, true) => since = Some((*id, e.at)),
            (Some((oid, start)), false) => {
                out.push(Outage {
                    id: oid,
                    supplier: supplier.to_owned(),
                    span: Span::new(start, e.at),
                    unclosed: false,
                });
                since = None;
            }
            _ => {}
        }
    }
    if let Some((oid, start)) = since {
        let first_success = h
            .orders
            .iter()
            .flat_map(|(_, atts)| atts.iter())
            .filter(|a| a.supplier_id == supplier && a.state == AttemptState::Success)
            .filter_map(|a| a.finished_at)
            .filter(|t| *t > start)
            .min();
        out.push(Outage {
            id: oid,
            supplier: supplier.to_owned(),
            span: Span::new(start, first_success.unwrap_or(end).min(end).max(start)),
            unclosed: true,
        });
    }
    out
}

/// The supplier's maintenance (announced and configured) inside `w`, merged.
pub fn maintenance(t: &SupplierTerms, h: &History, w: Span) -> Vec<Span> {
    let mut spans: Vec<Span> = h
        .announced
        .iter()
        .filter(|m| m.supplier_id == t.id)
        .map(|m| Span::new(m.starts_at, m.ends_at).clip(w))
        .collect();
    for win in &t.windows {
        spans.extend(period::occurrences(win, w));
    }
    period::union(spans)
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Attempt figures of `supplier` (optionally one product) for attempts started in `w`:
/// (attempts, success rate, latency percentiles, paid).
pub fn attempt_stats(
    supplier: &str,
    product: Option<&str>,
    h: &History,
    w: Span,
) -> (i64, Option<f64>, Option<[i64; 3]>, i64) {
    let (mut n, mut ok, mut decided, mut paid) = (0, 0, 0, 0);
    let mut lat = Vec::new();
    for (o, atts) in &h.orders {
        if product.is_some_and(|p| p != o.product) {
            continue;
        }
        for a in atts
            .iter()
            .filter(|a| a.supplier_id == supplier && w.contains(a.started_at))
        {
            n += 1;
            match a.state {
                AttemptState::Success => {
                    ok += 1;
                    decided += 1;
                    paid += a.cost;
                }
                AttemptState::Failed => decided += 1,
                _ => {}
            }
            if let (Some(f), false) = (a.finished_at, a.state.is_open()) {
                lat.push((f - a.started_at).max(0));
            }
        }
    }
    lat.sort_unstable();
    let pct = match (
        percentile(&lat, 0.5),
        percentile(&lat, 0.95),
        percentile(&lat, 0.99),
    ) {
        (Some(a), Some(b), Some(c)) => Some([a, b, c]),
        _ => None,
    };
    let rate = (decided > 0).then(|| ok as f64 / decided as f64);
    (n, rate, pct, paid)
}

/// The credit tier for `availability` (percent) and its worth on `paid`.
pub fn credit(t: &SupplierTerms, availability: f64, paid: i64) -> Credit {
    // Tiers are mildest first: the last one still above the availability is the most severe.
    match t.contract.credits.iter().rfind(|c| availability < c.below) {
        Some(c) => Credit {
            below: Some(c.below),
            basis_points: c.basis_points,
            rupiah: paid * c.basis_points / 10_000,
        },
        None => Credit {
            below: None,
            basis_points: 0,
            rupiah: 0,
        },
    }
}

/// Failure codes that say no route could serve the order (or the owner refunded it).
fn no_route(code: Option<FailureCode>) -> bool {
    matches!(
        code,
        Some(FailureCode::ProductUnavailable | FailureCode::SupplierRejected | FailureCode::Manual)
    )
}

/// The cost of `supplier`'s downtime `down` (merged spans) for the orders whose first
/// configured route it is.
pub fn downtime_cost(supplier: &str, plan: &Plan, h: &History, down: &[Span]) -> DowntimeCost {
    let mut c = DowntimeCost::default();
    let mut resellers = BTreeSet::new();
    for (o, atts) in &h.orders {
        let Some(own) = plan.primary_cost(&o.product, supplier) else {
            continue;
        };
        if !period::covers(down, o.created_at) {
            continue;
        }
        let served = atts.iter().find(|a| a.state == AttemptState::Success);
        let affected = match (o.status, served) {
            (OrderStatus::Success, Some(a)) if a.supplier_id != supplier => {
                c.extra_cost += a.cost - own;
                true
            }
            (OrderStatus::Failed, _) if no_route(o.failure_code) => {
                c.margin_lost += o.price - own;
                true
            }
            _ => false,
        };
        if affected {
            c.orders_affected += 1;
            resellers.insert(o.reseller_id.as_str());
        }
    }
    c.resellers_affected = resellers.len() as i64;
    c
}

/// Rounds a percentage to 4 decimals (so a tier edge compares as written).
fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// One supplier's SLA over `[w.start, w.end)`, measured up to `now` if the window runs on.
pub fn supplier_sla(t: &SupplierTerms, plan: &Plan, h: &History, w: Span, now: i64) -> SupplierSla {
    let w = Span::new(w.start, w.end.min(now).max(w.start));
    let all = outages(&t.id, h, w.end);
    let cut: Vec<(i64, Span)> = all
        .iter()
        .map(|o| (o.id, o.span.clip(w)))
        .filter(|(_, s)| !s.is_empty())
        .collect();
    let out: Vec<Span> = cut.iter().map(|(_, s)| *s).collect();
    let maint = maintenance(t, h, w);
    let announced = period::total(&maint);
    let unannounced = period::total(&period::minus(&out, &maint));
    let excl = t.contract.exclude_announced_maintenance;
    let availability = if excl {
        let base = w.len() - announced;
        if base <= 0 {
            100.0
        } else {
            100.0 * (1.0 - unannounced as f64 / base as f64)
        }
    } else if w.is_empty() {
        100.0
    } else {
        100.0 * (1.0 - (unannounced + announced) as f64 / w.len() as f64)
    };
    let availability = round4(availability);
    let (attempts, success_rate, latency_ms, paid) = attempt_stats(&t.id, None, h, w);
    let down = period::union(out.iter().copied().chain(maint.iter().copied()).collect());
    SupplierSla {
        supplier: t.id.clone(),
        uptime_target: t.contract.uptime_target,
        exclude_announced: excl,
        availability,
        unannounced_ms: unannounced,
        announced_ms: announced,
        outages: cut,
        attempts,
        success_rate,
        latency_ms,
        paid,
        credit: credit(t, availability, paid),
        cost: downtime_cost(&t.id, plan, h, &down),
    }
}

/// The supplier's downtime in `w` (out or in maintenance), merged: when an order whose
/// first route it is could not be served there.
pub fn down_spans(t: &SupplierTerms, h: &History, w: Span) -> Vec<Span> {
    let mut spans: Vec<Span> = outages(&t.id, h, w.end)
        .iter()
        .map(|o| o.span.clip(w))
        .collect();
    spans.extend(maintenance(t, h, w));
    period::union(spans)
}
