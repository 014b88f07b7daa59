//! Stamps along an order's path (its intake write, the hand-off to the dispatcher, the
//! supplier exchange, the settle, the callback), kept only while someone asks for them
//! (`siaga bench`'s open loop), so that an order's latency can be split by stage. Off, a
//! stamp costs one atomic load.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// A point on an order's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Intake begins (the request read, authenticated and checked).
    IntakeBegan = 0,
    /// The order (with its first attempt) is durable.
    IntakeDurable,
    /// The first supplier request is about to leave.
    SupplierSent,
    /// Its reply is in.
    SupplierReplied,
    /// The settle (outcome, money, the callback's outbox row) is durable.
    SettleDurable,
    /// The callback deliverer has the message.
    CallbackTaken,
    /// The callback request is about to leave.
    CallbackSent,
}

/// How many stages there are.
pub const STAGES: usize = 7;

/// When an order passed each stage (the first time).
pub type Stamps = [Option<Instant>; STAGES];

/// The stamps of the orders seen while tracing is on.
#[derive(Default)]
pub struct Trace {
    on: AtomicBool,
    orders: Mutex<HashMap<String, Stamps>>,
}

impl Trace {
    /// Starts stamping (forgetting what an earlier span kept).
    pub fn start(&self) {
        if let Ok(mut m) = self.orders.lock() {
            m.clear();
        }
        self.on.store(true, Ordering::Release);
    }

    /// Stops stamping; the stamps kept since [`Self::start`], by order id.
    pub fn stop(&self) -> HashMap<String, Stamps> {
        self.on.store(false, Ordering::Release);
        self.orders
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default()
    }

    /// `order_id` passes `stage` now (kept only while on, and only the first time).
    pub fn mark(&self, order_id: &str, stage: Stage) {
        if !self.on.load(Ordering::Acquire) {
            return;
        }
        let now = Instant::now();
        if let Ok(mut m) = self.orders.lock() {
            let stamps = match m.get_mut(order_id) {
                Some(s) => s,
                None => m.entry(order_id.to_owned()).or_default(),
            };
            if let Some(slot) = stamps.get_mut(stage as usize) {
                slot.get_or_insert(now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_kept_only_while_on_and_only_the_first_time() {
        let t = Trace::default();
        t.mark("o1", Stage::IntakeBegan);
        assert!(t.stop().is_empty(), "off: nothing kept");
        t.start();
        t.mark("o1", Stage::IntakeBegan);
        let first = t.orders.lock().map(|m| m["o1"][0]).ok().flatten();
        t.mark("o1", Stage::IntakeBegan);
        t.mark("o1", Stage::CallbackSent);
        let got = t.stop();
        assert_eq!(got["o1"][Stage::IntakeBegan as usize], first);
        assert!(got["o1"][Stage::CallbackSent as usize].is_some());
        assert!(got["o1"][Stage::SupplierSent as usize].is_none());
        t.mark("o2", Stage::IntakeBegan);
        assert!(t.stop().is_empty(), "stopped: nothing more kept");
    }
}
