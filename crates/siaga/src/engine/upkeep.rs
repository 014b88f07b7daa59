//! Keeping an eye on suppliers: balance probes every `health.probe_interval_s`, announced
//! maintenance windows reloaded from the store (so `siaga maintenance add` on another
//! process takes effect), and the price-list sync (never more often than every 5 minutes).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use siaga_store::{SupplierEvent, SupplierProduct};
use tokio::sync::watch;

use super::Engine;

/// Digiflazz allows the full price list once per 5 minutes (rc 83 otherwise).
pub const PRICE_SYNC_FLOOR_MS: i64 = 300_000;

/// What health knows from the store: each supplier's kept prices (the last price lists
/// and the costs learnt from charges since, with their cut-off windows) and the announced
/// maintenance windows. Run before anything reads health or routes an order (the status
/// worker's first step, `Engine::prices_loaded`), then kept fresh by [`run`].
pub async fn load(engine: &Engine) {
    load_prices(engine).await;
    engine.set_prices_loaded();
    reload_windows(engine).await;
}

/// Each supplier's kept prices into health (the leader of several nodes syncs the price
/// lists; the others read what it kept).
async fn load_prices(engine: &Engine) {
    match engine.store.supplier_products().await {
        Ok(items) => {
            for id in engine.health.supplier_ids() {
                let mine: Vec<SupplierProduct> = items
                    .iter()
                    .filter(|(s, _)| *s == id)
                    .map(|(_, p)| p.clone())
                    .collect();
                engine.health.set_learnt(&id, &mine);
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot read the kept supplier prices"),
    }
}

/// How often a node that does not lead reads the prices the leader kept.
const FOLLOW_PRICES_EVERY: u32 = 15;

pub async fn run(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    let mut reload = tokio::time::interval(Duration::from_secs(2));
    let mut probe = tokio::time::interval(Duration::from_secs(
        engine.settings.get().health.probe_interval_s,
    ));
    let every = Duration::from_secs(engine.settings.get().health.price_sync_interval_s);
    let mut sync = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    for t in [&mut reload, &mut probe, &mut sync] {
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    let mut reloads: u32 = 0;
    loop {
        // Probes and price syncs are the leader's (SPEC 12): one node asks each supplier.
        let leading = engine.cluster.is_leader();
        tokio::select! {
            _ = reload.tick() => {
                reload_windows(&engine).await;
                reloads = reloads.wrapping_add(1);
                if !leading && reloads.is_multiple_of(FOLLOW_PRICES_EVERY) {
                    load_prices(&engine).await;
                }
            }
            _ = probe.tick(), if leading => probe_all(&engine).await,
            _ = sync.tick(), if leading => {
                for id in engine.health.supplier_ids().into_iter().filter(|id| !is_desk(&engine, id)) {
                    if let Err(e) = sync_prices(&engine, &id).await {
                        tracing::warn!(supplier = %id, error = %e, "price list sync failed");
                    }
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

pub async fn reload_windows(engine: &Engine) {
    // An operator's pauses (another node's, or `siaga supplier pause`) too.
    let ids = engine.health.supplier_ids();
    match crate::ops::pause::load(engine.store.as_ref(), &ids).await {
        Ok(p) => engine.health.set_pauses(p),
        Err(e) => tracing::error!(error = %e, "cannot read paused suppliers"),
    }
    match engine
        .store
        .maintenance_windows(engine.now() - 86_400_000)
        .await
    {
        Ok(w) => engine.health.set_announced(w),
        Err(e) => tracing::error!(error = %e, "cannot read maintenance windows"),
    }
}

/// Whether `supplier` is a manual one (the desk): never probed, no price list to sync.
fn is_desk(engine: &Engine, supplier: &str) -> bool {
    engine
        .settings
        .get()
        .supplier(supplier)
        .is_some_and(|s| s.is_manual())
}

/// Probes every supplier reached over HTTP (a desk has no balance to ask for).
async fn probe_all(engine: &Engine) {
    let adapters = engine.adapters.get();
    let settings = engine.settings.get();
    // A supplier retired by a reload takes no new orders: nothing to probe for.
    let live = adapters.iter().filter(|(id, _)| {
        settings
            .supplier(id)
            .is_some_and(|s| !s.retired && !s.is_manual())
    });
    let probes = live.map(|(id, a)| async move {
        let r = tokio::time::timeout(Duration::from_secs(10), a.balance()).await;
        let r = r.unwrap_or_else(|_| Err("balance check timed out".into()));
        (id.clone(), r)
    });
    for (id, r) in futures::future::join_all(probes).await {
        engine.health.record_probe(&id, r);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("unknown supplier {0}")]
    UnknownSupplier(String),
    #[error("the price list of {0} was synced {1} s ago; suppliers allow it once every 300 s")]
    TooSoon(String, i64),
    #[error("supplier said: {0}")]
    Supplier(String),
    #[error("{0} is a manual supplier (the desk): it has no price list")]
    NotApplicable(String),
    #[error(transparent)]
    Store(#[from] siaga_store::StoreError),
}

/// Fetches one supplier's price list, stores it, feeds it to routing, and records routes
/// whose cost rose above the product's price (disabled) or came back under it.
pub async fn sync_prices(
    engine: &Engine,
    supplier_id: &str,
) -> Result<serde_json::Value, SyncError> {
    let adapter = engine
        .adapters
        .get()
        .get(supplier_id)
        .cloned()
        .ok_or_else(|| SyncError::UnknownSupplier(supplier_id.into()))?;
    if is_desk(engine, supplier_id) {
        return Err(SyncError::NotApplicable(supplier_id.into()));
    }
    let now = engine.now();
    {
        let mut last = engine
            .last_price_sync
            .lock()
            .map_err(|_| SyncError::Supplier("state poisoned".into()))?;
        if let Some(at) = last.get(supplier_id) {
            if now - at < PRICE_SYNC_FLOOR_MS {
                return Err(SyncError::TooSoon(supplier_id.into(), (now - at) / 1000));
            }
        }
        last.insert(supplier_id.to_owned(), now);
    }
    let items = adapter.price_list().await.map_err(SyncError::Supplier)?;
    let items: Vec<SupplierProduct> = items
        .into_iter()
        .map(|i| SupplierProduct {
            sku: i.sku,
            price: i.price,
            buyer_status: i.buyer_status,
            seller_status: i.seller_status,
            start_cut_off: i.start_cut_off,
            end_cut_off: i.end_cut_off,
            synced_at: now,
        })
        .collect();
    let mut disabled = Vec::new();
    let mut enabled = Vec::new();
    for p in &engine.settings.get().products {
        for r in p.routes.iter().filter(|r| r.supplier == supplier_id) {
            let old = engine
                .health
                .learnt(supplier_id, &r.sku)
                .map(|l| l.price)
                .unwrap_or(r.cost.get());
            let Some(new) = items.iter().find(|i| i.sku == r.sku) else {
                continue;
            };
            let price = p.price.get();
            let (was_over, is_over) = (old > price, new.price > price);
            if is_over != was_over {
                let kind = if is_over {
                    "cost_above_price"
                } else {
                    "route_enabled"
                };
                let detail = json!({"product": p.code.as_str(), "sku": r.sku, "old_cost": old, "cost": new.price, "price": price});
                tracing::warn!(supplier = supplier_id, %detail, kind, "route cost changed");
                engine
                    .store
                    .add_supplier_event(SupplierEvent {
                        supplier_id: supplier_id.to_owned(),
                        kind: kind.into(),
                        from_state: None,
                        to_state: None,
                        detail: detail.to_string(),
                        at: now,
                    })
                    .await?;
                if is_over {
                    disabled.push(detail)
                } else {
                    enabled.push(detail)
                }
            }
        }
    }
    engine
        .store
        .replace_supplier_products(supplier_id, items.clone())
        .await?;
    engine.health.set_learnt(supplier_id, &items);
    Ok(
        json!({"supplier": supplier_id, "items": items.len(), "disabled": disabled, "enabled": enabled}),
    )
}
