//! Orders waiting for a concurrency slot (every usable route at its supplier's limit), in
//! memory, per supplier, oldest first: a slot that frees wakes the oldest order waiting at
//! its supplier, and an order takes a slot only when no older one waits for it there. No
//! store write per wait: the store holds such an order `queued` with one look in the
//! future ([`super::decide::slot_wait`]), the fallback after a crash or a lost wake.
//!
//! Pure bookkeeping (no IO, no clock): the engine calls it from a permit's release and
//! from the executor ([`super::process`]).

use std::collections::{BTreeSet, HashMap};

/// Where an order stands in line: its creation time, then its id (ids sort by creation).
pub type Key = (i64, String);

/// The lines of orders waiting for a slot, one per supplier.
#[derive(Debug, Default)]
pub struct Lines {
    by_supplier: HashMap<String, BTreeSet<Key>>,
    /// Each waiting order's key and the suppliers whose lines it is in.
    by_order: HashMap<String, (Key, Vec<String>)>,
}

impl Lines {
    /// `key`'s order waits at `suppliers` (any of them will do); it replaces where it
    /// waited before. Its place is its key: an order woken that must wait again goes back
    /// where it was, before every younger one.
    pub fn join(&mut self, key: &Key, suppliers: &[&str]) {
        self.leave(&key.1);
        if suppliers.is_empty() {
            return;
        }
        for s in suppliers {
            self.by_supplier
                .entry((*s).to_owned())
                .or_default()
                .insert(key.clone());
        }
        let at = suppliers.iter().map(|s| (*s).to_owned()).collect();
        self.by_order.insert(key.1.clone(), (key.clone(), at));
    }

    /// The order no longer waits (it got a slot, or it is done waiting).
    pub fn leave(&mut self, order_id: &str) {
        let Some((key, at)) = self.by_order.remove(order_id) else {
            return;
        };
        for s in at {
            if let Some(line) = self.by_supplier.get_mut(&s) {
                line.remove(&key);
                if line.is_empty() {
                    self.by_supplier.remove(&s);
                }
            }
        }
    }

    /// A slot at `supplier` freed: the oldest order waiting there, taken out of every line
    /// (it is to look again now).
    pub fn wake(&mut self, supplier: &str) -> Option<String> {
        let id = self.by_supplier.get(supplier)?.first()?.1.clone();
        self.leave(&id);
        Some(id)
    }

    /// Whether `key`'s order may take a slot at `supplier`: no older order waits there.
    pub fn may_take(&self, supplier: &str, key: &Key) -> bool {
        self.by_supplier
            .get(supplier)
            .and_then(BTreeSet::first)
            .is_none_or(|first| first >= key)
    }

    /// How many orders wait at `supplier`.
    pub fn waiting_at(&self, supplier: &str) -> usize {
        self.by_supplier.get(supplier).map_or(0, BTreeSet::len)
    }

    /// The suppliers some order waits at.
    pub fn suppliers(&self) -> Vec<String> {
        self.by_supplier.keys().cloned().collect()
    }

    /// How many orders wait (at any supplier).
    pub fn len(&self) -> usize {
        self.by_order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(at: i64, id: &str) -> Key {
        (at, id.to_owned())
    }

    #[test]
    fn slots_wake_the_oldest_first_whatever_the_order_of_joining() {
        let mut l = Lines::default();
        l.join(&key(30, "c"), &["s"]);
        l.join(&key(10, "a"), &["s"]);
        l.join(&key(20, "b"), &["s"]);
        // Same time: the id decides.
        l.join(&key(20, "ab"), &["s"]);
        assert_eq!(l.len(), 4);
        let woken: Vec<_> = std::iter::from_fn(|| l.wake("s")).collect();
        assert_eq!(woken, ["a", "ab", "b", "c"]);
        assert!(l.is_empty());
        assert_eq!(l.wake("s"), None);
    }

    #[test]
    fn a_younger_order_waits_behind_older_ones_an_older_one_does_not() {
        let mut l = Lines::default();
        assert!(l.may_take("s", &key(50, "x")), "nobody waits");
        l.join(&key(10, "a"), &["s"]);
        l.join(&key(20, "b"), &["s"]);
        assert!(!l.may_take("s", &key(50, "new")));
        assert!(l.may_take("t", &key(50, "new")), "nobody waits at t");
        // The head itself may take it, and so may an order older than every waiter.
        assert!(l.may_take("s", &key(10, "a")));
        assert!(l.may_take("s", &key(5, "old")));
        assert!(!l.may_take("s", &key(20, "b")), "a is older");
        // Woken, the head is out of line and older than the rest: it may take the slot.
        assert_eq!(l.wake("s").as_deref(), Some("a"));
        assert!(l.may_take("s", &key(10, "a")));
        assert!(l.may_take("s", &key(20, "b")));
    }

    #[test]
    fn an_order_woken_that_must_wait_again_goes_back_to_its_place() {
        let mut l = Lines::default();
        for (at, id) in [(10, "a"), (20, "b"), (30, "c")] {
            l.join(&key(at, id), &["s"]);
        }
        assert_eq!(l.wake("s").as_deref(), Some("a"));
        // A new order joins meanwhile, then a fails to get the slot and waits again.
        l.join(&key(40, "d"), &["s"]);
        l.join(&key(10, "a"), &["s"]);
        let woken: Vec<_> = std::iter::from_fn(|| l.wake("s")).collect();
        assert_eq!(woken, ["a", "b", "c", "d"]);
    }

    #[test]
    fn an_order_waiting_at_several_suppliers_is_woken_once_by_either() {
        let mut l = Lines::default();
        l.join(&key(10, "a"), &["s", "t"]);
        l.join(&key(20, "b"), &["t"]);
        l.join(&key(30, "c"), &["s"]);
        assert_eq!((l.waiting_at("s"), l.waiting_at("t")), (2, 2));
        assert_eq!(l.wake("t").as_deref(), Some("a"));
        // a left both lines.
        assert_eq!((l.waiting_at("s"), l.waiting_at("t")), (1, 1));
        assert_eq!(l.wake("s").as_deref(), Some("c"));
        assert_eq!(l.wake("s"), None);
        let mut sup = l.suppliers();
        sup.sort();
        assert_eq!(sup, ["t"]);
        // Joining again replaces where it waited.
        l.join(&key(20, "b"), &["s"]);
        assert_eq!((l.waiting_at("s"), l.waiting_at("t")), (1, 0));
        l.leave("b");
        assert!(l.is_empty() && l.suppliers().is_empty());
        l.leave("b");
        l.join(&key(20, "b"), &[]);
        assert!(l.is_empty());
    }
}
