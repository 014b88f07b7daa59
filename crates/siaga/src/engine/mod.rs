//! Background work on orders: the dispatcher sends each order to its routes in order,
//! keeps pending/unknown attempts at their supplier (callback or paced inquiry), and
//! resumes whatever a crash interrupted, because all it needs is in the store.
//!
//! The engine has its own context ([`Engine`], built from [`EngineDeps`]), never the whole
//! app: what to do next with an order is decided by the pure [`step`] module, and
//! [`process`] does the IO around it.

pub mod callbacks;
pub mod decide;
pub mod dropin;
#[cfg(test)]
mod fixtures;
pub mod intake;
pub mod process;
pub mod slots;
pub mod step;
pub mod trace;
pub mod upkeep;
pub mod waiting;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use siaga_store::{Attempt, Order, Store};
use siaga_suppliers::Adapter;
use tokio::sync::{mpsc, watch, Notify, Semaphore};

use crate::clock::Clock;
use crate::cluster::Cluster;
use crate::config::{Live, Settings};
use crate::health::{Health, Permit};
use crate::metrics::Metrics;

pub use intake::{first_attempt, take};
pub use process::{heard, process};

/// Orders processed at once by this node.
const MAX_IN_FLIGHT: usize = 4096;
const POLL: Duration = Duration::from_millis(200);

/// The supplier adapters by supplier id.
pub type Adapters = HashMap<String, Arc<dyn Adapter>>;

/// What the engine is built from.
pub struct EngineDeps {
    pub settings: Live<Settings>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub adapters: Live<Adapters>,
    /// The one outbound HTTP client (suppliers and callbacks); timeouts are per request.
    pub client: reqwest::Client,
    pub health: Arc<Health>,
    pub metrics: Arc<Metrics>,
    /// This node among several on one database (SPEC 12).
    pub cluster: Arc<Cluster>,
}

/// The order engine's context: what the dispatcher, the callback deliverer and upkeep
/// share, and the wake handles others use to reach them.
pub struct Engine {
    /// The config in force (a reload replaces it); take one snapshot per decision.
    pub settings: Live<Settings>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// The supplier adapters in force, retired suppliers' included.
    pub adapters: Live<Adapters>,
    pub client: reqwest::Client,
    pub health: Arc<Health>,
    pub metrics: Arc<Metrics>,
    /// This node among several on one database (SPEC 12): who leads the duties.
    pub cluster: Arc<Cluster>,
    kick_tx: mpsc::UnboundedSender<Work>,
    /// Wakes the callback deliverer's poll.
    pub outbox_kick: Notify,
    /// True while the callback deliverer gets fresh outbox messages from the store's feed
    /// (then a final order need not wake its poll).
    pub outbox_fed: AtomicBool,
    /// Orders waiting for a concurrency slot ([`slots`]).
    waiting: Mutex<waiting::Lines>,
    /// Stamps along the order path, kept while `siaga bench` asks ([`trace`]).
    pub trace: trace::Trace,
    /// When each supplier's price list was last fetched (Digiflazz allows once per 5 min).
    pub last_price_sync: Mutex<HashMap<String, i64>>,
    /// True once the supplier prices kept in the store (price lists, learnt charges) are
    /// in health (`upkeep::run` at start): no order is routed on configured costs before.
    prices_loaded: watch::Sender<bool>,
}

/// How long routing waits at start for the kept supplier prices before going on without.
const PRICES_LOAD_WAIT: Duration = Duration::from_secs(5);

/// The dispatcher's end of the engine's work channel (see [`dispatcher`]).
pub struct Inbox(mpsc::UnboundedReceiver<Work>);

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

impl Engine {
    pub fn new(deps: EngineDeps) -> (Arc<Engine>, Inbox) {
        let (kick_tx, kick_rx) = mpsc::unbounded_channel();
        let engine = Engine {
            settings: deps.settings,
            store: deps.store,
            clock: deps.clock,
            adapters: deps.adapters,
            client: deps.client,
            health: deps.health,
            metrics: deps.metrics,
            cluster: deps.cluster,
            kick_tx,
            outbox_kick: Notify::new(),
            outbox_fed: AtomicBool::new(false),
            waiting: Mutex::default(),
            trace: trace::Trace::default(),
            last_price_sync: Mutex::default(),
            prices_loaded: watch::channel(false).0,
        };
        let engine = Arc::new(engine);
        // A permit given back wakes the oldest order waiting for a slot there.
        let weak = Arc::downgrade(&engine);
        engine.health.on_release(Arc::new(move |supplier: &str| {
            if let Some(e) = weak.upgrade() {
                e.slot_freed(supplier);
            }
        }));
        (engine, Inbox(kick_rx))
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The kept supplier prices are in health: routing may start.
    pub fn set_prices_loaded(&self) {
        self.prices_loaded.send_replace(true);
    }

    /// Waits (at most [`PRICES_LOAD_WAIT`], once) until the kept supplier prices are in
    /// health, so that a route disabled for its cost before a restart is not used after
    /// it. Immediate once they are.
    pub async fn prices_loaded(&self) {
        if *self.prices_loaded.borrow() {
            return;
        }
        let mut rx = self.prices_loaded.subscribe();
        if tokio::time::timeout(PRICES_LOAD_WAIT, rx.wait_for(|loaded| *loaded))
            .await
            .is_err()
        {
            tracing::warn!("supplier prices not loaded yet; routing on what health knows");
            self.set_prices_loaded();
        }
    }

    /// An order just became final: count it and, unless its callback reaches the
    /// deliverer through the store's feed, wake the deliverer's poll.
    pub fn order_final(&self, o: &Order) {
        self.metrics.order_final(&o.product, o.status.as_str());
        if !self.outbox_fed.load(Ordering::Relaxed) {
            self.outbox_kick.notify_one();
        }
    }

    /// Asks the dispatcher to look at an order now (it also polls the store).
    pub fn kick(&self, order_id: &str) {
        let _ = self.kick_tx.send(Work::Look(order_id.to_owned()));
    }

    /// Hands the dispatcher a new order whose first attempt is durable, to send now.
    pub fn dispatch_started(&self, started: Started) {
        let _ = self.kick_tx.send(Work::Started(Box::new(started)));
    }
}

/// Takes work from the inbox and polls the store for due orders; each order is processed
/// in a task of its own, never twice at once on this node.
pub async fn dispatcher(engine: Arc<Engine>, inbox: Inbox, mut shutdown: watch::Receiver<bool>) {
    let Inbox(mut rx) = inbox;
    // Orders due at start (a restart) are routed with the kept prices, not without.
    engine.prices_loaded().await;
    let inflight: Arc<Mutex<InFlight>> = Arc::default();
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
            _ = tick.tick(), if !closing => {
                // The safety net for a wake that left a slot unused.
                engine.wake_waiting();
                match engine.store.due_orders(engine.now(), 1000).await {
                    Ok(ids) => ids.into_iter().map(Work::Look).collect(),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read due orders");
                        Vec::new()
                    }
                }
            },
            _ = shutdown.changed(), if !closing => {
                closing = true;
                Vec::new()
            }
        };
        for w in work {
            start(&engine, &inflight, &sem, w);
        }
    }
}

/// The orders being processed on this node, each with whether it was asked for again
/// meanwhile (a wake must not be lost to the look in progress: it looks once more).
type InFlight = HashMap<String, bool>;

/// Processes `w` in a task of its own unless its order is already in flight here; asked
/// for again meanwhile, it looks once more when done.
fn start(engine: &Arc<Engine>, inflight: &Arc<Mutex<InFlight>>, sem: &Arc<Semaphore>, w: Work) {
    let id = match &w {
        Work::Look(id) => id.clone(),
        Work::Started(s) => s.order.id.clone(),
    };
    let fresh = inflight
        .lock()
        .map(|mut s| match s.get_mut(&id) {
            Some(again) => {
                *again = true;
                false
            }
            None => {
                s.insert(id.clone(), false);
                true
            }
        })
        .unwrap_or(false);
    if !fresh {
        if matches!(w, Work::Started(_)) {
            // Not expected (nothing else knows a new order before its hand-off); the
            // order in flight settles the attempt by inquiry at the same supplier.
            tracing::warn!(order = %id, "a started order was already in flight; its request was not sent from intake");
        }
        return;
    }
    let (engine, inflight, sem) = (engine.clone(), inflight.clone(), sem.clone());
    tokio::spawn(async move {
        let _permit = sem.acquire_owned().await;
        let mut w = Some(w);
        loop {
            let done = match w.take() {
                Some(Work::Started(s)) => process::process_started(&engine, *s).await,
                _ => process::process(&engine, &id).await,
            };
            if let Err(e) = done {
                tracing::error!(order = %id, error = %e, "order processing failed; will retry");
            }
            let Ok(mut s) = inflight.lock() else { break };
            if s.get(&id) == Some(&true) {
                // Asked for again while it was processed: once more.
                s.insert(id.clone(), false);
                continue;
            }
            s.remove(&id);
            break;
        }
    });
}
