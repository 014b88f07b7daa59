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
use siaga_store::{
    Attempt, AttemptState, ChangeOrder, Intake, NewAttempt, NewOrder, Order, OrderChange,
    Transition,
};
use siaga_suppliers::{Adapter, Reply, TopupRequest};
use tokio::sync::{mpsc, watch, Semaphore};

use crate::app::App;
use crate::config::{Product, Route};
use crate::health::Permit;
use crate::keys;

/// Orders processed at once by this node.
const MAX_IN_FLIGHT: usize = 4096;
const POLL: Duration = Duration::from_millis(200);
/// Re-reads after a lost race before giving up until the next poll.
const MAX_ROUNDS: usize = 16;

/// What the dispatcher is asked to do.
pub enum Work {
    /// Look at an order now (new, woken by a callback, or due).
    Look(String),
    /// A new order whose first attempt was committed together with it: send it now.
    Started(Box<Started>),
}

/// A new order and its first attempt, durable, with the supplier's concurrency permit.
pub struct Started {
    pub order: Order,
    pub attempt: Attempt,
    pub permit: Permit,
}

pub async fn dispatcher(
    app: Arc<App>,
    mut rx: mpsc::UnboundedReceiver<Work>,
    mut shutdown: watch::Receiver<bool>,
) {
    let inflight: Arc<Mutex<HashSet<String>>> = Arc::default();
    let sem = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut closing = false;
    loop {
        // Once shutdown is asked, no more polling; but orders still being taken while the
        // server drains its connections are handed over and sent (the task is aborted
        // after the server has stopped).
        let work: Vec<Work> = tokio::select! {
            w = rx.recv() => match w {
                Some(w) => vec![w],
                None => return,
            },
            _ = tick.tick(), if !closing => match app.store.due_orders(app.now(), 1000).await {
                Ok(ids) => ids.into_iter().map(Work::Look).collect(),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read due orders");
                    Vec::new()
                }
            },
            _ = shutdown.changed(), if !closing => {
                closing = true;
                Vec::new()
            }
        };
        for w in work {
            let id = match &w {
                Work::Look(id) => id.clone(),
                Work::Started(s) => s.order.id.clone(),
            };
            let fresh = inflight
                .lock()
                .map(|mut s| s.insert(id.clone()))
                .unwrap_or(false);
            if !fresh {
                if matches!(w, Work::Started(_)) {
                    // Not expected (nothing else knows a new order before its hand-off); the
                    // order in flight settles the attempt by inquiry at the same supplier.
                    tracing::warn!(order = %id, "a started order was already in flight; its request was not sent from intake");
                }
                continue;
            }
            let (app, inflight, sem) = (app.clone(), inflight.clone(), sem.clone());
            tokio::spawn(async move {
                let _permit = sem.acquire_owned().await;
                let done = match w {
                    Work::Look(_) => process(&app, &id).await,
                    Work::Started(s) => process_started(&app, *s).await,
                };
                if let Err(e) = done {
                    tracing::error!(order = %id, error = %e, "order processing failed; will retry");
                }
                if let Ok(mut s) = inflight.lock() {
                    s.remove(&id);
                }
            });
        }
    }
}

/// Takes a new order: chooses its first route as [`process`] would and commits the
/// attempt with the order (one durable commit less; the request leaves as soon as the
/// commit is durable), or takes the order alone when no route can take it now. Then hands
/// it to the dispatcher. Replays, conflicts and refusals come back as they are.
pub async fn take(app: Arc<App>, new: NewOrder) -> Result<Intake, siaga_store::StoreError> {
    let first = app
        .settings
        .product(&new.product)
        .and_then(|p| first_attempt(&app, p, &new.order_id, new.now));
    let (intake, started) = match first {
        Some((first, permit)) => {
            let (intake, attempt) = app.store.create_order_with_attempt(new, first).await?;
            (intake, attempt.map(|a| (a, permit)))
        }
        None => (app.store.create_order(new).await?, None),
    };
    if let Intake::Created(o) = &intake {
        match started {
            Some((attempt, permit)) => app.dispatch_started(Started {
                order: o.clone(),
                attempt,
                permit,
            }),
            None => app.kick(&o.id),
        }
    }
    Ok(intake)
}

/// The route a new order would take first, and the permit to take it with: what
/// [`process`] would choose for it, so that intake can commit the attempt with the order.
/// `None` when no route can take it now (the dispatcher decides then: hold, queue, fail).
pub fn first_attempt(
    app: &App,
    product: &Product,
    order_id: &str,
    now: i64,
) -> Option<(NewAttempt, Permit)> {
    let untried = decide::untried_routes(&app.settings, product, &[], 0);
    let price = product.price.get();
    let usable: Vec<_> = untried
        .iter()
        .filter_map(|r| app.health.check(r, price).ok().map(|cost| (*r, cost)))
        .collect();
    let ordered = decide::by_strategy(app, usable);
    let (route, cost, permit) = ordered.iter().find_map(|(r, cost)| {
        app.adapters.get(&r.supplier)?;
        app.health.acquire(&r.supplier).map(|p| (*r, *cost, p))
    })?;
    Some((new_attempt(app, order_id, 0, route, cost, now), permit))
}

fn new_attempt(
    app: &App,
    order_id: &str,
    order_version: i64,
    route: &Route,
    cost: i64,
    now: i64,
) -> NewAttempt {
    let timeout = app
        .settings
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

/// A new order whose first attempt is durable: sends it, then carries on as [`process`].
async fn process_started(app: &App, s: Started) -> anyhow::Result<()> {
    let Started {
        order,
        attempt,
        permit,
    } = s;
    let id = order.id.clone();
    let Some(adapter) = app.adapters.get(&attempt.supplier_id).cloned() else {
        return process(app, &id).await;
    };
    match send(app, order, Vec::new(), attempt, permit, adapter.as_ref()).await? {
        Sent::Finished => Ok(()),
        Sent::Again(late) => process_from(app, &id, late).await,
    }
}

/// After a request: whether the order needs another look, with a reply that lost a race.
enum Sent {
    Finished,
    Again(Option<(String, Reply)>),
}

/// Sends the durable attempt `attempt` of `order` (as it was before the attempt started;
/// `before` are its earlier attempts) and settles it with the reply.
async fn send(
    app: &App,
    order: Order,
    before: Vec<Attempt>,
    attempt: Attempt,
    permit: Permit,
    adapter: &dyn Adapter,
) -> anyhow::Result<Sent> {
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
    learn_charged(app, &order, &attempt, &reply).await;
    let mut order = order;
    order.version += 1;
    let mut all = before;
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
    Ok(match app.store.settle_attempt(settle).await? {
        Transition::Done(o) if o.status.is_final() => {
            app.order_final(&o);
            Sent::Finished
        }
        Transition::Done(o) if o.stage == Some(Stage::Dispatching) => Sent::Again(None),
        Transition::Done(_) => Sent::Finished,
        Transition::Stale => Sent::Again(Some((attempt.id.clone(), reply))),
    })
}

/// A success that says what the supplier charged teaches the route its real cost. When
/// the cost rises, the owner hears of it (a supplier event and an alert); above the
/// product's price the route stops being used at once (no selling at a loss).
/// Every way a success arrives goes through it: the request's reply, an inquiry, and the
/// supplier's callback.
pub async fn learn_charged(app: &App, order: &Order, attempt: &Attempt, reply: &Reply) {
    if !matches!(reply.outcome, siaga_domain::Outcome::Success { .. }) {
        return;
    }
    let Some(charged) = decide::charged(attempt, reply.price) else {
        return;
    };
    let configured = app
        .settings
        .product(&order.product)
        .and_then(|p| {
            p.routes
                .iter()
                .find(|r| r.supplier == attempt.supplier_id && r.sku == attempt.sku)
        })
        .map(|r| r.cost.get())
        .unwrap_or(attempt.cost);
    let Some(old) =
        app.health
            .learn_charged(&attempt.supplier_id, &attempt.sku, charged, configured)
    else {
        return;
    };
    if charged <= old {
        return;
    }
    let kind = if charged > order.price {
        "cost_above_price"
    } else {
        "charged_above_cost"
    };
    let detail = serde_json::json!({
        "product": order.product, "sku": attempt.sku, "old_cost": old, "cost": charged,
        "price": order.price, "order_id": order.id,
    });
    tracing::warn!(supplier = %attempt.supplier_id, %detail, kind, "the supplier charged more than the known cost");
    let e = siaga_store::SupplierEvent {
        supplier_id: attempt.supplier_id.clone(),
        kind: kind.into(),
        from_state: None,
        to_state: None,
        detail: detail.to_string(),
        at: app.now(),
    };
    if let Err(err) = app.store.add_supplier_event(e).await {
        tracing::error!(error = %err, "cannot record a supplier event");
    }
}

/// Moves one order forward as far as it can go now.
pub async fn process(app: &App, order_id: &str) -> anyhow::Result<()> {
    process_from(app, order_id, None).await
}

/// As [`process`], with `late`: a reply that lost a race with a supplier callback (the
/// order's version moved while the request was out), applied to its attempt if that is
/// still open instead of waiting for the next inquiry.
async fn process_from(
    app: &App,
    order_id: &str,
    mut late: Option<(String, Reply)>,
) -> anyhow::Result<()> {
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
            learn_charged(app, &order, open, &reply).await;
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
        let Some(adapter) = app.adapters.get(&route.supplier).cloned() else {
            continue;
        };
        let new = new_attempt(app, &order.id, order.version, route, cost, now);
        let attempt = match app.store.start_attempt(new).await? {
            Transition::Done(a) => a,
            Transition::Stale => continue,
        };
        // The attempt is durable: only now may the request leave.
        match send(app, order, attempts, attempt, permit, adapter.as_ref()).await? {
            Sent::Finished => return Ok(()),
            Sent::Again(l) => late = l,
        }
    }
    Ok(())
}
