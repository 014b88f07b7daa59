//! Live supplier health (SPEC 6.4–6.6): circuit breakers, adaptive concurrency limits,
//! rolling success and latency per supplier and route, balances, maintenance windows
//! (config, announced, learnt from the price list). Memory only, rebuilt from live traffic
//! and the store; every breaker transition and owner-worthy event is persisted with its
//! evidence.

mod pause;
mod shared;
mod snapshot;

pub use pause::Pause;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use serde_json::json;
use siaga_domain::breaker::{Breaker, BreakerConfig, BreakerState, Transition};
use siaga_domain::limit::AimdLimit;
use siaga_domain::window::Window;
use siaga_domain::{FailReason, Outcome};

use siaga_store::{MaintenanceWindow, Store, SupplierEvent, SupplierProduct};

use crate::clock::Clock;
use crate::config::{HealthCfg, Route, Settings, Supplier};
use crate::metrics::Metrics;

/// Samples kept per supplier and per route.
const SAMPLES: usize = 200;
/// Samples kept as evidence with a transition.
const EVIDENCE: usize = 20;

#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub at: i64,
    pub outcome: &'static str,
    pub reason: Option<&'static str>,
    pub rc: Option<String>,
    pub http_status: Option<u16>,
    pub latency_ms: i64,
    pub health_failure: bool,
}

pub(crate) struct SupplierState {
    pub breaker: Breaker,
    pub limit: AimdLimit,
    pub in_flight: u32,
    pub samples: VecDeque<Sample>,
    pub balance: Option<i64>,
    pub balance_at: Option<i64>,
    pub low_alerted: bool,
    /// Skipped until a balance is seen again (after a `supplier_balance` failure).
    pub balance_blocked: bool,
    pub last_config_alert: i64,
    /// Since this process started, the supplier has answered properly (a probe, or a
    /// reply that was not a health failure): its closed circuit is knowledge, not a blank.
    pub answered: bool,
    /// When the breaker last changed here (by itself or taken from another node): an
    /// older shared state is not taken over a newer one of this node's.
    pub changed_at: i64,
}

/// What the supplier's own price list says about one SKU.
#[derive(Debug, Clone)]
pub struct Learnt {
    pub price: i64,
    pub active: bool,
    pub window: Option<Window>,
}

/// Why a route cannot take an order now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    CircuitOpen,
    Maintenance,
    Inactive,
    CostAbovePrice,
    SupplierBalance,
    UnknownSupplier,
    /// An operator paused the supplier.
    Paused,
}

impl Blocked {
    pub fn as_str(self) -> &'static str {
        match self {
            Blocked::CircuitOpen => "circuit_open",
            Blocked::Maintenance => "maintenance",
            Blocked::Inactive => "inactive",
            Blocked::CostAbovePrice => "cost_above_price",
            Blocked::SupplierBalance => "supplier_balance",
            Blocked::UnknownSupplier => "unknown_supplier",
            Blocked::Paused => "paused",
        }
    }
}

pub struct Health {
    clock: Arc<dyn Clock>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    cfg: HealthCfg,
    /// Every supplier this process has known, by id; a reload adds and updates entries
    /// and never drops one, so permits and open attempts always find theirs.
    suppliers: RwLock<HashMap<String, Arc<Entry>>>,
    routes: Mutex<HashMap<(String, String), VecDeque<Sample>>>,
    announced: RwLock<Vec<MaintenanceWindow>>,
    learnt: RwLock<HashMap<(String, String), Learnt>>,
    /// This node's id (SPEC 12): on the breaker changes it shares.
    node: String,
    /// Suppliers an operator paused (`health/pause.rs`).
    paused: RwLock<HashMap<String, Pause>>,
    /// Writes of events and shared breaker changes, in the order they happened.
    keeper: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<shared::Keep>>,
    /// Told the supplier's id each time a permit is given back (a slot freed).
    on_release: RwLock<Option<Released>>,
}

/// What hears of a permit given back (the engine wakes an order waiting for the slot).
pub type Released = Arc<dyn Fn(&str) + Send + Sync>;

/// One supplier's config in force and its live state.
pub(crate) struct Entry {
    cfg: RwLock<Arc<Supplier>>,
    pub st: Mutex<SupplierState>,
}

impl Entry {
    pub fn cfg(&self) -> Arc<Supplier> {
        match self.cfg.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

/// A slot under a supplier's concurrency limit (and, in half-open, its one trial).
pub struct Permit {
    health: Arc<Health>,
    supplier: String,
    recorded: bool,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(e) = self.health.entry(&self.supplier) {
            if let Ok(mut st) = e.st.lock() {
                st.in_flight = st.in_flight.saturating_sub(1);
                if !self.recorded {
                    st.breaker.release_trial();
                }
            }
        }
        // After the supplier's lock is let go: the hook takes locks of its own.
        self.health.released(&self.supplier);
    }
}

fn breaker_config(cfg: &HealthCfg) -> BreakerConfig {
    BreakerConfig {
        consecutive_failures: cfg.breaker_consecutive_failures.max(1),
        window_attempts: cfg.breaker_window_attempts.max(2),
        window_ms: (cfg.breaker_window_s as i64).max(1) * 1000,
        failure_rate: cfg.breaker_failure_rate,
        open_base_ms: cfg.breaker_open_base_ms.max(1) as i64,
        open_max_ms: cfg.breaker_open_max_ms.max(cfg.breaker_open_base_ms) as i64,
        ..BreakerConfig::default()
    }
}

pub fn state_level(s: BreakerState) -> i64 {
    match s {
        BreakerState::Closed => 0,
        BreakerState::HalfOpen => 1,
        BreakerState::Open => 2,
    }
}

impl Health {
    pub fn new(
        settings: &Settings,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Arc<Health> {
        let health = Arc::new(Health {
            clock,
            store,
            metrics,
            cfg: settings.health.clone(),
            suppliers: RwLock::default(),
            routes: Mutex::default(),
            announced: RwLock::default(),
            learnt: RwLock::default(),
            node: settings.cluster.node_id.clone(),
            paused: RwLock::default(),
            keeper: std::sync::OnceLock::new(),
            on_release: RwLock::default(),
        });
        health.reload(settings);
        health
    }

    /// Takes the suppliers of a new config (SPEC 6.1.3): a new supplier starts with a
    /// closed circuit and the initial limit; a known one keeps its breaker, samples,
    /// balance and in-flight count under its new settings; one no longer configured keeps
    /// its entry (its open attempts still come back through it).
    pub fn reload(&self, settings: &Settings) {
        let Ok(mut map) = self.suppliers.write() else {
            return;
        };
        for s in &settings.suppliers {
            if let Some(e) = map.get(&s.id) {
                if let Ok(mut st) = e.st.lock() {
                    st.limit
                        .reconfigure(s.max_concurrency, s.latency_target_ms as i64);
                    self.metrics
                        .set_concurrency_limit(&s.id, i64::from(st.limit.limit()));
                }
                match e.cfg.write() {
                    Ok(mut c) => *c = Arc::new(s.clone()),
                    Err(p) => *p.into_inner() = Arc::new(s.clone()),
                }
                continue;
            }
            let st = SupplierState {
                breaker: Breaker::new(breaker_config(&settings.health)),
                limit: AimdLimit::new(1, s.max_concurrency, s.latency_target_ms as i64),
                in_flight: 0,
                samples: VecDeque::new(),
                balance: None,
                balance_at: None,
                low_alerted: false,
                balance_blocked: false,
                last_config_alert: i64::MIN / 2,
                // A desk has nothing remote to learn about: it is known from the start.
                answered: s.is_manual(),
                changed_at: i64::MIN,
            };
            self.metrics.set_circuit_state(&s.id, 0);
            self.metrics
                .set_concurrency_limit(&s.id, i64::from(st.limit.limit()));
            let entry = Entry {
                cfg: RwLock::new(Arc::new(s.clone())),
                st: Mutex::new(st),
            };
            map.insert(s.id.clone(), Arc::new(entry));
        }
    }

    pub(crate) fn entry(&self, supplier: &str) -> Option<Arc<Entry>> {
        self.suppliers.read().ok()?.get(supplier).cloned()
    }

    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    fn persist(&self, e: SupplierEvent) {
        self.keep(shared::Keep::Event(e));
    }

    /// A transition of this node's breaker: the metric and the log now, and for the
    /// cluster (SPEC 12) the shared state with the event and its evidence, recorded once
    /// however many nodes see the same change.
    fn persist_transition(&self, supplier: &str, t: &Transition, st: &mut SupplierState) {
        st.changed_at = t.at_ms;
        self.metrics.set_circuit_state(supplier, state_level(t.to));
        tracing::warn!(supplier, from = t.from.as_str(), to = t.to.as_str(), reason = %t.reason, "circuit breaker");
        let samples: Vec<_> = st
            .samples
            .iter()
            .rev()
            .take(EVIDENCE)
            .map(sample_json)
            .collect();
        let event = SupplierEvent {
            supplier_id: supplier.to_owned(),
            kind: "breaker".into(),
            from_state: Some(t.from.as_str().into()),
            to_state: Some(t.to.as_str().into()),
            detail: json!({"reason": t.reason, "node": self.node, "evidence": samples}).to_string(),
            at: t.at_ms,
        };
        let shared = siaga_store::SharedBreaker {
            supplier_id: supplier.to_owned(),
            state: t.to.as_str().into(),
            node: self.node.clone(),
            at: t.at_ms,
        };
        self.keep(shared::Keep::Breaker(shared, event));
    }

    /// `f` hears of every permit given back from now on (in place of any before).
    pub fn on_release(&self, f: Released) {
        match self.on_release.write() {
            Ok(mut h) => *h = Some(f),
            Err(p) => *p.into_inner() = Some(f),
        }
    }

    fn released(&self, supplier: &str) {
        let hook = self.on_release.read().ok().and_then(|h| h.clone());
        if let Some(f) = hook {
            f(supplier);
        }
    }

    /// Slots free under `supplier`'s concurrency limit now (its circuit aside).
    pub fn free_slots(&self, supplier: &str) -> u32 {
        self.entry(supplier)
            .and_then(|e| {
                let st = e.st.lock().ok()?;
                Some(st.limit.limit().saturating_sub(st.in_flight))
            })
            .unwrap_or(0)
    }

    /// A slot at `supplier` if its circuit lets traffic through and it is under its limit.
    pub fn acquire(self: &Arc<Self>, supplier: &str) -> Option<Permit> {
        let e = self.entry(supplier)?;
        let now = self.now();
        let mut st = e.st.lock().ok()?;
        if st.in_flight >= st.limit.limit() {
            return None;
        }
        let (ok, t) = st.breaker.try_acquire(now);
        if let Some(t) = t {
            self.persist_transition(supplier, &t, &mut st);
        }
        if !ok {
            return None;
        }
        st.in_flight += 1;
        Some(Permit {
            health: self.clone(),
            supplier: supplier.to_owned(),
            recorded: false,
        })
    }

    /// Records a top-up's result (through its permit).
    pub fn record(
        &self,
        mut permit: Permit,
        sku: &str,
        reply: &siaga_suppliers::Reply,
        latency_ms: i64,
    ) {
        permit.recorded = true;
        let supplier = permit.supplier.clone();
        let now = self.now();
        let (reason, outcome) = match &reply.outcome {
            Outcome::Failed(r) => (Some(r.as_str()), "failed"),
            o => (None, o.label()),
        };
        let sample = Sample {
            at: now,
            outcome,
            reason,
            rc: reply.rc.clone(),
            http_status: reply.http_status,
            latency_ms,
            health_failure: reply.outcome.is_health_failure(),
        };
        self.metrics.attempt(
            &supplier,
            outcome,
            reason.unwrap_or(""),
            latency_ms as f64 / 1000.0,
        );
        if let Ok(mut routes) = self.routes.lock() {
            let q = routes
                .entry((supplier.clone(), sku.to_owned()))
                .or_default();
            q.push_back(sample.clone());
            while q.len() > SAMPLES {
                q.pop_front();
            }
        }
        let Some(e) = self.entry(&supplier) else {
            return;
        };
        let sup = e.cfg();
        let Ok(mut st) = e.st.lock() else { return };
        st.samples.push_back(sample.clone());
        while st.samples.len() > SAMPLES {
            st.samples.pop_front();
        }
        let dropped = sample.health_failure;
        st.answered |= !dropped;
        st.limit.on_sample(latency_ms, dropped);
        self.metrics
            .set_concurrency_limit(&supplier, i64::from(st.limit.limit()));
        if let Some(t) = st.breaker.record(now, dropped) {
            self.persist_transition(&supplier, &t, &mut st);
        }
        match reply.outcome {
            Outcome::Failed(FailReason::SupplierBalance) => st.balance_blocked = true,
            Outcome::Failed(FailReason::Config) if now - st.last_config_alert > 60_000 => {
                st.last_config_alert = now;
                self.persist(SupplierEvent {
                    supplier_id: supplier.clone(),
                    kind: "config_error".into(),
                    from_state: None,
                    to_state: None,
                    detail: json!({"rc": reply.rc, "message": reply.message, "sku": sku})
                        .to_string(),
                    at: now,
                });
            }
            _ => {}
        }
        if let Some(b) = reply.supplier_balance {
            self.set_balance(&sup, &mut st, b, now);
        }
    }

    fn set_balance(&self, sup: &Supplier, st: &mut SupplierState, balance: i64, now: i64) {
        st.balance = Some(balance);
        st.balance_at = Some(now);
        st.balance_blocked = false;
        self.metrics.set_supplier_balance(&sup.id, balance);
        if let Some(low) = sup.low_balance_rupiah {
            if balance < low && !st.low_alerted {
                st.low_alerted = true;
                self.persist(SupplierEvent {
                    supplier_id: sup.id.clone(),
                    kind: "low_balance".into(),
                    from_state: None,
                    to_state: None,
                    detail: json!({"balance": balance, "low_balance_rupiah": low}).to_string(),
                    at: now,
                });
            } else if balance >= low {
                st.low_alerted = false;
            }
        }
    }

    /// Records an active probe (balance check).
    pub fn record_probe(&self, supplier: &str, result: Result<i64, String>) {
        let Some(e) = self.entry(supplier) else {
            return;
        };
        let sup = e.cfg();
        let now = self.now();
        let Ok(mut st) = e.st.lock() else { return };
        let ok = result.is_ok();
        st.answered |= ok;
        if let Ok(b) = result {
            self.set_balance(&sup, &mut st, b, now);
        } else {
            st.samples.push_back(Sample {
                at: now,
                outcome: "probe_failed",
                reason: None,
                rc: None,
                http_status: None,
                latency_ms: 0,
                health_failure: true,
            });
        }
        if let Some(t) = st.breaker.record_probe(now, ok) {
            self.persist_transition(supplier, &t, &mut st);
        }
    }

    /// The cost of taking `route` now, or why it cannot take orders.
    pub fn check(&self, route: &Route, price: i64) -> Result<i64, Blocked> {
        self.check_inner(route, price, false)
    }

    /// As [`Health::check`], but a half-open circuit (not yet proven healthy again) counts
    /// as open: the status page must not call a supplier healthy on hope.
    pub fn check_proven(&self, route: &Route, price: i64) -> Result<i64, Blocked> {
        self.check_inner(route, price, true)
    }

    fn check_inner(&self, route: &Route, price: i64, proven: bool) -> Result<i64, Blocked> {
        let now = self.now();
        let e = self
            .entry(&route.supplier)
            .ok_or(Blocked::UnknownSupplier)?;
        let sup = e.cfg();
        if sup.retired {
            return Err(Blocked::UnknownSupplier);
        }
        if self.pause(&sup.id).is_some() {
            return Err(Blocked::Paused);
        }
        let learnt = self
            .learnt
            .read()
            .ok()
            .and_then(|l| l.get(&(route.supplier.clone(), route.sku.clone())).cloned());
        let cost = learnt.as_ref().map(|l| l.price).unwrap_or(route.cost.get());
        if learnt.as_ref().is_some_and(|l| !l.active) {
            return Err(Blocked::Inactive);
        }
        if cost > price {
            return Err(Blocked::CostAbovePrice);
        }
        if self.in_maintenance(&sup, learnt.as_ref(), now, self.lead_ms()) {
            return Err(Blocked::Maintenance);
        }
        let mut st = e.st.lock().map_err(|_| Blocked::UnknownSupplier)?;
        let (state, t) = st.breaker.state(now);
        if let Some(t) = t {
            self.persist_transition(&sup.id, &t, &mut st);
        }
        if state == BreakerState::Open || (proven && state == BreakerState::HalfOpen) {
            return Err(Blocked::CircuitOpen);
        }
        if st.balance_blocked || st.balance.is_some_and(|b| b < cost) {
            return Err(Blocked::SupplierBalance);
        }
        Ok(cost)
    }

    fn lead_ms(&self) -> i64 {
        self.cfg.maintenance_lead_s as i64 * 1000
    }

    fn in_maintenance(&self, sup: &Supplier, learnt: Option<&Learnt>, now: i64, lead: i64) -> bool {
        sup.windows.iter().any(|w| w.blocks(now, lead))
            || learnt
                .and_then(|l| l.window.as_ref())
                .is_some_and(|w| w.blocks(now, lead))
            || self
                .announced
                .read()
                .map(|a| {
                    a.iter().any(|w| {
                        w.supplier_id == sup.id && now >= w.starts_at - lead && now < w.ends_at
                    })
                })
                .unwrap_or(false)
    }

    /// Whether this process knows `supplier`'s state from live evidence: it has answered
    /// properly since the start, or its circuit has left closed (failures seen). Before
    /// that, a closed circuit only means nothing has been seen yet.
    pub fn known(&self, supplier: &str) -> bool {
        let Some(e) = self.entry(supplier) else {
            return false;
        };
        e.st.lock()
            .map(|st| st.answered || st.breaker.current() != BreakerState::Closed)
            .unwrap_or(false)
    }

    /// Whether `supplier`'s circuit is closed now (healthy and proven).
    pub fn circuit_closed(&self, supplier: &str) -> bool {
        let Some(e) = self.entry(supplier) else {
            return false;
        };
        let sup = e.cfg();
        let Ok(mut st) = e.st.lock() else {
            return false;
        };
        let (state, t) = st.breaker.state(self.now());
        if let Some(t) = t {
            self.persist_transition(&sup.id, &t, &mut st);
        }
        state == BreakerState::Closed
    }

    /// Whether `supplier` is inside a maintenance window now (configured, announced, or a
    /// cut-off learnt from its price list).
    pub fn in_window(&self, supplier: &str) -> bool {
        let Some(e) = self.entry(supplier) else {
            return false;
        };
        let sup = e.cfg();
        let now = self.now();
        let learnt = self
            .learnt
            .read()
            .map(|l| {
                l.iter().any(|((s, _), v)| {
                    s == supplier && v.window.as_ref().is_some_and(|w| w.blocks(now, 0))
                })
            })
            .unwrap_or(false);
        learnt || self.in_maintenance(&sup, None, now, 0)
    }

    /// Success rate, mean latency and sample count of a route over its recent samples.
    pub fn route_stats(&self, supplier: &str, sku: &str) -> (Option<f64>, Option<f64>, u64) {
        let Ok(routes) = self.routes.lock() else {
            return (None, None, 0);
        };
        routes
            .get(&(supplier.to_owned(), sku.to_owned()))
            .map(stats_of)
            .unwrap_or((None, None, 0))
    }

    pub fn announced(&self) -> Vec<MaintenanceWindow> {
        self.announced.read().map(|a| a.clone()).unwrap_or_default()
    }

    pub fn set_announced(&self, windows: Vec<MaintenanceWindow>) {
        if let Ok(mut a) = self.announced.write() {
            *a = windows;
        }
    }

    pub fn set_learnt(&self, supplier: &str, items: &[SupplierProduct]) {
        let Ok(mut l) = self.learnt.write() else {
            return;
        };
        l.retain(|(s, _), _| s != supplier);
        for p in items {
            l.insert((supplier.to_owned(), p.sku.clone()), learnt_of(p));
        }
    }

    pub fn learnt(&self, supplier: &str, sku: &str) -> Option<Learnt> {
        self.learnt
            .read()
            .ok()?
            .get(&(supplier.to_owned(), sku.to_owned()))
            .cloned()
    }

    /// Learns a route's cost from what the supplier charged for a success, so routing and
    /// the cost-above-price check use it at once instead of after the next price-list
    /// sync. Returns the cost it replaces (learnt, else `configured`) when it changed.
    pub fn learn_charged(
        &self,
        supplier: &str,
        sku: &str,
        charged: i64,
        configured: i64,
    ) -> Option<i64> {
        let mut l = self.learnt.write().ok()?;
        let entry = l
            .entry((supplier.to_owned(), sku.to_owned()))
            .or_insert(Learnt {
                price: configured,
                active: true,
                window: None,
            });
        if entry.price == charged {
            return None;
        }
        let old = entry.price;
        entry.price = charged;
        Some(old)
    }

    pub fn supplier_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .suppliers
            .read()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// Success rate and mean latency over the decided samples, and the sample count.
pub(crate) fn stats_of(q: &VecDeque<Sample>) -> (Option<f64>, Option<f64>, u64) {
    let decided: Vec<&Sample> = q.iter().filter(|s| s.outcome != "pending").collect();
    if decided.is_empty() {
        // Only "pending" answers so far: the success rate is unknown, but how long the
        // supplier takes to answer is known (the adaptive strategy counts an unknown
        // latency as 0, which would make such a route look best forever).
        let lat = (!q.is_empty())
            .then(|| q.iter().map(|s| s.latency_ms as f64).sum::<f64>() / q.len() as f64);
        return (None, lat, q.len() as u64);
    }
    let ok = decided.iter().filter(|s| s.outcome == "success").count() as f64;
    let lat = decided.iter().map(|s| s.latency_ms as f64).sum::<f64>() / decided.len() as f64;
    (Some(ok / decided.len() as f64), Some(lat), q.len() as u64)
}

/// The learnt state of a price-list item: cut-off window in WIB, active flags, price.
pub fn learnt_of(p: &SupplierProduct) -> Learnt {
    let window =
        siaga_domain::window::parse_daily(&format!("{}-{}", p.start_cut_off, p.end_cut_off))
            .ok()
            .filter(|(a, b)| a != b)
            .map(|(start_min, end_min)| Window::Daily {
                start_min,
                end_min,
                tz: jiff::tz::TimeZone::fixed(jiff::tz::offset(7)),
            });
    Learnt {
        price: p.price,
        active: p.buyer_status && p.seller_status,
        window,
    }
}

pub(crate) fn sample_json(s: &Sample) -> serde_json::Value {
    json!({
        "at": crate::clock::rfc3339(s.at),
        "outcome": s.outcome,
        "reason": s.reason,
        "rc": s.rc,
        "http_status": s.http_status,
        "latency_ms": s.latency_ms,
    })
}
