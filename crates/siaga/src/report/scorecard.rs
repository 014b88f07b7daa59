//! The supplier scorecard (SPEC 11), pure: per product, its routes ranked by availability
//! (to 0.1 %), then success rate (to 1 %), then median latency, then cost; the route
//! order that ranking recommends; what the recommended first route would have saved in
//! the window; and "consider migration" for a supplier ranked last on every product it
//! serves beside another route.
//!
//! The saving counts the product's orders created while the recommended first route was
//! up (not out, not in maintenance): a served order saves what it cost minus that route's
//! cost, an order that failed for want of a route saves its price minus that cost. It is
//! negative when the recommended route is dearer (reliability bought with margin).

use std::collections::{BTreeMap, HashMap};

use siaga_domain::{FailureCode, OrderStatus};
use siaga_store::AttemptState;

use super::period::{self, Span};
use super::sla::{self, SupplierSla};
use super::{History, Plan, SupplierTerms};

/// One route of a product, with its figures.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteScore {
    pub supplier: String,
    pub cost: i64,
    /// The supplier's availability in percent.
    pub availability: f64,
    /// This route's attempts (the product at this supplier) in the window.
    pub attempts: i64,
    pub success_rate: Option<f64>,
    pub p50_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProductScore {
    pub product: String,
    pub price: i64,
    /// Best first.
    pub ranked: Vec<RouteScore>,
    /// Supplier ids in the configured order.
    pub current: Vec<String>,
    /// Supplier ids in the recommended order (`ranked`'s).
    pub recommended: Vec<String>,
    /// Rupiah the recommended first route would have saved in the window (0 when it is
    /// already first).
    pub saving: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scorecard {
    pub window: Span,
    pub products: Vec<ProductScore>,
    /// Suppliers ranked last on every product they serve beside another route.
    pub consider_migration: Vec<String>,
}

/// The ranking key: higher availability and success first, then faster, then cheaper.
fn key(r: &RouteScore) -> (i64, i64, i64, i64) {
    let avail = (r.availability * 10.0).round() as i64;
    let success = r.success_rate.map_or(-1, |s| (s * 100.0).round() as i64);
    (-avail, -success, r.p50_ms.unwrap_or(i64::MAX), r.cost)
}

/// What serving the product's orders from `first` (at `cost`) would have saved.
fn saving(product: &str, first_cost: i64, first_down: &[Span], h: &History) -> i64 {
    let mut s = 0;
    for (o, atts) in h.orders.iter().filter(|(o, _)| o.product == product) {
        if period::covers(first_down, o.created_at) {
            continue;
        }
        match o.status {
            OrderStatus::Success => {
                if let Some(a) = atts.iter().find(|a| a.state == AttemptState::Success) {
                    s += a.cost - first_cost;
                }
            }
            OrderStatus::Failed
                if matches!(
                    o.failure_code,
                    Some(
                        FailureCode::ProductUnavailable
                            | FailureCode::SupplierRejected
                            | FailureCode::Manual
                    )
                ) =>
            {
                s += o.price - first_cost;
            }
            _ => {}
        }
    }
    s
}

/// The scorecard over `w`, from the SLA rows of the same window (`rows`).
pub fn scorecard(
    terms: &[SupplierTerms],
    plan: &Plan,
    h: &History,
    rows: &[SupplierSla],
    w: Span,
    now: i64,
) -> Scorecard {
    let w = Span::new(w.start, w.end.min(now).max(w.start));
    let avail: HashMap<&str, f64> = rows
        .iter()
        .map(|r| (r.supplier.as_str(), r.availability))
        .collect();
    let mut products = Vec::new();
    // Per supplier: (products where it competes, products where it ranks last).
    let mut last: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for p in &plan.products {
        let mut ranked: Vec<RouteScore> = p
            .routes
            .iter()
            .map(|(s, cost)| {
                let (attempts, success_rate, lat, _) = sla::attempt_stats(s, Some(&p.code), h, w);
                RouteScore {
                    supplier: s.clone(),
                    cost: *cost,
                    availability: avail.get(s.as_str()).copied().unwrap_or(100.0),
                    attempts,
                    success_rate,
                    p50_ms: lat.map(|l| l[0]),
                }
            })
            .collect();
        ranked.sort_by_key(key);
        let current: Vec<String> = p.routes.iter().map(|(s, _)| s.clone()).collect();
        let recommended: Vec<String> = ranked.iter().map(|r| r.supplier.clone()).collect();
        let saving = match (recommended.first(), current.first(), ranked.first()) {
            (Some(rec), Some(cur), Some(best)) if rec != cur => {
                let down = terms
                    .iter()
                    .find(|t| &t.id == rec)
                    .map(|t| sla::down_spans(t, h, w))
                    .unwrap_or_default();
                saving(&p.code, best.cost, &down, h)
            }
            _ => 0,
        };
        if ranked.len() >= 2 {
            for (i, r) in ranked.iter().enumerate() {
                let e = last.entry(r.supplier.clone()).or_default();
                e.0 += 1;
                if i + 1 == ranked.len() {
                    e.1 += 1;
                }
            }
        }
        products.push(ProductScore {
            product: p.code.clone(),
            price: p.price,
            ranked,
            current,
            recommended,
            saving,
        });
    }
    let consider_migration = last
        .into_iter()
        .filter(|(_, (n, worst))| *n > 0 && n == worst)
        .map(|(s, _)| s)
        .collect();
    Scorecard {
        window: w,
        products,
        consider_migration,
    }
}
