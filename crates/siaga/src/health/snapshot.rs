//! The owner's view of supplier health: `GET /admin/api/suppliers`.

use serde_json::{json, Value};
use siaga_domain::breaker::BreakerState;

use super::Health;
use crate::clock::rfc3339;
use crate::config::Supplier;

fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

impl Health {
    /// One object per supplier, with recent breaker transitions and their evidence.
    pub async fn suppliers_json(&self) -> Value {
        let now = self.now();
        let mut out = Vec::new();
        for id in self.supplier_ids() {
            let Some(e) = self.entry(&id) else {
                continue;
            };
            let (sup, st) = (e.cfg(), &e.st);
            let (state, success_rate, p50, p95, limit, in_flight, balance, balance_at, open_until) = {
                let Ok(mut st) = st.lock() else { continue };
                let (state, t) = st.breaker.state(now);
                if let Some(t) = t {
                    self.persist_transition(&id, &t, &mut st);
                }
                let recent: Vec<_> = st
                    .samples
                    .iter()
                    .filter(|s| s.outcome != "probe_failed")
                    .collect();
                let decided: Vec<_> = recent.iter().filter(|s| s.outcome != "pending").collect();
                let rate = (!decided.is_empty()).then(|| {
                    decided.iter().filter(|s| s.outcome == "success").count() as f64
                        / decided.len() as f64
                });
                let mut lat: Vec<i64> = recent.iter().map(|s| s.latency_ms).collect();
                lat.sort_unstable();
                (
                    state,
                    rate,
                    percentile(&lat, 0.5),
                    percentile(&lat, 0.95),
                    st.limit.limit(),
                    st.in_flight,
                    st.balance,
                    st.balance_at,
                    st.breaker.open_until(),
                )
            };
            let windows = self.windows_json(&id, &sup, now);
            let in_maintenance = windows
                .iter()
                .any(|w| w["active"] == true && w["source"] != "price_list")
                || self.in_maintenance(&sup, None, now, 0);
            let (transitions, other) = self.events_json(&id).await;
            let routes = self.routes_json(&id);
            out.push(json!({
                "id": id,
                "dialect": sup.dialect.as_str(),
                "routes": routes,
                "breaker": state.as_str(),
                "open_until": open_until.filter(|_| state == BreakerState::Open).map(rfc3339),
                "success_rate": success_rate,
                "latency_p50_ms": p50,
                "latency_p95_ms": p95,
                "concurrency_limit": limit,
                "max_concurrency": sup.max_concurrency,
                "retired": sup.retired,
                "paused": self.pause(&id).map(|p| p.json()),
                "in_flight": in_flight,
                "balance": balance,
                "balance_at": balance_at.map(rfc3339),
                "in_maintenance": in_maintenance,
                "maintenance": windows,
                "transitions": transitions,
                "events": other,
            }));
        }
        Value::Array(out)
    }

    /// The supplier's maintenance windows, current or next: from config, announced by the
    /// owner, and learnt from the price list's cut-off times.
    fn windows_json(&self, id: &str, sup: &Supplier, now: i64) -> Vec<Value> {
        let mut windows = Vec::new();
        for w in &sup.windows {
            if let Some((s, e)) = w.current_or_next(now) {
                windows.push(json!({"source": "config", "starts_at": rfc3339(s), "ends_at": rfc3339(e), "active": now >= s && now < e}));
            }
        }
        if let Ok(a) = self.announced.read() {
            for w in a.iter().filter(|w| w.supplier_id == id) {
                windows.push(json!({"source": w.source, "id": w.id, "starts_at": rfc3339(w.starts_at), "ends_at": rfc3339(w.ends_at), "note": w.note, "active": now >= w.starts_at && now < w.ends_at}));
            }
        }
        if let Ok(l) = self.learnt.read() {
            for ((s, sku), item) in l.iter().filter(|((s, _), _)| *s == id) {
                let _ = s;
                if let Some((ws, we)) = item.window.as_ref().and_then(|w| w.current_or_next(now)) {
                    windows.push(json!({"source": "price_list", "sku": sku, "starts_at": rfc3339(ws), "ends_at": rfc3339(we), "active": now >= ws && now < we}));
                }
            }
        }
        windows
    }

    /// The supplier's recent breaker transitions (with evidence) and its other events.
    async fn events_json(&self, id: &str) -> (Vec<Value>, Vec<Value>) {
        let events = self.store.supplier_events(id, 50).await.unwrap_or_default();
        let transitions: Vec<Value> = events
            .iter()
            .filter(|e| e.kind == "breaker")
            .take(20)
            .map(|e| {
                json!({"from": e.from_state, "to": e.to_state, "at": rfc3339(e.at),
                       "evidence": serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::Null)})
            })
            .collect();
        let other: Vec<Value> = events
            .iter()
            .filter(|e| e.kind != "breaker")
            .take(20)
            .map(|e| json!({"kind": e.kind, "at": rfc3339(e.at), "detail": serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::Null)}))
            .collect();
        (transitions, other)
    }

    /// Per-route success rate and latency, by SKU.
    fn routes_json(&self, id: &str) -> Vec<Value> {
        self
            .routes
            .lock()
            .map(|r| {
                let mut keys: Vec<(&(String, String), _)> = r.iter().filter(|((s, _), _)| *s == id).collect();
                keys.sort_by(|a, b| a.0.cmp(b.0));
                keys.into_iter()
                    .map(|((_, sku), q)| {
                        let (rate, lat, n) = super::stats_of(q);
                        json!({"sku": sku, "success_rate": rate, "latency_mean_ms": lat, "samples": n})
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
