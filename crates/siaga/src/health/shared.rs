//! Health shared by several nodes (SPEC 12): this node's breaker changes and supplier
//! events go to the store in the order they happened (one writer task), and the breaker
//! state another node recorded is taken here, so a supplier one node found down is
//! avoided by all within a heartbeat.

use std::sync::Arc;

use siaga_domain::breaker::BreakerState;
use siaga_store::{SharedBreaker, Store, SupplierEvent};
use tokio::sync::mpsc;

use super::{state_level, Health};

/// A write health asks of the store.
pub(super) enum Keep {
    Event(SupplierEvent),
    /// A breaker change of this node's: recorded with its event unless another node
    /// recorded the same change first.
    Breaker(SharedBreaker, SupplierEvent),
}

impl Health {
    /// Queues a write; the writer task starts with the first one.
    pub(super) fn keep(&self, k: Keep) {
        let tx = self.keeper.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(writer(self.store.clone(), rx));
            tx
        });
        if tx.send(k).is_err() {
            tracing::error!("health writer stopped; a supplier event was not recorded");
        }
    }

    /// Takes each supplier's breaker state as another node last recorded it, when that
    /// is newer than this node's own last change and not stale: a circuit that stays open
    /// is recorded again at least every longest back-off (half-open, open again), so a row
    /// older than twice that is a node's last word before it died. Returns the suppliers
    /// that changed.
    pub fn adopt_shared(&self, rows: &[SharedBreaker]) -> Vec<String> {
        let now = self.now();
        let stale = now - 2 * (self.cfg.breaker_open_max_ms as i64).max(60_000);
        let mut changed = Vec::new();
        for row in rows.iter().filter(|r| r.node != self.node && r.at >= stale) {
            let (Some(e), Some(to)) = (
                self.entry(&row.supplier_id),
                BreakerState::parse(&row.state),
            ) else {
                continue;
            };
            let Ok(mut st) = e.st.lock() else { continue };
            if row.at <= st.changed_at {
                continue;
            }
            st.changed_at = row.at;
            if let Some(t) = st.breaker.adopt(to, now, &row.node) {
                self.metrics
                    .set_circuit_state(&row.supplier_id, state_level(t.to));
                tracing::info!(supplier = %row.supplier_id, from = t.from.as_str(), to = t.to.as_str(),
                    node = %row.node, "circuit breaker taken from another node");
                changed.push(row.supplier_id.clone());
            }
        }
        changed
    }

    /// This node's id among several (SPEC 12).
    pub fn node(&self) -> &str {
        &self.node
    }
}

async fn writer(store: Arc<dyn Store>, mut rx: mpsc::UnboundedReceiver<Keep>) {
    while let Some(k) = rx.recv().await {
        let done = match k {
            Keep::Event(e) => store.add_supplier_event(e).await.map(|_| ()),
            Keep::Breaker(b, e) => store.share_breaker(b, e).await.map(|_| ()),
        };
        if let Err(err) = done {
            tracing::error!(error = %err, "cannot record a supplier event");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use siaga_store::SharedBreaker;

    use crate::clock::ManualClock;
    use crate::config::{self, Settings};
    use crate::health::Health;
    use crate::metrics::Metrics;

    const T0: i64 = 1_700_000_000_000;

    /// Two suppliers, `a` and `b`, behind one product.
    fn settings() -> Settings {
        let text = r#"
[[suppliers]]
id = "a"
base_url = "http://127.0.0.1:9"
key_env = "K"

[[suppliers]]
id = "b"
base_url = "http://127.0.0.1:9"
key_env = "K"

[[products]]
code = "TSEL10"
name = "Telkomsel 10.000"
operator = "telkomsel"
group = "Telkomsel Pulsa"
price = 10500
routes = [{ supplier = "a", sku = "a10", cost = 10150, priority = 1 },
          { supplier = "b", sku = "b10", cost = 10200, priority = 2 }]
"#;
        let cfg = config::parse(text, "t.toml", &[]).expect("parses");
        config::validate(&cfg, text, "t.toml", std::path::Path::new("/tmp"), &|_| {
            Some("k".into())
        })
        .expect("valid")
    }

    fn row(supplier: &str, state: &str, node: &str, at: i64) -> SharedBreaker {
        SharedBreaker {
            supplier_id: supplier.into(),
            state: state.into(),
            node: node.into(),
            at,
        }
    }

    #[test]
    fn another_nodes_recent_breaker_state_is_taken_and_its_own_or_a_stale_one_is_not() {
        let dir = tempfile::tempdir().expect("dir");
        let store = siaga_store::open(dir.path().join("h.db").as_path()).expect("store");
        let s = settings();
        let me = s.cluster.node_id.clone();
        let h = Health::new(
            &s,
            store,
            Arc::new(ManualClock::new(T0)),
            Arc::new(Metrics::new()),
        );
        // Another node found `a` down: this node avoids it too.
        assert_eq!(h.adopt_shared(&[row("a", "open", "n2", T0)]), vec!["a"]);
        assert!(!h.circuit_closed("a"));
        // The same row again, and this node's own rows, change nothing.
        assert!(h.adopt_shared(&[row("a", "open", "n2", T0)]).is_empty());
        assert!(h.adopt_shared(&[row("b", "open", &me, T0 + 1)]).is_empty());
        assert!(h.circuit_closed("b"));
        // A dead node's last word from long ago is not taken.
        let old = T0 - 2 * 300_000 - 1;
        assert!(h.adopt_shared(&[row("b", "open", "n3", old)]).is_empty());
        assert!(h.circuit_closed("b"));
        // The other node saw `a` recover.
        assert_eq!(
            h.adopt_shared(&[row("a", "closed", "n2", T0 + 5)]),
            vec!["a"]
        );
        assert!(h.circuit_closed("a"));
        // An older row than this node's last change is not taken over it.
        assert!(h.adopt_shared(&[row("a", "open", "n3", T0 + 4)]).is_empty());
        assert!(h.circuit_closed("a"));
    }
}
