//! The executor of the order step: reads the order, asks [`super::step`] what to do, does
//! the IO (store commands, supplier requests) and loops until the order rests.

use siaga_domain::routing::{self, AdaptiveParams, Candidate};
use siaga_store::{Attempt, ChangeOrder, Order, OrderChange, Transition};
use siaga_suppliers::{Adapter, Reply, TopupRequest};

use super::step::{self, After, Choice, Routes, Step};
use super::trace::Stage;
use super::{decide, intake, slots, Engine, Started};
use crate::config::{Product, Route};
use crate::health::Permit;

/// Re-reads after a lost race before giving up until the next poll.
const MAX_ROUNDS: usize = 16;

/// A reply that lost a race with a supplier callback, with its attempt's id.
type Late = Option<(String, Reply)>;

/// Whether the executor looks at the order again now.
enum Flow {
    Stop,
    Again,
}

/// Moves one order forward as far as it can go now.
pub async fn process(engine: &Engine, order_id: &str) -> anyhow::Result<()> {
    process_from(engine, order_id, None).await
}

/// A new order whose first attempt is durable: sends it, then carries on as [`process`].
pub(super) async fn process_started(engine: &Engine, s: Started) -> anyhow::Result<()> {
    let Started {
        order,
        attempt,
        permit,
    } = s;
    let id = order.id.clone();
    let Some(adapter) = engine.adapters.get().get(&attempt.supplier_id).cloned() else {
        return process(engine, &id).await;
    };
    match send(engine, order, Vec::new(), attempt, permit, adapter.as_ref()).await? {
        Sent::Finished => Ok(()),
        Sent::Again(late) => process_from(engine, &id, late).await,
    }
}

/// After a request: whether the order needs another look, with a reply that lost a race.
enum Sent {
    Finished,
    Again(Late),
}

/// Sends the durable attempt `attempt` of `order` (as it was before the attempt started;
/// `before` are its earlier attempts) and settles it with the reply.
async fn send(
    engine: &Engine,
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
    engine.trace.mark(&order.id, Stage::SupplierSent);
    let sent = std::time::Instant::now();
    let reply = adapter.topup(&req).await;
    let took = sent.elapsed().as_millis() as i64;
    engine.trace.mark(&order.id, Stage::SupplierReplied);
    engine.health.record(permit, &attempt.sku, &reply, took);
    heard(engine, &order, &attempt, &reply, decide::Source::Reply).await;
    let mut order = order;
    order.version += 1;
    let mut all = before;
    all.push(attempt.clone());
    let settle = decide::settle(
        &engine.settings.get(),
        &order,
        &all,
        &attempt,
        &reply,
        false,
        engine.now(),
    );
    debug_assert!(settle.state != siaga_store::AttemptState::Sending);
    let settled = engine.store.settle_attempt(settle).await?;
    engine.trace.mark(&order.id, Stage::SettleDurable);
    Ok(match settled {
        Transition::Done(o) => match step::after_settle(&o) {
            After::Final => {
                engine.order_final(&o);
                Sent::Finished
            }
            After::Again => Sent::Again(None),
            After::Rest => Sent::Finished,
        },
        Transition::Stale => Sent::Again(Some((attempt.id.clone(), reply))),
    })
}

/// What a supplier's answer about `attempt` teaches before it is applied, whichever way it
/// came (`source`): an answer that contradicts the attempt ([`decide::contradiction`]:
/// another destination or product, a charge far from the known cost) is recorded as a
/// `contradicting_callback` supplier event, which alerts the owner, and teaches nothing
/// ([`decide::settle`] leaves the attempt unknown, to be inquired at the same supplier);
/// any other answer goes to [`learn_charged`].
pub async fn heard(
    engine: &Engine,
    order: &Order,
    attempt: &Attempt,
    reply: &Reply,
    source: decide::Source,
) {
    let Some(c) = decide::contradiction(reply, &order.destination, attempt) else {
        learn_charged(engine, order, attempt, reply).await;
        return;
    };
    let mask = |s: &str| siaga_domain::msisdn::mask_digits(s);
    let detail = serde_json::json!({
        "source": source.as_str(),
        "fields": c.fields,
        "order_id": order.id,
        "attempt_id": attempt.id,
        "supplier_ref": attempt.supplier_ref,
        "expected": {"customer_no": mask(&order.destination), "buyer_sku_code": attempt.sku, "cost": attempt.cost},
        "got": {"customer_no": reply.customer_no.as_deref().map(mask), "buyer_sku_code": reply.sku,
                "price": reply.price, "status": reply.outcome.label()},
        "rc": reply.rc,
        "message": reply.message,
    });
    tracing::error!(supplier = %attempt.supplier_id, attempt = %attempt.id, source = source.as_str(),
        fields = ?c.fields, "a supplier answer contradicts its attempt; not applied, the attempt is inquired again");
    let e = siaga_store::SupplierEvent {
        supplier_id: attempt.supplier_id.clone(),
        kind: "contradicting_callback".into(),
        from_state: Some(attempt.state.as_str().into()),
        to_state: Some(reply.outcome.label().into()),
        detail: detail.to_string(),
        at: engine.now(),
    };
    if let Err(err) = engine.store.add_supplier_event(e).await {
        tracing::error!(error = %err, "cannot record a supplier event");
    }
}

/// A success that says what the supplier charged teaches the route its real cost, kept in
/// the store so that it outlives a restart (until the next price list replaces it). When
/// the cost rises, the owner hears of it (a supplier event and an alert); above the
/// product's price the route stops being used at once (no selling at a loss), and a later
/// cheaper charge does not bring it back ([`decide::teaches_cost`]).
/// Every way a success arrives goes through it: the request's reply, an inquiry, and the
/// supplier's callback.
pub async fn learn_charged(engine: &Engine, order: &Order, attempt: &Attempt, reply: &Reply) {
    // Only a proven success (one with a serial number, about this top-up) teaches a route
    // its cost.
    if !matches!(
        decide::proven(order, attempt, reply, false),
        siaga_domain::Outcome::Success { .. }
    ) {
        return;
    }
    let Some(charged) = decide::charged(attempt, reply.price) else {
        return;
    };
    let settings = engine.settings.get();
    let product = settings.product(&order.product);
    let configured = product
        .and_then(|p| {
            p.routes
                .iter()
                .find(|r| r.supplier == attempt.supplier_id && r.sku == attempt.sku)
        })
        .map(|r| r.cost.get())
        .unwrap_or(attempt.cost);
    // The price routing compares the cost with (`Engine::routes`).
    let price = product.map(|p| p.price.get()).unwrap_or(order.price);
    let known = engine
        .health
        .learnt(&attempt.supplier_id, &attempt.sku)
        .map(|l| l.price)
        .unwrap_or(configured);
    if !decide::teaches_cost(known, charged, price) {
        tracing::info!(supplier = %attempt.supplier_id, sku = %attempt.sku, known, charged, price,
            "a cheaper charge of an attempt sent before the route was disabled for its cost; the route stays disabled");
        return;
    }
    let Some(old) =
        engine
            .health
            .learn_charged(&attempt.supplier_id, &attempt.sku, charged, configured)
    else {
        return;
    };
    // Kept, so that a restart does not forget it (`upkeep::run` loads it back).
    if let Err(err) = engine
        .store
        .learn_supplier_price(&attempt.supplier_id, &attempt.sku, charged, engine.now())
        .await
    {
        tracing::error!(error = %err, supplier = %attempt.supplier_id, sku = %attempt.sku,
            "cannot keep the learnt cost; it holds until a restart");
    }
    if charged <= old {
        return;
    }
    let kind = if charged > price {
        "cost_above_price"
    } else {
        "charged_above_cost"
    };
    let detail = serde_json::json!({
        "product": order.product, "sku": attempt.sku, "old_cost": old, "cost": charged,
        "price": price, "order_id": order.id,
    });
    tracing::warn!(supplier = %attempt.supplier_id, %detail, kind, "the supplier charged more than the known cost");
    let e = siaga_store::SupplierEvent {
        supplier_id: attempt.supplier_id.clone(),
        kind: kind.into(),
        from_state: None,
        to_state: None,
        detail: detail.to_string(),
        at: engine.now(),
    };
    if let Err(err) = engine.store.add_supplier_event(e).await {
        tracing::error!(error = %err, "cannot record a supplier event");
    }
}

/// As [`process`], with `late`: a reply that lost a race with a supplier callback (the
/// order's version moved while the request was out), applied to its attempt if that is
/// still open instead of waiting for the next inquiry.
async fn process_from(engine: &Engine, order_id: &str, mut late: Late) -> anyhow::Result<()> {
    for _ in 0..MAX_ROUNDS {
        let Some(order) = engine.store.order(order_id).await? else {
            return Ok(());
        };
        // The same test `next_step` starts with, before the attempts are read.
        if !step::is_live(&order) {
            return Ok(());
        }
        let now = engine.now();
        // One config for this look at the order, even if a reload lands meanwhile.
        let settings = engine.settings.get();
        let attempts = engine.store.attempts(order_id).await?;
        let supplier_known = attempts
            .last()
            .is_some_and(|a| engine.adapters.get().contains_key(&a.supplier_id));
        let held = late.take();
        let next = step::next_step(
            &settings,
            &order,
            &attempts,
            held.as_ref(),
            supplier_known,
            now,
        );
        let flow = match next {
            Step::Leave | Step::Wait => Flow::Stop,
            Step::ApplyLate(settle) => match engine.store.settle_attempt(*settle).await? {
                Transition::Stale => {
                    late = held;
                    Flow::Again
                }
                t => settled(engine, t),
            },
            Step::ManualReview => {
                // Done whatever the store says: a human takes it from here.
                let change = change(&order, OrderChange::ManualReview, now);
                engine.store.change_order(change).await?;
                Flow::Stop
            }
            Step::Change(c) => changed(engine, &order, c, now).await?,
            Step::Inquire(open) => inquire(engine, &order, &attempts, open).await?,
            Step::Choose => {
                let routes =
                    engine.routes(settings.product(&order.product), &attempts, order.round);
                match step::choose(&order, &attempts, routes, now) {
                    Choice::Change(c) => changed(engine, &order, c, now).await?,
                    Choice::Send { routes, otherwise } => {
                        let (flow, l) =
                            dispatch(engine, order, attempts, &routes, otherwise, now).await?;
                        late = l;
                        flow
                    }
                }
            }
        };
        if let Flow::Stop = flow {
            return Ok(());
        }
    }
    Ok(())
}

/// The order's change at `now`, on the version read.
fn change(order: &Order, change: OrderChange, now: i64) -> ChangeOrder {
    ChangeOrder {
        order_id: order.id.clone(),
        order_version: order.version,
        change,
        now,
    }
}

/// Applies an order change; a final order is counted. Looks again only after a lost race.
async fn changed(engine: &Engine, order: &Order, c: OrderChange, now: i64) -> anyhow::Result<Flow> {
    Ok(
        match engine.store.change_order(change(order, c, now)).await? {
            Transition::Done(o) => {
                if o.status.is_final() {
                    engine.order_final(&o);
                }
                Flow::Stop
            }
            Transition::Stale => Flow::Again,
        },
    )
}

/// What the executor does once the store settled an attempt (or lost the race).
fn settled(engine: &Engine, t: Transition<Order>) -> Flow {
    match t {
        Transition::Done(o) => match step::after_settle(&o) {
            After::Final => {
                engine.order_final(&o);
                Flow::Stop
            }
            After::Again => Flow::Again,
            After::Rest => Flow::Stop,
        },
        Transition::Stale => Flow::Again,
    }
}

/// Asks the open attempt's supplier about it and settles it with the answer.
async fn inquire(
    engine: &Engine,
    order: &Order,
    attempts: &[Attempt],
    open: &Attempt,
) -> anyhow::Result<Flow> {
    let Some(adapter) = engine.adapters.get().get(&open.supplier_id).cloned() else {
        // `next_step` asks for an inquiry only at a known supplier.
        return Ok(Flow::Again);
    };
    let req = TopupRequest {
        supplier_ref: &open.supplier_ref,
        sku: &open.sku,
        destination: &order.destination,
    };
    let reply = adapter.inquiry(&req).await;
    heard(engine, order, open, &reply, decide::Source::Inquiry).await;
    let settle = decide::settle(
        &engine.settings.get(),
        order,
        attempts,
        open,
        &reply,
        true,
        engine.now(),
    );
    Ok(settled(engine, engine.store.settle_attempt(settle).await?))
}

/// Starts an attempt on the first of `routes` that grants a permit (where no older order
/// waits) and sends it; with no permit anywhere, the order waits in line for one and is
/// changed by `otherwise`. Returns a late reply to apply.
async fn dispatch(
    engine: &Engine,
    order: Order,
    attempts: Vec<Attempt>,
    routes: &[(&Route, i64)],
    otherwise: Option<OrderChange>,
    now: i64,
) -> anyhow::Result<(Flow, Late)> {
    let chosen = match engine.take_slot(&slots::key(&order), routes) {
        Some(s) => Some(s),
        None => engine.wait_for_slot(&order, routes, otherwise.as_ref()),
    };
    let Some((route, cost, permit)) = chosen else {
        // Waiting in line: a slot given back wakes it; the store is written only when it
        // does not hold the order that way already.
        let flow = match otherwise {
            Some(c) => changed(engine, &order, c, now).await?,
            None => Flow::Stop,
        };
        return Ok((flow, None));
    };
    let Some(adapter) = engine.adapters.get().get(&route.supplier).cloned() else {
        return Ok((Flow::Again, None));
    };
    let new = intake::new_attempt(engine, &order.id, order.version, route, cost, now);
    let attempt = match engine.store.start_attempt(new).await? {
        Transition::Done(a) => a,
        Transition::Stale => return Ok((Flow::Again, None)),
    };
    // The attempt is durable: only now may the request leave.
    Ok(
        match send(engine, order, attempts, attempt, permit, adapter.as_ref()).await? {
            Sent::Finished => (Flow::Stop, None),
            Sent::Again(l) => (Flow::Again, l),
        },
    )
}

impl Engine {
    /// The routes of `product` for an order in `round` with `attempts`, as health sees
    /// them now (usable ones with their current cost, by the routing strategy).
    pub fn routes<'s>(
        &'s self,
        product: Option<&'s Product>,
        attempts: &[Attempt],
        round: i64,
    ) -> Routes<'s> {
        let Some(product) = product else {
            return Routes::default();
        };
        let untried = decide::untried_routes(&self.settings.get(), product, attempts, round);
        let price = product.price.get();
        let usable: Vec<_> = untried
            .iter()
            .filter_map(|r| self.health.check(r, price).ok().map(|cost| (*r, cost)))
            .collect();
        Routes {
            untried: !untried.is_empty(),
            usable: self.by_strategy(usable),
        }
    }

    /// Usable routes (with their current cost) in the order the routing strategy says.
    fn by_strategy<'a>(&self, usable: Vec<(&'a Route, i64)>) -> Vec<(&'a Route, i64)> {
        let cands: Vec<Candidate> = usable
            .iter()
            .enumerate()
            .map(|(i, (r, cost))| {
                let (success_rate, latency_ms, samples) =
                    self.health.route_stats(&r.supplier, &r.sku);
                Candidate {
                    index: i,
                    priority: r.priority,
                    cost: *cost,
                    success_rate,
                    latency_ms,
                    samples,
                }
            })
            .collect();
        let params = AdaptiveParams {
            explore_share: self.settings.get().explore_share,
            ..AdaptiveParams::default()
        };
        let order = routing::order(
            self.settings.get().strategy,
            &cands,
            &params,
            rand::random::<f64>(),
            rand::random::<f64>(),
        );
        order
            .into_iter()
            .filter_map(|i| usable.get(i).copied())
            .collect()
    }
}
