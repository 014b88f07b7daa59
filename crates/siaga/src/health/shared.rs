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
    /// is newer than this node's own last change. Returns the suppliers that changed.
    pub fn adopt_shared(&self, rows: &[SharedBreaker]) -> Vec<String> {
        let now = self.now();
        let mut changed = Vec::new();
        for row in rows.iter().filter(|r| r.node != self.node) {
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
