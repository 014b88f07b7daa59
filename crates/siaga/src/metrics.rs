//! Prometheus metrics (SPEC 13), one registry per process. Label values come from bounded
//! sets we own (supplier ids, product codes, reasons, stages), never from raw messages.

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::render`]: the Prometheus text format 0.0.4, which both
/// Prometheus and `promtool check metrics` read.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Attempt {
    supplier: String,
    outcome: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OrderLabels {
    product: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SupplierLabel {
    supplier: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabel {
    component: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabel {
    stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    channel: String,
    result: String,
}

fn duration_histogram() -> Histogram {
    // 1 ms .. ~65 s
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

pub struct Metrics {
    registry: Mutex<Registry>,
    attempts: Family<Attempt, Counter>,
    durations: Family<SupplierLabel, Histogram, fn() -> Histogram>,
    orders: Family<OrderLabels, Counter>,
    circuit: Family<SupplierLabel, Gauge>,
    balance: Family<SupplierLabel, Gauge>,
    limit: Family<SupplierLabel, Gauge>,
    components: Family<ComponentLabel, Gauge>,
    pending: Family<StageLabel, Gauge>,
    desk: Gauge,
    notifications: Family<NotificationLabels, Counter>,
    rejected: Family<ReasonLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut r = Registry::default();
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            attempts: Family::default(),
            durations: Family::new_with_constructor(duration_histogram as fn() -> Histogram),
            orders: Family::default(),
            circuit: Family::default(),
            balance: Family::default(),
            limit: Family::default(),
            components: Family::default(),
            pending: Family::default(),
            desk: Gauge::default(),
            notifications: Family::default(),
            rejected: Family::default(),
        };
        r.register(
            "siaga_orders",
            "Orders that became final, by product and status",
            m.orders.clone(),
        );
        r.register(
            "siaga_attempts",
            "Top-up attempts at suppliers, by outcome and failure reason",
            m.attempts.clone(),
        );
        r.register(
            "siaga_attempt_duration_seconds",
            "Time a supplier took to answer a top-up",
            m.durations.clone(),
        );
        r.register(
            "siaga_supplier_circuit_state",
            "Circuit breaker per supplier: 0 closed, 1 half_open, 2 open",
            m.circuit.clone(),
        );
        r.register(
            "siaga_supplier_balance_rupiah",
            "Supplier deposit balance last seen, rupiah",
            m.balance.clone(),
        );
        r.register(
            "siaga_supplier_concurrency_limit",
            "Adaptive concurrency limit per supplier",
            m.limit.clone(),
        );
        r.register(
            "siaga_component_status",
            "Status-page component: 0 operational, 1 degraded_performance, 2 partial_outage, 3 major_outage, 4 under_maintenance",
            m.components.clone(),
        );
        r.register(
            "siaga_orders_pending",
            "Pending orders by stage",
            m.pending.clone(),
        );
        r.register(
            "siaga_desk_orders",
            "Orders on the manual desk (SPEC 6.1.2): open attempts at manual suppliers, waiting for an operator",
            m.desk.clone(),
        );
        r.register(
            "siaga_notifications",
            "Notifications sent, by channel and result",
            m.notifications.clone(),
        );
        r.register(
            "siaga_http_rejected",
            "Requests turned away at the HTTP edge, by reason (rate limits, load shedding, deadline, body cap)",
            m.rejected.clone(),
        );
        for reason in crate::limits::REASONS {
            let _ = m.rejected.get_or_create(&ReasonLabel {
                reason: reason.into(),
            });
        }
        if let Ok(mut reg) = m.registry.lock() {
            *reg = r;
        }
        m
    }

    pub fn attempt(&self, supplier: &str, outcome: &str, reason: &str, seconds: f64) {
        self.attempts
            .get_or_create(&Attempt {
                supplier: supplier.into(),
                outcome: outcome.into(),
                reason: reason.into(),
            })
            .inc();
        self.durations
            .get_or_create(&SupplierLabel {
                supplier: supplier.into(),
            })
            .observe(seconds.max(0.0));
    }

    pub fn order_final(&self, product: &str, status: &str) {
        self.orders
            .get_or_create(&OrderLabels {
                product: product.into(),
                status: status.into(),
            })
            .inc();
    }

    pub fn set_circuit_state(&self, supplier: &str, state: i64) {
        self.circuit
            .get_or_create(&SupplierLabel {
                supplier: supplier.into(),
            })
            .set(state);
    }

    pub fn set_supplier_balance(&self, supplier: &str, rupiah: i64) {
        self.balance
            .get_or_create(&SupplierLabel {
                supplier: supplier.into(),
            })
            .set(rupiah);
    }

    pub fn set_concurrency_limit(&self, supplier: &str, limit: i64) {
        self.limit
            .get_or_create(&SupplierLabel {
                supplier: supplier.into(),
            })
            .set(limit);
    }

    pub fn set_component_status(&self, component: &str, level: i64) {
        self.components
            .get_or_create(&ComponentLabel {
                component: component.into(),
            })
            .set(level);
    }

    pub fn set_orders_pending(&self, stage: &str, n: i64) {
        self.pending
            .get_or_create(&StageLabel {
                stage: stage.into(),
            })
            .set(n);
    }

    pub fn set_desk_orders(&self, n: i64) {
        self.desk.set(n);
    }

    pub fn notification(&self, channel: &str, result: &str) {
        self.notifications
            .get_or_create(&NotificationLabels {
                channel: channel.into(),
                result: result.into(),
            })
            .inc();
    }

    /// A request turned away at the HTTP edge (`reason`: one of `limits::REASONS`).
    pub fn rejected(&self, reason: &str) {
        self.rejected
            .get_or_create(&ReasonLabel {
                reason: reason.into(),
            })
            .inc();
    }

    /// The exposition text, in the Prometheus text format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(reg) = self.registry.lock() {
            if let Err(e) = encode(&mut out, &reg) {
                tracing::error!(error = %e, "cannot encode metrics");
            }
        }
        to_prometheus_text(&out)
    }
}

/// Upper bounds of the store histograms, in microseconds: 0.1 ms to 100 ms.
const STORE_BOUNDS_US: [u64; 10] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000,
];

/// The store's durable writes since it opened, in the Prometheus text format:
/// `siaga_store_commit_seconds` (each write transaction's `COMMIT`) and
/// `siaga_store_sync_seconds` (each `fdatasync` of the WAL, which every answer waits for;
/// a slow disk shows here first).
pub fn store_histograms(t: &siaga_store::WriteTimesSnapshot) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let kinds = [
        (
            "siaga_store_commit_seconds",
            "Time of each store write transaction's COMMIT.",
            t.commit_histogram(&STORE_BOUNDS_US),
        ),
        (
            "siaga_store_sync_seconds",
            "Time of each sync (fdatasync) that makes committed store writes durable.",
            t.sync_histogram(&STORE_BOUNDS_US),
        ),
    ];
    for (name, help, h) in kinds {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (le, n) in &h.le {
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(
            out,
            "{name}_sum {}\n{name}_count {}",
            h.sum_seconds, h.count
        );
    }
    out
}

/// OpenMetrics text (what prometheus-client writes) to the Prometheus text format 0.0.4:
/// a counter's `# HELP`/`# TYPE` name gets the `_total` its samples carry, `unknown` is
/// `untyped`, and `# UNIT` and `# EOF` go. The classic parser (Prometheus, `promtool check
/// metrics`) rejects a sample whose name does not match its `# TYPE` line.
fn to_prometheus_text(open_metrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = open_metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open_metrics.len() + 16 * counters.len());
    for line in open_metrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                out.push_str(prefix);
                out.push_str(name);
                if counters.contains(name) && !name.ends_with("_total") {
                    out.push_str("_total");
                }
                out.push(' ');
                out.push_str(if tail == "unknown" { "untyped" } else { tail });
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_spec_series_with_labels() {
        let m = Metrics::new();
        m.attempt("digi", "success", "", 0.2);
        m.attempt("digi", "failed", "maintenance", 0.01);
        m.order_final("TSEL10", "success");
        m.set_circuit_state("digi", 2);
        m.set_supplier_balance("digi", 500_000);
        m.set_orders_pending("queued", 3);
        m.set_component_status("Telkomsel Pulsa", 0);
        m.notification("email", "sent");
        let t = m.render();
        for line in [
            r#"siaga_attempts_total{supplier="digi",outcome="success",reason=""} 1"#,
            r#"siaga_attempts_total{supplier="digi",outcome="failed",reason="maintenance"} 1"#,
            r#"siaga_orders_total{product="TSEL10",status="success"} 1"#,
            r#"siaga_supplier_circuit_state{supplier="digi"} 2"#,
            r#"siaga_supplier_balance_rupiah{supplier="digi"} 500000"#,
            r#"siaga_orders_pending{stage="queued"} 3"#,
            r#"siaga_component_status{component="Telkomsel Pulsa"} 0"#,
            r#"siaga_notifications_total{channel="email",result="sent"} 1"#,
            r#"siaga_attempt_duration_seconds_count{supplier="digi"} 2"#,
            r#"siaga_attempt_duration_seconds_bucket{le="+Inf",supplier="digi"} 2"#,
        ] {
            assert!(t.contains(line), "missing {line} in\n{t}");
        }
        assert!(t.contains("# TYPE siaga_attempt_duration_seconds histogram"));
        assert!(t.contains("# TYPE siaga_orders_total counter"));
        assert!(t.contains("# HELP siaga_orders_total Orders"));
        assert!(t.contains(r#"siaga_http_rejected_total{reason="overloaded"} 0"#));
        assert!(!t.contains("# EOF"));
        assert!(!t.contains("# TYPE siaga_orders counter"));
    }
}
