//! Background work on orders: the dispatcher sends each order to its routes in order,
//! keeps pending/unknown attempts at their supplier (callback or paced inquiry), and
//! resumes whatever a crash interrupted, because all it needs is in the store.

pub mod callbacks;
pub mod decide;
pub mod upkeep;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use siaga_domain::{OrderStatus, Stage};
use siaga_store::{AttemptState, ChangeOrder, NewAttempt, OrderChange, Transition};
use siaga_suppliers::TopupRequest;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::app::App;
use crate::keys;

/// Orders processed at once by this node.
const MAX_IN_FLIGHT: usize = 4096;
const POLL: Duration = Duration::from_millis(200);
/// Re-reads after a lost race before giving up until the next poll.
const MAX_ROUNDS: usize = 16;

pub async fn dispatcher(
    app: Arc<App>,
    mut rx: mpsc::UnboundedReceiver<String>,
    mut shutdown: watch::Receiver<bool>,
) {
    let inflight: Arc<Mutex<HashSet<String>>> = Arc::default();
    let sem = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let ids: Vec<String> = tokio::select! {
            Some(id) = rx.recv() => vec![id],
            _ = tick.tick() => match app.store.due_orders(app.now(), 1000).await {
                Ok(ids) => ids,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read due orders");
                    Vec::new()
                }
            },
            _ = shutdown.changed() => return,
        };
        for id in ids {
            let fresh = inflight
                .lock()
                .map(|mut s| s.insert(id.clone()))
                .unwrap_or(false);
            if !fresh {
                continue;
            }
            let (app, inflight, sem) = (app.clone(), inflight.clone(), sem.clone());
            tokio::spawn(async move {
                let _permit = sem.acquire_owned().await;
                if let Err(e) = process(&app, &id).await {
                    tracing::error!(order = %id, error = %e, "order processing failed; will retry");
                }
                if let Ok(mut s) = inflight.lock() {
                    s.remove(&id);
                }
            });
        }
    }
}

/// Moves one order forward as far as it can go now.
pub async fn process(app: &App, order_id: &str) -> anyhow::Result<()> {
    // A reply that lost a race with a supplier callback (the order's version moved while the
    // request was out): applied to its attempt if that is still open, instead of waiting
    // for the next inquiry.
    let mut late: Option<(String, siaga_suppliers::Reply)> = None;
    for _ in 0..MAX_ROUNDS {
        let Some(order) = app.store.order(order_id).await? else {
            return Ok(());
        };
        if order.status != OrderStatus::Pending || order.stage == Some(Stage::ManualReview) {
            return Ok(());
        }
        let now = app.now();
        let attempts = app.store.attempts(order_id).await?;
        // An open attempt is settled at its own supplier, never elsewhere.
        if let Some(open) = attempts.last().filter(|a| a.state.is_open()) {
            if let Some((_, reply)) = late.take().filter(|(id, _)| *id == open.id) {
                if !reply.outcome.is_open() || open.state == AttemptState::Sending {
                    let settle = decide::settle(
                        &app.settings,
                        &order,
                        &attempts,
                        open,
                        &reply,
                        false,
                        app.now(),
                    );
                    match app.store.settle_attempt(settle).await? {
                        Transition::Done(o) if o.status.is_final() => {
                            app.order_final(&o);
                            return Ok(());
                        }
                        Transition::Done(o) if o.stage == Some(Stage::Dispatching) => continue,
                        Transition::Done(_) => return Ok(()),
                        Transition::Stale => {
                            late = Some((open.id.clone(), reply));
                            continue;
                        }
                    }
                }
            }
            let Some(adapter) = app.adapters.get(&open.supplier_id) else {
                // The supplier left the config: only a human can settle this.
                let change = ChangeOrder {
                    order_id: order.id.clone(),
                    order_version: order.version,
                    change: OrderChange::ManualReview,
                    now,
                };
                app.store.change_order(change).await?;
                return Ok(());
            };
            let due = decide::inquiry_due(&app.settings, open);
            if now < due {
                if order.next_action_at != Some(due) || order.stage != Some(Stage::AwaitingSupplier)
                {
                    let change = ChangeOrder {
                        order_id: order.id.clone(),
                        order_version: order.version,
                        change: OrderChange::Await { at: due },
                        now,
                    };
                    if let Transition::Stale = app.store.change_order(change).await? {
                        continue;
                    }
                }
                return Ok(());
            }
            let req = TopupRequest {
                supplier_ref: &open.supplier_ref,
                sku: &open.sku,
                destination: &order.destination,
            };
            let reply = adapter.inquiry(&req).await;
            let settle = decide::settle(
                &app.settings,
                &order,
                &attempts,
                open,
                &reply,
                true,
                app.now(),
            );
            match app.store.settle_attempt(settle).await? {
                Transition::Done(o) if o.status.is_final() => {
                    app.order_final(&o);
                    return Ok(());
                }
                Transition::Done(o) if o.stage == Some(Stage::Dispatching) => continue,
                Transition::Done(_) => return Ok(()),
                Transition::Stale => continue,
            }
        }
        // No open attempt: the next usable route not yet tried in this round.
        let product = app.settings.product(&order.product);
        let untried = product
            .map(|p| decide::untried_routes(&app.settings, p, &attempts, order.round))
            .unwrap_or_default();
        let price = product.map(|p| p.price.get()).unwrap_or(0);
        let usable: Vec<_> = untried
            .iter()
            .filter_map(|r| app.health.check(r, price).ok().map(|cost| (*r, cost)))
            .collect();
        let ordered = decide::by_strategy(app, usable);
        let chosen = ordered
            .iter()
            .find_map(|(r, cost)| app.health.acquire(&r.supplier).map(|p| (*r, *cost, p)));
        let Some((route, cost, permit)) = chosen else {
            let change = if untried.is_empty() {
                // every route of this round failed: queue for a new round, or fail
                decide::exhausted(&order, &decide::round_failures(&attempts, order.round), now)
            } else {
                decide::hold(&order, !ordered.is_empty(), now)
            };
            let change = ChangeOrder {
                order_id: order.id.clone(),
                order_version: order.version,
                change,
                now,
            };
            match app.store.change_order(change).await? {
                Transition::Done(o) => {
                    if o.status.is_final() {
                        app.order_final(&o);
                    }
                    return Ok(());
                }
                Transition::Stale => continue,
            }
        };
        let Some(adapter) = app.adapters.get(&route.supplier) else {
            continue;
        };
        let timeout = app
            .settings
            .supplier(&route.supplier)
            .map(|s| s.timeout)
            .unwrap_or(Duration::from_secs(15));
        let attempt_id = keys::new_id("att");
        let new = NewAttempt {
            order_id: order.id.clone(),
            order_version: order.version,
            supplier_ref: attempt_id.trim_start_matches("att_").to_owned(),
            attempt_id,
            supplier_id: route.supplier.clone(),
            sku: route.sku.clone(),
            cost,
            lease_until: now + timeout.as_millis() as i64 + 5_000,
            now,
        };
        let attempt = match app.store.start_attempt(new).await? {
            Transition::Done(a) => a,
            Transition::Stale => continue,
        };
        // The attempt is durable: only now may the request leave.
        let req = TopupRequest {
            supplier_ref: &attempt.supplier_ref,
            sku: &attempt.sku,
            destination: &order.destination,
        };
        let sent = std::time::Instant::now();
        let reply = adapter.topup(&req).await;
        app.health.record(
            permit,
            &attempt.sku,
            &reply,
            sent.elapsed().as_millis() as i64,
        );
        let mut order = order;
        order.version += 1;
        let mut all = attempts;
        all.push(attempt.clone());
        let settle = decide::settle(
            &app.settings,
            &order,
            &all,
            &attempt,
            &reply,
            false,
            app.now(),
        );
        debug_assert!(settle.state != AttemptState::Sending);
        match app.store.settle_attempt(settle).await? {
            Transition::Done(o) if o.status.is_final() => {
                app.order_final(&o);
                return Ok(());
            }
            Transition::Done(o) if o.stage == Some(Stage::Dispatching) => continue,
            Transition::Done(_) => return Ok(()),
            Transition::Stale => {
                late = Some((attempt.id.clone(), reply));
                continue;
            }
        }
    }
    Ok(())
}
