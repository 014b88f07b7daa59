//! The evidence pack of one outage (`siaga report outage ID`, ID being the breaker event
//! that began it): its timeline (every event of the supplier while it was out), the
//! error samples the breaker recorded with its transitions, and the orders it touched
//! (those whose first route is the supplier, created while it was out, and those with an
//! attempt there in that time). What an owner sends a supplier when claiming a credit.

use serde_json::Value;
use siaga_store::{Store, StoreError};

use super::period::Span;
use super::sla;
use super::{History, Plan};

/// One order the outage touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffectedOrder {
    pub order_id: String,
    pub ref_id: String,
    pub reseller_id: String,
    pub product: String,
    pub created_at: i64,
    pub status: String,
    /// The supplier whose attempt succeeded.
    pub served_by: Option<String>,
    /// What that attempt cost.
    pub cost: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub id: i64,
    pub supplier: String,
    pub span: Span,
    /// Not closed yet (its end is now, or the first success seen since).
    pub ongoing: bool,
    pub timeline: Vec<(i64, String)>,
    pub samples: Vec<String>,
    pub orders: Vec<AffectedOrder>,
}

/// One line per recorded sample of a breaker event's evidence.
fn samples_of(detail: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(detail).unwrap_or(Value::Null);
    let Some(list) = v.get("evidence").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .map(|s| {
            let mut parts = Vec::new();
            for k in ["at", "outcome", "reason", "rc", "http_status", "latency_ms"] {
                if let Some(x) = s.get(k).filter(|x| !x.is_null()) {
                    let x = x.as_str().map_or_else(|| x.to_string(), str::to_owned);
                    parts.push(if k == "at" { x } else { format!("{k}={x}") });
                }
            }
            parts.join(" ")
        })
        .collect()
}

/// How an event reads in the timeline.
fn describe(kind: &str, from: Option<&str>, to: Option<&str>, detail: &str) -> String {
    let v: Value = serde_json::from_str(detail).unwrap_or(Value::Null);
    match kind {
        "breaker" => format!(
            "circuit {} → {}: {}",
            from.unwrap_or("?"),
            to.unwrap_or("?"),
            v.get("reason").and_then(Value::as_str).unwrap_or("")
        ),
        _ => format!("{kind}: {v}"),
    }
}

/// The evidence pack of outage `id` from a history covering it (pure). `None` if `id` is
/// not a breaker event that began an outage.
pub fn evidence(id: i64, plan: &Plan, h: &History, now: i64) -> Option<Evidence> {
    let (_, first) = h.events.iter().find(|(i, _)| *i == id)?;
    let supplier = first.supplier_id.clone();
    let o = sla::outages(&supplier, h, now)
        .into_iter()
        .find(|o| o.id == id)?;
    let mut timeline = Vec::new();
    let mut samples = Vec::new();
    for (_, e) in h
        .events
        .iter()
        .filter(|(_, e)| e.supplier_id == supplier && e.at >= o.span.start && e.at <= o.span.end)
    {
        timeline.push((
            e.at,
            describe(
                &e.kind,
                e.from_state.as_deref(),
                e.to_state.as_deref(),
                &e.detail,
            ),
        ));
        if e.kind == "breaker" {
            samples.extend(samples_of(&e.detail));
        }
    }
    let orders = h
        .orders
        .iter()
        .filter(|(ord, atts)| {
            let first_route = plan.primary_cost(&ord.product, &supplier).is_some()
                && o.span.contains(ord.created_at);
            let tried = atts
                .iter()
                .any(|a| a.supplier_id == supplier && o.span.contains(a.started_at));
            first_route || tried
        })
        .map(|(ord, atts)| {
            let served = atts
                .iter()
                .find(|a| a.state == siaga_store::AttemptState::Success);
            AffectedOrder {
                order_id: ord.id.clone(),
                ref_id: ord.ref_id.clone(),
                reseller_id: ord.reseller_id.clone(),
                product: ord.product.clone(),
                created_at: ord.created_at,
                status: ord.status.as_str().to_owned(),
                served_by: served.map(|a| a.supplier_id.clone()),
                cost: served.map(|a| a.cost),
            }
        })
        .collect();
    Some(Evidence {
        id,
        supplier,
        span: o.span,
        ongoing: o.unclosed,
        timeline,
        samples,
        orders,
    })
}

/// Reads what outage `id` needs from the store: its supplier's events from its start to
/// now, then the orders of its span.
pub async fn load(
    store: &dyn Store,
    plan: &Plan,
    id: i64,
    now: i64,
) -> Result<Option<Evidence>, StoreError> {
    let Some((got, first)) = store
        .supplier_events_after(id.saturating_sub(1), 1)
        .await?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    if got != id || first.kind != "breaker" {
        return Ok(None);
    }
    let events: Vec<_> = store
        .supplier_history(first.at, now.max(first.at) + 1)
        .await?
        .into_iter()
        .filter(|(_, e)| e.supplier_id == first.supplier_id && e.at >= first.at)
        .collect();
    let probe = History {
        events: events.clone(),
        ..History::default()
    };
    let Some(o) = sla::outages(&first.supplier_id, &probe, now)
        .into_iter()
        .find(|o| o.id == id)
    else {
        return Ok(None);
    };
    let orders = store
        .orders_with_attempts(o.span.start, o.span.end.max(o.span.start + 1))
        .await?;
    let h = History {
        events,
        announced: Vec::new(),
        orders,
    };
    Ok(evidence(id, plan, &h, now))
}
