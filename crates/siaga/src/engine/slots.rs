//! The engine's side of waiting for a concurrency slot: an order takes a slot only where no
//! older order waits ([`waiting::Lines`]); one that finds none joins the lines of its
//! usable routes' suppliers and is woken (kicked to the dispatcher) when a permit at one
//! of them is given back, oldest first. The store is written once for such an order
//! ([`super::decide::slot_wait`]), not once per wait.

use siaga_store::{Order, OrderChange};

use super::waiting::{Key, Lines};
use super::Engine;
use crate::config::Route;
use crate::health::Permit;

/// A route chosen with its cost and the permit to take it with.
pub type Slot<'r> = (&'r Route, i64, Permit);

/// An order's place in line.
pub fn key(order: &Order) -> Key {
    (order.created_at, order.id.clone())
}

impl Engine {
    fn lines(&self) -> std::sync::MutexGuard<'_, Lines> {
        match self.waiting.lock() {
            Ok(l) => l,
            Err(p) => p.into_inner(),
        }
    }

    /// A slot on the first of `routes` (in order) whose supplier grants one and where no
    /// order older than `key` waits. The order leaves every line when it gets one.
    pub fn take_slot<'r>(&self, key: &Key, routes: &[(&'r Route, i64)]) -> Option<Slot<'r>> {
        let slot = routes.iter().find_map(|(r, cost)| {
            if !self.lines().may_take(&r.supplier, key) {
                return None;
            }
            self.health.acquire(&r.supplier).map(|p| (*r, *cost, p))
        })?;
        self.lines().leave(&key.1);
        Some(slot)
    }

    /// For `order`, which found no slot on `routes`: unless its wait is over (`otherwise`
    /// fails it), it joins the lines of their suppliers, then tries once more (a slot
    /// given back before it joined woke nobody).
    pub fn wait_for_slot<'r>(
        &self,
        order: &Order,
        routes: &[(&'r Route, i64)],
        otherwise: Option<&OrderChange>,
    ) -> Option<Slot<'r>> {
        let key = key(order);
        if matches!(otherwise, Some(OrderChange::Fail { .. })) {
            self.lines().leave(&order.id);
            return None;
        }
        let suppliers: Vec<&str> = routes.iter().map(|(r, _)| r.supplier.as_str()).collect();
        self.lines().join(&key, &suppliers);
        self.take_slot(&key, routes)
    }

    /// A permit at `supplier` was given back: the oldest order waiting there looks again.
    pub fn slot_freed(&self, supplier: &str) {
        let woken = self.lines().wake(supplier);
        if let Some(id) = woken {
            self.kick(&id);
        }
    }

    /// At every supplier with free slots and orders waiting, wakes as many of them as it
    /// has free slots: the safety net (run at each poll) for a wake that found its order
    /// elsewhere (done, or routed another way) and left a slot unused.
    pub fn wake_waiting(&self) {
        let suppliers = self.lines().suppliers();
        for s in suppliers {
            let free = self.health.free_slots(&s) as usize;
            let woken: Vec<String> = {
                let mut l = self.lines();
                let n = free.min(l.waiting_at(&s));
                (0..n).filter_map(|_| l.wake(&s)).collect()
            };
            for id in woken {
                self.kick(&id);
            }
        }
    }

    /// How many orders wait for a slot on this node.
    pub fn waiting_for_slots(&self) -> usize {
        self.lines().len()
    }
}
