//! Taking a new order: its first attempt is chosen as the dispatcher would and committed
//! with the order, so the request can leave as soon as that one commit is durable.

use std::sync::Arc;
use std::time::Duration;

use siaga_store::{Intake, NewAttempt, NewOrder};

use super::trace::Stage;
use super::{Engine, Started};
use crate::config::{Product, Route};
use crate::health::Permit;
use crate::keys;

/// Takes a new order: chooses its first route as [`super::process`] would and commits the
/// attempt with the order (one durable commit less; the request leaves as soon as the
/// commit is durable), or takes the order alone when no route can take it now. Then hands
/// it to the dispatcher. Replays, conflicts and refusals come back as they are.
pub async fn take(engine: Arc<Engine>, new: NewOrder) -> Result<Intake, siaga_store::StoreError> {
    // Right after a start, the kept supplier prices first (immediate afterwards).
    engine.prices_loaded().await;
    engine.trace.mark(&new.order_id, Stage::IntakeBegan);
    let first = engine
        .settings
        .get()
        .product(&new.product)
        .and_then(|p| first_attempt(&engine, p, &new.order_id, new.now));
    let (intake, started) = match first {
        Some((first, permit)) => {
            let (intake, attempt) = engine.store.create_order_with_attempt(new, first).await?;
            (intake, attempt.map(|a| (a, permit)))
        }
        None => (engine.store.create_order(new).await?, None),
    };
    if let Intake::Created(o) = &intake {
        engine.trace.mark(&o.id, Stage::IntakeDurable);
        match started {
            Some((attempt, permit)) => engine.dispatch_started(Started {
                order: o.clone(),
                attempt,
                permit,
            }),
            None => engine.kick(&o.id),
        }
    }
    Ok(intake)
}

/// The route a new order would take first, and the permit to take it with: what
/// [`super::process`] would choose for it, so that intake can commit the attempt with the
/// order. `None` when no route can take it now (the dispatcher decides then: hold, queue,
/// fail).
pub fn first_attempt(
    engine: &Engine,
    product: &Product,
    order_id: &str,
    now: i64,
) -> Option<(NewAttempt, Permit)> {
    let routes = engine.routes(Some(product), &[], 0);
    let adapters = engine.adapters.get();
    let usable: Vec<_> = routes
        .usable
        .into_iter()
        .filter(|(r, _)| adapters.contains_key(&r.supplier))
        .collect();
    // Behind the orders already waiting for a slot, not before them.
    let (route, cost, permit) = engine.take_slot(&(now, order_id.to_owned()), &usable)?;
    Some((new_attempt(engine, order_id, 0, route, cost, now), permit))
}

/// The attempt to start on `route` for version `order_version` of the order.
pub(super) fn new_attempt(
    engine: &Engine,
    order_id: &str,
    order_version: i64,
    route: &Route,
    cost: i64,
    now: i64,
) -> NewAttempt {
    let timeout = engine
        .settings
        .get()
        .supplier(&route.supplier)
        .map(|s| s.timeout)
        .unwrap_or(Duration::from_secs(15));
    let attempt_id = keys::new_id("att");
    NewAttempt {
        order_id: order_id.to_owned(),
        order_version,
        supplier_ref: attempt_id.trim_start_matches("att_").to_owned(),
        attempt_id,
        supplier_id: route.supplier.clone(),
        sku: route.sku.clone(),
        cost,
        lease_until: now + timeout.as_millis() as i64 + 5_000,
        now,
    }
}
