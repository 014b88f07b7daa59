//! Owner reports (SPEC 11): the SLA report per supplier (availability, downtime split,
//! outages, MTTR, attempts, latency, the contract credit and the cost of downtime in
//! rupiah), the supplier scorecard per product, the evidence pack of one outage and the
//! monthly email. The figures are pure functions ([`sla`], [`scorecard`], [`outage`]) of
//! plain data ([`History`], [`SupplierTerms`], [`Plan`]) over a window `[from, to)`; this
//! module also reads that data from the store ([`history`]) and turns `--month` or
//! `--from/--to` into a window ([`window`]). [`render`] writes Markdown, CSV and JSON.

pub mod monthly;
pub mod outage;
pub mod period;
pub mod render;
pub mod scorecard;
pub mod sla;

use siaga_store::{Attempt, MaintenanceWindow, Order, Store, StoreError, SupplierEvent};

use crate::config::contract::Contract;
use crate::config::Settings;
pub use period::Span;
pub use sla::SupplierSla;

/// What the report needs of one supplier's config.
#[derive(Debug, Clone)]
pub struct SupplierTerms {
    pub id: String,
    pub contract: Contract,
    /// Configured maintenance windows (announced ones come from the store).
    pub windows: Vec<siaga_domain::window::Window>,
}

/// One product's price and routes (supplier, cost) in priority order.
#[derive(Debug, Clone)]
pub struct ProductPlan {
    pub code: String,
    pub price: i64,
    pub routes: Vec<(String, i64)>,
}

/// The products as configured: which supplier is each one's first route.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub products: Vec<ProductPlan>,
}

impl Plan {
    /// `supplier`'s route cost for `product` if it is that product's first route.
    pub fn primary_cost(&self, product: &str, supplier: &str) -> Option<i64> {
        let p = self.products.iter().find(|p| p.code == product)?;
        let (s, cost) = p.routes.first()?;
        (s == supplier).then_some(*cost)
    }
}

/// What happened in a window, as the store keeps it.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Supplier events of the window with their ids, led by each supplier's last breaker
    /// event before it.
    pub events: Vec<(i64, SupplierEvent)>,
    /// Announced maintenance windows that overlap the window.
    pub announced: Vec<MaintenanceWindow>,
    /// Orders created in the window with their attempts.
    pub orders: Vec<(Order, Vec<Attempt>)>,
}

/// The SLA report: one row per configured supplier.
#[derive(Debug, Clone)]
pub struct Report {
    pub window: Span,
    /// Where the window was measured to (its end, or now if it runs on).
    pub measured_to: i64,
    pub time_zone: String,
    pub suppliers: Vec<SupplierSla>,
}

/// The suppliers' terms and the product plan from the config (retired suppliers left out).
pub fn terms_of(s: &Settings) -> (Vec<SupplierTerms>, Plan) {
    let terms = s
        .suppliers
        .iter()
        .filter(|s| !s.retired)
        .map(|s| SupplierTerms {
            id: s.id.clone(),
            contract: s.contract.clone().unwrap_or_default(),
            windows: s.windows.clone(),
        })
        .collect();
    let plan = Plan {
        products: s
            .products
            .iter()
            .map(|p| ProductPlan {
                code: p.code.to_string(),
                price: p.price.get(),
                routes: p
                    .routes
                    .iter()
                    .map(|r| (r.supplier.clone(), r.cost.get()))
                    .collect(),
            })
            .collect(),
    };
    (terms, plan)
}

/// The SLA report over `w` (pure).
pub fn sla_report(
    terms: &[SupplierTerms],
    plan: &Plan,
    h: &History,
    w: Span,
    now: i64,
    time_zone: &str,
) -> Report {
    Report {
        window: w,
        measured_to: w.end.min(now).max(w.start),
        time_zone: time_zone.to_owned(),
        suppliers: terms
            .iter()
            .map(|t| sla::supplier_sla(t, plan, h, w, now))
            .collect(),
    }
}

/// Reads the window's history from the store: three reads, none per order.
pub async fn history(store: &dyn Store, w: Span) -> Result<History, StoreError> {
    let events = store.supplier_history(w.start, w.end).await?;
    let announced = store
        .maintenance_windows(w.start)
        .await?
        .into_iter()
        .filter(|m| m.starts_at < w.end)
        .collect();
    let orders = store.orders_with_attempts(w.start, w.end).await?;
    Ok(History {
        events,
        announced,
        orders,
    })
}

/// The window a report covers: `month` (`YYYY-MM` in the business time zone) or `from`
/// and `to` (RFC 3339 or unix seconds), not both.
pub fn window(
    month: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    tz: &jiff::tz::TimeZone,
) -> Result<Span, String> {
    match (month, from, to) {
        (Some(m), None, None) => period::month(m, tz),
        (None, Some(f), Some(t)) => {
            let f = crate::clock::parse_time(f)
                .ok_or_else(|| format!("from: {f:?} is not an RFC 3339 time"))?;
            let t = crate::clock::parse_time(t)
                .ok_or_else(|| format!("to: {t:?} is not an RFC 3339 time"))?;
            if t <= f {
                return Err("to must be after from".into());
            }
            Ok(Span::new(f, t))
        }
        (Some(_), _, _) => Err("give either month or from and to, not both".into()),
        _ => Err("give month (YYYY-MM) or both from and to".into()),
    }
}

/// The SLA report for `w` read from the store with the config in force.
pub async fn sla_from_store(
    store: &dyn Store,
    settings: &Settings,
    w: Span,
    now: i64,
) -> Result<Report, StoreError> {
    let h = history(store, w).await?;
    let (terms, plan) = terms_of(settings);
    Ok(sla_report(
        &terms,
        &plan,
        &h,
        w,
        now,
        settings.reports.time_zone.iana_name().unwrap_or("UTC"),
    ))
}

/// The scorecard for `w` read from the store with the config in force.
pub async fn scorecard_from_store(
    store: &dyn Store,
    settings: &Settings,
    w: Span,
    now: i64,
) -> Result<scorecard::Scorecard, StoreError> {
    let h = history(store, w).await?;
    let (terms, plan) = terms_of(settings);
    let r = sla_report(&terms, &plan, &h, w, now, "");
    Ok(scorecard::scorecard(
        &terms,
        &plan,
        &h,
        &r.suppliers,
        w,
        now,
    ))
}

#[cfg(test)]
mod tests;
